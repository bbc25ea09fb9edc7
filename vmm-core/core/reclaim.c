/* SPDX-License-Identifier: MIT */
/*
 * reclaim: host memory reclamation for a run, ESX's way (Waldspurger, OSDI
 * 2002, sections 3, 5 and 6): the allocation policy of mem/policy.c fed
 * with each guest's shares, bounds, holdings and sampled working set, and
 * applied through the balloon, host swap and blocking.
 *
 * Clocks. Working-set periods and the balloon's rate limit run on each
 * guest's own modeled clock (reclaim_guest_tick, after each of its quanta).
 * The policy runs on the host's clock, the slowest runnable guest's, every
 * [host] policy_ms (reclaim_policy_tick), so every guest has lived through
 * the period when its targets are set.
 *
 * A policy tick:
 *   1. the reclamation state from free host frames (with hysteresis);
 *   2. per guest: shares, min, max, P = resident + shared gfns, demand =
 *      P + ballooned + swapped (what it would take back), active = the
 *      sampler's estimate (max of slow, fast, current) times its pages (a
 *      guest whose workload ended counts as idle);
 *   3. targets for avail = sum of P + (free - the high threshold): the
 *      guests may hold together what they hold now plus the free memory
 *      above 6%, so that meeting the targets brings free memory back above
 *      the high threshold (a shared frame counts once per sharer in P, and
 *      the frames sharing saves are in free, so the sum balances);
 *   4. balloon targets: the balloon of a guest P - target pages above its
 *      target grows by that much, one below shrinks (in the high state it
 *      only shrinks: no reclamation there), through the device, whose rate
 *      limit paces it; a guest that just deflated on OOM is not pushed;
 *   5. host swap of P - target pages: in the hard and low states always,
 *      in the soft state only from guests whose balloon cannot do it (no
 *      device or driver, a protocol violation, or a balloon that lagged its
 *      target without moving for RECLAIM_STALL_TICKS ticks: reported);
 *   6. in the low state, guests above their target are blocked (the
 *      scheduler skips them) until they are not; the modeled time they lose
 *      is charged to them when they are let go (cycles_blocked).
 *
 * Host swap (swap_out) takes victims with mem_swap_pick, and tries sharing
 * each first (ksm_try_share): a page that merges is not written. A failed
 * write (a full disk, an I/O error, the swap full) leaves the page in memory
 * and is fatal to the run: rc->fatal with one message, the runner stops.
 * A KVM guest's host swap (backend_kvm_swap.c) stops instead, and the run
 * goes on with its guests' pages in memory (rc->swap_failed).
 *
 * Enforcement between ticks: in the hard and low states (and in the soft
 * state for a guest whose balloon cannot reclaim) a guest that holds its
 * target and faults a page in (first touch, swap-in, copy-on-write) swaps
 * one of its own pages out first (reclaim_charge), so a guest over its
 * target pages against itself, not against the others, until the next
 * tick; ESX swaps guests above their target, and its low state blocks them.
 *
 * Emergencies: a fault that finds the pool empty, or down to a reserve of
 * RECLAIM_RESERVE frames kept for paging structures (EPT and shadow tables
 * come from the pool and cannot wait), calls reclaim_emergency,
 * which swaps out a batch from the guest furthest above its target (the
 * faulting guest when none is), then the fault retries. Without host swap
 * it cannot, and the guest fails as before: the budget is exhausted.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/core/reclaim_internal.h"
#include "vmm-core/core/run_internal.h"

double reclaim_tau(const struct vmm_config *cfg, double seconds)
{
	const struct vmm_host_cfg *h = &cfg->host;
	double t = h->ntau ? h->tau[0] : 0.75;

	for (unsigned i = 1; i < h->ntau; i++)
		if (seconds * 1e3 >= h->tau_ms[i])
			t = h->tau[i];
	return t;
}

int reclaim_init(struct vmm_reclaim *rc, const struct vmm_config *cfg, struct mem_pool *pool,
		 struct ksm *ksm, char *err, size_t errlen)
{
	const struct vmm_host_cfg *h = &cfg->host;

	memset(rc, 0, sizeof(*rc));
	rc->cfg = cfg;
	rc->pool = pool;
	rc->ksm = ksm;
	mem_policy_defaults(&rc->pp);
	rc->pp.tau = reclaim_tau(cfg, 0);
	for (int s = 0; s < MEM_RSTATE_NR; s++)
		rc->pp.threshold[s] = h->free_pct[s] / 100;
	if (mem_swap_victim_parse(h->swap_victim, &rc->victim)) {
		snprintf(err, errlen, "%s: [host] swap_victim: '%s'", cfg->path, h->swap_victim);
		return -EINVAL;
	}
	rc->next_tick = h->policy_ms / 1e3;
	if (h->swap_file[0]) {
		struct mem_swap_params sp = {.path = h->swap_file,
					     .slots = h->swap_size / MEM_PAGE_SIZE};

		rc->swap = mem_swap_create(&sp);
		if (!rc->swap) {
			int e = errno;

			snprintf(err, errlen, "host swap file %s: %s%s", h->swap_file, strerror(e),
				 e == EEXIST ? " (a previous run's? memvisor creates it and "
					       "removes it at the end)"
					     : "");
			return -e;
		}
	}
	return 0;
}

void reclaim_fini(struct vmm_reclaim *rc)
{
	mem_swap_destroy(rc->swap);
	rc->swap = NULL;
	free(rc->pg);
	free(rc->in);
	rc->pg = NULL;
	rc->in = NULL;
}

/* Let vm go: it is charged the host time that passed while it waited. */
static void unblock(struct vm *vm, double host_cycles)
{
	vm->rs.blocked = false;
	if (host_cycles > vm->cycles)
		vm->rs.blocked_cycles += host_cycles - vm->cycles;
	if (vm->ops->clock)
		vm->ops->clock(vm);
}

