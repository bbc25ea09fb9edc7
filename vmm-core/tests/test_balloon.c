/* SPDX-License-Identifier: MIT */
/*
 * test_balloon: the balloon protocol end to end on the soft backend: the
 * soft guest's virtio-balloon driver (guest/balloon.c) against the device
 * (balloon-driver/) through the soft transport (balloon_soft.c), and
 * everything a guest may get wrong, written into its own ring memory
 * through its own MMU, as a guest would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/tests/check_vmm.h"
#include "vmm-core/tests/thost.h"

/* One 16 MiB guest (4096 pages; the balloon may take 65%: 2662), whose
 * workload touches 12 MiB; a second one beside it. */
static const char two_guests[] = "[host]\n"
				 "memory = 64M\n"
				 "balloon = on\n"
				 "balloon_rate = 0\n"
				 "[guest g]\n"
				 "memory = 16M\n"
				 "workload = uniform\n"
				 "wss = 12M\n"
				 "accesses = 100000000\n"
				 "[guest other]\n"
				 "memory = 16M\n"
				 "workload = uniform\n"
				 "wss = 4M\n"
				 "accesses = 100000000\n";

static struct thost H;
static struct vm *G, *O;

static void setup(void)
{
	thost_init(&H, two_guests);
	G = H.vms[0];
	O = H.vms[1];
}

static void teardown(void)
{
	thost_fini(&H);
}

/* Run g until its balloon stops moving (at most `runs` quanta of 1000). */
static void settle(struct vm *vm, unsigned runs)
{
	for (unsigned i = 0; i < runs; i++)
		ck_assert_int_eq(thost_run(&H, vm, 1000), 0);
}

/* Device, p2m and guest agree on the balloon of vm, of `pages` pages. */
static void agree(const struct vm *vm, uint64_t pages)
{
	struct balloon_counters c = thost_balloon(vm);

	ck_assert_uint_eq(c.actual, pages);
	ck_assert_uint_eq(soft_vm(vm)->p2m->count[MEM_BALLOONED], pages);
	ck_assert_uint_eq(thost_gstats(vm).frames_balloon, pages);
	ck_assert_uint_eq(c.guest_actual, pages);
	ck_assert_uint_eq(c.rejected_batches, 0);
	ck_assert_uint_eq(c.ring_errors, 0);
	ck_assert_int_eq(mem_p2m_check(soft_vm(vm)->p2m), 0);
}

static void verify(struct vm *vm)
{
	char msg[512];

	ck_assert_msg(guest_os_verify(soft_vm(vm)->os, msg, sizeof(msg)) == 0, "%s", msg);
}

START_TEST(boot_negotiates)
{
	struct balloon_counters c = thost_balloon(G);
	uint64_t want = BALLOON_FEATURE(BALLOON_F_MUST_TELL_HOST) |
			BALLOON_FEATURE(BALLOON_F_STATS_VQ) |
			BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM);

	ck_assert(c.status & BALLOON_STATUS_DRIVER_OK);
	ck_assert_uint_eq(c.features, want);
	/* rings right after mem_map (64 frames from gfn 1), 2 frames each */
	for (unsigned q = 0; q < BALLOON_VQ_NR; q++)
		ck_assert_uint_eq(balloon_queue_desc(soft_vm(G)->balloon->dev, q), (65ull + 2 * q)
										       << 12);
	/* the statistics buffer came at once, and is held */
	ck_assert_uint_eq(c.stats_updates, 1);
	ck_assert_uint_eq(c.stats[BALLOON_S_MEMTOT], 16ull << 20);
	ck_assert(c.stats_seen & (1u << BALLOON_S_MEMFREE));
	ck_assert(vm_balloon_usable(G, &(const char *){NULL}));
	ck_assert_uint_gt(soft_vm(G)->mmu.st.exits[MMU_EXIT_BALLOON],
			  10); /* each register access */
}
END_TEST

/* Inflating makes the guest give up its own pages first; the host frees
 * the frames behind them for real. */
START_TEST(inflate_frees_frames)
{
	uint64_t used, resident, outs;

	settle(G, 60); /* 60000 accesses: most of the 12 MiB touched */
	used = H.pool->used;
	resident = soft_vm(G)->p2m->count[MEM_RESIDENT];
	outs = thost_gstats(G).swap_outs;
	ck_assert_uint_gt(resident, 2500);
	thost_target(&H, G, 2000);
	settle(G, 3); /* 1024 pages per run of the driver */
	agree(G, 2000);
	/* the free frames it had (untouched) went first, then its own pages,
	 * evicted to its swap: their host frames are gone */
	ck_assert_uint_gt(thost_gstats(G).swap_outs - outs, 500);
	ck_assert_uint_lt(soft_vm(G)->p2m->count[MEM_RESIDENT], resident - 500);
	ck_assert_uint_eq(H.pool->used, used - (resident - soft_vm(G)->p2m->count[MEM_RESIDENT]));
	mem_pool_release(H.pool);
	ck_assert_uint_eq(mem_pool_resident(H.pool), H.pool->used); /* RSS shows it */
	settle(G, 20);
	agree(G, 2000);
	verify(G);
	/* the other guest saw nothing */
	ck_assert_uint_eq(soft_vm(O)->p2m->count[MEM_BALLOONED], 0);
	ck_assert_uint_eq(thost_balloon(O).actual, 0);
}
END_TEST

