/* SPDX-License-Identifier: MIT */
/*
 * test_shadow: shadow paging. Exact exit and walk counts on constructed
 * cases, PT-write exits against the page-table stores made, A/D bits the
 * same as under nested paging for every PTE flag case, write protection,
 * emulated stores, the root cache, zaps, and switching modes at run time.
 */
#include <errno.h>
#include <stdlib.h>

#include "mem/tests/check_mem.h"

#define PWU   (PTE_P | PTE_W | PTE_U)
#define VA    MENV_VA
#define DATA  MENV_DATA
#define PAGES 4096

static void init(struct menv *t, const struct paging_ops *ops)
{
	menv_init(t, ops, PAGES, false, NULL);
}

/* A cold miss: one hidden fault, 4 references, A set on the path; then a
 * miss that finds the spte: 4 references, no exit; a write to the clean
 * page: one more hidden fault, which sets D. */
START_TEST(test_cold_and_warm)
{
	struct menv t;
	uint64_t v = 1;
	struct mem_tlb_entry *e;

	init(&t, &paging_shadow_ops);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU, 1);
	menv_reset(&t);
	ck_assert_int_eq(menv_access(&t, VA + 8, &v, MMU_READ), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_SHADOW_REFS);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 1);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_NESTED_FAULT], 0);
	/* the VMM was asked for the data frame, the only one not present */
	ck_assert_uint_eq(t.calls[MMU_EXIT_HIDDEN_FAULT], 1);
	ck_assert_uint_eq(t.last.gfn, DATA);
	for (int l = 4; l >= 1; l--)
		ck_assert_uint_eq(menv_pte(&t, VA, l, NULL) & (PTE_A | PTE_D), PTE_A);
	ck_assert_uint_eq(paging_shadow_pages(&t.m), 4);
	ck_assert_uint_eq(t.m.mode_frames, 4);
	for (gfn_t g = 1; g <= 4; g++)
		ck_assert(paging_shadow_tracked(&t.m, g));
	ck_assert(!paging_shadow_tracked(&t.m, DATA));
	ck_assert_uint_eq(mem_rmap_count(t.p2m, DATA), 1);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(VA));
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->flags, MEM_TLB_U); /* clean: no W yet */

	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0); /* TLB hit */
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);

	mmu_set_cr3(&t.m, t.m.cr3);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_CR3_WRITE], 1);
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * PAGING_SHADOW_REFS);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 1);

	v = 1;
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 3);
	ck_assert_uint_eq(t.m.st.walk_refs, 3 * PAGING_SHADOW_REFS);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 2);
	ck_assert_uint_eq(menv_pte(&t, VA, 1, NULL) & (PTE_A | PTE_D), PTE_A | PTE_D);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(VA));
	ck_assert_uint_eq(e->flags, MEM_TLB_W | MEM_TLB_U);
	ck_assert_int_eq(menv_access(&t, VA + 16, &v, MMU_WRITE), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 3);
	ck_assert_uint_eq(menv_rd(&t, mem_gfn_to_gpa(DATA)), 1);
	/* nothing of this exits under nested paging but the first touch */
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_PT_WRITE], 0);
	menv_fini(&t);
}
END_TEST

/*
 * Page-table stores: under shadow paging each store to a shadowed table
 * exits once, and only those; under nested paging none does. The same
 * sequence runs in both modes, and the guest sees the same A bits.
 */
