/* SPDX-License-Identifier: MIT */
/* backend_kvm_files: a KVM guest's samples and its part of the output files. */
/*
 * The same files as a soft run's, from the same column lists (columns.h).
 * What they hold for a kvm guest: time_ms is wall time since the
 * start; host_frames and resident are the memfd's allocated pages;
 * untouched is the rest of the guest's pages less the balloon; accesses,
 * guest faults and swap counts are the in-guest program's (the time
 * series carries the guest kernel's fault and swap counts from its
 * balloon statistics); exits are KVM's counters by kind (binary stats);
 * what a KVM guest does not have or memvisor does not measure there (a
 * modeled TLB, walks and clock, sharing, host swap, blocking) is empty in
 * the CSV files and null in summary.json, never 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "vmm-core/out/columns.h"
#include "vmm-core/kvm/backend_kvm_internal.h"

/* ---- samples -------------------------------------------------------------- */

struct kcounts {
	uint64_t pages, alloc, untouched, actual, target, exits;
	uint64_t faults, swap_outs, swap_ins, free_pages, accesses;
};

static void counts(struct vm *vm, struct kcounts *c, bool final)
{
	struct kguest *g = kguest_of(vm);
	struct balloon_counters b;

	kvm_dev_balloon_counters(g->k, &b);
	c->pages = g->k->ram_size >> 12;
	/* a guest that ended holds nothing; its summary says what it held */
	c->alloc = !vm->done ? held(g) : final ? g->end_alloc : 0;
	c->actual = b.actual;
	c->target = b.target;
	/* a ballooned frame holds no memory: the states add up */
	if (c->alloc + c->actual > c->pages)
		c->alloc = c->pages - c->actual;
	c->untouched = c->pages - c->alloc - c->actual;
	c->exits = g->st.v[KVM_STAT_exits];
	c->free_pages = b.stats[BALLOON_S_MEMFREE] >> 12;
	if (final && g->k->res.done) {
		c->faults = result_u64(g->k, "pgfault");
		c->swap_outs = result_u64(g->k, "pswpout");
		c->swap_ins = result_u64(g->k, "pswpin");
		c->accesses = result_u64(g->k, "accesses");
	} else {
		c->faults = b.stats[BALLOON_S_MAJFLT] + b.stats[BALLOON_S_MINFLT];
		c->swap_outs = b.stats[BALLOON_S_SWAP_OUT] >> 12;
		c->swap_ins = b.stats[BALLOON_S_SWAP_IN] >> 12;
		c->accesses = result_u64(g->k, "accesses");
	}
}

/* What a KVM guest does not have (sharing, host swap, a modeled TLB and
 * clock, blocking) or does not measure (the workload's own active pages)
 * stays empty. */
void kvm_sample(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	const struct khost *kh = h->b;
	struct balloon_counters b;
	struct kcounts c;
	double pages;

	if (!vm->done) {
		uint64_t now = held(g);

		g->stats_err = kvm_stats_read(g->k, &g->st);
		if (now > g->peak)
			g->peak = now;
	}
	counts(vm, &c, false);
	kvm_dev_balloon_counters(g->k, &b);
	pages = (double)c.pages;
	out_d(r, TS_time_ms, vm->cycles / vm->cost->ghz / 1e6);
	out_s(r, TS_guest, vm->name);
	out_u(r, TS_accesses, c.accesses);
	out_u(r, TS_untouched, c.untouched);
	out_u(r, TS_resident, c.alloc);
	out_u(r, TS_ballooned, c.actual);
	out_u(r, TS_guest_free, c.free_pages);
	out_u(r, TS_guest_page_faults, c.faults);
	out_u(r, TS_guest_swap_outs, c.swap_outs);
	out_u(r, TS_guest_swap_ins, c.swap_ins);
	if (g->st.binary)
		out_u(r, TS_exits, c.exits);
	out_u(r, TS_balloon_target, c.target);
	out_u(r, TS_balloon_actual, c.actual);
	out_s(r, TS_paging, kh->mode);
	out_u(r, TS_host_free_pages, h->rc->free_pages);
	out_u(r, TS_alloc_pages, c.alloc);
	out_u(r, TS_alloc_target, vm->done ? 0 : vm->rs.target);
	out_d(r, TS_active_pages, g->ws.max * pages);
	out_d(r, TS_ws_slow, g->ws.slow * pages);
	out_d(r, TS_ws_fast, g->ws.fast * pages);
	out_d(r, TS_ws_current, g->ws.current * pages);
	out_d(r, TS_shares_per_page, isfinite(vm->rs.rho) ? vm->rs.rho : 0.0);
	out_u(r, TS_balloon_wanted, b.wanted);
	out_u(r, TS_guest_balloon_pages, b.guest_actual);
	out_u(r, TS_balloon_inflated, b.inflated);
	out_u(r, TS_balloon_deflated, b.deflated);
	out_u(r, TS_balloon_deflated_unasked, b.deflated_unasked);
}

