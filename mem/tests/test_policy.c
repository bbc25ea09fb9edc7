/* SPDX-License-Identifier: MIT */
/*
 * test_policy: working-set sampling (estimates against known touch
 * patterns, through the p2m's access tracking) and the allocation policy
 * (the reclamation states and their hysteresis, adjusted shares per page,
 * targets against ESX's page-at-a-time revocation).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "mem/mem.h"
#include "mem/tests/check_mem.h"

/* ---- working-set sampling ---- */

#define W_PAGES 8192u

static struct mem_pool *pool;
static struct mem_p2m *p2m;

static void nop_zap(struct mem_mapper *m, gfn_t gfn, uint64_t ref)
{
	(void)m, (void)gfn, (void)ref;
}
static const struct mem_mapper_ops nop_ops = {.name = "nop", .zap = nop_zap};
static struct mem_mapper mapper = {.ops = &nop_ops};

static void w_setup(void)
{
	pool = mem_pool_create(W_PAGES);
	p2m = mem_p2m_create(pool, W_PAGES);
	ck_assert_ptr_nonnull(p2m);
}

static void w_teardown(void)
{
	/* our fake translations go with the p2m */
	mem_p2m_destroy(p2m);
	mem_pool_destroy(pool);
}

/* The guest accesses gfn: what a mapper does on the way (populate on a
 * first touch, a translation recorded when none is cached). */
static void touch(gfn_t gfn)
{
	hfn_t h;

	if (mem_p2m_state(p2m, gfn) == MEM_UNTOUCHED)
		ck_assert_int_eq(mem_p2m_populate(p2m, gfn, &h), 0);
	if (!mem_rmap_count(p2m, gfn))
		ck_assert_int_eq(mem_rmap_add(p2m, gfn, &mapper, gfn), 0);
}

/* One period of a guest touching its first `active` pages. */
static void period(struct mem_wss *w, uint64_t active)
{
	for (gfn_t g = 0; g < active; g++)
		touch(g);
	mem_wss_period(w);
}

static struct mem_wss_estimate est(const struct mem_wss *w)
{
	struct mem_wss_estimate e;

	mem_wss_estimate(w, &e);
	return e;
}

static const struct mem_wss_params wp = {
    .samples = 100, .slow_gain = 0.1, .fast_gain = 0.5, .seed = 11};

START_TEST(wss_steady)
{
	struct mem_wss *w = mem_wss_create(p2m, &wp);
	double sum = 0;

	ck_assert_ptr_nonnull(w);
	ck_assert(est(w).max == 1 && est(w).periods == 0); /* unknown: no tax */
	for (int i = 0; i < 40; i++) {
		period(w, W_PAGES * 3 / 10);
		/* 100 samples: a standard deviation of 0.046 around 0.3 */
		ck_assert_msg(est(w).last > 0.1 && est(w).last < 0.5, "period %d: f = %.2f", i,
			      est(w).last);
		sum += est(w).last;
	}
	ck_assert_msg(fabs(sum / 40 - 0.3) < 0.03, "mean f = %.3f", sum / 40);
	ck_assert(fabs(est(w).slow - 0.3) < 0.08);
	ck_assert_uint_eq(est(w).periods, 40);
	/* one exit-worth of tracking per sampled page touched, no more */
	ck_assert_uint_le(p2m->track_hits[MEM_TRACK_WSS], 40 * 100);
	mem_wss_destroy(w);
	for (gfn_t g = 0; g < W_PAGES; g++)
		ck_assert(!mem_p2m_track_armed(p2m, g, MEM_TRACK_WSS));
}
END_TEST

