/* SPDX-License-Identifier: MIT */
/* guest_internal: what the soft guest OS's files share, and its tests (the
 * generators they share with the in-guest program: gen_internal.h). */
#ifndef GUEST_GUEST_INTERNAL_H
#define GUEST_GUEST_INTERNAL_H

#include <assert.h>
#include <stdarg.h>

#include "balloon-driver/balloon_abi.h"
#include "guest/gen_internal.h"

/* ------------------------------------------------------------------------
 * The guest OS's private state (os.c).
 */
#define GUEST_MM_ENTRY	      64u /* bytes per mem_map entry */
#define GUEST_MM_FLAGS	      0u  /* byte offsets in struct guest_page */
#define GUEST_MM_PID	      4u
#define GUEST_MM_VPN	      8u
#define GUEST_MM_PREV	      16u
#define GUEST_MM_NEXT	      24u
#define GUEST_MIN_DATA_FRAMES 8u
/* A halted guest wakes at least every timer tick (HZ = 250) to service
 * what interrupts arrived. */
#define GUEST_TICK_NS 4000000ull
/* Steps by time: accesses between two reads of the clock. */
#define GUEST_CLOCK_CHUNK 1000u

/* The balloon driver's state (balloon.c). What a kernel keeps in its own
 * variables; the rings, buffers and the list of ballooned pages are in
 * guest memory. */
struct guest_balloon {
	const struct guest_dev_ops *ops; /* NULL: no device */
	void *ctx;
	enum guest_balloon_mode mode;
	bool up;   /* set up, DRIVER_OK written */
	bool dead; /* gave up on the device: err[] says why */
	bool irq;  /* an interrupt is pending */
	bool work; /* the target moved: inflate or deflate towards it */
	uint64_t features;
	uint16_t qsize[BALLOON_VQ_NR]; /* 0: the queue does not exist */
	gfn_t base;		       /* first reserved frame */
	uint64_t frames;	       /* frames reserved at boot */
	gpa_t ring[BALLOON_VQ_NR];     /* legacy ring area of each queue */
	gpa_t buf[BALLOON_VQ_NR];      /* each queue's buffer */
	uint16_t avail[BALLOON_VQ_NR]; /* next available index (free-running) */
	uint16_t used[BALLOON_VQ_NR];  /* used entries consumed */
	gfn_t head;		       /* ballooned pages, through mem_map next */
	uint64_t npages;	       /* pages in the balloon */
	uint32_t target;	       /* num_pages, as last read */
	uint64_t retry_at;	       /* no allocation before (ns) */
	uint64_t garbage;	       /* garbage mode: batches sent */
	char err[160];
};

/* Frames the driver needs at boot for the device behind p (rings of the
 * sizes the device offers, one buffer page); 0 without a device or driver.
 * Resets the device as a booting kernel does, which loses any balloon. */
uint64_t guest_balloon_probe(const struct guest_params *p, uint16_t qsize[BALLOON_VQ_NR]);
/* Set the device up with the frames from b->base on: features, rings,
 * DRIVER_OK, the statistics buffer, the first target. 0 or -errno (an MMU
 * failure; a device that misbehaves stops the driver, not the guest). */
int guest_balloon_init(struct guest_os *g) MUST_CHECK;
/* Service a pending interrupt and move towards the target, at most
 * GUEST_BALLOON_WORK_MAX pages; nothing before a back-off ends. 0 or
 * -errno when the guest must fail. */
int guest_balloon_service(struct guest_os *g) MUST_CHECK;
/* Deflate-on-OOM: give back up to BALLOON_OOM_NR_PAGES pages when the
 * feature was negotiated; *freed gets how many. 0 or -errno. */
int guest_balloon_oom(struct guest_os *g, uint64_t *freed) MUST_CHECK;

/*
 * A process's valid regions, like Linux's VMAs: page ranges [start, end)
 * in address order, not overlapping. The pages of all of them, in that
 * order, are numbered 0..npages-1 (idx: the index of `start`), which is
 * how per-page records are kept. A generator process has one region, the
 * span of its working set at GUEST_WL_BASE (sparse: only every stride-th
 * page of it is valid, guest_proc_has); a trace process one per run of
 * pages its trace touches.
 */
struct guest_vma {
	uint64_t start, end; /* vpn */
	uint64_t idx;	     /* number of page `start` among the process's pages */
};

struct guest_replay; /* replay.c */

struct guest_proc {
	uint32_t pid;
	gpa_t pml4;	/* root of its page table (its CR3) */
	uint64_t limit; /* accesses it runs */
	struct guest_vma *vma;
	unsigned nvma;
	uint64_t npages;	 /* pages of all its regions */
	struct guest_wl wl;	 /* the generator (issued counts for traces too) */
	struct guest_replay *tr; /* trace replay state, or NULL: generator */
};

