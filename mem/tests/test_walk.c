/* SPDX-License-Identifier: MIT */
/*
 * test_walk: the PTE flag table, the nested 2D walk and its exact reference
 * counts, the TLB model, the walk cache, exits, A/D bits and zaps.
 *
 * Every test builds a fresh guest: a pool, a p2m, a nested MMU whose exit
 * handler populates the faulting gfn, and guest page tables written through
 * mmu_phys (the guest kernel's direct map), so nothing here needs guest/.
 * Guest table pages are bump-allocated from gfn 1 (gfn 1 is the PML4); data
 * pages are chosen by each test above T_DATA.
 */
#include <errno.h>
#include <stdlib.h>

#include "mem/mem_test.h"
#include "mem/tests/check_mem.h"

#define T_PAGES 4096 /* 16 MiB guest */
#define T_DATA	1024 /* first data gfn used by tests (4 MiB: 2 MiB aligned) */
#define T_VA	0x00007f0000200000ull
#define UPPER	(PTE_P | PTE_W | PTE_U)

struct tenv {
	struct mem_pool *pool;
	struct mem_p2m *p2m;
	struct mmu m;
	gfn_t next_table;
	/* the exit handler's record and knobs */
	unsigned exits;
	struct mmu_exit last;
	int fail;	   /* return this instead of handling */
	bool leave;	   /* return 0 without making the gfn resident */
	gfn_t zap_on_exit; /* zap this gfn (once) while handling an exit; 0 = off */
};

