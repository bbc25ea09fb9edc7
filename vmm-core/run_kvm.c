/* SPDX-License-Identifier: MIT */
/* run_kvm: `memvisor run` for backend = kvm guests: wall-time runner, policy, outputs. */
/*
 * KVM guests run on their own vCPU threads in real time, so this runner
 * does not schedule: it starts every guest, then wakes every sample period
 * (sample_ms of wall time, at least KVM_MIN_SAMPLE_MS) to
 *
 *   1. run the allocation policy every policy_ms (below), move the
 *      balloons' rate-limited targets, and ask each guest for statistics;
 *   2. write a timeseries.csv row per guest: its memfd's allocated pages
 *      (what it costs the host), the verified balloon, the guest's own
 *      counters from its balloon statistics, KVM's exit count, and the
 *      policy's state, targets and working-set estimates;
 *   3. fail a guest that outlived its `timeout`;
 *
 * until every guest has ended. A guest ends well when its kernel resets
 * the machine (reboot=k) after the in-guest program printed "@memvisor
 * done status=0"; a panic, a triple fault, a reset before that line, an
 * unserved exit or the timeout fail it with the reason and its last
 * console line. Each guest's console is kept in DIR/NAME.console. A guest
 * that ended gives its memory back to the host at once (its memfd is
 * punched whole), as a powered-off VM does.
 *
 * The policy is ESX's (mem/policy.c), fed as reclaim.c feeds it for soft
 * guests but from what KVM shows: P is the memfd's allocated pages, demand
 * P plus the balloon, active the working-set estimate sampled through the
 * dirty log (kvm_wss.c: pages written, not read), free memory the budget
 * less what the guests hold, the idle tax and the thresholds from [host].
 * Ballooning is the only reclamation on KVM for now, in every state:
 * sharing and host swapping of KVM guest memory come in a later issue.
 *
 * What the files hold for a kvm guest: time_ms is wall time since the
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
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm-core/columns.h"
#include "vmm-core/kvm_internal.h"
#include "vmm-core/reclaim_internal.h"
#include "vmm-core/run_internal.h"

#define KVM_MIN_SAMPLE_MS 50.0
#define MIB_PAGES	  256u

struct kguest {
	struct vm *vm;
	struct kvm_vm *k; /* vm->backend */
	FILE *console;
	bool done, ok;
	uint64_t boot_ns;   /* when its userspace said hello, 0 before */
	uint64_t alloc;	    /* memfd pages at the last sample */
	uint64_t peak;	    /* highest alloc */
	uint64_t end_alloc; /* memfd pages when it ended (then freed) */
	/* policy */
	struct kvm_wss *wss; /* NULL: no estimate (no dirty log) */
	struct mem_wss_estimate ws;
	uint64_t ws_start; /* when the sampler's period began */
	uint64_t target;   /* allocation target, pages */
	double rho;	   /* shares per page at its allocation */
	unsigned pi;	   /* its index in krunner.pg this tick */
	struct kvm_stats st;
	int stats_err; /* kvm_stats_read's last result */
	char err[768];
};

struct krunner {
	const struct vmm_config *cfg;
	const struct vmm_run_opts *o;
	struct kguest *g;
	unsigned n;
	struct kvm_host host; /* what provides /dev/kvm */
	const char *mode;     /* the host's paging mode */
	bool boot_anyway;     /* MEMVISOR_KVM_BOOT_ANYWAY: boot where Linux cannot */
	struct mem_policy_params pp;
	struct mem_policy_guest *pg; /* one per guest */
	enum mem_rstate state;
	uint64_t transitions, freep;
	uint64_t policy_ns; /* the last policy tick */
	uint64_t t0;
	uint64_t peak_rss, peak_frames;
	struct output_ts ts;
};

static uint64_t result_u64(struct kvm_vm *k, const char *key)
{
	char buf[96];
	const char *v = kvm_dev_result(k, key, buf, sizeof(buf));

	return v ? strtoull(v, NULL, 10) : 0;
}

/* ---- policy --------------------------------------------------------------- */

/* Pages the guest holds on the host: its memfd's allocated blocks (a
 * ballooned frame is a hole, so it is not among them). */
static uint64_t held(struct kguest *g)
{
	return kvm_vm_ram_allocated(g->k) >> 12;
}

