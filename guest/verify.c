/* SPDX-License-Identifier: MIT */
/* guest verify: check guest memory and bookkeeping through the p2m alone. */
/*
 * Both checks here read guest memory with mem_p2m_read(), never through the
 * MMU: no A/D bits change, no TLB fills, no exits, so verifying a guest
 * does not perturb it, and a bug in the MMU's translation path cannot hide
 * itself. Page tables are walked from each process's root gpa the way the
 * hardware would, one table page read per level (cached by level, since
 * consecutive pages share their tables).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_internal.h"

void guest_vcache_init(struct guest_vcache *c, const struct guest_os *g, uint8_t *mem)
{
	c->p2m = g->m->p2m;
	c->pages = g->pages;
	for (int l = 1; l <= 4; l++) {
		c->gfn[l] = UINT64_MAX;
		c->tbl[l] = (uint64_t *)(mem + (size_t)(l - 1) * MEM_PAGE_SIZE);
	}
}

int guest_vwalk(struct guest_vcache *c, gpa_t root, gva_t va, uint64_t *pte)
{
	gfn_t gfn = mem_gpa_to_gfn(root);

	for (int level = 4;; level--) {
		uint64_t e;

		if (gfn >= c->pages)
			return -EIO;
		if (c->gfn[level] != gfn) {
			if (mem_p2m_read(c->p2m, gfn, c->tbl[level]))
				return -EIO;
			c->gfn[level] = gfn;
		}
		e = c->tbl[level][pte_index(va, level)];
		if (level == 1) {
			*pte = e;
			return 0;
		}
		if (!(e & PTE_P))
			return -ENOENT;
		if (level <= 3 && (e & PTE_PS)) {
			/* a large page: the 4 KiB of it that va is in */
			uint64_t n = 1ull << (9 * (level - 1));

			*pte = ((e & PTE_ADDR_MASK & ~((n << MEM_PAGE_SHIFT) - 1)) +
				((mem_gva_to_vpn(va) & (n - 1)) << MEM_PAGE_SHIFT)) |
			       (e & (PTE_P | PTE_W | PTE_U | PTE_A | PTE_D));
			return 1;
		}
		gfn = mem_gpa_to_gfn(e & PTE_ADDR_MASK);
	}
}

int guest_verify_read(struct guest_os *g, const struct guest_proc *pr, gva_t va, uint64_t pte,
		      uint8_t *buf, char *where, size_t wlen, char *msg, size_t msglen)
{
	if (pte & PTE_P) {
		gfn_t gfn = mem_gpa_to_gfn(pte & PTE_ADDR_MASK);

		snprintf(where, wlen, "gfn %" PRIu64, gfn);
		if (gfn < g->pages && !mem_p2m_read(g->m->p2m, gfn, buf))
			return 0;
		snprintf(msg, msglen,
			 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64 " (gfn %" PRIu64
			 "): frame unreadable",
			 g->name, pr->pid, va, gfn);
		return -EIO;
	}
	if (guest_pte_is_swap(pte) && g->sw) {
		uint64_t slot = guest_pte_swap_slot(pte);

		snprintf(where, wlen, "swap slot %" PRIu64, slot);
		if (!guest_swap_read(g->sw, slot, buf))
			return 0;
		snprintf(msg, msglen,
			 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64 ": swap slot %" PRIu64
			 " unreadable: %s",
			 g->name, pr->pid, va, slot, guest_swap_error(g->sw));
		return -EIO;
	}
	snprintf(msg, msglen,
		 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64 ": not mapped (PTE 0x%" PRIx64 ")",
		 g->name, pr->pid, va, pte);
	return -EIO;
}

static int guest_verify_proc(struct guest_os *g, const struct guest_proc *pr,
			     struct guest_vcache *c, uint8_t *exp, uint8_t *act, char *msg,
			     size_t msglen)
{
	const struct guest_workload_params *wp = &g->p.wl;

	for (uint64_t idx = 0; idx < wp->wss_pages; idx++) {
		uint64_t rec = pr->wl.rec[idx], pte = 0;
		gva_t va = mem_vpn_to_gva(guest_wl_vpn(g, idx));
		char where[48];
		int r = guest_vwalk(c, pr->pml4, va, &pte);

		if (r == -EIO) {
			snprintf(msg, msglen,
				 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64
				 ": page table unreadable",
				 g->name, pr->pid, va);
			return -EIO;
		}
		/* an untouched page may sit in a 2 MiB page, or in one that
		 * was split to swap: then it must read as zeros */
		if (!guest_rec_touched(rec) && r != 1 && !(g->p.large && pte)) {
			if (!pte)
				continue;
			snprintf(msg, msglen,
				 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64
				 ": never touched but its PTE is 0x%" PRIx64,
				 g->name, pr->pid, va, pte);
			return -EIO;
		}
		r = guest_verify_read(g, pr, va, pte, act, where, sizeof(where), msg, msglen);
		if (r)
			return r;
		guest_content_expected(guest_rec_kind(rec), wp->lib, g->p.seed, pr->pid, idx,
				       guest_rec_writes(rec), exp);
		r = guest_verify_page(g, pr, va, where, exp, act, msg, msglen);
		if (r)
			return r;
	}
	return 0;
}

