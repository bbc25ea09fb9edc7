/* SPDX-License-Identifier: MIT */
/* traces mvt_read: open and validate a binary trace; its index, metadata, summary. */
/*
 * trace_open() maps the file and checks everything but the records
 * themselves before anyone replays it: the header's magic, checksum and
 * version; the footer; the index, whose chunks must tile the file from the
 * header to the metadata in record order; every chunk's checksum; the
 * metadata and the summary, whose totals must agree with the index. So a
 * truncated, corrupt or wrong-version file is refused at open with a
 * message naming the file and the chunk and records concerned, and a
 * replay never starts on one. (Record bytes that pass their checksum but
 * do not decode can only come from a buggy writer; the cursor reports
 * them with the record number.)
 *
 * A file whose last 64 bytes are not a footer was cut short or never
 * finished: the reader walks the sections from the header, and says after
 * which record and at which byte the file ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "traces/traces_internal.h"

/* A section header, parsed. */
struct sec {
	uint32_t kind, stored, raw, count, aux;
	uint64_t sum;
};

static void sec_parse(const uint8_t *h, struct sec *s)
{
	s->kind = trace_get32(h);
	s->stored = trace_get32(h + 4);
	s->raw = trace_get32(h + 8);
	s->count = trace_get32(h + 12);
	s->aux = trace_get32(h + 16);
	s->sum = trace_get64(h + 24);
}

static bool sec_sum_ok(const struct trace_file *tf, const uint8_t *h, const struct sec *s)
{
	if (tf->flags & TRACE_OPEN_NO_CHECKSUM)
		return true;
	return XXH3_64bits_withSeed(h + TRACE_SEC_BYTES, s->stored, XXH3_64bits(h, 24)) == s->sum;
}

static const char *sec_name(uint32_t kind)
{
	switch (kind) {
	case TRACE_SEC_CHUNK:
		return "chunk";
	case TRACE_SEC_META:
		return "metadata";
	case TRACE_SEC_SUMMARY:
		return "summary";
	case TRACE_SEC_INDEX:
		return "index";
	}
	return "unknown";
}

/* No valid footer: walk the sections to say where the file ends. */
static void diagnose_truncation(const struct trace_file *tf, char *err, size_t errlen)
{
	uint64_t off = TRACE_HDR_BYTES, records = 0;
	unsigned chunk = 0;

	while (off < tf->len) {
		uint64_t left = tf->len - off;
		struct sec s;

		if (!memcmp(tf->base + off, TRACE_END_MAGIC, left < 8 ? left : 8)) {
			util_errf(err, errlen,
				  "%s: truncated after record %" PRIu64 " (%u complete chunks): "
				  "the footer at byte %" PRIu64 " is cut short",
				  tf->name, records, chunk, off);
			return;
		}
		if (left < TRACE_SEC_BYTES) {
			util_errf(err, errlen,
				  "%s: truncated after record %" PRIu64 " (%u complete chunks): "
				  "a section header at byte %" PRIu64 " is cut short",
				  tf->name, records, chunk, off);
			return;
		}
		sec_parse(tf->base + off, &s);
		if (s.kind != TRACE_SEC_CHUNK && s.kind != TRACE_SEC_META &&
		    s.kind != TRACE_SEC_SUMMARY && s.kind != TRACE_SEC_INDEX) {
			util_errf(err, errlen,
				  "%s: corrupt: no section at byte %" PRIu64
				  " (after record %" PRIu64 ") and no footer at the end",
				  tf->name, off, records);
			return;
		}
		if (tf->len - off - TRACE_SEC_BYTES < s.stored) {
			if (s.kind == TRACE_SEC_CHUNK)
				util_errf(
				    err, errlen,
				    "%s: truncated after record %" PRIu64 ": chunk %u (records "
				    "%" PRIu64 "..%" PRIu64 ") at byte %" PRIu64 " is cut short",
				    tf->name, records, chunk, records,
				    records + (s.count ? s.count - 1 : 0), off);
			else
				util_errf(err, errlen,
					  "%s: truncated after record %" PRIu64
					  ": the %s section at byte %" PRIu64 " is cut short",
					  tf->name, records, sec_name(s.kind), off);
			return;
		}
		if (s.kind == TRACE_SEC_CHUNK) {
			records += s.count;
			chunk++;
		}
		off += TRACE_SEC_BYTES + (uint64_t)s.stored;
	}
	util_errf(err, errlen,
		  "%s: truncated after record %" PRIu64 " (%u complete chunks): no index or "
		  "footer (the writer did not finish)",
		  tf->name, records, chunk);
}

