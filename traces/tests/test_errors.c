/* SPDX-License-Identifier: MIT */
/* test_errors: truncated, corrupt and wrong-version traces, malformed chunk bytes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <xxhash.h>

#include "traces/tests/check_traces.h"

#define NREC  3000
#define CHUNK 500

/* A small valid trace in memory. */
static uint8_t *valid(size_t *len)
{
	struct trace_rec *in = tt_random_recs(NREC, 2, 11);
	const char *path = tt_path("valid.mvt");
	uint8_t *buf;

	tt_write(path, in, NREC, CHUNK);
	free(in);
	buf = tt_slurp(path, len);
	return buf;
}

/* Open a copy of buf[0, len) under name; the message in err. */
static struct trace_file *open_copy(const uint8_t *buf, size_t len, unsigned flags, char *err,
				    size_t errlen)
{
	return trace_open_mem(buf, len, "t.mvt", flags, err, errlen);
}

/* Every prefix of a valid file is refused, and says after which record it
 * ends: the records of the chunks complete before the cut. */
START_TEST(truncated_everywhere)
{
	size_t len;
	uint8_t *buf = valid(&len);
	struct trace_file *tf = open_copy(buf, len, 0, NULL, 0);
	uint64_t ends[NREC / CHUNK];
	char err[512], want[64];

	ck_assert_ptr_nonnull(tf);
	for (unsigned i = 0; i < trace_file_chunks(tf); i++)
		ends[i] = tf->chunks[i].offset + TRACE_SEC_BYTES + tf->chunks[i].stored;
	trace_close(tf);
	for (size_t cut = 0; cut < len; cut++) {
		unsigned complete = 0;

		err[0] = 0;
		ck_assert_msg(!open_copy(buf, cut, 0, err, sizeof(err)), "prefix %zu opened", cut);
		ck_assert_msg(strstr(err, "t.mvt"), "prefix %zu: %s", cut, err);
		if (cut < 8)
			continue;
		if (cut < TRACE_HDR_BYTES) {
			ck_assert_msg(strstr(err, "truncated"), "prefix %zu: %s", cut, err);
			continue;
		}
		while (complete < NREC / CHUNK && ends[complete] <= cut)
			complete++;
		snprintf(want, sizeof(want), "truncated after record %u", complete * CHUNK);
		ck_assert_msg(strstr(err, want), "prefix %zu: '%s' lacks '%s'", cut, err, want);
	}
	free(buf);
}
END_TEST

/* A flipped byte anywhere is caught by a checksum, and the message says
 * where: the chunk and its records, or the section. */
START_TEST(corrupt_everywhere)
{
	size_t len;
	uint8_t *buf = valid(&len);
	struct trace_file *tf = open_copy(buf, len, 0, NULL, 0);
	struct trace_chunk_ent ch[NREC / CHUNK];
	char err[512], want[96];

	memcpy(ch, tf->chunks, sizeof(ch));
	trace_close(tf);
	for (size_t at = 0; at < len; at++) {
		const char *expect = NULL;

		buf[at] ^= 0x20;
		err[0] = 0;
		ck_assert_msg(!open_copy(buf, len, 0, err, sizeof(err)), "flip at %zu opened", at);
		ck_assert_msg(strstr(err, "t.mvt"), "flip at %zu: %s", at, err);
		for (unsigned i = 0; i < NREC / CHUNK; i++)
			if (at >= ch[i].offset + TRACE_SEC_BYTES &&
			    at < ch[i].offset + TRACE_SEC_BYTES + ch[i].stored) {
				snprintf(want, sizeof(want),
					 "chunk %u (records %u..%u) at byte %" PRIu64
					 ": checksum mismatch",
					 i, i * CHUNK, i * CHUNK + CHUNK - 1, ch[i].offset);
				expect = want;
			}
		if (at < 56)
			expect = at < 8 ? "not a memvisor trace" : "corrupt header";
		else if (at >= len - TRACE_FOOT_BYTES + 8 && at < len - 8)
			expect = "corrupt footer";
		if (expect)
			ck_assert_msg(strstr(err, expect), "flip at %zu: '%s' lacks '%s'", at, err,
				      expect);
		buf[at] ^= 0x20;
	}
	free(buf);
}
END_TEST

