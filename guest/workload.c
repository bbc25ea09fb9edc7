/* SPDX-License-Identifier: MIT */
/* guest workloads: access generators, the workload step, the write record. */
/*
 * Each process runs one generator over its working set, pages 0..wss-1 at
 * GUEST_WL_BASE. Its xoshiro256** state is seeded from (guest seed, pid),
 * so a process's access sequence depends on nothing else; guest_wl_next()
 * is a pure function of that state, which lets tests replay a sequence.
 *
 *   seq      0, 1, ..., wss-1, 0, ... (cyclic)
 *   uniform  every page equally likely
 *   zipf     rank k with probability ~ 1/(k+1)^theta (zipf.c), ranks mapped
 *            to pages through a seeded permutation, so the hot pages are
 *            scattered over the working set (and over page tables)
 *   sparse   uniform, over pages `stride` apart (the OS places page idx at
 *            GUEST_WL_BASE + idx * stride pages: guest_wl_vpn)
 *   churn    uniform accesses; one draw in 1000 below unmap_pm unmaps a
 *            random region of `region` pages instead; every `life`
 *            operations the process exits (guest.h)
 *   steps    uniform over the first steps[k] pages during step k, each
 *            step_accesses long, cyclically: a toucher whose active memory
 *            steps up and down while the rest stays allocated and idle
 *
 * Per access the generator draws the page, whether it is a write
 * (write_pct), and for reads an 8-aligned offset. A read loads 8 bytes. A
 * write is write k of its page (k counted in the record): write 1 fills the
 * page per its content kind with one 4 KiB store (a zero page gets an
 * 8-byte store of 0 instead); later writes store 8 bytes (content.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_internal.h"

int guest_pattern_parse(const char *s, enum guest_pattern *out)
{
	static const char *const names[] = {"seq", "uniform", "zipf", "sparse", "churn", "steps"};

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum guest_pattern)i;
			return 0;
		}
	return -EINVAL;
}

int guest_content_parse(const char *s, enum guest_content *out)
{
	static const char *const names[] = {"zero", "private", "library", "mixed"};

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum guest_content)i;
			return 0;
		}
	return -EINVAL;
}

int guest_wl_init(struct guest_wl *w, const struct guest_workload_params *p, uint64_t seed,
		  uint32_t pid)
{
	uint64_t n = p->wss_pages;

	memset(w, 0, sizeof(*w));
	if (!n || n > UINT32_MAX)
		return -EINVAL;
	if (p->pattern == GUEST_PAT_STEPS) {
		if (!p->nsteps || p->nsteps > GUEST_WL_MAX_STEPS || !p->step_accesses)
			return -EINVAL;
		for (unsigned i = 0; i < p->nsteps; i++)
			if ((!p->steps[i] && !p->step_ns) || p->steps[i] > n)
				return -EINVAL;
	}
	w->p = p;
	w->seed = seed;
	w->pid = pid;
	guest_rng_seed(&w->rng, guest_hash4(GUEST_H_PROC, seed, pid, 0, 0));
	w->rec = malloc(n * sizeof(*w->rec));
	if (!w->rec)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		w->rec[i] = (uint64_t)guest_content_kind(p, seed, i) << GUEST_REC_KIND_SHIFT;
	if (p->pattern == GUEST_PAT_ZIPF) {
		struct guest_rng pr;
		int r = guest_zipf_init(&w->zipf, n, p->zipf_theta);

		if (r) {
			guest_wl_fini(w);
			return r;
		}
		w->perm = malloc(n * sizeof(*w->perm));
		if (!w->perm) {
			guest_wl_fini(w);
			return -ENOMEM;
		}
		/* Fisher-Yates with its own stream: the access stream is the
		 * same whatever n is. */
		guest_rng_seed(&pr, guest_hash4(GUEST_H_PERM, seed, pid, 0, 0));
		for (uint64_t i = 0; i < n; i++)
			w->perm[i] = (uint32_t)i;
		for (uint64_t i = n - 1; i > 0; i--) {
			uint64_t j = guest_rng_below(&pr, i + 1);
			uint32_t t = w->perm[i];

			w->perm[i] = w->perm[j];
			w->perm[j] = t;
		}
	}
	return 0;
}

void guest_wl_fini(struct guest_wl *w)
{
	free(w->perm);
	free(w->rec);
	w->perm = NULL;
	w->rec = NULL;
}

