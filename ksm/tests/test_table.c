/* SPDX-License-Identifier: MIT */
/* test_table: the global table: entries, cursors, incremental resizing. */
#include <stdlib.h>

#include "ksm/ksm_internal.h"
#include "ksm/tests/check_ksm.h"

static struct ksm_alloc alloc;
static struct ksm_table t;

static void setup(void)
{
	ck_assert_int_eq(ksm_alloc_init(&alloc), 0);
	ck_assert_int_eq(ksm_table_init(&t, &alloc), 0);
}

static void teardown(void)
{
	ksm_table_fini(&t);
	ck_assert_uint_eq(alloc.bytes, 0); /* everything it allocated, freed */
	ksm_alloc_fini(&alloc);
}

static uint64_t hash_of(uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

/* The entry with hash h and value v, or 0. */
static uint32_t find(uint64_t h, uint32_t v)
{
	struct ksm_cursor c;

	for (uint32_t i = ksm_table_first(&t, &c, h, false); i; i = ksm_table_next(&t, &c))
		if (ksm_entry(&t, i)->val == v)
			return i;
	return 0;
}

/* Many entries, a step per insert as the scanner takes: every one found
 * at every moment, resizes happen, and each step looks at a bounded number
 * of buckets. */
START_TEST(test_grow_incrementally)
{
	enum { N = 50000 };
	uint32_t *idx = calloc(N, sizeof(*idx));

	ck_assert_ptr_nonnull(idx);
	for (uint32_t i = 0; i < N; i++) {
		int64_t before = t.rehash;

		ksm_table_step(&t);
		if (before >= 0 && t.rehash >= 0)
			ck_assert_int_le(t.rehash - before, KSM_STEP_VISITS);
		idx[i] = ksm_table_insert(&t, hash_of(i), i, 7);
		ck_assert_uint_ne(idx[i], 0);
		if (i % 997 == 0) /* spot checks while resizing */
			for (uint32_t j = 0; j <= i; j += 101)
				ck_assert_uint_eq(find(hash_of(j), j), idx[j]);
	}
	ck_assert_uint_eq(t.entries, N);
	ck_assert_uint_ge(t.resizes, 5); /* 1024 -> 32768 buckets and more */
	ck_assert_uint_le(t.max_step, KSM_STEP_VISITS);
	for (uint32_t i = 0; i < N; i++)
		ck_assert_uint_eq(find(hash_of(i), i), idx[i]);
	/* load stays near 1: the table kept up with the inserts */
	ck_assert_uint_ge(ksm_table_buckets(&t) * 2, N);
	free(idx);
}
END_TEST

/* A resize in progress: one step moves at most KSM_STEP_BUCKETS chains and
 * looks at no more than KSM_STEP_VISITS buckets; lookups see both tables. */
START_TEST(test_step_bound)
{
	uint64_t n = KSM_HT_MIN_SIZE;

	for (uint64_t i = 0; i < n; i++)
		ck_assert_uint_ne(ksm_table_insert(&t, hash_of(i), (uint32_t)i, 1), 0);
	ck_assert_int_eq(t.rehash, 0); /* load 1: a resize started, nothing moved */
	ck_assert_uint_eq(t.ht[1].size, 2 * n);
	ksm_table_step(&t);
	ck_assert_int_gt(t.rehash, 0);
	ck_assert_int_le(t.rehash, KSM_STEP_VISITS);
	ck_assert_uint_le(t.ht[1].used, t.entries);
	ck_assert_uint_eq(t.ht[0].used + t.ht[1].used, n);
	for (uint64_t i = 0; i < n; i++)
		ck_assert_uint_ne(find(hash_of(i), (uint32_t)i), 0);
	/* enough steps finish it: at least one bucket per step */
	for (uint64_t i = 0; i < n && t.rehash >= 0; i++)
		ksm_table_step(&t);
	ck_assert_int_eq(t.rehash, -1);
	ck_assert_uint_eq(t.ht[0].size, 2 * n);
	ck_assert_uint_eq(t.ht[0].used, n);
}
END_TEST

/* Emptying the table shrinks it back, through the same steps. */
START_TEST(test_shrink)
{
	enum { N = 20000 };
	uint32_t *idx = calloc(N, sizeof(*idx));

	ck_assert_ptr_nonnull(idx);
	for (uint32_t i = 0; i < N; i++) {
		ksm_table_step(&t);
		idx[i] = ksm_table_insert(&t, hash_of(i), i, 1);
	}
	while (t.rehash >= 0)
		ksm_table_step(&t);
	ck_assert_uint_ge(t.ht[0].size, N);
	for (uint32_t i = 0; i < N; i++) {
		ksm_table_step(&t);
		ksm_table_remove(&t, find(hash_of(i), i));
		if (i + 1 < N && i % 1009 == 0)
			ck_assert_uint_ne(find(hash_of(N - 1), N - 1), 0);
	}
	while (t.rehash >= 0)
		ksm_table_step(&t);
	ck_assert_uint_eq(t.entries, 0);
	ck_assert_uint_eq(t.ht[0].size, KSM_HT_MIN_SIZE);
	/* freed entries are reused before the slab grows */
	{
		uint32_t chunks = t.nchunks;

		for (uint32_t i = 0; i < N; i++)
			ck_assert_uint_ne(ksm_table_insert(&t, hash_of(i), i, 1), 0);
		ck_assert_uint_eq(t.nchunks, chunks);
		for (uint32_t i = 0; i < N; i++) {
			ksm_table_step(&t);
			ksm_table_remove(&t, find(hash_of(i), i));
		}
	}
	free(idx);
}
END_TEST

/* Equal hashes live side by side; a cursor yields each once and survives
 * the removal of the entry it just returned; by_sum matches the low 32
 * bits, a zero low half included. */
START_TEST(test_cursor_collisions)
{
	const uint64_t h = 0x1234567800000000ull;  /* low 32 bits zero: sum 1 */
	const uint64_t h2 = 0xabcdef0100000000ull; /* same sum, other hash */
	const uint64_t h3 = 0x0000000000000001ull; /* sum 1 too */
	struct ksm_cursor c;
	unsigned seen = 0, mask = 0;

	for (uint32_t v = 0; v < 10; v++)
		ck_assert_uint_ne(ksm_table_insert(&t, h, v, KSM_HINT | 3), 0);
	ck_assert_uint_ne(ksm_table_insert(&t, h2, 100, 5), 0);
	ck_assert_uint_ne(ksm_table_insert(&t, h3, 101, 5), 0);
	for (uint32_t i = ksm_table_first(&t, &c, h, false); i; i = ksm_table_next(&t, &c)) {
		const struct ksm_entry *e = ksm_entry(&t, i);

		ck_assert_uint_eq(ksm_entry_hash(e), h);
		ck_assert(ksm_entry_hint(e));
		mask |= 1u << e->val;
		seen++;
		if (e->val % 2)
			ksm_table_remove(&t, i);
	}
	ck_assert_uint_eq(seen, 10);
	ck_assert_uint_eq(mask, 0x3ff);
	seen = 0;
	for (uint32_t i = ksm_table_first(&t, &c, 1, true); i; i = ksm_table_next(&t, &c))
		seen++;
	ck_assert_uint_eq(seen, 5 + 2); /* the even hints, h2 and h3 */
	seen = 0;
	for (uint32_t i = ksm_table_first(&t, &c, h2, false); i; i = ksm_table_next(&t, &c))
		seen++;
	ck_assert_uint_eq(seen, 1);
	ck_assert_uint_eq(ksm_table_first(&t, &c, 0x77, false), 0);
	while (t.entries) {
		uint32_t i = ksm_table_first(&t, &c, 1, true);

		ck_assert_uint_ne(i, 0);
		ksm_table_remove(&t, i);
	}
}
END_TEST

Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_grow_incrementally);
	tcase_add_test(tc, test_step_bound);
	tcase_add_test(tc, test_shrink);
	tcase_add_test(tc, test_cursor_collisions);
	suite_add_tcase(s, tc);
	return s;
}
