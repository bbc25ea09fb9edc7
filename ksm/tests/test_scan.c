/* SPDX-License-Identifier: MIT */
/* test_scan: exact counts on constructed memory, collisions, volatility,
 * stale hints, guest removal, scan order and pace. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ksm/ksm_internal.h"
#include "ksm/tests/check_ksm.h"

#define NG    3u
#define PAGES 256u

static struct mem_pool *pool;
static struct mem_p2m *p2m[NG];

static void setup(void)
{
	pool = mem_pool_create(4096);
	ck_assert_ptr_nonnull(pool);
	for (unsigned g = 0; g < NG; g++) {
		p2m[g] = mem_p2m_create(pool, PAGES);
		ck_assert_ptr_nonnull(p2m[g]);
	}
}

static void teardown(void)
{
	for (unsigned g = 0; g < NG; g++)
		mem_p2m_destroy(p2m[g]);
	mem_pool_destroy(pool);
}

/* Content of guest g's gfn in the constructed memory: 0 = untouched,
 * else tag - 1 (tag 0 is a zero page). Cross-guest duplicates (gfn % 40),
 * zero pages (gfn % 40 == 0), in-guest duplicates, unique pages, holes. */
static int64_t layout(unsigned g, gfn_t gfn)
{
	if (gfn >= 240)
		return 0; /* untouched */
	if (gfn < 160)
		return 1 + (int64_t)(gfn % 40 ? 100 + gfn % 40 : 0);
	if (gfn < 200)
		return 1 + (int64_t)(5000 + g * 1000 + gfn); /* unique */
	return 1 + (int64_t)(9000 + g * 10 + gfn % 4);	     /* in-guest duplicates */
}

/* Fill the layout; return resident pages and distinct contents. */
static void fill(uint64_t *resident, uint64_t *distinct)
{
	static int64_t seen[20000];
	uint64_t r = 0, d = 0;

	memset(seen, 0, sizeof(seen));
	for (unsigned g = 0; g < NG; g++)
		for (gfn_t gfn = 0; gfn < PAGES; gfn++) {
			int64_t tag = layout(g, gfn);

			if (!tag)
				continue;
			tk_fill(p2m[g], gfn, (uint64_t)tag - 1);
			r++;
			if (!seen[tag]++)
				d++;
		}
	*resident = r;
	*distinct = d;
}

static void expect_contents(void)
{
	for (unsigned g = 0; g < NG; g++)
		for (gfn_t gfn = 0; gfn < PAGES; gfn++) {
			int64_t tag = layout(g, gfn);

			tk_expect(p2m[g], gfn, tag ? (uint64_t)tag - 1 : 0);
			ck_assert_int_eq(mem_p2m_check(p2m[g]), 0);
		}
}

static uint64_t const_hash(const void *page, void *ctx)
{
	(void)page;
	(void)ctx;
	return 0x42;
}

/* Only the first word: pages alike at the start collide. */
static uint64_t first_word_hash(const void *page, void *ctx)
{
	uint64_t w;

	(void)ctx;
	memcpy(&w, page, 8);
	return w & 0xff;
}

static const ksm_hash_fn hashes[] = {NULL, const_hash, first_word_hash};

/* Pages saved = resident pages - distinct contents, exactly, in both
 * orders and under every hash (forced collisions included); contents are
 * intact and the pool really gave the frames back. */
