/* SPDX-License-Identifier: MIT */
/* test_device: batches, frame checks, targets, deflate-on-OOM, statistics,
 * resets and the config space, driven from the guest's side. */
#include <errno.h>
#include <string.h>

#include "balloon-driver/tests/check_balloon.h"
#include "balloon-driver/tests/tdrv.h"

static struct tdrv t;

static void setup(void)
{
	struct balloon_params p = {
	    .min_guest_pages = 256,
	    .features =
		BALLOON_FEATURE(BALLOON_F_STATS_VQ) | BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM),
	};

	tdrv_init(&t, &p, 64);
}

static void teardown(void)
{
	tdrv_fini(&t);
}

static struct balloon_counters counters(void)
{
	struct balloon_counters c;

	balloon_counters(t.d, &c);
	return c;
}

/* Frames first..first+n-1 as a batch. */
static void range(uint32_t *pfns, uint32_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pfns[i] = first + i;
}

START_TEST(inflate_and_deflate)
{
	uint32_t pfns[256];
	uint32_t len = 7;

	memset(tdrv_ptr(&t, 99ull << 12), 0xab, 258 * 4096);
	range(pfns, 100, 256);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 256), 0);
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_INFLATE, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(t.irq_vq, 1);
	ck_assert_uint_eq(counters().actual, 256);
	ck_assert_uint_eq(t.discard_calls, 1); /* one run */
	for (unsigned i = 100; i < 356; i++) {
		ck_assert_uint_eq(t.discarded[i], 1);
		ck_assert(balloon_pfn_ballooned(t.d, i));
		ck_assert_uint_eq(*(uint8_t *)tdrv_ptr(&t, (uint64_t)i << 12), 0);
	}
	ck_assert(!balloon_pfn_ballooned(t.d, 99));
	ck_assert_uint_eq(*(uint8_t *)tdrv_ptr(&t, 99ull << 12), 0xab);
	ck_assert_uint_eq(*(uint8_t *)tdrv_ptr(&t, 356ull << 12), 0xab);

	range(pfns, 200, 10);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_DEFLATE, pfns, 10), 0);
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_DEFLATE, NULL), 1);
	ck_assert_uint_eq(counters().actual, 246);
	ck_assert_uint_eq(counters().deflated, 10);
	ck_assert_uint_eq(t.reclaimed[205], 1);
	ck_assert(!balloon_pfn_ballooned(t.d, 205));
}
END_TEST

/* Every bad frame rejects its whole batch, before anything is freed. */
START_TEST(bad_frames_reject_whole_batch)
{
	static const struct {
		uint32_t bad;
		unsigned q;
		const char *why;
	} cases[] = {
	    {TDRV_PAGES, BALLOON_VQ_INFLATE, "beyond guest memory"},
	    {0xffffffffu, BALLOON_VQ_INFLATE, "beyond guest memory"},
	    {TDRV_HOLE, BALLOON_VQ_INFLATE, "not guest RAM"},
	    {150, BALLOON_VQ_INFLATE, "listed twice"},
	    {400, BALLOON_VQ_INFLATE, "already ballooned"},
	    {600, BALLOON_VQ_DEFLATE, "not ballooned"},
	};
	uint32_t pfn = 400, pfns[100];

	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, &pfn, 1), 0);
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_INFLATE, NULL), 1);
	ck_assert_uint_eq(t.discard_calls, 1);
	for (unsigned k = 0; k < ARRAY_SIZE(cases); k++) {
		struct balloon_counters c;
		uint32_t len = 1;

		range(pfns, 100, 100);
		pfns[99] = cases[k].bad; /* the last frame spoils the batch */
		if (cases[k].q == BALLOON_VQ_DEFLATE)
			pfns[0] = 400; /* a valid deflate before it */
		ck_assert_int_eq(tdrv_post(&t, cases[k].q, pfns, 100), 0);
		ck_assert_uint_eq(tdrv_reap(&t, cases[k].q, &len), 1);
		ck_assert_uint_eq(len, 0);
		c = counters();
		ck_assert_uint_eq(c.rejected_batches, k + 1);
		ck_assert_uint_eq(c.actual, 1);
		ck_assert_uint_eq(t.discard_calls, 1);
		ck_assert_uint_eq(t.reclaim_calls, 0);
		ck_assert(balloon_pfn_ballooned(t.d, 400));
		ck_assert(!balloon_pfn_ballooned(t.d, 100));
		ck_assert_msg(strstr(balloon_last_error(t.d), cases[k].why), "case %u: %s", k,
			      balloon_last_error(t.d));
	}
	ck_assert_uint_eq(counters().rejected_pfns, 600);
	/* the duplicate check leaves no trace: the same frames go in now */
	range(pfns, 100, 100);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 100), 0);
	ck_assert_uint_eq(counters().actual, 101);
}
END_TEST

