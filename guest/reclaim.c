/* SPDX-License-Identifier: MIT */
/* guest page reclaim: the user-page ring, clock, exact LRU, random, evict. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "guest/guest_internal.h"

/*
 * User pages form one circular doubly-linked ring through the prev/next
 * fields of their mem_map entries, in guest memory; g->ring_head is the
 * only host-side handle. New pages go in at the tail (ring_head's prev).
 *
 *   clock   ring_head is the hand. A page whose PTE has A set gets a second
 *           chance: A is cleared (and the TLB entry invalidated, so the MMU
 *           walks and sets A again on the next use) and the hand moves on;
 *           the first page found with A clear is evicted.
 *   lru     ring_head is the least recently used page: every workload
 *           access moves its frame (m->last_gfn) to the tail, in guest
 *           memory (one 16-byte read and at most five 8-byte writes).
 *           That is about 7 mmu_phys accesses per workload access, which
 *           roughly doubles the cost of a TLB-hit access (measured on a
 *           zipf run that fits in memory); bearable, so the links stay in
 *           guest memory where the VMM sees the traffic.
 *   random  a frame drawn from a seeded generator until one is a user page
 *           (bounded tries), then a scan from a random start.
 *
 * A 2 MiB page is one entry on the ring (its first frame), aged by the A
 * bit of its PDE. Evicting it splits it, as Linux splits a THP it swaps
 * out: its 512 pages go to 512 swap slots, its first frame becomes a page
 * table of the 512 swap entries, the PDE points at that table, and the
 * other 511 frames are free. Later faults swap the pages in one by one.
 */
#define GUEST_RANDOM_TRIES 64

struct guest_victim {
	gfn_t gfn;
	uint32_t pid;
	uint64_t vpn;
	gpa_t pte_gpa; /* its PTE, or its PDE for a 2 MiB page */
	uint64_t pte;
	bool huge;
};

int guest_reclaim_parse(const char *s, enum guest_reclaim *out)
{
	static const char *const names[] = {"clock", "lru", "random"};

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum guest_reclaim)i;
			return 0;
		}
	return -EINVAL;
}

const char *guest_reclaim_name(enum guest_reclaim r)
{
	switch (r) {
	case GUEST_RECLAIM_CLOCK:
		return "clock";
	case GUEST_RECLAIM_LRU:
		return "lru";
	case GUEST_RECLAIM_RANDOM:
		return "random";
	}
	return "?";
}

/* mem_map prev/next of gfn: l[0] = prev, l[1] = next. */
static int guest_links(struct guest_os *g, gfn_t gfn, uint64_t l[2])
{
	int r = guest_phys(g, guest_mm_gpa(gfn, GUEST_MM_PREV), l, 16, MMU_READ);

	if (r)
		return r;
	if (l[0] < g->first_data || l[0] >= g->pages || l[1] < g->first_data || l[1] >= g->pages)
		return guest_detail(g, -EUCLEAN,
				    "mem_map corrupt: ring links of gfn %" PRIu64 " are %" PRIu64
				    " / %" PRIu64,
				    gfn, l[0], l[1]);
	return 0;
}

/* Link gfn in before ring_head (at the tail). */
static int guest_ring_link_tail(struct guest_os *g, gfn_t gfn)
{
	uint64_t l[2], tail;
	int r;

	if (!g->ring_head) {
		l[0] = l[1] = gfn;
		g->ring_head = gfn;
		return guest_phys(g, guest_mm_gpa(gfn, GUEST_MM_PREV), l, 16, MMU_WRITE);
	}
	r = guest_phys_read64(g, guest_mm_gpa(g->ring_head, GUEST_MM_PREV), &tail);
	if (r)
		return r;
	l[0] = tail;
	l[1] = g->ring_head;
	if ((r = guest_phys(g, guest_mm_gpa(gfn, GUEST_MM_PREV), l, 16, MMU_WRITE)) ||
	    (r = guest_phys_write64(g, guest_mm_gpa(tail, GUEST_MM_NEXT), gfn)) ||
	    (r = guest_phys_write64(g, guest_mm_gpa(g->ring_head, GUEST_MM_PREV), gfn)))
		return r;
	return 0;
}

/* Unlink gfn, whose links are l, from a ring of at least two pages. */
static int guest_ring_unlink(struct guest_os *g, gfn_t gfn, const uint64_t l[2])
{
	int r;

	if ((r = guest_phys_write64(g, guest_mm_gpa(l[0], GUEST_MM_NEXT), l[1])) ||
	    (r = guest_phys_write64(g, guest_mm_gpa(l[1], GUEST_MM_PREV), l[0])))
		return r;
	if (g->ring_head == gfn)
		g->ring_head = l[1];
	return 0;
}

int guest_ring_add(struct guest_os *g, gfn_t gfn)
{
	int r = guest_ring_link_tail(g, gfn);

	if (r)
		return r;
	g->nuser++;
	return 0;
}

int guest_ring_del(struct guest_os *g, gfn_t gfn)
{
	uint64_t l[2];
	int r = guest_links(g, gfn, l);

	if (r)
		return r;
	if (l[1] == gfn) {
		g->ring_head = 0;
	} else {
		r = guest_ring_unlink(g, gfn, l);
		if (r)
			return r;
	}
	g->nuser--;
	return 0;
}

