/* SPDX-License-Identifier: MIT */
/* traces mvt_cursor: reading records, sequentially, from anywhere, in parallel. */
/*
 * A cursor holds one decompressed chunk and decodes records from it on
 * demand, straight into the caller's array: the replay loop's whole cost
 * of reading is one zstd call per chunk and the codec's few instructions
 * per record. Seeking finds the chunk in the index (binary search) and
 * decodes up to the record wanted. A cursor that follows one pid skips,
 * without decompressing them, the chunks whose pid range excludes it.
 *
 * Every chunk must decode to exactly the records its header counts and
 * end exactly at its last byte; anything else is reported with the file,
 * the chunk and the record number.
 *
 * trace_scan() hands whole chunks to worker threads, each with its own
 * zstd context and buffers, which take the next chunk from a shared atomic
 * counter and decode it in batches: chunks are independent, so this
 * scales with cores.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <zstd.h>

#include "traces/traces_internal.h"

struct trace_cursor {
	const struct trace_file *tf; /* borrowed */
	uint32_t pid;
	ZSTD_DCtx *dctx;
	uint8_t *raw; /* the loaded chunk, decompressed */
	unsigned next_chunk;
	const uint8_t *p, *end; /* decoding position in raw */
	uint64_t left;		/* records of the loaded chunk not yet decoded */
	uint64_t pos;		/* number of the next record */
	struct trace_codec codec;
	int failed;
	char err[640];
};

static size_t max_raw(const struct trace_file *tf)
{
	size_t m = 1;

	for (unsigned i = 0; i < tf->nchunks; i++)
		if (tf->chunks[i].raw > m)
			m = tf->chunks[i].raw;
	return m;
}

