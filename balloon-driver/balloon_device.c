/* SPDX-License-Identifier: MIT */
/* balloon_device: the host-side virtio-balloon device, transport-neutral. */
/*
 * State. The device owns one bit per guest frame (`ballooned`): set when
 * the frame was verified and discarded through ops->discard, cleared when
 * the guest deflates it or resets the device. actual = popcount(ballooned),
 * kept as a counter. A second bitmap, `seen`, is all zero between batches
 * and marks the frames of the batch being checked, which finds duplicates
 * in O(batch) without sorting or allocating.
 *
 * A batch (one chain of the inflate or deflate queue) goes through two
 * passes. Pass one reads every PFN into d->batch and checks it: below
 * guest_pages, ops->pfn_ok, not yet in the batch, and not ballooned
 * (inflate) or ballooned (deflate). Any failure clears `seen`, returns the
 * chain unused (used length 0) and counts it: nothing on the host changed.
 * Pass two acts, coalescing runs of consecutive frames into one
 * ops->discard (inflate) or ops->reclaim (deflate) call. A discard that
 * fails mid-batch leaves the frames before it ballooned (they were freed)
 * and the rest with the guest, and reports -EIO: the host is in trouble,
 * not the guest.
 *
 * Deflate-on-OOM. Linux deflates BALLOON_OOM_NR_PAGES on every OOM
 * notification when F_DEFLATE_ON_OOM is negotiated, without being asked;
 * every deflate that takes actual below the advertised target is counted
 * in deflated_unasked, which is how the policy sees memory pressure.
 *
 * Statistics. The driver leaves one buffer in the stats queue; the device
 * holds it until it wants fresh numbers (balloon_request_stats), then
 * returns it; the driver refills and re-queues it, and the device reads
 * the 10-byte tag/value entries (unknown tags ignored, as the spec says).
 * The first buffer after DRIVER_OK is read at once.
 *
 * Targets. The policy's wish is clamped to guest_pages - min_guest_pages
 * and reached at rate_pages per second of balloon_tick time, so a policy
 * step does not make the guest reclaim faster than it can (vmmemctl's rate
 * limit); 0 disables the limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balloon-driver/balloon_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "virtio fields are little-endian; the device reads them natively");
_Static_assert(sizeof(struct balloon_stat) == BALLOON_STAT_SIZE, "packed stat");
_Static_assert(sizeof(struct balloon_vring_desc) == BALLOON_VRING_DESC_SIZE, "desc");

#define OFFERABLE                                                                                  \
	(BALLOON_FEATURE(BALLOON_F_MUST_TELL_HOST) | BALLOON_FEATURE(BALLOON_F_STATS_VQ) |         \
	 BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM))

static bool bit_test(const uint64_t *map, uint64_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}
static void bit_set(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ull << (i % 64);
}
static void bit_clear(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ull << (i % 64));
}

struct balloon *balloon_create(const struct balloon_params *p, const struct balloon_ops *ops,
			       void *ctx)
{
	struct balloon *d;
	size_t words;

	if (!p->guest_pages || p->guest_pages > (1ull << 32) ||
	    p->min_guest_pages > p->guest_pages || p->queue_size < 2 ||
	    p->queue_size > BALLOON_VRING_MAX || (p->queue_size & (p->queue_size - 1)) ||
	    (p->features & ~OFFERABLE) || !ops->read || !ops->write || !ops->discard ||
	    !ops->interrupt) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	words = (p->guest_pages + 63) / 64;
	d->ballooned = calloc(words, sizeof(uint64_t));
	d->seen = calloc(words, sizeof(uint64_t));
	d->batch = malloc(BALLOON_MAX_BATCH * sizeof(uint32_t));
	if (!d->ballooned || !d->seen || !d->batch) {
		balloon_destroy(d);
		errno = ENOMEM;
		return NULL;
	}
	d->p = *p;
	d->ops = ops;
	d->ctx = ctx;
	return d;
}

void balloon_destroy(struct balloon *d)
{
	if (!d)
		return;
	free(d->ballooned);
	free(d->seen);
	free(d->batch);
	free(d);
}

uint64_t balloon_host_features(const struct balloon *d)
{
	return d->p.features;
}

int balloon_set_features(struct balloon *d, uint64_t features)
{
	int r = 0;

	if (features & ~d->p.features) {
		balloon_error(d, "driver acked features 0x%llx not offered (0x%llx)",
			      (unsigned long long)features, (unsigned long long)d->p.features);
		r = -EINVAL;
	}
	d->c.features = features & d->p.features;
	return r;
}

uint8_t balloon_status(const struct balloon *d)
{
	return d->c.status;
}

/* Notifications go to a driver that set DRIVER_OK; before that (during
 * the guest's boot, or after a reset) a target change waits: the driver
 * reads num_pages when it starts. */
