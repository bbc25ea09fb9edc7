/* SPDX-License-Identifier: MIT */
/* test_pool: the host frame pool: budget, zeroing, release to the kernel. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "mem/mem.h"
#include "mem/tests/check_mem.h"

#define SMALL_FRAMES 256u
#define RSS_FRAMES   16384u /* 64 MiB */

/* The fixture's pool; Check forks per test, so each test gets a fresh one. */
static struct mem_pool *pool;

static void small_setup(void)
{
	pool = mem_pool_create(SMALL_FRAMES);
	ck_assert_ptr_nonnull(pool);
}

static void rss_setup(void)
{
	pool = mem_pool_create(RSS_FRAMES + 1024);
	ck_assert_ptr_nonnull(pool);
}

static void pool_teardown(void)
{
	mem_pool_destroy(pool);
	pool = NULL;
}

static hfn_t alloc_one(bool zero)
{
	hfn_t h = ~0ull;

	ck_assert_int_eq(mem_pool_alloc(pool, &h, zero), 0);
	ck_assert_uint_lt(h, pool->frames);
	return h;
}

/* used + pending + free + never handed out = budget, always. */
static void assert_accounting(void)
{
	ck_assert_uint_eq(pool->used + pool->npending + pool->nfree +
			      (pool->frames - pool->hiwater),
			  pool->frames);
	ck_assert_uint_lt(pool->npending, MEM_POOL_RELEASE_BATCH);
}

static bool frame_is(hfn_t h, uint8_t byte)
{
	const uint8_t *p = mem_pool_ptr(pool, h);

	for (unsigned i = 0; i < MEM_PAGE_SIZE; i++)
		if (p[i] != byte)
			return false;
	return true;
}

/* ---- create ---------------------------------------------------------- */

START_TEST(create_rejects_zero)
{
	errno = 0;
	ck_assert_ptr_null(mem_pool_create(0));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(create_fresh_state)
{
	ck_assert_ptr_nonnull(pool->base);
	ck_assert_uint_eq(pool->frames, SMALL_FRAMES);
	ck_assert_uint_eq(pool->used, 0);
	ck_assert_uint_eq(pool->peak, 0);
	ck_assert_uint_eq(pool->hiwater, 0);
	ck_assert_uint_eq(mem_pool_resident(pool), 0);
	ck_assert_uint_gt(mem_rss_bytes(), 0);
}
END_TEST

START_TEST(destroy_null)
{
	mem_pool_destroy(NULL);
}
END_TEST

/* ---- alloc / free / budget -------------------------------------------- */

START_TEST(alloc_all_distinct_then_enomem)
{
	static bool seen[SMALL_FRAMES];
	hfn_t h;

	for (unsigned i = 0; i < SMALL_FRAMES; i++) {
		h = alloc_one(false);
		ck_assert(!seen[h]);
		seen[h] = true;
		assert_accounting();
	}
	ck_assert_uint_eq(pool->used, SMALL_FRAMES);
	ck_assert_uint_eq(pool->peak, SMALL_FRAMES);
	ck_assert_int_eq(mem_pool_alloc(pool, &h, false), -ENOMEM);
	ck_assert_int_eq(mem_pool_alloc(pool, &h, true), -ENOMEM);
	ck_assert_uint_eq(pool->used, SMALL_FRAMES);

	mem_pool_free(pool, 17);
	ck_assert_uint_eq(pool->used, SMALL_FRAMES - 1);
	ck_assert_uint_eq(alloc_one(false), 17);
	ck_assert_int_eq(mem_pool_alloc(pool, &h, false), -ENOMEM);
	assert_accounting();
}
END_TEST

START_TEST(used_and_peak)
{
	hfn_t h[10];

	for (int i = 0; i < 10; i++)
		h[i] = alloc_one(true);
	for (int i = 0; i < 6; i++)
		mem_pool_free(pool, h[i]);
	ck_assert_uint_eq(pool->used, 4);
	ck_assert_uint_eq(pool->peak, 10);
	for (int i = 0; i < 3; i++)
		h[i] = alloc_one(true);
	ck_assert_uint_eq(pool->used, 7);
	ck_assert_uint_eq(pool->peak, 10);
	assert_accounting();
}
END_TEST

START_TEST(free_then_alloc_cycles_within_budget)
{
	/* Far more allocations than frames: frees must make room. */
	for (unsigned round = 0; round < 20; round++) {
		hfn_t h[SMALL_FRAMES];

		for (unsigned i = 0; i < SMALL_FRAMES; i++)
			h[i] = alloc_one(round & 1);
		for (unsigned i = 0; i < SMALL_FRAMES; i++)
			mem_pool_free(pool, h[(i * 7) % SMALL_FRAMES]);
		assert_accounting();
	}
	ck_assert_uint_eq(pool->used, 0);
	ck_assert_uint_eq(pool->hiwater, SMALL_FRAMES);
}
END_TEST

/* ---- zeroing ---------------------------------------------------------- */

START_TEST(fresh_frame_is_zero)
{
	ck_assert(frame_is(alloc_one(true), 0));
}
END_TEST

START_TEST(reused_pending_frame_is_zeroed)
{
	hfn_t h = alloc_one(false), g;

	memset(mem_pool_ptr(pool, h), 0xa5, MEM_PAGE_SIZE);
	mem_pool_free(pool, h);
	ck_assert_uint_eq(pool->npending, 1);
	g = alloc_one(true);
	ck_assert_uint_eq(g, h); /* pending is reused first */
	ck_assert(frame_is(g, 0));
}
END_TEST

START_TEST(reused_released_frame_is_zeroed)
{
	hfn_t h = alloc_one(false), g;

	memset(mem_pool_ptr(pool, h), 0x5a, MEM_PAGE_SIZE);
	mem_pool_free(pool, h);
	mem_pool_release(pool);
	ck_assert_uint_eq(pool->npending, 0);
	ck_assert_uint_eq(pool->nfree, 1);
	g = alloc_one(true);
	ck_assert_uint_eq(g, h); /* free is reused before fresh frames */
	ck_assert(frame_is(g, 0));
}
END_TEST

START_TEST(dirty_frames_zeroed_at_scale)
{
	hfn_t h[200];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 200; i++) {
			h[i] = alloc_one(true);
			ck_assert(frame_is(h[i], 0));
			memset(mem_pool_ptr(pool, h[i]), 0xff, MEM_PAGE_SIZE);
		}
		for (int i = 0; i < 200; i++)
			mem_pool_free(pool, h[i]);
	}
}
END_TEST

