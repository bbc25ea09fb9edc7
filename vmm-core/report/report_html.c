/* SPDX-License-Identifier: MIT */
/* report.html: the run's summary, its figures and the guests table. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/report/report_internal.h"

/* Scalars of summary.json shown on the page; "" when absent. */
enum {
	S_CONFIG,
	S_SEED,
	S_WALL,
	S_MODELED,
	S_VERIFIED,
	S_BUDGET,
	S_PEAK_FRAMES,
	S_PEAK_RSS,
	S_SHARED,
	S_SHARING,
	S_NR
};
static const char *const summary_keys[S_NR] = {
    [S_CONFIG] = "config",
    [S_SEED] = "seed",
    [S_WALL] = "host.wall_seconds",
    [S_MODELED] = "host.modeled_seconds",
    [S_VERIFIED] = "verified",
    [S_BUDGET] = "host.budget_bytes",
    [S_PEAK_FRAMES] = "host.peak_frames",
    [S_PEAK_RSS] = "host.peak_rss_bytes",
    [S_SHARED] = "host.pages_shared",
    [S_SHARING] = "host.pages_sharing",
};
#define SUMMARY_VAL_MAX 1024

struct summary {
	bool present;
	char val[S_NR][SUMMARY_VAL_MAX];
};

/*
 * summary.json: a minimal JSON reader that keeps only the scalars named in
 * summary_keys, by their path of object keys ("host.wall_seconds"); array
 * elements get a "[]" path element so no guest's "verified" is taken for
 * the top-level one. Strings are decoded (\uXXXX to UTF-8); numbers and
 * true/false/null are kept as written.
 */
struct json {
	const char *p, *start;
	struct summary *out;
	int depth;
};