static int t_exit(void *ctx, const struct mmu_exit *x)
{
	struct tenv *t = ctx;
	hfn_t h;

	t->exits++;
	t->last = *x;
	ck_assert_int_eq(x->reason, MMU_EXIT_NESTED_FAULT);
	if (t->fail)
		return t->fail;
	if (t->leave)
		return 0;
	if (t->zap_on_exit) {
		mem_rmap_zap(t->p2m, t->zap_on_exit);
		t->zap_on_exit = 0;
	}
	switch (mem_p2m_state(t->p2m, x->gfn)) {
	case MEM_UNTOUCHED:
	case MEM_RESIDENT:
		return mem_p2m_populate(t->p2m, x->gfn, &h);
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

static void tenv_init_pages(struct tenv *t, uint64_t pages, unsigned pwc)
{
	struct mmu_config cfg = {.pwc_entries = pwc};

	memset(t, 0, sizeof(*t));
	t->pool = mem_pool_create(pages + 256);
	ck_assert_ptr_nonnull(t->pool);
	t->p2m = mem_p2m_create(t->pool, pages);
	ck_assert_ptr_nonnull(t->p2m);
	ck_assert_int_eq(mmu_init(&t->m, t->p2m, &paging_nested_ops, &cfg, t_exit, t), 0);
	t->next_table = 1;
	mmu_set_cr3(&t->m, mem_gfn_to_gpa(t->next_table++));
}

static void tenv_init(struct tenv *t, unsigned pwc)
{
	tenv_init_pages(t, T_PAGES, pwc);
}

/* Forget the counts of the setup (table building through mmu_phys). */
static void tenv_reset(struct tenv *t)
{
	memset(&t->m.st, 0, sizeof(t->m.st));
	t->exits = 0;
}

static void tenv_fini(struct tenv *t)
{
	mmu_fini(&t->m);
	ck_assert_int_eq(mem_p2m_check(t->p2m), 0);
	ck_assert_uint_eq(t->p2m->rmap_used, 0); /* every EPT record dropped */
	ck_assert_uint_eq(t->pool->used, t->p2m->count[MEM_RESIDENT]); /* EPT freed */
	mem_p2m_destroy(t->p2m);
	ck_assert_uint_eq(t->pool->used, 0);
	mem_pool_destroy(t->pool);
}

static uint64_t phys_rd(struct tenv *t, gpa_t pa)
{
	uint64_t v = 0;

	ck_assert_int_eq(mmu_phys(&t->m, pa, &v, sizeof(v), MMU_READ), 0);
	return v;
}

static void phys_wr(struct tenv *t, gpa_t pa, uint64_t v)
{
	ck_assert_int_eq(mmu_phys(&t->m, pa, &v, sizeof(v), MMU_WRITE), 0);
}

/* gpa of the guest entry of va at `level` (tables must exist above it). */
static gpa_t pte_gpa(struct tenv *t, gva_t va, int level)
{
	gpa_t table = t->m.cr3 & PTE_ADDR_MASK;

	for (int l = 4; l > level; l--)
		table = phys_rd(t, table + 8 * pte_index(va, l)) & PTE_ADDR_MASK;
	return table + 8 * pte_index(va, level);
}

/* Map va -> pa: the entry at leaf_level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) gets
 * pa | leaf; missing tables above it are made with flags `upper`. */
static void pt_map(struct tenv *t, gva_t va, gpa_t pa, uint64_t leaf, uint64_t upper,
		   int leaf_level)
{
	gpa_t table = t->m.cr3 & PTE_ADDR_MASK;

	for (int level = 4; level > leaf_level; level--) {
		gpa_t ea = table + 8 * pte_index(va, level);
		uint64_t e = phys_rd(t, ea);

		if (!(e & PTE_P)) {
			ck_assert_uint_lt(t->next_table, T_DATA);
			e = mem_gfn_to_gpa(t->next_table++) | upper;
			phys_wr(t, ea, e);
		}
		table = e & PTE_ADDR_MASK;
	}
	phys_wr(t, table + 8 * pte_index(va, leaf_level), pa | leaf);
}

static void pt_map4k(struct tenv *t, gva_t va, gfn_t gfn)
{
	pt_map(t, va, mem_gfn_to_gpa(gfn), UPPER, UPPER, 1);
}

/* The EPT leaf of gfn, walking the real table from its root; NULL if an
 * intermediate level is missing. */
static uint64_t *ept_leaf(struct tenv *t, gfn_t gfn)
{
	uint64_t *tab = (uint64_t *)mem_pool_ptr(t->pool, paging_nested_root(&t->m) >> 12);

	for (int level = 4; level > 1; level--) {
		uint64_t e = tab[(gfn >> (9 * (level - 1))) & 511];

		if (!(e & EPT_RWX))
			return NULL;
		tab = (uint64_t *)mem_pool_ptr(t->pool, (e & EPT_ADDR_MASK) >> 12);
	}
	return &tab[gfn & 511];
}

static int rd64(struct tenv *t, gva_t va, uint64_t *v, unsigned acc)
{
	return mmu_access(&t->m, va, v, sizeof(*v), MMU_READ | acc);
}

static int wr64(struct tenv *t, gva_t va, uint64_t v, unsigned acc)
{
	return mmu_access(&t->m, va, &v, sizeof(v), MMU_WRITE | acc);
}

/* ------------------------------------------------------------------------
 * pte_suite: formats and the flag table
 */

START_TEST(test_formats)
{
	ck_assert_uint_eq(pte_index(0x0000ff8000000000ull, 4), 511);
	ck_assert_uint_eq(pte_index(0x0000000040000000ull, 3), 1);
	ck_assert_uint_eq(pte_index(0x0000000000200000ull, 2), 1);
	ck_assert_uint_eq(pte_index(0x0000000000001000ull, 1), 1);
	ck_assert_uint_eq(PAGING_NESTED_COLD_REFS, 4 * (4 + 1) + 4);
	ck_assert_str_eq(mmu_exit_name(MMU_EXIT_NESTED_FAULT), "nested_fault");
	ck_assert_str_eq(mmu_exit_name(MMU_EXIT_HIDDEN_FAULT), "hidden_fault");
	ck_assert_str_eq(mmu_exit_name(MMU_EXIT_PT_WRITE), "pt_write");
	ck_assert_str_eq(mmu_exit_name(MMU_EXIT_CR3_WRITE), "cr3_write");
	ck_assert_str_eq(mmu_exit_name(MMU_EXIT_INVLPG), "invlpg");
	ck_assert_str_eq(mmu_exit_name(MMU_EXIT_MODE_SWITCH), "mode_switch");
	ck_assert_str_eq(mmu_exit_name(MMU_EXIT_BALLOON), "balloon");
	ck_assert_ptr_eq(paging_find("nested"), &paging_nested_ops);
	ck_assert_ptr_null(paging_find("bogus"));
}
END_TEST

/* The EPT leaf built on a violation: hfn << 12 | R | X | WB | W, A on use,
 * D on write; W absent for a write-protected gfn. */
START_TEST(test_ept_leaf_format)
{
	struct tenv t;
	gfn_t g = T_DATA;
	uint64_t *leaf, v = 0;
	hfn_t h;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, g);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	leaf = ept_leaf(&t, g);
	ck_assert_ptr_nonnull(leaf);
	h = mem_p2m_val(t.p2m, g);
	ck_assert_uint_eq(*leaf, h << 12 | EPT_R | EPT_W | EPT_X | EPT_MT_WB | EPT_A);
	ck_assert_int_eq(wr64(&t, T_VA, 1, 0), 0);
	ck_assert_uint_eq(*leaf, h << 12 | EPT_R | EPT_W | EPT_X | EPT_MT_WB | EPT_A | EPT_D);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, g), 1);

	/* write-protect (KSM-like): zapped, then rebuilt without W */
	ck_assert_int_eq(mem_p2m_set(t.p2m, g, MEM_SHARED, h, true), 0);
	ck_assert_uint_eq(*leaf, 0);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, g), 0);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_uint_eq(*leaf, h << 12 | EPT_R | EPT_X | EPT_MT_WB | EPT_A);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, g), 1);
	/* every level's table frame is accounted to the mode */
	ck_assert_uint_ge(t.m.mode_frames, 4);
	/* the test plays ksm: take the frame back so the p2m frees it */
	ck_assert_int_eq(mem_p2m_set(t.p2m, g, MEM_RESIDENT, h, false), 0);
	tenv_fini(&t);
}
END_TEST

