/* SPDX-License-Identifier: MIT */
/* guest balloon: the soft guest's virtio-balloon driver, Linux's in spirit. */
/*
 * Design
 *
 * The driver of a virtio memory balloon (virtio 1.2, 5.5) behind the
 * legacy PCI register interface (4.1.4.8), written as Linux's
 * drivers/virtio/virtio_balloon.c behaves, against balloon_abi.h alone.
 *
 * Boot (guest_balloon_probe, guest_balloon_init). The booting kernel
 * resets the device (status 0: whatever was ballooned before a reboot is
 * the host's again), acknowledges it, reads the queue sizes the device
 * offers, and reserves frames right after mem_map: per queue one legacy
 * ring area (descriptors, available ring, used ring at the next 4 KiB),
 * then one page of buffers (inflate PFNs at +0, deflate PFNs at +1 KiB,
 * statistics at +2 KiB). It acks STATS_VQ, DEFLATE_ON_OOM and
 * MUST_TELL_HOST where offered, zeroes and places the rings (QUEUE_PFN),
 * writes DRIVER_OK, posts the statistics buffer, and reads the target.
 *
 * Everything the driver keeps in guest memory it reaches through the MMU,
 * like all guest code: rings and buffers with the kernel's direct map
 * (mmu_phys), and the list of ballooned pages through their mem_map
 * entries (`next`), as Linux lists them through page->lru. Host-side it
 * keeps what a kernel keeps in variables: indices, counts, the list head.
 *
 * Work. A config interrupt (num_pages changed) makes the driver move
 * towards the target: at most GUEST_BALLOON_WORK_MAX pages per run, in
 * buffers of GUEST_BALLOON_BATCH PFNs, one descriptor each, as Linux
 * does. Inflate takes each page from the guest's own allocator, which
 * evicts the guest's pages to its swap when none is free: the guest
 * chooses what to give up. An allocation that fails (too little left for
 * the guest's page tables and minimum, or reclaim cannot free a frame)
 * stops the batch, and the driver tries again GUEST_BALLOON_RETRY_NS
 * later by the guest's clock (Linux: "Out of puff!", 200 ms); no busy
 * loop. Deflate takes pages off the list, tells the host first
 * (MUST_TELL_HOST), then frees them. After each run, `actual` in the
 * configuration is what the driver holds.
 *
 * Deflate-on-OOM. When the guest's allocator cannot reclaim (guest swap
 * full), guest_balloon_oom() gives back BALLOON_OOM_NR_PAGES, as Linux's
 * OOM notifier does when the feature was negotiated; the device sees
 * actual drop below its target unasked.
 *
 * Queues. Each buffer goes into descriptor avail % size, its head into the
 * available ring, then the index (free-running, so the ring wraps every
 * `size` buffers and the index every 65536); then a kick. The device
 * serves a kick at once, so the driver then expects its buffer back on the
 * used ring; if it is not, the device is broken and the driver stops (the
 * guest lives on; err[] says why). The statistics buffer is the exception:
 * the device keeps it until it wants numbers; a queue interrupt with it on
 * the used ring makes the driver refill and repost it.
 *
 * Modes other than virtio model guests the host must survive: none (no
 * driver), ignore (set up, never inflates), garbage (posts batches no
 * device should accept: frames beyond memory, a frame twice, a partial
 * entry, a buffer outside memory; and claims the target in `actual`).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "guest/guest_internal.h"

#define BL_DRIVER_FEATURES                                                                         \
	(BALLOON_FEATURE(BALLOON_F_MUST_TELL_HOST) | BALLOON_FEATURE(BALLOON_F_STATS_VQ) |         \
	 BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM))
#define BL_BUF_STATS 2048u /* offset of the stats buffer in the buffer page */

int guest_balloon_mode_parse(const char *s, enum guest_balloon_mode *out)
{
	static const char *const names[] = {"none", "virtio", "ignore", "garbage"};

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum guest_balloon_mode)i;
			return 0;
		}
	return -EINVAL;
}

