/* SPDX-License-Identifier: MIT */
/*
 * balloon-driver: the host side of virtio-balloon, transport-neutral.
 *
 * A struct balloon is one guest's balloon device: its feature negotiation,
 * configuration (num_pages, actual), three split virtqueues in guest memory
 * (inflate, deflate, statistics) and the set of guest frames it has taken.
 * A transport puts it in front of a guest: the KVM backend behind legacy
 * virtio-PCI registers (vmm-core/virtio_pci.c), the soft backend directly,
 * with the queue addresses its freestanding guest driver chooses. The
 * device never includes vmm-core or <linux/kvm.h>; it reaches guest memory
 * and host frames only through the callbacks of struct balloon_ops.
 *
 * What the device guarantees, whatever the guest writes:
 *   - Rings are validated before use: the available index may run at most
 *     the queue size ahead of what the device consumed, heads and `next`
 *     links must be below the queue size, a chain longer than the queue
 *     size is a loop, descriptors must be device-readable (inflate,
 *     deflate, stats) and non-indirect, lengths a multiple of 4 (of 10 for
 *     stats) and inside guest memory. A broken ring index puts the device
 *     in DEVICE_NEEDS_RESET and it stops serving that guest's queues.
 *   - Each chain is a batch. Every frame of a batch is checked (below
 *     guest_pages, allowed by ops->pfn_ok, not already ballooned for
 *     inflate, ballooned for deflate, no duplicate within the batch) before
 *     anything happens; a bad batch is returned to the guest unused (used
 *     length 0), counted, and changes nothing on the host.
 *   - `actual` (balloon_actual in summaries) counts the frames the device
 *     verified and freed through ops->discard, never the guest's claim; the
 *     claim is kept beside it (guest_actual).
 *   - Targets are clamped to guest_pages - min_guest_pages and move towards
 *     the policy's wish at most rate_pages per second (balloon_tick), as
 *     ESX's vmmemctl limits its inflation rate.
 *   - No interrupt is raised before the driver sets DRIVER_OK: a target
 *     set while the guest boots waits for the driver to read num_pages.
 *   - A reset (the driver writes status 0, the guest reboots) loses the
 *     balloon: every frame goes back to the guest (ops->reclaim), actual
 *     returns to 0, and the reset is counted.
 *
 * Wiring a transport (what vmm-core/kvm_dev.c does for legacy virtio-PCI,
 * and what the soft backend's transport will do with direct calls):
 *   1. balloon_create() with the guest's size and the callbacks;
 *   2. forward the driver's status writes (balloon_set_status; 0 resets),
 *      feature acks (balloon_set_features), queue placement
 *      (balloon_queue_set, with the addresses the driver chose) and
 *      configuration accesses (balloon_config_read/write);
 *   3. on a queue kick, balloon_queue_notify(); the device answers
 *      through ops->interrupt, which the transport turns into the guest's
 *      interrupt (KVM: ISR bits and IRQ 5);
 *   4. the policy calls balloon_set_target(), balloon_tick() as time
 *      passes, balloon_request_stats(), and reads balloon_counters().
 * A guest-side driver (freestanding) needs only balloon_abi.h: it lays out
 * its rings as the spec says, posts arrays of 32-bit PFNs on the inflate
 * and deflate queues, one chain per batch, and writes `actual`.
 *
 * Threading: the device is not thread-safe. A transport calls it from one
 * thread at a time (the KVM backend holds a per-device lock across its
 * calls); callbacks are made from within those calls.
 *
 * Memory ordering with a guest running on other CPUs: the device reads the
 * available index, then (after an acquire fence) the ring entries and
 * descriptors; it writes used entries, then (after a release fence) the
 * used index, as the virtio specification requires.
 */
#ifndef BALLOON_DRIVER_BALLOON_H
#define BALLOON_DRIVER_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"
#include "balloon-driver/balloon_abi.h"

