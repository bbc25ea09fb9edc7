/* SPDX-License-Identifier: MIT */
/* pool: the host frame pool, one anonymous mapping handed out 4 KiB at a time. */
/*
 * Design
 *
 * The pool is the host-physical address space of every guest sharing it:
 * one mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE) of `frames` 4 KiB
 * frames, with MADV_NOHUGEPAGE so that the kernel never backs it with 2 MiB
 * pages (a freed 4 KiB frame could then not leave RSS on its own). An hfn is
 * a frame index; nothing is resident until a frame is first written.
 *
 * Every frame is in exactly one of four places:
 *   - fresh:     [hiwater, frames), never handed out, not resident;
 *   - allocated: its bit is set in `inuse` (private, below);
 *   - pending:   freed, still resident, waiting in pending[] (at most
 *                MEM_POOL_RELEASE_BATCH - 1 between calls);
 *   - free:      freed and given back with MADV_DONTNEED, in free[].
 * so used + npending + nfree + (frames - hiwater) = frames at all times.
 *
 * Release. A free puts the frame on pending[]; when MEM_POOL_RELEASE_BATCH
 * frames are pending (or on mem_pool_release()) they are sorted and every
 * run of adjacent frames is given back with one madvise(MADV_DONTNEED), then
 * the frames move to free[]. One batch is one `releases` tick, however many
 * runs it took. After MADV_DONTNEED a private anonymous page reads as zeros,
 * so fresh and free frames need no memset for a zeroed allocation.
 *
 * The runs of a batch go to the kernel in one process_madvise() call on our
 * own pidfd (Linux 6.13 accepts MADV_DONTNEED there for the caller, and
 * since 6.16 flushes the TLB once for the whole vector): scattered frees,
 * such as page sharing's, would otherwise cost one TLB shootdown per frame,
 * which dominates their cost (30 us per frame in a paravirtualized guest,
 * under 2 us batched). An older kernel refuses it, and the pool falls back
 * to one madvise() per run. The pidfd is reopened after a fork.
 *
 * Allocation order: pending first (LIFO), then free, then fresh. Reusing a
 * pending frame costs a 4 KiB memset when zero is asked for, but saves the
 * page fault of touching a released frame and the DONTNEED that would have
 * released it; the frame is still cache-hot. The RSS this keeps is bounded
 * by the batch (under 256 KiB), which is far below what the experiments
 * measure, and a frame reused is in use anyway. Free before fresh keeps the
 * touched prefix [0, hiwater) small, which is what mincore() scans.
 *
 * 2 MiB runs (mem_pool_alloc_huge) come from the fresh region only: hiwater
 * is rounded up to a multiple of MEM_HUGE_PAGES, the fresh frames skipped on
 * the way go to free[] (they read as zeros and are not resident, which is
 * all free[] promises), and the run is [hiwater, hiwater + 512). No run is
 * ever made of freed frames: that would need compaction, which a host
 * without it (or a fragmented one) does not get either. The run is cleared
 * with memset so that it is resident at once, as a THP is after its fault.
 *
 * Double frees and frees of never-allocated frames are caller bugs: the
 * `inuse` bitmap (one bit per frame, frames / 8 bytes) makes them detectable
 * and they abort with file and line. The bitmap lives in a private wrapper
 * around struct mem_pool, so the public struct stays as mem.h shows it.
 *
 * No locking: a pool belongs to one thread (the experiment's VMM loop).
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/mem.h"

/* An hfn << 12 must fit the 52-bit address field of an EPT entry. */
#define POOL_MAX_FRAMES (1ull << 40)
/* Frames per mincore() call: the vector stays on the stack. */
#define POOL_MINCORE_CHUNK 4096u

struct pool_priv {
	struct mem_pool pub;
	uint64_t *inuse; /* bitmap, bit hfn set while frame hfn is allocated */
	int pidfd;	 /* of process `pid`, for process_madvise; -1: none yet */
	pid_t pid;
	bool no_vector; /* the kernel refused process_madvise(MADV_DONTNEED) */
};

