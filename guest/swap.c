/* SPDX-License-Identifier: MIT */
/* guest swap: per-guest swap areas carved from one unlinked store file. */
/*
 * A store is one unlinked temporary file, so a thousand guests cost one
 * descriptor and the disk space goes away with the process. The file is
 * cut into extents of GUEST_SWAP_EXTENT slots (1 MiB). An area (one
 * guest's swap) maps its slot range onto extents taken on first use of any
 * slot in them: the next never-used extent at the end of the file, or one
 * an earlier area gave back (the store's free-extent list, whose capacity
 * always covers every extent carved, so giving back cannot fail). A
 * destroyed area's extents are also punched out of the file so the disk
 * blocks are freed.
 *
 * Areas keep a bitmap of slots in use and allocate the lowest free slot
 * (from a hint), which keeps the extents an area touches few.
 * I/O is pread/pwrite of whole pages, looping over partial transfers and
 * EINTR. A transfer that makes no progress is -EIO; a full disk -ENOSPC.
 * The last error of an area is kept as a message (guest_swap_error).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/guest_internal.h"

#define GUEST_SWAP_EXTENT 256u /* slots per extent */
#define GUEST_SWAP_NO_EXT UINT64_MAX
#define GUEST_SWAP_ERRLEN 160

struct guest_swap_store {
	int fd;
	uint64_t next_ext;  /* extents [0, next_ext) have been carved */
	uint64_t *free_ext; /* extents given back, ready for reuse */
	uint64_t nfree_ext;
	uint64_t cap_ext; /* capacity of free_ext, >= next_ext */
	uint64_t areas;	  /* live areas */
};

struct guest_swap {
	struct guest_swap_store *st; /* borrowed */
	uint64_t slots;
	uint64_t used;
	uint64_t hint;	  /* no free slot in bitmap words below this */
	uint64_t *bitmap; /* 1 = slot in use; bits past `slots` set */
	uint64_t *ext;	  /* per extent of the area: store extent or NO_EXT */
	char *err;	  /* GUEST_SWAP_ERRLEN bytes: the last error */
};

struct guest_swap_store *guest_swap_store_create(const char *dir)
{
	struct guest_swap_store *st;
	char path[4096];
	int n;

