/* SPDX-License-Identifier: MIT */
/* traces_internal: the binary format's layout, its record codec, shared helpers. */
#ifndef TRACES_TRACES_INTERNAL_H
#define TRACES_TRACES_INTERNAL_H

#include <stdarg.h>
#include <string.h>

#include "traces/traces.h"

/*
 * The binary trace format, version 1.0 (.mvt). Integers are little-endian.
 *
 *   file    = header, section*, footer
 *
 *   header (64 bytes)
 *     0  8  magic "MVTRACE\0"
 *     8  2  version major (1): a reader refuses any other
 *    10  2  version minor (0): additions a 1.0 reader may ignore
 *    12  4  header bytes (64)
 *    16  4  flags (0)
 *    20  4  records per chunk the writer aimed at
 *    24 32  reserved, 0
 *    56  8  XXH3-64 of bytes 0..55
 *
 *   section = section header (32 bytes), payload (`stored` bytes)
 *     0  4  kind: "MVCK" chunk of records, "MVMD" metadata, "MVSM" summary,
 *           "MVIX" index
 *     4  4  stored: payload bytes, one zstd frame
 *     8  4  raw: bytes of the decompressed payload
 *    12  4  count: records (chunk), lines (metadata), processes (summary),
 *           chunks (index)
 *    16  4  aux: chunk: the pid in force at its first record
 *    20  4  reserved, 0
 *    24  8  checksum: XXH3-64 of the payload, seeded with the XXH3-64 of
 *           bytes 0..23 of this header
 *
 *   footer (64 bytes, the last of the file)
 *     0  8  magic "MVTREND\0"
 *     8  8  offset of the index section
 *    16  8  offset of the metadata section
 *    24  8  offset of the summary section
 *    32  8  records
 *    40  4  chunks
 *    44 12  reserved, 0
 *    56  8  XXH3-64 of bytes 0..55
 *
 * Chunks come first, in record order, then metadata, summary, index and
 * footer: a writer streams records out without seeking, and a reader finds
 * everything from the footer. A file without a valid footer is truncated
 * (or not finished); the reader then walks the sections from the header to
 * say after which record it ends.
 *
 * Index payload: per chunk 32 bytes: u64 file offset of its section, u64
 * number of its first record, u32 records, u32 lowest pid, u32 highest
 * pid, u32 0.
 *
 * Metadata payload: "key=value\n" lines (recorder, command, source...).
 *
 * Summary payload: varints (below): records, max image id, processes, and
 * per process: pid, records, records by kind (7), bytes, pages, data pages,
 * lowest byte, highest byte, runs, and each run as (gap in pages from the
 * end of the previous run, or its first page for the first run; length).
 *
 * Chunk payload: the records, each chunk on its own: the predictions below
 * start from 0 and the pid from the section's aux, so any chunk decodes
 * alone (replay can start anywhere; chunks decode in parallel).
 *
 *   access record: tag 0kkzssss, [delta], [size]
 *     kk    kind: 0 I, 1 L, 2 S, 3 M
 *     z     1: the address is the prediction, no delta follows
 *     ssss  the size, 1..15; 0: a varint size follows the delta
 *     delta zigzag varint of (address - prediction)
 *   prediction for I: the end (address + size) of the previous I.
 *   prediction for L, S and M: what the same static access touched last.
 *   A data record is access n (0, 1, ...) of the instruction at pc, the
 *   address of the last I record (0 before any), n counting the data
 *   records since it. Its key is trace_pred_key(pc, n); a table of
 *   TRACE_PRED_SLOTS entries (key, address), all 0 at the start of the
 *   chunk, is indexed by trace_pred_slot(key): when that entry holds the
 *   key, its address is the prediction, otherwise the previous L, S or M
 *   address (0 before any) is. The entry then gets (key, address).
 *
 *   event record: tag 1xxxxxxx
 *     0x80 pid switch: varint pid (not a record; later records are its)
 *     0x81 ZERO:    varint vpn
 *     0x82 IMAGE:   varint vpn, varint image id, varint page
 *     0x83 PRIVATE: varint vpn, 8-byte seed
 *
 * Varints are LEB128, at most 10 bytes; zigzag maps 0, -1, 1, -2 ... to 0,
 * 1, 2, 3 ...
 */
