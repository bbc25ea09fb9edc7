/* SPDX-License-Identifier: MIT */
/*
 * test_swap: host swap (exact bytes out and back, through a real nested MMU
 * and through mem_p2m_read), failures that lose nothing (injected write
 * and read errors, a real full filesystem), slots, victims, and the p2m's
 * access tracking that the LRU choice and the working-set sampler use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem/tests/check_mem.h"

#define S_PAGES 256u

/* A guest with a nested MMU whose exit handler populates and swaps in, a
 * swap file in a fresh directory, and an I/O table that can fail. */
struct senv {
	struct mem_pool *pool;
	struct mem_p2m *p2m;
	struct mem_swap *swap;
	struct mmu m;
	char dir[64], path[128];
	int fail_write_at, fail_read_at; /* 1-based call number; 0 = never */
	int writes, reads;
	int swapin_err; /* the handler's last swap-in error */
};

static struct senv E;

static int inj_write(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	struct senv *e = ctx;

	if (++e->writes == e->fail_write_at)
		return -EIO;
	return pwrite(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -errno;
}

static int inj_read(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	struct senv *e = ctx;

	if (++e->reads == e->fail_read_at)
		return -EIO;
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
}

static const struct mem_swap_io inj_io = {.write = inj_write, .read = inj_read};

static int s_exit(void *ctx, const struct mmu_exit *x)
{
	struct senv *e = ctx;
	hfn_t h;

	switch (mem_p2m_state(e->p2m, x->gfn)) {
	case MEM_SWAPPED:
		e->swapin_err = mem_swap_in(e->swap, e->p2m, x->gfn);
		return e->swapin_err;
	case MEM_UNTOUCHED:
	case MEM_RESIDENT:
		return mem_p2m_populate(e->p2m, x->gfn, &h);
	default:
		return -EFAULT;
	}
}

static struct mem_swap *swap_in_dir(struct senv *e, const char *dir, uint64_t slots)
{
	struct mem_swap_params sp = {.path = e->path, .slots = slots, .io = &inj_io, .io_ctx = e};

	snprintf(e->path, sizeof(e->path), "%s/host.swap", dir);
	return mem_swap_create(&sp);
}

static void senv_setup(void)
{
	memset(&E, 0, sizeof(E));
	snprintf(E.dir, sizeof(E.dir), "/tmp/memvisor-swaptest-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(E.dir));
	E.pool = mem_pool_create(S_PAGES + 64);
	E.p2m = mem_p2m_create(E.pool, S_PAGES);
	ck_assert_ptr_nonnull(E.p2m);
	E.swap = swap_in_dir(&E, E.dir, 0);
	ck_assert_ptr_nonnull(E.swap);
	mem_p2m_attach_swap(E.p2m, E.swap);
	ck_assert_int_eq(mmu_init(&E.m, E.p2m, &paging_nested_ops, NULL, s_exit, &E), 0);
}

static void senv_teardown(void)
{
	mmu_fini(&E.m);
	ck_assert_int_eq(mem_p2m_check(E.p2m), 0);
	mem_p2m_destroy(E.p2m);
	if (E.swap) {
		struct mem_swap_stats st;

		mem_swap_stats(E.swap, &st);
		ck_assert_uint_eq(st.used, 0); /* the p2m gave every slot back */
		mem_swap_destroy(E.swap);
		ck_assert_int_eq(access(E.path, F_OK), -1); /* removed */
	}
	ck_assert_uint_eq(E.pool->used, 0);
	mem_pool_destroy(E.pool);
	umount2(E.dir, MNT_DETACH); /* the full-disk test's tmpfs, if any */
	rmdir(E.dir);
}

/* Fill gfn with a pattern of (gfn, k) through the guest's direct map. */
static void fill(gfn_t gfn, unsigned k)
{
	uint64_t w[MEM_PAGE_SIZE / 8];

	for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i++)
		w[i] = gfn * 0x100000001b3ull ^ (i * 0x9e3779b97f4a7c15ull) ^ k;
	for (unsigned off = 0; off < MEM_PAGE_SIZE; off += 512)
		ck_assert_int_eq(
		    mmu_phys(&E.m, mem_gfn_to_gpa(gfn) + off, (uint8_t *)w + off, 512, MMU_WRITE),
		    0);
}

static void expect(const uint8_t *page, gfn_t gfn, unsigned k)
{
	for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i++) {
		uint64_t v = 0;

		memcpy(&v, page + 8 * i, 8);
		ck_assert_msg(v == (gfn * 0x100000001b3ull ^ (i * 0x9e3779b97f4a7c15ull) ^ k),
			      "gfn %llu word %u differs", (unsigned long long)gfn, i);
	}
}

