/* SPDX-License-Identifier: MIT */
/* test_reclaim: the policies under pressure, an exact LRU model, verify. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/tests/check_guest.h"

/* 256 frames: 5 for gfn 0 and mem_map, 5 tables per process, the rest for
 * user pages; each process's working set is 600 pages. */
static struct guest_params pressure(enum guest_reclaim pol, enum guest_pattern pat, unsigned procs)
{
	struct guest_params p = tvm_params(256, 600, 6000);

	p.procs = procs;
	p.timeslice = 500;
	p.reclaim = pol;
	p.wl.pattern = pat;
	return p;
}

/* Each policy x pattern: pages go out and come back byte for byte. */
START_TEST(policies)
{
	enum guest_reclaim pol = (enum guest_reclaim)(_i / 3);
	enum guest_pattern pat = (enum guest_pattern)(_i % 3);
	struct tvm *vm = tvm_create(256, 2048);
	struct guest_params p = pressure(pol, pat, 2);
	struct guest_stats st;

	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.accesses, 12000);
	ck_assert_uint_gt(st.swap_outs, 0);
	ck_assert_uint_gt(st.swap_ins, 0);
	ck_assert_uint_eq(st.page_faults, st.zero_fills + st.swap_ins);
	ck_assert_uint_eq(st.frames_free, 0);
	ck_assert_uint_eq(st.frames_pt, 10);
	ck_assert_uint_eq(st.frames_user, 256 - 5 - 10);
	ck_assert_uint_eq(st.swap_outs - st.swap_ins, guest_swap_used(vm->sw));
	ck_assert_uint_eq(st.zero_fills, st.frames_user + guest_swap_used(vm->sw));
	ck_assert_uint_gt(st.ctx_switches, 10);
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

/* Faults an exact LRU of `frames` frames takes on the sequence. */
static uint64_t lru_model(const struct guest_params *p, uint64_t frames)
{
	struct guest_wl w;
	struct guest_op op;
	uint64_t n = p->wl.wss_pages, *stamp = calloc(n, sizeof(*stamp));
	bool *in = calloc(n, sizeof(*in));
	uint64_t resident = 0, faults = 0;

	ck_assert_int_eq(guest_wl_init(&w, &p->wl, p->seed, 1), 0);
	for (uint64_t t = 1; t <= p->wl.accesses; t++) {
		guest_wl_next(&w, &op);
		if (!in[op.idx]) {
			faults++;
			if (resident == frames) {
				uint64_t victim = UINT64_MAX;

				for (uint64_t i = 0; i < n; i++)
					if (in[i] &&
					    (victim == UINT64_MAX || stamp[i] < stamp[victim]))
						victim = i;
				in[victim] = false;
				resident--;
			}
			in[op.idx] = true;
			resident++;
		}
		stamp[op.idx] = t;
	}
	guest_wl_fini(&w);
	free(stamp);
	free(in);
	return faults;
}

START_TEST(lru_exact)
{
	enum guest_pattern pat = (enum guest_pattern)(_i + 1); /* uniform, zipf */
	struct tvm *vm = tvm_create(256, 2048);
	struct guest_params p = pressure(GUEST_RECLAIM_LRU, pat, 1);
	struct guest_stats st;
	uint64_t model;

	p.wl.accesses = 20000;
	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.frames_pt, 5);
	ck_assert_uint_eq(st.frames_free, 0);
	model = lru_model(&p, st.frames_user);
	ck_assert_uint_gt(st.swap_ins, 0);
	ck_assert_msg(st.page_faults == model, "guest %llu faults, exact LRU of %llu frames %llu",
		      (unsigned long long)st.page_faults, (unsigned long long)st.frames_user,
		      (unsigned long long)model);
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

/* On a skewed workload the recency policies fault less than random. */
START_TEST(recency_beats_random)
{
	uint64_t faults[3];

	for (int pol = 0; pol < 3; pol++) {
		struct tvm *vm = tvm_create(256, 2048);
		struct guest_params p = pressure((enum guest_reclaim)pol, GUEST_PAT_ZIPF, 1);
		struct guest_stats st;

		p.wl.accesses = 20000;
		tvm_boot(vm, &p);
		tvm_run(vm);
		guest_os_stats(vm->g, &st);
		faults[pol] = st.page_faults;
		tvm_destroy(vm);
	}
	ck_assert_msg(faults[GUEST_RECLAIM_LRU] < faults[GUEST_RECLAIM_RANDOM] &&
			  faults[GUEST_RECLAIM_CLOCK] < faults[GUEST_RECLAIM_RANDOM],
		      "faults: clock %llu lru %llu random %llu", (unsigned long long)faults[0],
		      (unsigned long long)faults[1], (unsigned long long)faults[2]);
}
END_TEST

