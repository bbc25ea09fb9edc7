/* SPDX-License-Identifier: MIT */
/*
 * The soft guests' side of host reclamation: their policy inputs, their
 * balloon targets, and host swap of the pool's frames, on the policy's
 * word (soft_swap, step 5 of a tick), between ticks (reclaim_charge), and
 * when the pool runs dry (reclaim_emergency). reclaim.c says how a policy
 * tick uses them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/soft/soft.h"

#define RECLAIM_EMERGENCY_BATCH 64u /* frames an emergency frees at least */
#define RECLAIM_STALL_TICKS	5u  /* lagging ticks before host swap steps in */
/* Frames kept free for paging structures and shared frames, which come
 * from the pool without reclaim: a nested fault may need 3 EPT tables. */
#define RECLAIM_RESERVE 32u

static uint64_t vm_alloc(const struct vm *vm)
{
	const struct mem_p2m *p2m = soft_vm(vm)->p2m;

	return p2m->count[MEM_RESIDENT] + p2m->count[MEM_SHARED];
}

uint64_t soft_held(struct vm *vm)
{
	return vm_alloc(vm);
}

int reclaim_attach(struct vmm_reclaim *rc, struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	const struct vmm_host_cfg *h = &rc->cfg->host;
	struct mem_wss_params wp = {.samples = h->ws_samples,
				    .slow_gain = h->ws_slow_gain,
				    .fast_gain = h->ws_fast_gain,
				    .seed = vm->cfg->seed * UTIL_GOLDEN + 17};

	vm->rs.host = rc;
	vm->rs.cursor.rng = vm->cfg->seed * 0xbf58476d1ce4e5b9ull + 3;
	vm->rs.next_ws = 1;
	vm->rs.target = sv->p2m->pages;
	if (rc->swap)
		mem_p2m_attach_swap(sv->p2m, rc->swap);
	vm->rs.wss = mem_wss_create(sv->p2m, &wp);
	return vm->rs.wss ? 0 : -errno;
}

void reclaim_detach(struct vm *vm)
{
	mem_wss_destroy(vm->rs.wss);
	vm->rs.wss = NULL;
}

static void reclaim_fatal(struct vmm_reclaim *rc, const struct vm *vm, gfn_t gfn)
{
	if (rc->fatal)
		return;
	rc->fatal = true;
	snprintf(rc->fatal_msg, sizeof(rc->fatal_msg),
		 "%s (swapping out guest %s gfn %llu); the run stops, and every page that "
		 "was not written stays in memory",
		 mem_swap_error(rc->swap), vm->name, (unsigned long long)gfn);
	fprintf(stderr, "%s\n", rc->fatal_msg);
}

/* Free up to want frames of vm by host swap, sharing first. *freed gets
 * the frames the pool got back. 0, or the swap's -errno (fatal). */
static int swap_out(struct vmm_reclaim *rc, struct vm *vm, uint64_t want, uint64_t *freed)
{
	struct soft_vm *sv = soft_vm(vm);
	uint64_t used0 = rc->pool->used, tries = 0;
	int r = 0;

	while (rc->pool->used + want > used0 && tries++ < 4 * want + 64) {
		gfn_t gfn;

		if (mem_swap_pick(sv->p2m, rc->victim, &vm->rs.cursor, &gfn))
			break; /* nothing resident left */
		if (vm->share && ksm_try_share(vm->share, gfn) == 1) {
			vm->rs.swap_shared++; /* ESX: sharing before swapping */
			continue;
		}
		r = mem_swap_out(rc->swap, sv->p2m, gfn);
		if (r) {
			reclaim_fatal(rc, vm, gfn);
			break;
		}
		vm->rs.swap_outs++;
	}
	*freed = used0 > rc->pool->used ? used0 - rc->pool->used : 0;
	return r;
}

int soft_swap(struct vmm_reclaim *rc, struct vm *vm, uint64_t want)
{
	uint64_t freed;

	return swap_out(rc, vm, want, &freed);
}

int reclaim_charge(struct vmm_reclaim *rc, struct vm *vm)
{
	uint64_t freed;

	if (!rc || !rc->swap || rc->fatal || vm_alloc(vm) < vm->rs.target ||
	    rc->state == MEM_RSTATE_HIGH || (rc->state == MEM_RSTATE_SOFT && vm->rs.ballooning))
		return 0;
	/* it holds its target already: it pays for the frame with one of its
	 * own (sharing first), so it cannot grow at the others' expense */
	rc->charged++;
	return swap_out(rc, vm, 1, &freed);
}

/* The next guest to take from in an emergency: the one furthest above
 * its target, else the faulting one, else the one holding the most
 * resident frames; guests already tried (mask) and failed ones are not. */
static struct vm *emergency_victim(struct vmm_reclaim *rc, struct vm *vm, const bool *tried)
{
	struct vm *best = NULL;
	uint64_t over = 0, most = 0;

	for (unsigned i = 0; i < rc->n; i++) {
		struct vm *v = rc->vms[i];
		uint64_t a = vm_alloc(v);

		if (tried[i] || v->failed || !soft_vm(v)->p2m->count[MEM_RESIDENT] ||
		    a <= v->rs.target)
			continue;
		if (a - v->rs.target > over) {
			over = a - v->rs.target;
			best = v;
		}
	}
	if (best)
		return best;
	for (unsigned i = 0; i < rc->n; i++)
		if (rc->vms[i] == vm && !tried[i])
			return vm;
	for (unsigned i = 0; i < rc->n; i++) {
		struct vm *v = rc->vms[i];

		if (!tried[i] && !v->failed && soft_vm(v)->p2m->count[MEM_RESIDENT] > most) {
			most = soft_vm(v)->p2m->count[MEM_RESIDENT];
			best = v;
		}
	}
	return best;
}

