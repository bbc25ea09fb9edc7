/* SPDX-License-Identifier: MIT */
/*
 * kvm_dump: the pages a KVM guest holds, written one after another to a
 * file, for a byte-exact count of what sharing could free (`memvisor share`
 * over the dumps of all guests counts total minus distinct pages).
 *
 * A page is written when the host holds memory for it: its memfd holds it
 * (a page never touched, or ballooned, is a hole and is not written), it
 * maps a shared frame (the frame's bytes), or it is swapped out (the slot's
 * bytes). Anonymous RAM (Linux's KSM) is read through the mapping where
 * mincore says it is resident. Each page is read under kv_mem's lock, with
 * pread (never through a registered mapping, which could fault), so the
 * dump of a running guest is page-consistent, not a snapshot: dump guests
 * that are idle.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/mem.h"
#include "vmm-core/kvm/kvm_mem_internal.h"

/* gfn's bytes into buf if the host holds memory for it: 1, 0, or -errno. */
static int held_page(struct kv_vm *vm, uint64_t gfn, uint8_t *buf)
{
	struct kv_mem *m = vm->mem;
	unsigned char in = 0;
	uint64_t e;
	int r;

	if (vm->p.anon) {
		if (mincore(vm->ram + gfn * PAGE, PAGE, &in))
			return -errno;
		if (in & 1)
			memcpy(buf, vm->ram + gfn * PAGE, PAGE);
		return in & 1;
	}
	if (!m) {
		off_t d = lseek(vm->mem_fd, (off_t)(gfn * PAGE), SEEK_DATA);

		if (d < 0)
			return errno == ENXIO ? 0 : -errno;
		if ((uint64_t)d != gfn * PAGE)
			return 0;
		r = kv_mem_read_page(vm->mem_fd, buf, gfn * PAGE);
		return r ? r : 1;
	}
	pthread_mutex_lock(&m->lock);
	e = m->st[gfn];
	switch (ST(e)) {
	case ST_SHARED:
		r = kv_mem_read_page(m->p.pool_fd, buf, ST_VAL(e) * PAGE);
		break;
	case ST_SWAPPED:
		r = mem_swap_read_slot(m->p.swap, ST_VAL(e), buf);
		break;
	default:
		r = mincore(vm->ram + gfn * PAGE, PAGE, &in) ? -errno : 0;
		if (!r && !(in & 1))
			r = -ENODATA; /* a hole */
		if (!r)
			r = kv_mem_read_page(vm->mem_fd, buf, gfn * PAGE);
		break;
	}
	pthread_mutex_unlock(&m->lock);
	return r == -ENODATA ? 0 : r ? r : 1;
}

int kv_vm_dump(struct kv_vm *vm, int fd, uint64_t *pages)
{
	uint8_t buf[PAGE];

	*pages = 0;
	for (uint64_t gfn = 0; gfn < vm->ram_size / PAGE; gfn++) {
		int r = held_page(vm, gfn, buf);

		if (r == 1) {
			r = util_write_full(fd, buf, PAGE, -1);
			(*pages)++;
		}
		if (r < 0)
			return r;
	}
	return 0;
}
