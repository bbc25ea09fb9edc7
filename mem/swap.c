/* SPDX-License-Identifier: MIT */
/* swap: host swap, one file per host, and the choice of victims. */
/*
 * Design
 *
 * The file. One regular file per host, created by the run (O_EXCL, so a
 * typo never clobbers someone's data) and removed at the end, as ESX
 * creates and deletes a VM's .vswp. Slot i is bytes [i * 4 KiB, (i + 1) *
 * 4 KiB). The file grows sparse as slots are first written; nothing is
 * preallocated, so a full disk shows up as the write of one page failing
 * with ENOSPC, which is what the caller must survive.
 *
 * Slots. A bitmap, grown by doubling as slots are used (a host with a
 * terabyte of swap does not pay for it up front), with the lowest free
 * slot taken first from a hint word, so the file stays dense and a freed
 * slot is reused before the file grows. `slots` in the parameters caps it.
 *
 * Order of operations, which is the no-loss guarantee:
 *   out: slot <- alloc; write(frame -> slot); only if that succeeded:
 *        p2m RESIDENT -> SWAPPED(slot) (zaps every translation), free the
 *        frame. A failed write frees the slot and changes nothing else.
 *   in:  frame <- alloc; read(slot -> frame); only if that succeeded:
 *        p2m SWAPPED -> RESIDENT(frame), free the slot. A failed read
 *        frees the frame and leaves the page swapped, its slot intact.
 * The guest runs on this thread, so nothing writes the frame between the
 * write and the zap.
 *
 * I/O goes through struct mem_swap_io (pread/pwrite loops by default),
 * which tests replace to make a chosen write or read fail. Every error is
 * kept as one message naming the file, the slot and the cause.
 *
 * Victims. Random (ESX): uniform gfn draws until a RESIDENT writable page
 * comes up, at most SWAP_RANDOM_TRIES, then a scan from a random start,
 * so a guest with few resident pages still yields one in bounded time.
 * LRU: a clock over the guest's gfns using the p2m's access-tracking bit
 * MEM_TRACK_SWAP: an armed resident page was not touched since the hand
 * last passed and is the victim; an unarmed one is armed (its
 * translations zapped, so its next touch is seen) and passed over. This is
 * second-chance replacement with the accessed bit kept by the p2m instead
 * of the hardware, the way a host without usable accessed bits ages pages;
 * its cost is one refault per armed page that is still in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"

#define SWAP_RANDOM_TRIES 64
#define SWAP_MAX_SLOTS	  (1ull << 40) /* slot << 12 fits an off_t; p2m values fit */
#define SWAP_MIN_WORDS	  16u	       /* first bitmap: 1024 slots */

struct mem_swap {
	char *path;
	int fd;
	uint64_t max_slots;
	uint64_t *map; /* bit per slot, 1 = in use */
	uint64_t words;
	uint64_t hint; /* no free slot in words below this */
	const struct mem_swap_io *io;
	void *io_ctx;
	struct mem_swap_stats st;
	char err[320];
};

static int file_write(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	return util_write_full(fd, buf, len, (off_t)off);
}

static int file_read(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	(void)ctx;
	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) /* 0: the file is shorter than a written slot */
			return r < 0 ? -errno : -EIO;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static const struct mem_swap_io swap_file_io = {.write = file_write, .read = file_read};

struct mem_swap *mem_swap_create(const struct mem_swap_params *p)
{
	struct mem_swap *s;
	int e;

	if (!p || !p->path || !*p->path || p->slots > SWAP_MAX_SLOTS) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->path = strdup(p->path);
	s->words = SWAP_MIN_WORDS;
	s->map = calloc(s->words, sizeof(*s->map));
	if (!s->path || !s->map) {
		e = ENOMEM;
		goto err;
	}
	s->max_slots = p->slots ? p->slots : SWAP_MAX_SLOTS;
	s->io = p->io ? p->io : &swap_file_io;
	s->io_ctx = p->io_ctx;
	s->fd = open(p->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		e = errno;
		goto err;
	}
	return s;
err:
	free(s->map);
	free(s->path);
	free(s);
	errno = e;
	return NULL;
}

void mem_swap_destroy(struct mem_swap *s)
{
	if (!s)
		return;
	close(s->fd);
	unlink(s->path);
	free(s->map);
	free(s->path);
	free(s);
}

const char *mem_swap_error(const struct mem_swap *s)
{
	return s->err;
}

const char *mem_swap_path(const struct mem_swap *s)
{
	return s->path;
}

