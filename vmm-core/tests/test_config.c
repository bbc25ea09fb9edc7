/* SPDX-License-Identifier: MIT */
/* Config parsing and validation: every error names file, line and key. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm-core/tests/check_vmm.h"
#include "vmm-core/soft/soft.h"

static const char good[] = "[host]\n"
			   "memory = 64M   ; budget\n"
			   "sharing = off\n"
			   "\n"
			   "[guest web]\n"
			   "count = 3\n"
			   "memory = 16M\n"
			   "min = 4M\n"
			   "seed = 7\n"
			   "workload = uniform\n"
			   "\n"
			   "[guest db]\n"
			   "memory = 8M\n"
			   "max = 6M\n";

START_TEST(test_good_config)
{
	const char *path = test_write_file("good.ini", good);
	struct vmm_config cfg;
	char err[512] = "";

	ck_assert_int_eq(vmm_config_load(&cfg, path, NULL, 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.nguests, 4);
	ck_assert_str_eq(cfg.guests[0].name, "web0");
	ck_assert_str_eq(cfg.guests[2].name, "web2");
	ck_assert_str_eq(cfg.guests[3].name, "db");
	ck_assert_uint_eq(cfg.guests[1].seed, 8);
	ck_assert_uint_eq(cfg.guests[1].instance, 1);
	ck_assert_uint_eq(cfg.guests[0].memory, 16u << 20);
	ck_assert_uint_eq(cfg.guests[0].max, 16u << 20); /* max defaults to memory */
	ck_assert_uint_eq(cfg.guests[0].wss, 8u << 20);	 /* wss defaults to memory / 2 */
	ck_assert_uint_eq(cfg.guests[3].max, 6u << 20);
	ck_assert_uint_eq(cfg.host.memory, 64u << 20);
	ck_assert_uint_eq(cfg.guests[0].line, 5);
	vmm_config_free(&cfg);
}
END_TEST

