/* SPDX-License-Identifier: MIT */
/*
 * End-to-end traces: the real binary records, converts, inspects and
 * replays real traces of real programs; its counts are checked against
 * counts made here from valgrind's own text, sharing no code with it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "tests/e2e/e2e.h"

static char dir[64];

static void setup(void)
{
	e2e_mkdtemp(dir, sizeof(dir), "/tmp/memvisor-e2e-trace-XXXXXX");
}

static void teardown(void)
{
	e2e_rmdir(dir);
}

/* The page sequence of a lackey text, parsed here with sscanf: every
 * record covers its pages, lowest first. Counts too. */
struct seq {
	unsigned long long *page;
	size_t n, cap;
	long long records;
	long long data_pages; /* distinct, from L, S, M */
};

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static long long distinct(const unsigned long long *v, size_t n)
{
	unsigned long long *c = malloc((n ? n : 1) * sizeof(*c));
	long long d = 0;

	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_ull);
	for (size_t i = 0; i < n; i++)
		d += !i || c[i] != c[i - 1];
	free(c);
	return d;
}

static void read_lackey(const char *path, struct seq *s)
{
	FILE *f = fopen(path, "r");
	unsigned long long *data = NULL;
	size_t nd = 0, capd = 0;
	char line[256];

	ck_assert_ptr_nonnull(f);
	memset(s, 0, sizeof(*s));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, sz;
		char k = 'I';

		if (sscanf(line, "I  %llx,%llu", &a, &sz) != 2 &&
		    !(line[0] == ' ' && sscanf(line + 1, "%c %llx,%llu", &k, &a, &sz) == 3 &&
		      (k == 'L' || k == 'S' || k == 'M')))
			continue;
		s->records++;
		for (unsigned long long p = a >> 12; p <= (a + (sz ? sz - 1 : 0)) >> 12; p++) {
			if (s->n == s->cap) {
				s->cap = s->cap ? 2 * s->cap : 1 << 16;
				s->page = realloc(s->page, s->cap * sizeof(*s->page));
			}
			s->page[s->n++] = p;
			if (k != 'I') {
				if (nd == capd) {
					capd = capd ? 2 * capd : 1 << 16;
					data = realloc(data, capd * sizeof(*data));
				}
				data[nd++] = p;
			}
		}
	}
	fclose(f);
	s->data_pages = distinct(data, nd);
	free(data);
}

/* Faults of an exact LRU of `frames` frames on the sequence. */
static long long lru(const struct seq *s, size_t frames)
{
	unsigned long long *res = malloc(frames * sizeof(*res)), *when = malloc(frames * 8);
	size_t used = 0;
	long long faults = 0;

	for (size_t t = 0; t < s->n; t++) {
		size_t i, old = 0;

		for (i = 0; i < used && res[i] != s->page[t]; i++)
			;
		if (i == used) {
			faults++;
			if (used < frames) {
				used++;
			} else {
				for (size_t j = 1; j < used; j++)
					if (when[j] < when[old])
						old = j;
				i = old;
			}
			res[i] = s->page[t];
		}
		when[i] = t;
	}
	free(res);
	free(when);
	return faults;
}

/* valgrind lackey on sort: its text as DIR/sort.txt, read into s, and
 * converted by the binary into DIR/sort.mvt. */
static void sort_trace(struct seq *s)
{
	char logopt[4300];
	char *vg[] = {"valgrind", "--tool=lackey", "--trace-mem=yes", logopt, "sort", NULL, NULL};
	char *conv[] = {(char *)e2e_bin(),
			"trace",
			"convert",
			(char *)e2e_path(dir, "sort.txt"),
			(char *)e2e_path(dir, "sort.mvt"),
			NULL};
	FILE *f = fopen(e2e_path(dir, "in.txt"), "w");

	for (int i = 0; i < 300; i++)
		fprintf(f, "%d\n", (i * 7919) % 1000);
	fclose(f);
	vg[5] = (char *)e2e_path(dir, "in.txt");
	snprintf(logopt, sizeof(logopt), "--log-file=%s", e2e_path(dir, "sort.txt"));
	ck_assert_int_eq(e2e_run(dir, vg), 0);
	read_lackey(e2e_path(dir, "sort.txt"), s);
	ck_assert_int_gt(s->records, 100000);
	ck_assert_int_eq(e2e_run(dir, conv), 0);
}

/* valgrind lackey on a real program, its text kept: the binary's
 * convert, info and replay agree with what this file counts. */
