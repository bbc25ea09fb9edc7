/* SPDX-License-Identifier: MIT */
/*
 * test_mem: sharing and host swap of KVM guest memory (kvm_mem.c) on any
 * /dev/kvm: pages leave the memfd and come back with the exact bytes, and
 * writers racing the merges and swap-outs (a host thread, and a tiny
 * guest's vCPU) lose nothing under write protection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ksm/ksm.h"
#include "mem/mem.h"
#include "tests/kvm/check_kvm.h"
#include "tests/kvm/tiny_guests.h"

#define MIB	 (1ull << 20)
#define PAGE	 4096u
#define BASE_PFN 0x20u /* the tiny writer's first page */
#define NPAGES	 64u

struct fixture {
	struct kv_vm *vm;
	struct kv_mem *m;
	int pool_fd;
	uint8_t *pool; /* NPAGES + 1 frames; frame 0 stays zero */
	struct mem_swap *swap;
	char swap_path[128];
	_Atomic uint64_t unshared;
};

static void on_unshared(void *ctx, uint64_t gfn, uint64_t f, bool written)
{
	struct fixture *fx = ctx;

	ck_assert_uint_eq(f, gfn - BASE_PFN + 1); /* merge_now's frame */
	ck_assert(written);
	atomic_fetch_add(&fx->unshared, 1);
}

static void setup(struct fixture *fx, const char *name, bool swap, bool unprotected, uint64_t slots)
{
	struct kv_mem_params p = {.unprotected = unprotected};
	char err[256];

	memset(fx, 0, sizeof(*fx));
	fx->vm = kv_test_vm(name, 16 * MIB, 1, false);
	fx->pool_fd = memfd_create("pool", MFD_CLOEXEC);
	ck_assert_int_ge(fx->pool_fd, 0);
	ck_assert_int_eq(ftruncate(fx->pool_fd, (NPAGES + 1) * PAGE), 0);
	fx->pool =
	    mmap(NULL, (NPAGES + 1) * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fx->pool_fd, 0);
	ck_assert_ptr_ne(fx->pool, MAP_FAILED);
	if (swap) {
		struct mem_swap_params sp = {.path = fx->swap_path, .slots = slots};

		snprintf(fx->swap_path, sizeof(fx->swap_path), "%s/memvisor-kvm-mem-%d-%s.swap",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), name);
		fx->swap = mem_swap_create(&sp);
		ck_assert_msg(fx->swap != NULL, "%s: %s", fx->swap_path, strerror(errno));
		p.swap = fx->swap;
	}
	p.pool_fd = fx->pool_fd;
	fx->m = kv_mem_create(fx->vm, &p, err, sizeof(err));
	ck_assert_msg(fx->m != NULL, "%s", err);
}

static void teardown(struct fixture *fx)
{
	kv_mem_destroy(fx->m);
	kv_vm_destroy(fx->vm);
	munmap(fx->pool, (NPAGES + 1) * PAGE);
	close(fx->pool_fd);
	mem_swap_destroy(fx->swap);
}

static uint8_t *page(struct fixture *fx, unsigned i)
{
	return kv_vm_gpa(fx->vm, (uint64_t)(BASE_PFN + i) * PAGE, PAGE);
}

static void fill(uint8_t *p, unsigned seed)
{
	for (unsigned k = 0; k < PAGE; k++)
		p[k] = (uint8_t)(seed * 131 + k * 7);
}

/* Merge page i onto frame 1 + i holding its bytes as read now (a frame
 * in use by a shared page is not written). */
static int merge_now(struct fixture *fx, unsigned i)
{
	if (kv_mem_state(fx->m, BASE_PFN + i, NULL) != KV_PAGE_RESIDENT)
		return -EBUSY;
	ck_assert_int_eq(
	    pread(fx->vm->mem_fd, fx->pool + (1 + i) * PAGE, PAGE, (off_t)(BASE_PFN + i) * PAGE),
	    PAGE);
	return kv_mem_merge(fx->m, BASE_PFN + i, 1 + i);
}