START_TEST(test_paging_keys)
{
	const char *path = test_write_file(
	    "paging.ini", "[host]\nshadow_roots = 3\n"
			  "[guest a]\npaging = shadow\npaging_switch_at = 1.5, 4ms,10\n"
			  "paging_switch_every = 5000\nguest_large = on\nhost_large = yes\n"
			  "[guest b]\npaging = dynamic\ndynamic_window_ms = 0.5\n"
			  "dynamic_margin = 0.25\ndynamic_confirm = 3\ndynamic_min_windows = 7\n"
			  "workload = churn\nchurn_region = 128K\nchurn_unmap_pm = 40\n"
			  "churn_life = 900\n"
			  "[guest c]\nworkload = sparse\nsparse_stride = 32\n");
	char *sets[] = {"b.dynamic_confirm=4"};
	struct vmm_config cfg;
	char err[512] = "";

	ck_assert_int_eq(vmm_config_load(&cfg, path, sets, 1, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.host.shadow_roots, 3);
	ck_assert_str_eq(cfg.guests[0].paging, "shadow");
	ck_assert_uint_eq(cfg.guests[0].nswitch_at, 3);
	ck_assert(cfg.guests[0].switch_at[0] == 1.5 && cfg.guests[0].switch_at[1] == 4 &&
		  cfg.guests[0].switch_at[2] == 10);
	ck_assert_uint_eq(cfg.guests[0].switch_every, 5000);
	ck_assert(cfg.guests[0].guest_large && cfg.guests[0].host_large);
	ck_assert_ptr_eq(vm_paging_initial(&cfg.guests[0]), &paging_shadow_ops);
	ck_assert_ptr_eq(vm_paging_initial(&cfg.guests[1]), &paging_nested_ops);
	ck_assert(cfg.guests[1].dyn_window_ms == 0.5 && cfg.guests[1].dyn_margin == 0.25);
	ck_assert_uint_eq(cfg.guests[1].dyn_confirm, 4);
	ck_assert_uint_eq(cfg.guests[1].dyn_min_windows, 7);
	ck_assert_uint_eq(cfg.guests[1].churn_region, 128 << 10);
	ck_assert_uint_eq(cfg.guests[1].churn_unmap_pm, 40);
	ck_assert_uint_eq(cfg.guests[1].churn_life, 900);
	ck_assert_uint_eq(cfg.guests[2].sparse_stride, 32);
	/* defaults */
	ck_assert_str_eq(cfg.guests[2].paging, "nested");
	ck_assert(!cfg.guests[2].guest_large && !cfg.guests[2].host_large);
	ck_assert(cfg.guests[2].dyn_window_ms == 1 && cfg.guests[2].dyn_margin == 0.1);
	vmm_config_free(&cfg);
}
END_TEST

/* The memory policy's keys: defaults (ESX's where it has them) and values. */
START_TEST(test_policy_keys)
{
	const char *path = test_write_file(
	    "policy.ini", "[host]\nballoon = on\nswap_file = /tmp/x.swap\nswap_victim = lru\n"
			  "swap_size = 64M\npolicy_ms = 2.5\nidle_tax = 0, 50@100, 75@250.5\n"
			  "ws_period_ms = 20\nws_samples = 50\nfree_low = 0.5\n"
			  "balloon_rate = 0\nballoon_max = 80\nballoon_queue = 128\n"
			  "duration_ms = 900\n"
			  "[guest t]\nworkload = steps\nsteps = 8M, 0, 24M\nstep_ms = 30\n"
			  "balloon_target = 64M\nballoon_driver = ignore\n"
			  "[guest d]\nmemory = 16M\n");
	struct vmm_config cfg;
	const struct vmm_host_cfg *h = &cfg.host;
	char err[512] = "";

	ck_assert_int_eq(vmm_config_load(&cfg, path, NULL, 0, err, sizeof(err)), 0);
	ck_assert(h->balloon);
	ck_assert_str_eq(h->swap_victim, "lru");
	ck_assert_uint_eq(h->swap_size, 64u << 20);
	ck_assert(h->policy_ms == 2.5);
	ck_assert_uint_eq(h->ntau, 3);
	ck_assert(h->tau[0] == 0 && h->tau[1] == 0.5 && h->tau[2] == 0.75);
	ck_assert(h->tau_ms[1] == 100 && h->tau_ms[2] == 250.5);
	ck_assert(h->ws_period_ms == 20 && h->ws_samples == 50);
	ck_assert(h->ws_slow_gain == 0.1 && h->ws_fast_gain == 0.5); /* defaults */
	ck_assert(h->free_pct[0] == 6 && h->free_pct[1] == 4 && h->free_pct[2] == 2);
	ck_assert(h->free_pct[3] == 0.5);
	ck_assert_uint_eq(h->balloon_rate, 0);
	ck_assert_uint_eq(h->balloon_max_pct, 80);
	ck_assert_uint_eq(h->balloon_queue, 128);
	ck_assert(h->duration_ms == 900);
	ck_assert_uint_eq(cfg.guests[0].nsteps, 3);
	ck_assert_uint_eq(cfg.guests[0].steps[1], 0);
	ck_assert_uint_eq(cfg.guests[0].wss, 24u << 20); /* the largest step */
	ck_assert(cfg.guests[0].step_ms == 30);
	ck_assert(cfg.guests[0].balloon_fixed);
	ck_assert_uint_eq(cfg.guests[0].balloon_target, 64u << 20);
	ck_assert_str_eq(cfg.guests[0].balloon_driver, "ignore");
	ck_assert_str_eq(cfg.guests[1].balloon_driver, "virtio");
	ck_assert(!cfg.guests[1].balloon_fixed);
	vmm_config_free(&cfg);
	/* the defaults */
	path = test_write_file("d.ini", "[guest g]\nmemory = 16M\n");
	ck_assert_int_eq(vmm_config_load(&cfg, path, NULL, 0, err, sizeof(err)), 0);
	ck_assert_str_eq(h->swap_victim, "random");
	ck_assert(h->ntau == 1 && h->tau[0] == 0.75);
	ck_assert(h->ws_period_ms == 30000 && h->ws_samples == 100);
	ck_assert(h->policy_ms == 100 && h->duration_ms == 0);
	ck_assert_uint_eq(h->balloon_max_pct, 65);
	ck_assert(!h->balloon && !h->swap_file[0]);
	vmm_config_free(&cfg);
}
END_TEST

START_TEST(test_kvm_config)
{
	const char *path = test_write_file("kvm.ini", "[guest lin]\n"
						      "backend = kvm\n"
						      "memory = 128M\n"
						      "kernel = vmlinuz\n"
						      "initrd = /boot/initrd.gz\n"
						      "vcpus = 2\n"
						      "timeout = 90\n"
						      "workload = ptwrite\n"
						      "cmdline = loglevel=7\n");
	const char *slash = strrchr(path, '/');
	struct vmm_config cfg;
	char err[512] = "", want[1024];

	ck_assert_int_eq(vmm_config_load(&cfg, path, NULL, 0, err, sizeof(err)), 0);
	/* relative to the config's folder; absolute stays */
	snprintf(want, sizeof(want), "%.*s/vmlinuz", (int)(slash - path), path);
	ck_assert_str_eq(cfg.guests[0].kernel, want);
	ck_assert_str_eq(cfg.guests[0].initrd, "/boot/initrd.gz");
	ck_assert_uint_eq(cfg.guests[0].vcpus, 2);
	ck_assert(cfg.guests[0].timeout == 90);
	ck_assert_str_eq(cfg.guests[0].cmdline, "loglevel=7");
	ck_assert(!cfg.guests[0].paging_given);
	vmm_config_free(&cfg);
}
END_TEST

START_TEST(test_set_overrides)
{
	const char *path = test_write_file("good.ini", good);
	char *sets[] = {"web.memory=32M", "host.memory=128M", "cost.walk_ref=35",
			"guest db.procs=2"};
	struct vmm_config cfg;
	char err[512] = "";

	ck_assert_int_eq(vmm_config_load(&cfg, path, sets, 4, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.guests[0].memory, 32u << 20);
	ck_assert_uint_eq(cfg.guests[0].max, 32u << 20);
	ck_assert_uint_eq(cfg.host.memory, 128u << 20);
	ck_assert(cfg.cost.walk_ref == 35);
	ck_assert_uint_eq(cfg.guests[3].procs, 2);
	vmm_config_free(&cfg);
}
END_TEST

/* Table of bad configs: each must fail, and the message must carry all of
 * the expected fragments (file:line, section, key). */
static const struct {
	const char *text;
	const char *frag[3];
} bad[] = {
    {"[host]\nmemory = 64M\nbogus = 1\n[guest a]\n", {"bad.ini:3:", "bogus", "unknown key"}},
    {"[host]\nmemory = lots\n[guest a]\n", {"bad.ini:2:", "memory", "bad value"}},
    {"[guest a]\nmemory = 8M\nworkload = fractal\n", {"bad.ini:3:", "workload", "fractal"}},
    {"[guest a]\npaging = magic\n", {"bad.ini:2:", "paging", "magic"}},
    {"[guest a]\nmemory = 8M\nmax = 16M\n", {"bad.ini:3:", "max", "min <= max"}},
    {"[guest a]\nmin = 9M\nmemory = 8M\n", {"bad.ini:2:", "min", "min <= max"}},
    {"[host]\nmemory = 16M\n[guest a]\ncount = 3\nmemory = 16M\nmin = 8M\n",
     {"bad.ini:2:", "memory", "budget too small"}},
    {"[guest a]\nwrite_pct = 101\n", {"bad.ini:2:", "write_pct", "bad value"}},
    {"[guest a]\nbackend = quantum\n", {"bad.ini:2:", "backend", "quantum"}},
    {"[guest a]\nbackend = kvm\n", {"bad.ini", "kernel", "backend kvm needs kernel"}},
    {"[guest a]\nbackend = kvm\nkernel = k\ninitrd = i\nmemory = 17M\n",
     {"bad.ini:5:", "memory", "multiple of 2M"}},
    {"[guest a]\nbackend = kvm\nkernel = k\ninitrd = i\nvcpus = 0\n",
     {"bad.ini:5:", "vcpus", "1 to 8"}},
    {"[guest a]\nbackend = kvm\nkernel = k\ninitrd = i\nworkload = fractal\n",
     {"bad.ini:5:", "workload", "ptwrite"}},
    {"[host]\nswap_file = s\nswap_victim = lru\n[guest a]\nbackend = kvm\nkernel = k\ninitrd = "
     "i\n",
     {"bad.ini", "swap_victim", "on kvm, random"}},
    {"[host]\nlinux_ksm = on\nsharing = on\n[guest a]\nbackend = kvm\nkernel = k\ninitrd = i\n",
     {"bad.ini", "linux_ksm", "not with [host] sharing"}},
    {"[host]\nlinux_ksm = on\nswap_file = s\n[guest a]\nbackend = kvm\nkernel = k\ninitrd = "
     "i\n",
     {"bad.ini", "linux_ksm", "not with [host] swap_file"}},
    {"[host]\nlinux_ksm = on\n[guest a]\nmemory = 8M\n",
     {"bad.ini", "linux_ksm", "kvm guests only"}},
    {"[galaxy]\nx = 1\n", {"bad.ini:2:", "galaxy", "unknown section"}},
    {"[host]\nmemory = 64M\n", {"bad.ini", "no [guest NAME] section", ""}},
    {"[guest a]\nmemory =\n", {"bad.ini:2:", "memory", "empty value"}},
    {"[guest a]\nreclaim = fifo\n", {"bad.ini:2:", "reclaim", "fifo"}},
    {"[guest a]\nzero_pct = 60\nlibrary_pct = 60\n", {"bad.ini:3:", "library_pct", "exceed"}},
    {"[guest a]\nmemory = 1000\n", {"bad.ini:2:", "memory", "multiple of 4K"}},
    {"[cost]\nwalk_ref = -3\n[guest a]\n", {"bad.ini:2:", "walk_ref", "bad value"}},
    {"[cost]\nexit.teleport = 3\n[guest a]\n", {"bad.ini:2:", "exit.teleport", "unknown key"}},
    {"[host]\ntlb_entries = 1000\ntlb_ways = 3\n[guest a]\n", {"bad.ini", "tlb_entries", ""}},
    {"this is not ini\n", {"bad.ini:1:", "", ""}},
    {"[guest a b]\nmemory = 8M\n", {"bad.ini", "guest a b", "no spaces"}},
    {"[guest a]\npaging = dynamic\npaging_switch_every = 100\n",
     {"bad.ini:3:", "paging_switch_every", "dynamic switches by itself"}},
    {"[guest a]\npaging_switch_at = 5, 3\n", {"bad.ini:2:", "paging_switch_at", "bad value"}},
    {"[guest a]\npaging_switch_at = 5, soon\n", {"bad.ini:2:", "paging_switch_at", "soon"}},
    {"[guest a]\npaging = dynamic\ndynamic_margin = 1.5\n",
     {"bad.ini:3:", "dynamic_margin", "[0, 1)"}},
    {"[guest a]\ndynamic_confirm = 0\n", {"bad.ini:2:", "dynamic_confirm", "at least 1"}},
    {"[guest a]\nguest_large = maybe\n", {"bad.ini:2:", "guest_large", "bad value"}},
    {"[host]\nshadow_roots = 0\n[guest a]\n", {"bad.ini:2:", "shadow_roots", "at least 1"}},
    {"[guest a]\nmemory = 8M\nwss = 1M\nworkload = churn\nchurn_region = 2M\n",
     {"bad.ini:5:", "churn_region", "at most wss"}},
    {"[guest a]\nworkload = sparse\nsparse_stride = 0\n",
     {"bad.ini:3:", "sparse_stride", "1..1048576"}},
};

START_TEST(test_bad_config)
{
	const char *path = test_write_file("bad.ini", bad[_i].text);
	struct vmm_config cfg;
	char err[512] = "";

	ck_assert_int_ne(vmm_config_load(&cfg, path, NULL, 0, err, sizeof(err)), 0);
	for (int k = 0; k < 3; k++)
		ck_assert_msg(strstr(err, bad[_i].frag[k]), "case %d: '%s' lacks '%s'", _i, err,
			      bad[_i].frag[k]);
}
END_TEST

START_TEST(test_bad_set)
{
	const char *path = test_write_file("good.ini", good);
	char *sets1[] = {"nosuch.memory=1G"};
	char *sets2[] = {"web.memory"};
	char *sets3[] = {"web.colour=blue"};
	struct vmm_config cfg;
	char err[512] = "";

	ck_assert_int_ne(vmm_config_load(&cfg, path, sets1, 1, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "--set"));
	ck_assert_ptr_nonnull(strstr(err, "nosuch"));
	ck_assert_int_ne(vmm_config_load(&cfg, path, sets2, 1, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "SECTION.KEY=VALUE"));
	ck_assert_int_ne(vmm_config_load(&cfg, path, sets3, 1, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "colour"));
}
END_TEST

START_TEST(test_missing_file)
{
	struct vmm_config cfg;
	char err[512] = "";

	ck_assert_int_eq(vmm_config_load(&cfg, "/nonexistent/x.ini", NULL, 0, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.ini"));
}
END_TEST

static const struct {
	const char *in;
	uint64_t out;
	int r;
} sizes[] = {
    {"4096", 4096, 0},
    {"4K", 4096, 0},
    {"64M", 64ull << 20, 0},
    {"4G", 4ull << 30, 0},
    {"2g", 2ull << 30, 0},
    {"1MB", 1 << 20, 0},
    {"", 0, -EINVAL},
    {"-1M", 0, -EINVAL},
    {"12Q", 0, -EINVAL},
    {"M", 0, -EINVAL},
    {"99999999999999999999G", 0, -EINVAL},
};

START_TEST(test_sizes)
{
	uint64_t v = 0;

	ck_assert_int_eq(vmm_parse_size(sizes[_i].in, &v), sizes[_i].r);
	if (!sizes[_i].r)
		ck_assert_uint_eq(v, sizes[_i].out);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_good_config);
	tcase_add_test(tc, test_paging_keys);
	tcase_add_test(tc, test_policy_keys);
	tcase_add_test(tc, test_set_overrides);
	tcase_add_test(tc, test_kvm_config);
	tcase_add_loop_test(tc, test_sizes, 0, ARRAY_SIZE(sizes));
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_bad_config, 0, ARRAY_SIZE(bad));
	tcase_add_test(tc, test_bad_set);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);
	return s;
}

START_TEST(test_cost_keys)
{
	struct vmm_cost c;

	vmm_cost_defaults(&c);
	ck_assert(c.walk_ref > 0 && c.ghz > 0);
	for (int r = 0; r < MMU_EXIT_NR; r++)
		ck_assert_msg(c.exit[r] > 0, "exit %s has no default cost",
			      mmu_exit_name((enum mmu_exit_reason)r));
	ck_assert_int_eq(vmm_cost_set(&c, "exit.nested_fault", "1234"), 0);
	ck_assert(c.exit[MMU_EXIT_NESTED_FAULT] == 1234);
	ck_assert_int_eq(vmm_cost_set(&c, "ghz", "0"), -EINVAL);
	ck_assert_int_eq(vmm_cost_set(&c, "walk_ref", "x"), -EINVAL);
	ck_assert_int_eq(vmm_cost_set(&c, "nope", "1"), -ENOENT);
}
END_TEST

Suite *cost_suite(void)
{
	Suite *s = suite_create("cost");
	TCase *tc = tcase_create("keys");

	tcase_add_test(tc, test_cost_keys);
	suite_add_tcase(s, tc);
	return s;
}
