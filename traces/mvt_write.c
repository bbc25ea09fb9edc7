/* SPDX-License-Identifier: MIT */
/* traces mvt_write: the binary trace writer. */
/*
 * Design overview (the byte layout is in traces_internal.h).
 *
 * A writer streams: records are encoded into a chunk buffer as they come
 * (codec.c), and when the chunk holds chunk_records records it is
 * compressed with zstd as one frame and written as a section with its
 * checksum; its index entry (offset, first record, count, pid range) stays
 * in memory. Nothing is ever rewritten, so the output could be a pipe; it
 * is a temporary file renamed into place at the end, so that a conversion
 * that fails halfway (a malformed line, a full disk, a killed recorder)
 * leaves no file that looks complete.
 *
 * Each chunk starts a fresh encoding (predictions at 0, the pid in force
 * in the section header), which costs a few bytes per chunk and buys
 * independence: a reader can start at any chunk and decode chunks in
 * parallel. The chunk size trades that granularity and the memory of a
 * decoder (one chunk's bytes) against the compression ratio.
 *
 * Every record also goes through the page set (pageset.c), whose summary
 * (distinct pages, runs of touched pages per process) is written after the
 * last chunk with the metadata and the index, and the footer that points
 * at them closes the file. The writer holds the page set and the index in
 * memory: O(distinct pages + chunks), never the records.
 *
 * Errors are sticky: after the first, every call returns it, and
 * trace_writer_error() names the file and what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "traces/traces_internal.h"

struct trace_writer {
	char path[4096];
	char tmp[4100];
	int fd;
	ZSTD_CCtx *cctx;
	int level;
	unsigned chunk_records;
	uint8_t *raw; /* the chunk being filled */
	size_t raw_len, raw_cap;
	uint8_t *z; /* compressed section, header first */
	size_t z_cap;
	uint32_t nrec; /* records in the chunk being filled */
	uint32_t pid0, pid_lo, pid_hi;
	struct trace_codec codec;
	uint64_t off; /* bytes written */
	uint64_t records;
	struct trace_chunk_ent *idx;
	unsigned nidx, idx_cap;
	char *meta;
	size_t meta_len, meta_cap;
	unsigned nmeta;
	struct trace_pageset *ps;
	bool created; /* tmp exists and is ours */
	int failed;
	char err[640];
};

