/* SPDX-License-Identifier: MIT */
/*
 * ksm: content-based page sharing across guests, the ESX design
 * (Waldspurger, "Memory Resource Management in VMware ESX Server", OSDI
 * 2002, section 4): a scanner hashes guest pages, one global table keyed by
 * the 64-bit XXH3 hash of a page's content finds candidates, a byte compare
 * decides, and identical pages are mapped read-only from one host frame.
 * A guest write to a shared page exits to the VMM, which gives the guest a
 * private copy (copy-on-write). Zero pages share one frame.
 *
 * Everything goes through the p2m (mem/mem.h): a shared gfn is MEM_SHARED
 * with the shared frame's hfn and the write-protect bit, and every change is
 * a mem_p2m_set(), which zaps the translations the reverse map records
 * (EPT leaves, shadow entries, TLBs) before the frame changes. So sharing
 * works the same in every paging mode and across a mode switch.
 *
 * Ownership: the frames of RESIDENT gfns belong to their p2m; a shared frame
 * belongs to ksm, which frees it when its last reference goes. Each SHARED
 * gfn holds one reference on its frame.
 *
 * Counters use Linux KSM's words, with one difference: here pages_sharing
 * counts every gfn that maps a shared frame (so that for each guest
 * resident + sharing + ballooned + swapped + untouched = pages), while
 * Linux counts only the extra ones. Memory saved is pages_sharing -
 * pages_shared in our words, Linux's pages_sharing in its words.
 */
#ifndef KSM_KSM_H
#define KSM_KSM_H

#include <stdbool.h>
#include <stdint.h>

#include "util/util.h"
#include "mem/mem.h"

/* Pages per scan batch unless the params say otherwise. */
#define KSM_DEF_BATCH 256u

enum ksm_order {
	KSM_ORDER_RANDOM,     /* each pass a fresh pseudo-random permutation (ESX) */
	KSM_ORDER_SEQUENTIAL, /* gfn 0, 1, 2, ... (Linux ksmd) */
};
/* "random" or "sequential" into *out; -EINVAL for anything else. */
int ksm_order_parse(const char *s, enum ksm_order *out) MUST_CHECK;
const char *ksm_order_name(enum ksm_order o);

/* The content hash: 64 bits of a 4 KiB page. Tests replace it to force
 * collisions; the hash is only ever a filter. */
typedef uint64_t (*ksm_hash_fn)(const void *page, void *ctx);

struct ksm_params {
	double host_rate;	 /* pages per modeled second of host time, all guests
				    together; 0 = no host cap */
	unsigned batch;		 /* most pages scanned between table steps; 0 = default */
	double max_call_seconds; /* wall time one ksm_scan may take, checked between
				    batches; the pages it leaves are dropped (counted
				    in pages_dropped); 0 = no limit */
	enum ksm_order order;	 /* scan order within a guest */
	uint64_t seed;		 /* of the random order */
	ksm_hash_fn hash;	 /* NULL: XXH3 64-bit (the real thing) */
	void *hash_ctx;
};

/* Host-wide counters. Pages are 4 KiB. */
struct ksm_stats {
	uint64_t pages_shared;	     /* shared frames in use (the zero frame included) */
	uint64_t pages_sharing;	     /* gfns mapping a shared frame, all guests */
	uint64_t pages_saved;	     /* pages_sharing - pages_shared: frames freed */
	uint64_t pages_zero_sharing; /* gfns mapping the zero frame */
	uint64_t pages_hinted;	     /* hint entries now: pages seen once */
	uint64_t pages_volatile;     /* scans skipped: content changed since last scan */
	uint64_t pages_scanned;	     /* gfns visited by the scanner, ever */
	uint64_t pages_hashed;	     /* resident pages hashed, ever */
	uint64_t full_scans;	     /* completed passes over a guest, all guests */
	uint64_t merges;	     /* gfns turned SHARED, ever */
	uint64_t cow_breaks;	     /* SHARED gfns given a private copy, ever */
	uint64_t stale_hints;	     /* hints dropped: page gone or changed */
	uint64_t collisions;	     /* equal hashes, different bytes */
	uint64_t swap_tries;	     /* pages looked at before a host swap-out */
	uint64_t swap_merges;	     /* of those, shared instead of swapped */
	uint64_t table_entries;	     /* shared + hint entries */
	uint64_t table_buckets;	     /* buckets of both tables while resizing */
	uint64_t table_resizes;
	uint64_t metadata_bytes;	 /* ksm's own allocations, measured (below) */
	uint64_t metadata_counted_bytes; /* the same, counted by ksm itself */
	const char *metadata_source;	 /* "jemalloc" (release) or "counted" (ASan) */
	double scan_cpu_seconds;	 /* thread CPU time spent scanning */
	uint64_t pages_dropped;		 /* scan credit left when a call ran out of time */
	double read_seconds;		 /* of which reading pages (the guest's page op) */
	double hash_seconds;		 /* and hashing them (zero test and XXH3) */
	double scan_wall_seconds;
};

/* One guest's counters. */
struct ksm_guest_stats {
	uint64_t pages_sharing; /* its SHARED gfns */
	uint64_t pages_scanned;
	uint64_t pages_volatile;
	uint64_t merges;
	uint64_t cow_breaks;
	uint64_t full_scans;
};

struct ksm;
struct ksm_guest;

/*
 * Create the sharing engine over pool (borrowed; at most 2^32 frames).
 * p is copied; NULL takes defaults. Returns NULL with errno set.
 */
struct ksm *ksm_create(struct mem_pool *pool, const struct ksm_params *p);
/* Free the table. Every guest must have been removed (a BUG otherwise). */
void ksm_destroy(struct ksm *k);