#define PWU (PTE_P | PTE_W | PTE_U)
const struct pte_case pte_cases[] = {
    {"read", PWU, PWU, MMU_READ, 0, 0, true, false, MEM_TLB_U, 0},
    {"write", PWU, PWU, MMU_WRITE, 0, 0, true, true, MEM_TLB_W | MEM_TLB_U, 0},
    {"user write", PWU, PWU, MMU_WRITE | MMU_USER, 0, 0, true, true, MEM_TLB_W | MEM_TLB_U, 0},
    {"user fetch", PWU, PWU, MMU_FETCH | MMU_USER, 0, 0, true, false, MEM_TLB_U, 0},
    /* guest D already set but the EPT leaf is clean: no W until a write;
     * under shadow paging the spte of a dirty page is writable at once */
    {"read dirty", PWU, PWU | PTE_D, MMU_READ, 0, 0, true, true, MEM_TLB_U, MEM_TLB_W | MEM_TLB_U},
    {"read ro", PWU, PTE_P | PTE_U, MMU_READ, 0, 0, true, false, MEM_TLB_U, 0},
    {"read ro dirty", PWU, PTE_P | PTE_U | PTE_D, MMU_READ, 0, 0, true, true, MEM_TLB_U, 0},
    {"write ro leaf", PWU, PTE_P | PTE_U, MMU_WRITE, MMU_PF, MMU_PF_P | MMU_PF_W, false, false, 0,
     0},
    {"write ro upper", PTE_P | PTE_U, PWU, MMU_WRITE, MMU_PF, MMU_PF_P | MMU_PF_W, false, false, 0,
     0},
    {"user write ro", PWU, PTE_P | PTE_U, MMU_WRITE | MMU_USER, MMU_PF,
     MMU_PF_P | MMU_PF_W | MMU_PF_U, false, false, 0, 0},
    {"user read kernel leaf", PWU, PTE_P | PTE_W, MMU_USER, MMU_PF, MMU_PF_P | MMU_PF_U, false,
     false, 0, 0},
    {"user read kernel upper", PTE_P | PTE_W, PWU, MMU_USER, MMU_PF, MMU_PF_P | MMU_PF_U, false,
     false, 0, 0},
    {"kernel read kernel", PTE_P | PTE_W, PTE_P | PTE_W, MMU_READ, 0, 0, true, false, 0, 0},
    {"kernel write kernel", PTE_P | PTE_W, PTE_P | PTE_W, MMU_WRITE, 0, 0, true, true, MEM_TLB_W,
     0},
    {"kernel write user", PWU, PWU, MMU_WRITE, 0, 0, true, true, MEM_TLB_W | MEM_TLB_U, 0},
    {"read nx leaf", PWU, PWU | PTE_NX, MMU_READ, 0, 0, true, false, MEM_TLB_U | MEM_TLB_NX, 0},
    {"write nx leaf", PWU, PWU | PTE_NX, MMU_WRITE, 0, 0, true, true,
     MEM_TLB_W | MEM_TLB_U | MEM_TLB_NX, 0},
    {"fetch nx leaf", PWU, PWU | PTE_NX, MMU_FETCH, MMU_PF, MMU_PF_P | MMU_PF_I, false, false, 0,
     0},
    {"fetch nx upper", PWU | PTE_NX, PWU, MMU_FETCH, MMU_PF, MMU_PF_P | MMU_PF_I, false, false, 0,
     0},
    {"user fetch nx", PWU, PWU | PTE_NX, MMU_FETCH | MMU_USER, MMU_PF,
     MMU_PF_P | MMU_PF_U | MMU_PF_I, false, false, 0, 0},
    {"read not present", PWU, PTE_W | PTE_U, MMU_READ, MMU_PF, 0, false, false, 0, 0},
    {"write not present", PWU, 0, MMU_WRITE, MMU_PF, MMU_PF_W, false, false, 0, 0},
    {"user fetch not present", PWU, 0, MMU_FETCH | MMU_USER, MMU_PF, MMU_PF_U | MMU_PF_I, false,
     false, 0, 0},
    {"upper not present", PTE_W | PTE_U, PWU, MMU_READ, MMU_PF, 0, false, false, 0, 0},
    {"user write upper not present", PTE_W | PTE_U, PWU, MMU_WRITE | MMU_USER, MMU_PF,
     MMU_PF_W | MMU_PF_U, false, false, 0, 0},
};
const int n_pte_cases = (int)(ARRAY_SIZE(pte_cases));
#define N_PTE_CASES n_pte_cases

