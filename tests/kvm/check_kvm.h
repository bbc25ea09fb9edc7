/* SPDX-License-Identifier: MIT */
/* check_kvm: the KVM suite's test cases (they need /dev/kvm). */
#ifndef TESTS_KVM_CHECK_KVM_H
#define TESTS_KVM_CHECK_KVM_H
#include <check.h>

#include "vmm-core/kvm_internal.h"

Suite *kvm_tiny_suite(void);  /* test_tiny.c: exits, balloon transport, hangs */
Suite *kvm_linux_suite(void); /* test_linux.c: a Debian guest and its own driver */

/* A VM of memory bytes for a test, with or without the balloon; fails the
 * test when it cannot be made. */
struct kvm_vm *kvm_test_vm(const char *name, uint64_t memory, unsigned vcpus, bool balloon);

#endif