int reclaim_emergency(struct vmm_reclaim *rc, struct vm *vm)
{
	uint64_t freed = 0;
	bool *tried;
	int r = 0;

	if (!rc || !rc->swap)
		return -ENOMEM;
	if (rc->fatal)
		return -EIO;
	tried = calloc(rc->n + 1, sizeof(*tried));
	if (!tried)
		return -ENOMEM;
	/* the faulting guest may not be in rc->vms yet (it is booting) */
	for (unsigned k = 0; k <= rc->n && !freed && !r; k++) {
		struct vm *v = emergency_victim(rc, vm, tried);

		if (!v) {
			if (tried[rc->n])
				break;
			tried[rc->n] = true; /* last resort: the faulting one */
			v = vm;
		} else {
			for (unsigned i = 0; i < rc->n; i++)
				tried[i] |= rc->vms[i] == v;
		}
		r = swap_out(rc, v, RECLAIM_EMERGENCY_BATCH, &freed);
	}
	free(tried);
	rc->emergencies++;
	rc->emergency_pages += freed;
	vm->rs.emergency += freed;
	if (r)
		return r;
	return freed ? 0 : -ENOMEM;
}

int reclaim_reserve(struct vmm_reclaim *rc, struct vm *vm)
{
	int r;

	if (!rc || !rc->swap || rc->pool->frames - rc->pool->used >= RECLAIM_RESERVE)
		return 0;
	r = reclaim_emergency(rc, vm);
	return r == -ENOMEM ? 0 : r; /* nothing to take: the frame may still be there */
}

void reclaim_guest_tick(struct vmm_reclaim *rc, struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	double ghz = rc->cfg->cost.ghz, period = rc->cfg->host.ws_period_ms * 1e6 * ghz;

	if (vm->rs.wss && period > 0 && vm->cycles >= (double)vm->rs.next_ws * period) {
		mem_wss_period(vm->rs.wss);
		vm->rs.next_ws = (uint64_t)(vm->cycles / period) + 1;
	}
	vm->rs.ran = true;
	if (sv->balloon) {
		double dc = vm->cycles - vm->rs.last_cycles;

		if (dc > 0)
			balloon_tick(sv->balloon->dev, (uint64_t)(dc / ghz));
		vm->rs.last_cycles = vm->cycles;
	}
}

/* Balloon targets for one soft guest (step 4); true if the policy may
 * count on its balloon this tick. */
bool soft_balloon(struct vmm_reclaim *rc, struct vm *vm, enum mem_rstate st, uint64_t alloc)
{
	struct soft_vm *sv = soft_vm(vm);
	struct vm_reclaim *rs = &vm->rs;
	uint64_t want;
	struct balloon_counters c;
	const char *why = NULL;

	if (!rc->cfg->host.balloon || !sv->balloon || sv->balloon->fixed)
		return false;
	if (!vm_balloon_usable(vm, &why)) {
		if (!rs->balloon_note[0])
			snprintf(rs->balloon_note, sizeof(rs->balloon_note), "%s", why);
		return false;
	}
	balloon_counters(sv->balloon->dev, &c);
	/* a balloon behind its target that did not move since the last tick */
	if (c.target > c.actual && c.actual <= rs->last_actual && !vm->done) {
		if (rs->ran) /* it ran since the last tick and did not move */
			rs->stalls++;
	} else {
		rs->stalls = 0;
	}
	rs->ran = false;
	rs->last_actual = c.actual;
	want = reclaim_balloon_want(st, alloc, rs->target, &c);
	rs->wanted = balloon_set_target(sv->balloon->dev, want);
	if (rs->stalls >= RECLAIM_STALL_TICKS) {
		if (!rs->stall_reported++)
			fprintf(stderr,
				"guest %s: balloon: target %llu pages, actual %llu, unchanged "
				"for %u policy periods: reclaiming by host swap meanwhile\n",
				vm->name, (unsigned long long)c.target,
				(unsigned long long)c.actual, RECLAIM_STALL_TICKS);
		snprintf(rs->balloon_note, sizeof(rs->balloon_note),
			 "balloon lags its target (%llu of %llu pages)",
			 (unsigned long long)c.actual, (unsigned long long)c.target);
		return false;
	}
	return true;
}

/* A soft guest's inputs: what it holds, what it would hold (its balloon
 * and swapped pages back), its sampled working set. */
bool soft_policy_in(struct vm *vm, struct mem_policy_guest *g)
{
	struct soft_vm *sv = soft_vm(vm);
	struct mem_wss_estimate e = {.max = 0};

	if (vm->rs.wss && !vm->done)
		mem_wss_estimate(vm->rs.wss, &e);
	g->shares = (double)vm->cfg->shares;
	g->min = vm->cfg->min / MEM_PAGE_SIZE;
	g->max = vm->cfg->max / MEM_PAGE_SIZE;
	g->alloc = vm_alloc(vm);
	g->demand = g->alloc + sv->p2m->count[MEM_BALLOONED] + sv->p2m->count[MEM_SWAPPED];
	g->active = e.max * (double)sv->p2m->pages;
	if (vm->failed)
		g->min = g->max = g->demand = 0; /* it holds what it holds */
	return true;
}
