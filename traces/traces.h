/* SPDX-License-Identifier: MIT */
/*
 * traces: memory-access traces of real programs. Readers and writers for
 * valgrind lackey's text (--trace-mem=yes) and for memvisor's own binary
 * format (.mvt: delta-encoded records in independent zstd chunks with an
 * index, a checksum per chunk and a summary of the pages touched), the
 * converter between them, and recording under valgrind.
 *
 * A trace is a sequence of records. Access records (I, L, S, M) say that a
 * process fetched, loaded, stored or modified (loaded then stored) `size`
 * bytes at virtual address `addr` of its address space `pid`. Content
 * records say what a page holds from then on: all zeros, a page of an
 * image, or private bytes named by a 64-bit seed (two pages written with
 * the same seed hold the same bytes), so that page-sharing studies can
 * replay content as well as addresses.
 *
 * Counting rules, fixed so that results compare across tools: every record
 * is one access; an access covers the 4 KiB pages from addr to
 * addr + size - 1 (a 0-byte access covers the page of addr), lowest first;
 * instruction fetches count; an M record is one access (a read-modify-write
 * of the same bytes). A content record covers its page.
 *
 * This module includes neither vmm-core nor guest: it knows traces, not
 * machines.
 */
#ifndef TRACES_TRACES_H
#define TRACES_TRACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/util.h"

#define TRACE_PAGE_SHIFT 12
#define TRACE_SIZE_MAX	 65536u /* largest access a record may carry, bytes */

enum trace_kind {
	TRACE_INSTR = 0, /* instruction fetch (lackey "I") */
	TRACE_LOAD,	 /* " L" */
	TRACE_STORE,	 /* " S" */
	TRACE_MODIFY,	 /* " M": load and store of the same bytes, one access */
	TRACE_ZERO,	 /* content: the page at addr now reads as zeros */
	TRACE_IMAGE,	 /* content: the page is page `arg` of image `image` */
	TRACE_PRIVATE,	 /* content: the page holds private bytes named by `arg` */
	TRACE_NKINDS
};

/* The kind's name: "instr", "load", "store", "modify", "zero", "image",
 * "private". */
const char *trace_kind_name(enum trace_kind k);

static inline bool trace_kind_is_content(enum trace_kind k)
{
	return k >= TRACE_ZERO;
}

struct trace_rec {
	uint64_t addr;	/* virtual address; page-aligned for content records */
	uint64_t arg;	/* IMAGE: page index in the image; PRIVATE: the seed */
	uint32_t size;	/* bytes, 0..TRACE_SIZE_MAX; content records: 4096 */
	uint32_t pid;	/* address space */
	uint32_t image; /* IMAGE: image id */
	uint8_t kind;	/* enum trace_kind */
};

/* First and last 4 KiB page numbers r covers (see the counting rules).
 * Returns false when the access wraps past the top of the address space. */
static inline bool trace_rec_pages(const struct trace_rec *r, uint64_t *first, uint64_t *last)
{
	uint64_t end = r->addr + (r->size ? r->size - 1 : 0);

	if (end < r->addr)
		return false;
	*first = r->addr >> TRACE_PAGE_SHIFT;
	*last = end >> TRACE_PAGE_SHIFT;
	return true;
}

/* ------------------------------------------------------------------------
 * Summary of a trace: what trace info prints and what a replayer needs to
 * build an address space. The writer computes it while it writes and
 * stores it in the file.
 */
struct trace_run {
	uint64_t vpn;	/* first 4 KiB page */
	uint64_t pages; /* length, >= 1 */
};

struct trace_proc {
	uint32_t pid;
	uint64_t records;		/* all kinds */
	uint64_t by_kind[TRACE_NKINDS]; /* records of each kind */
	uint64_t bytes;			/* sum of access sizes */
	uint64_t pages;			/* distinct 4 KiB pages touched, all kinds */
	uint64_t data_pages;		/* ... by records other than I */
	uint64_t addr_lo, addr_hi;	/* lowest and highest byte touched */
	uint64_t nruns;
	struct trace_run *runs; /* the touched pages, as maximal runs of
				   consecutive pages, in address order */
};

struct trace_summary {
	uint64_t records;
	uint64_t by_kind[TRACE_NKINDS];
	uint64_t bytes;
	uint64_t pages;	     /* sum over processes (pages are per pid) */
	uint64_t data_pages; /* idem */
	uint32_t max_image;  /* largest image id of IMAGE records, 0 if none */
	unsigned nprocs;
	struct trace_proc *procs; /* by increasing pid */
};

/* The summary's entry for pid, or NULL. */
const struct trace_proc *trace_summary_proc(const struct trace_summary *s, uint32_t pid);

