/* SPDX-License-Identifier: MIT */
/*
 * test_modes: the guest OS's 2 MiB pages, the sparse and churn workloads,
 * and fidelity: the same guest, seed and workload under nested paging,
 * shadow paging and a mode switch every few thousand accesses leaves every
 * guest page byte-identical (page tables, A/D bits and mem_map included)
 * and the same guest-visible counts. Also: under shadow paging the PT-write
 * exits equal the guest OS's page-table stores once its tables are
 * shadowed; under nested paging there are none.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/tests/check_guest.h"

struct scen {
	const char *name;
	enum guest_pattern pat;
	uint64_t pages, wss, accesses, timeslice;
	unsigned procs;
	enum guest_reclaim reclaim;
	bool large, huge;
};

static const struct scen scens[] = {
    {"uniform, clock, swapping", GUEST_PAT_UNIFORM, 2048, 1400, 24000, 300, 2, GUEST_RECLAIM_CLOCK,
     false, false},
    {"zipf, lru", GUEST_PAT_ZIPF, 2048, 1200, 24000, 500, 2, GUEST_RECLAIM_LRU, false, false},
    {"churn, swapping", GUEST_PAT_CHURN, 2048, 900, 24000, 200, 3, GUEST_RECLAIM_CLOCK, false,
     false},
    {"sparse", GUEST_PAT_SPARSE, 2048, 600, 16000, 1000, 1, GUEST_RECLAIM_CLOCK, false, false},
    {"2 MiB pages on 2 MiB runs, swapping", GUEST_PAT_UNIFORM, 4096, 2048, 24000, 500, 2,
     GUEST_RECLAIM_CLOCK, true, true},
    {"2 MiB pages on 4 KiB frames", GUEST_PAT_UNIFORM, 4096, 1536, 16000, 500, 2,
     GUEST_RECLAIM_RANDOM, true, false},
    /* few accesses: 2 MiB pages split to swap with pages never touched */
    {"2 MiB pages split half untouched", GUEST_PAT_UNIFORM, 4096, 2048, 5000, 200, 2,
     GUEST_RECLAIM_CLOCK, true, true},
};
#define NSCENS (int)(ARRAY_SIZE(scens))

static struct guest_params scen_params(const struct scen *c)
{
	struct guest_params p = tvm_params(c->pages, c->wss, c->accesses);

	p.wl.pattern = c->pat;
	p.wl.content = GUEST_CONTENT_MIXED;
	p.wl.zero_pct = 20;
	p.wl.library_pct = 0;
	p.wl.stride = 8;
	p.wl.region = 16;
	p.wl.unmap_pm = 30;
	p.wl.life = 4000;
	p.procs = c->procs;
	p.timeslice = c->timeslice;
	p.reclaim = c->reclaim;
	p.large = c->large;
	return p;
}

/* Run c to the end in mode `mode`: 0 nested, 1 shadow, 2 nested then a
 * switch every `every` accesses. Returns guest memory (pages * 4 KiB) and
 * the guest's counts. */
static uint8_t *run_scen(const struct scen *c, int mode, uint64_t every, struct guest_stats *st,
			 struct mmu_stats *ms)
{
	struct tvm *vm = tvm_create_mode(
	    c->pages, 4096, mode == 1 ? &paging_shadow_ops : &paging_nested_ops, c->huge);
	struct guest_params p = scen_params(c);
	uint8_t *mem = malloc(c->pages * MEM_PAGE_SIZE);
	unsigned switches = 0;

