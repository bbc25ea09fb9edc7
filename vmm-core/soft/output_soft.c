/* SPDX-License-Identifier: MIT */
/*
 * The soft backend's output: its rows of timeseries.csv and guests.csv, its
 * objects in summary.json (the guest's and the host's), and memory dumps.
 * The files and their columns are out/'s; this fills them from the p2m,
 * the MMU's counters, the guest OS's statistics and the modeled clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm-core/out/columns.h"
#include "vmm-core/soft/soft.h"

struct vm_counts {
	struct guest_stats gs;
	struct vmm_cycles cyc;
	uint64_t exits;
};

static void vm_counts(struct vm *vm, struct vm_counts *c)
{
	struct soft_vm *sv = soft_vm(vm);

	guest_os_stats(sv->os, &c->gs);
	vm_update_clock(vm, &c->cyc);
	c->exits = 0;
	for (int r = 0; r < MMU_EXIT_NR; r++)
		c->exits += sv->mmu.st.exits[r];
}

/* A soft guest's timeseries.csv row; the runner adds the host's columns. */
void soft_sample(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct soft_vm *sv = soft_vm(vm);
	const uint64_t *n = sv->p2m->count;
	struct vm_counts c;

	vm_counts(vm, &c);
	/* the p2m invariant, at every sample */
	if (n[MEM_UNTOUCHED] + n[MEM_RESIDENT] + n[MEM_SHARED] + n[MEM_BALLOONED] +
		n[MEM_SWAPPED] !=
	    sv->p2m->pages) {
		fprintf(stderr, "BUG: guest %s: p2m states do not add up to its pages\n", vm->name);
		abort();
	}
	out_d(r, TS_time_ms, c.cyc.total / vm->cost->ghz / 1e6);
	out_s(r, TS_guest, vm->name);
	out_u(r, TS_accesses, c.gs.accesses);
	out_u(r, TS_untouched, n[MEM_UNTOUCHED]);
	out_u(r, TS_resident, n[MEM_RESIDENT]);
	out_u(r, TS_shared, n[MEM_SHARED]);
	out_u(r, TS_ballooned, n[MEM_BALLOONED]);
	out_u(r, TS_swapped, n[MEM_SWAPPED]);
	out_u(r, TS_guest_free, c.gs.frames_free);
	out_u(r, TS_guest_page_faults, c.gs.page_faults);
	out_u(r, TS_guest_swap_outs, c.gs.swap_outs);
	out_u(r, TS_guest_swap_ins, c.gs.swap_ins);
	out_u(r, TS_tlb_misses, sv->mmu.st.tlb_misses);
	out_u(r, TS_walk_refs, sv->mmu.st.walk_refs);
	out_u(r, TS_exits, c.exits);
	out_d(r, TS_modeled_cycles, c.cyc.total);
	out_u(r, TS_balloon_target, output_balloon_target(vm));
	out_u(r, TS_balloon_actual, n[MEM_BALLOONED]);
	out_u(r, TS_host_free_pages, h->pool->frames - h->pool->used);
	out_s(r, TS_paging, sv->mmu.ops->name);
	out_u(r, TS_mode_switches, sv->pg.nev);
	output_policy_ts_fill(r, vm);
}

static const char *verified_word(const struct vm *vm, bool verify)
{
	if (!verify || !vm->verify_ran)
		return "";
	return vm->verified ? "yes" : "no";
}

