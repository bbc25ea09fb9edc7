/* SPDX-License-Identifier: MIT */
/* test_ring: the device's split-ring checks, from the guest's side. Every
 * bad ring or chain must leave the host untouched. */
#include <errno.h>
#include <string.h>

#include "balloon-driver/tests/check_balloon.h"
#include "balloon-driver/tests/tdrv.h"

static struct tdrv t;

static void setup(void)
{
	struct balloon_params p = {.features = BALLOON_FEATURE(BALLOON_F_STATS_VQ)};

	tdrv_init(&t, &p, 8);
}

static void teardown(void)
{
	tdrv_fini(&t);
}

static void assert_untouched(void)
{
	struct balloon_counters c;

	balloon_counters(t.d, &c);
	ck_assert_uint_eq(t.discard_calls, 0);
	ck_assert_uint_eq(c.actual, 0);
	ck_assert_uint_eq(c.inflated, 0);
}

/* A chain the device must refuse: returned unused, counted, nothing freed. */
static void assert_rejected(uint16_t head)
{
	struct balloon_counters c;
	uint32_t len = 99;

	tdrv_publish(&t, BALLOON_VQ_INFLATE, head);
	ck_assert_int_eq(balloon_queue_notify(t.d, BALLOON_VQ_INFLATE), 0);
	balloon_counters(t.d, &c);
	ck_assert_uint_eq(c.rejected_batches, 1);
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_INFLATE, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_ne(balloon_last_error(t.d), "");
	assert_untouched();
}

static uint64_t buf_with(uint32_t pfn)
{
	uint64_t gpa = (uint64_t)TDRV_BUF0 << 12;

	memcpy(tdrv_ptr(&t, gpa), &pfn, 4);
	return gpa;
}

START_TEST(writable_descriptor)
{
	tdrv_set_desc(&t, 0, 0, buf_with(200), 4, BALLOON_VRING_DESC_F_WRITE, 0);
	assert_rejected(0);
	ck_assert_ptr_nonnull(strstr(balloon_last_error(t.d), "device-writable"));
}
END_TEST

START_TEST(indirect_descriptor)
{
	tdrv_set_desc(&t, 0, 0, buf_with(200), 16, BALLOON_VRING_DESC_F_INDIRECT, 0);
	assert_rejected(0);
	ck_assert_ptr_nonnull(strstr(balloon_last_error(t.d), "indirect"));
}
END_TEST

START_TEST(partial_pfn)
{
	tdrv_set_desc(&t, 0, 0, buf_with(200), 6, 0, 0);
	assert_rejected(0);
	ck_assert_ptr_nonnull(strstr(balloon_last_error(t.d), "partial"));
}
END_TEST

START_TEST(buffer_outside_memory)
{
	/* the end, and an address whose addr + len overflows */
	tdrv_set_desc(&t, 0, 0, (uint64_t)TDRV_PAGES << 12, 4, 0, 0);
	assert_rejected(0);
	ck_assert_ptr_nonnull(strstr(balloon_last_error(t.d), "outside guest memory"));
	tdrv_set_desc(&t, 0, 1, ~0ull - 1, 4, 0, 0);
	tdrv_publish(&t, 0, 1);
	ck_assert_int_eq(balloon_queue_notify(t.d, 0), 0);
	ck_assert_uint_eq(tdrv_reap(&t, 0, NULL), 1);
	assert_untouched();
}
END_TEST

START_TEST(next_out_of_range)
{
	tdrv_set_desc(&t, 0, 0, buf_with(200), 4, BALLOON_VRING_DESC_F_NEXT, 8);
	assert_rejected(0);
	ck_assert_ptr_nonnull(strstr(balloon_last_error(t.d), "links to 8"));
}
END_TEST

