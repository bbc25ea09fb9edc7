/* SPDX-License-Identifier: MIT */
/* columns: the CSV files' columns and summary.json's fields (columns.h),
 * and their writers. */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "vmm-core/out/columns.h"

_Static_assert(TS_NR <= OUT_MAX_COLS && G_NR <= OUT_MAX_COLS && JG_NR <= OUT_MAX_COLS &&
		   JH_NR <= OUT_MAX_COLS,
	       "out_row holds OUT_MAX_COLS columns");

#define OUT_COL(name, fmt) {#name, OUT_##fmt},
const struct out_col out_ts_cols[TS_NR] = {OUT_TS_COLUMNS(OUT_COL)};
const struct out_col out_g_cols[G_NR] = {OUT_G_COLUMNS(OUT_COL)};
#define OUT_FIELD(name, fmt, path) {path, OUT_##fmt},
const struct out_col out_jg_fields[JG_NR] = {OUT_JG_FIELDS(OUT_FIELD)};
const struct out_col out_jh_fields[JH_NR] = {OUT_JH_FIELDS(OUT_FIELD)};

static void row_init(struct out_row *r, const struct out_col *cols, unsigned n)
{
	memset(r, 0, sizeof(*r));
	r->cols = cols;
	r->n = n;
}

void out_row_ts(struct out_row *r)
{
	row_init(r, out_ts_cols, TS_NR);
}

void out_row_g(struct out_row *r)
{
	row_init(r, out_g_cols, G_NR);
}

void out_row_jg(struct out_row *r)
{
	row_init(r, out_jg_fields, JG_NR);
}

void out_row_jh(struct out_row *r)
{
	row_init(r, out_jh_fields, JH_NR);
}

int out_find(const struct out_row *r, const char *group, const char *key)
{
	size_t g = strlen(group);

	for (unsigned i = 0; i < r->n; i++) {
		const char *p = r->cols[i].name;

		if (!strncmp(p, group, g) && p[g] == '.' && !strcmp(p + g + 1, key))
			return (int)i;
	}
	return -1;
}

static void row_set(struct out_row *r, unsigned i)
{
	r->set[i / 64] |= 1ull << (i % 64);
}

static bool row_isset(const struct out_row *r, unsigned i)
{
	return (r->set[i / 64] >> (i % 64)) & 1;
}

void out_u(struct out_row *r, unsigned i, uint64_t v)
{
	r->v[i].u = v;
	row_set(r, i);
}

void out_d(struct out_row *r, unsigned i, double v)
{
	r->v[i].d = v;
	row_set(r, i);
}

void out_s(struct out_row *r, unsigned i, const char *v)
{
	r->v[i].s = v;
	row_set(r, i);
}

void out_sf(struct out_row *r, unsigned i, const char *fmt, ...)
{
	size_t room = sizeof(r->arena) - r->used;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->arena + r->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		r->arena[r->used] = 0; /* no room: an empty string, never a cut one */
		n = 0;
	}
	out_s(r, i, r->arena + r->used);
	r->used += (size_t)n + 1;
}

void out_b(struct out_row *r, unsigned i, bool v)
{
	r->v[i].u = v;
	row_set(r, i);
}

void out_header_write(FILE *f, const struct out_col *cols, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", cols[i].name);
	fputc('\n', f);
}

/* The value of column i, as its format says; json: strings quoted. */
static void value_write(FILE *f, const struct out_row *r, unsigned i, bool json)
{
	switch (r->cols[i].fmt) {
	case OUT_U64:
		fprintf(f, "%" PRIu64, r->v[i].u);
		break;
	case OUT_INT:
		fprintf(f, "%d", (int)r->v[i].u);
		break;
	case OUT_STR:
		if (json)
			out_json_str(f, r->v[i].s);
		else
			fputs(r->v[i].s, f);
		break;
	case OUT_RAW:
		fputs(r->v[i].s, f);
		break;
	case OUT_BOOL:
		fputs(r->v[i].u ? (json ? "true" : "yes") : (json ? "false" : "no"), f);
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
	case OUT_F4:
		fprintf(f, "%.4f", r->v[i].d);
		break;
	case OUT_F6:
		fprintf(f, "%.6f", r->v[i].d);
		break;
	case OUT_G6:
		fprintf(f, "%.6g", r->v[i].d);
		break;
	}
}

void out_row_write(FILE *f, const struct out_row *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		if (i)
			fputc(',', f);
		if (row_isset(r, i)) /* else not measured: empty */
			value_write(f, r, i, false);
	}
	fputc('\n', f);
}

void out_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

#define OUT_JSON_PER_LINE 6 /* top-level fields on one line */

/* The end of the run of fields from i whose paths start with the first
 * len characters of path i (a group), and whether any of them is set. */
static unsigned group_end(const struct out_row *r, unsigned i, size_t len, bool *any)
{
	const char *g = r->cols[i].name;

	*any = false;
	for (; i < r->n && !strncmp(r->cols[i].name, g, len); i++)
		*any |= row_isset(r, i);
	return i;
}

/* Fields [i, end), whose paths share their first skip characters, as one
 * object: a field is "key": value; a group ("key.rest") is an object of
 * its own, or null when none of its fields is set. */
static void json_object(FILE *f, const struct out_row *r, unsigned i, unsigned end, size_t skip,
			const char *indent)
{
	unsigned on_line = 0;

	fputc('{', f);
	for (unsigned first = i; i < end;) {
		const char *key = r->cols[i].name + skip, *dot = strchr(key, '.');

		if (i != first && !skip && ++on_line >= OUT_JSON_PER_LINE) {
			fprintf(f, ",\n%s", indent);
			on_line = 0;
		} else if (i != first) {
			fputs(", ", f);
		}
		if (dot) {
			size_t len = (size_t)(dot - key);
			bool any;
			unsigned g = group_end(r, i, skip + len + 1, &any);

			fprintf(f, "\"%.*s\": ", (int)len, key);
			if (any)
				json_object(f, r, i, g, skip + len + 1, indent);
			else
				fputs("null", f);
			i = g;
			continue;
		}
		fprintf(f, "\"%s\": ", key);
		if (row_isset(r, i))
			value_write(f, r, i, true);
		else
			fputs("null", f);
		i++;
	}
	fputc('}', f);
}

void out_json_write(FILE *f, const struct out_row *r, const char *indent)
{
	json_object(f, r, 0, r->n, 0, indent);
}
