/* SPDX-License-Identifier: MIT */
/*
 * Output files of a run: timeseries.csv rows, guests.csv, summary.json and
 * memory dumps. Their columns and fields are a contract (vmm.h, DESIGN.md):
 * report.c, the experiment scripts and the tests read them by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ksm/ksm.h"
#include "vmm-core/out/columns.h"
#include "vmm-core/core/reclaim_internal.h"
#include "vmm-core/core/run_internal.h"

void output_timeseries_header(FILE *f)
{
	out_header_write(f, out_ts_cols, TS_NR);
}

int output_mkdir_p(const char *dir)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(buf, 0755) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	return mkdir(buf, 0755) && errno != EEXIST ? -errno : 0;
}

int output_ts_open(struct output_ts *ts, const char *dir)
{
	int r = output_mkdir_p(dir);

	ts->f = NULL;
	if (r) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-r));
		return r;
	}
	snprintf(ts->path, sizeof(ts->path), "%s/timeseries.csv", dir);
	ts->f = util_tmp_open(ts->path, ts->tmp, sizeof(ts->tmp));
	if (!ts->f) {
		r = -errno;
		fprintf(stderr, "%s: %s\n", ts->tmp, strerror(-r));
		return r;
	}
	output_timeseries_header(ts->f);
	return 0;
}

int output_ts_close(struct output_ts *ts)
{
	int r;

	if (!ts->f)
		return 0;
	r = util_tmp_close(ts->f, ts->tmp, ts->path);
	ts->f = NULL;
	if (r)
		fprintf(stderr, "%s: %s\n", ts->path, strerror(-r));
	return r;
}

void output_ts_abandon(struct output_ts *ts)
{
	if (!ts->f)
		return;
	fclose(ts->f);
	unlink(ts->tmp);
	ts->f = NULL;
}

void output_guests_header(FILE *f)
{
	out_header_write(f, out_g_cols, G_NR);
}

int output_guests_csv(const char *path, struct vm **vms, unsigned n, const struct run_host *h)
{
	char tmp[4200];
	FILE *f = util_tmp_open(path, tmp, sizeof(tmp));

	if (!f)
		return -errno;
	output_guests_header(f);
	for (unsigned i = 0; i < n; i++) {
		struct out_row r;

		out_row_g(&r);
		vms[i]->ops->result(&r, vms[i], h);
		out_row_write(f, &r);
	}
	return util_tmp_close(f, tmp, path);
}

int output_events_csv(const char *path, struct vm **vms, unsigned n)
{
	char tmp[4200];
	FILE *f = util_tmp_open(path, tmp, sizeof(tmp));

	if (!f)
		return -errno;
	fputs("time_ms,guest,accesses,from,to,why,cost_per_access,other_per_access\n", f);
	for (unsigned i = 0; i < n; i++)
		if (vms[i]->ops->events)
			vms[i]->ops->events(f, vms[i]);
	return util_tmp_close(f, tmp, path);
}

/* The fields of a guest's object every backend fills the same way: name,
 * backend, status and error, its configured size and allocation. */
static void json_guest_common(struct out_row *r, const struct vm *vm, const struct run_host *h)
{
	out_s(r, JG_name, vm->name);
	out_s(r, JG_backend, vm_backend_name(vm));
	out_s(r, JG_status, vm->failed ? "failed" : "ok");
	if (vm->failed)
		out_s(r, JG_error, vm->err);
	out_u(r, JG_memory_bytes, vm->cfg->memory);
	out_u(r, JG_shares, vm->cfg->shares);
	out_u(r, JG_min_bytes, vm->cfg->min);
	out_u(r, JG_max_bytes, vm->cfg->max);
	out_u(r, JG_seed, vm->cfg->seed);
	out_u(r, JG_alloc_target, vm->rs.target);
	out_d(r, JG_shares_per_page, isfinite(vm->rs.rho) ? vm->rs.rho : 0.0);
	if (h->verify && vm->verify_ran)
		out_b(r, JG_verified, vm->verified);
}

/* The host's page-sharing counters (zeros when sharing is off). */
static void json_sharing(struct out_row *r, const struct ksm *k, unsigned n, struct vm **vms)
{
	struct ksm_stats s = {.metadata_source = "none"};
	uint64_t guest_bytes = 0;

	for (unsigned i = 0; i < n; i++)
		guest_bytes += vms[i]->cfg->memory;
	if (k) {
		ksm_stats(k, &s);
		out_s(r, JH_sharing_engine, "memvisor");
	}
	out_u(r, JH_pages_shared, s.pages_shared);
	out_u(r, JH_pages_sharing, s.pages_sharing);
	out_u(r, JH_pages_saved, s.pages_saved);
	out_u(r, JH_memory_saved_bytes, s.pages_saved * MEM_PAGE_SIZE);
	out_u(r, JH_pages_zero_sharing, s.pages_zero_sharing);
	out_u(r, JH_pages_hinted, s.pages_hinted);
	out_u(r, JH_pages_volatile, s.pages_volatile);
	out_u(r, JH_pages_scanned, s.pages_scanned);
	out_u(r, JH_pages_hashed, s.pages_hashed);
	out_u(r, JH_full_scans, s.full_scans);
	out_u(r, JH_merges, s.merges);
	out_u(r, JH_cow_breaks, s.cow_breaks);
	out_u(r, JH_stale_hints, s.stale_hints);
	out_u(r, JH_hash_collisions, s.collisions);
	out_u(r, JH_ksm_table_entries, s.table_entries);
	out_u(r, JH_ksm_table_buckets, s.table_buckets);
	out_d(r, JH_scan_cpu_seconds, s.scan_cpu_seconds);
	out_d(r, JH_scan_wall_seconds, s.scan_wall_seconds);
	out_u(r, JH_scan_pages_dropped, s.pages_dropped);
	out_d(r, JH_scan_read_seconds, s.read_seconds);
	out_d(r, JH_scan_hash_seconds, s.hash_seconds);
	out_u(r, JH_ksm_metadata_bytes, s.metadata_bytes);
	out_u(r, JH_ksm_metadata_counted_bytes, s.metadata_counted_bytes);
	out_s(r, JH_ksm_metadata_source, s.metadata_source);
	out_d(r, JH_ksm_metadata_fraction,
	      guest_bytes ? (double)s.metadata_bytes / (double)guest_bytes : 0.0);
}