/* Quick to rise (even within a period), slow to fall. */
START_TEST(wss_steps)
{
	struct mem_wss *w = mem_wss_create(p2m, &wp);
	struct mem_wss_estimate e;

	for (int i = 0; i < 10; i++)
		period(w, W_PAGES / 5);
	e = est(w);
	ck_assert(e.max < 0.35 && e.max > 0.1);
	/* the working set grows to 80%: within the first period already */
	for (gfn_t g = 0; g < W_PAGES * 4 / 5; g++)
		touch(g);
	e = est(w);
	ck_assert_msg(e.current > e.fast + 0.2 && e.max == e.current, "current %.2f fast %.2f",
		      e.current, e.fast);
	mem_wss_period(w);
	for (int i = 0; i < 3; i++)
		period(w, W_PAGES * 4 / 5);
	ck_assert_msg(est(w).max > 0.65, "max %.2f", est(w).max);
	/* and shrinks to 10%: the estimate follows slowly */
	period(w, W_PAGES / 10);
	period(w, W_PAGES / 10);
	e = est(w);
	ck_assert_msg(e.max > 0.25, "max %.2f after two periods at 0.1", e.max);
	ck_assert(e.slow > e.fast);
	for (int i = 0; i < 40; i++)
		period(w, W_PAGES / 10);
	ck_assert_msg(est(w).max < 0.2, "max %.2f", est(w).max);
	mem_wss_destroy(w);
}
END_TEST

START_TEST(wss_small_and_bad)
{
	struct mem_wss_params p = wp;
	struct mem_p2m *small = mem_p2m_create(pool, 40);
	struct mem_wss *w;

	/* a guest smaller than the sample is sampled whole: f is exact */
	w = mem_wss_create(small, &p);
	ck_assert_ptr_nonnull(w);
	for (gfn_t g = 0; g < 10; g++) {
		hfn_t h;

		ck_assert_int_eq(mem_p2m_populate(small, g, &h), 0);
		ck_assert_int_eq(mem_rmap_add(small, g, &mapper, g), 0);
	}
	mem_wss_period(w);
	ck_assert(est(w).last == 0.25);
	/* ballooned and untouched frames are idle */
	ck_assert_int_eq(mem_p2m_set(small, 39, MEM_BALLOONED, 0, false), 0);
	mem_wss_period(w);
	ck_assert(est(w).last == 0);
	mem_wss_destroy(w);
	mem_p2m_destroy(small);
	p.samples = 0;
	ck_assert_ptr_null(mem_wss_create(p2m, &p));
	p.samples = 10;
	p.slow_gain = 0;
	ck_assert_ptr_null(mem_wss_create(p2m, &p));
	p.slow_gain = 0.5;
	p.fast_gain = 1.5;
	errno = 0;
	ck_assert_ptr_null(mem_wss_create(p2m, &p));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- reclamation states ---- */

START_TEST(states_and_hysteresis)
{
	static const struct {
		enum mem_rstate cur;
		double free_pct;
		enum mem_rstate next;
	} cases[] = {
	    {MEM_RSTATE_HIGH, 50, MEM_RSTATE_HIGH},  {MEM_RSTATE_HIGH, 5, MEM_RSTATE_HIGH},
	    {MEM_RSTATE_HIGH, 3.9, MEM_RSTATE_SOFT}, {MEM_RSTATE_HIGH, 1.5, MEM_RSTATE_HARD},
	    {MEM_RSTATE_HIGH, 0.5, MEM_RSTATE_LOW},  {MEM_RSTATE_SOFT, 5, MEM_RSTATE_SOFT},
	    {MEM_RSTATE_SOFT, 6, MEM_RSTATE_SOFT},   {MEM_RSTATE_SOFT, 6.1, MEM_RSTATE_HIGH},
	    {MEM_RSTATE_SOFT, 30, MEM_RSTATE_HIGH},  {MEM_RSTATE_SOFT, 2.5, MEM_RSTATE_SOFT},
	    {MEM_RSTATE_SOFT, 1.9, MEM_RSTATE_HARD}, {MEM_RSTATE_HARD, 3, MEM_RSTATE_HARD},
	    {MEM_RSTATE_HARD, 4.5, MEM_RSTATE_SOFT}, {MEM_RSTATE_HARD, 1.2, MEM_RSTATE_HARD},
	    {MEM_RSTATE_HARD, 0.9, MEM_RSTATE_LOW},  {MEM_RSTATE_LOW, 1.5, MEM_RSTATE_LOW},
	    {MEM_RSTATE_LOW, 2.1, MEM_RSTATE_HARD},  {MEM_RSTATE_LOW, 50, MEM_RSTATE_HARD},
	    {MEM_RSTATE_LOW, 0, MEM_RSTATE_LOW},
	};
	struct mem_policy_params p;

	mem_policy_defaults(&p);
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		enum mem_rstate s = mem_policy_state(&p, cases[i].cur,
						     (uint64_t)(cases[i].free_pct * 1000), 100000);

		ck_assert_msg(s == cases[i].next, "case %u: %s at %.1f%% -> %s, expected %s", i,
			      mem_rstate_name(cases[i].cur), cases[i].free_pct, mem_rstate_name(s),
			      mem_rstate_name(cases[i].next));
	}
	ck_assert_str_eq(mem_rstate_name(MEM_RSTATE_LOW), "low");
	ck_assert_str_eq(mem_rstate_name(MEM_RSTATE_NR), "invalid");
}
END_TEST