static void raise_irq(struct balloon *d, unsigned cause)
{
	if (!(d->c.status & BALLOON_STATUS_DRIVER_OK))
		return;
	d->c.interrupts++;
	d->ops->interrupt(d->ctx, cause);
}

static bool queue_exists(const struct balloon *d, unsigned q)
{
	return q < BALLOON_VQ_INFLATE + 2 ||
	       (q == BALLOON_VQ_STATS && (d->p.features & BALLOON_FEATURE(BALLOON_F_STATS_VQ)));
}

uint16_t balloon_queue_size(const struct balloon *d, unsigned q)
{
	return queue_exists(d, q) ? d->p.queue_size : 0;
}

int balloon_queue_set(struct balloon *d, unsigned q, uint16_t num, uint64_t desc, uint64_t avail,
		      uint64_t used)
{
	uint64_t ram = d->p.guest_pages << BALLOON_PFN_SHIFT;
	struct balloon_vq *vq;

	if (!queue_exists(d, q))
		return -EINVAL;
	vq = &d->vq[q];
	memset(vq, 0, sizeof(*vq));
	if (!desc)
		return 0;
	if (!num || num > d->p.queue_size || (num & (num - 1)) || desc % 16 || avail % 2 ||
	    used % 4 || desc > ram || (uint64_t)num * 16 > ram - desc || avail > ram ||
	    BALLOON_VRING_AVAIL_SIZE(num) > ram - avail || used > ram ||
	    BALLOON_VRING_USED_SIZE(num) > ram - used) {
		balloon_error(d,
			      "queue %u: rings at 0x%llx/0x%llx/0x%llx of size %u do not fit "
			      "guest memory",
			      q, (unsigned long long)desc, (unsigned long long)avail,
			      (unsigned long long)used, num);
		return -EINVAL;
	}
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

uint64_t balloon_queue_desc(const struct balloon *d, unsigned q)
{
	return q < BALLOON_VQ_NR ? d->vq[q].desc : 0;
}

/* Clear `seen` for the first n frames of the batch. */
static void unsee(struct balloon *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		bit_clear(d->seen, d->batch[i]);
}

/* Pass one: read and check the frames of the chain. Returns the count or
 * -EINVAL with d->err set; `seen` is clear again on return. */
static int batch_check(struct balloon *d, unsigned q, const struct balloon_seg *segs, unsigned nseg)
{
	bool inflate = q == BALLOON_VQ_INFLATE;
	unsigned n = 0;

	for (unsigned s = 0; s < nseg; s++) {
		if (d->ops->read(d->ctx, segs[s].addr, d->batch + n, segs[s].len)) {
			unsee(d, n);
			balloon_error(d, "%s queue: buffer at 0x%llx unreadable",
				      inflate ? "inflate" : "deflate",
				      (unsigned long long)segs[s].addr);
			return -EINVAL;
		}
		for (unsigned end = n + segs[s].len / 4; n < end; n++) {
			uint32_t pfn = d->batch[n];
			const char *why = NULL;

			if (pfn >= d->p.guest_pages)
				why = "beyond guest memory";
			else if (d->ops->pfn_ok && !d->ops->pfn_ok(d->ctx, pfn))
				why = "not guest RAM";
			else if (bit_test(d->seen, pfn))
				why = "listed twice in the batch";
			else if (inflate && bit_test(d->ballooned, pfn))
				why = "already ballooned";
			else if (!inflate && !bit_test(d->ballooned, pfn))
				why = "not ballooned";
			if (why) {
				unsee(d, n);
				balloon_error(d, "%s queue: frame %u (entry %u of the batch) %s",
					      inflate ? "inflate" : "deflate", pfn, n, why);
				return -EINVAL;
			}
			bit_set(d->seen, pfn);
		}
	}
	unsee(d, n);
	return (int)n;
}

/* Pass two: act on n checked frames, a call per run of consecutive ones. */
static int batch_apply(struct balloon *d, bool inflate, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned j = i + 1;
		int r = 0;

		while (j < n && d->batch[j] == d->batch[j - 1] + 1)
			j++;
		if (inflate)
			r = d->ops->discard(d->ctx, d->batch[i], j - i);
		else if (d->ops->reclaim)
			r = d->ops->reclaim(d->ctx, d->batch[i], j - i);
		if (r) {
			d->c.discard_errors++;
			balloon_error(d, "%s of frames %u..%u failed: %s",
				      inflate ? "discard" : "reclaim", d->batch[i], d->batch[j - 1],
				      strerror(-r));
			return -EIO;
		}
		for (unsigned k = i; k < j; k++) {
			if (inflate)
				bit_set(d->ballooned, d->batch[k]);
			else
				bit_clear(d->ballooned, d->batch[k]);
		}
		if (inflate) {
			d->c.actual += j - i;
			d->c.inflated += j - i;
		} else {
			d->c.actual -= j - i;
			d->c.deflated += j - i;
			if (d->c.actual < d->num_pages)
				d->c.deflated_unasked += d->num_pages - d->c.actual < j - i
							     ? d->num_pages - d->c.actual
							     : j - i;
		}
		i = j;
	}
	return 0;
}

