/* SPDX-License-Identifier: MIT */
/* traces lackey: valgrind lackey's --trace-mem=yes text, read and written. */
/*
 * lackey (valgrind's lackey/lk_main.c) prints, through VG_(printf) to its
 * log, "I  %08lx,%lu" for an instruction fetch and " %c %08lx,%lu" with
 * L, S or M for data, one per line, interleaved with valgrind's own
 * "==PID==" messages when they share the log. The reader takes any line
 * that starts with one of those four prefixes as a record, and insists it
 * parses: hexadecimal address (1 to 16 digits), a comma, a decimal size of
 * at most TRACE_SIZE_MAX, optional trailing blanks or '\r'. Any other line
 * is skipped and counted. A record line that does not parse is malformed:
 * the message names the file and line, and shows the line.
 *
 * Input is read with read(2) into a 64 KiB buffer and parsed in place, so a
 * pipe from a running valgrind works, and the text is never held whole. A
 * line longer than the buffer is skipped (or malformed, if it starts like
 * a record) without being stored.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "traces/traces_internal.h"

#define LK_BUF TRACE_LK_BUF

struct trace_lackey {
	char name[512];
	int fd;
	char *buf;
	size_t pos, len; /* unread bytes are buf[pos, len) */
	bool eof;
	bool discarding;     /* inside a line longer than the buffer */
	bool discard_record; /* ... which started like a record */
	uint64_t lines, skipped;
	uint64_t bytes;	 /* read so far */
	unsigned nap_us; /* wait after a short read (a pipe of tiny writes) */
	char err[768];
};

struct trace_lackey *trace_lackey_open(int fd, const char *name)
{
	struct trace_lackey *lk = calloc(1, sizeof(*lk));

	if (!lk)
		return NULL;
	lk->buf = malloc(LK_BUF);
	if (!lk->buf) {
		free(lk);
		errno = ENOMEM;
		return NULL;
	}
	lk->fd = fd;
	snprintf(lk->name, sizeof(lk->name), "%s", name);
	return lk;
}

void trace_lackey_close(struct trace_lackey *lk)
{
	if (!lk)
		return;
	free(lk->buf);
	free(lk);
}

uint64_t trace_lackey_skipped(const struct trace_lackey *lk)
{
	return lk->skipped;
}

uint64_t trace_lackey_lines(const struct trace_lackey *lk)
{
	return lk->lines;
}

void trace_lackey_nap(struct trace_lackey *lk, unsigned usec)
{
	lk->nap_us = usec;
}

uint64_t trace_lackey_bytes(const struct trace_lackey *lk)
{
	return lk->bytes;
}

const char *trace_lackey_error(const struct trace_lackey *lk)
{
	return lk->err;
}

/* Kind of a line by its first three bytes, or -1 for a non-record. */
static int lk_kind(const char *s, size_t n)
{
	if (n < 3)
		return -1;
	if (s[0] == 'I' && s[1] == ' ' && s[2] == ' ')
		return TRACE_INSTR;
	if (s[0] != ' ' || s[2] != ' ')
		return -1;
	switch (s[1]) {
	case 'L':
		return TRACE_LOAD;
	case 'S':
		return TRACE_STORE;
	case 'M':
		return TRACE_MODIFY;
	}
	return -1;
}

