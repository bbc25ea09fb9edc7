/* SPDX-License-Identifier: MIT */
/* paging_nested_internal: what the two files of nested paging share (the
 * walk, paging_nested.c; the EPT, paging_ept.c). */
#ifndef MEM_PAGING_NESTED_INTERNAL_H
#define MEM_PAGING_NESTED_INTERNAL_H

#include "mem/mem_test.h"

#define EPT_LEVELS	    4
#define NESTED_MAX_RESTARTS 16

struct nested_pwc_entry {
	gfn_t gfn;
	uint8_t *hptr; /* host frame of the guest table page; NULL = empty */
	uint32_t stamp;
};

struct nested {
	struct mmu *m;
	struct mem_mapper mapper; /* records our EPT leaves in the rmap */
	hfn_t root;		  /* EPT PML4 frame */
	uint64_t zaps;		  /* leaves zapped, ever: a walk's staleness check */
	unsigned pwc_n;
	uint32_t pwc_tick;
	struct nested_pwc_entry *pwc; /* pwc_n entries */
};

static inline unsigned ept_index(gfn_t gfn, int level)
{
	return (unsigned)(gfn >> (9 * (level - 1))) & 511u;
}

static inline uint64_t *ept_table(const struct mmu *m, uint64_t e)
{
	return (uint64_t *)mem_pool_ptr(m->pool, (e & EPT_ADDR_MASK) >> MEM_PAGE_SHIFT);
}

/* The EPT's rmap records (one per mapped gfn, ref 0) and their zap. */
extern const struct mem_mapper_ops nested_mapper_ops;
/*
 * One EPT translation of gfn (< p2m->pages) for an access of kind acc: walk
 * the levels; on a violation exit and install the leaf; set EPT_A, and
 * EPT_D on a write. Adds the levels of the leaf used to *refs, once, exit or
 * not (4 when it fails). Returns the host frame of gfn, the leaf's value in
 * *eptl and its level in *level, or NULL with *err.
 */
uint8_t *ept_translate(struct mmu *m, struct nested *n, gfn_t gfn, unsigned acc, uint64_t *refs,
		       uint64_t *eptl, int *level, int *err);
/* Free the table at frame t (level `level`, mapping gfns from base) and
 * everything below it, forgetting the rmap records of its leaves. */
void ept_free(struct mmu *m, struct nested *n, hfn_t t, int level, gfn_t base);
/* Forget gfn in the walk cache (paging_nested.c). */
void nested_pwc_flush(struct nested *n, gfn_t gfn);

#endif