/* Read a stats buffer: tag/value pairs, unknown tags ignored. */
static void stats_read(struct balloon *d, const struct balloon_seg *segs, unsigned nseg)
{
	for (unsigned s = 0; s < nseg; s++)
		for (uint32_t off = 0; off < segs[s].len; off += BALLOON_STAT_SIZE) {
			struct balloon_stat st;

			if (d->ops->read(d->ctx, segs[s].addr + off, &st, sizeof(st)))
				return;
			if (st.tag < BALLOON_S_NR) {
				d->c.stats[st.tag] = st.val;
				d->c.stats_seen |= 1ull << st.tag;
			}
		}
	d->c.stats_updates++;
}

/* Serve one chain of queue q. Returns 0 (served or rejected), -EIO. */
static int serve_chain(struct balloon *d, unsigned q, uint16_t head, bool *irq)
{
	struct balloon_vq *vq = &d->vq[q];
	struct balloon_seg segs[BALLOON_MAX_SEGS];
	bool stats = q == BALLOON_VQ_STATS;
	uint32_t total;
	int n, r = 0;

	n = balloon_vq_chain(d, vq, head, segs, BALLOON_MAX_SEGS, stats ? BALLOON_STAT_SIZE : 4u,
			     stats ? BALLOON_STAT_SIZE * 64u : BALLOON_MAX_BATCH * 4u, &total);
	if (n >= 0 && stats) {
		stats_read(d, segs, (unsigned)n);
		/* hold the buffer until the next request */
		d->stats_held = true;
		d->stats_head = head;
		return 0;
	}
	if (n >= 0)
		n = batch_check(d, q, segs, (unsigned)n);
	if (n < 0) {
		d->c.rejected_batches++;
		d->c.rejected_pfns += total / 4;
	} else {
		if (q == BALLOON_VQ_INFLATE)
			d->c.inflate_batches++;
		else
			d->c.deflate_batches++;
		r = batch_apply(d, q == BALLOON_VQ_INFLATE, (unsigned)n);
	}
	if (balloon_vq_push(d, vq, head, 0)) {
		balloon_error(d, "queue %u: used ring unwritable", q);
		vq->broken = true;
		d->c.ring_errors++;
		return -EPROTO;
	}
	*irq = true;
	return r;
}

int balloon_queue_notify(struct balloon *d, unsigned q)
{
	struct balloon_vq *vq;
	bool irq = false;
	uint16_t head;
	int r = 0, got;

	if (q >= BALLOON_VQ_NR || !queue_exists(d, q))
		return -EINVAL;
	d->c.notifies++;
	vq = &d->vq[q];
	if (!vq->num)
		return 0; /* a kick before the queue was placed: nothing there */
	if (q == BALLOON_VQ_STATS && d->stats_held)
		return 0; /* the driver kicked again; one buffer is the protocol */
	while (!r && (got = balloon_vq_pop(d, vq, &head)) == 1) {
		r = serve_chain(d, q, head, &irq);
		if (q == BALLOON_VQ_STATS)
			break;
	}
	if (!r && got < 0)
		r = got;
	if (irq && balloon_vq_wants_irq(d, vq))
		raise_irq(d, BALLOON_IRQ_VQ);
	return r;
}

int balloon_request_stats(struct balloon *d)
{
	struct balloon_vq *vq = &d->vq[BALLOON_VQ_STATS];

	if (!d->stats_held || vq->broken)
		return -EAGAIN;
	d->stats_held = false;
	if (balloon_vq_push(d, vq, d->stats_head, 0))
		return -EAGAIN;
	raise_irq(d, BALLOON_IRQ_VQ);
	return 0;
}

