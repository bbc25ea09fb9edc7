/* SPDX-License-Identifier: MIT */
/*
 * paging_policy: which paging mode a guest runs, and when that changes.
 *
 * Stock KVM fixes shadow or nested paging for the whole host when its module
 * loads; here each guest has its own mode and may change it while it runs
 * (mmu_switch_mode: one MMU_EXIT_MODE_SWITCH, the old structures torn down,
 * the new ones built lazily, guest memory and tables untouched). Three ways:
 *
 *   fixed      paging = nested or shadow, no schedule.
 *   scheduled  paging_switch_at (modeled ms) and paging_switch_every
 *              (workload accesses) toggle between nested and shadow, for
 *              experiments and tests. The soft vCPU stops at each
 *              `every` boundary exactly (vm_paging_budget); switch_at is
 *              honoured at the end of the run chunk that crosses it.
 *   dynamic    paging = dynamic starts nested and, in the spirit of Wang et
 *              al. (VEE 2011, selective hardware/software memory
 *              virtualization), watches TLB misses and guest page faults
 *              over windows of dynamic_window_ms modeled ms. It prices the
 *              paging work of the window in the mode running (walk
 *              references, and under shadow its exits: hidden faults, PT
 *              writes, CR3 writes, INVLPGs) and estimates the same window
 *              under the other mode from the same events: the TLB misses
 *              times the other mode's references per miss, and, for
 *              shadow, the guest page faults times the shadow exit cycles
 *              per fault plus the CR3 loads and INVLPGs times their exit
 *              costs. The per-miss and per-fault figures are learned from
 *              the last window run in each mode (defaults: 24 and 4
 *              references, two hidden faults and a PT write per fault).
 *              A window favours a switch when the estimate is below the
 *              observed cost by more than dynamic_margin; the policy
 *              switches after dynamic_confirm such windows in a row, no
 *              sooner than dynamic_min_windows windows after the last
 *              switch, and only when the saving over those windows exceeds
 *              exit.mode_switch. The first window after a switch is a
 *              warm-up (the new mode's structures are cold): not learned
 *              from, not decided on.
 *
 * A VMM on hardware would read TLB misses from a PMU counter and guest page
 * faults from #PF interception (cheap to sample under EPT by setting the
 * exception bitmap for a window); CR3 loads and INVLPGs exit under shadow
 * paging and can be intercepted under EPT the same way. Here the MMU counts
 * them all in both modes.
 *
 * Every switch is recorded (soft_vm(vm)->pg.ev, written to events.csv) and makes the
 * runner sample the time series at once (vm->sample_now).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/soft/soft.h"

static bool vm_paging_shadow(const struct vm *vm)
{
	return soft_vm(vm)->mmu.ops == &paging_shadow_ops;
}

const struct paging_ops *vm_paging_initial(const struct vmm_guest_cfg *cfg)
{
	if (!strcmp(cfg->paging, "dynamic"))
		return &paging_nested_ops;
	return paging_find(cfg->paging);
}

int vm_paging_init(struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	struct vm_paging *pg = &sv->pg;
	const struct vmm_cost *c = vm->cost;

	memset(pg, 0, sizeof(*pg));
	pg->dynamic = !strcmp(vm->cfg->paging, "dynamic");
	pg->next_every = vm->cfg->switch_every;
	pg->nested_refs = PAGING_NESTED_COLD_REFS;
	pg->shadow_refs = PAGING_SHADOW_REFS;
	pg->shadow_fault = 2 * c->exit[MMU_EXIT_HIDDEN_FAULT] + c->exit[MMU_EXIT_PT_WRITE];
	pg->win_start = vm->cycles;
	pg->win_st = sv->mmu.st;
	pg->cap = vm->cfg->nswitch_at + 8;
	pg->ev = calloc(pg->cap, sizeof(*pg->ev));
	return pg->ev ? 0 : -ENOMEM;
}

void vm_paging_fini(struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);

	free(sv->pg.ev);
	sv->pg.ev = NULL;
}

uint64_t vm_paging_budget(const struct vm *vm, uint64_t budget)
{
	const struct vm_paging *pg = &soft_vm(vm)->pg;

	if (pg->next_every && pg->next_every - pg->accesses < budget)
		return pg->next_every - pg->accesses;
	return budget;
}

/* Switch to the other mode now and record why. 0 or -errno (vm->err). */
static int vm_paging_switch(struct vm *vm, const char *why, double cost, double other)
{
	struct soft_vm *sv = soft_vm(vm);
	struct vm_paging *pg = &sv->pg;
	const struct paging_ops *to =
	    vm_paging_shadow(vm) ? &paging_nested_ops : &paging_shadow_ops;
	const char *from = sv->mmu.ops->name;
	struct vm_paging_event *e;
	double ms = vm->cycles / vm->cost->ghz / 1e6;
	int r;

	if (pg->nev == pg->cap) {
		unsigned cap = pg->cap * 2;
		struct vm_paging_event *n = realloc(pg->ev, cap * sizeof(*n));

		if (!n) {
			snprintf(vm->err, sizeof(vm->err), "guest %s: paging events: out of memory",
				 vm->name);
			return -ENOMEM;
		}
		pg->ev = n;
		pg->cap = cap;
	}
	r = mmu_switch_mode(&sv->mmu, to);
	if (r && !sv->mmu.mode) {
		snprintf(vm->err, sizeof(vm->err),
			 "guest %s: paging switch %s -> %s failed and %s could not be restored: %s",
			 vm->name, from, to->name, from, strerror(-r));
		return r;
	}
	if (r)
		return 0; /* still in the old mode; try again at the next chance */
	e = &pg->ev[pg->nev++];
	*e = (struct vm_paging_event){.time_ms = ms,
				      .accesses = pg->accesses,
				      .from = from,
				      .to = to->name,
				      .why = why,
				      .cost = cost,
				      .other = other};
	vm_update_clock(vm, NULL);
	pg->win_start = vm->cycles;
	pg->win_st = sv->mmu.st;
	pg->agree = 0;
	pg->since = 0;
	vm->sample_now = true;
	return 0;
}

