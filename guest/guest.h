/* SPDX-License-Identifier: MIT */
/*
 * guest: the soft guest OS and its workloads.
 *
 * The guest OS runs on a software vCPU: every byte it or its workloads read
 * or write goes through the MMU (mmu_access for virtual addresses through
 * the guest's own page tables, mmu_phys for its kernel's direct map), never
 * through a host pointer. It keeps, in guest memory:
 *   - mem_map: one 64-byte struct guest_page per guest frame (as Linux's
 *     struct page), sized by the configured memory;
 *   - per process, a 4-level x86-64 page table in the real format.
 * It demand-pages with zero-fill, and when its free frames run out it
 * reclaims user pages to guest swap with the configured replacement policy.
 *
 * Guest swap is the guest's disk: one host file per guest swap store, shared
 * by all guests of a run (a thousand guests cost one descriptor), carved
 * into per-guest extents on demand.
 *
 * This module never includes vmm-core.
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/util.h"
#include "mem/mem.h"

/* ------------------------------------------------------------------------
 * Guest swap store (swap.c)
 *
 * Areas are not thread-safe; one store may serve areas of many guests run
 * by one thread.
 */
struct guest_swap_store;
struct guest_swap;

/* Create a store backed by one unlinked file in dir (NULL: $TMPDIR or
 * /tmp). Returns NULL with errno set. */
struct guest_swap_store *guest_swap_store_create(const char *dir);
/* Close the file. Every area must have been destroyed. */
void guest_swap_store_destroy(struct guest_swap_store *st);
/* Bytes the store's file occupies on disk now. */
uint64_t guest_swap_store_bytes(const struct guest_swap_store *st);

/* A swap area of `slots` 4 KiB slots for one guest, in st (borrowed).
 * Extents are taken from the file as slots are first used. NULL + errno. */
struct guest_swap *guest_swap_create(struct guest_swap_store *st, uint64_t slots);
/* Free the area's slots; its extents return to the store for reuse. */
void guest_swap_destroy(struct guest_swap *sw);
/* Take a free slot. Returns 0, -ENOSPC when the area is full, -errno. */
int guest_swap_alloc(struct guest_swap *sw, uint64_t *slot) MUST_CHECK;
void guest_swap_free(struct guest_swap *sw, uint64_t slot);
/* Write / read one 4 KiB page at slot, which must be allocated (else
 * -EINVAL). 0 or -errno: -EIO on a short transfer, -ENOSPC when the disk
 * is full; guest_swap_error() then names the slot. */
int guest_swap_write(struct guest_swap *sw, uint64_t slot, const void *page) MUST_CHECK;
int guest_swap_read(const struct guest_swap *sw, uint64_t slot, void *page) MUST_CHECK;
/* Slots in use. */
uint64_t guest_swap_used(const struct guest_swap *sw);
/* The area's last error as a message naming the slot ("" if none). */
const char *guest_swap_error(const struct guest_swap *sw);

/* ------------------------------------------------------------------------
 * Workloads (workload.c, zipf.c, content.c)
 *
 * A workload generates one process's accesses over a working set of pages
 * starting at GUEST_WL_BASE. Reads load 8 bytes; writes store 8 bytes whose
 * value follows the content model. The workload records, host-side and
 * apart from guest memory, what it wrote to every page (its content kind
 * and a write count), so that the expected bytes of every page can be
 * recomputed from the seed alone: that is what --verify checks against.
 *
 * Content models (what writes put in memory):
 *   zero      every store writes 0: pages stay all-zero;
 *   private   the first write fills the page with bytes unique to (seed,
 *             process, page), each later store writes a unique word;
 *   library   the first write copies a page of the shared library image
 *             (the same in every guest with the same library seed), later
 *             stores write the library's own word back: identical pages
 *             across guests for page sharing to find;
 *   mixed     per page, zero_pct % zero, library_pct % library, the rest
 *             private, chosen by a hash of the page.
 */
#define GUEST_WL_BASE 0x0000000010000000ull /* workload region, gva */

/*
 *   seq, uniform, zipf  over wss_pages contiguous pages;
 *   sparse   TLB-miss heavy: uniform over wss_pages pages placed `stride`
 *            pages apart, so the working set spans wss_pages * stride
 *            pages of address space and many page tables, which stay
 *            unchanged once built;
 *   churn    page-table heavy: uniform accesses, and between them the
 *            process unmaps a random region of `region` pages (munmap:
 *            its PTEs cleared, its frames freed, emptied tables freed)
 *            unmap_pm times per thousand operations, and every `life`
 *            operations it exits and a fresh process takes its place
 *            (new page tables from a new PML4). With several processes
 *            and a short timeslice, context switches are frequent too.
 *            For churn, `accesses` counts operations of all three kinds.
 *   steps    uniform over the first steps[k] pages of the working set
 *            during step k, each step lasting step_accesses accesses (or
 *            step_ns of the guest's clock), cyclically: a toucher whose active memory steps up and
 * down (the working set is the largest step; what a step leaves alone stays allocated and idle).
 */
