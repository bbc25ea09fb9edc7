/* SPDX-License-Identifier: MIT */
/* Tests of the CSV reader and of memvisor report on synthetic run files. */
#include <check.h>
#include <stdbool.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm-core/tests/check_vmm.h"
#include "vmm-core/report/report_internal.h"

static const char ts_header[] =
    "time_ms,guest,accesses,untouched,resident,shared,ballooned,swapped,guest_free,"
    "guest_page_faults,guest_swap_outs,guest_swap_ins,tlb_misses,walk_refs,exits,"
    "modeled_cycles,balloon_target,balloon_actual,host_frames_used,host_rss_bytes\n";
static const char g_header[] =
    "name,backend,paging,guest_pages,untouched,host_frames,pages_sharing,balloon_actual,"
    "host_swapped,accesses,tlb_misses,walk_refs,exits,guest_page_faults,guest_swap_outs,"
    "guest_swap_ins,cow_breaks,modeled_cycles,modeled_seconds,cycles_per_access,"
    "cycles_access,cycles_walk,cycles_exits,cycles_guest_os,cycles_swap_io,verified\n";

static char dir[64];
static char err[512];

static void setup(void)
{
	strcpy(dir, "/tmp/memvisor-report-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	err[0] = '\0';
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Does dir/name exist? */
static bool exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Append text to dir/name. */
static void append_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void put_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole file dir/name, NUL-terminated, in a malloc'd buffer (or NULL). */
static char *get_file(const char *name, size_t *len)
{
	char path[128], *buf = NULL;
	size_t n = 0, cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = 2 * cap + 8192;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n += fread(buf + n, 1, cap - n - 1, f);
	} while (!feof(f) && !ferror(f));
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* One timeseries row of guest g at sample k; host columns grow with k. */
static void ts_row(FILE *f, const char *name, unsigned g, unsigned k)
{
	unsigned pages = 4096, res = 600 + 300 * k + 100 * g, shared = 100 * k;
	unsigned swapped = k > 2 ? 200 : 0, balloon = k > 3 ? 300 * g : 0;

	fprintf(f, "%.2f,%s,%u,%u,%u,%u,%u,%u,0,%u,%u,%u,0,0,0,0,0,%u,%u,%u\n", k * 10.0 + 3.5 * g,
		name, 1000 * k, pages - res - shared - swapped - balloon, res, shared, balloon,
		swapped, 150 * k * k, k > 2 ? 40 * k : 0, k > 3 ? 10 * k : 0, balloon,
		1000 + 500 * k, (1000 + 500 * k) * 4096u + (8u << 20));
}

static void g_row(FILE *f, const char *name, unsigned g)
{
	fprintf(f,
		"%s,soft,%s,4096,100,2000,500,0,0,%u,%u,%u,10,900,40,20,5,1e9,0.4,%u,%u,%u,%u,"
		"%u,%u,true\n",
		name, g ? "shadow" : "nested", 100000, 2000 + 1000 * g, 40000 + 30000 * g,
		10 + 5 * g, 100000 * 2, 100000 * (2 + 3 * g), 50000 * (1 + 4 * g), 200000,
		30000 * g);
}

/* Write a run directory with guests named names[0..n-1]. */
static void put_run(const char *const *names, unsigned n, unsigned samples)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(ts_header, f);
	for (unsigned k = 0; k < samples; k++)
		for (unsigned g = 0; g < n; g++)
			ts_row(f, names[g], g, k);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/guests.csv", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(g_header, f);
	for (unsigned g = 0; g < n; g++)
		g_row(f, names[g], g);
	ck_assert_int_eq(fclose(f), 0);
	put_file("summary.json",
		 "{\"host\": {\"budget_bytes\": 16777216, \"frames_used\": 3500, "
		 "\"peak_frames\": 3600, \"peak_rss_bytes\": 20000000, \"wall_seconds\": 1.25,"
		 " \"modeled_seconds\": 0.06, \"pages_shared\": 40, \"pages_sharing\": 500},\n"
		 " \"guests\": [{\"name\": \"x\", \"verified\": false, \"exits\": {\"a\": [1, "
		 "2]}}],\n \"verified\": true, \"config\": \"experiments/quick\\u00e9.ini\", "
		 "\"seed\": 42}\n");
}

static const char *const two[] = {"web0", "db0"};

static void assert_png(const char *name)
{
	size_t len;
	char *buf = get_file(name, &len);

	ck_assert_msg(buf != NULL, "%s missing", name);
	ck_assert_msg(len > 1000 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8), "%s: not a PNG", name);
	free(buf);
}