/* Close the dynamic window: learn, estimate, maybe switch. */
static int vm_paging_window(struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	struct vm_paging *pg = &sv->pg;
	const struct vmm_cost *c = vm->cost;
	const struct mmu_stats *now = &sv->mmu.st, *w = &pg->win_st;
	const enum mmu_exit_reason sh[] = {MMU_EXIT_HIDDEN_FAULT, MMU_EXIT_PT_WRITE,
					   MMU_EXIT_CR3_WRITE, MMU_EXIT_INVLPG};
	double misses = (double)(now->tlb_misses - w->tlb_misses);
	double refs = (double)(now->walk_refs - w->walk_refs);
	double faults = (double)(now->guest_faults - w->guest_faults);
	double acc = (double)(now->accesses - w->accesses);
	double exits = 0, obs, est;
	bool warm = pg->since > 0;

	for (unsigned i = 0; i < ARRAY_SIZE(sh); i++)
		exits += (double)(now->exits[sh[i]] - w->exits[sh[i]]) * c->exit[sh[i]];
	if (vm_paging_shadow(vm)) {
		obs = refs * c->walk_ref + exits;
		if (warm && misses > 0)
			pg->shadow_refs = refs / misses;
		if (warm && faults > 0)
			pg->shadow_fault =
			    ((double)(now->exits[MMU_EXIT_HIDDEN_FAULT] -
				      w->exits[MMU_EXIT_HIDDEN_FAULT]) *
				 c->exit[MMU_EXIT_HIDDEN_FAULT] +
			     (double)(now->exits[MMU_EXIT_PT_WRITE] - w->exits[MMU_EXIT_PT_WRITE]) *
				 c->exit[MMU_EXIT_PT_WRITE]) /
			    faults;
		est = misses * pg->nested_refs * c->walk_ref;
	} else {
		obs = refs * c->walk_ref;
		if (warm && misses > 0)
			pg->nested_refs = refs / misses;
		est = misses * pg->shadow_refs * c->walk_ref + faults * pg->shadow_fault +
		      (double)(now->cr3_loads - w->cr3_loads) * c->exit[MMU_EXIT_CR3_WRITE] +
		      (double)(now->invlpgs - w->invlpgs) * c->exit[MMU_EXIT_INVLPG];
	}
	pg->windows++;
	pg->win_start = vm->cycles;
	pg->win_st = *now;
	if (!warm) {
		pg->since++;
		return 0;
	}
	pg->since++;
	pg->agree = est < obs * (1 - vm->cfg->dyn_margin) ? pg->agree + 1 : 0;
	if (pg->agree >= vm->cfg->dyn_confirm && pg->since > vm->cfg->dyn_min_windows &&
	    (obs - est) * pg->agree > c->exit[MMU_EXIT_MODE_SWITCH])
		return vm_paging_switch(vm, "dynamic", acc > 0 ? obs / acc : 0,
					acc > 0 ? est / acc : 0);
	return 0;
}

int vm_paging_tick(struct vm *vm, uint64_t done)
{
	struct vm_paging *pg = &soft_vm(vm)->pg;
	const struct vmm_guest_cfg *cfg = vm->cfg;
	double per_ms = vm->cost->ghz * 1e6;
	int r = 0;

	pg->accesses += done;
	pg->mode_accesses[vm_paging_shadow(vm)] += done;
	if (!pg->next_every && pg->next_at >= cfg->nswitch_at && !pg->dynamic)
		return 0;
	vm_update_clock(vm, NULL);
	if (pg->next_every && pg->accesses >= pg->next_every) {
		pg->next_every += cfg->switch_every;
		r = vm_paging_switch(vm, "every", 0, 0);
	}
	while (!r && pg->next_at < cfg->nswitch_at &&
	       vm->cycles >= cfg->switch_at[pg->next_at] * per_ms) {
		pg->next_at++;
		r = vm_paging_switch(vm, "schedule", 0, 0);
	}
	if (!r && pg->dynamic && vm->cycles - pg->win_start >= cfg->dyn_window_ms * per_ms)
		r = vm_paging_window(vm);
	return r;
}