START_TEST(test_pt_write_exits)
{
	const struct paging_ops *ops = _i ? &paging_shadow_ops : &paging_nested_ops;
	struct menv t;
	gpa_t pte;
	uint64_t v = 0, e, tracked_stores = 0;

	init(&t, ops);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU, 1);
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	menv_reset(&t);

	/* clock: clear A in the leaf, INVLPG (1 store to a table) */
	e = menv_pte(&t, VA, 1, &pte);
	menv_wr(&t, pte, e & ~PTE_A);
	tracked_stores++;
	mmu_invlpg(&t.m, VA);
	/* map a second page in the same PT (1 store) */
	menv_map(&t, VA + 4096, mem_gfn_to_gpa(DATA + 1), PWU, 1);
	tracked_stores++;
	/* a new region: a store to the PD, then one to a fresh PT, which is
	 * no shadowed table yet (no exit) */
	menv_map(&t, VA + (2u << 20), mem_gfn_to_gpa(DATA + 2), PWU, 1);
	tracked_stores++;
	/* stores to a data page are not page-table stores */
	menv_wr(&t, mem_gfn_to_gpa(DATA) + 64, 9);

	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_PT_WRITE], _i ? tracked_stores : 0);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_INVLPG], _i ? 1 : 0);
	ck_assert_uint_eq(t.m.st.invlpgs, 1);
	/* the next access sets A again, in both modes */
	ck_assert_uint_eq(menv_pte(&t, VA, 1, NULL) & PTE_A, 0);
	menv_reset(&t);
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(menv_pte(&t, VA, 1, NULL) & (PTE_A | PTE_D), PTE_A | PTE_D);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	ck_assert_uint_eq(t.m.st.walk_refs, _i ? PAGING_SHADOW_REFS : PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], _i ? 1 : 0);
	ck_assert_int_eq(menv_access(&t, VA + 4096, &v, MMU_WRITE), 0);
	ck_assert_int_eq(menv_access(&t, VA + (2u << 20), &v, MMU_WRITE), 0);
	ck_assert_uint_eq(menv_rd(&t, mem_gfn_to_gpa(DATA + 2)), v);
	menv_fini(&t);
}
END_TEST

/* The PTE flag table of test_walk.c under shadow paging: the same guest
 * page faults and the same A/D bits as the nested walker. */
START_TEST(test_pte_case_shadow)
{
	const struct pte_case *c = &pte_cases[_i];
	uint32_t tlbf = c->tlbf_sh ? c->tlbf_sh : c->tlbf;
	struct menv t;
	uint8_t buf[8] = {0};
	struct mem_tlb_entry *e;
	int r;

	init(&t, &paging_shadow_ops);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), c->leaf, 1);
	for (int l = 4; l > 1; l--) { /* the upper entries get c->upper */
		gpa_t pa;
		uint64_t u = menv_pte(&t, VA, l, &pa);

		menv_wr(&t, pa, (u & PTE_ADDR_MASK) | c->upper);
	}
	menv_reset(&t);
	r = mmu_access(&t.m, VA + 8, buf, sizeof(buf), c->acc);
	ck_assert_msg(r == c->ret, "%s: returned %d, want %d", c->name, r, c->ret);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 1);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(VA));
	if (c->ret == MMU_PF) {
		ck_assert_msg(t.m.pf.err == c->err, "%s: err %#x, want %#x", c->name, t.m.pf.err,
			      c->err);
		ck_assert_uint_eq(t.m.pf.addr, VA + 8);
		ck_assert_uint_eq(t.m.st.guest_faults, 1);
		ck_assert_ptr_null(e);
		ck_assert_uint_eq(t.calls[MMU_EXIT_HIDDEN_FAULT], 0); /* data never reached */
		ck_assert_uint_eq(t.m.st.walk_refs, 1);		      /* the empty root */
	} else {
		ck_assert_uint_eq(t.m.st.guest_faults, 0);
		ck_assert_ptr_nonnull(e);
		ck_assert_msg(e->flags == tlbf, "%s: tlb flags %#x, want %#x", c->name, e->flags,
			      tlbf);
		ck_assert_uint_eq(e->gfn, DATA);
		ck_assert_uint_eq(t.m.st.walk_refs, PAGING_SHADOW_REFS);
		for (int l = 4; l > 1; l--)
			ck_assert(menv_pte(&t, VA, l, NULL) & PTE_A);
	}
	if (c->ret == 0 || c->err & MMU_PF_P) {
		uint64_t leaf = menv_pte(&t, VA, 1, NULL);

		ck_assert_msg(!!(leaf & PTE_A) == c->a, "%s: A", c->name);
		ck_assert_msg(!!(leaf & PTE_D) == c->d, "%s: D", c->name);
	}
	menv_fini(&t);
}
END_TEST

