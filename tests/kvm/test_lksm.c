/* SPDX-License-Identifier: MIT */
/*
 * test_lksm: Linux's KSM over KVM guest RAM ([host] linux_ksm): two VMs
 * whose anonymous RAM holds the same pages get them merged by ksmd at the
 * rate memvisor sets, the pages saved show in the count the policy uses,
 * a write breaks a merge without touching the other guest's copy, and
 * ksmd's settings are put back at the end. On any /dev/kvm (the vCPUs
 * never run); skipped without KSM or the root it takes to turn ksmd on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/kvm/check_kvm.h"
#include "vmm-core/kvm/backend_kvm_internal.h"

#define PAGES 1024u

static struct kv_vm *anon_vm(const char *name)
{
	struct kv_vm_params p = {
	    .name = name, .memory = 16u << 20, .vcpus = 1, .pin_cpu = -1, .anon = true};
	char err[512];
	struct kv_vm *vm = kv_vm_create(&p, err, sizeof(err));

	ck_assert_msg(vm != NULL, "%s", err);
	return vm;
}

static uint64_t ksm_run(void)
{
	FILE *f = fopen("/sys/kernel/mm/ksm/run", "r");
	uint64_t v = 99;

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 99;
		fclose(f);
	}
	return v;
}

START_TEST(ksmd_merges_two_guests)
{
	struct vmm_guest_cfg gc = {.scan_rate = 100000};
	struct vmm_config cfg = {.guests = &gc, .nguests = 1};
	struct run_host h = {.cfg = &cfg};
	struct khost kh = {0};
	struct kv_vm *vm[2];
	uint64_t run0 = ksm_run(), base, saved = 0;
	double t0;

	if (access("/sys/kernel/mm/ksm/run", W_OK)) {
		printf("check_kvm: skip linux ksm: /sys/kernel/mm/ksm/run: %s\n", strerror(errno));
		return;
	}
	snprintf(cfg.path, sizeof(cfg.path), "test_lksm");
	vm[0] = anon_vm("ksm0");
	vm[1] = anon_vm("ksm1");
	for (unsigned v = 0; v < 2; v++)
		for (unsigned i = 0; i < PAGES; i++)
			for (unsigned k = 0; k < 4096; k += 8)
				*(uint64_t *)(vm[v]->ram + (uint64_t)(256 + i) * 4096 + k) =
				    i * 0x9e3779b97f4a7c15ull + k;
	ck_assert_int_eq(lksm_init(&h, &kh), 0);
	ck_assert_uint_eq(kh.lksm.to_scan, 2000); /* 100,000 pages/s in 20 ms */
	base = kh.lksm.was_running ? lksm_saved(&kh) : 0;
	t0 = (double)time(NULL);
	while ((double)time(NULL) - t0 < 120 && saved < base + PAGES) {
		usleep(100000);
		saved = lksm_saved(&kh);
	}
	printf("check_kvm: linux ksm: %lu pages saved after %.0f s (of %u identical pairs)\n",
	       (unsigned long)(saved - base), (double)time(NULL) - t0, PAGES);
	ck_assert_uint_ge(saved, base + PAGES);
	/* a merged page is resident in both guests: each still counts it */
	ck_assert_uint_ge(kv_vm_ram_allocated(vm[0]) >> 12, PAGES);
	/* a write breaks the merge: the other guest's copy is untouched */
	vm[0]->ram[300 * 4096] ^= 0xff;
	ck_assert_uint_eq(*(uint64_t *)(vm[1]->ram + 300 * 4096), 44 * 0x9e3779b97f4a7c15ull);
	ck_assert_uint_ne(*(uint64_t *)(vm[0]->ram + 300 * 4096), 44 * 0x9e3779b97f4a7c15ull);
	/* the balloon's discard frees anonymous RAM too */
	ck_assert_int_eq(kv_vm_discard(vm[1], 256, PAGES), 0);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(vm[1], 256, PAGES), 0);
	ck_assert_uint_eq(*(uint64_t *)(vm[1]->ram + 300 * 4096), 0);
	kv_vm_destroy(vm[0]);
	kv_vm_destroy(vm[1]);
	lksm_fini(&kh);
	ck_assert_uint_eq(ksm_run(), run0);
}
END_TEST

Suite *kv_lksm_suite(void)
{
	Suite *s = suite_create("kvm_lksm");
	TCase *tc = tcase_create("kvm_lksm");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, ksmd_merges_two_guests);
	suite_add_tcase(s, tc);
	return s;
}
