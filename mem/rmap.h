/* SPDX-License-Identifier: MIT */
/* mem/rmap.h: the reverse map (part of mem/mem.h, which includes every part). */
#ifndef MEM_RMAP_H
#define MEM_RMAP_H

#include "mem/mem_types.h"

/* ------------------------------------------------------------------------
 * Reverse map (rmap.c): which translations map a guest frame.
 *
 * A mapper is anything that caches a gfn -> host frame translation in a
 * structure of its own: the nested (EPT) table, shadow page tables, a TLB.
 * It records each cached translation with mem_rmap_add(); a remap of the
 * gfn calls mem_rmap_zap(), which calls the mapper's zap for every record
 * and removes them. `ref` is the mapper's own handle for the translation
 * (for example the address of the EPT leaf entry).
 */
struct mem_mapper;
struct mem_mapper_ops {
	const char *name;
	/* Drop the translation `ref` of gfn. May delete records of other gfns
	 * (mem_rmap_del: dropping a 2 MiB translation that covers them) but
	 * must not add or zap; the record of gfn itself is already gone. */
	void (*zap)(struct mem_mapper *m, gfn_t gfn, uint64_t ref);
};
struct mem_mapper {
	const struct mem_mapper_ops *ops;
	void *ctx; /* the mapper's own state */
};
struct mem_rmap_entry {
	struct mem_mapper *mapper;
	uint64_t ref;
	uint32_t next; /* index of the next entry of the same gfn, 0 = end */
};

/* Record that `m` maps gfn through `ref`, for an access that needed the
 * translation: an armed gfn (access tracking) counts as touched. 0 or
 * -ENOMEM / -EINVAL. */
int mem_rmap_add(struct mem_p2m *p2m, gfn_t gfn, struct mem_mapper *m, uint64_t ref) MUST_CHECK;
/* Forget one record. Returns 0, or -ENOENT if there is none. */
int mem_rmap_del(struct mem_p2m *p2m, gfn_t gfn, struct mem_mapper *m, uint64_t ref);
/* Zap and forget every translation of gfn. */
void mem_rmap_zap(struct mem_p2m *p2m, gfn_t gfn);
/* Number of translations recorded for gfn. */
unsigned mem_rmap_count(const struct mem_p2m *p2m, gfn_t gfn);

#endif
