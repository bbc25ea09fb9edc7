/* SPDX-License-Identifier: MIT */
/* guest page tables: 4-level x86-64 tables in guest memory, via mmu_phys. */
#include <errno.h>
#include <inttypes.h>

#include "guest/guest_internal.h"

/*
 * Every process has a PML4 -> PDPT -> PD -> PT hierarchy of 4 KiB guest
 * frames in the format of the hardware (mem.h: PTE_*), read and written
 * with 8-byte mmu_phys accesses like a kernel's direct map. Entry stores
 * go through guest_pt_store(), which counts them: under shadow paging each
 * one to a shadowed table is a PT-write exit.
 *
 *   intermediate entry   table gpa | P | W | U    (the MMU adds A)
 *   user leaf, present   frame gpa | P | W | U    (the MMU adds A, D)
 *   2 MiB user page      block gpa | P | W | U | PS, in the PD (p.large)
 *   empty                0                        (never touched: the fault
 *                                                  handler zero-fills)
 *   swap entry           P = 0, the rest ours:
 *
 *     63..52  51..12        11..2  1     0
 *     0       swap slot     0      SWAP  P=0
 *
 * SWAP (bit 1, where a present entry keeps W) tells a swapped-out page from
 * an empty entry, so slot 0 is a valid slot. Slots are below 2^40.
 */
uint64_t guest_pte_mk_swap(uint64_t slot)
{
	assert(slot < GUEST_SWAP_SLOT_MAX);
	return slot << MEM_PAGE_SHIFT | GUEST_PTE_SWAP;
}

bool guest_pte_is_swap(uint64_t pte)
{
	return !(pte & PTE_P) && (pte & GUEST_PTE_SWAP);
}

uint64_t guest_pte_swap_slot(uint64_t pte)
{
	return (pte & PTE_ADDR_MASK) >> MEM_PAGE_SHIFT;
}

int guest_pt_alloc(struct guest_os *g, gpa_t *gpa)
{
	gfn_t gfn;
	int r = guest_frame_alloc(g, GUEST_PG_PT, 0, 0, &gfn);

	if (r)
		return r;
	/* A new table must read as all not-present. */
	r = guest_phys(g, mem_gfn_to_gpa(gfn), g->zero, MEM_PAGE_SIZE, MMU_WRITE);
	if (r)
		return r;
	*gpa = mem_gfn_to_gpa(gfn);
	return 0;
}

int guest_pt_store(struct guest_os *g, gpa_t gpa, uint64_t v)
{
	g->st.pt_stores++;
	return guest_phys_write64(g, gpa, v);
}

int guest_pt_walk(struct guest_os *g, gpa_t root, gva_t va, bool alloc, gpa_t *pte_gpa)
{
	return guest_pt_walk_level(g, root, va, 1, alloc, pte_gpa);
}

int guest_pt_walk_level(struct guest_os *g, gpa_t root, gva_t va, int leaf, bool alloc,
			gpa_t *pte_gpa)
{
	gpa_t table = root;

	for (int level = 4; level > leaf; level--) {
		gpa_t ea = table + 8u * pte_index(va, level);
		uint64_t e;
		int r = guest_phys_read64(g, ea, &e);

		if (r)
			return r;
		if (!(e & PTE_P)) {
			gpa_t sub;

			if (e)
				return guest_detail(g, -EUCLEAN,
						    "level-%d entry 0x%" PRIx64 " at gpa 0x%" PRIx64
						    " is not present but not empty",
						    level, e, ea);
			if (!alloc)
				return -ENOENT;
			r = guest_pt_alloc(g, &sub);
			if (r)
				return r;
			e = sub | GUEST_PTE_TABLE;
			r = guest_pt_store(g, ea, e);
			if (r)
				return r;
		} else if (e & PTE_PS) {
			return guest_detail(g, -EUCLEAN,
					    "level-%d entry 0x%" PRIx64 " at gpa 0x%" PRIx64
					    " maps a large page",
					    level, e, ea);
		}
		table = e & PTE_ADDR_MASK;
		if (mem_gpa_to_gfn(table) < g->first_data || mem_gpa_to_gfn(table) >= g->pages)
			return guest_detail(g, -EUCLEAN,
					    "level-%d entry 0x%" PRIx64 " at gpa 0x%" PRIx64
					    " points outside guest memory",
					    level, e, ea);
	}
	*pte_gpa = table + 8u * pte_index(va, leaf);
	return 0;
}

/* Distinct aligned blocks of 2^shift bytes that [lo, hi] spans. */
static uint64_t guest_span(uint64_t lo, uint64_t hi, unsigned shift)
{
	return (hi >> shift) - (lo >> shift) + 1;
}

uint64_t guest_pt_frames_needed(uint64_t pages)
{
	uint64_t lo = GUEST_WL_BASE, hi = GUEST_WL_BASE + pages * MEM_PAGE_SIZE - 1;

	return 1 + guest_span(lo, hi, 39) + guest_span(lo, hi, 30) + guest_span(lo, hi, 21);
}
