/* SPDX-License-Identifier: MIT */
/* balloon_internal: the device's state and its split-ring reader, shared by
 * balloon_device.c and balloon_vring.c only. */
#ifndef BALLOON_DRIVER_BALLOON_INTERNAL_H
#define BALLOON_DRIVER_BALLOON_INTERNAL_H

#include "balloon-driver/balloon.h"

/* Largest batch the device takes in one chain, 4 KiB frames (Linux sends
 * at most 256; a longer chain is rejected, not truncated). */
#define BALLOON_MAX_BATCH 4096u
/* Most segments in one chain the device gathers (<= queue size anyway). */
#define BALLOON_MAX_SEGS 64u

/* One split virtqueue as the device tracks it. */
struct balloon_vq {
	uint16_t num;	     /* entries; 0: the queue is disabled */
	uint64_t desc;	     /* gpa of the descriptor table */
	uint64_t avail;	     /* gpa of the available ring */
	uint64_t used;	     /* gpa of the used ring */
	uint16_t last_avail; /* free-running: next available entry to take */
	uint16_t used_idx;   /* free-running: next used entry to fill */
	bool broken;	     /* a broken index seen: served no more */
};

/* A device-readable buffer of a chain. */
struct balloon_seg {
	uint64_t addr; /* gpa */
	uint32_t len;  /* bytes */
};

struct balloon {
	struct balloon_params p;
	const struct balloon_ops *ops; /* borrowed */
	void *ctx;		       /* borrowed, the backend's */
	uint64_t *ballooned;	       /* bitmap, guest_pages bits */
	uint64_t *seen;		       /* bitmap for duplicate checks, all 0
					  between batches */
	uint32_t *batch;	       /* BALLOON_MAX_BATCH pfns */
	struct balloon_vq vq[BALLOON_VQ_NR];
	uint64_t wanted;       /* the policy's target, clamped */
	double target_credit;  /* pages the rate limit still allows */
	uint32_t num_pages;    /* advertised target */
	uint32_t guest_actual; /* the driver's claim */
	bool stats_held;       /* the device holds a stats buffer */
	uint16_t stats_head;   /* its head */
	struct balloon_counters c;
	char err[192];
};

/* Record a protocol error message (printf-style) in d->err. */
void balloon_error(struct balloon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Take the next available chain head of vq. Returns 1 with *head, 0 when
 * the ring is empty, -EPROTO when its index is broken (vq->broken set). */
int balloon_vq_pop(struct balloon *d, struct balloon_vq *vq, uint16_t *head) MUST_CHECK;
/* Gather the chain at head into segs (at most max). Every descriptor must
 * be device-readable, not indirect, inside guest memory, its length a
 * multiple of unit; the chain at most vq->num long and *total at most
 * maxlen bytes. Returns the number of segments, or -EINVAL for a bad chain
 * with d->err saying why. */
int balloon_vq_chain(struct balloon *d, const struct balloon_vq *vq, uint16_t head,
		     struct balloon_seg *segs, unsigned max, uint32_t unit, uint32_t maxlen,
		     uint32_t *total) MUST_CHECK;
/* Return chain head to the guest with len bytes written. 0 or -EFAULT. */
int balloon_vq_push(struct balloon *d, struct balloon_vq *vq, uint16_t head,
		    uint32_t len) MUST_CHECK;
/* Does the driver want an interrupt for used buffers (no NO_INTERRUPT)? */
bool balloon_vq_wants_irq(struct balloon *d, const struct balloon_vq *vq);

#endif
