/* SPDX-License-Identifier: MIT */
/*
 * End-to-end tests of ballooning, host swap and the allocation policy:
 * the real binary on a host at three times overcommit with every mechanism
 * on (--verify passes, the output contract holds at every sample, the swap
 * file is gone afterwards), a swap file on a real full filesystem (a small
 * tmpfs made here: the run fails with one clear message and no page is
 * lost), guests whose balloon driver misbehaves (reported, swapped, no one
 * else affected), and config errors.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e/e2e.h"

static char dir[64];

static void setup(void)
{
	e2e_mkdtemp(dir, sizeof(dir), "/tmp/memvisor-policy-XXXXXX");
}

static void teardown(void)
{
	umount2(e2e_path(dir, "small"), MNT_DETACH); /* the full-disk test's tmpfs, if any */
	e2e_rmdir(dir);
}

/* The summary object of guest `name`. */
static const char *guest(const char *sum, const char *name)
{
	char pat[96];
	const char *g;

	snprintf(pat, sizeof(pat), "{\"name\": \"%s\"", name);
	g = strstr(sum, pat);
	ck_assert_msg(g != NULL, "no guest %s", name);
	return g;
}

/* Column index of name in a CSV header line. */
static int column(const char *header, const char *name)
{
	int i = 0;
	size_t n = strlen(name);

	for (const char *p = header; *p && *p != '\n'; i++) {
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\n'))
			return i;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	ck_abort_msg("no column %s", name);
	return -1;
}

/* Field i of a CSV line as a number. */
static long long field(const char *line, int i)
{
	for (; i > 0; i--)
		line = strchr(line, ',') + 1;
	return atoll(line);
}

/* 12 guests of 16 MiB (192 MiB) on 64 MiB of host: 3x, everything on. */
static const char pressure[] = "[host]\n"
			       "memory = 64M\n"
			       "sharing = on\n"
			       "balloon = on\n"
			       "swap_file = host.swap\n"
			       "policy_ms = 2\n"
			       "ws_period_ms = 10\n"
			       "sample_ms = 2\n"
			       "[guest web]\n"
			       "count = 6\n"
			       "memory = 16M\n"
			       "workload = zipf\n"
			       "wss = 12M\n"
			       "content = mixed\n"
			       "accesses = 40000\n"
			       "[guest batch]\n"
			       "count = 3\n"
			       "memory = 16M\n"
			       "workload = uniform\n"
			       "wss = 10M\n"
			       "content = private\n"
			       "accesses = 30000\n"
			       "[guest toucher]\n"
			       "count = 3\n"
			       "memory = 16M\n"
			       "workload = steps\n"
			       "steps = 12M, 2M, 0\n"
			       "step_ms = 5\n"
			       "accesses = 30000\n";

/* The paging modes the pressure run is repeated in: reclaim in the middle
 * of a walk (a fault that swaps out the walker's own table pages) must
 * not corrupt a page in either. */
static const char *const modes[] = {"nested", "shadow", "dynamic"};

START_TEST(three_times_overcommit_verifies)
{
	const char *cfg = e2e_write(dir, "t.ini", pressure);
	char s1[64], s2[64], s3[64];
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", "out",   "--verify", "-q",
			"--set",	   s1,	  "--set",     s2,   "--set", s3,	  NULL};
	char *sum, *ts, *line;
	int c[7], rows = 0, state_seen[4] = {0};

	snprintf(s1, sizeof(s1), "web.paging=%s", modes[_i]);
	snprintf(s2, sizeof(s2), "batch.paging=%s", modes[_i]);
	snprintf(s3, sizeof(s3), "toucher.paging=%s", modes[_i]);
	ck_assert_msg(e2e_run_in(dir, argv) == 0, "%s", e2e_slurp(e2e_path(dir, "stderr")));
	ck_assert_int_eq(access(e2e_path(dir, "host.swap"), F_OK), -1); /* removed */
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_ptr_nonnull(strstr(sum, "\"verified\": true,\n  \"host\""));
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"swap\""), "swap_outs"), 0);
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"swap\""), "swap_ins"), 0);
	ck_assert_int_gt(e2e_json_num(sum, "pages_sharing"), 0);
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"reclamation\""), "transitions"), 0);
	ck_assert_ptr_null(strstr(sum, "\"verified\": false"));
	/* ballooning happened, and every guest's pages add up */
	{
		long long inflated = 0;
		const char *names[] = {"web0", "web5", "batch0", "batch2", "toucher0", "toucher2"};

		for (unsigned i = 0; i < 6; i++) {
			const char *g = guest(sum, names[i]);

			inflated += e2e_json_num(g, "inflated");
			ck_assert_int_eq(
			    e2e_json_num(g, "host_frames") + e2e_json_num(g, "pages_sharing") +
				e2e_json_num(g, "balloon_actual") +
				e2e_json_num(g, "host_swapped") + e2e_json_num(g, "untouched"),
			    e2e_json_num(g, "guest_pages"));
			ck_assert_int_eq(e2e_json_num(g, "balloon_actual"),
					 e2e_json_num(strstr(g, "\"balloon\""), "actual"));
		}
		ck_assert_int_gt(inflated, 0);
	}
	/* at every sample: states add up, the host's frames fit its budget */
	ts = e2e_slurp(e2e_path(dir, "out/timeseries.csv"));
	c[0] = column(ts, "untouched");
	c[1] = column(ts, "resident");
	c[2] = column(ts, "shared");
	c[3] = column(ts, "ballooned");
	c[4] = column(ts, "swapped");
	c[5] = column(ts, "host_frames_used");
	c[6] = column(ts, "host_state");
	for (line = strchr(ts, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
		ck_assert_int_eq(field(line, c[0]) + field(line, c[1]) + field(line, c[2]) +
				     field(line, c[3]) + field(line, c[4]),
				 4096);
		ck_assert_int_le(field(line, c[5]), 16384);
		state_seen[field(line, c[6])]++;
		rows++;
	}
	ck_assert_int_gt(rows, 12 * 3);
	ck_assert_int_gt(state_seen[1] + state_seen[2] + state_seen[3], 0);
	free(ts);
	free(sum);
}
END_TEST