/* Read gfn through the MMU (an exit swaps it in if need be) and check. */
static void expect_via_mmu(gfn_t gfn, unsigned k)
{
	uint8_t page[MEM_PAGE_SIZE];

	for (unsigned off = 0; off < MEM_PAGE_SIZE; off += 512)
		ck_assert_int_eq(mmu_phys(&E.m, mem_gfn_to_gpa(gfn) + off, page + off, 512, 0), 0);
	expect(page, gfn, k);
}

static void expect_via_p2m(gfn_t gfn, unsigned k)
{
	uint8_t page[MEM_PAGE_SIZE];

	ck_assert_int_eq(mem_p2m_read(E.p2m, gfn, page), 0);
	expect(page, gfn, k);
}

static struct mem_swap_stats stats(void)
{
	struct mem_swap_stats st;

	mem_swap_stats(E.swap, &st);
	return st;
}

START_TEST(out_and_back_exact)
{
	uint64_t used;

	for (gfn_t g = 0; g < 64; g++)
		fill(g, 1);
	used = E.pool->used;
	for (gfn_t g = 0; g < 64; g += 2)
		ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, g), 0);
	ck_assert_uint_eq(E.p2m->count[MEM_SWAPPED], 32);
	ck_assert_uint_eq(E.pool->used, used - 32); /* the frames are gone */
	ck_assert_uint_eq(stats().used, 32);
	ck_assert_uint_eq(stats().outs, 32);
	ck_assert_uint_ge(stats().file_bytes, 32 * MEM_PAGE_SIZE);
	/* side-effect free reads of swapped pages */
	for (gfn_t g = 0; g < 64; g += 2) {
		expect_via_p2m(g, 1);
		ck_assert_int_eq(mem_p2m_state(E.p2m, g), MEM_SWAPPED);
	}
	ck_assert_uint_eq(stats().ins, 0);
	/* the next access exits and swaps in, exact */
	for (gfn_t g = 0; g < 64; g++)
		expect_via_mmu(g, 1);
	ck_assert_uint_eq(E.p2m->count[MEM_SWAPPED], 0);
	ck_assert_uint_eq(stats().ins, 32);
	ck_assert_uint_eq(stats().used, 0);
	ck_assert_uint_eq(E.m.st.exits[MMU_EXIT_NESTED_FAULT], 64 + 32);
	/* slots are reused lowest first: the file does not grow */
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 5), 0);
	ck_assert_uint_eq(mem_p2m_val(E.p2m, 5), 0);
	/* writes after a swap-in land in the new frame */
	fill(5, 2);
	expect_via_mmu(5, 2);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 5), 0);
	expect_via_p2m(5, 2);
}
END_TEST

START_TEST(refuses_wrong_states)
{
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 3), -EINVAL); /* untouched */
	ck_assert_int_eq(mem_swap_in(E.swap, E.p2m, 3), -EINVAL);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, S_PAGES), -EINVAL);
	fill(3, 1);
	ck_assert_int_eq(mem_swap_in(E.swap, E.p2m, 3), -EINVAL); /* resident */
	ck_assert_int_eq(mem_swap_drop(E.swap, E.p2m, 3, MEM_BALLOONED), -EINVAL);
	ck_assert_uint_eq(stats().outs + stats().ins + stats().used, 0);
}
END_TEST

