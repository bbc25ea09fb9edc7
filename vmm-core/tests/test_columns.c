/* SPDX-License-Identifier: MIT */
/* The CSV columns: the header is the contract's, every format prints as
 * the files always have, and an unset column is empty, never 0. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/out/columns.h"
#include "vmm-core/tests/check_vmm.h"

/* what f holds, into buf */
static const char *text(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

START_TEST(test_headers)
{
	char buf[4096];
	FILE *f = tmpfile();

	out_header_write(f, out_ts_cols, TS_NR);
	ck_assert_str_eq(text(f, buf, sizeof(buf)),
			 "time_ms,guest,accesses,untouched,resident,shared,ballooned,swapped,"
			 "guest_free,guest_page_faults,guest_swap_outs,guest_swap_ins,"
			 "tlb_misses,walk_refs,exits,modeled_cycles,balloon_target,"
			 "balloon_actual,host_frames_used,host_rss_bytes,paging,mode_switches,"
			 "host_state,host_free_pages,alloc_pages,alloc_target,active_pages,"
			 "ws_slow,ws_fast,ws_current,ws_true,shares_per_page,idle_tax,"
			 "balloon_wanted,guest_balloon_pages,balloon_inflated,balloon_deflated,"
			 "balloon_deflated_unasked,host_swap_outs,host_swap_ins,swap_shared,"
			 "blocked,blocked_ms,idle_ms\n");
	f = tmpfile();
	out_header_write(f, out_g_cols, G_NR);
	ck_assert_str_eq(text(f, buf, sizeof(buf)),
			 "name,backend,paging,guest_pages,untouched,host_frames,pages_sharing,"
			 "balloon_actual,host_swapped,accesses,tlb_misses,walk_refs,exits,"
			 "guest_page_faults,guest_swap_outs,guest_swap_ins,cow_breaks,"
			 "modeled_cycles,modeled_seconds,cycles_per_access,cycles_access,"
			 "cycles_walk,cycles_exits,cycles_guest_os,cycles_swap_io,verified,"
			 "paging_final,mode_switches,exits_nested_fault,exits_hidden_fault,"
			 "exits_pt_write,exits_cr3_write,exits_invlpg,exits_mode_switch,"
			 "shadow_accesses,cycles_host_swap,cycles_blocked,cycles_idle,"
			 "host_swap_outs,host_swap_ins,swap_shared,balloon_target,"
			 "balloon_inflated,balloon_deflated,alloc_target\n");
}
END_TEST

/* the formats, and the gaps: a row with only some columns set */
START_TEST(test_row)
{
	char buf[4096], want[4096] = "";
	FILE *f = tmpfile();
	struct out_row r;

	out_row_ts(&r);
	out_d(&r, TS_time_ms, 1.23456);
	out_s(&r, TS_guest, "web0");
	out_u(&r, TS_accesses, 18446744073709551615ull);
	out_d(&r, TS_modeled_cycles, 2.5e9 + 0.4);
	out_u(&r, TS_host_state, 3);
	out_d(&r, TS_shares_per_page, 1.0 / 3);
	out_d(&r, TS_idle_tax, 75);
	out_d(&r, TS_idle_ms, 0.25);
	out_row_write(f, &r);
	strcat(want, "1.235,web0,18446744073709551615");
	for (int i = TS_accesses + 1; i < TS_modeled_cycles; i++)
		strcat(want, ",");
	strcat(want, ",2500000000");
	for (int i = TS_modeled_cycles + 1; i < TS_host_state; i++)
		strcat(want, ",");
	strcat(want, ",3");
	for (int i = TS_host_state + 1; i < TS_shares_per_page; i++)
		strcat(want, ",");
	strcat(want, ",0.333333,75.00");
	for (int i = TS_idle_tax + 1; i < TS_idle_ms; i++)
		strcat(want, ",");
	strcat(want, ",0.250\n");
	ck_assert_str_eq(text(f, buf, sizeof(buf)), want);

	/* an unset guests.csv row: 44 commas, no zeros */
	f = tmpfile();
	out_row_g(&r);
	out_row_write(f, &r);
	text(f, buf, sizeof(buf));
	ck_assert_uint_eq(strlen(buf), G_NR);
	ck_assert_ptr_null(strchr(buf, '0'));
}
END_TEST

Suite *columns_suite(void)
{
	Suite *s = suite_create("columns");
	TCase *tc = tcase_create("columns");

	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_row);
	suite_add_tcase(s, tc);
	return s;
}
