/* SPDX-License-Identifier: MIT */
/*
 * vmm-core: guests and their backends (soft, kvm) behind one ops table, exits,
 * the scheduler, the cost model and modeled clock, the sampler, the
 * experiment runner, its output files and the report.
 */
#ifndef VMM_CORE_VMM_H
#define VMM_CORE_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/util.h"
#include "guest/guest.h"
#include "mem/mem.h"

/* ------------------------------------------------------------------------
 * Cost model (cost.c). Modeled cycles per event; the defaults and where
 * they come from are documented in cost.c and in the README. Every field
 * can be set in the config's [cost] section under the same name.
 */
struct vmm_cost {
	double access;		  /* a translated access that hits the TLB */
	double walk_ref;	  /* one memory reference of a page walk */
	double phys_access;	  /* a guest-kernel direct-map access */
	double exit[MMU_EXIT_NR]; /* exit round trip + handler, by reason */
	double guest_fault;	  /* guest #PF entry, handler, return */
	double zero_page;	  /* host zero-fill of a new frame */
	double swap_in;		  /* guest swap read of 4 KiB (its disk) */
	double swap_out;	  /* guest swap write of 4 KiB */
	double copy_page;	  /* copy 4 KiB: a copy-on-write break */
	double host_swap_in;	  /* host swap read of 4 KiB the guest waits for */
	double ghz;		  /* modeled clock: cycles per nanosecond */
};
void vmm_cost_defaults(struct vmm_cost *c);
/* Set the cost called `key` ("walk_ref", "exit.nested_fault", "ghz"...).
 * Returns 0, -ENOENT for an unknown key, -EINVAL for a bad value. */
int vmm_cost_set(struct vmm_cost *c, const char *key, const char *value) MUST_CHECK;

/* Modeled cycles by component, from a guest's counters. */
struct vmm_cycles {
	double access, walk, exits, guest_os, swap_io;
	double host_swap; /* waiting for host swap-ins */
	double blocked;	  /* blocked by the policy (low state) */
	double idle;	  /* halted: the workload had nothing to do */
	double total;
};

/* ------------------------------------------------------------------------
 * Configuration (config.c): INI files read with libinih. The fixed keys of
 * DESIGN.md and the others are listed, with defaults, in config.c and the
 * README.
 */
#define VMM_NAME_MAX	  64
#define VMM_WORKLOAD_MAX  1024
#define VMM_SWITCH_AT_MAX 32

struct vmm_guest_cfg {
	char name[VMM_NAME_MAX]; /* instance name: section name + index */
	char section[VMM_NAME_MAX];
	unsigned count;	   /* instances of the section */
	unsigned instance; /* this guest's index within its section */
	uint64_t memory;   /* bytes */
	char backend[16];  /* soft|kvm */
	char paging[16];   /* nested|shadow|dynamic */
	uint64_t shares;
	uint64_t min, max;		 /* bytes; max defaults to memory */
	char workload[VMM_WORKLOAD_MAX]; /* seq|uniform|zipf|sparse|churn|trace:PATH[,...] */
	uint64_t accesses;		 /* per process */
	uint64_t seed;			 /* instance i of a section gets seed + i */
	uint64_t wss;			 /* bytes */
	unsigned write_pct;
	double zipf_theta;
	char content[16];
	unsigned zero_pct, library_pct;
	unsigned procs;
	uint64_t timeslice;   /* accesses */
	char reclaim[16];     /* clock|lru|random */
	uint64_t guest_swap;  /* bytes (kvm: the guest's zram swap) */
	bool loop;	      /* trace workloads start over at their end */
	uint64_t data_frames; /* resident user data frames at most, 0: no limit */
	bool sharing;	      /* page sharing for this guest (with [host] sharing) */
	double scan_rate;     /* sharing scan, pages per modeled second of its clock */
	unsigned line;	      /* line of the section header, for messages */
	/* paging policy (paging_policy.c) */
	uint64_t switch_every;		     /* accesses between scheduled toggles; 0 none */
	double switch_at[VMM_SWITCH_AT_MAX]; /* modeled ms of scheduled toggles */
	unsigned nswitch_at;		     /* entries of switch_at, ascending */
	double dyn_window_ms;		     /* dynamic: evaluation window, modeled ms */
	double dyn_margin;		     /* dynamic: relative saving needed, [0, 1) */
	unsigned dyn_confirm;		     /* dynamic: windows in a row that must agree */
	unsigned dyn_min_windows;	     /* dynamic: windows to stay after a switch */
	uint64_t sparse_stride;		     /* sparse: pages between working-set pages */
	uint64_t churn_region;		     /* churn: bytes per unmapped region */
	unsigned churn_unmap_pm;	     /* churn: unmaps per 1000 operations */
	uint64_t churn_life;		     /* churn: operations per process life */
	bool guest_large;		     /* the guest OS maps 2 MiB pages where it can */
	bool host_large;		     /* 2 MiB blocks on 2 MiB host runs */
	/* memory policy (reclaim.c, balloon_soft.c) */
	char balloon_driver[16];	    /* virtio|none|ignore|garbage */
	uint64_t balloon_target;	    /* bytes: a fixed target set by hand */
	bool balloon_fixed;		    /* balloon_target was given */
	uint64_t steps[GUEST_WL_MAX_STEPS]; /* steps workload: bytes per step */
	unsigned nsteps;
	uint64_t step_accesses; /* steps workload: accesses per step */
	double step_ms;		/* steps workload: modeled ms per step, if > 0 */
	bool paging_given;	/* paging was set explicitly */
	/* backend = kvm only */
	char kernel[512];  /* bzImage path (relative: to the config's folder) */
	char initrd[512];  /* initramfs path, idem */
	char cmdline[512]; /* appended to the kernel command line */
	unsigned vcpus;	   /* vCPUs (threads) */
	double timeout;	   /* seconds of wall time before the guest is failed */
	int pin_cpu;	   /* host CPU for its vCPU threads, -1: any */
};