START_TEST(merge_and_write_back)
{
	struct fixture fx;
	struct kv_mem_stats s;
	uint8_t want[PAGE];
	uint64_t before;

	setup(&fx, "memmerge", false, false, 0);
	fill(page(&fx, 0), 1);
	fill(page(&fx, 1), 2);
	before = kv_vm_ram_allocated(fx.vm);
	ck_assert_int_eq(merge_now(&fx, 0), 1);
	/* not the same bytes: nothing happens */
	fill(fx.pool + 3 * PAGE, 9);
	ck_assert_int_eq(kv_mem_merge(fx.m, BASE_PFN + 1, 2), 0);
	ck_assert_int_eq(kv_mem_state(fx.m, BASE_PFN + 1, NULL), KV_PAGE_RESIDENT);
	/* the page left the memfd, and reads the same through the mapping */
	ck_assert_uint_eq(before - kv_vm_ram_allocated(fx.vm), PAGE);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(fx.vm, BASE_PFN, 1), 0);
	fill(want, 1);
	ck_assert_int_eq(memcmp(page(&fx, 0), want, PAGE), 0);
	ck_assert_int_eq(kv_mem_state(fx.m, BASE_PFN, NULL), KV_PAGE_SHARED);
	/* a write breaks the share: into the guest's memory, not the pool */
	page(&fx, 0)[100] = 0xee;
	ck_assert_int_eq(kv_mem_state(fx.m, BASE_PFN, NULL), KV_PAGE_RESIDENT);
	ck_assert_uint_eq(page(&fx, 0)[100], 0xee);
	ck_assert_uint_eq(fx.pool[PAGE + 100], want[100]);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(fx.vm, BASE_PFN, 1), 1);
	want[100] = 0xee;
	ck_assert_int_eq(memcmp(page(&fx, 0), want, PAGE), 0);
	kv_mem_stats(fx.m, &s);
	ck_assert_uint_eq(s.merges, 1);
	ck_assert_uint_eq(s.unshares, 1);
	/* the break waits for the sharing engine, then is gone */
	ck_assert_int_eq(kv_mem_merge(fx.m, BASE_PFN, 1), -EBUSY);
	kv_mem_drain(fx.m, on_unshared, &fx);
	ck_assert_uint_eq(atomic_load(&fx.unshared), 1);
	kv_mem_drain(fx.m, on_unshared, &fx);
	ck_assert_uint_eq(atomic_load(&fx.unshared), 1);
	ck_assert_int_eq(kv_mem_merge(fx.m, BASE_PFN, 1), 0); /* written: not the frame's bytes */
	teardown(&fx);
}
END_TEST

START_TEST(swap_round_trip)
{
	struct fixture fx;
	struct kv_mem_stats s;
	struct mem_swap_stats ss;
	uint8_t want[PAGE];
	uint64_t before;

	setup(&fx, "memswap", true, false, 0);
	for (unsigned i = 0; i < NPAGES; i++)
		fill(page(&fx, i), 100 + i);
	before = kv_vm_ram_allocated_range(fx.vm, BASE_PFN, NPAGES);
	ck_assert_uint_eq(before, NPAGES);
	for (unsigned i = 0; i < NPAGES; i++)
		ck_assert_int_eq(kv_mem_swap_out(fx.m, BASE_PFN + i), 1);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(fx.vm, BASE_PFN, NPAGES), 0);
	/* every page comes back on its first touch, byte for byte */
	for (unsigned i = 0; i < NPAGES; i++) {
		fill(want, 100 + i);
		ck_assert_msg(!memcmp(page(&fx, i), want, PAGE), "page %u", i);
	}
	ck_assert_uint_eq(kv_vm_ram_allocated_range(fx.vm, BASE_PFN, NPAGES), NPAGES);
	/* discarded while swapped out (the balloon): the slots go too */
	for (unsigned i = 0; i < 8; i++)
		ck_assert_int_eq(kv_mem_swap_out(fx.m, BASE_PFN + i), 1);
	ck_assert_int_eq(kv_vm_discard(fx.vm, BASE_PFN, 8), 0);
	mem_swap_stats(fx.swap, &ss);
	ck_assert_uint_eq(ss.used, 0);
	ck_assert_uint_eq(page(&fx, 3)[5], 0);
	kv_mem_stats(fx.m, &s);
	ck_assert_uint_eq(s.swap_outs, NPAGES + 8);
	ck_assert_uint_eq(s.swap_ins, NPAGES);
	printf("kvm_mem: %u swap-ins, fault thread %.1f us each on average, %.1f us at most\n",
	       NPAGES, (double)s.fault_ns / 1e3 / (double)(s.faults_missing + s.faults_wp),
	       (double)s.fault_ns_max / 1e3);
	teardown(&fx);
}
END_TEST