int guest_verify_page(const struct guest_os *g, const struct guest_proc *pr, gva_t va,
		      const char *where, const uint8_t *exp, const uint8_t *act, char *msg,
		      size_t msglen)
{
	if (!memcmp(exp, act, MEM_PAGE_SIZE))
		return 0;
	for (unsigned off = 0; off < MEM_PAGE_SIZE; off++)
		if (exp[off] != act[off]) {
			snprintf(msg, msglen,
				 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64
				 " (%s) byte %u: expected 0x%02x, found 0x%02x",
				 g->name, pr->pid, va, where, off, exp[off], act[off]);
			break;
		}
	return -EIO;
}

int guest_os_verify(struct guest_os *g, char *msg, size_t msglen)
{
	struct guest_vcache c;
	uint8_t *mem = malloc(6 * MEM_PAGE_SIZE);
	int r = 0;

	if (msglen)
		msg[0] = 0;
	if (!mem) {
		snprintf(msg, msglen, "guest %s: verify: out of host memory", g->name);
		return -ENOMEM;
	}
	guest_vcache_init(&c, g, mem);
	for (unsigned i = 0; i < g->nprocs && !r; i++)
		r = g->procs[i].tr ? guest_replay_verify(g, &g->procs[i], msg, msglen)
				   : guest_verify_proc(g, &g->procs[i], &c, mem + 4 * MEM_PAGE_SIZE,
						       mem + 5 * MEM_PAGE_SIZE, msg, msglen);
	free(mem);
	return r;
}

/* ---- bookkeeping check ------------------------------------------------- */

static int guest_check_bad(const struct guest_os *g, char *msg, size_t msglen, const char *what,
			   gfn_t gfn, const struct guest_page *e)
{
	snprintf(msg, msglen,
		 "guest %s: mem_map: %s at gfn %" PRIu64 " (flags 0x%x pid %" PRIu32
		 " vpn 0x%" PRIx64 " prev %" PRIu64 " next %" PRIu64 ")",
		 g->name, what, gfn, e->flags, e->pid, e->vpn, e->prev, e->next);
	return -EUCLEAN;
}

/* Frame categories of mem_map flags, for the counts. */
static int guest_check_kind(uint32_t f)
{
	switch (f) {
	case GUEST_PG_FREE:
		return 0;
	case GUEST_PG_PT:
		return 1;
	case GUEST_PG_USER:
		return 2;
	case GUEST_PG_USER | GUEST_PG_HUGE:
		return 3;
	case GUEST_PG_FREE | GUEST_PG_HUGE:
		return 4;
	case GUEST_PG_TAIL:
		return 5;
	case GUEST_PG_BALLOON:
		return 6;
	default:
		return -1;
	}
}

