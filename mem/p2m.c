/* SPDX-License-Identifier: MIT */
/* p2m: per-guest map from guest frame to host frame and page state. */
/*
 * Design
 *
 * One uint64_t entry per guest frame (layout in mem.h: state in bits 2..0,
 * write-protect in bit 3, value in bits 63..12), one flat array of `pages`
 * entries, and count[] of entries per state kept exact on every change.
 *
 * Transition table (mem_p2m_legal(); rows: from, columns: to; x = legal):
 *
 *                 untouched resident shared ballooned swapped
 *   untouched         .        x       .       x        .
 *   resident          x        .       x       x        x
 *   shared            .        x       .       x        .
 *   ballooned         x        .       .       .        .
 *   swapped           .        x       .       x        .
 *
 * A state never moves to itself: mem_p2m_set() is not a way to change the
 * value or the write-protect bit in place. Everything else is -EINVAL and
 * leaves the entry, the counts and the reverse map unchanged.
 *
 * Invariants (mem_p2m_check() recounts them):
 *   - sum of count[] = pages, and count[s] = entries in state s;
 *   - RESIDENT owns one pool frame (value = hfn < pool->frames); SHARED
 *     holds a reference on a frame owned by ksm (value = hfn); SWAPPED's
 *     value is its swap slot; UNTOUCHED and BALLOONED have value 0;
 *   - only RESIDENT and SHARED gfns have reverse-map records: a mapper can
 *     only cache a translation to a frame, and every transition that drops
 *     or changes the frame zaps first;
 *   - the records of all gfns number rmap_used.
 *
 * When mem_p2m_set() zaps: whenever the entry had a frame (RESIDENT or
 * SHARED) and afterwards either has none, has another one, or has the same
 * one with write-protection newly on (RESIDENT -> SHARED keeping the frame:
 * a cached writable translation must not survive write-protection). Losing
 * write-protection (SHARED -> RESIDENT on the same frame) needs no zap: a
 * stale read-only translation faults and is refilled.
 *
 * Access tracking (bits 5..4, see mem.h) is orthogonal to the state: the
 * bits survive every transition, arming zaps like a remap, and the rmap's
 * add (rmap.c) is where an armed gfn is seen touched.
 *
 * Frame ownership: mem_p2m_populate() allocates and mem_p2m_discard() frees
 * the RESIDENT frame; mem_p2m_set() never touches the pool, its caller
 * (ksm, swap, balloon) moves contents and frames itself. gfns may come from
 * a guest: every entry point checks gfn < pages and fails with -EINVAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mem/mem.h"

/* gpa = gfn << 12 must fit in 52 bits. */
#define P2M_MAX_PAGES (1ull << 40)
/* Largest value an entry holds: 64 - MEM_P2M_VAL_SHIFT bits. */
#define P2M_VAL_MAX (UINT64_MAX >> MEM_P2M_VAL_SHIFT)

static const bool p2m_table[MEM_NR_STATES][MEM_NR_STATES] = {
    [MEM_UNTOUCHED] = {[MEM_RESIDENT] = true, [MEM_BALLOONED] = true},
    [MEM_RESIDENT] =
	{[MEM_UNTOUCHED] = true, [MEM_SHARED] = true, [MEM_BALLOONED] = true, [MEM_SWAPPED] = true},
    [MEM_SHARED] = {[MEM_RESIDENT] = true, [MEM_BALLOONED] = true},
    [MEM_BALLOONED] = {[MEM_UNTOUCHED] = true},
    [MEM_SWAPPED] = {[MEM_RESIDENT] = true, [MEM_BALLOONED] = true},
};

static const char *const p2m_names[MEM_NR_STATES] = {
    [MEM_UNTOUCHED] = "untouched", [MEM_RESIDENT] = "resident", [MEM_SHARED] = "shared",
    [MEM_BALLOONED] = "ballooned", [MEM_SWAPPED] = "swapped",
};

static bool p2m_has_frame(enum mem_page_state s)
{
	return s == MEM_RESIDENT || s == MEM_SHARED;
}

/* Is val a valid value for an entry in state s? */
static bool p2m_val_ok(const struct mem_p2m *p2m, enum mem_page_state s, uint64_t val)
{
	switch (s) {
	case MEM_RESIDENT:
	case MEM_SHARED:
		return val < p2m->pool->frames;
	case MEM_SWAPPED:
		return val <= P2M_VAL_MAX;
	default:
		return val == 0;
	}
}

