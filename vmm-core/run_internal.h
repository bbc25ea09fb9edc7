/* SPDX-License-Identifier: MIT */
/* run_internal: what run.c and output.c share. Not for other modules. */
#ifndef VMM_CORE_RUN_INTERNAL_H
#define VMM_CORE_RUN_INTERNAL_H

#include <stdio.h>

#include "ksm/ksm.h"
#include "vmm-core/vmm.h"

/* Host-wide facts of a run, for the summary. */
struct run_host {
	struct mem_pool *pool;
	struct guest_swap_store *store;
	struct ksm *ksm;	      /* page sharing, or NULL when [host] sharing is off */
	const struct vmm_reclaim *rc; /* reclamation: policy, host swap */
	uint64_t peak_rss_bytes;      /* highest RSS seen by the sampler */
	double wall_seconds;
	bool verify; /* --verify was given */
};

/* Column header of timeseries.csv, and one row for vm now. */
void output_timeseries_header(FILE *f);
void output_timeseries_row(FILE *f, struct vm *vm, uint64_t host_frames_used,
			   uint64_t host_rss_bytes);
/* guests.csv, events.csv and summary.json, written to path (replaced
 * whole). */
int output_guests_csv(const char *path, struct vm **vms, unsigned n, bool verify);
int output_events_csv(const char *path, struct vm **vms, unsigned n);
int output_summary(const char *path, const struct vmm_config *cfg, struct vm **vms, unsigned n,
		   const struct run_host *h, uint64_t seed);
/* A JSON string, escaped. */
void output_json_str(FILE *f, const char *s);
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
/* The memory policy's part of each file (output_policy.c). */
uint64_t output_balloon_target(const struct vm *vm);
struct out_row;
void output_policy_ts_fill(struct out_row *r, const struct vm *vm);
void output_policy_guests_fill(struct out_row *r, const struct vm *vm,
			       const struct vmm_cycles *cyc);
void output_policy_json_guest(FILE *f, const struct vm *vm);
void output_policy_json_host(FILE *f, const struct vmm_reclaim *rc);
/* The run with backend = kvm guests (run_kvm.c): the same files, from
 * what KVM and the guests report. Every guest must be kvm. Returns the
 * exit status. */
int vmm_run_kvm(const struct vmm_config *cfg, const struct vmm_run_opts *o);

/* Write vm's physical memory as DIR/NAME.mem (sparse) and its page-table
 * roots as DIR/NAME.roots. 0 or -errno. */
int output_dump(const char *dir, struct vm *vm);

#endif
