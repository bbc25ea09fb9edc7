/* SPDX-License-Identifier: MIT */
/* mem/pool.h: the host frame pool (part of mem/mem.h, which includes every part). */
#ifndef MEM_POOL_H
#define MEM_POOL_H

#include "mem/mem_types.h"

/* ------------------------------------------------------------------------
 * Host frame pool (pool.c)
 *
 * One reserved anonymous mapping of `frames` 4 KiB frames with transparent
 * huge pages off (MADV_NOHUGEPAGE), so that a freed frame really leaves RSS.
 * Frames are handed out lazily (a high-water mark, then a free list); a freed
 * frame waits on a pending list and is given back to the kernel with
 * MADV_DONTNEED when MEM_POOL_RELEASE_BATCH frames are pending, or when
 * mem_pool_release() is called. The pool is the host-physical address space:
 * an hfn is a frame index, its address hfn << 12.
 */
#define MEM_POOL_RELEASE_BATCH 64

struct mem_pool {
	uint8_t *base;	  /* the reserved mapping, frames * 4 KiB bytes */
	uint64_t frames;  /* budget, 4 KiB frames */
	uint64_t used;	  /* frames allocated now */
	uint64_t peak;	  /* highest `used` ever */
	uint64_t hiwater; /* frames [0, hiwater) have been handed out once */
	hfn_t *free;	  /* free frames already given back to the kernel */
	uint64_t nfree;
	hfn_t *pending; /* freed frames not yet given back */
	uint64_t npending;
	int fd;		   /* the memfd behind it (mem_pool_create_memfd), or -1 */
	uint64_t releases; /* madvise(MADV_DONTNEED) batches issued */
	uint64_t released; /* frames given back to the kernel, total */
};

/* Reserve a pool of `frames` frames. Returns NULL with errno set. */
struct mem_pool *mem_pool_create(uint64_t frames);
/* The same over a memfd (pool->fd, frame hfn at hfn << 12), mapped
 * shared, for frames other processes' or guests' mappings share (KVM
 * guests map shared frames privately from it); freed frames are punched
 * out of the file. NULL with errno set. */
struct mem_pool *mem_pool_create_memfd(uint64_t frames);
/* Unmap the pool. Every frame is gone; callers must not hold pointers. */
void mem_pool_destroy(struct mem_pool *pool);
/*
 * Allocate one frame into *out. With zero set the frame reads as zeros.
 * Returns 0, or -ENOMEM when all `frames` are in use.
 */
int mem_pool_alloc(struct mem_pool *pool, hfn_t *out, bool zero) MUST_CHECK;
/* Free a frame allocated from this pool. Freeing a free frame is a BUG. */
void mem_pool_free(struct mem_pool *pool, hfn_t hfn);
/*
 * Free n frames (sorted ascending, allocated, distinct: BUG otherwise) and
 * give them back to the kernel now, in as few calls as it takes (one per
 * 1024 runs of adjacent frames): for callers that free many scattered
 * frames at once (page sharing), where a TLB flush per batch of
 * MEM_POOL_RELEASE_BATCH would dominate. Counts as one release.
 */
void mem_pool_free_many(struct mem_pool *pool, const hfn_t *hfn, uint64_t n);
/* Give every pending freed frame back to the kernel now. */
void mem_pool_release(struct mem_pool *pool);
/* Frames of the pool resident in host memory now (mincore), 4 KiB frames. */
uint64_t mem_pool_resident(const struct mem_pool *pool);

static inline uint8_t *mem_pool_ptr(const struct mem_pool *pool, hfn_t hfn)
{
	return pool->base + (hfn << MEM_PAGE_SHIFT);
}

/*
 * 2 MiB runs. mem_pool_alloc_huge() hands out MEM_HUGE_PAGES frames whose
 * first hfn is a multiple of MEM_HUGE_PAGES: a 2 MiB aligned, contiguous
 * host-physical run, what a transparent huge page is to a real host. Runs
 * are carved from the never-used part of the pool only ([hiwater, frames),
 * the frames skipped to align going to the free list): frees return frames
 * one by one and the pool never compacts, so after enough churn there is no
 * run left even when enough single frames are free, as on a fragmented
 * host. A run is cleared on allocation (resident, as clear_huge_page()
 * leaves a THP) and freed frame by frame with mem_pool_free().
 */

/* Allocate a 2 MiB run into *out (its first frame). Returns 0, or -ENOMEM
 * when the budget or the never-used part of the pool cannot hold one. */
int mem_pool_alloc_huge(struct mem_pool *pool, hfn_t *out) MUST_CHECK;

/* Resident set size of this process (/proc/self/statm), bytes; 0 if unknown. */
uint64_t mem_rss_bytes(void);

#endif