enum guest_pattern {
	GUEST_PAT_SEQ,
	GUEST_PAT_UNIFORM,
	GUEST_PAT_ZIPF,
	GUEST_PAT_SPARSE,
	GUEST_PAT_CHURN,
	GUEST_PAT_STEPS
};
#define GUEST_WL_MAX_STEPS 16
enum guest_content {
	GUEST_CONTENT_ZERO,
	GUEST_CONTENT_PRIVATE,
	GUEST_CONTENT_LIBRARY,
	GUEST_CONTENT_MIXED
};

/* The shared library image: pages of deterministic bytes from a seed. */
struct guest_library {
	uint64_t pages;
	uint8_t *data; /* pages * 4 KiB, host memory: the "disk image" */
};
/* Generate a library of `pages` pages from seed. NULL + errno. */
struct guest_library *guest_library_create(uint64_t pages, uint64_t seed);
void guest_library_destroy(struct guest_library *lib);

struct guest_workload_params {
	enum guest_pattern pattern;
	uint64_t wss_pages; /* working set, 4 KiB pages */
	uint64_t accesses;  /* accesses per process */
	unsigned write_pct; /* 0..100 */
	double zipf_theta;  /* zipf skew, e.g. 0.99 */
	enum guest_content content;
	unsigned zero_pct;		    /* mixed only */
	unsigned library_pct;		    /* mixed only */
	const struct guest_library *lib;    /* borrowed; needed by library/mixed */
	uint64_t stride;		    /* sparse: pages between working-set pages (>= 1) */
	uint64_t region;		    /* churn: pages per unmapped region (>= 1) */
	unsigned unmap_pm;		    /* churn: unmaps per 1000 operations */
	uint64_t life;			    /* churn: operations between process exits; 0 never */
	uint64_t steps[GUEST_WL_MAX_STEPS]; /* steps: pages, each 1..wss_pages */
	unsigned nsteps;
	uint64_t step_accesses; /* steps: accesses per step, > 0 */
	uint64_t step_ns;	/* steps: if > 0, each step lasts this long on the
			   guest's clock instead (needs guest_params.clock_ns);
			   a step of 0 pages is idle: the guest halts */
};

/* Parse names as used in configs; return -EINVAL for an unknown name. */
int guest_pattern_parse(const char *s, enum guest_pattern *out) MUST_CHECK;
int guest_content_parse(const char *s, enum guest_content *out) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Trace workloads (replay.c)
 *
 * A trace process replays the records of one address space (pid) of a
 * binary trace (traces/traces.h) at the trace's own virtual addresses, in
 * its own page tables: its valid regions are the runs of pages the trace's
 * summary says that pid touches, and a fault anywhere else is a guest bug.
 * Each record is one workload access, split at 4 KiB boundaries into one
 * MMU access per page, lowest first: I is an instruction fetch, L a load,
 * S and M one write. What the bytes are:
 *
 *   S, M     store n of the process (n = 0, 1, ... over its S and M
 *            records, loops included) writes at each byte address a of
 *            its range byte (a & 7) of the little-endian word
 *            util_mix64(h(seed, pid, TSTORE) + n): a word unique to the
 *            store, laid at its natural alignment;
 *   ZERO     the page is written with 4 KiB of zeros;
 *   IMAGE    the page is written with page `arg` mod library pages of the
 *            run's library image (image 0; the only one a guest has);
 *   PRIVATE  the page is written with 4 KiB from a generator seeded by the
 *            record's seed alone, so equal seeds give equal pages, in any
 *            guest.
 *
 * guest_os_verify() recomputes every touched page by reading the trace
 * again, as many records as the process ran (page groups of at most 16 MiB
 * at a time, one pass over the records per group), and compares all 4096
 * bytes of each page; pages the process never reached must have no PTE.
 */
struct trace_file;
struct guest_trace {
	const struct trace_file *tf; /* borrowed, open while the guest lives */
	uint32_t pid;		     /* the trace's address space to replay */
	bool loop;		     /* start over at its end, until `accesses` */
};

/* Page-table frames a process replaying t needs for all its regions (0 if
 * the trace has no such pid): with its data frames and mem_map, what a
 * guest's memory must hold. */
uint64_t guest_trace_table_frames(const struct guest_trace *t);

/* ------------------------------------------------------------------------
 * The guest OS (os.c, pgtable.c, fault.c, reclaim.c, verify.c)
 */