/* A write that fails leaves the page resident, its bytes intact. */
START_TEST(write_error_loses_nothing)
{
	uint64_t used;

	for (gfn_t g = 0; g < 8; g++)
		fill(g, 7);
	used = E.pool->used;
	E.fail_write_at = 3;
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 0), 0);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 1), 0);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 2), -EIO);
	ck_assert_msg(strstr(mem_swap_error(E.swap), "writing slot 2") &&
			  strstr(mem_swap_error(E.swap), E.path),
		      "%s", mem_swap_error(E.swap));
	ck_assert_int_eq(mem_p2m_state(E.p2m, 2), MEM_RESIDENT);
	ck_assert_uint_eq(E.pool->used, used - 2);
	ck_assert_uint_eq(stats().write_errors, 1);
	ck_assert_uint_eq(stats().used, 2); /* the failed slot went back */
	expect_via_p2m(2, 7);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 2), 0); /* and it works again */
	for (gfn_t g = 0; g < 8; g++)
		expect_via_mmu(g, 7);
}
END_TEST

/* A read that fails leaves the page swapped, its slot intact, and the
 * guest's access fails with the handler's error; a retry succeeds. */
START_TEST(read_error_loses_nothing)
{
	uint8_t buf[8];
	uint64_t used, slot;

	fill(9, 3);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 9), 0);
	slot = mem_p2m_val(E.p2m, 9);
	used = E.pool->used;
	E.fail_read_at = E.reads + 1;
	ck_assert_int_eq(mmu_phys(&E.m, mem_gfn_to_gpa(9), buf, 8, MMU_READ), -EIO);
	ck_assert_int_eq(E.swapin_err, -EIO);
	ck_assert_msg(strstr(mem_swap_error(E.swap), "reading slot"), "%s", mem_swap_error(E.swap));
	ck_assert_int_eq(mem_p2m_state(E.p2m, 9), MEM_SWAPPED);
	ck_assert_uint_eq(mem_p2m_val(E.p2m, 9), slot);
	ck_assert_uint_eq(E.pool->used, used); /* the frame taken for it went back */
	ck_assert_uint_eq(stats().read_errors, 1);
	ck_assert_uint_eq(stats().used, 1);
	expect_via_mmu(9, 3);
}
END_TEST

/* A real full filesystem: a 16 KiB tmpfs holds four slots. */
START_TEST(full_disk_loses_nothing)
{
	struct mem_swap_stats st;
	int r = 0;
	gfn_t g;

	/* the setup's swap lives on the big disk: replace it */
	mem_p2m_attach_swap(E.p2m, NULL);
	mem_swap_destroy(E.swap);
	E.swap = NULL;
	ck_assert_msg(mount("tmpfs", E.dir, "tmpfs", 0, "size=16k,mode=0700") == 0,
		      "cannot mount a 16 KiB tmpfs on %s: %s (the test needs root)", E.dir,
		      strerror(errno));
	E.swap = swap_in_dir(&E, E.dir, 0);
	ck_assert_ptr_nonnull(E.swap);
	mem_p2m_attach_swap(E.p2m, E.swap);
	for (g = 0; g < 16; g++)
		fill(g, 5);
	for (g = 0; g < 16; g++) {
		r = mem_swap_out(E.swap, E.p2m, g);
		if (r)
			break;
	}
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_ge(g, 1);
	ck_assert_uint_le(g, 4);
	ck_assert_msg(strstr(mem_swap_error(E.swap), "No space left on device"), "%s",
		      mem_swap_error(E.swap));
	mem_swap_stats(E.swap, &st);
	ck_assert_uint_eq(st.used, g);
	ck_assert_uint_eq(st.write_errors, 1);
	/* every page: swapped ones from the full disk, the rest in memory */
	for (gfn_t k = 0; k < 16; k++) {
		ck_assert_int_eq(mem_p2m_state(E.p2m, k), k < g ? MEM_SWAPPED : MEM_RESIDENT);
		expect_via_p2m(k, 5);
	}
	for (gfn_t k = 0; k < 16; k++)
		expect_via_mmu(k, 5);
}
END_TEST