#define VMM_TAU_MAX 16 /* entries of an idle_tax schedule */

struct vmm_host_cfg {
	uint64_t memory; /* budget, bytes */
	bool sharing, balloon;
	char swap_file[256];
	char guest_swap_dir[256];
	unsigned tlb_entries, tlb_ways, pwc_entries;
	unsigned shadow_roots; /* shadow paging: cached roots per guest */
	double sample_ms;      /* modeled milliseconds between samples */
	uint64_t quantum;      /* accesses per scheduling quantum */
	uint64_t library_pages;
	uint64_t library_seed;
	double scan_rate;    /* sharing scan cap, pages per modeled host second */
	unsigned scan_batch; /* pages per scan batch */
	char scan_order[16]; /* random|sequential */
	/* memory policy (reclaim.c) */
	char swap_victim[16];	    /* random|lru */
	uint64_t swap_size;	    /* bytes; 0: as large as the disk allows */
	double policy_ms;	    /* modeled ms between policy ticks */
	double tau[VMM_TAU_MAX];    /* idle memory tax, [0, 1), from tau_ms[i] on */
	double tau_ms[VMM_TAU_MAX]; /* ascending, tau_ms[0] = 0 */
	unsigned ntau;
	double ws_period_ms;		   /* working-set sampling period, guest ms */
	unsigned ws_samples;		   /* pages sampled per period */
	double ws_slow_gain, ws_fast_gain; /* EWMA gains */
	double free_pct[4];		   /* high, soft, hard, low thresholds, % */
	uint64_t balloon_rate;		   /* target movement, bytes per modeled second */
	unsigned balloon_max_pct;	   /* most of a guest's memory a balloon may take */
	unsigned balloon_queue;		   /* virtqueue size offered */
	double duration_ms;		   /* stop at this modeled host time; 0: at the end */
	bool boot_serial;		   /* kvm: one guest boots at a time */
	bool linux_ksm;			   /* kvm: Linux's ksmd shares guest RAM instead */
	double dump_ms;			   /* kvm: dump guests' pages this long after the
					      last one's userspace is up (0: never) */
};

struct vmm_config {
	char path[256];
	struct vmm_host_cfg host;
	struct vmm_cost cost;
	struct vmm_guest_cfg *guests; /* after expansion of count */
	unsigned nguests;
};

/*
 * Read the config at path, apply each "SECTION.KEY=VALUE" of sets (a guest
 * section by its name: "web.memory=2G", or "host.memory=8G"), expand count,
 * validate. On error returns -EINVAL (or -errno for I/O) with err holding
 * one message naming the file, line and key.
 */
int vmm_config_load(struct vmm_config *cfg, const char *path, char *const *sets, unsigned nsets,
		    char *err, size_t errlen) MUST_CHECK;
void vmm_config_free(struct vmm_config *cfg);
/* Every key's default (the key table's, config_keys.c): a [host] section,
 * a [guest] section (max, wss and guest_swap, which follow memory, and
 * name, section: unset). */
void vmm_config_host_defaults(struct vmm_host_cfg *h);
void vmm_config_guest_defaults(struct vmm_guest_cfg *g);
/* The key reference: a line per key of [host] and [guest NAME], with its
 * default and which backend takes it (`memvisor run --help`). */
