/* SPDX-License-Identifier: MIT */
/* guest page faults: demand zero-fill and swap-in, and the access retry. */
#include <errno.h>
#include <inttypes.h>

#include "guest/guest_internal.h"

/* How often one access may fault before the guest gives up: a handled fault
 * makes the page present, so a second fault on it is a bug. */
#define GUEST_FAULT_RETRIES 4

/* Map a filled user frame at its PTE and put it on the reclaim ring. */
static int guest_map_user(struct guest_os *g, gpa_t pte_gpa, gfn_t gfn)
{
	int r = guest_pt_store(g, pte_gpa, mem_gfn_to_gpa(gfn) | GUEST_PTE_USER);

	if (r)
		return r;
	return guest_ring_add(g, gfn);
}

static int guest_zero_fill(struct guest_os *g, uint32_t pid, uint64_t vpn, gpa_t pte_gpa)
{
	gfn_t gfn;
	int r = guest_frame_alloc(g, GUEST_PG_USER, pid, vpn, &gfn);

	if (r)
		return r;
	r = guest_phys(g, mem_gfn_to_gpa(gfn), g->zero, MEM_PAGE_SIZE, MMU_WRITE);
	if (r)
		return r;
	g->st.zero_fills++;
	return guest_map_user(g, pte_gpa, gfn);
}

static int guest_swap_in(struct guest_os *g, uint32_t pid, uint64_t vpn, gpa_t pte_gpa,
			 uint64_t pte)
{
	uint64_t slot = guest_pte_swap_slot(pte);
	gfn_t gfn;
	int r;

	/* Allocate first: reclaim may need the bounce buffer. */
	r = guest_frame_alloc(g, GUEST_PG_USER, pid, vpn, &gfn);
	if (r)
		return r;
	r = guest_swap_read(g->sw, slot, g->bounce);
	if (r)
		return guest_detail(g, r, "swap-in of slot %" PRIu64 " failed", slot);
	r = guest_phys(g, mem_gfn_to_gpa(gfn), g->bounce, MEM_PAGE_SIZE, MMU_WRITE);
	if (r)
		return r;
	r = guest_map_user(g, pte_gpa, gfn);
	if (r)
		return r;
	guest_swap_free(g->sw, slot);
	g->st.swap_ins++;
	return 0;
}

/* May the 2 MiB virtual block of vpn be one large page: dense working set
 * (no stride, no churn, whose regions are unmapped 4 KiB at a time) and the
 * block inside it? */
static bool guest_huge_ok(const struct guest_os *g, uint64_t vpn)
{
	uint64_t vb = vpn & ~(uint64_t)(MEM_HUGE_PAGES - 1);

	return g->p.large && g->stride == 1 && g->p.wl.pattern != GUEST_PAT_CHURN &&
	       vb >= g->wl_vpn && vb + MEM_HUGE_PAGES <= g->wl_vpn + g->p.wl.wss_pages;
}

/*
 * Try to map the 2 MiB page around addr: its PDE must be empty and a free
 * block at hand. Returns 0 when mapped, 1 when the 4 KiB path must serve
 * the fault, -errno.
 */
static int guest_huge_fault(struct guest_os *g, struct guest_proc *pr, gva_t addr)
{
	uint64_t vb = mem_gva_to_vpn(addr) & ~(uint64_t)(MEM_HUGE_PAGES - 1);
	gpa_t pde_gpa;
	uint64_t pde;
	gfn_t b;
	int r;

	if (!g->huge_head)
		return 1;
	r = guest_pt_walk_level(g, pr->pml4, addr, 2, true, &pde_gpa);
	if (!r)
		r = guest_phys_read64(g, pde_gpa, &pde);
	if (r)
		return r;
	if (pde)
		return 1; /* a page table is there already */
	r = guest_huge_alloc(g, pr->pid, vb, &b);
	if (r)
		return r == -ENOMEM ? 1 : r;
	for (uint64_t i = 0; i < MEM_HUGE_PAGES; i++) {
		r = guest_phys(g, mem_gfn_to_gpa(b + i), g->zero, MEM_PAGE_SIZE, MMU_WRITE);
		if (r)
			return r;
	}
	r = guest_pt_store(g, pde_gpa, mem_gfn_to_gpa(b) | GUEST_PTE_USER | PTE_PS);
	if (!r)
		r = guest_ring_add(g, b);
	if (r)
		return r;
	g->nhuge++;
	g->st.zero_fills++;
	g->st.huge_faults++;
	return 0;
}

/* The #PF handler: m->pf says where and why. */
static int guest_fault(struct guest_os *g, struct guest_proc *pr)
{
	gva_t addr = g->m->pf.addr;
	uint64_t vpn = mem_gva_to_vpn(addr), idx;
	gpa_t pte_gpa;
	uint64_t pte;
	int r;

	g->st.page_faults++;
	if (!guest_wl_idx(g, vpn, &idx))
		return guest_detail(g, -EFAULT,
				    "page fault (error 0x%x) outside the workload region",
				    g->m->pf.err);
	if (g->m->pf.err & MMU_PF_P)
		return guest_detail(g, -EFAULT, "protection fault (error 0x%x) on a present page",
				    g->m->pf.err);
	if (guest_huge_ok(g, vpn)) {
		r = guest_huge_fault(g, pr, addr);
		if (r <= 0)
			return r;
	}
	r = guest_pt_walk(g, pr->pml4, addr, true, &pte_gpa);
	if (r)
		return r;
	r = guest_phys_read64(g, pte_gpa, &pte);
	if (r)
		return r;
	if (!pte)
		return guest_zero_fill(g, pr->pid, vpn, pte_gpa);
	if (guest_pte_is_swap(pte))
		return guest_swap_in(g, pr->pid, vpn, pte_gpa, pte);
	return guest_detail(g, -EFAULT, "not-present fault on PTE 0x%" PRIx64 " at gpa 0x%" PRIx64,
			    pte, pte_gpa);
}

int guest_access_slow(struct guest_os *g, struct guest_proc *pr, gva_t va, void *buf, size_t len,
		      unsigned acc, int r)
{
	for (int tries = 0; r; tries++) {
		if (r < 0) {
			guest_detail(g, r, "the VMM failed the access");
			break;
		}
		if (r != MMU_PF) {
			r = guest_detail(g, -EINVAL, "unexpected MMU result %d", r);
			break;
		}
		if (tries == GUEST_FAULT_RETRIES) {
			r = guest_detail(g, -EFAULT, "page fault repeats after being handled");
			break;
		}
		r = guest_fault(g, pr);
		if (r) {
			va = g->m->pf.addr;
			break;
		}
		r = mmu_access(g->m, va, buf, len, acc | MMU_USER);
	}
	if (r)
		return guest_fail_at(g, pr->pid, va, r);
	return 0;
}
