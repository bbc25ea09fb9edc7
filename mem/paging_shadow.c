/* SPDX-License-Identifier: MIT */
/*
 * paging_shadow: shadow paging. The VMM keeps tables that map guest-virtual
 * addresses straight to host frames, and the hardware walks only those.
 *
 * Structures (paging_shadow_internal.h). A shadow table is a tree of shadow
 * pages, real x86-64 tables in pool frames (counted in m->mode_frames), one
 * tree per guest address space: the roots are a small cache keyed by the
 * guest PML4's gfn (cfg.shadow_roots slots, LRU), so a CR3 write back to a
 * known process finds its tree warm, and a new one evicts the least recently
 * loaded tree. Trees share no pages. A shadow page at level L shadows the
 * guest table that the guest's walk reads at level L, or, "direct", maps a
 * piece of a guest large page (which has no guest table below it).
 *
 * Coherence: every guest table that has a shadow page is write-protected
 * (tracked). Guest kernels write their tables through the direct map, which
 * here is mmu_phys: a store to a tracked frame is a PT-write exit
 * (MMU_EXIT_PT_WRITE), after which the sptes of the entries the store
 * covers are dropped (with everything below them) and the store lands;
 * the direct-map TLB never caches a tracked frame writable. A store to a
 * tracked frame through a virtual mapping (a guest that maps its own tables)
 * is emulated the same way (MMU_EMULATE). The VMM's own A/D updates do not
 * exit. So sptes never disagree with the guest's tables, and INVLPG, which
 * exits (MMU_EXIT_INVLPG), only drops the spte of the page (the whole guest
 * page for a large one). CR3 writes exit (MMU_EXIT_CR3_WRITE) and select
 * the root.
 *
 * A TLB miss walks the current shadow tree: 4 references, 3 through a
 * 2 MiB spte. A leaf that grants the access fills the TLB. Anything else is
 * a hidden fault (MMU_EXIT_HIDDEN_FAULT), one exit: the VMM walks the
 * guest's tables in software (through the p2m, calling the VMM's handler,
 * uncounted, for any guest frame that is absent or, since it sets A/D bits
 * there, write-protected), reflects a guest page fault exactly where the
 * nested walker would take one, or sets A (and D for a write) in every
 * guest entry it used, builds the missing shadow pages and installs the
 * leaf, and fills the TLB. A miss costs the references of the walk that
 * completes it, exit or not (the re-walk after the fill is what counts, as
 * with nested paging's exits); a miss that ends in a guest page fault costs
 * what the faulting walk read.
 *
 * Accessed and dirty bits: an spte exists only while A is set in every guest
 * entry of its path (the guest clears A with a store, which drops the spte),
 * and a leaf spte is writable only while the guest leaf is dirty, writable
 * along the whole path, the frame is not write-protected in the p2m and is
 * not a tracked table. So the first access after the guest clears A, and
 * the first write to a clean page, come back as hidden faults that set the
 * bits, exactly when the nested walker would set them: the guest's tables
 * (and so its reclaim) see the same bits in both modes.
 *
 * Large pages: a guest 2 MiB page whose block is mappable at once
 * (mem_p2m_huge_mappable) and holds no tracked table gets a 2 MiB spte and a
 * 2 MiB TLB entry; otherwise a direct PT of 4 KiB sptes filled one fault at
 * a time. A guest 1 GiB page gets a direct level-2 page of such entries. A
 * remap of one 4 KiB page under a 2 MiB spte splits it (paging_shadow_sp.c).
 *
 * The guest kernel's direct map is shadowed too: the first access to a gfn
 * is a hidden fault that records the translation (one rmap record per gfn;
 * for the whole 2 MiB block at once when it is mappable 2 MiB), later
 * misses of the direct-map TLB cost 4 references.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "mem/paging_shadow_internal.h"

#define SH_MAX_RESTARTS 16
#define SH_RESTART	3 /* translate statuses besides 0, MMU_PF, MMU_EMULATE */
#define SH_HIDDEN	4

/* ---- the guest's side ---- */

static int sh_pf(struct mmu *m, gva_t va, unsigned acc, unsigned p)
{
	m->pf.addr = va;
	m->pf.err = p | ((acc & MMU_WRITE) ? MMU_PF_W : 0) | ((acc & MMU_USER) ? MMU_PF_U : 0) |
		    ((acc & MMU_FETCH) ? MMU_PF_I : 0);
	m->st.guest_faults++;
	return MMU_PF;
}

