/* SPDX-License-Identifier: MIT */
/* policy: ESX's allocation policy: shares, min/max, idle tax, states. */
/*
 * Design (Waldspurger, OSDI 2002, sections 5.1, 5.2 and 6.3)
 *
 * Shares and the idle memory tax. A guest with S shares holding P pages of
 * which a fraction f is active has adjusted shares per page
 *
 *     rho = S / (P (f + k (1 - f))),   k = 1 / (1 - tau),
 *
 * so an idle page costs k times an active one (tau = 0: plain shares;
 * tau = 0.75: k = 4). When memory is scarce ESX revokes a page from the
 * guest with the lowest rho, again and again. Here "active" is the sampled
 * working set in pages, A = f_est * guest pages, so the cost of P pages is
 * min(P, A) + k * max(0, P - A): the idle part is what lies beyond the
 * working set.
 *
 * Targets in closed form. Revoking from the lowest rho until the pages fit
 * ends with every guest that lost pages at one common rho* (unless it hit
 * its min), and every other guest at or above it. Writing lambda = 1/rho*,
 * a guest's share of it is the allocation whose cost is S * lambda:
 *
 *     P(lambda) = C           if C <= A,  C = S * lambda
 *               = A + (C - A) / k   otherwise,
 *
 * clamped to its bounds [min, max(min, min(max, demand))]. The sum over
 * guests grows with lambda, so lambda is found by bisection such that the
 * sum equals the pages available (60 halvings of a double interval:
 * exact to the page for any realistic host). Demand caps a guest that
 * would not use more than it holds plus what was taken from it (ballooned
 * and swapped pages), so memory nobody asks for is not promised to a
 * guest that would leave it idle while others are squeezed.
 *
 * Reclamation states. Free host memory against four thresholds (high 6%,
 * soft 4%, hard 2%, low 1% of host memory): a state is left downwards as
 * soon as free memory falls below a lower state's threshold, and upwards
 * one state at a time once free memory exceeds the threshold of the state
 * above the one being left (soft returns to high above 6%, hard to soft
 * above 4%, low to hard above 2%). The band between a state's exit-down
 * and exit-up levels is the hysteresis that keeps the state from
 * flapping. What each state does (balloon, swap, block) is the VMM's.
 */
#include <errno.h>
#include <math.h>

#include "mem/mem.h"

#define POLICY_BISECT_ROUNDS 200

static const char *const rstate_names[MEM_RSTATE_NR] = {"high", "soft", "hard", "low"};

const char *mem_rstate_name(enum mem_rstate s)
{
	return (unsigned)s < MEM_RSTATE_NR ? rstate_names[s] : "invalid";
}

void mem_policy_defaults(struct mem_policy_params *p)
{
	p->tau = 0.75;
	p->threshold[MEM_RSTATE_HIGH] = 0.06;
	p->threshold[MEM_RSTATE_SOFT] = 0.04;
	p->threshold[MEM_RSTATE_HARD] = 0.02;
	p->threshold[MEM_RSTATE_LOW] = 0.01;
}

int mem_policy_check(const struct mem_policy_params *p, const char **why)
{
	if (!(p->tau >= 0 && p->tau < 1)) {
		*why = "idle memory tax rate must be in [0, 1)";
		return -EINVAL;
	}
	for (int s = 0; s < MEM_RSTATE_NR; s++) {
		if (!(p->threshold[s] > 0 && p->threshold[s] < 1)) {
			*why = "free-memory thresholds must be in (0, 1)";
			return -EINVAL;
		}
		if (s && !(p->threshold[s] < p->threshold[s - 1])) {
			*why = "free-memory thresholds must decrease from high to low";
			return -EINVAL;
		}
	}
	return 0;
}

enum mem_rstate mem_policy_state(const struct mem_policy_params *p, enum mem_rstate cur,
				 uint64_t free, uint64_t total)
{
	double f = total ? (double)free / (double)total : 0;
	int s = (int)cur;

	/* down, as far as needed */
	while (s + 1 < MEM_RSTATE_NR && f < p->threshold[s + 1])
		s++;
	if (s != (int)cur)
		return (enum mem_rstate)s;
	/* up one, past the threshold of the state above */
	if (s > 0 && f > p->threshold[s - 1])
		s--;
	return (enum mem_rstate)s;
}

double mem_policy_rho(double tau, double shares, double pages, double active)
{
	double k = 1 / (1 - tau), used = pages < active ? pages : active;

	if (pages <= 0)
		return INFINITY;
	return shares / (used + k * (pages - used));
}

/* A guest's upper bound. */
static double bound_hi(const struct mem_policy_guest *g)
{
	uint64_t hi = g->demand < g->max ? g->demand : g->max;

	return (double)(hi > g->min ? hi : g->min);
}

/* The allocation of g at lambda (pages per unit of adjusted shares). */
static double alloc_at(const struct mem_policy_guest *g, double k, double lambda)
{
	double c = g->shares * lambda, a = g->active > 0 ? g->active : 0, p;

	p = c <= a ? c : a + (c - a) / k;
	if (p < (double)g->min)
		p = (double)g->min;
	if (p > bound_hi(g))
		p = bound_hi(g);
	return p;
}

static double sum_at(const struct mem_policy_guest *g, unsigned n, double k, double lambda)
{
	double s = 0;

	for (unsigned i = 0; i < n; i++)
		s += alloc_at(&g[i], k, lambda);
	return s;
}

void mem_policy_targets(const struct mem_policy_params *p, struct mem_policy_guest *g, unsigned n,
			uint64_t avail)
{
	double k = 1 / (1 - p->tau), lo = 0, hi = 1, sum_hi = 0, sum_min = 0;

	for (unsigned i = 0; i < n; i++) {
		g[i].rho = mem_policy_rho(p->tau, g[i].shares, (double)g[i].alloc, g[i].active);
		sum_hi += bound_hi(&g[i]);
		sum_min += (double)g[i].min;
	}
	if (sum_hi <= (double)avail || sum_min >= (double)avail) {
		/* no contention, or nothing left above the reservations */
		for (unsigned i = 0; i < n; i++)
			g[i].target =
			    sum_hi <= (double)avail ? (uint64_t)bound_hi(&g[i]) : g[i].min;
		return;
	}
	while (sum_at(g, n, k, hi) < (double)avail)
		hi *= 2; /* terminates: at large lambda every guest is at its bound */
	for (int r = 0; r < POLICY_BISECT_ROUNDS && hi - lo > hi * 1e-15; r++) {
		double mid = (lo + hi) / 2;

		if (sum_at(g, n, k, mid) <= (double)avail)
			lo = mid;
		else
			hi = mid;
	}
	/* whole pages: floors, then the pages rounding lost to the largest
	 * fractions (at most n), so that the targets sum to avail exactly */
	for (unsigned i = 0; i < n; i++)
		g[i].target = (uint64_t)floor(alloc_at(&g[i], k, lo));
	for (;;) {
		uint64_t sum = 0;
		double best = -1;
		int b = -1;

		for (unsigned i = 0; i < n; i++)
			sum += g[i].target;
		if (sum >= avail)
			break;
		for (unsigned i = 0; i < n; i++) {
			double frac = alloc_at(&g[i], k, lo) - (double)g[i].target;

			if ((double)g[i].target < bound_hi(&g[i]) && frac > best) {
				best = frac;
				b = (int)i;
			}
		}
		if (b < 0)
			break;
		g[b].target++;
	}
}