START_TEST(verify_catches_flip)
{
	struct tvm *vm = tvm_create(256, 2048);
	struct guest_params p = pressure(GUEST_RECLAIM_CLOCK, GUEST_PAT_UNIFORM, 1);
	const struct guest_proc *pr;
	char msg[512], want[512];
	uint64_t idx, pte = 0;
	gfn_t gfn;
	uint8_t *h, old;

	tvm_boot(vm, &p);
	tvm_run(vm);
	tvm_check(vm);
	pr = &vm->g->procs[0];
	/* a resident page that was written */
	for (idx = 0; idx < 600; idx++) {
		if (guest_rec_writes(pr->wl.rec[idx]) < 2)
			continue;
		ck_assert_int_eq(
		    tvm_walk(vm, tvm_root(vm, 1), GUEST_WL_BASE + idx * MEM_PAGE_SIZE, &pte, NULL),
		    0);
		if (pte & PTE_P)
			break;
	}
	ck_assert_uint_lt(idx, 600);
	gfn = mem_gpa_to_gfn(pte & PTE_ADDR_MASK);
	h = mem_p2m_ptr(vm->p2m, gfn);
	ck_assert_ptr_nonnull(h);
	old = h[100];
	h[100] ^= 0x5a;
	ck_assert_int_eq(guest_os_verify(vm->g, msg, sizeof(msg)), -EIO);
	snprintf(want, sizeof(want),
		 "guest t0: pid 1 gva 0x%llx (gfn %llu) byte 100: expected 0x%02x, found 0x%02x",
		 (unsigned long long)(GUEST_WL_BASE + idx * MEM_PAGE_SIZE), (unsigned long long)gfn,
		 old, (uint8_t)(old ^ 0x5a));
	ck_assert_str_eq(msg, want);
	h[100] = old;
	tvm_check(vm);
	tvm_destroy(vm);
}
END_TEST

START_TEST(swap_full)
{
	struct tvm *vm = tvm_create(256, 32);
	struct guest_params p = pressure(GUEST_RECLAIM_CLOCK, GUEST_PAT_UNIFORM, 1);
	uint64_t done;
	int r;

	tvm_boot(vm, &p);
	r = guest_os_run(vm->g, UINT64_MAX, &done);
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_lt(done, 6000);
	ck_assert_ptr_nonnull(strstr(guest_os_error(vm->g), "guest swap full"));
	ck_assert_ptr_nonnull(strstr(guest_os_error(vm->g), "-ENOSPC"));
	ck_assert_ptr_nonnull(strstr(guest_os_error(vm->g), "guest t0: pid 1 gva 0x"));
	ck_assert(guest_os_done(vm->g));
	ck_assert_int_eq(guest_os_run(vm->g, 10, &done), -ENOSPC);
	ck_assert_uint_eq(done, 0);
	ck_assert_uint_eq(guest_swap_used(vm->sw), 32);
	tvm_destroy(vm);
}
END_TEST

/* The VMM refuses a frame (host pool exhausted): the guest fails cleanly. */
START_TEST(host_refuses)
{
	struct tvm *vm = tvm_create(256, 2048);
	struct guest_params p = pressure(GUEST_RECLAIM_CLOCK, GUEST_PAT_UNIFORM, 1);
	hfn_t *held = calloc(vm->pool->frames, sizeof(*held));
	uint64_t n = 0, done;

	tvm_boot(vm, &p);
	while (mem_pool_alloc(vm->pool, &held[n], false) == 0)
		n++;
	ck_assert_int_eq(guest_os_run(vm->g, 100, &done), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(guest_os_error(vm->g), "-ENOMEM"));
	while (n)
		mem_pool_free(vm->pool, held[--n]);
	free(held);
	tvm_destroy(vm);
}
END_TEST

START_TEST(deterministic)
{
	struct guest_stats st[3];
	struct mmu_stats ms[2];

	for (int i = 0; i < 3; i++) {
		struct tvm *vm = tvm_create(256, 2048);
		struct guest_params p = pressure(GUEST_RECLAIM_RANDOM, GUEST_PAT_ZIPF, 2);

		p.seed = i < 2 ? 42 : 43;
		tvm_boot(vm, &p);
		tvm_run(vm);
		guest_os_stats(vm->g, &st[i]);
		if (i < 2)
			ms[i] = vm->mmu.st;
		tvm_destroy(vm);
	}
	ck_assert_mem_eq(&st[0], &st[1], sizeof(st[0]));
	ck_assert_uint_eq(ms[0].accesses, ms[1].accesses);
	ck_assert_uint_eq(ms[0].tlb_misses, ms[1].tlb_misses);
	ck_assert_uint_eq(ms[0].phys_accesses, ms[1].phys_accesses);
	ck_assert_uint_ne(st[0].page_faults, st[2].page_faults);
}
END_TEST

Suite *reclaim_suite(void)
{
	Suite *s = suite_create("reclaim");
	TCase *tc;

	tc = tcase_create("policies");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, policies, 0, 9);
	tcase_add_test(tc, recency_beats_random);
	suite_add_tcase(s, tc);
	tc = tcase_create("lru_model");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, lru_exact, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("verify");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, verify_catches_flip);
	suite_add_tcase(s, tc);
	tc = tcase_create("failure");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, swap_full);
	tcase_add_test(tc, host_refuses);
	suite_add_tcase(s, tc);
	tc = tcase_create("determinism");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, deterministic);
	suite_add_tcase(s, tc);
	return s;
}