/* The working-set estimate (a fraction of the guest's pages): the dirty-log
 * sampler's, a new period every ws_period_ms of wall time. 1 (no idle tax)
 * while nothing is known or where the kernel has no dirty log. */
static double active_of(struct krunner *rn, struct kguest *g, uint64_t now)
{
	const struct vmm_host_cfg *h = &rn->cfg->host;

	if (!g->wss)
		return 1;
	if ((double)(now - g->ws_start) >= h->ws_period_ms * 1e6) {
		g->ws_start = now;
		if (kvm_wss_period(g->wss))
			goto fail;
	}
	if (kvm_wss_estimate(g->wss, &g->ws))
		goto fail;
	return g->ws.max;
fail:
	fprintf(stderr, "guest %s: dirty log: %s: working set no longer sampled\n", g->vm->name,
		strerror(errno));
	kvm_wss_destroy(g->wss);
	g->wss = NULL;
	return 1;
}

/*
 * Move a guest's balloon toward its allocation target by reclaim.c's step
 * 4 (reclaim_balloon_want), but only in steps worth the guest's work (1/32
 * of its memory, at least 4 MiB), or to 0: statistics and working sets
 * wobble every period, and a balloon that followed every wobble would
 * inflate and deflate for nothing.
 */
static void set_balloon(struct kguest *g, enum mem_rstate st, uint64_t alloc)
{
	uint64_t step = (g->vm->cfg->memory >> 12) / 32, want;
	struct balloon_counters b;

	kvm_dev_balloon_counters(g->k, &b);
	want = reclaim_balloon_want(st, alloc, g->target, &b);
	if (step < 4 * MIB_PAGES)
		step = 4 * MIB_PAGES;
	if ((want > b.wanted ? want - b.wanted : b.wanted - want) >= step || (!want && b.wanted))
		kvm_dev_balloon_target(g->k, want);
}

/*
 * ESX's policy (mem/policy.c), as reclaim.c applies it to soft guests,
 * with what KVM offers: P is what the guest's memfd holds, demand is P
 * plus its balloon (what it would take back), active the dirty-log
 * estimate, and free memory the budget less what all guests hold. Every
 * reclamation state reclaims by ballooning: host swapping and sharing of
 * KVM guest memory come in a later issue, so the hard and low states do
 * what soft does, and nothing is blocked.
 */
static void policy(struct krunner *rn, uint64_t now)
{
	const struct vmm_host_cfg *h = &rn->cfg->host;
	uint64_t frames = h->memory >> 12, sum = 0, freep;
	double reserve, secs = (double)(now - rn->t0) / 1e9;
	enum mem_rstate st;
	unsigned n = 0;

	rn->pp.tau = reclaim_tau(rn->cfg, secs);
	for (unsigned i = 0; i < rn->n; i++) {
		struct kguest *g = &rn->g[i];
		struct mem_policy_guest *p = &rn->pg[n];
		const struct vmm_guest_cfg *c = g->vm->cfg;
		struct balloon_counters b;

		if (g->done)
			continue;
		kvm_dev_balloon_counters(g->k, &b);
		g->alloc = held(g);
		p->shares = (double)c->shares;
		p->min = c->min >> 12;
		p->max = c->max >> 12;
		p->alloc = g->alloc;
		p->demand = g->alloc + b.actual;
		p->active = active_of(rn, g, now) * (double)(g->k->ram_size >> 12);
		sum += g->alloc;
		g->pi = n++;
	}
	freep = frames > sum ? frames - sum : 0;
	st = mem_policy_state(&rn->pp, rn->state, freep, frames);
	if (st != rn->state) {
		rn->transitions++;
		rn->state = st;
	}
	rn->freep = freep;
	/* the guests may hold together the budget less the high threshold's
	 * free memory (reclaim.c's sum + free - reserve; here sum can exceed
	 * the budget, which only the balloons enforce) */
	reserve = rn->pp.threshold[MEM_RSTATE_HIGH] * (double)frames;
	mem_policy_targets(&rn->pp, rn->pg, n, (uint64_t)((double)frames - reserve));
	for (unsigned i = 0; i < rn->n; i++) {
		struct kguest *g = &rn->g[i];

		if (g->done)
			continue;
		g->target = rn->pg[g->pi].target;
		g->rho = rn->pg[g->pi].rho;
		if (h->balloon)
			set_balloon(g, st, g->alloc);
	}
}

/* Every sample: the balloons' rate-limited targets move, and the guests
 * are asked for statistics. */
