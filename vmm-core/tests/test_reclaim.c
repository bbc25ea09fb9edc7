/* SPDX-License-Identifier: MIT */
/*
 * test_reclaim: the policy applied to real guests: reclamation states and
 * what each does (balloon, host swap, blocking), targets from sampled
 * working sets under the idle tax, a balloon that never moves, emergencies
 * on an empty pool, sharing before swapping, and a swap that fills up
 * without losing a page.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/tests/check_vmm.h"
#include "vmm-core/tests/thost.h"

static void verify(struct vm *vm)
{
	char msg[512];

	ck_assert_msg(guest_os_verify(soft_vm(vm)->os, msg, sizeof(msg)) == 0, "%s", msg);
}

static double host_s(const struct thost *h)
{
	double c = -1;

	for (unsigned i = 0; i < h->n; i++)
		if (!h->vms[i]->done && (c < 0 || h->vms[i]->cycles < c))
			c = h->vms[i]->cycles;
	return c / h->cfg.cost.ghz / 1e9;
}

/* Run every guest a quantum at a time, lowest clock first, with policy
 * ticks, as the scheduler does, for `quanta` quanta. */
static void run_host(struct thost *h, unsigned quanta, uint64_t q)
{
	for (unsigned k = 0; k < quanta; k++) {
		struct vm *vm = NULL;

		for (unsigned i = 0; i < h->n; i++)
			if (!h->vms[i]->done && !h->vms[i]->rs.blocked &&
			    (!vm || h->vms[i]->cycles < vm->cycles))
				vm = h->vms[i];
		if (!vm) {
			reclaim_unstick(&h->rc, host_s(h));
			continue;
		}
		ck_assert_msg(thost_run(h, vm, q) == 0, "%s", vm->err);
		reclaim_policy_tick(&h->rc, host_s(h), false);
		ck_assert(!h->rc.fatal);
	}
}

/* An idle guest and a busy one, equal shares, on a host too small for
 * both: with no tax their targets are equal; with the tax the idle one's
 * falls (its idle pages cost four times as much) and the busy one's rises
 * by as much. */
START_TEST(idle_tax_targets)
{
	struct thost h;
	struct vm *idle, *busy;
	uint64_t t0[2], demand = 0;

	thost_init(&h, "[host]\n"
		       "memory = 24M\n"
		       "balloon = on\n"
		       "swap_file = host.swap\n"
		       "idle_tax = 0\n"
		       "policy_ms = 2\n"
		       "ws_period_ms = 5\n"
		       "ws_slow_gain = 0.5\n"
		       "[guest idle]\n"
		       "memory = 16M\n"
		       "workload = steps\n"
		       "steps = 12M, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0\n"
		       "step_ms = 10\n"
		       "accesses = 100000000\n"
		       "[guest busy]\n"
		       "memory = 16M\n"
		       "seed = 2\n"
		       "workload = uniform\n"
		       "wss = 14M\n"
		       "accesses = 100000000\n");
	idle = h.vms[0];
	busy = h.vms[1];
	/* the idle one touches 12 MiB for 10 ms, then halts; the busy one
	 * wants more than is left */
	while (host_s(&h) < 0.08)
		run_host(&h, 1, 1000);
	ck_assert_uint_gt(h.rc.transitions, 0); /* the host was short */
	reclaim_policy_tick(&h.rc, host_s(&h), true);
	for (unsigned i = 0; i < h.n; i++) {
		uint64_t hi =
		    h.rc.pg[i].demand < h.rc.pg[i].max ? h.rc.pg[i].demand : h.rc.pg[i].max;

		demand += hi;
	}
	ck_assert_uint_gt(demand, h.rc.avail); /* contended */
	ck_assert_msg(h.rc.pg[0].active < h.rc.pg[1].active / 2, "active %.0f %.0f at %.1f ms",
		      h.rc.pg[0].active, h.rc.pg[1].active, host_s(&h) * 1e3);
	t0[0] = idle->rs.target;
	t0[1] = busy->rs.target;
	h.cfg.host.tau[0] = 0.75;
	reclaim_policy_tick(&h.rc, host_s(&h), true);
	ck_assert_msg(idle->rs.target + 250 < t0[0], "idle %llu -> %llu, busy %llu -> %llu",
		      (unsigned long long)t0[0], (unsigned long long)idle->rs.target,
		      (unsigned long long)t0[1], (unsigned long long)busy->rs.target);
	ck_assert_uint_eq(busy->rs.target + idle->rs.target, t0[0] + t0[1]);
	ck_assert(idle->rs.rho < busy->rs.rho);
	verify(idle);
	verify(busy);
	thost_fini(&h);
}
END_TEST