/* The audit (kvm_audit.c) passes what kv_mem did and catches what it must
 * never leave: a shared page with a private copy (a write past the write
 * protection, made here with the tests' unprotected mode), a page mapped
 * from elsewhere, a hole in the mapping. */
static int audit(struct fixture *fx, char *msg, size_t len)
{
	int r = kv_mem_audit(fx->m, msg, len);

	ck_assert_int_ge(r, 0);
	return r;
}

START_TEST(audit_sees_bad_mappings)
{
	struct fixture fx;
	char msg[160];
	uint8_t *p;

	setup(&fx, "memaudit", true, true, 0);
	for (unsigned i = 0; i < 8; i++)
		fill(page(&fx, i), 200 + i);
	ck_assert_int_eq(audit(&fx, msg, sizeof(msg)), 0);
	ck_assert_int_eq(merge_now(&fx, 0), 1);
	ck_assert_int_eq(merge_now(&fx, 1), 1);
	ck_assert_int_eq(kv_mem_swap_out(fx.m, BASE_PFN + 2), 1);
	ck_assert_msg(audit(&fx, msg, sizeof(msg)) == 0, "%s", msg);
	/* unprotected, a write to a shared page is the kernel's private copy */
	page(&fx, 1)[7] = 1;
	ck_assert_int_eq(audit(&fx, msg, sizeof(msg)), 1);
	ck_assert_msg(strstr(msg, "page 0x21: shared on frame 2 but holds a private copy"), "%s",
		      msg);
	/* a page mapped from something else, and one not mapped at all */
	p = mmap(page(&fx, 4), PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(munmap(page(&fx, 6), PAGE), 0);
	ck_assert_int_eq(audit(&fx, msg, sizeof(msg)), 3);
	ck_assert_msg(strstr(msg, "page 0x21:"), "%s", msg);
	ck_assert_int_eq(audit(&fx, NULL, 0), 3);
	teardown(&fx);
}
END_TEST

/* A full swap file: the page stays where it is, with its bytes. */
START_TEST(swap_full_keeps_page)
{
	struct fixture fx;
	uint8_t want[PAGE];

	setup(&fx, "memfull", true, false, 2);
	for (unsigned i = 0; i < 3; i++)
		fill(page(&fx, i), 7 + i);
	ck_assert_int_eq(kv_mem_swap_out(fx.m, BASE_PFN), 1);
	ck_assert_int_eq(kv_mem_swap_out(fx.m, BASE_PFN + 1), 1);
	ck_assert_int_eq(kv_mem_swap_out(fx.m, BASE_PFN + 2), -ENOSPC);
	ck_assert_int_eq(kv_mem_state(fx.m, BASE_PFN + 2, NULL), KV_PAGE_RESIDENT);
	for (unsigned i = 0; i < 3; i++) {
		fill(want, 7 + i);
		ck_assert_int_eq(memcmp(page(&fx, i), want, PAGE), 0);
	}
	teardown(&fx);
}
END_TEST

/* ---- races ---- */

#define PASSES	400u	      /* the tiny guest's */
#define HOST_NS 2000000000ull /* the host writer's time: whole passes for 2 s */

struct writer {
	struct fixture *fx;
	unsigned passes; /* done, when done */
	_Atomic bool done;
};

/* The host writer: each pass increments the words at offsets 0 and 0x800
 * of each page, as the tiny guest does: a write lost at any time leaves
 * the page short of the last pass. Whole passes for HOST_NS of wall time
 * (a fixed count would take minutes under nested emulation). */
static void *host_writer(void *arg)
{
	struct writer *w = arg;
	uint64_t end = kv_now_ns() + HOST_NS;

	do {
		for (unsigned i = 0; i < NPAGES; i++) {
			volatile uint16_t *a = (volatile uint16_t *)page(w->fx, i);

			a[0]++;
			a[0x400]++;
		}
		w->passes++;
	} while (kv_now_ns() < end);
	atomic_store(&w->done, true);
	return NULL;
}

/* Merge and swap out pages while running(ctx); the operations that took. */
static uint64_t churn(struct fixture *fx, bool (*running)(void *), void *ctx)
{
	uint64_t ops = 0;

	for (unsigned i = 0; running(ctx); i += 7) {
		unsigned k = i % NPAGES;
		int r = (i & 1) ? merge_now(fx, k) : kv_mem_swap_out(fx->m, BASE_PFN + k);

		ops += r == 1;
		kv_mem_drain(fx->m, NULL, NULL); /* no sharing engine here */
	}
	return ops;
}

/* Pages that do not hold the last pass at both offsets: lost writes. */
static unsigned count_lost(struct fixture *fx, uint16_t last)
{
	unsigned lost = 0;

	for (unsigned k = 0; k < NPAGES; k++) {
		uint16_t a, b;

		memcpy(&a, page(fx, k), 2);
		memcpy(&b, page(fx, k) + 0x800, 2);
		lost += a != last || b != last;
	}
	return lost;
}

static bool writer_running(void *ctx)
{
	return !atomic_load(&((struct writer *)ctx)->done);
}

static unsigned host_race(bool unprotected, uint64_t *ops)
{
	struct fixture fx;
	struct writer w = {.fx = &fx};
	pthread_t t;
	unsigned lost;

	setup(&fx, unprotected ? "racebare" : "racewp", true, unprotected, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, host_writer, &w), 0);
	*ops = churn(&fx, writer_running, &w);
	pthread_join(t, NULL);
	lost = count_lost(&fx, (uint16_t)w.passes); /* the words wrap as the count does */
	if (!unprotected) {
		char msg[160];

		ck_assert_msg(kv_mem_audit(fx.m, msg, sizeof(msg)) == 0, "%s", msg);
	}
	teardown(&fx);
	return lost;
}