/* The host swap file's part of the host's object. */
static void json_swap(struct out_row *r, const struct vmm_reclaim *rc)
{
	struct mem_swap_stats s = {0};

	if (!rc->swap)
		return;
	mem_swap_stats(rc->swap, &s);
	out_s(r, JH_swap_file, mem_swap_path(rc->swap));
	out_s(r, JH_swap_victim, mem_swap_victim_name(rc->victim));
	out_u(r, JH_swap_slots_used, s.used);
	out_u(r, JH_swap_peak_slots, s.peak);
	out_u(r, JH_swap_outs, s.outs);
	out_u(r, JH_swap_ins, s.ins);
	out_u(r, JH_swap_file_bytes, s.file_bytes);
	out_u(r, JH_swap_write_errors, s.write_errors);
	out_u(r, JH_swap_read_errors, s.read_errors);
}

/* The host's fields every backend fills the same way: the budget, RSS,
 * the one policy's state and history, the guests and the wall time. */
static void json_host_common(struct out_row *r, struct vm **vms, unsigned n,
			     const struct run_host *h)
{
	const struct vmm_reclaim *rc = h->rc;
	uint64_t rss = mem_rss_bytes();

	if (n)
		out_s(r, JH_backend, vm_backend_name(vms[0]));
	out_u(r, JH_budget_bytes, h->cfg->host.memory);
	out_u(r, JH_rss_bytes, rss);
	out_u(r, JH_peak_rss_bytes, rss > h->peak_rss_bytes ? rss : h->peak_rss_bytes);
	out_u(r, JH_guests, n);
	out_d(r, JH_wall_seconds, h->wall_seconds);
	json_sharing(r, h->ksm, n, vms);
	if (!rc)
		return;
	out_s(r, JH_rc_state, mem_rstate_name(rc->state));
	out_u(r, JH_rc_transitions, rc->transitions);
	out_u(r, JH_rc_policy_ticks, rc->ticks);
	out_d(r, JH_rc_idle_tax, reclaim_tau(rc->cfg, rc->last_seconds));
	for (int st = 0; st < MEM_RSTATE_NR; st++)
		out_d(r, JH_rc_seconds_high + (unsigned)st, rc->state_seconds[st]);
	out_u(r, JH_rc_emergencies, rc->emergencies);
	out_u(r, JH_rc_emergency_frames, rc->emergency_pages);
	if (rc->fatal || rc->swap_failed)
		out_s(r, JH_rc_fatal, rc->fatal_msg);
	json_swap(r, rc);
}

int output_summary(const char *path, struct vm **vms, unsigned n, const struct run_host *h)
{
	char tmp[4200];
	FILE *f = util_tmp_open(path, tmp, sizeof(tmp));
	bool all_ok = true, all_verified = true;
	struct out_row r;

	if (!f)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		all_ok &= !vms[i]->failed;
		/* a soft guest that failed is verified only after a host swap
		 * failure, to show that none of its pages was lost */
		all_verified &= vms[i]->verified && vms[i]->verify_ran;
	}
	fputs("{\n  \"memvisor\": 1,\n  \"config\": ", f);
	out_json_str(f, h->cfg->path);
	fprintf(f, ",\n  \"seed\": %" PRIu64 ",\n  \"status\": \"%s\",\n", h->cfg->guests[0].seed,
		all_ok ? "ok" : "failed");
	fprintf(f, "  \"verified\": %s,\n", !h->verify ? "null" : all_verified ? "true" : "false");
	fputs("  \"host\": ", f);
	out_row_jh(&r);
	json_host_common(&r, vms, n, h);
	if (n)
		vms[0]->ops->json_host(&r, vms, n, h);
	out_json_write(f, &r, "    ");
	fputs(",\n  \"guests\": [\n", f);
	for (unsigned i = 0; i < n; i++) {
		out_row_jg(&r);
		json_guest_common(&r, vms[i], h);
		vms[i]->ops->json(&r, vms[i], h);
		fputs("    ", f);
		out_json_write(f, &r, "     ");
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("  ]\n}\n", f);
	return util_tmp_close(f, tmp, path);
}
