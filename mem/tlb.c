/* SPDX-License-Identifier: MIT */
/*
 * tlb: the set-associative TLB model in front of every paging mode.
 *
 * sets * ways entries in one array, a set's ways adjacent. An entry's tag is
 * vpn << 1 | 1 (0 = empty), so one compare tests both validity and the page.
 * The set index is the vpn's low bits. Lookups (inline in mem.h) stamp the
 * entry they hit with the next tick; a fill takes an empty way, else evicts
 * the way with the lowest stamp (the least recently used). Ages are compared
 * as tick - stamp, which stays right across a wrap of the 32-bit tick.
 * The same structure serves the kernel direct-map TLB, keyed by gfn.
 *
 * 2 MiB entries share the array (mem.h): their key has MEM_TLB_KEY_2M set,
 * so their tag has bit 62 set, and they index the sets by the 2 MiB page
 * number. The flushes that work by address or by gfn (range, page, gfn)
 * scan the array and test both kinds; they run on INVLPG, on shadow-entry
 * drops and on remaps, never on the access path. `large` counts fills of
 * pieces of guest large pages, so INVLPG scans for them only when there
 * may be some.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "mem/mem.h"

int mem_tlb_init(struct mem_tlb *tlb, unsigned entries, unsigned ways)
{
	unsigned sets;

	memset(tlb, 0, sizeof(*tlb));
	if (ways == 0 || entries == 0 || entries % ways)
		return -EINVAL;
	sets = entries / ways;
	if (sets & (sets - 1))
		return -EINVAL;
	tlb->e = calloc(entries, sizeof(*tlb->e));
	if (!tlb->e)
		return -ENOMEM;
	tlb->sets = sets;
	tlb->ways = ways;
	return 0;
}

void mem_tlb_fini(struct mem_tlb *tlb)
{
	free(tlb->e);
	tlb->e = NULL;
}

static struct mem_tlb_entry *tlb_set(struct mem_tlb *tlb, uint64_t vpn)
{
	return tlb->e + (size_t)(vpn & (tlb->sets - 1)) * tlb->ways;
}

#define TLB_TAG_2M (MEM_TLB_KEY_2M << 1)

static bool tlb_is_2m(const struct mem_tlb_entry *e)
{
	return (e->tag & TLB_TAG_2M) != 0;
}

/* First vpn an entry translates, and how many. */
static uint64_t tlb_first_vpn(const struct mem_tlb_entry *e)
{
	uint64_t key = e->tag >> 1;

	return tlb_is_2m(e) ? (key & ~MEM_TLB_KEY_2M) << MEM_HUGE_SHIFT : key;
}

static uint64_t tlb_npages(const struct mem_tlb_entry *e)
{
	return tlb_is_2m(e) ? MEM_HUGE_PAGES : 1;
}

void mem_tlb_fill(struct mem_tlb *tlb, uint64_t key, uint8_t *hptr, gfn_t gfn, uint32_t flags)
{
	struct mem_tlb_entry *set = tlb_set(tlb, key), *victim = NULL, *empty = NULL;
	uint64_t tag = key << 1 | 1;
	uint32_t oldest = 0;

	for (unsigned w = 0; w < tlb->ways; w++) {
		struct mem_tlb_entry *e = &set[w];
		uint32_t age = tlb->tick - e->stamp;

		if (e->tag == tag) { /* overwrite: never two entries per vpn */
			empty = e;
			break;
		}
		if (!e->tag) {
			if (!empty)
				empty = e;
		} else if (!victim || age > oldest) {
			victim = e;
			oldest = age;
		}
	}
	if (empty)
		victim = empty;
	assert(victim);
	victim->tag = tag;
	victim->hptr = hptr;
	victim->gfn = gfn;
	victim->flags = flags;
	victim->stamp = ++tlb->tick;
	if (flags & (MEM_TLB_G2M | MEM_TLB_G1G))
		tlb->large++;
}

void mem_tlb_flush_all(struct mem_tlb *tlb)
{
	size_t n = (size_t)tlb->sets * tlb->ways;

	for (size_t i = 0; i < n; i++)
		tlb->e[i].tag = 0;
	tlb->flushes++;
	tlb->large = 0;
}

void mem_tlb_flush_vpn(struct mem_tlb *tlb, uint64_t key)
{
	struct mem_tlb_entry *set = tlb_set(tlb, key);
	uint64_t tag = key << 1 | 1;

	for (unsigned w = 0; w < tlb->ways; w++)
		if (set[w].tag == tag)
			set[w].tag = 0;
}

void mem_tlb_flush_gfns(struct mem_tlb *tlb, gfn_t gfn, uint64_t n)
{
	size_t total = (size_t)tlb->sets * tlb->ways;

	for (size_t i = 0; i < total; i++) {
		struct mem_tlb_entry *e = &tlb->e[i];
		uint64_t len = tlb_is_2m(e) ? MEM_HUGE_PAGES : 1;

		if (e->tag && e->gfn < gfn + n && gfn < e->gfn + len)
			e->tag = 0;
	}
}

void mem_tlb_flush_gfn(struct mem_tlb *tlb, gfn_t gfn)
{
	mem_tlb_flush_gfns(tlb, gfn, 1);
}

void mem_tlb_flush_range(struct mem_tlb *tlb, uint64_t vpn, uint64_t n)
{
	size_t total = (size_t)tlb->sets * tlb->ways;

	for (size_t i = 0; i < total; i++) {
		struct mem_tlb_entry *e = &tlb->e[i];
		uint64_t first;

		if (!e->tag)
			continue;
		first = tlb_first_vpn(e);
		if (first < vpn + n && vpn < first + tlb_npages(e))
			e->tag = 0;
	}
}

void mem_tlb_flush_page(struct mem_tlb *tlb, uint64_t vpn)
{
	size_t total = (size_t)tlb->sets * tlb->ways;

	mem_tlb_flush_vpn(tlb, vpn);
	mem_tlb_flush_vpn(tlb, mem_tlb_key2m(vpn));
	if (!tlb->large)
		return;
	for (size_t i = 0; i < total; i++) {
		struct mem_tlb_entry *e = &tlb->e[i];
		unsigned shift;

		if (!e->tag || !(e->flags & (MEM_TLB_G2M | MEM_TLB_G1G)))
			continue;
		shift = (e->flags & MEM_TLB_G1G) ? 2 * MEM_HUGE_SHIFT : MEM_HUGE_SHIFT;
		if (tlb_first_vpn(e) >> shift == vpn >> shift)
			e->tag = 0;
	}
}