void vmm_config_keys_print(FILE *f);
/* Parse "4G", "512M", "4096", "64K" into bytes. 0 or -EINVAL. */
int vmm_parse_size(const char *s, uint64_t *out) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Guests and their backends. A guest is a `struct vm`, built by
 * vm_create() whatever its backend; what only a backend has lives behind
 * its ops table (struct backend_ops, run_internal.h): soft (backend_soft.c,
 * the software vCPU and MMU, modeled time) and kvm (backend_kvm.c, Linux
 * guests on /dev/kvm, wall time).
 */
struct vm;
struct backend_ops;
struct vcpu_exit {
	enum { VCPU_EXIT_QUANTUM, VCPU_EXIT_DONE, VCPU_EXIT_FAILED } reason;
	uint64_t accesses; /* completed in this run call */
};
/* The backend called name ("soft", "kvm"), or NULL. */
const struct backend_ops *backend_find(const char *name);
/* Run vm for up to budget workload accesses (soft), or until its clock
 * reaches its next sample period (kvm, wall time): the backend's run. */
int vm_run(struct vm *vm, uint64_t budget, struct vcpu_exit *x) MUST_CHECK;
/* The backend's name ("soft", "kvm"). */
const char *vm_backend_name(const struct vm *vm);

struct ksm;
/* What a guest is built with: the host's parts it shares. */
struct vm_env {
	struct mem_pool *pool;		 /* soft: where its frames come from */
	struct guest_swap_store *store;	 /* soft: where its swap disk lives */
	const struct guest_library *lib; /* soft: the shared library image */
	struct ksm *ksm;		 /* soft: page sharing, or NULL */
	const struct vmm_host_cfg *host;
	const struct vmm_cost *cost;
	struct vmm_reclaim *rc; /* host reclamation, or NULL (replay, tests) */
	void *bhost;		/* the backend's host state (run_internal.h) */
	unsigned index;		/* the guest's place in the run, from 0 */
};

struct vm_sample;   /* sampler.c */
struct vm_traces;   /* vm_trace.c */
struct ksm_guest;   /* ksm/ksm.h */
struct vm_balloon;  /* reclaim_internal.h */
struct vmm_reclaim; /* reclaim_internal.h */
struct mem_wss;	    /* mem/mem.h */

/* One guest's side of host reclamation (reclaim.c). Pages are 4 KiB. */
struct vm_reclaim {
	struct vmm_reclaim *host;      /* borrowed; NULL outside a run */
	struct mem_wss *wss;	       /* working-set sampler */
	struct mem_swap_cursor cursor; /* host swap's victim choice */
	uint64_t next_ws;	       /* index of the next sampling period's end */
	double last_cycles;	       /* clock at the last balloon tick */
	uint64_t target;	       /* the policy's allocation target */
	double rho;		       /* adjusted shares per page at the last tick */
	uint64_t wanted;	       /* the balloon size the policy asked for */
	uint64_t swap_outs, swap_ins;  /* host swap, this guest's pages */
	uint64_t swap_shared;	       /* victims shared instead of swapped */
	uint64_t emergency;	       /* frames freed while it waited for one */
	bool blocked;		       /* low state, above its target */
	double blocked_since;	       /* host cycles when it was blocked */
	double blocked_cycles;	       /* modeled time lost blocked */
	unsigned stalls;	       /* ticks the balloon lagged without moving */
	unsigned stall_reported;       /* stalls seen (reported the first time) */
	uint64_t last_actual;	       /* balloon actual at the last tick */
	bool swap_instead;	       /* balloon unusable: reclaim by host swap */
	bool ballooning;	       /* the last tick counted on its balloon */
	bool ran;		       /* it ran a quantum since the last tick */
	char balloon_note[200];	       /* why not the balloon ("" while it works) */
};
struct vm {
	char name[VMM_NAME_MAX];
	const struct vmm_guest_cfg *cfg; /* borrowed from the config */
	const struct backend_ops *ops;
	void *backend;		     /* its backend's state: struct soft_vm, struct kguest */
	const struct vmm_cost *cost; /* borrowed */
	struct ksm_guest *share;     /* page sharing, or NULL */
	double cycles;		     /* its clock, cycles: modeled (soft), wall time (kvm) */
	uint64_t next_sample;	     /* index of the next sample period */
	bool done, failed, verified;
	bool verify_ran; /* verified is meaningful (a failed guest after a
			    host swap failure is verified too) */
	bool sample_now; /* sample at once (a paging switch happened) */
	struct vm_reclaim rs;
	char err[768];
};

/* Create guest `cfg` on its backend from the host's parts in env; NULL
 * with err filled (without the config's file and line). */
struct vm *vm_create(const struct vmm_guest_cfg *cfg, const struct vm_env *env, char *err,
		     size_t errlen);
void vm_destroy(struct vm *vm);
/* ------------------------------------------------------------------------
 * Replay of one trace in a soft guest sized for it (replay.c): what
 * `memvisor trace replay` runs, through vm_create() like any guest.
 */
