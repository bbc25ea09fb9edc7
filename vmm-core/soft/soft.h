/* SPDX-License-Identifier: MIT */
/*
 * soft: the soft backend's own header, for soft/ and the tests of its
 * guests. A soft guest is a struct vm whose backend state (vm->backend) is
 * a struct soft_vm: the p2m of its memory, the software vCPU's MMU, the
 * guest OS running in-process, its swap disk, devices and paging policy.
 * Nothing outside soft/ reaches into it: the runner, the policy tick and
 * the output files go through backend_soft (run_internal.h).
 */
#ifndef VMM_CORE_SOFT_H
#define VMM_CORE_SOFT_H

#include <stdio.h>

#include "balloon-driver/balloon.h"
#include "vmm-core/core/reclaim_internal.h"
#include "vmm-core/core/run_internal.h"
#include "vmm-core/core/vmm_internal.h"

/*
 * Paging policy of one guest (paging_policy.c): the mode it runs, scheduled
 * toggles between nested and shadow, and the dynamic policy, which watches
 * the modeled cost of TLB misses against page-table-update and fault exits
 * over windows of modeled time and switches with hysteresis. Every switch
 * is an event.
 */
struct vm_paging_event {
	double time_ms;	   /* the guest's modeled clock at the switch */
	uint64_t accesses; /* workload accesses done by then */
	const char *from;  /* mode names (static) */
	const char *to;
	const char *why;    /* "schedule", "every", "dynamic" (static) */
	double cost, other; /* dynamic: paging cycles per access observed in
			       the last window, and estimated for the other */
};

struct vm_paging {
	bool dynamic;
	uint64_t next_every;	   /* accesses at the next `every` toggle, or 0 */
	unsigned next_at;	   /* index of the next switch_at */
	uint64_t accesses;	   /* workload accesses seen so far */
	uint64_t mode_accesses[2]; /* accesses run under nested, shadow */
	/* dynamic: the window under way */
	double win_start;	 /* modeled cycles */
	struct mmu_stats win_st; /* the MMU's counters at its start */
	unsigned agree;		 /* windows in a row that favoured a switch */
	unsigned since;		 /* windows since the last switch */
	double nested_refs;	 /* learned: walk refs per TLB miss, nested */
	double shadow_refs;	 /* learned: walk refs per TLB miss, shadow */
	double shadow_fault;	 /* learned: shadow exit cycles per guest fault */
	uint64_t windows;	 /* windows evaluated */
	struct vm_paging_event *ev;
	unsigned nev, cap;
};

/* A soft guest's state, behind vm->backend. */
struct soft_vm {
	struct mem_p2m *p2m;
	struct mmu mmu;
	struct guest_swap *gswap;
	struct guest_os *os;
	struct vm_traces *traces;   /* a trace workload's open files, or NULL */
	struct vm_balloon *balloon; /* the balloon device, or NULL */
	struct vm_paging pg;
	struct guest_params gp;		/* what the guest OS booted with */
	struct guest_swap_store *store; /* borrowed: where its swap area lives */
	uint64_t host_zero_fills;	/* frames populated on first touch */
	unsigned reboots;
	double idle_cycles; /* modeled time halted (HLT) */
};

static inline struct soft_vm *soft_vm(const struct vm *vm)
{
	return (struct soft_vm *)vm->backend;
}

/*
 * Reboot the guest: its OS and workload start over on the same memory and
 * the same devices, as after a reset. The new kernel resets the balloon
 * device, which loses the balloon: every ballooned frame is the guest's
 * again (untouched: zeros). Returns 0, or -errno with vm->err set.
 */
int vm_reboot(struct vm *vm) MUST_CHECK;
/*
 * Make gfn present for an access of kind acc (MMU_WRITE: writable): first
 * touch, host swap-in, copy-on-write, and a touch of a ballooned frame
 * (which the device then loses). When the pool is empty the host reclaims
 * first. Returns 0, or -errno with vm->err set.
 */
int vm_page_in(struct vm *vm, gfn_t gfn, unsigned acc) MUST_CHECK;
/* Recompute vm->cycles from the counters; fill *c if not NULL. */
void vm_update_clock(struct vm *vm, struct vmm_cycles *c);
/* The VMM's exit handler the MMU calls (a table by reason). */
int vm_handle_exit(void *vm, const struct mmu_exit *x);

/* Paging policy (paging_policy.c). */
/* The mode a guest starts in under its config's policy ("nested" for
 * dynamic), or NULL for an unknown policy. */
const struct paging_ops *vm_paging_initial(const struct vmm_guest_cfg *cfg);
/* Set up vm->pg after the MMU. 0 or -ENOMEM. */
int vm_paging_init(struct vm *vm) MUST_CHECK;
void vm_paging_fini(struct vm *vm);
/* How many of `budget` accesses may run before the policy must look. */
uint64_t vm_paging_budget(const struct vm *vm, uint64_t budget);
/* `done` more accesses ran: apply the schedule and the dynamic policy,
 * switching modes (and recording the event) when due. 0, or -errno with
 * vm->err set when a switch failed and the guest cannot go on. */
int vm_paging_tick(struct vm *vm, uint64_t done) MUST_CHECK;

/* ------------------------------------------------------------------------
 * The soft backend's balloon (balloon_soft.c): the transport-neutral device
 * of balloon-driver/ behind legacy virtio-PCI registers that the soft
 * guest's driver reads and writes (each access an MMU_EXIT_BALLOON exit),
 * with the device's memory operations done on the guest's p2m.
 */
