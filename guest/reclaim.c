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
 */
#define GUEST_RANDOM_TRIES 64

struct guest_victim {
	gfn_t gfn;
	uint32_t pid;
	uint64_t vpn;
	gpa_t pte_gpa;
	uint64_t pte;
};

int guest_reclaim_parse(const char *s, enum guest_reclaim *out)
{
	static const char *const names[] = {"clock", "lru", "random"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
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

static int guest_ring_del(struct guest_os *g, gfn_t gfn)
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
	if (e.flags != GUEST_PG_USER || !pr || !guest_vma_find(pr, e.vpn))
		return guest_detail(g, -EUCLEAN,
				    "mem_map corrupt: user gfn %" PRIu64 " flags 0x%x pid %" PRIu32
				    " vpn 0x%" PRIx64,
				    gfn, e.flags, e.pid, e.vpn);
	v->gfn = gfn;
	v->pid = e.pid;
	v->vpn = e.vpn;
	r = guest_pt_walk(g, pr->pml4, mem_vpn_to_gva(e.vpn), false, &v->pte_gpa);
	if (!r)
		r = guest_phys_read64(g, v->pte_gpa, &v->pte);
	if (r == -ENOENT ||
	    (!r && (!(v->pte & PTE_P) || (v->pte & PTE_ADDR_MASK) != mem_gfn_to_gpa(gfn))))
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
		r = guest_phys_write64(g, v->pte_gpa, v->pte & ~PTE_A);
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
		if (fp[0] == GUEST_PG_USER)
			return guest_victim_load(g, gfn, v);
	}
	start = guest_rng_below(&g->rrng, span);
	for (uint64_t i = 0; i < span; i++) {
		gfn_t gfn = g->first_data + (start + i) % span;

		r = guest_phys(g, guest_mm_gpa(gfn, GUEST_MM_FLAGS), fp, 8, MMU_READ);
		if (r)
			return r;
		if (fp[0] == GUEST_PG_USER)
			return guest_victim_load(g, gfn, v);
	}
	return guest_detail(g, -EUCLEAN, "random: no user page in mem_map");
}

/* Copy the victim to a swap slot, leave a swap entry, free its frame. */
static int guest_evict(struct guest_os *g, const struct guest_victim *v)
{
	uint64_t slot;
	int r;

	if (!g->sw)
		return guest_detail(g, -ENOSPC, "out of memory: guest swap full (no swap area)");
	r = guest_phys(g, mem_gfn_to_gpa(v->gfn), g->bounce, MEM_PAGE_SIZE, MMU_READ);
	if (r)
		return r;
	r = guest_swap_alloc(g->sw, &slot);
	if (r == -ENOSPC)
		return guest_detail(g, r, "out of memory: guest swap full (%" PRIu64 " slots)",
				    guest_swap_used(g->sw));
	if (r)
		return guest_detail(g, r, "guest swap: %s", guest_swap_error(g->sw));
	r = guest_swap_write(g->sw, slot, g->bounce);
	if (r) {
		guest_swap_free(g->sw, slot);
		return guest_detail(g, r, "swap-out of pid %" PRIu32 " vpn 0x%" PRIx64 ": %s",
				    v->pid, v->vpn, guest_swap_error(g->sw));
	}
	r = guest_phys_write64(g, v->pte_gpa, guest_pte_mk_swap(slot));
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