struct vmm_replay_opts {
	uint64_t frames;    /* resident data frames; 0: the trace's footprint */
	const char *policy; /* guest replacement: clock, lru, random */
	const char *paging; /* paging mode: nested, shadow or dynamic */
	uint64_t seed;	    /* store values, random replacement */
	bool verify;	    /* check every touched page at the end */
};
struct vmm_replay_result {
	uint64_t frames;      /* the data-frame limit in force */
	uint64_t guest_pages; /* guest memory, 4 KiB pages */
	uint64_t records;     /* records replayed */
	uint64_t page_accesses;
	uint64_t faults; /* guest page faults: first touches + swap-ins */
	uint64_t first_touches, swap_ins, swap_outs;
	uint64_t tlb_misses, walk_refs, nested_faults;
	double seconds;	    /* wall time of the replay loop alone */
	double cpu_seconds; /* its CPU time (this thread's) */
	bool verified;
};
/*
 * Replay the trace at path, each of its address spaces as one process,
 * with o->frames resident data frames at most (page tables not counted).
 * Returns 0 with *res filled; 1 when the guest failed or verification
 * found a difference (err says; *res holds the counts so far); 2 for a
 * bad trace or options (err names the file and record).
 */
int vmm_replay(const char *path, const struct vmm_replay_opts *o, struct vmm_replay_result *res,
	       char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Runs (run.c, output.c, report.c)
 */
struct vmm_run_opts {
	const char *out_dir;
	bool verify;
	const char *dump_dir; /* NULL: no dump */
	bool progress;	      /* a progress line on stderr */
};
/* Run the experiment; returns the process exit status (0, 1) and prints
 * its messages. */
int vmm_run(const struct vmm_config *cfg, const struct vmm_run_opts *o);

/*
 * Output files (the contract with report.c, scripts and tests):
 *
 * timeseries.csv, a header row, one row per sample per guest:
 *   time_ms,guest,accesses,untouched,resident,shared,ballooned,swapped,
 *   guest_free,guest_page_faults,guest_swap_outs,guest_swap_ins,
 *   tlb_misses,walk_refs,exits,modeled_cycles,balloon_target,
 *   balloon_actual,host_frames_used,host_rss_bytes,paging,mode_switches,
 *   host_state,host_free_pages,alloc_pages,alloc_target,active_pages,
 *   ws_slow,ws_fast,ws_current,ws_true,shares_per_page,idle_tax,
 *   balloon_wanted,guest_balloon_pages,balloon_inflated,balloon_deflated,
 *   balloon_deflated_unasked,host_swap_outs,host_swap_ins,swap_shared,
 *   blocked,blocked_ms,idle_ms
 * (pages are 4 KiB pages; time_ms is the guest's modeled clock; the
 * counters are cumulative; host_* are the host's at that sample; paging is
 * the mode running then. A row is also written right after each switch.
 * host_state is 0 high, 1 soft, 2 hard, 3 low; alloc_pages is resident +
 * shared; active_pages and ws_* are working-set estimates in pages, ws_true
 * the workload's own active pages; idle_tax is in percent.)
 *
 * guests.csv, one row per guest at the end:
 *   name,backend,paging,guest_pages,untouched,host_frames,pages_sharing,
 *   balloon_actual,host_swapped,accesses,tlb_misses,walk_refs,exits,
 *   guest_page_faults,guest_swap_outs,guest_swap_ins,cow_breaks,
 *   modeled_cycles,modeled_seconds,cycles_per_access,cycles_access,
 *   cycles_walk,cycles_exits,cycles_guest_os,cycles_swap_io,verified,
 *   paging_final,mode_switches,exits_nested_fault,exits_hidden_fault,
 *   exits_pt_write,exits_cr3_write,exits_invlpg,exits_mode_switch,
 *   shadow_accesses,cycles_host_swap,cycles_blocked,cycles_idle,
 *   host_swap_outs,host_swap_ins,swap_shared,balloon_target,
 *   balloon_inflated,balloon_deflated,alloc_target
 * (paging is the configured policy, paging_final the mode at the end.)
 * Both lists are declared once, in columns.h. A figure the guest's backend
 * does not have or measure (a KVM guest's modeled TLB, say) is empty.
 *
 * events.csv, one row per paging-mode switch:
 *   time_ms,guest,accesses,from,to,why,cost_per_access,other_per_access
 *
 * summary.json: the host's object and one per guest, their fields declared
 * once in columns.h (OUT_JH_FIELDS, OUT_JG_FIELDS); README, "Output files".
 */

/* Write gnuplot figures and report.html into dir from its CSV and JSON
 * files. Returns 0, or -errno with err naming the file. */
int vmm_report(const char *dir, char *err, size_t errlen) MUST_CHECK;

#endif
