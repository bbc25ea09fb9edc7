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
 * modeled TLB, walks and clock, blocking; sharing and host swap where the
 * run has none) is empty in the CSV files and null in summary.json, never
 * 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ksm/ksm.h"
#include "vmm-core/out/columns.h"
#include "vmm-core/kvm/backend_kvm_internal.h"

/* ---- samples -------------------------------------------------------------- */

struct kcounts {
	uint64_t pages, alloc, untouched, actual, target, exits, sharing;
	uint64_t faults, swap_outs, swap_ins, free_pages, accesses;
	uint64_t host_swap_ins; /* host swap's, through the userfaultfd */
};

static void counts(struct vm *vm, struct kcounts *c, bool final)
{
	struct kguest *g = kguest_of(vm);
	struct balloon_counters b;

	kv_dev_balloon_counters(g->k, &b);
	c->pages = g->k->ram_size >> 12;
	/* a guest that ended holds nothing; its summary says what it held */
	c->alloc = !vm->done ? held(g) : final ? g->end_alloc : 0;
	c->actual = b.actual;
	c->target = b.target;
	c->sharing = 0;
	if (vm->share && !vm->done) {
		struct ksm_guest_stats ks;

		ksm_guest_stats(vm->share, &ks);
		c->sharing = ks.pages_sharing; /* mapped from shared frames: not in the memfd */
	} else if (vm->share && final) {
		c->sharing = g->end_sharing; /* what it shared, as end_alloc what it held */
	}
	/* a ballooned frame holds no memory: the states add up */
	if (c->sharing > c->pages - c->actual)
		c->sharing = c->pages - c->actual;
	if (c->alloc + c->actual + c->sharing > c->pages)
		c->alloc = c->pages - c->actual - c->sharing;
	c->untouched = c->pages - c->alloc - c->actual - c->sharing;
	c->exits = g->st.v[KV_STAT_exits];
	c->host_swap_ins = 0;
	if (g->mem) {
		struct kv_mem_stats ms;

		kv_mem_stats(g->mem, &ms);
		c->host_swap_ins = ms.swap_ins;
	}
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

/* This process's mappings now (lines of /proc/self/maps), 0 if unknown. */
static uint64_t vmas(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char buf[65536];
	uint64_t n = 0;
	size_t got;

	if (!f)
		return 0;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	fclose(f);
	return n;
}

/* What a KVM guest does not have (a modeled TLB and clock, blocking;
 * sharing and host swap where the run has none) or does not measure (the
 * workload's own active pages) stays empty. */
void kv_sample(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	struct khost *kh = h->b;
	struct balloon_counters b;
	struct kcounts c;
	double pages;

	if (!vm->done) {
		uint64_t now = held(g);

		g->stats_err = kv_stats_read(g->k, &g->st);
		if (now > g->peak)
			g->peak = now;
	}
	counts(vm, &c, false);
	kv_dev_balloon_counters(g->k, &b);
	pages = (double)c.pages;
	if (g->index == 0 && (kh->lksm.on || h->ksm)) { /* host-wide: once a period */
		struct ksm_stats ks = {.pages_saved = 0};

		if (h->ksm)
			ksm_stats(h->ksm, &ks);
		else
			ks.pages_saved = lksm_saved(kh);
		if (ks.pages_saved > kh->peak_saved)
			kh->peak_saved = ks.pages_saved;
	}
	if (h->ksm && g->index == 0) { /* each shared page is a mapping: once a period */
		uint64_t v = vmas();

		if (v > kh->peak_vmas)
			kh->peak_vmas = v;
	}
	out_d(r, TS_time_ms, vm->cycles / vm->cost->ghz / 1e6);
	out_s(r, TS_guest, vm->name);
	out_u(r, TS_accesses, c.accesses);
	out_u(r, TS_untouched, c.untouched);
	out_u(r, TS_resident, c.alloc);
	out_u(r, TS_ballooned, c.actual);
	if (vm->share)
		out_u(r, TS_shared, c.sharing);
	if (g->mem && h->rc->swap) {
		out_u(r, TS_host_swap_outs, vm->rs.swap_outs);
		out_u(r, TS_host_swap_ins, c.host_swap_ins);
		out_u(r, TS_swap_shared, vm->rs.swap_shared);
	}
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

/* Is s a plain decimal number (the guest's word for a time), safe to
 * write unquoted? */
static bool is_number(const char *s)
{
	char *end;

	errno = 0;
	(void)strtod(s, &end);
	return end != s && !*end && !errno && strspn(s, "0123456789.") == strlen(s);
}

/* Its sharing through ksm/, when [host] sharing is on. */
static void json_sharing(struct out_row *r, struct vm *vm, const struct kcounts *n)
{
	struct ksm_guest_stats ks;

	out_b(r, JG_sharing, vm->share != NULL);
	if (!vm->share)
		return;
	ksm_guest_stats(vm->share, &ks);
	out_u(r, JG_pages_sharing, n->sharing);
	out_u(r, JG_cow_breaks, ks.cow_breaks);
	out_u(r, JG_pages_scanned, ks.pages_scanned);
	out_u(r, JG_pages_volatile, ks.pages_volatile);
	out_u(r, JG_pages_merged, ks.merges);
	out_u(r, JG_full_scans, ks.full_scans);
}

/* Its host swap and userfaultfd counters, when its memory is under one. */
static void json_mem(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	struct kv_mem_stats s;
	uint64_t faults;

	if (!g->mem)
		return;
	kv_mem_stats(g->mem, &s);
	faults = s.faults_wp + s.faults_missing;
	if (h->rc->swap) {
		out_u(r, JG_host_swap_outs, vm->rs.swap_outs);
		out_u(r, JG_host_swap_ins, s.swap_ins);
		out_u(r, JG_swap_shared, vm->rs.swap_shared);
	}
	out_u(r, JG_uffd_faults_wp, s.faults_wp);
	out_u(r, JG_uffd_faults_missing, s.faults_missing);
	out_u(r, JG_uffd_zero_fills, s.zero_fills);
	out_d(r, JG_uffd_fault_mean_us, faults ? (double)s.fault_ns / (double)faults / 1e3 : 0.0);
	out_d(r, JG_uffd_fault_max_us, (double)s.fault_ns_max / 1e3);
	for (unsigned i = 0; i < 4; i++)
		out_u(r, JG_uffd_fault_lt_1us + i, s.fault_hist[i]);
	if (!s.compares)
		return;
	/* a merge's steps: per compare, then per merge */
	out_d(r, JG_mc_protect_us, (double)s.ns_protect / (double)s.compares / 1e3);
	out_d(r, JG_mc_compare_us, (double)s.ns_compare / (double)s.compares / 1e3);
	out_d(r, JG_mc_remap_us, s.merges ? (double)s.ns_remap / (double)s.merges / 1e3 : 0.0);
	out_d(r, JG_mc_punch_us, s.merges ? (double)s.ns_punch / (double)s.merges / 1e3 : 0.0);
	out_d(r, JG_mc_longest_stall_us, (double)s.stall_ns_max / 1e3);
}

/* A KVM guest's fields of its summary.json object; the others are null. */
void kv_json(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	const struct khost *kh = h->b;
	struct kv_vm *k = g->k;
	struct balloon_counters b;
	struct kcounts n;
	char buf[96];

	counts(vm, &n, true);
	kv_dev_balloon_counters(k, &b);
	out_s(r, JG_paging, kh->mode);
	out_s(r, JG_paging_final, kh->mode);
	out_u(r, JG_guest_pages, n.pages);
	out_u(r, JG_untouched, n.untouched);
	out_u(r, JG_host_frames, n.alloc);
	out_u(r, JG_peak_host_frames, g->peak);
	out_u(r, JG_balloon_target, b.target);
	out_u(r, JG_balloon_actual, b.actual);
	json_sharing(r, vm, &n);
	json_mem(r, vm, h);
	out_u(r, JG_accesses, n.accesses);
	for (unsigned i = 0; i < KV_STAT_NR && g->st.binary; i++) {
		int c = out_find(r, "kvm_exits", kv_stat_names[i]);

		if (c >= 0)
			out_u(r, (unsigned)c, g->st.v[i]);
	}
	out_s(r, JG_kvm_stats, g->st.binary ? "binary" : "unavailable");
	out_u(r, JG_guest_page_faults, n.faults);
	out_u(r, JG_guest_swap_outs, n.swap_outs);
	out_u(r, JG_guest_swap_ins, n.swap_ins);
	out_u(r, JG_balloon_target2, b.target);
	out_u(r, JG_balloon_wanted, b.wanted);
	out_u(r, JG_balloon_actual2, b.actual);
	out_u(r, JG_balloon_guest_claim, b.guest_actual);
	out_u(r, JG_balloon_inflated, b.inflated);
	out_u(r, JG_balloon_deflated, b.deflated);
	out_u(r, JG_balloon_deflated_unasked, b.deflated_unasked);
	out_u(r, JG_balloon_rejected_batches, b.rejected_batches);
	out_u(r, JG_balloon_ring_errors, b.ring_errors);
	out_u(r, JG_balloon_resets, b.resets);
	out_u(r, JG_balloon_stats_updates, b.stats_updates);
	out_u(r, JG_balloon_features, b.features);
	out_s(r, JG_ws_source, g->ws.periods || g->wss ? "dirty log (pages written)" : "none");
	out_d(r, JG_ws_estimate_pages, g->ws.max * (double)n.pages);
	out_d(r, JG_ws_slow, g->ws.slow);
	out_d(r, JG_ws_fast, g->ws.fast);
	out_d(r, JG_ws_current, g->ws.current);
	out_u(r, JG_ws_periods, g->ws.periods);
	out_sf(r, JG_guest_uname, "%s", kv_dev_result(k, "uname", buf, sizeof(buf)) ? buf : "");
	out_u(r, JG_guest_memtotal_kb, result_u64(k, "meminfo_total_kb"));
	if (kv_dev_result(k, "seconds", buf, sizeof(buf)) && is_number(buf))
		out_sf(r, JG_guest_workload_seconds, "%s", buf);
	out_d(r, JG_guest_boot_seconds,
	      g->boot_ns ? (double)(g->boot_ns - k->started_ns) / 1e9 : 0.0);
	out_d(r, JG_guest_wall_seconds,
	      (double)((k->ended_ns ? k->ended_ns : kv_now_ns()) - k->started_ns) / 1e9);
	out_sf(r, JG_guest_console, "%s.console", vm->name);
}

/* Linux's KSM in the host's sharing fields: its merged frames, the
 * mappings of them, the pages saved (KSM's own pages_sharing), ksmd's CPU. */
static void json_lksm(struct out_row *r, const struct khost *kh)
{
	struct lksm_stats s;

	lksm_stats(kh, &s);
	out_s(r, JH_sharing_engine, "linux ksm");
	out_u(r, JH_pages_shared, s.shared);
	out_u(r, JH_pages_sharing, s.shared + s.sharing);
	out_u(r, JH_pages_saved, s.sharing);
	out_u(r, JH_memory_saved_bytes, s.sharing * MEM_PAGE_SIZE);
	out_u(r, JH_pages_volatile, s.volatile_);
	out_u(r, JH_full_scans, s.full_scans);
	out_d(r, JH_scan_cpu_seconds, s.cpu_seconds);
	out_u(r, JH_lksm_pages_to_scan, kh->lksm.to_scan);
	out_u(r, JH_lksm_sleep_ms, 20);
	out_u(r, JH_lksm_pages_unshared, s.unshared);
	out_u(r, JH_lksm_zero_pages, s.zero);
	out_b(r, JH_lksm_was_running, kh->lksm.was_running);
}

/* The kvm host's fields of summary.json. */
void kv_json_host(struct out_row *r, struct vm **vms, unsigned n, const struct run_host *h)
{
	const struct khost *kh = h->b;
	uint64_t frames = 0;

	for (unsigned i = 0; i < n; i++)
		frames += kv_vm_ram_allocated(kguest_of(vms[i])->k) >> 12;
	out_s(r, JH_kvm_paging, kh->mode);
	if (kh->lksm.on || h->ksm)
		out_u(r, JH_peak_pages_saved, kh->peak_saved);
	if (h->ksm && kh->map_count) {
		out_u(r, JH_max_map_count, kh->map_count);
		if (kh->map_count0)
			out_u(r, JH_max_map_count_before, kh->map_count0);
		out_u(r, JH_peak_vmas, kh->peak_vmas);
	}
	if (h->pool)
		frames += h->pool->used; /* the shared frames */
	if (kh->lksm.on) {
		uint64_t saved = lksm_saved(kh);

		json_lksm(r, kh);
		frames = frames > saved ? frames - saved : 0;
	}
	out_u(r, JH_frames_used, frames);
	out_u(r, JH_peak_frames, h->peak_frames);
}

/* As in the time series, what a KVM guest lacks stays empty. */
void kv_result(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	const struct khost *kh = h->b;
	struct balloon_counters b;
	struct kcounts c;

	counts(vm, &c, true);
	kv_dev_balloon_counters(g->k, &b);
	out_s(r, G_name, vm->name);
	out_s(r, G_backend, "kvm");
	out_s(r, G_paging, kh->mode);
	out_u(r, G_guest_pages, c.pages);
	out_u(r, G_untouched, c.untouched);
	out_u(r, G_host_frames, c.alloc);
	out_u(r, G_balloon_actual, c.actual);
	if (vm->share) {
		out_u(r, G_pages_sharing, c.sharing);
		out_u(r, G_cow_breaks, ksm_guest_cow_breaks(vm->share));
	}
	if (g->mem && h->rc->swap) {
		out_u(r, G_host_swap_outs, vm->rs.swap_outs);
		out_u(r, G_host_swap_ins, c.host_swap_ins);
		out_u(r, G_swap_shared, vm->rs.swap_shared);
	}
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
