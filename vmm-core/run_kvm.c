/* SPDX-License-Identifier: MIT */
/* run_kvm: `memvisor run` for backend = kvm guests: wall-time runner and policy. */
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

#include "vmm-core/run_kvm_internal.h"

#define KVM_MIN_SAMPLE_MS 50.0
#define MIB_PAGES	  256u

/* ---- policy --------------------------------------------------------------- */

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
		run_kvm_sample(&rn, now);
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
	r = run_kvm_write_guests_csv(&rn, path);
	if (!r) {
		snprintf(path, sizeof(path), "%s/summary.json", o->out_dir);
		r = run_kvm_write_summary(&rn, path, (double)(kvm_now_ns() - rn.t0) / 1e9);
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
