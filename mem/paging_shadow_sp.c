/* SPDX-License-Identifier: MIT */
/* paging_shadow_sp: shadow pages, roots, write protection, drops, zaps, splits. */
/*
 * The bookkeeping half of shadow paging (the walk and the ops are in
 * paging_shadow.c, whose overview describes the whole mode).
 *
 * Shadow pages live in s->sp[], indexed by uint32_t (0 = none), grown by
 * doubling; freed indices form a list through `next`. Nobody keeps a
 * pointer into s->sp[] across a call that may allocate one: indices only.
 *
 * Write protection ("tracking"): s->track[gfn] heads the list (through
 * `next`) of the shadow pages that shadow guest table gfn. A gfn becomes
 * tracked when its first shadow page is made: from then on every guest
 * store to it must exit. So the direct-map TLB entry of gfn (which may
 * allow writes) is flushed, and every other translation of gfn (a virtual
 * mapping of a page table, with a writable spte perhaps) is zapped through
 * the rmap; sptes made later for it are read-only. It stops being tracked
 * when its last shadow page goes.
 *
 * Reverse map: the rmap record of a leaf spte is (mapper, sh_ref(slot,
 * vpn)): the root and the vpn, not the spte's address, so a record stays
 * valid when a 2 MiB spte is split below it. A 2 MiB spte has 512 records,
 * one per gfn and vpn. The zap callback walks the root to the vpn: a 4 KiB
 * leaf is cleared; a 2 MiB one is split into a direct PT of 4 KiB sptes on
 * the same frames with only the zapped gfn's cleared (or, if no frame can
 * be had, dropped whole with the 511 other records deleted: the rmap allows
 * deleting other gfns' records from a zap). The guest kernel's direct map
 * has one record per gfn (ref SH_DMAP_REF, bit set in s->dmap); its zap
 * flushes the direct-map TLB entry.
 *
 * A drop (a guest store to a shadowed entry, INVLPG, a root leaving the
 * cache) clears an spte and frees the shadow pages below it, deleting their
 * leaves' records, then flushes from the TLB the range of vpns the entry
 * covered, if its root is the current one (the TLB holds nothing of other
 * roots: CR3 writes flush it). Since every leaf record is deleted when its
 * spte goes, a remap always reaches every spte that maps the gfn.
 *
 * Roots: s->roots[] is the cache of trees, keyed by the guest PML4's gfn,
 * LRU by the tick of their last CR3 load; a miss evicts (frees) the least
 * recently loaded tree, whose slot number then names the new tree in rmap
 * refs (none of the old tree's records survive it).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "mem/paging_shadow_internal.h"

#define SH_MIN_CAP 64u

/* A free index in s->sp[] (growing it), or 0 when out of memory. */
static uint32_t sh_sp_get(struct shadow *s)
{
	uint32_t i;

	if (!s->free) {
		uint32_t cap = s->cap ? s->cap * 2 : SH_MIN_CAP;
		struct sh_page *n;

		if (s->cap >= UINT32_MAX / 2)
			return 0;
		n = realloc(s->sp, (size_t)cap * sizeof(*n));
		if (!n)
			return 0;
		for (uint32_t j = s->cap ? s->cap : 1; j < cap; j++)
			n[j] = (struct sh_page){.next = j + 1 < cap ? j + 1 : 0};
		if (!s->cap)
			n[0] = (struct sh_page){0};
		s->free = s->cap ? s->cap : 1;
		s->sp = n;
		s->cap = cap;
	}
	i = s->free;
	s->free = s->sp[i].next;
	return i;
}

static void sh_sp_put(struct shadow *s, uint32_t i)
{
	s->sp[i] = (struct sh_page){.next = s->free};
	s->free = i;
}

int sh_record(struct shadow *s, gfn_t gfn, uint32_t slot, uint64_t vpn)
{
	return mem_rmap_add(s->m->p2m, gfn, &s->mapper, sh_ref(slot, vpn));
}

void sh_unrecord(struct shadow *s, gfn_t gfn, uint32_t slot, uint64_t vpn)
{
	int r = mem_rmap_del(s->m->p2m, gfn, &s->mapper, sh_ref(slot, vpn));

	/* a leaf spte always has its record, except while a zap of that
	 * very gfn runs (its records are already unlinked) */
	assert(r == 0 || s->in_zap);
	(void)r;
}

/* gfn just became a shadowed guest table: make every store to it exit. */
static void sh_protect(struct shadow *s, gfn_t gfn)
{
	struct mmu *m = s->m;

	mem_tlb_flush_vpn(&m->ptlb, gfn);
	if (mem_rmap_count(m->p2m, gfn) > (sh_dmap(s, gfn) ? 1u : 0u)) {
		/* virtual mappings of a page table: drop them, they come
		 * back read-only (the p2m does not change, so this is not a
		 * remap for the walk in progress) */
		s->self_zap = true;
		mem_rmap_zap(m->p2m, gfn);
		s->self_zap = false;
	}
}

