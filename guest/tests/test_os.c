/* SPDX-License-Identifier: MIT */
/* test_os: boot and mem_map, page-table format, demand zero-fill, faults. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/tests/check_guest.h"

/* mem_map as the guest wrote it, read through the p2m. */
static struct guest_page *read_mem_map(const struct tvm *vm)
{
	uint64_t frames = vm->g->mm_frames;
	uint8_t *mm = malloc(frames * MEM_PAGE_SIZE);

	ck_assert_ptr_nonnull(mm);
	for (uint64_t f = 0; f < frames; f++)
		ck_assert_int_eq(mem_p2m_read(vm->p2m, 1 + f, mm + f * MEM_PAGE_SIZE), 0);
	return (struct guest_page *)mm;
}

START_TEST(boot_mem_map)
{
	struct tvm *vm = tvm_create(1000, 0);
	struct guest_params p = tvm_params(1000, 64, 0);
	struct guest_page *mm;
	struct guest_stats st;
	uint64_t n = 0;
	gfn_t gfn;

	p.procs = 2;
	tvm_boot(vm, &p);
	guest_os_stats(vm->g, &st);
	/* 1000 * 64 bytes = 16 frames of mem_map after the reserved gfn 0 */
	ck_assert_uint_eq(st.frames_kernel, 17);
	ck_assert_uint_eq(st.frames_pt, 2); /* the two PML4s */
	ck_assert_uint_eq(st.frames_user, 0);
	ck_assert_uint_eq(st.frames_free, 1000 - 17 - 2);
	mm = read_mem_map(vm);
	for (gfn = 0; gfn < 17; gfn++)
		ck_assert_uint_eq(mm[gfn].flags, GUEST_PG_KERNEL);
	ck_assert_uint_eq(mm[17].flags, GUEST_PG_PT);
	ck_assert_uint_eq(mm[18].flags, GUEST_PG_PT);
	ck_assert_uint_eq(tvm_root(vm, 1), mem_gfn_to_gpa(17));
	ck_assert_uint_eq(tvm_root(vm, 2), mem_gfn_to_gpa(18));
	/* the free list: every free frame once, in order, ending in 0 */
	for (gfn = vm->g->free_head; gfn; gfn = mm[gfn].next, n++) {
		ck_assert_uint_lt(gfn, 1000);
		ck_assert_uint_eq(mm[gfn].flags, GUEST_PG_FREE);
		ck_assert_uint_eq(gfn, 19 + n);
	}
	ck_assert_uint_eq(n, st.frames_free);
	free(mm);
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

START_TEST(too_small)
{
	struct tvm *vm = tvm_create(64, 0);
	struct guest_params p = tvm_params(64, 1u << 20, 10);
	const char *why = NULL;

	errno = 0;
	ck_assert_ptr_null(guest_os_create(&vm->mmu, vm->sw, &p, &why));
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "too small"));
	ck_assert_int_eq(errno, EINVAL);
	/* 1 + 1 (mem_map) + 4 tables + 8 data frames fit in 14 */
	p = tvm_params(14, 16, 10);
	vm->g = guest_os_create(&vm->mmu, vm->sw, &p, &why);
	ck_assert_ptr_nonnull(vm->g);
	guest_os_destroy(vm->g);
	p.pages = 13;
	ck_assert_ptr_null(guest_os_create(&vm->mmu, vm->sw, &p, &why));
	/* other configuration errors say why too */
	p = tvm_params(64, 8, 10);
	p.wl.content = GUEST_CONTENT_LIBRARY;
	why = NULL;
	ck_assert_ptr_null(guest_os_create(&vm->mmu, vm->sw, &p, &why));
	ck_assert_ptr_nonnull(strstr(why, "library"));
	vm->g = NULL;
	tvm_destroy(vm);
}
END_TEST

/* An independent walk finds P|W|U|A on every touched page, D exactly on the
 * written ones, and nothing on the others. */