	ck_assert_ptr_nonnull(mem);
	tvm_boot(vm, &p);
	while (!guest_os_done(vm->g)) {
		uint64_t done;
		int r = guest_os_run(vm->g, mode == 2 ? every : UINT64_MAX, &done);

		ck_assert_msg(r == 0, "%s: %s", c->name, guest_os_error(vm->g));
		if (mode == 2) {
			ck_assert_int_eq(mmu_switch_mode(&vm->mmu, vm->mmu.ops == &paging_nested_ops
								       ? &paging_shadow_ops
								       : &paging_nested_ops),
					 0);
			switches++;
		}
	}
	if (mode == 2)
		ck_assert_uint_eq(vm->mmu.st.exits[MMU_EXIT_MODE_SWITCH], switches);
	tvm_check(vm);
	for (gfn_t g = 0; g < c->pages; g++)
		ck_assert_int_eq(mem_p2m_read(vm->p2m, g, mem + g * MEM_PAGE_SIZE), 0);
	guest_os_stats(vm->g, st);
	*ms = vm->mmu.st;
	ck_assert_int_eq(mem_p2m_check(vm->p2m), 0);
	tvm_destroy(vm);
	return mem;
}

START_TEST(fidelity)
{
	const struct scen *c = &scens[_i];
	struct guest_stats st[3];
	struct mmu_stats ms[3];
	uint8_t *mem[3];

	for (int mode = 0; mode < 3; mode++)
		mem[mode] = run_scen(c, mode, 1500, &st[mode], &ms[mode]);
	for (int mode = 1; mode < 3; mode++) {
		for (gfn_t g = 0; g < c->pages; g++)
			ck_assert_msg(!memcmp(mem[0] + g * MEM_PAGE_SIZE,
					      mem[mode] + g * MEM_PAGE_SIZE, MEM_PAGE_SIZE),
				      "%s: mode %d: gfn %llu differs from nested paging", c->name,
				      mode, (unsigned long long)g);
		ck_assert_msg(!memcmp(&st[0], &st[mode], sizeof(st[0])),
			      "%s: mode %d: guest counts differ (faults %llu / %llu)", c->name,
			      mode, (unsigned long long)st[0].page_faults,
			      (unsigned long long)st[mode].page_faults);
		/* the guest took its page faults at the same accesses */
		ck_assert_uint_eq(ms[0].guest_faults, ms[mode].guest_faults);
		ck_assert_uint_eq(ms[0].accesses, ms[mode].accesses);
	}
	/* shadow paging exited where nested paging did not */
	ck_assert_uint_gt(ms[1].exits[MMU_EXIT_HIDDEN_FAULT], 0);
	ck_assert_uint_eq(ms[0].exits[MMU_EXIT_HIDDEN_FAULT], 0);
	ck_assert_uint_eq(ms[0].exits[MMU_EXIT_PT_WRITE], 0);
	if (c->pat == GUEST_PAT_CHURN) {
		ck_assert_uint_gt(st[0].unmaps, 0);
		ck_assert_uint_gt(st[0].exits, 0);
		ck_assert_uint_gt(ms[1].exits[MMU_EXIT_CR3_WRITE], st[0].ctx_switches);
	}
	if (c->large)
		ck_assert_uint_gt(st[0].huge_faults, 0);
	if (c->large && c->huge)
		ck_assert_uint_gt(st[0].huge_splits, 0); /* a 2 MiB page was swapped out */
	for (int mode = 0; mode < 3; mode++)
		free(mem[mode]);
}
END_TEST

/* Once every table of the working set is shadowed (after a first pass),
 * each page-table store of the guest OS is one PT-write exit; under nested
 * paging none is. */
