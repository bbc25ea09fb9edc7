/* SPDX-License-Identifier: MIT */
/* inguest: the parts of memvisor-guest, the program inside Linux guests. */
#ifndef GUEST_INGUEST_INGUEST_H
#define GUEST_INGUEST_INGUEST_H

#include "guest/gen_internal.h"

#define INGUEST_MAX_TRACES 16

struct inguest_trace_opts {
	const char *dir;		 /* the traces' folder; NULL: /trace */
	unsigned ntraces;		 /* DIR/0.mvt .. DIR/(ntraces - 1).mvt */
	uint64_t accesses;		 /* records per process; 0: each its own count */
	bool loop;			 /* start over at the end until accesses */
	uint64_t seed;			 /* store words, as the soft guests' */
	const struct guest_library *lib; /* IMAGE records, or NULL */
	unsigned hold;			 /* seconds to keep the pages before verifying */
	bool flip;			 /* tests: each process flips a byte of its first
					    page before verifying (verify must see it) */
};

struct inguest_trace_result {
	unsigned procs;	     /* address spaces replayed */
	uint64_t records;    /* records replayed, all processes */
	uint64_t pages;	     /* distinct pages touched, all processes */
	uint64_t mismatches; /* pages that differ from the trace's bytes */
	char err[160];
};

/* Replay every address space of every trace, each in a child process of
 * its own, then verify every page (trace.c). 0, or -errno with res->err
 * naming the trace, process and record. */
int inguest_traces(const struct inguest_trace_opts *o, struct inguest_trace_result *res);

#endif
