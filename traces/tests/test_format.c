/* SPDX-License-Identifier: MIT */
/* test_format: the binary format end to end: records, chunks, pids, seeking, summary. */
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "traces/tests/check_traces.h"

static const unsigned chunk_sizes[] = {1, 2, 3, 7, 1000, 0};

/* Every chunk size: what goes in comes out, in order, whole and by pid. */
START_TEST(roundtrip)
{
	const size_t n = 5000;
	struct trace_rec *in = tt_random_recs(n, 3, 7 + (uint64_t)_i), *out, *mine;
	const char *path = tt_path("rt.mvt");
	struct trace_file *tf;
	size_t got, k;

	tt_write(path, in, n, chunk_sizes[_i]);
	tf = tt_open(path);
	ck_assert_uint_eq(trace_file_records(tf), n);
	if (chunk_sizes[_i])
		ck_assert_uint_eq(trace_file_chunks(tf),
				  (n + chunk_sizes[_i] - 1) / chunk_sizes[_i]);
	out = tt_read_all(tf, TRACE_ALL_PIDS, &got);
	ck_assert_uint_eq(got, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(tt_rec_eq(&in[i], &out[i]), "record %zu differs", i);
	free(out);
	for (uint32_t pid = 1; pid <= 15; pid += 7) {
		mine = tt_read_all(tf, pid, &got);
		k = 0;
		for (size_t i = 0; i < n; i++)
			if (in[i].pid == pid) {
				ck_assert_uint_lt(k, got);
				ck_assert_msg(tt_rec_eq(&in[i], &mine[k]), "pid %u record %zu", pid,
					      i);
				k++;
			}
		ck_assert_uint_eq(k, got);
		free(mine);
	}
	ck_assert_str_eq(trace_file_meta(tf, "test"), "yes");
	ck_assert_ptr_null(trace_file_meta(tf, "tes"));
	trace_close(tf);
	free(in);
}
END_TEST

/* Seeking lands on the record asked for, across chunk boundaries. */
START_TEST(seek)
{
	const size_t n = 3000;
	struct trace_rec *in = tt_random_recs(n, 2, 99), out[8];
	const char *path = tt_path("seek.mvt");
	const uint64_t at[] = {0, 1, 255, 256, 257, 511, 512, 1000, 2999, 3000};
	struct trace_file *tf;
	struct trace_cursor *c;

	tt_write(path, in, n, 256);
	tf = tt_open(path);
	c = trace_cursor_create(tf, TRACE_ALL_PIDS);
	for (size_t j = 0; j < ARRAY_SIZE(at); j++) {
		long got;

		ck_assert_int_eq(trace_cursor_seek(c, at[j]), 0);
		ck_assert_uint_eq(trace_cursor_pos(c), at[j]);
		got = trace_cursor_read(c, out, 8);
		ck_assert_int_eq(got, (long)(n - at[j] < 8 ? n - at[j] : 8));
		for (long i = 0; i < got; i++)
			ck_assert(tt_rec_eq(&in[at[j] + (uint64_t)i], &out[i]));
	}
	ck_assert_int_eq(trace_cursor_seek(c, n + 1), -EINVAL);
	trace_cursor_destroy(c);
	trace_close(tf);
	free(in);
}
END_TEST

START_TEST(empty_and_one)
{
	const char *path = tt_path("small.mvt");
	struct trace_rec one = {.kind = TRACE_STORE, .addr = 0x1234, .size = 8, .pid = 1}, out[2];
	struct trace_file *tf;
	struct trace_cursor *c;
	const struct trace_summary *s;

	tt_write(path, NULL, 0, 0);
	tf = tt_open(path);
	s = trace_file_summary(tf);
	ck_assert_uint_eq(trace_file_records(tf), 0);
	ck_assert_uint_eq(trace_file_chunks(tf), 0);
	ck_assert_uint_eq(s->nprocs, 0);
	ck_assert_uint_eq(s->pages, 0);
	c = trace_cursor_create(tf, TRACE_ALL_PIDS);
	ck_assert_int_eq(trace_cursor_read(c, out, 2), 0);
	ck_assert_int_eq(trace_cursor_seek(c, 0), 0);
	ck_assert_int_eq(trace_cursor_read(c, out, 2), 0);
	trace_cursor_destroy(c);
	trace_close(tf);

	tt_write(path, &one, 1, 0);
	tf = tt_open(path);
	s = trace_file_summary(tf);
	ck_assert_uint_eq(trace_file_records(tf), 1);
	ck_assert_uint_eq(s->nprocs, 1);
	ck_assert_uint_eq(s->pages, 1);
	ck_assert_uint_eq(s->data_pages, 1);
	ck_assert_uint_eq(s->procs[0].runs[0].vpn, 1);
	c = trace_cursor_create(tf, TRACE_ALL_PIDS);
	ck_assert_int_eq(trace_cursor_read(c, out, 2), 1);
	ck_assert(tt_rec_eq(&one, &out[0]));
	ck_assert_int_eq(trace_cursor_read(c, out, 2), 0);
	trace_cursor_destroy(c);
	trace_close(tf);
}
END_TEST

/* Corner values the codec must carry exactly. */
START_TEST(codec_edges)
{
	struct trace_rec in[] = {
	    {.kind = TRACE_INSTR, .addr = 0, .size = 0, .pid = 0},
	    {.kind = TRACE_INSTR, .addr = 0, .size = 15, .pid = 0},
	    {.kind = TRACE_INSTR, .addr = 15, .size = 16, .pid = 0},
	    {.kind = TRACE_LOAD, .addr = UINT64_MAX - 7, .size = 8, .pid = 0},
	    {.kind = TRACE_STORE, .addr = 0, .size = 65536, .pid = UINT32_MAX - 1},
	    {.kind = TRACE_MODIFY, .addr = UINT64_MAX, .size = 1, .pid = 5},
	    {.kind = TRACE_LOAD, .addr = 0x8000000000000000ull, .size = 0, .pid = 5},
	    {.kind = TRACE_ZERO, .addr = 0xfffffffffffff000ull, .size = 4096, .pid = 5},
	    {.kind = TRACE_IMAGE,
	     .addr = 4096,
	     .size = 4096,
	     .pid = 5,
	     .image = UINT32_MAX,
	     .arg = UINT64_MAX},
	    {.kind = TRACE_PRIVATE,
	     .addr = 0,
	     .size = 4096,
	     .pid = 6,
	     .arg = 0x0123456789abcdefull},
	    {.kind = TRACE_INSTR, .addr = 0xffffffffff600000ull, .size = 4, .pid = 6},
	};
	const size_t n = ARRAY_SIZE(in);
	const char *path = tt_path("edges.mvt");
	struct trace_rec *out;
	struct trace_file *tf;
	size_t got;

	for (unsigned chunk = 1; chunk <= 4; chunk += 3) {
		tt_write(path, in, n, chunk);
		tf = tt_open(path);
		out = tt_read_all(tf, TRACE_ALL_PIDS, &got);
		ck_assert_uint_eq(got, n);
		for (size_t i = 0; i < n; i++)
			ck_assert_msg(tt_rec_eq(&in[i], &out[i]), "record %zu", i);
		ck_assert_uint_eq(trace_file_summary(tf)->max_image, UINT32_MAX);
		free(out);
		trace_close(tf);
	}
}
END_TEST

static int cmp_u64x2(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Distinct (pid, page) pairs of in, counted by brute force. */
static size_t brute_pages(const struct trace_rec *in, size_t n, bool data_only, uint64_t **set)
{
	size_t cap = 1024, m = 0, u = 0;
	uint64_t *p = malloc(cap * 2 * sizeof(*p));

	for (size_t i = 0; i < n; i++) {
		uint64_t first, last;

		if (data_only && in[i].kind == TRACE_INSTR)
			continue;
		ck_assert(trace_rec_pages(&in[i], &first, &last));
		for (uint64_t v = first; v <= last; v++) {
			if (m == cap) {
				cap *= 2;
				p = realloc(p, cap * 2 * sizeof(*p));
			}
			p[2 * m] = in[i].pid;
			p[2 * m + 1] = v;
			m++;
		}
	}
	qsort(p, m, 2 * sizeof(*p), cmp_u64x2);
	for (size_t i = 0; i < m; i++)
		if (!u || p[2 * i] != p[2 * (u - 1)] || p[2 * i + 1] != p[2 * (u - 1) + 1]) {
			p[2 * u] = p[2 * i];
			p[2 * u + 1] = p[2 * i + 1];
			u++;
		}
	*set = p;
	return u;
}

/* The stored summary agrees with a brute-force count of the records. */
START_TEST(summary_exact)
{
	const size_t n = 20000;
	struct trace_rec *in = tt_random_recs(n, 3, 4242);
	const char *path = tt_path("sum.mvt");
	const struct trace_summary *s;
	struct trace_file *tf;
	uint64_t *all, *data, kinds[TRACE_NKINDS] = {0}, bytes = 0;
	size_t na, nd, at = 0;

	tt_write(path, in, n, 1000);
	tf = tt_open(path);
	s = trace_file_summary(tf);
	na = brute_pages(in, n, false, &all);
	nd = brute_pages(in, n, true, &data);
	for (size_t i = 0; i < n; i++) {
		kinds[in[i].kind]++;
		bytes += in[i].size;
	}
	ck_assert_uint_eq(s->records, n);
	ck_assert_uint_eq(s->pages, na);
	ck_assert_uint_eq(s->data_pages, nd);
	ck_assert_uint_eq(s->bytes, bytes);
	ck_assert_mem_eq(s->by_kind, kinds, sizeof(kinds));
	ck_assert_uint_eq(s->nprocs, 3);
	/* the runs list exactly the pages, in order */
	for (unsigned i = 0; i < s->nprocs; i++) {
		const struct trace_proc *p = &s->procs[i];
		uint64_t lo = UINT64_MAX, hi = 0;

		for (uint64_t j = 0; j < p->nruns; j++) {
			if (j)
				ck_assert_uint_gt(p->runs[j].vpn,
						  p->runs[j - 1].vpn + p->runs[j - 1].pages);
			for (uint64_t v = 0; v < p->runs[j].pages; v++, at++) {
				ck_assert_uint_lt(at, na);
				ck_assert_uint_eq(all[2 * at], p->pid);
				ck_assert_uint_eq(all[2 * at + 1], p->runs[j].vpn + v);
			}
		}
		for (size_t k = 0; k < n; k++)
			if (in[k].pid == p->pid) {
				lo = in[k].addr < lo ? in[k].addr : lo;
				if (in[k].addr + (in[k].size ? in[k].size - 1 : 0) > hi)
					hi = in[k].addr + (in[k].size ? in[k].size - 1 : 0);
			}
		ck_assert_uint_eq(p->addr_lo, lo);
		ck_assert_uint_eq(p->addr_hi, hi);
	}
	ck_assert_uint_eq(at, na);
	free(all);
	free(data);
	trace_close(tf);
	free(in);
}
END_TEST

struct scan_sum {
	uint64_t sum[64]; /* per chunk: a digest of its records */
	uint64_t count[64];
};

static uint64_t digest(const struct trace_rec *r)
{
	return r->addr * 31 + r->size * 7 + r->kind * 3 + r->pid + r->arg;
}

static int scan_fn(void *ctx, unsigned chunk, const struct trace_rec *recs, size_t n)
{
	struct scan_sum *s = ctx;

	for (size_t i = 0; i < n; i++)
		s->sum[chunk] += digest(&recs[i]) * (s->count[chunk] + i + 1);
	s->count[chunk] += n;
	return 0;
}

/* A parallel scan sees the same chunks as a serial read, batch after
 * batch (chunks larger than a batch). */
START_TEST(parallel_scan)
{
	const size_t n = 24000, chunk = 5000;
	struct trace_rec *in = tt_random_recs(n, 2, 5);
	const char *path = tt_path("scan.mvt");
	struct scan_sum par = {0}, ser = {0};
	struct trace_file *tf;
	char err[256];

	tt_write(path, in, n, chunk);
	tf = tt_open(path);
	ck_assert_uint_eq(trace_file_chunks(tf), 5);
	ck_assert_int_eq(trace_scan(tf, 4, scan_fn, &par, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++)
		ser.sum[i / chunk] += digest(&in[i]) * (i % chunk + 1);
	for (unsigned c = 0; c < 5; c++) {
		ck_assert_uint_eq(par.count[c], c < 4 ? chunk : n - 4 * chunk);
		ck_assert_uint_eq(par.sum[c], ser.sum[c]);
	}
	trace_close(tf);
	free(in);
}
END_TEST

/* The writer refuses what it cannot store, and leaves no file. */
START_TEST(writer_refuses)
{
	static const struct trace_rec bad[] = {
	    {.kind = TRACE_LOAD, .addr = 0, .size = 65537, .pid = 1},
	    {.kind = TRACE_LOAD, .addr = UINT64_MAX, .size = 2, .pid = 1},
	    {.kind = TRACE_ZERO, .addr = 100, .size = 4096, .pid = 1},
	    {.kind = TRACE_NKINDS, .addr = 0, .size = 1, .pid = 1},
	    {.kind = TRACE_LOAD, .addr = 0, .size = 1, .pid = UINT32_MAX},
	};
	const struct trace_rec ok = {.kind = TRACE_LOAD, .addr = 64, .size = 8, .pid = 1};
	const char *path = tt_path("refused.mvt");
	char err[256], tmp[600];
	struct stat st;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		struct trace_writer *w = trace_writer_create(path, NULL, err, sizeof(err));

		ck_assert_ptr_nonnull(w);
		ck_assert_int_eq(trace_writer_put(w, &ok), 0);
		ck_assert_int_eq(trace_writer_put(w, &bad[i]), -EINVAL);
		ck_assert_msg(strstr(trace_writer_error(w), "record 1"), "%s",
			      trace_writer_error(w));
		ck_assert_ptr_nonnull(strstr(trace_writer_error(w), path));
		/* sticky */
		ck_assert_int_eq(trace_writer_put(w, &ok), -EINVAL);
		ck_assert_int_eq(trace_writer_finish(w), -EINVAL);
		trace_writer_destroy(w);
		ck_assert_int_ne(stat(path, &st), 0);
		ck_assert_int_ne(stat(tmp, &st), 0);
	}
	{
		struct trace_writer *w = trace_writer_create(path, NULL, err, sizeof(err));

		ck_assert_int_eq(trace_writer_meta(w, "a=b", "c"), -EINVAL);
		ck_assert_int_eq(trace_writer_meta(w, "a", "c\nd"), -EINVAL);
		ck_assert_int_eq(trace_writer_meta(w, "", "c"), -EINVAL);
		trace_writer_destroy(w);
	}
	ck_assert_ptr_null(trace_writer_create("/nonexistent/dir/x.mvt", NULL, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/x.mvt"));
}
END_TEST

/* A write failure (a full disk; here the file-size limit) is an error
 * naming the file, and leaves no file behind. */
START_TEST(disk_full)
{
	struct trace_rec *in = tt_random_recs(200000, 1, 3);
	struct rlimit lim = {64 << 10, 64 << 10};
	const char *path = tt_path("full.mvt");
	struct trace_writer *w;
	char err[256], tmp[600];
	struct stat st;
	int r = 0;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	w = trace_writer_create(path, &(struct trace_writer_opts){.chunk_records = 4096}, err,
				sizeof(err));
	ck_assert_ptr_nonnull(w);
	for (size_t i = 0; i < 200000 && !r; i++)
		r = trace_writer_put(w, &in[i]);
	if (!r)
		r = trace_writer_finish(w);
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_msg(strstr(trace_writer_error(w), path) && strstr(trace_writer_error(w), "write"),
		      "%s", trace_writer_error(w));
	trace_writer_destroy(w);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_ne(stat(tmp, &st), 0);
	ck_assert_int_ne(stat(path, &st), 0);
	free(in);
}
END_TEST

Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("records");

	tcase_add_loop_test(tc, roundtrip, 0, ARRAY_SIZE(chunk_sizes));
	tcase_add_test(tc, seek);
	tcase_add_test(tc, empty_and_one);
	tcase_add_test(tc, codec_edges);
	tcase_add_test(tc, summary_exact);
	tcase_add_test(tc, parallel_scan);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer");
	tcase_add_test(tc, writer_refuses);
	tcase_add_test(tc, disk_full);
	suite_add_tcase(s, tc);
	return s;
}
