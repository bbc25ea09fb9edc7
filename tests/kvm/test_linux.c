/* SPDX-License-Identifier: MIT */
/*
 * test_linux: a Debian Linux guest on memvisor's KVM backend, booted with
 * the guest initramfs and its program in agent mode: its own
 * virtio_balloon driver is inflated, deflated and driven to deflate-on-OOM
 * by the host. (Booting and running a workload is tests/kvm/boot.ini.) Kernel and initramfs
 * come from MEMVISOR_KVM_KERNEL and MEMVISOR_KVM_INITRD.
 */
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "tests/kvm/check_kvm.h"

#define MIB (1ull << 20)

static struct kv_vm *boot(const char *name, uint64_t memory, const char *extra)
{
	const char *kernel = getenv("MEMVISOR_KVM_KERNEL");
	const char *initrd = getenv("MEMVISOR_KVM_INITRD");
	struct kv_vm *vm = kv_test_vm(name, memory, 2, true);
	char cmdline[1024], err[512];

	const char *echo = getenv("MEMVISOR_KVM_ECHO");

	vm->p.console_echo = echo && *echo;
	snprintf(cmdline, sizeof(cmdline), "%s %s", KV_LINUX_CMDLINE, extra);
	ck_assert_msg(!kv_boot_linux(vm, kernel, initrd, cmdline, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(kv_vm_start(vm), 0);
	return vm;
}

static const char *result(struct kv_vm *vm, const char *key, char *buf)
{
	return kv_dev_result(vm, key, buf, 96);
}

/* Wait until the guest printed key (=value if value != NULL); fail the
 * test after timeout seconds or when the guest ends. */
static void wait_for(struct kv_vm *vm, const char *key, const char *value, unsigned timeout)
{
	uint64_t t0 = kv_now_ns();
	char buf[96];

	for (;;) {
		const char *v = result(vm, key, buf);

		if (v && (!value || !strcmp(v, value)))
			return;
		ck_assert_msg(kv_now_ns() - t0 < timeout * 1000000000ull,
			      "guest %s: no %s=%s within %u s (last line: %s)", vm->name, key,
			      value ? value : "*", timeout, vm->res.last);
		ck_assert_msg(atomic_load(&vm->end) == KV_END_RUNNING,
			      "guest %s ended (%d: %s) before %s (last line: %s)", vm->name,
			      (int)atomic_load(&vm->end), vm->err, key, vm->res.last);
		usleep(20000);
	}
}

static uint64_t result_u64(struct kv_vm *vm, const char *key)
{
	char buf[96];
	const char *v = result(vm, key, buf);

	ck_assert_msg(v != NULL, "guest %s printed no %s", vm->name, key);
	return strtoull(v, NULL, 10);
}

/* Type a command to the agent and wait for its answer. */
static void agent(struct kv_vm *vm, unsigned *acks, const char *cmd, unsigned timeout)
{
	char line[64], want[16];

	snprintf(line, sizeof(line), "%s\n", cmd);
	ck_assert_uint_eq(kv_dev_console_send(vm, line), strlen(line));
	snprintf(want, sizeof(want), "%u", ++*acks);
	wait_for(vm, "ack", want, timeout);
}

static struct balloon_counters counters(struct kv_vm *vm)
{
	struct balloon_counters c;

	kv_dev_balloon_counters(vm, &c);
	return c;
}

/* Wait until the verified balloon size is `pages`. */
static void wait_actual(struct kv_vm *vm, uint64_t pages, unsigned timeout)
{
	uint64_t t0 = kv_now_ns();

	while (counters(vm).actual != pages) {
		ck_assert_msg(kv_now_ns() - t0 < timeout * 1000000000ull,
			      "guest %s: balloon at %llu pages, not %llu, after %u s (guest says "
			      "%llu; last line: %s)",
			      vm->name, (unsigned long long)counters(vm).actual,
			      (unsigned long long)pages, timeout,
			      (unsigned long long)counters(vm).guest_actual, vm->res.last);
		ck_assert_int_eq(atomic_load(&vm->end), KV_END_RUNNING);
		usleep(50000);
	}
}

/* Ballooned frames that still hold host memory (must be none). */
static uint64_t ballooned_but_allocated(struct kv_vm *vm)
{
	uint64_t n = 0;

	pthread_mutex_lock(&vm->dev_lock);
	for (uint64_t pfn = 0; pfn < vm->ram_size >> 12; pfn++)
		if (balloon_pfn_ballooned(vm->balloon, pfn))
			n += kv_vm_ram_allocated_range(vm, pfn, 1);
	pthread_mutex_unlock(&vm->dev_lock);
	return n;
}

START_TEST(balloon_inflate_deflate)
{
	struct kv_vm *vm =
	    boot("linuxb", 256 * MIB, "memvisor.workload=none memvisor.agent memvisor.zram=64M");
	const uint64_t target = 96 * MIB / 4096;
	uint64_t a0, a1, a2, avail;
	unsigned acks = 0;

	wait_for(vm, "agent", "ready", 240);
	/* back every free page of the guest with host memory, then free it */
	agent(vm, &acks, "meminfo", 30);
	avail = result_u64(vm, "memavail_kb");
	{
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "touch %lluK", (unsigned long long)(avail - 16384));
		agent(vm, &acks, cmd, 120);
	}
	agent(vm, &acks, "free", 30);
	a0 = kv_vm_ram_allocated(vm);

	/* inflate: the guest's own driver takes the pages, the host frees them */
	ck_assert_uint_eq(kv_dev_balloon_target(vm, target), target);
	wait_actual(vm, target, 120);
	a1 = kv_vm_ram_allocated(vm);
	printf("linuxb: balloon %llu pages: memfd %llu -> %llu KiB (-%llu KiB, %llu KiB given)\n",
	       (unsigned long long)target, (unsigned long long)(a0 >> 10),
	       (unsigned long long)(a1 >> 10), (unsigned long long)((a0 - a1) >> 10),
	       (unsigned long long)(target * 4));
	ck_assert_uint_eq(ballooned_but_allocated(vm), 0);
	ck_assert_uint_ge(a0 - a1, target * 4096 * 9 / 10);
	agent(vm, &acks, "meminfo", 30);
	ck_assert_uint_le(result_u64(vm, "memavail_kb"), avail - target * 4 + 8192);
	ck_assert_uint_eq(counters(vm).rejected_batches, 0);
	ck_assert_uint_eq(counters(vm).guest_actual, target);

	/* deflate: the guest gets its memory back and uses it again */
	ck_assert_uint_eq(kv_dev_balloon_target(vm, 0), 0);
	wait_actual(vm, 0, 120);
	{
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "touch %lluK", (unsigned long long)(avail - 16384));
		agent(vm, &acks, cmd, 120);
	}
	ck_assert_uint_eq(result_u64(vm, "touch_bytes"), (avail - 16384) * 1024);
	agent(vm, &acks, "check", 60);
	ck_assert_uint_eq(result_u64(vm, "check_bad"), 0);
	a2 = kv_vm_ram_allocated(vm);
	printf("linuxb: deflated, guest touched %llu KiB again: memfd %llu KiB\n",
	       (unsigned long long)(avail - 16384), (unsigned long long)(a2 >> 10));
	ck_assert_uint_ge(a2 - a1, target * 4096 * 9 / 10);
	agent(vm, &acks, "quit", 30);
	ck_assert_int_eq(kv_vm_wait(vm, 60000), KV_END_RESET);
	kv_vm_destroy(vm);
}
END_TEST