START_TEST(test_pte_case)
{
	const struct pte_case *c = &pte_cases[_i];
	struct tenv t;
	uint8_t buf[8] = {0};
	struct mem_tlb_entry *e;
	gpa_t leaf_gpa;
	uint64_t leaf;
	int r;

	tenv_init(&t, 0);
	pt_map(&t, T_VA, mem_gfn_to_gpa(T_DATA), c->leaf, c->upper, 1);
	tenv_reset(&t);
	r = mmu_access(&t.m, T_VA + 8, buf, sizeof(buf), c->acc);
	ck_assert_msg(r == c->ret, "%s: returned %d, want %d", c->name, r, c->ret);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(T_VA));
	if (c->ret == MMU_PF) {
		ck_assert_msg(t.m.pf.err == c->err, "%s: err %#x, want %#x", c->name, t.m.pf.err,
			      c->err);
		ck_assert_uint_eq(t.m.pf.addr, T_VA + 8);
		ck_assert_uint_eq(t.m.st.guest_faults, 1);
		ck_assert_uint_eq(t.m.st.accesses, 0);
		ck_assert_ptr_null(e);
		ck_assert_uint_eq(t.exits, 0); /* the data page is never reached */
	} else {
		ck_assert_uint_eq(t.m.st.guest_faults, 0);
		ck_assert_uint_eq(t.m.st.accesses, 1);
		ck_assert_ptr_nonnull(e);
		ck_assert_msg(e->flags == c->tlbf, "%s: tlb flags %#x, want %#x", c->name, e->flags,
			      c->tlbf);
		ck_assert_uint_eq(e->gfn, T_DATA);
		ck_assert_ptr_eq(e->hptr, mem_p2m_ptr(t.p2m, T_DATA));
		ck_assert_uint_eq(t.m.last_gfn, T_DATA);
		/* A in every upper entry used, too */
		for (int l = 4; l > 1; l--)
			ck_assert(phys_rd(&t, pte_gpa(&t, T_VA, l)) & PTE_A);
	}
	if (c->ret == 0 || c->err & MMU_PF_P) {
		leaf_gpa = pte_gpa(&t, T_VA, 1);
		leaf = phys_rd(&t, leaf_gpa);
		ck_assert_msg(!!(leaf & PTE_A) == c->a, "%s: A", c->name);
		ck_assert_msg(!!(leaf & PTE_D) == c->d, "%s: D", c->name);
	}
	tenv_fini(&t);
}
END_TEST

/* A write through a TLB entry without W (a clean page) walks again and sets
 * D; from then on writes hit. */
START_TEST(test_clean_write_rewalks)
{
	struct tenv t;
	uint64_t v = 0;
	struct mem_tlb_entry *e;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, T_VA, 1)) & (PTE_A | PTE_D), PTE_A);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(T_VA));
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->flags & MEM_TLB_W, 0);

	ck_assert_int_eq(wr64(&t, T_VA, 42, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.exits, 1); /* the EPT leaf was writable already */
	ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, T_VA, 1)) & (PTE_A | PTE_D), PTE_A | PTE_D);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(T_VA));
	ck_assert_uint_eq(e->flags, MEM_TLB_W | MEM_TLB_U);

	ck_assert_int_eq(wr64(&t, T_VA + 8, 43, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.st.writes, 2);
	ck_assert_uint_eq(t.m.st.accesses, 3);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA)), 42);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA) + 8), 43);
	tenv_fini(&t);
}
END_TEST

Suite *pte_suite(void)
{
	Suite *s = suite_create("pte");
	TCase *tc = tcase_create("formats");

	tcase_add_test(tc, test_formats);
	tcase_add_test(tc, test_ept_leaf_format);
	suite_add_tcase(s, tc);
	tc = tcase_create("flags");
	tcase_add_loop_test(tc, test_pte_case, 0, N_PTE_CASES);
	tcase_add_test(tc, test_clean_write_rewalks);
	suite_add_tcase(s, tc);
	return s;
}

/* ------------------------------------------------------------------------
 * walk_suite: counts
 */

START_TEST(test_cold_walk)
{
	struct tenv t;
	uint64_t v = 1;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, T_VA + 16, &v, 0), 0);
	ck_assert_uint_eq(v, 0); /* a fresh page reads as zeros */
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	/* the data gfn's first touch exited once; the walk still costs 24 */
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_NESTED_FAULT], 1);
	ck_assert_uint_eq(t.exits, 1);
	ck_assert_uint_eq(t.last.gfn, T_DATA);
	ck_assert_uint_eq(t.last.acc, MMU_READ);
	ck_assert_uint_eq(t.m.st.accesses, 1);
	ck_assert_uint_eq(t.m.st.pwc_hits, 0);
	ck_assert_int_eq(mem_p2m_state(t.p2m, T_DATA), MEM_RESIDENT);

	/* same page again: a TLB hit, no references */
	ck_assert_int_eq(rd64(&t, T_VA + 24, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.m.st.accesses, 2);
	ck_assert_uint_eq(t.exits, 1);

	/* a second page in a new gfn: one more walk, one more exit */
	pt_map4k(&t, T_VA + 4096, T_DATA + 1);
	ck_assert_int_eq(wr64(&t, T_VA + 4096, 7, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.exits, 2);
	ck_assert_uint_eq(t.last.gfn, T_DATA + 1);
	ck_assert_uint_eq(t.last.acc, MMU_WRITE);
	ck_assert_uint_eq(t.m.st.writes, 1);
	ck_assert_uint_eq(t.m.last_gfn, T_DATA + 1);
	tenv_fini(&t);
}
END_TEST

/* An exit for a guest table page (here all of them: a fresh MMU over tables
 * built by another) costs no extra references either. */
START_TEST(test_cold_tables_exit)
{
	struct tenv t;
	struct mmu m2;
	struct mmu_config cfg = {0};
	uint64_t v = 0;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	ck_assert_int_eq(mmu_init(&m2, t.p2m, &paging_nested_ops, &cfg, t_exit, &t), 0);
	mmu_set_cr3(&m2, t.m.cr3);
	tenv_reset(&t);
	ck_assert_int_eq(mmu_access(&m2, T_VA, &v, 8, MMU_READ), 0);
	ck_assert_uint_eq(m2.st.tlb_misses, 1);
	ck_assert_uint_eq(m2.st.walk_refs, PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(m2.st.exits[MMU_EXIT_NESTED_FAULT], 5);
	ck_assert_uint_eq(t.exits, 5);
	/* the walker's A/D writes make guest table accesses EPT writes */
	ck_assert_uint_eq(t.last.acc, MMU_READ);	/* the data page */
	ck_assert_uint_eq(mem_rmap_count(t.p2m, 1), 2); /* PML4 in both EPTs */
	mmu_fini(&m2);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, 1), 1);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_pwc)
{
	struct tenv t;
	uint64_t v = 0;

	tenv_init(&t, 8);
	pt_map4k(&t, T_VA, T_DATA);
	pt_map4k(&t, T_VA + 4096, T_DATA + 1);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.m.st.pwc_hits, 0);
	/* warm: 4 guest entries + 0 for the cached table pages + 4 for data */
	ck_assert_int_eq(rd64(&t, T_VA + 4096, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_NESTED_COLD_REFS + 8);
	ck_assert_uint_eq(t.m.st.pwc_hits, 4);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);

	/* zapping a cached table page drops it from the walk cache */
	mem_rmap_zap(t.p2m, 1); /* the PML4 */
	mmu_set_cr3(&t.m, t.m.cr3);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_NESTED_COLD_REFS + 8 + 4 + 8);
	ck_assert_uint_eq(t.m.st.pwc_hits, 7);
	ck_assert_uint_eq(t.exits, 3); /* two data pages, the PML4 again */
	ck_assert_uint_eq(t.last.gfn, 1);
	ck_assert_uint_eq(t.last.acc, MMU_WRITE);
	tenv_fini(&t);
}
END_TEST