/* Check and decompress the section of `kind` at off into a malloc'd
 * buffer. NULL with err filled. */
static uint8_t *load_section(const struct trace_file *tf, uint64_t off, uint64_t limit,
			     uint32_t kind, struct sec *s, char *err, size_t errlen)
{
	const uint8_t *h;
	uint8_t *raw;
	size_t n;

	if (off < TRACE_HDR_BYTES || off > limit || limit - off < TRACE_SEC_BYTES) {
		util_errf(err, errlen, "%s: corrupt footer: %s offset %" PRIu64 " out of range",
			  tf->name, sec_name(kind), off);
		return NULL;
	}
	h = tf->base + off;
	sec_parse(h, s);
	if (s->kind != kind || limit - off - TRACE_SEC_BYTES < s->stored ||
	    s->raw > TRACE_RAW_MAX) {
		util_errf(err, errlen, "%s: corrupt %s section at byte %" PRIu64, tf->name,
			  sec_name(kind), off);
		return NULL;
	}
	if (!sec_sum_ok(tf, h, s)) {
		util_errf(err, errlen, "%s: %s section at byte %" PRIu64 ": checksum mismatch",
			  tf->name, sec_name(kind), off);
		return NULL;
	}
	raw = malloc(s->raw ? s->raw : 1);
	if (!raw) {
		util_errf(err, errlen, "%s: out of memory", tf->name);
		return NULL;
	}
	n = ZSTD_decompress(raw, s->raw, h + TRACE_SEC_BYTES, s->stored);
	if (ZSTD_isError(n) || n != s->raw) {
		util_errf(err, errlen, "%s: %s section at byte %" PRIu64 " does not decompress%s%s",
			  tf->name, sec_name(kind), off, ZSTD_isError(n) ? ": " : "",
			  ZSTD_isError(n) ? ZSTD_getErrorName(n) : "");
		free(raw);
		return NULL;
	}
	return raw;
}

