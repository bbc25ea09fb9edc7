/* SPDX-License-Identifier: MIT */
/* tdrv: a test driver for the balloon device over plain memory. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balloon-driver/tests/tdrv.h"

#define RAM_BYTES ((uint64_t)TDRV_PAGES << 12)

static int t_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct tdrv *t = ctx;

	if (gpa > RAM_BYTES || len > RAM_BYTES - gpa)
		return -EFAULT;
	memcpy(buf, t->mem + gpa, len);
	return 0;
}

static int t_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct tdrv *t = ctx;

	if (gpa > RAM_BYTES || len > RAM_BYTES - gpa)
		return -EFAULT;
	memcpy(t->mem + gpa, buf, len);
	return 0;
}

static int t_discard(void *ctx, uint64_t pfn, uint64_t n)
{
	struct tdrv *t = ctx;

	assert(pfn + n <= TDRV_PAGES);
	t->discard_calls++;
	for (uint64_t i = pfn; i < pfn + n; i++) {
		if ((int)i == t->fail_discard_pfn)
			return -EIO;
		t->discarded[i]++;
		memset(t->mem + (i << 12), 0, 4096); /* the host frame is gone */
	}
	return 0;
}

static int t_reclaim(void *ctx, uint64_t pfn, uint64_t n)
{
	struct tdrv *t = ctx;

	assert(pfn + n <= TDRV_PAGES);
	t->reclaim_calls++;
	for (uint64_t i = pfn; i < pfn + n; i++)
		t->reclaimed[i]++;
	return 0;
}

static bool t_pfn_ok(void *ctx, uint64_t pfn)
{
	(void)ctx;
	return pfn != TDRV_HOLE;
}

static void t_interrupt(void *ctx, unsigned cause)
{
	struct tdrv *t = ctx;

	if (cause == BALLOON_IRQ_VQ)
		t->irq_vq++;
	else
		t->irq_config++;
}

static const struct balloon_ops t_ops = {
    .read = t_read,
    .write = t_write,
    .discard = t_discard,
    .reclaim = t_reclaim,
    .pfn_ok = t_pfn_ok,
    .interrupt = t_interrupt,
};

uint64_t tdrv_desc(const struct tdrv *t, unsigned q)
{
	(void)t;
	return (uint64_t)(TDRV_RING0 + 4 * q) << 12;
}

uint64_t tdrv_avail(const struct tdrv *t, unsigned q)
{
	return balloon_vring_legacy_avail(tdrv_desc(t, q), t->num);
}

uint64_t tdrv_used(const struct tdrv *t, unsigned q)
{
	return balloon_vring_legacy_used(tdrv_desc(t, q), t->num);
}

void *tdrv_ptr(struct tdrv *t, uint64_t gpa)
{
	assert(gpa < RAM_BYTES);
	return t->mem + gpa;
}

void tdrv_init(struct tdrv *t, const struct balloon_params *p, uint16_t num)
{
	struct balloon_params q = *p;

	memset(t, 0, sizeof(*t));
	t->fail_discard_pfn = -1;
	t->mem = calloc(TDRV_PAGES, 4096);
	assert(t->mem);
	if (!q.guest_pages)
		q.guest_pages = TDRV_PAGES;
	if (!q.queue_size)
		q.queue_size = 256;
	t->d = balloon_create(&q, &t_ops, t);
	assert(t->d);
	t->num = num;
	balloon_set_status(t->d, BALLOON_STATUS_ACKNOWLEDGE | BALLOON_STATUS_DRIVER);
	if (balloon_set_features(t->d, balloon_host_features(t->d)))
		abort();
	for (unsigned i = 0; i < BALLOON_VQ_NR; i++)
		if (balloon_queue_size(t->d, i) &&
		    balloon_queue_set(t->d, i, num, tdrv_desc(t, i), tdrv_avail(t, i),
				      tdrv_used(t, i)))
			abort();
	balloon_set_status(t->d, BALLOON_STATUS_ACKNOWLEDGE | BALLOON_STATUS_DRIVER |
				     BALLOON_STATUS_DRIVER_OK);
}

void tdrv_fini(struct tdrv *t)
{
	balloon_destroy(t->d);
	free(t->mem);
}

void tdrv_set_desc(struct tdrv *t, unsigned q, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	struct balloon_vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};

	memcpy(tdrv_ptr(t, tdrv_desc(t, q) + (uint64_t)i * 16), &d, sizeof(d));
}

void tdrv_publish(struct tdrv *t, unsigned q, uint16_t head)
{
	uint8_t *avail = tdrv_ptr(t, tdrv_avail(t, q));
	uint16_t idx = t->avail_idx[q];

	memcpy(avail + 4 + 2 * (idx % t->num), &head, 2);
	idx++;
	memcpy(avail + 2, &idx, 2);
	t->avail_idx[q] = idx;
}

int tdrv_post(struct tdrv *t, unsigned q, const uint32_t *pfns, unsigned n)
{
	uint64_t buf = (uint64_t)(TDRV_BUF0 + q) << 12;
	uint16_t head = t->avail_idx[q] % t->num;

	assert(n <= 1024);
	memcpy(tdrv_ptr(t, buf), pfns, n * 4u);
	tdrv_set_desc(t, q, head, buf, n * 4u, 0, 0);
	tdrv_publish(t, q, head);
	return balloon_queue_notify(t->d, q);
}

unsigned tdrv_reap(struct tdrv *t, unsigned q, uint32_t *len)
{
	uint8_t *used = tdrv_ptr(t, tdrv_used(t, q));
	uint16_t idx;
	unsigned n;

	memcpy(&idx, used + 2, 2);
	n = (uint16_t)(idx - t->used_seen[q]);
	if (n && len) {
		struct balloon_vring_used_elem e;

		memcpy(&e, used + 4 + 8 * ((uint16_t)(idx - 1) % t->num), sizeof(e));
		*len = e.len;
	}
	t->used_seen[q] = idx;
	return n;
}
