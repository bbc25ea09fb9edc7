/* SPDX-License-Identifier: MIT */
/* reclaim_internal: host memory reclamation of a run (reclaim.c) and the
 * policy's config keys (config_policy.c). Not for other modules. */
#ifndef VMM_CORE_RECLAIM_INTERNAL_H
#define VMM_CORE_RECLAIM_INTERNAL_H

#include "balloon-driver/balloon.h"
#include "ksm/ksm.h"
#include "vmm-core/vmm.h"

/* ------------------------------------------------------------------------
 * Host reclamation (reclaim.c): the ESX policy of mem/policy.c applied to
 * the guests of a run, host swap, and what the scheduler asks of it.
 */
struct vmm_reclaim {
	const struct vmm_config *cfg; /* borrowed */
	struct mem_pool *pool;	      /* borrowed */
	struct ksm *ksm;	      /* borrowed, NULL without sharing */
	struct mem_swap *swap;	      /* the host's swap file, NULL without one */
	enum mem_swap_victim victim;
	struct mem_policy_params pp;
	struct vm **vms; /* borrowed; n guests */
	unsigned n;
	enum mem_rstate state;
	double next_tick;		     /* host seconds of the next policy tick */
	double last_seconds;		     /* host seconds at the last tick */
	double state_seconds[MEM_RSTATE_NR]; /* modeled host time in each state */
	uint64_t ticks, transitions;
	uint64_t avail;		     /* pages the targets shared at the last tick */
	uint64_t charged;	     /* faults over target paid with an own page */
	uint64_t emergencies;	     /* faults that had to free frames first */
	uint64_t emergency_pages;    /* frames those freed */
	struct mem_policy_guest *pg; /* n entries, scratch of a tick */
	bool *in;		     /* n entries: the guest takes part this tick */
	uint64_t free_pages;	     /* the host's free frames at the last tick */
	bool fatal;		     /* host swap failed: the run stops (soft) */
	bool swap_failed;	     /* host swap failed: no more swapping, the
					run goes on and exits 1 (kvm) */
	char fatal_msg[512];	     /* either's message */
};

/* Set up from cfg: the policy's parameters and, with [host] swap_file,
 * the swap file (created now). 0, or -errno with err naming
 * the file. pool and ksm may be NULL (kvm). */
int reclaim_init(struct vmm_reclaim *rc, const struct vmm_config *cfg, struct mem_pool *pool,
		 struct ksm *ksm, char *err, size_t errlen) MUST_CHECK;
/* Remove the swap file and free what init took; every guest is gone. */
void reclaim_fini(struct vmm_reclaim *rc);
/* The host clock reached host_seconds: a policy tick when one is due
 * (state, targets, balloon targets, swapping, blocking), for the guests of
 * any backend (through their ops). force: now. */
void reclaim_policy_tick(struct vmm_reclaim *rc, double host_seconds, bool force);
/* Every runnable guest is blocked (low state): reclaim until one can run,
 * or, when nothing more can be reclaimed, unblock them all. */
void reclaim_unstick(struct vmm_reclaim *rc, double host_seconds);
/* The balloon size step 4 wants for a guest holding alloc pages with
 * allocation target `target` in state st, from its balloon's counters c:
 * its balloon grows by what it holds above the target, shrinks by what it
 * lacks (the high state only shrinks), and a balloon that just deflated
 * on OOM is not pushed. Both runners (soft and kvm) use it. */
uint64_t reclaim_balloon_want(enum mem_rstate st, uint64_t alloc, uint64_t target,
			      const struct balloon_counters *c);
/* The idle tax in force at host time t (the [host] idle_tax schedule). */
double reclaim_tau(const struct vmm_config *cfg, double seconds);

/* ------------------------------------------------------------------------
 * Config keys of the policy (config_policy.c), for config.c.
 */
/* After the defaults of the other keys: NULL, or a message with *key the
 * key it is about. The guest check sets wss of a steps workload to its
 * largest step unless wss_set. */
const char *config_policy_guest_check(struct vmm_guest_cfg *g, bool wss_set, const char **key);
const char *config_policy_host_check(const struct vmm_host_cfg *h, const char **key);

#endif
