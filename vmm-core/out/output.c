/* SPDX-License-Identifier: MIT */
/*
 * Output files of a run: timeseries.csv rows, guests.csv, summary.json and
 * memory dumps. Their columns and fields are a contract (vmm.h, DESIGN.md):
 * report.c, the experiment scripts and the tests read them by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm-core/out/columns.h"
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

void output_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

#define JU(f, key, v) fprintf(f, "\"%s\": %" PRIu64, key, (uint64_t)(v))

/* The start of a guest's summary.json object, both backends: its name,
 * backend, paging, status (and error), size and allocation parameters. */
void output_json_guest_head(FILE *f, const struct vm *vm, const char *paging,
			    const char *paging_final, uint64_t pages)
{
	fputs("    {\"name\": ", f);
	output_json_str(f, vm->name);
	fputs(", \"backend\": ", f);
	output_json_str(f, vm_backend_name(vm));
	fputs(", \"paging\": ", f);
	output_json_str(f, paging);
	fputs(", \"paging_final\": ", f);
	output_json_str(f, paging_final);
	fputs(", \"status\": ", f);
	output_json_str(f, vm->failed ? "failed" : "ok");
	if (vm->failed) {
		fputs(", \"error\": ", f);
		output_json_str(f, vm->err);
	}
	fputs(",\n     ", f);
	JU(f, "guest_pages", pages), fputs(", ", f);
	JU(f, "memory_bytes", vm->cfg->memory), fputs(", ", f);
	JU(f, "shares", vm->cfg->shares), fputs(", ", f);
	JU(f, "min_bytes", vm->cfg->min), fputs(", ", f);
	JU(f, "max_bytes", vm->cfg->max), fputs(", ", f);
	JU(f, "seed", vm->cfg->seed), fputs(",\n     ", f);
}

int output_summary(const char *path, struct vm **vms, unsigned n, const struct run_host *h)
{
	char tmp[4200];
	FILE *f = util_tmp_open(path, tmp, sizeof(tmp));
	bool all_ok = true, all_verified = true;

	if (!f)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		all_ok &= !vms[i]->failed;
		/* a soft guest that failed is verified only after a host swap
		 * failure, to show that none of its pages was lost */
		all_verified &= vms[i]->verified && vms[i]->verify_ran;
	}
	fputs("{\n  \"memvisor\": 1,\n  \"config\": ", f);
	output_json_str(f, h->cfg->path);
	fprintf(f, ",\n  \"seed\": %" PRIu64 ",\n  \"status\": \"%s\",\n", h->cfg->guests[0].seed,
		all_ok ? "ok" : "failed");
	fprintf(f, "  \"verified\": %s,\n", !h->verify ? "null" : all_verified ? "true" : "false");
	fputs("  \"host\": {", f);
	if (n)
		vms[0]->ops->json_host(f, vms, n, h);
	fputs("},\n  \"guests\": [\n", f);
	for (unsigned i = 0; i < n; i++) {
		vms[i]->ops->json(f, vms[i], h);
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("  ]\n}\n", f);
	return util_tmp_close(f, tmp, path);
}