START_TEST(params_checked)
{
	struct mem_policy_params p;
	const char *why = NULL;

	mem_policy_defaults(&p);
	ck_assert_int_eq(mem_policy_check(&p, &why), 0);
	ck_assert(p.tau == 0.75);
	p.tau = 1;
	ck_assert_int_eq(mem_policy_check(&p, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "tax"));
	mem_policy_defaults(&p);
	p.threshold[MEM_RSTATE_HARD] = 0.05;
	ck_assert_int_eq(mem_policy_check(&p, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "decrease"));
}
END_TEST

/* ---- targets ---- */

START_TEST(rho_formula)
{
	ck_assert(mem_policy_rho(0, 1000, 500, 100) == 2);
	/* tau 75%: k = 4, a quarter active: cost 0.25 + 4 * 0.75 = 3.25 per page */
	ck_assert(fabs(mem_policy_rho(0.75, 1000, 400, 100) - 1000.0 / (400 * 3.25)) < 1e-12);
	/* fully active: the tax does not apply */
	ck_assert(mem_policy_rho(0.75, 1000, 400, 900) == 2.5);
	ck_assert(isinf(mem_policy_rho(0.5, 1000, 0, 0)));
}
END_TEST

static struct mem_policy_guest guest(double shares, uint64_t max, uint64_t demand, double active)
{
	return (struct mem_policy_guest){
	    .shares = shares, .max = max, .alloc = demand, .demand = demand, .active = active};
}

static uint64_t total(const struct mem_policy_guest *g, unsigned n)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < n; i++)
		s += g[i].target;
	return s;
}

START_TEST(targets_shares_and_tax)
{
	struct mem_policy_params p;
	struct mem_policy_guest g[3];

	mem_policy_defaults(&p);
	/* equal shares, both fully active: half each */
	p.tau = 0;
	g[0] = guest(1000, 65536, 65536, 65536);
	g[1] = guest(1000, 65536, 65536, 65536);
	mem_policy_targets(&p, g, 2, 60000);
	ck_assert_uint_eq(g[0].target, 30000);
	ck_assert_uint_eq(g[1].target, 30000);
	/* shares 2:1 */
	g[0].shares = 2000;
	mem_policy_targets(&p, g, 2, 60000);
	ck_assert(llabs((long long)g[0].target - 40000) <= 1);
	ck_assert(llabs((long long)g[1].target - 20000) <= 1);
	/* one idle (5% active), one busy, equal shares: tau 0 splits evenly */
	g[0] = guest(1000, 65536, 65536, 65536 * 0.05);
	g[1] = guest(1000, 65536, 65536, 65536);
	mem_policy_targets(&p, g, 2, 60000);
	ck_assert_uint_eq(g[0].target, 30000);
	/* tau 75%: C = S lambda is equal; busy gets C, idle A + (C - A) / 4
	 * with A = 3276.8: 1.25 C + 2457.6 = 60000 -> C = 46033.9 */
	p.tau = 0.75;
	mem_policy_targets(&p, g, 2, 60000);
	ck_assert_msg(llabs((long long)g[1].target - 46034) <= 1, "busy %llu",
		      (unsigned long long)g[1].target);
	ck_assert_uint_eq(total(g, 2), 60000);
	ck_assert(g[0].rho < g[1].rho); /* the idle one had the fewest per page */
}
END_TEST

