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

#define JU(f, key, v) fprintf(f, "\"%s\": %" PRIu64, key, (uint64_t)(v))

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
static void json_mmu(FILE *f, const struct vm *vm, uint64_t accesses)
{
	struct soft_vm *sv = soft_vm(vm);
	const struct mmu_stats *st = &sv->mmu.st;

	JU(f, "accesses", accesses), fputs(", ", f);
	JU(f, "tlb_misses", st->tlb_misses), fputs(", ", f);
	JU(f, "walk_refs", st->walk_refs), fputs(", ", f);
	JU(f, "pwc_hits", st->pwc_hits), fputs(", ", f);
	JU(f, "phys_accesses", st->phys_accesses), fputs(", ", f);
	JU(f, "phys_walk_refs", st->phys_walk_refs), fputs(",\n     ", f);
	JU(f, "mode_switches", sv->pg.nev), fputs(", ", f);
	JU(f, "nested_accesses", sv->pg.mode_accesses[0]), fputs(", ", f);
	JU(f, "shadow_accesses", sv->pg.mode_accesses[1]), fputs(", ", f);
	JU(f, "cr3_loads", st->cr3_loads), fputs(", ", f);
	JU(f, "invlpgs", st->invlpgs), fputs(", ", f);
	JU(f, "emulated", st->emulated), fputs(", ", f);
	JU(f, "large_splits", st->splits), fputs(",\n     \"exits\": {", f);
	for (int r = 0; r < MMU_EXIT_NR; r++) {
		JU(f, mmu_exit_name((enum mmu_exit_reason)r), st->exits[r]);
		fputs(r + 1 < MMU_EXIT_NR ? ", " : "},\n     \"exit_cycles\": {", f);
	}
	for (int r = 0; r < MMU_EXIT_NR; r++) /* modeled cycles by reason */
		fprintf(f, "\"%s\": %.0f%s", mmu_exit_name((enum mmu_exit_reason)r),
			(double)st->exits[r] * vm->cost->exit[r],
			r + 1 < MMU_EXIT_NR ? ", " : "},\n     ");
}

void soft_json(FILE *f, struct vm *vm, const struct run_host *h)
{
	struct soft_vm *sv = soft_vm(vm);
	bool verify = h->verify;
	const uint64_t *s = sv->p2m->count;
	struct ksm_guest_stats ks = {0};
	struct vm_counts c;

	vm_counts(vm, &c);
	if (vm->share)
		ksm_guest_stats(vm->share, &ks);
	output_json_guest_head(f, vm, vm->cfg->paging, sv->mmu.ops->name, sv->p2m->pages);
	JU(f, "untouched", s[MEM_UNTOUCHED]), fputs(", ", f);
	JU(f, "host_frames", s[MEM_RESIDENT]), fputs(", ", f);
	JU(f, "pages_sharing", s[MEM_SHARED]), fputs(", ", f);
	JU(f, "balloon_target", output_balloon_target(vm)), fputs(", ", f);
	JU(f, "balloon_actual", s[MEM_BALLOONED]), fputs(", ", f);
	JU(f, "host_swapped", s[MEM_SWAPPED]), fputs(", ", f);
	JU(f, "cow_breaks", ks.cow_breaks), fputs(", ", f);
	fprintf(f, "\"sharing\": %s, ", vm->share ? "true" : "false");
	JU(f, "pages_scanned", ks.pages_scanned), fputs(", ", f);
	JU(f, "pages_volatile", ks.pages_volatile), fputs(", ", f);
	JU(f, "pages_merged", ks.merges), fputs(", ", f);
	JU(f, "full_scans", ks.full_scans), fputs(",\n     ", f);
	json_mmu(f, vm, c.gs.accesses);
	JU(f, "guest_page_faults", c.gs.page_faults), fputs(", ", f);
	JU(f, "guest_zero_fills", c.gs.zero_fills), fputs(", ", f);
	JU(f, "guest_swap_outs", c.gs.swap_outs), fputs(", ", f);
	JU(f, "guest_swap_ins", c.gs.swap_ins), fputs(", ", f);
	JU(f, "guest_ctx_switches", c.gs.ctx_switches), fputs(", ", f);
	JU(f, "guest_pt_stores", c.gs.pt_stores), fputs(",\n     ", f);
	JU(f, "guest_huge_faults", c.gs.huge_faults), fputs(", ", f);
	JU(f, "guest_huge_splits", c.gs.huge_splits), fputs(", ", f);
	JU(f, "guest_unmaps", c.gs.unmaps), fputs(", ", f);
	JU(f, "guest_exits", c.gs.exits), fputs(",\n     ", f);
	JU(f, "guest_frames_free", c.gs.frames_free), fputs(", ", f);
	JU(f, "guest_frames_kernel", c.gs.frames_kernel), fputs(", ", f);
	JU(f, "guest_frames_pt", c.gs.frames_pt), fputs(", ", f);
	JU(f, "guest_frames_user", c.gs.frames_user), fputs(", ", f);
	JU(f, "host_zero_fills", sv->host_zero_fills), fputs(", ", f);
	JU(f, "vmm_frames", sv->mmu.mode_frames), fputs(",\n     ", f);
	output_policy_json_guest(f, vm);
	fprintf(f,
		"\"modeled_cycles\": %.0f, \"modeled_seconds\": %.6f, "
		"\"cycles\": {\"access\": %.0f, \"walk\": %.0f, \"exits\": %.0f, "
		"\"guest_os\": %.0f, \"swap_io\": %.0f, \"host_swap\": %.0f, "
		"\"blocked\": %.0f, \"idle\": %.0f},\n     \"verified\": %s}",
		c.cyc.total, c.cyc.total / vm->cost->ghz / 1e9, c.cyc.access, c.cyc.walk,
		c.cyc.exits, c.cyc.guest_os, c.cyc.swap_io, c.cyc.host_swap, c.cyc.blocked,
		c.cyc.idle,
		(!verify || !vm->verify_ran) ? "null"
		: vm->verified		     ? "true"
					     : "false");
}

