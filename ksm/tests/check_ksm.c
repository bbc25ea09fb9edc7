/* SPDX-License-Identifier: MIT */
/* check_ksm: runs every suite of the ksm module. */
#include <stdlib.h>
#include <string.h>

#include "ksm/tests/check_ksm.h"

void tk_page(uint64_t tag, uint8_t *buf)
{
	uint64_t x = tag * 0x9e3779b97f4a7c15ull;

	if (!tag) {
		memset(buf, 0, MEM_PAGE_SIZE);
		return;
	}
	for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i++) {
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= tag;
		memcpy(buf + i * 8, &x, 8);
	}
}

void tk_fill(struct mem_p2m *p2m, gfn_t gfn, uint64_t tag)
{
	hfn_t h;

	ck_assert_int_eq(mem_p2m_populate(p2m, gfn, &h), 0);
	tk_page(tag, mem_pool_ptr(p2m->pool, h));
}

void tk_expect(const struct mem_p2m *p2m, gfn_t gfn, uint64_t tag)
{
	uint8_t want[MEM_PAGE_SIZE], got[MEM_PAGE_SIZE];

	tk_page(tag, want);
	ck_assert_int_eq(mem_p2m_read(p2m, gfn, got), 0);
	ck_assert_msg(!memcmp(want, got, MEM_PAGE_SIZE), "gfn %llu does not hold page %llu",
		      (unsigned long long)gfn, (unsigned long long)tag);
}

int main(void)
{
	Suite *(*suites[])(void) = {table_suite, scan_suite, cow_suite};
	SRunner *sr = srunner_create(NULL);
	int failed;

	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
