/* SPDX-License-Identifier: MIT */
/*
 * columns: the columns of timeseries.csv and guests.csv, each declared
 * once, with the way its value is printed. A writer fills a row by column
 * (out_u, out_d, out_s) and prints it with out_row_write; the header comes
 * from the same list, so names and values cannot drift apart, and both
 * backends write the same files. A column a backend does not measure is
 * left unset and written empty, never 0: a KVM guest has no modeled TLB.
 * Which backend measures what: README, "Output files".
 */
#ifndef VMM_CORE_COLUMNS_H
#define VMM_CORE_COLUMNS_H

#include <stdint.h>
#include <stdio.h>

/* how a value is printed */
enum out_fmt {
	OUT_U64, /* PRIu64 */
	OUT_INT, /* %d */
	OUT_STR, /* as is */
	OUT_F0,	 /* %.0f */
	OUT_F2,	 /* %.2f */
	OUT_F3,	 /* %.3f */
	OUT_F6,	 /* %.6f */
	OUT_G6,	 /* %.6g */
};

/* timeseries.csv, a row per sample per guest (vmm.h says what each is) */
#define OUT_TS_COLUMNS(X)                                                                          \
	X(time_ms, F3)                                                                             \
	X(guest, STR)                                                                              \
	X(accesses, U64)                                                                           \
	X(untouched, U64)                                                                          \
	X(resident, U64)                                                                           \
	X(shared, U64)                                                                             \
	X(ballooned, U64)                                                                          \
	X(swapped, U64)                                                                            \
	X(guest_free, U64)                                                                         \
	X(guest_page_faults, U64)                                                                  \
	X(guest_swap_outs, U64)                                                                    \
	X(guest_swap_ins, U64)                                                                     \
	X(tlb_misses, U64)                                                                         \
	X(walk_refs, U64)                                                                          \
	X(exits, U64)                                                                              \
	X(modeled_cycles, F0)                                                                      \
	X(balloon_target, U64)                                                                     \
	X(balloon_actual, U64)                                                                     \
	X(host_frames_used, U64)                                                                   \
	X(host_rss_bytes, U64)                                                                     \
	X(paging, STR)                                                                             \
	X(mode_switches, U64)                                                                      \
	X(host_state, INT)                                                                         \
	X(host_free_pages, U64)                                                                    \
	X(alloc_pages, U64)                                                                        \
	X(alloc_target, U64)                                                                       \
	X(active_pages, F0)                                                                        \
	X(ws_slow, F0)                                                                             \
	X(ws_fast, F0)                                                                             \
	X(ws_current, F0)                                                                          \
	X(ws_true, U64)                                                                            \
	X(shares_per_page, G6)                                                                     \
	X(idle_tax, F2)                                                                            \
	X(balloon_wanted, U64)                                                                     \
	X(guest_balloon_pages, U64)                                                                \
	X(balloon_inflated, U64)                                                                   \
	X(balloon_deflated, U64)                                                                   \
	X(balloon_deflated_unasked, U64)                                                           \
	X(host_swap_outs, U64)                                                                     \
	X(host_swap_ins, U64)                                                                      \
	X(swap_shared, U64)                                                                        \
	X(blocked, INT)                                                                            \
	X(blocked_ms, F3)                                                                          \
	X(idle_ms, F3)

/* guests.csv, a row per guest at the end */
#define OUT_G_COLUMNS(X)                                                                           \
	X(name, STR)                                                                               \
	X(backend, STR)                                                                            \
	X(paging, STR)                                                                             \
	X(guest_pages, U64)                                                                        \
	X(untouched, U64)                                                                          \
	X(host_frames, U64)                                                                        \
	X(pages_sharing, U64)                                                                      \
	X(balloon_actual, U64)                                                                     \
	X(host_swapped, U64)                                                                       \
	X(accesses, U64)                                                                           \
	X(tlb_misses, U64)                                                                         \
	X(walk_refs, U64)                                                                          \
	X(exits, U64)                                                                              \
	X(guest_page_faults, U64)                                                                  \
	X(guest_swap_outs, U64)                                                                    \
	X(guest_swap_ins, U64)                                                                     \
	X(cow_breaks, U64)                                                                         \
	X(modeled_cycles, F0)                                                                      \
	X(modeled_seconds, F6)                                                                     \
	X(cycles_per_access, F3)                                                                   \
	X(cycles_access, F0)                                                                       \
	X(cycles_walk, F0)                                                                         \
	X(cycles_exits, F0)                                                                        \
	X(cycles_guest_os, F0)                                                                     \
	X(cycles_swap_io, F0)                                                                      \
	X(verified, STR)                                                                           \
	X(paging_final, STR)                                                                       \
	X(mode_switches, U64)                                                                      \
	X(exits_nested_fault, U64)                                                                 \
	X(exits_hidden_fault, U64)                                                                 \
	X(exits_pt_write, U64)                                                                     \
	X(exits_cr3_write, U64)                                                                    \
	X(exits_invlpg, U64)                                                                       \
	X(exits_mode_switch, U64)                                                                  \
	X(shadow_accesses, U64)                                                                    \
	X(cycles_host_swap, F0)                                                                    \
	X(cycles_blocked, F0)                                                                      \
	X(cycles_idle, F0)                                                                         \
	X(host_swap_outs, U64)                                                                     \
	X(host_swap_ins, U64)                                                                      \
	X(swap_shared, U64)                                                                        \
	X(balloon_target, U64)                                                                     \
	X(balloon_inflated, U64)                                                                   \
	X(balloon_deflated, U64)                                                                   \
	X(alloc_target, U64)

#define OUT_ENUM(prefix, name, fmt) prefix##name,
#define OUT_TS_ENUM(name, fmt)	    OUT_ENUM(TS_, name, fmt)
#define OUT_G_ENUM(name, fmt)	    OUT_ENUM(G_, name, fmt)
enum out_ts_col { OUT_TS_COLUMNS(OUT_TS_ENUM) TS_NR };
enum out_g_col { OUT_G_COLUMNS(OUT_G_ENUM) G_NR };

struct out_col {
	const char *name;
	enum out_fmt fmt;
};
extern const struct out_col out_ts_cols[TS_NR], out_g_cols[G_NR];

#define OUT_MAX_COLS 64
/* One row being filled: a value and a set bit per column. */
struct out_row {
	const struct out_col *cols;
	unsigned n;
	uint64_t set;
	union {
		uint64_t u;
		double d;
		const char *s;
	} v[OUT_MAX_COLS];
};

/* An empty row of the timeseries.csv or the guests.csv columns. */
void out_row_ts(struct out_row *r);
void out_row_g(struct out_row *r);
/* Set column i (an enum out_ts_col or out_g_col of r's file). */
void out_u(struct out_row *r, unsigned i, uint64_t v);
void out_d(struct out_row *r, unsigned i, double v);
void out_s(struct out_row *r, unsigned i, const char *v);
/* The header line of r's columns; r itself, unset columns empty. */
void out_header_write(FILE *f, const struct out_col *cols, unsigned n);
void out_row_write(FILE *f, const struct out_row *r);

#endif