START_TEST(pt_exits_equal_stores)
{
	bool shadow = _i;
	struct tvm *vm =
	    tvm_create_mode(1024, 4096, shadow ? &paging_shadow_ops : &paging_nested_ops, false);
	struct guest_params p = tvm_params(1024, 1500, 30000);
	struct guest_stats a, b;
	uint64_t exits, done;

	p.wl.pattern = GUEST_PAT_SEQ;
	tvm_boot(vm, &p);
	ck_assert_int_eq(guest_os_run(vm->g, 1500, &done), 0); /* the first pass */
	guest_os_stats(vm->g, &a);
	exits = vm->mmu.st.exits[MMU_EXIT_PT_WRITE];
	tvm_run(vm);
	guest_os_stats(vm->g, &b);
	ck_assert_uint_gt(b.swap_outs - a.swap_outs, 1000); /* a store-heavy phase */
	ck_assert_uint_gt(b.pt_stores - a.pt_stores, 2000);
	ck_assert_uint_eq(vm->mmu.st.exits[MMU_EXIT_PT_WRITE] - exits,
			  shadow ? b.pt_stores - a.pt_stores : 0);
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

START_TEST(large_boot_and_fault)
{
	struct tvm *vm = tvm_create_mode(2048, 0, &paging_nested_ops, false);
	struct guest_params p = tvm_params(2048, 1024, 4000);
	struct guest_stats st;
	uint64_t pte, upper[5];

	p.large = true;
	tvm_boot(vm, &p);
	guest_os_stats(vm->g, &st);
	/* 33 kernel frames; blocks at 512, 1024, 1536; the rest 4 KiB */
	ck_assert_uint_eq(st.frames_kernel, 33);
	ck_assert_uint_eq(vm->g->nhfree, 3);
	ck_assert_uint_eq(vm->g->nfree, 512 - 33 - 1); /* one went to the PML4 */
	ck_assert_uint_eq(st.frames_free, 2048 - 33 - 1);
	tvm_check(vm);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.huge_faults, 2);
	ck_assert_uint_eq(st.page_faults, 2);
	ck_assert_uint_eq(st.frames_user, 1024);
	/* the PDE maps a 2 MiB page (tvm_walk knows no PS: only upper[] counts) */
	(void)tvm_walk(vm, tvm_root(vm, 1), GUEST_WL_BASE + 5 * MEM_PAGE_SIZE, &pte, upper);
	ck_assert_uint_eq(upper[2] & (PTE_P | PTE_PS), PTE_P | PTE_PS);
	ck_assert(upper[2] & PTE_D);
	ck_assert_uint_eq(mem_gpa_to_gfn(upper[2] & PTE_ADDR_MASK) % 512, 0);
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

START_TEST(sparse_layout)
{
	struct tvm *vm = tvm_create(2048, 0);
	struct guest_params p = tvm_params(2048, 200, 20000);
	uint64_t pte;
	struct guest_stats st;

	p.wl.pattern = GUEST_PAT_SPARSE;
	p.wl.stride = 16;
	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_int_eq(
	    tvm_walk(vm, tvm_root(vm, 1), GUEST_WL_BASE + 16 * MEM_PAGE_SIZE, &pte, NULL), 0);
	ck_assert(pte & PTE_P);
	ck_assert_int_eq(tvm_walk(vm, tvm_root(vm, 1), GUEST_WL_BASE + MEM_PAGE_SIZE, &pte, NULL),
			 0);
	ck_assert_uint_eq(pte, 0);
	/* 200 pages over 3200: 7 page tables, a PD, a PDPT, the PML4 */
	ck_assert_uint_eq(st.frames_pt, 10);
	ck_assert_uint_eq(st.frames_user, 200);
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

START_TEST(churn_frees_tables)
{
	struct tvm *vm = tvm_create(4096, 0);
	struct guest_params p = tvm_params(4096, 1024, 12000);
	struct guest_stats st;

	p.wl.pattern = GUEST_PAT_CHURN;
	p.wl.region = 16;
	p.wl.unmap_pm = 50;
	p.wl.life = 3000;
	p.procs = 2;
	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_gt(st.unmaps, 50);
	ck_assert_uint_eq(st.exits, 6); /* each process exits at 3000, 6000, 9000 */
	ck_assert_uint_eq(st.accesses + st.unmaps + st.exits, 2 * 12000);
	/* no table is leaked: at most what the working sets need */
	ck_assert_uint_le(st.frames_pt, 2 * guest_pt_frames_needed(1024));
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

Suite *modes_suite(void)
{
	Suite *s = suite_create("modes");
	TCase *tc = tcase_create("workloads");

	tcase_add_test(tc, large_boot_and_fault);
	tcase_add_test(tc, sparse_layout);
	tcase_add_test(tc, churn_frees_tables);
	suite_add_tcase(s, tc);
	tc = tcase_create("fidelity");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fidelity, 0, NSCENS);
	tcase_add_loop_test(tc, pt_exits_equal_stores, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