/* A write-protected (shared) frame gets a read-only spte; a write exits,
 * the VMM breaks copy-on-write with {gfn, MMU_WRITE}, the spte turns W. */
START_TEST(test_write_protect)
{
	struct menv t;
	uint64_t v = 0;
	struct mem_tlb_entry *e;

	init(&t, &paging_shadow_ops);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU, 1);
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	v = 5;
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, DATA), 1);
	ck_assert_int_eq(mem_p2m_set(t.p2m, DATA, MEM_SHARED, mem_p2m_val(t.p2m, DATA), true), 0);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, DATA), 0); /* zapped */
	ck_assert_ptr_null(mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(VA)));
	menv_reset(&t);
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0);
	ck_assert_uint_eq(v, 5);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 1);
	ck_assert_uint_eq(t.calls[MMU_EXIT_HIDDEN_FAULT], 0); /* readable as it is */
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(VA));
	ck_assert_uint_eq(e->flags, MEM_TLB_U); /* D set in the guest, frame protected */

	v = 6;
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_WRITE), 0);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 2);
	ck_assert_uint_eq(t.calls[MMU_EXIT_HIDDEN_FAULT], 1);
	ck_assert_uint_eq(t.last.gfn, DATA);
	ck_assert_uint_eq(t.last.acc, MMU_WRITE);
	ck_assert_int_eq(mem_p2m_state(t.p2m, DATA), MEM_RESIDENT);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(VA));
	ck_assert_uint_eq(e->flags, MEM_TLB_W | MEM_TLB_U);
	ck_assert_uint_eq(menv_rd(&t, mem_gfn_to_gpa(DATA)), 6);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, DATA), 2); /* the spte, the direct map */
	menv_fini(&t);
}
END_TEST

/* A guest that maps its own page table and stores to it through that
 * mapping: the store is emulated and exits as a PT write. */
START_TEST(test_emulated_store)
{
	struct menv t;
	gva_t self = VA + 8 * 4096;
	gpa_t pte;
	uint64_t v = 0;
	gfn_t pt;

	init(&t, &paging_shadow_ops);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU, 1);
	menv_pte(&t, VA, 1, &pte);
	pt = mem_gpa_to_gfn(pte);
	menv_map(&t, self, mem_gfn_to_gpa(pt) | PTE_D, PWU, 1); /* PT maps itself */
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0);
	ck_assert(paging_shadow_tracked(&t.m, pt));
	menv_reset(&t);
	/* read through the mapping: an ordinary read-only spte */
	ck_assert_int_eq(menv_access(&t, self, &v, MMU_READ), 0);
	ck_assert_uint_eq(v & PTE_ADDR_MASK, mem_gfn_to_gpa(DATA));
	ck_assert_uint_eq(t.m.st.emulated, 0);
	/* store a new PTE for VA through it */
	v = mem_gfn_to_gpa(DATA + 1) | PWU;
	ck_assert_int_eq(menv_access(&t, self, &v, MMU_WRITE), 0);
	ck_assert_uint_eq(t.m.st.emulated, 1);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_PT_WRITE], 1);
	ck_assert_uint_eq(t.m.st.accesses, 2);
	ck_assert_uint_eq(menv_pte(&t, VA, 1, NULL), v);
	/* the old spte of VA went with the store */
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.last_gfn, DATA + 1);
	menv_fini(&t);
}
END_TEST

/* The root cache: a CR3 write back to a cached address space finds its
 * tree; with one slot, every switch rebuilds. */