/* A pwc smaller than the table pages in use evicts its LRU entry. */
START_TEST(test_pwc_lru)
{
	struct tenv t;
	uint64_t v = 0;

	tenv_init(&t, 2);
	pt_map4k(&t, T_VA, T_DATA);
	pt_map4k(&t, T_VA + 4096, T_DATA + 1);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	/* an LRU of 2 cycling over 4 table pages never hits */
	ck_assert_int_eq(rd64(&t, T_VA + 4096, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.walk_refs, PAGING_NESTED_COLD_REFS + 4 * 5 + 4);
	ck_assert_uint_eq(t.m.st.pwc_hits, 0);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_large_2m)
{
	struct tenv t;
	gva_t va = T_VA + 0x200000; /* 2 MiB aligned, own PD entry */
	gpa_t base = mem_gfn_to_gpa(T_DATA);
	uint64_t v = 0;
	struct mem_tlb_entry *e;

	tenv_init(&t, 0);
	pt_map(&t, va, base, PWU | PTE_PS, UPPER, 2);
	tenv_reset(&t);
	ck_assert_int_eq(wr64(&t, va + 5 * 4096 + 8, 99, 0), 0);
	ck_assert_uint_eq(t.m.st.walk_refs, 3 * 5 + 4);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	ck_assert_uint_eq(t.last.gfn, T_DATA + 5);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(va) + 5);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->gfn, T_DATA + 5);
	ck_assert_ptr_eq(e->hptr, mem_p2m_ptr(t.p2m, T_DATA + 5));
	/* a 4 KiB piece of a guest 2 MiB page (the EPT maps 4 KiB here) */
	ck_assert_uint_eq(e->flags, MEM_TLB_W | MEM_TLB_U | MEM_TLB_G2M);
	ck_assert_uint_eq(phys_rd(&t, base + 5 * 4096 + 8), 99);
	ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, va, 2)) & (PTE_A | PTE_D), PTE_A | PTE_D);
	/* another 4 KiB of the same large page: its own TLB entry and walk */
	ck_assert_int_eq(rd64(&t, va + 511 * 4096, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * 19);
	ck_assert_uint_eq(t.last.gfn, T_DATA + 511);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_large_1g)
{
	struct tenv t;
	gva_t va = 0x0000004000000000ull + 0x40000000ull; /* 1 GiB aligned */
	uint64_t v = 0;

	tenv_init_pages(&t, 1ull << 18, 0); /* 1 GiB guest */
	pt_map(&t, va, 0, PWU | PTE_PS, UPPER, 3);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, va + 0x12345678, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * 5 + 4);
	ck_assert_uint_eq(t.last.gfn, 0x12345);
	ck_assert_uint_eq(t.m.last_gfn, 0x12345);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_ad_bits)
{
	struct tenv t;
	uint64_t v = 0;
	gva_t va2 = T_VA + 4096;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	pt_map4k(&t, va2, T_DATA + 1);
	for (int l = 4; l >= 1; l--)
		ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, T_VA, l)) & (PTE_A | PTE_D), 0);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	for (int l = 4; l >= 1; l--)
		ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, T_VA, l)) & (PTE_A | PTE_D), PTE_A);
	ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, va2, 1)) & (PTE_A | PTE_D), 0);
	ck_assert_int_eq(wr64(&t, va2, 5, 0), 0);
	ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, va2, 1)) & (PTE_A | PTE_D), PTE_A | PTE_D);
	/* D only in the leaf */
	for (int l = 4; l > 1; l--)
		ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, va2, l)) & PTE_D, 0);
	ck_assert_uint_eq(phys_rd(&t, pte_gpa(&t, T_VA, 1)) & PTE_D, 0);
	/* EPT A/D: the data leaves, and the table pages (always EPT writes) */
	ck_assert_uint_eq(*ept_leaf(&t, T_DATA) & (EPT_A | EPT_D), EPT_A);
	ck_assert_uint_eq(*ept_leaf(&t, T_DATA + 1) & (EPT_A | EPT_D), EPT_A | EPT_D);
	ck_assert_uint_eq(*ept_leaf(&t, 1) & (EPT_A | EPT_D), EPT_A | EPT_D);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_cr3_flush)
{
	struct tenv t;
	uint64_t v = 0, flushes;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	flushes = t.m.tlb.flushes;
	mmu_set_cr3(&t.m, t.m.cr3);
	ck_assert_uint_eq(t.m.tlb.flushes, flushes + 1);
	ck_assert_ptr_null(mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(T_VA)));
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.exits, 1);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_invlpg)
{
	struct tenv t;
	uint64_t v = 0;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	pt_map4k(&t, T_VA + 4096, T_DATA + 1);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_int_eq(rd64(&t, T_VA + 4096, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	mmu_invlpg(&t.m, T_VA + 123);
	ck_assert_int_eq(rd64(&t, T_VA + 4096, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 3);

	/* the guest remaps va without INVLPG: the TLB keeps the old frame, as
	 * hardware does; after INVLPG the new mapping is seen */
	pt_map4k(&t, T_VA, T_DATA + 2);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.last_gfn, T_DATA);
	mmu_invlpg(&t.m, T_VA);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.last_gfn, T_DATA + 2);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_zap)
{
	struct tenv t;
	uint64_t v = 0;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	tenv_reset(&t);
	ck_assert_int_eq(wr64(&t, T_VA, 77, 0), 0);
	ck_assert_uint_eq(t.exits, 1);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, T_DATA), 1);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA)), 77); /* fills ptlb */

	mem_rmap_zap(t.p2m, T_DATA);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, T_DATA), 0);
	ck_assert_uint_eq(*ept_leaf(&t, T_DATA), 0);
	ck_assert_ptr_null(mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(T_VA)));
	ck_assert_ptr_null(mem_tlb_lookup(&t.m.ptlb, T_DATA));

	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(v, 77);
	ck_assert_uint_eq(t.exits, 2);
	ck_assert_uint_eq(t.m.st.exits[MMU_EXIT_NESTED_FAULT], 2);
	ck_assert_uint_eq(t.last.gfn, T_DATA);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, T_DATA), 1);
	tenv_fini(&t);
}
END_TEST

