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

void mem_tlb_fill(struct mem_tlb *tlb, uint64_t vpn, uint8_t *hptr, gfn_t gfn, uint32_t flags)
{
	struct mem_tlb_entry *set = tlb_set(tlb, vpn), *victim = NULL, *empty = NULL;
	uint64_t tag = vpn << 1 | 1;
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
}

void mem_tlb_flush_all(struct mem_tlb *tlb)
{
	size_t n = (size_t)tlb->sets * tlb->ways;

	for (size_t i = 0; i < n; i++)
		tlb->e[i].tag = 0;
	tlb->flushes++;
}

void mem_tlb_flush_vpn(struct mem_tlb *tlb, uint64_t vpn)
{
	struct mem_tlb_entry *set = tlb_set(tlb, vpn);
	uint64_t tag = vpn << 1 | 1;

	for (unsigned w = 0; w < tlb->ways; w++)
		if (set[w].tag == tag)
			set[w].tag = 0;
}

void mem_tlb_flush_gfn(struct mem_tlb *tlb, gfn_t gfn)
{
	size_t n = (size_t)tlb->sets * tlb->ways;

	for (size_t i = 0; i < n; i++)
		if (tlb->e[i].tag && tlb->e[i].gfn == gfn)
			tlb->e[i].tag = 0;
}
