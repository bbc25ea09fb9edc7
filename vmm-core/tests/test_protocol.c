/* SPDX-License-Identifier: MIT */
/*
 * test_protocol: a guest that gets the balloon protocol wrong, seen from
 * both sides. The bad input is written into the guest's own ring memory
 * through its own MMU (the kernel's direct map) and kicked through its
 * register window, as a buggy or hostile driver would; the device must
 * reject it without touching anything, report it, and the host must fall
 * back to swapping that guest while the guest beside it balloons on. Also:
 * what the device's discard does to shared, swapped and resident frames,
 * and a guest touching a frame it gave away.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/tests/check_vmm.h"
#include "vmm-core/tests/thost.h"

static const char two[] = "[host]\n"
			  "memory = 64M\n"
			  "balloon = on\n"
			  "balloon_rate = 0\n"
			  "sharing = on\n"
			  "swap_file = host.swap\n"
			  "[guest bad]\n"
			  "memory = 16M\n"
			  "workload = uniform\n"
			  "wss = 4M\n"
			  "accesses = 100000000\n"
			  "[guest good]\n"
			  "seed = 2\n"
			  "memory = 16M\n"
			  "workload = uniform\n"
			  "wss = 4M\n"
			  "accesses = 100000000\n";

static struct thost H;
static struct vm *B, *G;

static void setup(void)
{
	thost_init(&H, two);
	B = H.vms[0];
	G = H.vms[1];
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(thost_run(&H, B, 1000), 0);
		ck_assert_int_eq(thost_run(&H, G, 1000), 0);
	}
}

static void teardown(void)
{
	thost_fini(&H);
}

/* ---- the guest's side, by hand ---- */

static void gwrite(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
	ck_assert_int_eq(mmu_phys(&soft_vm(vm)->mmu, gpa, (void *)(uintptr_t)buf, len, MMU_WRITE),
			 0);
}

static uint16_t gread16(struct vm *vm, uint64_t gpa)
{
	uint16_t v;

	ck_assert_int_eq(mmu_phys(&soft_vm(vm)->mmu, gpa, &v, 2, MMU_READ), 0);
	return v;
}

static uint16_t qsize(const struct vm *vm)
{
	return balloon_queue_size(soft_vm(vm)->balloon->dev, BALLOON_VQ_INFLATE);
}

static uint64_t avail_of(const struct vm *vm, unsigned q)
{
	return balloon_vring_legacy_avail(balloon_queue_desc(soft_vm(vm)->balloon->dev, q),
					  qsize(vm));
}

/* A buffer page of the guest's own: the workload's data is elsewhere, so
 * scribbling on a free frame is the guest's business alone. */
static uint64_t scratch(const struct vm *vm)
{
	return (uint64_t)(soft_vm(vm)->p2m->pages - 1) << 12;
}

static void desc(struct vm *vm, unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	struct balloon_vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};

	gwrite(vm, balloon_queue_desc(soft_vm(vm)->balloon->dev, q) + 16ull * i, &d, sizeof(d));
}

/* Publish head on queue q (advancing the index by `step`) and kick. */
static void publish(struct vm *vm, unsigned q, uint16_t head, uint16_t step)
{
	uint64_t av = avail_of(vm, q);
	uint16_t idx = gread16(vm, av + 2);

	gwrite(vm, av + 4 + 2u * (idx % qsize(vm)), &head, 2);
	idx = (uint16_t)(idx + step);
	gwrite(vm, av + 2, &idx, 2);
	vm_balloon_dev_ops.io_write(soft_vm(vm)->balloon, BALLOON_PCI_QUEUE_NOTIFY, q, 2);
}

/* Post pfns as one batch on q, in descriptor `head`. */
static void post(struct vm *vm, unsigned q, uint16_t head, const uint32_t *pfns, unsigned n)
{
	gwrite(vm, scratch(vm), pfns, n * 4u);
	desc(vm, q, head, scratch(vm), n * 4u, 0, 0);
	publish(vm, q, head, 1);
}

/* ---- bad input: every case rejects without touching anything ---- */

enum {
	BAD_BEYOND,
	BAD_TWICE,
	BAD_BALLOONED,
	BAD_NOT_BALLOONED,
	BAD_WRITABLE,
	BAD_INDIRECT,
	BAD_PARTIAL,
	BAD_OUTSIDE,
	BAD_LOOP,
	BAD_NEXT,
	BAD_HEAD,
	BAD_INDEX,
	BAD_NR
};