__attribute__((format(printf, 3, 4))) static int wfail(struct trace_writer *w, int r,
						       const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->failed)
		return w->failed;
	w->failed = r;
	n = snprintf(w->err, sizeof(w->err), "%s: ", w->path);
	va_start(ap, fmt);
	vsnprintf(w->err + n, sizeof(w->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return r;
}

static int write_all(struct trace_writer *w, const void *buf, size_t len)
{
	int r = util_write_full(w->fd, buf, len, -1);

	if (r)
		return wfail(w, r, "write at byte %" PRIu64 ": %s", w->off, strerror(-r));
	w->off += len;
	return 0;
}

/* Compress len bytes at src and write them as a section. */
static int write_section(struct trace_writer *w, uint32_t kind, const void *src, size_t len,
			 uint32_t count, uint32_t aux)
{
	uint8_t *h = w->z;
	size_t need = TRACE_SEC_BYTES + ZSTD_compressBound(len), n;

	if (len > TRACE_RAW_MAX)
		return wfail(w, -EFBIG, "section of %zu bytes is too large", len);
	if (need > w->z_cap) {
		uint8_t *z = realloc(w->z, need);

		if (!z)
			return wfail(w, -ENOMEM, "out of memory");
		w->z = h = z;
		w->z_cap = need;
	}
	n = ZSTD_compressCCtx(w->cctx, h + TRACE_SEC_BYTES, w->z_cap - TRACE_SEC_BYTES, src, len,
			      w->level);
	if (ZSTD_isError(n))
		return wfail(w, -EIO, "zstd: %s", ZSTD_getErrorName(n));
	memset(h, 0, TRACE_SEC_BYTES);
	trace_put32(h, kind);
	trace_put32(h + 4, (uint32_t)n);
	trace_put32(h + 8, (uint32_t)len);
	trace_put32(h + 12, count);
	trace_put32(h + 16, aux);
	trace_put64(h + 24, XXH3_64bits_withSeed(h + TRACE_SEC_BYTES, n, XXH3_64bits(h, 24)));
	return write_all(w, h, TRACE_SEC_BYTES + n);
}

static int flush_chunk(struct trace_writer *w)
{
	struct trace_chunk_ent *e;
	uint64_t off = w->off;
	int r;

	if (!w->nrec)
		return 0;
	if (w->nidx == w->idx_cap) {
		unsigned cap = w->idx_cap ? w->idx_cap * 2 : 64;
		struct trace_chunk_ent *n = realloc(w->idx, cap * sizeof(*n));

		if (!n)
			return wfail(w, -ENOMEM, "out of memory");
		w->idx = n;
		w->idx_cap = cap;
	}
	r = write_section(w, TRACE_SEC_CHUNK, w->raw, w->raw_len, w->nrec, w->pid0);
	if (r)
		return r;
	e = &w->idx[w->nidx++];
	e->offset = off;
	e->first = w->records - w->nrec;
	e->records = w->nrec;
	e->pid_lo = w->pid_lo;
	e->pid_hi = w->pid_hi;
	w->raw_len = 0;
	w->nrec = 0;
	return 0;
}

struct trace_writer *trace_writer_create(const char *path, const struct trace_writer_opts *o,
					 char *err, size_t errlen)
{
	struct trace_writer *w = calloc(1, sizeof(*w));
	int e = ENOMEM;

	if (!w)
		goto fail;
	w->fd = -1;
	snprintf(w->path, sizeof(w->path), "%s", path);
	snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", path);
	w->chunk_records = o && o->chunk_records ? o->chunk_records : TRACE_CHUNK_RECORDS;
	w->level = o && o->level ? o->level : TRACE_LEVEL;
	if (w->chunk_records > TRACE_CHUNK_MAX || w->level < 1 || w->level > ZSTD_maxCLevel()) {
		e = EINVAL;
		util_errf(err, errlen, "%s: chunk records must be 1..%u and zstd level 1..%d", path,
			  TRACE_CHUNK_MAX, ZSTD_maxCLevel());
		goto fail_free;
	}
	w->raw_cap = (size_t)w->chunk_records * (TRACE_MAX_REC_RAW + 11);
	w->raw = malloc(w->raw_cap);
	w->cctx = ZSTD_createCCtx();
	w->ps = trace_pageset_create();
	if (!w->raw || !w->cctx || !w->ps)
		goto fail_msg;
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		e = errno;
		util_errf(err, errlen, "%s: %s", w->tmp, strerror(e));
		goto fail_free;
	}
	w->created = true;
	{
		uint8_t h[TRACE_HDR_BYTES] = {0};

		memcpy(h, TRACE_MAGIC, 8);
		h[8] = TRACE_VERSION;
		h[10] = TRACE_MINOR;
		trace_put32(h + 12, TRACE_HDR_BYTES);
		trace_put32(h + 20, w->chunk_records);
		trace_put64(h + 56, XXH3_64bits(h, 56));
		if (write_all(w, h, sizeof(h))) {
			e = -w->failed;
			util_errf(err, errlen, "%s", w->err);
			goto fail_free;
		}
	}
	trace_codec_reset(&w->codec, 0);
	return w;

fail_msg:
	util_errf(err, errlen, "%s: out of memory", path);
fail_free:
	trace_writer_destroy(w);
fail:
	errno = e;
	return NULL;
}

int trace_writer_meta(struct trace_writer *w, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);

	if (w->failed)
		return w->failed;
	if (!kl || strchr(key, '=') || strchr(key, '\n') || strchr(value, '\n'))
		return -EINVAL;
	if (w->meta_len + kl + vl + 2 > w->meta_cap) {
		size_t cap = (w->meta_cap + kl + vl + 2) * 2;
		char *n = realloc(w->meta, cap);

		if (!n)
			return wfail(w, -ENOMEM, "out of memory");
		w->meta = n;
		w->meta_cap = cap;
	}
	memcpy(w->meta + w->meta_len, key, kl);
	w->meta[w->meta_len + kl] = '=';
	memcpy(w->meta + w->meta_len + kl + 1, value, vl);
	w->meta[w->meta_len + kl + 1 + vl] = '\n';
	w->meta_len += kl + vl + 2;
	w->nmeta++;
	return 0;
}

