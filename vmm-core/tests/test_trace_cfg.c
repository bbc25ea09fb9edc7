/* SPDX-License-Identifier: MIT */
/* Trace workloads in configs: paths, defaults, and errors that name the trace. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traces/traces.h"
#include "vmm-core/tests/check_vmm.h"
#include "vmm-core/core/vmm_internal.h"

static char folder[600];

/* A trace of `n` loads of pid 1 (and `n2` of pid 2) at name in folder. */
static void write_trace(const char *name, uint64_t n, uint64_t n2)
{
	char path[700], err[512];
	struct trace_writer *w;

	snprintf(path, sizeof(path), "%s/%s", folder, name);
	w = trace_writer_create(path, NULL, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	for (uint64_t i = 0; i < n + n2; i++) {
		struct trace_rec r = {
		    .kind = TRACE_LOAD, .addr = 0x10000 + i * 64, .size = 8, .pid = i < n ? 1 : 2};

		ck_assert_int_eq(trace_writer_put(w, &r), 0);
	}
	ck_assert_int_eq(trace_writer_finish(w), 0);
	trace_writer_destroy(w);
}

/* A config in folder, named name; its path. */
static const char *write_ini(const char *name, const char *text)
{
	static char path[700];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", folder, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void setup(void)
{
	const char *p = test_write_file("x", "");

	snprintf(folder, sizeof(folder), "%s", p);
	*strrchr(folder, '/') = 0;
	write_trace("a.mvt", 300, 0);
	write_trace("b.mvt", 100, 500);
}

/* Relative paths are the config file's; accesses default to the longest
 * process; loop and data_frames are read. */
START_TEST(paths_and_defaults)
{
	const char *ini = write_ini("t.ini", "[guest g]\n"
					     "memory = 8M\n"
					     "workload = trace:a.mvt, trace:b.mvt\n"
					     "data_frames = 12\n");
	char want[1500], err[1024] = "";
	struct vmm_config cfg;

	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_msg(vmm_config_load(&cfg, ini, NULL, 0, err, sizeof(err)) == 0, "%s", err);
	snprintf(want, sizeof(want), "trace:%s/a.mvt,trace:%s/b.mvt", folder, folder);
	ck_assert_str_eq(cfg.guests[0].workload, want);
	ck_assert_uint_eq(cfg.guests[0].accesses, 500);
	ck_assert_uint_eq(cfg.guests[0].data_frames, 12);
	ck_assert(!cfg.guests[0].loop);
	vmm_config_free(&cfg);
}
END_TEST

/* In --set, a relative path is the current folder's. */
START_TEST(set_relative_to_cwd)
{
	const char *ini = write_ini("t.ini", "[guest g]\nmemory = 8M\n");
	char *sets[] = {"g.workload=trace:a.mvt", "g.loop=on", "g.accesses=1000"};
	char err[1024] = "";
	struct vmm_config cfg;

	ck_assert_int_eq(chdir(folder), 0);
	ck_assert_msg(vmm_config_load(&cfg, ini, sets, 3, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.guests[0].workload, "trace:a.mvt");
	ck_assert(cfg.guests[0].loop);
	ck_assert_uint_eq(cfg.guests[0].accesses, 1000);
	vmm_config_free(&cfg);
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_ne(vmm_config_load(&cfg, ini, sets, 3, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "a.mvt") && strstr(err, "No such file"), "%s", err);
}
END_TEST

static const struct {
	const char *text;
	const char *want[3];
} bad[] = {
    {"[guest g]\nworkload = trace:missing.mvt\n", {"t.ini:2: [guest g] workload", "missing.mvt"}},
    {"[guest g]\nworkload = trace:cut.mvt\n", {"t.ini:2:", "cut.mvt: truncated after record"}},
    {"[guest g]\nworkload = trace:a.mvt\nloop = on\n", {"t.ini:", "loop", "needs `accesses`"}},
    {"[guest g]\nworkload = trace:\n", {"t.ini:2: [guest g] workload"}},
    {"[guest g]\nworkload = trace:a.mvt, zipf\n", {"t.ini:2: [guest g] workload"}},
    {"[guest g]\nworkload = trace:a.mvt\naccesses = 0\n", {"t.ini:3: [guest g] accesses"}},
    {"[guest g]\nworkload = trace:a.mvt\nloop = maybe\n", {"t.ini:3: [guest g] loop"}},
    {"[guest g]\nworkload = trace:t.ini\n", {"t.ini:2:", "not a memvisor trace"}},
    /* kvm guests: their traces are checked the same way */
    {"[guest k]\nbackend = kvm\nkernel = /k\ninitrd = /i\nworkload = trace:missing.mvt\n",
     {"t.ini:5: [guest k] workload", "missing.mvt"}},
    {"[guest k]\nbackend = kvm\nkernel = /k\ninitrd = /i\nworkload = steps\nsteps = 4M\n",
     {"t.ini:6: [guest k] steps", "a key of backend soft only"}},
    {"[guest k]\nbackend = kvm\nkernel = /k\ninitrd = /i\nworkload = sparse\n",
     {"[guest k] workload", "on kvm"}},
};

/* A kvm guest takes trace workloads too: paths and defaults as a soft
 * guest's (the traces go into its initramfs when it boots). */
START_TEST(kvm_traces)
{
	const char *ini = write_ini("k.ini", "[guest k]\n"
					     "backend = kvm\n"
					     "memory = 64M\n"
					     "kernel = /vmlinuz\n"
					     "initrd = /guest.cpio.gz\n"
					     "workload = trace:b.mvt\n");
	char want[800], err[1024] = "";
	struct vmm_config cfg;

	ck_assert_msg(vmm_config_load(&cfg, ini, NULL, 0, err, sizeof(err)) == 0, "%s", err);
	snprintf(want, sizeof(want), "trace:%s/b.mvt", folder);
	ck_assert_str_eq(cfg.guests[0].workload, want);
	ck_assert_uint_eq(cfg.guests[0].accesses, 500);
	vmm_config_free(&cfg);
}
END_TEST

START_TEST(errors_name_the_trace)
{
	const char *ini = write_ini("t.ini", bad[_i].text);
	char cut[700], err[1024] = "";
	struct vmm_config cfg;

	snprintf(cut, sizeof(cut), "%s/cut.mvt", folder);
	write_trace("cut.mvt", 3000, 0);
	ck_assert_int_eq(truncate(cut, 500), 0);
	ck_assert_int_eq(vmm_config_load(&cfg, ini, NULL, 0, err, sizeof(err)), -EINVAL);
	for (int k = 0; k < 3 && bad[_i].want[k]; k++)
		ck_assert_msg(strstr(err, bad[_i].want[k]), "case %d: '%s' lacks '%s'", _i, err,
			      bad[_i].want[k]);
}
END_TEST

Suite *trace_cfg_suite(void)
{
	Suite *s = suite_create("trace_cfg");
	TCase *tc = tcase_create("workload");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, paths_and_defaults);
	tcase_add_test(tc, set_relative_to_cwd);
	tcase_add_test(tc, kvm_traces);
	tcase_add_loop_test(tc, errors_name_the_trace, 0, ARRAY_SIZE(bad));
	suite_add_tcase(s, tc);
	return s;
}
