/* SPDX-License-Identifier: MIT */
/*
 * End-to-end tests of page sharing: `memvisor share` on constructed images
 * (exact counts, zstd, RSS, errors naming the file) and runs with sharing
 * on (guests writing while the scanner merges and COW breaks happen pass
 * --verify, in every paging mode this build has).
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "tests/e2e/e2e.h"

#define PAGE 4096u

static char dir[64];

static void setup(void)
{
	e2e_mkdtemp(dir, sizeof(dir), "/tmp/memvisor-share-XXXXXX");
}

static void teardown(void)
{
	e2e_rmdir(dir);
}

/* Page `tag`: 0 is the zero page, others distinct bytes. */
static void page_of(uint64_t tag, uint8_t *b)
{
	uint64_t x = tag * 0x9e3779b97f4a7c15ull;

	memset(b, 0, PAGE);
	if (!tag)
		return;
	for (unsigned i = 0; i < PAGE / 8; i++) {
		x ^= x >> 31;
		x *= 0xbf58476d1ce4e5b9ull;
		memcpy(b + i * 8, &x, 8);
	}
}

/*
 * Image i of 3, `pages` pages: page p holds tag
 *   p % 8 == 0           zero
 *   p % 8 in 1..3        1000 + p % 512          (shared by all images)
 *   p % 8 == 4           2000 + i * 10 + p % 5   (in-image duplicates)
 *   otherwise            unique: 100000 + i * pages + p
 */
static uint64_t tag_of(unsigned i, uint64_t p, uint64_t pages)
{
	switch (p % 8) {
	case 0:
		return 0;
	case 1:
	case 2:
	case 3:
		return 1000 + p % 512;
	case 4:
		return 2000 + i * 10 + p % 5;
	default:
		return 100000 + i * pages + p;
	}
}

/* Write image i as name (zstd-compressed when zst). */
static void write_image(const char *name, unsigned i, uint64_t pages, bool zst)
{
	uint8_t *buf = malloc(pages * PAGE);
	FILE *f = fopen(e2e_path(dir, name), "w");

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(f);
	for (uint64_t p = 0; p < pages; p++)
		page_of(tag_of(i, p, pages), buf + p * PAGE);
	if (zst) {
		size_t cap = ZSTD_compressBound(pages * PAGE);
		void *z = malloc(cap);
		size_t n = ZSTD_compress(z, cap, buf, pages * PAGE, 3);

		ck_assert(!ZSTD_isError(n));
		ck_assert_uint_eq(fwrite(z, 1, n, f), n);
		free(z);
	} else {
		ck_assert_uint_eq(fwrite(buf, 1, pages * PAGE, f), pages * PAGE);
	}
	fclose(f);
	free(buf);
}

/* Known images: saved = total - distinct exactly, zero pages counted, the
 * .zst image read as the plain one, RSS falling by the pages saved, and
 * every page still equal to its image (--verify). */
START_TEST(test_share_exact)
{
	enum { PAGES = 4096 };
	char *argv[] = {(char *)e2e_bin(),
			"share",
			"--json",
			"--verify",
			(char *)e2e_path(dir, "a.img"),
			(char *)e2e_path(dir, "b.img"),
			(char *)e2e_path(dir, "c.img.zst"),
			NULL};
	uint64_t total = 3 * PAGES, distinct, zero = 3 * PAGES / 8, saved;
	double before, after, meta;
	char *out;

	write_image("a.img", 0, PAGES, false);
	write_image("b.img", 1, PAGES, false);
	write_image("c.img.zst", 2, PAGES, true);
	/* zero; 192 shared tags (p % 512 with p % 8 in 1..3); 5 per image;
	 * 3 unique per 8 pages */
	distinct = 1 + 192 + 3 * 5 + 3 * (PAGES / 8) * 3;
	saved = total - distinct;
	ck_assert_int_eq(e2e_run(dir, argv), 0);
	out = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_uint_eq((uint64_t)e2e_json_num(out, "pages_total"), total);
	ck_assert_uint_eq((uint64_t)e2e_json_num(out, "pages_zero"), zero);
	ck_assert_uint_eq((uint64_t)e2e_json_num(out, "pages_saved"), saved);
	ck_assert_uint_eq((uint64_t)e2e_json_num(out, "pages_shared"), 1 + 192 + 3 * 5);
	ck_assert_uint_eq((uint64_t)e2e_json_num(out, "pages_sharing"),
			  total - 3 * (PAGES / 8) * 3);
	ck_assert_ptr_nonnull(strstr(out, "\"verified\": true"));
	ck_assert_double_gt(e2e_json_num(out, "scan_seconds"), 0);
	ck_assert_double_gt(e2e_json_num(out, "cpu_seconds"), 0);
	/* RSS falls by the pages saved, less what the table took meanwhile */
	before = e2e_json_num(out, "rss_before_bytes");
	after = e2e_json_num(out, "rss_after_bytes");
	meta = e2e_json_num(out, "metadata_bytes");
	ck_assert_msg(before - after >= (double)saved * PAGE - meta - (2 << 20) &&
			  before - after <= (double)saved * PAGE + (2 << 20),
		      "RSS fell %.0f bytes for %llu pages saved", before - after,
		      (unsigned long long)saved);
	free(out);
	/* the same through the table output, and in random order */
	argv[2] = "--order=random";
	ck_assert_int_eq(e2e_run(dir, argv), 0);
	out = e2e_slurp(e2e_path(dir, "stdout"));
	ck_assert_ptr_nonnull(strstr(out, "pages saved"));
	ck_assert_ptr_nonnull(strstr(out, "every page matches its image"));
	free(out);
}
END_TEST