/* A soft guest's guests.csv row. */
void soft_result(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct soft_vm *sv = soft_vm(vm);
	const uint64_t *s = sv->p2m->count;
	struct vm_counts c;

	vm_counts(vm, &c);
	out_row_g(r);
	out_s(r, G_name, vm->name);
	out_s(r, G_backend, vm_backend_name(vm));
	out_s(r, G_paging, vm->cfg->paging);
	out_u(r, G_guest_pages, sv->p2m->pages);
	out_u(r, G_untouched, s[MEM_UNTOUCHED]);
	out_u(r, G_host_frames, s[MEM_RESIDENT]);
	out_u(r, G_pages_sharing, s[MEM_SHARED]);
	out_u(r, G_balloon_actual, s[MEM_BALLOONED]);
	out_u(r, G_host_swapped, s[MEM_SWAPPED]);
	out_u(r, G_accesses, c.gs.accesses);
	out_u(r, G_tlb_misses, sv->mmu.st.tlb_misses);
	out_u(r, G_walk_refs, sv->mmu.st.walk_refs);
	out_u(r, G_exits, c.exits);
	out_u(r, G_guest_page_faults, c.gs.page_faults);
	out_u(r, G_guest_swap_outs, c.gs.swap_outs);
	out_u(r, G_guest_swap_ins, c.gs.swap_ins);
	out_u(r, G_cow_breaks, ksm_guest_cow_breaks(vm->share));
	out_d(r, G_modeled_cycles, c.cyc.total);
	out_d(r, G_modeled_seconds, c.cyc.total / vm->cost->ghz / 1e9);
	out_d(r, G_cycles_per_access, c.gs.accesses ? c.cyc.total / (double)c.gs.accesses : 0.0);
	out_d(r, G_cycles_access, c.cyc.access);
	out_d(r, G_cycles_walk, c.cyc.walk);
	out_d(r, G_cycles_exits, c.cyc.exits);
	out_d(r, G_cycles_guest_os, c.cyc.guest_os);
	out_d(r, G_cycles_swap_io, c.cyc.swap_io);
	out_s(r, G_verified, verified_word(vm, h->verify));
	out_s(r, G_paging_final, sv->mmu.ops->name);
	out_u(r, G_mode_switches, sv->pg.nev);
	for (int x = MMU_EXIT_NESTED_FAULT; x <= MMU_EXIT_MODE_SWITCH; x++)
		out_u(r, G_exits_nested_fault + (unsigned)(x - MMU_EXIT_NESTED_FAULT),
		      sv->mmu.st.exits[x]);
	out_u(r, G_shadow_accesses, sv->pg.mode_accesses[1]);
	output_policy_guests_fill(r, vm, &c.cyc);
}

/* A soft guest's MMU: its accesses, TLB and walks, paging modes, exits. */
static void json_mmu(struct out_row *r, const struct vm *vm, uint64_t accesses)
{
	struct soft_vm *sv = soft_vm(vm);
	const struct mmu_stats *st = &sv->mmu.st;

	out_u(r, JG_accesses, accesses);
	out_u(r, JG_tlb_misses, st->tlb_misses);
	out_u(r, JG_walk_refs, st->walk_refs);
	out_u(r, JG_pwc_hits, st->pwc_hits);
	out_u(r, JG_phys_accesses, st->phys_accesses);
	out_u(r, JG_phys_walk_refs, st->phys_walk_refs);
	out_u(r, JG_mode_switches, sv->pg.nev);
	out_u(r, JG_nested_accesses, sv->pg.mode_accesses[0]);
	out_u(r, JG_shadow_accesses, sv->pg.mode_accesses[1]);
	out_u(r, JG_cr3_loads, st->cr3_loads);
	out_u(r, JG_invlpgs, st->invlpgs);
	out_u(r, JG_emulated, st->emulated);
	out_u(r, JG_large_splits, st->splits);
	for (unsigned x = 0; x < MMU_EXIT_NR; x++) {
		const char *name = mmu_exit_name((enum mmu_exit_reason)x);
		int e = out_find(r, "exits", name), y = out_find(r, "exit_cycles", name);

		if (e >= 0)
			out_u(r, (unsigned)e, st->exits[x]);
		if (y >= 0)
			out_d(r, (unsigned)y, (double)st->exits[x] * vm->cost->exit[x]);
	}
}

/* The guest OS's counters. */
static void json_guest_os(struct out_row *r, const struct guest_stats *gs)
{
	out_u(r, JG_guest_page_faults, gs->page_faults);
	out_u(r, JG_guest_zero_fills, gs->zero_fills);
	out_u(r, JG_guest_swap_outs, gs->swap_outs);
	out_u(r, JG_guest_swap_ins, gs->swap_ins);
	out_u(r, JG_guest_ctx_switches, gs->ctx_switches);
	out_u(r, JG_guest_pt_stores, gs->pt_stores);
	out_u(r, JG_guest_huge_faults, gs->huge_faults);
	out_u(r, JG_guest_huge_splits, gs->huge_splits);
	out_u(r, JG_guest_unmaps, gs->unmaps);
	out_u(r, JG_guest_exits, gs->exits);
	out_u(r, JG_guest_frames_free, gs->frames_free);
	out_u(r, JG_guest_frames_kernel, gs->frames_kernel);
	out_u(r, JG_guest_frames_pt, gs->frames_pt);
	out_u(r, JG_guest_frames_user, gs->frames_user);
}