/* The region holding vpn, or NULL. */
static inline const struct guest_vma *guest_vma_find(const struct guest_proc *pr, uint64_t vpn)
{
	unsigned lo = 0, hi = pr->nvma;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (vpn < pr->vma[mid].start)
			hi = mid;
		else if (vpn >= pr->vma[mid].end)
			lo = mid + 1;
		else
			return &pr->vma[mid];
	}
	return NULL;
}

struct guest_os {
	struct mmu *m;	       /* borrowed */
	struct guest_swap *sw; /* borrowed */
	struct guest_params p; /* copy; p.name points at name[] */
	char name[48];
	uint64_t pages;	    /* guest frames */
	uint64_t mm_frames; /* frames holding mem_map, from gfn 1 */
	gfn_t first_data;   /* first frame after mem_map and the driver's */
	uint64_t wl_vpn;    /* vpn of GUEST_WL_BASE */
	uint64_t stride;    /* pages between working-set pages (sparse), else 1 */

	gfn_t free_head; /* free list through mem_map next, 0 = empty */
	uint64_t nfree;
	gfn_t huge_head; /* free 2 MiB blocks (large): first frames, linked
			    through mem_map next, 0 = empty */
	uint64_t nhfree;
	uint64_t nhuge;	       /* 2 MiB user pages (on the ring, one entry each) */
	gfn_t ring_head;       /* circular ring of user pages through
				  prev/next; clock hand, LRU end; 0 = empty */
	uint64_t nuser;	       /* user pages on the ring */
	uint64_t npt;	       /* page-table frames */
	uint64_t pt_need;      /* page-table frames all processes' regions need */
	struct guest_rng rrng; /* random reclaim */

	struct guest_proc *procs;
	unsigned nprocs;
	unsigned cur;	     /* index of the running process */
	uint64_t slice_left; /* accesses before the next switch */

	struct guest_balloon bl;
	struct guest_stats st;
	int failed;	  /* 0, or the -errno that failed the guest */
	char detail[192]; /* why a lower level failed, for err[] */
	char err[384];
	uint8_t *bounce; /* 4 KiB: swap I/O */
	uint8_t *fill;	 /* 4 KiB: first-write contents */
	uint8_t *zero;	 /* 4 KiB of zeros */
	uint8_t *ptbuf;	 /* 4 KiB: a table or mem_map page being built */
};

