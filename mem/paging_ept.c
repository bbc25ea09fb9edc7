/* SPDX-License-Identifier: MIT */
/*
 * paging_ept: the EPT of nested paging (Intel's format), as paging_nested.c
 * describes it: a 4-level radix table of pool frames, grown lazily on EPT
 * violations from the p2m, with 2 MiB leaves where the p2m maps a whole
 * aligned block, split back into 4 KiB leaves when one gfn of the block is
 * zapped. Each mapped gfn has one rmap record (nested_mapper_ops); a zap
 * finds the leaf by walking for the gfn.
 */
#include <assert.h>
#include <errno.h>

#include "mem/paging_nested_internal.h"

#define EPT_LEAF_FLAGS (EPT_RWX | EPT_MT_WB | EPT_IPAT | EPT_A | EPT_D)

/*
 * The entry that maps gfn: a 4 KiB leaf (*level 1) or a 2 MiB leaf (*level
 * 2, EPT_PS). NULL when an intermediate table is missing; the entry
 * returned may be empty.
 */
static uint64_t *ept_find(struct mmu *m, struct nested *n, gfn_t gfn, int *level)
{
	uint64_t *t = (uint64_t *)mem_pool_ptr(m->pool, n->root);

	for (int l = EPT_LEVELS; l > 1; l--) {
		uint64_t *pe = &t[ept_index(gfn, l)];

		if (l == 2 && (*pe & EPT_PS)) {
			*level = 2;
			return pe;
		}
		if (!(*pe & EPT_RWX))
			return NULL;
		t = ept_table(m, *pe);
	}
	*level = 1;
	return &t[ept_index(gfn, 1)];
}

/* Host frame of gfn under leaf e at level. */
static hfn_t ept_hfn(uint64_t e, int level, gfn_t gfn)
{
	hfn_t h = (e & EPT_ADDR_MASK) >> MEM_PAGE_SHIFT;

	return level == 2 ? h + (gfn & (MEM_HUGE_PAGES - 1)) : h;
}

/*
 * Split the 2 MiB leaf *pde into a table of 4 KiB leaves on the same
 * frames, leaving gfn's entry empty when clear is set. Returns 0, or
 * -ENOMEM when the pool has no frame for the table (nothing changed).
 */
static int ept_split(struct mmu *m, uint64_t *pde, gfn_t gfn, bool clear)
{
	hfn_t base = (*pde & EPT_ADDR_MASK) >> MEM_PAGE_SHIFT, h;
	uint64_t flags = *pde & EPT_LEAF_FLAGS, *t;
	int r = mem_pool_alloc(m->pool, &h, false);

	if (r)
		return r;
	m->mode_frames++;
	m->st.splits++;
	t = (uint64_t *)mem_pool_ptr(m->pool, h);
	for (unsigned i = 0; i < MEM_HUGE_PAGES; i++)
		t[i] = (base + i) << MEM_PAGE_SHIFT | flags;
	if (clear)
		t[ept_index(gfn, 1)] = 0;
	*pde = (h << MEM_PAGE_SHIFT) | EPT_RWX;
	return 0;
}

/* Drop the 2 MiB leaf *pde over gfn whole: the records of the block's
 * other gfns go (the rmap is zapping gfn's own), and whatever is cached
 * of the block. */
static void ept_drop_2m(struct mmu *m, struct nested *n, uint64_t *pde, gfn_t gfn)
{
	gfn_t base = gfn & ~(gfn_t)(MEM_HUGE_PAGES - 1);

	*pde = 0;
	for (gfn_t g = base; g < base + MEM_HUGE_PAGES; g++)
		if (g != gfn) {
			(void)mem_rmap_del(m->p2m, g, &n->mapper, 0);
			nested_pwc_flush(n, g);
		}
	mem_tlb_flush_gfns(&m->tlb, base, MEM_HUGE_PAGES);
	mem_tlb_flush_gfns(&m->ptlb, base, MEM_HUGE_PAGES);
}

/* The rmap's zap: gfn is being remapped, or armed for access tracking.
 * ref is always 0 (see above). Under a 2 MiB leaf a remap splits it; an
 * armed gfn drops it whole, so that the block's next touch maps it whole
 * again and is seen (mem_p2m_huge_mappable); so does a split the pool has
 * no frame for. */
static void nested_zap(struct mem_mapper *mp, gfn_t gfn, uint64_t ref)
{
	struct nested *n = mp->ctx;
	struct mmu *m = n->m;
	uint64_t *leaf;
	int level;

	(void)ref;
	leaf = ept_find(m, n, gfn, &level);
	if (leaf && level == 1)
		*leaf = 0;
	else if (leaf && (mem_p2m_tracked(m->p2m, gfn) || ept_split(m, leaf, gfn, true)))
		ept_drop_2m(m, n, leaf, gfn);
	n->zaps++;
	mem_tlb_flush_gfn(&m->tlb, gfn);
	mem_tlb_flush_gfn(&m->ptlb, gfn);
	nested_pwc_flush(n, gfn);
}

const struct mem_mapper_ops nested_mapper_ops = {
    .name = "ept",
    .zap = nested_zap,
};

/* The entry at `level` (1 or 2) for gfn, building missing intermediate
 * tables above it (zeroed, from the pool); a 2 MiB leaf in the way of a
 * level-1 entry is split. Returns 0 or -ENOMEM. */
