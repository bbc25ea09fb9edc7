/* SPDX-License-Identifier: MIT */
/*
 * paging_nested: nested paging (Intel EPT format), the two-dimensional walk.
 *
 * The EPT is a real 4-level radix table, 512 eight-byte entries per 4 KiB
 * page, in the layout documented beside EPT_* in mem.h. Its pages come from
 * the frame pool (m->pool), zeroed, and are counted in m->mode_frames; an
 * entry's address is the next table's (or the leaf frame's) hfn << 12, the
 * pool being the host-physical address space. Only 4 KiB leaves are built.
 * The table starts as an empty root and grows lazily: a gfn whose leaf is
 * missing, or whose leaf lacks EPT_W for a write, is an EPT violation, which
 * exits to the VMM (MMU_EXIT_NESTED_FAULT); the handler makes the gfn
 * RESIDENT (or SHARED, write-protected) in the p2m, then the leaf is built
 * from the p2m entry: hfn << 12 | R | X | MT=WB, plus W unless the p2m entry
 * is write-protected. Intermediate tables are allocated on that path only,
 * so a walk over a built table never allocates.
 *
 * Invariant: a present leaf has exactly one rmap record (mapper nested_zap,
 * ref = the leaf's address). A remap of the gfn zaps the record: the leaf is
 * cleared and the gfn dropped from both TLBs and the walk cache, so nothing
 * here keeps a frame the guest no longer owns.
 *
 * The 2D walk (translate): for each guest level 4..1, the gpa of the guest
 * table page is translated through the EPT (4 references, one per EPT
 * level), then the guest entry is read (1 reference); finally the data gpa
 * is translated (4 references): 4 * (4 + 1) + 4 = 24 on a cold miss. A guest
 * 2 MiB (1 GiB) page ends the guest walk at level 2 (3): 19 (14) references.
 * Accesses to guest paging structures are writes for EPT purposes (as with
 * EPT A/D enabled), since the walker writes A/D bits there: a write-protected
 * guest table page exits before the walker writes into a shared frame.
 *
 * Counting rule for exits: an EPT translation costs 4 references once, even
 * when it exits: the faulting attempt, the exit and the re-walk after the
 * handler together count 4, and the 2D walk resumes where it stopped. So a
 * walk costs 24 references without caches whether or not it exited, and
 * one tlb_miss. The one exception: if a handler zapped any EPT leaf during
 * the walk (it reclaimed memory), host pointers taken earlier in the walk
 * may be stale, so the walk restarts from CR3 (as the re-executed
 * instruction would) and the restarted walk counts its references again.
 *
 * The walk cache (pwc, cfg.pwc_entries > 0): a fully associative LRU of
 * guest-table gfn -> host frame, standing in for the paging-structure caches
 * of the second dimension. A hit saves the 4 EPT references of that guest
 * table page (warm: 4 guest entries + 4 for the data page = 8); the data
 * gfn is never cached there (the TLB does that).
 *
 * A/D: on a successful walk (only then) the walker sets PTE_A in every guest
 * entry it used, PTE_D in the guest leaf on a write, EPT_A in every EPT leaf
 * it used and EPT_D on writes (table pages always, data page on a write).
 * The TLB entry gets MEM_TLB_W only when the guest path is writable at every
 * level, the guest leaf is dirty, and the EPT leaf is writable and dirty, so
 * the first write to a clean page walks again and sets D, as hardware does.
 * Reserved bits in guest entries are ignored (no RSVD faults); PS in a PML4
 * entry is ignored.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "mem/mem.h"

#define EPT_LEVELS	    4
#define NESTED_MAX_RESTARTS 16

struct nested_pwc_entry {
	gfn_t gfn;
	uint8_t *hptr; /* host frame of the guest table page; NULL = empty */
	uint32_t stamp;
};

struct nested {
	struct mmu *m;
	struct mem_mapper mapper; /* records our EPT leaves in the rmap */
	hfn_t root;		  /* EPT PML4 frame */
	uint64_t zaps;		  /* leaves zapped, ever: a walk's staleness check */
	unsigned pwc_n;
	uint32_t pwc_tick;
	struct nested_pwc_entry *pwc; /* pwc_n entries */
};

static unsigned ept_index(gfn_t gfn, int level)
{
	return (unsigned)(gfn >> (9 * (level - 1))) & 511u;
}