START_TEST(target_clamped)
{
	ck_assert_uint_eq(balloon_set_target(t.d, 5000), TDRV_PAGES - 256);
	ck_assert_uint_eq(counters().target, TDRV_PAGES - 256);
	ck_assert_uint_eq(t.irq_config, 1);
	ck_assert_uint_eq(balloon_set_target(t.d, 10), 10);
	ck_assert_uint_eq(t.irq_config, 2);
	/* the same target again is not a change */
	ck_assert_uint_eq(balloon_set_target(t.d, 10), 10);
	ck_assert_uint_eq(t.irq_config, 2);
}
END_TEST

/* A guest still booting gets no interrupt; its driver reads the target. */
START_TEST(no_interrupt_before_driver_ok)
{
	uint32_t v = 0;

	balloon_set_status(t.d, 0);
	balloon_set_status(t.d, BALLOON_STATUS_ACKNOWLEDGE | BALLOON_STATUS_DRIVER);
	t.irq_config = 0;
	balloon_set_target(t.d, 300);
	ck_assert_uint_eq(t.irq_config, 0);
	balloon_config_read(t.d, BALLOON_CFG_NUM_PAGES, &v, 4);
	ck_assert_uint_eq(v, 300);
	balloon_set_status(t.d, BALLOON_STATUS_ACKNOWLEDGE | BALLOON_STATUS_DRIVER |
				    BALLOON_STATUS_DRIVER_OK);
	balloon_set_target(t.d, 200);
	ck_assert_uint_eq(t.irq_config, 1);
}
END_TEST

START_TEST(target_rate_limited)
{
	struct balloon_params p = {.rate_pages = 1000};
	uint32_t v;

	tdrv_fini(&t);
	tdrv_init(&t, &p, 64);
	balloon_set_target(t.d, 800);
	ck_assert_uint_eq(counters().target, 0);
	ck_assert(balloon_tick(t.d, 100000000)); /* 0.1 s: 100 pages */
	ck_assert_uint_eq(counters().target, 100);
	ck_assert(!balloon_tick(t.d, 500000)); /* half a page of credit */
	ck_assert(balloon_tick(t.d, 1500000)); /* and now two */
	ck_assert_uint_eq(counters().target, 102);
	ck_assert(balloon_tick(t.d, 10000000000ull));
	ck_assert_uint_eq(counters().target, 800);
	ck_assert(!balloon_tick(t.d, 1000000000));
	balloon_config_read(t.d, BALLOON_CFG_NUM_PAGES, &v, 4);
	ck_assert_uint_eq(v, 800);
	/* down again at the same pace */
	balloon_set_target(t.d, 0);
	ck_assert(balloon_tick(t.d, 200000000));
	ck_assert_uint_eq(counters().target, 600);
	ck_assert_uint_eq(t.irq_config, 4); /* 100, 102, 800, 600 */
}
END_TEST

/* The target moves while the guest inflates: what it sent in flight is
 * still taken (the frames are valid), and it deflates the surplus. */
START_TEST(target_changes_mid_inflate)
{
	uint32_t pfns[256], v;
	struct balloon_counters c;

	balloon_set_target(t.d, 512);
	range(pfns, 100, 256);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 256), 0);
	balloon_set_target(t.d, 128); /* the policy changes its mind */
	balloon_config_read(t.d, BALLOON_CFG_NUM_PAGES, &v, 4);
	ck_assert_uint_eq(v, 128);
	range(pfns, 356, 64); /* the batch the guest had prepared */
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 64), 0);
	c = counters();
	ck_assert_uint_eq(c.actual, 320);
	ck_assert_uint_eq(c.target, 128);
	range(pfns, 100, 192); /* the guest catches up: 320 - 128 */
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_DEFLATE, pfns, 192), 0);
	c = counters();
	ck_assert_uint_eq(c.actual, 128);
	ck_assert_uint_eq(c.deflated_unasked, 0);
	for (unsigned i = 292; i < 420; i++)
		ck_assert(balloon_pfn_ballooned(t.d, i));
}
END_TEST

