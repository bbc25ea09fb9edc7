/* SPDX-License-Identifier: MIT */
/* test_workload: parsers, generators, zipf, content models, the library. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guest/tests/check_guest.h"

START_TEST(parsers)
{
	enum guest_pattern pat;
	enum guest_content c;
	enum guest_reclaim r;

	ck_assert_int_eq(guest_pattern_parse("zipf", &pat), 0);
	ck_assert_int_eq(pat, GUEST_PAT_ZIPF);
	ck_assert_int_eq(guest_pattern_parse("seq", &pat), 0);
	ck_assert_int_eq(pat, GUEST_PAT_SEQ);
	ck_assert_int_eq(guest_pattern_parse("zipfian", &pat), -EINVAL);
	ck_assert_int_eq(guest_content_parse("mixed", &c), 0);
	ck_assert_int_eq(c, GUEST_CONTENT_MIXED);
	ck_assert_int_eq(guest_content_parse("", &c), -EINVAL);
	for (int i = GUEST_RECLAIM_CLOCK; i <= GUEST_RECLAIM_RANDOM; i++) {
		ck_assert_int_eq(guest_reclaim_parse(guest_reclaim_name(i), &r), 0);
		ck_assert_int_eq(r, i);
	}
	ck_assert_int_eq(guest_reclaim_parse("fifo", &r), -EINVAL);
}
END_TEST

/* Draws follow 1/(k+1)^theta: compare the head of the histogram with the
 * exact probabilities. */
START_TEST(zipf_distribution)
{
	const uint64_t n = 1000, draws = 400000;
	const double theta = 0.99;
	struct guest_zipf z;
	struct guest_rng r;
	uint64_t *hist = calloc(n, sizeof(*hist));
	double hn = 0;

	ck_assert_int_eq(guest_zipf_init(&z, n, theta), 0);
	ck_assert_int_eq(guest_zipf_init(&z, n, 0), -EINVAL);
	ck_assert_int_eq(guest_zipf_init(&z, n, theta), 0);
	guest_rng_seed(&r, 7);
	for (uint64_t i = 0; i < draws; i++) {
		uint64_t k = guest_zipf_next(&z, &r);

		ck_assert_uint_lt(k, n);
		hist[k]++;
	}
	for (uint64_t k = 1; k <= n; k++)
		hn += pow((double)k, -theta);
	for (uint64_t k = 0; k < 4; k++) {
		double want = pow((double)(k + 1), -theta) / hn * (double)draws;

		ck_assert_msg(fabs((double)hist[k] - want) < 0.05 * want,
			      "rank %llu: %llu draws, expected %.0f", (unsigned long long)k,
			      (unsigned long long)hist[k], want);
	}
	free(hist);
	/* also for theta > 1 */
	ck_assert_int_eq(guest_zipf_init(&z, 50, 1.5), 0);
	for (int i = 0; i < 10000; i++)
		ck_assert_uint_lt(guest_zipf_next(&z, &r), 50);
}
END_TEST

START_TEST(generators)
{
	struct guest_workload_params p = {
	    .pattern = GUEST_PAT_SEQ,
	    .wss_pages = 10,
	    .accesses = 100,
	    .write_pct = 30,
	    .zipf_theta = 0.99,
	    .content = GUEST_CONTENT_PRIVATE,
	};
	struct guest_wl a, b;
	struct guest_op oa, ob;
	unsigned writes = 0;

	ck_assert_int_eq(guest_wl_init(&a, &p, 1, 1), 0);
	for (unsigned i = 0; i < 25; i++) {
		guest_wl_next(&a, &oa);
		ck_assert_uint_eq(oa.idx, i % 10);
		ck_assert_uint_eq(oa.off % 8, 0);
		ck_assert_uint_lt(oa.off, MEM_PAGE_SIZE);
	}
	guest_wl_fini(&a);
	/* same seed and pid: same sequence; writes near write_pct */
	p.pattern = GUEST_PAT_ZIPF;
	p.wss_pages = 5000;
	ck_assert_int_eq(guest_wl_init(&a, &p, 3, 2), 0);
	ck_assert_int_eq(guest_wl_init(&b, &p, 3, 2), 0);
	for (unsigned i = 0; i < 10000; i++) {
		guest_wl_next(&a, &oa);
		guest_wl_next(&b, &ob);
		ck_assert_uint_eq(oa.idx, ob.idx);
		ck_assert_int_eq(oa.write, ob.write);
		ck_assert_uint_lt(oa.idx, 5000);
		writes += oa.write;
	}
	ck_assert_uint_gt(writes, 2700);
	ck_assert_uint_lt(writes, 3300);
	/* the permutation scatters the hot ranks */
	ck_assert_uint_ne(a.perm[0], 0);
	guest_wl_fini(&a);
	guest_wl_fini(&b);
}
END_TEST