static inline int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse "HEX,DEC[ \t\r]*" of s[0, n) into r. */
static bool lk_parse(const char *s, size_t n, struct trace_rec *r)
{
	size_t i = 0, digits;
	uint64_t addr = 0, size = 0;

	for (digits = 0; i < n && hexval(s[i]) >= 0; i++, digits++) {
		if (digits == 16)
			return false;
		addr = addr << 4 | (uint64_t)hexval(s[i]);
	}
	if (!digits || i == n || s[i++] != ',')
		return false;
	for (digits = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		size = size * 10 + (uint64_t)(s[i] - '0');
		if (size > TRACE_SIZE_MAX)
			return false;
	}
	if (!digits)
		return false;
	for (; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	if (size && addr + size - 1 < addr)
		return false;
	r->addr = addr;
	r->size = (uint32_t)size;
	return true;
}

static int lk_malformed(struct trace_lackey *lk, const char *s, size_t n)
{
	size_t show = n > 60 ? 60 : n;
	char text[64];

	for (size_t i = 0; i < show; i++)
		text[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	text[show] = 0;
	snprintf(lk->err, sizeof(lk->err),
		 "%s:%" PRIu64 ": malformed lackey record '%s%s': expected "
		 "'I  ADDR,SIZE' or ' L|S|M ADDR,SIZE' with a hexadecimal address and a "
		 "size of at most %u",
		 lk->name, lk->lines, text, n > show ? "..." : "", TRACE_SIZE_MAX);
	return -EINVAL;
}

/* Refill the buffer, keeping the unread bytes. 0, or -errno. */
static int lk_fill(struct trace_lackey *lk)
{
	ssize_t n;

	if (lk->pos) {
		memmove(lk->buf, lk->buf + lk->pos, lk->len - lk->pos);
		lk->len -= lk->pos;
		lk->pos = 0;
	}
	do
		n = read(lk->fd, lk->buf + lk->len, LK_BUF - lk->len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		snprintf(lk->err, sizeof(lk->err), "%s: read after line %" PRIu64 ": %s", lk->name,
			 lk->lines, strerror(e));
		return -e;
	}
	if (n == 0)
		lk->eof = true;
	else if (lk->nap_us && (size_t)n < LK_BUF / 4)
		usleep(lk->nap_us); /* let the writer fill the pipe meanwhile */
	lk->len += (size_t)n;
	lk->bytes += (uint64_t)n;
	return 0;
}

/* One complete line of s[0, n), without its newline. */
static int lk_line(struct trace_lackey *lk, const char *s, size_t n, struct trace_rec *r)
{
	int kind;

	lk->lines++;
	if (lk->discarding) {
		/* the tail of a line longer than the buffer */
		lk->discarding = false;
		if (lk->discard_record)
			return lk_malformed(lk, "(a line longer than 64 KiB)", 27);
		lk->skipped++;
		return 0;
	}
	kind = lk_kind(s, n);
	if (kind < 0) {
		lk->skipped++;
		return 0;
	}
	if (!lk_parse(s + 3, n - 3, r))
		return lk_malformed(lk, s, n);
	r->kind = (uint8_t)kind;
	r->pid = 1;
	r->image = 0;
	r->arg = 0;
	return 1;
}

int trace_lackey_next(struct trace_lackey *lk, struct trace_rec *r)
{
	for (;;) {
		char *s = lk->buf + lk->pos;
		size_t avail = lk->len - lk->pos;
		char *nl = memchr(s, '\n', avail);
		int e;

		if (nl) {
			lk->pos += (size_t)(nl - s) + 1;
			e = lk_line(lk, s, (size_t)(nl - s), r);
		} else if (lk->eof) {
			if (!avail)
				return 0;
			lk->pos = lk->len; /* a last line without newline */
			e = lk_line(lk, s, avail, r);
		} else if (avail == LK_BUF) {
			/* a line longer than the buffer: drop what we have */
			if (!lk->discarding)
				lk->discard_record = lk_kind(s, avail) >= 0;
			lk->discarding = true;
			lk->pos = lk->len;
			e = 0;
		} else {
			e = lk_fill(lk);
			if (e)
				return e;
			continue;
		}
		if (e)
			return e;
	}
}

int trace_lackey_write(FILE *f, const struct trace_rec *r)
{
	static const char kc[] = {'I', 'L', 'S', 'M'};
	int n;

	if (r->kind > TRACE_MODIFY)
		return -EINVAL;
	if (r->kind == TRACE_INSTR)
		n = fprintf(f, "I  %08" PRIx64 ",%" PRIu32 "\n", r->addr, r->size);
	else
		n = fprintf(f, " %c %08" PRIx64 ",%" PRIu32 "\n", kc[r->kind], r->addr, r->size);
	return n < 0 ? -EIO : 0;
}