/* ------------------------------------------------------------------------
 * Binary trace writer (mvt_write.c).
 *
 * The file is written to PATH.tmp and renamed to PATH by
 * trace_writer_finish(), so an interrupted conversion leaves no file that
 * looks complete. Records are buffered into chunks of `chunk_records`,
 * each compressed and written when full.
 */
struct trace_writer_opts {
	unsigned chunk_records; /* records per chunk (0: TRACE_CHUNK_RECORDS) */
	int level;		/* zstd level (0: TRACE_LEVEL) */
};
#define TRACE_CHUNK_RECORDS (1u << 18)
#define TRACE_LEVEL	    6 /* about 10% smaller than level 3, as fast to read */

struct trace_writer;

/* Create a writer for path. NULL with errno set and err filled. */
struct trace_writer *trace_writer_create(const char *path, const struct trace_writer_opts *o,
					 char *err, size_t errlen);
/* Add a key = value line to the trace's metadata (keys without '=' and
 * neither may hold a newline; -EINVAL otherwise). 0 or -errno. */
int trace_writer_meta(struct trace_writer *w, const char *key, const char *value) MUST_CHECK;
/* Append one record. Returns 0, -EINVAL for a record that cannot be
 * stored (size above TRACE_SIZE_MAX, an access wrapping the address space,
 * an unaligned content record, an unknown kind), -errno on I/O or memory
 * failure; trace_writer_error() then says why. */
int trace_writer_put(struct trace_writer *w, const struct trace_rec *r) MUST_CHECK;
/* Records appended so far. */
uint64_t trace_writer_records(const struct trace_writer *w);
/* Flush the last chunk, write metadata, summary, index and footer, and
 * rename the file into place. 0 or -errno (with trace_writer_error()). */
int trace_writer_finish(struct trace_writer *w) MUST_CHECK;
/* The last error, naming the file ("" if none). */
const char *trace_writer_error(const struct trace_writer *w);
/* Free the writer; an unfinished file is removed. */
void trace_writer_destroy(struct trace_writer *w);

/* ------------------------------------------------------------------------
 * Binary trace reader (mvt_read.c, mvt_cursor.c).
 */
struct trace_file;

/* Flags of trace_open(). */
#define TRACE_OPEN_NO_CHECKSUM 1u /* skip checksum checks (fuzzing only) */

/*
 * Open and validate the trace at path: header, version, footer, index,
 * metadata and summary, and (unless TRACE_OPEN_NO_CHECKSUM) every chunk's
 * checksum. NULL with errno set (EINVAL for a file that is not a valid
 * trace: truncated, corrupt, wrong version) and err holding one message
 * naming the file and the record or byte where it goes wrong.
 */
struct trace_file *trace_open(const char *path, unsigned flags, char *err, size_t errlen);
/* Open a trace held in memory (len bytes at buf, borrowed until
 * trace_close); name is used in messages. As trace_open. */
struct trace_file *trace_open_mem(const void *buf, size_t len, const char *name, unsigned flags,
				  char *err, size_t errlen);
void trace_close(struct trace_file *tf);
/* Does the file at path start like a binary trace (its magic)? */
bool trace_is_binary(const char *path);

const char *trace_file_name(const struct trace_file *tf);
/* Borrowed until trace_close(). */
const struct trace_summary *trace_file_summary(const struct trace_file *tf);
uint64_t trace_file_records(const struct trace_file *tf);
unsigned trace_file_chunks(const struct trace_file *tf);
uint64_t trace_file_bytes(const struct trace_file *tf);
/* Value of metadata key, or NULL; borrowed. */
const char *trace_file_meta(const struct trace_file *tf, const char *key);
/* Metadata line i (0-based) as "key=value", or NULL past the end. */
const char *trace_file_meta_line(const struct trace_file *tf, unsigned i);

/*
 * A cursor reads the records of one trace in order, one chunk decoded at a
 * time (its own zstd context and buffer: one per thread). With pid set to
 * TRACE_ALL_PIDS it returns every record; otherwise only that process's,
 * skipping chunks that hold none.
 */
#define TRACE_ALL_PIDS UINT32_MAX
struct trace_cursor;

/* NULL with errno set. tf is borrowed and must outlive the cursor. */
struct trace_cursor *trace_cursor_create(const struct trace_file *tf, uint32_t pid);
void trace_cursor_destroy(struct trace_cursor *c);
/* Position the cursor at record number `rec` of the file (0-based, over
 * all pids): the index finds its chunk, so any point costs one chunk's
 * decoding. 0, or -EINVAL past the end. */
int trace_cursor_seek(struct trace_cursor *c, uint64_t rec) MUST_CHECK;
/* Fill up to n records into out. Returns the number read (0 at the end),
 * or -EINVAL for a chunk that fails to decode, with trace_cursor_error()
 * naming the file and the record. */