/* Write the entry of gfn and keep count[] exact. The access-tracking bits
 * are the page's, not the state's: they stay. */
static void p2m_store(struct mem_p2m *p2m, gfn_t gfn, enum mem_page_state to, uint64_t val, bool wp)
{
	if (p2m_has_frame(mem_p2m_state(p2m, gfn)) &&
	    (!p2m_has_frame(to) || val != mem_p2m_val(p2m, gfn)))
		p2m->remaps++;
	p2m->count[mem_p2m_state(p2m, gfn)]--;
	p2m->count[to]++;
	p2m->e[gfn] = val << MEM_P2M_VAL_SHIFT | (wp ? MEM_P2M_WP : 0) |
		      (p2m->e[gfn] & MEM_P2M_TRACK_MASK) | (uint64_t)to;
}

bool mem_p2m_legal(enum mem_page_state from, enum mem_page_state to)
{
	if ((unsigned)from >= MEM_NR_STATES || (unsigned)to >= MEM_NR_STATES)
		return false;
	return p2m_table[from][to];
}

const char *mem_p2m_state_name(enum mem_page_state s)
{
	if ((unsigned)s >= MEM_NR_STATES)
		return "invalid";
	return p2m_names[s];
}

struct mem_p2m *mem_p2m_create(struct mem_pool *pool, uint64_t pages)
{
	struct mem_p2m *p2m;

	if (!pool || pages == 0 || pages > P2M_MAX_PAGES) {
		errno = EINVAL;
		return NULL;
	}
	p2m = calloc(1, sizeof(*p2m));
	if (!p2m)
		return NULL;
	p2m->pool = pool;
	p2m->pages = pages;
	/* All zero: every entry UNTOUCHED, value 0, no rmap records. */
	p2m->e = calloc(pages, sizeof(*p2m->e));
	p2m->rmap_head = calloc(pages, sizeof(*p2m->rmap_head));
	if (!p2m->e || !p2m->rmap_head) {
		free(p2m->rmap_head);
		free(p2m->e);
		free(p2m);
		errno = ENOMEM;
		return NULL;
	}
	p2m->count[MEM_UNTOUCHED] = pages;
	return p2m;
}

void mem_p2m_destroy(struct mem_p2m *p2m)
{
	if (!p2m)
		return;
	/*
	 * No zaps: the mappers (MMUs, paging modes) are destroyed before the
	 * p2m and their records die with the rmap arrays. A SHARED entry's
	 * reference belongs to ksm, which drops it when it lets go of the
	 * guest; only the frames this p2m owns go back to the pool.
	 */
	for (gfn_t gfn = 0; gfn < p2m->pages; gfn++) {
		if (mem_p2m_state(p2m, gfn) == MEM_RESIDENT)
			mem_pool_free(p2m->pool, mem_p2m_val(p2m, gfn));
		else if (mem_p2m_state(p2m, gfn) == MEM_SWAPPED && p2m->swap)
			mem_swap_free_slot(p2m->swap, mem_p2m_val(p2m, gfn));
	}
	free(p2m->rmap);
	free(p2m->rmap_head);
	free(p2m->e);
	free(p2m);
}

int mem_p2m_populate(struct mem_p2m *p2m, gfn_t gfn, hfn_t *hfn)
{
	hfn_t h;
	int err;

	if (gfn >= p2m->pages)
		return -EINVAL;
	switch (mem_p2m_state(p2m, gfn)) {
	case MEM_RESIDENT:
		*hfn = mem_p2m_val(p2m, gfn);
		return 0;
	case MEM_UNTOUCHED:
		/* No translation can exist for an UNTOUCHED gfn: no zap. */
		err = mem_pool_alloc(p2m->pool, &h, true);
		if (err)
			return err;
		p2m_store(p2m, gfn, MEM_RESIDENT, h, false);
		*hfn = h;
		return 0;
	default:
		return -EINVAL;
	}
}

