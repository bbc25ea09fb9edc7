/* SPDX-License-Identifier: MIT */
/* check_traces: runs every suite of the traces module, and the helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traces/tests/check_traces.h"

const char *tt_path(const char *name)
{
	static char dir[64], path[16][512];
	static unsigned k;

	if (!dir[0]) {
		strcpy(dir, "/tmp/memvisor-traces-XXXXXX");
		if (!mkdtemp(dir)) { /* called from main, outside any test */
			perror("mkdtemp");
			abort();
		}
	}
	k = (k + 1) % 16;
	snprintf(path[k], sizeof(path[k]), "%s/%s", dir, name);
	return path[k];
}

void tt_write(const char *path, const struct trace_rec *r, size_t n, unsigned chunk)
{
	struct trace_writer_opts o = {.chunk_records = chunk};
	char err[512];
	struct trace_writer *w = trace_writer_create(path, &o, err, sizeof(err));

	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_int_eq(trace_writer_meta(w, "test", "yes"), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(trace_writer_put(w, &r[i]) == 0, "%s", trace_writer_error(w));
	ck_assert_msg(trace_writer_finish(w) == 0, "%s", trace_writer_error(w));
	trace_writer_destroy(w);
}

struct trace_file *tt_open(const char *path)
{
	char err[512];
	struct trace_file *tf = trace_open(path, 0, err, sizeof(err));

	ck_assert_msg(tf != NULL, "%s", err);
	return tf;
}

struct trace_rec *tt_read_all(const struct trace_file *tf, uint32_t pid, size_t *n)
{
	struct trace_cursor *c = trace_cursor_create(tf, pid);
	size_t cap = 1024;
	struct trace_rec *out = malloc(cap * sizeof(*out));
	long got;

	ck_assert_ptr_nonnull(c);
	*n = 0;
	for (;;) {
		if (*n + 100 > cap) {
			cap *= 2;
			out = realloc(out, cap * sizeof(*out));
			ck_assert_ptr_nonnull(out);
		}
		got = trace_cursor_read(c, out + *n, 100);
		ck_assert_msg(got >= 0, "%s", trace_cursor_error(c));
		if (!got)
			break;
		*n += (size_t)got;
	}
	trace_cursor_destroy(c);
	return out;
}

int tt_rec_eq(const struct trace_rec *a, const struct trace_rec *b)
{
	return a->kind == b->kind && a->addr == b->addr && a->size == b->size && a->pid == b->pid &&
	       (a->kind != TRACE_IMAGE || a->image == b->image) &&
	       (a->kind < TRACE_IMAGE || a->arg == b->arg);
}

struct trace_rec *tt_random_recs(size_t n, unsigned pids, uint64_t seed)
{
	struct trace_rec *r = calloc(n ? n : 1, sizeof(*r));
	uint64_t ip = 0x401000, sp = 0x7ffff000;

	for (size_t i = 0; i < n; i++) {
		uint64_t x = util_splitmix64(&seed), k = x % 100;

		r[i].pid = 1 + (uint32_t)((x >> 8) % pids) * 7;
		if (k < 55) {
			r[i].kind = TRACE_INSTR;
			r[i].size = 1 + (uint32_t)((x >> 16) % 15);
			ip = (x >> 20) % 8 ? ip + r[i].size : 0x400000 + ((x >> 24) % 70000);
			r[i].addr = ip;
		} else if (k < 93) {
			r[i].kind = (uint8_t)(TRACE_LOAD + (x >> 16) % 3);
			r[i].size =
			    (x >> 18) % 50 ? 1u << ((x >> 20) % 4) : (uint32_t)(x >> 22) % 9000;
			sp += ((x >> 40) % 64) - 32;
			r[i].addr = (x >> 30) % 4 ? sp : 0x10000000 + ((x >> 32) % (1u << 22));
		} else {
			r[i].kind = (uint8_t)(TRACE_ZERO + (x >> 16) % 3);
			r[i].addr = (0x20000000 + ((x >> 20) % 512) * 4096);
			r[i].size = 4096;
			r[i].image = 0;
			r[i].arg = r[i].kind == TRACE_PRIVATE ? util_splitmix64(&seed)
				   : r[i].kind == TRACE_IMAGE ? (x >> 40) % 100
							      : 0;
		}
	}
	return r;
}

uint8_t *tt_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

void tt_spit(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

int main(void)
{
	Suite *(*suites[])(void) = {format_suite, errors_suite, lackey_suite, record_suite};
	SRunner *sr;
	char cmd[600];
	int failed;

	/* the scratch folder, made here so that every forked test shares it */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s", tt_path("x"));
	strcpy(strrchr(cmd, '/'), "'");
	sr = srunner_create(NULL);
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (system(cmd))
		fprintf(stderr, "check_traces: could not remove the scratch folder\n");
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
