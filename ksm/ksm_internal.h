/* SPDX-License-Identifier: MIT */
/* ksm private declarations: the allocator, the table, the engine's state. */
#ifndef KSM_KSM_INTERNAL_H
#define KSM_KSM_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "ksm/ksm.h"

/* ------------------------------------------------------------------------
 * Metadata allocator (alloc.c). In the release build (MEMVISOR_JEMALLOC)
 * every allocation goes to a jemalloc arena of its own, whose statistics
 * are the measured overhead; elsewhere plain malloc. Both count bytes.
 */
struct ksm_alloc {
	unsigned arena;	   /* jemalloc arena index (release build) */
	bool jemalloc;	   /* the arena exists */
	uint64_t bytes;	   /* live bytes, as requested */
	uint64_t peak;	   /* highest `bytes` */
	uint64_t failures; /* allocations refused */
};

int ksm_alloc_init(struct ksm_alloc *a) MUST_CHECK;
/* Every allocation must have been freed. */
void ksm_alloc_fini(struct ksm_alloc *a);
/* n bytes, zeroed. NULL on failure. */
void *ksm_zalloc(struct ksm_alloc *a, size_t n);
/* Grow or shrink p (of `old` bytes) to n bytes; new bytes are not zeroed.
 * NULL on failure, p then untouched. */
void *ksm_realloc(struct ksm_alloc *a, void *p, size_t old, size_t n);
/* Free p of n bytes (the size it was allocated with). NULL is a no-op. */
void ksm_free(struct ksm_alloc *a, void *p, size_t n);
/* Bytes the allocator holds for us: jemalloc's count for the arena (size
 * classes included) when there is one, else our own count. */
uint64_t ksm_alloc_measured(const struct ksm_alloc *a);
const char *ksm_alloc_source(const struct ksm_alloc *a);

/* ------------------------------------------------------------------------
 * The global table (table.c): entries by content hash, chained, with
 * Redis-dict-style incremental resizing.
 *
 * An entry is 20 bytes. Shared frame: hash, hfn, reference count. Hint:
 * hash, guest id, gfn. Entries live in chunks of KSM_CHUNK (never moved, so
 * growing the slab copies nothing); index 0 is "none".
 */
#define KSM_HINT       0x80000000u /* aux: a hint, guest id below */
#define KSM_CHUNK_BITS 12
#define KSM_CHUNK      (1u << KSM_CHUNK_BITS)

struct ksm_entry {
	uint32_t hlo, hhi; /* the 64-bit content hash */
	uint32_t next;	   /* next entry of the chain (or free list); 0 = end */
	uint32_t val;	   /* shared: hfn; hint: gfn */
	uint32_t aux;	   /* shared: references; hint: KSM_HINT | guest id */
};

/* The per-page sum of a hash: its low 32 bits, never 0. Buckets are
 * chosen by it. */
static inline uint32_t ksm_sum(uint64_t h)
{
	return (uint32_t)h ? (uint32_t)h : 1u;
}

#define KSM_HT_MIN_SIZE	 1024ull /* buckets */
#define KSM_STEP_BUCKETS 4u	 /* non-empty buckets a resize step moves, at most */
#define KSM_STEP_VISITS	 40u	 /* buckets a resize step looks at, at most */

struct ksm_ht {
	uint32_t *b;   /* bucket heads, entry indexes */
	uint64_t size; /* buckets: a power of two, or 0 */
	uint64_t used; /* entries chained here */
};

struct ksm_table {
	struct ksm_alloc *alloc; /* borrowed */
	struct ksm_ht ht[2];	 /* ht[1] is the target while resizing */
	int64_t rehash;		 /* next ht[0] bucket to move; -1: not resizing */
	struct ksm_entry **chunk;
	uint32_t nchunks, chunk_cap;
	uint32_t free;	   /* free list of entries */
	uint32_t fresh;	   /* entries [1, fresh) were handed out once */
	uint64_t entries;  /* live entries */
	uint64_t resizes;  /* resizes started */
	uint64_t max_step; /* most buckets one step visited */
};

/* Cursor over the entries of one hash (or one sum). */
struct ksm_cursor {
	uint64_t key;
	bool by_sum;
	uint32_t next; /* prefetched: the current entry may be removed */
	int t;	       /* table of `next` */
};

int ksm_table_init(struct ksm_table *t, struct ksm_alloc *a) MUST_CHECK;
void ksm_table_fini(struct ksm_table *t);

