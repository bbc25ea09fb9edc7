/* SPDX-License-Identifier: MIT */
/*
 * The soft backend's guest: the p2m, the vCPU and its MMU, the guest OS,
 * the exit handlers and the modeled clock of one virtual machine.
 *
 * Exits from the MMU are plain calls into vm_handle_exit(), which counts
 * nothing itself (the MMU counts by reason) and dispatches through a table
 * of handlers. A handler returns 0 to let the access retry, or -errno to
 * fail this guest alone: its error is kept for the summary and the run's
 * exit status, and no other guest is touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/soft/soft.h"

/* A guest touched a frame it had given to the balloon: the device's record
 * and the p2m no longer agree, and a guest that does this breaks the
 * protocol. The device is reset (the balloon is lost, every frame the
 * guest's again), host swap reclaims from this guest from now on, and the
 * frame reads as zeros. */
static int vm_balloon_violation(struct vm *vm, gfn_t gfn)
{
	struct soft_vm *sv = soft_vm(vm);
	char why[160];

	snprintf(why, sizeof(why), "the guest touched gfn %llu while it was in the balloon",
		 (unsigned long long)gfn);
	if (!vm->rs.swap_instead) {
		vm->rs.swap_instead = true;
		snprintf(vm->rs.balloon_note, sizeof(vm->rs.balloon_note), "%s", why);
		fprintf(stderr, "guest %s: balloon: %s; device reset, host swapping from now on\n",
			vm->name, why);
	}
	if (sv->balloon)
		balloon_reset(sv->balloon->dev);
	if (mem_p2m_state(sv->p2m, gfn) == MEM_BALLOONED)
		return mem_p2m_set(sv->p2m, gfn, MEM_UNTOUCHED, 0, false);
	return 0;
}

/* One attempt at making gfn present; -ENOMEM when the pool is empty. */
static int vm_page_in_once(struct vm *vm, gfn_t gfn, unsigned acc)
{
	struct soft_vm *sv = soft_vm(vm);
	struct mem_p2m *p2m = sv->p2m;
	enum mem_page_state s = mem_p2m_state(p2m, gfn);
	hfn_t hfn;
	int r;

	/* a new frame for the guest: over its target, it pays with its own;
	 * and the pool keeps a reserve for the paging structures the mapping
	 * needs (EPT or shadow tables come from the pool too) */
	if (s != MEM_RESIDENT && (s != MEM_SHARED || (acc & MMU_WRITE))) {
		r = reclaim_charge(vm->rs.host, vm);
		if (!r)
			r = reclaim_reserve(vm->rs.host, vm);
		if (r)
			return r;
		s = mem_p2m_state(p2m, gfn); /* sharing may have merged it */
	}
	switch (s) {
	case MEM_BALLOONED:
		r = vm_balloon_violation(vm, gfn);
		if (r)
			return r;
		/* a zero page on first touch */
		__attribute__((fallthrough));
	case MEM_UNTOUCHED:
		if (vm->cfg->host_large && !mem_p2m_populate_huge(p2m, gfn, &hfn)) {
			sv->host_zero_fills += MEM_HUGE_PAGES;
			return 0;
		}
		r = mem_p2m_populate(p2m, gfn, &hfn);
		if (!r)
			sv->host_zero_fills++;
		return r;
	case MEM_RESIDENT:
		return 0; /* the translation was dropped; the mode refills it */
	case MEM_SHARED:
		/* a read maps the shared frame read-only; a write copies */
		if (!(acc & MMU_WRITE))
			return 0;
		return vm->share ? ksm_cow_break(vm->share, gfn) : -EINVAL;
	case MEM_SWAPPED:
		if (!p2m->swap)
			return -EINVAL;
		r = mem_swap_in(p2m->swap, p2m, gfn);
		if (!r)
			vm->rs.swap_ins++;
		return r;
	default:
		return -EINVAL;
	}
}