/* Bad images: one message naming the file, exit status 2. */
START_TEST(test_share_errors)
{
	static const char *const cases[][2] = {
	    {"short.img", "truncated"},	     {"cut.img.zst", "truncated zstd stream"},
	    {"junk.img.zst", "corrupt"},     {"empty.img", "empty"},
	    {"missing.img", "No such file"},
	};
	char *argv[] = {(char *)e2e_bin(), "share", NULL, NULL};
	uint8_t page[PAGE];
	char *err;
	FILE *f;

	write_image("cut.img.zst", 0, 256, true);
	ck_assert_int_eq(truncate(e2e_path(dir, "cut.img.zst"), 300), 0);
	f = fopen(e2e_path(dir, "short.img"), "w");
	page_of(7, page);
	fwrite(page, 1, PAGE, f);
	fwrite(page, 1, 100, f);
	fclose(f);
	f = fopen(e2e_path(dir, "junk.img.zst"), "w");
	fwrite(page, 1, PAGE, f);
	fclose(f);
	fclose(fopen(e2e_path(dir, "empty.img"), "w"));
	for (unsigned c = 0; c < ARRAY_SIZE(cases); c++) {
		argv[2] = (char *)e2e_path(dir, cases[c][0]);
		ck_assert_int_eq(e2e_run(dir, argv), 2);
		err = e2e_slurp(e2e_path(dir, "stderr"));
		ck_assert_msg(strstr(err, cases[c][0]) && strstr(err, cases[c][1]),
			      "%s: stderr '%s'", cases[c][0], err);
		free(err);
	}
	argv[2] = "--help";
	ck_assert_int_eq(e2e_run(dir, argv), 0);
	argv[2] = NULL;
	ck_assert_int_eq(e2e_run(dir, argv), 2);
}
END_TEST

static const char sharing_cfg[] = "[host]\n"
				  "memory = 96M\n"
				  "sharing = on\n"
				  "scan_rate = 0\n"
				  "sample_ms = 1\n"
				  "library_pages = 512\n"
				  "\n"
				  "[guest web]\n"
				  "count = 3\n"
				  "memory = 8M\n"
				  "wss = 3M\n"
				  "procs = 2\n"
				  "accesses = 50000\n"
				  "write_pct = 40\n"
				  "content = mixed\n"
				  "scan_rate = 2000000\n"
				  "paging = %s\n"
				  "\n"
				  "[guest solo]\n"
				  "memory = 4M\n"
				  "wss = 2M\n"
				  "accesses = 20000\n"
				  "content = library\n"
				  "sharing = off\n"
				  "paging = %s\n";

/* Guests keep writing while the scanner merges and copy-on-write breaks
 * happen: every page verifies, the counts add up, and a guest that opted
 * out shares nothing. Every paging mode, and switching between them at run
 * time every 1500 accesses. */
