/* SPDX-License-Identifier: MIT */
/* test_record: real traces of real commands under valgrind lackey. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "traces/tests/check_traces.h"

/* Run argv with stdout and stderr to files; its exit status. */
static int run(char *const argv[], const char *out, const char *errf)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(o, 1);
		dup2(e, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t distinct(uint64_t *v, size_t n)
{
	uint64_t d = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		d += !i || v[i] != v[i - 1];
	return d;
}

/* valgrind lackey on a real command (ls -R of a small tree): the text
 * converts, and the summary agrees with counts made here with sscanf. */
START_TEST(real_trace_counts)
{
	const char *log = tt_path("ls.txt"), *bin = tt_path("ls.mvt");
	char logopt[600], tree[600], cmd[3200], line[256], err[512];
	char *argv[] = {"valgrind", "--tool=lackey", "--trace-mem=yes", logopt, "ls", "-R", tree,
			NULL};
	uint64_t kinds[4] = {0}, records = 0, skipped = 0, lines = 0;
	size_t cap = 1 << 20, na = 0, nd = 0;
	uint64_t *all = malloc(cap * sizeof(*all)), *data = malloc(cap * sizeof(*data));
	const struct trace_summary *s;
	struct trace_file *tf;
	FILE *f;

	snprintf(tree, sizeof(tree), "%s", tt_path("tree"));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/a/b %s/c && touch %s/a/x %s/a/b/y %s/c/z", tree,
		 tree, tree, tree, tree);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(logopt, sizeof(logopt), "--log-file=%s", log);
	ck_assert_int_eq(run(argv, tt_path("ls.out"), tt_path("ls.err")), 0);

	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, sz;
		char k;

		lines++;
		if (sscanf(line, "I  %llx,%llu", &a, &sz) == 2) {
			k = 'I';
		} else if (line[0] == ' ' && sscanf(line + 1, "%c %llx,%llu", &k, &a, &sz) == 3 &&
			   (k == 'L' || k == 'S' || k == 'M')) {
		} else {
			skipped++;
			continue;
		}
		records++;
		kinds[k == 'I' ? 0 : k == 'L' ? 1 : k == 'S' ? 2 : 3]++;
		for (uint64_t p = a >> 12; p <= (a + (sz ? sz - 1 : 0)) >> 12; p++) {
			if (na == cap || nd == cap) {
				cap *= 2;
				all = realloc(all, cap * sizeof(*all));
				data = realloc(data, cap * sizeof(*data));
			}
			all[na++] = p;
			if (k != 'I')
				data[nd++] = p;
		}
	}
	fclose(f);
	ck_assert_uint_gt(records, 10000);

	ck_assert_msg(trace_convert(log, bin, false, NULL, NULL, err, sizeof(err)) == 0, "%s", err);
	tf = tt_open(bin);
	s = trace_file_summary(tf);
	ck_assert_uint_eq(s->records, records);
	for (int k = 0; k < 4; k++)
		ck_assert_uint_eq(s->by_kind[k], kinds[k]);
	ck_assert_uint_eq(s->pages, distinct(all, na));
	ck_assert_uint_eq(s->data_pages, distinct(data, nd));
	ck_assert_uint_eq(s->nprocs, 1);
	ck_assert_str_eq(trace_file_meta(tf, "lackey.skipped"),
			 (snprintf(line, sizeof(line), "%" PRIu64, skipped), line));
	ck_assert_uint_gt(skipped, 5); /* valgrind's own messages */
	trace_close(tf);
	free(all);
	free(data);
}
END_TEST

/* trace_record: the program's stdout and stderr are its own, the trace
 * streams through the pipe into a binary trace. */
START_TEST(record_streams)
{
	const char *bin = tt_path("sh.mvt"), *out = tt_path("sh.out"), *errf = tt_path("sh.err");
	char *argv[] = {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3", NULL};
	pid_t pid = fork();
	struct trace_file *tf;
	char *o, *e;
	size_t lo, le;
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct trace_record_stats rs;
		char err[512];
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fo, 1);
		dup2(fe, 2);
		if (trace_record(argv, bin, NULL, &rs, err, sizeof(err)))
			_exit(10);
		_exit(rs.status == 3 && rs.conv.records > 10000 && rs.conv.skipped > 0 ? 0 : 11);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	o = (char *)tt_slurp(out, &lo);
	e = (char *)tt_slurp(errf, &le);
	ck_assert_uint_eq(lo, strlen("to-stdout\n"));
	ck_assert(!memcmp(o, "to-stdout\n", lo));
	ck_assert_uint_eq(le, strlen("to-stderr\n"));
	ck_assert(!memcmp(e, "to-stderr\n", le));
	tf = tt_open(bin);
	ck_assert_uint_gt(trace_file_records(tf), 10000);
	ck_assert_str_eq(trace_file_meta(tf, "exit_status"), "3");
	ck_assert_ptr_nonnull(strstr(trace_file_meta(tf, "command"), "/bin/sh -c"));
	trace_close(tf);
	free(o);
	free(e);
}
END_TEST

START_TEST(record_failures)
{
	struct trace_record_opts o = {.valgrind = "/nonexistent/valgrind"};
	struct trace_record_stats rs;
	char *argv[] = {"/bin/true", NULL}, *none[] = {"/nonexistent/program", NULL};
	char err[512];

	ck_assert_int_eq(trace_record(argv, tt_path("f1.mvt"), &o, &rs, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no trace records"));
	ck_assert_int_ne(access(tt_path("f1.mvt"), F_OK), 0);
	ck_assert_int_ne(trace_record(none, tt_path("f2.mvt"), NULL, &rs, err, sizeof(err)), 0);
	ck_assert_int_ne(access(tt_path("f2.mvt"), F_OK), 0);
}
END_TEST

Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("valgrind");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, real_trace_counts);
	tcase_add_test(tc, record_streams);
	tcase_add_test(tc, record_failures);
	suite_add_tcase(s, tc);
	return s;
}