static uint32_t rd(const struct guest_balloon *b, unsigned off, unsigned len)
{
	return b->ops->io_read(b->ctx, off, len);
}

static void wr(struct guest_balloon *b, unsigned off, uint32_t v, unsigned len)
{
	b->ops->io_write(b->ctx, off, v, len);
}

static uint64_t ring_pages(uint16_t qsize)
{
	return (balloon_vring_legacy_size(qsize) + MEM_PAGE_SIZE - 1) / MEM_PAGE_SIZE;
}

uint64_t guest_balloon_probe(const struct guest_params *p, uint16_t qsize[BALLOON_VQ_NR])
{
	struct guest_balloon b = {.ops = p->balloon, .ctx = p->balloon_ctx};
	uint64_t frames = 1; /* the buffer page */

	memset(qsize, 0, BALLOON_VQ_NR * sizeof(*qsize));
	if (!p->balloon || p->balloon_mode == GUEST_BALLOON_NONE)
		return 0;
	wr(&b, BALLOON_PCI_STATUS, 0, 1); /* reset: a new kernel knows nothing */
	wr(&b, BALLOON_PCI_STATUS, BALLOON_STATUS_ACKNOWLEDGE | BALLOON_STATUS_DRIVER, 1);
	for (unsigned q = 0; q < BALLOON_VQ_NR; q++) {
		uint16_t n;

		wr(&b, BALLOON_PCI_QUEUE_SEL, q, 2);
		n = (uint16_t)rd(&b, BALLOON_PCI_QUEUE_NUM, 2);
		/* a size that is no power of two, or too big, is the device's
		 * bug: the queue is left alone */
		if (!n || (n & (n - 1)) || n > BALLOON_VRING_MAX)
			continue;
		qsize[q] = n;
		frames += ring_pages(n);
	}
	return qsize[BALLOON_VQ_INFLATE] && qsize[BALLOON_VQ_DEFLATE] ? frames : 0;
}

/* Give up on the device: the guest runs on without a balloon. */
static int bl_dead(struct guest_balloon *b)
{
	b->dead = true;
	b->work = false;
	return 0;
}

/* Post a buffer of len bytes at addr on queue q and kick. */
static int bl_post(struct guest_os *g, unsigned q, gpa_t addr, uint32_t len)
{
	struct guest_balloon *b = &g->bl;
	uint16_t head = b->avail[q] % b->qsize[q], idx = (uint16_t)(b->avail[q] + 1);
	struct balloon_vring_desc d = {.addr = addr, .len = len};
	gpa_t avail = balloon_vring_legacy_avail(b->ring[q], b->qsize[q]);
	int r;

	if ((r = guest_phys(g, b->ring[q] + (gpa_t)head * BALLOON_VRING_DESC_SIZE, &d, sizeof(d),
			    MMU_WRITE)) ||
	    (r = guest_phys(g, avail + 4 + 2u * head, &head, 2, MMU_WRITE)) ||
	    (r = guest_phys(g, avail + 2, &idx, 2, MMU_WRITE)))
		return r;
	b->avail[q] = idx;
	wr(b, BALLOON_PCI_QUEUE_NOTIFY, q, 2);
	g->st.balloon_kicks++;
	return 0;
}

/* Used entries the device added to queue q since we last looked. */
static int bl_used(struct guest_os *g, unsigned q, uint16_t *n)
{
	struct guest_balloon *b = &g->bl;
	uint16_t idx;
	int r = guest_phys(g, balloon_vring_legacy_used(b->ring[q], b->qsize[q]) + 2, &idx, 2,
			   MMU_READ);

	if (r)
		return r;
	*n = (uint16_t)(idx - b->used[q]);
	return 0;
}

/* Post on inflate/deflate and expect the buffer back at once. */
static int bl_send(struct guest_os *g, unsigned q, gpa_t addr, uint32_t len)
{
	struct guest_balloon *b = &g->bl;
	uint16_t n = 0;
	int r = bl_post(g, q, addr, len);

	if (!r)
		r = bl_used(g, q, &n);
	if (r)
		return r;
	if (n != 1) {
		snprintf(b->err, sizeof(b->err),
			 "balloon: the device returned %u buffers for 1 on queue %u (status 0x%x)",
			 n, q, rd(b, BALLOON_PCI_STATUS, 1));
		return bl_dead(b);
	}
	b->used[q]++;
	return 0;
}

