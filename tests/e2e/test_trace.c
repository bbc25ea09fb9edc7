/* SPDX-License-Identifier: MIT */
/*
 * End-to-end traces: the real binary records, converts, inspects and
 * replays real traces of real programs; its counts are checked against
 * counts made here from valgrind's own text, sharing no code with it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

static char dir[64];

static const char *bin(void)
{
	const char *b = getenv("MEMVISOR_BIN");

	return b ? b : "build/check/memvisor";
}

/* DIR/name; the result lives until 32 more calls. */
static const char *at(const char *name)
{
	static char path[32][4200];
	static unsigned k;

	k = (k + 1) % 32;
	snprintf(path[k], sizeof(path[k]), "%s/%s", dir, name);
	return path[k];
}

static void setup(void)
{
	strcpy(dir, "/tmp/memvisor-e2e-trace-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		perror("rm");
}

/* Run argv, stdout and stderr into DIR/stdout and DIR/stderr; exit status. */
static int run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char o[4200], e[4200];
		int fo, fe;

		snprintf(o, sizeof(o), "%s/stdout", dir);
		snprintf(e, sizeof(e), "%s/stderr", dir);
		fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fo, 1);
		dup2(fe, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static long long json_num(const char *s, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(s, pat);
	ck_assert_msg(p != NULL, "no %s in %s", key, s);
	return atoll(p + strlen(pat));
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
	char *conv[] = {(char *)bin(),		"trace", "convert", (char *)at("sort.txt"),
			(char *)at("sort.mvt"), NULL};
	FILE *f = fopen(at("in.txt"), "w");

	for (int i = 0; i < 300; i++)
		fprintf(f, "%d\n", (i * 7919) % 1000);
	fclose(f);
	vg[5] = (char *)at("in.txt");
	snprintf(logopt, sizeof(logopt), "--log-file=%s", at("sort.txt"));
	ck_assert_int_eq(run(vg), 0);
	read_lackey(at("sort.txt"), s);
	ck_assert_int_gt(s->records, 100000);
	ck_assert_int_eq(run(conv), 0);
}

/* valgrind lackey on a real program, its text kept: the binary's
 * convert, info and replay agree with what this file counts. */
START_TEST(real_trace_agrees)
{
	char frames[16], *out;
	char *info[] = {(char *)bin(),		"trace", "info", "--json", "--scan",
			(char *)at("sort.mvt"), NULL};
	char *replay[] = {(char *)bin(), "trace", "replay", "--frames", frames,
			  "--policy",	 "lru",	  "--json", "--verify", (char *)at("sort.mvt"),
			  NULL};
	struct seq s;

	sort_trace(&s);
	ck_assert_msg(run(info) == 0, "%s", slurp(at("stderr")));
	out = slurp(at("stdout"));
	ck_assert_int_eq(json_num(out, "records"), s.records);
	ck_assert_int_eq(json_num(out, "distinct_pages"), distinct(s.page, s.n));
	ck_assert_int_eq(json_num(out, "distinct_data_pages"), s.data_pages);
	free(out);

	for (size_t fr = 8; fr <= 64; fr *= 2) {
		snprintf(frames, sizeof(frames), "%zu", fr);
		ck_assert_int_eq(run(replay), 0);
		out = slurp(at("stdout"));
		ck_assert_int_eq(json_num(out, "records"), s.records);
		ck_assert_int_eq(json_num(out, "page_accesses"), (long long)s.n);
		ck_assert_int_eq(json_num(out, "faults"), lru(&s, fr));
		ck_assert_int_gt(json_num(out, "tlb_misses"), 0);
		ck_assert_int_gt(json_num(out, "walk_refs"), 0);
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
	ck_assert_int_eq(mkdir(at("tr"), 0755), 0);
	ck_assert_int_eq(link(at("sort.mvt"), at("tr/0.mvt")), 0);
	ck_assert_int_eq(link(at("sort.mvt"), at("tr/1.mvt")), 0);
	snprintf(tdir, sizeof(tdir), "--trace_dir=%s", at("tr"));
	snprintf(acc, sizeof(acc), "--accesses=%lld", s.records);
	ck_assert_msg(run(argv) == 0, "%s", slurp(at("stdout")));
	out = slurp(at("stdout"));
	snprintf(want, sizeof(want), "trace_procs=2 trace_pages=%lld", 2 * distinct(s.page, s.n));
	ck_assert_msg(strstr(out, want), "%s lacks %s", out, want);
	snprintf(want, sizeof(want), "accesses=%lld ", 2 * s.records);
	ck_assert_msg(strstr(out, want) && strstr(out, "verified=yes mismatches=0"), "%s", out);
	free(out);

	argv[6] = "--flip=1";
	ck_assert_int_eq(run(argv), 1);
	out = slurp(at("stdout"));
	ck_assert_msg(strstr(out, "verified=no mismatches=2"), "%s", out);
	free(out);

	argv[2] = "--traces=1";
	argv[6] = "--loop=1";
	snprintf(acc, sizeof(acc), "--accesses=%lld", 2 * s.records + 12345);
	ck_assert_int_eq(run(argv), 0);
	out = slurp(at("stdout"));
	snprintf(want, sizeof(want), "accesses=%lld ", 2 * s.records + 12345);
	ck_assert_msg(strstr(out, want) && strstr(out, "verified=yes"), "%s", out);
	free(out);

	ck_assert_int_eq(unlink(at("tr/0.mvt")), 0);
	{
		FILE *in = fopen(at("sort.mvt"), "rb"), *o = fopen(at("tr/0.mvt"), "wb");
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf), in);

		fwrite(buf, 1, n, o); /* the first 4 KiB only */
		fclose(in);
		fclose(o);
	}
	argv[6] = NULL;
	ck_assert_int_ne(run(argv), 0);
	out = slurp(at("stdout"));
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
	char *rec[] = {(char *)bin(), "trace", "record", "-o", (char *)at("ls.mvt"),
		       "--",	      "ls",    "-R",	 tree, NULL};
	char *replay[] = {(char *)bin(), "trace", "replay", "--frames",		  "20",
			  "--policy",	 "lru",	  "--json", (char *)at("ls.mvt"), NULL};
	char *runc[] = {(char *)bin(),	   "run", (char *)at("t.ini"), "-o",
			(char *)at("out"), "-q",  "--verify",	       NULL};
	long long faults;
	FILE *f;

	snprintf(tree, sizeof(tree), "%s", at("tree"));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/d1/d2 && touch %s/d1/f1 %s/d1/d2/f2", tree, tree,
		 tree);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(run(rec), 0);
	out = slurp(at("stdout"));
	ck_assert_msg(strstr(out, "d1:") && strstr(out, "f2") && !strstr(out, "I  "), "%s", out);
	free(out);
	out = slurp(at("stderr"));
	ck_assert_msg(strstr(out, "records"), "%s", out);
	free(out);

	ck_assert_int_eq(run(replay), 0);
	out = slurp(at("stdout"));
	faults = json_num(out, "faults");
	ck_assert_int_gt(json_num(out, "swap_ins"), 0);
	free(out);

	f = fopen(at("t.ini"), "w");
	fputs("[host]\nmemory = 32M\n\n[guest ls]\nmemory = 4M\nworkload = trace:ls.mvt\n"
	      "data_frames = 20\nreclaim = lru\n\n[guest loop]\nmemory = 4M\n"
	      "workload = trace:ls.mvt\nloop = on\naccesses = 3000000\nreclaim = clock\n",
	      f);
	fclose(f);
	ck_assert_msg(run(runc) == 0, "%s", slurp(at("stderr")));
	sum = slurp(at("out/summary.json"));
	ck_assert_int_eq(json_num(strstr(sum, "\"ls\""), "guest_page_faults"), faults);
	ck_assert_int_eq(json_num(strstr(sum, "\"loop\""), "accesses"), 3000000);
	ck_assert_ptr_nonnull(strstr(strstr(sum, "\"ls\""), "\"verified\": true"));
	ck_assert_ptr_nonnull(strstr(strstr(sum, "\"loop\""), "\"verified\": true"));
	free(sum);
}
END_TEST

