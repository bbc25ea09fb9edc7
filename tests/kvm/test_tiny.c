/* SPDX-License-Identifier: MIT */
/* test_tiny: the hand-assembled guests: exits, KVM's counters, the balloon
 * behind legacy virtio-PCI with real hole punching, hangs, many VMs. */
#include <errno.h>
#include <string.h>

#include "tests/kvm/check_kvm.h"
#include "tests/kvm/tiny_guests.h"

#define MIB (1ull << 20)

static void put16(struct kv_vm *vm, uint64_t gpa, uint16_t v)
{
	memcpy(kv_vm_gpa(vm, gpa, 2), &v, 2);
}
static void put32(struct kv_vm *vm, uint64_t gpa, uint32_t v)
{
	memcpy(kv_vm_gpa(vm, gpa, 4), &v, 4);
}

static void load(struct kv_vm *vm, enum kv_tiny which)
{
	size_t len;
	const uint8_t *img = kv_tiny_image(which, &len);

	ck_assert_int_eq(kv_boot_flat(vm, KV_TINY_LOAD, img, len), 0);
}

/* Run to the debug exit; fail the test on anything else. */
static void run_to_end(struct kv_vm *vm)
{
	int end;

	ck_assert_int_eq(kv_vm_start(vm), 0);
	end = kv_vm_wait(vm, 60000);
	ck_assert_msg(end == KV_END_DEBUG_EXIT, "guest ended %d: %s", end, vm->err);
	ck_assert_int_eq(vm->end_status, KV_TINY_DONE);
}

START_TEST(exits_counted)
{
	struct kv_vm *vm = kv_test_vm("tiny", 64 * MIB, 1, false);
	uint64_t io = 0, before;

	load(vm, KV_TINY_EXITS);
	put16(vm, KV_TINY_PARAMS, 100);	    /* pages */
	put16(vm, KV_TINY_PARAMS + 2, 500); /* outs */
	before = kv_vm_ram_allocated(vm);
	run_to_end(vm);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(vm, 0x20, 100), 100);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		io += vm->vcpu[i].io_exits;
	/* "OK\n", 500 outs to 0x80, the debug exit */
	ck_assert_uint_eq(io, 3 + 500 + 1);
	ck_assert_str_eq(vm->res.last, "OK");

	/* 100 first touches allocate 100 pages of the memfd */
	ck_assert_uint_eq(kv_vm_ram_allocated(vm) - before, 100 * 4096);
	kv_vm_destroy(vm);
}
END_TEST

/* KVM's own binary stats count the same exits: what a hardware KVM does;
 * a software hypervisor may count differently (PVM reports io_exits 0). */
START_TEST(stats_count_exits)
{
	struct kv_vm *vm = kv_test_vm("tiny", 64 * MIB, 1, false);
	struct kv_stats st;
	uint64_t io = 0;

	load(vm, KV_TINY_EXITS);
	put16(vm, KV_TINY_PARAMS, 100);	    /* pages */
	put16(vm, KV_TINY_PARAMS + 2, 500); /* outs */
	run_to_end(vm);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		io += vm->vcpu[i].io_exits;
	ck_assert_uint_eq(io, 3 + 500 + 1);
	ck_assert_int_eq(kv_stats_read(vm, &st), 0);
	ck_assert(st.binary && st.have[KV_STAT_io_exits] && st.have[KV_STAT_exits]);
	ck_assert_uint_eq(st.v[KV_STAT_io_exits], io);
	ck_assert_uint_ge(st.v[KV_STAT_exits], io);
	ck_assert_uint_ge(st.v[KV_STAT_pf_fixed], 100);
	printf("tiny exits: io_exits %llu exits %llu pf_fixed %llu\n",
	       (unsigned long long)st.v[KV_STAT_io_exits], (unsigned long long)st.v[KV_STAT_exits],
	       (unsigned long long)st.v[KV_STAT_pf_fixed]);
	kv_vm_destroy(vm);
}
END_TEST

