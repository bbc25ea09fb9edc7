/* SPDX-License-Identifier: MIT */
/* test_linux: a Debian Linux guest on memvisor's KVM backend. */
#include "tests/kvm/check_kvm.h"

Suite *kvm_linux_suite(void)
{
	return suite_create("kvm_linux");
}