/* Copy-on-write: a write-protected gfn maps read-only; a write exits once
 * with MMU_WRITE and, after the handler unprotects it, completes. */
START_TEST(test_write_protect)
{
	struct tenv t;
	uint64_t v = 0;
	struct mem_tlb_entry *e;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	ck_assert_int_eq(wr64(&t, T_VA, 5, 0), 0);
	ck_assert_int_eq(mem_p2m_set(t.p2m, T_DATA, MEM_SHARED, mem_p2m_val(t.p2m, T_DATA), true),
			 0);
	tenv_reset(&t);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(v, 5);
	ck_assert_uint_eq(t.exits, 1);
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(T_VA));
	ck_assert_uint_eq(e->flags, MEM_TLB_U); /* guest D set, EPT not writable */

	ck_assert_int_eq(wr64(&t, T_VA, 6, 0), 0);
	ck_assert_uint_eq(t.exits, 2);
	ck_assert_uint_eq(t.last.acc, MMU_WRITE);
	ck_assert_int_eq(mem_p2m_state(t.p2m, T_DATA), MEM_RESIDENT);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * PAGING_NESTED_COLD_REFS);
	ck_assert(*ept_leaf(&t, T_DATA) & EPT_W);
	ck_assert_uint_eq(mem_rmap_count(t.p2m, T_DATA), 1); /* refreshed, one record */
	e = mem_tlb_lookup(&t.m.tlb, mem_gva_to_vpn(T_VA));
	ck_assert_uint_eq(e->flags, MEM_TLB_W | MEM_TLB_U);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA)), 6);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_exit_failures)
{
	struct tenv t;
	uint64_t v = 0;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	pt_map4k(&t, T_VA + 4096, T_DATA + 1);
	pt_map4k(&t, T_VA + 8192, T_PAGES + 5); /* beyond guest memory */
	tenv_reset(&t);
	t.fail = -ENOMEM;
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), -ENOMEM);
	t.fail = 0;
	t.leave = true; /* "handled" but still untouched */
	ck_assert_int_eq(rd64(&t, T_VA + 4096, &v, 0), -EFAULT);
	t.leave = false;
	ck_assert_uint_eq(t.exits, 2);
	ck_assert_uint_eq(t.m.st.accesses, 0);
	ck_assert_int_eq(rd64(&t, T_VA + 8192, &v, 0), -EFAULT);
	ck_assert_uint_eq(t.exits, 2);
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	/* non-canonical */
	ck_assert_int_eq(rd64(&t, 0x0000800000000000ull, &v, 0), -EFAULT);
	/* a CR3 beyond guest memory: guest garbage, not a BUG */
	mmu_set_cr3(&t.m, mem_gfn_to_gpa(T_PAGES));
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), -EFAULT);
	tenv_fini(&t);
}
END_TEST

