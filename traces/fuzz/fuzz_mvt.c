/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness of the binary trace reader. An input that starts with
 * the file magic is opened as a whole file, once with checksums (the
 * header, footer and section paths) and once without (so that mutated
 * chunks, index, metadata and summary reach the decoders), and every
 * record is read, sequentially, by pid, from a seek and by a parallel
 * scan. Any other input is fed to the chunk decoder and the summary
 * decoder directly (first byte: which). Nothing may crash, hang, read out
 * of bounds or return a record that breaks the format's rules.
 */
#include <stdlib.h>
#include <string.h>

#include "traces/traces_internal.h"

static void check_rec(const struct trace_rec *r)
{
	const char *why;

	if (r->kind >= TRACE_NKINDS || trace_rec_check(r, &why))
		abort();
}

static int scan_fn(void *ctx, unsigned chunk, const struct trace_rec *recs, size_t n)
{
	(void)ctx;
	(void)chunk;
	for (size_t i = 0; i < n; i++)
		check_rec(&recs[i]);
	return 0;
}

static void read_all(const struct trace_file *tf, uint32_t pid)
{
	struct trace_cursor *c = trace_cursor_create(tf, pid);
	struct trace_rec out[64];
	uint64_t total = 0;
	long got;

	if (!c)
		return;
	while ((got = trace_cursor_read(c, out, 64)) > 0) {
		for (long i = 0; i < got; i++) {
			check_rec(&out[i]);
			if (pid != TRACE_ALL_PIDS && out[i].pid != pid)
				abort();
		}
		total += (uint64_t)got;
	}
	if (got == 0 && pid == TRACE_ALL_PIDS && total != trace_file_records(tf))
		abort();
	if (trace_file_records(tf) && !trace_cursor_seek(c, trace_file_records(tf) / 2))
		while (trace_cursor_read(c, out, 64) > 0)
			;
	trace_cursor_destroy(c);
}

static void fuzz_file(const uint8_t *data, size_t size, unsigned flags)
{
	char err[512];
	struct trace_file *tf = trace_open_mem(data, size, "fuzz", flags, err, sizeof(err));
	const struct trace_summary *s;

	if (!tf) {
		if (!strstr(err, "fuzz"))
			abort();
		return;
	}
	s = trace_file_summary(tf);
	read_all(tf, TRACE_ALL_PIDS);
	if (s->nprocs)
		read_all(tf, s->procs[0].pid);
	if (trace_scan(tf, 2, scan_fn, NULL, err, sizeof(err)) && !strstr(err, "fuzz"))
		abort();
	trace_close(tf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 7 && !memcmp(data, TRACE_MAGIC, 7)) {
		fuzz_file(data, size, 0);
		fuzz_file(data, size, TRACE_OPEN_NO_CHECKSUM);
	} else if (size && data[0] & 1) {
		struct trace_rec out[128];
		struct trace_codec c;
		const uint8_t *p = data + 1, *end = data + size;
		uint64_t done;
		long got;

		trace_codec_reset(&c, data[0] >> 1);
		do {
			const uint8_t *before = p;

			got = trace_decode(&c, &p, end, out, 128, 1000,
					   (data[0] & 2) ? 3 : TRACE_ALL_PIDS, &done);
			if (p < before || p > end || (got > 0 && done < (uint64_t)got))
				abort();
			for (long i = 0; i < got; i++)
				check_rec(&out[i]);
			if (got >= 0 && p == before)
				break;
		} while (got >= 0 && p < end);
	} else if (size) {
		struct trace_summary s;
		const char *why;

		if (!trace_summary_decode(data + 1, size - 1, &s, &why))
			trace_summary_free(&s);
	}
	return 0;
}
