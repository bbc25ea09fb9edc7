/* SPDX-License-Identifier: MIT */
/* test_lackey: valgrind lackey text, read and written, and converted both ways. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "traces/tests/check_traces.h"

static const char sample[] = "==123== Lackey, an example Valgrind tool\n"
			     "==123== \n"
			     "I  0401ab70,3\n"
			     " S 1fff000628,8\n"
			     " L 04030df8,8\n"
			     " M 04031ae0,4\n"
			     "I  ffffffffff600000,15\n"
			     "\n"
			     "Jccs: something\n"
			     " L 00000000,0\r\n"
			     " S 7ffffffff000,65536   \n"
			     "I  0401ab73,5"; /* no final newline */

static const struct trace_rec want[] = {
    {.kind = TRACE_INSTR, .addr = 0x0401ab70, .size = 3, .pid = 1},
    {.kind = TRACE_STORE, .addr = 0x1fff000628, .size = 8, .pid = 1},
    {.kind = TRACE_LOAD, .addr = 0x04030df8, .size = 8, .pid = 1},
    {.kind = TRACE_MODIFY, .addr = 0x04031ae0, .size = 4, .pid = 1},
    {.kind = TRACE_INSTR, .addr = 0xffffffffff600000ull, .size = 15, .pid = 1},
    {.kind = TRACE_LOAD, .addr = 0, .size = 0, .pid = 1},
    {.kind = TRACE_STORE, .addr = 0x7ffffffff000ull, .size = 65536, .pid = 1},
    {.kind = TRACE_INSTR, .addr = 0x0401ab73, .size = 5, .pid = 1},
};

static int fd_of(const char *text)
{
	const char *path = tt_path("in.txt");
	int fd;

	tt_spit(path, text, strlen(text));
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(parse_sample)
{
	int fd = fd_of(sample);
	struct trace_lackey *lk = trace_lackey_open(fd, "in.txt");
	struct trace_rec r;
	size_t n = 0;
	int e;

	while ((e = trace_lackey_next(lk, &r)) == 1) {
		ck_assert_uint_lt(n, ARRAY_SIZE(want));
		ck_assert_msg(tt_rec_eq(&r, &want[n]), "record %zu", n);
		n++;
	}
	ck_assert_int_eq(e, 0);
	ck_assert_uint_eq(n, ARRAY_SIZE(want));
	ck_assert_uint_eq(trace_lackey_lines(lk), 12);
	ck_assert_uint_eq(trace_lackey_skipped(lk), 4);
	ck_assert_uint_eq(trace_lackey_bytes(lk), strlen(sample));
	trace_lackey_close(lk);
	close(fd);
}
END_TEST

static const struct {
	const char *line;
	unsigned lineno;
} malformed[] = {
    {"I  0401ab70,3\nI  zz,3\n", 2}, {"I  0401ab70\n", 1},
    {"==1==\n L 1234,\n", 2},	     {" S ,8\n", 1},
    {" M 1234,65537\n", 1},	     {" L 12345678901234567,8\n", 1},
    {" L ffffffffffffffff,2\n", 1},  {"I  1234,3 x\n", 1},
    {"\n\n\nI  -1234,3\n", 4},	     {" S 10,99999999999999999999999\n", 1},
};

START_TEST(malformed_lines)
{
	int fd = fd_of(malformed[_i].line);
	struct trace_lackey *lk = trace_lackey_open(fd, "bad.txt");
	struct trace_rec r;
	char want_at[32];
	int e;

	while ((e = trace_lackey_next(lk, &r)) == 1)
		;
	ck_assert_int_eq(e, -EINVAL);
	snprintf(want_at, sizeof(want_at), "bad.txt:%u: malformed", malformed[_i].lineno);
	ck_assert_msg(strstr(trace_lackey_error(lk), want_at), "'%s' lacks '%s'",
		      trace_lackey_error(lk), want_at);
	trace_lackey_close(lk);
	close(fd);
}
END_TEST

/* Lines longer than the reader's buffer: skipped, or malformed when they
 * start like a record; the lines after them still count. */
START_TEST(long_lines)
{
	size_t big = TRACE_LK_BUF + 5000;
	char *text = malloc(big + 64);
	struct trace_lackey *lk;
	struct trace_rec r;
	int fd, e;

	memset(text, 'x', big);
	memcpy(text + big, "\nI  1000,4\n", 12);
	fd = fd_of(text);
	lk = trace_lackey_open(fd, "long.txt");
	ck_assert_int_eq(trace_lackey_next(lk, &r), 1);
	ck_assert_uint_eq(r.addr, 0x1000);
	ck_assert_uint_eq(trace_lackey_lines(lk), 2);
	ck_assert_uint_eq(trace_lackey_skipped(lk), 1);
	ck_assert_int_eq(trace_lackey_next(lk, &r), 0);
	trace_lackey_close(lk);
	close(fd);

	memcpy(text, "I  1", 4);
	fd = fd_of(text);
	lk = trace_lackey_open(fd, "long.txt");
	e = trace_lackey_next(lk, &r);
	ck_assert_int_eq(e, -EINVAL);
	ck_assert_ptr_nonnull(strstr(trace_lackey_error(lk), "long.txt:1:"));
	trace_lackey_close(lk);
	close(fd);
	free(text);
}
END_TEST

/* Records arrive through a pipe in pieces: the reader does not care. */
START_TEST(from_pipe)
{
	int p[2];
	pid_t pid;
	struct trace_lackey *lk;
	struct trace_rec r;
	uint64_t n = 0, sum = 0;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		FILE *f = fdopen(p[1], "w");

		close(p[0]);
		setvbuf(f, NULL, _IONBF, 0);
		for (unsigned i = 0; i < 20000; i++)
			fprintf(f, "%s%x,%u\n", i % 3 ? " L " : "I  ", i * 16, 1 + i % 8);
		fclose(f);
		_exit(0);
	}
	close(p[1]);
	lk = trace_lackey_open(p[0], "pipe");
	while (trace_lackey_next(lk, &r) == 1) {
		ck_assert_uint_eq(r.addr, n * 16);
		sum += r.size;
		n++;
	}
	ck_assert_uint_eq(n, 20000);
	ck_assert_uint_eq(trace_lackey_skipped(lk), 0);
	trace_lackey_close(lk);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	(void)sum;
}
END_TEST

