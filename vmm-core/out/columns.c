/* SPDX-License-Identifier: MIT */
/* columns: the two CSV files' columns (columns.h) and their writer. */
#include <inttypes.h>
#include <string.h>

#include "vmm-core/out/columns.h"

_Static_assert(TS_NR <= OUT_MAX_COLS && G_NR <= OUT_MAX_COLS, "out_row.set holds 64 columns");

#define OUT_COL(name, fmt) {#name, OUT_##fmt},
const struct out_col out_ts_cols[TS_NR] = {OUT_TS_COLUMNS(OUT_COL)};
const struct out_col out_g_cols[G_NR] = {OUT_G_COLUMNS(OUT_COL)};

void out_row_ts(struct out_row *r)
{
	memset(r, 0, sizeof(*r));
	r->cols = out_ts_cols;
	r->n = TS_NR;
}

void out_row_g(struct out_row *r)
{
	memset(r, 0, sizeof(*r));
	r->cols = out_g_cols;
	r->n = G_NR;
}

void out_u(struct out_row *r, unsigned i, uint64_t v)
{
	r->v[i].u = v;
	r->set |= 1ull << i;
}

void out_d(struct out_row *r, unsigned i, double v)
{
	r->v[i].d = v;
	r->set |= 1ull << i;
}

void out_s(struct out_row *r, unsigned i, const char *v)
{
	r->v[i].s = v;
	r->set |= 1ull << i;
}

void out_header_write(FILE *f, const struct out_col *cols, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", cols[i].name);
	fputc('\n', f);
}

void out_row_write(FILE *f, const struct out_row *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		if (i)
			fputc(',', f);
		if (!((r->set >> i) & 1))
			continue; /* not measured: empty */
		switch (r->cols[i].fmt) {
		case OUT_U64:
			fprintf(f, "%" PRIu64, r->v[i].u);
			break;
		case OUT_INT:
			fprintf(f, "%d", (int)r->v[i].u);
			break;
		case OUT_STR:
			fputs(r->v[i].s, f);
			break;
		case OUT_F0:
			fprintf(f, "%.0f", r->v[i].d);
			break;
		case OUT_F2:
			fprintf(f, "%.2f", r->v[i].d);
			break;
		case OUT_F3:
			fprintf(f, "%.3f", r->v[i].d);
			break;
		case OUT_F6:
			fprintf(f, "%.6f", r->v[i].d);
			break;
		case OUT_G6:
			fprintf(f, "%.6g", r->v[i].d);
			break;
		}
	}
	fputc('\n', f);
}