/* Without write protection the same race loses writes now and then; how
 * many is printed, not checked (it depends on timing). */
START_TEST(host_writer_loses_nothing)
{
	uint64_t ops, bare_ops;
	unsigned lost = host_race(false, &ops), bare = host_race(true, &bare_ops);

	printf("kvm_mem race, host writer: %u pages lost a write with write protection (%llu "
	       "merges and swap-outs), %u without it (%llu)\n",
	       lost, (unsigned long long)ops, bare, (unsigned long long)bare_ops);
	ck_assert_uint_gt(ops, 0);
	ck_assert_uint_eq(lost, 0);
}
END_TEST

static bool guest_running(void *ctx)
{
	return kv_vm_wait(ctx, 0) == KV_END_RUNNING;
}

START_TEST(vcpu_writer_loses_nothing)
{
	struct fixture fx;
	size_t len;
	const uint8_t *img = kv_tiny_image(KV_TINY_WRITER, &len);
	uint16_t v[2] = {NPAGES, PASSES};
	uint64_t ops;
	unsigned lost;
	int end;

	setup(&fx, "racevcpu", true, false, 0);
	ck_assert_int_eq(kv_boot_flat(fx.vm, KV_TINY_LOAD, img, len), 0);
	memcpy(kv_vm_gpa(fx.vm, KV_TINY_PARAMS, 4), v, 4);
	ck_assert_int_eq(kv_vm_start(fx.vm), 0);
	ops = churn(&fx, guest_running, fx.vm);
	end = kv_vm_wait(fx.vm, 60000);
	ck_assert_msg(end == KV_END_DEBUG_EXIT, "guest ended %d: %s", end, fx.vm->err);
	lost = count_lost(&fx, PASSES);
	ck_assert_int_eq(kv_mem_audit(fx.m, NULL, 0), 0);
	printf("kvm_mem race, vCPU writer: %u pages lost a write (%llu merges and swap-outs "
	       "while it ran)\n",
	       lost, (unsigned long long)ops);
	ck_assert_uint_gt(ops, 0);
	ck_assert_uint_eq(lost, 0);
	ck_assert_str_eq(kv_mem_error(fx.m), "");
	teardown(&fx);
}
END_TEST

