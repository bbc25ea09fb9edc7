/* SPDX-License-Identifier: MIT */
/*
 * balloon_abi: the virtio-balloon protocol as both sides see it in guest
 * memory and in the device's registers. Self-contained and freestanding:
 * it includes only <stdint.h>, so the soft guest's driver, the host-side
 * device and any test can use it unchanged.
 *
 * Sources: the virtio specification v1.2, sections 2.7 (split
 * virtqueues), 4.1.4.8 (the legacy PCI interface) and 5.5 (the memory
 * balloon device); Linux's include/uapi/linux/virtio_ring.h and
 * virtio_balloon.h define the same numbers.
 *
 * Every multi-byte field is little-endian (virtio 1.x, and the legacy
 * interface on x86). Page frame numbers in the inflate and deflate queues
 * are 32-bit, in units of 4 KiB (BALLOON_PFN_SHIFT) whatever the guest's
 * page size.
 */
#ifndef BALLOON_DRIVER_BALLOON_ABI_H
#define BALLOON_DRIVER_BALLOON_ABI_H

#include <stdint.h>

/* Bumped on any change to a layout or a constant below. */
#define BALLOON_ABI_VERSION 1

/* ------------------------------------------------------------------------
 * Device identity
 */
#define BALLOON_VIRTIO_DEVICE_ID 5u	 /* virtio device type: memory balloon */
#define BALLOON_PCI_VENDOR	 0x1af4u /* Red Hat, Inc. (virtio) */
/* Transitional PCI device ID of the balloon (virtio 4.1.2.3); its
 * subsystem device ID is the virtio device type. */
#define BALLOON_PCI_DEVICE    0x1002u
#define BALLOON_PCI_SUBSYS_ID BALLOON_VIRTIO_DEVICE_ID
#define BALLOON_PCI_CLASS     0x00ff00u /* class 0x00, subclass 0xff */

#define BALLOON_PFN_SHIFT     12 /* inflate/deflate PFNs are 4 KiB frames */

/* ------------------------------------------------------------------------
 * Feature bits (virtio 5.5.3). The device offers, the driver acks a subset.
 */
#define BALLOON_F_MUST_TELL_HOST 0 /* tell the host before reusing a page */
#define BALLOON_F_STATS_VQ	 1 /* a statistics virtqueue (queue 2) */
#define BALLOON_F_DEFLATE_ON_OOM 2 /* the guest deflates under memory pressure */
#define BALLOON_F_FREE_PAGE_HINT 3
#define BALLOON_F_PAGE_POISON	 4
#define BALLOON_F_REPORTING	 5
/* Transport-level bits a legacy device may see acked. */
#define BALLOON_F_NOTIFY_ON_EMPTY 24
#define BALLOON_F_ANY_LAYOUT	  27
#define BALLOON_F_RING_INDIRECT	  28
#define BALLOON_F_RING_EVENT_IDX  29
#define BALLOON_F_VERSION_1	  32 /* modern devices only; never legacy */
#define BALLOON_FEATURE(bit)	  (1ull << (bit))

/* ------------------------------------------------------------------------
 * Device configuration space (virtio 5.5.4). num_pages is written by the
 * device (the target, in 4 KiB pages), actual by the driver (what it says
 * it has given). Offsets are within the device-specific configuration.
 */
struct balloon_config {
	uint32_t num_pages; /* le32: the host's target, 4 KiB pages */
	uint32_t actual;    /* le32: the guest's claim, 4 KiB pages */
};
#define BALLOON_CFG_NUM_PAGES 0u
#define BALLOON_CFG_ACTUAL    4u
#define BALLOON_CFG_SIZE      8u

/* Virtqueue numbers (virtio 5.5.2). */
#define BALLOON_VQ_INFLATE 0u
#define BALLOON_VQ_DEFLATE 1u
#define BALLOON_VQ_STATS   2u /* only with BALLOON_F_STATS_VQ */
#define BALLOON_VQ_NR	   3u

/*
 * The statistics buffer (virtio 5.5.6.3): an array of 10-byte packed
 * entries the driver fills and the device reads. Unknown tags are to be
 * ignored by the device.
 */
struct balloon_stat {
	uint16_t tag; /* le16: BALLOON_S_* */
	uint64_t val; /* le64 */
} __attribute__((packed));
#define BALLOON_STAT_SIZE      10u

#define BALLOON_S_SWAP_IN      0 /* bytes swapped in */
#define BALLOON_S_SWAP_OUT     1 /* bytes swapped out */
#define BALLOON_S_MAJFLT       2 /* major faults */
#define BALLOON_S_MINFLT       3 /* minor faults */
#define BALLOON_S_MEMFREE      4 /* free memory, bytes */
#define BALLOON_S_MEMTOT       5 /* total memory, bytes */
#define BALLOON_S_AVAIL	       6 /* available memory, bytes (Linux's estimate) */
#define BALLOON_S_CACHES       7 /* disk caches, bytes */
#define BALLOON_S_HTLB_PGALLOC 8
#define BALLOON_S_HTLB_PGFAIL  9
#define BALLOON_S_NR	       10 /* tags the device records */

/* Linux gives back this many 4 KiB pages per OOM notification when
 * BALLOON_F_DEFLATE_ON_OOM is negotiated (VIRTIO_BALLOON_OOM_NR_PAGES). */