/* ---- release batching ------------------------------------------------- */

START_TEST(release_once_per_batch)
{
	hfn_t h[3 * MEM_POOL_RELEASE_BATCH];

	for (unsigned i = 0; i < 3 * MEM_POOL_RELEASE_BATCH; i++)
		h[i] = alloc_one(false);
	for (unsigned i = 0; i < MEM_POOL_RELEASE_BATCH - 1; i++)
		mem_pool_free(pool, h[i]);
	ck_assert_uint_eq(pool->releases, 0);
	ck_assert_uint_eq(pool->npending, MEM_POOL_RELEASE_BATCH - 1);
	mem_pool_free(pool, h[MEM_POOL_RELEASE_BATCH - 1]);
	ck_assert_uint_eq(pool->releases, 1);
	ck_assert_uint_eq(pool->released, MEM_POOL_RELEASE_BATCH);
	ck_assert_uint_eq(pool->npending, 0);
	ck_assert_uint_eq(pool->nfree, MEM_POOL_RELEASE_BATCH);

	/* Scattered frames: still one batch, whatever the number of runs. */
	for (unsigned i = 0; i < MEM_POOL_RELEASE_BATCH; i++)
		mem_pool_free(pool, h[MEM_POOL_RELEASE_BATCH + 2 * i]);
	ck_assert_uint_eq(pool->releases, 2);
	ck_assert_uint_eq(pool->released, 2 * MEM_POOL_RELEASE_BATCH);
	assert_accounting();
}
END_TEST

START_TEST(release_explicit)
{
	hfn_t h[5];

	mem_pool_release(pool); /* nothing pending: no batch */
	ck_assert_uint_eq(pool->releases, 0);
	for (int i = 0; i < 5; i++)
		h[i] = alloc_one(false);
	for (int i = 0; i < 5; i++)
		mem_pool_free(pool, h[i]);
	mem_pool_release(pool);
	ck_assert_uint_eq(pool->releases, 1);
	ck_assert_uint_eq(pool->released, 5);
	mem_pool_release(pool);
	ck_assert_uint_eq(pool->releases, 1);
}
END_TEST