int guest_lru_touch(struct guest_os *g, gfn_t gfn)
{
	uint64_t l[2];
	int r;

	if (gfn < g->first_data || gfn >= g->pages)
		return guest_detail(g, -EUCLEAN, "user access went to kernel frame %" PRIu64, gfn);
	if (g->nhuge) { /* a frame of a 2 MiB page stands for its first */
		uint32_t flags;

		r = guest_phys(g, guest_mm_gpa(gfn, GUEST_MM_FLAGS), &flags, 4, MMU_READ);
		if (r)
			return r;
		if (flags == GUEST_PG_TAIL)
			gfn &= ~(gfn_t)(MEM_HUGE_PAGES - 1);
	}
	r = guest_links(g, gfn, l);
	if (r)
		return r;
	if (gfn == g->ring_head) {
		/* Turning the ring by one makes the head the tail. */
		g->ring_head = l[1];
		return 0;
	}
	if (l[1] == g->ring_head)
		return 0; /* already the most recent */
	r = guest_ring_unlink(g, gfn, l);
	if (r)
		return r;
	return guest_ring_link_tail(g, gfn);
}

/* Who owns user frame gfn, and its PTE, checked against each other. */
static int guest_victim_load(struct guest_os *g, gfn_t gfn, struct guest_victim *v)
{
	struct guest_page e;
	struct guest_proc *pr;
	int r = guest_phys(g, guest_mm_gpa(gfn, 0), &e, 16, MMU_READ);

	if (r)
		return r;
	pr = guest_proc_find(g, e.pid);
	v->huge = e.flags == (GUEST_PG_USER | GUEST_PG_HUGE);
	if ((e.flags != GUEST_PG_USER && !v->huge) || !pr || !guest_proc_has(g, pr, e.vpn))
		return guest_detail(g, -EUCLEAN,
				    "mem_map corrupt: user gfn %" PRIu64 " flags 0x%x pid %" PRIu32
				    " vpn 0x%" PRIx64,
				    gfn, e.flags, e.pid, e.vpn);
	v->gfn = gfn;
	v->pid = e.pid;
	v->vpn = e.vpn;
	r = guest_pt_walk_level(g, pr->pml4, mem_vpn_to_gva(e.vpn), v->huge ? 2 : 1, false,
				&v->pte_gpa);
	if (!r)
		r = guest_phys_read64(g, v->pte_gpa, &v->pte);
	if (r == -ENOENT || (!r && (!(v->pte & PTE_P) || !!(v->pte & PTE_PS) != v->huge ||
				    (v->pte & PTE_ADDR_MASK) != mem_gfn_to_gpa(gfn))))
		return guest_detail(g, -EUCLEAN,
				    "user gfn %" PRIu64 " (pid %" PRIu32 " vpn 0x%" PRIx64
				    ") is not what its PTE maps",
				    gfn, e.pid, e.vpn);
	return r;
}

static int guest_pick_clock(struct guest_os *g, struct guest_victim *v)
{
	for (uint64_t n = 0; n <= 2 * g->nuser; n++) {
		uint64_t l[2];
		int r = guest_victim_load(g, g->ring_head, v);

		if (r)
			return r;
		if (!(v->pte & PTE_A))
			return 0;
		r = guest_pt_store(g, v->pte_gpa, v->pte & ~PTE_A);
		if (r)
			return r;
		if (v->pid == guest_cur_pid(g))
			mmu_invlpg(g->m, mem_vpn_to_gva(v->vpn));
		r = guest_links(g, g->ring_head, l);
		if (r)
			return r;
		g->ring_head = l[1];
	}
	return guest_detail(g, -EUCLEAN, "clock: no victim after two turns");
}

static int guest_pick_random(struct guest_os *g, struct guest_victim *v)
{
	uint64_t span = g->pages - g->first_data, start;
	uint32_t fp[2]; /* flags, pid: one 8-byte read */
	int r;

	for (unsigned i = 0; i < GUEST_RANDOM_TRIES; i++) {
		gfn_t gfn = g->first_data + guest_rng_below(&g->rrng, span);

		r = guest_phys(g, guest_mm_gpa(gfn, GUEST_MM_FLAGS), fp, 8, MMU_READ);
		if (r)
			return r;
		if (fp[0] & GUEST_PG_USER)
			return guest_victim_load(g, gfn, v);
	}
	start = guest_rng_below(&g->rrng, span);
	for (uint64_t i = 0; i < span; i++) {
		gfn_t gfn = g->first_data + (start + i) % span;

		r = guest_phys(g, guest_mm_gpa(gfn, GUEST_MM_FLAGS), fp, 8, MMU_READ);
		if (r)
			return r;
		if (fp[0] & GUEST_PG_USER)
			return guest_victim_load(g, gfn, v);
	}
	return guest_detail(g, -EUCLEAN, "random: no user page in mem_map");
}