START_TEST(real_trace_agrees)
{
	char frames[16], *out;
	char *info[] = {(char *)e2e_bin(),
			"trace",
			"info",
			"--json",
			"--scan",
			(char *)e2e_path(dir, "sort.mvt"),
			NULL};
	char *replay[] = {(char *)e2e_bin(),
			  "trace",
			  "replay",
			  "--frames",
			  frames,
			  "--policy",
			  "lru",
			  "--json",
			  "--verify",
			  (char *)e2e_path(dir, "sort.mvt"),
			  NULL};
	struct seq s;

	sort_trace(&s);
	ck_assert_msg(e2e_run(dir, info) == 0, "%s", e2e_slurp(e2e_path(dir, "stderr")));
	out = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_int_eq(e2e_json_num(out, "records"), s.records);
	ck_assert_int_eq(e2e_json_num(out, "distinct_pages"), distinct(s.page, s.n));
	ck_assert_int_eq(e2e_json_num(out, "distinct_data_pages"), s.data_pages);
	free(out);

	for (size_t fr = 8; fr <= 64; fr *= 2) {
		snprintf(frames, sizeof(frames), "%zu", fr);
		ck_assert_int_eq(e2e_run(dir, replay), 0);
		out = e2e_slurp(e2e_path(dir, "stdout"));
		ck_assert_int_eq(e2e_json_num(out, "records"), s.records);
		ck_assert_int_eq(e2e_json_num(out, "page_accesses"), (long long)s.n);
		ck_assert_int_eq(e2e_json_num(out, "faults"), lru(&s, fr));
		ck_assert_int_gt(e2e_json_num(out, "tlb_misses"), 0);
		ck_assert_int_gt(e2e_json_num(out, "walk_refs"), 0);
		ck_assert_ptr_nonnull(strstr(out, "\"verified\": true"));
		free(out);
	}
	free(s.page);
}
END_TEST

/* The in-guest program of Linux guests (guest/inguest/), run here on the
 * host as a plain static program: it replays the same real trace twice,
 * each copy in a process of its own, touches exactly the pages valgrind's
 * text names, verifies every page, catches a flipped byte, loops, and
 * refuses a damaged trace naming it. */
START_TEST(inguest_replay)
{
	const char *g = getenv("MEMVISOR_GUEST_BIN");
	char acc[48], tdir[4300], want[96], *out;
	char *argv[] = {(char *)(g ? g : "build/kvm/memvisor-guest"),
			"--workload=trace",
			"--traces=2",
			tdir,
			acc,
			"--seed=9",
			NULL,
			NULL};
	struct seq s;

	sort_trace(&s);
	ck_assert_int_eq(mkdir(e2e_path(dir, "tr"), 0755), 0);
	ck_assert_int_eq(link(e2e_path(dir, "sort.mvt"), e2e_path(dir, "tr/0.mvt")), 0);
	ck_assert_int_eq(link(e2e_path(dir, "sort.mvt"), e2e_path(dir, "tr/1.mvt")), 0);
	snprintf(tdir, sizeof(tdir), "--trace_dir=%s", e2e_path(dir, "tr"));
	snprintf(acc, sizeof(acc), "--accesses=%lld", s.records);
	ck_assert_msg(e2e_run(dir, argv) == 0, "%s", e2e_slurp(e2e_path(dir, "stdout")));
	out = e2e_slurp(e2e_path(dir, "stdout"));
	snprintf(want, sizeof(want), "trace_procs=2 trace_pages=%lld", 2 * distinct(s.page, s.n));
	ck_assert_msg(strstr(out, want), "%s lacks %s", out, want);
	snprintf(want, sizeof(want), "accesses=%lld ", 2 * s.records);
	ck_assert_msg(strstr(out, want) && strstr(out, "verified=yes mismatches=0"), "%s", out);
	free(out);

	argv[6] = "--flip=1";
	ck_assert_int_eq(e2e_run(dir, argv), 1);
	out = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_msg(strstr(out, "verified=no mismatches=2"), "%s", out);
	free(out);

	argv[2] = "--traces=1";
	argv[6] = "--loop=1";
	snprintf(acc, sizeof(acc), "--accesses=%lld", 2 * s.records + 12345);
	ck_assert_int_eq(e2e_run(dir, argv), 0);
	out = e2e_slurp(e2e_path(dir, "stdout"));
	snprintf(want, sizeof(want), "accesses=%lld ", 2 * s.records + 12345);
	ck_assert_msg(strstr(out, want) && strstr(out, "verified=yes"), "%s", out);
	free(out);

	ck_assert_int_eq(unlink(e2e_path(dir, "tr/0.mvt")), 0);
	{
		FILE *in = fopen(e2e_path(dir, "sort.mvt"), "rb"),
		     *o = fopen(e2e_path(dir, "tr/0.mvt"), "wb");
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf), in);

		fwrite(buf, 1, n, o); /* the first 4 KiB only */
		fclose(in);
		fclose(o);
	}
	argv[6] = NULL;
	ck_assert_int_ne(e2e_run(dir, argv), 0);
	out = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_msg(strstr(out, "@memvisor error=trace") && strstr(out, "0.mvt"), "%s", out);
	free(out);
	free(s.page);
}
END_TEST