/* The swap file on a 256 KiB tmpfs: the disk fills, the run stops with
 * exit 1 and one clear message, and --verify finds every page intact. */
START_TEST(full_disk_loses_no_page)
{
	char cfgtext[1024];
	const char *cfg;
	char *argv[] = {(char *)e2e_bin(), "run", NULL, "-o", "out", "--verify", "-q", NULL};
	char *err, *sum;

	ck_assert_int_eq(mkdir(e2e_path(dir, "small"), 0700), 0);
	ck_assert_msg(mount("tmpfs", e2e_path(dir, "small"), "tmpfs", 0, "size=256k") == 0,
		      "cannot mount a 256 KiB tmpfs on %s: %s (the test needs root)",
		      e2e_path(dir, "small"), strerror(errno));
	snprintf(cfgtext, sizeof(cfgtext),
		 "[host]\n"
		 "memory = 16M\n"
		 "swap_file = %s/small/host.swap\n"
		 "policy_ms = 1\n"
		 "[guest g]\n"
		 "count = 2\n"
		 "memory = 16M\n"
		 "workload = uniform\n"
		 "wss = 12M\n"
		 "accesses = 200000\n",
		 dir);
	cfg = e2e_write(dir, "t.ini", cfgtext);
	argv[2] = (char *)cfg;
	ck_assert_int_eq(e2e_run_in(dir, argv), 1);
	err = e2e_slurp(e2e_path(dir, "stderr"));
	ck_assert_msg(strstr(err, "No space left on device") && strstr(err, "the run stops") &&
			  strstr(err, "stays in memory"),
		      "%s", err);
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_ptr_nonnull(strstr(sum, "\"status\": \"failed\""));
	ck_assert_ptr_nonnull(strstr(sum, "No space left on device"));
	ck_assert_int_gt(e2e_json_num(strstr(sum, "\"swap\""), "write_errors"), 0);
	/* no page lost: every guest verified, the one that failed too */
	ck_assert_ptr_null(strstr(sum, "\"verified\": false"));
	ck_assert_int_eq(e2e_json_num(guest(sum, "g0"), "guest_pages"), 4096);
	ck_assert_ptr_nonnull(strstr(guest(sum, "g0"), "\"verified\": true"));
	ck_assert_ptr_nonnull(strstr(guest(sum, "g1"), "\"verified\": true"));
	ck_assert_ptr_null(strstr(err, "verify:"));
	free(err);
	free(sum);
}
END_TEST

/* Guests whose balloon driver ignores the target, sends garbage, or is
 * missing: each is reported, reclaimed by host swap, and the guest with a
 * working balloon beside them is ballooned; all verify. */
