/* SPDX-License-Identifier: MIT */
/* test_cow: copy-on-write through a real MMU, and the property test: random
 * merges, writes and scans never change what any guest page holds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ksm/ksm_internal.h"
#include "ksm/tests/check_ksm.h"

#define NG    3u
#define PAGES 96u

/* A guest as the VMM sees it: p2m, MMU (nested paging), sharing. */
struct tguest {
	struct mem_p2m *p2m;
	struct mmu mmu;
	struct ksm_guest *kg;
	uint64_t cows;
};

static struct mem_pool *pool;
static struct ksm *k;
static struct tguest g[NG];
static uint8_t (*copy)[PAGES][MEM_PAGE_SIZE]; /* what each page must hold */

/* The VMM's fault handler, as vmm-core/vm.c's: populate, refill, or copy
 * on a write to a shared page. */
static int t_exit(void *ctx, const struct mmu_exit *x)
{
	struct tguest *tg = ctx;
	hfn_t h;

	switch (mem_p2m_state(tg->p2m, x->gfn)) {
	case MEM_UNTOUCHED:
		return mem_p2m_populate(tg->p2m, x->gfn, &h);
	case MEM_SHARED:
		if (!(x->acc & MMU_WRITE))
			return 0;
		tg->cows++;
		return ksm_cow_break(tg->kg, x->gfn);
	default:
		return 0;
	}
}

static uint64_t weak_hash(const void *page, void *ctx)
{
	(void)ctx;
	return ((const uint8_t *)page)[0] & 3; /* four hashes for everything */
}

static void setup_with(ksm_hash_fn hash)
{
	struct ksm_params kp = {.hash = hash, .batch = 16, .seed = 3};

	pool = mem_pool_create(NG * PAGES * 2 + 256);
	ck_assert_ptr_nonnull(pool);
	k = ksm_create(pool, &kp);
	ck_assert_ptr_nonnull(k);
	for (unsigned i = 0; i < NG; i++) {
		g[i].p2m = mem_p2m_create(pool, PAGES);
		ck_assert_ptr_nonnull(g[i].p2m);
		ck_assert_int_eq(
		    mmu_init(&g[i].mmu, g[i].p2m, paging_find("nested"), NULL, t_exit, &g[i]), 0);
		g[i].kg = ksm_guest_add(k, g[i].p2m, 0);
		ck_assert_ptr_nonnull(g[i].kg);
		g[i].cows = 0;
	}
	copy = calloc(NG, sizeof(*copy));
	ck_assert_ptr_nonnull(copy);
}

static void setup(void)
{
	setup_with(NULL);
}

static void teardown(void)
{
	for (unsigned i = 0; i < NG; i++) {
		mmu_fini(&g[i].mmu);
		ksm_guest_remove(g[i].kg);
		mem_p2m_destroy(g[i].p2m);
	}
	ksm_destroy(k);
	ck_assert_uint_eq(pool->used, 0);
	mem_pool_destroy(pool);
	free(copy);
}

/* Guest i writes len bytes at gpa through its MMU (the kernel's direct map). */
static void gwrite(unsigned i, gpa_t gpa, const void *buf, size_t len)
{
	ck_assert_int_eq(mmu_phys(&g[i].mmu, gpa, (void *)(uintptr_t)buf, len, MMU_WRITE), 0);
	memcpy(copy[i][mem_gpa_to_gfn(gpa)] + (gpa & (MEM_PAGE_SIZE - 1)), buf, len);
}

static void gread_check(unsigned i, gpa_t gpa, size_t len)
{
	uint8_t buf[MEM_PAGE_SIZE];

	ck_assert_int_eq(mmu_phys(&g[i].mmu, gpa, buf, len, MMU_READ), 0);
	ck_assert_msg(!memcmp(buf, copy[i][mem_gpa_to_gfn(gpa)] + (gpa & (MEM_PAGE_SIZE - 1)), len),
		      "guest %u gpa 0x%llx differs from its copy", i, (unsigned long long)gpa);
}