/* A handler that reclaims memory during a walk (zaps a table page the walk
 * already used) makes the walk restart from CR3; both attempts count. */
START_TEST(test_exit_restart)
{
	struct tenv t;
	uint64_t v = 0;
	gfn_t pt_gfn;

	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	pt_gfn = mem_gpa_to_gfn(pte_gpa(&t, T_VA, 1));
	tenv_reset(&t);
	t.zap_on_exit = pt_gfn;
	ck_assert_int_eq(rd64(&t, T_VA, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 1);
	/* attempt 1: 24 (data exit; PT page zapped); attempt 2: 24 (PT exit) */
	ck_assert_uint_eq(t.m.st.walk_refs, 2 * PAGING_NESTED_COLD_REFS);
	ck_assert_uint_eq(t.exits, 2);
	ck_assert_uint_eq(t.last.gfn, pt_gfn);
	ck_assert(phys_rd(&t, pte_gpa(&t, T_VA, 1)) & PTE_A);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_page_crossing)
{
	struct tenv t;
	uint8_t out[16], in[16];
	gva_t va = T_VA + 4096 - 8;

	for (int i = 0; i < 16; i++)
		out[i] = (uint8_t)(i + 1);
	tenv_init(&t, 0);
	pt_map4k(&t, T_VA, T_DATA);
	pt_map4k(&t, T_VA + 4096, T_DATA + 7);
	tenv_reset(&t);
	ck_assert_int_eq(mmu_access(&t.m, va, out, 16, MMU_WRITE), 0);
	ck_assert_uint_eq(t.m.st.accesses, 2);
	ck_assert_uint_eq(t.m.st.writes, 2);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);
	ck_assert_uint_eq(t.m.last_gfn, T_DATA + 7);
	ck_assert_uint_eq(t.last.gfn, T_DATA + 7); /* lowest page first */
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA) + 4088), 0x0807060504030201ull);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA + 7)), 0x100f0e0d0c0b0a09ull);
	/* both pages in the TLB now: the read splits and hits twice */
	ck_assert_int_eq(mmu_access(&t.m, va, in, 16, MMU_READ), 0);
	ck_assert_mem_eq(in, out, 16);
	ck_assert_uint_eq(t.m.st.accesses, 4);
	ck_assert_uint_eq(t.m.st.tlb_misses, 2);

	/* a fault on the second page: the first was done, CR2 = its start */
	ck_assert_int_eq(mmu_access(&t.m, T_VA + 2 * 4096 - 4, out, 8, MMU_WRITE), MMU_PF);
	ck_assert_uint_eq(t.m.pf.addr, T_VA + 2 * 4096);
	ck_assert_uint_eq(t.m.pf.err, MMU_PF_W);
	ck_assert_uint_eq(t.m.st.accesses, 5);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_phys)
{
	struct tenv t;
	uint64_t v = 3;
	uint8_t b[2];

	tenv_init(&t, 0);
	tenv_reset(&t);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA) + 8), 0);
	ck_assert_uint_eq(t.m.st.phys_accesses, 1);
	ck_assert_uint_eq(t.m.st.phys_misses, 1);
	ck_assert_uint_eq(t.m.st.phys_walk_refs, 4); /* exit or not */
	ck_assert_uint_eq(t.exits, 1);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA) + 16), 0);
	ck_assert_uint_eq(t.m.st.phys_misses, 1);
	/* the first write after reads walks once more (ptlb W rule) */
	phys_wr(&t, mem_gfn_to_gpa(T_DATA), v);
	ck_assert_uint_eq(t.m.st.phys_misses, 2);
	ck_assert_uint_eq(t.m.st.phys_walk_refs, 8);
	phys_wr(&t, mem_gfn_to_gpa(T_DATA), v + 1);
	ck_assert_uint_eq(t.m.st.phys_misses, 2);
	ck_assert_uint_eq(t.m.st.phys_accesses, 4);
	ck_assert_uint_eq(phys_rd(&t, mem_gfn_to_gpa(T_DATA)), 4);
	ck_assert_uint_eq(t.exits, 1);
	ck_assert(*ept_leaf(&t, T_DATA) & EPT_D);
	/* walks by phys are not translated accesses */
	ck_assert_uint_eq(t.m.st.accesses, 0);
	ck_assert_uint_eq(t.m.st.walk_refs, 0);

	ck_assert_int_eq(mmu_phys(&t.m, mem_gfn_to_gpa(T_PAGES), &v, 8, MMU_READ), -EFAULT);
	ck_assert_int_eq(mmu_phys(&t.m, mem_gfn_to_gpa(T_DATA) + 4095, b, 2, MMU_READ), -EINVAL);
	ck_assert_int_eq(mmu_phys(&t.m, mem_gfn_to_gpa(T_DATA) + 4094, b, 2, MMU_READ), 0);
	t.fail = -ENOSPC;
	ck_assert_int_eq(mmu_phys(&t.m, mem_gfn_to_gpa(T_DATA + 1), &v, 8, MMU_READ), -ENOSPC);
	tenv_fini(&t);
}
END_TEST