static void json_ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static void utf8_put(char *buf, size_t *n, size_t cap, unsigned cp)
{
	char tmp[4];
	size_t k = 0;

	if (cp < 0x80) {
		tmp[k++] = (char)cp;
	} else if (cp < 0x800) {
		tmp[k++] = (char)(0xc0 | cp >> 6);
		tmp[k++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		tmp[k++] = (char)(0xe0 | cp >> 12);
		tmp[k++] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[k++] = (char)(0x80 | (cp & 0x3f));
	} else {
		tmp[k++] = (char)(0xf0 | cp >> 18);
		tmp[k++] = (char)(0x80 | (cp >> 12 & 0x3f));
		tmp[k++] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[k++] = (char)(0x80 | (cp & 0x3f));
	}
	for (size_t i = 0; i < k && *n + 1 < cap; i++)
		buf[(*n)++] = tmp[i];
}

static int json_hex4(const char *p, unsigned *cp)
{
	*cp = 0;
	for (int i = 0; i < 4; i++) {
		char ch = p[i];
		unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
			     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
			     : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
						      : 16u;
		if (d > 15)
			return -1;
		*cp = *cp << 4 | d;
	}
	return 0;
}

/* Read a string at j->p into buf (truncated to cap). 0 or -1. */
static int json_string(struct json *j, char *buf, size_t cap)
{
	size_t n = 0;

	if (*j->p++ != '"')
		return -1;
	while (*j->p != '"') {
		unsigned char ch = (unsigned char)*j->p++;
		unsigned cp;

		if (ch < 0x20)
			return -1;
		if (ch != '\\') {
			if (n + 1 < cap)
				buf[n++] = (char)ch;
			continue;
		}
		ch = (unsigned char)*j->p++;
		switch (ch) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case '"':
		case '\\':
		case '/':
			cp = ch;
			break;
		case 'u':
			if (json_hex4(j->p, &cp))
				return -1;
			j->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && j->p[0] == '\\' && j->p[1] == 'u') {
				unsigned lo;

				if (!json_hex4(j->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					j->p += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd; /* a lone surrogate */
			break;
		default:
			return -1;
		}
		utf8_put(buf, &n, cap, cp);
	}
	j->p++;
	buf[n] = '\0';
	return 0;
}

static void json_keep(struct json *j, const char *path, const char *val, size_t len)
{
	for (int k = 0; k < S_NR; k++)
		if (!strcmp(path, summary_keys[k])) {
			if (len >= SUMMARY_VAL_MAX)
				len = SUMMARY_VAL_MAX - 1;
			memcpy(j->out->val[k], val, len);
			j->out->val[k][len] = '\0';
		}
}

/* Parse one value at j->p whose key path is path. 0 or -1. */
static int json_value(struct json *j, const char *path)
{
	char sub[256], key[128], str[SUMMARY_VAL_MAX];
	const char *v;

	json_ws(j);
	if (++j->depth > 64)
		return -1;
	if (*j->p == '{' || *j->p == '[') {
		char close = *j->p == '{' ? '}' : ']';

		j->p++;
		json_ws(j);
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return 0;
		}
		for (;;) {
			json_ws(j);
			if (close == '}') {
				if (json_string(j, key, sizeof(key)))
					return -1;
				json_ws(j);
				if (*j->p++ != ':')
					return -1;
				snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
			} else {
				snprintf(sub, sizeof(sub), "%s[]", path);
			}
			if (json_value(j, sub))
				return -1;
			json_ws(j);
			if (*j->p == close)
				break;
			if (*j->p++ != ',')
				return -1;
		}
		j->p++;
	} else if (*j->p == '"') {
		if (json_string(j, str, sizeof(str)))
			return -1;
		json_keep(j, path, str, strlen(str));
	} else {
		v = j->p;
		j->p += strspn(j->p, "+-.0123456789eEtruefalsn");
		if (j->p == v)
			return -1;
		json_keep(j, path, v, (size_t)(j->p - v));
	}
	j->depth--;
	return 0;
}

/* Read DIR/summary.json into *s. A missing file is not an error (the page
 * says so); a malformed one is, with its line. */
static int load_summary(const struct report *r, struct summary *s, char *err, size_t errlen)
{
	char path[4096 + 32], *text = NULL;
	size_t len = 0;
	struct json j;
	unsigned line = 1;
	FILE *f;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/summary.json", r->dir);
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (getdelim(&text, &len, '\0', f) < 0 && ferror(f)) {
		ret = -errno;
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	j = (struct json){.p = text ? text : "", .start = text ? text : "", .out = s};
	if (json_value(&j, "") || (json_ws(&j), *j.p != '\0')) {
		for (const char *q = j.start; q < j.p; q++)
			line += *q == '\n';
		util_errf(err, errlen, "%s: line %u: malformed JSON", path, line);
		ret = -EINVAL;
		goto out;
	}
	s->present = true;
out:
	free(text);
	fclose(f);
	return ret;
}

/* Write s to f with HTML's special characters escaped. */
static void html_put(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static bool is_number(const char *s)
{
	char *end;

	if (!*s)
		return false;
	(void)strtod(s, &end);
	return *end == '\0';
}

static void html_kv(FILE *f, const char *key, const char *val, const char *unit)
{
	fprintf(f, "<tr><th>%s</th><td>", key);
	if (*val && strcmp(val, "null")) {
		html_put(f, val);
		fputs(unit, f);
	} else {
		fputs("<span class=\"na\">n/a</span>", f);
	}
	fputs("</td></tr>\n", f);
}

static const char *const html_css =
    "body{font:14px/1.45 sans-serif;margin:2em auto;max-width:960px;color:#222;padding:0 1em}"
    "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:12px}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#f0f0f0}.kv th{width:14em}.na{color:#999}"
    ".wide{overflow-x:auto}figure{margin:1.5em 0}"
    "img{max-width:100%;height:auto;border:1px solid #ddd}"
    "figcaption{font-size:12px;color:#444;margin-top:.3em}";

/* What each figure shows and how it was binned, for report.html. */
static const char *const fig_captions[] = {
    "Host memory over modeled time by p2m state, summed over guests (stacked), with "
    "the host's frames in use and RSS. Guests sample at different modeled times: at "
    "each time every guest contributes its last sample at or before it (guests not yet "
    "sampled contribute nothing); with more than 4000 distinct times, 4000 evenly "
    "spaced times are used. Shared counts guest pages mapped to shared frames, so the "
    "stack can exceed the frames used.",
    "Resident (private host) memory per guest over modeled time; with more than 12 "
    "guests, their total and the band between the smallest and largest guest, binned "
    "as in the memory figure.",
    "Guest page faults, swap-outs and swap-ins per modeled ms, summed over guests. Each "
    "guest's counter increments are spread evenly over the interval since its previous "
    "sample (the first from time 0) and summed into equal time bins.",
    "Modeled cycles per access by component (cycles over accesses, whole run).",
    "TLB misses per 1000 accesses (left axis) and page-walk memory references per TLB "
    "miss (right axis), per guest, whole run.",
};

_Static_assert(ARRAY_SIZE(fig_captions) == REPORT_NFIGURES, "one caption per figure");

static void html_write(FILE *f, const struct report *r, const struct summary *s)
{
	const char(*v)[SUMMARY_VAL_MAX] = s->val;
	const char *ver = v[S_VERIFIED];
	char budget[64] = "", peak[64] = "";

	if (is_number(v[S_BUDGET]))
		snprintf(budget, sizeof(budget), "%.1f", strtod(v[S_BUDGET], NULL) / 1048576);
	if (is_number(v[S_PEAK_RSS]))
		snprintf(peak, sizeof(peak), "%.1f", strtod(v[S_PEAK_RSS], NULL) / 1048576);
	ver = !strcmp(ver, "true")    ? "yes"
	      : !strcmp(ver, "false") ? "NO: guest memory did not verify"
	      : !strcmp(ver, "null")  ? "not checked"
				      : ver;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", f);
	fputs("<title>memvisor report: ", f);
	html_put(f, *v[S_CONFIG] ? v[S_CONFIG] : r->dir);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", html_css);
	fputs("<h1>memvisor report: ", f);
	html_put(f, *v[S_CONFIG] ? v[S_CONFIG] : r->dir);
	fputs("</h1>\n", f);
	if (!s->present)
		fputs("<p class=\"na\">summary.json is missing.</p>\n", f);
	fputs("<table class=\"kv\">\n", f);
	html_kv(f, "run directory", r->dir, "");
	html_kv(f, "config", v[S_CONFIG], "");
	html_kv(f, "seed", v[S_SEED], "");
	fprintf(f, "<tr><th>guests</th><td>%u</td></tr>\n", r->nguests);
	html_kv(f, "wall time", v[S_WALL], " s");
	html_kv(f, "modeled time", v[S_MODELED], " s");
	html_kv(f, "verified", ver, "");
	html_kv(f, "host memory budget", budget, " MiB");
	html_kv(f, "peak host frames (4 KiB)", v[S_PEAK_FRAMES], "");
	html_kv(f, "peak host RSS", peak, " MiB");
	html_kv(f, "pages_shared (shared frames)", v[S_SHARED], "");
	html_kv(f, "pages_sharing (guest pages on them)", v[S_SHARING], "");
	fputs("</table>\n<h2>Figures</h2>\n", f);
	for (unsigned i = 0; i < REPORT_NFIGURES; i++) {
		const char *n = report_figures[i];

		fprintf(f,
			"<figure><img src=\"figures/%s.png\" alt=\"%s\" width=\"900\" "
			"height=\"500\">\n<figcaption>%s <a href=\"figures/%s.svg\">SVG</a>, "
			"<a href=\"figures/%s.dat\">data</a>, <a href=\"figures/%s.gp\">"
			"gnuplot script</a>.</figcaption></figure>\n",
			n, n, fig_captions[i], n, n, n);
	}
	fputs("<h2>Guests</h2>\n<p>From guests.csv; pages are 4 KiB.</p>\n"
	      "<div class=\"wide\"><table>\n<tr>",
	      f);
	for (unsigned i = 0; i < r->ngcols; i++) {
		fputs("<th>", f);
		html_put(f, r->gcol[i]);
		fputs("</th>", f);
	}
	fputs("</tr>\n", f);
	for (unsigned g = 0; g < r->nguests; g++) {
		fputs("<tr>", f);
		for (unsigned i = 0; i < r->ngcols; i++) {
			const char *x = r->guests[g].field[i];

			fputs(is_number(x) ? "<td class=\"n\">" : "<td>", f);
			html_put(f, x);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table></div>\n</body>\n</html>\n", f);
}

int report_html_write(const struct report *r, char *err, size_t errlen)
{
	char path[sizeof(r->fig_dir) + 16], tmp[sizeof(path) + 8];
	struct summary *s = malloc(sizeof(*s));
	FILE *f;
	int ret;

	if (!s) {
		util_errf(err, errlen, "%s: out of memory", r->dir);
		return -ENOMEM;
	}
	ret = load_summary(r, s, err, errlen);
	if (ret)
		goto out;
	snprintf(path, sizeof(path), "%s/report.html", r->dir);
	f = report_tmp_open(path, tmp, sizeof(tmp), err, errlen);
	if (!f) {
		ret = -errno;
		goto out;
	}
	html_write(f, r, s);
	ret = report_tmp_commit(f, tmp, path, err, errlen);
out:
	free(s);
	return ret;
}