/* Host address of guest frame gfn for the VMM to read (and, with
 * MMU_WRITE, write), asking the VMM to resolve it when it is absent or
 * write-protected. NULL with *err on failure. */
static uint8_t *sh_guest_frame(struct mmu *m, gfn_t gfn, unsigned acc, int *err)
{
	enum mem_page_state st = mem_p2m_state(m->p2m, gfn);

	if ((st != MEM_RESIDENT && st != MEM_SHARED) ||
	    ((acc & MMU_WRITE) && mem_p2m_wp(m->p2m, gfn))) {
		struct mmu_exit x = {.reason = MMU_EXIT_HIDDEN_FAULT, .gfn = gfn, .acc = acc};
		int r = mmu_exit_resolve(m, &x);

		if (r) {
			*err = r;
			return NULL;
		}
		st = mem_p2m_state(m->p2m, gfn);
		if ((st != MEM_RESIDENT && st != MEM_SHARED) ||
		    ((acc & MMU_WRITE) && mem_p2m_wp(m->p2m, gfn))) {
			*err = -EFAULT; /* the handler did not resolve it */
			return NULL;
		}
	}
	return mem_p2m_ptr(m->p2m, gfn);
}

/* ---- the hardware walk ---- */

static uint32_t sh_tlb_flags(uint64_t e)
{
	return ((e & PTE_W) ? MEM_TLB_W : 0) | ((e & PTE_U) ? MEM_TLB_U : 0) |
	       ((e & PTE_NX) ? MEM_TLB_NX : 0);
}

/* Fill the TLB from leaf spte e, entry idx of shadow page p, for va. */
static void sh_tlb_fill(struct mmu *m, struct shadow *s, uint32_t p, unsigned idx, uint64_t e,
			gva_t va)
{
	const struct sh_page *sp = &s->sp[p];
	uint32_t f = sh_tlb_flags(e);
	uint8_t *h = mem_pool_ptr(m->pool, (e & PTE_ADDR_MASK) >> MEM_PAGE_SHIFT);

	if (sp->level == 2) {
		mem_tlb_fill(&m->tlb, mem_tlb_key2m(mem_gva_to_vpn(va)), h, sp->gfns[idx],
			     f | (sp->direct ? MEM_TLB_G1G : 0));
		return;
	}
	if (sp->direct)
		f |= sp->glevel == 3 ? MEM_TLB_G1G : MEM_TLB_G2M;
	mem_tlb_fill(&m->tlb, mem_gva_to_vpn(va), h, sp->gfns[idx], f);
}

/* The walk the hardware makes: 0 with the TLB filled, or SH_HIDDEN. *refs
 * gets the references made either way. */
static int sh_hw_walk(struct mmu *m, struct shadow *s, gva_t va, unsigned acc, uint64_t *refs)
{
	uint32_t p = s->roots[s->cur].sp;
	uint64_t e;
	unsigned idx;

	*refs = 1; /* the root entry is read even when nothing is built */
	if (!p)
		return SH_HIDDEN;
	for (int level = SH_LEVELS;; level--, (*refs)++) {
		idx = pte_index(va, level);
		e = sh_table(s, p)[idx];
		if (!(e & PTE_P))
			return SH_HIDDEN;
		if (sh_leaf(e, level))
			break;
		p = s->sp[p].child[idx];
	}
	if (((acc & MMU_WRITE) && !(e & PTE_W)) || ((acc & MMU_USER) && !(e & PTE_U)) ||
	    ((acc & MMU_FETCH) && (e & PTE_NX)))
		return SH_HIDDEN;
	sh_tlb_fill(m, s, p, idx, e, va);
	return 0;
}

/* ---- the hidden fault: guest walk and fill ---- */

/* What the guest walk found, for the fill. */
struct sh_walk {
	gfn_t tg[SH_LEVELS]; /* guest table gfn read at level 4, 3, ... */
	int glvl;	     /* level of the guest leaf: 1, 2 (2 MiB), 3 (1 GiB) */
	gfn_t dgfn;	     /* the data frame */
	uint64_t leaf;	     /* the guest leaf entry, A/D updated */
	uint64_t all, nx;    /* W and U along the path; any NX */
};