START_TEST(test_tlb_model)
{
	struct mem_tlb tlb;
	uint8_t pages[1];

	ck_assert_int_eq(mem_tlb_init(&tlb, 12, 5), -EINVAL);
	ck_assert_int_eq(mem_tlb_init(&tlb, 12, 4), -EINVAL); /* 3 sets */
	ck_assert_int_eq(mem_tlb_init(&tlb, 1536, 12), 0);
	ck_assert_uint_eq(tlb.sets, 128);
	mem_tlb_fini(&tlb);

	ck_assert_int_eq(mem_tlb_init(&tlb, 8, 2), 0); /* 4 sets of 2 */
	/* vpns 0, 4, 8 share set 0 */
	mem_tlb_fill(&tlb, 0, pages, 100, 0);
	mem_tlb_fill(&tlb, 4, pages, 104, 0);
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 0)); /* 0 is now MRU */
	mem_tlb_fill(&tlb, 8, pages, 108, 0);		/* evicts 4 */
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, 4));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 0));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 8));
	/* refill of a present vpn overwrites in place */
	mem_tlb_fill(&tlb, 8, pages, 109, MEM_TLB_W);
	ck_assert_uint_eq(mem_tlb_lookup(&tlb, 8)->gfn, 109);
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 0));
	/* an emptied way is reused before evicting */
	mem_tlb_fill(&tlb, 1, pages, 200, 0);
	mem_tlb_flush_vpn(&tlb, 0);
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, 0));
	mem_tlb_fill(&tlb, 12, pages, 112, 0);
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 8));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 12));
	mem_tlb_flush_gfn(&tlb, 109);
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, 8));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 1));
	mem_tlb_flush_all(&tlb);
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, 1));
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, 12));
	ck_assert_uint_eq(tlb.flushes, 1);
	/* stamps survive a wrap of the tick */
	tlb.tick = UINT32_MAX - 1;
	mem_tlb_fill(&tlb, 0, pages, 1, 0); /* stamp UINT32_MAX */
	mem_tlb_fill(&tlb, 4, pages, 2, 0); /* stamp 0 */
	mem_tlb_fill(&tlb, 8, pages, 3, 0); /* evicts 0, the older */
	ck_assert_ptr_null(mem_tlb_lookup(&tlb, 0));
	ck_assert_ptr_nonnull(mem_tlb_lookup(&tlb, 4));
	mem_tlb_fini(&tlb);
}
END_TEST

/* A TLB of one set of 12 ways: 13 pages thrash it. */
START_TEST(test_tlb_capacity)
{
	struct tenv t;
	struct mmu_config cfg = {.tlb_entries = 12, .tlb_ways = 12};
	uint64_t v = 0;

	tenv_init(&t, 0);
	mmu_fini(&t.m);
	ck_assert_int_eq(mmu_init(&t.m, t.p2m, &paging_nested_ops, &cfg, t_exit, &t), 0);
	mmu_set_cr3(&t.m, mem_gfn_to_gpa(1));
	for (int i = 0; i < 13; i++)
		pt_map4k(&t, T_VA + (gva_t)i * 4096, T_DATA + (gfn_t)i);
	tenv_reset(&t);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 13; i++)
			ck_assert_int_eq(rd64(&t, T_VA + (gva_t)i * 4096, &v, 0), 0);
	ck_assert_uint_eq(t.m.st.tlb_misses, 26);
	tenv_reset(&t);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 12; i++)
			ck_assert_int_eq(rd64(&t, T_VA + (gva_t)i * 4096, &v, 0), 0);
	ck_assert_uint_le(t.m.st.tlb_misses, 12);
	ck_assert_uint_eq(t.m.st.accesses, 24);
	tenv_fini(&t);
}
END_TEST

Suite *walk_suite(void)
{
	Suite *s = suite_create("walk");
	TCase *tc = tcase_create("counts");

	tcase_add_test(tc, test_cold_walk);
	tcase_add_test(tc, test_cold_tables_exit);
	tcase_add_test(tc, test_pwc);
	tcase_add_test(tc, test_pwc_lru);
	tcase_add_test(tc, test_large_2m);
	tcase_add_test(tc, test_large_1g);
	tcase_add_test(tc, test_page_crossing);
	tcase_add_test(tc, test_phys);
	suite_add_tcase(s, tc);

	tc = tcase_create("ad");
	tcase_add_test(tc, test_ad_bits);
	suite_add_tcase(s, tc);

	tc = tcase_create("tlb");
	tcase_add_test(tc, test_tlb_model);
	tcase_add_test(tc, test_tlb_capacity);
	tcase_add_test(tc, test_cr3_flush);
	tcase_add_test(tc, test_invlpg);
	suite_add_tcase(s, tc);

	tc = tcase_create("exits");
	tcase_add_test(tc, test_zap);
	tcase_add_test(tc, test_write_protect);
	tcase_add_test(tc, test_exit_failures);
	tcase_add_test(tc, test_exit_restart);
	suite_add_tcase(s, tc);
	return s;
}