START_TEST(slots_and_files)
{
	struct mem_swap_params sp = {.path = E.path};
	struct mem_swap *s2;

	/* the file is the host's: never clobbered */
	errno = 0;
	ck_assert_ptr_null(mem_swap_create(&sp));
	ck_assert_int_eq(errno, EEXIST);
	sp.path = "";
	ck_assert_ptr_null(mem_swap_create(&sp));
	ck_assert_int_eq(errno, EINVAL);
	/* a capped swap: 3 slots */
	mem_p2m_attach_swap(E.p2m, NULL);
	mem_swap_destroy(E.swap);
	E.swap = swap_in_dir(&E, E.dir, 3);
	ck_assert_ptr_nonnull(E.swap);
	mem_p2m_attach_swap(E.p2m, E.swap);
	for (gfn_t g = 0; g < 4; g++)
		fill(g, 1);
	for (gfn_t g = 0; g < 3; g++)
		ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, g), 0);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 3), -ENOSPC);
	ck_assert_msg(strstr(mem_swap_error(E.swap), "every slot is in use"), "%s",
		      mem_swap_error(E.swap));
	ck_assert_int_eq(mem_p2m_state(E.p2m, 3), MEM_RESIDENT);
	/* a balloon takes a swapped page: its slot is free again */
	ck_assert_int_eq(mem_swap_drop(E.swap, E.p2m, 1, MEM_BALLOONED), 0);
	ck_assert_int_eq(mem_p2m_state(E.p2m, 1), MEM_BALLOONED);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 3), 0);
	ck_assert_uint_eq(mem_p2m_val(E.p2m, 3), 1);
	expect_via_p2m(3, 1);
	/* two swaps side by side in one directory */
	sp.path = "/tmp/memvisor-swaptest-second.swap";
	unlink(sp.path);
	s2 = mem_swap_create(&sp);
	ck_assert_ptr_nonnull(s2);
	mem_swap_destroy(s2);
	ck_assert_int_eq(access(sp.path, F_OK), -1);
	/* the p2m's destroy frees the slots of pages 0, 2, 3 (teardown) */
}
END_TEST

START_TEST(victims_random)
{
	struct mem_swap_cursor c = {.rng = 42}, c2 = {.rng = 42};
	unsigned seen[S_PAGES] = {0};
	gfn_t g, g2;

	ck_assert_int_eq(mem_swap_pick(E.p2m, MEM_SWAP_RANDOM, &c, &g), -ENOENT);
	for (gfn_t k = 100; k < 110; k++)
		fill(k, 0);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(mem_swap_pick(E.p2m, MEM_SWAP_RANDOM, &c, &g), 0);
		ck_assert_int_eq(mem_swap_pick(E.p2m, MEM_SWAP_RANDOM, &c2, &g2), 0);
		ck_assert_uint_eq(g, g2); /* deterministic */
		ck_assert(g >= 100 && g < 110);
		seen[g]++;
	}
	for (gfn_t k = 100; k < 110; k++)
		ck_assert_uint_gt(seen[k], 5); /* every resident page comes up */
	/* one resident page among 256: found by the scan after the draws */
	for (gfn_t k = 100; k < 109; k++)
		ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, k), 0);
	ck_assert_int_eq(mem_swap_pick(E.p2m, MEM_SWAP_RANDOM, &c, &g), 0);
	ck_assert_uint_eq(g, 109);
}
END_TEST