/* Leaf spte flags for the walk w on a frame that may be written when ok. */
static uint64_t sh_leaf_flags(const struct sh_walk *w, bool ok)
{
	bool wr = ok && (w->all & PTE_W) && (w->leaf & PTE_D);

	return PTE_P | PTE_A | (wr ? PTE_W | PTE_D : 0) | (w->all & PTE_U) | w->nx;
}

/* Install the 4 KiB leaf of w in PT-level page p. 0 or -ENOMEM. */
static int sh_install_4k(struct mmu *m, struct shadow *s, uint32_t p, const struct sh_walk *w,
			 gva_t va, uint64_t *spte)
{
	unsigned idx = pte_index(va, 1);
	uint64_t *t = sh_table(s, p);
	bool ok = !mem_p2m_wp(m->p2m, w->dgfn) && !sh_tracked(s, w->dgfn);

	if ((t[idx] & PTE_P) && s->sp[p].gfns[idx] != w->dgfn) {
		/* cannot happen while every store to the table exits; keep
		 * the rmap exact anyway */
		sh_unrecord(s, s->sp[p].gfns[idx], s->sp[p].slot, mem_gva_to_vpn(va));
		t[idx] = 0;
	}
	if (!(t[idx] & PTE_P)) {
		int r = sh_record(s, w->dgfn, s->sp[p].slot, mem_gva_to_vpn(va));

		if (r)
			return r;
		s->sp[p].gfns[idx] = (uint32_t)w->dgfn;
	}
	*spte = (mem_p2m_val(m->p2m, w->dgfn) << MEM_PAGE_SHIFT) | sh_leaf_flags(w, ok);
	t[idx] = *spte;
	sh_tlb_fill(m, s, p, idx, *spte, va);
	return 0;
}

/* Can the 2 MiB block at base get one spte: mappable, no tracked table? */
static bool sh_block_ok(const struct shadow *s, gfn_t base)
{
	if (!mem_p2m_huge_mappable(s->m->p2m, base))
		return false;
	for (gfn_t g = base; g < base + MEM_HUGE_PAGES; g++)
		if (sh_tracked(s, g))
			return false;
	return true;
}

/*
 * The leaf of w under entry idx of level-2 page p, which covers the guest
 * large page: a 2 MiB spte when the block allows, else a 4 KiB spte in a
 * direct PT. *levels gets the levels of the resulting walk. 0 or -ENOMEM.
 */
static int sh_install_large(struct mmu *m, struct shadow *s, uint32_t p, const struct sh_walk *w,
			    gva_t va, uint64_t *spte, int *levels)
{
	unsigned idx = pte_index(va, 2);
	gfn_t base = w->dgfn & ~(gfn_t)(MEM_HUGE_PAGES - 1);
	uint64_t *t = sh_table(s, p), e = t[idx];
	uint64_t first = s->sp[p].vpn + (uint64_t)idx * MEM_HUGE_PAGES;
	uint32_t slot = s->sp[p].slot, pt;
	int r;

	*levels = 3;
	if ((e & PTE_P) && (e & PTE_PS)) { /* more rights on the same frames */
		*spte = (e & PTE_ADDR_MASK) | PTE_PS | sh_leaf_flags(w, true);
		t[idx] = *spte;
		sh_tlb_fill(m, s, p, idx, *spte, va);
		return 0;
	}
	if (!(e & PTE_P) && sh_block_ok(s, base)) {
		for (unsigned k = 0; k < MEM_HUGE_PAGES; k++) {
			r = sh_record(s, base + k, slot, first + k);
			if (r) {
				while (k-- > 0)
					sh_unrecord(s, base + k, slot, first + k);
				return r;
			}
		}
		s->sp[p].gfns[idx] = (uint32_t)base;
		*spte =
		    (mem_p2m_val(m->p2m, base) << MEM_PAGE_SHIFT) | PTE_PS | sh_leaf_flags(w, true);
		sh_table(s, p)[idx] = *spte;
		sh_tlb_fill(m, s, p, idx, *spte, va);
		return 0;
	}
	*levels = 4;
	pt = s->sp[p].child[idx];
	if (!pt) {
		r = sh_page_alloc(s, 1, w->glvl, base, first, slot, &pt);
		if (r)
			return r;
		sh_link(s, p, idx, pt);
	}
	return sh_install_4k(m, s, pt, w, va, spte);
}

