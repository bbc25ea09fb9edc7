/* SPDX-License-Identifier: MIT */
/* run_internal: what run.c and output.c share. Not for other modules. */
#ifndef VMM_CORE_RUN_INTERNAL_H
#define VMM_CORE_RUN_INTERNAL_H

#include <stdio.h>

#include "ksm/ksm.h"
#include "mem/mem.h"
#include "vmm-core/vmm.h"

/* Host-wide facts of a run: what the runner, the backends and the output
 * share. */
struct run_host {
	const struct vmm_config *cfg;
	const struct vmm_run_opts *o;
	struct mem_pool *pool; /* soft: the host's frames; kvm: the shared frames
				  (a memfd pool, with [host] sharing), or NULL */
	struct guest_swap_store *store;
	struct guest_library *lib;
	struct ksm *ksm;	      /* page sharing, or NULL when [host] sharing is off */
	const struct vmm_reclaim *rc; /* reclamation: policy, host swap */
	void *b;		      /* the backend's own host state, or NULL */
	uint64_t t0_ns;		      /* CLOCK_MONOTONIC at the start */
	double sample_ms;	      /* between samples, on the guests' clocks */
	uint64_t peak_rss_bytes;      /* highest RSS seen by the sampler */
	uint64_t peak_frames;	      /* highest host frames in use seen */
	double wall_seconds;
	bool verify; /* --verify was given */
};

struct out_row;
struct mem_policy_guest;
/*
 * A backend: one const table per kind of guest (Solo5's hvt, kvmtool's
 * per-arch ops). The runner (run.c), the policy tick (reclaim.c) and the
 * output files (output.c) go through it and never ask which backend a
 * guest has. A run has one backend (vmm_run checks it once).
 */
struct backend_ops {
	const char *name;
	bool wall_clock;      /* its guests' clocks are wall time, not modeled */
	bool can_block;	      /* the low state may hold its guests back */
	double min_sample_ms; /* samples no closer than this */
	/* The run's host side, once, before any guest (h->b, h->pool...), and
	 * its end. 0, or -1 with the reason printed. */
	int (*host_init)(struct run_host *h);
	void (*host_fini)(struct run_host *h);
	/* Build vm (name, cfg, cost, ops set) from env: 0 or -errno with err. */
	int (*create)(struct vm *vm, const struct vm_env *env, char *err, size_t errlen);
	void (*destroy)(struct vm *vm);
	/* Start it (kvm: its console file and vCPU threads); NULL: nothing.
	 * 0, or -1 with the reason printed: the run stops. */
	int (*start)(struct vm *vm, struct run_host *h);
	/* Run it, and update vm->cycles (vm_run). A guest that failed returns
	 * -errno with vm->err set. */
	int (*run)(struct vm *vm, uint64_t budget, struct vcpu_exit *x);
	/* After each run, on its clock: working-set periods, the balloon's
	 * rate-limited target. */
	void (*tick)(struct vmm_reclaim *rc, struct vm *vm);
	/* Host frames the guest holds now (the policy's P, the host's use). */
	uint64_t (*held)(struct vm *vm);
	/* Frames the host saves that no guest's held() shows (kvm with
	 * Linux's KSM: ksmd's pages_sharing), asked of any guest of the run;
	 * NULL: none. */
	uint64_t (*host_saved)(struct vm *vm);
	/* The policy's inputs for vm; false for a guest that holds nothing and
	 * takes no part any more (a KVM guest that powered off). */
	bool (*policy_in)(struct vm *vm, struct mem_policy_guest *g);
	/* Move its balloon toward vm->rs.target in state st; true when the
	 * policy may count on the balloon this tick. */
	bool (*balloon)(struct vmm_reclaim *rc, struct vm *vm, enum mem_rstate st, uint64_t alloc);
	/* Host swap of up to want of its pages (the policy's step 5); NULL
	 * where the backend cannot. 0, or -errno (fatal: rc->fatal set). */
	int (*swap)(struct vmm_reclaim *rc, struct vm *vm, uint64_t want);
	/* Recompute vm->cycles from its counters (after blocked time was
	 * charged); NULL for a wall clock. */
	void (*clock)(struct vm *vm);
	/* A timeseries.csv row of vm, but for the host's columns. */
	void (*sample)(struct out_row *r, struct vm *vm, const struct run_host *h);
	/* At the end: checks, verification, dumps. 0 or 1 (the exit status). */
	int (*finish)(struct vm *vm, struct run_host *h);
	/* Its rows of events.csv (paging-mode switches); NULL: none. */
	void (*events)(FILE *f, struct vm *vm);
	/* Its guests.csv row, and its fields of its summary.json object and
	 * of the host's (out/output.c fills what every guest has). */
	void (*result)(struct out_row *r, struct vm *vm, const struct run_host *h);
	void (*json)(struct out_row *r, struct vm *vm, const struct run_host *h);
	void (*json_host)(struct out_row *r, struct vm **vms, unsigned n, const struct run_host *h);
};
extern const struct backend_ops backend_soft, backend_kvm;

/* Host frames in use now: the pool's (soft), or what the guests hold plus
 * the shared frames of a memfd pool (kvm). */
uint64_t run_frames_used(const struct mem_pool *pool, struct vm **vms, unsigned n);

/* Column header of timeseries.csv. */
void output_timeseries_header(FILE *f);
/* guests.csv, events.csv and summary.json, written to path (replaced
 * whole). */
int output_guests_csv(const char *path, struct vm **vms, unsigned n, const struct run_host *h);
int output_events_csv(const char *path, struct vm **vms, unsigned n);
int output_summary(const char *path, struct vm **vms, unsigned n, const struct run_host *h);
/* mkdir -p dir. 0 or -errno. */
int output_mkdir_p(const char *dir) MUST_CHECK;
/* A run's time series, written to DIR/timeseries.csv.tmp and renamed at
 * the end. output_ts_open makes DIR and writes the header; both it and
 * output_ts_close print what went wrong. 0 or -errno. */
struct output_ts {
	FILE *f;
	char path[4096], tmp[4200];
};
int output_ts_open(struct output_ts *ts, const char *dir) MUST_CHECK;
int output_ts_close(struct output_ts *ts) MUST_CHECK;
void output_ts_abandon(struct output_ts *ts); /* removes the .tmp */
/* guests.csv's header line (both backends). */
void output_guests_header(FILE *f);
#endif