int vm_page_in(struct vm *vm, gfn_t gfn, unsigned acc)
{
	struct soft_vm *sv = soft_vm(vm);
	enum mem_page_state s;
	int r;

	if (gfn >= sv->p2m->pages) {
		snprintf(vm->err, sizeof(vm->err),
			 "guest %s: access to gfn %llu beyond its %llu pages", vm->name,
			 (unsigned long long)gfn, (unsigned long long)sv->p2m->pages);
		return -EFAULT;
	}
	for (;;) {
		int e;

		s = mem_p2m_state(sv->p2m, gfn);
		r = vm_page_in_once(vm, gfn, acc);
		if (r != -ENOMEM)
			break;
		/* an empty pool: the host reclaims (host swap), then again */
		e = reclaim_emergency(vm->rs.host, vm);
		if (e) {
			if (e != -ENOMEM)
				r = e; /* the swap failed: the run stops */
			break;
		}
	}
	if (!r)
		return 0;
	if (vm->rs.host && vm->rs.host->fatal)
		snprintf(vm->err, sizeof(vm->err), "guest %s: gfn %llu: %.400s", vm->name,
			 (unsigned long long)gfn, vm->rs.host->fatal_msg);
	else if (r == -ENOMEM)
		snprintf(vm->err, sizeof(vm->err),
			 "guest %s: host memory budget exhausted at gfn %llu (%s; %llu frames in "
			 "use%s)",
			 vm->name, (unsigned long long)gfn, mem_p2m_state_name(s),
			 (unsigned long long)sv->p2m->pool->used,
			 vm->rs.host && vm->rs.host->swap ? ", host swap freed nothing"
							  : ", no host swap");
	else if (s == MEM_SWAPPED && sv->p2m->swap)
		snprintf(vm->err, sizeof(vm->err), "guest %s: gfn %llu: %.400s", vm->name,
			 (unsigned long long)gfn, mem_swap_error(sv->p2m->swap));
	else if (s == MEM_SHARED)
		snprintf(vm->err, sizeof(vm->err),
			 "guest %s: gfn %llu is shared but the guest is not sharing", vm->name,
			 (unsigned long long)gfn);
	else
		snprintf(vm->err, sizeof(vm->err), "guest %s: gfn %llu in state %s: %s", vm->name,
			 (unsigned long long)gfn, mem_p2m_state_name(s), strerror(-r));
	return r;
}

/* EPT violation / #NPF, and under shadow paging a hidden fault or a PT
 * write: make the frame present (and writable for a write) in the p2m,
 * whatever took it away (sharing, host swap, the balloon). With host_large,
 * a first touch backs the gfn's whole 2 MiB block with a 2 MiB host run when
 * it can, so it can be mapped 2 MiB. */
static int handle_nested_fault(struct vm *vm, const struct mmu_exit *x)
{
	return vm_page_in(vm, x->gfn, x->acc);
}

/* CR3 write, INVLPG under shadow paging: the shadow MMU has done the work;
 * the exit is counted and costed. */
static int handle_shadow_sync(struct vm *vm, const struct mmu_exit *x)
{
	(void)vm;
	(void)x;
	return 0;
}

typedef int (*exit_handler)(struct vm *vm, const struct mmu_exit *x);
static const exit_handler exit_handlers[MMU_EXIT_NR] = {
    [MMU_EXIT_NESTED_FAULT] = handle_nested_fault, [MMU_EXIT_HIDDEN_FAULT] = handle_nested_fault,
    [MMU_EXIT_PT_WRITE] = handle_nested_fault,	   [MMU_EXIT_CR3_WRITE] = handle_shadow_sync,
    [MMU_EXIT_INVLPG] = handle_shadow_sync,
};

int vm_handle_exit(void *ctx, const struct mmu_exit *x)
{
	struct vm *vm = ctx;

	if ((unsigned)x->reason >= MMU_EXIT_NR || !exit_handlers[x->reason]) {
		snprintf(vm->err, sizeof(vm->err), "guest %s: unexpected exit %d", vm->name,
			 (int)x->reason);
		return -ENOSYS;
	}
	return exit_handlers[x->reason](vm, x);
}

void vm_update_clock(struct vm *vm, struct vmm_cycles *out)
{
	struct soft_vm *sv = soft_vm(vm);
	const struct vmm_cost *c = vm->cost;
	const struct mmu_stats *st = &sv->mmu.st;
	struct guest_stats gs;
	struct vmm_cycles y;

	if (sv->os)
		guest_os_stats(sv->os, &gs);
	else
		memset(&gs, 0, sizeof(gs)); /* booting: the guest OS is not there yet */
	y.access = (double)st->accesses * c->access;
	y.walk = (double)(st->walk_refs + st->phys_walk_refs) * c->walk_ref;
	y.exits = (double)sv->host_zero_fills * c->zero_page +
		  (double)ksm_guest_cow_breaks(vm->share) * c->copy_page;
	for (int r = 0; r < MMU_EXIT_NR; r++)
		y.exits += (double)st->exits[r] * c->exit[r];
	y.guest_os =
	    (double)gs.page_faults * c->guest_fault + (double)st->phys_accesses * c->phys_access;
	y.swap_io = (double)gs.swap_ins * c->swap_in + (double)gs.swap_outs * c->swap_out;
	y.host_swap = (double)vm->rs.swap_ins * c->host_swap_in;
	y.blocked = vm->rs.blocked_cycles;
	y.idle = sv->idle_cycles;
	y.total =
	    y.access + y.walk + y.exits + y.guest_os + y.swap_io + y.host_swap + y.blocked + y.idle;
	vm->cycles = y.total;
	if (out)
		*out = y;
}