START_TEST(test_roots)
{
	struct mmu_config cfg = {.shadow_roots = _i ? 2 : 1};
	struct menv t;
	gpa_t a, b;
	uint64_t v = 0;

	menv_init(&t, &paging_shadow_ops, PAGES, false, &cfg);
	a = t.m.cr3;
	menv_map(&t, VA, mem_gfn_to_gpa(DATA), PWU, 1);
	b = mem_gfn_to_gpa(t.next_table++);
	mmu_set_cr3(&t.m, b);
	menv_map(&t, VA, mem_gfn_to_gpa(DATA + 1), PWU, 1);
	menv_reset(&t);
	for (int round = 0; round < 3; round++) {
		mmu_set_cr3(&t.m, a);
		ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0);
		ck_assert_uint_eq(t.m.last_gfn, DATA);
		mmu_set_cr3(&t.m, b);
		ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), 0);
		ck_assert_uint_eq(t.m.last_gfn, DATA + 1);
	}
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_CR3_WRITE], 6);
	ck_assert_uint_eq(t.m.st.cr3_loads, 6);
	ck_assert_uint_eq(t.m.st.tlb_misses, 6);
	/* two cold trees with two slots; a rebuild at every switch with one */
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], _i ? 2 : 6);
	ck_assert_uint_eq(paging_shadow_pages(&t.m), _i ? 8 : 4);
	menv_fini(&t);
}
END_TEST

/* The direct map: its first access to a frame is a hidden fault, later
 * misses of the direct-map TLB cost 4 references; a remap drops it. */
START_TEST(test_phys)
{
	struct menv t;
	uint64_t v = 0;

	init(&t, &paging_shadow_ops);
	menv_reset(&t);
	ck_assert_uint_eq(menv_rd(&t, mem_gfn_to_gpa(DATA) + 8), 0);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 1);
	ck_assert_uint_eq(t.m.st.phys_walk_refs, 4);
	menv_wr(&t, mem_gfn_to_gpa(DATA), 3); /* first write after a read fill */
	ck_assert_uint_eq(t.m.st.phys_misses, 2);
	ck_assert_uint_eq(t.m.st.phys_walk_refs, 8);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 1);
	menv_wr(&t, mem_gfn_to_gpa(DATA), 4);
	ck_assert_uint_eq(t.m.st.phys_misses, 2);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, DATA), 1);
	mem_rmap_zap(t.p2m, DATA);
	ck_assert_ptr_null(mem_tlb_lookup(&t.m.ptlb, DATA));
	ck_assert_uint_eq(menv_rd(&t, mem_gfn_to_gpa(DATA)), 4);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 2);
	ck_assert_uint_eq(t.m.st.walk_refs, 0);
	t.fail = -ENOSPC;
	ck_assert_int_eq(mmu_phys(&t.m, mem_gfn_to_gpa(DATA + 1), &v, 8, MMU_READ), -ENOSPC);
	menv_fini(&t);
}
END_TEST

/* Switching modes at run time loses nothing: data, A/D bits, and no frame
 * or record of the old mode is left behind. */
START_TEST(test_switch)
{
	struct menv t;
	const struct paging_ops *seq[] = {&paging_shadow_ops, &paging_nested_ops,
					  &paging_shadow_ops};
	uint64_t v = 0;

	menv_init(&t, &paging_nested_ops, PAGES, false, NULL);
	for (int i = 0; i < 8; i++)
		menv_map(&t, VA + (gva_t)i * 4096, mem_gfn_to_gpa(DATA + (gfn_t)i), PWU, 1);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(menv_access(&t, VA + i * 4096, &i, MMU_WRITE), 0);
	for (unsigned k = 0; k < 3; k++) {
		ck_assert_int_eq(mmu_switch_mode(&t.m, seq[k]), 0);
		ck_assert_ptr_eq(t.m.ops, seq[k]);
		ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_MODE_SWITCH], k + 1);
		/* the old mode's structures are gone; the new one starts empty */
		ck_assert_uint_eq(t.m.mode_frames, seq[k] == &paging_nested_ops ? 1 : 0);
		ck_assert_uint_eq(t.p2m->rmap_used, 0);
		for (uint64_t i = 0; i < 8; i++) {
			uint64_t want = i < 4 + k ? i : 0;

			ck_assert_int_eq(menv_access(&t, VA + i * 4096, &v, MMU_READ), 0);
			ck_assert_uint_eq(v, want);
		}
		v = 4 + k;
		ck_assert_int_eq(menv_access(&t, VA + v * 4096, &v, MMU_WRITE), 0);
	}
	ck_assert_int_eq(mmu_switch_mode(&t.m, &paging_shadow_ops), 0); /* no-op */
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_MODE_SWITCH], 3);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(menv_pte(&t, VA + (gva_t)i * 4096, 1, NULL) & (PTE_A | PTE_D),
				  i < 7 ? PTE_A | PTE_D : PTE_A);
	menv_fini(&t);
}
END_TEST