START_TEST(chain_loop)
{
	/* 0 -> 1 -> 2 -> 0: the device must stop after the queue size */
	tdrv_set_desc(&t, 0, 0, buf_with(200), 4, BALLOON_VRING_DESC_F_NEXT, 1);
	tdrv_set_desc(&t, 0, 1, buf_with(200), 0, BALLOON_VRING_DESC_F_NEXT, 2);
	tdrv_set_desc(&t, 0, 2, buf_with(200), 0, BALLOON_VRING_DESC_F_NEXT, 0);
	assert_rejected(0);
	ck_assert_ptr_nonnull(strstr(balloon_last_error(t.d), "loops"));
}
END_TEST

START_TEST(chain_of_two_is_one_batch)
{
	uint32_t a[2] = {300, 301}, b = 500;
	struct balloon_counters c;

	memcpy(tdrv_ptr(&t, (uint64_t)TDRV_BUF0 << 12), a, 8);
	memcpy(tdrv_ptr(&t, ((uint64_t)TDRV_BUF0 << 12) + 64), &b, 4);
	tdrv_set_desc(&t, 0, 3, (uint64_t)TDRV_BUF0 << 12, 8, BALLOON_VRING_DESC_F_NEXT, 5);
	tdrv_set_desc(&t, 0, 5, ((uint64_t)TDRV_BUF0 << 12) + 64, 4, 0, 0);
	tdrv_publish(&t, 0, 3);
	ck_assert_int_eq(balloon_queue_notify(t.d, 0), 0);
	balloon_counters(t.d, &c);
	ck_assert_uint_eq(c.actual, 3);
	ck_assert_uint_eq(c.inflate_batches, 1);
	ck_assert_uint_eq(t.discarded[300] + t.discarded[301] + t.discarded[500], 3);
	ck_assert_uint_eq(t.discard_calls, 2); /* 300-301 coalesced */
}
END_TEST

START_TEST(avail_index_too_far_ahead)
{
	uint16_t idx = 9; /* 9 new entries on a ring of 8 */
	struct balloon_counters c;
	uint32_t pfn = 200;

	memcpy(tdrv_ptr(&t, tdrv_avail(&t, 0) + 2), &idx, 2);
	ck_assert_int_eq(balloon_queue_notify(t.d, 0), -EPROTO);
	ck_assert(balloon_status(t.d) & BALLOON_STATUS_DEVICE_NEEDS_RESET);
	balloon_counters(t.d, &c);
	ck_assert_uint_eq(c.ring_errors, 1);
	assert_untouched();
	/* a broken queue is served no more, even with a sane index */
	idx = 0;
	memcpy(tdrv_ptr(&t, tdrv_avail(&t, 0) + 2), &idx, 2);
	t.avail_idx[0] = 0;
	ck_assert_int_eq(tdrv_post(&t, 0, &pfn, 1), -EPROTO);
	assert_untouched();
	/* a reset brings it back */
	balloon_set_status(t.d, 0);
	ck_assert_uint_eq(balloon_status(t.d), 0);
	ck_assert_int_eq(
	    balloon_queue_set(t.d, 0, 8, tdrv_desc(&t, 0), tdrv_avail(&t, 0), tdrv_used(&t, 0)), 0);
	memset(tdrv_ptr(&t, tdrv_avail(&t, 0)), 0, 4);
	memset(tdrv_ptr(&t, tdrv_used(&t, 0)), 0, 4);
	t.avail_idx[0] = t.used_seen[0] = 0;
	ck_assert_int_eq(tdrv_post(&t, 0, &pfn, 1), 0);
	ck_assert(balloon_pfn_ballooned(t.d, 200));
}
END_TEST

START_TEST(head_out_of_range)
{
	tdrv_publish(&t, 0, 8);
	ck_assert_int_eq(balloon_queue_notify(t.d, 0), -EPROTO);
	ck_assert_ptr_nonnull(strstr(balloon_last_error(t.d), "head 8"));
	assert_untouched();
}
END_TEST