/* The guest halted (HLT) for ns: its clock moves on, idle. */
static void vm_halt_ns(void *ctx, uint64_t ns)
{
	struct vm *vm = ctx;

	soft_vm(vm)->idle_cycles += (double)ns * vm->cost->ghz;
}

/* The guest's clock: its modeled time, ns. */
static uint64_t vm_clock_ns(void *ctx)
{
	struct vm *vm = ctx;

	vm_update_clock(vm, NULL);
	return (uint64_t)(vm->cycles / vm->cost->ghz);
}

/* What the soft guest's OS boots with: its memory, processes, swap, the
 * workload, and its balloon device when the host has balloons. 0, or
 * -EINVAL with err filled. */
static int guest_params(struct vm *vm, const struct vm_env *env, struct guest_params *gp, char *err,
			size_t errlen)
{
	struct soft_vm *sv = soft_vm(vm);
	const struct vmm_guest_cfg *c = vm->cfg;

	gp->name = vm->name;
	gp->pages = c->memory / MEM_PAGE_SIZE;
	gp->procs = c->procs;
	gp->timeslice = c->timeslice;
	gp->swap_pages = c->guest_swap / MEM_PAGE_SIZE;
	gp->seed = c->seed;
	gp->large = c->guest_large;
	gp->data_frames = c->data_frames;
	if (vmm_workload_is_trace(c->workload)) {
		if (vm_traces_open(vm, c, gp, err, errlen))
			return -EINVAL;
	} else if (guest_pattern_parse(c->workload, &gp->wl.pattern)) {
		snprintf(err, errlen, "guest %s: bad workload", c->name);
		return -EINVAL;
	}
	if (guest_reclaim_parse(c->reclaim, &gp->reclaim) ||
	    guest_content_parse(c->content, &gp->wl.content)) {
		snprintf(err, errlen, "guest %s: bad reclaim or content", c->name);
		return -EINVAL;
	}
	gp->wl.wss_pages = c->wss / MEM_PAGE_SIZE;
	gp->wl.accesses = c->accesses;
	gp->wl.write_pct = c->write_pct;
	gp->wl.zipf_theta = c->zipf_theta;
	gp->wl.zero_pct = c->zero_pct;
	gp->wl.library_pct = c->library_pct;
	gp->wl.lib = env->lib;
	gp->wl.stride = c->sparse_stride;
	gp->wl.region = c->churn_region / MEM_PAGE_SIZE;
	gp->wl.unmap_pm = c->churn_unmap_pm;
	gp->wl.life = c->churn_life;
	gp->wl.nsteps = c->nsteps;
	gp->wl.step_accesses = c->step_accesses;
	gp->wl.step_ns = (uint64_t)(c->step_ms * 1e6);
	gp->clock_ns = vm_clock_ns;
	gp->halt_ns = vm_halt_ns;
	gp->clock_ctx = vm;
	for (unsigned i = 0; i < c->nsteps; i++)
		gp->wl.steps[i] = c->steps[i] / MEM_PAGE_SIZE;
	if (env->host->balloon) {
		if (guest_balloon_mode_parse(c->balloon_driver, &gp->balloon_mode)) {
			snprintf(err, errlen, "guest %s: bad balloon_driver", c->name);
			return -EINVAL;
		}
		sv->balloon = vm_balloon_create(vm, env->host);
		if (!sv->balloon) {
			snprintf(err, errlen, "guest %s: balloon device: %s", c->name,
				 strerror(errno));
			return -EINVAL;
		}
		gp->balloon = &vm_balloon_dev_ops;
		gp->balloon_ctx = sv->balloon;
	}
	return 0;
}

/* Its vCPU's MMU, from the host's TLB and cache sizes, in the paging mode
 * its policy starts with, and the policy. 0, or -1 with err filled (and
 * nothing left to undo). */
static int soft_mmu_init(struct vm *vm, const struct vmm_host_cfg *host, char *err, size_t errlen)
{
	struct soft_vm *sv = soft_vm(vm);
	struct mmu_config mc = {.tlb_entries = host->tlb_entries,
				.tlb_ways = host->tlb_ways,
				.pwc_entries = host->pwc_entries,
				.shadow_roots = host->shadow_roots};
	int r = mmu_init(&sv->mmu, sv->p2m, vm_paging_initial(vm->cfg), &mc, vm_handle_exit, vm);

	if (r) {
		snprintf(err, errlen, "guest %s: mmu: %s", vm->name, strerror(-r));
		return -1;
	}
	if (vm_paging_init(vm)) {
		snprintf(err, errlen, "guest %s: out of memory", vm->name);
		mmu_fini(&sv->mmu);
		return -1;
	}
	return 0;
}