/* Copy frame gfn to a new swap slot, *slot. 0 or -errno with detail. */
static int guest_swap_page(struct guest_os *g, const struct guest_victim *v, gfn_t gfn,
			   uint64_t *slot)
{
	int r = guest_phys(g, mem_gfn_to_gpa(gfn), g->bounce, MEM_PAGE_SIZE, MMU_READ);

	if (r)
		return r;
	r = guest_swap_alloc(g->sw, slot);
	if (r == -ENOSPC)
		return guest_detail(g, r, "out of memory: guest swap full (%" PRIu64 " slots)",
				    guest_swap_used(g->sw));
	if (r)
		return guest_detail(g, r, "guest swap: %s", guest_swap_error(g->sw));
	r = guest_swap_write(g->sw, *slot, g->bounce);
	if (r) {
		guest_swap_free(g->sw, *slot);
		return guest_detail(g, r, "swap-out of pid %" PRIu32 " vpn 0x%" PRIx64 ": %s",
				    v->pid, v->vpn, guest_swap_error(g->sw));
	}
	return 0;
}

/* Evict a 2 MiB page: split into 512 swap entries (see above). */
static int guest_evict_huge(struct guest_os *g, const struct guest_victim *v)
{
	const uint64_t per = MEM_PAGE_SIZE / GUEST_MM_ENTRY;
	uint64_t *ents = (uint64_t *)g->ptbuf;
	struct guest_page *mm = (struct guest_page *)g->ptbuf;
	gfn_t b = v->gfn;
	int r = 0;

	for (uint64_t k = 0; k < MEM_HUGE_PAGES && !r; k++) {
		r = guest_swap_page(g, v, b + k, &ents[k]);
		if (r)
			while (k-- > 0)
				guest_swap_free(g->sw, ents[k]);
	}
	if (r)
		return r;
	for (uint64_t k = 0; k < MEM_HUGE_PAGES; k++)
		ents[k] = guest_pte_mk_swap(ents[k]);
	/* the first frame becomes the page table of the swap entries */
	r = guest_phys(g, mem_gfn_to_gpa(b), ents, MEM_PAGE_SIZE, MMU_WRITE);
	if (!r)
		r = guest_pt_store(g, v->pte_gpa, mem_gfn_to_gpa(b) | GUEST_PTE_TABLE);
	if (r)
		return r;
	if (v->pid == guest_cur_pid(g))
		mmu_invlpg(g->m, mem_vpn_to_gva(v->vpn));
	r = guest_ring_del(g, b);
	if (r)
		return r;
	g->nhuge--;
	/* mem_map: the table, then 511 free frames, ascending */
	for (uint64_t i = 0; i < MEM_HUGE_PAGES; i += per) {
		memset(mm, 0, MEM_PAGE_SIZE);
		for (uint64_t k = 0; k < per; k++) {
			gfn_t gfn = b + i + k;

			mm[k].flags = gfn == b ? GUEST_PG_PT : GUEST_PG_FREE;
			if (gfn != b)
				mm[k].next = gfn + 1 < b + MEM_HUGE_PAGES ? gfn + 1 : g->free_head;
		}
		r = guest_phys(g, guest_mm_gpa(b + i, 0), mm, MEM_PAGE_SIZE, MMU_WRITE);
		if (r)
			return r;
	}
	g->npt++;
	g->free_head = b + 1;
	g->nfree += MEM_HUGE_PAGES - 1;
	g->st.swap_outs += MEM_HUGE_PAGES;
	g->st.huge_splits++;
	return 0;
}

/* Copy the victim to a swap slot, leave a swap entry, free its frame. */
static int guest_evict(struct guest_os *g, const struct guest_victim *v)
{
	uint64_t slot;
	int r;

	if (!g->sw)
		return guest_detail(g, -ENOSPC, "out of memory: guest swap full (no swap area)");
	if (v->huge)
		return guest_evict_huge(g, v);
	r = guest_swap_page(g, v, v->gfn, &slot);
	if (r)
		return r;
	r = guest_pt_store(g, v->pte_gpa, guest_pte_mk_swap(slot));
	if (r)
		return r;
	if (v->pid == guest_cur_pid(g))
		mmu_invlpg(g->m, mem_vpn_to_gva(v->vpn));
	r = guest_ring_del(g, v->gfn);
	if (r)
		return r;
	r = guest_frame_free(g, v->gfn);
	if (r)
		return r;
	g->st.swap_outs++;
	return 0;
}

int guest_reclaim_one(struct guest_os *g)
{
	struct guest_victim v;
	int r;

	if (!g->nuser)
		return guest_detail(g, -ENOMEM, "out of memory: no user page to reclaim");
	switch (g->p.reclaim) {
	case GUEST_RECLAIM_CLOCK:
		r = guest_pick_clock(g, &v);
		break;
	case GUEST_RECLAIM_LRU:
		r = guest_victim_load(g, g->ring_head, &v);
		break;
	case GUEST_RECLAIM_RANDOM:
		r = guest_pick_random(g, &v);
		break;
	default:
		return guest_detail(g, -EINVAL, "unknown reclaim policy %d", (int)g->p.reclaim);
	}
	if (r)
		return r;
	return guest_evict(g, &v);
}