static void bl_actual(struct guest_balloon *b)
{
	uint32_t a = (uint32_t)b->npages;

	if (b->mode == GUEST_BALLOON_GARBAGE)
		a = b->target; /* a claim the host must not believe */
	wr(b, BALLOON_PCI_CONFIG + BALLOON_CFG_ACTUAL, a, 4);
}

/* Fill and post the statistics buffer (Linux's update_balloon_stats). */
static int bl_stats(struct guest_os *g)
{
	struct guest_balloon *b = &g->bl;
	const struct guest_stats *st = &g->st;
	struct balloon_stat s[] = {
	    {BALLOON_S_SWAP_IN, st->swap_ins * MEM_PAGE_SIZE},
	    {BALLOON_S_SWAP_OUT, st->swap_outs * MEM_PAGE_SIZE},
	    {BALLOON_S_MAJFLT, st->swap_ins},
	    {BALLOON_S_MINFLT, st->page_faults - st->swap_ins},
	    {BALLOON_S_MEMFREE, g->nfree * MEM_PAGE_SIZE},
	    {BALLOON_S_MEMTOT, g->pages * MEM_PAGE_SIZE},
	    {BALLOON_S_AVAIL, (g->nfree + g->nuser) * MEM_PAGE_SIZE},
	};
	int r = guest_phys(g, b->buf[BALLOON_VQ_STATS], s, sizeof(s), MMU_WRITE);

	return r ? r : bl_post(g, BALLOON_VQ_STATS, b->buf[BALLOON_VQ_STATS], sizeof(s));
}

int guest_balloon_init(struct guest_os *g)
{
	struct guest_balloon *b = &g->bl;
	gfn_t f = b->base;
	int r;

	if (!b->frames)
		return 0;
	/* rings and buffers read as zeros, whatever a previous boot left */
	for (gfn_t k = b->base; k < b->base + b->frames; k++) {
		r = guest_phys(g, mem_gfn_to_gpa(k), g->zero, MEM_PAGE_SIZE, MMU_WRITE);
		if (r)
			return r;
	}
	b->features = rd(b, BALLOON_PCI_HOST_FEATURES, 4) & BL_DRIVER_FEATURES;
	if (!(b->features & BALLOON_FEATURE(BALLOON_F_STATS_VQ)))
		b->qsize[BALLOON_VQ_STATS] = 0;
	wr(b, BALLOON_PCI_GUEST_FEATURES, (uint32_t)b->features, 4);
	for (unsigned q = 0; q < BALLOON_VQ_NR; q++) {
		if (!b->qsize[q])
			continue;
		b->ring[q] = mem_gfn_to_gpa(f);
		f += ring_pages(b->qsize[q]);
		wr(b, BALLOON_PCI_QUEUE_SEL, q, 2);
		wr(b, BALLOON_PCI_QUEUE_PFN, (uint32_t)(b->ring[q] >> BALLOON_PCI_QUEUE_PFN_SHIFT),
		   4);
	}
	b->buf[BALLOON_VQ_INFLATE] = mem_gfn_to_gpa(f);
	b->buf[BALLOON_VQ_DEFLATE] = mem_gfn_to_gpa(f) + GUEST_BALLOON_BATCH * 4;
	b->buf[BALLOON_VQ_STATS] = mem_gfn_to_gpa(f) + BL_BUF_STATS;
	wr(b, BALLOON_PCI_STATUS,
	   BALLOON_STATUS_ACKNOWLEDGE | BALLOON_STATUS_DRIVER | BALLOON_STATUS_DRIVER_OK, 1);
	if (rd(b, BALLOON_PCI_STATUS, 1) & BALLOON_STATUS_DEVICE_NEEDS_RESET) {
		snprintf(b->err, sizeof(b->err), "balloon: the device needs a reset at boot");
		return bl_dead(b);
	}
	b->up = true;
	if (b->qsize[BALLOON_VQ_STATS]) {
		r = bl_stats(g);
		if (r)
			return r;
	}
	b->target = rd(b, BALLOON_PCI_CONFIG + BALLOON_CFG_NUM_PAGES, 4);
	b->work = b->mode == GUEST_BALLOON_VIRTIO || b->mode == GUEST_BALLOON_GARBAGE;
	/* a target already set: reach it while booting, before anything
	 * runs, as the driver's first work item does on a fresh guest */
	while (b->work && !b->dead && b->mode == GUEST_BALLOON_VIRTIO) {
		uint64_t before = b->npages;

		r = guest_balloon_service(g);
		if (r)
			return r;
		if (b->npages == before)
			break; /* out of puff: the run retries later */
	}
	return 0;
}

