/* SPDX-License-Identifier: MIT */
/*
 * The experiment runner, one for every backend: host set-up, the
 * scheduler, the sampler and the end of a run (verification, dumps, output
 * files). What differs between backends is behind their ops tables
 * (run_internal.h); a run has guests of one backend.
 *
 * Scheduler. Each guest has one clock: modeled (soft, cost.c) or wall time
 * since the start (kvm). The scheduler always runs the guest whose clock
 * is furthest behind: a soft guest for one quantum of `quantum` workload
 * accesses, so all guests advance together in modeled time whatever their
 * speed on the host, and a run is deterministic for a given config and
 * seed; a KVM guest, whose vCPU threads run on their own, until the wall
 * clock reaches its next sample period (the backend sleeps until then). A
 * linear scan picks the guest: a quantum is thousands of accesses, so even
 * a thousand guests cost the scan nothing measurable.
 *
 * Sharing. After each quantum the guest's page-sharing scanner gets its
 * turn (ksm_tick): it scans at the guest's rate per modeled second of the
 * guest's clock, capped by the host's rate per modeled second of the
 * slowest running guest's clock, the scheduler's "now".
 *
 * Memory policy (reclaim.c). After each quantum the guest's working-set
 * sampler and balloon rate limit advance on its clock (the backend's
 * tick); when the host's clock passes the next policy tick the policy sets
 * targets and reclaims, for every backend the same way.
 * Guests the policy blocks (low state) are not scheduled, and do not hold
 * the host's clock back; when every runnable guest is blocked the policy
 * runs at once. A host swap failure stops the run (status 1) after the
 * files are written; with --verify every guest is still verified, the
 * proof that no page was lost.
 *
 * Sampler. When a guest's clock passes its next multiple of sample_ms, the
 * sampler writes one timeseries.csv row for it at the end of that quantum
 * (time_ms is the guest's clock then, not the rounded multiple); a row at
 * start and one at the end complete each guest's series. Host figures (the
 * frames in use, the process RSS, the policy's state) are read at the same
 * moment; the guest's own come from its backend.
 *
 * Files are written under temporary names and renamed when complete, so a
 * run that stops halfway leaves no file that looks finished.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm-core/out/columns.h"
#include "vmm-core/core/reclaim_internal.h"
#include "vmm-core/core/run_internal.h"

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct runner {
	const struct vmm_config *cfg;
	const struct vmm_run_opts *o;
	const struct backend_ops *ops; /* every guest's */
	struct vm **vms;
	unsigned n;
	struct run_host host;
	struct vmm_reclaim rc;
	struct output_ts ts;
	double period;		    /* sample period, cycles */
	uint64_t used, used_period; /* frames in use, counted in that period + 1 */
};

uint64_t run_frames_used(const struct mem_pool *pool, struct vm **vms, unsigned n)
{
	uint64_t used = 0;

	if (pool && pool->fd < 0)
		return pool->used; /* soft: every frame is the pool's */
	for (unsigned i = 0; i < n; i++)
		used += vms[i]->ops->held(vms[i]);
	/* kvm: the guests' memfds, and the shared frames they map; with
	 * Linux's KSM, a merged frame counts once */
	if (n && vms[0]->ops->host_saved) {
		uint64_t saved = vms[0]->ops->host_saved(vms[0]);

		used = used > saved ? used - saved : 0;
	}
	return used + (pool ? pool->used : 0);
}

/* Host frames in use at a sample: the pool's counter (soft), or the sum
 * of what the guests hold (kvm: an fstat of each memfd), counted once per
 * sample period for every guest sampled in it, not once per guest. */
static uint64_t sample_frames_used(struct runner *rn, const struct vm *vm)
{
	uint64_t k = (uint64_t)(vm->cycles / rn->period) + 1;

	if (rn->host.pool || k != rn->used_period) {
		rn->used = run_frames_used(rn->host.pool, rn->vms, rn->n);
		rn->used_period = k;
	}
	return rn->used;
}

static void sample(struct runner *rn, struct vm *vm)
{
	uint64_t rss = mem_rss_bytes(), used = sample_frames_used(rn, vm);
	const struct vmm_reclaim *rc = &rn->rc;
	struct out_row r;

	if (rss > rn->host.peak_rss_bytes)
		rn->host.peak_rss_bytes = rss;
	if (used > rn->host.peak_frames)
		rn->host.peak_frames = used;
	out_row_ts(&r);
	vm->ops->sample(&r, vm, &rn->host);
	out_u(&r, TS_host_frames_used, used);
	out_u(&r, TS_host_rss_bytes, rss);
	out_u(&r, TS_host_state, (uint64_t)rc->state);
	out_d(&r, TS_idle_tax, reclaim_tau(rn->cfg, rc->last_seconds) * 100);
	out_row_write(rn->ts.f, &r);
}