int mem_p2m_populate_huge(struct mem_p2m *p2m, gfn_t gfn, hfn_t *hfn)
{
	gfn_t base = gfn & ~(gfn_t)(MEM_HUGE_PAGES - 1);
	hfn_t h;
	int err;

	if (gfn >= p2m->pages)
		return -EINVAL;
	if (base + MEM_HUGE_PAGES > p2m->pages)
		return -EBUSY;
	for (gfn_t g = base; g < base + MEM_HUGE_PAGES; g++)
		if (mem_p2m_state(p2m, g) != MEM_UNTOUCHED)
			return -EBUSY;
	err = mem_pool_alloc_huge(p2m->pool, &h);
	if (err)
		return err;
	/* No translation can exist for an UNTOUCHED gfn: no zap. */
	for (gfn_t i = 0; i < MEM_HUGE_PAGES; i++)
		p2m_store(p2m, base + i, MEM_RESIDENT, h + i, false);
	*hfn = h + (gfn - base);
	return 0;
}

bool mem_p2m_huge_mappable(const struct mem_p2m *p2m, gfn_t gfn)
{
	gfn_t base = gfn & ~(gfn_t)(MEM_HUGE_PAGES - 1);
	uint64_t want;

	if (base + MEM_HUGE_PAGES > p2m->pages)
		return false;
	/* armed gfns (access tracking) do not count: a 2 MiB translation
	 * sees a touch of the block (mem.h) */
	want = p2m->e[base] & ~(MEM_P2M_STATE_MASK | MEM_P2M_WP | MEM_P2M_TRACK_MASK);
	if ((want >> MEM_P2M_VAL_SHIFT) % MEM_HUGE_PAGES)
		return false;
	/* entry i must be exactly RESIDENT, not write-protected, frame h + i */
	want |= MEM_RESIDENT;
	for (gfn_t i = 0; i < MEM_HUGE_PAGES; i++, want += 1ull << MEM_P2M_VAL_SHIFT)
		if ((p2m->e[base + i] & ~MEM_P2M_TRACK_MASK) != want)
			return false;
	return true;
}

int mem_p2m_set(struct mem_p2m *p2m, gfn_t gfn, enum mem_page_state to, uint64_t val, bool wp)
{
	enum mem_page_state from;
	bool keep;

	if (gfn >= p2m->pages)
		return -EINVAL;
	from = mem_p2m_state(p2m, gfn);
	if (!mem_p2m_legal(from, to) || !p2m_val_ok(p2m, to, val))
		return -EINVAL;
	/* Translations survive only a move between RESIDENT and SHARED on
	 * the same frame that does not newly write-protect it. */
	keep = p2m_has_frame(to) && val == mem_p2m_val(p2m, gfn) && (mem_p2m_wp(p2m, gfn) || !wp);
	if (p2m_has_frame(from) && !keep)
		mem_rmap_zap(p2m, gfn);
	p2m_store(p2m, gfn, to, val, wp);
	return 0;
}

int mem_p2m_discard(struct mem_p2m *p2m, gfn_t gfn)
{
	hfn_t hfn;

	if (gfn >= p2m->pages || mem_p2m_state(p2m, gfn) != MEM_RESIDENT)
		return -EINVAL;
	hfn = mem_p2m_val(p2m, gfn);
	/* Zap before the free: nothing may point at a frame in the pool. */
	mem_rmap_zap(p2m, gfn);
	p2m_store(p2m, gfn, MEM_UNTOUCHED, 0, false);
	mem_pool_free(p2m->pool, hfn);
	return 0;
}

int mem_p2m_read(const struct mem_p2m *p2m, gfn_t gfn, void *buf)
{
	if (gfn >= p2m->pages)
		return -EINVAL;
	switch (mem_p2m_state(p2m, gfn)) {
	case MEM_RESIDENT:
	case MEM_SHARED:
		memcpy(buf, mem_pool_ptr(p2m->pool, mem_p2m_val(p2m, gfn)), MEM_PAGE_SIZE);
		return 0;
	case MEM_SWAPPED:
		if (!p2m->swap)
			return -ENOSYS;
		return mem_swap_read_slot(p2m->swap, mem_p2m_val(p2m, gfn), buf);
	default:
		memset(buf, 0, MEM_PAGE_SIZE);
		return 0;
	}
}

uint8_t *mem_p2m_ptr(const struct mem_p2m *p2m, gfn_t gfn)
{
	if (gfn >= p2m->pages || !p2m_has_frame(mem_p2m_state(p2m, gfn)))
		return NULL;
	return mem_pool_ptr(p2m->pool, mem_p2m_val(p2m, gfn));
}

