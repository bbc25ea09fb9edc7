/* SPDX-License-Identifier: MIT */
/* reclaim_internal: host memory reclamation of a run (reclaim.c, policy.c)
 * and the soft balloon transport (balloon_soft.c). Not for other modules. */
#ifndef VMM_CORE_RECLAIM_INTERNAL_H
#define VMM_CORE_RECLAIM_INTERNAL_H

#include "balloon-driver/balloon.h"
#include "ksm/ksm.h"
#include "vmm-core/vmm.h"

/* ------------------------------------------------------------------------
 * The soft backend's balloon (balloon_soft.c): the transport-neutral device
 * of balloon-driver/ behind legacy virtio-PCI registers that the soft
 * guest's driver reads and writes (each access an MMU_EXIT_BALLOON exit),
 * with the device's memory operations done on the guest's p2m.
 */
struct vm_balloon {
	struct balloon *dev;
	struct vm *vm; /* borrowed: its owner */
	uint16_t sel;  /* QUEUE_SEL */
	uint8_t isr;   /* pending interrupt causes, cleared by a read */
	uint32_t guest_features;
	bool fixed;	   /* the config fixed the target: the policy leaves it */
	hfn_t *frames;	   /* BALLOON_MAX_BATCH frames a discard frees at once */
	uint64_t unusual;  /* reclaims of frames that were not BALLOONED */
	uint64_t pio;	   /* register accesses (exits) */
	uint64_t rejected; /* rejected batches already reported */
};

/* The guest's window on its device, handed to the guest OS. */
extern const struct guest_dev_ops vm_balloon_dev_ops;

/* The balloon of vm, per the host's config: created before the guest boots
 * (its driver probes the device then). NULL with errno set. */
struct vm_balloon *vm_balloon_create(struct vm *vm, const struct vmm_host_cfg *h);
void vm_balloon_destroy(struct vm_balloon *b);
/* Can the policy reclaim through this balloon: its driver is up (DRIVER_OK)
 * and it has never broken the protocol? Sets why (static or b's) if not. */
bool vm_balloon_usable(const struct vm *vm, const char **why);

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
	bool fatal;		     /* host swap failed: the run stops */
	char fatal_msg[512];
};

/* Set up from cfg: the policy's parameters and, with [host] swap_file and
 * a pool (soft), the swap file (created now). 0, or -errno with err naming
 * the file. pool and ksm may be NULL (kvm). */
int reclaim_init(struct vmm_reclaim *rc, const struct vmm_config *cfg, struct mem_pool *pool,
		 struct ksm *ksm, char *err, size_t errlen) MUST_CHECK;
/* Remove the swap file and free what init took; every guest is gone. */
void reclaim_fini(struct vmm_reclaim *rc);
/* A guest joins (after vm_create): its sampler, its swap, the victim
 * cursor. 0 or -errno. The guest list is rc->vms (set by the runner). */
int reclaim_attach(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* The guest leaves: sampler disarmed and freed. Before vm_destroy. */
void reclaim_detach(struct vm *vm);
/*
 * The pool is empty and vm needs a frame (a fault, a copy-on-write break,
 * the device writing guest memory): swap out frames of the guest furthest
 * above its target (vm itself if none is), sharing first. 0 when frames
 * were freed; -ENOMEM without host swap or with nothing to take; the swap
 * file's -errno when it failed (rc->fatal is then set, the run stops).
 */
int reclaim_emergency(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* vm is about to take a frame (a fault). In the hard and low states (the
 * soft one too when its balloon cannot reclaim), a guest at or above its
 * target swaps one of its own pages out first. 0, or the swap's -errno
 * (fatal). */
int reclaim_charge(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* Keep RECLAIM_RESERVE frames free for the VMM's own structures (paging
 * tables, shared frames): below that, reclaim as in an emergency first. 0,
 * or the swap's -errno (fatal); without swap nothing happens. */
int reclaim_reserve(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* After each of a soft vm's quanta, on its clock: working-set periods, the
 * balloon's rate-limited target movement (the soft backend's tick). */
void reclaim_guest_tick(struct vmm_reclaim *rc, struct vm *vm);
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