#define BALLOON_OOM_NR_PAGES 256u

/* ------------------------------------------------------------------------
 * Split virtqueue (virtio 2.7). Three parts in guest memory, each aligned:
 * a descriptor table (16 bytes per entry), the available ring written by
 * the driver, the used ring written by the device. num is a power of two,
 * at most 32768. idx fields are free-running 16-bit counters: entry i of a
 * ring lives at ring[i % num].
 */
struct balloon_vring_desc {
	uint64_t addr;	/* le64: guest-physical address of the buffer */
	uint32_t len;	/* le32: bytes */
	uint16_t flags; /* le16: BALLOON_VRING_DESC_F_* */
	uint16_t next;	/* le16: next descriptor when F_NEXT */
};
#define BALLOON_VRING_DESC_F_NEXT     1u /* the chain continues at next */
#define BALLOON_VRING_DESC_F_WRITE    2u /* device-writable (else readable) */
#define BALLOON_VRING_DESC_F_INDIRECT 4u /* addr is a table (not offered) */

struct balloon_vring_avail {
	uint16_t flags;	 /* le16: BALLOON_VRING_AVAIL_F_NO_INTERRUPT */
	uint16_t idx;	 /* le16: where the driver puts the next entry */
	uint16_t ring[]; /* le16 descriptor heads; then le16 used_event */
};
#define BALLOON_VRING_AVAIL_F_NO_INTERRUPT 1u

struct balloon_vring_used_elem {
	uint32_t id;  /* le32: head of the chain returned */
	uint32_t len; /* le32: bytes the device wrote into it */
};
struct balloon_vring_used {
	uint16_t flags;			       /* le16: BALLOON_VRING_USED_F_NO_NOTIFY */
	uint16_t idx;			       /* le16: where the device puts the next entry */
	struct balloon_vring_used_elem ring[]; /* then le16 avail_event */
};
#define BALLOON_VRING_USED_F_NO_NOTIFY 1u

#define BALLOON_VRING_MAX	       32768u
#define BALLOON_VRING_LEGACY_ALIGN     4096u /* legacy: used ring alignment */
#define BALLOON_VRING_DESC_SIZE	       16u
#define BALLOON_VRING_AVAIL_SIZE(n)    (6u + 2u * (n)) /* with used_event */
#define BALLOON_VRING_USED_SIZE(n)     (6u + 8u * (n)) /* with avail_event */
#define BALLOON_VRING_USED_ELEM_SIZE   8u

/*
 * Legacy layout (virtio 2.7 legacy interfaces): one guest-physically
 * contiguous area at a page frame the driver writes to QUEUE_PFN; the
 * descriptor table at its start, the available ring right after it, the
 * used ring at the next BALLOON_VRING_LEGACY_ALIGN boundary.
 */
static inline uint64_t balloon_vring_legacy_avail(uint64_t base, uint32_t num)
{
	return base + (uint64_t)num * BALLOON_VRING_DESC_SIZE;
}
static inline uint64_t balloon_vring_legacy_used(uint64_t base, uint32_t num)
{
	uint64_t end = balloon_vring_legacy_avail(base, num) + BALLOON_VRING_AVAIL_SIZE(num);

	return (end + BALLOON_VRING_LEGACY_ALIGN - 1) & ~(uint64_t)(BALLOON_VRING_LEGACY_ALIGN - 1);
}
static inline uint64_t balloon_vring_legacy_size(uint32_t num)
{
	return balloon_vring_legacy_used(0, num) + BALLOON_VRING_USED_SIZE(num);
}

/* ------------------------------------------------------------------------
 * Device status (virtio 2.1), written by the driver, 0 resets the device.
 */
#define BALLOON_STATUS_ACKNOWLEDGE	  1u
#define BALLOON_STATUS_DRIVER		  2u
#define BALLOON_STATUS_DRIVER_OK	  4u
#define BALLOON_STATUS_FEATURES_OK	  8u
#define BALLOON_STATUS_DEVICE_NEEDS_RESET 64u
#define BALLOON_STATUS_FAILED		  128u

/* ------------------------------------------------------------------------
 * The legacy virtio PCI interface (virtio 4.1.4.8): registers in I/O BAR 0,
 * device configuration after them (at 20 without MSI-X, as here).
 */
#define BALLOON_PCI_HOST_FEATURES   0u	/* 32-bit, read-only */
#define BALLOON_PCI_GUEST_FEATURES  4u	/* 32-bit */
#define BALLOON_PCI_QUEUE_PFN	    8u	/* 32-bit: ring base >> 12, 0 = off */
#define BALLOON_PCI_QUEUE_NUM	    12u /* 16-bit, read-only: queue size */
#define BALLOON_PCI_QUEUE_SEL	    14u /* 16-bit */
#define BALLOON_PCI_QUEUE_NOTIFY    16u /* 16-bit: write the queue number */
#define BALLOON_PCI_STATUS	    18u /* 8-bit */
#define BALLOON_PCI_ISR		    19u /* 8-bit, read clears */
#define BALLOON_PCI_CONFIG	    20u /* device configuration, no MSI-X */
#define BALLOON_PCI_QUEUE_PFN_SHIFT 12
#define BALLOON_ISR_QUEUE	    1u /* a used buffer was added */
#define BALLOON_ISR_CONFIG	    2u /* the configuration changed */

#endif