long trace_cursor_read(struct trace_cursor *c, struct trace_rec *out, size_t n) MUST_CHECK;
/* Number of the record the next read returns, over all pids. */
uint64_t trace_cursor_pos(const struct trace_cursor *c);
const char *trace_cursor_error(const struct trace_cursor *c);

/*
 * Decode every chunk of tf with `threads` threads (0 or 1: in this
 * thread), each chunk independently, and call fn(ctx, chunk, recs, n)
 * with its records in order, a batch of at most 4096 at a time; chunks
 * come in no particular order and from several threads at once (fn must
 * be thread-safe). Returns 0, the first non-zero value fn returned, or
 * -EINVAL with err naming the file and record.
 */
typedef int (*trace_chunk_fn)(void *ctx, unsigned chunk, const struct trace_rec *recs, size_t n);
int trace_scan(const struct trace_file *tf, unsigned threads, trace_chunk_fn fn, void *ctx,
	       char *err, size_t errlen) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Valgrind lackey text (lackey.c).
 *
 * lackey --trace-mem=yes writes one record per line:
 *   "I  04016b70,3"    instruction fetch of 3 bytes at 0x04016b70
 *   " L 1ffefffd48,8"  load;   " S ..." store;   " M ..." modify
 * (hexadecimal address, decimal size). Lines that are not records
 * (valgrind's "==PID==" messages, blank lines) are skipped and counted. A
 * line that starts like a record but does not parse is malformed.
 * Lackey traces are of one process: records get pid 1.
 */
struct trace_lackey;

/* Read lackey text from fd (borrowed; read with read(2), so a pipe works);
 * name is for messages. NULL with errno set. */
struct trace_lackey *trace_lackey_open(int fd, const char *name);
void trace_lackey_close(struct trace_lackey *lk);
/* The next record into *r. Returns 1, 0 at the end of the text, or
 * -EINVAL for a malformed line (-errno for a read error), with
 * trace_lackey_error() naming the file and line. */
int trace_lackey_next(struct trace_lackey *lk, struct trace_rec *r) MUST_CHECK;
/* After a read that returns less than a quarter of the buffer, sleep usec
 * before the next (0: never, the default). For a pipe fed by many tiny
 * writes (valgrind writes every line on its own), waking up for each
 * costs the writer more than its own work; with a nap the writer fills
 * the pipe in the meantime. */
void trace_lackey_nap(struct trace_lackey *lk, unsigned usec);
/* Lines skipped as not records, and lines read, so far. */
uint64_t trace_lackey_skipped(const struct trace_lackey *lk);
uint64_t trace_lackey_lines(const struct trace_lackey *lk);
/* Bytes of text read so far. */
uint64_t trace_lackey_bytes(const struct trace_lackey *lk);
const char *trace_lackey_error(const struct trace_lackey *lk);

/* Write r as lackey writes it. -EINVAL for a record lackey cannot express
 * (content records), -EIO on a write error. */
int trace_lackey_write(FILE *f, const struct trace_rec *r) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Conversion and recording (convert.c, record.c).
 */
struct trace_convert_stats {
	uint64_t records;
	uint64_t lines;	  /* text lines read (lackey input) */
	uint64_t skipped; /* of them, not records */
	uint64_t bytes_in, bytes_out;
	double seconds; /* wall time of the conversion */
};

/*
 * Convert in to out. The input is a binary trace when it starts with the
 * binary magic, else lackey text ("-" reads stdin). The output is lackey
 * text when to_text is set (out "-": stdout), else a binary trace. Returns
 * 0; -EINVAL for bad input or a record the output cannot express, -errno
 * for I/O, with err naming the file and line or record.
 */
int trace_convert(const char *in, const char *out, bool to_text, const struct trace_writer_opts *o,
		  struct trace_convert_stats *st, char *err, size_t errlen) MUST_CHECK;

struct trace_record_opts {
	const char *valgrind; /* the valgrind binary (NULL: "valgrind") */
	struct trace_writer_opts wo;
};
struct trace_record_stats {
	struct trace_convert_stats conv;
	int status;	/* the command's exit status (valgrind passes it on) */
	int signal;	/* or the signal that killed it, 0 if none */
	double seconds; /* wall time from start to the end of the trace */
};

/*
 * Run argv (argv[0] searched in PATH) under valgrind lackey with the trace
 * on a private pipe (--log-fd), so that the program's own stdout and
 * stderr are left alone, and convert the text as it streams into the
 * binary trace out (no text is kept). Returns 0 when a trace was written
 * (whatever the command's exit status: see st), -ENOENT when valgrind
 * cannot be run, -EINVAL for text that does not parse or a command that
 * produced no record, -errno otherwise; err says why.
 */
int trace_record(char *const argv[], const char *out, const struct trace_record_opts *o,
		 struct trace_record_stats *st, char *err, size_t errlen) MUST_CHECK;

#endif