START_TEST(pte_format)
{
	struct tvm *vm = tvm_create(2048, 0);
	struct guest_params p = tvm_params(2048, 700, 600);
	const struct guest_proc *pr;
	unsigned dirty = 0, clean = 0, absent = 0;

	p.wl.write_pct = 30;
	tvm_boot(vm, &p);
	tvm_run(vm);
	pr = &vm->g->procs[0];
	for (uint64_t i = 0; i < 700; i++) {
		gva_t va = GUEST_WL_BASE + i * MEM_PAGE_SIZE;
		uint64_t rec = pr->wl.rec[i], pte, up[5];
		int r = tvm_walk(vm, tvm_root(vm, 1), va, &pte, up);

		ck_assert_int_eq(r, 0); /* 700 pages of uniform: both PTs exist */
		for (int l = 4; l >= 2; l--)
			ck_assert_uint_eq(up[l] & 0xfff, PTE_P | PTE_W | PTE_U | PTE_A);
		if (!guest_rec_touched(rec)) {
			ck_assert_uint_eq(pte, 0);
			absent++;
		} else if (guest_rec_writes(rec)) {
			ck_assert_uint_eq(pte & ~PTE_ADDR_MASK,
					  PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
			dirty++;
		} else {
			ck_assert_uint_eq(pte & ~PTE_ADDR_MASK, PTE_P | PTE_W | PTE_U | PTE_A);
			clean++;
		}
	}
	ck_assert_uint_gt(dirty, 50);
	ck_assert_uint_gt(clean, 50);
	ck_assert_uint_gt(absent, 50);
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

START_TEST(demand_zero)
{
	struct tvm *vm = tvm_create(256, 0);
	struct guest_params p = tvm_params(256, 32, 96);
	struct guest_stats st;
	uint8_t page[MEM_PAGE_SIZE], zero[MEM_PAGE_SIZE] = {0};
	uint64_t resident_before;

	p.wl.pattern = GUEST_PAT_SEQ;
	p.wl.write_pct = 0;
	tvm_boot(vm, &p);
	resident_before = vm->p2m->count[MEM_RESIDENT];
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.accesses, 96);
	ck_assert_uint_eq(st.page_faults, 32);
	ck_assert_uint_eq(st.zero_fills, 32);
	ck_assert_uint_eq(st.swap_outs, 0);
	ck_assert_uint_eq(st.frames_user, 32);
	ck_assert_uint_eq(st.frames_pt, 4);
	/* 32 data frames and 3 tables came to life in the host */
	ck_assert_uint_eq(vm->p2m->count[MEM_RESIDENT], resident_before + 35);
	for (uint64_t i = 0; i < 32; i++) {
		uint64_t pte;

		ck_assert_int_eq(
		    tvm_walk(vm, tvm_root(vm, 1), GUEST_WL_BASE + i * 4096, &pte, NULL), 0);
		ck_assert(pte & PTE_P);
		ck_assert_int_eq(mem_p2m_read(vm->p2m, mem_gpa_to_gfn(pte & PTE_ADDR_MASK), page),
				 0);
		ck_assert_mem_eq(page, zero, MEM_PAGE_SIZE);
	}
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

START_TEST(processes)
{
	struct tvm *vm = tvm_create(4096, 0);
	struct guest_params p = tvm_params(4096, 100, 1000);
	struct guest_library *lib = guest_library_create(16, 3);
	struct guest_stats st;
	uint64_t done, total = 0;

	p.procs = 4;
	p.timeslice = 50;
	p.wl.content = GUEST_CONTENT_MIXED;
	p.wl.zero_pct = 20;
	p.wl.library_pct = 40;
	p.wl.lib = lib;
	tvm_boot(vm, &p);
	/* small budgets: the schedule carries over between calls */
	while (!guest_os_done(vm->g)) {
		ck_assert_int_eq(guest_os_run(vm->g, 77, &done), 0);
		ck_assert_uint_le(done, 77);
		total += done;
	}
	ck_assert_uint_eq(total, 4000);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.accesses, 4000);
	ck_assert_uint_eq(st.ctx_switches, 4000 / 50 - 1);
	for (uint32_t pid = 1; pid <= 4; pid++)
		ck_assert_uint_ne(tvm_root(vm, pid), 0);
	tvm_check(vm);
	tvm_destroy(vm);
	guest_library_destroy(lib);
}
END_TEST

START_TEST(bad_faults)
{
	struct tvm *vm = tvm_create(512, 0);
	struct guest_params p = tvm_params(512, 16, 100);
	struct guest_proc *pr;
	uint64_t pte, v = 0, done;
	gva_t va = GUEST_WL_BASE;
	uint8_t *pt;
	int r;

	tvm_boot(vm, &p);
	tvm_run(vm);
	pr = &vm->g->procs[0];
	/* a user access outside the region is a guest bug, not a crash */
	r = guest_access(vm->g, pr, 0x1000, &v, 8, MMU_READ);
	ck_assert_int_eq(r, -EFAULT);
	ck_assert_ptr_nonnull(strstr(guest_os_error(vm->g), "outside the process's regions"));
	ck_assert_ptr_nonnull(strstr(guest_os_error(vm->g), "gva 0x1000"));
	ck_assert_int_eq(guest_os_run(vm->g, 10, &done), -EFAULT);
	tvm_destroy(vm);

	/* a protection fault on a present page: clear U behind the OS */
	vm = tvm_create(512, 0);
	tvm_boot(vm, &p);
	tvm_run(vm);
	pr = &vm->g->procs[0];
	while (tvm_walk(vm, pr->pml4, va, &pte, NULL) || !(pte & PTE_P))
		va += MEM_PAGE_SIZE;
	ck_assert_int_eq(guest_pt_walk(vm->g, pr->pml4, va, false, &v), 0);
	pt = mem_p2m_ptr(vm->p2m, mem_gpa_to_gfn(v));
	ck_assert_ptr_nonnull(pt);
	pte &= ~PTE_U;
	memcpy(pt + (v & 0xfff), &pte, 8);
	mmu_invlpg(&vm->mmu, va);
	r = guest_access(vm->g, pr, va, &v, 8, MMU_READ);
	ck_assert_int_eq(r, -EFAULT);
	ck_assert_ptr_nonnull(strstr(guest_os_error(vm->g), "protection fault"));
	tvm_destroy(vm);
}
END_TEST

Suite *os_suite(void)
{
	Suite *s = suite_create("os");
	TCase *tc;

	tc = tcase_create("boot");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, boot_mem_map);
	tcase_add_test(tc, too_small);
	suite_add_tcase(s, tc);
	tc = tcase_create("pgtable");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pte_format);
	suite_add_tcase(s, tc);
	tc = tcase_create("fault");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, demand_zero);
	tcase_add_test(tc, bad_faults);
	suite_add_tcase(s, tc);
	tc = tcase_create("sched");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, processes);
	suite_add_tcase(s, tc);
	return s;
}