/* The index and every chunk header it points at. */
static int read_index(struct trace_file *tf, uint64_t idx_off, uint64_t meta_off, char *err,
		      size_t errlen)
{
	uint64_t limit = tf->len - TRACE_FOOT_BYTES, expect = TRACE_HDR_BYTES, first = 0;
	struct sec s;
	uint8_t *raw = load_section(tf, idx_off, limit, TRACE_SEC_INDEX, &s, err, errlen);

	if (!raw)
		return -EINVAL;
	if (s.count != tf->nchunks || s.raw != (uint64_t)s.count * TRACE_IDX_ENTRY) {
		util_errf(err, errlen, "%s: corrupt index: %u entries for %u chunks", tf->name,
			  s.count, tf->nchunks);
		free(raw);
		return -EINVAL;
	}
	tf->chunks = calloc(tf->nchunks ? tf->nchunks : 1, sizeof(*tf->chunks));
	if (!tf->chunks) {
		free(raw);
		util_errf(err, errlen, "%s: out of memory", tf->name);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < tf->nchunks; i++) {
		struct trace_chunk_ent *e = &tf->chunks[i];
		const uint8_t *p = raw + (size_t)i * TRACE_IDX_ENTRY;
		struct sec c;

		e->offset = trace_get64(p);
		e->first = trace_get64(p + 8);
		e->records = trace_get32(p + 16);
		e->pid_lo = trace_get32(p + 20);
		e->pid_hi = trace_get32(p + 24);
		if (e->offset != expect || e->first != first || !e->records ||
		    e->records > TRACE_CHUNK_MAX || e->pid_lo > e->pid_hi ||
		    limit - expect < TRACE_SEC_BYTES) {
			util_errf(err, errlen,
				  "%s: corrupt index: entry of chunk %u (records from %" PRIu64
				  ") does not follow the previous one",
				  tf->name, i, first);
			free(raw);
			return -EINVAL;
		}
		sec_parse(tf->base + e->offset, &c);
		if (c.kind != TRACE_SEC_CHUNK || c.count != e->records ||
		    limit - e->offset - TRACE_SEC_BYTES < c.stored ||
		    c.raw > (uint64_t)e->records * (TRACE_MAX_REC_RAW + 11) || c.aux < e->pid_lo ||
		    c.aux > e->pid_hi) {
			util_errf(err, errlen,
				  "%s: corrupt chunk %u (records %" PRIu64 "..%" PRIu64
				  ") at byte %" PRIu64 ": its header disagrees with the index",
				  tf->name, i, first, first + e->records - 1, e->offset);
			free(raw);
			return -EINVAL;
		}
		e->stored = c.stored;
		e->raw = c.raw;
		e->pid0 = c.aux;
		if (!sec_sum_ok(tf, tf->base + e->offset, &c)) {
			util_errf(err, errlen,
				  "%s: chunk %u (records %" PRIu64 "..%" PRIu64 ") at byte %" PRIu64
				  ": checksum mismatch: the file is corrupt",
				  tf->name, i, first, first + e->records - 1, e->offset);
			free(raw);
			return -EINVAL;
		}
		first += e->records;
		expect = e->offset + TRACE_SEC_BYTES + c.stored;
	}
	free(raw);
	if (first != tf->records || expect != meta_off) {
		util_errf(err, errlen,
			  "%s: corrupt index: its chunks hold %" PRIu64 " records, the footer says "
			  "%" PRIu64,
			  tf->name, first, tf->records);
		return -EINVAL;
	}
	return 0;
}

static int read_meta(struct trace_file *tf, uint64_t off, char *err, size_t errlen)
{
	struct sec s;
	uint8_t *raw =
	    load_section(tf, off, tf->len - TRACE_FOOT_BYTES, TRACE_SEC_META, &s, err, errlen);
	unsigned n = 0;

	if (!raw)
		return -EINVAL;
	tf->meta = (char *)raw;
	for (uint32_t i = 0; i < s.raw; i++)
		n += raw[i] == '\n';
	tf->meta_lines = calloc(n ? n : 1, sizeof(char *));
	if (!tf->meta_lines) {
		util_errf(err, errlen, "%s: out of memory", tf->name);
		return -ENOMEM;
	}
	for (uint32_t i = 0, start = 0; i < s.raw; i++) {
		if (raw[i] == '\n') {
			raw[i] = 0;
			if (!memchr(raw + start, '=', i - start) ||
			    memchr(raw + start, 0, i - start))
				break;
			tf->meta_lines[tf->nmeta++] = (char *)raw + start;
			start = i + 1;
		}
	}
	if (tf->nmeta != n || n != s.count || (s.raw && raw[s.raw - 1] != 0)) {
		util_errf(err, errlen, "%s: corrupt metadata section at byte %" PRIu64, tf->name,
			  off);
		return -EINVAL;
	}
	return 0;
}

static int read_summary(struct trace_file *tf, uint64_t off, char *err, size_t errlen)
{
	struct sec s;
	uint8_t *raw =
	    load_section(tf, off, tf->len - TRACE_FOOT_BYTES, TRACE_SEC_SUMMARY, &s, err, errlen);
	const char *why;
	int r;

	if (!raw)
		return -EINVAL;
	r = trace_summary_decode(raw, s.raw, &tf->sum, &why);
	free(raw);
	if (r) {
		util_errf(err, errlen, "%s: corrupt %s (section at byte %" PRIu64 ")", tf->name,
			  why, off);
		return r;
	}
	if (tf->sum.records != tf->records || tf->sum.nprocs != s.count) {
		util_errf(err, errlen,
			  "%s: corrupt summary: %" PRIu64 " records, the index says %" PRIu64,
			  tf->name, tf->sum.records, tf->records);
		return -EINVAL;
	}
	return 0;
}

