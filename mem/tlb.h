/* SPDX-License-Identifier: MIT */
/* mem/tlb.h: the TLB model (part of mem/mem.h, which includes every part). */
#ifndef MEM_TLB_H
#define MEM_TLB_H

#include "mem/mem_types.h"

/* ------------------------------------------------------------------------
 * TLB model (tlb.c): set-associative, LRU within a set, untagged (a CR3
 * write flushes it, as without PCID). Entries must be a multiple of ways and
 * the number of sets a power of two.
 *
 * One array holds 4 KiB and 2 MiB translations, as the second-level TLB of
 * Skylake-class cores does: a 4 KiB entry is keyed by its vpn, a 2 MiB entry
 * by mem_tlb_key2m(vpn) (the 2 MiB page number with MEM_TLB_KEY_2M set), and
 * maps the whole aligned 2 MiB: hptr is the host address of its first byte,
 * gfn its first guest frame. A 2 MiB entry exists only where both
 * dimensions map 2 MiB or more (the guest page and the EPT or shadow
 * mapping); a guest large page over 4 KiB host mappings is cached as 4 KiB
 * pieces flagged MEM_TLB_G2M / MEM_TLB_G1G, which INVLPG of any address in
 * the guest page drops together (mem_tlb_flush_page), as on hardware.
 */
#define MEM_TLB_W                                                                                  \
	1u		   /* a write may complete without a walk: writable all                    \
			      the way and the guest PTE's D bit already set */
#define MEM_TLB_U      2u  /* user-accessible */
#define MEM_TLB_NX     4u  /* no instruction fetch */
#define MEM_TLB_G2M    8u  /* part of a guest 2 MiB page */
#define MEM_TLB_G1G    16u /* part of a guest 1 GiB page */

#define MEM_TLB_KEY_2M (1ull << 61)
/* Key of the 2 MiB entry that would cover vpn. */
static inline uint64_t mem_tlb_key2m(uint64_t vpn)
{
	return MEM_TLB_KEY_2M | (vpn >> MEM_HUGE_SHIFT);
}

struct mem_tlb_entry {
	uint64_t tag;	/* key << 1 | 1 when valid, 0 when empty */
	uint8_t *hptr;	/* host address of the 4 KiB frame (2 MiB: run) */
	gfn_t gfn;	/* guest frame it maps (2 MiB: the first) */
	uint32_t flags; /* MEM_TLB_* */
	uint32_t stamp; /* LRU: larger is more recent */
};
struct mem_tlb {
	unsigned sets, ways;
	uint32_t tick;
	struct mem_tlb_entry *e; /* sets * ways */
	uint64_t flushes;
	uint64_t large; /* fills flagged G2M/G1G since the last flush_all */
};

/* Set up a TLB of `entries` entries, `ways` per set. 0 or -EINVAL/-ENOMEM. */
int mem_tlb_init(struct mem_tlb *tlb, unsigned entries, unsigned ways) MUST_CHECK;
void mem_tlb_fini(struct mem_tlb *tlb);

/* The entry of vpn, not made the most recent (no access is counted):
 * NULL if none. */
static inline struct mem_tlb_entry *mem_tlb_peek(struct mem_tlb *tlb, uint64_t vpn)
{
	struct mem_tlb_entry *e = tlb->e + (size_t)(vpn & (tlb->sets - 1)) * tlb->ways;
	uint64_t tag = vpn << 1 | 1;

	for (unsigned w = 0; w < tlb->ways; w++)
		if (e[w].tag == tag)
			return &e[w];
	return NULL;
}
/* The entry of vpn, now the most recent in its set (a hit), or NULL. */
static inline struct mem_tlb_entry *mem_tlb_lookup(struct mem_tlb *tlb, uint64_t vpn)
{
	struct mem_tlb_entry *e = mem_tlb_peek(tlb, vpn);

	if (e)
		e->stamp = ++tlb->tick;
	return e;
}
/* Insert or overwrite the entry of key (a vpn, or a 2 MiB key), evicting
 * the set's LRU entry. */
void mem_tlb_fill(struct mem_tlb *tlb, uint64_t key, uint8_t *hptr, gfn_t gfn, uint32_t flags);
void mem_tlb_flush_all(struct mem_tlb *tlb);
/* Drop the entry of key (exactly that key). */
void mem_tlb_flush_vpn(struct mem_tlb *tlb, uint64_t key);
/* Drop every entry that maps gfn, 2 MiB entries covering it included. */
void mem_tlb_flush_gfn(struct mem_tlb *tlb, gfn_t gfn);
/* The same for every gfn of [gfn, gfn + n), in one scan. */
void mem_tlb_flush_gfns(struct mem_tlb *tlb, gfn_t gfn, uint64_t n);
/* Drop every 4 KiB and 2 MiB entry that translates a page of
 * [vpn, vpn + n): a scan of the whole array. */
void mem_tlb_flush_range(struct mem_tlb *tlb, uint64_t vpn, uint64_t n);
/* INVLPG of vpn: its 4 KiB entry, the 2 MiB entry covering it, and every
 * piece of a guest large page containing it. */
void mem_tlb_flush_page(struct mem_tlb *tlb, uint64_t vpn);

#endif
