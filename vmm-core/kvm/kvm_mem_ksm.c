/* SPDX-License-Identifier: MIT */
/*
 * kvm_mem_ksm: the sharing engine's view of a KVM guest's memory (struct
 * ksm_mem_ops over kvm_mem.c), so that ksm/ decides what KVM guests share
 * with the one table it keeps for every guest. ksm reads a resident page
 * from the memfd (holes are skipped: mincore on the shared mapping says
 * which pages the file holds), asks kv_mem_merge to map a shared frame
 * (compared again under write protection), and learns of the copy-on-write
 * breaks the fault thread made through kv_mem_drain.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "ksm/ksm.h"
#include "vmm-core/kvm/kvm_mem_internal.h"

void kv_mem_drain(struct kv_mem *m, void (*fn)(void *ctx, uint64_t gfn, uint64_t f, bool written),
		  void *ctx)
{
	for (;;) {
		uint64_t q, gfn, e;

		pthread_mutex_lock(&m->lock);
		if (!m->nq) {
			pthread_mutex_unlock(&m->lock);
			return;
		}
		q = m->q[--m->nq];
		gfn = q & ~KV_MEM_DROPPED;
		e = m->st[gfn];
		if (ST(e) == ST_PENDING)
			m->st[gfn] = ST_MK(ST_RESIDENT, 0);
		pthread_mutex_unlock(&m->lock);
		if (ST(e) == ST_PENDING && fn)
			fn(ctx, gfn, ST_VAL(e), !(q & KV_MEM_DROPPED));
	}
}

/* Resident gfn's bytes, read from the memfd (never through the mapping,
 * which could fault); NULL when it is not resident or a hole. */
static const uint8_t *ksm_page(void *ctx, uint64_t gfn, uint8_t *buf)
{
	struct kv_mem *m = ctx;
	unsigned char in = 0;
	bool resident;

	pthread_mutex_lock(&m->lock);
	resident = ST(m->st[gfn]) == ST_RESIDENT;
	pthread_mutex_unlock(&m->lock);
	/* a shared mapping of the memfd: mincore says whether it holds the page */
	if (!resident || mincore((void *)(uintptr_t)page_addr(m, gfn), PAGE, &in) || !(in & 1))
		return NULL;
	return kv_mem_read_page(m->vm->mem_fd, buf, gfn * PAGE) ? NULL : buf;
}

static uint64_t ksm_shared(void *ctx, uint64_t gfn)
{
	struct kv_mem *m = ctx;
	uint64_t e;

	pthread_mutex_lock(&m->lock);
	e = m->st[gfn];
	pthread_mutex_unlock(&m->lock);
	/* a pending page still holds its reference until drained */
	return ST(e) == ST_SHARED || ST(e) == ST_PENDING ? ST_VAL(e) : KSM_NO_FRAME;
}

static int ksm_merge(void *ctx, uint64_t gfn, uint64_t hfn)
{
	return kv_mem_merge(ctx, gfn, hfn) == 1;
}

static uint64_t ksm_sharing(void *ctx)
{
	struct kv_mem *m = ctx;
	uint64_t n;

	pthread_mutex_lock(&m->lock);
	n = m->nshared;
	pthread_mutex_unlock(&m->lock);
	return n;
}

const struct ksm_mem_ops kv_mem_ksm_ops = {
    .page = ksm_page,
    .shared = ksm_shared,
    .merge = ksm_merge,
    .sharing = ksm_sharing,
};