static const struct {
	const char *what; /* in the device's message */
	bool ring;	  /* breaks the ring itself (device needs a reset) */
} bad[BAD_NR] = {
    [BAD_BEYOND] = {"beyond guest memory", false},
    [BAD_TWICE] = {"listed twice", false},
    [BAD_BALLOONED] = {"already ballooned", false},
    [BAD_NOT_BALLOONED] = {"not ballooned", false},
    [BAD_WRITABLE] = {"device-writable", false},
    [BAD_INDIRECT] = {"indirect", false},
    [BAD_PARTIAL] = {"partial element", false},
    [BAD_OUTSIDE] = {"outside guest memory", false},
    [BAD_LOOP] = {"loops", false},
    [BAD_NEXT] = {"links to", false},
    [BAD_HEAD] = {"holds head", true},
    [BAD_INDEX] = {"entries ahead", true},
};

START_TEST(bad_input_rejected)
{
	uint32_t pfns[4] = {3000, 3001, 3002, 3003}, one = 3100;
	uint64_t counts[MEM_NR_STATES], *snap, used;
	struct balloon_counters c;
	uint16_t h = 5, n = qsize(B);

	/* one good batch first: frame 3100 is ballooned */
	post(B, BALLOON_VQ_INFLATE, 1, &one, 1);
	ck_assert_uint_eq(thost_balloon(B).actual, 1);
	ck_assert_uint_eq(thost_balloon(B).rejected_batches, 0);
	snap = malloc(soft_vm(B)->p2m->pages * sizeof(*snap));
	memcpy(snap, soft_vm(B)->p2m->e, soft_vm(B)->p2m->pages * sizeof(*snap));
	memcpy(counts, soft_vm(B)->p2m->count, sizeof(counts));
	used = H.pool->used;
	switch (_i) {
	case BAD_BEYOND:
		pfns[3] = (uint32_t)soft_vm(B)->p2m->pages;
		post(B, BALLOON_VQ_INFLATE, h, pfns, 4);
		break;
	case BAD_TWICE:
		pfns[3] = pfns[0];
		post(B, BALLOON_VQ_INFLATE, h, pfns, 4);
		break;
	case BAD_BALLOONED:
		pfns[3] = one;
		post(B, BALLOON_VQ_INFLATE, h, pfns, 4);
		break;
	case BAD_NOT_BALLOONED:
		pfns[0] = one;
		post(B, BALLOON_VQ_DEFLATE, h, pfns, 4);
		break;
	case BAD_WRITABLE:
	case BAD_INDIRECT:
		gwrite(B, scratch(B), pfns, 16);
		desc(B, 0, h, scratch(B), 16,
		     _i == BAD_WRITABLE ? BALLOON_VRING_DESC_F_WRITE
					: BALLOON_VRING_DESC_F_INDIRECT,
		     0);
		publish(B, 0, h, 1);
		break;
	case BAD_PARTIAL:
		gwrite(B, scratch(B), pfns, 16);
		desc(B, 0, h, scratch(B), 14, 0, 0);
		publish(B, 0, h, 1);
		break;
	case BAD_OUTSIDE:
		desc(B, 0, h, (soft_vm(B)->p2m->pages << 12) - 8, 16, 0, 0);
		publish(B, 0, h, 1);
		break;
	case BAD_LOOP:
		gwrite(B, scratch(B), pfns, 16);
		desc(B, 0, h, scratch(B), 8, BALLOON_VRING_DESC_F_NEXT, 6);
		desc(B, 0, 6, scratch(B) + 8, 8, BALLOON_VRING_DESC_F_NEXT, h);
		publish(B, 0, h, 1);
		break;
	case BAD_NEXT:
		gwrite(B, scratch(B), pfns, 16);
		desc(B, 0, h, scratch(B), 16, BALLOON_VRING_DESC_F_NEXT, n);
		publish(B, 0, h, 1);
		break;
	case BAD_HEAD:
		publish(B, 0, n + 3, 1);
		break;
	case BAD_INDEX:
		publish(B, 0, h, (uint16_t)(n + 1));
		break;
	}
	c = thost_balloon(B);
	ck_assert_msg(strstr(balloon_last_error(soft_vm(B)->balloon->dev), bad[_i].what),
		      "case %d: %s", _i, balloon_last_error(soft_vm(B)->balloon->dev));
	if (bad[_i].ring) {
		ck_assert_uint_eq(c.ring_errors, 1);
		ck_assert(c.status & BALLOON_STATUS_DEVICE_NEEDS_RESET);
	} else {
		ck_assert_uint_eq(c.rejected_batches, 1);
	}
	/* nothing moved: not one entry of the p2m, not one frame */
	ck_assert_mem_eq(snap, soft_vm(B)->p2m->e, soft_vm(B)->p2m->pages * sizeof(*snap));
	ck_assert_mem_eq(counts, soft_vm(B)->p2m->count, sizeof(counts));
	ck_assert_uint_eq(H.pool->used, used);
	ck_assert_uint_eq(c.actual, 1);
	/* reported; host swap takes over for this guest alone */
	ck_assert(B->rs.swap_instead);
	ck_assert_ptr_nonnull(strstr(B->rs.balloon_note, bad[_i].what));
	ck_assert(!vm_balloon_usable(B, &(const char *){NULL}));
	ck_assert(vm_balloon_usable(G, &(const char *){NULL}));
	thost_target(&H, G, 1000);
	ck_assert_int_eq(thost_run(&H, G, 10), 0);
	ck_assert_uint_eq(thost_balloon(G).actual, 1000);
	ck_assert_uint_eq(soft_vm(G)->p2m->count[MEM_BALLOONED], 1000);
	free(snap);
	/* and the bad guest itself runs on */
	ck_assert_int_eq(thost_run(&H, B, 1000), 0);
}
END_TEST

