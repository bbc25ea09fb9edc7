/* SPDX-License-Identifier: MIT */
/* check_kvm: the KVM suite's test cases (they need /dev/kvm). */
#ifndef TESTS_KVM_CHECK_KVM_H
#define TESTS_KVM_CHECK_KVM_H
#include <check.h>

#include "vmm-core/kvm/kvm_internal.h"

/* test_tiny.c: exits, balloon transport, hangs; the tests of a hardware
 * KVM's own behaviour only where h is one */
Suite *kv_tiny_suite(const struct kv_host *h);
Suite *kv_linux_suite(void); /* test_linux.c: a Debian guest and its own driver */
Suite *kv_mem_suite(void);   /* test_mem.c: sharing and host swap, races */
Suite *kv_lksm_suite(void);  /* test_lksm.c: Linux's KSM over guest RAM */

/* A VM of memory bytes for a test, with or without the balloon; fails the
 * test when it cannot be made. */
struct kv_vm *kv_test_vm(const char *name, uint64_t memory, unsigned vcpus, bool balloon);

/* Say that test NAME does not run on host h, and why (one "skip" line that
 * tests/kvm/suite.sh counts). */
void kv_test_skip(const char *name, const struct kv_host *h, const char *why);

#endif
