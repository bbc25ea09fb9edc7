/* SPDX-License-Identifier: MIT */
/*
 * End-to-end: the real memvisor binary ($MEMVISOR_BIN) on real configs.
 * Runs, output files and their contract, verification, dumps walked by an
 * independent tool (tools/ptwalk.py), config errors, the report.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/e2e/e2e.h"

static char dir[64];
static char out[128];

static void setup(void)
{
	e2e_mkdtemp(dir, sizeof(dir), "/tmp/memvisor-e2e-XXXXXX");
	snprintf(out, sizeof(out), "%s/out", dir);
}

static void teardown(void)
{
	e2e_rmdir(dir);
}

static const char small[] = "[host]\n"
			    "memory = 64M\n"
			    "sample_ms = 1\n"
			    "\n"
			    "[guest web]\n"
			    "count = 2\n"
			    "memory = 8M\n"
			    "wss = 4M\n"
			    "accesses = 60000\n"
			    "workload = zipf\n"
			    "content = mixed\n"
			    "procs = 2\n"
			    "\n"
			    "[guest tight]\n"
			    "memory = 2M\n"
			    "wss = 3M\n"
			    "write_pct = 50\n"
			    "workload = uniform\n"
			    "content = private\n"
			    "accesses = 40000\n"
			    "reclaim = clock\n";

START_TEST(test_run_verify)
{
	const char *cfg = e2e_write(dir, "small.ini", small);
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out, "--verify", "-q", NULL};
	char *sum, *ts, *guests, *p;
	const char *names[] = {"\"web0\"", "\"web1\"", "\"tight\""};
	int rows = 0;

	ck_assert_int_eq(e2e_run(dir, argv), 0);
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_ptr_nonnull(strstr(sum, "\"verified\": true"));
	ck_assert_int_eq(e2e_json_num(sum, "budget_bytes"), 64 << 20);
	ck_assert_int_gt(e2e_json_num(sum, "frames_used"), 0);
	ck_assert_int_gt(e2e_json_num(sum, "peak_rss_bytes"), 0);
	/* host RSS and frames in use agree: the pool holds no frame it did
	 * not hand out, and every frame in use is resident */
	ck_assert_int_eq(e2e_json_num(sum, "pool_resident_frames"),
			 e2e_json_num(sum, "frames_used"));
	ck_assert_int_ge(e2e_json_num(sum, "rss_bytes"), e2e_json_num(sum, "frames_used") * 4096);
	for (int i = 0; i < 3; i++) {
		const char *g = strstr(sum, names[i]);
		long long pages, sum_states;

		ck_assert_msg(g != NULL, "no guest %s", names[i]);
		pages = e2e_json_num(g, "guest_pages");
		sum_states = e2e_json_num(g, "host_frames") + e2e_json_num(g, "pages_sharing") +
			     e2e_json_num(g, "balloon_actual") + e2e_json_num(g, "host_swapped") +
			     e2e_json_num(g, "untouched");
		ck_assert_int_eq(sum_states, pages);
		ck_assert_int_gt(e2e_json_num(g, "accesses"), 0);
		ck_assert_int_gt(e2e_json_num(g, "tlb_misses"), 0);
		ck_assert_int_gt(e2e_json_num(g, "walk_refs"), 0);
		ck_assert_int_gt(e2e_json_num(g, "nested_fault"), 0);
		ck_assert_int_gt(e2e_json_num(g, "modeled_cycles"), 0);
		ck_assert_ptr_nonnull(strstr(g, "\"verified\": true"));
	}
	/* the tight guest's working set exceeds its memory: it swapped */
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"tight\""), "guest_swap_outs"), 0);
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"tight\""), "guest_swap_ins"), 0);

	ts = e2e_slurp(e2e_path(dir, "out/timeseries.csv"));
	ck_assert_ptr_nonnull(strstr(ts, "time_ms,guest,accesses,untouched,resident"));
	for (p = ts; (p = strchr(p, '\n')) && p[1]; p++)
		rows++;
	ck_assert_int_ge(rows, 6); /* start and end rows of three guests, at least */
	guests = e2e_slurp(e2e_path(dir, "out/guests.csv"));
	ck_assert_ptr_nonnull(strstr(guests, "\ntight,soft,nested,512,"));
	free(sum);
	free(ts);
	free(guests);
}
END_TEST

