/* SPDX-License-Identifier: MIT */
/*
 * kvm_pause: holding a KVM guest's vCPUs out of KVM_RUN, the policy's
 * block in its low state (vcpu_kvm.c's design comment says how a kick and
 * a pause cannot cross).
 */
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>

#include "vmm-core/kvm/kvm_internal.h"

void kv_vm_wait_unpaused(struct kv_vm *vm, struct kvm_run *run)
{
	pthread_mutex_lock(&vm->end_lock);
	while (atomic_load(&vm->paused) && atomic_load(&vm->end) == KV_END_RUNNING)
		pthread_cond_wait(&vm->end_cond, &vm->end_lock);
	if (atomic_load(&vm->end) == KV_END_RUNNING)
		run->immediate_exit = 0; /* set by the pause: cleared under the lock it set it */
	pthread_mutex_unlock(&vm->end_lock);
}

void kv_vm_pause(struct kv_vm *vm, bool on)
{
	uint64_t now = kv_now_ns();

	pthread_mutex_lock(&vm->end_lock);
	if (atomic_load(&vm->paused) == on) {
		pthread_mutex_unlock(&vm->end_lock);
		return;
	}
	atomic_store(&vm->paused, on);
	if (on)
		vm->paused_at = now;
	else
		vm->paused_ns += now - vm->paused_at;
	for (unsigned i = 0; on && i < vm->nvcpus; i++)
		if (vm->vcpu[i].started)
			((struct kvm_run *)vm->vcpu[i].run)->immediate_exit = 1;
	pthread_cond_broadcast(&vm->end_cond);
	pthread_mutex_unlock(&vm->end_lock);
	for (unsigned i = 0; on && i < vm->nvcpus; i++)
		if (vm->vcpu[i].started && !pthread_equal(vm->vcpu[i].thread, pthread_self()))
			pthread_kill(vm->vcpu[i].thread, SIGUSR1);
}
