/* SPDX-License-Identifier: MIT */
/* check_ksm: the suites of the ksm module's test binary, and their helpers. */
#ifndef KSM_TESTS_CHECK_KSM_H
#define KSM_TESTS_CHECK_KSM_H
#include <check.h>

#include "ksm/ksm.h"

Suite *table_suite(void); /* test_table.c: the table, resizing, cursors */
Suite *scan_suite(void);  /* test_scan.c: exact counts, collisions, pace */
Suite *cow_suite(void);	  /* test_cow.c: copy-on-write through the MMU, property test */

/* Make gfn RESIDENT holding 4 KiB of bytes (fill byte b, or a page whose
 * words derive from tag when tag != 0). */
void tk_fill(struct mem_p2m *p2m, gfn_t gfn, uint64_t tag);
/* The bytes tk_fill(tag) writes. */
void tk_page(uint64_t tag, uint8_t *buf);
/* Assert that gfn reads as tk_page(tag) through the p2m. */
void tk_expect(const struct mem_p2m *p2m, gfn_t gfn, uint64_t tag);

#endif
