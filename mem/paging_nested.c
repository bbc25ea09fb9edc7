/* SPDX-License-Identifier: MIT */
/*
 * paging_nested: nested paging (Intel EPT format), the two-dimensional walk.
 * The EPT itself (its entries, violations, splits and zaps) is
 * paging_ept.c's; this file holds the walk, the walk cache and the mode's
 * life cycle.
 *
 * The EPT is a real 4-level radix table, 512 eight-byte entries per 4 KiB
 * page, in the layout documented beside EPT_* in mem.h. Its pages come from
 * the frame pool (m->pool), zeroed, and are counted in m->mode_frames; an
 * entry's address is the next table's (or the leaf frame's) hfn << 12, the
 * pool being the host-physical address space. The table starts as an empty
 * root and grows lazily: a gfn whose leaf is missing, or whose leaf lacks
 * EPT_W for a write, is an EPT violation, which exits to the VMM
 * (MMU_EXIT_NESTED_FAULT); the handler makes the gfn RESIDENT (or SHARED,
 * write-protected) in the p2m, then the leaf is built from the p2m entry:
 * hfn << 12 | R | X | MT=WB, plus W unless the p2m entry is write-protected.
 * When the whole 2 MiB block of the gfn is mappable at once (the p2m says
 * so: all RESIDENT, writable, on one aligned run of host frames, which the
 * VMM arranges with mem_p2m_populate_huge) and its PD entry is empty, the
 * leaf is a 2 MiB one (EPT_PS at level 2) instead. Intermediate tables are
 * allocated on that path only, so a walk over a built table never
 * allocates.
 *
 * Reverse map: every gfn a present leaf maps has exactly one record
 * (mapper nested_zap, ref 0): one for a 4 KiB leaf, 512 for a 2 MiB one.
 * The record names no entry: the zap finds the leaf by walking the EPT for
 * the gfn, so records stay valid when a 2 MiB leaf is split. A zap of a
 * gfn under a 4 KiB leaf clears it; under a 2 MiB leaf it splits the leaf
 * into a table of 512 4 KiB leaves on the same frames (a frame from the
 * pool; MMU stat `splits`) and clears only that gfn's. If the pool has no
 * frame for the table, the whole 2 MiB leaf goes and the 511 other records
 * are deleted. Either way the gfn is dropped from both TLBs and the walk
 * cache, so nothing here keeps a frame the guest no longer owns.
 *
 * The 2D walk (translate): for each guest level 4..1, the gpa of the guest
 * table page is translated through the EPT (4 references, one per EPT
 * level; 3 under a 2 MiB EPT leaf), then the guest entry is read (1
 * reference); finally the data gpa is translated the same way: 24 on a cold
 * miss with 4 KiB pages everywhere, fewer with large pages (the arithmetic
 * is beside PAGING_NESTED_REFS in mem.h). A guest 2 MiB (1 GiB) page ends
 * the guest walk at level 2 (3). Accesses to guest paging structures are
 * writes for EPT purposes (as with EPT A/D enabled), since the walker
 * writes A/D bits there: a write-protected guest table page exits before
 * the walker writes into a shared frame.
 *
 * Counting rule for exits: an EPT translation costs its references once,
 * even when it exits: the faulting attempt, the exit and the re-walk after
 * the handler together count the levels of the leaf finally used, and the
 * 2D walk resumes where it stopped. So a walk costs 24 references without
 * caches whether or not it exited, and one tlb_miss. The one exception: if
 * a handler zapped any EPT leaf during the walk (it reclaimed memory), host
 * pointers taken earlier in the walk may be stale, so the walk restarts
 * from CR3 (as the re-executed instruction would) and the restarted walk
 * counts its references again.
 *
 * The walk cache (pwc, cfg.pwc_entries > 0): a fully associative LRU of
 * guest-table gfn -> host frame, standing in for the paging-structure caches
 * of the second dimension. A hit saves the EPT references of that guest
 * table page (warm: 4 guest entries + 4 for the data page = 8); the data
 * gfn is never cached there (the TLB does that).
 *
 * A/D and the TLB: on a successful walk (only then) the walker sets PTE_A in
 * every guest entry it used, PTE_D in the guest leaf on a write, EPT_A in
 * every EPT leaf it used and EPT_D on writes (table pages always, data page
 * on a write). The TLB entry gets MEM_TLB_W only when the guest path is
 * writable at every level, the guest leaf is dirty, and the EPT leaf is
 * writable and dirty, so the first write to a clean page walks again and
 * sets D, as hardware does. Its size is the smaller of the two mappings: a
 * 2 MiB entry when a guest large page sits on a 2 MiB EPT leaf, else a
 * 4 KiB one (flagged as a piece of a guest large page when it is one).
 * Reserved bits in guest entries are ignored (no RSVD faults); PS in a PML4
 * entry is ignored.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "mem/paging_nested_internal.h"

/* ---- walk cache ---- */