/* A driver that sends frames that are not its to give, and one that never
 * moves: reported, and the policy reclaims from them by swapping. */
START_TEST(misbehaving_drivers)
{
	struct thost h;
	struct vm *garbage, *ignore, *none;
	const char *why = NULL;

	thost_init(&h, "[host]\n"
		       "memory = 64M\n"
		       "balloon = on\n"
		       "balloon_rate = 0\n"
		       "[guest garbage]\n"
		       "memory = 8M\n"
		       "balloon_driver = garbage\n"
		       "workload = uniform\n"
		       "wss = 2M\n"
		       "[guest ignore]\n"
		       "memory = 8M\n"
		       "balloon_driver = ignore\n"
		       "workload = uniform\n"
		       "wss = 2M\n"
		       "[guest none]\n"
		       "memory = 8M\n"
		       "balloon_driver = none\n"
		       "workload = uniform\n"
		       "wss = 2M\n");
	garbage = h.vms[0];
	ignore = h.vms[1];
	none = h.vms[2];
	for (unsigned i = 0; i < 3; i++) {
		thost_target(&h, h.vms[i], 500);
		for (int k = 0; k < 8; k++) {
			if (i == 0 && k)
				thost_target(&h, garbage, 500 + (uint64_t)k); /* a new kind */
			ck_assert_int_eq(thost_run(&h, h.vms[i], 100), 0);
		}
		ck_assert_uint_eq(soft_vm(h.vms[i])->p2m->count[MEM_BALLOONED], 0);
		ck_assert_uint_eq(thost_balloon(h.vms[i]).actual, 0);
	}
	/* the garbage driver claims the target; the host believes its own count */
	ck_assert_uint_gt(thost_balloon(garbage).guest_actual, 0);
	ck_assert_uint_ge(thost_balloon(garbage).rejected_batches, 4);
	ck_assert(garbage->rs.swap_instead);
	ck_assert(!vm_balloon_usable(garbage, &why));
	/* the silent one is up but never moves; the policy's stall count
	 * catches it (test_reclaim), the device sees a driver */
	ck_assert(vm_balloon_usable(ignore, &why));
	ck_assert_uint_eq(thost_balloon(ignore).inflate_batches, 0);
	ck_assert(!vm_balloon_usable(none, &why));
	ck_assert_str_eq(why, "no balloon driver in the guest");
	thost_fini(&h);
}
END_TEST

/* A guest touching a frame it gave to the balloon breaks the protocol:
 * the frame reads as zeros, the device is reset (the balloon is lost, and
 * the p2m agrees with the device again), host swap takes over. */