static uint64_t *ept_table(const struct mmu *m, uint64_t e)
{
	return (uint64_t *)mem_pool_ptr(m->pool, (e & EPT_ADDR_MASK) >> MEM_PAGE_SHIFT);
}

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

static void pwc_flush_gfn(struct nested *n, gfn_t gfn)
{
	for (unsigned i = 0; i < n->pwc_n; i++)
		if (n->pwc[i].hptr && n->pwc[i].gfn == gfn)
			n->pwc[i].hptr = NULL;
}

/* ---- the EPT ---- */

/* The rmap's zap of one of our leaves: the gfn is being remapped. */
static void nested_zap(struct mem_mapper *mp, gfn_t gfn, uint64_t ref)
{
	struct nested *n = mp->ctx;

	*(uint64_t *)(uintptr_t)ref = 0;
	n->zaps++;
	mem_tlb_flush_gfn(&n->m->tlb, gfn);
	mem_tlb_flush_gfn(&n->m->ptlb, gfn);
	pwc_flush_gfn(n, gfn);
}

static const struct mem_mapper_ops nested_mapper_ops = {
    .name = "ept",
    .zap = nested_zap,
};

/* The leaf entry of gfn, or NULL when an intermediate level is missing. */
static uint64_t *ept_lookup(struct mmu *m, struct nested *n, gfn_t gfn)
{
	uint64_t *t = (uint64_t *)mem_pool_ptr(m->pool, n->root);

	for (int level = EPT_LEVELS; level > 1; level--) {
		uint64_t e = t[ept_index(gfn, level)];

		if (!(e & EPT_RWX))
			return NULL;
		t = ept_table(m, e);
	}
	return &t[ept_index(gfn, 1)];
}

/* The leaf entry of gfn, building missing intermediate tables (zeroed, from
 * the pool). Returns 0 or -ENOMEM. */
static int ept_build(struct mmu *m, struct nested *n, gfn_t gfn, uint64_t **leaf)
{
	uint64_t *t = (uint64_t *)mem_pool_ptr(m->pool, n->root);

	for (int level = EPT_LEVELS; level > 1; level--) {
		uint64_t *pe = &t[ept_index(gfn, level)];

		if (!(*pe & EPT_RWX)) {
			hfn_t h;
			int r = mem_pool_alloc(m->pool, &h, true);

			if (r)
				return r;
			m->mode_frames++;
			*pe = (h << MEM_PAGE_SHIFT) | EPT_RWX;
		}
		t = ept_table(m, *pe);
	}
	*leaf = &t[ept_index(gfn, 1)];
	return 0;
}

/*
 * EPT violation on gfn for an access of kind acc: exit to the VMM, then
 * install (or refresh) the leaf from the p2m. Returns the leaf, or NULL with
 * *err: the handler's error, -EFAULT when the handler left the gfn unmapped
 * (or still write-protected for a write), -ENOMEM.
 */
static uint64_t *ept_violation(struct mmu *m, struct nested *n, gfn_t gfn, unsigned acc, int *err)
{
	struct mmu_exit x = {.reason = MMU_EXIT_NESTED_FAULT, .gfn = gfn, .acc = acc};
	enum mem_page_state s;
	uint64_t *leaf, e;
	bool wp;
	int r;

	r = mmu_exit(m, &x);
	if (r)
		goto fail;
	s = mem_p2m_state(m->p2m, gfn);
	wp = mem_p2m_wp(m->p2m, gfn);
	/* the handler did not resolve the violation: retrying would loop */
	r = -EFAULT;
	if ((s != MEM_RESIDENT && s != MEM_SHARED) || ((acc & MMU_WRITE) && wp))
		goto fail;
	r = ept_build(m, n, gfn, &leaf);
	if (r)
		goto fail;
	e = (mem_p2m_val(m->p2m, gfn) << MEM_PAGE_SHIFT) | EPT_R | EPT_X | EPT_MT_WB |
	    (wp ? 0 : EPT_W);
	if (*leaf & EPT_RWX) {
		/* already recorded; any remap would have zapped it first */
		assert((*leaf & EPT_ADDR_MASK) == (e & EPT_ADDR_MASK));
		*leaf = e | (*leaf & (EPT_A | EPT_D));
		return leaf;
	}
	r = mem_rmap_add(m->p2m, gfn, &n->mapper, (uint64_t)(uintptr_t)leaf);
	if (r)
		goto fail;
	*leaf = e;
	return leaf;
fail:
	*err = r;
	return NULL;
}

