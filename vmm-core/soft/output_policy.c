/* SPDX-License-Identifier: MIT */
/*
 * Output of the memory policy, ballooning and host swap: the columns they
 * append to timeseries.csv and guests.csv and their fields in summary.json
 * (see vmm.h for the column lists). Counts are 4 KiB pages.
 */
#include <inttypes.h>
#include <math.h>

#include "vmm-core/out/columns.h"
#include "vmm-core/soft/soft.h"

#define JU(f, key, v) fprintf(f, "\"%s\": %" PRIu64, key, (uint64_t)(v))

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

void output_policy_json_guest(FILE *f, const struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	struct balloon_counters c = bcounters(vm);
	struct mem_wss_estimate e = wss(vm);
	struct guest_stats gs;

	guest_os_stats(sv->os, &gs);
	fputs("\"balloon\": {\"driver\": ", f);
	output_json_str(f, sv->balloon ? vm->cfg->balloon_driver : "none");
	fputs(", \"status\": ", f);
	output_json_str(f, policy_balloon_status(vm));
	fputs(", ", f);
	JU(f, "target", c.target), fputs(", ", f);
	JU(f, "wanted", vm->rs.wanted), fputs(", ", f);
	JU(f, "actual", c.actual), fputs(", ", f);
	JU(f, "guest_claim", c.guest_actual), fputs(", ", f);
	JU(f, "guest_pages", gs.frames_balloon), fputs(",\n       ", f);
	JU(f, "inflated", c.inflated), fputs(", ", f);
	JU(f, "deflated", c.deflated), fputs(", ", f);
	JU(f, "deflated_unasked", c.deflated_unasked), fputs(", ", f);
	JU(f, "inflate_batches", c.inflate_batches), fputs(", ", f);
	JU(f, "deflate_batches", c.deflate_batches), fputs(", ", f);
	JU(f, "rejected_batches", c.rejected_batches), fputs(", ", f);
	JU(f, "rejected_pfns", c.rejected_pfns), fputs(",\n       ", f);
	JU(f, "ring_errors", c.ring_errors), fputs(", ", f);
	JU(f, "resets", c.resets), fputs(", ", f);
	JU(f, "stats_updates", c.stats_updates), fputs(", ", f);
	JU(f, "register_accesses", sv->balloon ? sv->balloon->pio : 0), fputs(", ", f);
	JU(f, "guest_out_of_puff", gs.balloon_puffs), fputs(", ", f);
	JU(f, "guest_oom_pages", gs.balloon_oom), fputs("},\n     ", f);
	JU(f, "host_swap_outs", vm->rs.swap_outs), fputs(", ", f);
	JU(f, "host_swap_ins", vm->rs.swap_ins), fputs(", ", f);
	JU(f, "swap_shared", vm->rs.swap_shared), fputs(", ", f);
	JU(f, "emergency_frames", vm->rs.emergency), fputs(", ", f);
	JU(f, "alloc_target", vm->rs.target), fputs(", ", f);
	fprintf(f, "\"shares_per_page\": %.6g, ", isfinite(vm->rs.rho) ? vm->rs.rho : 0.0);
	fprintf(f,
		"\"working_set\": {\"estimate_pages\": %.0f, \"slow\": %.4f, \"fast\": %.4f, "
		"\"current\": %.4f, \"periods\": %" PRIu64 "},\n     ",
		e.max * (double)sv->p2m->pages, e.slow, e.fast, e.current, e.periods);
	fprintf(f, "\"blocked_seconds\": %.6f, \"idle_seconds\": %.6f, ",
		vm->rs.blocked_cycles / vm->cost->ghz / 1e9, sv->idle_cycles / vm->cost->ghz / 1e9);
	JU(f, "halts", gs.halts), fputs(", ", f);
	JU(f, "reboots", sv->reboots), fputs(",\n     ", f);
}

void output_policy_json_host(FILE *f, const struct vmm_reclaim *rc)
{
	struct mem_swap_stats s = {0};

	fputs("\"reclamation\": {\"state\": ", f);
	output_json_str(f, mem_rstate_name(rc->state));
	fputs(", ", f);
	JU(f, "transitions", rc->transitions), fputs(", ", f);
	JU(f, "policy_ticks", rc->ticks), fputs(", ", f);
	fprintf(f, "\"idle_tax\": %.2f, \"seconds\": {", reclaim_tau(rc->cfg, rc->last_seconds));
	for (int st = 0; st < MEM_RSTATE_NR; st++)
		fprintf(f, "\"%s\": %.6f%s", mem_rstate_name((enum mem_rstate)st),
			rc->state_seconds[st], st + 1 < MEM_RSTATE_NR ? ", " : "}, ");
	JU(f, "emergencies", rc->emergencies), fputs(", ", f);
	JU(f, "emergency_frames", rc->emergency_pages), fputs(", \"fatal\": ", f);
	if (rc->fatal)
		output_json_str(f, rc->fatal_msg);
	else
		fputs("null", f);
	fputs("},\n    \"swap\": ", f);
	if (!rc->swap) {
		fputs("null,\n    ", f);
		return;
	}
	mem_swap_stats(rc->swap, &s);
	fputs("{\"file\": ", f);
	output_json_str(f, mem_swap_path(rc->swap));
	fputs(", \"victim\": ", f);
	output_json_str(f, mem_swap_victim_name(rc->victim));
	fputs(", ", f);
	JU(f, "slots_used", s.used), fputs(", ", f);
	JU(f, "peak_slots", s.peak), fputs(", ", f);
	JU(f, "swap_outs", s.outs), fputs(", ", f);
	JU(f, "swap_ins", s.ins), fputs(", ", f);
	JU(f, "file_bytes", s.file_bytes), fputs(", ", f);
	JU(f, "write_errors", s.write_errors), fputs(", ", f);
	JU(f, "read_errors", s.read_errors), fputs("},\n    ", f);
}
