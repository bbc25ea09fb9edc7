/* SPDX-License-Identifier: MIT */
/*
 * tdrv: the guest side for the device tests. A minimal virtio-balloon
 * driver over plain memory (guest RAM is a calloc'ed buffer): it lays out
 * legacy split rings, posts batches as Linux's driver does (one readable
 * descriptor per batch) and can also write any garbage a test wants. The
 * backend callbacks it gives the device record every discard and reclaim.
 */
#ifndef BALLOON_DRIVER_TESTS_TDRV_H
#define BALLOON_DRIVER_TESTS_TDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "balloon-driver/balloon.h"

#define TDRV_PAGES 1024u /* 4 MiB of guest RAM */
#define TDRV_RING0 16u	 /* rings from this frame on, 4 frames per queue */
#define TDRV_BUF0  32u	 /* batch buffers from this frame on, one per queue */
#define TDRV_HOLE  900u	 /* pfn_ok refuses this frame */

struct tdrv {
	uint8_t *mem; /* TDRV_PAGES * 4 KiB, guest RAM */
	struct balloon *d;
	uint16_t num;			   /* queue size in use */
	uint16_t avail_idx[BALLOON_VQ_NR]; /* driver's free-running index */
	uint16_t used_seen[BALLOON_VQ_NR]; /* used entries consumed */
	uint8_t discarded[TDRV_PAGES];	   /* discard calls per frame */
	uint8_t reclaimed[TDRV_PAGES];	   /* reclaim calls per frame */
	unsigned discard_calls, reclaim_calls;
	unsigned irq_vq, irq_config;
	int fail_discard_pfn; /* discard of this pfn fails (-1: never) */
};

/* Create the device with p (guest_pages etc. filled by the caller; 0
 * fields get defaults), place its queues with queue size num, set status
 * DRIVER_OK and ack features. */
void tdrv_init(struct tdrv *t, const struct balloon_params *p, uint16_t num);
void tdrv_fini(struct tdrv *t);
/* gpa of queue q's descriptor table, available and used rings. */
uint64_t tdrv_desc(const struct tdrv *t, unsigned q);
uint64_t tdrv_avail(const struct tdrv *t, unsigned q);
uint64_t tdrv_used(const struct tdrv *t, unsigned q);
/* Write descriptor i of queue q. */
void tdrv_set_desc(struct tdrv *t, unsigned q, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next);
/* Publish head in the available ring and bump the index (no kick). */
void tdrv_publish(struct tdrv *t, unsigned q, uint16_t head);
/* Post n frames as one batch (one descriptor) on q and kick; returns what
 * balloon_queue_notify returned. */
int tdrv_post(struct tdrv *t, unsigned q, const uint32_t *pfns, unsigned n);
/* Used ring: entries the device returned since the last call, and the
 * last one's len (through *len, may be NULL). */
unsigned tdrv_reap(struct tdrv *t, unsigned q, uint32_t *len);
/* Pointer to guest-physical address gpa in t->mem. */
void *tdrv_ptr(struct tdrv *t, uint64_t gpa);

#endif
