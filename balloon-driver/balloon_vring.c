/* SPDX-License-Identifier: MIT */
/* balloon_vring: the device side of a split virtqueue, every index checked. */
/*
 * A split virtqueue (virtio 2.7) is three arrays in guest memory that the
 * guest can rewrite at any moment, from another CPU, maliciously. The
 * device therefore copies each field out once (through ops->read, never a
 * pointer it keeps) and decides on the copy:
 *
 *   avail.idx   free-running; avail.idx - last_avail counts the new heads
 *               and may not exceed num (else the index is broken: the
 *               queue is marked broken and never served again, as a device
 *               that sets DEVICE_NEEDS_RESET);
 *   ring[i]     a head below num;
 *   desc[h]     addr/len inside guest memory (gpa + len computed without
 *               overflow), flags without WRITE (every balloon queue is
 *               device-readable) or INDIRECT (not offered), len a multiple
 *               of the element size, next below num;
 *   a chain     at most num descriptors: one more is a loop.
 *
 * A bad descriptor spoils its chain only: the caller returns the chain
 * unused. Used entries are written before the used index, with a release
 * fence between; the available ring is read after its index, with an
 * acquire fence, so a guest on another CPU sees the order the
 * specification promises.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "balloon-driver/balloon_internal.h"

void balloon_error(struct balloon *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
}

/* Is [gpa, gpa + len) inside guest RAM? */
static bool in_ram(const struct balloon *d, uint64_t gpa, uint64_t len)
{
	uint64_t end = d->p.guest_pages << BALLOON_PFN_SHIFT;

	return gpa <= end && len <= end - gpa;
}

static int rd16(struct balloon *d, uint64_t gpa, uint16_t *v)
{
	return d->ops->read(d->ctx, gpa, v, sizeof(*v));
}

static const char *vq_name(const struct balloon *d, const struct balloon_vq *vq)
{
	static const char *const names[BALLOON_VQ_NR] = {"inflate", "deflate", "stats"};

	return names[vq - d->vq];
}

int balloon_vq_pop(struct balloon *d, struct balloon_vq *vq, uint16_t *head)
{
	uint16_t idx, pending;

	if (vq->broken)
		return -EPROTO;
	if (rd16(d, vq->avail + 2, &idx))
		goto broken_read;
	pending = (uint16_t)(idx - vq->last_avail);
	if (!pending)
		return 0;
	if (pending > vq->num) {
		balloon_error(d,
			      "%s queue: available index %u is %u entries ahead of %u "
			      "(queue size %u)",
			      vq_name(d, vq), idx, pending, vq->last_avail, vq->num);
		goto broken;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (rd16(d, vq->avail + 4 + 2u * (vq->last_avail % vq->num), head))
		goto broken_read;
	if (*head >= vq->num) {
		balloon_error(d, "%s queue: available ring entry %u holds head %u >= size %u",
			      vq_name(d, vq), vq->last_avail % vq->num, *head, vq->num);
		goto broken;
	}
	vq->last_avail++;
	return 1;

broken_read:
	balloon_error(d, "%s queue: available ring unreadable", vq_name(d, vq));
broken:
	vq->broken = true;
	d->c.ring_errors++;
	d->c.status |= BALLOON_STATUS_DEVICE_NEEDS_RESET;
	return -EPROTO;
}

int balloon_vq_chain(struct balloon *d, const struct balloon_vq *vq, uint16_t head,
		     struct balloon_seg *segs, unsigned max, uint32_t unit, uint32_t maxlen,
		     uint32_t *total)
{
	unsigned n = 0, hops = 0;
	uint16_t i = head;

	*total = 0;
	for (;;) {
		struct balloon_vring_desc desc;

		if (++hops > vq->num) {
			balloon_error(d,
				      "%s queue: chain at head %u loops (more than %u descriptors)",
				      vq_name(d, vq), head, vq->num);
			return -EINVAL;
		}
		if (d->ops->read(d->ctx, vq->desc + (uint64_t)i * BALLOON_VRING_DESC_SIZE, &desc,
				 sizeof(desc))) {
			balloon_error(d, "%s queue: descriptor %u unreadable", vq_name(d, vq), i);
			return -EINVAL;
		}
		if (desc.flags & (BALLOON_VRING_DESC_F_WRITE | BALLOON_VRING_DESC_F_INDIRECT)) {
			balloon_error(d, "%s queue: descriptor %u has flags 0x%x (%s)",
				      vq_name(d, vq), i, desc.flags,
				      (desc.flags & BALLOON_VRING_DESC_F_INDIRECT)
					  ? "indirect, not negotiated"
					  : "device-writable, expected readable");
			return -EINVAL;
		}
		if (desc.len % unit || !in_ram(d, desc.addr, desc.len)) {
			balloon_error(d, "%s queue: descriptor %u: buffer 0x%llx+%u %s",
				      vq_name(d, vq), i, (unsigned long long)desc.addr, desc.len,
				      desc.len % unit ? "has a partial element"
						      : "lies outside guest memory");
			return -EINVAL;
		}
		if (desc.len > maxlen - *total) {
			balloon_error(d, "%s queue: chain at head %u longer than %u bytes",
				      vq_name(d, vq), head, maxlen);
			return -EINVAL;
		}
		if (desc.len) {
			if (n == max) {
				balloon_error(d, "%s queue: chain at head %u has over %u buffers",
					      vq_name(d, vq), head, max);
				return -EINVAL;
			}
			segs[n].addr = desc.addr;
			segs[n].len = desc.len;
			n++;
			*total += desc.len;
		}
		if (!(desc.flags & BALLOON_VRING_DESC_F_NEXT))
			return (int)n;
		if (desc.next >= vq->num) {
			balloon_error(d, "%s queue: descriptor %u links to %u >= size %u",
				      vq_name(d, vq), i, desc.next, vq->num);
			return -EINVAL;
		}
		i = desc.next;
	}
}

int balloon_vq_push(struct balloon *d, struct balloon_vq *vq, uint16_t head, uint32_t len)
{
	struct balloon_vring_used_elem e = {.id = head, .len = len};
	uint64_t slot = vq->used + 4 + (uint64_t)(vq->used_idx % vq->num) * sizeof(e);
	uint16_t idx = (uint16_t)(vq->used_idx + 1);

	if (d->ops->write(d->ctx, slot, &e, sizeof(e)))
		return -EFAULT;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (d->ops->write(d->ctx, vq->used + 2, &idx, sizeof(idx)))
		return -EFAULT;
	vq->used_idx = idx;
	return 0;
}

bool balloon_vq_wants_irq(struct balloon *d, const struct balloon_vq *vq)
{
	uint16_t flags = 0;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (rd16(d, vq->avail, &flags))
		return true;
	return !(flags & BALLOON_VRING_AVAIL_F_NO_INTERRUPT);
}