enum guest_reclaim { GUEST_RECLAIM_CLOCK, GUEST_RECLAIM_LRU, GUEST_RECLAIM_RANDOM };
int guest_reclaim_parse(const char *s, enum guest_reclaim *out) MUST_CHECK;
const char *guest_reclaim_name(enum guest_reclaim r);

/* ------------------------------------------------------------------------
 * Devices (balloon.c): the guest's virtio-balloon driver.
 *
 * The VMM gives the guest a device window: reads and writes of the legacy
 * virtio-PCI registers (offsets BALLOON_PCI_* of balloon-driver/
 * balloon_abi.h, the device configuration at BALLOON_PCI_CONFIG), each one
 * an I/O exit, and the guest's clock. The driver keeps its split rings and
 * buffers in guest frames it reserves at boot, reaches them only through
 * the MMU (the kernel's direct map), and learns of the device's interrupts
 * through guest_os_interrupt().
 */
struct guest_dev_ops {
	/* Read len (1, 2 or 4) bytes of register off; write val to it. */
	uint32_t (*io_read)(void *ctx, unsigned off, unsigned len);
	void (*io_write)(void *ctx, unsigned off, uint32_t val, unsigned len);
	/* The guest's clock, nanoseconds (its TSC). */
	uint64_t (*clock_ns)(void *ctx);
};

/* How the guest's balloon driver behaves. */
enum guest_balloon_mode {
	GUEST_BALLOON_NONE,    /* no driver: the device is never set up */
	GUEST_BALLOON_VIRTIO,  /* Linux's virtio_balloon, as it behaves */
	GUEST_BALLOON_IGNORE,  /* sets up the device, then ignores the target */
	GUEST_BALLOON_GARBAGE, /* sends frames that are not its to give */
};
/* "none", "virtio", "ignore", "garbage"; -EINVAL otherwise. */
int guest_balloon_mode_parse(const char *s, enum guest_balloon_mode *out) MUST_CHECK;

/* Retry an allocation the guest could not make after this long (Linux's
 * "Out of puff!" back-off), and give back this many pages per OOM. */
#define GUEST_BALLOON_RETRY_NS 200000000ull
#define GUEST_BALLOON_BATCH    256u  /* pages per inflate or deflate buffer */
#define GUEST_BALLOON_WORK_MAX 1024u /* pages moved per run of the driver */

struct guest_params {
	const char *name;   /* for messages; borrowed */
	uint64_t pages;	    /* configured guest memory, 4 KiB pages */
	unsigned procs;	    /* processes, each running the workload */
	uint64_t timeslice; /* accesses between context switches (0: 1) */
	enum guest_reclaim reclaim;
	uint64_t swap_pages; /* guest swap area, 4 KiB slots: the size the
				VMM creates the area with; the guest uses
				the area it is given (below 2^40) */
	uint64_t seed;
	bool large; /* map the workload with 2 MiB pages where it can */
	struct guest_workload_params wl;
	/* Trace workloads: one process per entry (procs is then ignored),
	 * each running wl.accesses accesses (0: its records once; a looping
	 * trace needs wl.accesses). NULL: the generator of wl. Borrowed. */
	const struct guest_trace *traces;
	unsigned ntraces;
	uint64_t data_frames;			 /* at most this many user data frames resident
						    (page tables and mem_map not counted); 0:
						    as many as memory holds */
	uint64_t (*clock_ns)(void *ctx);	 /* the guest's clock (its TSC), or NULL */
	void (*halt_ns)(void *ctx, uint64_t ns); /* HLT: nothing to run for ns */
	void *clock_ctx;			 /* passed to clock_ns and halt_ns */
	const struct guest_dev_ops *balloon;	 /* the balloon device, NULL: none */
	void *balloon_ctx;			 /* passed back to its ops */
	enum guest_balloon_mode balloon_mode;
};

/* A guest frame's entry in mem_map, in guest memory: 64 bytes, as Linux. */
struct guest_page {
	uint32_t flags; /* GUEST_PG_* */
	uint32_t pid;	/* owning process of a user page */
	uint64_t vpn;	/* virtual page it backs, for reclaim */
	uint64_t prev;	/* LRU / clock ring, gfn; free list uses next */
	uint64_t next;
	uint8_t pad[32];
};
#define GUEST_PG_FREE	 1u
#define GUEST_PG_KERNEL	 2u   /* mem_map itself, reserved */
#define GUEST_PG_PT	 4u   /* a page-table page */
#define GUEST_PG_USER	 8u   /* a user data page on the reclaim ring */
#define GUEST_PG_HUGE	 16u  /* with FREE or USER: first frame of a 2 MiB block */
#define GUEST_PG_TAIL	 32u  /* one of the 511 other frames of a 2 MiB block */
#define GUEST_PG_BALLOON 64u  /* given to the balloon, on its list via next */
#define GUEST_PG_DEV	 128u /* the balloon driver's rings and buffers */