/* Inflate by up to want pages (<= GUEST_BALLOON_BATCH): *moved gets how
 * many went in; 0 with an allocation failure starts the back-off. */
static int bl_fill(struct guest_os *g, uint64_t want, uint64_t *moved)
{
	struct guest_balloon *b = &g->bl;
	uint32_t pfns[GUEST_BALLOON_BATCH];
	unsigned n = 0;
	int r;

	*moved = 0;
	while (n < want) {
		gfn_t gfn;

		r = guest_frame_alloc_balloon(g, &gfn);
		if (r == -ENOMEM) {
			g->st.balloon_puffs++;
			b->retry_at = b->ops->clock_ns(b->ctx) + GUEST_BALLOON_RETRY_NS;
			break;
		}
		if (r)
			return r;
		/* on the balloon list, through mem_map */
		r = guest_phys_write64(g, guest_mm_gpa(gfn, GUEST_MM_NEXT), b->head);
		if (r)
			return r;
		b->head = gfn;
		b->npages++;
		pfns[n++] = (uint32_t)gfn;
	}
	if (!n)
		return 0;
	r = guest_phys(g, b->buf[BALLOON_VQ_INFLATE], pfns, n * 4u, MMU_WRITE);
	if (!r)
		r = bl_send(g, BALLOON_VQ_INFLATE, b->buf[BALLOON_VQ_INFLATE], n * 4u);
	if (r)
		return r;
	g->st.balloon_inflated += n;
	*moved = n;
	return 0;
}

/* Deflate by up to want pages (<= GUEST_BALLOON_BATCH): tell the host,
 * then give them back to the guest. */
static int bl_leak(struct guest_os *g, uint64_t want, uint64_t *moved)
{
	struct guest_balloon *b = &g->bl;
	uint32_t pfns[GUEST_BALLOON_BATCH];
	unsigned n = 0;
	int r;

	*moved = 0;
	for (gfn_t gfn = b->head; n < want && gfn; n++) {
		pfns[n] = (uint32_t)gfn;
		r = guest_phys_read64(g, guest_mm_gpa(gfn, GUEST_MM_NEXT), &gfn);
		if (r)
			return r;
		if (gfn && (gfn < g->first_data || gfn >= g->pages))
			return guest_detail(g, -EUCLEAN,
					    "balloon list corrupt: next %" PRIu64 " after %u", gfn,
					    pfns[n]);
	}
	if (!n)
		return 0;
	r = guest_phys(g, b->buf[BALLOON_VQ_DEFLATE], pfns, n * 4u, MMU_WRITE);
	if (!r)
		r = bl_send(g, BALLOON_VQ_DEFLATE, b->buf[BALLOON_VQ_DEFLATE], n * 4u);
	if (r || b->dead)
		return r; /* a device that did not answer keeps the pages */
	for (unsigned i = 0; i < n; i++) {
		gfn_t next;

		r = guest_phys_read64(g, guest_mm_gpa(pfns[i], GUEST_MM_NEXT), &next);
		if (!r)
			r = guest_frame_free(g, pfns[i]);
		if (r)
			return r;
		b->head = next;
		b->npages--;
	}
	g->st.balloon_deflated += n;
	*moved = n;
	return 0;
}