/* trace record: the program's output stays on its own stdout; then a
 * config with workload = trace:PATH faults as `trace replay` does. */
START_TEST(record_then_run)
{
	char tree[4200], cmd[13000], *out, *sum;
	char *rec[] = {(char *)e2e_bin(),
		       "trace",
		       "record",
		       "-o",
		       (char *)e2e_path(dir, "ls.mvt"),
		       "--",
		       "ls",
		       "-R",
		       tree,
		       NULL};
	char *replay[] = {(char *)e2e_bin(),
			  "trace",
			  "replay",
			  "--frames",
			  "20",
			  "--policy",
			  "lru",
			  "--json",
			  (char *)e2e_path(dir, "ls.mvt"),
			  NULL};
	char *runc[] = {(char *)e2e_bin(),
			"run",
			(char *)e2e_path(dir, "t.ini"),
			"-o",
			(char *)e2e_path(dir, "out"),
			"-q",
			"--verify",
			NULL};
	long long faults;
	FILE *f;

	snprintf(tree, sizeof(tree), "%s", e2e_path(dir, "tree"));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/d1/d2 && touch %s/d1/f1 %s/d1/d2/f2", tree, tree,
		 tree);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(e2e_run(dir, rec), 0);
	out = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_msg(strstr(out, "d1:") && strstr(out, "f2") && !strstr(out, "I  "), "%s", out);
	free(out);
	out = e2e_slurp(e2e_path(dir, "stderr"));
	ck_assert_msg(strstr(out, "records"), "%s", out);
	free(out);

	ck_assert_int_eq(e2e_run(dir, replay), 0);
	out = e2e_slurp(e2e_path(dir, "stdout"));
	faults = e2e_json_num(out, "faults");
	ck_assert_int_gt(e2e_json_num(out, "swap_ins"), 0);
	free(out);

	f = fopen(e2e_path(dir, "t.ini"), "w");
	fputs("[host]\nmemory = 32M\n\n[guest ls]\nmemory = 4M\nworkload = trace:ls.mvt\n"
	      "data_frames = 20\nreclaim = lru\n\n[guest loop]\nmemory = 4M\n"
	      "workload = trace:ls.mvt\nloop = on\naccesses = 3000000\nreclaim = clock\n",
	      f);
	fclose(f);
	ck_assert_msg(e2e_run(dir, runc) == 0, "%s", e2e_slurp(e2e_path(dir, "stderr")));
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_int_eq(e2e_json_num(strstr(sum, "\"ls\""), "guest_page_faults"), faults);
	ck_assert_int_eq(e2e_json_num(strstr(sum, "\"loop\""), "accesses"), 3000000);
	ck_assert_ptr_nonnull(strstr(strstr(sum, "\"ls\""), "\"verified\": true"));
	ck_assert_ptr_nonnull(strstr(strstr(sum, "\"loop\""), "\"verified\": true"));
	free(sum);
}
END_TEST

