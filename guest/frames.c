/* SPDX-License-Identifier: MIT */
/* guest OS: mem_map and the frame allocator (4 KiB frames and 2 MiB blocks,
 * their free lists in guest memory, reclaim when none is free); the design
 * is os.c's overview. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_internal.h"

/* Write mem_map entries of n frames from gfn (n a multiple of 64 and gfn
 * too: whole pages of mem_map) from ents, one page per store. */
static int guest_mm_write(struct guest_os *g, gfn_t gfn, uint64_t n, struct guest_page *ents)
{
	const uint64_t per = MEM_PAGE_SIZE / GUEST_MM_ENTRY;

	for (uint64_t i = 0; i < n; i += per) {
		int r = guest_phys(g, guest_mm_gpa(gfn + i, 0), ents + i, MEM_PAGE_SIZE, MMU_WRITE);

		if (r)
			return r;
	}
	return 0;
}

/* Move the first free 2 MiB block to the 4 KiB free list. */
static int guest_huge_break(struct guest_os *g)
{
	struct guest_page *ents = (struct guest_page *)g->bounce;
	const uint64_t per = MEM_PAGE_SIZE / GUEST_MM_ENTRY;
	gfn_t b = g->huge_head;
	struct guest_page head;
	int r = guest_phys(g, guest_mm_gpa(b, 0), &head, sizeof(head), MMU_READ);

	if (r)
		return r;
	if (head.flags != (GUEST_PG_FREE | GUEST_PG_HUGE) || head.next >= g->pages)
		return guest_detail(g, -EUCLEAN,
				    "mem_map corrupt: free 2 MiB block %" PRIu64 " flags 0x%x", b,
				    head.flags);
	g->huge_head = head.next;
	g->nhfree--;
	for (uint64_t i = 0; i < MEM_HUGE_PAGES; i += per) {
		memset(ents, 0, MEM_PAGE_SIZE);
		for (uint64_t k = 0; k < per; k++) {
			gfn_t gfn = b + i + k;

			ents[k].flags = GUEST_PG_FREE;
			ents[k].next = gfn + 1 < b + MEM_HUGE_PAGES ? gfn + 1 : g->free_head;
		}
		r = guest_mm_write(g, b + i, per, ents);
		if (r)
			return r;
	}
	g->free_head = b;
	g->nfree += MEM_HUGE_PAGES;
	return 0;
}

/* Pop the head of the free list for a page of `flags`. */
static int guest_frame_take(struct guest_os *g, uint32_t flags, uint32_t pid, uint64_t vpn,
			    gfn_t *out)
{
	struct guest_page e;
	gfn_t gfn;
	int r;

	if (!g->free_head)
		return guest_detail(g, -ENOMEM, "out of memory: reclaim freed nothing");
	gfn = g->free_head;
	r = guest_phys(g, guest_mm_gpa(gfn, 0), &e, sizeof(e), MMU_READ);
	if (r)
		return r;
	if (e.flags != GUEST_PG_FREE || e.next >= g->pages || (e.next && e.next < g->first_data))
		return guest_detail(
		    g, -EUCLEAN, "mem_map corrupt: free gfn %" PRIu64 " flags 0x%x next %" PRIu64,
		    gfn, e.flags, e.next);
	g->free_head = e.next;
	g->nfree--;
	memset(&e, 0, sizeof(e));
	e.flags = flags;
	e.pid = pid;
	e.vpn = vpn;
	r = guest_phys(g, guest_mm_gpa(gfn, 0), &e, sizeof(e), MMU_WRITE);
	if (r)
		return r;
	if (flags & GUEST_PG_PT)
		g->npt++;
	*out = gfn;
	return 0;
}

/* Reclaim failing for want of swap or of user pages: out of memory. */
static bool guest_oom(int r)
{
	return r == -ENOSPC || r == -ENOMEM;
}

int guest_frame_alloc(struct guest_os *g, uint32_t flags, uint32_t pid, uint64_t vpn, gfn_t *out)
{
	bool over;
	int r;

	if (!g->free_head && g->huge_head) {
		r = guest_huge_break(g);
		if (r)
			return r;
	}
	/* a user page over the data-frame limit first evicts one */
	over =
	    (flags & GUEST_PG_USER) && g->p.data_frames && guest_user_frames(g) >= g->p.data_frames;
	if (!g->free_head || over) {
		bool quiet = !g->detail[0];
		uint64_t freed = 0;

		r = guest_reclaim_one(g);
		if (guest_oom(r) && !over) {
			/* the OOM notifier: a balloon negotiated with
			 * deflate-on-OOM gives pages back by itself */
			int r2 = guest_balloon_oom(g, &freed);

			if (r2)
				return r2;
			if (freed) {
				if (quiet)
					g->detail[0] = 0; /* recovered: not a failure */
				r = 0;
			}
		}
		if (r)
			return r;
	}
	return guest_frame_take(g, flags, pid, vpn, out);
}

/* Page-table frames the processes may still need. */
static uint64_t guest_pt_left(const struct guest_os *g)
{
	return g->pt_need > g->npt ? g->pt_need - g->npt : 0;
}