/* Each timeseries row's p2m states add up to the guest's pages. */
START_TEST(test_timeseries_invariant)
{
	const char *cfg = e2e_write(dir, "small.ini", small);
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out, "-q", NULL};
	char path[4200], line[1024];
	FILE *f;
	int rows = 0;

	ck_assert_int_eq(e2e_run(dir, argv), 0);
	snprintf(path, sizeof(path), "%s/timeseries.csv", out);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[6];
		char name[64];

		ck_assert_int_eq(sscanf(line, "%*[^,],%63[^,],%llu,%llu,%llu,%llu,%llu,%llu", name,
					&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]),
				 7);
		ck_assert_uint_eq(v[1] + v[2] + v[3] + v[4] + v[5],
				  strcmp(name, "tight") ? 2048 : 512);
		rows++;
	}
	fclose(f);
	ck_assert_int_gt(rows, 6);
}
END_TEST

START_TEST(test_deterministic)
{
	const char *cfg = e2e_write(dir, "small.ini", small);
	char out2[4300];
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out, "-q",
			"--seed",	   "5",	  NULL};
	char *a, *b;

	ck_assert_int_eq(e2e_run(dir, argv), 0);
	snprintf(out2, sizeof(out2), "%s2", out);
	argv[4] = out2;
	ck_assert_int_eq(e2e_run(dir, argv), 0);
	a = e2e_slurp(e2e_path(dir, "out/guests.csv"));
	b = e2e_slurp(e2e_path(dir, "out2/guests.csv"));
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
}
END_TEST

/* The dump is walked by tools/ptwalk.py, which shares no code with us: its
 * count of mapped user pages must equal the guest OS's own count. */
START_TEST(test_dump_walk)
{
	const char *cfg = e2e_write(dir, "small.ini", small);
	char dump[4300], cmd[8800];
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out, "-q",
			"--dump",	   dump,  NULL};
	char *sum, *walk;
	const char *g;
	long long user, present = 0;

	snprintf(dump, sizeof(dump), "%s/dump", dir);
	ck_assert_int_eq(e2e_run(dir, argv), 0);
	snprintf(cmd, sizeof(cmd), "python3 '%s/tools/ptwalk.py' '%s' tight > '%s/walk.json'",
		 e2e_src(), dump, dir);
	ck_assert_int_eq(system(cmd), 0);
	walk = e2e_slurp(e2e_path(dir, "walk.json"));
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	g = strstr(sum, "\"tight\"");
	user = e2e_json_num(g, "guest_frames_user");
	for (const char *p = walk; (p = strstr(p, "\"present\": ")); p++)
		present += atoll(p + 11);
	ck_assert_int_eq(present, user);
	ck_assert_ptr_nonnull(strstr(walk, "\"swapped\": "));
	ck_assert_int_gt(e2e_json_num(walk, "swapped"), 0);
	free(walk);
	free(sum);
}
END_TEST

/* Four guests, the same seed and workload, four paging policies. */
static const char modes[] = "[host]\n"
			    "memory = 128M\n"
			    "sample_ms = 2\n"
			    "\n"
			    "[guest n]\n"
			    "memory = 8M\n"
			    "wss = 5M\n"
			    "procs = 2\n"
			    "timeslice = 700\n"
			    "workload = uniform\n"
			    "write_pct = 50\n"
			    "accesses = 20000\n"
			    "paging = nested\n"
			    "\n"
			    "[guest s]\n"
			    "memory = 8M\n"
			    "wss = 5M\n"
			    "procs = 2\n"
			    "timeslice = 700\n"
			    "workload = uniform\n"
			    "write_pct = 50\n"
			    "accesses = 20000\n"
			    "paging = shadow\n"
			    "\n"
			    "[guest d]\n"
			    "memory = 8M\n"
			    "wss = 5M\n"
			    "procs = 2\n"
			    "timeslice = 700\n"
			    "workload = uniform\n"
			    "write_pct = 50\n"
			    "accesses = 20000\n"
			    "paging = dynamic\n"
			    "dynamic_window_ms = 0.2\n"
			    "\n"
			    "[guest w]\n"
			    "memory = 8M\n"
			    "wss = 5M\n"
			    "procs = 2\n"
			    "timeslice = 700\n"
			    "workload = uniform\n"
			    "write_pct = 50\n"
			    "accesses = 20000\n"
			    "paging = nested\n"
			    "paging_switch_every = 3000\n";

/* Fidelity end to end: every guest page byte-identical across the four
 * guests (their dumps), the same guest page faults, all verified; the
 * switching guest switched 13 times, each an event and a time-series row. */
