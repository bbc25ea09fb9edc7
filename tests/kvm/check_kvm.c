/* SPDX-License-Identifier: MIT */
/*
 * check_kvm: the KVM backend's suite. It needs /dev/kvm: `make check-kvm`
 * runs it on the host where there is one, and inside a nested QEMU guest
 * (tests/kvm/run-nested.sh) where there is not. Without /dev/kvm it says
 * so and fails, rather than pass having tested nothing.
 */
#include <stdlib.h>
#include <unistd.h>

#include "tests/kvm/check_kvm.h"

struct kvm_vm *kvm_test_vm(const char *name, uint64_t memory, unsigned vcpus, bool balloon)
{
	struct kvm_vm_params p = {
	    .name = name,
	    .memory = memory,
	    .vcpus = vcpus,
	    .balloon = balloon,
	    .balloon_oom = true,
	    .pin_cpu = -1,
	};
	char err[512];
	struct kvm_vm *vm = kvm_vm_create(&p, err, sizeof(err));

	ck_assert_msg(vm != NULL, "%s", err);
	return vm;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (access("/dev/kvm", R_OK | W_OK)) {
		perror("check_kvm: /dev/kvm");
		return EXIT_FAILURE;
	}
	sr = srunner_create(kvm_tiny_suite());
	if (getenv("MEMVISOR_KVM_KERNEL"))
		srunner_add_suite(sr, kvm_linux_suite());
	else
		fprintf(stderr, "check_kvm: MEMVISOR_KVM_KERNEL unset: no Linux guest tests\n");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