void guest_wl_next(struct guest_wl *w, struct guest_op *op)
{
	const struct guest_workload_params *p = w->p;
	uint64_t x;

	op->kind = GUEST_OP_ACCESS;
	op->n = 0;
	switch (p->pattern) {
	case GUEST_PAT_SEQ:
		op->idx = w->pos;
		if (++w->pos == p->wss_pages)
			w->pos = 0;
		break;
	case GUEST_PAT_CHURN:
		if (p->life && w->lived >= p->life) {
			op->kind = GUEST_OP_EXIT;
			op->idx = 0;
			w->lived = 0;
			return;
		}
		w->lived++;
		x = guest_rng_next(&w->rng);
		if (((x >> 32) * 1000 >> 32) < p->unmap_pm) {
			uint64_t regions = (p->wss_pages + p->region - 1) / p->region;

			op->kind = GUEST_OP_UNMAP;
			op->idx = guest_rng_below(&w->rng, regions) * p->region;
			op->n =
			    p->wss_pages - op->idx < p->region ? p->wss_pages - op->idx : p->region;
			return;
		}
		op->idx = guest_rng_below(&w->rng, p->wss_pages);
		break;
	case GUEST_PAT_UNIFORM:
	case GUEST_PAT_SPARSE:
		op->idx = guest_rng_below(&w->rng, p->wss_pages);
		break;
	case GUEST_PAT_STEPS:
		op->idx = guest_rng_below(&w->rng, guest_wl_active(w));
		break;
	default:
		op->idx = w->perm[guest_zipf_next(&w->zipf, &w->rng)];
		break;
	}
	/* One draw decides read or write (high bits) and the offset. */
	x = guest_rng_next(&w->rng);
	op->write = ((x >> 32) * 100 >> 32) < p->write_pct;
	op->off = (unsigned)(x & (MEM_PAGE_SIZE / 8 - 1)) * 8;
}

uint64_t guest_wl_active(const struct guest_wl *w)
{
	const struct guest_workload_params *p = w->p;

	if (p->pattern != GUEST_PAT_STEPS)
		return p->wss_pages;
	if (p->step_ns)
		return p->steps[(w->now / p->step_ns) % p->nsteps];
	return p->steps[(w->issued / p->step_accesses) % p->nsteps];
}

/* Write k of page idx: the fill (k = 1) or one word. */
static int guest_wl_write(struct guest_os *g, struct guest_proc *pr, uint64_t idx, gva_t va,
			  uint64_t k)
{
	struct guest_wl *w = &pr->wl;
	enum guest_content kind = guest_rec_kind(w->rec[idx]);
	unsigned word;
	uint64_t val;

	if (k == 1 && guest_content_fill(kind, g->p.wl.lib, g->p.seed, pr->pid, idx, g->fill))
		return guest_access(g, pr, va, g->fill, MEM_PAGE_SIZE, MMU_WRITE);
	guest_content_word(kind, g->p.wl.lib, g->p.seed, pr->pid, idx, k, &word, &val);
	return guest_access(g, pr, va + word * 8u, &val, 8, MMU_WRITE);
}

int guest_wl_step(struct guest_os *g, struct guest_proc *pr)
{
	struct guest_wl *w = &pr->wl;
	struct guest_op op;
	uint64_t *rec;
	gva_t va;
	int r;

	guest_wl_next(w, &op);
	if (op.kind != GUEST_OP_ACCESS) {
		r = op.kind == GUEST_OP_UNMAP ? guest_unmap(g, pr, op.idx, op.n)
					      : guest_proc_exit(g, pr);
		if (r)
			return guest_fail_at(g, pr->pid, mem_vpn_to_gva(guest_wl_vpn(g, op.idx)),
					     r);
		w->issued++;
		return 0;
	}
	rec = &w->rec[op.idx];
	va = mem_vpn_to_gva(guest_wl_vpn(g, op.idx));
	if (op.write)
		r = guest_wl_write(g, pr, op.idx, va, guest_rec_writes(*rec) + 1);
	else
		r = guest_access(g, pr, va + op.off, NULL, 8, MMU_READ); /* bytes not used */
	if (r)
		return r;
	if (g->p.reclaim == GUEST_RECLAIM_LRU) {
		r = guest_lru_touch(g, g->m->last_gfn);
		if (r)
			return guest_fail_at(g, pr->pid, va, r);
	}
	*rec = (*rec + (op.write ? 1 : 0)) | GUEST_REC_TOUCHED;
	w->issued++;
	g->st.accesses++;
	return 0;
}