START_TEST(test_paging_fidelity)
{
	const char *cfg = e2e_write(dir, "modes.ini", modes);
	char dump[4300];
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out,
			"--verify",	   "-q",  "--dump",    dump, NULL};
	const char *names[] = {"n", "s", "d", "w"};
	char path[4400], *mem[4], *sum, *ev, *ts, *p;
	long long faults = -1;
	int events = 0, shadow_rows = 0, w_rows = 0;

	snprintf(dump, sizeof(dump), "%s/dump", dir);
	ck_assert_int_eq(e2e_run(dir, argv), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s.mem", dump, names[i]);
		mem[i] = e2e_slurp(path);
	}
	for (int i = 1; i < 4; i++)
		ck_assert_msg(!memcmp(mem[0], mem[i], 2048 * 4096), "%s.mem differs from n.mem",
			      names[i]);
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_ptr_nonnull(strstr(sum, "\"verified\": true"));
	for (int i = 0; i < 4; i++) {
		char key[16];
		const char *g;

		snprintf(key, sizeof(key), "\"%s\"", names[i]);
		g = strstr(sum, key);
		ck_assert_ptr_nonnull(g);
		if (faults < 0)
			faults = e2e_json_num(g, "guest_page_faults");
		ck_assert_int_eq(e2e_json_num(g, "guest_page_faults"), faults);
	}
	ck_assert_int_eq(e2e_json_num(strstr(sum, "\"w\""), "mode_switches"), 13);
	ck_assert_int_eq(e2e_json_num(strstr(sum, "\"w\""), "mode_switch"), 13);
	ck_assert_int_eq(e2e_json_num(strstr(sum, "\"n\""), "hidden_fault"), 0);
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"s\""), "hidden_fault"), 0);
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"s\""), "pt_write"), 0);
	ev = e2e_slurp(e2e_path(dir, "out/events.csv"));
	ck_assert_ptr_nonnull(strstr(ev, "time_ms,guest,accesses,from,to,why"));
	ck_assert_ptr_nonnull(strstr(ev, ",w,3000,nested,shadow,every,"));
	ck_assert_ptr_nonnull(strstr(ev, ",w,6000,shadow,nested,every,"));
	for (p = ev; (p = strstr(p, ",w,")); p++)
		events++;
	ck_assert_int_eq(events, 13);
	ts = e2e_slurp(e2e_path(dir, "out/timeseries.csv"));
	ck_assert_ptr_nonnull(strstr(ts, "host_rss_bytes,paging,mode_switches"));
	/* a row right after each switch: 7 of the 13 went to shadow; the
	 * paging column is the 21st (later columns are appended after it) */
	for (p = ts; (p = strstr(p, ",w,")); p++) {
		char *eol = strchr(p, '\n'), *c = p;

		ck_assert_ptr_nonnull(eol);
		for (int col = 1; col < 20 && c && c < eol; col++)
			c = strchr(c + 1, ','); /* to the comma before paging */
		ck_assert(c && c < eol);
		w_rows++;
		if (!strncmp(c, ",shadow,", 8))
			shadow_rows++;
	}
	ck_assert_int_ge(w_rows, 13 + 2);
	ck_assert_int_ge(shadow_rows, 7);
	for (int i = 0; i < 4; i++)
		free(mem[i]);
	free(sum);
	free(ev);
	free(ts);
}
END_TEST

/* The dynamic policy picks the mode that wins: shadow for a TLB-miss
 * heavy workload, nested (no switch) for a page-table heavy one. */
static const char dynamic[] = "[host]\n"
			      "memory = 256M\n"
			      "\n"
			      "[guest tlb]\n"
			      "memory = 64M\n"
			      "wss = 8M\n"
			      "workload = sparse\n"
			      "accesses = 120000\n"
			      "paging = dynamic\n"
			      "dynamic_window_ms = 0.2\n"
			      "\n"
			      "[guest pt]\n"
			      "memory = 32M\n"
			      "wss = 4M\n"
			      "workload = churn\n"
			      "procs = 3\n"
			      "timeslice = 300\n"
			      "accesses = 30000\n"
			      "churn_life = 5000\n"
			      "paging = dynamic\n"
			      "dynamic_window_ms = 0.2\n";