/* ---- files ---------------------------------------------------------------- */

#define JU(f, key, v) fprintf(f, "\"%s\": %" PRIu64, key, (uint64_t)(v))
/* a figure a KVM guest does not have or memvisor does not measure */
#define JN(f, key) fprintf(f, "\"%s\": null", key)

void kvm_json(FILE *f, struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	const struct khost *kh = h->b;
	struct kvm_vm *k = g->k;
	struct balloon_counters b;
	struct kcounts n;
	char buf[96];

	counts(vm, &n, true);
	kvm_dev_balloon_counters(k, &b);
	output_json_guest_head(f, vm, kh->mode, kh->mode, n.pages);
	JU(f, "untouched", n.untouched), fputs(", ", f);
	JU(f, "host_frames", n.alloc), fputs(", ", f);
	JU(f, "peak_host_frames", g->peak), fputs(", ", f);
	JN(f, "pages_sharing"), fputs(", ", f);
	JU(f, "balloon_target", b.target), fputs(", ", f);
	JU(f, "balloon_actual", b.actual), fputs(", ", f);
	JN(f, "host_swapped"), fputs(", ", f);
	JN(f, "cow_breaks"), fputs(",\n     ", f);
	JU(f, "accesses", n.accesses), fputs(", ", f);
	JN(f, "tlb_misses"), fputs(", ", f);
	JN(f, "walk_refs"), fputs(",\n     \"exits\": {", f);
	for (int i = 0; i < KVM_STAT_NR; i++) {
		JU(f, kvm_stat_names[i], g->st.v[i]);
		fputs(i + 1 < KVM_STAT_NR ? ", " : "},\n     ", f);
	}
	fprintf(f, "\"kvm_stats\": \"%s\", ", g->st.binary ? "binary" : "unavailable");
	JU(f, "guest_page_faults", n.faults), fputs(", ", f);
	JU(f, "guest_swap_outs", n.swap_outs), fputs(", ", f);
	JU(f, "guest_swap_ins", n.swap_ins), fputs(",\n     \"balloon\": {", f);
	JU(f, "wanted", b.wanted), fputs(", ", f);
	JU(f, "guest_actual", b.guest_actual), fputs(", ", f);
	JU(f, "inflated", b.inflated), fputs(", ", f);
	JU(f, "deflated", b.deflated), fputs(", ", f);
	JU(f, "deflated_unasked", b.deflated_unasked), fputs(", ", f);
	JU(f, "rejected_batches", b.rejected_batches), fputs(", ", f);
	JU(f, "ring_errors", b.ring_errors), fputs(", ", f);
	JU(f, "resets", b.resets), fputs(", ", f);
	JU(f, "stats_updates", b.stats_updates), fputs(", ", f);
	JU(f, "features", b.features), fputs("},\n     ", f);
	JU(f, "alloc_target", vm->rs.target), fputs(", ", f);
	fprintf(f, "\"shares_per_page\": %.6g, ", isfinite(vm->rs.rho) ? vm->rs.rho : 0.0);
	fprintf(f,
		"\"working_set\": {\"source\": \"%s\", \"estimate_pages\": %.0f, \"slow\": %.4f, "
		"\"fast\": %.4f, \"current\": %.4f, \"periods\": %" PRIu64 "},\n     ",
		g->ws.periods || g->wss ? "dirty log (pages written)" : "none",
		g->ws.max * (double)n.pages, g->ws.slow, g->ws.fast, g->ws.current, g->ws.periods);
	fputs("\"guest\": {\"uname\": ", f);
	output_json_str(f, kvm_dev_result(k, "uname", buf, sizeof(buf)) ? buf : "");
	fputs(", ", f);
	JU(f, "memtotal_kb", result_u64(k, "meminfo_total_kb")), fputs(", ", f);
	fprintf(f, "\"workload_seconds\": %s, ",
		kvm_dev_result(k, "seconds", buf, sizeof(buf)) ? buf : "null");
	fprintf(f, "\"boot_seconds\": %.3f, \"wall_seconds\": %.3f, \"console\": ",
		g->boot_ns ? (double)(g->boot_ns - k->started_ns) / 1e9 : 0.0,
		(double)((k->ended_ns ? k->ended_ns : kvm_now_ns()) - k->started_ns) / 1e9);
	snprintf(buf, sizeof(buf), "%s.console", vm->name);
	output_json_str(f, buf);
	fputs("},\n     \"modeled_cycles\": null, \"modeled_seconds\": null, \"verified\": ", f);
	fputs(!h->verify || vm->failed ? "null}" : vm->verified ? "true}" : "false}", f);
}