#define TRACE_MAGIC	  "MVTRACE"
#define TRACE_END_MAGIC	  "MVTREND"
#define TRACE_VERSION	  1u
#define TRACE_MINOR	  0u
#define TRACE_HDR_BYTES	  64u
#define TRACE_SEC_BYTES	  32u
#define TRACE_FOOT_BYTES  64u
#define TRACE_IDX_ENTRY	  32u
#define TRACE_SEC_CHUNK	  0x4b43564du  /* "MVCK" */
#define TRACE_SEC_META	  0x444d564du  /* "MVMD" */
#define TRACE_SEC_SUMMARY 0x4d53564du  /* "MVSM" */
#define TRACE_SEC_INDEX	  0x5849564du  /* "MVIX" */
#define TRACE_CHUNK_MAX	  (1u << 22)   /* records per chunk, at most */
#define TRACE_RAW_MAX	  (256u << 20) /* decompressed section bytes, at most */
#define TRACE_MAX_REC_RAW 19u	       /* encoded bytes of one record, at most */
#define TRACE_TAG_EVENT	  0x80u
#define TRACE_EV_PID	  0x80u
#define TRACE_EV_ZERO	  0x81u
#define TRACE_EV_IMAGE	  0x82u
#define TRACE_EV_PRIVATE  0x83u
#define TRACE_TAG_Z	  0x10u
#define TRACE_TAG_KIND_SH 5
#define TRACE_TAG_SIZE	  0x0fu
#define TRACE_LK_BUF	  (64u << 10) /* lackey reader buffer; longer lines are skipped */

static inline void trace_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void trace_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t trace_get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
static inline uint64_t trace_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
static inline uint16_t trace_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Append v as a varint at p; returns the byte after it. */
static inline uint8_t *trace_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Read a varint at *pp, not past end. Returns false for a truncated or
 * over-long one (more than 64 bits). */
static inline bool trace_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;

	for (unsigned shift = 0; p < end; shift += 7) {
		uint8_t b = *p++;

		if (shift == 63 && b > 1)
			return false;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*v = x;
			return true;
		}
		if (shift == 63)
			return false;
	}
	return false;
}

static inline uint64_t trace_zigzag(uint64_t d)
{
	return (d << 1) ^ (uint64_t)((int64_t)d >> 63);
}
static inline uint64_t trace_unzigzag(uint64_t z)
{
	return (z >> 1) ^ (uint64_t) - (int64_t)(z & 1);
}

/* ------------------------------------------------------------------------
 * Record codec (codec.c). The encoder and the decoder keep the same
 * predictions; both are reset at the start of each chunk.
 */
#define TRACE_PRED_BITS	 13
#define TRACE_PRED_SLOTS (1u << TRACE_PRED_BITS)

/* Key of data access n of the instruction at pc, and its table slot. */
static inline uint64_t trace_pred_key(uint64_t pc, uint32_t n)
{
	return pc * 0x9e3779b97f4a7c15ull ^ (uint64_t)(n + 1) * 0xc2b2ae3d27d4eb4full;
}
static inline unsigned trace_pred_slot(uint64_t key)
{
	return (unsigned)((key ^ key >> 29) * 0xbf58476d1ce4e5b9ull >> (64 - TRACE_PRED_BITS));
}

struct trace_codec {
	uint64_t next_i; /* prediction for I: end of the previous I */
	uint64_t last_d; /* the previous L/S/M address */
	uint64_t pc;	 /* address of the last I */
	uint32_t n;	 /* data records since it */
	uint32_t pid;	 /* pid in force */
	struct {
		uint64_t key, addr;
	} pred[TRACE_PRED_SLOTS]; /* what each static access touched last */
};