/* Text -> binary -> text gives back every record line, byte for byte as
 * lackey prints it. */
START_TEST(text_binary_text)
{
	const char *txt = tt_path("a.txt"), *bin = tt_path("a.mvt"), *back = tt_path("b.txt");
	struct trace_rec *in = tt_random_recs(4000, 1, 77);
	struct trace_convert_stats st;
	FILE *f = fopen(txt, "w");
	size_t la, lb;
	char err[512];
	char *a, *b;

	fputs("==7== Lackey\n", f);
	for (size_t i = 0; i < 4000; i++) {
		in[i].pid = 1;
		if (in[i].kind > TRACE_MODIFY)
			in[i].kind = TRACE_LOAD;
		ck_assert_int_eq(trace_lackey_write(f, &in[i]), 0);
	}
	fputs("==7== end\n", f);
	fclose(f);
	ck_assert_msg(trace_convert(txt, bin, false, NULL, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(st.records, 4000);
	ck_assert_uint_eq(st.skipped, 2);
	ck_assert_uint_eq(st.lines, 4002);
	ck_assert_msg(trace_convert(bin, back, true, NULL, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(st.records, 4000);
	a = (char *)tt_slurp(txt, &la);
	b = (char *)tt_slurp(back, &lb);
	/* the record lines, without valgrind's two */
	ck_assert_uint_eq(lb, la - strlen("==7== Lackey\n") - strlen("==7== end\n"));
	ck_assert(!memcmp(a + strlen("==7== Lackey\n"), b, lb));
	free(a);
	free(b);
	free(in);
}
END_TEST

/* What lackey text cannot hold is refused with the record's number. */
START_TEST(text_refuses)
{
	struct trace_rec r[2] = {
	    {.kind = TRACE_LOAD, .addr = 8, .size = 8, .pid = 1},
	    {.kind = TRACE_ZERO, .addr = 4096, .size = 4096, .pid = 1},
	};
	char err[512];

	ck_assert_int_eq(trace_lackey_write(stdout, &r[1]), -EINVAL);
	tt_write(tt_path("c.mvt"), r, 2, 0);
	ck_assert_int_eq(
	    trace_convert(tt_path("c.mvt"), tt_path("c.txt"), true, NULL, NULL, err, sizeof(err)),
	    -EINVAL);
	ck_assert_msg(strstr(err, "record 1") && strstr(err, "zero"), "%s", err);
	r[1] = r[0];
	r[1].pid = 2;
	tt_write(tt_path("d.mvt"), r, 2, 0);
	ck_assert_int_eq(
	    trace_convert(tt_path("d.mvt"), tt_path("d.txt"), true, NULL, NULL, err, sizeof(err)),
	    -EINVAL);
	ck_assert_msg(strstr(err, "2 processes"), "%s", err);
}
END_TEST

/* A malformed line in a conversion is an error naming the file and line,
 * and no output file is left. */
START_TEST(convert_malformed)
{
	const char *txt = tt_path("m.txt"), *bin = tt_path("m.mvt");
	char err[512];

	tt_spit(txt, "I  1000,4\n L 2000,8\n L 20x0,8\n", 30);
	ck_assert_int_eq(trace_convert(txt, bin, false, NULL, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "m.txt:3: malformed"), "%s", err);
	ck_assert_int_ne(access(bin, F_OK), 0);
}
END_TEST

Suite *lackey_suite(void)
{
	Suite *s = suite_create("lackey");
	TCase *tc = tcase_create("text");

	tcase_add_test(tc, parse_sample);
	tcase_add_loop_test(tc, malformed_lines, 0, ARRAY_SIZE(malformed));
	tcase_add_test(tc, long_lines);
	tcase_add_test(tc, from_pipe);
	tcase_add_test(tc, text_binary_text);
	tcase_add_test(tc, text_refuses);
	tcase_add_test(tc, convert_malformed);
	suite_add_tcase(s, tc);
	return s;
}
