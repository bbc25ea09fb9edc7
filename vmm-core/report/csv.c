/* SPDX-License-Identifier: MIT */
/* A small CSV reader for the report: header names, strict field counts. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/report/report_internal.h"

struct csv {
	char *path; /* copied, for messages */
	FILE *f;
	char *line; /* getline buffer; fields point into it */
	size_t linecap;
	char **field; /* fields of the current row (or the header) */
	unsigned nfield, fieldcap;
	char **header; /* copied header names */
	unsigned ncols;
	unsigned lineno; /* physical line of the current row */
};

static int csv_push(struct csv *c, char *s)
{
	if (c->nfield == c->fieldcap) {
		unsigned cap = c->fieldcap ? 2 * c->fieldcap : 32;
		char **p = realloc(c->field, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->field = p;
		c->fieldcap = cap;
	}
	c->field[c->nfield++] = s;
	return 0;
}

/*
 * Split c->line in place into c->field. A quoted field is unescaped in
 * place ("" -> "), which only shortens it. Returns 0, or -EINVAL/-ENOMEM
 * with err filled.
 */
static int csv_split(struct csv *c, char *err, size_t errlen)
{
	char *p = c->line;
	int ret;

	c->nfield = 0;
	for (;;) {
		char *start = p, *w;

		if (*p == '"') {
			w = start;
			for (p++;; p++) {
				if (*p == '\0') {
					util_errf(err, errlen,
						  "%s: line %u: unterminated quoted field %u",
						  c->path, c->lineno, c->nfield + 1);
					return -EINVAL;
				}
				if (*p == '"') {
					if (p[1] != '"')
						break;
					p++;
				}
				*w++ = *p;
			}
			p++; /* the closing quote */
			if (*p != ',' && *p != '\0') {
				util_errf(
				    err, errlen,
				    "%s: line %u: field %u: unexpected '%c' after closing quote",
				    c->path, c->lineno, c->nfield + 1, *p);
				return -EINVAL;
			}
			*w = '\0';
		} else {
			p += strcspn(p, ",");
		}
		ret = csv_push(c, start);
		if (ret) {
			util_errf(err, errlen, "%s: out of memory", c->path);
			return ret;
		}
		if (*p == '\0')
			return 0;
		*p++ = '\0';
	}
}

/* Read the next non-blank line into c->line, without its line end.
 * Returns 1, 0 at the end, or -errno with err filled. */
static int csv_getline(struct csv *c, char *err, size_t errlen)
{
	for (;;) {
		ssize_t n;

		errno = 0;
		n = getline(&c->line, &c->linecap, c->f);
		if (n < 0) {
			if (ferror(c->f)) {
				int e = errno ? errno : EIO;

				util_errf(err, errlen, "%s: %s", c->path, strerror(e));
				return -e;
			}
			return 0;
		}
		c->lineno++;
		while (n > 0 && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r'))
			c->line[--n] = '\0';
		if (n > 0)
			return 1;
	}
}

int csv_open(struct csv **out, const char *path, char *err, size_t errlen)
{
	struct csv *c;
	int ret;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		util_errf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c->f = fopen(path, "r");
	if (!c->f) {
		ret = -errno;
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	ret = csv_getline(c, err, errlen);
	if (ret == 0) {
		util_errf(err, errlen, "%s: empty file, expected a header row", path);
		ret = -EINVAL;
	}
	if (ret < 0)
		goto fail;
	ret = csv_split(c, err, errlen);
	if (ret)
		goto fail;
	c->header = calloc(c->nfield, sizeof(*c->header));
	if (!c->header)
		goto nomem;
	for (c->ncols = 0; c->ncols < c->nfield; c->ncols++) {
		c->header[c->ncols] = strdup(c->field[c->ncols]);
		if (!c->header[c->ncols])
			goto nomem;
	}
	*out = c;
	return 0;
nomem:
	util_errf(err, errlen, "%s: out of memory", path);
	ret = -ENOMEM;
fail:
	csv_close(c);
	return ret;
}

void csv_close(struct csv *c)
{
	if (!c)
		return;
	if (c->f)
		fclose(c->f);
	for (unsigned i = 0; i < c->ncols; i++)
		free(c->header[i]);
	free(c->header);
	free(c->field);
	free(c->line);
	free(c->path);
	free(c);
}

int csv_next(struct csv *c, char *err, size_t errlen)
{
	int ret = csv_getline(c, err, errlen);

	if (ret <= 0)
		return ret;
	ret = csv_split(c, err, errlen);
	if (ret)
		return ret;
	if (c->nfield != c->ncols) {
		util_errf(err, errlen, "%s: line %u: expected %u fields, found %u", c->path,
			  c->lineno, c->ncols, c->nfield);
		return -EINVAL;
	}
	return 1;
}

int csv_column(const struct csv *c, const char *name, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->ncols; i++)
		if (!strcmp(c->header[i], name))
			return (int)i;
	util_errf(err, errlen, "%s: missing column '%s'", c->path, name);
	return -ENOENT;
}

unsigned csv_ncols(const struct csv *c)
{
	return c->ncols;
}

const char *csv_header(const struct csv *c, unsigned i)
{
	return c->header[i];
}

const char *csv_field(const struct csv *c, unsigned i)
{
	return c->field[i];
}

unsigned csv_lineno(const struct csv *c)
{
	return c->lineno;
}

const char *csv_path(const struct csv *c)
{
	return c->path;
}

int csv_number_opt(const struct csv *c, unsigned i, double *out, char *err, size_t errlen)
{
	if (!c->field[i][0]) {
		*out = 0;
		return 1;
	}
	return csv_number(c, i, out, err, errlen);
}

int csv_number(const struct csv *c, unsigned i, double *out, char *err, size_t errlen)
{
	const char *s = c->field[i];
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	while (end != s && (*end == ' ' || *end == '\t'))
		end++;
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || v < 0) {
		util_errf(err, errlen,
			  "%s: line %u: column '%s': expected a number >= 0, found '%.40s'",
			  c->path, c->lineno, c->header[i], s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
