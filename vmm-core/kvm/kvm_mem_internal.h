/* SPDX-License-Identifier: MIT */
/* kvm_mem_internal: a KVM guest's memory state (kvm_mem.c), shared with
 * the sharing engine's view of it (kvm_mem_ksm.c). */
#ifndef VMM_CORE_KVM_MEM_INTERNAL_H
#define VMM_CORE_KVM_MEM_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "vmm-core/kvm/kvm_internal.h"

#define PAGE 4096ull

/* A page's state: low 2 bits, and a frame or slot above them. */
/* ST_PENDING: resident again after a write broke its share, until the
 * sharing engine has dropped its reference on the frame (the value) in
 * kv_mem_drain; neither merged nor swapped out meanwhile. */
enum { ST_RESIDENT = 0, ST_SHARED, ST_SWAPPED, ST_PENDING };
#define ST(e)	    ((unsigned)((e)&3u))
#define ST_VAL(e)   ((e) >> 2)
#define ST_MK(s, v) (((uint64_t)(v) << 2) | (s))

/* A queued PENDING gfn whose share was dropped (discarded), not broken
 * by a write. */
#define KV_MEM_DROPPED (1ull << 63)

struct kv_mem {
	struct kv_vm *vm;
	struct kv_mem_params p;
	int uffd, stop_fd;
	uint64_t mode; /* UFFDIO_REGISTER_MODE_* of every piece */
	uint64_t pages;
	uint64_t *st; /* pages entries, under lock */
	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_started;
	struct kv_mem_stats s; /* under lock */
	uint64_t nshared;      /* SHARED pages, under lock */
	uint64_t *q;	       /* PENDING gfns, under lock */
	size_t nq, qcap;
	char err[256]; /* the fault thread's first failure */
};

/* gfn is PENDING on frame f now: queue it for kv_mem_drain (with
 * KV_MEM_DROPPED in how). Under the lock. */
void kv_mem_pending(struct kv_mem *m, uint64_t gfn, uint64_t f, uint64_t how);

static inline uint64_t page_addr(const struct kv_mem *m, uint64_t gfn)
{
	return (uint64_t)(uintptr_t)m->vm->ram + gfn * PAGE;
}

static inline int kv_mem_read_page(int fd, void *buf, uint64_t off)
{
	ssize_t n = pread(fd, buf, PAGE, (off_t)off);

	return n == (ssize_t)PAGE ? 0 : n < 0 ? -errno : -EIO;
}

#endif
