/* SPDX-License-Identifier: MIT */
/* test_swap: the guest swap store: areas, slots, I/O, descriptors. */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "guest/tests/check_guest.h"

static struct guest_swap_store *st;

static void setup(void)
{
	st = guest_swap_store_create(NULL);
	ck_assert_ptr_nonnull(st);
}

static void teardown(void)
{
	guest_swap_store_destroy(st);
}

static void fill(uint8_t *p, unsigned v)
{
	for (unsigned i = 0; i < MEM_PAGE_SIZE; i++)
		p[i] = (uint8_t)(v * 31 + i);
}

START_TEST(roundtrip)
{
	struct guest_swap *a = guest_swap_create(st, 1000), *b = guest_swap_create(st, 1000);
	uint8_t in[MEM_PAGE_SIZE], out[MEM_PAGE_SIZE];
	uint64_t sa[300], sb[300];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	/* interleaved, so the two areas' extents interleave in the file */
	for (unsigned i = 0; i < 300; i++) {
		ck_assert_int_eq(guest_swap_alloc(a, &sa[i]), 0);
		ck_assert_int_eq(guest_swap_alloc(b, &sb[i]), 0);
		fill(in, i);
		ck_assert_int_eq(guest_swap_write(a, sa[i], in), 0);
		fill(in, i + 1000);
		ck_assert_int_eq(guest_swap_write(b, sb[i], in), 0);
	}
	ck_assert_uint_eq(guest_swap_used(a), 300);
	for (unsigned i = 0; i < 300; i++) {
		ck_assert_int_eq(guest_swap_read(a, sa[i], out), 0);
		fill(in, i);
		ck_assert_mem_eq(in, out, MEM_PAGE_SIZE);
		ck_assert_int_eq(guest_swap_read(b, sb[i], out), 0);
		fill(in, i + 1000);
		ck_assert_mem_eq(in, out, MEM_PAGE_SIZE);
	}
	ck_assert_uint_ge(guest_swap_store_bytes(st), 600ull * MEM_PAGE_SIZE);
	guest_swap_destroy(a);
	guest_swap_destroy(b);
}
END_TEST

START_TEST(full_and_reuse)
{
	struct guest_swap *a = guest_swap_create(st, 10);
	uint64_t s, last = 0;

	ck_assert_ptr_nonnull(a);
	for (unsigned i = 0; i < 10; i++) {
		ck_assert_int_eq(guest_swap_alloc(a, &s), 0);
		ck_assert_uint_lt(s, 10);
		last = s;
	}
	ck_assert_int_eq(guest_swap_alloc(a, &s), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(guest_swap_error(a), "full"));
	guest_swap_free(a, 3);
	ck_assert_int_eq(guest_swap_alloc(a, &s), 0);
	ck_assert_uint_eq(s, 3);
	ck_assert_uint_eq(last, 9);
	ck_assert_uint_eq(guest_swap_used(a), 10);
	guest_swap_destroy(a);
}
END_TEST

START_TEST(short_read_names_slot)
{
	struct guest_swap *a = guest_swap_create(st, 16);
	uint8_t page[MEM_PAGE_SIZE];
	uint64_t s;

	ck_assert_int_eq(guest_swap_alloc(a, &s), 0);
	/* never written: beyond the end of the file */
	ck_assert_int_eq(guest_swap_read(a, s, page), -EIO);
	ck_assert_ptr_nonnull(strstr(guest_swap_error(a), "slot 0"));
	/* a slot not allocated is refused */
	ck_assert_int_eq(guest_swap_read(a, 5, page), -EINVAL);
	guest_swap_destroy(a);
}
END_TEST

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

START_TEST(thousand_areas_one_fd)
{
	struct guest_swap_store *s2;
	static struct guest_swap *areas[1000];
	uint8_t page[MEM_PAGE_SIZE];
	unsigned before = count_fds(), after;

	s2 = guest_swap_store_create(NULL);
	ck_assert_ptr_nonnull(s2);
	for (unsigned i = 0; i < 1000; i++) {
		uint64_t slot;

		areas[i] = guest_swap_create(s2, 512);
		ck_assert_ptr_nonnull(areas[i]);
		ck_assert_int_eq(guest_swap_alloc(areas[i], &slot), 0);
		fill(page, i);
		ck_assert_int_eq(guest_swap_write(areas[i], slot, page), 0);
	}
	after = count_fds();
	ck_assert_uint_eq(after, before + 1);
	for (unsigned i = 0; i < 1000; i++) {
		uint8_t want[MEM_PAGE_SIZE];

		ck_assert_int_eq(guest_swap_read(areas[i], 0, page), 0);
		fill(want, i);
		ck_assert_mem_eq(page, want, MEM_PAGE_SIZE);
		guest_swap_destroy(areas[i]);
	}
	guest_swap_store_destroy(s2);
	ck_assert_uint_eq(count_fds(), before);
}
END_TEST

START_TEST(extents_reused)
{
	struct guest_swap *a = guest_swap_create(st, 1024), *b;
	uint8_t page[MEM_PAGE_SIZE], out[MEM_PAGE_SIZE];
	uint64_t s;

	for (unsigned i = 0; i < 512; i++) {
		ck_assert_int_eq(guest_swap_alloc(a, &s), 0);
		fill(page, i);
		ck_assert_int_eq(guest_swap_write(a, s, page), 0);
	}
	guest_swap_destroy(a);
	/* a new area takes the two extents back: the file does not grow */
	b = guest_swap_create(st, 1024);
	for (unsigned i = 0; i < 512; i++) {
		ck_assert_int_eq(guest_swap_alloc(b, &s), 0);
		fill(page, i + 7);
		ck_assert_int_eq(guest_swap_write(b, s, page), 0);
		ck_assert_int_eq(guest_swap_read(b, s, out), 0);
		ck_assert_mem_eq(page, out, MEM_PAGE_SIZE);
	}
	ck_assert_uint_le(guest_swap_store_bytes(st), 512ull * MEM_PAGE_SIZE + 65536);
	guest_swap_destroy(b);
}
END_TEST

Suite *swap_suite(void)
{
	Suite *s = suite_create("swap");
	TCase *tc = tcase_create("area");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, roundtrip);
	tcase_add_test(tc, full_and_reuse);
	tcase_add_test(tc, short_read_names_slot);
	tcase_add_test(tc, extents_reused);
	suite_add_tcase(s, tc);
	tc = tcase_create("descriptors");
	tcase_add_test(tc, thousand_areas_one_fd);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
