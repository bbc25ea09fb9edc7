/* SPDX-License-Identifier: MIT */
/* rmap: reverse map from a guest frame to the translations that cache it. */
/*
 * Design
 *
 * The records live in the p2m (struct mem_p2m): one array rmap[] of
 * struct mem_rmap_entry, indexed by uint32_t, grown by doubling with
 * realloc. Index 0 is reserved and means "none", so a zeroed rmap_head[]
 * (pages * 4 bytes, allocated with the p2m) is a map with no records.
 *
 *   rmap_head[gfn] -> rmap[i] -> rmap[i.next] -> ... -> 0
 *   rmap_free      -> rmap[j] -> ...          -> 0   (unused entries)
 *
 * Each gfn's records form a singly linked list through `next`, newest
 * first; unused entries form the free list through the same field and have
 * mapper == NULL. rmap_used counts records, rmap_cap the entries of the
 * array (index 0 included). Entries are never shrunk: the array's size is
 * the peak number of translations, which the mappers bound.
 *
 * Cost: add is O(1); del and count walk the gfn's list, which holds one
 * record per mapper structure that maps the gfn (a handful); zap walks it
 * once. Since realloc may move the array, nobody keeps pointers into it:
 * mappers identify records by (mapper, ref), their own handle.
 *
 * Only RESIDENT and SHARED gfns may have records (a translation needs a
 * frame); mem_rmap_add() refuses the others with -EINVAL, so that
 * mem_p2m_check() can hold it as an invariant. Duplicate (mapper, ref)
 * records are allowed; mem_rmap_del() removes one of them.
 *
 * Access tracking: an add for a gfn with armed tracking bits (mem.h) is
 * the touch those bits wait for; it clears them and counts the hits.
 *
 * Zap: mem_rmap_zap() unlinks the whole list of the gfn, then, record by
 * record, frees it and calls mapper->ops->zap(mapper, gfn, ref). The zap
 * callback must not add or zap (an add could move the array under the
 * loop, a zap would re-enter it); its own record is already gone. It may
 * delete records of other gfns: a mapper that drops a 2 MiB translation
 * forgets the records of the 511 other gfns it covered. That is safe
 * because the loop holds only the detached list of this gfn, whose entries
 * are on no other list, and a delete only unlinks from another gfn's list
 * and pushes onto the free list.
 */
#include <errno.h>
#include <stdlib.h>

#include "mem/mem.h"

/* First allocation, entries (index 0 included). */
#define RMAP_MIN_CAP 256u

/* Grow the array; called with the free list empty, which then holds the
 * new entries in ascending order. Returns 0 or -ENOMEM. */
static int rmap_grow(struct mem_p2m *p2m)
{
	uint32_t old = p2m->rmap_cap, cap, first = old ? old : 1;
	struct mem_rmap_entry *r;

	if (old == UINT32_MAX)
		return -ENOMEM;
	if (old == 0)
		cap = RMAP_MIN_CAP;
	else if (old > UINT32_MAX / 2)
		cap = UINT32_MAX;
	else
		cap = old * 2;
	r = realloc(p2m->rmap, (size_t)cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (!old)
		r[0] = (struct mem_rmap_entry){0};
	for (uint32_t i = first; i < cap; i++)
		r[i] = (struct mem_rmap_entry){.next = i + 1 < cap ? i + 1 : 0};
	p2m->rmap = r;
	p2m->rmap_cap = cap;
	p2m->rmap_free = first;
	return 0;
}

/* Put entry i back on the free list. */
static void rmap_put(struct mem_p2m *p2m, uint32_t i)
{
	p2m->rmap[i] = (struct mem_rmap_entry){.mapper = NULL, .ref = 0, .next = p2m->rmap_free};
	p2m->rmap_free = i;
	p2m->rmap_used--;
}

int mem_rmap_add(struct mem_p2m *p2m, gfn_t gfn, struct mem_mapper *m, uint64_t ref)
{
	enum mem_page_state s;
	uint32_t i;
	int err;

	if (gfn >= p2m->pages || !m || !m->ops || !m->ops->zap)
		return -EINVAL;
	s = mem_p2m_state(p2m, gfn);
	if (s != MEM_RESIDENT && s != MEM_SHARED)
		return -EINVAL;
	if (!p2m->rmap_free) {
		err = rmap_grow(p2m);
		if (err)
			return err;
	}
	i = p2m->rmap_free;
	p2m->rmap_free = p2m->rmap[i].next;
	p2m->rmap[i] =
	    (struct mem_rmap_entry){.mapper = m, .ref = ref, .next = p2m->rmap_head[gfn]};
	p2m->rmap_head[gfn] = i;
	p2m->rmap_used++;
	if (p2m->e[gfn] & MEM_P2M_TRACK_MASK) {
		/* a mapper builds a translation for an access: the armed page
		 * was touched, for every user that armed it */
		for (unsigned u = 0; u < MEM_TRACK_NR; u++)
			if ((p2m->e[gfn] >> (MEM_P2M_TRACK_SHIFT + u)) & 1)
				p2m->track_hits[u]++;
		p2m->e[gfn] &= ~MEM_P2M_TRACK_MASK;
	}
	return 0;
}

int mem_rmap_del(struct mem_p2m *p2m, gfn_t gfn, struct mem_mapper *m, uint64_t ref)
{
	if (gfn >= p2m->pages)
		return -EINVAL;
	for (uint32_t *link = &p2m->rmap_head[gfn]; *link; link = &p2m->rmap[*link].next) {
		uint32_t i = *link;

		if (p2m->rmap[i].mapper == m && p2m->rmap[i].ref == ref) {
			*link = p2m->rmap[i].next;
			rmap_put(p2m, i);
			return 0;
		}
	}
	return -ENOENT;
}

void mem_rmap_zap(struct mem_p2m *p2m, gfn_t gfn)
{
	uint32_t i;

	if (gfn >= p2m->pages)
		return;
	i = p2m->rmap_head[gfn];
	p2m->rmap_head[gfn] = 0;
	while (i) {
		struct mem_rmap_entry e = p2m->rmap[i];

		rmap_put(p2m, i);
		e.mapper->ops->zap(e.mapper, gfn, e.ref);
		i = e.next;
	}
}

unsigned mem_rmap_count(const struct mem_p2m *p2m, gfn_t gfn)
{
	unsigned n = 0;

	if (gfn >= p2m->pages)
		return 0;
	for (uint32_t i = p2m->rmap_head[gfn]; i; i = p2m->rmap[i].next)
		n++;
	return n;
}