/* The clock passes over pages touched since it armed them. */
START_TEST(victims_lru)
{
	struct mem_swap_cursor c = {0};
	uint8_t b;
	gfn_t g;

	for (gfn_t k = 0; k < 64; k++)
		fill(k, 0);
	/* the first pick arms every page on its first turn, then takes gfn 0 */
	ck_assert_int_eq(mem_swap_pick(E.p2m, MEM_SWAP_LRU, &c, &g), 0);
	ck_assert_uint_eq(g, 0);
	ck_assert_uint_eq(c.arms, 64);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, g), 0);
	/* touch the odd pages: each touch refaults and disarms */
	for (gfn_t k = 1; k < 64; k += 2)
		ck_assert_int_eq(mmu_phys(&E.m, mem_gfn_to_gpa(k), &b, 1, MMU_READ), 0);
	ck_assert_uint_eq(E.p2m->track_hits[MEM_TRACK_SWAP], 32);
	/* the next victims are the untouched even pages, in clock order */
	for (gfn_t k = 2; k < 64; k += 2) {
		ck_assert_int_eq(mem_swap_pick(E.p2m, MEM_SWAP_LRU, &c, &g), 0);
		ck_assert_uint_eq(g, k);
		ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, g), 0);
	}
	/* then an odd one, after re-arming them all */
	ck_assert_int_eq(mem_swap_pick(E.p2m, MEM_SWAP_LRU, &c, &g), 0);
	ck_assert_uint_eq(g % 2, 1);
	ck_assert_uint_eq(c.arms, 64 + 32);
}
END_TEST

/* ---- access tracking ---- */

static unsigned zaps;
static void count_zap(struct mem_mapper *m, gfn_t gfn, uint64_t ref)
{
	(void)m, (void)gfn, (void)ref;
	zaps++;
}
static const struct mem_mapper_ops count_ops = {.name = "count", .zap = count_zap};

START_TEST(tracking_bits)
{
	struct mem_mapper mp = {.ops = &count_ops};

	fill(7, 0);
	zaps = 0;
	ck_assert_int_eq(mem_rmap_add(E.p2m, 7, &mp, 1), 0);
	ck_assert_uint_eq(E.p2m->track_hits[MEM_TRACK_WSS], 0);
	/* arming zaps every translation: the EPT leaf and ours */
	ck_assert_int_eq(mem_p2m_track_arm(E.p2m, 7, MEM_TRACK_WSS), 0);
	ck_assert_uint_eq(zaps, 1);
	ck_assert_uint_eq(mem_rmap_count(E.p2m, 7), 0);
	ck_assert(mem_p2m_track_armed(E.p2m, 7, MEM_TRACK_WSS));
	ck_assert(!mem_p2m_track_armed(E.p2m, 7, MEM_TRACK_SWAP));
	ck_assert_int_eq(mem_p2m_track_arm(E.p2m, 7, MEM_TRACK_SWAP), 0);
	/* the next translation is the touch: both users see it once */
	ck_assert_int_eq(mem_rmap_add(E.p2m, 7, &mp, 2), 0);
	ck_assert_uint_eq(E.p2m->track_hits[MEM_TRACK_WSS], 1);
	ck_assert_uint_eq(E.p2m->track_hits[MEM_TRACK_SWAP], 1);
	ck_assert(!mem_p2m_track_armed(E.p2m, 7, MEM_TRACK_WSS));
	ck_assert_int_eq(mem_rmap_add(E.p2m, 7, &mp, 3), 0);
	ck_assert_uint_eq(E.p2m->track_hits[MEM_TRACK_WSS], 1);
	/* the bits survive state changes; disarming does not zap */
	ck_assert_int_eq(mem_p2m_track_arm(E.p2m, 7, MEM_TRACK_WSS), 0);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 7), 0);
	ck_assert(mem_p2m_track_armed(E.p2m, 7, MEM_TRACK_WSS));
	ck_assert_int_eq(mem_swap_in(E.swap, E.p2m, 7), 0);
	ck_assert(mem_p2m_track_armed(E.p2m, 7, MEM_TRACK_WSS));
	ck_assert_int_eq(mem_p2m_check(E.p2m), 0);
	zaps = 0;
	ck_assert_int_eq(mem_rmap_add(E.p2m, 7, &mp, 4), 0);
	ck_assert_uint_eq(E.p2m->track_hits[MEM_TRACK_WSS], 2);
	ck_assert_int_eq(mem_p2m_track_arm(E.p2m, 7, MEM_TRACK_SWAP), 0);
	ck_assert_uint_eq(zaps, 1);
	mem_p2m_track_disarm(E.p2m, 7, MEM_TRACK_SWAP);
	ck_assert(!mem_p2m_track_armed(E.p2m, 7, MEM_TRACK_SWAP));
	/* a touch through the real MMU counts */
	ck_assert_int_eq(mem_p2m_track_arm(E.p2m, 8, MEM_TRACK_WSS), 0); /* untouched */
	fill(8, 0);
	ck_assert_uint_eq(E.p2m->track_hits[MEM_TRACK_WSS], 3);
	ck_assert_int_eq(mem_p2m_track_arm(E.p2m, S_PAGES, MEM_TRACK_WSS), -EINVAL);
	ck_assert_int_eq(mem_p2m_track_arm(E.p2m, 8, MEM_TRACK_NR), -EINVAL);
	ck_assert(!mem_p2m_track_armed(E.p2m, S_PAGES, MEM_TRACK_WSS));
}
END_TEST