START_TEST(uncooperative_guests)
{
	const char *cfg = e2e_write(dir, "t.ini",
				    "[host]\n"
				    "memory = 40M\n"
				    "balloon = on\n"
				    "swap_file = host.swap\n"
				    "policy_ms = 1\n"
				    "[guest deaf]\n"
				    "memory = 16M\n"
				    "balloon_driver = ignore\n"
				    "workload = uniform\n"
				    "wss = 12M\n"
				    "accesses = 60000\n"
				    "[guest liar]\n"
				    "memory = 16M\n"
				    "seed = 2\n"
				    "balloon_driver = garbage\n"
				    "workload = uniform\n"
				    "wss = 12M\n"
				    "accesses = 60000\n"
				    "[guest bare]\n"
				    "memory = 16M\n"
				    "seed = 3\n"
				    "balloon_driver = none\n"
				    "workload = uniform\n"
				    "wss = 12M\n"
				    "accesses = 60000\n"
				    "[guest good]\n"
				    "memory = 16M\n"
				    "seed = 4\n"
				    "workload = uniform\n"
				    "wss = 12M\n"
				    "accesses = 60000\n");
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", "out", "--verify", "-q", NULL};
	char *err, *sum;

	ck_assert_int_eq(e2e_run_in(dir, argv), 0);
	err = e2e_slurp(e2e_path(dir, "stderr"));
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_msg(strstr(err, "guest liar: balloon: inflate queue:"), "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "reclaiming from it by host swapping"));
	ck_assert_ptr_null(strstr(err, "guest good: balloon"));
	ck_assert_int_gt(
	    e2e_json_num(strstr(guest(sum, "liar"), "\"balloon\""), "rejected_batches"), 0);
	ck_assert_int_eq(e2e_json_num(guest(sum, "liar"), "balloon_actual"), 0);
	ck_assert_ptr_nonnull(strstr(guest(sum, "bare"), "no balloon driver in the guest"));
	ck_assert_int_gt(e2e_json_num(guest(sum, "liar"), "host_swap_outs"), 0);
	ck_assert_int_gt(e2e_json_num(guest(sum, "bare"), "host_swap_outs"), 0);
	ck_assert_int_gt(e2e_json_num(guest(sum, "deaf"), "host_swap_outs"), 0);
	ck_assert_int_eq(
	    e2e_json_num(strstr(guest(sum, "good"), "\"balloon\""), "rejected_batches"), 0);
	ck_assert_int_gt(e2e_json_num(strstr(guest(sum, "good"), "\"balloon\""), "inflated"), 0);
	ck_assert_ptr_null(strstr(sum, "\"verified\": false"));
	ck_assert_ptr_nonnull(strstr(sum, "\"verified\": true,\n  \"host\""));
	free(err);
	free(sum);
}
END_TEST

static const struct {
	const char *text; /* appended to a valid config */
	const char *msg;  /* expected in stderr */
} bad[] = {
    {"[host]\nswap_victim = oldest\n", "t.ini:7: [host] swap_victim: bad value 'oldest'"},
    {"[host]\nidle_tax = 100\n", "[host] idle_tax: bad value '100'"},
    {"[host]\nidle_tax = 0, 75@0\n", "[host] idle_tax: bad value"},
    {"[host]\nfree_hard = 5\n", "free_hard: thresholds must decrease"},
    {"[host]\nws_fast_gain = 1.5\n", "ws_fast_gain: must be in (0, 1]"},
    {"[host]\nballoon_queue = 48\n", "balloon_queue: must be a power of two"},
    {"[guest g]\nballoon_driver = lazy\n", "[guest g] balloon_driver: bad value 'lazy'"},
    {"[guest g]\nballoon_target = 32M\n", "balloon_target: larger than the guest's memory"},
    {"[guest g]\nworkload = steps\n", "steps: the steps workload needs steps"},
    {"[guest g]\nworkload = steps\nsteps = 4M, 0\n", "steps: every step must be"},
    {"[guest k]\nbackend = kvm\nkernel = k\ninitrd = i\nmemory = 64M\n",
     "guest k: backend kvm, but guest g has soft: the guests of a run have one backend"},
};

START_TEST(config_errors)
{
	char text[512];
	const char *cfg;
	char *argv[] = {(char *)e2e_bin(), "run", NULL, "-o", "out", "-q", NULL};
	char *err;

	snprintf(text, sizeof(text), "[host]\nmemory = 64M\n[guest g]\nmemory = 16M\nwss = 8M\n%s",
		 bad[_i].text);
	cfg = e2e_write(dir, "t.ini", text);
	argv[2] = (char *)cfg;
	ck_assert_int_eq(e2e_run_in(dir, argv), 2);
	err = e2e_slurp(e2e_path(dir, "stderr"));
	ck_assert_msg(strstr(err, bad[_i].msg), "case %d: %s", _i, err);
	ck_assert_int_eq(access(e2e_path(dir, "out"), F_OK), -1); /* nothing written */
	free(err);
}
END_TEST

/* A swap file that exists is never clobbered. */
START_TEST(swap_file_exists)
{
	const char *cfg = e2e_write(dir, "t.ini",
				    "[host]\nmemory = 64M\nswap_file = host.swap\n"
				    "[guest g]\nmemory = 8M\naccesses = 1000\n");
	char *argv[] = {(char *)e2e_bin(), "run", (char *)cfg, "-o", "out", "-q", NULL};
	FILE *f = fopen(e2e_path(dir, "host.swap"), "w");
	char *err, *keep;

	ck_assert_ptr_nonnull(f);
	fputs("precious", f);
	fclose(f);
	ck_assert_int_eq(e2e_run_in(dir, argv), 2);
	err = e2e_slurp(e2e_path(dir, "stderr"));
	ck_assert_msg(strstr(err, "host swap file host.swap: File exists"), "%s", err);
	keep = e2e_slurp(e2e_path(dir, "host.swap"));
	ck_assert_str_eq(keep, "precious");
	free(keep);
	free(err);
}
END_TEST

Suite *policy_suite(void);
Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("runs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, three_times_overcommit_verifies, 0, ARRAY_SIZE(modes));
	tcase_add_test(tc, full_disk_loses_no_page);
	tcase_add_test(tc, uncooperative_guests);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, config_errors, 0, ARRAY_SIZE(bad));
	tcase_add_test(tc, swap_file_exists);
	suite_add_tcase(s, tc);
	return s;
}