START_TEST(test_dynamic_policy)
{
	const char *cfg = e2e_write(dir, "dynamic.ini", dynamic);
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out, "--verify", "-q", NULL};
	char *ev, *sum;

	ck_assert_int_eq(e2e_run(dir, argv), 0);
	ev = e2e_slurp(e2e_path(dir, "out/events.csv"));
	ck_assert_ptr_nonnull(strstr(ev, ",tlb,"));
	ck_assert_ptr_nonnull(strstr(ev, ",nested,shadow,dynamic,"));
	ck_assert_ptr_null(strstr(ev, ",pt,"));
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_ptr_nonnull(strstr(strstr(sum, "\"tlb\""), "\"paging_final\": \"shadow\""));
	ck_assert_int_eq(e2e_json_num(strstr(sum, "\"pt\""), "mode_switches"), 0);
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"pt\""), "guest_unmaps"), 0);
	free(ev);
	free(sum);
}
END_TEST

static const struct {
	const char *text;
	const char *msg;
} bad[] = {
    {"[host]\nmemory = 64M\n[guest a]\nmemory = 8M\nwss = many\n", "bad.ini:5: [guest a] wss"},
    {"[host]\nmemory = 8M\nfrobnicate = yes\n[guest a]\n", "bad.ini:3: [host] frobnicate"},
    {"[host]\nmemory = 8M\n[guest a]\ncount = 4\nmemory = 4M\nmin = 4M\n", "budget too small"},
    {"[guest a]\nmemory = 8M\npaging = shadowy\n", "bad.ini:3: [guest a] paging"},
    {"[guest a]\nmemory = 8M\npaging_switch_at = 9, 2\n", "bad.ini:3: [guest a] paging_switch_at"},
};

START_TEST(test_bad_config_exit2)
{
	const char *cfg = e2e_write(dir, "bad.ini", bad[_i].text);
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out, "-q", NULL};
	struct stat st;
	char *err;

	ck_assert_int_eq(e2e_run(dir, argv), 2);
	err = e2e_slurp(e2e_path(dir, "stderr"));
	ck_assert_msg(strstr(err, bad[_i].msg), "stderr '%s' lacks '%s'", err, bad[_i].msg);
	ck_assert_msg(stat(out, &st) != 0, "a bad config wrote %s", out);
	free(err);
}
END_TEST

START_TEST(test_usage)
{
	char *help[] = {(char *)e2e_bin(), "--help", NULL};
	char *run_help[] = {(char *)e2e_bin(), "run", "--help", NULL};
	char *nocmd[] = {(char *)e2e_bin(), "fly", NULL};
	char *missing[] = {(char *)e2e_bin(), "run", "/nonexistent.ini", NULL};
	char *s;

	ck_assert_int_eq(e2e_run(dir, help), 0);
	ck_assert_int_eq(e2e_run(dir, run_help), 0);
	s = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_ptr_nonnull(strstr(s, "--verify"));
	free(s);
	ck_assert_int_eq(e2e_run(dir, nocmd), 2);
	ck_assert_int_eq(e2e_run(dir, missing), 2);
	s = e2e_slurp(e2e_path(dir, "stderr"));
	ck_assert_ptr_nonnull(strstr(s, "/nonexistent.ini"));
	free(s);
}
END_TEST

START_TEST(test_report)
{
	const char *cfg = e2e_write(dir, "small.ini", small);
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", out, "-q", NULL};
	char *rep[] = {(char *)e2e_bin(), "report", out, NULL};
	char *html;

	ck_assert_int_eq(e2e_run(dir, argv), 0);
	ck_assert_int_eq(e2e_run(dir, rep), 0);
	html = e2e_slurp(e2e_path(dir, "out/report.html"));
	ck_assert_ptr_nonnull(strstr(html, "tight"));
	ck_assert_ptr_nonnull(strstr(html, ".png"));
	free(html);
}
END_TEST

static Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc = tcase_create("run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_run_verify);
	tcase_add_test(tc, test_timeseries_invariant);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_dump_walk);
	tcase_add_test(tc, test_report);
	tcase_add_test(tc, test_paging_fidelity);
	tcase_add_test(tc, test_dynamic_policy);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_config_exit2, 0, ARRAY_SIZE(bad));
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return s;
}

Suite *trace_e2e_suite(void); /* test_trace.c */
Suite *share_suite(void);     /* test_share.c */
Suite *policy_suite(void);    /* test_policy.c */
Suite *keys_suite(void);      /* test_keys.c */

int main(void)
{
	SRunner *sr = srunner_create(e2e_suite());
	int failed;

	srunner_add_suite(sr, trace_e2e_suite());
	srunner_add_suite(sr, share_suite());
	srunner_add_suite(sr, policy_suite());
	srunner_add_suite(sr, keys_suite());

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
