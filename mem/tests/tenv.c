/* SPDX-License-Identifier: MIT */
/* tenv: a guest for the paging-mode tests, in either mode (check_mem.h). */
#include <errno.h>
#include <stdlib.h>

#include "mem/tests/check_mem.h"

static int menv_exit(void *ctx, const struct mmu_exit *x)
{
	struct menv *t = ctx;
	hfn_t h;
	int r;

	ck_assert_int_lt(x->reason, MMU_EXIT_NR);
	t->calls[x->reason]++;
	t->last = *x;
	if (x->reason == MMU_EXIT_CR3_WRITE || x->reason == MMU_EXIT_INVLPG)
		return 0;
	ck_assert_uint_lt(x->gfn, t->p2m->pages);
	if (t->fail)
		return t->fail;
	switch (mem_p2m_state(t->p2m, x->gfn)) {
	case MEM_UNTOUCHED:
		if (t->huge) {
			r = mem_p2m_populate_huge(t->p2m, x->gfn, &h);
			if (r != -EBUSY && r != -ENOMEM)
				return r;
		}
		return mem_p2m_populate(t->p2m, x->gfn, &h);
	case MEM_RESIDENT:
		return 0;
	case MEM_SHARED:
		/* a copy-on-write break, in place: the test owns the frame */
		if (x->acc & MMU_WRITE)
			return mem_p2m_set(t->p2m, x->gfn, MEM_RESIDENT,
					   mem_p2m_val(t->p2m, x->gfn), false);
		return 0;
	default:
		return -EFAULT;
	}
}

void menv_init(struct menv *t, const struct paging_ops *ops, uint64_t pages, bool huge,
	       const struct mmu_config *cfg)
{
	memset(t, 0, sizeof(*t));
	t->huge = huge;
	t->pool = mem_pool_create(pages + 2048);
	ck_assert_ptr_nonnull(t->pool);
	t->p2m = mem_p2m_create(t->pool, pages);
	ck_assert_ptr_nonnull(t->p2m);
	ck_assert_int_eq(mmu_init(&t->m, t->p2m, ops, cfg, menv_exit, t), 0);
	t->next_table = 1;
	mmu_set_cr3(&t->m, mem_gfn_to_gpa(t->next_table++));
}

void menv_reset(struct menv *t)
{
	memset(&t->m.st, 0, sizeof(t->m.st));
	memset(t->calls, 0, sizeof(t->calls));
}

void menv_fini(struct menv *t)
{
	mmu_fini(&t->m);
	ck_assert_int_eq(mem_p2m_check(t->p2m), 0);
	ck_assert_uint_eq(t->p2m->rmap_used, 0); /* every record dropped */
	/* the mode gave every table frame back */
	ck_assert_uint_eq(t->pool->used, t->p2m->count[MEM_RESIDENT] + t->p2m->count[MEM_SHARED]);
	mem_p2m_destroy(t->p2m);
	ck_assert_uint_eq(t->pool->used, 0);
	mem_pool_destroy(t->pool);
}

uint64_t menv_rd(struct menv *t, gpa_t pa)
{
	uint64_t v = 0;

	ck_assert_int_eq(mmu_phys(&t->m, pa, &v, sizeof(v), MMU_READ), 0);
	return v;
}

void menv_wr(struct menv *t, gpa_t pa, uint64_t v)
{
	ck_assert_int_eq(mmu_phys(&t->m, pa, &v, sizeof(v), MMU_WRITE), 0);
}

/* The guest entry of va at level, read through the p2m (no side effects);
 * its gpa in *gpa. Tables above must exist. */
uint64_t menv_pte(struct menv *t, gva_t va, int level, gpa_t *gpa)
{
	gpa_t table = t->m.cr3 & PTE_ADDR_MASK;
	uint8_t page[MEM_PAGE_SIZE];
	uint64_t e = 0;

	for (int l = 4; l >= level; l--) {
		ck_assert_int_eq(mem_p2m_read(t->p2m, mem_gpa_to_gfn(table), page), 0);
		memcpy(&e, page + 8 * pte_index(va, l), 8);
		if (gpa)
			*gpa = table + 8 * pte_index(va, l);
		table = e & PTE_ADDR_MASK;
	}
	return e;
}

void menv_map(struct menv *t, gva_t va, gpa_t pa, uint64_t leaf, int leaf_level)
{
	gpa_t table = t->m.cr3 & PTE_ADDR_MASK;

	for (int level = 4; level > leaf_level; level--) {
		gpa_t ea = table + 8 * pte_index(va, level);
		uint64_t e = menv_rd(t, ea);

		if (!(e & PTE_P)) {
			ck_assert_uint_lt(t->next_table, MENV_DATA);
			e = mem_gfn_to_gpa(t->next_table++) | MENV_UPPER;
			menv_wr(t, ea, e);
		}
		table = e & PTE_ADDR_MASK;
	}
	menv_wr(t, table + 8 * pte_index(va, leaf_level), pa | leaf);
}

int menv_access(struct menv *t, gva_t va, uint64_t *v, unsigned acc)
{
	return mmu_access(&t->m, va, v, sizeof(*v), acc);
}