static int trace_validate(struct trace_file *tf, char *err, size_t errlen)
{
	const uint8_t *h = tf->base, *f;
	uint64_t idx_off, meta_off, sum_off, chunks;
	int r;

	if (tf->len < TRACE_HDR_BYTES || memcmp(h, TRACE_MAGIC, 8)) {
		if (tf->len < TRACE_HDR_BYTES && tf->len >= 4 && !memcmp(h, TRACE_MAGIC, 4))
			util_errf(err, errlen,
				  "%s: truncated: %zu bytes, shorter than the trace header",
				  tf->name, tf->len);
		else
			util_errf(err, errlen, "%s: not a memvisor trace (no MVTRACE magic)",
				  tf->name);
		return -EINVAL;
	}
	if (!(tf->flags & TRACE_OPEN_NO_CHECKSUM) && XXH3_64bits(h, 56) != trace_get64(h + 56)) {
		util_errf(err, errlen, "%s: corrupt header (checksum mismatch)", tf->name);
		return -EINVAL;
	}
	if (trace_get16(h + 8) != TRACE_VERSION) {
		util_errf(err, errlen,
			  "%s: trace format version %u.%u; this build reads version %u.x only",
			  tf->name, trace_get16(h + 8), trace_get16(h + 10), TRACE_VERSION);
		return -EINVAL;
	}
	if (trace_get32(h + 12) != TRACE_HDR_BYTES) {
		util_errf(err, errlen, "%s: corrupt header (size field)", tf->name);
		return -EINVAL;
	}
	tf->chunk_target = trace_get32(h + 20);
	f = tf->base + tf->len - TRACE_FOOT_BYTES;
	if (tf->len < TRACE_HDR_BYTES + TRACE_FOOT_BYTES || memcmp(f, TRACE_END_MAGIC, 8)) {
		diagnose_truncation(tf, err, errlen);
		return -EINVAL;
	}
	if (!(tf->flags & TRACE_OPEN_NO_CHECKSUM) && XXH3_64bits(f, 56) != trace_get64(f + 56)) {
		util_errf(err, errlen, "%s: corrupt footer (checksum mismatch)", tf->name);
		return -EINVAL;
	}
	idx_off = trace_get64(f + 8);
	meta_off = trace_get64(f + 16);
	sum_off = trace_get64(f + 24);
	tf->records = trace_get64(f + 32);
	chunks = trace_get32(f + 40);
	/* every chunk takes 33 bytes at least: bound the index by the file */
	if (chunks > tf->len / (TRACE_SEC_BYTES + 1) || tf->records > chunks * TRACE_CHUNK_MAX) {
		util_errf(err, errlen, "%s: corrupt footer (%" PRIu64 " chunks)", tf->name, chunks);
		return -EINVAL;
	}
	tf->nchunks = (unsigned)chunks;
	r = read_index(tf, idx_off, meta_off, err, errlen);
	if (!r)
		r = read_meta(tf, meta_off, err, errlen);
	if (!r)
		r = read_summary(tf, sum_off, err, errlen);
	return r;
}

static struct trace_file *trace_file_new(const char *name, unsigned flags)
{
	struct trace_file *tf = calloc(1, sizeof(*tf));

	if (!tf)
		return NULL;
	snprintf(tf->name, sizeof(tf->name), "%s", name);
	tf->flags = flags;
	return tf;
}

struct trace_file *trace_open_mem(const void *buf, size_t len, const char *name, unsigned flags,
				  char *err, size_t errlen)
{
	struct trace_file *tf = trace_file_new(name, flags);
	int r;

	if (!tf) {
		util_errf(err, errlen, "%s: out of memory", name);
		errno = ENOMEM;
		return NULL;
	}
	tf->base = buf;
	tf->len = len;
	r = trace_validate(tf, err, errlen);
	if (r) {
		trace_close(tf);
		errno = -r;
		return NULL;
	}
	return tf;
}