START_TEST(test_exact_counts)
{
	struct ksm_params kp = {.order = (_i & 1) ? KSM_ORDER_SEQUENTIAL : KSM_ORDER_RANDOM,
				.seed = 7,
				.hash = hashes[_i / 2]};
	struct ksm_guest *kg[NG];
	uint64_t resident, distinct, used;
	struct ksm_stats st;
	struct ksm *k;
	unsigned rounds;

	fill(&resident, &distinct);
	k = ksm_create(pool, &kp);
	ck_assert_ptr_nonnull(k);
	for (unsigned g = 0; g < NG; g++) {
		kg[g] = ksm_guest_add(k, p2m[g], 1000);
		ck_assert_ptr_nonnull(kg[g]);
	}
	used = pool->used;
	rounds = ksm_converge(k, 10, NULL, NULL);
	ck_assert_uint_eq(rounds, 2); /* one pass shares all, one confirms */
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_saved, resident - distinct);
	ck_assert_uint_eq(used - pool->used, st.pages_saved);
	/* zero pages: gfn % 40 == 0 below 160, 4 per guest */
	ck_assert_uint_eq(st.pages_zero_sharing, 4 * NG);
	/* 39 cross-guest contents, 4 in-guest ones per guest, the zero frame */
	ck_assert_uint_eq(st.pages_shared, 39 + 4 * NG + 1);
	ck_assert_uint_eq(st.pages_sharing, 160 * NG + 40 * NG);
	ck_assert_uint_eq(st.pages_hinted, 40 * NG); /* the unique pages */
	ck_assert_uint_eq(st.pages_volatile, 0);
	ck_assert_uint_eq(st.full_scans, 2 * NG);
	ck_assert_uint_eq(st.pages_scanned, 2 * NG * PAGES);
	if (kp.hash == const_hash)
		ck_assert_uint_gt(st.collisions, 0);
	for (unsigned g = 0; g < NG; g++)
		ck_assert_uint_eq(p2m[g]->count[MEM_SHARED], 160 + 40);
	ck_assert_int_eq(ksm_check(k), 0);
	expect_contents();
	for (unsigned g = 0; g < NG; g++)
		ksm_guest_remove(kg[g]);
	/* every shared frame freed: the unique pages' frames are left */
	ck_assert_uint_eq(pool->used, 40 * NG);
	ksm_destroy(k);
}
END_TEST

/* A collision never merges: two pages alike in their first word only. */
START_TEST(test_collision_never_merges)
{
	struct ksm_params kp = {.hash = first_word_hash};
	struct ksm *k = ksm_create(pool, &kp);
	struct ksm_guest *kg = ksm_guest_add(k, p2m[0], 0);
	uint8_t *a, *b;
	struct ksm_stats st;

	tk_fill(p2m[0], 0, 77);
	tk_fill(p2m[0], 1, 77);
	a = mem_p2m_ptr(p2m[0], 0);
	b = mem_p2m_ptr(p2m[0], 1);
	b[MEM_PAGE_SIZE - 1] ^= 1; /* differ in the last byte only */
	ck_assert_int_eq(ksm_hash_page(k, a), ksm_hash_page(k, b));
	ksm_converge(k, 4, NULL, NULL);
	ksm_stats(k, &st);
	ck_assert_int_eq(mem_p2m_state(p2m[0], 0), MEM_RESIDENT);
	ck_assert_int_eq(mem_p2m_state(p2m[0], 1), MEM_RESIDENT);
	ck_assert_uint_eq(st.pages_saved, 0);
	ck_assert_uint_ge(st.collisions, 1);
	/* a third page identical to the first does merge, past the collision */
	tk_fill(p2m[0], 2, 77);
	ksm_converge(k, 4, NULL, NULL);
	ck_assert_int_eq(mem_p2m_state(p2m[0], 2), MEM_SHARED);
	ck_assert_int_eq(mem_p2m_state(p2m[0], 1), MEM_RESIDENT);
	ck_assert_int_eq(ksm_check(k), 0);
	ksm_guest_remove(kg);
	ksm_destroy(k);
}
END_TEST

/* A page that changed since its last scan is skipped and loses its hint;
 * one that keeps changing never merges. */
START_TEST(test_volatile)
{
	struct ksm_params kp = {.order = KSM_ORDER_SEQUENTIAL};
	struct ksm *k = ksm_create(pool, &kp);
	struct ksm_guest *kg = ksm_guest_add(k, p2m[0], 0);
	struct ksm_stats st;

	tk_fill(p2m[0], 0, 5);
	ksm_scan(k, kg, PAGES);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_hinted, 1);
	tk_page(6, mem_p2m_ptr(p2m[0], 0)); /* the guest rewrote it */
	ksm_scan(k, kg, PAGES);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_volatile, 1);
	ck_assert_uint_eq(st.pages_hinted, 0);
	/* gfn 0 keeps changing every pass; each time a later gfn holds what
	 * it holds now, and is scanned after it in the same pass */
	for (uint64_t t = 7; t < 12; t++) {
		tk_page(t, mem_p2m_ptr(p2m[0], 0));
		tk_fill(p2m[0], 20 + t, t);
		ksm_scan(k, kg, PAGES);
	}
	ksm_stats(k, &st);
	ck_assert_int_eq(mem_p2m_state(p2m[0], 0), MEM_RESIDENT);
	ck_assert_uint_eq(st.pages_volatile, 6);
	ck_assert_uint_eq(st.pages_saved, 0);
	ck_assert_uint_eq(st.pages_hinted, 5);
	/* it settles: the next pass merges it with gfn 31's hint */
	ksm_scan(k, kg, PAGES);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_saved, 1);
	ck_assert_int_eq(mem_p2m_state(p2m[0], 0), MEM_SHARED);
	ck_assert_int_eq(ksm_check(k), 0);
	ksm_guest_remove(kg);
	ksm_destroy(k);
}
END_TEST