/* Linux under OOM gives back BALLOON_OOM_NR_PAGES without being asked. */
START_TEST(deflate_on_oom)
{
	uint32_t pfns[512], actual = 512;
	struct balloon_counters c;

	ck_assert(balloon_host_features(t.d) & BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM));
	balloon_set_target(t.d, 512);
	range(pfns, 100, 512);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 256), 0);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns + 256, 256), 0);
	balloon_config_write(t.d, BALLOON_CFG_ACTUAL, &actual, 4);
	c = counters();
	ck_assert_uint_eq(c.actual, 512);
	ck_assert_uint_eq(c.guest_actual, 512);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_DEFLATE, pfns + 256, BALLOON_OOM_NR_PAGES), 0);
	actual -= BALLOON_OOM_NR_PAGES;
	balloon_config_write(t.d, BALLOON_CFG_ACTUAL, &actual, 4);
	c = counters();
	ck_assert_uint_eq(c.actual, 256);
	ck_assert_uint_eq(c.guest_actual, 256);
	ck_assert_uint_eq(c.deflated_unasked, BALLOON_OOM_NR_PAGES);
	ck_assert_uint_eq(c.target, 512); /* the host's wish is unchanged */
	ck_assert_uint_eq(t.reclaimed[356] + t.reclaimed[611], 2);
}
END_TEST

/* The guest's claim is kept apart from what the device verified. */
START_TEST(guest_claim_is_not_actual)
{
	uint32_t lie = 900, v = 0;
	uint16_t half = 3;

	balloon_config_write(t.d, BALLOON_CFG_ACTUAL, &lie, 4);
	ck_assert_uint_eq(counters().guest_actual, 900);
	ck_assert_uint_eq(counters().actual, 0);
	/* num_pages is the host's: writes are ignored */
	balloon_config_write(t.d, BALLOON_CFG_NUM_PAGES, &lie, 4);
	balloon_config_read(t.d, BALLOON_CFG_NUM_PAGES, &v, 4);
	ck_assert_uint_eq(v, 0);
	/* a 2-byte write to the low half of actual */
	balloon_config_write(t.d, BALLOON_CFG_ACTUAL, &half, 2);
	balloon_config_read(t.d, BALLOON_CFG_ACTUAL, &v, 4);
	ck_assert_uint_eq(v, 3);
	balloon_config_read(t.d, 6, &v, 4);
	ck_assert_uint_eq(v, 0);
	v = 5;
	balloon_config_read(t.d, 64, &v, 4);
	ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(reset_loses_the_balloon)
{
	uint32_t pfns[300];
	struct balloon_counters c;

	range(pfns, 100, 300);
	pfns[150] = 700; /* two runs */
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 300), 0);
	ck_assert_uint_eq(counters().actual, 300);
	balloon_set_target(t.d, 300);
	balloon_set_status(t.d, 0); /* the guest rebooted */
	c = counters();
	ck_assert_uint_eq(c.actual, 0);
	ck_assert_uint_eq(c.resets, 1);
	ck_assert_uint_eq(c.status, 0);
	ck_assert_uint_eq(c.features, 0);
	ck_assert_uint_eq(c.target, 300); /* the policy's wish survives */
	for (unsigned i = 100; i < 400; i++)
		ck_assert_uint_eq(t.reclaimed[i], i == 250 ? 0 : 1);
	ck_assert_uint_eq(t.reclaimed[700], 1);
	ck_assert(!balloon_pfn_ballooned(t.d, 120));
	ck_assert_uint_eq(balloon_queue_desc(t.d, 0), 0);
	ck_assert_int_eq(balloon_queue_notify(t.d, 0), 0); /* queue is gone */
	/* a new driver inflates the same frames again */
	t.avail_idx[0] = t.used_seen[0] = 0;
	memset(tdrv_ptr(&t, tdrv_avail(&t, 0)), 0, 4);
	memset(tdrv_ptr(&t, tdrv_used(&t, 0)), 0, 4);
	ck_assert_int_eq(
	    balloon_queue_set(t.d, 0, 64, tdrv_desc(&t, 0), tdrv_avail(&t, 0), tdrv_used(&t, 0)),
	    0);
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 300), 0);
	ck_assert_uint_eq(counters().actual, 300);
}
END_TEST

static void post_stats(uint16_t head, uint64_t memfree)
{
	struct balloon_stat st[3] = {
	    {.tag = BALLOON_S_MEMFREE, .val = memfree},
	    {.tag = BALLOON_S_MEMTOT, .val = 4ull << 20},
	    {.tag = 77, .val = 1}, /* unknown: ignored */
	};
	uint64_t buf = (uint64_t)(TDRV_BUF0 + BALLOON_VQ_STATS) << 12;

	memcpy(tdrv_ptr(&t, buf), st, sizeof(st));
	tdrv_set_desc(&t, BALLOON_VQ_STATS, head, buf, sizeof(st), 0, 0);
	tdrv_publish(&t, BALLOON_VQ_STATS, head);
	ck_assert_int_eq(balloon_queue_notify(t.d, BALLOON_VQ_STATS), 0);
}