void mem_swap_stats(const struct mem_swap *s, struct mem_swap_stats *st)
{
	struct stat sb;

	*st = s->st;
	st->file_bytes = fstat(s->fd, &sb) ? 0 : (uint64_t)sb.st_blocks * 512;
}

static bool slot_used(const struct mem_swap *s, uint64_t slot)
{
	return slot / 64 < s->words && (s->map[slot / 64] >> (slot % 64)) & 1;
}

/* Take the lowest free slot. 0 or -ENOSPC (the cap) / -ENOMEM. */
static int slot_alloc(struct mem_swap *s, uint64_t *out)
{
	uint64_t w = s->hint, slot;

	while (w < s->words && s->map[w] == UINT64_MAX)
		w++;
	if (w == s->words) {
		uint64_t *m;

		if (s->words * 64 >= s->max_slots)
			return -ENOSPC;
		m = realloc(s->map, 2 * s->words * sizeof(*m));
		if (!m)
			return -ENOMEM;
		memset(m + s->words, 0, s->words * sizeof(*m));
		s->map = m;
		s->words *= 2;
	}
	s->hint = w;
	slot = w * 64 + (uint64_t)__builtin_ctzll(~s->map[w]);
	if (slot >= s->max_slots)
		return -ENOSPC;
	s->map[w] |= 1ull << (slot % 64);
	if (++s->st.used > s->st.peak)
		s->st.peak = s->st.used;
	*out = slot;
	return 0;
}

void mem_swap_free_slot(struct mem_swap *s, uint64_t slot)
{
	if (!slot_used(s, slot)) {
		fprintf(stderr, "%s:%d: BUG: host swap: free of slot %" PRIu64 " not in use\n",
			__FILE__, __LINE__, slot);
		abort();
	}
	s->map[slot / 64] &= ~(1ull << (slot % 64));
	if (slot / 64 < s->hint)
		s->hint = slot / 64;
	s->st.used--;
}

int mem_swap_write_slot(struct mem_swap *s, const void *page, uint64_t *slot)
{
	int r = slot_alloc(s, slot);

	if (r) {
		snprintf(s->err, sizeof(s->err), "host swap %s: %s", s->path,
			 r == -ENOSPC ? "every slot is in use" : strerror(-r));
		s->st.write_errors++;
		return r;
	}
	r = s->io->write(s->io_ctx, s->fd, page, MEM_PAGE_SIZE, *slot << MEM_PAGE_SHIFT);
	if (r) {
		/* the page is still where it was: nothing to undo but the slot */
		mem_swap_free_slot(s, *slot);
		snprintf(s->err, sizeof(s->err), "host swap %s: writing slot %" PRIu64 ": %s",
			 s->path, *slot, strerror(-r));
		s->st.write_errors++;
		return r;
	}
	s->st.outs++;
	return 0;
}

int mem_swap_out(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn)
{
	uint64_t slot;
	hfn_t hfn;
	int r;

	if (gfn >= p2m->pages || mem_p2m_state(p2m, gfn) != MEM_RESIDENT || mem_p2m_wp(p2m, gfn))
		return -EINVAL;
	hfn = mem_p2m_val(p2m, gfn);
	r = mem_swap_write_slot(s, mem_pool_ptr(p2m->pool, hfn), &slot);
	if (r)
		return r;
	r = mem_p2m_set(p2m, gfn, MEM_SWAPPED, slot, false);
	if (r) { /* cannot happen: checked RESIDENT above */
		mem_swap_free_slot(s, slot);
		s->st.outs--;
		return r;
	}
	mem_pool_free(p2m->pool, hfn); /* after the zap: nothing maps it */
	return 0;
}

/* The slot of SWAPPED gfn: 0, or -EINVAL when gfn is not swapped out here. */
static int swapped_slot(const struct mem_swap *s, const struct mem_p2m *p2m, gfn_t gfn,
			uint64_t *slot)
{
	if (gfn >= p2m->pages || mem_p2m_state(p2m, gfn) != MEM_SWAPPED)
		return -EINVAL;
	*slot = mem_p2m_val(p2m, gfn);
	return slot_used(s, *slot) ? 0 : -EINVAL;
}