/* ---- the sharing engine over two guests' memfds ---- */

struct kguest_pair {
	struct kv_vm *vm[2];
	struct kv_mem *m[2];
	struct ksm_guest *kg[2];
};

static void drain_into_ksm(void *ctx, uint64_t gfn, uint64_t f, bool written)
{
	ck_assert_int_eq(ksm_unshared(ctx, gfn, f, written), 0);
}

/* Two guests: 16 pages alike in both, 16 zero pages each (written, then
 * cleared: they hold memory), 16 of their own each. ksm/ shares them
 * through kv_mem: the same table and checks as for soft guests. */
START_TEST(ksm_shares_two_guests)
{
	struct ksm_params kp = {.order = KSM_ORDER_SEQUENTIAL};
	struct mem_pool *pool = mem_pool_create_memfd(1024);
	struct kv_mem_params mp = {.pool_fd = -1};
	struct kguest_pair g;
	struct ksm_stats st;
	struct ksm *k;
	uint8_t want[PAGE];
	char err[256];

	ck_assert_ptr_nonnull(pool);
	k = ksm_create(pool, &kp);
	ck_assert_ptr_nonnull(k);
	mp.pool_fd = pool->fd;
	for (unsigned v = 0; v < 2; v++) {
		g.vm[v] = kv_test_vm(v ? "ksmb" : "ksma", 16 * MIB, 1, false);
		for (unsigned i = 0; i < 48; i++) {
			uint8_t *p = kv_vm_gpa(g.vm[v], (uint64_t)(BASE_PFN + i) * PAGE, PAGE);

			fill(p, i < 16 ? i : 64 * (v + 1) + i); /* fill() uses seed mod 256 */
			if (i >= 16 && i < 32)
				memset(p, 0, PAGE);
		}
		g.m[v] = kv_mem_create(g.vm[v], &mp, err, sizeof(err));
		ck_assert_msg(g.m[v] != NULL, "%s", err);
		g.kg[v] =
		    ksm_guest_add_mem(k, &kv_mem_ksm_ops, g.m[v], g.vm[v]->ram_size / PAGE, 0);
		ck_assert_ptr_nonnull(g.kg[v]);
		ck_assert_uint_eq(kv_vm_ram_allocated_range(g.vm[v], BASE_PFN, 48), 48);
	}
	printf("kvm_mem ksm: two guests set up\n");
	fflush(stdout);
	ksm_converge(k, 4, NULL, NULL);
	ksm_stats(k, &st);
	printf("kvm_mem ksm: %llu frames shared by %llu pages, %.3f s of scanning\n",
	       (unsigned long long)st.pages_shared, (unsigned long long)st.pages_sharing,
	       st.scan_cpu_seconds);
	fflush(stdout);
	ck_assert_uint_eq(st.pages_shared, 17); /* 16 frames and the zero frame */
	ck_assert_uint_eq(st.pages_sharing, 64);
	ck_assert_uint_eq(pool->used, 17);
	ck_assert_int_eq(ksm_check(k), 0);
	for (unsigned v = 0; v < 2; v++) {
		/* only the 16 pages of its own are left in the guest's memfd */
		ck_assert_uint_eq(kv_vm_ram_allocated_range(g.vm[v], BASE_PFN, 48), 16);
		for (unsigned i = 0; i < 48; i++) {
			fill(want, i < 16 ? i : 64 * (v + 1) + i);
			if (i >= 16 && i < 32)
				memset(want, 0, PAGE);
			ck_assert_msg(
			    !memcmp(kv_vm_gpa(g.vm[v], (uint64_t)(BASE_PFN + i) * PAGE, PAGE), want,
				    PAGE),
			    "guest %u page %u", v, i);
		}
	}
	/* a write to a shared page: the writer's copy, the other's unchanged */
	*(uint8_t *)kv_vm_gpa(g.vm[0], (uint64_t)BASE_PFN * PAGE, 1) = 0x77;
	kv_mem_drain(g.m[0], drain_into_ksm, g.kg[0]);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.cow_breaks, 1);
	ck_assert_uint_eq(st.pages_sharing, 63);
	ck_assert_int_eq(ksm_check(k), 0);
	fill(want, 0);
	ck_assert_int_eq(memcmp(kv_vm_gpa(g.vm[1], (uint64_t)BASE_PFN * PAGE, PAGE), want, PAGE),
			 0);
	want[0] = 0x77;
	ck_assert_int_eq(memcmp(kv_vm_gpa(g.vm[0], (uint64_t)BASE_PFN * PAGE, PAGE), want, PAGE),
			 0);
	/* the balloon takes the second guest's pages: its shares go (one
	 * frame with them: the first guest broke its share of it), and
	 * nothing is a copy-on-write break */
	ck_assert_int_eq(kv_vm_discard(g.vm[1], BASE_PFN, 48), 0);
	kv_mem_drain(g.m[1], drain_into_ksm, g.kg[1]);
	ksm_stats(k, &st);
	ck_assert_uint_eq(st.cow_breaks, 1);
	ck_assert_uint_eq(st.pages_sharing, 31);
	ck_assert_uint_eq(st.pages_shared, 16);
	ck_assert_uint_eq(pool->used, 16);
	ck_assert_int_eq(ksm_check(k), 0);
	ck_assert_uint_eq(kv_vm_ram_allocated_range(g.vm[1], BASE_PFN, 48), 0);
	for (unsigned i = 0; i < 48; i++)
		ck_assert_uint_eq(
		    *(uint8_t *)kv_vm_gpa(g.vm[1], (uint64_t)(BASE_PFN + i) * PAGE, 1), 0);
	for (unsigned v = 0; v < 2; v++) {
		ksm_guest_remove(g.kg[v]);
		kv_mem_destroy(g.m[v]);
		kv_vm_destroy(g.vm[v]);
	}
	ksm_destroy(k);
	ck_assert_uint_eq(pool->used, 0);
	mem_pool_destroy(pool);
}
END_TEST

Suite *kv_mem_suite(void)
{
	Suite *s = suite_create("kvm_mem");
	TCase *tc = tcase_create("kvm_mem");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, merge_and_write_back);
	tcase_add_test(tc, swap_round_trip);
	tcase_add_test(tc, swap_full_keeps_page);
	tcase_add_test(tc, audit_sees_bad_mappings);
	tcase_add_test(tc, host_writer_loses_nothing);
	tcase_add_test(tc, vcpu_writer_loses_nothing);
	tcase_add_test(tc, ksm_shares_two_guests);
	suite_add_tcase(s, tc);
	return s;
}
