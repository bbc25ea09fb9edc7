/* SPDX-License-Identifier: MIT */
/*
 * The experiment runner: host set-up, the scheduler, the sampler and the
 * end of a run (verification, dumps, output files).
 *
 * Scheduler. Each guest has one vCPU and one modeled clock (cost.c). The
 * scheduler always runs the guest whose clock is furthest behind, for one
 * quantum of `quantum` workload accesses, so all guests advance together in
 * modeled time whatever their speed on the host, and a run is
 * deterministic for a given config and seed. A linear scan picks the guest:
 * a quantum is thousands of accesses, so even a thousand guests cost the
 * scan nothing measurable.
 *
 * Sharing. After each quantum the guest's page-sharing scanner gets its
 * turn (ksm_tick): it scans at the guest's rate per modeled second of the
 * guest's clock, capped by the host's rate per modeled second of the
 * slowest running guest's clock, the scheduler's "now".
 *
 * Memory policy (reclaim.c). After each quantum the guest's working-set
 * sampler and balloon rate limit advance on its clock; when the host's
 * clock passes the next policy tick the policy sets targets and reclaims.
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
 * frames in use, the process RSS) are read at the same moment.
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

#include "vmm-core/reclaim_internal.h"
#include "vmm-core/run_internal.h"

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct runner {
	const struct vmm_config *cfg;
	const struct vmm_run_opts *o;
	struct vm **vms;
	unsigned n;
	struct run_host host;
	struct vmm_reclaim rc;
	struct guest_library *lib;
	struct output_ts ts;
	double period; /* sample period, modeled cycles */
};

static void sample(struct runner *rn, struct vm *vm)
{
	uint64_t rss = mem_rss_bytes();

	if (rss > rn->host.peak_rss_bytes)
		rn->host.peak_rss_bytes = rss;
	output_timeseries_row(rn->ts.f, vm, rn->host.pool->used, rss);
}

static void progress(const struct runner *rn, uint64_t done, uint64_t total, double t0)
{
	fprintf(stderr, "\r[%3.0f%%] %u guests, %.1f s wall  ",
		total ? 100.0 * (double)done / (double)total : 100.0, rn->n, now_seconds() - t0);
}

/* The host's modeled clock: the slowest runnable guest's, seconds. */
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
		if (vm->vcpu->run(vm, rn->cfg->host.quantum, &x) < 0) {
			vm->failed = vm->done = true;
			fprintf(stderr, "%s%s\n", rn->o->progress ? "\n" : "", vm->err);
		} else if (x.reason == VCPU_EXIT_DONE) {
			vm->done = true;
		}
		done += x.accesses;
		vm_update_clock(vm, NULL);
		if (vm->share && !vm->failed)
			ksm_tick(rn->host.ksm, vm->share, vm->cycles / rn->cfg->cost.ghz / 1e9,
				 host_seconds(rn, vm));
		if (!vm->failed)
			reclaim_guest_tick(&rn->rc, vm);
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
	int status = 0, r;

	if (rn->rc.fatal)
		status = 1;
	for (unsigned i = 0; i < rn->n; i++) {
		struct vm *vm = rn->vms[i];
		char msg[512];

		if (vm->failed) {
			status = 1;
			/* after a host swap failure the pages of a guest that
			 * could not go on are checked too: none may be lost */
			if (!rn->rc.fatal || !rn->o->verify || !vm->os)
				continue;
		}
		if (vm->balloon && !vm->rs.swap_instead) {
			struct balloon_counters c;

			balloon_counters(vm->balloon->dev, &c);
			if (c.actual != vm->p2m->count[MEM_BALLOONED]) {
				fprintf(stderr,
					"guest %s: balloon device says %llu pages, the p2m "
					"%llu\n",
					vm->name, (unsigned long long)c.actual,
					(unsigned long long)vm->p2m->count[MEM_BALLOONED]);
				status = 1;
			}
		}
		if (mem_p2m_check(vm->p2m)) {
			fprintf(stderr, "guest %s: p2m inconsistent at the end of the run\n",
				vm->name);
			status = 1;
		}
		if (rn->o->verify) {
			vm->verified = guest_os_verify(vm->os, msg, sizeof(msg)) == 0;
			vm->verify_ran = true;
			if (!vm->verified) {
				fprintf(stderr, "verify: %s\n", msg);
				status = 1;
			}
		}
		if (rn->o->dump_dir) {
			r = output_mkdir_p(rn->o->dump_dir);
			if (!r)
				r = output_dump(rn->o->dump_dir, vm);
			if (r) {
				fprintf(stderr, "dump %s: guest %s: %s\n", rn->o->dump_dir,
					vm->name, strerror(-r));
				status = 1;
			}
		}
	}
	if (rn->host.ksm && ksm_check(rn->host.ksm)) {
		fprintf(stderr, "page sharing: inconsistent at the end of the run\n");
		status = 1;
	}
	/* give pending frees back first, so resident frames equal frames used */
	mem_pool_release(rn->host.pool);
	snprintf(path, sizeof(path), "%s/guests.csv", dir);
	r = output_guests_csv(path, rn->vms, rn->n, rn->o->verify);
	if (!r) {
		snprintf(path, sizeof(path), "%s/events.csv", dir);
		r = output_events_csv(path, rn->vms, rn->n);
	}
	if (!r) {
		snprintf(path, sizeof(path), "%s/summary.json", dir);
		r = output_summary(path, rn->cfg, rn->vms, rn->n, &rn->host,
				   rn->cfg->guests[0].seed);
	}
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		status = 1;
	}
	return status;
}