int sh_page_alloc(struct shadow *s, int level, int glevel, gfn_t gfn, uint64_t vpn, uint32_t slot,
		  uint32_t *out)
{
	bool direct = glevel != 0;
	struct mmu *m = s->m;
	uint32_t i = sh_sp_get(s);
	uint32_t *child = NULL, *gfns = NULL;
	hfn_t h;
	int r = -ENOMEM;

	if (!i)
		return -ENOMEM;
	if (level >= 2 && !(child = calloc(MEM_HUGE_PAGES, sizeof(*child))))
		goto err;
	if (level <= 2 && !(gfns = calloc(MEM_HUGE_PAGES, sizeof(*gfns))))
		goto err;
	r = mem_pool_alloc(m->pool, &h, true);
	if (r)
		goto err;
	m->mode_frames++;
	s->live++;
	s->sp[i] = (struct sh_page){
	    .hfn = h,
	    .child = child,
	    .gfns = gfns,
	    .gfn = gfn,
	    .vpn = vpn & SH_VPN_MASK,
	    .slot = slot,
	    .level = (uint8_t)level,
	    .glevel = (uint8_t)glevel,
	    .direct = direct,
	    .live = true,
	};
	if (!direct) {
		bool was = sh_tracked(s, gfn);

		s->sp[i].next = s->track[gfn];
		s->track[gfn] = i;
		if (!was)
			sh_protect(s, gfn);
	}
	*out = i;
	return 0;
err:
	free(child);
	free(gfns);
	sh_sp_put(s, i);
	return r;
}

static void sh_untrack(struct shadow *s, uint32_t i)
{
	for (uint32_t *link = &s->track[s->sp[i].gfn]; *link; link = &s->sp[*link].next)
		if (*link == i) {
			*link = s->sp[i].next;
			return;
		}
	assert(!"shadow page missing from its gfn's list");
}

void sh_page_free(struct shadow *s, uint32_t i)
{
	struct mmu *m = s->m;
	struct sh_page p = s->sp[i];
	uint64_t *t = sh_table(s, i);

	assert(p.live);
	for (unsigned idx = 0; idx < MEM_HUGE_PAGES; idx++) {
		if (!(t[idx] & PTE_P))
			continue;
		if (p.level == 1) {
			sh_unrecord(s, p.gfns[idx], p.slot, p.vpn + idx);
		} else if (sh_leaf(t[idx], p.level)) {
			for (unsigned k = 0; k < MEM_HUGE_PAGES; k++)
				sh_unrecord(s, p.gfns[idx] + k, p.slot,
					    p.vpn + (uint64_t)idx * MEM_HUGE_PAGES + k);
		} else {
			sh_page_free(s, p.child[idx]);
		}
	}
	if (!p.direct)
		sh_untrack(s, i);
	mem_pool_free(m->pool, p.hfn);
	m->mode_frames--;
	s->live--;
	free(p.child);
	free(p.gfns);
	sh_sp_put(s, i);
}

void sh_link(struct shadow *s, uint32_t sp, unsigned idx, uint32_t child)
{
	sh_table(s, sp)[idx] = (s->sp[child].hfn << MEM_PAGE_SHIFT) | SH_UPPER;
	s->sp[sp].child[idx] = child;
}

void sh_drop(struct shadow *s, uint32_t i, unsigned idx)
{
	struct sh_page p = s->sp[i];
	uint64_t *t = sh_table(s, i), e = t[idx];
	uint64_t first = p.vpn + idx * sh_span(p.level);

	if (!(e & PTE_P))
		return;
	t[idx] = 0;
	if (p.level == 1) {
		sh_unrecord(s, p.gfns[idx], p.slot, first);
	} else if (sh_leaf(e, p.level)) {
		for (unsigned k = 0; k < MEM_HUGE_PAGES; k++)
			sh_unrecord(s, p.gfns[idx] + k, p.slot, first + k);
	} else {
		uint32_t c = p.child[idx];

		s->sp[i].child[idx] = 0;
		sh_page_free(s, c);
	}
	/* the TLB holds only the current tree's translations; a 4 KiB spte
	 * gives one 4 KiB entry, anything bigger may give many */
	if (p.slot == s->cur && p.level == 1)
		mem_tlb_flush_vpn(&s->m->tlb, first);
	else if (p.slot == s->cur)
		mem_tlb_flush_range(&s->m->tlb, first, sh_span(p.level));
}

void sh_pt_write(struct shadow *s, gfn_t gfn, unsigned off, size_t len)
{
	unsigned lo = off / 8, hi = (unsigned)((off + len - 1) / 8);

	if (!len)
		return;
again:
	for (uint32_t i = s->track[gfn]; i; i = s->sp[i].next)
		for (unsigned idx = lo; idx <= hi; idx++) {
			uint64_t e = sh_table(s, i)[idx];

			if (!(e & PTE_P))
				continue;
			sh_drop(s, i, idx);
			/* freeing pages below may have changed this very list
			 * (a table that maps itself): start over */
			if (!sh_leaf(e, s->sp[i].level))
				goto again;
		}
}