int mem_swap_in(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn)
{
	uint64_t slot;
	hfn_t hfn;
	int r;

	if (swapped_slot(s, p2m, gfn, &slot))
		return -EINVAL;
	r = mem_pool_alloc(p2m->pool, &hfn, false);
	if (r)
		return r;
	r = s->io->read(s->io_ctx, s->fd, mem_pool_ptr(p2m->pool, hfn), MEM_PAGE_SIZE,
			slot << MEM_PAGE_SHIFT);
	if (r) {
		mem_pool_free(p2m->pool, hfn);
		snprintf(s->err, sizeof(s->err), "host swap %s: reading slot %" PRIu64 ": %s",
			 s->path, slot, strerror(-r));
		s->st.read_errors++;
		return r;
	}
	r = mem_p2m_set(p2m, gfn, MEM_RESIDENT, hfn, false);
	if (r) {
		mem_pool_free(p2m->pool, hfn);
		return r;
	}
	mem_swap_swapped_in(s, slot);
	return 0;
}

int mem_swap_drop(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn, enum mem_page_state to)
{
	uint64_t slot;
	int r;

	if (swapped_slot(s, p2m, gfn, &slot))
		return -EINVAL;
	r = mem_p2m_set(p2m, gfn, to, 0, false);
	if (r)
		return r;
	mem_swap_free_slot(s, slot);
	return 0;
}

int mem_swap_read_slot(const struct mem_swap *s, uint64_t slot, void *buf)
{
	if (!slot_used(s, slot))
		return -EINVAL;
	return s->io->read(s->io_ctx, s->fd, buf, MEM_PAGE_SIZE, slot << MEM_PAGE_SHIFT) ? -EIO : 0;
}

void mem_swap_swapped_in(struct mem_swap *s, uint64_t slot)
{
	mem_swap_free_slot(s, slot);
	s->st.ins++;
}

/* ---- victims ---- */

int mem_swap_victim_parse(const char *s, enum mem_swap_victim *out)
{
	if (!strcmp(s, "random"))
		*out = MEM_SWAP_RANDOM;
	else if (!strcmp(s, "lru"))
		*out = MEM_SWAP_LRU;
	else
		return -EINVAL;
	return 0;
}

const char *mem_swap_victim_name(enum mem_swap_victim v)
{
	return v == MEM_SWAP_LRU ? "lru" : "random";
}

static bool swappable(const struct mem_p2m *p2m, gfn_t gfn)
{
	return mem_p2m_state(p2m, gfn) == MEM_RESIDENT && !mem_p2m_wp(p2m, gfn);
}

static uint64_t cursor_below(struct mem_swap_cursor *c, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)util_xorshift64s(&c->rng) * n) >> 64);
}

static int pick_random(struct mem_p2m *p2m, struct mem_swap_cursor *c, gfn_t *out)
{
	uint64_t start;

	for (unsigned i = 0; i < SWAP_RANDOM_TRIES; i++) {
		gfn_t gfn = cursor_below(c, p2m->pages);

		if (swappable(p2m, gfn)) {
			*out = gfn;
			return 0;
		}
	}
	start = cursor_below(c, p2m->pages);
	for (uint64_t i = 0; i < p2m->pages; i++) {
		gfn_t gfn = (start + i) % p2m->pages;

		if (swappable(p2m, gfn)) {
			*out = gfn;
			return 0;
		}
	}
	return -ENOENT;
}

static int pick_clock(struct mem_p2m *p2m, struct mem_swap_cursor *c, gfn_t *out)
{
	/* two turns: the first may only arm, the second then finds one */
	for (uint64_t n = 0; n < 2 * p2m->pages + 1; n++) {
		gfn_t gfn = c->hand;

		c->hand = gfn + 1 < p2m->pages ? gfn + 1 : 0;
		if (!swappable(p2m, gfn))
			continue;
		if (mem_p2m_track_armed(p2m, gfn, MEM_TRACK_SWAP)) {
			mem_p2m_track_disarm(p2m, gfn, MEM_TRACK_SWAP);
			*out = gfn;
			return 0;
		}
		if (mem_p2m_track_arm(p2m, gfn, MEM_TRACK_SWAP))
			return -EINVAL; /* gfn < pages: cannot happen */
		c->arms++;
	}
	return -ENOENT;
}

int mem_swap_pick(struct mem_p2m *p2m, enum mem_swap_victim how, struct mem_swap_cursor *c,
		  gfn_t *out)
{
	if (!p2m->count[MEM_RESIDENT])
		return -ENOENT;
	if (c->hand >= p2m->pages)
		c->hand = 0;
	return how == MEM_SWAP_LRU ? pick_clock(p2m, c, out) : pick_random(p2m, c, out);
}
