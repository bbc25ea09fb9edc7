/* SPDX-License-Identifier: MIT */
/* kv_wss: working-set sampling of a KVM guest through KVM's dirty log. */
/*
 * Design
 *
 * ESX samples a guest's working set by invalidating the mappings of a few
 * random pages each period and counting the ones the guest touches again
 * (Waldspurger, OSDI 2002, section 5.3); the soft backend does exactly that
 * through its p2m (mem/wss.c). On KVM the host cannot see the guest's
 * accesses page by page, and Debian's 6.1 kernel has no idle page tracking
 * (the accessed bits of a KVM guest's pages as seen from the host). What it
 * has is the dirty log, so this sampler measures the pages the guest
 * WRITES: a page it only reads counts as idle. For the workload generators
 * (a write_pct of the accesses are stores over the same pages) and for
 * anonymous memory in general this follows the working set; for a guest
 * that reads a large page cache it underestimates, and the idle tax then
 * takes from that guest first. The estimate is reported as such
 * ("working_set": "dirty log").
 *
 * The slot logs writes with manual protection and every bit initially set
 * (vcpu_kvm.c), so logging costs nothing by itself. Each period the sampler
 * draws `ws_samples` distinct random pages (mem_wss_draw) and clears their
 * bits with KVM_CLEAR_DIRTY_LOG, which write-protects exactly them; a
 * guest's first write to one exits once and sets its bit. The fraction of
 * the sample whose bits are set when the period ends is f, fed to the same
 * estimator as the soft backend's (mem_wss_avg: slow and fast averages,
 * and "current", the fast one updated with the running period's writes so
 * far). Cost: at most `ws_samples` write faults per period and two ioctls.
 */
#include <errno.h>
#include <stdlib.h>

#include "vmm-core/kvm/kvm_internal.h"

struct kv_wss {
	struct kv_vm *vm; /* borrowed */
	unsigned n;	  /* sample size */
	gfn_t *sample;	  /* sorted, distinct */
	uint64_t *bitmap; /* the slot's dirty log, one bit per page */
	uint64_t rng;
	struct mem_wss_avg avg;
};

static int cmp_gfn(const void *a, const void *b)
{
	gfn_t x = *(const gfn_t *)a, y = *(const gfn_t *)b;

	return x < y ? -1 : x > y;
}

/* Draw a sample and clear its bits, one ioctl per 64-page block. */
static int arm(struct kv_wss *w)
{
	mem_wss_draw(&w->rng, w->vm->ram_size >> 12, w->sample, w->n);
	qsort(w->sample, w->n, sizeof(*w->sample), cmp_gfn);
	for (unsigned k = 0; k < w->n;) {
		uint64_t block = w->sample[k] & ~63ull, mask = 0;
		int r;

		for (; k < w->n && (w->sample[k] & ~63ull) == block; k++)
			mask |= 1ull << (w->sample[k] & 63);
		r = kv_vm_dirty_clear(w->vm, block, mask);
		if (r)
			return r;
	}
	return 0;
}

/* Sampled pages written since arm(), or -errno. */
static long touched(struct kv_wss *w)
{
	long t = 0;
	int r = kv_vm_dirty_get(w->vm, w->bitmap);

	if (r)
		return r;
	for (unsigned k = 0; k < w->n; k++)
		t += (long)(w->bitmap[w->sample[k] / 64] >> (w->sample[k] % 64) & 1);
	return t;
}

struct kv_wss *kv_wss_create(struct kv_vm *vm, unsigned samples, double slow_gain, double fast_gain,
			     uint64_t seed)
{
	uint64_t pages = vm->ram_size >> 12;
	struct kv_wss *w;

	if (!vm->dirty_log) {
		errno = ENOTSUP;
		return NULL;
	}
	if (!samples || !(slow_gain > 0 && slow_gain <= 1) || !(fast_gain > 0 && fast_gain <= 1)) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->vm = vm;
	w->n = samples < pages ? samples : (unsigned)pages;
	w->rng = seed;
	mem_wss_avg_init(&w->avg, slow_gain, fast_gain);
	w->sample = calloc(w->n, sizeof(*w->sample));
	w->bitmap = calloc((pages + 63) / 64, sizeof(*w->bitmap));
	if (!w->sample || !w->bitmap || arm(w)) {
		kv_wss_destroy(w);
		errno = EIO;
		return NULL;
	}
	return w;
}

void kv_wss_destroy(struct kv_wss *w)
{
	if (!w)
		return;
	free(w->sample);
	free(w->bitmap);
	free(w);
}

int kv_wss_period(struct kv_wss *w)
{
	long t = touched(w);

	if (t < 0)
		return (int)t;
	mem_wss_avg_period(&w->avg, (double)t / (double)w->n);
	return arm(w);
}

int kv_wss_estimate(struct kv_wss *w, struct mem_wss_estimate *e)
{
	long t = touched(w);

	if (t < 0)
		return (int)t;
	mem_wss_avg_estimate(&w->avg, (double)t / (double)w->n, (uint64_t)t, e);
	return 0;
}
