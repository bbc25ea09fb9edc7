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

/* The kvm backend's host state (run_host.b). */
struct khost {
	struct kv_host host;   /* what provides /dev/kvm */
	const char *mode;      /* the host's paging mode, or "unknown" */
	bool boot_anyway;      /* MEMVISOR_KVM_BOOT_ANYWAY: boot where Linux cannot */
	struct kguest **order; /* the run's guests, in config order */
	struct mem_pool *pool; /* [host] sharing: the shared frames (memfd), or NULL */
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
	/* policy */
	struct kv_wss *wss; /* NULL: no estimate (not booted, or no dirty log) */
	uint64_t ws_seed;
	struct mem_wss_estimate ws;
	uint64_t ws_start; /* when the sampler's period began */
	struct kv_stats st;
	int stats_err; /* kv_stats_read's last result */
};

/* Page sharing (backend_kvm_share.c). The host's pool and ksm/: 0, or -1
 * with the reason printed. A guest's memory under kv_mem at creation (0,
 * or -1 with err filled); into the table once its userspace is up; its
 * breaks and discards to ksm/ (before each scan); out of it all before its
 * memory goes. */
int sharing_init(struct run_host *h, struct khost *kh);
int sharing_add(struct vm *vm, const struct vm_env *env, char *err, size_t errlen);
void sharing_start(struct vm *vm);
void sharing_drain(struct vm *vm);
void sharing_remove(struct vm *vm);

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