/* Build the shadow path for w and install its leaf. 0, MMU_EMULATE or
 * -ENOMEM; *levels gets the levels of the walk that now succeeds. */
static int sh_build(struct mmu *m, struct shadow *s, const struct sh_walk *w, gva_t va,
		    unsigned acc, int *levels)
{
	uint32_t slot = s->cur, p = s->roots[slot].sp;
	uint64_t spte = 0;
	int level, r;

	if (!p) {
		r = sh_page_alloc(s, SH_LEVELS, 0, w->tg[0], 0, slot, &p);
		if (r)
			return r;
		s->roots[slot].sp = p;
	}
	/* the shadow pages of the guest tables, down to the leaf's table */
	for (level = SH_LEVELS; level > w->glvl; level--) {
		unsigned idx = pte_index(va, level);
		uint32_t c = s->sp[p].child[idx];

		if (!c) {
			r = sh_page_alloc(s, level - 1, 0, w->tg[SH_LEVELS - level + 1],
					  s->sp[p].vpn + idx * sh_span(level), slot, &c);
			if (r)
				return r;
			sh_link(s, p, idx, c);
		}
		p = c;
	}
	*levels = SH_LEVELS;
	if (w->glvl == 1) {
		r = sh_install_4k(m, s, p, w, va, &spte);
	} else {
		if (w->glvl == 3) { /* a 1 GiB guest page: a direct level-2 page */
			unsigned idx = pte_index(va, 3);
			uint32_t c = s->sp[p].child[idx];

			if (!c) {
				gfn_t base = w->dgfn & ~(gfn_t)(sh_span(3) - 1);

				r = sh_page_alloc(s, 2, 3, base, s->sp[p].vpn + idx * sh_span(3),
						  slot, &c);
				if (r)
					return r;
				sh_link(s, p, idx, c);
			}
			p = c;
		}
		r = sh_install_large(m, s, p, w, va, &spte, levels);
	}
	if (r)
		return r;
	if ((acc & MMU_WRITE) && !(spte & PTE_W)) {
		/* a store to a shadowed table through a virtual mapping */
		assert(sh_tracked(s, w->dgfn));
		m->emul_gfn = w->dgfn;
		return MMU_EMULATE;
	}
	return 0;
}

/* The VMM's software walk of the guest tables, then the fill. Returns 0,
 * MMU_PF, MMU_EMULATE, SH_RESTART (a remap made host pointers stale) or
 * -errno; *levels as sh_build. */
static int sh_fill(struct mmu *m, struct shadow *s, gva_t va, unsigned acc, int *levels)
{
	uint64_t zaps = s->zaps, remaps = m->p2m->remaps, *pte[SH_LEVELS], e;
	gpa_t table = m->cr3 & PTE_ADDR_MASK, data;
	struct sh_walk w = {.all = PTE_W | PTE_U};
	int used = 0, r = 0;
	uint8_t *h;

	for (w.glvl = SH_LEVELS;; w.glvl--) {
		gfn_t tgfn = mem_gpa_to_gfn(table);

		if (tgfn >= m->p2m->pages)
			return -EFAULT; /* guest garbage in its own tables */
		h = sh_guest_frame(m, tgfn, MMU_WRITE, &r);
		if (!h)
			return r;
		/* a handler remapped something: the guest table pages read
		 * so far have no record of ours, so zaps alone cannot tell */
		if (s->zaps != zaps || m->p2m->remaps != remaps)
			return SH_RESTART;
		w.tg[used] = tgfn;
		pte[used] = (uint64_t *)h + pte_index(va, w.glvl);
		e = *pte[used++];
		if (!(e & PTE_P))
			return sh_pf(m, va, acc, 0);
		w.all &= e;
		w.nx |= e & PTE_NX;
		if (w.glvl == 1 || (w.glvl <= 3 && (e & PTE_PS))) {
			uint64_t off = (1ull << (MEM_PAGE_SHIFT + 9 * (w.glvl - 1))) - 1;

			data = (e & PTE_ADDR_MASK & ~off) | (va & off);
			break;
		}
		table = e & PTE_ADDR_MASK;
	}
	if (((acc & MMU_WRITE) && !(w.all & PTE_W)) || ((acc & MMU_USER) && !(w.all & PTE_U)) ||
	    ((acc & MMU_FETCH) && w.nx))
		return sh_pf(m, va, acc, MMU_PF_P);
	w.dgfn = mem_gpa_to_gfn(data);
	if (w.dgfn >= m->p2m->pages)
		return -EFAULT; /* the guest maps memory it does not have */
	if (!sh_guest_frame(m, w.dgfn, acc & MMU_WRITE, &r))
		return r;
	if (s->zaps != zaps || m->p2m->remaps != remaps)
		return SH_RESTART;

	/* the walk succeeds: A/D in the guest's entries, as the hardware */
	for (int i = 0; i < used; i++)
		*pte[i] |= PTE_A;
	if (acc & MMU_WRITE)
		*pte[used - 1] |= PTE_D;
	w.leaf = *pte[used - 1];
	return sh_build(m, s, &w, va, acc, levels);
}