static void balloons_move(struct krunner *rn, uint64_t elapsed_ns)
{
	for (unsigned i = 0; i < rn->n; i++)
		if (!rn->g[i].done) {
			kvm_dev_balloon_tick(rn->g[i].k, elapsed_ns);
			kvm_dev_balloon_stats(rn->g[i].k);
		}
}

/* ---- samples -------------------------------------------------------------- */

struct kcounts {
	uint64_t pages, alloc, untouched, actual, target, exits;
	uint64_t faults, swap_outs, swap_ins, free_pages, accesses;
};

static void counts(struct kguest *g, struct kcounts *c, bool final)
{
	struct balloon_counters b;

	kvm_dev_balloon_counters(g->k, &b);
	c->pages = g->k->ram_size >> 12;
	/* a guest that ended holds nothing; its summary says what it held */
	c->alloc = !g->done ? held(g) : final ? g->end_alloc : 0;
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

static void sample(struct krunner *rn, uint64_t now)
{
	uint64_t frames = 0, rss = mem_rss_bytes();

	for (unsigned i = 0; i < rn->n; i++) {
		rn->g[i].alloc = held(&rn->g[i]);
		frames += rn->g[i].alloc;
		if (rn->g[i].alloc > rn->g[i].peak)
			rn->g[i].peak = rn->g[i].alloc;
		if (!rn->g[i].done)
			rn->g[i].stats_err = kvm_stats_read(rn->g[i].k, &rn->g[i].st);
	}
	rn->peak_rss = rss > rn->peak_rss ? rss : rn->peak_rss;
	rn->peak_frames = frames > rn->peak_frames ? frames : rn->peak_frames;
	for (unsigned i = 0; i < rn->n; i++) {
		struct kguest *g = &rn->g[i];
		struct balloon_counters b;
		struct kcounts c;
		struct out_row r;
		double pages;

		counts(g, &c, false);
		kvm_dev_balloon_counters(g->k, &b);
		pages = (double)c.pages;
		/* what a KVM guest does not have (sharing, host swap, a modeled
		 * TLB and clock, blocking) or does not measure (the workload's
		 * own active pages) stays empty */
		out_row_ts(&r);
		out_d(&r, TS_time_ms, (double)(now - rn->t0) / 1e6);
		out_s(&r, TS_guest, g->vm->name);
		out_u(&r, TS_accesses, c.accesses);
		out_u(&r, TS_untouched, c.untouched);
		out_u(&r, TS_resident, c.alloc);
		out_u(&r, TS_ballooned, c.actual);
		out_u(&r, TS_guest_free, c.free_pages);
		out_u(&r, TS_guest_page_faults, c.faults);
		out_u(&r, TS_guest_swap_outs, c.swap_outs);
		out_u(&r, TS_guest_swap_ins, c.swap_ins);
		if (g->st.binary)
			out_u(&r, TS_exits, c.exits);
		out_u(&r, TS_balloon_target, c.target);
		out_u(&r, TS_balloon_actual, c.actual);
		out_u(&r, TS_host_frames_used, frames);
		out_u(&r, TS_host_rss_bytes, rss);
		out_s(&r, TS_paging, rn->mode);
		out_u(&r, TS_host_state, (uint64_t)rn->state);
		out_u(&r, TS_host_free_pages, rn->freep);
		out_u(&r, TS_alloc_pages, c.alloc);
		out_u(&r, TS_alloc_target, g->done ? 0 : g->target);
		out_d(&r, TS_active_pages, g->ws.max * pages);
		out_d(&r, TS_ws_slow, g->ws.slow * pages);
		out_d(&r, TS_ws_fast, g->ws.fast * pages);
		out_d(&r, TS_ws_current, g->ws.current * pages);
		out_d(&r, TS_shares_per_page, isfinite(g->rho) ? g->rho : 0.0);
		out_d(&r, TS_idle_tax, rn->pp.tau * 100);
		out_u(&r, TS_balloon_wanted, b.wanted);
		out_u(&r, TS_guest_balloon_pages, b.guest_actual);
		out_u(&r, TS_balloon_inflated, b.inflated);
		out_u(&r, TS_balloon_deflated, b.deflated);
		out_u(&r, TS_balloon_deflated_unasked, b.deflated_unasked);
		out_row_write(rn->ts.f, &r);
	}
}

/* ---- end of a guest ------------------------------------------------------- */

static void judge(struct krunner *rn, struct kguest *g)
{
	struct kvm_vm *k = g->k;
	int end = atomic_load(&k->end);
	char buf[96];
	const char *st = kvm_dev_result(k, "status", buf, sizeof(buf));
	int r;

	g->done = true;
	g->vm->done = true;
	g->stats_err = kvm_stats_read(k, &g->st);
	/* a guest that ended gives its memory back to the host at once, as a
	 * powered-off VM does; what it held is reported */
	g->end_alloc = held(g);
	r = kvm_vm_discard(k, 0, k->ram_size >> 12);
	if (r)
		fprintf(stderr, "guest %s: freeing its memory: %s\n", k->name, strerror(-r));
	if (end == KVM_END_RESET && k->res.done && st && !strcmp(st, "0")) {
		g->ok = true;
	} else if (end == KVM_END_RESET && k->res.done) {
		snprintf(g->err, sizeof(g->err),
			 "guest %s: memvisor-guest exited with status %s (console: %s)", k->name,
			 st ? st : "?", k->res.last);
	} else if (k->res.panic) {
		snprintf(g->err, sizeof(g->err), "guest %s: kernel panic: %s", k->name,
			 k->res.last);
	} else if (end == KVM_END_RESET) {
		snprintf(g->err, sizeof(g->err),
			 "guest %s: reset before memvisor-guest finished (last console line: %s)",
			 k->name, k->res.lines ? k->res.last : "none: did the kernel start?");
	} else {
		snprintf(g->err, sizeof(g->err), "%s (last console line: %s)",
			 k->err[0] ? k->err : "guest ended", k->res.lines ? k->res.last : "none");
	}
	g->vm->failed = !g->ok;
	g->vm->verified =
	    g->ok && kvm_dev_result(k, "verified", buf, sizeof(buf)) && !strcmp(buf, "yes");
	if (!g->ok)
		fprintf(stderr, "%s%s\n", rn->o->progress ? "\n" : "", g->err);
}

static void watch(struct krunner *rn, uint64_t now)
{
	for (unsigned i = 0; i < rn->n; i++) {
		struct kguest *g = &rn->g[i];
		char buf[96];

		if (g->done)
			continue;
		if (!g->boot_ns && kvm_dev_result(g->k, "uname", buf, sizeof(buf)))
			g->boot_ns = now;
		if (atomic_load(&g->k->end) != KVM_END_RUNNING)
			judge(rn, g);
		else if ((double)(now - g->k->started_ns) > g->vm->cfg->timeout * 1e9) {
			kvm_vm_end(g->k, KVM_END_STOPPED, "guest %s: no power-off within %.0f s",
				   g->k->name, g->vm->cfg->timeout);
			judge(rn, g);
		}
	}
}

/* ---- files ---------------------------------------------------------------- */

#define JU(f, key, v) fprintf(f, "\"%s\": %" PRIu64, key, (uint64_t)(v))
/* a figure a KVM guest does not have or memvisor does not measure */
#define JN(f, key) fprintf(f, "\"%s\": null", key)

static void json_guest(FILE *f, struct krunner *rn, struct kguest *g)
{
	struct kvm_vm *k = g->k;
	const struct vmm_guest_cfg *c = g->vm->cfg;
	struct balloon_counters b;
	struct kcounts n;
	char buf[96];

	counts(g, &n, true);
	kvm_dev_balloon_counters(k, &b);
	fputs("    {\"name\": ", f);
	output_json_str(f, g->vm->name);
	fputs(", \"backend\": \"kvm\", \"paging\": ", f);
	output_json_str(f, rn->mode);
	fputs(", \"paging_final\": ", f); /* the host's mode holds for the run */
	output_json_str(f, rn->mode);
	fprintf(f, ", \"status\": \"%s\"", g->ok ? "ok" : "failed");
	if (!g->ok) {
		fputs(", \"error\": ", f);
		output_json_str(f, g->err);
	}
	fputs(",\n     ", f);
	JU(f, "guest_pages", n.pages), fputs(", ", f);
	JU(f, "memory_bytes", c->memory), fputs(", ", f);
	JU(f, "shares", c->shares), fputs(", ", f);
	JU(f, "min_bytes", c->min), fputs(", ", f);
	JU(f, "max_bytes", c->max), fputs(", ", f);
	JU(f, "seed", c->seed), fputs(",\n     ", f);
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
	JU(f, "alloc_target", g->target), fputs(", ", f);
	fprintf(f, "\"shares_per_page\": %.6g, ", isfinite(g->rho) ? g->rho : 0.0);
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
	snprintf(buf, sizeof(buf), "%s.console", g->vm->name);
	output_json_str(f, buf);
	fputs("},\n     \"modeled_cycles\": null, \"modeled_seconds\": null, \"verified\": ", f);
	fputs(!rn->o->verify || !g->ok ? "null}" : g->vm->verified ? "true}" : "false}", f);
}

static int write_summary(struct krunner *rn, const char *path, double wall)
{
	char tmp[4300];
	FILE *f;
	bool ok = true, verified = true;
	uint64_t frames = 0, rss = mem_rss_bytes();

	f = util_tmp_open(path, tmp, sizeof(tmp));
	if (!f)
		return -errno;
	for (unsigned i = 0; i < rn->n; i++) {
		ok &= rn->g[i].ok;
		verified &= rn->g[i].vm->verified;
		frames += kvm_vm_ram_allocated(rn->g[i].k) >> 12;
	}
	fputs("{\n  \"memvisor\": 1,\n  \"config\": ", f);
	output_json_str(f, rn->cfg->path);
	fprintf(f, ",\n  \"seed\": %" PRIu64 ",\n  \"status\": \"%s\",\n", rn->cfg->guests[0].seed,
		ok ? "ok" : "failed");
	fprintf(f, "  \"verified\": %s,\n", !rn->o->verify ? "null" : verified ? "true" : "false");
	fputs("  \"host\": {\"backend\": \"kvm\", \"kvm_paging\": ", f);
	output_json_str(f, rn->mode);
	fputs(", ", f);
	JU(f, "budget_bytes", rn->cfg->host.memory), fputs(", ", f);
	JU(f, "frames_used", frames), fputs(", ", f);
	JU(f, "peak_frames", rn->peak_frames), fputs(",\n    ", f);
	JU(f, "rss_bytes", rss), fputs(", ", f);
	JU(f, "peak_rss_bytes", rn->peak_rss > rss ? rn->peak_rss : rss), fputs(", ", f);
	JN(f, "pages_shared"), fputs(", ", f);
	JN(f, "pages_sharing"), fputs(", ", f);
	JU(f, "guests", rn->n), fputs(",\n    ", f);
	fputs("\"reclamation\": {\"state\": ", f);
	output_json_str(f, mem_rstate_name(rn->state));
	fputs(", ", f);
	JU(f, "transitions", rn->transitions), fputs(", ", f);
	fprintf(f, "\"idle_tax\": %.2f, \"by\": \"%s\"},\n    ", rn->pp.tau,
		rn->cfg->host.balloon ? "balloon" : "none");
	fprintf(f, "\"wall_seconds\": %.3f, \"modeled_seconds\": null},\n  \"guests\": [\n", wall);
	for (unsigned i = 0; i < rn->n; i++) {
		json_guest(f, rn, &rn->g[i]);
		fputs(i + 1 < rn->n ? ",\n" : "\n", f);
	}
	fputs("  ]\n}\n", f);
	return util_tmp_close(f, tmp, path);
}

static int write_guests_csv(struct krunner *rn, const char *path)
{
	char tmp[4300];
	FILE *f = util_tmp_open(path, tmp, sizeof(tmp));

	if (!f)
		return -errno;
	output_guests_header(f);
	for (unsigned i = 0; i < rn->n; i++) {
		struct kguest *g = &rn->g[i];
		struct balloon_counters b;
		struct kcounts c;
		struct out_row r;

		counts(g, &c, true);
		kvm_dev_balloon_counters(g->k, &b);
		/* as in the time series, what a KVM guest lacks stays empty */
		out_row_g(&r);
		out_s(&r, G_name, g->vm->name);
		out_s(&r, G_backend, "kvm");
		out_s(&r, G_paging, rn->mode);
		out_u(&r, G_guest_pages, c.pages);
		out_u(&r, G_untouched, c.untouched);
		out_u(&r, G_host_frames, c.alloc);
		out_u(&r, G_balloon_actual, c.actual);
		out_u(&r, G_accesses, c.accesses);
		if (g->st.binary)
			out_u(&r, G_exits, c.exits);
		out_u(&r, G_guest_page_faults, c.faults);
		out_u(&r, G_guest_swap_outs, c.swap_outs);
		out_u(&r, G_guest_swap_ins, c.swap_ins);
		out_s(&r, G_verified,
		      !rn->o->verify || !g->ok ? ""
		      : g->vm->verified	       ? "yes"
					       : "no");
		out_s(&r, G_paging_final, rn->mode);
		out_u(&r, G_balloon_target, b.target);
		out_u(&r, G_balloon_inflated, b.inflated);
		out_u(&r, G_balloon_deflated, b.deflated);
		out_u(&r, G_alloc_target, g->target);
		out_row_write(f, &r);
	}
	return util_tmp_close(f, tmp, path);
}

/* ---- the run -------------------------------------------------------------- */

/* Build every guest; a guest that cannot be built is a config error. */
static int setup(struct krunner *rn)
{
	char why[1024];

	kvm_host_probe("", &rn->host);
	kvm_host_explain(&rn->host, why, sizeof(why));
	if (access("/dev/kvm", R_OK | W_OK)) {
		fprintf(stderr, "%s: backend kvm needs /dev/kvm: %s (%s)\n", rn->cfg->path,
			strerror(errno), why);
		return -1;
	}
	/* the paging column says what is known: a hardware KVM's mode, else
	 * "unknown" */
	rn->mode = rn->host.kind == KVM_HOST_HARDWARE ? kvm_host_mode(&rn->host) : "unknown";
	rn->boot_anyway = getenv("MEMVISOR_KVM_BOOT_ANYWAY") && *getenv("MEMVISOR_KVM_BOOT_ANYWAY");
	if (rn->host.kind == KVM_HOST_UNKNOWN)
		fprintf(stderr, "note: %s\n", why);
	rn->g = calloc(rn->cfg->nguests, sizeof(*rn->g));
	rn->pg = calloc(rn->cfg->nguests, sizeof(*rn->pg));
	if (!rn->g || !rn->pg)
		return -1;
	for (int s = 0; s < MEM_RSTATE_NR; s++)
		rn->pp.threshold[s] = rn->cfg->host.free_pct[s] / 100;
	rn->pp.tau = reclaim_tau(rn->cfg, 0);
	for (unsigned i = 0; i < rn->cfg->nguests; i++) {
		const struct vmm_guest_cfg *c = &rn->cfg->guests[i];
		struct kguest *g = &rn->g[i];

		if (c->paging_given && strcmp(c->paging, rn->mode)) {
			fprintf(stderr,
				"%s:%u: guest %s: paging = %s, but the host's KVM runs %s paging "
				"(`memvisor kvm-mode %s` switches the whole host)\n",
				rn->cfg->path, c->line, c->name, c->paging, rn->mode, c->paging);
			return -1;
		}
		g->vm = calloc(1, sizeof(*g->vm));
		if (!g->vm)
			return -1;
		snprintf(g->vm->name, sizeof(g->vm->name), "%s", c->name);
		g->vm->cfg = c;
		g->vm->cost = &rn->cfg->cost;
		g->vm->vcpu = &vcpu_kvm_ops;
		if (g->vm->vcpu->create(g->vm)) {
			fprintf(stderr, "%s:%u: %s\n", rn->cfg->path, c->line, g->vm->err);
			free(g->vm);
			g->vm = NULL;
			return -1;
		}
		g->k = g->vm->backend;
		g->rho = INFINITY;
		g->ws.max = g->ws.slow = g->ws.fast = g->ws.current = 1;
		g->wss = kvm_wss_create(g->k, rn->cfg->host.ws_samples, rn->cfg->host.ws_slow_gain,
					rn->cfg->host.ws_fast_gain, c->seed * UTIL_GOLDEN + i);
		if (!g->wss)
			fprintf(stderr,
				"guest %s: no working-set sampling (%s): the idle tax sees it "
				"as all active\n",
				c->name,
				errno == ENOTSUP ? "the kernel lacks manual dirty-log protection"
						 : strerror(errno));
		rn->n++;
	}
	return 0;
}

static void teardown(struct krunner *rn)
{
	for (unsigned i = 0; i < rn->n; i++) {
		kvm_wss_destroy(rn->g[i].wss);
		rn->g[i].vm->vcpu->destroy(rn->g[i].vm);
		free(rn->g[i].vm);
		if (rn->g[i].console)
			fclose(rn->g[i].console);
	}
	free(rn->g);
	free(rn->pg);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A guest that cannot boot on this host's KVM fails at once, alone. */
static void refuse(struct krunner *rn, struct kguest *g)
{
	g->done = g->vm->done = g->vm->failed = true;
	g->k->started_ns = g->k->ended_ns = kvm_now_ns();
	snprintf(g->err, sizeof(g->err),
		 "guest %s: not booted: /dev/kvm here is kvm_pvm, a software hypervisor on "
		 "which stock Linux kernels do not boot (they hang after the decompressor); run "
		 "it on hardware KVM or under nested QEMU (sh tests/kvm/run-nested.sh), or set "
		 "MEMVISOR_KVM_BOOT_ANYWAY=1 for a kernel built for PVM",
		 g->vm->name);
	fprintf(stderr, "%s%s\n", rn->o->progress ? "\n" : "", g->err);
}

static int start(struct krunner *rn)
{
	char path[4200];

	for (unsigned i = 0; i < rn->n; i++) {
		struct vcpu_exit x;

		snprintf(path, sizeof(path), "%s/%s.console", rn->o->out_dir, rn->g[i].vm->name);
		rn->g[i].console = fopen(path, "w");
		if (!rn->g[i].console) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			return -1;
		}
		rn->g[i].k->p.console = rn->g[i].console;
		if (rn->host.kind == KVM_HOST_PVM && !rn->boot_anyway) {
			refuse(rn, &rn->g[i]);
			continue;
		}
		if (rn->g[i].vm->vcpu->run(rn->g[i].vm, 0, &x)) {
			fprintf(stderr, "%s\n", rn->g[i].vm->err);
			return -1;
		}
	}
	return 0;
}

int vmm_run_kvm(const struct vmm_config *cfg, const struct vmm_run_opts *o)
{
	struct krunner rn = {.cfg = cfg, .o = o};
	double ms =
	    cfg->host.sample_ms > KVM_MIN_SAMPLE_MS ? cfg->host.sample_ms : KVM_MIN_SAMPLE_MS;
	uint64_t period = (uint64_t)(ms * 1e6), last;
	char path[4200];
	int status = 1, r;

	if (cfg->host.sharing || cfg->host.swap_file[0])
		fprintf(stderr, "note: on kvm, ballooning is the only reclamation in this build; "
				"sharing and host swap stay off\n");
	if (setup(&rn)) {
		teardown(&rn);
		return 2;
	}
	if (output_ts_open(&rn.ts, o->out_dir))
		goto out;
	rn.t0 = last = kvm_now_ns();
	if (start(&rn))
		goto out;
	for (;;) {
		uint64_t now;
		bool all = true;

		sleep_ns(period);
		now = kvm_now_ns();
		if ((double)(now - rn.policy_ns) >= cfg->host.policy_ms * 1e6) {
			policy(&rn, now);
			rn.policy_ns = now;
		}
		balloons_move(&rn, now - last);
		last = now;
		watch(&rn, now);
		sample(&rn, now);
		for (unsigned i = 0; i < rn.n; i++)
			all &= rn.g[i].done;
		if (o->progress)
			fprintf(stderr, "\r%u kvm guests, %.1f s wall  ", rn.n,
				(double)(now - rn.t0) / 1e9);
		if (all)
			break;
	}
	if (o->progress)
		fputc('\n', stderr);
	if (output_ts_close(&rn.ts))
		goto out;
	status = 0;
	for (unsigned i = 0; i < rn.n; i++) {
		if (!rn.g[i].ok)
			status = 1;
		else if (o->verify && !rn.g[i].vm->verified) {
			fprintf(stderr,
				"verify: guest %s: %llu pages differ from what its workload "
				"wrote\n",
				rn.g[i].vm->name,
				(unsigned long long)result_u64(rn.g[i].k, "mismatches"));
			status = 1;
		}
	}
	snprintf(path, sizeof(path), "%s/guests.csv", o->out_dir);
	r = write_guests_csv(&rn, path);
	if (!r) {
		snprintf(path, sizeof(path), "%s/summary.json", o->out_dir);
		r = write_summary(&rn, path, (double)(kvm_now_ns() - rn.t0) / 1e9);
	}
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		status = 1;
	}
out:
	output_ts_abandon(&rn.ts);
	teardown(&rn);
	return status;
}