START_TEST(test_sharing_run)
{
	static const char *const modes[] = {"nested", "shadow", "dynamic",
					    "nested\npaging_switch_every = 1500"};
	const char *mode = modes[_i];
	char cfgtext[2048], *argv[] = {(char *)e2e_bin(),
				       "run",
				       (char *)e2e_path(dir, "s.ini"),
				       "-o",
				       (char *)e2e_path(dir, "out"),
				       "--verify",
				       "-q",
				       NULL};
	double sharing = 0, shared, saved;
	char *sum;
	const char *g;
	FILE *f;
	int st;

	snprintf(cfgtext, sizeof(cfgtext), sharing_cfg, mode, mode);
	f = fopen(e2e_path(dir, "s.ini"), "w");
	fputs(cfgtext, f);
	fclose(f);
	st = e2e_run(dir, argv);
	ck_assert_int_eq(st, 0);
	sum = e2e_slurp(e2e_path(dir, "out/summary.json"));
	ck_assert_ptr_nonnull(strstr(sum, "\"verified\": true"));
	shared = e2e_json_num(sum, "pages_shared");
	saved = e2e_json_num(sum, "pages_saved");
	ck_assert_double_gt(shared, 0);
	ck_assert_double_gt(saved, 0);
	ck_assert_double_gt(e2e_json_num(sum, "cow_breaks"), 0);
	ck_assert_double_gt(e2e_json_num(sum, "pages_zero_sharing"), 0);
	ck_assert_double_eq(saved, e2e_json_num(sum, "pages_sharing") - shared);
	ck_assert_double_eq(e2e_json_num(sum, "pool_resident_frames"),
			    e2e_json_num(sum, "frames_used"));
	ck_assert_double_gt(e2e_json_num(sum, "ksm_metadata_bytes"), 0);
	for (g = strstr(sum, "\"guests\""); (g = strstr(g, "{\"name\": ")); g++) {
		double pages = e2e_json_num(g, "guest_pages");

		ck_assert_double_eq(
		    e2e_json_num(g, "host_frames") + e2e_json_num(g, "pages_sharing") +
			e2e_json_num(g, "balloon_actual") + e2e_json_num(g, "host_swapped") +
			e2e_json_num(g, "untouched"),
		    pages);
		sharing += e2e_json_num(g, "pages_sharing");
		if (!strncmp(g, "{\"name\": \"solo\"", 15)) {
			ck_assert_double_eq(e2e_json_num(g, "pages_sharing"), 0);
			ck_assert_ptr_nonnull(strstr(g, "\"sharing\": false"));
		} else {
			ck_assert_double_gt(e2e_json_num(g, "pages_sharing"), 0);
			ck_assert_double_gt(e2e_json_num(g, "cow_breaks"), 0);
			ck_assert_ptr_nonnull(strstr(g, "\"verified\": true"));
		}
	}
	ck_assert_double_eq(sharing, e2e_json_num(sum, "pages_sharing"));
	free(sum);
}
END_TEST

START_TEST(test_sharing_config_errors)
{
	static const char *const cases[][2] = {
	    {"[host]\nsharing = on\nscan_order = zigzag\n[guest a]\n",
	     "bad.ini:3: [host] scan_order"},
	    {"[host]\nsharing = maybe\n[guest a]\n", "bad.ini:2: [host] sharing"},
	    {"[host]\n[guest a]\nscan_rate = -4\n", "[guest a] scan_rate"},
	    {"[host]\n[guest a]\nsharing = sometimes\n", "bad.ini:3: [guest a] sharing"},
	};
	char *argv[] = {(char *)e2e_bin(),
			"run",
			(char *)e2e_path(dir, "bad.ini"),
			"-o",
			(char *)e2e_path(dir, "o"),
			"-q",
			NULL};

	for (unsigned c = 0; c < ARRAY_SIZE(cases); c++) {
		FILE *f = fopen(e2e_path(dir, "bad.ini"), "w");
		char *err;

		fputs(cases[c][0], f);
		fclose(f);
		ck_assert_int_eq(e2e_run(dir, argv), 2);
		err = e2e_slurp(e2e_path(dir, "stderr"));
		ck_assert_msg(strstr(err, cases[c][1]), "stderr '%s' lacks '%s'", err, cases[c][1]);
		free(err);
	}
}
END_TEST

Suite *share_suite(void);
Suite *share_suite(void)
{
	Suite *s = suite_create("share");
	TCase *tc = tcase_create("share");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_share_exact);
	tcase_add_test(tc, test_share_errors);
	tcase_add_loop_test(tc, test_sharing_run, 0, 4);
	tcase_add_test(tc, test_sharing_config_errors);
	suite_add_tcase(s, tc);
	return s;
}