START_TEST(library)
{
	struct guest_library *a = guest_library_create(64, 5), *b = guest_library_create(64, 5);
	struct guest_library *c = guest_library_create(64, 6);
	uint8_t zero[MEM_PAGE_SIZE] = {0};

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	ck_assert_mem_eq(a->data, b->data, 64 * MEM_PAGE_SIZE);
	ck_assert_int_ne(memcmp(a->data, c->data, 64 * MEM_PAGE_SIZE), 0);
	for (unsigned i = 0; i < 64; i++)
		ck_assert_int_ne(memcmp(a->data + i * MEM_PAGE_SIZE, zero, MEM_PAGE_SIZE), 0);
	guest_library_destroy(a);
	guest_library_destroy(b);
	guest_library_destroy(c);
	ck_assert_ptr_null(guest_library_create(0, 1));
}
END_TEST

START_TEST(content_models)
{
	struct guest_library *lib = guest_library_create(8, 9);
	struct guest_workload_params p = {
	    .content = GUEST_CONTENT_MIXED, .zero_pct = 30, .library_pct = 30, .lib = lib};
	uint8_t buf[MEM_PAGE_SIZE], buf2[MEM_PAGE_SIZE];
	unsigned n[3] = {0};
	unsigned w;
	uint64_t v;

	for (uint64_t i = 0; i < 3000; i++)
		n[guest_content_kind(&p, 1, i)]++;
	for (int k = 0; k < 3; k++)
		ck_assert_uint_gt(n[k], 800);
	/* library pages stay copies of the library, whatever is written */
	guest_content_expected(GUEST_CONTENT_LIBRARY, lib, 1, 1, 11, 50, buf);
	ck_assert_mem_eq(buf, lib->data + 3 * MEM_PAGE_SIZE, MEM_PAGE_SIZE);
	guest_content_word(GUEST_CONTENT_LIBRARY, lib, 1, 1, 11, 2, &w, &v);
	ck_assert_mem_eq(&v, lib->data + 3 * MEM_PAGE_SIZE + w * 8, 8);
	/* private pages: write k sets word w to v; pids differ */
	guest_content_expected(GUEST_CONTENT_PRIVATE, lib, 1, 1, 4, 1, buf);
	guest_content_expected(GUEST_CONTENT_PRIVATE, lib, 1, 2, 4, 1, buf2);
	ck_assert_int_ne(memcmp(buf, buf2, MEM_PAGE_SIZE), 0);
	guest_content_word(GUEST_CONTENT_PRIVATE, lib, 1, 1, 4, 2, &w, &v);
	memcpy(buf + w * 8, &v, 8);
	guest_content_expected(GUEST_CONTENT_PRIVATE, lib, 1, 1, 4, 2, buf2);
	ck_assert_mem_eq(buf, buf2, MEM_PAGE_SIZE);
	guest_content_expected(GUEST_CONTENT_ZERO, lib, 1, 1, 4, 9, buf);
	memset(buf2, 0, sizeof(buf2));
	ck_assert_mem_eq(buf, buf2, MEM_PAGE_SIZE);
	guest_library_destroy(lib);
}
END_TEST

Suite *workload_suite(void)
{
	Suite *s = suite_create("workload");
	TCase *tc = tcase_create("generators");

	tcase_add_test(tc, parsers);
	tcase_add_test(tc, zipf_distribution);
	tcase_add_test(tc, generators);
	suite_add_tcase(s, tc);
	tc = tcase_create("content");
	tcase_add_test(tc, library);
	tcase_add_test(tc, content_models);
	suite_add_tcase(s, tc);
	return s;
}