static void progress(const struct runner *rn, uint64_t done, uint64_t total, double t0)
{
	if (rn->ops->wall_clock)
		fprintf(stderr, "\r%u %s guests, %.1f s wall  ", rn->n, rn->ops->name,
			now_seconds() - t0);
	else
		fprintf(stderr, "\r[%3.0f%%] %u guests, %.1f s wall  ",
			total ? 100.0 * (double)done / (double)total : 100.0, rn->n,
			now_seconds() - t0);
}

/* The host's clock: the slowest runnable guest's, seconds. */
static double host_seconds(const struct runner *rn, const struct vm *last)
{
	double c = last->cycles;

	for (unsigned i = 0; i < rn->n; i++)
		if (!rn->vms[i]->done && !rn->vms[i]->rs.blocked && rn->vms[i]->cycles < c)
			c = rn->vms[i]->cycles;
	return c / rn->cfg->cost.ghz / 1e9;
}

/* Every guest not done is blocked: the host clock is where they stopped. */
static bool all_blocked(const struct runner *rn, double *seconds)
{
	double c = -1;

	for (unsigned i = 0; i < rn->n; i++) {
		const struct vm *vm = rn->vms[i];

		if (!vm->done && vm->rs.blocked && (c < 0 || vm->cycles < c))
			c = vm->cycles;
	}
	*seconds = c / rn->cfg->cost.ghz / 1e9;
	return c >= 0;
}

/* Run every guest to the end of its workload or its failure. */
static void schedule(struct runner *rn, double t0)
{
	uint64_t total = 0, done = 0;
	double last = t0;

	for (unsigned i = 0; i < rn->n; i++)
		total += rn->vms[i]->cfg->accesses * rn->vms[i]->cfg->procs;
	for (;;) {
		struct vm *vm = NULL;
		struct vcpu_exit x = {0};

		double hs;

		for (unsigned i = 0; i < rn->n; i++)
			if (!rn->vms[i]->done && !rn->vms[i]->rs.blocked &&
			    (!vm || rn->vms[i]->cycles < vm->cycles))
				vm = rn->vms[i];
		if (!vm) {
			if (!all_blocked(rn, &hs))
				break;
			reclaim_unstick(&rn->rc, hs);
			continue;
		}
		/* the slowest runnable guest reached the end of the run */
		if (rn->cfg->host.duration_ms > 0 &&
		    vm->cycles >= rn->cfg->host.duration_ms * 1e6 * rn->cfg->cost.ghz)
			break;
		if (vm_run(vm, rn->cfg->host.quantum, &x) < 0) {
			vm->failed = vm->done = true;
			fprintf(stderr, "%s%s\n", rn->o->progress ? "\n" : "", vm->err);
		} else if (x.reason == VCPU_EXIT_DONE) {
			vm->done = true;
		}
		done += x.accesses;
		if (vm->share && !vm->failed)
			ksm_tick(rn->host.ksm, vm->share, vm->cycles / rn->cfg->cost.ghz / 1e9,
				 host_seconds(rn, vm));
		if (!vm->failed)
			vm->ops->tick(&rn->rc, vm);
		reclaim_policy_tick(&rn->rc, host_seconds(rn, vm), false);
		if (vm->done || vm->sample_now ||
		    vm->cycles >= (double)vm->next_sample * rn->period) {
			vm->sample_now = false;
			sample(rn, vm);
			vm->next_sample = (uint64_t)(vm->cycles / rn->period) + 1;
		}
		if (rn->o->progress && now_seconds() - last > 0.5) {
			last = now_seconds();
			progress(rn, done, total, t0);
		}
		if (rn->rc.fatal)
			break; /* the host cannot reclaim: stop, keep every page */
	}
	if (rn->o->progress) {
		progress(rn, done, total, t0);
		fputc('\n', stderr);
	}
}

static int finish(struct runner *rn, const char *dir)
{
	char path[4096];
	int status = rn->rc.fatal || rn->rc.swap_failed ? 1 : 0, r;

	for (unsigned i = 0; i < rn->n; i++)
		status |= rn->vms[i]->ops->finish(rn->vms[i], &rn->host);
	if (rn->host.ksm && ksm_check(rn->host.ksm)) {
		fprintf(stderr, "page sharing: inconsistent at the end of the run\n");
		status = 1;
	}
	/* give pending frees back first, so resident frames equal frames used */
	if (rn->host.pool)
		mem_pool_release(rn->host.pool);
	snprintf(path, sizeof(path), "%s/guests.csv", dir);
	r = output_guests_csv(path, rn->vms, rn->n, &rn->host);
	if (!r) {
		snprintf(path, sizeof(path), "%s/events.csv", dir);
		r = output_events_csv(path, rn->vms, rn->n);
	}
	if (!r) {
		snprintf(path, sizeof(path), "%s/summary.json", dir);
		r = output_summary(path, rn->vms, rn->n, &rn->host);
	}
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		status = 1;
	}
	return status;
}

