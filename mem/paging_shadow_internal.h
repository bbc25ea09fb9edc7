/* SPDX-License-Identifier: MIT */
/* paging_shadow_internal: what the two files of shadow paging share. */
#ifndef MEM_PAGING_SHADOW_INTERNAL_H
#define MEM_PAGING_SHADOW_INTERNAL_H

#include "mem/mem_test.h"

/*
 * Shadow entries (sptes) are x86-64 PTEs (PTE_* in mem.h) whose address is
 * a host frame (hfn << 12). A non-leaf spte is hfn | P | W | U | A: the
 * permissions of the guest path are folded into each leaf, as KVM does.
 */
#define SH_LEVELS    4
#define SH_UPPER     (PTE_P | PTE_W | PTE_U | PTE_A)
#define SH_VPN_BITS  36 /* vpns of the 48-bit address space */
#define SH_VPN_MASK  ((1ull << SH_VPN_BITS) - 1)
#define SH_REF_SHIFT 40
#define SH_DMAP_REF  UINT64_MAX	  /* rmap ref of a direct-map translation */
#define SH_MAX_PAGES (1ull << 32) /* gfns are kept in 32 bits */
#define SH_MAX_ROOTS 4096
#define SH_NO_ROOT   UINT32_MAX

/* rmap ref of the leaf spte that maps vpn in root `slot`. */
static inline uint64_t sh_ref(uint32_t slot, uint64_t vpn)
{
	return (uint64_t)slot << SH_REF_SHIFT | (vpn & SH_VPN_MASK);
}

/* Pages (4 KiB) that one entry of a table at level covers. */
static inline uint64_t sh_span(int level)
{
	return 1ull << (9 * (level - 1));
}

/* A shadow page: one pool frame of 512 sptes and what we know about it. */
struct sh_page {
	hfn_t hfn;	 /* the frame holding the sptes */
	uint32_t *child; /* level >= 2: shadow page under each entry, 0 = none */
	uint32_t *gfns;	 /* level <= 2: gfn of each leaf entry (2 MiB: first) */
	gfn_t gfn;	 /* the guest table shadowed; direct: first gfn mapped */
	uint64_t vpn;	 /* first vpn covered (36 bits) */
	uint32_t next;	 /* next page shadowing the same gfn; or free list */
	uint32_t slot;	 /* root it belongs to */
	uint8_t level;	 /* 4 (PML4) .. 1 (PT) */
	uint8_t glevel;	 /* direct: level of the guest large page (2 or 3) */
	bool direct;	 /* maps a guest large page: shadows no guest table */
	bool live;
};

/* A cached root: the shadow of one guest address space (one CR3). */
struct sh_root {
	gfn_t gfn;   /* the guest PML4 */
	uint32_t sp; /* its shadow page, 0 = not built yet */
	uint32_t stamp;
	bool used;
};

struct shadow {
	struct mmu *m;
	struct mem_mapper mapper;
	struct sh_page *sp; /* index 0 unused */
	uint32_t nsp, cap, free;
	uint32_t live;	 /* shadow pages in use = frames held */
	uint32_t *track; /* per gfn: first shadow page shadowing it, 0 = none */
	uint64_t *dmap;	 /* per gfn: a direct-map translation is recorded */
	struct sh_root *roots;
	uint32_t nroots, cur, tick; /* cur: slot of CR3, SH_NO_ROOT before one */
	uint64_t zaps;		    /* remaps seen (zap callbacks), ever */
	bool in_zap, self_zap;
};

static inline uint64_t *sh_table(const struct shadow *s, uint32_t sp)
{
	return (uint64_t *)mem_pool_ptr(s->m->pool, s->sp[sp].hfn);
}

static inline bool sh_tracked(const struct shadow *s, gfn_t gfn)
{
	return s->track[gfn] != 0;
}

static inline bool sh_dmap(const struct shadow *s, gfn_t gfn)
{
	return (s->dmap[gfn / 64] >> (gfn % 64)) & 1;
}

/* Is spte e at level a leaf (a 4 KiB or 2 MiB mapping)? */
static inline bool sh_leaf(uint64_t e, int level)
{
	return level == 1 || (level == 2 && (e & PTE_PS));
}

/* paging_shadow_sp.c: shadow pages, protection, drops, zaps. */

/*
 * A zeroed shadow page at level for root slot, covering vpns from vpn,
 * shadowing guest table gfn (tracked from now on: write-protected) or, when
 * direct, mapping a guest large page whose first gfn is gfn. *out gets its
 * index. 0 or -ENOMEM.
 */
int sh_page_alloc(struct shadow *s, int level, int glevel, gfn_t gfn, uint64_t vpn, uint32_t slot,
		  uint32_t *out);
/* Free shadow page sp and everything below it, forgetting the rmap records
 * of its leaves and untracking what it shadowed. No TLB flush. */
void sh_page_free(struct shadow *s, uint32_t sp);
/* Drop entry idx of shadow page sp (a leaf, or the subtree below it) and
 * flush what the TLB holds from it. */
void sh_drop(struct shadow *s, uint32_t sp, unsigned idx);
/* Point entry idx of sp at a new child page, or install a leaf spte. */
void sh_link(struct shadow *s, uint32_t sp, unsigned idx, uint32_t child);
/* Record the leaf spte of vpn in root slot as mapping gfn. 0 or -ENOMEM. */
int sh_record(struct shadow *s, gfn_t gfn, uint32_t slot, uint64_t vpn);
/* Forget it (tolerating a record already gone while a zap runs). */
void sh_unrecord(struct shadow *s, gfn_t gfn, uint32_t slot, uint64_t vpn);
/* The guest wrote len bytes at off in guest table gfn: drop the sptes of
 * the entries touched, in every shadow page of gfn. */
void sh_pt_write(struct shadow *s, gfn_t gfn, unsigned off, size_t len);
/* Free root slot's tree. */
void sh_root_free(struct shadow *s, uint32_t slot);
/* Make the tree of the address space at cr3 current (s->cur), evicting the
 * least recently loaded one when the cache is full. */
void sh_select_root(struct shadow *s, gpa_t cr3);
extern const struct mem_mapper_ops sh_mapper_ops;

#endif