/* Bad inputs: exit 2 and a message with the file and the record or line. */
START_TEST(bad_inputs)
{
	char *conv[] = {(char *)e2e_bin(),
			"trace",
			"convert",
			(char *)e2e_path(dir, "bad.txt"),
			(char *)e2e_path(dir, "bad.mvt"),
			NULL};
	char *mk[] = {(char *)e2e_bin(),
		      "trace",
		      "convert",
		      (char *)e2e_path(dir, "ok.txt"),
		      (char *)e2e_path(dir, "ok.mvt"),
		      NULL};
	char *info[] = {(char *)e2e_bin(), "trace", "info", (char *)e2e_path(dir, "x.mvt"), NULL};
	char *replay[] = {(char *)e2e_bin(), "trace", "replay", (char *)e2e_path(dir, "x.mvt"),
			  NULL};
	char *runc[] = {(char *)e2e_bin(),
			"run",
			(char *)e2e_path(dir, "x.ini"),
			"-o",
			(char *)e2e_path(dir, "out"),
			"-q",
			NULL};
	char *err, *good;
	FILE *f = fopen(e2e_path(dir, "bad.txt"), "w");
	size_t len, second;
	struct stat st;

	fputs("==1== hello\nI  1000,4\n L 20zz,8\n", f);
	fclose(f);
	ck_assert_int_eq(e2e_run(dir, conv), 2);
	err = e2e_slurp(e2e_path(dir, "stderr"));
	ck_assert_msg(strstr(err, "bad.txt:3: malformed"), "%s", err);
	free(err);
	ck_assert_int_ne(stat(e2e_path(dir, "bad.mvt"), &st), 0);

	f = fopen(e2e_path(dir, "ok.txt"), "w");
	for (int i = 0; i < 300000; i++)
		fprintf(f, "%s%x,%d\n", i % 2 ? " L " : "I  ", (i * 2654435761u) % 400000,
			1 + i % 8);
	fclose(f);
	ck_assert_msg(e2e_run(dir, mk) == 0, "%s", e2e_slurp(e2e_path(dir, "stderr")));
	good = e2e_slurp(e2e_path(dir, "ok.mvt"));
	len = (size_t)(stat(e2e_path(dir, "ok.mvt"), &st), st.st_size);
	f = fopen(e2e_path(dir, "x.ini"), "w");
	fprintf(f, "[guest g]\nmemory = 4M\nworkload = trace:%s\n", e2e_path(dir, "x.mvt"));
	fclose(f);

	/* the second chunk's section starts after the first's 32-byte header
	 * and payload, whose size is at bytes 4..7 of that header (the format
	 * in traces/traces_internal.h) */
	second = 64 + 32 +
		 ((unsigned char)good[68] | (unsigned char)good[69] << 8 |
		  (unsigned char)good[70] << 16 | (size_t)(unsigned char)good[71] << 24);
	ck_assert_uint_lt(second + 40, len);
	/* cut short in the second chunk, a flipped byte in it, a future version */
	for (int c = 0; c < 3; c++) {
		const char *want[] = {"truncated after record 262144",
				      "chunk 1 (records 262144..299999) at byte", "version 9.0"};
		char *buf = malloc(len);

		memcpy(buf, good, len);
		if (c == 1)
			buf[second + 40] ^= 4;
		if (c == 2) { /* version 9.0, the header checksum at 56..63 made valid */
			uint64_t h;

			buf[8] = 9;
			h = XXH3_64bits(buf, 56);
			for (int i = 0; i < 8; i++)
				buf[56 + i] = (char)(h >> (8 * i));
		}
		f = fopen(e2e_path(dir, "x.mvt"), "w");
		fwrite(buf, 1, c == 0 ? second + 40 : len, f);
		fclose(f);
		free(buf);
		for (int k = 0; k < 3; k++) {
			char *const *argv = k == 0 ? info : k == 1 ? replay : runc;

			ck_assert_int_eq(e2e_run(dir, argv), 2);
			err = e2e_slurp(e2e_path(dir, "stderr"));
			ck_assert_msg(strstr(err, "x.mvt") && strstr(err, want[c]),
				      "case %d/%d: %s", c, k, err);
			free(err);
		}
		ck_assert_int_ne(stat(e2e_path(dir, "out"), &st), 0);
	}
	free(good);
}
END_TEST

START_TEST(usage)
{
	char *help[] = {(char *)e2e_bin(), "trace", "--help", NULL};
	char *none[] = {(char *)e2e_bin(), "trace", NULL};
	char *pol[] = {(char *)e2e_bin(), "trace", "replay", "--policy", "fifo", "x.mvt", NULL};
	char *fr[] = {(char *)e2e_bin(), "trace", "replay", "--frames", "0", "x.mvt", NULL};
	char *sub[] = {(char *)e2e_bin(), "trace", "replay", "--help", NULL};
	char *rec[] = {(char *)e2e_bin(), "trace", "record", "--", "true", NULL};
	char *s;

	ck_assert_int_eq(e2e_run(dir, help), 0);
	s = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_ptr_nonnull(strstr(s, "replay"));
	free(s);
	ck_assert_int_eq(e2e_run(dir, sub), 0);
	ck_assert_int_eq(e2e_run(dir, none), 2);
	ck_assert_int_eq(e2e_run(dir, pol), 2);
	ck_assert_int_eq(e2e_run(dir, fr), 2);
	ck_assert_int_eq(e2e_run(dir, rec), 2);
}
END_TEST

Suite *trace_e2e_suite(void);
Suite *trace_e2e_suite(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("trace");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, real_trace_agrees);
	tcase_add_test(tc, record_then_run);
	tcase_add_test(tc, inguest_replay);
	tcase_add_test(tc, bad_inputs);
	tcase_add_test(tc, usage);
	suite_add_tcase(s, tc);
	return s;
}