void sh_root_free(struct shadow *s, uint32_t slot)
{
	struct sh_root *r = &s->roots[slot];

	if (r->sp)
		sh_page_free(s, r->sp);
	r->sp = 0;
}

/* Make the tree of the address space at cr3 current, evicting the least
 * recently loaded one when the cache is full. */
void sh_select_root(struct shadow *s, gpa_t cr3)
{
	gfn_t gfn = mem_gpa_to_gfn(cr3 & PTE_ADDR_MASK);
	uint32_t victim = SH_NO_ROOT, oldest = 0;

	for (uint32_t i = 0; i < s->nroots; i++) {
		struct sh_root *r = &s->roots[i];

		if (r->used && r->gfn == gfn) {
			s->cur = i;
			r->stamp = ++s->tick;
			return;
		}
	}
	for (uint32_t i = 0; i < s->nroots; i++) {
		struct sh_root *r = &s->roots[i];

		if (!r->used) {
			victim = i;
			break;
		}
		if (victim == SH_NO_ROOT || s->tick - r->stamp > oldest) {
			victim = i;
			oldest = s->tick - r->stamp;
		}
	}
	sh_root_free(s, victim);
	s->roots[victim] = (struct sh_root){.gfn = gfn, .stamp = ++s->tick, .used = true};
	s->cur = victim;
}

/* Split the 2 MiB leaf at entry idx of level-2 page i, clearing the 4 KiB
 * spte of gfn; if no page can be had, or gfn is armed for access tracking
 * (its block's next touch maps it whole again and is seen, mem.h), drop
 * the whole 2 MiB. */
static void sh_split(struct shadow *s, uint32_t i, unsigned idx, gfn_t gfn)
{
	uint64_t e = sh_table(s, i)[idx],
		 flags = e & (PTE_P | PTE_W | PTE_U | PTE_A | PTE_D | PTE_NX);
	hfn_t hbase = (e & PTE_ADDR_MASK) >> MEM_PAGE_SHIFT;
	gfn_t base = s->sp[i].gfns[idx];
	uint64_t first = s->sp[i].vpn + (uint64_t)idx * MEM_HUGE_PAGES;
	uint32_t slot = s->sp[i].slot, pt;
	unsigned k0 = (unsigned)(gfn - base);

	if (!mem_p2m_tracked(s->m->p2m, gfn) &&
	    !sh_page_alloc(s, 1, s->sp[i].direct ? s->sp[i].glevel : 2, base, first, slot, &pt)) {
		uint64_t *t = sh_table(s, pt);

		for (unsigned k = 0; k < MEM_HUGE_PAGES; k++) {
			t[k] = (hbase + k) << MEM_PAGE_SHIFT | flags;
			s->sp[pt].gfns[k] = (uint32_t)(base + k);
		}
		t[k0] = 0;
		sh_link(s, i, idx, pt);
		s->m->st.splits++;
		return;
	}
	sh_table(s, i)[idx] = 0;
	for (unsigned k = 0; k < MEM_HUGE_PAGES; k++)
		if (k != k0)
			sh_unrecord(s, base + k, slot, first + k);
	mem_tlb_flush_gfns(&s->m->tlb, base, MEM_HUGE_PAGES);
}

/* The rmap's zap: gfn is being remapped (or protected, self_zap). */
static void sh_zap(struct mem_mapper *mp, gfn_t gfn, uint64_t ref)
{
	struct shadow *s = mp->ctx;
	struct mmu *m = s->m;
	uint32_t slot = (uint32_t)(ref >> SH_REF_SHIFT), p;
	uint64_t vpn = ref & SH_VPN_MASK;

	s->in_zap = true;
	if (ref == SH_DMAP_REF) {
		s->dmap[gfn / 64] &= ~(1ull << (gfn % 64));
		mem_tlb_flush_vpn(&m->ptlb, gfn);
		goto out;
	}
	if (slot >= s->nroots || !s->roots[slot].used)
		goto out;
	p = s->roots[slot].sp;
	for (int level = SH_LEVELS; p; level--) {
		unsigned idx = pte_index(vpn << MEM_PAGE_SHIFT, level);
		uint64_t *t = sh_table(s, p), e = t[idx];

		if (!(e & PTE_P))
			break;
		if (level == 1) {
			if ((e & PTE_ADDR_MASK) >> MEM_PAGE_SHIFT == mem_p2m_val(m->p2m, gfn))
				t[idx] = 0;
			break;
		}
		if (sh_leaf(e, level)) {
			sh_split(s, p, idx, gfn);
			break;
		}
		p = s->sp[p].child[idx];
	}
	mem_tlb_flush_gfn(&m->tlb, gfn);
out:
	if (!s->self_zap)
		s->zaps++;
	s->in_zap = false;
}

const struct mem_mapper_ops sh_mapper_ops = {
    .name = "shadow",
    .zap = sh_zap,
};