static int setup(struct runner *rn)
{
	struct vm_env env = {.host = &rn->cfg->host, .cost = &rn->cfg->cost, .rc = &rn->rc};
	char err[768];

	if (rn->ops->host_init(&rn->host))
		return -1;
	if (reclaim_init(&rn->rc, rn->cfg, rn->host.pool, rn->host.ksm, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	rn->host.rc = &rn->rc;
	rn->vms = calloc(rn->cfg->nguests, sizeof(*rn->vms));
	if (!rn->vms)
		return -1;
	rn->rc.vms = rn->vms;
	env.pool = rn->host.pool;
	env.store = rn->host.store;
	env.lib = rn->host.lib;
	env.ksm = rn->host.ksm;
	env.bhost = rn->host.b;
	for (unsigned i = 0; i < rn->cfg->nguests; i++) {
		env.index = i;
		rn->vms[i] = vm_create(&rn->cfg->guests[i], &env, err, sizeof(err));
		if (!rn->vms[i]) {
			fprintf(stderr, "%s:%u: %s\n", rn->cfg->path, rn->cfg->guests[i].line, err);
			return -1;
		}
		rn->n++;
		rn->rc.n = rn->n;
	}
	return 0;
}

static void teardown(struct runner *rn)
{
	for (unsigned i = 0; i < rn->n; i++)
		vm_destroy(rn->vms[i]);
	free(rn->vms);
	reclaim_fini(&rn->rc); /* the swap file, after every slot is free */
	rn->ops->host_fini(&rn->host);
}

/* Every guest has the same backend: its ops, or NULL (said). */
static const struct backend_ops *run_backend(const struct vmm_config *cfg)
{
	const struct backend_ops *ops = backend_find(cfg->guests[0].backend);

	for (unsigned i = 1; i < cfg->nguests; i++)
		if (backend_find(cfg->guests[i].backend) != ops) {
			fprintf(stderr,
				"%s:%u: guest %s: backend %s, but guest %s has %s: the guests of a "
				"run have one backend\n",
				cfg->path, cfg->guests[i].line, cfg->guests[i].name,
				cfg->guests[i].backend, cfg->guests[0].name,
				cfg->guests[0].backend);
			return NULL;
		}
	if (!ops)
		fprintf(stderr, "%s: no backend %s\n", cfg->path, cfg->guests[0].backend);
	return ops;
}

int vmm_run(const struct vmm_config *cfg, const struct vmm_run_opts *o)
{
	struct runner rn = {.cfg = cfg, .o = o};
	double t0 = now_seconds(), ms;
	struct rusage ru;
	int status = 1;

	rn.ops = run_backend(cfg);
	if (!rn.ops)
		return 2;
	ms = cfg->host.sample_ms > rn.ops->min_sample_ms ? cfg->host.sample_ms
							 : rn.ops->min_sample_ms;
	rn.period = ms * 1e6 * cfg->cost.ghz;
	rn.host.cfg = cfg;
	rn.host.o = o;
	rn.host.sample_ms = ms;
	rn.host.verify = o->verify;
	/* a guest that cannot be built is a config error: nothing is written */
	if (setup(&rn)) {
		status = 2;
		goto out;
	}
	if (output_ts_open(&rn.ts, o->out_dir))
		goto out;
	rn.host.t0_ns = (uint64_t)(now_seconds() * 1e9);
	for (unsigned i = 0; i < rn.n; i++)
		if (rn.ops->start && rn.ops->start(rn.vms[i], &rn.host))
			goto out;
	for (unsigned i = 0; i < rn.n; i++) {
		sample(&rn, rn.vms[i]);
		rn.vms[i]->next_sample = 1;
	}
	schedule(&rn, t0);
	rn.host.wall_seconds = now_seconds() - t0;
	if (!getrusage(RUSAGE_SELF, &ru) && (uint64_t)ru.ru_maxrss * 1024 > rn.host.peak_rss_bytes)
		rn.host.peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024;
	if (output_ts_close(&rn.ts))
		goto out;
	status = finish(&rn, o->out_dir);
out:
	output_ts_abandon(&rn.ts);
	teardown(&rn);
	return status;
}
