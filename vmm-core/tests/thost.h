/* SPDX-License-Identifier: MIT */
/* thost: a host for the balloon and reclamation tests: the guests of an
 * INI config, built as a run builds them, driven quantum by quantum. */
#ifndef VMM_CORE_TESTS_THOST_H
#define VMM_CORE_TESTS_THOST_H

#include "vmm-core/soft/soft.h"

#define THOST_MAX 8

struct thost {
	struct vmm_config cfg;
	struct mem_pool *pool;
	struct guest_swap_store *store;
	struct guest_library *lib;
	struct ksm *ksm; /* with [host] sharing on */
	struct vmm_reclaim rc;
	struct vm *vms[THOST_MAX];
	unsigned n;
};

/* Load ini (text), make the pool, swap, sharing and every guest; a swap
 * file, if any, goes in a fresh directory whatever the config says. */
void thost_init(struct thost *h, const char *ini);
/* Destroy everything; checks the p2m and sharing invariants first. */
void thost_fini(struct thost *h);
/* Run vm for up to `accesses` workload accesses as the scheduler would
 * (clock, sampler and balloon ticks after). Returns what the vCPU did. */
int thost_run(struct thost *h, struct vm *vm, uint64_t accesses);
/* Let `ns` of vm's modeled time pass with nothing done (its clock moves,
 * as when it waits). */
void thost_wait(struct thost *h, struct vm *vm, uint64_t ns);
/* The balloon device's counters of vm. */
struct balloon_counters thost_balloon(const struct vm *vm);
/* Guest statistics of vm. */
struct guest_stats thost_gstats(const struct vm *vm);
/* Set vm's balloon target now (no rate limit) and let the guest see it. */
void thost_target(struct thost *h, struct vm *vm, uint64_t pages);

#endif