static int setup(struct runner *rn)
{
	const struct vmm_host_cfg *h = &rn->cfg->host;
	char err[512];

	rn->host.pool = mem_pool_create(h->memory / MEM_PAGE_SIZE);
	if (!rn->host.pool) {
		fprintf(stderr, "host: cannot reserve %llu bytes: %s\n",
			(unsigned long long)h->memory, strerror(errno));
		return -1;
	}
	rn->host.store = guest_swap_store_create(h->guest_swap_dir[0] ? h->guest_swap_dir : NULL);
	if (!rn->host.store) {
		fprintf(stderr, "guest swap store in %s: %s\n",
			h->guest_swap_dir[0] ? h->guest_swap_dir : "$TMPDIR", strerror(errno));
		return -1;
	}
	rn->lib = guest_library_create(h->library_pages, h->library_seed);
	if (!rn->lib) {
		fprintf(stderr, "library image: %s\n", strerror(errno));
		return -1;
	}
	if (h->sharing) {
		struct ksm_params kp = {.host_rate = h->scan_rate,
					.batch = h->scan_batch,
					.seed = rn->cfg->guests[0].seed};

		if (ksm_order_parse(h->scan_order, &kp.order))
			return -1; /* validated with the config */
		rn->host.ksm = ksm_create(rn->host.pool, &kp);
		if (!rn->host.ksm) {
			fprintf(stderr, "page sharing: %s\n", strerror(errno));
			return -1;
		}
	}
	if (reclaim_init(&rn->rc, rn->cfg, rn->host.pool, rn->host.ksm, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	rn->host.rc = &rn->rc;
	rn->vms = calloc(rn->cfg->nguests, sizeof(*rn->vms));
	if (!rn->vms)
		return -1;
	rn->rc.vms = rn->vms;
	for (unsigned i = 0; i < rn->cfg->nguests; i++) {
		rn->vms[i] = vm_create(&rn->cfg->guests[i], rn->host.pool, rn->host.store, rn->lib,
				       h, &rn->cfg->cost, &rn->rc, err, sizeof(err));
		if (!rn->vms[i]) {
			fprintf(stderr, "%s:%u: %s\n", rn->cfg->path, rn->cfg->guests[i].line, err);
			return -1;
		}
		rn->n++;
		rn->rc.n = rn->n;
		if (rn->host.ksm && rn->cfg->guests[i].sharing) {
			rn->vms[i]->share = ksm_guest_add(rn->host.ksm, rn->vms[i]->p2m,
							  rn->cfg->guests[i].scan_rate);
			if (!rn->vms[i]->share) {
				fprintf(stderr, "%s:%u: guest %s: page sharing: %s\n",
					rn->cfg->path, rn->cfg->guests[i].line, rn->vms[i]->name,
					strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

static void teardown(struct runner *rn)
{
	for (unsigned i = 0; i < rn->n; i++)
		vm_destroy(rn->vms[i]);
	free(rn->vms);
	reclaim_fini(&rn->rc);	   /* the swap file, after every slot is free */
	ksm_destroy(rn->host.ksm); /* after every guest let go of its pages */
	if (rn->lib)
		guest_library_destroy(rn->lib);
	if (rn->host.store)
		guest_swap_store_destroy(rn->host.store);
	if (rn->host.pool)
		mem_pool_destroy(rn->host.pool);
}

int vmm_run(const struct vmm_config *cfg, const struct vmm_run_opts *o)
{
	struct runner rn = {.cfg = cfg, .o = o};
	double t0 = now_seconds();
	struct rusage ru;
	int status = 1;
	unsigned nkvm = 0;

	for (unsigned i = 0; i < cfg->nguests; i++)
		nkvm += !strcmp(cfg->guests[i].backend, "kvm");
	if (nkvm == cfg->nguests)
		return vmm_run_kvm(cfg, o);
	if (nkvm) {
		fprintf(stderr,
			"%s: soft and kvm guests cannot share one run yet (%u of %u are kvm)\n",
			cfg->path, nkvm, cfg->nguests);
		return 2;
	}

	rn.period = cfg->host.sample_ms * 1e6 * cfg->cost.ghz;
	rn.host.verify = o->verify;
	/* a guest that cannot be built is a config error: nothing is written */
	if (setup(&rn)) {
		status = 2;
		goto out;
	}
	if (output_ts_open(&rn.ts, o->out_dir))
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
