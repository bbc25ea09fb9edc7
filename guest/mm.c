/* SPDX-License-Identifier: MIT */
/* guest mm: munmap of working-set regions, and process exit. */
/*
 * What the churn workload needs from its kernel, done as Linux does it in
 * spirit (zap_page_range, then free_pgtables, and exit_mmap): every PTE of
 * the range is cleared with a store (an INVLPG follows for the running
 * process, whose TLB may hold it), its frame goes back to the free list or
 * its swap slot to the swap area, and then every page table the range
 * leaves empty is freed bottom-up, its parent entry cleared with a store
 * first. A process exit unmaps the whole working set, which empties every
 * table below the PML4, frees the PML4 and gives the process a new one.
 *
 * The workload's record of the unmapped pages is reset to "never touched":
 * a page mapped again starts from zero, and verification expects an empty
 * PTE for it until then.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "guest/guest_internal.h"

/* Is the table at gpa all zeros? (one page read) */
static int guest_table_empty(struct guest_os *g, gpa_t table, bool *empty)
{
	const uint64_t *t = (const uint64_t *)g->ptbuf;
	int r = guest_phys(g, table, g->ptbuf, MEM_PAGE_SIZE, MMU_READ);

	if (r)
		return r;
	*empty = true;
	for (unsigned i = 0; i < 512 && *empty; i++)
		*empty = !t[i];
	return 0;
}

/* Free the tables on va's path that are empty, lowest first. */
static int guest_pt_reap(struct guest_os *g, struct guest_proc *pr, gva_t va)
{
	for (int level = 1; level <= 3; level++) {
		gpa_t entry, table;
		uint64_t e;
		bool empty;
		/* the entry at level + 1 that points at the table of `level` */
		int r = guest_pt_walk_level(g, pr->pml4, va, level + 1, false, &entry);

		if (r == -ENOENT)
			return 0;
		if (!r)
			r = guest_phys_read64(g, entry, &e);
		if (r)
			return r;
		if (!(e & PTE_P))
			return 0;
		table = e & PTE_ADDR_MASK;
		r = guest_table_empty(g, table, &empty);
		if (r || !empty)
			return r;
		r = guest_pt_store(g, entry, 0);
		if (!r)
			r = guest_frame_free(g, mem_gpa_to_gfn(table));
		if (r)
			return r;
		g->npt--;
	}
	return 0;
}

static int guest_unmap_range(struct guest_os *g, struct guest_proc *pr, uint64_t idx, uint64_t n)
{
	bool cur = pr->pid == guest_cur_pid(g);
	uint64_t last_block = UINT64_MAX;
	int r;

	for (uint64_t i = idx; i < idx + n; i++) {
		gva_t va = mem_vpn_to_gva(guest_wl_vpn(g, i));
		gpa_t pte_gpa;
		uint64_t pte;

		pr->wl.rec[i] &= ~(GUEST_REC_WRITES | GUEST_REC_TOUCHED);
		r = guest_pt_walk(g, pr->pml4, va, false, &pte_gpa);
		if (r == -ENOENT)
			continue;
		if (!r)
			r = guest_phys_read64(g, pte_gpa, &pte);
		if (r)
			return r;
		if (!pte)
			continue;
		if (pte & PTE_P) {
			gfn_t gfn = mem_gpa_to_gfn(pte & PTE_ADDR_MASK);

			r = guest_ring_del(g, gfn);
			if (!r)
				r = guest_frame_free(g, gfn);
		} else if (guest_pte_is_swap(pte) && g->sw) {
			guest_swap_free(g->sw, guest_pte_swap_slot(pte));
		} else {
			r = guest_detail(g, -EUCLEAN,
					 "unmap: PTE 0x%" PRIx64 " at gpa 0x%" PRIx64
					 " is neither present nor swapped",
					 pte, pte_gpa);
		}
		if (!r)
			r = guest_pt_store(g, pte_gpa, 0);
		if (r)
			return r;
		if (cur)
			mmu_invlpg(g->m, va);
	}
	/* then the tables left empty, once per 2 MiB block of the range */
	for (uint64_t i = idx; i < idx + n; i++) {
		uint64_t vpn = guest_wl_vpn(g, i);

		if (vpn >> 9 == last_block)
			continue;
		last_block = vpn >> 9;
		r = guest_pt_reap(g, pr, mem_vpn_to_gva(vpn));
		if (r)
			return r;
	}
	return 0;
}

int guest_unmap(struct guest_os *g, struct guest_proc *pr, uint64_t idx, uint64_t n)
{
	int r = guest_unmap_range(g, pr, idx, n);

	if (!r)
		g->st.unmaps++;
	return r;
}

int guest_proc_exit(struct guest_os *g, struct guest_proc *pr)
{
	int r = guest_unmap_range(g, pr, 0, g->p.wl.wss_pages);

	if (r)
		return r;
	r = guest_frame_free(g, mem_gpa_to_gfn(pr->pml4));
	if (r)
		return r;
	g->npt--;
	r = guest_pt_alloc(g, &pr->pml4);
	if (r)
		return r;
	if (pr->pid == guest_cur_pid(g))
		mmu_set_cr3(g->m, pr->pml4);
	g->st.exits++;
	return 0;
}