/* Bad inputs: exit 2 and a message with the file and the record or line. */
START_TEST(bad_inputs)
{
	char *conv[] = {(char *)bin(),	       "trace", "convert", (char *)at("bad.txt"),
			(char *)at("bad.mvt"), NULL};
	char *mk[] = {(char *)bin(),	    "trace", "convert", (char *)at("ok.txt"),
		      (char *)at("ok.mvt"), NULL};
	char *info[] = {(char *)bin(), "trace", "info", (char *)at("x.mvt"), NULL};
	char *replay[] = {(char *)bin(), "trace", "replay", (char *)at("x.mvt"), NULL};
	char *runc[] = {(char *)bin(), "run", (char *)at("x.ini"), "-o", (char *)at("out"),
			"-q",	       NULL};
	char *err, *good;
	FILE *f = fopen(at("bad.txt"), "w");
	size_t len, second;
	struct stat st;

	fputs("==1== hello\nI  1000,4\n L 20zz,8\n", f);
	fclose(f);
	ck_assert_int_eq(run(conv), 2);
	err = slurp(at("stderr"));
	ck_assert_msg(strstr(err, "bad.txt:3: malformed"), "%s", err);
	free(err);
	ck_assert_int_ne(stat(at("bad.mvt"), &st), 0);

	f = fopen(at("ok.txt"), "w");
	for (int i = 0; i < 300000; i++)
		fprintf(f, "%s%x,%d\n", i % 2 ? " L " : "I  ", (i * 2654435761u) % 400000,
			1 + i % 8);
	fclose(f);
	ck_assert_msg(run(mk) == 0, "%s", slurp(at("stderr")));
	good = slurp(at("ok.mvt"));
	len = (size_t)(stat(at("ok.mvt"), &st), st.st_size);
	f = fopen(at("x.ini"), "w");
	fprintf(f, "[guest g]\nmemory = 4M\nworkload = trace:%s\n", at("x.mvt"));
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
		f = fopen(at("x.mvt"), "w");
		fwrite(buf, 1, c == 0 ? second + 40 : len, f);
		fclose(f);
		free(buf);
		for (int k = 0; k < 3; k++) {
			char *const *argv = k == 0 ? info : k == 1 ? replay : runc;

			ck_assert_int_eq(run(argv), 2);
			err = slurp(at("stderr"));
			ck_assert_msg(strstr(err, "x.mvt") && strstr(err, want[c]),
				      "case %d/%d: %s", c, k, err);
			free(err);
		}
		ck_assert_int_ne(stat(at("out"), &st), 0);
	}
	free(good);
}
END_TEST

START_TEST(usage)
{
	char *help[] = {(char *)bin(), "trace", "--help", NULL};
	char *none[] = {(char *)bin(), "trace", NULL};
	char *pol[] = {(char *)bin(), "trace", "replay", "--policy", "fifo", "x.mvt", NULL};
	char *fr[] = {(char *)bin(), "trace", "replay", "--frames", "0", "x.mvt", NULL};
	char *sub[] = {(char *)bin(), "trace", "replay", "--help", NULL};
	char *rec[] = {(char *)bin(), "trace", "record", "--", "true", NULL};
	char *s;

	ck_assert_int_eq(run(help), 0);
	s = slurp(at("stdout"));
	ck_assert_ptr_nonnull(strstr(s, "replay"));
	free(s);
	ck_assert_int_eq(run(sub), 0);
	ck_assert_int_eq(run(none), 2);
	ck_assert_int_eq(run(pol), 2);
	ck_assert_int_eq(run(fr), 2);
	ck_assert_int_eq(run(rec), 2);
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