START_TEST(statistics)
{
	struct balloon_counters c;

	ck_assert_int_eq(balloon_request_stats(t.d), -EAGAIN); /* nothing held */
	post_stats(0, 1000);
	c = counters();
	ck_assert_uint_eq(c.stats_updates, 1);
	ck_assert_uint_eq(c.stats[BALLOON_S_MEMFREE], 1000);
	ck_assert_uint_eq(c.stats[BALLOON_S_MEMTOT], 4ull << 20);
	ck_assert_uint_eq(c.stats_seen, (1u << BALLOON_S_MEMFREE) | (1u << BALLOON_S_MEMTOT));
	/* held: not returned until asked */
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_STATS, NULL), 0);
	ck_assert_int_eq(balloon_request_stats(t.d), 0);
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_STATS, NULL), 1);
	ck_assert_int_eq(balloon_request_stats(t.d), -EAGAIN); /* one out already */
	post_stats(0, 2000);
	ck_assert_uint_eq(counters().stats[BALLOON_S_MEMFREE], 2000);
	ck_assert_uint_eq(counters().stats_updates, 2);
}
END_TEST

START_TEST(bad_stats_buffer)
{
	uint64_t buf = (uint64_t)(TDRV_BUF0 + BALLOON_VQ_STATS) << 12;

	tdrv_set_desc(&t, BALLOON_VQ_STATS, 0, buf, 15, 0, 0); /* 1.5 entries */
	tdrv_publish(&t, BALLOON_VQ_STATS, 0);
	ck_assert_int_eq(balloon_queue_notify(t.d, BALLOON_VQ_STATS), 0);
	ck_assert_uint_eq(counters().rejected_batches, 1);
	ck_assert_uint_eq(counters().stats_updates, 0);
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_STATS, NULL), 1);
}
END_TEST

START_TEST(features)
{
	struct balloon_params p = {.features = BALLOON_FEATURE(BALLOON_F_RING_INDIRECT)};
	struct balloon_ops none = {0};

	ck_assert_int_eq(balloon_set_features(t.d, BALLOON_FEATURE(BALLOON_F_REPORTING) |
						       BALLOON_FEATURE(BALLOON_F_STATS_VQ)),
			 -EINVAL);
	ck_assert_uint_eq(counters().features, BALLOON_FEATURE(BALLOON_F_STATS_VQ));
	ck_assert_ptr_null(balloon_create(&p, &none, NULL));
	ck_assert_int_eq(errno, EINVAL);
	p.features = 0;
	p.guest_pages = 16;
	ck_assert_ptr_null(balloon_create(&p, &none, NULL)); /* no callbacks */
}
END_TEST

START_TEST(no_stats_queue_without_feature)
{
	struct balloon_params p = {0};

	tdrv_fini(&t);
	tdrv_init(&t, &p, 16);
	ck_assert_uint_eq(balloon_queue_size(t.d, BALLOON_VQ_STATS), 0);
	ck_assert_int_eq(balloon_queue_notify(t.d, BALLOON_VQ_STATS), -EINVAL);
	ck_assert_uint_eq(balloon_queue_size(t.d, BALLOON_VQ_DEFLATE), 256);
}
END_TEST

START_TEST(discard_failure)
{
	uint32_t pfns[10] = {100, 101, 102, 200, 201, 202, 300, 301, 302, 303};
	struct balloon_counters c;

	t.fail_discard_pfn = 201;
	ck_assert_int_eq(tdrv_post(&t, BALLOON_VQ_INFLATE, pfns, 10), -EIO);
	c = counters();
	ck_assert_uint_eq(c.actual, 3); /* the run before the failure was freed */
	ck_assert_uint_eq(c.discard_errors, 1);
	ck_assert(balloon_pfn_ballooned(t.d, 102));
	ck_assert(!balloon_pfn_ballooned(t.d, 200));
	ck_assert(!balloon_pfn_ballooned(t.d, 300));
	ck_assert_uint_eq(tdrv_reap(&t, BALLOON_VQ_INFLATE, NULL), 1);
}
END_TEST

Suite *balloon_device_suite(void)
{
	Suite *s = suite_create("balloon_device");
	TCase *tc = tcase_create("batches");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, inflate_and_deflate);
	tcase_add_test(tc, bad_frames_reject_whole_batch);
	tcase_add_test(tc, discard_failure);
	suite_add_tcase(s, tc);
	tc = tcase_create("targets");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, target_clamped);
	tcase_add_test(tc, target_rate_limited);
	tcase_add_test(tc, no_interrupt_before_driver_ok);
	tcase_add_test(tc, target_changes_mid_inflate);
	tcase_add_test(tc, deflate_on_oom);
	tcase_add_test(tc, guest_claim_is_not_actual);
	suite_add_tcase(s, tc);
	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reset_loses_the_balloon);
	tcase_add_test(tc, statistics);
	tcase_add_test(tc, bad_stats_buffer);
	tcase_add_test(tc, features);
	tcase_add_test(tc, no_stats_queue_without_feature);
	suite_add_tcase(s, tc);
	return s;
}