static uint8_t *pwc_lookup(struct nested *n, gfn_t gfn)
{
	for (unsigned i = 0; i < n->pwc_n; i++)
		if (n->pwc[i].hptr && n->pwc[i].gfn == gfn) {
			n->pwc[i].stamp = ++n->pwc_tick;
			return n->pwc[i].hptr;
		}
	return NULL;
}

static void pwc_insert(struct nested *n, gfn_t gfn, uint8_t *hptr)
{
	struct nested_pwc_entry *victim = NULL;
	uint32_t oldest = 0;

	for (unsigned i = 0; i < n->pwc_n; i++) {
		struct nested_pwc_entry *e = &n->pwc[i];

		if (!e->hptr) {
			victim = e;
			break;
		}
		if (!victim || n->pwc_tick - e->stamp > oldest) {
			victim = e;
			oldest = n->pwc_tick - e->stamp;
		}
	}
	if (!victim)
		return; /* no walk cache */
	victim->gfn = gfn;
	victim->hptr = hptr;
	victim->stamp = ++n->pwc_tick;
}

void nested_pwc_flush(struct nested *n, gfn_t gfn)
{
	for (unsigned i = 0; i < n->pwc_n; i++)
		if (n->pwc[i].hptr && n->pwc[i].gfn == gfn)
			n->pwc[i].hptr = NULL;
}

/* ---- the 2D walk ---- */

static int nested_pf(struct mmu *m, gva_t va, unsigned acc, unsigned p)
{
	m->pf.addr = va;
	m->pf.err = p | ((acc & MMU_WRITE) ? MMU_PF_W : 0) | ((acc & MMU_USER) ? MMU_PF_U : 0) |
		    ((acc & MMU_FETCH) ? MMU_PF_I : 0);
	m->st.guest_faults++;
	return MMU_PF;
}

/* Status of nested_walk asking nested_translate to start over. */
#define NESTED_RESTART 3

/* Fill the TLB for va: a 2 MiB entry when the guest page (level glvl) and
 * the EPT leaf (level elvl) both map 2 MiB or more, else a 4 KiB one. */
static void nested_fill(struct mmu *m, gva_t va, uint8_t *h, gfn_t dgfn, int glvl, int elvl,
			uint32_t tlbf)
{
	uint64_t vpn = mem_gva_to_vpn(va);

	if (glvl >= 2 && elvl == 2) {
		uint64_t i = dgfn & (MEM_HUGE_PAGES - 1);

		mem_tlb_fill(&m->tlb, mem_tlb_key2m(vpn), h - (i << MEM_PAGE_SHIFT), dgfn - i,
			     tlbf | (glvl == 3 ? MEM_TLB_G1G : 0));
		return;
	}
	if (glvl == 2)
		tlbf |= MEM_TLB_G2M;
	else if (glvl == 3)
		tlbf |= MEM_TLB_G1G;
	mem_tlb_fill(&m->tlb, vpn, h, dgfn, tlbf);
}

