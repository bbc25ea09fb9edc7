/* SPDX-License-Identifier: MIT */
/* check_traces: the suites of the traces module's test binary, and helpers. */
#ifndef TRACES_TESTS_CHECK_TRACES_H
#define TRACES_TESTS_CHECK_TRACES_H
#include <check.h>

#include "traces/traces_internal.h"

Suite *format_suite(void); /* test_format.c: writer, reader, cursor, summary */
Suite *errors_suite(void); /* test_errors.c: truncated, corrupt, wrong version */
Suite *lackey_suite(void); /* test_lackey.c: the text reader and writer */
Suite *record_suite(void); /* test_record.c: valgrind on a real command */

/* A path in the binary's scratch folder (removed at its end); the result
 * lives until 16 more calls. */
const char *tt_path(const char *name);
/* Write n records to path with chunks of chunk records; fails the test
 * on any error. */
void tt_write(const char *path, const struct trace_rec *r, size_t n, unsigned chunk);
/* Open path, failing the test if it does not open. */
struct trace_file *tt_open(const char *path);
/* Read every record of tf (pid filter) into a malloc'd array; *n its count. */
struct trace_rec *tt_read_all(const struct trace_file *tf, uint32_t pid, size_t *n);
/* Are the two records equal in every field that matters for their kind? */
int tt_rec_eq(const struct trace_rec *a, const struct trace_rec *b);
/* A deterministic pseudo-random record stream: n records over `pids`
 * address spaces, all kinds, page-crossing accesses, content records. */
struct trace_rec *tt_random_recs(size_t n, unsigned pids, uint64_t seed);
/* The whole file at path, its length in *len. */
uint8_t *tt_slurp(const char *path, size_t *len);
/* Write len bytes to path. */
void tt_spit(const char *path, const void *buf, size_t len);

#endif
