/* SPDX-License-Identifier: MIT */
/*
 * Replay of one trace in a soft guest sized for it: `memvisor trace
 * replay`, and the replay benchmark.
 *
 * The guest is the one a config would build for `workload = trace:PATH`
 * (vm_create: the same guest OS, MMU, paging mode, reclaim and guest swap
 * as `memvisor run`), with memory for gfn 0, mem_map, every page table the
 * trace's regions need, the data frames and a little slack, so that only
 * the data-frame limit ever forces an eviction: the fault count is that
 * of the replacement policy with exactly `frames` frames. Guest swap holds
 * the whole footprint; the host pool holds the guest and its EPT.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "traces/traces.h"
#include "vmm-core/soft/soft.h"

static double replay_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Guest pages for a trace replay: gfn 0, mem_map, tables, data, slack. */
static uint64_t replay_pages(const struct trace_file *tf, uint64_t data)
{
	const struct trace_summary *s = trace_file_summary(tf);
	uint64_t tables = 0, pages = 64;

	for (unsigned i = 0; i < s->nprocs; i++) {
		struct guest_trace t = {.tf = tf, .pid = s->procs[i].pid};

		tables += guest_trace_table_frames(&t);
	}
	for (;;) {
		uint64_t need =
		    1 + (pages * sizeof(struct guest_page) + MEM_PAGE_SIZE - 1) / MEM_PAGE_SIZE +
		    tables + data + 16;

		if (need <= pages)
			return pages;
		pages = need;
	}
}

/* Everything the replay's guest needs, made and freed together. */
struct replay_env {
	struct vmm_guest_cfg g;
	struct mem_pool *pool;
	struct guest_swap_store *store;
	struct guest_library *lib;
	struct vm *vm;
};

static void replay_env_free(struct replay_env *e)
{
	vm_destroy(e->vm);
	if (e->lib)
		guest_library_destroy(e->lib);
	if (e->store)
		guest_swap_store_destroy(e->store);
	if (e->pool)
		mem_pool_destroy(e->pool);
	free(e);
}

/* The guest's config; 0 or 2 with err. */
static int replay_cfg(struct replay_env *e, const char *path, const struct vmm_replay_opts *o,
		      uint64_t pages, uint64_t fp, uint64_t frames, char *err, size_t errlen)
{
	struct vmm_guest_cfg *g = &e->g;

	/* a config's defaults (no balloon device: host->balloon is off),
	 * then the replay's own */
	vmm_config_guest_defaults(g);
	snprintf(g->name, sizeof(g->name), "replay");
	snprintf(g->section, sizeof(g->section), "guest replay");
	snprintf(g->backend, sizeof(g->backend), "soft");
	snprintf(g->content, sizeof(g->content), "private");
	if ((size_t)snprintf(g->paging, sizeof(g->paging), "%s", o->paging) >= sizeof(g->paging) ||
	    (size_t)snprintf(g->reclaim, sizeof(g->reclaim), "%s", o->policy) >=
		sizeof(g->reclaim) ||
	    (size_t)snprintf(g->workload, sizeof(g->workload), "%s%s", VMM_TRACE_PREFIX, path) >=
		sizeof(g->workload)) {
		snprintf(err, errlen, "%s: path, policy or paging mode too long", path);
		return 2;
	}
	g->count = g->procs = 1;
	g->memory = g->max = pages * MEM_PAGE_SIZE;
	g->shares = 1000;
	g->seed = o->seed;
	g->timeslice = 10000;
	g->guest_swap = (fp + 64) * MEM_PAGE_SIZE;
	g->data_frames = o->frames ? frames : 0;
	g->accesses = 0; /* each process replays its trace once */
	return 0;
}

static void replay_result(const struct vm *vm, struct vmm_replay_result *r)
{
	struct soft_vm *sv = soft_vm(vm);
	struct guest_stats gs;

	guest_os_stats(sv->os, &gs);
	r->guest_pages = sv->p2m->pages;
	r->records = gs.accesses;
	r->page_accesses = sv->mmu.st.accesses;
	r->faults = gs.page_faults;
	r->first_touches = gs.zero_fills;
	r->swap_ins = gs.swap_ins;
	r->swap_outs = gs.swap_outs;
	r->tlb_misses = sv->mmu.st.tlb_misses;
	r->walk_refs = sv->mmu.st.walk_refs;
	r->nested_faults = sv->mmu.st.exits[MMU_EXIT_NESTED_FAULT];
}

int vmm_replay(const char *path, const struct vmm_replay_opts *o, struct vmm_replay_result *res,
	       char *err, size_t errlen)
{
	struct vmm_host_cfg host;
	struct replay_env *e = calloc(1, sizeof(*e));
	struct trace_file *tf;
	struct vmm_cost cost;
	struct vm_env env;
	uint64_t fp, pages;
	double t0, c0;
	int status = 2;

	memset(res, 0, sizeof(*res));
	err[0] = 0;
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	tf = trace_open(path, 0, err, errlen);
	if (!tf) {
		free(e);
		return 2;
	}
	fp = trace_file_summary(tf)->pages;
	res->frames = o->frames && o->frames < fp ? o->frames : fp;
	pages = replay_pages(tf, res->frames);
	if (trace_file_summary(tf)->by_kind[TRACE_IMAGE])
		e->lib = guest_library_create(4096, 42);
	trace_close(tf);
	if (replay_cfg(e, path, o, pages, fp, res->frames, err, errlen))
		goto out;
	vmm_cost_defaults(&cost);
	vmm_config_host_defaults(&host);
	e->pool = mem_pool_create(pages + pages / 256 + 64);
	e->store = guest_swap_store_create(NULL);
	if (!e->pool || !e->store) {
		snprintf(err, errlen, "host memory or guest swap: %s", strerror(errno));
		status = 1;
		goto out;
	}
	env = (struct vm_env){
	    .pool = e->pool, .store = e->store, .lib = e->lib, .host = &host, .cost = &cost};
	e->vm = vm_create(&e->g, &env, err, errlen);
	if (!e->vm)
		goto out;
	status = 1;
	t0 = replay_clock(CLOCK_MONOTONIC);
	c0 = replay_clock(CLOCK_THREAD_CPUTIME_ID);
	while (!e->vm->done) {
		struct vcpu_exit x;

		if (vm_run(e->vm, 1u << 20, &x) < 0) {
			snprintf(err, errlen, "%s", e->vm->err);
			goto result;
		}
		e->vm->done = x.reason == VCPU_EXIT_DONE;
	}
	res->seconds = replay_clock(CLOCK_MONOTONIC) - t0;
	res->cpu_seconds = replay_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
	status = 0;
	if (o->verify) {
		res->verified = guest_os_verify(soft_vm(e->vm)->os, err, errlen) == 0;
		status = res->verified ? 0 : 1;
	}
result:
	replay_result(e->vm, res);
out:
	replay_env_free(e);
	return status;
}