static int ept_build(struct mmu *m, struct nested *n, gfn_t gfn, int level, uint64_t **out)
{
	uint64_t *t = (uint64_t *)mem_pool_ptr(m->pool, n->root);

	for (int l = EPT_LEVELS; l > level; l--) {
		uint64_t *pe = &t[ept_index(gfn, l)];

		if (l == 2 && (*pe & EPT_PS)) {
			int r = ept_split(m, pe, gfn, false);

			if (r)
				return r;
		} else if (!(*pe & EPT_RWX)) {
			hfn_t h;
			int r = mem_pool_alloc(m->pool, &h, true);

			if (r)
				return r;
			m->mode_frames++;
			*pe = (h << MEM_PAGE_SHIFT) | EPT_RWX;
		}
		t = ept_table(m, *pe);
	}
	*out = &t[ept_index(gfn, level)];
	return 0;
}

/* Install a 2 MiB leaf for gfn's block at the empty PD entry *pde: one
 * record per gfn. Returns 0 or -ENOMEM (nothing changed). */
static int ept_install_2m(struct mmu *m, struct nested *n, uint64_t *pde, gfn_t gfn)
{
	gfn_t base = gfn & ~(gfn_t)(MEM_HUGE_PAGES - 1);
	int r = 0;

	for (gfn_t g = base; g < base + MEM_HUGE_PAGES && !r; g++) {
		r = mem_rmap_add(m->p2m, g, &n->mapper, 0);
		if (r)
			while (g-- > base)
				(void)mem_rmap_del(m->p2m, g, &n->mapper, 0);
	}
	if (r)
		return r;
	*pde = (mem_p2m_val(m->p2m, base) << MEM_PAGE_SHIFT) | EPT_RWX | EPT_MT_WB | EPT_PS;
	return 0;
}

/*
 * EPT violation on gfn for an access of kind acc: exit to the VMM, then
 * install (or refresh) the leaf from the p2m. Returns the leaf and its level,
 * or NULL with *err: the handler's error, -EFAULT when the handler left the
 * gfn unmapped (or still write-protected for a write), -ENOMEM.
 */
static uint64_t *ept_violation(struct mmu *m, struct nested *n, gfn_t gfn, unsigned acc, int *level,
			       int *err)
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
	if (mem_p2m_huge_mappable(m->p2m, gfn)) {
		r = ept_build(m, n, gfn, 2, &leaf);
		if (r)
			goto fail;
		if (!(*leaf & EPT_RWX)) {
			r = ept_install_2m(m, n, leaf, gfn);
			if (r)
				goto fail;
			*level = 2;
			return leaf;
		}
		/* a table of 4 KiB leaves is there already: add to it */
	}
	r = ept_build(m, n, gfn, 1, &leaf);
	if (r)
		goto fail;
	*level = 1;
	e = (mem_p2m_val(m->p2m, gfn) << MEM_PAGE_SHIFT) | EPT_R | EPT_X | EPT_MT_WB |
	    (wp ? 0 : EPT_W);
	if (*leaf & EPT_RWX) {
		/* already recorded; any remap would have zapped it first */
		assert((*leaf & EPT_ADDR_MASK) == (e & EPT_ADDR_MASK));
		*leaf = e | (*leaf & (EPT_A | EPT_D));
		return leaf;
	}
	r = mem_rmap_add(m->p2m, gfn, &n->mapper, 0);
	if (r)
		goto fail;
	*leaf = e;
	return leaf;
fail:
	*err = r;
	return NULL;
}

/* See paging_nested_internal.h. */
uint8_t *ept_translate(struct mmu *m, struct nested *n, gfn_t gfn, unsigned acc, uint64_t *refs,
		       uint64_t *eptl, int *level, int *err)
{
	uint64_t *leaf = ept_find(m, n, gfn, level);
	uint64_t need = (acc & MMU_WRITE) ? EPT_W : EPT_R;

	if (!leaf || !(*leaf & need)) {
		leaf = ept_violation(m, n, gfn, acc, level, err);
		if (!leaf) {
			*refs += EPT_LEVELS;
			return NULL;
		}
	}
	*refs += (uint64_t)(EPT_LEVELS - *level + 1);
	*leaf |= EPT_A | ((acc & MMU_WRITE) ? EPT_D : 0);
	*eptl = *leaf;
	return mem_pool_ptr(m->pool, ept_hfn(*leaf, *level, gfn));
}

/* See paging_nested_internal.h. */
void ept_free(struct mmu *m, struct nested *n, hfn_t t, int level, gfn_t base)
{
	uint64_t *tab = (uint64_t *)mem_pool_ptr(m->pool, t);

	for (unsigned i = 0; i < 512; i++) {
		gfn_t gfn = base | ((gfn_t)i << (9 * (level - 1)));

		if (!(tab[i] & EPT_RWX))
			continue;
		if (level == 1 || (level == 2 && (tab[i] & EPT_PS))) {
			gfn_t nr = level == 1 ? 1 : MEM_HUGE_PAGES;

			for (gfn_t g = gfn; g < gfn + nr; g++) {
				int r = mem_rmap_del(m->p2m, g, &n->mapper, 0);

				assert(r == 0); /* a mapped gfn has its record */
				(void)r;
			}
		} else {
			ept_free(m, n, (tab[i] & EPT_ADDR_MASK) >> MEM_PAGE_SHIFT, level - 1, gfn);
		}
	}
	mem_pool_free(m->pool, t);
	m->mode_frames--;
}