static void check_all(void)
{
	uint8_t buf[MEM_PAGE_SIZE];

	for (unsigned i = 0; i < NG; i++)
		for (gfn_t gfn = 0; gfn < PAGES; gfn++) {
			ck_assert_int_eq(mem_p2m_read(g[i].p2m, gfn, buf), 0);
			ck_assert_msg(!memcmp(buf, copy[i][gfn], MEM_PAGE_SIZE),
				      "guest %u gfn %llu differs from its copy", i,
				      (unsigned long long)gfn);
			gread_check(i, mem_gfn_to_gpa(gfn), MEM_PAGE_SIZE);
		}
	ck_assert_int_eq(ksm_check(k), 0);
	for (unsigned i = 0; i < NG; i++)
		ck_assert_int_eq(mem_p2m_check(g[i].p2m), 0);
}

/* A write to a shared page exits, copies, and leaves the other sharers'
 * bytes alone; the last sharer takes the frame back without a copy. */
START_TEST(test_cow_basic)
{
	uint8_t page[MEM_PAGE_SIZE];
	uint64_t v = 0xdeadbeef, used;
	hfn_t shared;

	tk_page(9, page);
	for (unsigned i = 0; i < NG; i++)
		gwrite(i, mem_gfn_to_gpa(5), page, sizeof(page));
	for (unsigned i = 0; i < NG; i++)
		gread_check(i, mem_gfn_to_gpa(5), 64); /* TLBs warm, read-only */
	ksm_converge(k, 4, NULL, NULL);
	shared = mem_p2m_val(g[0].p2m, 5);
	for (unsigned i = 0; i < NG; i++) {
		ck_assert_int_eq(mem_p2m_state(g[i].p2m, 5), MEM_SHARED);
		ck_assert_uint_eq(mem_p2m_val(g[i].p2m, 5), shared);
	}
	used = pool->used;
	gwrite(1, mem_gfn_to_gpa(5) + 8, &v, 8);
	ck_assert_uint_eq(g[1].cows, 1);
	ck_assert_uint_eq(g[1].mmu.st.exits[MMU_EXIT_NESTED_FAULT] > 0, 1);
	ck_assert_int_eq(mem_p2m_state(g[1].p2m, 5), MEM_RESIDENT);
	ck_assert_uint_ne(mem_p2m_val(g[1].p2m, 5), shared);
	ck_assert_uint_eq(pool->used, used + 1); /* the copy */
	check_all();				 /* (which populates every untouched page) */
	used = pool->used;
	gwrite(0, mem_gfn_to_gpa(5) + 16, &v, 8);
	ck_assert_uint_eq(pool->used, used + 1);
	/* guest 2 holds the last reference: its write takes the frame */
	gwrite(2, mem_gfn_to_gpa(5) + 24, &v, 8);
	ck_assert_uint_eq(pool->used, used + 1);
	ck_assert_uint_eq(mem_p2m_val(g[2].p2m, 5), shared);
	check_all();
}
END_TEST

/* Zero pages share one frame; writes break it like any shared page. */
START_TEST(test_cow_zero)
{
	uint8_t zero[MEM_PAGE_SIZE] = {0};
	uint64_t v = 1;
	struct ksm_stats st;

	for (unsigned i = 0; i < NG; i++)
		for (gfn_t gfn = 0; gfn < 10; gfn++)
			gwrite(i, mem_gfn_to_gpa(gfn), zero, sizeof(zero));
	ksm_converge(k, 4, NULL, NULL);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_zero_sharing, NG * 10);
	ck_assert_uint_eq(st.pages_shared, 1);
	ck_assert_uint_eq(st.pages_saved, NG * 10 - 1);
	gwrite(0, mem_gfn_to_gpa(3), &v, 8);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_zero_sharing, NG * 10 - 1);
	ck_assert_uint_eq(st.cow_breaks, 1);
	check_all();
}
END_TEST

/* ksm_unshare for a balloon-like taker; the API's refusals; no frame for
 * a copy leaves everything as it was. */
