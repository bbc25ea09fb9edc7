/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness of the lackey text reader: any bytes, read through a
 * descriptor as the recorder reads a pipe. Every record the reader
 * accepts must print back (trace_lackey_write) to text that reads as the
 * same record, and the counts must add up; any crash, hang, sanitizer
 * report or broken property is a bug.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "traces/traces.h"

static int mem_fd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET))
		abort();
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = mem_fd(data, size), fd2;
	struct trace_lackey *lk = trace_lackey_open(fd, "fuzz"), *back;
	struct trace_rec *recs = NULL, r;
	uint64_t records = 0, cap = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int e;

	/* read everything, printing each record back as lackey would */
	while ((e = trace_lackey_next(lk, &r)) == 1) {
		if (r.kind > TRACE_MODIFY || r.size > TRACE_SIZE_MAX || r.pid != 1 ||
		    trace_lackey_write(f, &r))
			abort();
		if (records == cap) {
			cap = cap ? 2 * cap : 64;
			recs = realloc(recs, cap * sizeof(*recs));
		}
		recs[records++] = r;
	}
	if (e == 0 && trace_lackey_lines(lk) != records + trace_lackey_skipped(lk))
		abort();
	if (e < 0 && !strstr(trace_lackey_error(lk), "fuzz"))
		abort();
	if (trace_lackey_bytes(lk) > size)
		abort();
	fclose(f);
	/* the printed text reads back as the same records, none skipped */
	fd2 = mem_fd((const uint8_t *)text, len);
	back = trace_lackey_open(fd2, "back");
	for (uint64_t i = 0; i < records; i++)
		if (trace_lackey_next(back, &r) != 1 || r.addr != recs[i].addr ||
		    r.size != recs[i].size || r.kind != recs[i].kind)
			abort();
	if (trace_lackey_next(back, &r) != 0 || trace_lackey_skipped(back))
		abort();
	trace_lackey_close(back);
	close(fd2);
	free(text);
	free(recs);
	trace_lackey_close(lk);
	close(fd);
	return 0;
}