#define INFL_RING 0x200000ull /* pfn 0x200 */
#define DEFL_RING 0x210000ull
#define INFL_BUF  0x300000ull
#define DEFL_BUF  0x301000ull
#define DATA_PFN  0x1000u /* 16 MiB: the frames the guest gives */

/* One chain of n pfns at buf on the legacy ring at base (size 128). */
static void post(struct kv_vm *vm, uint64_t base, uint64_t buf, const uint32_t *pfns, unsigned n)
{
	struct balloon_vring_desc d = {.addr = buf, .len = n * 4};
	uint64_t avail = balloon_vring_legacy_avail(base, 128);

	memcpy(kv_vm_gpa(vm, buf, n * 4), pfns, n * 4);
	/* the used ring's page too, so that the device writing it later
	 * allocates nothing */
	memset(kv_vm_gpa(vm, balloon_vring_legacy_used(base, 128), 4096), 0, 4096);
	memcpy(kv_vm_gpa(vm, base, sizeof(d)), &d, sizeof(d));
	put16(vm, avail + 4, 0); /* ring[0] = head 0 */
	put16(vm, avail + 2, 1); /* idx */
}

static uint16_t used_idx(struct kv_vm *vm, uint64_t base)
{
	uint16_t v;

	memcpy(&v, kv_vm_gpa(vm, balloon_vring_legacy_used(base, 128) + 2, 2), 2);
	return v;
}

START_TEST(balloon_punches_holes)
{
	struct kv_vm *vm = kv_test_vm("tinyb", 64 * MIB, 1, true);
	uint32_t pfns[256];
	struct balloon_counters c;
	uint64_t before, after;

	for (unsigned i = 0; i < 256; i++)
		pfns[i] = DATA_PFN + i;
	memset(kv_vm_gpa(vm, (uint64_t)DATA_PFN << 12, 257 * 4096), 0x5a, 257 * 4096);
	load(vm, KV_TINY_BALLOON);
	put32(vm, KV_TINY_PARAMS + 4, INFL_RING >> 12);
	put32(vm, KV_TINY_PARAMS + 8, DEFL_RING >> 12);
	post(vm, INFL_RING, INFL_BUF, pfns, 256);
	post(vm, DEFL_RING, DEFL_BUF, pfns, 16); /* and 16 come back */
	before = kv_vm_ram_allocated(vm);
	run_to_end(vm);
	after = kv_vm_ram_allocated(vm);
	kv_dev_balloon_counters(vm, &c);
	ck_assert_uint_eq(c.inflated, 256);
	ck_assert_uint_eq(c.deflated, 16);
	ck_assert_uint_eq(c.actual, 240);
	ck_assert_uint_eq(c.rejected_batches, 0);
	ck_assert_uint_eq(used_idx(vm, INFL_RING), 1);
	ck_assert_uint_eq(used_idx(vm, DEFL_RING), 1);
	/* the memfd gave back exactly the 256 frames the guest gave */
	printf("tiny balloon: memfd %llu -> %llu bytes allocated\n", (unsigned long long)before,
	       (unsigned long long)after);
	ck_assert_uint_eq(before - after, 256 * 4096);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(vm, DATA_PFN, 256), 0);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(vm, DATA_PFN + 256, 1), 1);
	ck_assert_uint_eq(*(uint8_t *)kv_vm_gpa(vm, (uint64_t)(DATA_PFN + 20) << 12, 1), 0);
	ck_assert_uint_eq(*(uint8_t *)kv_vm_gpa(vm, (uint64_t)(DATA_PFN + 256) << 12, 1), 0x5a);
	kv_vm_destroy(vm);
}
END_TEST