/* A target that moves while the driver is still inflating. */
START_TEST(target_changes_mid_inflate)
{
	thost_target(&H, G, 2600);
	settle(G, 1);
	ck_assert_uint_eq(thost_balloon(G).actual, GUEST_BALLOON_WORK_MAX);
	thost_target(&H, G, 300);
	settle(G, 1);
	agree(G, 300);
	thost_target(&H, G, 2500);
	settle(G, 1);
	thost_target(&H, G, 2400);
	settle(G, 3);
	agree(G, 2400);
	/* beyond what the host lets it take: clamped to 65% */
	thost_target(&H, G, 4000);
	ck_assert_uint_eq(thost_balloon(G).target, 2662);
	settle(G, 3);
	agree(G, 2662);
	thost_target(&H, G, 0);
	settle(G, 3);
	agree(G, 0);
	ck_assert_uint_eq(thost_balloon(G).deflated_unasked, 0);
	verify(G);
}
END_TEST

/* Thousands of batches: the rings wrap every 64 entries and the 16-bit
 * indices past 65535, on both queues. */
START_TEST(rings_wrap)
{
	for (unsigned i = 0; i < 66000; i++) {
		thost_target(&H, G, 1);
		ck_assert_int_eq(thost_run(&H, G, 1), 0);
		thost_target(&H, G, 0);
		ck_assert_int_eq(thost_run(&H, G, 1), 0);
	}
	agree(G, 0);
	ck_assert_uint_eq(thost_balloon(G).inflate_batches, 66000);
	ck_assert_uint_eq(thost_balloon(G).deflate_batches, 66000);
	thost_target(&H, G, 1500);
	settle(G, 2);
	agree(G, 1500);
	verify(G);
}
END_TEST

/* The guest runs out of memory (its swap is small and full): with
 * deflate-on-OOM it gives pages back by itself and lives on. */
START_TEST(deflate_on_oom)
{
	struct thost h2;
	struct vm *vm;
	struct guest_stats st;

	thost_init(&h2, "[host]\n"
			"memory = 64M\n"
			"balloon = on\n"
			"balloon_rate = 0\n"
			"balloon_max = 90\n"
			"[guest g]\n"
			"memory = 8M\n"
			"guest_swap = 256K\n"
			"workload = uniform\n"
			"wss = 6M\n"
			"accesses = 100000000\n");
	vm = h2.vms[0];
	/* inflate first, while its memory is free: 1500 of its 2048 pages */
	balloon_set_target(soft_vm(vm)->balloon->dev, 1500);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(thost_run(&h2, vm, 10), 0);
	ck_assert_uint_eq(thost_balloon(vm).actual, 1500);
	/* now the workload wants 1536 pages: swap (64 slots) fills, OOM */
	for (int i = 0; i < 100; i++)
		ck_assert_msg(thost_run(&h2, vm, 1000) == 0, "%s", vm->err);
	st = thost_gstats(vm);
	ck_assert_uint_gt(st.balloon_oom, 0);
	ck_assert_uint_eq(st.balloon_oom % BALLOON_OOM_NR_PAGES, 0);
	ck_assert_uint_eq(thost_balloon(vm).deflated_unasked, st.balloon_oom);
	ck_assert_uint_eq(thost_balloon(vm).actual, 1500 - st.balloon_oom);
	ck_assert_uint_eq(soft_vm(vm)->p2m->count[MEM_BALLOONED], 1500 - st.balloon_oom);
	ck_assert(!vm->failed);
	verify(vm);
	thost_fini(&h2);
}
END_TEST

/* An allocation the guest cannot make: back off 200 ms of its time, no
 * busy loop, then try again. */