static inline void trace_codec_reset(struct trace_codec *c, uint32_t pid)
{
	memset(c, 0, sizeof(*c));
	c->pid = pid;
}

/* Encode r (valid: see trace_rec_check) at p, which has TRACE_MAX_REC_RAW
 * bytes plus 11 for a pid switch; returns the end. */
uint8_t *trace_encode(struct trace_codec *c, uint8_t *p, const struct trace_rec *r);
/*
 * Decode up to n records from [*pp, end) into out, advancing *pp;
 * records of pids other than `pid` (unless TRACE_ALL_PIDS) are decoded
 * but not stored, and counted in *skipped. Returns the number stored, or
 * -1 for malformed bytes (a bad tag, varint, size or an access wrapping
 * the address space), *pp then at the record that failed. Decoding stops
 * after n stored records or `max` decoded records, whichever is first;
 * *decoded gets the number decoded.
 */
long trace_decode(struct trace_codec *c, const uint8_t **pp, const uint8_t *end,
		  struct trace_rec *out, size_t n, uint64_t max, uint32_t pid, uint64_t *decoded);
/* 0 when r can be stored; else -EINVAL with a reason in why. */
int trace_rec_check(const struct trace_rec *r, const char **why);

/* ------------------------------------------------------------------------
 * Page set (pageset.c): the distinct (pid, page) pairs a trace touches,
 * with whether an instruction fetch and a data access touched each, and
 * per-process counters; turned into the summary at the end.
 */
struct trace_pageset;
struct trace_pageset *trace_pageset_create(void);
void trace_pageset_destroy(struct trace_pageset *ps);
/* Account record r (valid). 0 or -ENOMEM. */
int trace_pageset_add(struct trace_pageset *ps, const struct trace_rec *r) MUST_CHECK;
/* Build the summary into *s (zeroed first; free with
 * trace_summary_free). 0 or -ENOMEM. */
int trace_pageset_summary(const struct trace_pageset *ps, struct trace_summary *s) MUST_CHECK;
void trace_summary_free(struct trace_summary *s);
/* Serialize s as the summary payload into a malloc'd buffer. NULL on
 * ENOMEM. */
uint8_t *trace_summary_encode(const struct trace_summary *s, size_t *len);
/* Parse a summary payload. 0, or -EINVAL with *why set (a static reason)
 * for malformed bytes, -ENOMEM. */
int trace_summary_decode(const uint8_t *p, size_t len, struct trace_summary *s,
			 const char **why) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Reader internals shared by mvt_read.c and mvt_cursor.c.
 */
struct trace_chunk_ent {
	uint64_t offset; /* of the section header */
	uint64_t first;	 /* number of its first record */
	uint32_t records;
	uint32_t pid_lo, pid_hi;
	uint32_t stored, raw; /* from the section header */
	uint32_t pid0;	      /* pid at its start (aux) */
};

struct trace_file {
	char name[512];
	const uint8_t *base; /* the file's bytes (mapped, or borrowed) */
	size_t len;
	bool mapped;
	unsigned flags;
	uint32_t chunk_target;
	uint64_t records;
	unsigned nchunks;
	struct trace_chunk_ent *chunks;
	char *meta;	   /* metadata text, NUL-separated lines */
	char **meta_lines; /* pointers into meta */
	unsigned nmeta;
	struct trace_summary sum;
};

/* Decompress chunk i of tf into raw (chunks[i].raw bytes) with dctx (a
 * ZSTD_DCtx *). 0 or -EINVAL with err naming file, chunk and records. */
int trace_chunk_load(const struct trace_file *tf, unsigned i, void *dctx, uint8_t *raw, char *err,
		     size_t errlen) MUST_CHECK;
/* Index of the chunk holding record rec (rec < records). */
unsigned trace_chunk_find(const struct trace_file *tf, uint64_t rec);

#endif