	if (!dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	n = snprintf(path, sizeof(path), "%s/memvisor-swap-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->fd = mkostemp(path, O_CLOEXEC);
	if (st->fd < 0) {
		int e = errno;

		free(st);
		errno = e;
		return NULL;
	}
	unlink(path);
	return st;
}

void guest_swap_store_destroy(struct guest_swap_store *st)
{
	if (!st)
		return;
	assert(st->areas == 0);
	close(st->fd);
	free(st->free_ext);
	free(st);
}

uint64_t guest_swap_store_bytes(const struct guest_swap_store *st)
{
	struct stat sb;

	if (fstat(st->fd, &sb))
		return 0;
	return (uint64_t)sb.st_blocks * 512;
}

/* An extent for an area: a reused one, else a new one at the file's end. */
static int guest_swap_take_extent(struct guest_swap_store *st, uint64_t *out)
{
	if (st->nfree_ext) {
		*out = st->free_ext[--st->nfree_ext];
		return 0;
	}
	if (st->next_ext == st->cap_ext) {
		uint64_t cap = st->cap_ext ? 2 * st->cap_ext : 64;
		uint64_t *f = realloc(st->free_ext, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		st->free_ext = f;
		st->cap_ext = cap;
	}
	*out = st->next_ext++;
	return 0;
}

struct guest_swap *guest_swap_create(struct guest_swap_store *st, uint64_t slots)
{
	uint64_t words = (slots + 63) / 64,
		 nexts = (slots + GUEST_SWAP_EXTENT - 1) / GUEST_SWAP_EXTENT;
	struct guest_swap *sw;

	if (!st || slots >= GUEST_SWAP_SLOT_MAX) {
		errno = EINVAL;
		return NULL;
	}
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return NULL;
	sw->st = st;
	sw->slots = slots;
	sw->bitmap = calloc(words ? words : 1, sizeof(uint64_t));
	sw->ext = malloc((nexts ? nexts : 1) * sizeof(uint64_t));
	sw->err = calloc(1, GUEST_SWAP_ERRLEN);
	if (!sw->bitmap || !sw->ext || !sw->err) {
		free(sw->bitmap);
		free(sw->ext);
		free(sw->err);
		free(sw);
		errno = ENOMEM;
		return NULL;
	}
	if (slots % 64)
		sw->bitmap[words - 1] = ~0ull << (slots % 64);
	for (uint64_t i = 0; i < nexts; i++)
		sw->ext[i] = GUEST_SWAP_NO_EXT;
	st->areas++;
	return sw;
}

void guest_swap_destroy(struct guest_swap *sw)
{
	struct guest_swap_store *st;
	uint64_t nexts;

	if (!sw)
		return;
	st = sw->st;
	nexts = (sw->slots + GUEST_SWAP_EXTENT - 1) / GUEST_SWAP_EXTENT;
	for (uint64_t i = 0; i < nexts; i++) {
		if (sw->ext[i] == GUEST_SWAP_NO_EXT)
			continue;
		/* Free the disk blocks; a file system without hole punching
		 * just keeps them for the next area. */
		(void)!fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (off_t)(sw->ext[i] * GUEST_SWAP_EXTENT * MEM_PAGE_SIZE),
				 (off_t)GUEST_SWAP_EXTENT * MEM_PAGE_SIZE);
		assert(st->nfree_ext < st->cap_ext);
		st->free_ext[st->nfree_ext++] = sw->ext[i];
	}
	st->areas--;
	free(sw->bitmap);
	free(sw->ext);
	free(sw->err);
	free(sw);
}

static int guest_swap_errf(const struct guest_swap *sw, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int guest_swap_errf(const struct guest_swap *sw, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sw->err, GUEST_SWAP_ERRLEN, fmt, ap);
	va_end(ap);
	return r;
}

const char *guest_swap_error(const struct guest_swap *sw)
{
	return sw->err;
}

int guest_swap_alloc(struct guest_swap *sw, uint64_t *slot)
{
	uint64_t words = (sw->slots + 63) / 64;

	for (uint64_t w = sw->hint; w < words; w++) {
		uint64_t s, e;

		if (sw->bitmap[w] == ~0ull)
			continue;
		s = w * 64 + (uint64_t)__builtin_ctzll(~sw->bitmap[w]);
		e = s / GUEST_SWAP_EXTENT;
		if (sw->ext[e] == GUEST_SWAP_NO_EXT && guest_swap_take_extent(sw->st, &sw->ext[e]))
			return guest_swap_errf(sw, -ENOMEM, "no memory for a swap extent");
		sw->bitmap[w] |= 1ull << (s % 64);
		sw->hint = w;
		sw->used++;
		*slot = s;
		return 0;
	}
	sw->hint = words;
	return guest_swap_errf(sw, -ENOSPC, "swap area full (%" PRIu64 " slots)", sw->slots);
}

static bool guest_swap_in_use(const struct guest_swap *sw, uint64_t slot)
{
	return slot < sw->slots && (sw->bitmap[slot / 64] >> (slot % 64) & 1);
}

void guest_swap_free(struct guest_swap *sw, uint64_t slot)
{
	assert(guest_swap_in_use(sw, slot));
	sw->bitmap[slot / 64] &= ~(1ull << (slot % 64));
	if (slot / 64 < sw->hint)
		sw->hint = slot / 64;
	sw->used--;
}

uint64_t guest_swap_used(const struct guest_swap *sw)
{
	return sw->used;
}

static off_t guest_swap_offset(const struct guest_swap *sw, uint64_t slot)
{
	uint64_t ext = sw->ext[slot / GUEST_SWAP_EXTENT];

	return (off_t)((ext * GUEST_SWAP_EXTENT + slot % GUEST_SWAP_EXTENT) * MEM_PAGE_SIZE);
}

/* Move one page between buf and slot, whole: pwrite for a write, pread for a
 * read, retried on EINTR and short transfers. Messages name the slot. */
static int swap_transfer(const struct guest_swap *sw, uint64_t slot, uint8_t *buf, bool write)
{
	const char *what = write ? "write" : "read";
	off_t off;
	size_t done = 0;

	if (!guest_swap_in_use(sw, slot))
		return guest_swap_errf(sw, -EINVAL, "%s %s swap slot %" PRIu64 " not allocated",
				       what, write ? "to" : "of", slot);
	off = guest_swap_offset(sw, slot);
	while (done < MEM_PAGE_SIZE) {
		ssize_t n =
		    write ? pwrite(sw->st->fd, buf + done, MEM_PAGE_SIZE - done, off + (off_t)done)
			  : pread(sw->st->fd, buf + done, MEM_PAGE_SIZE - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return guest_swap_errf(sw, -errno, "%s of swap slot %" PRIu64 ": %s", what,
					       slot, strerror(errno));
		if (n == 0)
			return guest_swap_errf(sw, -EIO,
					       "short %s of swap slot %" PRIu64 ": %zu of %u bytes",
					       what, slot, done, MEM_PAGE_SIZE);
		done += (size_t)n;
	}
	return 0;
}

int guest_swap_write(struct guest_swap *sw, uint64_t slot, const void *page)
{
	/* pwrite only reads the buffer: the cast drops const for the shared path */
	return swap_transfer(sw, slot, (uint8_t *)(uintptr_t)page, true);
}

int guest_swap_read(const struct guest_swap *sw, uint64_t slot, void *page)
{
	return swap_transfer(sw, slot, page, false);
}