START_TEST(touching_a_ballooned_frame)
{
	uint32_t pfns[3] = {3500, 3501, 3502};
	uint64_t v = 0x1234;

	post(B, BALLOON_VQ_INFLATE, 2, pfns, 3);
	ck_assert_uint_eq(soft_vm(B)->p2m->count[MEM_BALLOONED], 3);
	ck_assert_int_eq(mmu_phys(&soft_vm(B)->mmu, 3501ull << 12, &v, 8, MMU_READ), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(soft_vm(B)->p2m->count[MEM_BALLOONED], 0);
	ck_assert_uint_eq(thost_balloon(B).actual, 0);
	ck_assert_uint_eq(thost_balloon(B).resets, 1);
	ck_assert(B->rs.swap_instead);
	ck_assert_ptr_nonnull(strstr(B->rs.balloon_note, "gfn 3501"));
	ck_assert_int_eq(mem_p2m_check(soft_vm(B)->p2m), 0);
}
END_TEST

/* What the device's discard does on the soft backend: a resident frame is
 * freed, a shared frame loses one reference, a swapped page its slot, an
 * untouched page just changes state; deflate makes them all untouched. */
START_TEST(discard_every_state)
{
	struct mem_swap_stats st0, st1;
	struct ksm_stats k0, k1;
	uint32_t pfns[4];
	uint64_t used;
	gfn_t res = 0, sh = 0, sw = 0, un = soft_vm(B)->p2m->pages - 2;

	ksm_converge(H.ksm, 4, NULL, NULL);
	for (gfn_t g = 100; g < soft_vm(B)->p2m->pages && !(res && sh && sw); g++) {
		enum mem_page_state s = mem_p2m_state(soft_vm(B)->p2m, g);

		if (s == MEM_SHARED && !sh)
			sh = g;
		else if (s == MEM_RESIDENT && !res)
			res = g;
		else if (s == MEM_RESIDENT && !sw &&
			 mem_swap_out(H.rc.swap, soft_vm(B)->p2m, g) == 0)
			sw = g;
	}
	ck_assert_msg(res && sh && sw, "resident %llu shared %llu: %llu %llu %llu",
		      (unsigned long long)soft_vm(B)->p2m->count[MEM_RESIDENT],
		      (unsigned long long)soft_vm(B)->p2m->count[MEM_SHARED],
		      (unsigned long long)res, (unsigned long long)sh, (unsigned long long)sw);
	ck_assert_int_eq(mem_p2m_state(soft_vm(B)->p2m, un), MEM_UNTOUCHED);
	pfns[0] = (uint32_t)res;
	pfns[1] = (uint32_t)sh;
	pfns[2] = (uint32_t)sw;
	pfns[3] = (uint32_t)un;
	/* a batch in and out first: the rings and the buffer page were zero
	 * pages, shared; their copy-on-write breaks are not what is tested */
	post(B, BALLOON_VQ_INFLATE, 3, &pfns[3], 1);
	post(B, BALLOON_VQ_DEFLATE, 3, &pfns[3], 1);
	gwrite(B, scratch(B), pfns, sizeof(pfns));
	mem_swap_stats(H.rc.swap, &st0);
	ksm_stats(H.ksm, &k0);
	used = H.pool->used;
	post(B, BALLOON_VQ_INFLATE, 3, pfns, 4);
	ck_assert_uint_eq(thost_balloon(B).actual, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(mem_p2m_state(soft_vm(B)->p2m, pfns[i]), MEM_BALLOONED);
	mem_swap_stats(H.rc.swap, &st1);
	ksm_stats(H.ksm, &k1);
	ck_assert_uint_eq(st1.used, st0.used - 1);
	ck_assert_uint_eq(k1.pages_sharing, k0.pages_sharing - 1);
	/* the resident frame went back, and the shared frame too if that was
	 * its last reference */
	ck_assert_uint_eq(H.pool->used, used - 1 - (k0.pages_shared - k1.pages_shared));
	ck_assert_int_eq(ksm_check(H.ksm), 0);
	post(B, BALLOON_VQ_DEFLATE, 4, pfns, 4);
	ck_assert_uint_eq(thost_balloon(B).actual, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(mem_p2m_state(soft_vm(B)->p2m, pfns[i]), MEM_UNTOUCHED);
	ck_assert_uint_eq(thost_balloon(B).rejected_batches, 0);
}
END_TEST

Suite *protocol_suite(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc = tcase_create("guest_side");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, bad_input_rejected, 0, BAD_NR);
	tcase_add_test(tc, touching_a_ballooned_frame);
	tcase_add_test(tc, discard_every_state);
	suite_add_tcase(s, tc);
	tc = tcase_create("drivers");
	tcase_add_test(tc, misbehaving_drivers);
	suite_add_tcase(s, tc);
	return s;
}
