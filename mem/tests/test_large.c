/* SPDX-License-Identifier: MIT */
/*
 * test_large: 2 MiB pages in both dimensions. Pool runs and p2m blocks,
 * the walk-reference arithmetic of every guest/host page-size pair under
 * both modes, 2 MiB TLB entries, INVLPG of a guest large page, the split
 * of a 2 MiB mapping when one of its pages is remapped, and access tracking
 * on a 2 MiB mapping.
 */
#include <errno.h>
#include <stdlib.h>

#include "mem/tests/check_mem.h"

#define PWU   (PTE_P | PTE_W | PTE_U)
#define VA    MENV_VA /* 2 MiB aligned */
#define DATA  MENV_DATA
#define PAGES 4096

START_TEST(test_pool_huge)
{
	struct mem_pool *pool = mem_pool_create(3 * MEM_HUGE_PAGES + 100);
	hfn_t h, one, run;
	uint8_t *p;

	ck_assert_ptr_nonnull(pool);
	ck_assert_int_eq(mem_pool_alloc(pool, &one, true), 0);
	ck_assert_int_eq(mem_pool_alloc_huge(pool, &run), 0);
	ck_assert_uint_eq(run, MEM_HUGE_PAGES);		    /* aligned up past frame 0 */
	ck_assert_uint_eq(pool->nfree, MEM_HUGE_PAGES - 1); /* the frames skipped */
	ck_assert_uint_eq(pool->used, MEM_HUGE_PAGES + 1);
	p = mem_pool_ptr(pool, run);
	for (size_t i = 0; i < (size_t)MEM_HUGE_PAGES * MEM_PAGE_SIZE; i += 4096)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_uint_ge(mem_pool_resident(pool), MEM_HUGE_PAGES); /* cleared: resident */
	ck_assert_int_eq(mem_pool_alloc_huge(pool, &h), 0);
	ck_assert_uint_eq(h, 2 * MEM_HUGE_PAGES);
	/* the rest of the fresh region is 100 frames: no run, though more
	 * than 512 single frames are free */
	ck_assert_int_eq(mem_pool_alloc_huge(pool, &h), -ENOMEM);
	ck_assert_uint_ge(pool->frames - pool->used, MEM_HUGE_PAGES);
	/* single frames come back one by one; no run is made of them */
	for (hfn_t i = 0; i < MEM_HUGE_PAGES; i++) {
		mem_pool_free(pool, run + i);
		mem_pool_free(pool, 2 * MEM_HUGE_PAGES + i);
	}
	mem_pool_free(pool, one);
	ck_assert_uint_eq(pool->used, 0);
	ck_assert_int_eq(mem_pool_alloc_huge(pool, &h), -ENOMEM);
	mem_pool_destroy(pool);
}
END_TEST

START_TEST(test_p2m_blocks)
{
	struct mem_pool *pool = mem_pool_create(8 * MEM_HUGE_PAGES);
	struct mem_p2m *p2m = mem_p2m_create(pool, 2 * MEM_HUGE_PAGES + 10);
	hfn_t h;

	ck_assert_ptr_nonnull(p2m);
	ck_assert(!mem_p2m_huge_mappable(p2m, 0));
	ck_assert_int_eq(mem_p2m_populate_huge(p2m, 7, &h), 0);
	ck_assert_uint_eq(h % MEM_HUGE_PAGES, 7);
	ck_assert_uint_eq(p2m->count[MEM_RESIDENT], MEM_HUGE_PAGES);
	for (gfn_t g = 0; g < MEM_HUGE_PAGES; g++)
		ck_assert_uint_eq(mem_p2m_val(p2m, g), h - 7 + g);
	ck_assert(mem_p2m_huge_mappable(p2m, 300));
	/* a block with one gfn touched is refused; so is the partial tail */
	ck_assert_int_eq(mem_p2m_populate(p2m, MEM_HUGE_PAGES + 3, &h), 0);
	ck_assert_int_eq(mem_p2m_populate_huge(p2m, MEM_HUGE_PAGES, &h), -EBUSY);
	ck_assert(!mem_p2m_huge_mappable(p2m, MEM_HUGE_PAGES));
	ck_assert_int_eq(mem_p2m_populate_huge(p2m, 2 * MEM_HUGE_PAGES + 1, &h), -EBUSY);
	ck_assert_int_eq(mem_p2m_populate_huge(p2m, 3 * MEM_HUGE_PAGES, &h), -EINVAL);
	/* write protection of one page makes the block unmappable */
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_SHARED, mem_p2m_val(p2m, 5), true), 0);
	ck_assert(!mem_p2m_huge_mappable(p2m, 0));
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_RESIDENT, mem_p2m_val(p2m, 5), false), 0);
	ck_assert(mem_p2m_huge_mappable(p2m, 0));
	ck_assert_int_eq(mem_p2m_check(p2m), 0);
	mem_p2m_destroy(p2m);
	ck_assert_uint_eq(pool->used, 0);
	mem_pool_destroy(pool);
}
END_TEST