START_TEST(deflate_on_oom)
{
	struct kv_vm *vm = boot("linuxo", 256 * MIB, "memvisor.workload=none memvisor.agent");
	uint64_t target, avail;
	struct balloon_counters c;
	unsigned acks = 0;
	char cmd[32];

	wait_for(vm, "agent", "ready", 240);
	ck_assert(counters(vm).features & BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM));
	agent(vm, &acks, "meminfo", 30);
	avail = result_u64(vm, "memavail_kb");
	/* leave the guest 40 MiB of what it had, then lock more than that */
	target = (avail - 40 * 1024) / 4;
	kv_dev_balloon_target(vm, target);
	wait_actual(vm, target, 120);
	snprintf(cmd, sizeof(cmd), "mlock %lluK", (unsigned long long)(40 * 1024 + 16 * 1024));
	agent(vm, &acks, cmd, 240);
	c = counters(vm);
	printf("linuxo: target %llu, locked %llu KiB, balloon now %llu, deflated on OOM %llu\n",
	       (unsigned long long)target, (unsigned long long)result_u64(vm, "mlock_bytes") >> 10,
	       (unsigned long long)c.actual, (unsigned long long)c.deflated_unasked);
	/* the guest took pages back by itself, BALLOON_OOM_NR_PAGES at a time */
	ck_assert_uint_ge(c.deflated_unasked, BALLOON_OOM_NR_PAGES);
	ck_assert_uint_lt(c.actual, target);
	ck_assert_uint_eq(c.target, target); /* the host did not ask */
	ck_assert_uint_eq(ballooned_but_allocated(vm), 0);
	agent(vm, &acks, "quit", 30);
	ck_assert_int_eq(kv_vm_wait(vm, 60000), KV_END_RESET);
	kv_vm_destroy(vm);
}
END_TEST

Suite *kv_linux_suite(void)
{
	Suite *s = suite_create("kvm_linux");
	TCase *tc = tcase_create("balloon");

	/* booting and running a workload: tests/kvm/boot.ini, through memvisor run */
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, balloon_inflate_deflate);
	suite_add_tcase(s, tc);
	/* tests/kvm/suite.sh leaves it to the npt=1 boot, for time */
	if (!getenv("MEMVISOR_KVM_SKIP_OOM")) {
		tc = tcase_create("oom");
		tcase_set_timeout(tc, 600);
		tcase_add_test(tc, deflate_on_oom);
		suite_add_tcase(s, tc);
	}
	return s;
}