START_TEST(queue_placement)
{
	uint64_t end = (uint64_t)TDRV_PAGES << 12;

	ck_assert_int_eq(balloon_queue_set(t.d, 0, 8, end - 64, end - 32, end - 16), -EINVAL);
	ck_assert_int_eq(balloon_queue_set(t.d, 0, 6, 0x10000, 0x10080, 0x11000), -EINVAL);
	ck_assert_int_eq(balloon_queue_set(t.d, 0, 512, 0x10000, 0x12000, 0x13000), -EINVAL);
	ck_assert_int_eq(balloon_queue_set(t.d, 0, 8, 0x10008, 0x10080, 0x11000), -EINVAL);
	ck_assert_int_eq(balloon_queue_set(t.d, 3, 8, 0x10000, 0x10080, 0x11000), -EINVAL);
	ck_assert_uint_eq(balloon_queue_desc(t.d, 0), 0);
	/* a kick on a disabled queue is harmless */
	ck_assert_int_eq(balloon_queue_notify(t.d, 0), 0);
	ck_assert_int_eq(balloon_queue_notify(t.d, 7), -EINVAL);
}
END_TEST

START_TEST(ring_wraps)
{
	/* 140000 batches, 70000 per queue, through rings of 8: entries wrap
	 * every 8 and the 16-bit indices wrap past 65535 */
	struct balloon_counters c;
	unsigned bad = 0;

	/* no ck_assert in the loop: each one writes to Check's pipe */
	for (uint32_t i = 0; i < 140000; i++) {
		uint32_t pfn = 100 + i % 50;
		unsigned q = (i / 50) % 2 ? BALLOON_VQ_DEFLATE : BALLOON_VQ_INFLATE;

		bad += tdrv_post(&t, q, &pfn, 1) != 0;
		bad += tdrv_reap(&t, q, NULL) != 1;
	}
	ck_assert_uint_eq(bad, 0);
	balloon_counters(t.d, &c);
	ck_assert_uint_eq(c.rejected_batches, 0);
	ck_assert_uint_eq(c.inflated, 70000);
	ck_assert_uint_eq(c.deflated, 70000);
	ck_assert_uint_eq(c.actual, 0);
	ck_assert_uint_eq(t.avail_idx[0], (uint16_t)70000);
}
END_TEST

START_TEST(no_interrupt_flag)
{
	uint16_t flags = BALLOON_VRING_AVAIL_F_NO_INTERRUPT;
	uint32_t pfn = 200;

	memcpy(tdrv_ptr(&t, tdrv_avail(&t, 0)), &flags, 2);
	ck_assert_int_eq(tdrv_post(&t, 0, &pfn, 1), 0);
	ck_assert_uint_eq(t.irq_vq, 0);
	ck_assert_uint_eq(tdrv_reap(&t, 0, NULL), 1);
	flags = 0;
	memcpy(tdrv_ptr(&t, tdrv_avail(&t, 0)), &flags, 2);
	pfn = 201;
	ck_assert_int_eq(tdrv_post(&t, 0, &pfn, 1), 0);
	ck_assert_uint_eq(t.irq_vq, 1);
}
END_TEST

Suite *balloon_ring_suite(void)
{
	Suite *s = suite_create("balloon_ring");
	TCase *tc = tcase_create("chains");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, writable_descriptor);
	tcase_add_test(tc, indirect_descriptor);
	tcase_add_test(tc, partial_pfn);
	tcase_add_test(tc, buffer_outside_memory);
	tcase_add_test(tc, next_out_of_range);
	tcase_add_test(tc, chain_loop);
	tcase_add_test(tc, chain_of_two_is_one_batch);
	suite_add_tcase(s, tc);
	tc = tcase_create("indices");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, avail_index_too_far_ahead);
	tcase_add_test(tc, head_out_of_range);
	tcase_add_test(tc, queue_placement);
	tcase_add_test(tc, ring_wraps);
	tcase_add_test(tc, no_interrupt_flag);
	suite_add_tcase(s, tc);
	return s;
}