void balloon_config_read(const struct balloon *d, unsigned off, void *buf, unsigned len)
{
	uint8_t cfg[BALLOON_CFG_SIZE];

	memcpy(cfg + BALLOON_CFG_NUM_PAGES, &d->num_pages, 4);
	memcpy(cfg + BALLOON_CFG_ACTUAL, &d->guest_actual, 4);
	memset(buf, 0, len);
	if (off < BALLOON_CFG_SIZE)
		memcpy(buf, cfg + off, len < BALLOON_CFG_SIZE - off ? len : BALLOON_CFG_SIZE - off);
}

void balloon_config_write(struct balloon *d, unsigned off, const void *buf, unsigned len)
{
	uint8_t a[4];

	/* only actual is the driver's; a partial write updates its bytes */
	if (off < BALLOON_CFG_ACTUAL || off >= BALLOON_CFG_SIZE || len > BALLOON_CFG_SIZE - off)
		return;
	memcpy(a, &d->guest_actual, 4);
	memcpy(a + (off - BALLOON_CFG_ACTUAL), buf, len);
	memcpy(&d->guest_actual, a, 4);
	d->c.guest_actual = d->guest_actual;
}

void balloon_reset(struct balloon *d)
{
	uint64_t words = (d->p.guest_pages + 63) / 64;

	/* Give every ballooned frame back; runs of set bits, one call each. */
	for (uint64_t pfn = 0; pfn < d->p.guest_pages;) {
		uint64_t end;

		if (!d->ballooned[pfn / 64] && pfn % 64 == 0) {
			pfn += 64;
			continue;
		}
		if (!bit_test(d->ballooned, pfn)) {
			pfn++;
			continue;
		}
		for (end = pfn + 1; end < d->p.guest_pages && bit_test(d->ballooned, end); end++)
			;
		if (d->ops->reclaim && d->ops->reclaim(d->ctx, pfn, end - pfn))
			d->c.discard_errors++;
		pfn = end;
	}
	memset(d->ballooned, 0, words * sizeof(uint64_t));
	if (d->c.actual || d->c.status)
		d->c.resets++;
	d->c.actual = 0;
	d->c.features = 0;
	d->c.status = 0;
	d->guest_actual = 0;
	d->c.guest_actual = 0;
	d->stats_held = false;
	memset(d->vq, 0, sizeof(d->vq));
}

void balloon_set_status(struct balloon *d, uint8_t status)
{
	if (!status) {
		balloon_reset(d);
		return;
	}
	d->c.status = status | (d->c.status & BALLOON_STATUS_DEVICE_NEEDS_RESET);
}

uint64_t balloon_set_target(struct balloon *d, uint64_t pages)
{
	uint64_t max = d->p.guest_pages - d->p.min_guest_pages;

	d->wanted = pages < max ? pages : max;
	d->c.wanted = d->wanted;
	if (!d->p.rate_pages && d->num_pages != d->wanted) {
		d->num_pages = (uint32_t)d->wanted;
		d->c.target = d->num_pages;
		d->c.config_changes++;
		raise_irq(d, BALLOON_IRQ_CONFIG);
	}
	return d->wanted;
}

bool balloon_tick(struct balloon *d, uint64_t elapsed_ns)
{
	uint64_t step, gap;

	if (d->num_pages == d->wanted) {
		d->target_credit = 0;
		return false;
	}
	if (!d->p.rate_pages) {
		step = UINT64_MAX;
	} else {
		d->target_credit += (double)d->p.rate_pages * (double)elapsed_ns / 1e9;
		step = (uint64_t)d->target_credit;
		if (!step)
			return false;
		d->target_credit -= (double)step;
	}
	gap = d->wanted > d->num_pages ? d->wanted - d->num_pages : d->num_pages - d->wanted;
	if (step > gap)
		step = gap;
	d->num_pages =
	    (uint32_t)(d->wanted > d->num_pages ? d->num_pages + step : d->num_pages - step);
	d->c.target = d->num_pages;
	d->c.config_changes++;
	raise_irq(d, BALLOON_IRQ_CONFIG);
	return true;
}

bool balloon_pfn_ballooned(const struct balloon *d, uint64_t pfn)
{
	return pfn < d->p.guest_pages && bit_test(d->ballooned, pfn);
}

void balloon_counters(const struct balloon *d, struct balloon_counters *c)
{
	*c = d->c;
	c->target = d->num_pages;
	c->wanted = d->wanted;
}

const char *balloon_last_error(const struct balloon *d)
{
	return d->err;
}