/* "ENOMEM" for ENOMEM, or NULL. */
const char *guest_errname(int err);
/* Record why a lower level failed (the first reason wins); returns r. */
int guest_detail(struct guest_os *g, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fail the guest: err[] = "guest NAME: pid P gva 0x...: detail: -EXXX". */
int guest_fail_at(struct guest_os *g, uint32_t pid, gva_t va, int r);

/* Direct-map accessors (mmu_phys); -errno with detail set on failure. */
int guest_phys(struct guest_os *g, gpa_t pa, void *buf, size_t len, unsigned acc) MUST_CHECK;
static inline int guest_phys_read64(struct guest_os *g, gpa_t pa, uint64_t *v)
{
	return guest_phys(g, pa, v, 8, MMU_READ);
}
static inline int guest_phys_write64(struct guest_os *g, gpa_t pa, uint64_t v)
{
	return guest_phys(g, pa, &v, 8, MMU_WRITE);
}
static inline gpa_t guest_mm_gpa(gfn_t gfn, unsigned off)
{
	return MEM_PAGE_SIZE + gfn * GUEST_MM_ENTRY + off;
}

/* Take a free frame for a page of `flags` (GUEST_PG_PT or GUEST_PG_USER),
 * breaking up a free 2 MiB block, then reclaiming a user page, when none is
 * free, and when reclaim cannot, deflating the balloon (deflate-on-OOM).
 * mem_map gets flags, pid, vpn. The frame's contents are stale. 0 or
 * -errno. */
int guest_frame_alloc(struct guest_os *g, uint32_t flags, uint32_t pid, uint64_t vpn,
		      gfn_t *out) MUST_CHECK;
/* A frame for the balloon (GUEST_PG_BALLOON), as Linux's balloon_page_alloc
 * asks for one: reclaim is fine, OOM is not. Fails quietly (-ENOMEM, the
 * guest is not failed, nothing recorded) when taking one would leave the
 * guest fewer frames than its page tables and GUEST_MIN_DATA_FRAMES need,
 * or when reclaim cannot free one. Other errors are the guest's. */
int guest_frame_alloc_balloon(struct guest_os *g, gfn_t *out) MUST_CHECK;
/* Put a frame back on the free list. 0 or -errno. */
int guest_frame_free(struct guest_os *g, gfn_t gfn) MUST_CHECK;
/* Take a free 2 MiB block for a user page of pid at vpn (its first):
 * -ENOMEM when there is none (no reclaim: the caller maps 4 KiB). mem_map:
 * the first frame USER | HUGE with pid and vpn, the others TAIL. */
int guest_huge_alloc(struct guest_os *g, uint32_t pid, uint64_t vpn, gfn_t *out) MUST_CHECK;
/* Put a 2 MiB user page back as a free block. 0 or -errno. */
int guest_huge_free(struct guest_os *g, gfn_t gfn) MUST_CHECK;
/* At boot: write mem_map (every frame's entry) and put the data frames on
 * the free lists (frames.c). 0 or -errno. */
int guest_boot_mem_map(struct guest_os *g) MUST_CHECK;
/* Working-set page idx's vpn, and the reverse (false outside the set). */
static inline uint64_t guest_wl_vpn(const struct guest_os *g, uint64_t idx)
{
	return g->wl_vpn + idx * g->stride;
}
static inline bool guest_wl_idx(const struct guest_os *g, uint64_t vpn, uint64_t *idx)
{
	uint64_t d = vpn - g->wl_vpn;

	if (vpn < g->wl_vpn || d % g->stride || d / g->stride >= g->p.wl.wss_pages)
		return false;
	*idx = d / g->stride;
	return true;
}
/* Is vpn a page of pr's address space: a working-set page of a generator
 * process, a page of one of a trace process's regions? */
static inline bool guest_proc_has(const struct guest_os *g, const struct guest_proc *pr,
				  uint64_t vpn)
{
	uint64_t idx;

	return pr->tr ? guest_vma_find(pr, vpn) != NULL : guest_wl_idx(g, vpn, &idx);
}
/* 4 KiB frames holding user data, a 2 MiB page's 512 included. */
static inline uint64_t guest_user_frames(const struct guest_os *g)
{
	return g->nuser - g->nhuge + g->nhuge * MEM_HUGE_PAGES;
}
/* The process with this pid, or NULL. */
struct guest_proc *guest_proc_find(struct guest_os *g, uint32_t pid);
static inline uint32_t guest_cur_pid(const struct guest_os *g)
{
	return g->procs[g->cur].pid;
}

/* ------------------------------------------------------------------------
 * Page tables (pgtable.c).
 */
/* Encoding of a swapped-out page in a not-present PTE; see pgtable.c. */
#define GUEST_PTE_SWAP	    (1ull << 1)
#define GUEST_SWAP_SLOT_MAX (1ull << 40)
uint64_t guest_pte_mk_swap(uint64_t slot);
bool guest_pte_is_swap(uint64_t pte);
uint64_t guest_pte_swap_slot(uint64_t pte);
/* Leaf flags of a user page, intermediate flags. */
#define GUEST_PTE_USER	(PTE_P | PTE_W | PTE_U)
#define GUEST_PTE_TABLE (PTE_P | PTE_W | PTE_U)

/* A zeroed page-table frame; *gpa its address. 0 or -errno. */
int guest_pt_alloc(struct guest_os *g, gpa_t *gpa) MUST_CHECK;
/* Store v in the page-table entry at gpa (counted in pt_stores). */
int guest_pt_store(struct guest_os *g, gpa_t gpa, uint64_t v) MUST_CHECK;
/* gpa of va's entry at `level` (1: PTE, 2: PDE) under root. With alloc,
 * missing tables above it are allocated; without, -ENOENT when one is
 * missing. A 2 MiB page in the way of a level-1 walk is -EUCLEAN. */
int guest_pt_walk_level(struct guest_os *g, gpa_t root, gva_t va, int level, bool alloc,
			gpa_t *gpa) MUST_CHECK;
/* The leaf entry of va: guest_pt_walk_level(..., 1, ...). */
int guest_pt_walk(struct guest_os *g, gpa_t root, gva_t va, bool alloc, gpa_t *pte_gpa) MUST_CHECK;
/* Table frames a working set of `pages` pages at GUEST_WL_BASE needs. */
uint64_t guest_pt_frames_needed(uint64_t pages);
/* Table frames (PML4 included) that map every page of n regions. */
uint64_t guest_pt_frames_vmas(const struct guest_vma *v, unsigned n);

/* ------------------------------------------------------------------------
 * Faults (fault.c) and the access loop.
 */
int guest_access_slow(struct guest_os *g, struct guest_proc *pr, gva_t va, void *buf, size_t len,
		      unsigned acc, int r) MUST_CHECK;

/* A user access of the running process pr: retries after each page fault
 * the guest OS handles. 0, or -errno with the guest failed. */
static inline int guest_access(struct guest_os *g, struct guest_proc *pr, gva_t va, void *buf,
			       size_t len, unsigned acc)
{
	int r = mmu_access(g->m, va, buf, len, acc | MMU_USER);

	if (r == 0)
		return 0;
	return guest_access_slow(g, pr, va, buf, len, acc, r);
}

/* ------------------------------------------------------------------------
 * Reclaim (reclaim.c): the ring of user pages and the policies.
 */
int guest_ring_add(struct guest_os *g, gfn_t gfn) MUST_CHECK;
int guest_ring_del(struct guest_os *g, gfn_t gfn) MUST_CHECK;
/* LRU: gfn was just accessed; move it to the most-recent end. */
int guest_lru_touch(struct guest_os *g, gfn_t gfn) MUST_CHECK;
/* Evict one user page to guest swap with the guest's policy, leaving its
 * frame on the free list. 0 or -errno (-ENOSPC: guest swap full). */
int guest_reclaim_one(struct guest_os *g) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Address-space teardown (mm.c): munmap and process exit.
 */
/* Unmap working-set pages idx .. idx + n - 1 of pr: free their frames and
 * swap slots, clear their PTEs (INVLPG for the running process), free the
 * page tables left empty, and forget what the workload wrote there. */
int guest_unmap(struct guest_os *g, struct guest_proc *pr, uint64_t idx, uint64_t n) MUST_CHECK;
/* pr exits and a fresh process takes its place: everything unmapped, every
 * table freed, a new PML4 (loaded if pr is running). */
int guest_proc_exit(struct guest_os *g, struct guest_proc *pr) MUST_CHECK;

/* ------------------------------------------------------------------------
 * The workload step (workload.c) and checks (verify.c).
 */
/* One access of process pr. 0 or -errno with the guest failed. */
int guest_wl_step(struct guest_os *g, struct guest_proc *pr) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Trace replay (replay.c).
 */
/* Check the trace workload of p: NULL, or a static reason it cannot boot. */
const char *guest_replay_check(const struct guest_params *p);
/* Set up pr (pr->pid set) to replay t: regions, limit, cursor. 0 or
 * -errno. */
int guest_replay_init(struct guest_os *g, struct guest_proc *pr,
		      const struct guest_trace *t) MUST_CHECK;
void guest_replay_fini(struct guest_proc *pr);
/* Up to n records of pr's trace; *done gets the number completed. 0 or
 * -errno with the guest failed. */
int guest_replay_run(struct guest_os *g, struct guest_proc *pr, uint64_t n,
		     uint64_t *done) MUST_CHECK;
/* Records of one pid of a trace in order, in batches, starting over at
 * the end when t->loop (shared with the in-guest program). init: 0 or
 * -ENOMEM; the caller destroys rd->cur. next: 0, or -errno with why[]
 * filled (a damaged trace, or one that ends before its record count). */
/* guest_os_verify for a trace process (verify.c's helpers below). */
int guest_replay_verify(struct guest_os *g, const struct guest_proc *pr, char *msg,
			size_t msglen) MUST_CHECK;
/*
 * Page tables read through the p2m for checks (verify.c): the last table
 * page read at each level (1 = PT .. 4 = PML4) is cached.
 */
struct guest_vcache {
	const struct mem_p2m *p2m;
	uint64_t pages;
	gfn_t gfn[5];
	uint64_t *tbl[5];
};
/* mem: 4 pages of scratch for the tables. */
void guest_vcache_init(struct guest_vcache *c, const struct guest_os *g, uint8_t *mem);
/* The leaf PTE of va under root: 0, or 1 when va lies in a large page
 * (*pte is then made up for the 4 KiB of it va is in); -ENOENT when an
 * upper level is not present, -EIO when a table is outside guest memory or
 * unreadable. */
int guest_vwalk(struct guest_vcache *c, gpa_t root, gva_t va, uint64_t *pte) MUST_CHECK;
/* The bytes of the page at va whose PTE is pte: from its frame or its swap
 * slot, into buf; where[] names the location. 0 or -EIO with msg. */
int guest_verify_read(struct guest_os *g, const struct guest_proc *pr, gva_t va, uint64_t pte,
		      uint8_t *buf, char *where, size_t wlen, char *msg, size_t msglen) MUST_CHECK;
/* Compare the expected page with the actual one; 0, or -EIO with msg
 * naming the first differing byte. */
int guest_verify_page(const struct guest_os *g, const struct guest_proc *pr, gva_t va,
		      const char *where, const uint8_t *exp, const uint8_t *act, char *msg,
		      size_t msglen) MUST_CHECK;

/*
 * Check the guest's own bookkeeping in guest memory, read through the p2m:
 * mem_map flags and counts, the free list, the user ring, and every user
 * page's PTE pointing back at its frame. 0 or -EUCLEAN with msg.
 */
int guest_os_check(struct guest_os *g, char *msg, size_t msglen) MUST_CHECK;

#endif
