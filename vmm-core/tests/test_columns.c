/* SPDX-License-Identifier: MIT */
/* The CSV columns and summary.json's fields: the header is the contract's,
 * every format prints as the files always have, an unset column is empty
 * (CSV) or null (JSON), never 0; JSON paths nest; every exit reason of
 * both backends has its field. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "vmm-core/kvm/kvm_internal.h"
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

/* nesting at the dots, nulls, escaping, a group closed before the next
 * top-level field and at the end, and a group with nothing set is null */
START_TEST(test_json)
{
	static const struct out_col cols[] = {
	    {"name", OUT_STR},	 {"a.x", OUT_U64}, {"a.b.y", OUT_F2},
	    {"a.b.z", OUT_BOOL}, {"a.w", OUT_U64}, {"n", OUT_U64},
	    {"c.v", OUT_RAW},	 {"d.u", OUT_U64}, {"d.t", OUT_U64},
	};
	char buf[4096];
	FILE *f = tmpfile();
	struct out_row r = {.cols = cols, .n = 9};

	out_s(&r, 0, "say \"hi\"\n");
	out_u(&r, 1, 7);
	out_d(&r, 2, 0.5);
	out_b(&r, 3, true);
	out_sf(&r, 6, "%d.%d", 1, 25);
	out_json_write(f, &r, "");
	ck_assert_str_eq(
	    text(f, buf, sizeof(buf)),
	    "{\"name\": \"say \\\"hi\\\"\\u000a\", \"a\": {\"x\": 7, \"b\": {\"y\": 0.50, "
	    "\"z\": true}, \"w\": null}, \"n\": null, \"c\": {\"v\": 1.25}, \"d\": null}");
}
END_TEST

/* Once a field's group is left, no later field is in it again (the
 * writer opens each group once). */
static void check_groups(const struct out_col *tab, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *dot = strrchr(tab[i].name, '.');
		bool left = false;

		for (unsigned j = i + 1; dot && j < n; j++) {
			bool in =
			    !strncmp(tab[j].name, tab[i].name, (size_t)(dot - tab[i].name) + 1);

			ck_assert_msg(!(left && in), "%s comes back to its group", tab[j].name);
			left |= !in;
		}
	}
}

/* every exit the soft MMU counts and every KVM statistic has a field in
 * a guest's object, and each group's fields are listed together */
START_TEST(test_json_fields)
{
	struct out_row r;

	out_row_jg(&r);
	for (int x = 0; x < MMU_EXIT_NR; x++) {
		ck_assert_int_ge(out_find(&r, "exits", mmu_exit_name((enum mmu_exit_reason)x)), 0);
		ck_assert_int_ge(
		    out_find(&r, "exit_cycles", mmu_exit_name((enum mmu_exit_reason)x)), 0);
	}
	for (int i = 0; i < KV_STAT_NR; i++)
		ck_assert_msg(out_find(&r, "kvm_exits", kv_stat_names[i]) >= 0, "%s",
			      kv_stat_names[i]);
	ck_assert_int_lt(out_find(&r, "exits", "nonesuch"), 0);
	check_groups(out_jg_fields, JG_NR);
	check_groups(out_jh_fields, JH_NR);
}
END_TEST

Suite *columns_suite(void)
{
	Suite *s = suite_create("columns");
	TCase *tc = tcase_create("columns");

	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_row);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_json_fields);
	suite_add_tcase(s, tc);
	return s;
}