int guest_frame_alloc_balloon(struct guest_os *g, gfn_t *out)
{
	int r;

	if (g->nfree + (g->nhfree + g->nhuge) * MEM_HUGE_PAGES + g->nuser - g->nhuge <=
	    GUEST_MIN_DATA_FRAMES + guest_pt_left(g))
		return -ENOMEM; /* what is left, the guest needs */
	if (!g->free_head && g->huge_head) {
		r = guest_huge_break(g);
		if (r)
			return r;
	}
	if (!g->free_head) {
		bool quiet = !g->detail[0];

		r = guest_reclaim_one(g);
		if (guest_oom(r)) {
			if (quiet)
				g->detail[0] = 0; /* the balloon waits; the guest lives */
			return -ENOMEM;
		}
		if (r)
			return r;
	}
	return guest_frame_take(g, GUEST_PG_BALLOON, 0, 0, out);
}

int guest_frame_free(struct guest_os *g, gfn_t gfn)
{
	struct guest_page e;
	int r;

	memset(&e, 0, sizeof(e));
	e.flags = GUEST_PG_FREE;
	e.next = g->free_head;
	r = guest_phys(g, guest_mm_gpa(gfn, 0), &e, sizeof(e), MMU_WRITE);
	if (r)
		return r;
	g->free_head = gfn;
	g->nfree++;
	return 0;
}

int guest_huge_alloc(struct guest_os *g, uint32_t pid, uint64_t vpn, gfn_t *out)
{
	struct guest_page e;
	gfn_t b = g->huge_head;
	int r;

	if (!b)
		return -ENOMEM;
	r = guest_phys(g, guest_mm_gpa(b, 0), &e, sizeof(e), MMU_READ);
	if (r)
		return r;
	if (e.flags != (GUEST_PG_FREE | GUEST_PG_HUGE) || e.next >= g->pages)
		return guest_detail(g, -EUCLEAN,
				    "mem_map corrupt: free 2 MiB block %" PRIu64 " flags 0x%x", b,
				    e.flags);
	g->huge_head = e.next;
	g->nhfree--;
	memset(&e, 0, sizeof(e));
	e.flags = GUEST_PG_USER | GUEST_PG_HUGE;
	e.pid = pid;
	e.vpn = vpn;
	r = guest_phys(g, guest_mm_gpa(b, 0), &e, sizeof(e), MMU_WRITE);
	if (r)
		return r;
	*out = b;
	return 0;
}

int guest_huge_free(struct guest_os *g, gfn_t gfn)
{
	struct guest_page e;
	int r;

	memset(&e, 0, sizeof(e));
	e.flags = GUEST_PG_FREE | GUEST_PG_HUGE;
	e.next = g->huge_head;
	r = guest_phys(g, guest_mm_gpa(gfn, 0), &e, sizeof(e), MMU_WRITE);
	if (r)
		return r;
	g->huge_head = gfn;
	g->nhfree++;
	return 0;
}

/* Write mem_map, one 4 KiB page of entries per mmu_phys write: frames below
 * first_data are the kernel's; with p.large, the 2 MiB aligned blocks in
 * [hb_lo, hb_hi) form the free-block list and the other data frames the
 * 4 KiB list, both in ascending order. */
int guest_boot_mem_map(struct guest_os *g)
{
	const uint64_t per = MEM_PAGE_SIZE / GUEST_MM_ENTRY;
	struct guest_page *ents = (struct guest_page *)g->fill;
	gfn_t hb_lo = 0, hb_hi = 0;

	if (g->p.large) {
		hb_lo = (g->first_data + MEM_HUGE_PAGES - 1) & ~(gfn_t)(MEM_HUGE_PAGES - 1);
		hb_hi = g->pages & ~(gfn_t)(MEM_HUGE_PAGES - 1);
		if (hb_hi <= hb_lo)
			hb_lo = hb_hi = 0;
	}
	for (uint64_t f = 0; f < g->mm_frames; f++) {
		memset(ents, 0, MEM_PAGE_SIZE);
		for (uint64_t i = 0; i < per; i++) {
			gfn_t gfn = f * per + i, next = gfn + 1;

			if (gfn >= g->pages)
				break;
			if (gfn < g->bl.base) {
				ents[i].flags = GUEST_PG_KERNEL;
			} else if (gfn < g->first_data) {
				ents[i].flags = GUEST_PG_DEV;
			} else if (gfn >= hb_lo && gfn < hb_hi) {
				bool head = !(gfn & (MEM_HUGE_PAGES - 1));

				ents[i].flags =
				    head ? GUEST_PG_FREE | GUEST_PG_HUGE : GUEST_PG_TAIL;
				if (head && gfn + MEM_HUGE_PAGES < hb_hi)
					ents[i].next = gfn + MEM_HUGE_PAGES;
			} else {
				if (next == hb_lo)
					next = hb_hi;
				ents[i].flags = GUEST_PG_FREE;
				ents[i].next = next < g->pages ? next : 0;
			}
		}
		int r = guest_phys(g, mem_gfn_to_gpa(1 + f), ents, MEM_PAGE_SIZE, MMU_WRITE);

		if (r)
			return r;
	}
	g->nhfree = (hb_hi - hb_lo) / MEM_HUGE_PAGES;
	g->huge_head = g->nhfree ? hb_lo : 0;
	g->nfree = g->pages - g->first_data - (hb_hi - hb_lo);
	g->free_head = g->first_data;
	if (g->first_data == hb_lo)
		g->free_head = hb_hi < g->pages ? hb_hi : 0;
	return 0;
}