static struct pool_priv *pool_priv(const struct mem_pool *pool)
{
	return (struct pool_priv *)((char *)(uintptr_t)pool - offsetof(struct pool_priv, pub));
}

static bool pool_test(const struct pool_priv *pp, hfn_t hfn)
{
	return (pp->inuse[hfn / 64] >> (hfn % 64)) & 1;
}

static void pool_flip(struct pool_priv *pp, hfn_t hfn)
{
	pp->inuse[hfn / 64] ^= 1ull << (hfn % 64);
}

static struct mem_pool *pool_create(uint64_t frames, bool memfd)
{
	struct pool_priv *pp;
	struct mem_pool *pool;
	void *base;
	int err;

	if (frames == 0 || frames > POOL_MAX_FRAMES || sysconf(_SC_PAGESIZE) != MEM_PAGE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return NULL;
	pool = &pp->pub;
	pool->frames = frames;
	pool->fd = -1;
	pp->pidfd = -1;
	/* free[] is sized for the whole pool but calloc'd: only the part
	 * actually used is ever touched. */
	pp->inuse = calloc((frames + 63) / 64, sizeof(uint64_t));
	pool->free = calloc(frames, sizeof(hfn_t));
	pool->pending = calloc(MEM_POOL_RELEASE_BATCH, sizeof(hfn_t));
	if (!pp->inuse || !pool->free || !pool->pending)
		goto err_free;

	if (memfd) {
		pool->fd = memfd_create("memvisor-pool", MFD_CLOEXEC);
		if (pool->fd < 0 || ftruncate(pool->fd, (off_t)(frames << MEM_PAGE_SHIFT)))
			goto err_free;
	}
	base =
	    mmap(NULL, frames << MEM_PAGE_SHIFT, PROT_READ | PROT_WRITE,
		 (memfd ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS) | MAP_NORESERVE, pool->fd, 0);
	if (base == MAP_FAILED)
		goto err_free;
	/* EINVAL: a kernel without THP, which has no huge pages to avoid. */
	if (madvise(base, frames << MEM_PAGE_SHIFT, MADV_NOHUGEPAGE) && errno != EINVAL)
		goto err_unmap;
	pool->base = base;
	return pool;

err_unmap:
	err = errno;
	munmap(base, frames << MEM_PAGE_SHIFT);
	errno = err;
err_free:
	err = errno;
	if (pool->fd >= 0)
		close(pool->fd);
	free(pool->pending);
	free(pool->free);
	free(pp->inuse);
	free(pp);
	errno = err;
	return NULL;
}

struct mem_pool *mem_pool_create(uint64_t frames)
{
	return pool_create(frames, false);
}

struct mem_pool *mem_pool_create_memfd(uint64_t frames)
{
	return pool_create(frames, true);
}

void mem_pool_destroy(struct mem_pool *pool)
{
	struct pool_priv *pp;

	if (!pool)
		return;
	pp = pool_priv(pool);
	if (pp->pidfd >= 0)
		close(pp->pidfd);
	munmap(pool->base, pool->frames << MEM_PAGE_SHIFT);
	if (pool->fd >= 0)
		close(pool->fd);
	free(pool->pending);
	free(pool->free);
	free(pp->inuse);
	free(pp);
}

int mem_pool_alloc(struct mem_pool *pool, hfn_t *out, bool zero)
{
	struct pool_priv *pp = pool_priv(pool);
	hfn_t hfn;

	if (pool->used == pool->frames)
		return -ENOMEM;
	if (pool->npending) {
		hfn = pool->pending[--pool->npending];
		/* Still holds its last owner's bytes. */
		if (zero)
			memset(mem_pool_ptr(pool, hfn), 0, MEM_PAGE_SIZE);
	} else if (pool->nfree) {
		/* Released: the kernel supplies a zero page on first touch. */
		hfn = pool->free[--pool->nfree];
	} else {
		BUG_ON(pool->hiwater >= pool->frames,
		       "pool accounting: used %" PRIu64 " < frames %" PRIu64
		       " but nothing to hand out",
		       pool->used, pool->frames);
		hfn = pool->hiwater++;
	}
	BUG_ON(pool_test(pp, hfn), "frame %" PRIu64 " handed out twice", hfn);
	pool_flip(pp, hfn);
	pool->used++;
	if (pool->used > pool->peak)
		pool->peak = pool->used;
	*out = hfn;
	return 0;
}

int mem_pool_alloc_huge(struct mem_pool *pool, hfn_t *out)
{
	struct pool_priv *pp = pool_priv(pool);
	hfn_t base = (pool->hiwater + MEM_HUGE_PAGES - 1) & ~(hfn_t)(MEM_HUGE_PAGES - 1);

	if (pool->frames - pool->used < MEM_HUGE_PAGES || base > pool->frames ||
	    pool->frames - base < MEM_HUGE_PAGES)
		return -ENOMEM;
	/* highest first: LIFO pops then hand them out ascending */
	for (hfn_t h = base; h-- > pool->hiwater;)
		pool->free[pool->nfree++] = h;
	for (hfn_t h = base; h < base + MEM_HUGE_PAGES; h++) {
		BUG_ON(pool_test(pp, h), "fresh frame %" PRIu64 " already in use", h);
		pool_flip(pp, h);
	}
	pool->hiwater = base + MEM_HUGE_PAGES;
	pool->used += MEM_HUGE_PAGES;
	if (pool->used > pool->peak)
		pool->peak = pool->used;
	memset(mem_pool_ptr(pool, base), 0, (size_t)MEM_HUGE_PAGES << MEM_PAGE_SHIFT);
	*out = base;
	return 0;
}

void mem_pool_free(struct mem_pool *pool, hfn_t hfn)
{
	struct pool_priv *pp = pool_priv(pool);

	BUG_ON(hfn >= pool->hiwater, "free of frame %" PRIu64 " never allocated", hfn);
	BUG_ON(!pool_test(pp, hfn), "double free of frame %" PRIu64, hfn);
	pool_flip(pp, hfn);
	pool->used--;
	pool->pending[pool->npending++] = hfn;
	if (pool->npending == MEM_POOL_RELEASE_BATCH)
		mem_pool_release(pool);
}

/* Insertion sort: at most MEM_POOL_RELEASE_BATCH entries, mostly short runs. */
static void pool_sort(hfn_t *v, uint64_t n)
{
	for (uint64_t i = 1; i < n; i++) {
		hfn_t x = v[i];
		uint64_t j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Most ranges in one process_madvise() call (the kernel's UIO_MAXIOV). */
#define POOL_IOV_MAX 1024u

/* MADV_DONTNEED every range of iov in one call. False when the kernel
 * cannot (then nothing, or not all, was done). */
static bool pool_release_vector(struct pool_priv *pp, const struct iovec *iov, unsigned n,
				size_t bytes)
{
	pid_t pid = getpid();
	long r;

	if (pp->no_vector)
		return false;
	if (pp->pidfd < 0 || pp->pid != pid) {
		if (pp->pidfd >= 0)
			close(pp->pidfd); /* our copy of the parent's */
		pp->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		pp->pid = pid;
		if (pp->pidfd < 0) {
			pp->no_vector = true;
			return false;
		}
	}
	r = syscall(SYS_process_madvise, pp->pidfd, iov, n, MADV_DONTNEED, 0);
	if (r < 0 && errno != EINTR && errno != EAGAIN)
		pp->no_vector = true;
	return r == (long)bytes;
}

/* Give back the runs of adjacent frames of sorted p[0..n), POOL_IOV_MAX runs
 * per call; one madvise() per run where the vector call is refused. */
static void pool_dontneed(struct mem_pool *pool, const hfn_t *p, uint64_t n)
{
	struct iovec iov[POOL_IOV_MAX];
	uint64_t i = 0, j;

	while (i < n) {
		unsigned runs = 0;
		size_t bytes = 0;

		for (; i < n && runs < POOL_IOV_MAX; i = j) {
			for (j = i + 1; j < n && p[j] == p[j - 1] + 1; j++)
				;
			iov[runs].iov_base = mem_pool_ptr(pool, p[i]);
			iov[runs].iov_len = (size_t)(j - i) << MEM_PAGE_SHIFT;
			bytes += iov[runs++].iov_len;
		}
		if (pool->fd >= 0) { /* out of the file, and so out of memory */
			for (unsigned r = 0; r < runs; r++)
				if (fallocate(pool->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      (char *)iov[r].iov_base - (char *)pool->base,
					      (off_t)iov[r].iov_len))
					memset(iov[r].iov_base, 0, iov[r].iov_len);
			continue;
		}
		if (pool_release_vector(pool_priv(pool), iov, runs, bytes))
			continue;
		for (unsigned r = 0; r < runs; r++)
			/* Cannot fail on a page-aligned range of our own
			 * private mapping; should it anyway, keep the zero
			 * guarantee of free[] by hand (the frames then stay
			 * resident). */
			if (madvise(iov[r].iov_base, iov[r].iov_len, MADV_DONTNEED))
				memset(iov[r].iov_base, 0, iov[r].iov_len);
	}
}

void mem_pool_free_many(struct mem_pool *pool, const hfn_t *hfn, uint64_t n)
{
	struct pool_priv *pp = pool_priv(pool);

	for (uint64_t i = 0; i < n; i++) {
		BUG_ON(hfn[i] >= pool->hiwater, "free of frame %" PRIu64 " never allocated",
		       hfn[i]);
		BUG_ON(!pool_test(pp, hfn[i]), "double free of frame %" PRIu64, hfn[i]);
		BUG_ON(i && hfn[i] <= hfn[i - 1], "mem_pool_free_many: frames not sorted");
		pool_flip(pp, hfn[i]);
	}
	if (!n)
		return;
	pool->used -= n;
	pool_dontneed(pool, hfn, n);
	/* Highest first, so that LIFO pops hand out ascending frames. */
	for (uint64_t i = n; i-- > 0;)
		pool->free[pool->nfree++] = hfn[i];
	pool->releases++;
	pool->released += n;
}

void mem_pool_release(struct mem_pool *pool)
{
	uint64_t n = pool->npending;
	hfn_t *p = pool->pending;

	if (!n)
		return;
	pool_sort(p, n);
	pool_dontneed(pool, p, n);
	/* Highest first, so that LIFO pops hand out ascending frames. */
	for (uint64_t i = n; i-- > 0;)
		pool->free[pool->nfree++] = p[i];
	pool->npending = 0;
	pool->releases++;
	pool->released += n;
}

uint64_t mem_pool_resident(const struct mem_pool *pool)
{
	unsigned char vec[POOL_MINCORE_CHUNK];
	uint64_t resident = 0;

	for (uint64_t off = 0, n; off < pool->hiwater; off += n) {
		n = pool->hiwater - off;
		if (n > POOL_MINCORE_CHUNK)
			n = POOL_MINCORE_CHUNK;
		/* Only EAGAIN is possible on our own mapping. */
		while (mincore(mem_pool_ptr(pool, off), n << MEM_PAGE_SHIFT, vec))
			BUG_ON(errno != EAGAIN, "mincore: errno %d", errno);
		for (uint64_t i = 0; i < n; i++)
			resident += vec[i] & 1;
	}
	return resident;
}

uint64_t mem_rss_bytes(void)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2 || page <= 0)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}