/* ---- ops ---- */

static int shadow_translate(struct mmu *m, gva_t va, unsigned acc)
{
	struct shadow *s = m->mode;
	uint64_t refs;
	int r, levels = 0;

	/* a non-canonical address is a #GP, which this MMU does not deliver */
	if ((gva_t)((int64_t)(va << 16) >> 16) != va)
		return -EFAULT;
	if (s->cur == SH_NO_ROOT)
		sh_select_root(s, m->cr3);
	r = sh_hw_walk(m, s, va, acc, &refs);
	if (r == SH_HIDDEN) {
		m->st.exits[MMU_EXIT_HIDDEN_FAULT]++;
		for (int i = 0; i < SH_MAX_RESTARTS; i++) {
			r = sh_fill(m, s, va, acc, &levels);
			if (r != SH_RESTART)
				break;
		}
		if (r == SH_RESTART)
			r = -ELOOP; /* handlers keep remapping what the walk needs */
		if (r == 0 || r == MMU_EMULATE)
			refs = (uint64_t)levels;
	}
	m->st.walk_refs += refs;
	return r;
}

/* Record the direct-map translation of gfn: of its whole 2 MiB block when
 * the block is mappable at once (the guest kernel maps its direct map with
 * large pages, and so does the shadow of it), so one hidden fault covers
 * the block. One record per gfn, so a remap drops just that gfn. */
static int sh_dmap_add(struct shadow *s, gfn_t gfn)
{
	gfn_t lo = gfn, hi = gfn + 1;

	if (mem_p2m_huge_mappable(s->m->p2m, gfn)) {
		lo = gfn & ~(gfn_t)(MEM_HUGE_PAGES - 1);
		hi = lo + MEM_HUGE_PAGES;
	}
	for (gfn_t g = lo; g < hi; g++) {
		int r;

		if (sh_dmap(s, g))
			continue;
		r = mem_rmap_add(s->m->p2m, g, &s->mapper, SH_DMAP_REF);
		if (r)
			return r;
		s->dmap[g / 64] |= 1ull << (g % 64);
	}
	return 0;
}

static uint8_t *shadow_phys(struct mmu *m, gpa_t gpa, size_t len, unsigned acc, uint32_t *tlbf,
			    int *err)
{
	struct shadow *s = m->mode;
	gfn_t gfn = mem_gpa_to_gfn(gpa);
	unsigned w = acc & MMU_WRITE;
	enum mem_page_state st = mem_p2m_state(m->p2m, gfn);
	int r = 0;

	m->st.phys_walk_refs += SH_LEVELS;
	if ((st != MEM_RESIDENT && st != MEM_SHARED) || (w && mem_p2m_wp(m->p2m, gfn)) ||
	    !sh_dmap(s, gfn)) {
		/* no direct-map spte yet, or not one that allows this */
		struct mmu_exit x = {.reason = MMU_EXIT_HIDDEN_FAULT, .gfn = gfn, .acc = w};

		r = mmu_exit(m, &x);
		if (r)
			goto fail;
	}
	if (w && sh_tracked(s, gfn)) {
		struct mmu_exit x = {.reason = MMU_EXIT_PT_WRITE, .gfn = gfn, .acc = MMU_WRITE};

		r = mmu_exit(m, &x);
		if (r)
			goto fail;
		sh_pt_write(s, gfn, (unsigned)(gpa & (MEM_PAGE_SIZE - 1)), len);
		*tlbf &= ~MEM_TLB_W; /* the next store must exit too */
	}
	st = mem_p2m_state(m->p2m, gfn);
	r = -EFAULT; /* the handlers did not resolve it */
	if ((st != MEM_RESIDENT && st != MEM_SHARED) || (w && mem_p2m_wp(m->p2m, gfn)))
		goto fail;
	if (!sh_dmap(s, gfn)) {
		r = sh_dmap_add(s, gfn);
		if (r)
			goto fail;
	}
	return mem_p2m_ptr(m->p2m, gfn) + (gpa & (MEM_PAGE_SIZE - 1));
fail:
	*err = r;
	return NULL;
}

