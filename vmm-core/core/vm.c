/* SPDX-License-Identifier: MIT */
/*
 * Guests, whatever their backend: the registry of backends and the guest
 * calls the runner makes, each handed to the guest's backend (its ops
 * table, run_internal.h). What a guest is on a backend is that backend's:
 * soft/ and kvm/.
 */
#include <stdlib.h>
#include <string.h>

#include "vmm-core/core/run_internal.h"

static const struct backend_ops *const backends[] = {
    &backend_soft,
    &backend_kvm,
};

const struct backend_ops *backend_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

struct vm *vm_create(const struct vmm_guest_cfg *cfg, const struct vm_env *env, char *err,
		     size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		snprintf(err, errlen, "guest %s: out of memory", cfg->name);
		return NULL;
	}
	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name);
	vm->cfg = cfg;
	vm->cost = env->cost;
	vm->ops = backend_find(cfg->backend);
	if (!vm->ops) {
		snprintf(err, errlen, "guest %s: no backend %s", cfg->name, cfg->backend);
	} else if (!vm->ops->create(vm, env, err, errlen)) {
		return vm;
	}
	free(vm);
	return NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm->ops->destroy(vm);
	free(vm);
}

int vm_run(struct vm *vm, uint64_t budget, struct vcpu_exit *x)
{
	return vm->ops->run(vm, budget, x);
}

const char *vm_backend_name(const struct vm *vm)
{
	return vm->ops->name;
}