/* The soft backend's guest: p2m, reclamation, MMU and paging policy, swap
 * disk, workload and devices, then its guest OS boots. */
int soft_create(struct vm *vm, const struct vm_env *env, char *err, size_t errlen)
{
	const struct vmm_guest_cfg *cfg = vm->cfg;
	const struct vmm_host_cfg *host = env->host;
	struct guest_params gp = {0};
	const char *why = NULL;
	struct soft_vm *sv = calloc(1, sizeof(*sv));

	if (!sv) {
		snprintf(err, errlen, "guest %s: out of memory", cfg->name);
		return -ENOMEM;
	}
	vm->backend = sv;
	sv->p2m = mem_p2m_create(env->pool, cfg->memory / MEM_PAGE_SIZE);
	if (!sv->p2m) {
		snprintf(err, errlen, "guest %s: p2m: %s", cfg->name, strerror(errno));
		free(sv);
		vm->backend = NULL;
		return -ENOMEM;
	}
	if (env->rc && reclaim_attach(env->rc, vm)) {
		snprintf(err, errlen, "guest %s: working-set sampler: %s", cfg->name,
			 strerror(errno));
		goto err_p2m;
	}
	if (soft_mmu_init(vm, host, err, errlen))
		goto err_p2m;
	sv->store = env->store;
	sv->gswap = guest_swap_create(env->store, cfg->guest_swap / MEM_PAGE_SIZE);
	if (!sv->gswap) {
		snprintf(err, errlen, "guest %s: guest swap: %s", cfg->name, strerror(errno));
		goto err_mmu;
	}
	if (guest_params(vm, env, &gp, err, errlen))
		goto err_swap;
	sv->gp = gp;
	sv->os = guest_os_create(&sv->mmu, sv->gswap, &gp, &why);
	if (!sv->os) {
		if (why)
			snprintf(err, errlen, "guest %s: cannot boot: %s", cfg->name, why);
		else if (vm->err[0])
			snprintf(err, errlen, "%s", vm->err);
		else
			snprintf(err, errlen, "guest %s: cannot boot: %s", cfg->name,
				 strerror(errno));
		goto err_swap;
	}
	vm_update_clock(vm, NULL);
	if (env->ksm && cfg->sharing) {
		vm->share = ksm_guest_add(env->ksm, sv->p2m, cfg->scan_rate);
		if (!vm->share) {
			snprintf(err, errlen, "guest %s: page sharing: %s", vm->name,
				 strerror(errno));
			soft_destroy(vm);
			return -ENOMEM;
		}
	}
	return 0;

err_swap:
	vm_traces_close(vm);
	vm_balloon_destroy(sv->balloon);
	guest_swap_destroy(sv->gswap);
err_mmu:
	vm_paging_fini(vm);
	mmu_fini(&sv->mmu);
err_p2m:
	reclaim_detach(vm);
	mem_p2m_destroy(sv->p2m);
	free(sv);
	vm->backend = NULL;
	return -EINVAL;
}

void soft_destroy(struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);

	guest_os_destroy(sv->os);
	vm_traces_close(vm);
	vm_balloon_destroy(sv->balloon);
	guest_swap_destroy(sv->gswap);
	vm_paging_fini(vm);
	mmu_fini(&sv->mmu);
	reclaim_detach(vm);
	/* its shared references, before the p2m that names them goes */
	ksm_guest_remove(vm->share);
	mem_p2m_destroy(sv->p2m);
	free(vm->backend);
	vm->backend = NULL;
}

int vm_reboot(struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	const char *why = NULL;

	/* the old kernel and its processes are gone; memory stays as it is,
	 * and the new kernel's driver resets the balloon device as it boots */
	guest_os_destroy(sv->os);
	sv->os = NULL;
	/* its swap disk: the old kernel's swapped pages mean nothing now */
	guest_swap_destroy(sv->gswap);
	sv->gswap = guest_swap_create(sv->store, sv->gp.swap_pages);
	if (!sv->gswap) {
		snprintf(vm->err, sizeof(vm->err), "guest %s: cannot reboot: guest swap: %s",
			 vm->name, strerror(errno));
		return -ENOMEM;
	}
	sv->os = guest_os_create(&sv->mmu, sv->gswap, &sv->gp, &why);
	if (!sv->os) {
		if (!vm->err[0])
			snprintf(vm->err, sizeof(vm->err), "guest %s: cannot reboot: %s", vm->name,
				 why ? why : strerror(errno));
		return -EIO;
	}
	sv->reboots++;
	return 0;
}