/* A guest 1 GiB page: a direct level-2 shadow page, 4 KiB sptes in direct
 * PTs below it; INVLPG anywhere in it drops the whole guest page. */
START_TEST(test_guest_1g)
{
	struct menv t;
	gva_t va = 0x0000004000000000ull + 0x40000000ull; /* 1 GiB aligned */
	uint64_t v = 0;
	struct mem_tlb_entry *e;

	menv_init(&t, &paging_shadow_ops, 1ull << 18, false, NULL);
	menv_map(&t, va, 0, PWU | PTE_PS | PTE_D, 3);
	menv_reset(&t);
	ck_assert_int_eq(menv_access(&t, va + 0x12345678, &v, MMU_WRITE), 0);
	ck_assert_uint_eq(t.m.last_gfn, 0x12345);
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_SHADOW_REFS);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 1);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(va + 0x12345678));
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->flags, MEM_TLB_W | MEM_TLB_U | MEM_TLB_G1G);
	ck_assert_int_eq(menv_access(&t, va + 0x200000, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.last_gfn, 0x200);
	/* PML4, PDPT, the direct level-2 page and two direct PTs */
	ck_assert_uint_eq(paging_shadow_pages(&t.m), 5);
	mmu_invlpg(&t.m, va + 0x3fff0000);
	ck_assert_uint_eq(paging_shadow_pages(&t.m), 2);
	ck_assert_ptr_null(mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(va + 0x12345678)));
	ck_assert_int_eq(menv_access(&t, va + 0x12345678, &v, MMU_READ), 0);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_HIDDEN_FAULT], 3);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, 0x12345), 1);
	menv_fini(&t);
}
END_TEST

/* Bad input from the guest fails the access, never the host. */
START_TEST(test_guest_garbage)
{
	struct menv t;
	uint64_t v = 0;

	init(&t, &paging_shadow_ops);
	menv_map(&t, VA, mem_gfn_to_gpa(PAGES + 5), PWU, 1); /* beyond its memory */
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), -EFAULT);
	ck_assert_int_eq(menv_access(&t, 0x0000800000000000ull, &v, MMU_READ), -EFAULT);
	mmu_set_cr3(&t.m, mem_gfn_to_gpa(PAGES));
	ck_assert_int_eq(menv_access(&t, VA, &v, MMU_READ), -EFAULT);
	menv_fini(&t);
}
END_TEST

Suite *shadow_suite(void)
{
	Suite *s = suite_create("shadow");
	TCase *tc = tcase_create("counts");

	tcase_add_test(tc, test_cold_and_warm);
	tcase_add_loop_test(tc, test_pt_write_exits, 0, 2);
	tcase_add_loop_test(tc, test_pte_case_shadow, 0, n_pte_cases);
	tcase_add_test(tc, test_phys);
	suite_add_tcase(s, tc);
	tc = tcase_create("coherence");
	tcase_add_test(tc, test_write_protect);
	tcase_add_test(tc, test_emulated_store);
	tcase_add_loop_test(tc, test_roots, 0, 2);
	tcase_add_test(tc, test_guest_garbage);
	tcase_add_test(tc, test_guest_1g);
	suite_add_tcase(s, tc);
	tc = tcase_create("switch");
	tcase_add_test(tc, test_switch);
	suite_add_tcase(s, tc);
	return s;
}
