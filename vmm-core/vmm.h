/* SPDX-License-Identifier: MIT */
/*
 * vmm-core: guests and vCPUs, the vCPU backends behind vcpu_ops, exits,
 * the scheduler, the cost model and modeled clock, the sampler, the
 * experiment runner, its output files and the report.
 */
#ifndef VMM_CORE_VMM_H
#define VMM_CORE_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "guest/guest.h"
#include "mem/mem.h"

#define VMM_MUST_CHECK __attribute__((warn_unused_result))

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
	double ghz;		  /* modeled clock: cycles per nanosecond */
};
void vmm_cost_defaults(struct vmm_cost *c);
/* Set the cost called `key` ("walk_ref", "exit.nested_fault", "ghz"...).
 * Returns 0, -ENOENT for an unknown key, -EINVAL for a bad value. */
int vmm_cost_set(struct vmm_cost *c, const char *key, const char *value) VMM_MUST_CHECK;

/* Modeled cycles by component, from a guest's counters. */
struct vmm_cycles {
	double access, walk, exits, guest_os, swap_io;
	double total;
};

/* ------------------------------------------------------------------------
 * Configuration (config.c): INI files read with libinih. The fixed keys of
 * DESIGN.md and the others are listed, with defaults, in config.c and the
 * README.
 */
#define VMM_NAME_MAX 64

struct vmm_guest_cfg {
	char name[VMM_NAME_MAX]; /* instance name: section name + index */
	char section[VMM_NAME_MAX];
	unsigned count;	   /* instances of the section */
	unsigned instance; /* this guest's index within its section */
	uint64_t memory;   /* bytes */
	char backend[16];  /* soft */
	char paging[16];   /* nested */
	uint64_t shares;
	uint64_t min, max;  /* bytes; max defaults to memory */
	char workload[256]; /* seq|uniform|zipf */
	uint64_t accesses;  /* per process */
	uint64_t seed;	    /* instance i of a section gets seed + i */
	uint64_t wss;	    /* bytes */
	unsigned write_pct;
	double zipf_theta;
	char content[16];
	unsigned zero_pct, library_pct;
	unsigned procs;
	uint64_t timeslice;  /* accesses */
	char reclaim[16];    /* clock|lru|random */
	uint64_t guest_swap; /* bytes (kvm: the guest's zram swap) */
	unsigned line;	     /* line of the section header, for messages */
	bool paging_given;   /* paging was set explicitly */
	/* backend = kvm only */
	char kernel[512];  /* bzImage path (relative: to the config's folder) */
	char initrd[512];  /* initramfs path, idem */
	char cmdline[512]; /* appended to the kernel command line */
	unsigned vcpus;	   /* vCPUs (threads) */
	double timeout;	   /* seconds of wall time before the guest is failed */
	int pin_cpu;	   /* host CPU for its vCPU threads, -1: any */
};

struct vmm_host_cfg {
	uint64_t memory; /* budget, bytes */
	bool sharing, balloon;
	char swap_file[256];
	char guest_swap_dir[256];
	unsigned tlb_entries, tlb_ways, pwc_entries;
	double sample_ms; /* modeled milliseconds between samples */
	uint64_t quantum; /* accesses per scheduling quantum */
	uint64_t library_pages;
	uint64_t library_seed;
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
		    char *err, size_t errlen) VMM_MUST_CHECK;
void vmm_config_free(struct vmm_config *cfg);
/* Parse "4G", "512M", "4096", "64K" into bytes. 0 or -EINVAL. */
int vmm_parse_size(const char *s, uint64_t *out) VMM_MUST_CHECK;

/* ------------------------------------------------------------------------
 * Guests and vCPUs (vm.c, vcpu_soft.c)
 */
struct vm;
struct vcpu_exit {
	enum { VCPU_EXIT_QUANTUM, VCPU_EXIT_DONE, VCPU_EXIT_FAILED } reason;
	uint64_t accesses; /* completed in this run call */
};
struct vcpu_ops {
	const char *name;
	int (*create)(struct vm *vm);
	void (*destroy)(struct vm *vm);
	/* Run the guest for up to `budget` workload accesses. */
	int (*run)(struct vm *vm, uint64_t budget, struct vcpu_exit *x);
};
extern const struct vcpu_ops vcpu_soft_ops;
/* kvm (vcpu_kvm.c): create() builds the KVM VM from vm->cfg and loads its
 * kernel; run() starts it on the first call and never blocks: x->reason
 * is VCPU_EXIT_DONE once the guest ended (failed says how). */
extern const struct vcpu_ops vcpu_kvm_ops;
/* The backend called name ("soft"), or NULL. */
const struct vcpu_ops *vcpu_find(const char *name);

struct vm_sample; /* sampler.c */

struct vm {
	char name[VMM_NAME_MAX];
	const struct vmm_guest_cfg *cfg; /* borrowed from the config */
	const struct vcpu_ops *vcpu;
	struct mem_p2m *p2m;
	struct mmu mmu;
	struct guest_swap *gswap;
	struct guest_os *os;
	const struct vmm_cost *cost; /* borrowed */
	void *backend;		     /* the vCPU backend's state (kvm: kvm_vm) */
	uint64_t host_zero_fills;    /* frames populated on first touch */
	double cycles;		     /* modeled clock, cycles */
	uint64_t next_sample;	     /* index of the next sample period */
	bool done, failed, verified;
	char err[256];
};

/* Create guest `cfg` with its p2m in pool; NULL with err filled. */
struct vm *vm_create(const struct vmm_guest_cfg *cfg, struct mem_pool *pool,
		     struct guest_swap_store *store, const struct guest_library *lib,
		     const struct vmm_host_cfg *host, const struct vmm_cost *cost, char *err,
		     size_t errlen);
void vm_destroy(struct vm *vm);
/* Recompute vm->cycles from the counters; fill *c if not NULL. */
void vm_update_clock(struct vm *vm, struct vmm_cycles *c);
/* The VMM's exit handler the MMU calls (a table by reason). */
int vm_handle_exit(void *vm, const struct mmu_exit *x);

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
 *   balloon_actual,host_frames_used,host_rss_bytes
 * (pages are 4 KiB pages; time_ms is the guest's modeled clock; the
 * counters are cumulative; host_* are the host's at that sample.)
 *
 * guests.csv, one row per guest at the end:
 *   name,backend,paging,guest_pages,untouched,host_frames,pages_sharing,
 *   balloon_actual,host_swapped,accesses,tlb_misses,walk_refs,exits,
 *   guest_page_faults,guest_swap_outs,guest_swap_ins,cow_breaks,
 *   modeled_cycles,modeled_seconds,cycles_per_access,cycles_access,
 *   cycles_walk,cycles_exits,cycles_guest_os,cycles_swap_io,verified
 *
 * summary.json: see DESIGN.md and output.c.
 */

/* `memvisor kvm-mode [shadow|nested]` (kvm_mode.c): report the host's KVM
 * paging mode, or switch it by reloading kvm_amd / kvm_intel. Returns the
 * exit status (0, 1 when it cannot, 2 for a usage error). */
int vmm_kvm_mode(int argc, char **argv);

/* Write gnuplot figures and report.html into dir from its CSV and JSON
 * files. Returns 0, or -errno with err naming the file. */
int vmm_report(const char *dir, char *err, size_t errlen) VMM_MUST_CHECK;

#endif