START_TEST(test_tlb_2m)
{
	struct mem_tlb tlb;
	uint8_t pages[1];
	uint64_t vpn = 0x12345;

	ck_assert_int_eq(mem_tlb_init(&tlb, 64, 4), 0);
	mem_tlb_fill(&tlb, mem_tlb_key2m(vpn), pages, 1024, MEM_TLB_W);
	mem_tlb_fill(&tlb, vpn, pages, 7, 0);
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, mem_tlb_key2m(vpn + 1)));
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, mem_tlb_key2m(vpn + 512)));
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, vpn + 1)); /* keys do not mix */
	mem_tlb_flush_gfn(&tlb, 1024 + 511);		   /* inside the 2 MiB */
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, mem_tlb_key2m(vpn)));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, vpn));
	mem_tlb_fill(&tlb, mem_tlb_key2m(vpn), pages, 1024, 0);
	mem_tlb_flush_range(&tlb, (vpn & ~511ull) + 511, 1);
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, mem_tlb_key2m(vpn)));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, vpn));
	mem_tlb_flush_range(&tlb, vpn, 1);
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, vpn));
	/* INVLPG drops every 4 KiB piece of a guest large page */
	for (uint64_t i = 0; i < 8; i++)
		mem_tlb_fill(&tlb, 512 + i, pages, 100 + i, MEM_TLB_G2M);
	mem_tlb_fill(&tlb, 1024, pages, 9, MEM_TLB_G2M);
	ck_assert_uint_eq(tlb.large, 9);
	mem_tlb_flush_page(&tlb, 512 + 3);
	for (uint64_t i = 0; i < 8; i++)
		ck_assert_ptr_null(mem_tlb_lookup(&tlb, 512 + i));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 1024));
	mem_tlb_flush_all(&tlb);
	ck_assert_uint_eq(tlb.large, 0);
	mem_tlb_fini(&tlb);
}
END_TEST

/* Walk references of one TLB miss over a warm structure, by mode and page
 * sizes (Bhargava et al.'s arithmetic: mem.h), and the TLB entry size. */
static const struct {
	bool shadow, guest2m, host2m;
	uint64_t refs;
	bool entry2m;
} refs_cases[] = {
    {false, false, false, PAGING_NESTED_REFS(4, 4), false}, /* 24 */
    {false, true, false, PAGING_NESTED_REFS(3, 4), false},  /* 19 */
    {false, false, true, PAGING_NESTED_REFS(4, 3), false},  /* 19 */
    {false, true, true, PAGING_NESTED_REFS(3, 3), true},    /* 15 */
    {true, false, false, 4, false},
    {true, true, false, 4, false},
    {true, false, true, 4, false},
    {true, true, true, 3, true},
};