/*
 * Register a guest whose p2m (borrowed, in the same pool, at most 2^32
 * pages) the scanner may share, scanned at `rate` pages per modeled second
 * of its own clock. Returns NULL with errno set.
 */
struct ksm_guest *ksm_guest_add(struct ksm *k, struct mem_p2m *p2m, double rate);

/*
 * A guest whose memory ksm does not hold in a p2m (a KVM guest's memfd,
 * vmm-core/kvm/kvm_mem.c): the same table, hashes, hints, byte compares
 * and references, with the guest's side of each step done by its ops. A
 * shared frame is still a frame of ksm's pool (the backend maps it into
 * the guest); a resident page's bytes are the guest's.
 */
#define KSM_NO_FRAME UINT64_MAX
struct ksm_mem_ops {
	/* gfn's bytes if it is resident and holds memory (not a hole), else
	 * NULL; buf (4 KiB) may be used to hold them. */
	const uint8_t *(*page)(void *ctx, gfn_t gfn, uint8_t *buf);
	/* The shared frame gfn maps, or KSM_NO_FRAME. */
	hfn_t (*shared)(void *ctx, gfn_t gfn);
	/* Make resident gfn map shared frame hfn if its bytes are still the
	 * frame's, safely against the guest's writers: 1 done, 0 not (it was
	 * written: ksm treats it as volatile). */
	int (*merge)(void *ctx, gfn_t gfn, hfn_t hfn);
	/* Shared gfns now. */
	uint64_t (*sharing)(void *ctx);
};
struct ksm_guest *ksm_guest_add_mem(struct ksm *k, const struct ksm_mem_ops *ops, void *ctx,
				    uint64_t pages, double rate);
/* The guest's backend took shared gfn off frame hfn: a write broke the
 * share (written: counted as a copy-on-write break), or the page was
 * discarded (the balloon). Drops its reference. 0, or -EINVAL. */
int ksm_unshared(struct ksm_guest *kg, gfn_t gfn, hfn_t hfn, bool written) MUST_CHECK;
/*
 * Forget a guest: drop every reference its SHARED gfns hold (freeing frames
 * whose last reference that was) and every hint naming it. Its SHARED p2m
 * entries then name frames it no longer holds: call this right before
 * mem_p2m_destroy(), after its MMUs are gone. NULL is a no-op.
 */
void ksm_guest_remove(struct ksm_guest *kg);

/*
 * Scan the next `pages` gfns of kg in its scan order, in batches. Never
 * fails: a page that cannot get metadata (no memory) stays unshared.
 */
void ksm_scan(struct ksm *k, struct ksm_guest *kg, uint64_t pages);
/*
 * The scheduler's hook: kg's clock is at guest_seconds and the host's (the
 * slowest running guest's) at host_seconds, modeled. Adds scan credit at
 * kg's rate and the host rate since the last tick and scans what both
 * allow. Credit is capped at one pass over the guest.
 */
void ksm_tick(struct ksm *k, struct ksm_guest *kg, double guest_seconds, double host_seconds);
/*
 * Scan every guest in whole passes until a round merges nothing (at most
 * max_rounds rounds). Returns the rounds run. *first_cpu and *first_wall
 * (each may be NULL) get the scan CPU and wall seconds of the first round,
 * after which static memory is fully shared; the later rounds only confirm
 * it.
 */
unsigned ksm_converge(struct ksm *k, unsigned max_rounds, double *first_cpu, double *first_wall);

/*
 * Copy-on-write: give SHARED gfn of kg a private copy of its frame (or the
 * frame itself when this was its last reference) and make it RESIDENT and
 * writable. The VMM calls this on a write exit. Returns 0, -ENOMEM when the
 * pool has no frame for the copy (nothing changed), -EINVAL when gfn is not
 * SHARED.
 */
int ksm_cow_break(struct ksm_guest *kg, gfn_t gfn) MUST_CHECK;
/*
 * Move SHARED gfn to state `to` with value val (mem_p2m_set rules; for
 * example BALLOONED, 0) and drop its reference. For mechanisms that take a
 * shared page away (balloon). 0 or -EINVAL (gfn not SHARED, or an illegal
 * move; nothing changed).
 */
int ksm_unshare(struct ksm_guest *kg, gfn_t gfn, enum mem_page_state to, uint64_t val) MUST_CHECK;

/*
 * Sharing before swapping (ESX): look at RESIDENT gfn of kg now, outside
 * the scanner's pace and without its volatility filter, and merge it if an
 * identical page is known (a shared frame, a hint, the zero page); else it
 * becomes a hint. The host swap calls this on a victim before writing it
 * out. Returns 1 when gfn is SHARED afterwards (the caller need not swap
 * it; the frames freed show in the pool), 0 when it is not (swap it), or
 * -EINVAL for a gfn out of range.
 */
int ksm_try_share(struct ksm_guest *kg, gfn_t gfn) MUST_CHECK;

void ksm_stats(const struct ksm *k, struct ksm_stats *st);
void ksm_guest_stats(const struct ksm_guest *kg, struct ksm_guest_stats *st);
/* Copy-on-write breaks of kg so far (for the modeled clock). */
uint64_t ksm_guest_cow_breaks(const struct ksm_guest *kg);

/*
 * Recount every invariant: each shared frame's reference count equals the
 * SHARED gfns naming it, every SHARED gfn names a live shared frame, shared
 * frames are allocated in the pool, hints name registered guests, table
 * counts match. Returns 0 or -EUCLEAN with a message on stderr. O(table +
 * guest pages + pool frames); for tests and the end of a run.
 */
int ksm_check(const struct ksm *k) MUST_CHECK;

#endif