void soft_json(struct out_row *r, struct vm *vm, const struct run_host *h)
{
	struct soft_vm *sv = soft_vm(vm);
	const uint64_t *s = sv->p2m->count;
	struct ksm_guest_stats ks = {0};
	const struct vmm_cycles *y;
	struct vm_counts c;

	(void)h;
	vm_counts(vm, &c);
	y = &c.cyc;
	if (vm->share)
		ksm_guest_stats(vm->share, &ks);
	out_s(r, JG_paging, vm->cfg->paging);
	out_s(r, JG_paging_final, sv->mmu.ops->name);
	out_u(r, JG_guest_pages, sv->p2m->pages);
	out_u(r, JG_untouched, s[MEM_UNTOUCHED]);
	out_u(r, JG_host_frames, s[MEM_RESIDENT]);
	out_u(r, JG_pages_sharing, s[MEM_SHARED]);
	out_u(r, JG_balloon_target, output_balloon_target(vm));
	out_u(r, JG_balloon_actual, s[MEM_BALLOONED]);
	out_u(r, JG_host_swapped, s[MEM_SWAPPED]);
	out_u(r, JG_cow_breaks, ks.cow_breaks);
	out_b(r, JG_sharing, vm->share != NULL);
	out_u(r, JG_pages_scanned, ks.pages_scanned);
	out_u(r, JG_pages_volatile, ks.pages_volatile);
	out_u(r, JG_pages_merged, ks.merges);
	out_u(r, JG_full_scans, ks.full_scans);
	json_mmu(r, vm, c.gs.accesses);
	json_guest_os(r, &c.gs);
	out_u(r, JG_host_zero_fills, sv->host_zero_fills);
	out_u(r, JG_vmm_frames, sv->mmu.mode_frames);
	output_policy_json_guest(r, vm);
	out_d(r, JG_modeled_cycles, y->total);
	out_d(r, JG_modeled_seconds, y->total / vm->cost->ghz / 1e9);
	out_d(r, JG_cycles_access, y->access);
	out_d(r, JG_cycles_walk, y->walk);
	out_d(r, JG_cycles_exits, y->exits);
	out_d(r, JG_cycles_guest_os, y->guest_os);
	out_d(r, JG_cycles_swap_io, y->swap_io);
	out_d(r, JG_cycles_host_swap, y->host_swap);
	out_d(r, JG_cycles_blocked, y->blocked);
	out_d(r, JG_cycles_idle, y->idle);
}

/* The soft host's part of summary.json: its pool, sharing, swap. */
void soft_json_host(struct out_row *r, struct vm **vms, unsigned n, const struct run_host *h)
{
	const struct vmm_config *cfg = h->cfg;
	uint64_t vmm_frames = 0;
	double modeled = 0;

	for (unsigned i = 0; i < n; i++) {
		double s = vms[i]->cycles / cfg->cost.ghz / 1e9;

		modeled = s > modeled ? s : modeled;
		vmm_frames += soft_vm(vms[i])->mmu.mode_frames;
	}
	out_u(r, JH_frames_used, h->pool->used);
	out_u(r, JH_peak_frames, h->pool->peak);
	out_u(r, JH_vmm_frames, vmm_frames);
	out_u(r, JH_pool_resident_frames, mem_pool_resident(h->pool));
	out_u(r, JH_guest_swap_bytes, guest_swap_store_bytes(h->store));
	out_d(r, JH_modeled_seconds, modeled);
}

int output_dump(const char *dir, struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	static const uint8_t zero[MEM_PAGE_SIZE];
	uint8_t page[MEM_PAGE_SIZE];
	char path[4096];
	FILE *roots;
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s.mem", dir, vm->name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	for (gfn_t gfn = 0; !r && gfn < sv->p2m->pages; gfn++) {
		r = mem_p2m_read(sv->p2m, gfn, page);
		if (!r && memcmp(page, zero, sizeof(page))) /* holes for zero pages */
			r = util_write_full(fd, page, sizeof(page), (off_t)(gfn * MEM_PAGE_SIZE));
	}
	if (!r && ftruncate(fd, (off_t)(sv->p2m->pages * MEM_PAGE_SIZE)))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/%s.roots", dir, vm->name);
	roots = fopen(path, "w");
	if (!roots)
		return -errno;
	guest_os_dump_roots(sv->os, roots);
	return fclose(roots) ? -errno : 0;
}

/* Its paging-mode switches, a row each in events.csv. */
void soft_events(FILE *f, struct vm *vm)
{
	const struct vm_paging *pg = &soft_vm(vm)->pg;

	for (unsigned k = 0; k < pg->nev; k++) {
		const struct vm_paging_event *e = &pg->ev[k];

		fprintf(f, "%.3f,%s,%" PRIu64 ",%s,%s,%s,%.3f,%.3f\n", e->time_ms, vm->name,
			e->accesses, e->from, e->to, e->why, e->cost, e->other);
	}
}