/* The last look before a swap-out: merges what can be merged at once,
 * even a page the scanner would call volatile, and frees the frame. */
START_TEST(test_try_share)
{
	struct ksm_params kp = {.order = KSM_ORDER_SEQUENTIAL};
	struct ksm *k = ksm_create(pool, &kp);
	struct ksm_guest *a = ksm_guest_add(k, p2m[0], 0), *b = ksm_guest_add(k, p2m[1], 0);
	struct ksm_stats st;
	uint64_t used;

	tk_fill(p2m[0], 3, 77);
	tk_fill(p2m[0], 4, 78);
	ksm_scan(k, a, PAGES); /* hints for 77 and 78 */
	tk_fill(p2m[1], 9, 77);
	tk_fill(p2m[1], 10, 99);
	tk_fill(p2m[1], 11, 0); /* a zero page: tk_fill(0) is all zero */
	used = pool->used;
	ck_assert_int_eq(ksm_try_share(b, 9), 1); /* matches a's hint */
	ck_assert_int_eq(mem_p2m_state(p2m[1], 9), MEM_SHARED);
	ck_assert_int_eq(mem_p2m_state(p2m[0], 3), MEM_SHARED);
	ck_assert_uint_eq(pool->used, used - 1);
	ck_assert_int_eq(ksm_try_share(b, 10), 0); /* unique: swap it */
	ck_assert_int_eq(mem_p2m_state(p2m[1], 10), MEM_RESIDENT);
	ck_assert_int_eq(ksm_try_share(b, 11), 1);
	ck_assert_int_eq(ksm_try_share(b, 9), 1);   /* already shared */
	ck_assert_int_eq(ksm_try_share(b, 200), 0); /* untouched */
	ck_assert_int_eq(ksm_try_share(b, PAGES), -EINVAL);
	/* a page rewritten since its last scan is volatile to the scanner,
	 * not to the last look */
	tk_page(99, mem_p2m_ptr(p2m[0], 4));
	ck_assert_int_eq(ksm_try_share(a, 4), 1);
	ck_assert_int_eq(mem_p2m_state(p2m[1], 10), MEM_SHARED);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.swap_tries, 4);
	ck_assert_uint_eq(st.swap_merges, 3);
	ck_assert_uint_eq(st.pages_volatile, 0);
	tk_expect(p2m[1], 9, 77);
	tk_expect(p2m[0], 4, 99);
	tk_expect(p2m[1], 11, 0);
	ck_assert_int_eq(ksm_check(k), 0);
	ksm_guest_remove(a);
	ksm_guest_remove(b);
	ksm_destroy(k);
}
END_TEST

/* A hint whose page changed before a match is stale: rehashed, dropped. */
START_TEST(test_stale_hint)
{
	struct ksm_params kp = {.order = KSM_ORDER_SEQUENTIAL};
	struct ksm *k = ksm_create(pool, &kp);
	struct ksm_guest *a = ksm_guest_add(k, p2m[0], 0);
	struct ksm_guest *b = ksm_guest_add(k, p2m[1], 0);
	struct ksm_stats st;

	tk_fill(p2m[0], 3, 21);
	ksm_scan(k, a, PAGES); /* gfn 3 of a: hint for page 21 */
	tk_page(22, mem_p2m_ptr(p2m[0], 3));
	tk_fill(p2m[1], 9, 21);
	ksm_scan(k, b, PAGES);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.stale_hints, 1);
	ck_assert_uint_eq(st.pages_saved, 0);
	ck_assert_uint_eq(st.pages_hinted, 1); /* b's page is the hint now */
	ck_assert_int_eq(mem_p2m_state(p2m[0], 3), MEM_RESIDENT);
	ck_assert_int_eq(ksm_check(k), 0);
	ksm_guest_remove(a);
	ksm_guest_remove(b);
	ksm_destroy(k);
}
END_TEST

