/* SPDX-License-Identifier: MIT */
/*
 * The soft backend: the guest OS runs in-process, and every access it and
 * its workloads make goes through the software MMU (mem/mmu.c), whose
 * exits call the VMM's handlers directly (vm.c). Its clock is modeled
 * (cost.c), so a run is deterministic for a given seed. The host side is
 * a frame pool of the budget's size, the guests' swap store, the library
 * image and, with [host] sharing, the page-sharing table.
 */
#include <errno.h>
#include <string.h>

#include "vmm-core/soft/soft.h"

/* Run in chunks the paging policy allows, so that a scheduled switch lands
 * on its access; return early after a switch so the runner samples it. */
static int soft_run(struct vm *vm, uint64_t budget, struct vcpu_exit *x)
{
	struct soft_vm *sv = soft_vm(vm);
	uint64_t total = 0;
	int r = 0;

	while (total < budget && !guest_os_done(sv->os) && !vm->sample_now) {
		uint64_t done = 0;

		r = guest_os_run(sv->os, vm_paging_budget(vm, budget - total), &done);
		total += done;
		if (r < 0)
			break;
		r = vm_paging_tick(vm, done);
		if (r < 0 || !done)
			break; /* nothing done: the guest halted (HLT exits) */
	}
	x->accesses = total;
	vm_update_clock(vm, NULL);
	if (r < 0) {
		x->reason = VCPU_EXIT_FAILED;
		/* the exit handler may have said why already */
		if (!vm->err[0])
			snprintf(vm->err, sizeof(vm->err), "%s", guest_os_error(sv->os));
		return r;
	}
	x->reason = guest_os_done(sv->os) ? VCPU_EXIT_DONE : VCPU_EXIT_QUANTUM;
	return 0;
}

static int soft_host_init(struct run_host *rh)
{
	const struct vmm_host_cfg *h = &rh->cfg->host;

	rh->pool = mem_pool_create(h->memory / MEM_PAGE_SIZE);
	if (!rh->pool) {
		fprintf(stderr, "host: cannot reserve %llu bytes: %s\n",
			(unsigned long long)h->memory, strerror(errno));
		return -1;
	}
	rh->store = guest_swap_store_create(h->guest_swap_dir[0] ? h->guest_swap_dir : NULL);
	if (!rh->store) {
		fprintf(stderr, "guest swap store in %s: %s\n",
			h->guest_swap_dir[0] ? h->guest_swap_dir : "$TMPDIR", strerror(errno));
		return -1;
	}
	rh->lib = guest_library_create(h->library_pages, h->library_seed);
	if (!rh->lib) {
		fprintf(stderr, "library image: %s\n", strerror(errno));
		return -1;
	}
	if (h->sharing) {
		struct ksm_params kp = {.host_rate = h->scan_rate,
					.batch = h->scan_batch,
					.seed = rh->cfg->guests[0].seed};

		if (ksm_order_parse(h->scan_order, &kp.order))
			return -1; /* validated with the config */
		rh->ksm = ksm_create(rh->pool, &kp);
		if (!rh->ksm) {
			fprintf(stderr, "page sharing: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* After every guest and the host swap file are gone. */
static void soft_host_fini(struct run_host *rh)
{
	ksm_destroy(rh->ksm); /* after every guest let go of its pages */
	if (rh->lib)
		guest_library_destroy(rh->lib);
	if (rh->store)
		guest_swap_store_destroy(rh->store);
	if (rh->pool)
		mem_pool_destroy(rh->pool);
}

int soft_finish(struct vm *vm, struct run_host *h)
{
	struct soft_vm *sv = soft_vm(vm);
	const struct vmm_run_opts *o = h->o;
	int status = 0, r;
	char msg[512];

	if (vm->failed) {
		status = 1;
		/* after a host swap failure the pages of a guest that could not
		 * go on are checked too: none may be lost */
		if (!h->rc->fatal || !o->verify || !sv->os)
			return status;
	}
	if (sv->balloon && !vm->rs.swap_instead) {
		struct balloon_counters c;

		balloon_counters(sv->balloon->dev, &c);
		if (c.actual != sv->p2m->count[MEM_BALLOONED]) {
			fprintf(stderr, "guest %s: balloon device says %llu pages, the p2m %llu\n",
				vm->name, (unsigned long long)c.actual,
				(unsigned long long)sv->p2m->count[MEM_BALLOONED]);
			status = 1;
		}
	}
	if (mem_p2m_check(sv->p2m)) {
		fprintf(stderr, "guest %s: p2m inconsistent at the end of the run\n", vm->name);
		status = 1;
	}
	if (o->verify) {
		vm->verified = guest_os_verify(sv->os, msg, sizeof(msg)) == 0;
		vm->verify_ran = true;
		if (!vm->verified) {
			fprintf(stderr, "verify: %s\n", msg);
			status = 1;
		}
	}
	if (o->dump_dir) {
		r = output_mkdir_p(o->dump_dir);
		if (!r)
			r = output_dump(o->dump_dir, vm);
		if (r) {
			fprintf(stderr, "dump %s: guest %s: %s\n", o->dump_dir, vm->name,
				strerror(-r));
			status = 1;
		}
	}
	return status;
}

static void soft_clock(struct vm *vm)
{
	vm_update_clock(vm, NULL);
}

const struct backend_ops backend_soft = {
    .name = "soft",
    .wall_clock = false,
    .can_block = true,
    .host_init = soft_host_init,
    .host_fini = soft_host_fini,
    .create = soft_create,
    .destroy = soft_destroy,
    .run = soft_run,
    .tick = reclaim_guest_tick,
    .held = soft_held,
    .policy_in = soft_policy_in,
    .balloon = soft_balloon,
    .swap = soft_swap,
    .clock = soft_clock,
    .sample = soft_sample,
    .finish = soft_finish,
    .events = soft_events,
    .result = soft_result,
    .json = soft_json,
    .json_host = soft_json_host,
};