/* Interrupt causes passed to balloon_ops.interrupt. */
#define BALLOON_IRQ_VQ	   BALLOON_ISR_QUEUE  /* a used buffer was added */
#define BALLOON_IRQ_CONFIG BALLOON_ISR_CONFIG /* num_pages changed */

/*
 * What the backend supplies. `ctx` is the backend's, passed back as is.
 * Every gpa/pfn the device passes has been range-checked against
 * guest_pages first; the callbacks check again only what they know better.
 */
struct balloon_ops {
	/* Copy len bytes of guest-physical memory at gpa into buf, or buf into
	 * it. 0 or -EFAULT (outside guest RAM). Required. */
	int (*read)(void *ctx, uint64_t gpa, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t gpa, const void *buf, size_t len);
	/* Free the host memory behind guest frames [pfn, pfn + n), which the
	 * guest has given up: their contents need not survive (KVM: punch a
	 * hole in the memfd; soft: p2m resident -> ballooned). 0 or -errno.
	 * Required. */
	int (*discard)(void *ctx, uint64_t pfn, uint64_t n);
	/* The guest takes [pfn, pfn + n) back (deflate, or a reset): they must
	 * read as zeros or be re-populated on the next access. Optional (NULL:
	 * nothing to do, as on KVM where a punched page refaults zeroed). */
	int (*reclaim)(void *ctx, uint64_t pfn, uint64_t n);
	/* May this frame be ballooned (RAM, not a hole or a firmware area)?
	 * Optional (NULL: every pfn below guest_pages). */
	bool (*pfn_ok)(void *ctx, uint64_t pfn);
	/* Raise the device's interrupt for cause BALLOON_IRQ_*. Required. */
	void (*interrupt)(void *ctx, unsigned cause);
};

struct balloon_params {
	uint64_t guest_pages;	  /* 4 KiB frames of guest RAM (pfn < this); <= 2^32 */
	uint64_t min_guest_pages; /* never ask the guest for more than
				     guest_pages - this */
	uint64_t features;	  /* offered: BALLOON_FEATURE(BALLOON_F_*) bits */
	uint16_t queue_size;	  /* a power of two, 2..BALLOON_VRING_MAX */
	uint64_t rate_pages;	  /* target movement, pages per second; 0: no limit */
};

/* Counters, all cumulative except where said. */
struct balloon_counters {
	uint64_t target;	   /* num_pages advertised now */
	uint64_t wanted;	   /* the policy's target, clamped */
	uint64_t actual;	   /* frames verified and freed, now */
	uint64_t guest_actual;	   /* the guest's claim in config, now */
	uint64_t inflated;	   /* frames taken, total */
	uint64_t deflated;	   /* frames given back on deflate, total */
	uint64_t deflated_unasked; /* deflated below the target (deflate-on-OOM) */
	uint64_t inflate_batches, deflate_batches;
	uint64_t rejected_batches;    /* bad chains or frames, returned unused */
	uint64_t rejected_pfns;	      /* frames in rejected batches */
	uint64_t ring_errors;	      /* broken ring indices: device needs reset */
	uint64_t discard_errors;      /* ops->discard failures */
	uint64_t notifies;	      /* queue notifications from the guest */
	uint64_t interrupts;	      /* interrupts raised */
	uint64_t config_changes;      /* num_pages updates */
	uint64_t resets;	      /* driver resets with the balloon lost */
	uint64_t stats_updates;	      /* statistics buffers read */
	uint64_t stats[BALLOON_S_NR]; /* the guest's last statistics, by tag */
	uint64_t stats_seen;	      /* bit per tag seen in stats[] */
	uint64_t features;	      /* negotiated */
	uint8_t status;		      /* device status register */
};

struct balloon;

/*
 * Create a device for one guest. p is copied; ops and ctx are borrowed for
 * the device's lifetime. Returns NULL with errno EINVAL (bad params: zero
 * or too many guest_pages, queue_size not a power of two, a feature this
 * device cannot serve such as INDIRECT or VERSION_1) or ENOMEM.
 */