static inline struct ksm_entry *ksm_entry(const struct ksm_table *t, uint32_t i)
{
	return &t->chunk[i >> KSM_CHUNK_BITS][i & (KSM_CHUNK - 1)];
}
static inline uint64_t ksm_entry_hash(const struct ksm_entry *e)
{
	return (uint64_t)e->hhi << 32 | e->hlo;
}
static inline bool ksm_entry_hint(const struct ksm_entry *e)
{
	return (e->aux & KSM_HINT) != 0;
}

/* Add an entry; returns its index, or 0 when no memory. May start a resize. */
uint32_t ksm_table_insert(struct ksm_table *t, uint64_t hash, uint32_t val, uint32_t aux);
/* Unlink and free entry i. May start a shrink. */
void ksm_table_remove(struct ksm_table *t, uint32_t i);
/*
 * First entry of hash `hash`, 0 if none; then ksm_table_next. With by_sum,
 * `hash` is a per-page sum (ksm_sum) and every entry whose hash has that
 * sum matches: the scanner keeps only sums per page, and buckets are chosen
 * by the sum, so they never need more. The entry just returned may be
 * removed; nothing may be inserted and no step taken while a cursor is in
 * use.
 */
uint32_t ksm_table_first(const struct ksm_table *t, struct ksm_cursor *c, uint64_t hash,
			 bool by_sum);
uint32_t ksm_table_next(const struct ksm_table *t, struct ksm_cursor *c);
/* One bounded step of an ongoing resize (a few buckets). */
void ksm_table_step(struct ksm_table *t);
/* Buckets of both tables. */
uint64_t ksm_table_buckets(const struct ksm_table *t);

/* ------------------------------------------------------------------------
 * The engine (ksm.c, scan.c)
 */
struct ksm_guest {
	struct ksm *k;
	struct mem_p2m *p2m;	       /* borrowed; NULL for a guest with ops */
	const struct ksm_mem_ops *ops; /* how its memory is reached */
	void *ctx;		       /* the ops' (the p2m for a soft guest) */
	uint64_t pages;
	uint32_t id; /* index in k->guests, named by hints */
	/* per gfn: low 32 bits of its hash at its last scan, 0 = never
	 * scanned (a real 0 is stored as 1): the volatility check, and the
	 * bucket of the gfn's hint or shared frame */
	uint32_t *sum;
	double rate;		 /* pages per modeled second of its clock */
	double credit, last;	 /* unspent scan credit (pages), clock at last tick */
	uint64_t pos, pass;	 /* scan position within the current pass */
	uint64_t perm_a, perm_c; /* this pass's random permutation */
	unsigned perm_bits;
	struct ksm_guest_stats st;
};

struct ksm {
	struct mem_pool *pool; /* borrowed */
	struct ksm_params p;
	struct ksm_alloc alloc;
	struct ksm_table table;
	struct ksm_guest **guests; /* by id; NULL = free id */
	uint32_t nguests, guests_cap;
	uint64_t guest_pages; /* of all registered guests */
	hfn_t zero_hfn;	      /* the zero frame, or KSM_NO_FRAME */
	uint64_t zero_refs;
	uint64_t zero_hash;	/* hash of a zero page */
	uint64_t shared_frames; /* shared entries (zero frame apart) */
	uint64_t sharing;	/* references on shared entries (zero apart) */
	double host_credit, host_last;
	/* frames merges freed, given to the pool in address order at the end
	 * of each scan call (scan.c says why) */
	hfn_t *defer;
	uint32_t ndefer;
	struct ksm_stats st; /* the cumulative counters */
};

#define KSM_DEFER_MAX 4096u /* frames held back at most: 16 MiB */

/* The ops of a guest in a p2m (ksm.c). */
extern const struct ksm_mem_ops ksm_p2m_ops;

/* Hash of a 4 KiB page with the configured function (scan.c). */
uint64_t ksm_hash_page(const struct ksm *k, const void *page);
/* Remove every hint of (kg, gfn) from the bucket of kg->sum[gfn]. */
void ksm_drop_hints(struct ksm *k, const struct ksm_guest *kg, gfn_t gfn);
/* The shared entry of frame hfn, found through the sum of gfn; BUG if none. */
uint32_t ksm_find_shared(const struct ksm *k, const struct ksm_guest *kg, gfn_t gfn, hfn_t hfn);

#endif