static int guest_check_lists(const struct guest_os *g, const struct guest_page *mm, char *msg,
			     size_t msglen)
{
	uint64_t n[7] = {0};
	gfn_t gfn;

	for (gfn = 0; gfn < g->pages; gfn++) {
		uint32_t f = mm[gfn].flags;
		int k = guest_check_kind(f);

		if (gfn < g->bl.base	  ? f != GUEST_PG_KERNEL
		    : gfn < g->first_data ? f != GUEST_PG_DEV
					  : k < 0)
			return guest_check_bad(g, msg, msglen, "bad flags", gfn, &mm[gfn]);
		/* a 2 MiB block's first frame is aligned, its others follow */
		if ((k == 3 || k == 4) && (gfn & (MEM_HUGE_PAGES - 1)))
			return guest_check_bad(g, msg, msglen, "2 MiB block misaligned", gfn,
					       &mm[gfn]);
		if (k == 5 && !(mm[gfn & ~(gfn_t)(MEM_HUGE_PAGES - 1)].flags & GUEST_PG_HUGE))
			return guest_check_bad(g, msg, msglen, "frame of no 2 MiB block", gfn,
					       &mm[gfn]);
		if (k >= 0 && gfn >= g->first_data)
			n[k]++;
	}
	if (n[0] != g->nfree || n[1] != g->npt || n[2] + n[3] != g->nuser || n[3] != g->nhuge ||
	    n[4] != g->nhfree || n[5] != (n[3] + n[4]) * (MEM_HUGE_PAGES - 1) ||
	    n[6] != g->bl.npages) {
		snprintf(msg, msglen,
			 "guest %s: mem_map counts free %" PRIu64 " pt %" PRIu64 " user %" PRIu64
			 " huge %" PRIu64 " free blocks %" PRIu64 " balloon %" PRIu64
			 ", the OS thinks %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			 " %" PRIu64,
			 g->name, n[0], n[1], n[2] + n[3], n[3], n[4], n[6], g->nfree, g->npt,
			 g->nuser, g->nhuge, g->nhfree, g->bl.npages);
		return -EUCLEAN;
	}
	gfn = g->bl.head;
	for (uint64_t i = 0; i < g->bl.npages; i++) {
		if (gfn < g->first_data || gfn >= g->pages || mm[gfn].flags != GUEST_PG_BALLOON)
			return guest_check_bad(g, msg, msglen, "balloon list broken", gfn,
					       gfn < g->pages ? &mm[gfn] : &mm[0]);
		gfn = mm[gfn].next;
	}
	if (gfn)
		return guest_check_bad(g, msg, msglen, "balloon list too long", gfn, &mm[0]);
	gfn = g->free_head;
	for (uint64_t i = 0; i < g->nfree; i++) {
		if (gfn < g->first_data || gfn >= g->pages || mm[gfn].flags != GUEST_PG_FREE)
			return guest_check_bad(g, msg, msglen, "free list broken", gfn,
					       gfn < g->pages ? &mm[gfn] : &mm[0]);
		gfn = mm[gfn].next;
	}
	if (gfn)
		return guest_check_bad(g, msg, msglen, "free list too long", gfn, &mm[0]);
	gfn = g->huge_head;
	for (uint64_t i = 0; i < g->nhfree; i++) {
		if (gfn < g->first_data || gfn >= g->pages ||
		    mm[gfn].flags != (GUEST_PG_FREE | GUEST_PG_HUGE))
			return guest_check_bad(g, msg, msglen, "free block list broken", gfn,
					       gfn < g->pages ? &mm[gfn] : &mm[0]);
		gfn = mm[gfn].next;
	}
	if (gfn)
		return guest_check_bad(g, msg, msglen, "free block list too long", gfn, &mm[0]);
	gfn = g->ring_head;
	for (uint64_t i = 0; i < g->nuser; i++) {
		if (gfn < g->first_data || gfn >= g->pages)
			return guest_check_bad(g, msg, msglen, "user ring leaves memory", gfn,
					       &mm[0]);
		if (!(mm[gfn].flags & GUEST_PG_USER) || mm[gfn].next >= g->pages ||
		    mm[mm[gfn].next].prev != gfn)
			return guest_check_bad(g, msg, msglen, "user ring broken", gfn, &mm[gfn]);
		gfn = mm[gfn].next;
	}
	if (gfn != g->ring_head)
		return guest_check_bad(g, msg, msglen, "user ring does not close", gfn, &mm[0]);
	return 0;
}

int guest_os_check(struct guest_os *g, char *msg, size_t msglen)
{
	size_t mmb = g->mm_frames * MEM_PAGE_SIZE;
	uint8_t *mem = malloc(mmb + 4 * MEM_PAGE_SIZE);
	struct guest_page *mm = (struct guest_page *)mem;
	struct guest_vcache c;
	int r = 0;

	if (msglen)
		msg[0] = 0;
	if (!mem) {
		snprintf(msg, msglen, "guest %s: check: out of host memory", g->name);
		return -ENOMEM;
	}
	for (uint64_t f = 0; f < g->mm_frames && !r; f++)
		if (mem_p2m_read(g->m->p2m, 1 + f, mem + f * MEM_PAGE_SIZE)) {
			snprintf(msg, msglen, "guest %s: mem_map frame %" PRIu64 " unreadable",
				 g->name, 1 + f);
			r = -EIO;
		}
	if (!r)
		r = guest_check_lists(g, mm, msg, msglen);
	guest_vcache_init(&c, g, mem + mmb);
	for (gfn_t gfn = g->first_data; gfn < g->pages && !r; gfn++) {
		const struct guest_proc *pr;
		uint64_t pte = 0;

		if (!(mm[gfn].flags & GUEST_PG_USER))
			continue;
		pr = guest_proc_find(g, mm[gfn].pid);
		if (!pr || guest_vwalk(&c, pr->pml4, mem_vpn_to_gva(mm[gfn].vpn), &pte) < 0 ||
		    (pte & (PTE_ADDR_MASK | PTE_P)) != (mem_gfn_to_gpa(gfn) | PTE_P))
			r = guest_check_bad(g, msg, msglen, "user page not mapped by its PTE", gfn,
					    &mm[gfn]);
	}
	free(mem);
	return r;
}
