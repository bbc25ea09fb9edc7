/* SPDX-License-Identifier: MIT */
/* mem/policy.h: the allocation policy (part of mem/mem.h, which includes every part). */
#ifndef MEM_POLICY_H
#define MEM_POLICY_H

#include "mem/mem_types.h"

/* ------------------------------------------------------------------------
 * The allocation policy (policy.c): ESX's shares, min and max, the idle
 * memory tax, and the reclamation states (Waldspurger, OSDI 2002, sections
 * 5 and 6.3). Pure computation: the VMM gathers the inputs and applies the
 * outputs (balloon targets, host swap, blocking).
 */
enum mem_rstate {
	MEM_RSTATE_HIGH = 0, /* enough free memory: no reclamation */
	MEM_RSTATE_SOFT,     /* reclaim by ballooning (swap where it cannot) */
	MEM_RSTATE_HARD,     /* reclaim by host swapping */
	MEM_RSTATE_LOW,	     /* swap, and block guests above their target */
	MEM_RSTATE_NR
};
const char *mem_rstate_name(enum mem_rstate s);

struct mem_policy_params {
	double tau;			 /* idle memory tax rate, [0, 1) (ESX: 0.75) */
	double threshold[MEM_RSTATE_NR]; /* free-memory thresholds, fractions of host
					    memory: high .06, soft .04, hard .02, low .01 */
};
void mem_policy_defaults(struct mem_policy_params *p);
/* 0, or -EINVAL with *why naming the bad field (tau outside [0, 1),
 * thresholds not decreasing from high to low, or outside (0, 1)). */
int mem_policy_check(const struct mem_policy_params *p, const char **why) MUST_CHECK;

/*
 * The next reclamation state from `cur` with `free` of `total` pages free.
 * Down: as soon as free drops below the threshold of a lower state (several
 * at once if need be). Up: one state at a time, only once free exceeds the
 * threshold of the state above the one to leave: from soft back to high
 * above 6%, not at 4%. The gap is the hysteresis.
 */
enum mem_rstate mem_policy_state(const struct mem_policy_params *p, enum mem_rstate cur,
				 uint64_t free, uint64_t total);

/* One guest's inputs and outputs, in 4 KiB pages. */
struct mem_policy_guest {
	double shares;	 /* S, > 0 */
	uint64_t min;	 /* never targeted below */
	uint64_t max;	 /* never targeted above */
	uint64_t alloc;	 /* P: pages it holds (resident and shared) */
	uint64_t demand; /* what it would hold if let: P + ballooned + swapped */
	double active;	 /* working-set estimate, pages */
	/* out */
	uint64_t target; /* the allocation the policy wants it at */
	double rho;	 /* adjusted shares per page at P: S / (P (f + k (1 - f))) */
};

/*
 * Adjusted shares per page (section 5.2): shares / cost, the cost of
 * `pages` allocated pages of which `active` are in use being active +
 * k * idle with k = 1 / (1 - tau). Infinite for 0 pages.
 */
double mem_policy_rho(double tau, double shares, double pages, double active);
/*
 * Target allocations for n guests sharing `avail` pages (the pages the
 * guests may hold together with free memory at the high threshold).
 * Min-funding revocation solved in closed form: the guests whose targets
 * lie strictly between their bounds end at one common adjusted
 * shares-per-page ratio, so reclaiming a page from any of them would take
 * it from the guest with the fewest, as ESX's incremental revocation does;
 * the bounds are [min, max(min, min(max, demand))]. When the bounds' upper
 * ends fit avail, every guest gets its upper end. Fills target and rho.
 */
void mem_policy_targets(const struct mem_policy_params *p, struct mem_policy_guest *g, unsigned n,
			uint64_t avail);

#endif
