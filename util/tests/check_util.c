/* SPDX-License-Identifier: MIT */
/* check_util: the shared helpers. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* splitmix64's published first outputs for seed 0 (Vigna's reference
 * splitmix64.c), and the same stream through util_mix64 */
START_TEST(test_splitmix64)
{
	static const uint64_t want[] = {0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull,
					0x06c45d188009454full};
	uint64_t s = 0;

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		ck_assert_uint_eq(util_mix64(s), want[i]);
		ck_assert_uint_eq(util_splitmix64(&s), want[i]);
	}
	ck_assert_uint_eq(s, 3 * UTIL_GOLDEN);
}
END_TEST

/* xorshift64*: never stuck at zero, and the step Vigna gives */
START_TEST(test_xorshift64s)
{
	uint64_t s = 0, x, v;

	v = util_xorshift64s(&s);
	x = UTIL_GOLDEN;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ck_assert_uint_eq(s, x);
	ck_assert_uint_eq(v, x * 0x2545f4914f6cdd1dull);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_ne(util_xorshift64s(&s), 0);
}
END_TEST

START_TEST(test_errf)
{
	char err[8];

	util_errf(err, sizeof(err), "%s:%d", "file.ini", 12);
	ck_assert_str_eq(err, "file.in"); /* truncated, terminated */
	util_errf(NULL, 0, "nothing %d", 1);
	util_errf(err, 0, "nothing %d", 1);
	ck_assert_str_eq(err, "file.in");
}
END_TEST

/* in full at the file position, then at an offset (a hole before it) */
START_TEST(test_write_full)
{
	char path[] = "/tmp/memvisor-util-XXXXXX", buf[16];
	int fd = mkstemp(path);
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(util_write_full(fd, "hello", 5, -1), 0);
	ck_assert_int_eq(util_write_full(fd, "world", 5, 8192), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 8192 + 5);
	ck_assert_int_eq(pread(fd, buf, 5, 0), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	ck_assert_int_eq(pread(fd, buf, 5, 8192), 5);
	ck_assert_int_eq(memcmp(buf, "world", 5), 0);
	close(fd);
	/* a closed descriptor: -EBADF, not a crash */
	ck_assert_int_eq(util_write_full(fd, "x", 1, -1), -EBADF);
	unlink(path);
}
END_TEST

/* a file written whole or not at all: the old contents stay until the
 * rename; a write error leaves no file and no .tmp behind */
START_TEST(test_tmp_file)
{
	char dir[] = "/tmp/memvisor-util-XXXXXX", path[128], tmp[160], buf[32] = "";
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.csv", dir);
	f = util_tmp_open(path, tmp, sizeof(tmp));
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(access(path, F_OK), -1);
	fputs("a,b\n", f);
	ck_assert_int_eq(util_tmp_close(f, tmp, path), 0);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "a,b\n");

	/* a write that fails (its descriptor gone): nothing replaces the old
	 * file */
	f = util_tmp_open(path, tmp, sizeof(tmp));
	close(fileno(f));
	fputs("c,d\n", f);
	fflush(f);
	ck_assert(ferror(f));
	ck_assert_int_eq(util_tmp_close(f, tmp, path), -EIO);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "a,b\n");

	ck_assert_ptr_null(util_tmp_open(path, tmp, 4));
	ck_assert_int_eq(errno, ENAMETOOLONG);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_bug_on)
{
	BUG_ON(1 + 1 == 2, "arithmetic %s", "holds");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_splitmix64);
	tcase_add_test(tc, test_xorshift64s);
	tcase_add_test(tc, test_errf);
	tcase_add_test(tc, test_write_full);
	tcase_add_test(tc, test_tmp_file);
	tcase_add_test_raise_signal(tc, test_bug_on, SIGABRT);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