struct trace_file *trace_open(const char *path, unsigned flags, char *err, size_t errlen)
{
	struct trace_file *tf = trace_file_new(path, flags);
	struct stat st;
	int fd, r, e;

	if (!tf) {
		util_errf(err, errlen, "%s: out of memory", path);
		errno = ENOMEM;
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		e = errno;
		util_errf(err, errlen, "%s: %s", path, strerror(e));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		e = EINVAL;
		util_errf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	tf->len = (size_t)st.st_size;
	if (tf->len) {
		void *m = mmap(NULL, tf->len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (m == MAP_FAILED) {
			e = errno;
			util_errf(err, errlen, "%s: mmap: %s", path, strerror(e));
			goto fail;
		}
		tf->base = m;
		tf->mapped = true;
	} else {
		tf->base = (const uint8_t *)"";
	}
	close(fd);
	fd = -1;
	r = trace_validate(tf, err, errlen);
	if (r) {
		e = -r;
		goto fail;
	}
	return tf;

fail:
	if (fd >= 0)
		close(fd);
	trace_close(tf);
	errno = e;
	return NULL;
}

void trace_close(struct trace_file *tf)
{
	if (!tf)
		return;
	if (tf->mapped)
		munmap((void *)tf->base, tf->len);
	free(tf->chunks);
	free(tf->meta);
	free(tf->meta_lines);
	trace_summary_free(&tf->sum);
	free(tf);
}

bool trace_is_binary(const char *path)
{
	char buf[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes;

	if (fd < 0)
		return false;
	yes = read(fd, buf, 8) == 8 && !memcmp(buf, TRACE_MAGIC, 8);
	close(fd);
	return yes;
}

const char *trace_file_name(const struct trace_file *tf)
{
	return tf->name;
}

const struct trace_summary *trace_file_summary(const struct trace_file *tf)
{
	return &tf->sum;
}

uint64_t trace_file_records(const struct trace_file *tf)
{
	return tf->records;
}

unsigned trace_file_chunks(const struct trace_file *tf)
{
	return tf->nchunks;
}

uint64_t trace_file_bytes(const struct trace_file *tf)
{
	return tf->len;
}

const char *trace_file_meta(const struct trace_file *tf, const char *key)
{
	size_t kl = strlen(key);

	for (unsigned i = 0; i < tf->nmeta; i++)
		if (!strncmp(tf->meta_lines[i], key, kl) && tf->meta_lines[i][kl] == '=')
			return tf->meta_lines[i] + kl + 1;
	return NULL;
}

const char *trace_file_meta_line(const struct trace_file *tf, unsigned i)
{
	return i < tf->nmeta ? tf->meta_lines[i] : NULL;
}

/* ---- chunks ------------------------------------------------------------ */

int trace_chunk_load(const struct trace_file *tf, unsigned i, void *dctx, uint8_t *raw, char *err,
		     size_t errlen)
{
	const struct trace_chunk_ent *e = &tf->chunks[i];
	size_t n = ZSTD_decompressDCtx(dctx, raw, e->raw, tf->base + e->offset + TRACE_SEC_BYTES,
				       e->stored);

	if (ZSTD_isError(n) || n != e->raw) {
		util_errf(err, errlen,
			  "%s: chunk %u (records %" PRIu64 "..%" PRIu64 ") does not decompress%s%s",
			  tf->name, i, e->first, e->first + e->records - 1,
			  ZSTD_isError(n) ? ": " : "", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "");
		return -EINVAL;
	}
	return 0;
}

unsigned trace_chunk_find(const struct trace_file *tf, uint64_t rec)
{
	unsigned lo = 0, hi = tf->nchunks;

	/* the last chunk whose first record is <= rec */
	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;

		if (tf->chunks[mid].first <= rec)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