static int nested_walk(struct mmu *m, struct nested *n, gva_t va, unsigned acc)
{
	uint64_t zaps = n->zaps, refs = 0, all = PTE_W | PTE_U, nx = 0, e = 0;
	uint64_t eptl = 0, tlbf = 0;
	uint64_t *pte[4];
	gpa_t table = m->cr3 & PTE_ADDR_MASK, data;
	gfn_t dgfn;
	uint8_t *h;
	int used = 0, r = 0, glvl, elvl;

	for (glvl = 4;; glvl--) {
		gfn_t tgfn = mem_gpa_to_gfn(table);

		if (tgfn >= m->p2m->pages) {
			r = -EFAULT; /* guest garbage in its own tables */
			goto out;
		}
		h = pwc_lookup(n, tgfn);
		if (h) {
			m->st.pwc_hits++;
		} else {
			h = ept_translate(m, n, tgfn, MMU_WRITE, &refs, &eptl, &elvl, &r);
			if (!h)
				goto out;
			pwc_insert(n, tgfn, h);
		}
		pte[used] = (uint64_t *)h + pte_index(va, glvl);
		e = *pte[used++];
		refs++;
		if (!(e & PTE_P)) {
			r = nested_pf(m, va, acc, 0);
			goto out;
		}
		all &= e;
		nx |= e & PTE_NX;
		if (glvl == 1 || (glvl <= 3 && (e & PTE_PS))) {
			uint64_t off = (1ull << (MEM_PAGE_SHIFT + 9 * (glvl - 1))) - 1;

			data = (e & PTE_ADDR_MASK & ~off) | (va & off);
			break;
		}
		table = e & PTE_ADDR_MASK;
	}

	if (((acc & MMU_WRITE) && !(all & PTE_W)) || ((acc & MMU_USER) && !(all & PTE_U)) ||
	    ((acc & MMU_FETCH) && nx)) {
		r = nested_pf(m, va, acc, MMU_PF_P);
		goto out;
	}
	dgfn = mem_gpa_to_gfn(data);
	if (dgfn >= m->p2m->pages) {
		r = -EFAULT; /* the guest maps memory it does not have */
		goto out;
	}
	h = ept_translate(m, n, dgfn, acc, &refs, &eptl, &elvl, &r);
	if (!h)
		goto out;
	if (n->zaps != zaps) {
		/* a handler reclaimed memory: pte[] may point at frames the
		 * guest no longer owns */
		r = NESTED_RESTART;
		goto out;
	}

	for (int i = 0; i < used; i++)
		*pte[i] |= PTE_A;
	if (acc & MMU_WRITE)
		*pte[used - 1] |= PTE_D;
	if ((all & PTE_W) && (*pte[used - 1] & PTE_D) && (eptl & EPT_W) && (eptl & EPT_D))
		tlbf |= MEM_TLB_W;
	if (all & PTE_U)
		tlbf |= MEM_TLB_U;
	if (nx)
		tlbf |= MEM_TLB_NX;
	nested_fill(m, va, h, dgfn, glvl, elvl, (uint32_t)tlbf);
out:
	m->st.walk_refs += refs;
	return r;
}

static int nested_translate(struct mmu *m, gva_t va, unsigned acc)
{
	struct nested *n = m->mode;

	/* a non-canonical address is a #GP, which this MMU does not deliver */
	if ((gva_t)((int64_t)(va << 16) >> 16) != va)
		return -EFAULT;
	for (int i = 0; i < NESTED_MAX_RESTARTS; i++) {
		int r = nested_walk(m, n, va, acc);

		if (r != NESTED_RESTART)
			return r;
	}
	return -ELOOP; /* handlers keep reclaiming what the walk needs */
}

static uint8_t *nested_phys(struct mmu *m, gpa_t gpa, size_t len, unsigned acc, uint32_t *tlbf,
			    int *err)
{
	uint64_t refs = 0, eptl;
	int level;
	uint8_t *h = ept_translate(m, m->mode, mem_gpa_to_gfn(gpa), acc, &refs, &eptl, &level, err);

	(void)len;
	(void)tlbf; /* EPT write protection is by frame: a write fill may be cached */
	m->st.phys_walk_refs += refs;
	return h ? h + (gpa & (MEM_PAGE_SIZE - 1)) : NULL;
}

/* ---- life cycle ---- */

static int nested_create(struct mmu *m)
{
	struct nested *n = calloc(1, sizeof(*n));
	int r = -ENOMEM;

	if (!n)
		return -ENOMEM;
	n->m = m;
	n->mapper.ops = &nested_mapper_ops;
	n->mapper.ctx = n;
	if (m->cfg.pwc_entries) {
		n->pwc = calloc(m->cfg.pwc_entries, sizeof(*n->pwc));
		if (!n->pwc)
			goto err;
		n->pwc_n = m->cfg.pwc_entries;
	}
	r = mem_pool_alloc(m->pool, &n->root, true);
	if (r)
		goto err;
	m->mode_frames++;
	m->mode = n;
	return 0;
err:
	free(n->pwc);
	free(n);
	return r;
}

static void nested_destroy(struct mmu *m)
{
	struct nested *n = m->mode;

	ept_free(m, n, n->root, EPT_LEVELS, 0);
	/* the TLBs' entries came from leaves no longer recorded anywhere: a
	 * later remap could not reach them */
	mem_tlb_flush_all(&m->tlb);
	mem_tlb_flush_all(&m->ptlb);
	free(n->pwc);
	free(n);
	m->mode = NULL;
}

uint64_t paging_nested_root(const struct mmu *m)
{
	const struct nested *n = m->mode;

	return (uint64_t)n->root << MEM_PAGE_SHIFT;
}

const struct paging_ops paging_nested_ops = {
    .name = "nested",
    .create = nested_create,
    .destroy = nested_destroy,
    .translate = nested_translate,
    .phys = nested_phys,
};
