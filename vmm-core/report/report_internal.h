/* SPDX-License-Identifier: MIT */
/* report_internal: the report's files (report/): the CSV reader and what
 * report.c, report_plot.c and report_html.c share. It reads a run's files
 * only; nothing of the runner. */
#ifndef VMM_CORE_REPORT_INTERNAL_H
#define VMM_CORE_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "vmm-core/vmm.h"

/* ------------------------------------------------------------------------
 * CSV reader (csv.c): a header row, then rows of the same field count.
 * Fields are separated by ','; a field may be quoted with '"' (a doubled
 * '"' inside stands for one) but may not span lines. Blank lines and a
 * trailing '\r' are ignored. Line numbers count physical lines from 1 (the
 * header). Every message names the file, and the line where there is one.
 */
struct csv;

/* Open path and read its header row into *out. Returns 0, or -errno
 * (-EINVAL for an empty file or a malformed header) with err filled; *out
 * is then NULL. The caller closes *out with csv_close(). */
int csv_open(struct csv **out, const char *path, char *err, size_t errlen) MUST_CHECK;
/* Close c and free what it holds; c may be NULL. */
void csv_close(struct csv *c);
/* Read the next row. Returns 1 for a row, 0 at the end of the file, or
 * -errno (-EINVAL for a malformed row or a field count different from the
 * header's) with err filled. The previous row's fields are then gone. */
int csv_next(struct csv *c, char *err, size_t errlen) MUST_CHECK;
/* Index of the header column called name, or -ENOENT; with err not NULL
 * the -ENOENT comes with "PATH: missing column 'NAME'". */
int csv_column(const struct csv *c, const char *name, char *err, size_t errlen) MUST_CHECK;
/* Columns of the header. */
unsigned csv_ncols(const struct csv *c);
/* Name of header column i < csv_ncols(); borrowed until csv_close(). */
const char *csv_header(const struct csv *c, unsigned i);
/* Field i < csv_ncols() of the current row; borrowed until csv_next(). */
const char *csv_field(const struct csv *c, unsigned i);
/* Physical line number of the current row (1 is the header). */
unsigned csv_lineno(const struct csv *c);
/* The path given to csv_open(). */
const char *csv_path(const struct csv *c);
/* Parse field i of the current row as a finite number >= 0 into *out.
 * Returns 0, or -EINVAL with "PATH: line N: column 'NAME': ..." in err. */
int csv_number(const struct csv *c, unsigned i, double *out, char *err, size_t errlen) MUST_CHECK;
/* The same, but an empty field (a figure the run's backend does not
 * measure) gives 0 and returns 1. */
int csv_number_opt(const struct csv *c, unsigned i, double *out, char *err,
		   size_t errlen) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Report (report.c reads the files and writes report.html; report_plot.c
 * writes the figures).
 */

/* Columns of timeseries.csv the report reads, in this order. */
enum report_ts_col {
	RTS_TIME,     /* time_ms: the guest's modeled clock, ms */
	RTS_RESIDENT, /* p2m states, 4 KiB pages ... */
	RTS_SHARED,
	RTS_SWAPPED,
	RTS_BALLOONED,
	RTS_UNTOUCHED,	 /* ... which add up to the guest's pages */
	RTS_FAULTS,	 /* cumulative guest page faults */
	RTS_SWAP_OUTS,	 /* cumulative guest swap-outs, pages */
	RTS_SWAP_INS,	 /* cumulative guest swap-ins, pages */
	RTS_HOST_FRAMES, /* host frames in use at that sample */
	RTS_HOST_RSS,	 /* host RSS at that sample, bytes */
	RTS_NR
};
#define RTS_NSTATES 5 /* RTS_RESIDENT .. RTS_UNTOUCHED */

/* Columns of guests.csv the report reads, in this order. */
enum report_g_col {
	RG_ACCESSES,
	RG_TLB_MISSES,
	RG_WALK_REFS,
	RG_CYC_ACCESS, /* modeled cycles by component, whole run */
	RG_CYC_WALK,
	RG_CYC_EXITS,
	RG_CYC_GUEST_OS,
	RG_CYC_SWAP_IO,
	RG_NR
};

struct report_sample {
	double v[RTS_NR];
};

/* One guest's samples from timeseries.csv, in time order. */
struct report_series {
	char *name;
	struct report_sample *s;
	size_t n, cap;
};

/* One row of guests.csv. */
struct report_guest {
	char **field; /* every field as read, for the table */
	double v[RG_NR];
};

struct report {
	const char *dir;	      /* borrowed, without trailing '/' */
	char fig_dir[4096 + 16];      /* dir/figures */
	struct report_series *series; /* by first appearance */
	unsigned nseries, series_cap;
	unsigned *slot;	 /* open-addressing index: name -> series + 1 */
	unsigned nslots; /* a power of two, 0 before the first guest */
	char **gcol;	 /* guests.csv header names */
	unsigned ngcols;
	unsigned g_name_col; /* index of 'name' in gcol */
	struct report_guest *guests;
	unsigned nguests;
	bool wall; /* kvm guests: time_ms is wall time, not modeled */
};

/* The figures report_plot.c makes, by base name ("memory"), in order. */
#define REPORT_NFIGURES 5
extern const char *const report_figures[REPORT_NFIGURES];

/* Write every figure's .dat and .gp into r->fig_dir (which exists) and run
 * gnuplot on them, producing NAME.png and NAME.svg there. Returns 0, or
 * -errno with err filled (report_gnuplot's errors included). */
int report_plot_all(const struct report *r, char *err, size_t errlen) MUST_CHECK;

/* Run `gnuplot -e "out='NAME.tmp'" NAME.gp` in r->fig_dir, which should
 * write NAME.tmp.png and NAME.tmp.svg. Returns 0; -ENOENT with "gnuplot is
 * not installed" in err when it is not found; -EIO with its exit status
 * and last line of stderr when it fails; other -errno from fork/exec. */
int report_gnuplot(const struct report *r, const char *name, char *err, size_t errlen) MUST_CHECK;

/* Read r->dir/summary.json (a missing one is noted on the page, a
 * malformed one is an error naming its line) and write r->dir/report.html
 * through a temporary file. Returns 0 or -errno with err filled. */
int report_html_write(const struct report *r, char *err, size_t errlen) MUST_CHECK;

/* Open path.tmp for writing, its name in tmp (tmplen bytes). Returns the
 * stream, or NULL with err filled and errno set. */
FILE *report_tmp_open(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen);
/* Close f (opened by report_tmp_open as tmp) and rename tmp to path; on
 * any error remove tmp. Returns 0 or -errno with err filled. */
int report_tmp_commit(FILE *f, const char *tmp, const char *path, char *err,
		      size_t errlen) MUST_CHECK;

#endif