/* A host that runs out: the states go down as free memory falls, the
 * balloons and host swap take memory back, guests above target are
 * blocked in the low state, and every page survives. */
START_TEST(states_reclaim)
{
	struct thost h;
	uint64_t seen[MEM_RSTATE_NR] = {0}, swapped = 0, ballooned = 0;

	thost_init(&h, "[host]\n"
		       "memory = 40M\n"
		       "balloon = on\n"
		       "balloon_rate = 64M\n"
		       "swap_file = host.swap\n"
		       "policy_ms = 1\n"
		       "ws_period_ms = 5\n"
		       "[guest g]\n"
		       "count = 3\n"
		       "memory = 20M\n"
		       "workload = uniform\n"
		       "wss = 16M\n"
		       "accesses = 100000000\n");
	for (unsigned k = 0; k < 600; k++) {
		run_host(&h, 1, 1000);
		seen[h.rc.state]++;
		for (unsigned i = 0; i < h.n; i++) {
			swapped += h.vms[i]->rs.swap_outs;
			ballooned += soft_vm(h.vms[i])->p2m->count[MEM_BALLOONED];
		}
	}
	ck_assert_uint_gt(seen[MEM_RSTATE_HIGH], 0);
	ck_assert_uint_gt(seen[MEM_RSTATE_SOFT] + seen[MEM_RSTATE_HARD] + seen[MEM_RSTATE_LOW], 0);
	ck_assert_uint_gt(h.rc.transitions, 1);
	ck_assert_uint_gt(ballooned, 0);
	ck_assert_uint_gt(swapped, 0);
	/* 48M of guests in 40M: the pool never overflowed and nothing was lost */
	ck_assert_uint_le(h.pool->used, h.pool->frames);
	for (unsigned i = 0; i < h.n; i++) {
		ck_assert(!h.vms[i]->failed);
		verify(h.vms[i]);
	}
	thost_fini(&h);
}
END_TEST

/* A balloon that never moves: after RECLAIM_STALL_TICKS ticks behind its
 * target, the policy swaps that guest instead, even in the soft state. */
START_TEST(stalled_balloon_swapped)
{
	struct thost h;
	struct vm *deaf;

	thost_init(&h, "[host]\n"
		       "memory = 40M\n"
		       "balloon = on\n"
		       "balloon_rate = 0\n"
		       "swap_file = host.swap\n"
		       "policy_ms = 1\n"
		       "[guest deaf]\n"
		       "memory = 24M\n"
		       "balloon_driver = ignore\n"
		       "workload = uniform\n"
		       "wss = 20M\n"
		       "accesses = 100000000\n"
		       "[guest ok]\n"
		       "memory = 24M\n"
		       "seed = 5\n"
		       "workload = uniform\n"
		       "wss = 20M\n"
		       "accesses = 100000000\n");
	deaf = h.vms[0];
	run_host(&h, 400, 1000);
	ck_assert_uint_gt(h.rc.ticks, 10);
	ck_assert_uint_eq(thost_balloon(deaf).actual, 0);
	ck_assert_uint_gt(deaf->rs.stall_reported, 0);
	ck_assert_uint_gt(deaf->rs.swap_outs, 0);
	ck_assert_ptr_nonnull(strstr(deaf->rs.balloon_note, "lags its target"));
	/* the cooperative one was ballooned, not left alone */
	ck_assert_uint_gt(thost_balloon(h.vms[1]).inflated, 0);
	verify(deaf);
	verify(h.vms[1]);
	thost_fini(&h);
}
END_TEST

