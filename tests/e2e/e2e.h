/* SPDX-License-Identifier: MIT */
/*
 * e2e: helpers shared by the end-to-end suites, which run the real memvisor
 * binary in a scratch folder of their own and read back what it wrote.
 * Each suite keeps its folder (a char[64]) and passes it in; every helper
 * that fails fails the calling Check test, so none returns an error.
 */
#ifndef TESTS_E2E_E2E_H
#define TESTS_E2E_E2E_H

#include <stddef.h>

#include "util/util.h"

/* The binary under test: $MEMVISOR_BIN, else build/check/memvisor. */
const char *e2e_bin(void);

/* The source tree (for tools/): $MEMVISOR_SRC, else ".". */
const char *e2e_src(void);

/* Make a fresh folder from tmpl ("/tmp/...-XXXXXX") into dir (size bytes,
 * at least strlen(tmpl) + 1); fails the test if it cannot. */
void e2e_mkdtemp(char *dir, size_t size, const char *tmpl);

/* Remove dir and all below it (rm -rf); reports, never fails. */
void e2e_rmdir(const char *dir);

/* dir/name, in a ring of static buffers: the result stays valid for the
 * next 63 calls. */
const char *e2e_path(const char *dir, const char *name);

/* Write text to dir/name (created or truncated); return that path, as
 * e2e_path() does. */
const char *e2e_write(const char *dir, const char *name, const char *text);

/* Run argv (argv[0] looked up in $PATH) with stdout and stderr into
 * dir/stdout and dir/stderr, in the current directory; wait for it and
 * return its exit status, or 128 + the signal that ended it. */
int e2e_run(const char *dir, char *const argv[]);

/* As e2e_run(), but the program starts in dir (relative paths in argv
 * and in its config name files there). */
int e2e_run_in(const char *dir, char *const argv[]);

/* The whole of file path, NUL-terminated; the caller frees it. */
char *e2e_slurp(const char *path);

/* The number after the first "key": in s (from s on), as strtod reads it;
 * fails the test if there is none. Integers below 2^53 come back exact. */
double e2e_json_num(const char *s, const char *key);

#endif
