/* SPDX-License-Identifier: MIT */
/*
 * check_kvm: the KVM backend's suite. It needs /dev/kvm: `make check-kvm`
 * runs it on the host where there is one, and inside a nested QEMU guest
 * (tests/kvm/run-nested.sh) where there is not, and its tiny-guest part
 * directly on a software KVM such as kvm_pvm. Without /dev/kvm it says so
 * and fails, rather than pass having tested nothing; a test of a hardware
 * KVM's own behaviour is skipped on other hosts with a "skip" line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/kvm/check_kvm.h"

struct kv_vm *kv_test_vm(const char *name, uint64_t memory, unsigned vcpus, bool balloon)
{
	struct kv_vm_params p = {
	    .name = name,
	    .memory = memory,
	    .vcpus = vcpus,
	    .balloon = balloon,
	    .balloon_oom = true,
	    .pin_cpu = -1,
	};
	char err[512];
	struct kv_vm *vm = kv_vm_create(&p, err, sizeof(err));

	ck_assert_msg(vm != NULL, "%s", err);
	return vm;
}

void kv_test_skip(const char *name, const struct kv_host *h, const char *why)
{
	printf("check_kvm: skip %s: %s; /dev/kvm here is %s (%s)\n", name, why,
	       h->module[0] ? h->module : "from no module memvisor knows", kv_host_mode(h));
}

int main(void)
{
	struct kv_host h;
	SRunner *sr;
	int failed;

	if (access("/dev/kvm", R_OK | W_OK)) {
		perror("check_kvm: /dev/kvm");
		return EXIT_FAILURE;
	}
	kv_host_probe("", &h);
	sr = srunner_create(kv_tiny_suite(&h));
	srunner_add_suite(sr, kv_mem_suite());
	srunner_add_suite(sr, kv_lksm_suite());
	/* tests/kvm/suite.sh sets it where Linux guests boot (hardware KVM, or
	 * a host that passed check-kvm's probe) */
	if (getenv("MEMVISOR_KVM_KERNEL"))
		srunner_add_suite(sr, kv_linux_suite());
	else
		fprintf(stderr, "check_kvm: MEMVISOR_KVM_KERNEL unset: no Linux guest tests\n");
	fflush(stdout);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