START_TEST(test_walk_refs)
{
	struct menv t;
	bool g2 = refs_cases[_i].guest2m;
	uint64_t v = 0, misses;

	menv_init(&t, refs_cases[_i].shadow ? &paging_shadow_ops : &paging_nested_ops, PAGES,
		  refs_cases[_i].host2m, NULL);
	if (g2) {
		menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU | PTE_PS, 2);
	} else {
		menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU, 1);
		menv_map(&t, VA + 4096, mem_gfn_to_gpa(DATA + 1), PWU, 1);
	}
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	mmu_set_cr3(&t.m, t.m.cr3);
	menv_reset(&t);
	ck_assert_int_eq(menv_access(&t, VA + 8, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	ck_assert_uint_eq(t.m.st.walk_refs, refs_cases[_i].refs);
	for (int r = 0; r < MMU_EXIT_NR; r++)
		ck_assert_uint_eq(t.m.st.exits[r], 0);
	ck_assert(!mem_tlb_lookup(&t.m.tlb, mem_tlb_key2m(mem_gva_to_vpn(VA))) ==
		  !refs_cases[_i].entry2m);
	/* the next 4 KiB page: within the 2 MiB entry, or a walk of its own */
	misses = t.m.st.tlb_misses;
	ck_assert_int_eq(menv_access(&t, VA + 4096, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, misses + (refs_cases[_i].entry2m ? 0 : 1));
	ck_assert_uint_eq(t.m.last_gfn, DATA + 1);
	menv_fini(&t);
}
END_TEST

/* INVLPG of any address in a guest 2 MiB page drops the whole page from
 * the TLB, whether it is cached as 4 KiB pieces or as one 2 MiB entry. */
START_TEST(test_invlpg_large)
{
	struct menv t;
	uint64_t v = 0;

	menv_init(&t, _i & 1 ? &paging_shadow_ops : &paging_nested_ops, PAGES, _i & 2, NULL);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU | PTE_PS, 2);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(menv_access(&t, VA + (gva_t)i * 4096, &v, MMU_READ), 0);
	menv_reset(&t);
	mmu_invlpg(&t.m, VA + 5 * 4096 + 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(menv_access(&t, VA + (gva_t)i * 4096, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, _i & 2 ? 1 : 8);
	menv_fini(&t);
}
END_TEST

/* Remapping one page of a 2 MiB mapping splits it: the other 511 keep
 * their translation (no exit to reach them), the remapped one exits. */
START_TEST(test_split)
{
	bool shadow = _i & 1, starve = _i & 2;
	struct menv t;
	gfn_t hit = DATA + 37;
	uint64_t v = 1, keep = 0, nspare = 0;
	hfn_t *spare;

	menv_init(&t, shadow ? &paging_shadow_ops : &paging_nested_ops, PAGES, true, NULL);
	spare = calloc(t.pool->frames, sizeof(*spare));
	ck_assert_ptr_nonnull(spare);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU | PTE_PS, 2);
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	v = 77;
	ck_assert_int_eq(menv_access(&t, VA + 37 * 4096, &v, MMU_WRITE), 0);
	for (gfn_t g = DATA; g < DATA + MEM_HUGE_PAGES; g++)
		ck_assert_uint_eq(mem_rmap_count(t.p2m, g), 1);
	if (starve) /* no frame left for the split's table */
		while (!mem_pool_alloc(t.pool, &spare[nspare], false))
			nspare++;
	ck_assert_int_eq(mem_p2m_set(t.p2m, hit, MEM_SHARED, mem_p2m_val(t.p2m, hit), true), 0);
	ck_assert_uint_eq(t.m.st.splits, starve ? 0 : 1);
	for (gfn_t g = DATA; g < DATA + MEM_HUGE_PAGES; g++)
		keep += mem_rmap_count(t.p2m, g);
	/* split: 511 translations kept; the whole 2 MiB dropped when starved */
	ck_assert_uint_eq(keep, starve ? 0 : 511);
	while (nspare)
		mem_pool_free(t.pool, spare[--nspare]);
	free(spare);
	ck_assert_int_eq(mem_p2m_check(t.p2m), 0);
	menv_reset(&t);
	ck_assert_int_eq(menv_access(&t, VA + 100 * 4096, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.st.exits[shadow ? MMU_EXIT_HIDDEN_FAULT : MMU_EXIT_NESTED_FAULT],
			  starve ? 1 : 0);
	ck_assert_int_eq(menv_access(&t, VA + 37 * 4096, &v, MMU_READ), 0);
	ck_assert_uint_eq(v, 77);
	ck_assert_int_eq(menv_access(&t, VA + 37 * 4096, &v, MMU_WRITE), 0);
	ck_assert_int_eq(mem_p2m_state(t.p2m, hit), MEM_RESIDENT); /* COW broken */
	menv_fini(&t);
}
END_TEST

/* Access tracking on a 2 MiB mapping is seen at 2 MiB granularity, as a
 * large leaf's accessed bit tells: an armed page does not keep its block
 * from being mapped whole, a touch anywhere in the block counts it, and
 * arming a page so mapped drops the whole mapping instead of splitting it,
 * so the block is mapped whole again on its next touch. */
START_TEST(test_track_block)
{
	struct menv t;
	uint64_t v = 77, hits;

	menv_init(&t, _i ? &paging_shadow_ops : &paging_nested_ops, PAGES, true, NULL);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU | PTE_PS, 2);
	ck_assert_int_eq(mem_p2m_track_arm(t.p2m, DATA + 37, MEM_TRACK_WSS), 0);
	hits = t.p2m->track_hits[MEM_TRACK_WSS];
	ck_assert_int_eq(menv_access(&t, VA + 37 * 4096, &v, MMU_WRITE), 0);
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	for (gfn_t g = DATA; g < DATA + MEM_HUGE_PAGES; g++)
		ck_assert_uint_eq(mem_rmap_count(t.p2m, g), 1);
	ck_assert(mem_p2m_huge_mappable(t.p2m, DATA));
	ck_assert_uint_eq(t.p2m->track_hits[MEM_TRACK_WSS], hits + 1);
	ck_assert(!mem_p2m_track_armed(t.p2m, DATA + 37, MEM_TRACK_WSS));

	/* arm a page under the 2 MiB mapping: the mapping goes whole */
	ck_assert_int_eq(mem_p2m_track_arm(t.p2m, DATA + 100, MEM_TRACK_WSS), 0);
	for (gfn_t g = DATA; g < DATA + MEM_HUGE_PAGES; g++)
		ck_assert_uint_eq(mem_rmap_count(t.p2m, g), 0);
	ck_assert_uint_eq(t.m.st.splits, 0);
	/* a touch elsewhere in the block maps it whole and counts the page */
	menv_reset(&t);
	ck_assert_int_eq(menv_access(&t, VA + 5 * 4096, &v, MMU_READ), 0);
	ck_assert_int_eq(menv_access(&t, VA + 37 * 4096, &v, MMU_READ), 0);
	ck_assert_uint_eq(v, 77);
	ck_assert_uint_eq(t.m.st.exits[_i ? MMU_EXIT_HIDDEN_FAULT : MMU_EXIT_NESTED_FAULT], 1);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1); /* one 2 MiB TLB entry */
	for (gfn_t g = DATA; g < DATA + MEM_HUGE_PAGES; g++)
		ck_assert_uint_eq(mem_rmap_count(t.p2m, g), 1);
	ck_assert_uint_eq(t.p2m->track_hits[MEM_TRACK_WSS], hits + 2);
	ck_assert_uint_eq(t.m.st.splits, 0);
	ck_assert_int_eq(mem_p2m_check(t.p2m), 0);
	menv_fini(&t);
}
END_TEST

Suite *large_suite(void)
{
	Suite *s = suite_create("large");
	TCase *tc = tcase_create("frames");

	tcase_add_test(tc, test_pool_huge);
	tcase_add_test(tc, test_p2m_blocks);
	tcase_add_test(tc, test_tlb_2m);
	suite_add_tcase(s, tc);
	tc = tcase_create("mappings");
	tcase_add_loop_test(tc, test_walk_refs, 0, ARRAY_SIZE(refs_cases));
	tcase_add_loop_test(tc, test_invlpg_large, 0, 4);
	tcase_add_loop_test(tc, test_split, 0, 4);
	tcase_add_loop_test(tc, test_track_block, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