START_TEST(test_csv_quotes)
{
	struct csv *c;
	char path[128];

	put_file("q.csv", "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\n\n3,4,5\n");
	snprintf(path, sizeof(path), "%s/q.csv", dir);
	ck_assert_int_eq(csv_open(&c, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(csv_ncols(c), 3);
	ck_assert_int_eq(csv_column(c, "c", NULL, 0), 2);
	ck_assert_int_eq(csv_column(c, "d", err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "q.csv: missing column 'd'"));
	ck_assert_int_eq(csv_next(c, err, sizeof(err)), 1);
	ck_assert_str_eq(csv_field(c, 0), "x,1");
	ck_assert_str_eq(csv_field(c, 1), "say \"hi\"");
	ck_assert_str_eq(csv_field(c, 2), "");
	ck_assert_int_eq(csv_next(c, err, sizeof(err)), 1);
	ck_assert_uint_eq(csv_lineno(c), 4);
	ck_assert_int_eq(csv_next(c, err, sizeof(err)), 0);
	csv_close(c);
}
END_TEST

START_TEST(test_csv_bad)
{
	struct csv *c;
	char path[128];
	double v;

	put_file("b.csv", "a,b\n\"open,1\n1,x\n");
	snprintf(path, sizeof(path), "%s/b.csv", dir);
	ck_assert_int_eq(csv_open(&c, path, err, sizeof(err)), 0);
	ck_assert_int_eq(csv_next(c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "b.csv: line 2: unterminated"));
	ck_assert_int_eq(csv_next(c, err, sizeof(err)), 1);
	ck_assert_int_eq(csv_number(c, 0, &v, err, sizeof(err)), 0);
	ck_assert_double_eq(v, 1);
	ck_assert_int_eq(csv_number(c, 1, &v, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "b.csv: line 3: column 'b'"));
	csv_close(c);
	put_file("e.csv", "");
	snprintf(path, sizeof(path), "%s/e.csv", dir);
	ck_assert_int_eq(csv_open(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_report_two_guests)
{
	static const char *const fig[] = {"memory", "guests", "faults", "cycles", "tlb"};
	char name[64], *html, *svg;

	put_run(two, 2, 6);
	ck_assert_msg(vmm_report(dir, err, sizeof(err)) == 0, "%s", err);
	for (unsigned i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "figures/%s.png", fig[i]);
		assert_png(name);
		snprintf(name, sizeof(name), "figures/%s.svg", fig[i]);
		svg = get_file(name, NULL);
		ck_assert_msg(svg && strstr(svg, "<svg"), "%s", name);
		free(svg);
		snprintf(name, sizeof(name), "figures/%s.tmp.png", fig[i]);
		ck_assert(!exists(name));
	}
	html = get_file("report.html", NULL);
	ck_assert_ptr_nonnull(html);
	ck_assert_ptr_nonnull(strstr(html, "<!DOCTYPE html>"));
	for (unsigned i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "<img src=\"figures/%s.png\"", fig[i]);
		ck_assert_msg(strstr(html, name), "no %s", name);
	}
	ck_assert_ptr_nonnull(strstr(html, "<td>web0</td>"));
	ck_assert_ptr_nonnull(strstr(html, "<td>db0</td>"));
	ck_assert_ptr_nonnull(strstr(html, "experiments/quick\xc3\xa9.ini"));
	ck_assert_ptr_nonnull(strstr(html, "<th>seed</th><td>42</td>"));
	ck_assert_ptr_nonnull(strstr(html, "<th>verified</th><td>yes</td>"));
	ck_assert_ptr_nonnull(strstr(html, "<th>modeled time</th><td>0.06 s</td>"));
	ck_assert_ptr_null(strstr(html, "http"));
	free(html);
	ck_assert(!exists("report.html.tmp"));
	/* a second run replaces everything in place */
	ck_assert_msg(vmm_report(dir, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(test_report_many_guests_extra_columns)
{
	char names[15][16], *html;
	const char *p[15];
	FILE *f;
	char path[128];

	for (unsigned g = 0; g < 15; g++) {
		snprintf(names[g], sizeof(names[g]), "vm%u", g);
		p[g] = names[g];
	}
	put_run(p, 15, 8);
	/* columns in another order, an extra one, no summary.json */
	snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("guest,extra,host_rss_bytes,host_frames_used,guest_swap_ins,guest_swap_outs,"
	      "guest_page_faults,untouched,swapped,ballooned,shared,resident,time_ms\n",
	      f);
	for (unsigned k = 0; k < 8; k++)
		for (unsigned g = 0; g < 15; g++)
			fprintf(f, "vm%u,zz,%u,%u,0,0,%u,%u,0,0,0,%u,%u\n", g, (3000 + k) << 12,
				3000 + k, 10 * k, 4000 - 10 * g, 10 * g, 5 * k + g);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/summary.json", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_msg(vmm_report(dir, err, sizeof(err)) == 0, "%s", err);
	assert_png("figures/guests.png");
	html = get_file("report.html", NULL);
	ck_assert_ptr_nonnull(html);
	ck_assert_ptr_nonnull(strstr(html, "<td>vm14</td>"));
	ck_assert_ptr_nonnull(strstr(html, "summary.json is missing"));
	free(html);
	html = get_file("figures/guests.gp", NULL);
	ck_assert_ptr_nonnull(strstr(html, "min-max over 15 guests"));
	free(html);
}
END_TEST

START_TEST(test_missing_timeseries)
{
	char path[128];

	put_run(two, 2, 3);
	snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(vmm_report(dir, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "/timeseries.csv: ") != NULL, "%s", err);
	ck_assert(!exists("report.html"));
}
END_TEST

START_TEST(test_missing_column)
{
	put_run(two, 2, 3);
	put_file("guests.csv", "name,accesses,tlb_misses,walk_refs,cycles_access,cycles_walk,"
			       "cycles_exits,cycles_guest_os\nweb0,1,1,1,1,1,1,1\n");
	ck_assert_int_eq(vmm_report(dir, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "guests.csv: missing column 'cycles_swap_io'"), "%s", err);
}
END_TEST

START_TEST(test_malformed_row)
{
	char want[128];
	char *ts;

	put_run(two, 2, 3);
	ts = get_file("timeseries.csv", NULL);
	ck_assert_ptr_nonnull(ts);
	/* keep the header and two rows */
	*(strchr(strchr(strchr(ts, '\n') + 1, '\n') + 1, '\n') + 1) = '\0';
	put_file("timeseries.csv", ts);
	free(ts);
	append_file("timeseries.csv", "1,web0,3\n7,web0,2,3,4,5,6,7,8,9,10\n");
	ck_assert_int_eq(vmm_report(dir, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s/timeseries.csv: line 4: expected 20 fields, found 3", dir);
	ck_assert_str_eq(err, want);
	ck_assert(!exists("report.html"));
}
END_TEST

START_TEST(test_bad_values)
{
	put_run(two, 2, 3);
	put_file("timeseries.csv", ts_header);
	ck_assert_int_eq(vmm_report(dir, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "timeseries.csv: no samples"), "%s", err);
	put_run(two, 2, 3);
	put_file("summary.json", "{\"host\": {\"wall_seconds\": 1,\n}");
	ck_assert_int_eq(vmm_report(dir, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "summary.json: line 2: malformed JSON"), "%s", err);
}
END_TEST

START_TEST(test_time_backwards)
{
	put_run(two, 2, 2);
	/* web0 was at 10 ms */
	append_file("timeseries.csv", "5,web0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n");
	ck_assert_int_eq(vmm_report(dir, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "line 6: time_ms of guest 'web0' goes backwards"), "%s", err);
}
END_TEST

START_TEST(test_escape)
{
	static const char *const evil[] = {"<script>alert('x')</script>", "a&b"};
	char *html, *gp;

	put_run(evil, 2, 4);
	ck_assert_msg(vmm_report(dir, err, sizeof(err)) == 0, "%s", err);
	html = get_file("report.html", NULL);
	ck_assert_ptr_nonnull(html);
	ck_assert_ptr_null(strstr(html, "<script"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "<td>a&amp;b</td>"));
	free(html);
	gp = get_file("figures/guests.gp", NULL);
	ck_assert_ptr_nonnull(strstr(gp, "'<script>alert(''x'')</script>'"));
	free(gp);
}
END_TEST

START_TEST(test_no_gnuplot)
{
	char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	int ret;

	put_run(two, 2, 3);
	ck_assert_int_eq(setenv("PATH", "/nonexistent", 1), 0);
	ret = vmm_report(dir, err, sizeof(err));
	/* restored for CK_FORK=no runs */
	if (path)
		setenv("PATH", path, 1);
	free(path);
	ck_assert_int_eq(ret, -ENOENT);
	ck_assert_msg(strstr(err, "gnuplot is not installed"), "%s", err);
	ck_assert(!exists("report.html"));
}
END_TEST

Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc;

	tc = tcase_create("csv");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_csv_quotes);
	tcase_add_test(tc, test_csv_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("figures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_report_two_guests);
	tcase_add_test(tc, test_report_many_guests_extra_columns);
	tcase_add_test(tc, test_escape);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_missing_timeseries);
	tcase_add_test(tc, test_missing_column);
	tcase_add_test(tc, test_malformed_row);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_time_backwards);
	tcase_add_test(tc, test_no_gnuplot);
	suite_add_tcase(s, tc);
	return s;
}
