/* SPDX-License-Identifier: MIT */
/*
 * A soft guest's output of the memory policy, ballooning and host swap:
 * its columns of timeseries.csv and guests.csv and its fields of
 * summary.json (columns.h), and the host swap file's. Counts are 4 KiB
 * pages.
 */
#include <inttypes.h>
#include <math.h>

#include "vmm-core/out/columns.h"
#include "vmm-core/soft/soft.h"

static struct balloon_counters bcounters(const struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	struct balloon_counters c = {0};

	if (sv->balloon)
		balloon_counters(sv->balloon->dev, &c);
	return c;
}

static struct mem_wss_estimate wss(const struct vm *vm)
{
	struct mem_wss_estimate e = {0};

	if (vm->rs.wss)
		mem_wss_estimate(vm->rs.wss, &e);
	return e;
}

uint64_t output_balloon_target(const struct vm *vm)
{
	return bcounters(vm).target;
}

void output_policy_ts_fill(struct out_row *r, const struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	const uint64_t *n = sv->p2m->count;
	struct balloon_counters c = bcounters(vm);
	struct mem_wss_estimate e = wss(vm);
	double pages = (double)sv->p2m->pages;
	struct guest_stats gs;

	guest_os_stats(sv->os, &gs);
	out_u(r, TS_alloc_pages, n[MEM_RESIDENT] + n[MEM_SHARED]);
	out_u(r, TS_alloc_target, vm->rs.target);
	out_d(r, TS_active_pages, e.max * pages);
	out_d(r, TS_ws_slow, e.slow * pages);
	out_d(r, TS_ws_fast, e.fast * pages);
	out_d(r, TS_ws_current, e.current * pages);
	out_u(r, TS_ws_true, vm->done ? 0 : gs.wl_active);
	out_d(r, TS_shares_per_page, isfinite(vm->rs.rho) ? vm->rs.rho : 0.0);
	out_u(r, TS_balloon_wanted, vm->rs.wanted);
	out_u(r, TS_guest_balloon_pages, gs.frames_balloon);
	out_u(r, TS_balloon_inflated, c.inflated);
	out_u(r, TS_balloon_deflated, c.deflated);
	out_u(r, TS_balloon_deflated_unasked, c.deflated_unasked);
	out_u(r, TS_host_swap_outs, vm->rs.swap_outs);
	out_u(r, TS_host_swap_ins, vm->rs.swap_ins);
	out_u(r, TS_swap_shared, vm->rs.swap_shared);
	out_u(r, TS_blocked, vm->rs.blocked ? 1 : 0);
	out_d(r, TS_blocked_ms, vm->rs.blocked_cycles / vm->cost->ghz / 1e6);
	out_d(r, TS_idle_ms, sv->idle_cycles / vm->cost->ghz / 1e6);
}

void output_policy_guests_fill(struct out_row *r, const struct vm *vm, const struct vmm_cycles *cyc)
{
	struct balloon_counters c = bcounters(vm);

	out_d(r, G_cycles_host_swap, cyc->host_swap);
	out_d(r, G_cycles_blocked, cyc->blocked);
	out_d(r, G_cycles_idle, cyc->idle);
	out_u(r, G_host_swap_outs, vm->rs.swap_outs);
	out_u(r, G_host_swap_ins, vm->rs.swap_ins);
	out_u(r, G_swap_shared, vm->rs.swap_shared);
	out_u(r, G_balloon_target, c.target);
	out_u(r, G_balloon_inflated, c.inflated);
	out_u(r, G_balloon_deflated, c.deflated);
	out_u(r, G_alloc_target, vm->rs.target);
}

static const char *policy_balloon_status(const struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	const char *why = NULL;

	if (!sv->balloon)
		return "no device";
	if (sv->balloon->fixed)
		return "fixed target";
	if (vm_balloon_usable(vm, &why) && !vm->rs.balloon_note[0])
		return "ok";
	return vm->rs.balloon_note[0] ? vm->rs.balloon_note : why;
}

void output_policy_json_guest(struct out_row *r, const struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	struct balloon_counters c = bcounters(vm);
	struct mem_wss_estimate e = wss(vm);
	struct guest_stats gs;

	guest_os_stats(sv->os, &gs);
	out_s(r, JG_balloon_driver, sv->balloon ? vm->cfg->balloon_driver : "none");
	out_s(r, JG_balloon_status, policy_balloon_status(vm));
	out_u(r, JG_balloon_target2, c.target);
	out_u(r, JG_balloon_wanted, vm->rs.wanted);
	out_u(r, JG_balloon_actual2, c.actual);
	out_u(r, JG_balloon_guest_claim, c.guest_actual);
	out_u(r, JG_balloon_guest_pages, gs.frames_balloon);
	out_u(r, JG_balloon_inflated, c.inflated);
	out_u(r, JG_balloon_deflated, c.deflated);
	out_u(r, JG_balloon_deflated_unasked, c.deflated_unasked);
	out_u(r, JG_balloon_inflate_batches, c.inflate_batches);
	out_u(r, JG_balloon_deflate_batches, c.deflate_batches);
	out_u(r, JG_balloon_rejected_batches, c.rejected_batches);
	out_u(r, JG_balloon_rejected_pfns, c.rejected_pfns);
	out_u(r, JG_balloon_ring_errors, c.ring_errors);
	out_u(r, JG_balloon_resets, c.resets);
	out_u(r, JG_balloon_stats_updates, c.stats_updates);
	out_u(r, JG_balloon_register_accesses, sv->balloon ? sv->balloon->pio : 0);
	out_u(r, JG_balloon_guest_out_of_puff, gs.balloon_puffs);
	out_u(r, JG_balloon_guest_oom_pages, gs.balloon_oom);
	out_u(r, JG_host_swap_outs, vm->rs.swap_outs);
	out_u(r, JG_host_swap_ins, vm->rs.swap_ins);
	out_u(r, JG_swap_shared, vm->rs.swap_shared);
	out_u(r, JG_emergency_frames, vm->rs.emergency);
	out_d(r, JG_ws_estimate_pages, e.max * (double)sv->p2m->pages);
	out_d(r, JG_ws_slow, e.slow);
	out_d(r, JG_ws_fast, e.fast);
	out_d(r, JG_ws_current, e.current);
	out_u(r, JG_ws_periods, e.periods);
	out_d(r, JG_blocked_seconds, vm->rs.blocked_cycles / vm->cost->ghz / 1e9);
	out_d(r, JG_idle_seconds, sv->idle_cycles / vm->cost->ghz / 1e9);
	out_u(r, JG_halts, gs.halts);
	out_u(r, JG_reboots, sv->reboots);
}