/* Garbage mode: one batch no device may accept, a different kind each
 * time. */
static int bl_garbage(struct guest_os *g)
{
	struct guest_balloon *b = &g->bl;
	gpa_t buf = b->buf[BALLOON_VQ_INFLATE];
	uint32_t pfns[4] = {(uint32_t)g->first_data, (uint32_t)g->first_data + 1,
			    (uint32_t)g->pages + 7, 0};
	uint32_t len = 12;
	int r;

	switch (b->garbage++ % 4) {
	case 0: /* a frame beyond guest memory */
		break;
	case 1: /* a frame twice */
		pfns[2] = pfns[0];
		break;
	case 2: /* a partial entry */
		len = 6;
		break;
	default: /* a buffer outside guest memory */
		buf = mem_gfn_to_gpa(g->pages) + 64;
		break;
	}
	r = guest_phys(g, b->buf[BALLOON_VQ_INFLATE], pfns, sizeof(pfns), MMU_WRITE);
	return r ? r : bl_send(g, BALLOON_VQ_INFLATE, buf, len);
}

/* A queue interrupt: the device returned the statistics buffer. */
static int bl_queue_irq(struct guest_os *g)
{
	struct guest_balloon *b = &g->bl;
	uint16_t n;
	int r;

	if (!b->qsize[BALLOON_VQ_STATS])
		return 0;
	r = bl_used(g, BALLOON_VQ_STATS, &n);
	if (r || !n)
		return r;
	b->used[BALLOON_VQ_STATS] += n;
	return bl_stats(g);
}

int guest_balloon_service(struct guest_os *g)
{
	struct guest_balloon *b = &g->bl;
	uint64_t done = 0, moved;
	int r = 0;

	if (!b->up || b->dead) {
		b->irq = b->work = false;
		return 0;
	}
	if (b->irq) {
		uint32_t isr = rd(b, BALLOON_PCI_ISR, 1); /* reading clears it */

		b->irq = false;
		g->st.balloon_irqs++;
		if (isr & BALLOON_ISR_CONFIG) {
			b->target = rd(b, BALLOON_PCI_CONFIG + BALLOON_CFG_NUM_PAGES, 4);
			b->work = b->mode != GUEST_BALLOON_IGNORE;
		}
		if (isr & BALLOON_ISR_QUEUE)
			r = bl_queue_irq(g);
		if (r)
			return r;
	}
	if (!b->work || b->ops->clock_ns(b->ctx) < b->retry_at)
		return 0;
	if (b->mode == GUEST_BALLOON_GARBAGE) {
		b->work = false;
		r = bl_garbage(g);
		bl_actual(b);
		return r;
	}
	while (!r && !b->dead && done < GUEST_BALLOON_WORK_MAX && b->npages != b->target &&
	       b->ops->clock_ns(b->ctx) >= b->retry_at) {
		uint64_t gap =
		    b->target > b->npages ? b->target - b->npages : b->npages - b->target;

		if (gap > GUEST_BALLOON_BATCH)
			gap = GUEST_BALLOON_BATCH;
		r = b->target > b->npages ? bl_fill(g, gap, &moved) : bl_leak(g, gap, &moved);
		if (!r && !moved)
			break; /* out of puff: retry_at is set */
		done += moved;
	}
	if (b->npages == b->target)
		b->work = false;
	bl_actual(b);
	return r;
}

int guest_balloon_oom(struct guest_os *g, uint64_t *freed)
{
	struct guest_balloon *b = &g->bl;
	int r;

	*freed = 0;
	if (!b->up || b->dead || b->mode != GUEST_BALLOON_VIRTIO || !b->npages ||
	    !(b->features & BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM)))
		return 0;
	r = bl_leak(g, b->npages < BALLOON_OOM_NR_PAGES ? b->npages : BALLOON_OOM_NR_PAGES, freed);
	if (r)
		return r;
	g->st.balloon_oom += *freed;
	bl_actual(b);
	return 0;
}