struct vm_balloon {
	struct balloon *dev;
	struct vm *vm; /* borrowed: its owner */
	uint16_t sel;  /* QUEUE_SEL */
	uint8_t isr;   /* pending interrupt causes, cleared by a read */
	uint32_t guest_features;
	bool fixed;	   /* the config fixed the target: the policy leaves it */
	hfn_t *frames;	   /* BALLOON_MAX_BATCH frames a discard frees at once */
	uint64_t unusual;  /* reclaims of frames that were not BALLOONED */
	uint64_t pio;	   /* register accesses (exits) */
	uint64_t rejected; /* rejected batches already reported */
};

/* The guest's window on its device, handed to the guest OS. */
extern const struct guest_dev_ops vm_balloon_dev_ops;

/* The balloon of vm, per the host's config: created before the guest boots
 * (its driver probes the device then). NULL with errno set. */
struct vm_balloon *vm_balloon_create(struct vm *vm, const struct vmm_host_cfg *h);
void vm_balloon_destroy(struct vm_balloon *b);
/* Can the policy reclaim through this balloon: its driver is up (DRIVER_OK)
 * and it has never broken the protocol? Sets why (static or b's) if not. */
bool vm_balloon_usable(const struct vm *vm, const char **why);

/* ------------------------------------------------------------------------
 * The soft guests' side of host reclamation (reclaim_soft.c): what the
 * policy tick asks of the soft backend, and host swap of the pool's frames.
 */
/* A guest joins (after vm_create): its sampler, its swap, the victim
 * cursor. 0 or -errno. The guest list is rc->vms (set by the runner). */
int reclaim_attach(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* The guest leaves: sampler disarmed and freed. Before vm_destroy. */
void reclaim_detach(struct vm *vm);
/*
 * The pool is empty and vm needs a frame (a fault, a copy-on-write break,
 * the device writing guest memory): swap out frames of the guest furthest
 * above its target (vm itself if none is), sharing first. 0 when frames
 * were freed; -ENOMEM without host swap or with nothing to take; the swap
 * file's -errno when it failed (rc->fatal is then set, the run stops).
 */
int reclaim_emergency(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* vm is about to take a frame (a fault). In the hard and low states (the
 * soft one too when its balloon cannot reclaim), a guest at or above its
 * target swaps one of its own pages out first. 0, or the swap's -errno
 * (fatal). */
int reclaim_charge(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* Keep RECLAIM_RESERVE frames free for the VMM's own structures (paging
 * tables, shared frames): below that, reclaim as in an emergency first. 0,
 * or the swap's -errno (fatal); without swap nothing happens. */
int reclaim_reserve(struct vmm_reclaim *rc, struct vm *vm) MUST_CHECK;
/* After each of a soft vm's quanta, on its clock: working-set periods, the
 * balloon's rate-limited target movement (the soft backend's tick). */
void reclaim_guest_tick(struct vmm_reclaim *rc, struct vm *vm);
/* The backend's policy figures and reclaim (backend_ops). */
uint64_t soft_held(struct vm *vm);
bool soft_policy_in(struct vm *vm, struct mem_policy_guest *g);
bool soft_balloon(struct vmm_reclaim *rc, struct vm *vm, enum mem_rstate st, uint64_t alloc);
/* Host swap of up to want of vm's frames (sharing first), the policy's
 * step 5. 0, or the swap's -errno (fatal, rc->fatal set). */
int soft_swap(struct vmm_reclaim *rc, struct vm *vm, uint64_t want);

/* ------------------------------------------------------------------------
 * Its guests (vm_soft.c), traces (vm_trace.c) and output (output_soft.c,
 * output_policy.c).
 */
int soft_create(struct vm *vm, const struct vm_env *env, char *err, size_t errlen);
void soft_destroy(struct vm *vm);
int soft_finish(struct vm *vm, struct run_host *h);
void soft_sample(struct out_row *r, struct vm *vm, const struct run_host *h);
void soft_result(struct out_row *r, struct vm *vm, const struct run_host *h);
void soft_json(struct out_row *r, struct vm *vm, const struct run_host *h);
void soft_json_host(struct out_row *r, struct vm **vms, unsigned n, const struct run_host *h);
void soft_events(FILE *f, struct vm *vm);
/* Open the traces of cfg's workload for vm (vm->traces) and point gp's
 * trace processes at them. 0 or -errno with err naming the file. */
int vm_traces_open(struct vm *vm, const struct vmm_guest_cfg *cfg, struct guest_params *gp,
		   char *err, size_t errlen) MUST_CHECK;
/* Close vm->traces (NULL is fine). After the guest OS is destroyed. */
void vm_traces_close(struct vm *vm);

/* The memory policy's part of each file (output_policy.c). */
uint64_t output_balloon_target(const struct vm *vm);
struct out_row;
void output_policy_ts_fill(struct out_row *r, const struct vm *vm);
void output_policy_guests_fill(struct out_row *r, const struct vm *vm,
			       const struct vmm_cycles *cyc);
void output_policy_json_guest(struct out_row *r, const struct vm *vm);

/* Write vm's physical memory as DIR/NAME.mem (sparse) and its page-table
 * roots as DIR/NAME.roots. 0 or -errno. */
int output_dump(const char *dir, struct vm *vm);

#endif