/* The host's page-sharing counters (zeros when sharing is off). */
static void json_sharing(FILE *f, const struct ksm *k, unsigned n, struct vm **vms)
{
	struct ksm_stats s = {.metadata_source = "none"};
	uint64_t guest_bytes = 0;

	for (unsigned i = 0; i < n; i++)
		guest_bytes += soft_vm(vms[i])->p2m->pages * MEM_PAGE_SIZE;
	if (k)
		ksm_stats(k, &s);
	JU(f, "pages_shared", s.pages_shared), fputs(", ", f);
	JU(f, "pages_sharing", s.pages_sharing), fputs(", ", f);
	JU(f, "pages_saved", s.pages_saved), fputs(", ", f);
	JU(f, "memory_saved_bytes", s.pages_saved * MEM_PAGE_SIZE), fputs(", ", f);
	JU(f, "pages_zero_sharing", s.pages_zero_sharing), fputs(",\n    ", f);
	JU(f, "pages_hinted", s.pages_hinted), fputs(", ", f);
	JU(f, "pages_volatile", s.pages_volatile), fputs(", ", f);
	JU(f, "pages_scanned", s.pages_scanned), fputs(", ", f);
	JU(f, "pages_hashed", s.pages_hashed), fputs(", ", f);
	JU(f, "full_scans", s.full_scans), fputs(", ", f);
	JU(f, "merges", s.merges), fputs(",\n    ", f);
	JU(f, "cow_breaks", s.cow_breaks), fputs(", ", f);
	JU(f, "stale_hints", s.stale_hints), fputs(", ", f);
	JU(f, "hash_collisions", s.collisions), fputs(", ", f);
	JU(f, "ksm_table_entries", s.table_entries), fputs(", ", f);
	JU(f, "ksm_table_buckets", s.table_buckets), fputs(",\n    ", f);
	fprintf(f, "\"scan_cpu_seconds\": %.6f, \"scan_wall_seconds\": %.6f, ", s.scan_cpu_seconds,
		s.scan_wall_seconds);
	JU(f, "ksm_metadata_bytes", s.metadata_bytes), fputs(", ", f);
	JU(f, "ksm_metadata_counted_bytes", s.metadata_counted_bytes), fputs(", ", f);
	fprintf(f, "\"ksm_metadata_source\": \"%s\", \"ksm_metadata_fraction\": %.6f,\n    ",
		s.metadata_source,
		guest_bytes ? (double)s.metadata_bytes / (double)guest_bytes : 0.0);
}

/* The soft host's part of summary.json: its pool, sharing, policy, swap. */
void soft_json_host(FILE *f, struct vm **vms, unsigned n, const struct run_host *h)
{
	const struct vmm_config *cfg = h->cfg;
	uint64_t vmm_frames = 0, rss = mem_rss_bytes();
	double modeled = 0;

	for (unsigned i = 0; i < n; i++) {
		double s = vms[i]->cycles / cfg->cost.ghz / 1e9;

		modeled = s > modeled ? s : modeled;
		vmm_frames += soft_vm(vms[i])->mmu.mode_frames;
	}
	JU(f, "budget_bytes", cfg->host.memory), fputs(", ", f);
	JU(f, "frames_used", h->pool->used), fputs(", ", f);
	JU(f, "peak_frames", h->pool->peak), fputs(", ", f);
	JU(f, "vmm_frames", vmm_frames), fputs(",\n    ", f);
	JU(f, "rss_bytes", rss), fputs(", ", f);
	JU(f, "peak_rss_bytes", rss > h->peak_rss_bytes ? rss : h->peak_rss_bytes), fputs(", ", f);
	JU(f, "pool_resident_frames", mem_pool_resident(h->pool)), fputs(",\n    ", f);
	json_sharing(f, h->ksm, n, vms);
	if (h->rc)
		output_policy_json_host(f, h->rc);
	JU(f, "guest_swap_bytes", guest_swap_store_bytes(h->store)), fputs(", ", f);
	JU(f, "guests", n), fputs(",\n    ", f);
	fprintf(f, "\"wall_seconds\": %.3f, \"modeled_seconds\": %.6f", h->wall_seconds, modeled);
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