struct guest_stats {
	uint64_t accesses;    /* workload accesses completed */
	uint64_t page_faults; /* #PF handled by the guest OS */
	uint64_t zero_fills;  /* first-touch faults (a 2 MiB one counts 1) */
	uint64_t swap_outs;   /* 4 KiB pages */
	uint64_t swap_ins;
	uint64_t ctx_switches;
	uint64_t pt_stores;	/* 8-byte stores to page-table entries */
	uint64_t huge_faults;	/* faults that mapped a 2 MiB page */
	uint64_t huge_splits;	/* 2 MiB pages split into 4 KiB swap entries */
	uint64_t unmaps;	/* regions unmapped (churn) */
	uint64_t exits;		/* processes that exited and were replaced */
	uint64_t frames_free;	/* 4 KiB frames, 2 MiB blocks included */
	uint64_t frames_kernel; /* mem_map */
	uint64_t frames_pt;
	uint64_t frames_user; /* 4 KiB frames, 2 MiB pages included */
	uint64_t wl_active;   /* pages the workloads' current steps cover */
	uint64_t halts;	      /* HLTs: idle steps (the VMM's clock moves on) */
	/* the balloon driver */
	uint64_t frames_balloon;   /* pages in the balloon now */
	uint64_t balloon_target;   /* the device's num_pages, as last read */
	uint64_t balloon_inflated; /* pages given, ever */
	uint64_t balloon_deflated; /* pages taken back, ever (OOM included) */
	uint64_t balloon_oom;	   /* pages taken back under OOM, unasked */
	uint64_t balloon_puffs;	   /* allocations that failed ("out of puff") */
	uint64_t balloon_kicks;	   /* queue notifications */
	uint64_t balloon_irqs;	   /* interrupts handled */
};

struct guest_os;
/*
 * Boot a guest OS on the vCPU whose MMU is m (borrowed): write mem_map into
 * guest memory, build the free list, create the processes and their
 * workloads, and load the first process's CR3. sw (borrowed; NULL: no
 * swap, the guest fails when it runs out of frames) is its swap area; p is
 * copied, p->name and p->wl.lib are borrowed for the guest's lifetime.
 * p->pages must not exceed the p2m's pages. Returns NULL with errno set;
 * for a configuration that cannot boot (errno EINVAL: memory too small for
 * mem_map, the page tables of every process's regions and 8 data frames
 * (or data_frames, if fewer); bad parameters; a trace touching addresses
 * beyond the 47-bit user half or using an image the guest has not) *why
 * (if not NULL) gets a static message, for
 * any other failure (host memory, a guest-memory access the VMM failed at
 * boot) NULL.
 */
struct guest_os *guest_os_create(struct mmu *m, struct guest_swap *sw, const struct guest_params *p,
				 const char **why);
void guest_os_destroy(struct guest_os *g);
/*
 * Run up to `budget` workload accesses (fewer when the workload ends),
 * across calls as one schedule. *done gets the number completed. Returns
 * 0, or -errno when the guest failed (the VMM refused a frame, guest swap
 * full (-ENOSPC), I/O error, a guest bug); then guest_os_error() says why,
 * naming guest, pid and gva, and every later call returns the same error.
 * Allocates nothing.
 */
int guest_os_run(struct guest_os *g, uint64_t budget, uint64_t *done) MUST_CHECK;
/* Every process finished its accesses, or the guest failed. */
bool guest_os_done(const struct guest_os *g);
/* Why the guest failed; "" while it has not. */
const char *guest_os_error(const struct guest_os *g);
/* The balloon device raised its interrupt; the guest services it before
 * its next access. */
void guest_os_interrupt(struct guest_os *g);
/* Why the balloon driver stopped ("" while it runs or never ran). */
const char *guest_balloon_error(const struct guest_os *g);
void guest_os_stats(const struct guest_os *g, struct guest_stats *st);
/*
 * Check every page each workload touched against what it wrote, reading
 * guest memory through the p2m and guest swap (not through the MMU, which
 * would change A/D bits and TLB state). Returns 0 when all match, -EIO at
 * the first mismatch with msg naming process, gva, gfn and byte offset.
 */
int guest_os_verify(struct guest_os *g, char *msg, size_t msglen) MUST_CHECK;
/* Write "pid 0xcr3" lines (decimal pid, hexadecimal gpa of the PML4), one
 * per process, to f. */
void guest_os_dump_roots(const struct guest_os *g, FILE *f);

#endif