struct balloon *balloon_create(const struct balloon_params *p, const struct balloon_ops *ops,
			       void *ctx);
/* Destroy d (NULL is fine). Ballooned frames stay discarded. */
void balloon_destroy(struct balloon *d);

/* ---- transport side: what a virtio transport forwards ---------------- */

/* Features the device offers (low 32 bits are what a legacy transport
 * shows in HOST_FEATURES). */
uint64_t balloon_host_features(const struct balloon *d);
/* The driver acks features. Bits not offered are dropped and counted as
 * a protocol error (returns -EINVAL); the rest take effect. */
int balloon_set_features(struct balloon *d, uint64_t features) MUST_CHECK;
/* Status register. Writing 0 resets the device (balloon_reset). */
uint8_t balloon_status(const struct balloon *d);
void balloon_set_status(struct balloon *d, uint8_t status);
/* Size the device offers for queue q (0 for a queue that does not exist,
 * such as stats without BALLOON_F_STATS_VQ). */
uint16_t balloon_queue_size(const struct balloon *d, unsigned q);
/* Place queue q: num entries (the offered size, or smaller power of two)
 * with its descriptor table, available and used rings at those
 * guest-physical addresses (a legacy transport derives them from one PFN
 * with balloon_vring_legacy_*). desc == 0 disables the queue. Returns 0,
 * or -EINVAL (bad queue, size or alignment, rings outside guest memory;
 * the queue stays disabled). */
int balloon_queue_set(struct balloon *d, unsigned q, uint16_t num, uint64_t desc, uint64_t avail,
		      uint64_t used) MUST_CHECK;
/* Ring base the queue was placed at (desc), 0 when disabled. */
uint64_t balloon_queue_desc(const struct balloon *d, unsigned q);
/* The driver kicked queue q: serve every available buffer. Returns 0, or
 * -EINVAL for a bad queue number, -EPROTO when the ring is broken (the
 * device then needs a reset), -EIO when ops->discard failed. Bad batches
 * are not errors here: they are counted and returned to the guest. */
int balloon_queue_notify(struct balloon *d, unsigned q) MUST_CHECK;
/* Read/write len (1, 2 or 4) bytes of the device configuration at off.
 * Only `actual` is writable; other writes are ignored. Reads outside the
 * configuration give zeros. */
void balloon_config_read(const struct balloon *d, unsigned off, void *buf, unsigned len);
void balloon_config_write(struct balloon *d, unsigned off, const void *buf, unsigned len);
/* The driver reset the device or the guest rebooted: the balloon is lost
 * (every ballooned frame is reclaimed for the guest), queues, features and
 * status go back to their initial state, the target stays. */
void balloon_reset(struct balloon *d);

/* ---- policy side ----------------------------------------------------- */

/* The policy wants the guest to give up `pages` 4 KiB frames. Clamped to
 * guest_pages - min_guest_pages (the clamped value is returned); the
 * advertised target moves towards it in balloon_tick, or at once when
 * rate_pages is 0 (then a config interrupt is raised if it changed). */
uint64_t balloon_set_target(struct balloon *d, uint64_t pages);
/* elapsed_ns of time passed: move the advertised target towards the
 * wanted one by at most rate_pages per second, raising a config interrupt
 * on a change. Returns true if num_pages changed. */
bool balloon_tick(struct balloon *d, uint64_t elapsed_ns);
/* Ask the guest for fresh statistics: return the buffer it left in the
 * stats queue. Returns 0, -EAGAIN when the guest has none waiting (not
 * negotiated, or a request is already out). */
int balloon_request_stats(struct balloon *d) MUST_CHECK;
/* Is frame pfn ballooned now? */
bool balloon_pfn_ballooned(const struct balloon *d, uint64_t pfn);
/* Copy the counters. */
void balloon_counters(const struct balloon *d, struct balloon_counters *c);
/* The last protocol error as a message naming the queue and the frame or
 * descriptor ("" if none). */
const char *balloon_last_error(const struct balloon *d);

#endif
