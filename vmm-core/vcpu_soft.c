/* SPDX-License-Identifier: MIT */
/*
 * The soft vCPU backend: the guest OS runs in-process, and every access it
 * and its workloads make goes through the software MMU (mem/mmu.c), whose
 * exits call the VMM's handlers directly. Deterministic for a given seed.
 */
#include <errno.h>
#include <string.h>

#include "vmm-core/vmm.h"

static int soft_create(struct vm *vm)
{
	(void)vm; /* all state lives in the MMU and the guest OS */
	return 0;
}

static void soft_destroy(struct vm *vm)
{
	(void)vm;
}

/* Run in chunks the paging policy allows, so that a scheduled switch lands
 * on its access; return early after a switch so the runner samples it. */
static int soft_run(struct vm *vm, uint64_t budget, struct vcpu_exit *x)
{
	uint64_t total = 0;
	int r = 0;

	while (total < budget && !guest_os_done(vm->os) && !vm->sample_now) {
		uint64_t done = 0;

		r = guest_os_run(vm->os, vm_paging_budget(vm, budget - total), &done);
		total += done;
		if (r < 0)
			break;
		r = vm_paging_tick(vm, done);
		if (r < 0 || !done)
			break; /* nothing done: the guest halted (HLT exits) */
	}
	x->accesses = total;
	if (r < 0) {
		x->reason = VCPU_EXIT_FAILED;
		/* the exit handler may have said why already */
		if (!vm->err[0])
			snprintf(vm->err, sizeof(vm->err), "%s", guest_os_error(vm->os));
		return r;
	}
	x->reason = guest_os_done(vm->os) ? VCPU_EXIT_DONE : VCPU_EXIT_QUANTUM;
	return 0;
}

const struct vcpu_ops vcpu_soft_ops = {
    .name = "soft",
    .create = soft_create,
    .destroy = soft_destroy,
    .run = soft_run,
};

static const struct vcpu_ops *const backends[] = {
    &vcpu_soft_ops,
    &vcpu_kvm_ops,
};

const struct vcpu_ops *vcpu_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}