START_TEST(release_drops_residency)
{
	hfn_t h[2 * MEM_POOL_RELEASE_BATCH];

	for (unsigned i = 0; i < 2 * MEM_POOL_RELEASE_BATCH; i++) {
		h[i] = alloc_one(false);
		memset(mem_pool_ptr(pool, h[i]), 1, MEM_PAGE_SIZE);
	}
	ck_assert_uint_eq(mem_pool_resident(pool), 2 * MEM_POOL_RELEASE_BATCH);
	/* Every other frame: 64 one-frame runs in one batch. */
	for (unsigned i = 0; i < 2 * MEM_POOL_RELEASE_BATCH; i += 2)
		mem_pool_free(pool, h[i]);
	ck_assert_uint_eq(pool->releases, 1);
	ck_assert_uint_eq(mem_pool_resident(pool), MEM_POOL_RELEASE_BATCH);
	for (unsigned i = 1; i < 2 * MEM_POOL_RELEASE_BATCH; i += 2)
		ck_assert(frame_is(h[i], 1));
}
END_TEST

/* Many scattered frames at once: all given back now, in one release, the
 * others untouched, and a reuse reads zeros. */
START_TEST(free_many_scattered)
{
	hfn_t h[200], odd[100];

	for (unsigned i = 0; i < 200; i++) {
		h[i] = alloc_one(false);
		memset(mem_pool_ptr(pool, h[i]), 7, MEM_PAGE_SIZE);
	}
	for (unsigned i = 0; i < 100; i++)
		odd[i] = h[2 * i + 1];
	mem_pool_free_many(pool, odd, 100);
	ck_assert_uint_eq(pool->releases, 1);
	ck_assert_uint_eq(pool->released, 100);
	ck_assert_uint_eq(pool->used, 100);
	ck_assert_uint_eq(pool->npending, 0);
	ck_assert_uint_eq(mem_pool_resident(pool), 100);
	for (unsigned i = 0; i < 200; i += 2)
		ck_assert(frame_is(h[i], 7));
	assert_accounting();
	for (unsigned i = 0; i < 100; i++)
		ck_assert(frame_is(alloc_one(false), 0));
	mem_pool_free_many(pool, NULL, 0);
	ck_assert_uint_eq(pool->releases, 1);
}
END_TEST

/* A pool over a memfd: a freed frame leaves the file (its blocks), and
 * comes back as zeros. */
START_TEST(memfd_frees_blocks)
{
	struct mem_pool *p = mem_pool_create_memfd(SMALL_FRAMES);
	hfn_t h[MEM_POOL_RELEASE_BATCH];
	struct stat st;
	blkcnt_t full;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_ge(p->fd, 0);
	for (unsigned i = 0; i < MEM_POOL_RELEASE_BATCH; i++) {
		ck_assert_int_eq(mem_pool_alloc(p, &h[i], false), 0);
		memset(mem_pool_ptr(p, h[i]), 9, MEM_PAGE_SIZE);
	}
	ck_assert_int_eq(fstat(p->fd, &st), 0);
	full = st.st_blocks;
	ck_assert_int_ge(full, MEM_POOL_RELEASE_BATCH * 8);
	mem_pool_free_many(p, h, MEM_POOL_RELEASE_BATCH / 2);
	ck_assert_int_eq(fstat(p->fd, &st), 0);
	ck_assert_int_eq(full - st.st_blocks, MEM_POOL_RELEASE_BATCH / 2 * 8);
	for (unsigned i = 0; i < MEM_POOL_RELEASE_BATCH / 2; i++) {
		hfn_t f;

		ck_assert_int_eq(mem_pool_alloc(p, &f, false), 0);
		for (unsigned k = 0; k < MEM_PAGE_SIZE; k++)
			ck_assert_uint_eq(mem_pool_ptr(p, f)[k], 0);
	}
	mem_pool_destroy(p);
}
END_TEST