struct trace_cursor *trace_cursor_create(const struct trace_file *tf, uint32_t pid)
{
	struct trace_cursor *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->tf = tf;
	c->pid = pid;
	c->dctx = ZSTD_createDCtx();
	c->raw = malloc(max_raw(tf));
	if (!c->dctx || !c->raw) {
		trace_cursor_destroy(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

void trace_cursor_destroy(struct trace_cursor *c)
{
	if (!c)
		return;
	ZSTD_freeDCtx(c->dctx);
	free(c->raw);
	free(c);
}

const char *trace_cursor_error(const struct trace_cursor *c)
{
	return c->err;
}

uint64_t trace_cursor_pos(const struct trace_cursor *c)
{
	return c->pos;
}

static bool chunk_wanted(const struct trace_cursor *c, unsigned i)
{
	const struct trace_chunk_ent *e = &c->tf->chunks[i];

	return c->pid == TRACE_ALL_PIDS || (c->pid >= e->pid_lo && c->pid <= e->pid_hi);
}

/* Load chunk i for decoding from its first record. */
static int cursor_load(struct trace_cursor *c, unsigned i)
{
	const struct trace_chunk_ent *e = &c->tf->chunks[i];
	int r = trace_chunk_load(c->tf, i, c->dctx, c->raw, c->err, sizeof(c->err));

	if (r)
		return c->failed = r;
	trace_codec_reset(&c->codec, e->pid0);
	c->p = c->raw;
	c->end = c->raw + e->raw;
	c->left = e->records;
	c->pos = e->first;
	c->next_chunk = i + 1;
	return 0;
}

/* The loaded chunk is decoded to its end: it must end there. */
static int cursor_chunk_done(struct trace_cursor *c)
{
	if (c->p == c->end)
		return 0;
	util_errf(c->err, sizeof(c->err),
		  "%s: chunk %u: %zu bytes left after its last record %" PRIu64 ": corrupt",
		  c->tf->name, c->next_chunk - 1, (size_t)(c->end - c->p), c->pos - 1);
	return c->failed = -EINVAL;
}

/* Decode up to n wanted records of the loaded chunk into out. */
static long cursor_decode(struct trace_cursor *c, struct trace_rec *out, size_t n)
{
	uint64_t done;
	long got = trace_decode(&c->codec, &c->p, c->end, out, n, c->left, c->pid, &done);

	c->left -= done;
	c->pos += done;
	if (got < 0 || (c->p == c->end && c->left)) {
		util_errf(c->err, sizeof(c->err),
			  "%s: chunk %u: record %" PRIu64 " does not decode (byte %zu of the "
			  "chunk): corrupt",
			  c->tf->name, c->next_chunk - 1, c->pos, (size_t)(c->p - c->raw));
		return c->failed = -EINVAL;
	}
	return got;
}

long trace_cursor_read(struct trace_cursor *c, struct trace_rec *out, size_t n)
{
	size_t got = 0;

	if (c->failed)
		return c->failed;
	while (got < n) {
		long k;

		if (!c->left) {
			unsigned i = c->next_chunk;
			int r = c->p ? cursor_chunk_done(c) : 0;

			if (r)
				return r;
			while (i < c->tf->nchunks && !chunk_wanted(c, i))
				i++;
			if (i == c->tf->nchunks) {
				c->pos = c->tf->records;
				c->next_chunk = i;
				c->p = c->end = NULL;
				break;
			}
			r = cursor_load(c, i);
			if (r)
				return r;
		}
		k = cursor_decode(c, out + got, n - got);
		if (k < 0)
			return k;
		got += (size_t)k;
	}
	return (long)got;
}

int trace_cursor_seek(struct trace_cursor *c, uint64_t rec)
{
	struct trace_rec scratch[256];
	unsigned i;
	int r;

	if (rec > c->tf->records)
		return -EINVAL;
	c->failed = 0;
	c->err[0] = 0;
	if (rec == c->tf->records) {
		c->next_chunk = c->tf->nchunks;
		c->left = 0;
		c->p = c->end = NULL;
		c->pos = rec;
		return 0;
	}
	i = trace_chunk_find(c->tf, rec);
	r = cursor_load(c, i);
	if (r)
		return r;
	while (c->pos < rec) {
		uint64_t done, want = rec - c->pos;
		long got = trace_decode(&c->codec, &c->p, c->end, scratch, 256,
					want < 256 ? want : 256, TRACE_ALL_PIDS, &done);

		c->left -= done;
		c->pos += done;
		if (got <= 0) {
			util_errf(c->err, sizeof(c->err),
				  "%s: chunk %u: record %" PRIu64 " does not decode: corrupt",
				  c->tf->name, i, c->pos);
			return c->failed = -EINVAL;
		}
	}
	return 0;
}

/* ---- parallel scan ------------------------------------------------------ */

struct scan {
	const struct trace_file *tf;
	trace_chunk_fn fn;
	void *ctx;
	atomic_uint next;
	atomic_int failed;
	pthread_mutex_t lock; /* err */
	char *err;
	size_t errlen;
};

#define SCAN_BATCH 4096

/* Decode chunk i with dctx into raw, handing its records to fn in
 * batches of SCAN_BATCH through recs. */
static int scan_chunk(struct scan *s, unsigned i, ZSTD_DCtx *dctx, uint8_t *raw,
		      struct trace_rec *recs, char *err, size_t errlen)
{
	const struct trace_chunk_ent *e = &s->tf->chunks[i];
	const uint8_t *p = raw, *end = raw + e->raw;
	struct trace_codec codec;
	uint64_t left = e->records;
	int r = trace_chunk_load(s->tf, i, dctx, raw, err, errlen);

	if (r)
		return r;
	trace_codec_reset(&codec, e->pid0);
	while (left) {
		uint64_t done;
		long got =
		    trace_decode(&codec, &p, end, recs, SCAN_BATCH, left, TRACE_ALL_PIDS, &done);

		if (got <= 0 || (p == end && left > done)) {
			util_errf(err, errlen,
				  "%s: chunk %u: record %" PRIu64 " does not decode (byte %zu of "
				  "the chunk): corrupt",
				  s->tf->name, i, e->first + (e->records - left) + done,
				  (size_t)(p - raw));
			return -EINVAL;
		}
		left -= done;
		r = s->fn(s->ctx, i, recs, (size_t)got);
		if (r)
			return r;
	}
	if (p != end) {
		util_errf(err, errlen, "%s: chunk %u: %zu bytes after its last record: corrupt",
			  s->tf->name, i, (size_t)(end - p));
		return -EINVAL;
	}
	return 0;
}

static void *scan_worker(void *arg)
{
	struct scan *s = arg;
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	uint8_t *raw = malloc(max_raw(s->tf));
	struct trace_rec *recs = malloc(SCAN_BATCH * sizeof(*recs));
	char err[640] = "";
	int r = 0;

	if (!dctx || !raw || !recs) {
		r = -ENOMEM;
		snprintf(err, sizeof(err), "%s: out of memory", s->tf->name);
	}
	while (!r && !atomic_load(&s->failed)) {
		unsigned i = atomic_fetch_add(&s->next, 1);

		if (i >= s->tf->nchunks)
			break;
		r = scan_chunk(s, i, dctx, raw, recs, err, sizeof(err));
	}
	if (r) {
		pthread_mutex_lock(&s->lock);
		if (!atomic_load(&s->failed)) {
			atomic_store(&s->failed, r);
			util_errf(s->err, s->errlen, "%s", err);
		}
		pthread_mutex_unlock(&s->lock);
	}
	ZSTD_freeDCtx(dctx);
	free(raw);
	free(recs);
	return NULL;
}

int trace_scan(const struct trace_file *tf, unsigned threads, trace_chunk_fn fn, void *ctx,
	       char *err, size_t errlen)
{
	struct scan s = {.tf = tf, .fn = fn, .ctx = ctx, .err = err, .errlen = errlen};
	pthread_t tid[64];
	unsigned started = 0;

	atomic_init(&s.next, 0);
	atomic_init(&s.failed, 0);
	pthread_mutex_init(&s.lock, NULL);
	if (threads > 64)
		threads = 64;
	if (threads > tf->nchunks)
		threads = tf->nchunks;
	for (unsigned t = 1; t < threads; t++) {
		if (pthread_create(&tid[started], NULL, scan_worker, &s))
			break;
		started++;
	}
	scan_worker(&s); /* this thread works too */
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	pthread_mutex_destroy(&s.lock);
	return atomic_load(&s.failed);
}
