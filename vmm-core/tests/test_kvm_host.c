/* SPDX-License-Identifier: MIT */
/* kv_host_probe on made-up hosts: which module provides /dev/kvm, whether
 * it is hardware KVM, its paging mode, and what memvisor says of it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm-core/kvm/kvm_internal.h"
#include "vmm-core/tests/check_vmm.h"

static const struct {
	const char *files; /* "path=content;..." under the root; "dev" links /dev/kvm */
	enum kv_host_kind kind;
	const char *mode, *module, *says;
} hosts[] = {
    {"dev;proc/cpuinfo=flags\t: fpu svm lm\n;sys/module/kvm_amd/parameters/npt=Y\n",
     KV_HOST_HARDWARE, "nested", "kvm_amd", "under nested paging"},
    {"dev;proc/cpuinfo=flags\t: fpu vmx lm\n;sys/module/kvm_intel/parameters/ept=N\n",
     KV_HOST_HARDWARE, "shadow", "kvm_intel", "kvm-mode nested` switches"},
    {"dev;proc/cpuinfo=flags\t: fpu lm\n;sys/module/kvm_pvm/parameters/pvm_native=Y\n", KV_HOST_PVM,
     "software", "kvm_pvm", "stock Linux kernels do not boot"},
    {"dev;proc/cpuinfo=flags\t: fpu lm\n;sys/module/kvm_foo/parameters/x=1\n", KV_HOST_UNKNOWN,
     "unknown", "kvm_foo", "an unknown module kvm_foo"},
    /* a vendor module on a CPU without its flag is no hardware KVM */
    {"dev;proc/cpuinfo=flags\t: fpu lm\n;sys/module/kvm_amd/parameters/npt=1\n", KV_HOST_UNKNOWN,
     "unknown", "kvm_amd", "no svm flag"},
    {"dev;proc/cpuinfo=flags\t: fpu svm\n;sys/module/kvm/parameters/x=1\n", KV_HOST_UNKNOWN,
     "unknown", "", "no module memvisor found"},
    {"proc/cpuinfo=flags\t: fpu svm\n;sys/module/kvm_amd/parameters/npt=Y\n", KV_HOST_NONE, "none",
     "kvm_amd", "no /dev/kvm"},
};

/* Make the files of hosts[i].files under a fresh root; its path. */
static const char *make_root(const char *spec, char *root, size_t len)
{
	char *s = strdup(spec), *save = NULL, path[4300];

	snprintf(root, len, "/tmp/memvisor-kvmhost-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	for (char *item = strtok_r(s, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(item, '=');
		FILE *f;

		if (!strcmp(item, "dev")) {
			snprintf(path, sizeof(path), "%s/dev", root);
			ck_assert_int_eq(mkdir(path, 0755), 0);
			snprintf(path, sizeof(path), "%s/dev/kvm", root);
			ck_assert_int_eq(symlink("/dev/null", path), 0); /* a character device */
			continue;
		}
		*eq = 0;
		snprintf(path, sizeof(path), "%s/%s", root, item);
		for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
			*p = 0;
			mkdir(path, 0755);
			*p = '/';
		}
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(eq + 1, f);
		fclose(f);
	}
	free(s);
	return root;
}

START_TEST(test_probe)
{
	char root[64], why[1024], cmd[128];
	struct kv_host h;

	kv_host_probe(make_root(hosts[_i].files, root, sizeof(root)), &h);
	ck_assert_int_eq(h.kind, hosts[_i].kind);
	ck_assert_str_eq(kv_host_mode(&h), hosts[_i].mode);
	ck_assert_str_eq(h.module, hosts[_i].module);
	ck_assert_int_lt(kv_host_explain(&h, why, sizeof(why)), (int)sizeof(why));
	ck_assert_msg(strstr(why, hosts[_i].says), "host %d says: %s", _i, why);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *kvm_host_suite(void)
{
	Suite *s = suite_create("kvm_host");
	TCase *tc = tcase_create("probe");

	tcase_add_loop_test(tc, test_probe, 0, ARRAY_SIZE(hosts));
	suite_add_tcase(s, tc);
	return s;
}