START_TEST(free_many_unsorted_aborts)
{
	hfn_t h[2] = {alloc_one(false), alloc_one(false)}, r[2] = {h[1], h[0]};

	mem_pool_free_many(pool, r, 2);
}
END_TEST

START_TEST(free_many_double_aborts)
{
	hfn_t h = alloc_one(false), twice[2] = {h, h};

	mem_pool_free_many(pool, twice, 2);
}
END_TEST

/* ---- RSS -------------------------------------------------------------- */

START_TEST(rss_drops_after_free)
{
	static hfn_t h[RSS_FRAMES];
	const uint64_t bytes = (uint64_t)RSS_FRAMES * MEM_PAGE_SIZE;
	uint64_t rss_full, rss_empty;

	for (unsigned i = 0; i < RSS_FRAMES; i++) {
		h[i] = alloc_one(false);
		memset(mem_pool_ptr(pool, h[i]), (int)(i | 1), MEM_PAGE_SIZE);
	}
	ck_assert_uint_eq(mem_pool_resident(pool), RSS_FRAMES);
	rss_full = mem_rss_bytes();
	ck_assert_uint_ge(rss_full, bytes);

	for (unsigned i = 0; i < RSS_FRAMES; i++)
		mem_pool_free(pool, h[i]);
	mem_pool_release(pool);
	rss_empty = mem_rss_bytes();
	ck_assert_uint_eq(mem_pool_resident(pool), 0);
	ck_assert_uint_eq(pool->used, 0);
	ck_assert_uint_eq(pool->released, RSS_FRAMES);
	ck_assert_uint_ge(rss_full - rss_empty, bytes / 10 * 9);
}
END_TEST

/* ---- bugs ------------------------------------------------------------- */

START_TEST(double_free_pending_aborts)
{
	hfn_t h = alloc_one(false);

	mem_pool_free(pool, h);
	mem_pool_free(pool, h);
}
END_TEST

START_TEST(double_free_released_aborts)
{
	hfn_t h = alloc_one(false);

	mem_pool_free(pool, h);
	mem_pool_release(pool);
	mem_pool_free(pool, h);
}
END_TEST

START_TEST(free_never_allocated_aborts)
{
	(void)alloc_one(false);
	mem_pool_free(pool, 100);
}
END_TEST

START_TEST(free_out_of_range_aborts)
{
	mem_pool_free(pool, SMALL_FRAMES);
}
END_TEST

Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, small_setup, pool_teardown);
	tcase_add_test(tc, create_rejects_zero);
	tcase_add_test(tc, create_fresh_state);
	tcase_add_test(tc, destroy_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("alloc");
	tcase_add_checked_fixture(tc, small_setup, pool_teardown);
	tcase_add_test(tc, alloc_all_distinct_then_enomem);
	tcase_add_test(tc, used_and_peak);
	tcase_add_test(tc, free_then_alloc_cycles_within_budget);
	suite_add_tcase(s, tc);

	tc = tcase_create("zero");
	tcase_add_checked_fixture(tc, small_setup, pool_teardown);
	tcase_add_test(tc, fresh_frame_is_zero);
	tcase_add_test(tc, reused_pending_frame_is_zeroed);
	tcase_add_test(tc, reused_released_frame_is_zeroed);
	tcase_add_test(tc, dirty_frames_zeroed_at_scale);
	suite_add_tcase(s, tc);

	tc = tcase_create("release");
	tcase_add_checked_fixture(tc, small_setup, pool_teardown);
	tcase_add_test(tc, release_once_per_batch);
	tcase_add_test(tc, release_explicit);
	tcase_add_test(tc, release_drops_residency);
	tcase_add_test(tc, free_many_scattered);
	tcase_add_test(tc, memfd_frees_blocks);
	tcase_add_test_raise_signal(tc, free_many_unsorted_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, free_many_double_aborts, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("rss");
	tcase_add_checked_fixture(tc, rss_setup, pool_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rss_drops_after_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("bugs");
	tcase_add_checked_fixture(tc, small_setup, pool_teardown);
	tcase_add_test_raise_signal(tc, double_free_pending_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, double_free_released_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, free_never_allocated_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, free_out_of_range_aborts, SIGABRT);
	suite_add_tcase(s, tc);

	return s;
}