/* Removing a guest drops its references and hints; the others keep their
 * bytes, and a frame whose last sharer left goes back to the pool. */
START_TEST(test_guest_remove)
{
	struct ksm *k = ksm_create(pool, NULL);
	struct ksm_guest *kg[NG];
	uint64_t resident, distinct, before;
	struct ksm_stats st;

	fill(&resident, &distinct);
	for (unsigned g = 0; g < NG; g++)
		kg[g] = ksm_guest_add(k, p2m[g], 0);
	ksm_converge(k, 10, NULL, NULL);
	before = pool->used;
	ksm_guest_remove(kg[1]);
	ck_assert_int_eq(ksm_check(k), 0);
	ksm_stats(k, &st);
	/* guest 1's 4 in-guest-duplicate frames lost their last sharers */
	ck_assert_uint_eq(before - pool->used, 4);
	ck_assert_uint_eq(st.pages_hinted, 40 * 2);
	for (unsigned g = 0; g < NG; g += 2)
		for (gfn_t gfn = 0; gfn < PAGES; gfn++) {
			int64_t tag = layout(g, gfn);

			tk_expect(p2m[g], gfn, tag ? (uint64_t)tag - 1 : 0);
		}
	/* its id is reused, and a fresh guest shares with the others */
	mem_p2m_destroy(p2m[1]);
	p2m[1] = mem_p2m_create(pool, PAGES);
	tk_fill(p2m[1], 0, 101);
	kg[1] = ksm_guest_add(k, p2m[1], 0);
	ck_assert_uint_eq(kg[1]->id, 1);
	ksm_scan(k, kg[1], PAGES);
	ck_assert_int_eq(mem_p2m_state(p2m[1], 0), MEM_SHARED);
	ck_assert_int_eq(ksm_check(k), 0);
	for (unsigned g = 0; g < NG; g++)
		ksm_guest_remove(kg[g]);
	ksm_destroy(k);
}
END_TEST

/* Each pass visits every gfn exactly once, in either order, whatever the
 * guest's size: all-distinct pages each end up hinted exactly once. */
START_TEST(test_order_covers)
{
	static const uint64_t sizes[] = {1, 3, 200, 256, 1000};
	struct ksm_params kp = {.order = KSM_ORDER_RANDOM, .seed = 99};

	for (unsigned s = 0; s < 5; s++)
		for (int o = 0; o < 2; o++) {
			struct mem_p2m *p = mem_p2m_create(pool, sizes[s]);
			struct ksm *k;
			struct ksm_guest *kg;
			struct ksm_stats st;

			kp.order = o ? KSM_ORDER_SEQUENTIAL : KSM_ORDER_RANDOM;
			k = ksm_create(pool, &kp);
			kg = ksm_guest_add(k, p, 0);
			for (gfn_t gfn = 0; gfn < sizes[s]; gfn++)
				tk_fill(p, gfn, 1 + gfn);
			for (int pass = 0; pass < 3; pass++) {
				ksm_scan(k, kg, sizes[s]);
				ksm_stats(k, &st);
				ck_assert_uint_eq(st.pages_hinted, sizes[s]);
				ck_assert_uint_eq(st.pages_hashed, (pass + 1) * sizes[s]);
			}
			ck_assert_int_eq(ksm_check(k), 0);
			ksm_guest_remove(kg);
			ksm_destroy(k);
			mem_p2m_destroy(p);
		}
}
END_TEST

/* Pace: credit at the guest's rate per modeled second of its clock, capped
 * at one pass, and by the host's rate per modeled second of host time. */