int trace_writer_put(struct trace_writer *w, const struct trace_rec *r)
{
	const char *why;
	int e;

	if (w->failed)
		return w->failed;
	if (trace_rec_check(r, &why))
		return wfail(w, -EINVAL, "record %" PRIu64 ": %s", w->records, why);
	e = trace_pageset_add(w->ps, r);
	if (e)
		return wfail(w, e, "record %" PRIu64 ": %s", w->records, strerror(-e));
	if (!w->nrec) {
		trace_codec_reset(&w->codec, r->pid);
		w->pid0 = w->pid_lo = w->pid_hi = r->pid;
	}
	if (r->pid < w->pid_lo)
		w->pid_lo = r->pid;
	if (r->pid > w->pid_hi)
		w->pid_hi = r->pid;
	w->raw_len = (size_t)(trace_encode(&w->codec, w->raw + w->raw_len, r) - w->raw);
	w->nrec++;
	w->records++;
	if (w->nrec == w->chunk_records)
		return flush_chunk(w);
	return 0;
}

uint64_t trace_writer_records(const struct trace_writer *w)
{
	return w->records;
}

const char *trace_writer_error(const struct trace_writer *w)
{
	return w->err;
}

static int write_index(struct trace_writer *w)
{
	uint8_t *buf = malloc((size_t)(w->nidx ? w->nidx : 1) * TRACE_IDX_ENTRY);
	int r;

	if (!buf)
		return wfail(w, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < w->nidx; i++) {
		uint8_t *p = buf + (size_t)i * TRACE_IDX_ENTRY;

		memset(p, 0, TRACE_IDX_ENTRY);
		trace_put64(p, w->idx[i].offset);
		trace_put64(p + 8, w->idx[i].first);
		trace_put32(p + 16, w->idx[i].records);
		trace_put32(p + 20, w->idx[i].pid_lo);
		trace_put32(p + 24, w->idx[i].pid_hi);
	}
	r = write_section(w, TRACE_SEC_INDEX, buf, (size_t)w->nidx * TRACE_IDX_ENTRY, w->nidx, 0);
	free(buf);
	return r;
}

int trace_writer_finish(struct trace_writer *w)
{
	struct trace_summary s;
	uint8_t foot[TRACE_FOOT_BYTES] = {0}, *enc;
	uint64_t meta_off, sum_off, idx_off;
	size_t len;
	int r;

	if (w->failed)
		return w->failed;
	r = flush_chunk(w);
	if (r)
		return r;
	meta_off = w->off;
	r = write_section(w, TRACE_SEC_META, w->meta ? w->meta : "", w->meta_len, w->nmeta, 0);
	if (r)
		return r;
	if (trace_pageset_summary(w->ps, &s))
		return wfail(w, -ENOMEM, "out of memory");
	enc = trace_summary_encode(&s, &len);
	sum_off = w->off;
	r = enc ? write_section(w, TRACE_SEC_SUMMARY, enc, len, s.nprocs, 0)
		: wfail(w, -ENOMEM, "out of memory");
	free(enc);
	trace_summary_free(&s);
	if (r)
		return r;
	idx_off = w->off;
	r = write_index(w);
	if (r)
		return r;
	memcpy(foot, TRACE_END_MAGIC, 8);
	trace_put64(foot + 8, idx_off);
	trace_put64(foot + 16, meta_off);
	trace_put64(foot + 24, sum_off);
	trace_put64(foot + 32, w->records);
	trace_put32(foot + 40, w->nidx);
	trace_put64(foot + 56, XXH3_64bits(foot, 56));
	r = write_all(w, foot, sizeof(foot));
	if (r)
		return r;
	if (close(w->fd)) {
		w->fd = -1;
		return wfail(w, -errno, "close: %s", strerror(errno));
	}
	w->fd = -1;
	if (rename(w->tmp, w->path))
		return wfail(w, -errno, "rename from %s: %s", w->tmp, strerror(errno));
	w->tmp[0] = 0; /* done: nothing to remove */
	return 0;
}

void trace_writer_destroy(struct trace_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->created && w->tmp[0])
		unlink(w->tmp); /* not finished: leave nothing behind */
	ZSTD_freeCCtx(w->cctx);
	trace_pageset_destroy(w->ps);
	free(w->raw);
	free(w->z);
	free(w->idx);
	free(w->meta);
	free(w);
}