START_TEST(wrong_version)
{
	size_t len;
	uint8_t *buf = valid(&len);
	char err[512];

	buf[8] = 2;
	buf[10] = 1;
	trace_put64(buf + 56, XXH3_64bits(buf, 56));
	ck_assert_ptr_null(open_copy(buf, len, 0, err, sizeof(err)));
	ck_assert_msg(strstr(err, "t.mvt") && strstr(err, "version 2.1") &&
			  strstr(err, "reads version 1"),
		      "%s", err);
	tt_spit(tt_path("v2.mvt"), buf, len);
	ck_assert_ptr_null(trace_open(tt_path("v2.mvt"), 0, err, sizeof(err)));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(err, "v2.mvt") && strstr(err, "version 2.1"), "%s", err);
	free(buf);
}
END_TEST

START_TEST(not_a_trace)
{
	char err[512];
	const char *text = "I  04016b70,3\n";

	ck_assert_ptr_null(open_copy((const uint8_t *)text, strlen(text), 0, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not a memvisor trace"));
	ck_assert_ptr_null(trace_open("/nonexistent.mvt", 0, err, sizeof(err)));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent.mvt"));
	ck_assert_ptr_null(trace_open("/tmp", 0, err, sizeof(err)));
	ck_assert(!trace_is_binary("/nonexistent.mvt"));
}
END_TEST

/* Without checksums, random damage must still never crash, hang or read
 * out of bounds: every byte is checked as it is decoded. */
START_TEST(damage_without_checksums)
{
	size_t len;
	uint8_t *buf = valid(&len), *copy = malloc(len);
	uint64_t s = 12345;
	struct trace_rec out[300];

	for (int round = 0; round < 600; round++) {
		struct trace_file *tf;

		memcpy(copy, buf, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			copy[(s >> 33) % len] ^= (uint8_t)(1u << ((s >> 20) % 8));
		}
		tf = open_copy(copy, len, TRACE_OPEN_NO_CHECKSUM, NULL, 0);
		if (tf) {
			struct trace_cursor *c = trace_cursor_create(tf, TRACE_ALL_PIDS);
			long got;

			while ((got = trace_cursor_read(c, out, 300)) > 0)
				;
			if (got < 0)
				ck_assert_ptr_nonnull(strstr(trace_cursor_error(c), "t.mvt"));
			trace_cursor_destroy(c);
			trace_close(tf);
		}
	}
	free(copy);
	free(buf);
}
END_TEST

/* Malformed chunk bytes: the decoder stops at the bad record. */
START_TEST(decode_malformed)
{
	static const struct {
		uint8_t b[12];
		size_t n;
	} bad[] = {
	    {{0x00}, 1},			       /* size varint missing */
	    {{0x01, 0x80}, 2},			       /* delta varint cut */
	    {{0x20, 0x02, 0x81, 0x80, 0x04}, 5},       /* size 65537 */
	    {{0x84, 0x00}, 2},			       /* unknown event */
	    {{0x83, 0x01, 0x00}, 3},		       /* private seed cut */
	    {{0x80, 0xff, 0xff, 0xff, 0xff, 0x7f}, 6}, /* pid over 32 bits */
	    {{0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03}, 11}, /* varint */
	    {{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 10}, /* vpn >= 2^52 */
	    {{0x28, 0x01}, 2}, /* load of 8 at -1: wraps */
	};
	struct trace_rec out[4];

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		struct trace_codec c;
		const uint8_t *p = bad[i].b;
		uint64_t done = 99;

		trace_codec_reset(&c, 0);
		ck_assert_msg(trace_decode(&c, &p, bad[i].b + bad[i].n, out, 4, 4, TRACE_ALL_PIDS,
					   &done) == -1,
			      "case %u decoded", i);
		ck_assert_uint_eq(done, 0);
		ck_assert_ptr_eq(p, bad[i].b);
	}
}
END_TEST

Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("files");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, truncated_everywhere);
	tcase_add_test(tc, corrupt_everywhere);
	tcase_add_test(tc, wrong_version);
	tcase_add_test(tc, not_a_trace);
	tcase_add_test(tc, damage_without_checksums);
	tcase_add_test(tc, decode_malformed);
	suite_add_tcase(s, tc);
	return s;
}