START_TEST(balloon_bad_batch_touches_nothing)
{
	struct kv_vm *vm = kv_test_vm("tinybad", 64 * MIB, 1, true);
	uint32_t pfns[4] = {DATA_PFN, DATA_PFN + 1, 64u << 8 /* 64 MiB: beyond */, DATA_PFN + 2};
	struct balloon_counters c;
	uint64_t before;

	memset(kv_vm_gpa(vm, (uint64_t)DATA_PFN << 12, 4 * 4096), 0x5a, 4 * 4096);
	load(vm, KV_TINY_BALLOON);
	put32(vm, KV_TINY_PARAMS + 4, INFL_RING >> 12);
	put32(vm, KV_TINY_PARAMS + 8, DEFL_RING >> 12);
	post(vm, INFL_RING, INFL_BUF, pfns, 4);
	pfns[0] = 7; /* below 1 MiB: not the guest's to give */
	post(vm, DEFL_RING, DEFL_BUF, pfns, 1);
	before = kv_vm_ram_allocated(vm);
	run_to_end(vm);
	kv_dev_balloon_counters(vm, &c);
	ck_assert_uint_eq(c.rejected_batches, 2);
	ck_assert_uint_eq(c.actual, 0);
	ck_assert_uint_eq(kv_vm_ram_allocated(vm), before);
	ck_assert_uint_eq(*(uint8_t *)kv_vm_gpa(vm, (uint64_t)DATA_PFN << 12, 1), 0x5a);
	ck_assert_uint_eq(used_idx(vm, INFL_RING), 1); /* returned, unused */
	kv_vm_destroy(vm);
}
END_TEST

START_TEST(hang_times_out)
{
	static const uint8_t spin[] = {0xeb, 0xfe}; /* jmp . */
	struct kv_vm *vm = kv_test_vm("spin", 16 * MIB, 2, false);

	ck_assert_int_eq(kv_boot_flat(vm, KV_TINY_LOAD, spin, sizeof(spin)), 0);
	ck_assert_int_eq(kv_vm_start(vm), 0);
	ck_assert_int_eq(kv_vm_wait(vm, 1500), KV_END_RUNNING);
	kv_vm_end(vm, KV_END_STOPPED, "guest spin: no end within 1.5 s");
	ck_assert_int_eq(kv_vm_wait(vm, 0), KV_END_STOPPED);
	kv_vm_destroy(vm); /* joins both vCPU threads */
}
END_TEST

START_TEST(many_vms_in_one_process)
{
	struct kv_vm *vm[4];
	char name[16];

	for (unsigned i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "tiny%u", i);
		vm[i] = kv_test_vm(name, 32 * MIB, 1, true);
		load(vm[i], KV_TINY_EXITS);
		put16(vm[i], KV_TINY_PARAMS, (uint16_t)(10 * (i + 1)));
		put16(vm[i], KV_TINY_PARAMS + 2, 10);
	}
	for (unsigned i = 0; i < 4; i++)
		ck_assert_int_eq(kv_vm_start(vm[i]), 0);
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_int_eq(kv_vm_wait(vm[i], 60000), KV_END_DEBUG_EXIT);
		/* each memfd holds its own guest's touches */
		ck_assert_uint_ge(kv_vm_ram_allocated(vm[i]), 10 * (i + 1) * 4096);
		ck_assert_uint_lt(kv_vm_ram_allocated(vm[i]), (10 * (i + 1) + 8) * 4096);
	}
	for (unsigned i = 0; i < 4; i++)
		kv_vm_destroy(vm[i]);
}
END_TEST

/* The dirty log as the working-set sampler uses it: every bit starts set
 * with nothing write-protected; cleared pages come back exactly when the
 * guest writes them; the sampler over the whole guest counts those. */
