/* SPDX-License-Identifier: MIT */
/* kv_stats: KVM's own counters of a VM, through the binary stats interface. */
/*
 * Since Linux 5.14 every VM and vCPU file descriptor gives a stats file
 * (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst 4.133): a header, a
 * table of descriptors (flags, exponent, size, offset, bucket size, then a
 * name of name_size bytes) and a data block of 64-bit values. memvisor
 * reads the counters it reports by name, summing the vCPUs', so a kernel
 * that lacks one simply leaves it out (have[] false). These count exits
 * by kind as KVM sees them (port I/O, MMIO, HLT, fixed page faults, ...),
 * not by hardware exit reason.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm-core/kvm/kvm_internal.h"

const char *const kv_stat_names[KV_STAT_NR] = {
#define X(n) #n,
    KV_STAT_NAMES
#undef X
};

/* Add the counters of one stats fd into st. 0 or -errno. */
static int stats_add(int fd, struct kv_stats *st)
{
	struct kvm_stats_header h;
	size_t dsz;
	uint8_t *descs = NULL;
	int r = -EIO;

	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -errno ? -errno : -EIO;
	if (h.num_desc > 4096 || h.name_size > 1024)
		return -EPROTO;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(dsz * h.num_desc);
	if (!descs)
		return -ENOMEM;
	if (pread(fd, descs, dsz * h.num_desc, h.desc_offset) != (ssize_t)(dsz * h.num_desc))
		goto out;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * dsz);
		char name[1025];
		uint64_t v;

		memcpy(name, d->name, h.name_size);
		name[h.name_size] = 0;
		if ((d->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE || d->size != 1)
			continue;
		for (int k = 0; k < KV_STAT_NR; k++) {
			if (strcmp(name, kv_stat_names[k]))
				continue;
			if (pread(fd, &v, sizeof(v), h.data_offset + d->offset) != sizeof(v))
				goto out;
			st->v[k] += v;
			st->have[k] = true;
		}
	}
	r = 0;
out:
	free(descs);
	return r;
}

void kv_stats_open(struct kv_vm *vm)
{
	bool have = ioctl(vm->kv_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0;

	vm->stats_fd = have ? ioctl(vm->vm_fd, KVM_GET_STATS_FD, 0) : -1;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vm->vcpu[i].stats_fd = have ? ioctl(vm->vcpu[i].fd, KVM_GET_STATS_FD, 0) : -1;
}

int kv_stats_read(struct kv_vm *vm, struct kv_stats *st)
{
	int r;

	memset(st, 0, sizeof(*st));
	if (vm->stats_fd < 0)
		return -ENOTSUP;
	r = stats_add(vm->stats_fd, st);
	for (unsigned i = 0; !r && i < vm->nvcpus; i++)
		r = vm->vcpu[i].stats_fd < 0 ? -ENOTSUP : stats_add(vm->vcpu[i].stats_fd, st);
	if (r) {
		memset(st, 0, sizeof(*st));
		return r;
	}
	st->binary = true;
	return 0;
}
