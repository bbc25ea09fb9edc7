/* SPDX-License-Identifier: MIT */
/* backend_kvm_internal: what backend_kvm.c (guests, clock, policy inputs)
 * and backend_kvm_files.c (their samples and output) share. Not for other
 * files. */
#ifndef VMM_CORE_BACKEND_KVM_INTERNAL_H
#define VMM_CORE_BACKEND_KVM_INTERNAL_H

#include <stdlib.h>

#include "vmm-core/kvm/kvm_internal.h"
#include "vmm-core/core/reclaim_internal.h"
#include "vmm-core/core/run_internal.h"

/* Linux's KSM for the run ([host] linux_ksm, backend_kvm_lksm.c): the
 * settings found (put back at the end), ksmd's rate, its CPU at the start. */
struct lksm {
	bool on, was_running;
	uint64_t run0, to_scan0, sleep0;
	uint64_t to_scan; /* pages per 20 ms */
	double cpu0;	  /* ksmd's CPU seconds at the start, -1: not found */
};
struct lksm_stats {
	uint64_t shared, sharing, unshared, volatile_, full_scans, zero;
	double cpu_seconds; /* ksmd's, during the run */
};

/* The kvm backend's host state (run_host.b). */
struct khost {
	struct kv_host host;   /* what provides /dev/kvm */
	const char *mode;      /* the host's paging mode, or "unknown" */
	bool boot_anyway;      /* MEMVISOR_KVM_BOOT_ANYWAY: boot where Linux cannot */
	struct kguest **order; /* the run's guests, in config order */
	struct mem_pool *pool; /* [host] sharing: the shared frames (memfd), or NULL */
	struct lksm lksm;      /* [host] linux_ksm */
	uint64_t peak_saved;   /* most pages sharing saved at a sample, either engine */
	bool dumped;	       /* [host] dump_ms: done (or given up) */
	uint64_t map_count;    /* vm.max_map_count in effect (sharing), 0: unknown */
	uint64_t map_count0;   /* what it was before the run raised it, 0: not raised */
	uint64_t peak_vmas;    /* most mappings of this process at a sample */
};

/* A KVM guest's state (vm->backend). */
struct kguest {
	struct vm *vm; /* its owner */
	struct kv_vm *k;
	struct kv_mem *mem;	/* sharing through ksm/ ([host] sharing), or NULL */
	struct ksm *ksm;	/* what it joins once its userspace is up */
	unsigned index;		/* in the run */
	bool waiting;		/* [host] boot_serial: not started yet */
	const struct khost *kh; /* borrowed */
	const struct run_host *h;
	FILE *console;
	uint64_t boot_ns;     /* when its userspace said hello, 0 before */
	uint64_t tick_ns;     /* its last tick */
	uint64_t peak;	      /* highest memfd pages seen */
	uint64_t end_alloc;   /* memfd pages when it ended (then freed) */
	uint64_t end_sharing; /* pages it shared when it ended (then dropped) */
	bool merge_said;      /* a refused merge was said */
	uint64_t audit_bad;   /* pages not mapped as their state says, at its end */
	char audit_msg[160];  /* the first of them */
	/* policy */
	struct kv_wss *wss; /* NULL: no estimate (not booted, or no dirty log) */
	uint64_t ws_seed;
	struct mem_wss_estimate ws;
	uint64_t ws_start; /* when the sampler's period began */
	struct kv_stats st;
	int stats_err; /* kv_stats_read's last result */
};

/* Page sharing (backend_kvm_share.c). The host's pool and ksm/: 0, or -1
 * with the reason printed. A guest's memory under kv_mem at creation, for
 * sharing or host swap (0, or -1 with err filled); into the table once its
 * userspace is up; its
 * breaks and discards to ksm/ (before each scan); out of it all before its
 * memory goes. */
int sharing_init(struct run_host *h, struct khost *kh);
int guest_mem_add(struct vm *vm, const struct vm_env *env, char *err, size_t errlen);
void sharing_start(struct vm *vm);
void sharing_drain(struct vm *vm);
void sharing_remove(struct vm *vm);
void sharing_fini(struct khost *kh); /* vm.max_map_count put back */
/* As a guest that shares or swaps ends: is every page mapped as its
 * state says (kv_mem_audit)? The answer in g->audit_bad and audit_msg. */
void sharing_audit(struct kguest *g);

/* Linux's KSM (backend_kvm_lksm.c): ksmd on at the run's scan rate (0,
 * or -1 with the reason printed), its settings put back, its counters and
 * CPU, the pages it saves now. */
int lksm_init(struct run_host *h, struct khost *kh);
void lksm_fini(struct khost *kh);
void lksm_stats(const struct khost *kh, struct lksm_stats *s);
uint64_t lksm_saved(const struct khost *kh);

/* [host] dump_ms (backend_kvm_dump.c): the guests' pages and the sharing
 * counters, once, when due at `now`. */
void kv_dump_due(struct khost *kh, const struct run_host *h, uint64_t now);

/* Host swap, the policy's step 5 (backend_kvm_swap.c): up to want of vm's
 * pages out, sharing first. 0, or -errno (rc->swap_failed set). */
int kv_swap(struct vmm_reclaim *rc, struct vm *vm, uint64_t want);

static inline struct kguest *kguest_of(const struct vm *vm)
{
	return vm->backend;
}

static inline uint64_t result_u64(struct kv_vm *k, const char *key)
{
	char buf[96];
	const char *v = kv_dev_result(k, key, buf, sizeof(buf));

	return v ? strtoull(v, NULL, 10) : 0;
}

/* Pages the guest holds on the host: its memfd's allocated blocks (a
 * ballooned frame is a hole, so it is not among them). */
static inline uint64_t held(const struct kguest *g)
{
	return kv_vm_ram_allocated(g->k) >> 12;
}

/* The ops of backend_kvm_files.c. */
void kv_sample(struct out_row *r, struct vm *vm, const struct run_host *h);
void kv_result(struct out_row *r, struct vm *vm, const struct run_host *h);
void kv_json(struct out_row *r, struct vm *vm, const struct run_host *h);
void kv_json_host(struct out_row *r, struct vm **vms, unsigned n, const struct run_host *h);

#endif
