/* SPDX-License-Identifier: MIT */
/* mem/swap.h: host swap (part of mem/mem.h, which includes every part). */
#ifndef MEM_SWAP_H
#define MEM_SWAP_H

#include "mem/mem_types.h"

/* ------------------------------------------------------------------------
 * Host swap (swap.c): one swap file per host, the last resort of reclaim.
 *
 * A swapped-out gfn is SWAPPED with its slot as the p2m value; its bytes
 * are at slot * 4 KiB in the file, written with pwrite before the p2m
 * changes, so a failed write leaves the page resident and untouched. A
 * swap-in reads them back into a new frame with pread before the p2m
 * changes, so a failed read leaves the page swapped with its slot intact.
 * Victims are chosen at random, as ESX does, or by a clock over the
 * p2m's access-tracking bits (MEM_TRACK_SWAP), an LRU approximation that
 * works in every paging mode. Sharing is tried before swapping by the
 * caller (vmm-core), which knows the sharing engine.
 */

/* The file's I/O, replaceable for fault injection: transfer exactly len
 * bytes at off, 0 or -errno (-EIO for a transfer that makes no progress,
 * -ENOSPC when the disk is full). */
struct mem_swap_io {
	int (*write)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
	int (*read)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
};

struct mem_swap_params {
	const char *path;	      /* created (must not exist: it is the host's, and
					 it is removed by mem_swap_destroy) */
	uint64_t slots;		      /* most slots, 4 KiB each; 0: no limit but the disk */
	const struct mem_swap_io *io; /* NULL: pread/pwrite; borrowed */
	void *io_ctx;
};

struct mem_swap_stats {
	uint64_t used;	       /* slots holding a page now */
	uint64_t peak;	       /* highest `used` */
	uint64_t outs, ins;    /* pages written out / read back, ever */
	uint64_t write_errors; /* failed swap-outs (nothing changed) */
	uint64_t read_errors;  /* failed swap-ins (nothing changed) */
	uint64_t file_bytes;   /* disk space the file occupies now */
};

/* Create the swap file at p->path (O_EXCL). NULL with errno set (EEXIST:
 * the file exists). */
struct mem_swap *mem_swap_create(const struct mem_swap_params *p);
/* Close and remove the file. Every p2m attached must be gone. NULL is
 * a no-op. */
void mem_swap_destroy(struct mem_swap *s);
/*
 * Swap RESIDENT gfn of p2m (in the swap's pool) out: write its frame to a
 * free slot, then move it to SWAPPED (zapping its translations) and free
 * the frame. Returns 0; -EINVAL when gfn is not RESIDENT or is
 * write-protected; -ENOSPC when every slot is taken or the disk is full,
 * -EIO (or another -errno) when the write failed: then nothing changed and
 * mem_swap_error() names the slot and the cause.
 */
int mem_swap_out(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn) MUST_CHECK;
/*
 * Swap SWAPPED gfn back in: read its slot into a new frame, then make it
 * RESIDENT and free the slot. Returns 0; -EINVAL when gfn is not SWAPPED;
 * -ENOMEM when the pool has no frame; -EIO (-errno) when the read failed
 * (mem_swap_error() says why). On failure nothing changed.
 */
int mem_swap_in(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn) MUST_CHECK;
/* Move SWAPPED gfn to state `to` (BALLOONED: the guest gave the page up)
 * and free its slot; its bytes are gone. 0 or -EINVAL (nothing changed). */
int mem_swap_drop(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn,
		  enum mem_page_state to) MUST_CHECK;
/* Write a 4 KiB page into a free slot, for memory the caller keeps track
 * of itself (a KVM guest's): 0 with *slot, or as mem_swap_out's errors
 * (-ENOSPC, -EIO...; nothing allocated, mem_swap_error() says why). The
 * caller frees the slot with mem_swap_free_slot. */
int mem_swap_write_slot(struct mem_swap *s, const void *page, uint64_t *slot) MUST_CHECK;
/* Read slot (allocated) into buf, 4 KiB, without side effects. 0, -EINVAL
 * (slot not in use), -EIO. */
int mem_swap_read_slot(const struct mem_swap *s, uint64_t slot, void *buf) MUST_CHECK;
/* The page of slot, read with mem_swap_read_slot, is back in the caller's
 * memory: free the slot and count a swap-in. */
void mem_swap_swapped_in(struct mem_swap *s, uint64_t slot);
/* Free an allocated slot (its p2m entry is going away). */
void mem_swap_free_slot(struct mem_swap *s, uint64_t slot);
/* The last I/O error as a message naming the file, slot and cause. */
const char *mem_swap_error(const struct mem_swap *s);
const char *mem_swap_path(const struct mem_swap *s);
void mem_swap_stats(const struct mem_swap *s, struct mem_swap_stats *st);

enum mem_swap_victim {
	MEM_SWAP_RANDOM, /* uniformly random resident pages (ESX) */
	MEM_SWAP_LRU,	 /* clock over the p2m's accessed bits */
};
/* "random" or "lru"; -EINVAL otherwise. */
int mem_swap_victim_parse(const char *s, enum mem_swap_victim *out) MUST_CHECK;
const char *mem_swap_victim_name(enum mem_swap_victim v);

/* Per-guest state of victim selection. Zero it, then set rng to a seed. */
struct mem_swap_cursor {
	uint64_t rng;  /* xorshift state (random) */
	gfn_t hand;    /* next gfn the clock looks at (lru) */
	uint64_t arms; /* pages the clock armed, ever (each costs a refault) */
};
/*
 * Choose a RESIDENT, writable gfn of p2m to swap out. Random draws gfns
 * until one is resident (a bounded number of times, then a scan from a
 * random start). LRU moves the clock hand: an armed page (not touched
 * since the hand last passed) is the victim, any other is armed and
 * passed over; two turns at most. Returns 0 with *out, or -ENOENT when the
 * guest has no such page.
 */
int mem_swap_pick(struct mem_p2m *p2m, enum mem_swap_victim how, struct mem_swap_cursor *c,
		  gfn_t *out) MUST_CHECK;

#endif