/* An empty pool in the middle of a fault: the host swaps out a batch
 * (sharing what it can first) and the fault completes. */
START_TEST(emergency_and_sharing_first)
{
	struct thost h;
	struct vm *a, *b;

	thost_init(&h, "[host]\n"
		       "memory = 12M\n"
		       "sharing = on\n"
		       "swap_file = host.swap\n"
		       "swap_victim = lru\n"
		       "policy_ms = 1000000\n"
		       "[guest a]\n"
		       "memory = 8M\n"
		       "workload = seq\n"
		       "wss = 6M\n"
		       "content = mixed\n"
		       "accesses = 100000000\n"
		       "[guest b]\n"
		       "memory = 8M\n"
		       "workload = seq\n"
		       "wss = 6M\n"
		       "content = mixed\n"
		       "accesses = 100000000\n");
	a = h.vms[0];
	b = h.vms[1];
	/* identical guests (same seed): b's pages match a's */
	for (int i = 0; i < 4; i++)
		ck_assert_msg(thost_run(&h, a, 1000) == 0, "%s", a->err);
	for (int i = 0; i < 12; i++)
		ck_assert_msg(thost_run(&h, b, 1000) == 0, "%s", b->err);
	ck_assert_uint_gt(h.rc.emergencies, 0);
	ck_assert_uint_ge(h.rc.emergency_pages, 64);
	ck_assert_uint_gt(a->rs.swap_outs + b->rs.swap_outs, 0);
	ck_assert_uint_gt(a->rs.swap_shared + b->rs.swap_shared, 0);
	ck_assert_uint_gt(a->rs.cursor.arms + b->rs.cursor.arms, 0); /* the lru clock */
	for (int i = 0; i < 8; i++) {
		ck_assert_msg(thost_run(&h, a, 1000) == 0, "%s", a->err);
		ck_assert_msg(thost_run(&h, b, 1000) == 0, "%s", b->err);
	}
	ck_assert_uint_gt(a->rs.swap_ins + b->rs.swap_ins, 0);
	verify(a);
	verify(b);
	thost_fini(&h);
}
END_TEST

/* The swap fills up (a cap of 32 slots): the run is told (fatal), the
 * guest's fault fails with the swap's message, and no page is lost. */
START_TEST(swap_full_loses_nothing)
{
	struct thost h;
	struct vm *vm;
	int r = 0;

	thost_init(&h, "[host]\n"
		       "memory = 8M\n"
		       "swap_file = host.swap\n"
		       "swap_size = 128K\n"
		       "policy_ms = 1000000\n"
		       "[guest g]\n"
		       "memory = 16M\n"
		       "workload = seq\n"
		       "wss = 12M\n"
		       "accesses = 100000000\n");
	vm = h.vms[0];
	for (int i = 0; i < 20 && !r; i++)
		r = thost_run(&h, vm, 1000);
	ck_assert_int_lt(r, 0);
	ck_assert(h.rc.fatal);
	ck_assert_msg(strstr(h.rc.fatal_msg, "every slot is in use") &&
			  strstr(h.rc.fatal_msg, "stays in memory"),
		      "%s", h.rc.fatal_msg);
	ck_assert_msg(strstr(vm->err, "every slot is in use"), "%s", vm->err);
	ck_assert_uint_eq(soft_vm(vm)->p2m->count[MEM_SWAPPED], 32);
	/* the guest failed, its memory did not */
	verify(vm);
	thost_fini(&h);
}
END_TEST

Suite *reclaim_suite(void)
{
	Suite *s = suite_create("reclaim");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, idle_tax_targets);
	tcase_add_test(tc, states_reclaim);
	tcase_add_test(tc, stalled_balloon_swapped);
	suite_add_tcase(s, tc);
	tc = tcase_create("swap");
	tcase_add_test(tc, emergency_and_sharing_first);
	tcase_add_test(tc, swap_full_loses_nothing);
	suite_add_tcase(s, tc);
	return s;
}