START_TEST(targets_bounds)
{
	struct mem_policy_params p;
	struct mem_policy_guest g[3];

	mem_policy_defaults(&p);
	p.tau = 0;
	g[0] = guest(1000, 65536, 65536, 65536);
	g[1] = guest(1000, 65536, 65536, 65536);
	g[2] = guest(1000, 65536, 65536, 65536);
	g[0].min = 40000; /* a reservation above its fair third */
	g[1].max = 10000; /* a cap below it */
	mem_policy_targets(&p, g, 3, 90000);
	ck_assert_uint_eq(g[0].target, 40000);
	ck_assert_uint_eq(g[1].target, 10000);
	ck_assert_uint_eq(g[2].target, 40000);
	/* demand: a guest that holds little and lost nothing is not promised
	 * more; the rest goes to the others */
	g[0] = guest(1000, 65536, 5000, 5000);
	g[1] = guest(1000, 65536, 65536, 65536);
	g[2] = guest(1000, 65536, 65536, 65536);
	mem_policy_targets(&p, g, 3, 90000);
	ck_assert_uint_eq(g[0].target, 5000);
	ck_assert_uint_eq(g[1].target, 42500);
	/* no contention: everyone at its upper bound */
	mem_policy_targets(&p, g, 3, 200000);
	ck_assert_uint_eq(g[0].target, 5000);
	ck_assert_uint_eq(g[1].target, 65536);
	/* reservations eat everything: everyone at min */
	g[0].min = g[1].min = g[2].min = 30000;
	mem_policy_targets(&p, g, 3, 80000);
	ck_assert_uint_eq(g[2].target, 30000);
}
END_TEST

/* ESX's revocation, page by page: take from the lowest adjusted shares
 * per page until the pages fit. */
static void revoke(const struct mem_policy_params *p, struct mem_policy_guest *g, unsigned n,
		   uint64_t avail, uint64_t *out)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t hi = g[i].demand < g[i].max ? g[i].demand : g[i].max;

		out[i] = hi > g[i].min ? hi : g[i].min;
		sum += out[i];
	}
	while (sum > avail) {
		int best = -1;
		double br = INFINITY;

		for (unsigned i = 0; i < n; i++) {
			double r = mem_policy_rho(p->tau, g[i].shares, (double)out[i], g[i].active);

			if (out[i] > g[i].min && r < br) {
				br = r;
				best = (int)i;
			}
		}
		if (best < 0)
			break;
		out[best]--;
		sum--;
	}
}

START_TEST(targets_match_revocation)
{
	struct mem_policy_params p;
	struct mem_policy_guest g[6];
	uint64_t want[6], seed = 1;

	mem_policy_defaults(&p);
	for (int round = 0; round < 60; round++) {
		uint64_t avail = 0;
		unsigned n = 2 + (unsigned)(round % 5);

		p.tau = (round % 4) * 0.25;
		for (unsigned i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			g[i] = guest((double)(100 + (seed >> 40) % 3000), 4000,
				     500 + (seed >> 20) % 3500, (double)((seed >> 8) % 4000));
			g[i].min = (seed >> 50) % 300;
			avail += g[i].demand;
		}
		avail = avail * (40 + (uint64_t)round % 50) / 100;
		revoke(&p, g, n, avail, want);
		mem_policy_targets(&p, g, n, avail);
		for (unsigned i = 0; i < n; i++)
			ck_assert_msg(llabs((long long)g[i].target - (long long)want[i]) <= 2,
				      "round %d guest %u: target %llu, revocation %llu", round, i,
				      (unsigned long long)g[i].target, (unsigned long long)want[i]);
		ck_assert_uint_eq(total(g, n), avail);
	}
}
END_TEST

Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("wss");

	tcase_add_checked_fixture(tc, w_setup, w_teardown);
	tcase_add_test(tc, wss_steady);
	tcase_add_test(tc, wss_steps);
	tcase_add_test(tc, wss_small_and_bad);
	suite_add_tcase(s, tc);
	tc = tcase_create("states");
	tcase_add_test(tc, states_and_hysteresis);
	tcase_add_test(tc, params_checked);
	suite_add_tcase(s, tc);
	tc = tcase_create("targets");
	tcase_add_test(tc, rho_formula);
	tcase_add_test(tc, targets_shares_and_tax);
	tcase_add_test(tc, targets_bounds);
	tcase_add_test(tc, targets_match_revocation);
	suite_add_tcase(s, tc);
	return s;
}