START_TEST(out_of_puff)
{
	struct thost h2;
	struct guest_stats st;
	struct vm *vm;
	uint64_t inflates;

	thost_init(&h2, "[host]\n"
			"memory = 64M\n"
			"balloon = on\n"
			"balloon_rate = 0\n"
			"balloon_max = 90\n"
			"[guest g]\n"
			"memory = 8M\n"
			"guest_swap = 64K\n"
			"workload = seq\n"
			"wss = 6M\n"
			"accesses = 100000000\n");
	vm = h2.vms[0];
	for (int i = 0; i < 4; i++) /* every page of the 6 MiB touched */
		ck_assert_int_eq(thost_run(&h2, vm, 1000), 0);
	/* 90% of 2048 pages: more than its free frames and 16 swap slots */
	balloon_set_target(soft_vm(vm)->balloon->dev, 1843);
	ck_assert_int_eq(thost_run(&h2, vm, 1), 0);
	st = thost_gstats(vm);
	ck_assert_uint_eq(st.balloon_puffs, 1);
	ck_assert_uint_lt(st.frames_balloon, 1843);
	ck_assert_uint_gt(st.frames_balloon, 0);
	ck_assert_uint_eq(st.swap_outs, 16); /* it gave what it could swap */
	inflates = thost_balloon(vm).inflate_batches;
	for (int i = 0; i < 50; i++) /* well under 200 ms of its time */
		ck_assert_int_eq(thost_run(&h2, vm, 100), 0);
	/* it waits: no allocation tried, nothing inflated (the guest may
	 * deflate on OOM meanwhile: its pages went to the balloon) */
	ck_assert_uint_eq(thost_gstats(vm).balloon_puffs, 1);
	ck_assert_uint_eq(thost_balloon(vm).inflate_batches, inflates);
	thost_wait(&h2, vm, GUEST_BALLOON_RETRY_NS);
	ck_assert_int_eq(thost_run(&h2, vm, 1), 0);
	ck_assert_uint_eq(thost_gstats(vm).balloon_puffs, 2); /* tried again */
	ck_assert(!vm->failed);
	agree(vm, thost_gstats(vm).frames_balloon);
	verify(vm);
	thost_fini(&h2);
}
END_TEST

/* A reboot loses the balloon: the new kernel resets the device, every
 * frame is the guest's again, and ballooning starts over. */
START_TEST(reboot_loses_balloon)
{
	settle(G, 20);
	thost_target(&H, G, 1800);
	settle(G, 2);
	agree(G, 1800);
	/* the balloon's frames as the old kernel chose them */
	bool *old = calloc(soft_vm(G)->p2m->pages, sizeof(*old));

	for (gfn_t g = 0; g < soft_vm(G)->p2m->pages; g++)
		old[g] = mem_p2m_state(soft_vm(G)->p2m, g) == MEM_BALLOONED;
	ck_assert_int_eq(vm_reboot(G), 0);
	/* the booting kernel reset the device: every frame came back to the
	 * guest, and with the target still set, its new driver inflated again
	 * while booting, with frames the new kernel chose */
	ck_assert_uint_eq(thost_balloon(G).resets, 1);
	ck_assert_uint_eq(thost_balloon(G).inflated, 3600);
	ck_assert_uint_eq(thost_balloon(G).deflated, 0);
	agree(G, 1800);
	{
		unsigned same = 0;

		for (gfn_t g = 0; g < soft_vm(G)->p2m->pages; g++)
			same += old[g] && mem_p2m_state(soft_vm(G)->p2m, g) == MEM_BALLOONED;
		ck_assert_uint_lt(same, 1800); /* not the old balloon carried over */
	}
	free(old);
	settle(G, 20);
	verify(G);
	ck_assert_uint_eq(soft_vm(G)->reboots, 1);
}
END_TEST

/* The statistics queue: the host asks, the guest answers with fresh
 * numbers. */
START_TEST(statistics)
{
	struct balloon_counters c;

	settle(G, 10);
	ck_assert_int_eq(balloon_request_stats(soft_vm(G)->balloon->dev), 0);
	ck_assert_int_eq(balloon_request_stats(soft_vm(G)->balloon->dev), -EAGAIN); /* one out */
	ck_assert_int_eq(thost_run(&H, G, 1), 0); /* the interrupt, and one access */
	c = thost_balloon(G);
	ck_assert_uint_eq(c.stats_updates, 2);
	/* what the guest had free then: at most one fault ago */
	ck_assert_uint_le(c.stats[BALLOON_S_MEMFREE] / MEM_PAGE_SIZE - thost_gstats(G).frames_free,
			  1);
	ck_assert_uint_eq(c.stats[BALLOON_S_SWAP_OUT], thost_gstats(G).swap_outs * MEM_PAGE_SIZE);
	ck_assert_int_eq(balloon_request_stats(soft_vm(G)->balloon->dev), 0);
}
END_TEST

Suite *balloon_suite(void)
{
	Suite *s = suite_create("balloon");
	TCase *tc = tcase_create("driver");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, boot_negotiates);
	tcase_add_test(tc, inflate_frees_frames);
	tcase_add_test(tc, target_changes_mid_inflate);
	tcase_add_test(tc, rings_wrap);
	tcase_add_test(tc, deflate_on_oom);
	tcase_add_test(tc, out_of_puff);
	tcase_add_test(tc, reboot_loses_balloon);
	tcase_add_test(tc, statistics);
	suite_add_tcase(s, tc);
	return s;
}