int mem_p2m_track_arm(struct mem_p2m *p2m, gfn_t gfn, enum mem_track_user u)
{
	if (gfn >= p2m->pages || (unsigned)u >= MEM_TRACK_NR)
		return -EINVAL;
	p2m->e[gfn] |= 1ull << (MEM_P2M_TRACK_SHIFT + u);
	/* the next access must build a translation, and so be seen */
	if (p2m_has_frame(mem_p2m_state(p2m, gfn)))
		mem_rmap_zap(p2m, gfn);
	return 0;
}

void mem_p2m_track_disarm(struct mem_p2m *p2m, gfn_t gfn, enum mem_track_user u)
{
	if (gfn < p2m->pages && (unsigned)u < MEM_TRACK_NR)
		p2m->e[gfn] &= ~(1ull << (MEM_P2M_TRACK_SHIFT + u));
}

void mem_p2m_attach_swap(struct mem_p2m *p2m, struct mem_swap *s)
{
	p2m->swap = s;
}

/* Number of rmap records of gfn, or -1 if its list is corrupt (a bad index
 * or a cycle: more links than entries). */
static int64_t p2m_check_rmap(const struct mem_p2m *p2m, gfn_t gfn)
{
	int64_t n = 0;

	for (uint32_t i = p2m->rmap_head[gfn]; i; i = p2m->rmap[i].next)
		if (i >= p2m->rmap_cap || ++n > (int64_t)p2m->rmap_cap || !p2m->rmap[i].mapper)
			return -1;
	return n;
}

int mem_p2m_check(const struct mem_p2m *p2m)
{
	uint64_t n[MEM_NR_STATES] = {0}, sum = 0, records = 0;

	for (gfn_t gfn = 0; gfn < p2m->pages; gfn++) {
		enum mem_page_state s = mem_p2m_state(p2m, gfn);
		int64_t r;

		if ((unsigned)s >= MEM_NR_STATES) {
			fprintf(stderr, "p2m: gfn %" PRIu64 ": bad state %u\n", gfn, (unsigned)s);
			return -EUCLEAN;
		}
		if (!p2m_val_ok(p2m, s, mem_p2m_val(p2m, gfn))) {
			fprintf(stderr, "p2m: gfn %" PRIu64 ": %s with bad value %" PRIu64 "\n",
				gfn, p2m_names[s], mem_p2m_val(p2m, gfn));
			return -EUCLEAN;
		}
		r = p2m_check_rmap(p2m, gfn);
		if (r < 0) {
			fprintf(stderr, "p2m: gfn %" PRIu64 ": corrupt rmap list\n", gfn);
			return -EUCLEAN;
		}
		if (r && !p2m_has_frame(s)) {
			fprintf(stderr, "p2m: gfn %" PRIu64 ": %s with %" PRId64 " rmap records\n",
				gfn, p2m_names[s], r);
			return -EUCLEAN;
		}
		records += (uint64_t)r;
		n[s]++;
	}
	for (int s = 0; s < MEM_NR_STATES; s++) {
		if (n[s] != p2m->count[s]) {
			fprintf(stderr, "p2m: count[%s] = %" PRIu64 ", recounted %" PRIu64 "\n",
				p2m_names[s], p2m->count[s], n[s]);
			return -EUCLEAN;
		}
		sum += p2m->count[s];
	}
	if (sum != p2m->pages) {
		fprintf(stderr, "p2m: counts sum to %" PRIu64 ", pages %" PRIu64 "\n", sum,
			p2m->pages);
		return -EUCLEAN;
	}
	if (records != p2m->rmap_used) {
		fprintf(stderr, "p2m: %" PRIu64 " rmap records linked, rmap_used %u\n", records,
			p2m->rmap_used);
		return -EUCLEAN;
	}
	/* Other guests may share the pool, so this is only a bound. */
	if (p2m->count[MEM_RESIDENT] > p2m->pool->used) {
		fprintf(stderr, "p2m: %" PRIu64 " resident pages, pool has %" PRIu64 " in use\n",
			p2m->count[MEM_RESIDENT], p2m->pool->used);
		return -EUCLEAN;
	}
	return 0;
}