/* Every change of a gfn's frame counts in remaps (what a walker holding
 * host pointers across an exit compares); gaining a frame does not. */
START_TEST(remaps_counted)
{
	uint64_t r0;
	hfn_t h;

	fill(3, 1);
	r0 = E.p2m->remaps;
	ck_assert_int_eq(mem_p2m_populate(E.p2m, 4, &h), 0); /* gains one */
	ck_assert_uint_eq(E.p2m->remaps, r0);
	ck_assert_int_eq(mem_swap_out(E.swap, E.p2m, 3), 0); /* loses it */
	ck_assert_uint_eq(E.p2m->remaps, r0 + 1);
	ck_assert_int_eq(mem_swap_in(E.swap, E.p2m, 3), 0);
	ck_assert_uint_eq(E.p2m->remaps, r0 + 1);
	/* shared in place (same frame, write-protected): no remap */
	ck_assert_int_eq(mem_p2m_set(E.p2m, 4, MEM_SHARED, h, true), 0);
	ck_assert_uint_eq(E.p2m->remaps, r0 + 1);
	ck_assert_int_eq(mem_p2m_set(E.p2m, 4, MEM_RESIDENT, h, false), 0);
	ck_assert_int_eq(mem_p2m_discard(E.p2m, 4), 0);
	ck_assert_uint_eq(E.p2m->remaps, r0 + 2);
}
END_TEST

Suite *swap_suite(void)
{
	Suite *s = suite_create("swap");
	TCase *tc = tcase_create("io");

	tcase_add_checked_fixture(tc, senv_setup, senv_teardown);
	tcase_add_test(tc, out_and_back_exact);
	tcase_add_test(tc, refuses_wrong_states);
	tcase_add_test(tc, write_error_loses_nothing);
	tcase_add_test(tc, read_error_loses_nothing);
	tcase_add_test(tc, full_disk_loses_nothing);
	tcase_add_test(tc, slots_and_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("victims");
	tcase_add_checked_fixture(tc, senv_setup, senv_teardown);
	tcase_add_test(tc, victims_random);
	tcase_add_test(tc, victims_lru);
	suite_add_tcase(s, tc);
	tc = tcase_create("tracking");
	tcase_add_checked_fixture(tc, senv_setup, senv_teardown);
	tcase_add_test(tc, tracking_bits);
	tcase_add_test(tc, remaps_counted);
	suite_add_tcase(s, tc);
	return s;
}