/* The kvm host's part of summary.json. */
void kvm_json_host(FILE *f, struct vm **vms, unsigned n, const struct run_host *h)
{
	const struct khost *kh = h->b;
	const struct vmm_reclaim *rc = h->rc;
	uint64_t frames = 0, rss = mem_rss_bytes();

	for (unsigned i = 0; i < n; i++)
		frames += kvm_vm_ram_allocated(kguest_of(vms[i])->k) >> 12;
	fputs("\"backend\": \"kvm\", \"kvm_paging\": ", f);
	output_json_str(f, kh->mode);
	fputs(", ", f);
	JU(f, "budget_bytes", h->cfg->host.memory), fputs(", ", f);
	JU(f, "frames_used", frames), fputs(", ", f);
	JU(f, "peak_frames", h->peak_frames), fputs(",\n    ", f);
	JU(f, "rss_bytes", rss), fputs(", ", f);
	JU(f, "peak_rss_bytes", h->peak_rss_bytes > rss ? h->peak_rss_bytes : rss), fputs(", ", f);
	JN(f, "pages_shared"), fputs(", ", f);
	JN(f, "pages_sharing"), fputs(", ", f);
	JU(f, "guests", n), fputs(",\n    ", f);
	fputs("\"reclamation\": {\"state\": ", f);
	output_json_str(f, mem_rstate_name(rc->state));
	fputs(", ", f);
	JU(f, "transitions", rc->transitions), fputs(", ", f);
	fprintf(f, "\"idle_tax\": %.2f, \"by\": \"%s\"},\n    ", rc->pp.tau,
		h->cfg->host.balloon ? "balloon" : "none");
	fprintf(f, "\"wall_seconds\": %.3f, \"modeled_seconds\": null", h->wall_seconds);
}

/* As in the time series, what a KVM guest lacks stays empty. */
void kvm_result(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	const struct khost *kh = h->b;
	struct balloon_counters b;
	struct kcounts c;

	counts(vm, &c, true);
	kvm_dev_balloon_counters(g->k, &b);
	out_s(r, G_name, vm->name);
	out_s(r, G_backend, "kvm");
	out_s(r, G_paging, kh->mode);
	out_u(r, G_guest_pages, c.pages);
	out_u(r, G_untouched, c.untouched);
	out_u(r, G_host_frames, c.alloc);
	out_u(r, G_balloon_actual, c.actual);
	out_u(r, G_accesses, c.accesses);
	if (g->st.binary)
		out_u(r, G_exits, c.exits);
	out_u(r, G_guest_page_faults, c.faults);
	out_u(r, G_guest_swap_outs, c.swap_outs);
	out_u(r, G_guest_swap_ins, c.swap_ins);
	out_s(r, G_verified, !h->verify || vm->failed ? "" : vm->verified ? "yes" : "no");
	out_s(r, G_paging_final, kh->mode);
	out_u(r, G_balloon_target, b.target);
	out_u(r, G_balloon_inflated, b.inflated);
	out_u(r, G_balloon_deflated, b.deflated);
	out_u(r, G_alloc_target, vm->rs.target);
}