uint64_t reclaim_balloon_want(enum mem_rstate st, uint64_t alloc, uint64_t target,
			      const struct balloon_counters *c)
{
	uint64_t over = alloc > target ? alloc - target : 0;
	uint64_t under = target > alloc ? target - alloc : 0;
	/* over and under are never both non-zero; the high state only gives
	 * back */
	uint64_t want = c->actual + (st == MEM_RSTATE_HIGH ? 0 : over);

	want = want > under ? want - under : 0;
	if (c->deflated_unasked && want > c->actual && c->target > c->actual)
		want = c->actual; /* it gave pages back under OOM: do not push */
	return want;
}

/*
 * One policy tick for every backend. The state comes from the host's free
 * frames (the budget less the frames in use); each guest's inputs from its
 * backend; the targets share what the guests hold plus what is free, less
 * the high state's reserve: the budget less the frames no guest's
 * allocation counts (the VMM's own, and sharing's savings count for the
 * guests). Then each guest's balloon moves, and, where the host swaps,
 * what the balloon does not take is swapped; in the low state a guest
 * above its target is held back where its backend can be.
 */
void reclaim_policy_tick(struct vmm_reclaim *rc, double host_seconds, bool force)
{
	const struct vmm_config *cfg = rc->cfg;
	uint64_t frames = rc->pool ? rc->pool->frames : cfg->host.memory / MEM_PAGE_SIZE;
	uint64_t used, freep, sum = 0;
	double reserve, base, host_cycles = host_seconds * 1e9 * cfg->cost.ghz;
	enum mem_rstate st;

	if (!force && host_seconds < rc->next_tick)
		return;
	/* only when a tick is due: on kvm this asks every guest's memfd */
	used = run_frames_used(rc->pool, rc->vms, rc->n);
	freep = frames > used ? frames - used : 0;
	if (!rc->pg) {
		rc->pg = calloc(cfg->nguests, sizeof(*rc->pg));
		rc->in = calloc(cfg->nguests, sizeof(*rc->in));
		if (!rc->pg || !rc->in) {
			free(rc->pg);
			rc->pg = NULL;
			return; /* try again next tick */
		}
	}
	if (rc->ticks && host_seconds > rc->last_seconds)
		rc->state_seconds[rc->state] += host_seconds - rc->last_seconds;
	rc->last_seconds = host_seconds;
	rc->next_tick =
	    (floor(host_seconds * 1e3 / cfg->host.policy_ms) + 1) * cfg->host.policy_ms / 1e3;
	rc->ticks++;
	rc->pp.tau = reclaim_tau(cfg, host_seconds);
	st = mem_policy_state(&rc->pp, rc->state, freep, frames);
	if (st != rc->state)
		rc->transitions++;
	rc->state = st;
	rc->free_pages = freep;

	for (unsigned i = 0; i < rc->n; i++) {
		struct vm *vm = rc->vms[i];

		memset(&rc->pg[i], 0, sizeof(rc->pg[i]));
		rc->in[i] = vm->ops->policy_in(vm, &rc->pg[i]);
		sum += rc->pg[i].alloc;
	}
	reserve = rc->pp.threshold[MEM_RSTATE_HIGH] * (double)frames;
	base = (double)frames - (double)used + (double)sum;
	rc->avail = base > reserve ? (uint64_t)(base - reserve) : 0;
	mem_policy_targets(&rc->pp, rc->pg, rc->n, rc->avail);

	for (unsigned i = 0; i < rc->n && !rc->fatal; i++) {
		struct vm *vm = rc->vms[i];
		uint64_t alloc = rc->pg[i].alloc;
		bool ballooning;

		if (vm->failed || !rc->in[i])
			continue;
		vm->rs.target = rc->pg[i].target;
		vm->rs.rho = rc->pg[i].rho;
		ballooning = vm->ops->balloon(rc, vm, st, alloc);
		vm->rs.ballooning = ballooning;
		if (rc->swap && vm->ops->swap && alloc > vm->rs.target &&
		    (st >= MEM_RSTATE_HARD || (st == MEM_RSTATE_SOFT && !ballooning))) {
			(void)vm->ops->swap(rc, vm, alloc - vm->rs.target);
			alloc = vm->ops->held(vm);
		}
		if (st == MEM_RSTATE_LOW && alloc > vm->rs.target && !vm->done &&
		    vm->ops->can_block) {
			vm->rs.blocked = true;
		} else if (vm->rs.blocked) {
			unblock(vm, host_cycles);
		}
	}
}

void reclaim_unstick(struct vmm_reclaim *rc, double host_seconds)
{
	double host_cycles = host_seconds * 1e9 * rc->cfg->cost.ghz;

	/* every runnable guest waits: the host clock cannot move, so the
	 * policy must run now; without swap it cannot free anything, and
	 * blocking would never end */
	reclaim_policy_tick(rc, host_seconds, true);
	for (unsigned i = 0; i < rc->n; i++)
		if (!rc->vms[i]->done && !rc->vms[i]->rs.blocked)
			return;
	for (unsigned i = 0; i < rc->n; i++)
		if (rc->vms[i]->rs.blocked)
			unblock(rc->vms[i], host_cycles);
}