START_TEST(dirty_log_working_set)
{
	struct kv_vm_params p = {
	    .name = "dirty", .memory = 16 * MIB, .vcpus = 1, .pin_cpu = -1, .dirty_log = true};
	uint64_t bm[(16 * MIB >> 12) / 64], set = 0;
	struct mem_wss_estimate e;
	struct kv_wss *w;
	struct kv_vm *vm;
	char err[512];

	vm = kv_vm_create(&p, err, sizeof(err));
	ck_assert_msg(vm != NULL, "%s", err);
	ck_assert_msg(vm->dirty_log, "no manual dirty-log protection in this kernel");
	load(vm, KV_TINY_EXITS);
	put16(vm, KV_TINY_PARAMS, 100); /* pages from pfn 0x20 */
	put16(vm, KV_TINY_PARAMS + 2, 0);
	ck_assert_int_eq(kv_vm_dirty_get(vm, bm), 0);
	for (unsigned i = 0; i < sizeof(bm) / 8; i++)
		ck_assert_uint_eq(bm[i], ~0ull); /* initially set */
	ck_assert_int_eq(kv_vm_dirty_clear(vm, 3, 1), -EINVAL);
	ck_assert_int_eq(kv_vm_dirty_clear(vm, 16 * MIB >> 12, 1), -EINVAL);
	/* the sampler over all 4096 pages clears every bit */
	w = kv_wss_create(vm, 100000, 1, 1, 7);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(kv_wss_estimate(w, &e), 0);
	ck_assert_uint_eq(e.touched, 0);
	ck_assert(e.max == 1); /* nothing known yet: no tax */
	run_to_end(vm);
	ck_assert_int_eq(kv_vm_dirty_get(vm, bm), 0);
	for (unsigned pfn = 0x20; pfn < 0x20 + 100; pfn++) {
		ck_assert(bm[pfn / 64] >> (pfn % 64) & 1); /* the guest's stores */
		bm[pfn / 64] &= ~(1ull << (pfn % 64));
	}
	/* and the pages KVM itself wrote for the guest (seen: 2, in real mode) */
	printf("dirty log: pages written besides the guest's 100 stores:");
	for (unsigned i = 0; i < sizeof(bm) / 8; i++)
		for (uint64_t b = bm[i]; b; b &= b - 1, set++)
			printf(" %#x", i * 64 + (unsigned)__builtin_ctzll(b));
	printf("\n");
	ck_assert_uint_le(set, 4);
	ck_assert_int_eq(kv_wss_estimate(w, &e), 0);
	ck_assert_uint_eq(e.touched, 100 + set);
	ck_assert_int_eq(kv_wss_period(w), 0);
	ck_assert_int_eq(kv_wss_estimate(w, &e), 0);
	ck_assert_uint_eq(e.periods, 1);
	ck_assert(e.slow * 4096 > 99.9 + (double)set && e.slow * 4096 < 100.1 + (double)set);
	ck_assert(e.current == 0 && e.max == e.slow); /* gain 1, nothing written since */
	kv_wss_destroy(w);
	kv_vm_destroy(vm);
	/* without the dirty log there is no sampler */
	vm = kv_test_vm("nolog", 16 * MIB, 1, false);
	errno = 0;
	ck_assert_ptr_null(kv_wss_create(vm, 100, 0.1, 0.5, 1));
	ck_assert_int_eq(errno, ENOTSUP);
	kv_vm_destroy(vm);
}
END_TEST

START_TEST(bad_params)
{
	struct kv_vm_params p = {.name = "x", .memory = 5 * MIB, .vcpus = 1};
	char err[256];

	ck_assert_ptr_null(kv_vm_create(&p, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "multiple of 2M"));
	p.memory = 4ull << 30;
	ck_assert_ptr_null(kv_vm_create(&p, err, sizeof(err)));
	p.memory = 32 * MIB;
	p.vcpus = 99;
	ck_assert_ptr_null(kv_vm_create(&p, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "vcpus"));
}
END_TEST

Suite *kv_tiny_suite(const struct kv_host *h)
{
	Suite *s = suite_create("kvm_tiny");
	TCase *tc = tcase_create("tiny");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, exits_counted);
	if (h->kind == KV_HOST_HARDWARE)
		tcase_add_test(tc, stats_count_exits);
	else
		kv_test_skip("tiny:stats_count_exits", h,
			     "exit counts in KVM's binary stats are a hardware KVM's");
	tcase_add_test(tc, balloon_punches_holes);
	tcase_add_test(tc, balloon_bad_batch_touches_nothing);
	tcase_add_test(tc, hang_times_out);
	tcase_add_test(tc, many_vms_in_one_process);
	tcase_add_test(tc, dirty_log_working_set);
	tcase_add_test(tc, bad_params);
	suite_add_tcase(s, tc);
	return s;
}
