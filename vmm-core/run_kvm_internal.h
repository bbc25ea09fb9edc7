/* SPDX-License-Identifier: MIT */
/* run_kvm_internal: what run_kvm.c (the runner) and run_kvm_files.c (its
 * samples and files) share. Not for other files. */
#ifndef VMM_CORE_RUN_KVM_INTERNAL_H
#define VMM_CORE_RUN_KVM_INTERNAL_H

#include <stdlib.h>

#include "vmm-core/kvm_internal.h"
#include "vmm-core/reclaim_internal.h"
#include "vmm-core/run_internal.h"

struct kguest {
	struct vm *vm;
	struct kvm_vm *k; /* vm->backend */
	FILE *console;
	bool done, ok;
	uint64_t boot_ns;   /* when its userspace said hello, 0 before */
	uint64_t alloc;	    /* memfd pages at the last sample */
	uint64_t peak;	    /* highest alloc */
	uint64_t end_alloc; /* memfd pages when it ended (then freed) */
	/* policy */
	struct kvm_wss *wss; /* NULL: no estimate (no dirty log) */
	struct mem_wss_estimate ws;
	uint64_t ws_start; /* when the sampler's period began */
	uint64_t target;   /* allocation target, pages */
	double rho;	   /* shares per page at its allocation */
	unsigned pi;	   /* its index in krunner.pg this tick */
	struct kvm_stats st;
	int stats_err; /* kvm_stats_read's last result */
	char err[768];
};

struct krunner {
	const struct vmm_config *cfg;
	const struct vmm_run_opts *o;
	struct kguest *g;
	unsigned n;
	struct kvm_host host; /* what provides /dev/kvm */
	const char *mode;     /* the host's paging mode */
	bool boot_anyway;     /* MEMVISOR_KVM_BOOT_ANYWAY: boot where Linux cannot */
	struct mem_policy_params pp;
	struct mem_policy_guest *pg; /* one per guest */
	enum mem_rstate state;
	uint64_t transitions, freep;
	uint64_t policy_ns; /* the last policy tick */
	uint64_t t0;
	uint64_t peak_rss, peak_frames;
	struct output_ts ts;
};

static inline uint64_t result_u64(struct kvm_vm *k, const char *key)
{
	char buf[96];
	const char *v = kvm_dev_result(k, key, buf, sizeof(buf));

	return v ? strtoull(v, NULL, 10) : 0;
}

/* Pages the guest holds on the host: its memfd's allocated blocks (a
 * ballooned frame is a hole, so it is not among them). */
static inline uint64_t held(struct kguest *g)
{
	return kvm_vm_ram_allocated(g->k) >> 12;
}

/* Read every guest's counters and write a timeseries.csv row for each. */
void run_kvm_sample(struct krunner *rn, uint64_t now);
/* summary.json and guests.csv of the run, written whole. 0 or -errno. */
int run_kvm_write_summary(struct krunner *rn, const char *path, double wall) MUST_CHECK;
int run_kvm_write_guests_csv(struct krunner *rn, const char *path) MUST_CHECK;

#endif