START_TEST(test_unshare_and_enomem)
{
	uint8_t page[MEM_PAGE_SIZE];
	struct ksm_stats st;
	hfn_t h;
	uint64_t taken = 0;
	hfn_t *hold = calloc(pool->frames, sizeof(*hold));

	tk_page(4, page);
	for (unsigned i = 0; i < NG; i++)
		gwrite(i, mem_gfn_to_gpa(1), page, sizeof(page));
	ksm_converge(k, 4, NULL, NULL);
	ck_assert_int_eq(ksm_cow_break(g[0].kg, 2), -EINVAL); /* untouched */
	ck_assert_int_eq(ksm_unshare(g[0].kg, 1, MEM_RESIDENT, 0), -EINVAL);
	ck_assert_int_eq(ksm_unshare(g[0].kg, 1, MEM_BALLOONED, 0), 0);
	ck_assert_int_eq(mem_p2m_state(g[0].p2m, 1), MEM_BALLOONED);
	/* deflate: the page reads as zeros again */
	ck_assert_int_eq(mem_p2m_set(g[0].p2m, 1, MEM_UNTOUCHED, 0, false), 0);
	memset(copy[0][1], 0, MEM_PAGE_SIZE);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.pages_sharing, NG - 1);
	/* exhaust the pool: a copy cannot be made */
	while (!mem_pool_alloc(pool, &h, false))
		hold[taken++] = h;
	ck_assert_int_eq(ksm_cow_break(g[1].kg, 1), -ENOMEM);
	ck_assert_int_eq(mem_p2m_state(g[1].p2m, 1), MEM_SHARED);
	while (taken)
		mem_pool_free(pool, hold[--taken]);
	ck_assert_int_eq(ksm_cow_break(g[1].kg, 1), 0);
	check_all();
	free(hold);
}
END_TEST

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The property: thousands of random steps (page writes from a small set of
 * contents, small writes, reads, scans, explicit breaks and unshares) and
 * every page of every guest still equals its independent copy, read
 * through the p2m and through each guest's MMU. */
START_TEST(test_property)
{
	uint64_t s = 0x1234567 + (uint64_t)_i;
	uint8_t page[MEM_PAGE_SIZE];
	struct ksm_stats st;

	if (_i == 1) { /* again, with a hash that collides all the time */
		teardown();
		setup_with(weak_hash);
	}
	for (int step = 0; step < 4000; step++) {
		unsigned i = (unsigned)(rng(&s) % NG), op = (unsigned)(rng(&s) % 100);
		gfn_t gfn = rng(&s) % PAGES;
		gpa_t gpa = mem_gfn_to_gpa(gfn);

		if (op < 30) { /* a whole page from 6 contents (0: zero) */
			tk_page(rng(&s) % 6, page);
			gwrite(i, gpa, page, sizeof(page));
		} else if (op < 45) { /* a small write, sometimes no change */
			uint64_t v = rng(&s) % 3, off = (rng(&s) % 512) * 8;

			gwrite(i, gpa + off, &v, 8);
		} else if (op < 70) {
			gread_check(i, gpa + (rng(&s) % 64) * 64, 64);
		} else if (op < 95) {
			ksm_scan(k, g[i].kg, 1 + rng(&s) % 48);
		} else if (op < 98) {
			if (mem_p2m_state(g[i].p2m, gfn) == MEM_SHARED)
				ck_assert_int_eq(ksm_cow_break(g[i].kg, gfn), 0);
		} else if (mem_p2m_state(g[i].p2m, gfn) == MEM_SHARED) {
			/* balloon it, then deflate: it reads as zeros */
			ck_assert_int_eq(ksm_unshare(g[i].kg, gfn, MEM_BALLOONED, 0), 0);
			ck_assert_int_eq(mem_p2m_set(g[i].p2m, gfn, MEM_UNTOUCHED, 0, false), 0);
			memset(copy[i][gfn], 0, MEM_PAGE_SIZE);
		}
		if (step % 500 == 0)
			check_all();
	}
	check_all();
	ksm_stats(k, &st);
	/* the run did what it claims to test */
	ck_assert_uint_gt(st.merges, 100);
	ck_assert_uint_gt(st.cow_breaks, 50);
	ck_assert_uint_gt(g[0].cows + g[1].cows + g[2].cows, 20);
	if (_i == 1)
		ck_assert_uint_gt(st.collisions, 100);
}
END_TEST

Suite *cow_suite(void)
{
	Suite *s = suite_create("cow");
	TCase *tc = tcase_create("cow");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cow_basic);
	tcase_add_test(tc, test_cow_zero);
	tcase_add_test(tc, test_unshare_and_enomem);
	tcase_add_loop_test(tc, test_property, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