/*
 * One EPT translation of gfn (< p2m->pages) for an access of kind acc: walk
 * the four levels; on a violation exit and install the leaf; set EPT_A, and
 * EPT_D on a write. Adds 4 to *refs, once, exit or not. Returns the host
 * frame and the leaf's value in *eptl, or NULL with *err.
 */
static uint8_t *ept_translate(struct mmu *m, struct nested *n, gfn_t gfn, unsigned acc,
			      uint64_t *refs, uint64_t *eptl, int *err)
{
	uint64_t *leaf = ept_lookup(m, n, gfn);
	uint64_t need = (acc & MMU_WRITE) ? EPT_W : EPT_R;

	*refs += EPT_LEVELS;
	if (!leaf || !(*leaf & need)) {
		leaf = ept_violation(m, n, gfn, acc, err);
		if (!leaf)
			return NULL;
	}
	*leaf |= EPT_A | ((acc & MMU_WRITE) ? EPT_D : 0);
	*eptl = *leaf;
	return mem_pool_ptr(m->pool, (*leaf & EPT_ADDR_MASK) >> MEM_PAGE_SHIFT);
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
#define NESTED_RESTART 2

static int nested_walk(struct mmu *m, struct nested *n, gva_t va, unsigned acc)
{
	uint64_t zaps = n->zaps, refs = 0, all = PTE_W | PTE_U, nx = 0, e = 0;
	uint64_t eptl = 0, tlbf = 0;
	uint64_t *pte[4];
	gpa_t table = m->cr3 & PTE_ADDR_MASK, data;
	gfn_t dgfn;
	uint8_t *h;
	int used = 0, r = 0;

	for (int level = 4;; level--) {
		gfn_t tgfn = mem_gpa_to_gfn(table);

		if (tgfn >= m->p2m->pages) {
			r = -EFAULT; /* guest garbage in its own tables */
			goto out;
		}
		h = pwc_lookup(n, tgfn);
		if (h) {
			m->st.pwc_hits++;
		} else {
			h = ept_translate(m, n, tgfn, MMU_WRITE, &refs, &eptl, &r);
			if (!h)
				goto out;
			pwc_insert(n, tgfn, h);
		}
		pte[used] = (uint64_t *)h + pte_index(va, level);
		e = *pte[used++];
		refs++;
		if (!(e & PTE_P)) {
			r = nested_pf(m, va, acc, 0);
			goto out;
		}
		all &= e;
		nx |= e & PTE_NX;
		if (level == 1 || (level <= 3 && (e & PTE_PS))) {
			uint64_t off = (1ull << (MEM_PAGE_SHIFT + 9 * (level - 1))) - 1;

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
	h = ept_translate(m, n, dgfn, acc, &refs, &eptl, &r);
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
	mem_tlb_fill(&m->tlb, mem_gva_to_vpn(va), h, dgfn, (uint32_t)tlbf);
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

static uint8_t *nested_phys(struct mmu *m, gpa_t gpa, unsigned acc, int *err)
{
	uint64_t refs = 0, eptl;
	uint8_t *h = ept_translate(m, m->mode, mem_gpa_to_gfn(gpa), acc, &refs, &eptl, err);

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

/* Free the table at frame t (level `level`, mapping gfns from base) and
 * everything below it, forgetting the rmap records of its leaves. */
static void ept_free(struct mmu *m, struct nested *n, hfn_t t, int level, gfn_t base)
{
	uint64_t *tab = (uint64_t *)mem_pool_ptr(m->pool, t);

	for (unsigned i = 0; i < 512; i++) {
		gfn_t gfn = base | ((gfn_t)i << (9 * (level - 1)));

		if (!(tab[i] & EPT_RWX))
			continue;
		if (level == 1) {
			int r = mem_rmap_del(m->p2m, gfn, &n->mapper, (uint64_t)(uintptr_t)&tab[i]);

			assert(r == 0); /* a present leaf has its record */
			(void)r;
		} else {
			ept_free(m, n, (tab[i] & EPT_ADDR_MASK) >> MEM_PAGE_SHIFT, level - 1, gfn);
		}
	}
	mem_pool_free(m->pool, t);
	m->mode_frames--;
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