static void shadow_set_cr3(struct mmu *m, gpa_t cr3)
{
	struct mmu_exit x = {.reason = MMU_EXIT_CR3_WRITE,
			     .gfn = mem_gpa_to_gfn(cr3 & PTE_ADDR_MASK),
			     .acc = MMU_READ};
	/* nothing for the VMM to refuse: a bad CR3 fails the next walk */
	int r = mmu_exit(m, &x);

	(void)r;
	sh_select_root(m->mode, cr3);
}

/* Drop the spte of va in the current tree: the whole guest page when va
 * lies in a guest large page. */
static void shadow_invlpg(struct mmu *m, gva_t va)
{
	struct shadow *s = m->mode;
	struct mmu_exit x = {.reason = MMU_EXIT_INVLPG, .gfn = 0, .acc = MMU_READ};
	int r = mmu_exit(m, &x);
	uint32_t p;

	(void)r;
	if (s->cur == SH_NO_ROOT)
		return;
	p = s->roots[s->cur].sp;
	for (int level = SH_LEVELS; p; level--) {
		unsigned idx = pte_index(va, level);
		uint64_t e = sh_table(s, p)[idx];
		uint32_t c;

		if (!(e & PTE_P))
			return;
		c = sh_leaf(e, level) ? 0 : s->sp[p].child[idx];
		if (!c || s->sp[c].direct) {
			sh_drop(s, p, idx);
			return;
		}
		p = c;
	}
}

static int shadow_create(struct mmu *m)
{
	struct shadow *s;

	if (m->p2m->pages > SH_MAX_PAGES || m->cfg.shadow_roots > SH_MAX_ROOTS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->m = m;
	s->mapper.ops = &sh_mapper_ops;
	s->mapper.ctx = s;
	s->nroots = m->cfg.shadow_roots;
	s->cur = SH_NO_ROOT;
	s->roots = calloc(s->nroots, sizeof(*s->roots));
	s->track = calloc(m->p2m->pages, sizeof(*s->track));
	s->dmap = calloc((m->p2m->pages + 63) / 64, sizeof(*s->dmap));
	if (!s->roots || !s->track || !s->dmap) {
		free(s->dmap);
		free(s->track);
		free(s->roots);
		free(s);
		return -ENOMEM;
	}
	m->mode = s;
	return 0;
}

static void shadow_destroy(struct mmu *m)
{
	struct shadow *s = m->mode;

	for (uint32_t i = 0; i < s->nroots; i++)
		sh_root_free(s, i);
	assert(s->live == 0);
	for (gfn_t g = 0; g < m->p2m->pages; g++)
		if (sh_dmap(s, g)) {
			int r = mem_rmap_del(m->p2m, g, &s->mapper, SH_DMAP_REF);

			assert(r == 0);
			(void)r;
		}
	/* the TLBs' entries came from records no longer kept anywhere */
	mem_tlb_flush_all(&m->tlb);
	mem_tlb_flush_all(&m->ptlb);
	free(s->sp);
	free(s->dmap);
	free(s->track);
	free(s->roots);
	free(s);
	m->mode = NULL;
}

uint64_t paging_shadow_pages(const struct mmu *m)
{
	const struct shadow *s = m->mode;

	return s->live;
}

bool paging_shadow_tracked(const struct mmu *m, gfn_t gfn)
{
	const struct shadow *s = m->mode;

	return gfn < m->p2m->pages && sh_tracked(s, gfn);
}

const struct paging_ops paging_shadow_ops = {
    .name = "shadow",
    .create = shadow_create,
    .destroy = shadow_destroy,
    .translate = shadow_translate,
    .phys = shadow_phys,
    .set_cr3 = shadow_set_cr3,
    .invlpg = shadow_invlpg,
};