START_TEST(test_pace)
{
	struct ksm_params kp = {.host_rate = 300};
	struct ksm *k = ksm_create(pool, &kp);
	struct ksm_guest *a = ksm_guest_add(k, p2m[0], 1000);
	struct ksm_guest *b = ksm_guest_add(k, p2m[1], 1000);
	struct ksm_stats st;

	ksm_tick(k, a, 0.1, 1.0); /* a: 100 pages, host: 300 */
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_scanned, 100);
	ksm_tick(k, a, 0.1, 1.0); /* no time passed: nothing */
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_scanned, 100);
	ksm_tick(k, b, 0.25, 1.0); /* b: 250, host has 200 left */
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_scanned, 300);
	ck_assert_uint_eq(b->st.pages_scanned, 200);
	ksm_tick(k, b, 0.25, 1.1); /* b keeps 50, host earns 30 */
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_scanned, 330);
	ksm_tick(k, a, 100.0, 100.0); /* both capped: one pass of a */
	ck_assert_uint_eq(a->st.pages_scanned, 100 + PAGES);
	ksm_guest_remove(a);
	ksm_guest_remove(b);
	ksm_destroy(k);
}
END_TEST

START_TEST(test_bad_args)
{
	struct mem_pool big = {.frames = 1ull << 33}; /* only its size is read */
	struct ksm_params bad = {.host_rate = -1};
	struct mem_pool *other = mem_pool_create(16);
	struct mem_p2m *foreign = mem_p2m_create(other, 4);
	struct ksm *k = ksm_create(pool, NULL);
	enum ksm_order o;

	errno = 0;
	ck_assert_ptr_null(ksm_create(&big, NULL)); /* hfns must fit 32 bits */
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(ksm_create(pool, &bad));
	ck_assert_ptr_null(ksm_guest_add(k, foreign, 1)); /* another pool */
	ck_assert_ptr_null(ksm_guest_add(k, p2m[0], -5));
	ck_assert_int_eq(ksm_order_parse("random", &o), 0);
	ck_assert_int_eq(o, KSM_ORDER_RANDOM);
	ck_assert_int_eq(ksm_order_parse("sequential", &o), 0);
	ck_assert_int_eq(ksm_order_parse("zigzag", &o), -EINVAL);
	ksm_destroy(k);
	mem_p2m_destroy(foreign);
	mem_pool_destroy(other);
}
END_TEST

/* A hash that takes a millisecond: a scanner slower than its rate. */
static uint64_t slow_hash(const void *page, void *ctx)
{
	usleep(1000);
	return first_word_hash(page, ctx);
}

/* A call that runs out of its time stops at the end of a batch and drops
 * the rest of its pages, counted: the first 16-page batch takes 16 ms or
 * more, past its 5 ms. Without a limit every page is scanned. */
START_TEST(test_time_limit)
{
	struct ksm_params kp = {.hash = slow_hash, .batch = 16, .max_call_seconds = 0.005};
	struct ksm *k = ksm_create(pool, &kp);
	struct ksm_guest *kg = ksm_guest_add(k, p2m[0], 0);
	struct ksm_stats st;

	for (unsigned i = 0; i < PAGES; i++)
		tk_fill(p2m[0], i, 1000 + i);
	ksm_scan(k, kg, PAGES);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_scanned, 16);
	ck_assert_uint_eq(st.pages_dropped, PAGES - 16);
	ksm_guest_remove(kg);
	ksm_destroy(k);
	kp.max_call_seconds = 0;
	kp.hash = first_word_hash;
	k = ksm_create(pool, &kp);
	kg = ksm_guest_add(k, p2m[0], 0);
	ksm_scan(k, kg, PAGES);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_scanned, PAGES);
	ck_assert_uint_eq(st.pages_dropped, 0);
	ksm_guest_remove(kg);
	ksm_destroy(k);
}
END_TEST

Suite *scan_suite(void)
{
	Suite *s = suite_create("scan");
	TCase *tc = tcase_create("counts");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_exact_counts, 0, 2 * (int)(ARRAY_SIZE(hashes)));
	tcase_add_test(tc, test_collision_never_merges);
	tcase_add_test(tc, test_volatile);
	tcase_add_test(tc, test_try_share);
	tcase_add_test(tc, test_stale_hint);
	tcase_add_test(tc, test_guest_remove);
	tcase_add_test(tc, test_order_covers);
	suite_add_tcase(s, tc);
	tc = tcase_create("pace");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pace);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_time_limit);
	suite_add_tcase(s, tc);
	return s;
}
