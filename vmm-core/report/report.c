/* SPDX-License-Identifier: MIT */
/* memvisor report DIR: read a run's CSV files, make the figures and the page. */
/*
 * vmm_report() reads DIR/timeseries.csv and DIR/guests.csv by header name
 * (extra columns are ignored, a missing one is an error), has
 * report_plot.c write the figures into DIR/figures/ (this file runs
 * gnuplot for it), then report_html.c read DIR/summary.json and write
 * DIR/report.html last. Every file is written as NAME.tmp and renamed, so
 * a failed report never leaves a half-written page or figure; an older
 * complete report.html stays until it is replaced.
 *
 * Timeseries rows are grouped per guest (a small open-addressing index by
 * name, as a run may have hundreds of guests and millions of rows). Each
 * guest's rows must go forward in time and its cumulative counters must
 * not decrease; either is reported with its line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm-core/report/report_internal.h"

static const char *const ts_col_names[RTS_NR] = {
    [RTS_TIME] = "time_ms",
    [RTS_RESIDENT] = "resident",
    [RTS_SHARED] = "shared",
    [RTS_SWAPPED] = "swapped",
    [RTS_BALLOONED] = "ballooned",
    [RTS_UNTOUCHED] = "untouched",
    [RTS_FAULTS] = "guest_page_faults",
    [RTS_SWAP_OUTS] = "guest_swap_outs",
    [RTS_SWAP_INS] = "guest_swap_ins",
    [RTS_HOST_FRAMES] = "host_frames_used",
    [RTS_HOST_RSS] = "host_rss_bytes",
};

static const char *const g_col_names[RG_NR] = {
    [RG_ACCESSES] = "accesses",
    [RG_TLB_MISSES] = "tlb_misses",
    [RG_WALK_REFS] = "walk_refs",
    [RG_CYC_ACCESS] = "cycles_access",
    [RG_CYC_WALK] = "cycles_walk",
    [RG_CYC_EXITS] = "cycles_exits",
    [RG_CYC_GUEST_OS] = "cycles_guest_os",
    [RG_CYC_SWAP_IO] = "cycles_swap_io",
};

FILE *report_tmp_open(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
	FILE *f = util_tmp_open(path, tmp, tmplen);

	if (!f)
		util_errf(err, errlen, "%s.tmp: %s", path, strerror(errno));
	return f;
}

int report_tmp_commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
	int r = util_tmp_close(f, tmp, path);

	if (r)
		util_errf(err, errlen, "%s: %s", path, strerror(-r));
	return r;
}

/* FNV-1a; the index only needs to spread guest names. */
static unsigned name_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Series called name, created if new; NULL when out of memory. */
static struct report_series *series_get(struct report *r, const char *name)
{
	unsigned i, mask = r->nslots - 1;
	struct report_series *s;

	if (r->nslots)
		for (i = name_hash(name) & mask; r->slot[i]; i = (i + 1) & mask)
			if (!strcmp(r->series[r->slot[i] - 1].name, name))
				return &r->series[r->slot[i] - 1];
	if (2 * (r->nseries + 1) > r->nslots) { /* keep the index half empty */
		unsigned n = r->nslots ? 2 * r->nslots : 64;
		unsigned *slot = calloc(n, sizeof(*slot));

		if (!slot)
			return NULL;
		for (unsigned k = 0; k < r->nseries; k++) {
			for (i = name_hash(r->series[k].name) & (n - 1); slot[i];
			     i = (i + 1) & (n - 1))
				;
			slot[i] = k + 1;
		}
		free(r->slot);
		r->slot = slot;
		r->nslots = n;
	}
	if (r->nseries == r->series_cap) {
		unsigned cap = r->series_cap ? 2 * r->series_cap : 16;
		struct report_series *p = realloc(r->series, cap * sizeof(*p));

		if (!p)
			return NULL;
		r->series = p;
		r->series_cap = cap;
	}
	s = &r->series[r->nseries];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	if (!s->name)
		return NULL;
	for (i = name_hash(name) & (r->nslots - 1); r->slot[i]; i = (i + 1) & (r->nslots - 1))
		;
	r->slot[i] = ++r->nseries;
	return s;
}

/* Append the current row's values to guest s; checks time and counters. */
static int series_add(struct csv *c, struct report_series *s, const struct report_sample *x,
		      char *err, size_t errlen)
{
	if (s->n) {
		const struct report_sample *prev = &s->s[s->n - 1];

		if (x->v[RTS_TIME] < prev->v[RTS_TIME]) {
			util_errf(err, errlen, "%s: line %u: time_ms of guest '%s' goes backwards",
				  csv_path(c), csv_lineno(c), s->name);
			return -EINVAL;
		}
		for (int k = RTS_FAULTS; k <= RTS_SWAP_INS; k++)
			if (x->v[k] < prev->v[k]) {
				util_errf(err, errlen,
					  "%s: line %u: cumulative %s of guest '%s' decreases",
					  csv_path(c), csv_lineno(c), ts_col_names[k], s->name);
				return -EINVAL;
			}
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct report_sample *p = realloc(s->s, cap * sizeof(*p));

		if (!p) {
			util_errf(err, errlen, "%s: out of memory", csv_path(c));
			return -ENOMEM;
		}
		s->s = p;
		s->cap = cap;
	}
	s->s[s->n++] = *x;
	return 0;
}

static int load_timeseries(struct report *r, char *err, size_t errlen)
{
	char path[4096 + 32];
	int col[RTS_NR], gcol, ret;
	struct csv *c;

	snprintf(path, sizeof(path), "%s/timeseries.csv", r->dir);
	ret = csv_open(&c, path, err, errlen);
	if (ret)
		return ret;
	ret = gcol = csv_column(c, "guest", err, errlen);
	for (int k = 0; k < RTS_NR && ret >= 0; k++)
		ret = col[k] = csv_column(c, ts_col_names[k], err, errlen);
	while (ret >= 0 && (ret = csv_next(c, err, errlen)) > 0) {
		struct report_sample x;
		struct report_series *s;

		/* time is always there; a figure the backend does not
		 * measure (empty) counts as none of that kind */
		ret = csv_number(c, (unsigned)col[RTS_TIME], &x.v[RTS_TIME], err, errlen);
		for (int k = RTS_TIME + 1; k < RTS_NR && ret >= 0; k++)
			ret = csv_number_opt(c, (unsigned)col[k], &x.v[k], err, errlen);
		if (ret < 0)
			break;
		s = series_get(r, csv_field(c, (unsigned)gcol));
		if (!s) {
			util_errf(err, errlen, "%s: out of memory", path);
			ret = -ENOMEM;
			break;
		}
		ret = series_add(c, s, &x, err, errlen);
	}
	if (ret == 0 && !r->nseries) {
		util_errf(err, errlen, "%s: no samples after the header", path);
		ret = -EINVAL;
	}
	csv_close(c);
	return ret < 0 ? ret : 0;
}

static int load_guests(struct report *r, char *err, size_t errlen)
{
	char path[4096 + 32];
	int col[RG_NR], ret, backend = -1;
	unsigned cap = 0;
	struct csv *c;

	snprintf(path, sizeof(path), "%s/guests.csv", r->dir);
	ret = csv_open(&c, path, err, errlen);
	if (ret)
		return ret;
	ret = csv_column(c, "name", err, errlen);
	r->g_name_col = (unsigned)ret;
	for (int k = 0; k < RG_NR && ret >= 0; k++)
		ret = col[k] = csv_column(c, g_col_names[k], err, errlen);
	if (ret >= 0) {
		r->ngcols = csv_ncols(c);
		r->gcol = calloc(r->ngcols, sizeof(*r->gcol));
		for (unsigned i = 0; r->gcol && i < r->ngcols; i++)
			if (!(r->gcol[i] = strdup(csv_header(c, i))))
				ret = -ENOMEM;
		if (!r->gcol)
			ret = -ENOMEM;
		for (unsigned i = 0; ret >= 0 && i < r->ngcols; i++)
			if (!strcmp(r->gcol[i], "backend"))
				backend = (int)i;
	}
	while (ret >= 0 && (ret = csv_next(c, err, errlen)) > 0) {
		struct report_guest *g;

		if (r->nguests == cap) {
			unsigned n = cap ? 2 * cap : 16;
			struct report_guest *p = realloc(r->guests, n * sizeof(*p));

			if (!p) {
				ret = -ENOMEM;
				break;
			}
			r->guests = p;
			cap = n;
		}
		g = &r->guests[r->nguests];
		for (int k = 0; k < RG_NR && ret >= 0; k++)
			ret = csv_number_opt(c, (unsigned)col[k], &g->v[k], err, errlen);
		if (ret < 0)
			break;
		g->field = calloc(r->ngcols, sizeof(*g->field));
		r->nguests++; /* counted now so that its fields are freed */
		for (unsigned i = 0; g->field && i < r->ngcols; i++)
			if (!(g->field[i] = strdup(csv_field(c, i))))
				ret = -ENOMEM;
		if (!g->field)
			ret = -ENOMEM;
		else if (backend >= 0 && !strcmp(g->field[backend], "kvm"))
			r->wall = true;
	}
	if (ret == -ENOMEM)
		util_errf(err, errlen, "%s: out of memory", path);
	if (ret == 0 && !r->nguests) {
		util_errf(err, errlen, "%s: no guests after the header", path);
		ret = -EINVAL;
	}
	csv_close(c);
	return ret < 0 ? ret : 0;
}

/* Last non-empty line of the file at path into buf, or "". */
static void last_line(const char *path, char *buf, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (n > 0)
			snprintf(buf, len, "%s", line);
	}
	free(line);
	fclose(f);
}

/*
 * Run `gnuplot -e "out='NAME.tmp'" NAME.gp` in the figures directory, its
 * stderr in NAME.log (removed after). A failed exec comes back through a
 * close-on-exec pipe, so "not installed" is told apart from a failed plot.
 */
int report_gnuplot(const struct report *r, const char *name, char *err, size_t errlen)
{
	char script[64], log[64], var[64], logpath[sizeof(r->fig_dir) + 80], msg[256];
	int pfd[2], status, ret = 0, e = 0;
	ssize_t got;
	pid_t pid;

	snprintf(script, sizeof(script), "%s.gp", name);
	snprintf(log, sizeof(log), "%s.log", name);
	snprintf(var, sizeof(var), "out='%s.tmp'", name);
	if ((size_t)snprintf(logpath, sizeof(logpath), "%s/%s", r->fig_dir, log) >=
	    sizeof(logpath)) {
		util_errf(err, errlen, "%s: path too long", r->fig_dir);
		return -ENAMETOOLONG;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		e = errno;
		util_errf(err, errlen, "%s: pipe: %s", r->fig_dir, strerror(e));
		return -e;
	}
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		util_errf(err, errlen, "%s/%s: fork: %s", r->fig_dir, script, strerror(e));
		return -e;
	}
	if (pid == 0) {
		int fd, null = open("/dev/null", O_RDWR);

		if (chdir(r->fig_dir) == 0 &&
		    (fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) >= 0) {
			if (null >= 0) {
				dup2(null, 0);
				dup2(null, 1);
			}
			dup2(fd, 2);
			execlp("gnuplot", "gnuplot", "-e", var, script, (char *)NULL);
		}
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	do
		got = read(pfd[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			e = errno;
			util_errf(err, errlen, "%s/%s: waitpid: %s", r->fig_dir, script,
				  strerror(e));
			unlink(logpath);
			return -e;
		}
	if (got == (ssize_t)sizeof(e)) {
		if (e == ENOENT)
			util_errf(err, errlen,
				  "gnuplot is not installed (not found in PATH); it is needed "
				  "to draw %s/%s (Debian: apt-get install gnuplot-nox)",
				  r->fig_dir, script);
		else
			util_errf(err, errlen, "%s/%s: cannot run gnuplot: %s", r->fig_dir, script,
				  strerror(e));
		ret = -e;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		last_line(logpath, msg, sizeof(msg));
		if (WIFEXITED(status))
			util_errf(err, errlen, "%s/%s: gnuplot exited with status %d%s%s",
				  r->fig_dir, script, WEXITSTATUS(status), *msg ? ": " : "", msg);
		else
			util_errf(err, errlen, "%s/%s: gnuplot killed by signal %d", r->fig_dir,
				  script, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		ret = -EIO;
	}
	unlink(logpath);
	return ret;
}

static void report_free(struct report *r)
{
	for (unsigned i = 0; i < r->nseries; i++) {
		free(r->series[i].name);
		free(r->series[i].s);
	}
	free(r->series);
	free(r->slot);
	for (unsigned g = 0; g < r->nguests; g++) {
		for (unsigned i = 0; r->guests[g].field && i < r->ngcols; i++)
			free(r->guests[g].field[i]);
		free(r->guests[g].field);
	}
	free(r->guests);
	for (unsigned i = 0; r->gcol && i < r->ngcols; i++)
		free(r->gcol[i]);
	free(r->gcol);
}

int vmm_report(const char *dir, char *err, size_t errlen)
{
	char dirbuf[4096];
	struct report r = {.dir = dirbuf};
	size_t n = strlen(dir);
	int ret;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(dirbuf) - 16) {
		util_errf(err, errlen, "%s: bad directory name", dir);
		return n ? -ENAMETOOLONG : -EINVAL;
	}
	memcpy(dirbuf, dir, n);
	dirbuf[n] = '\0';
	snprintf(r.fig_dir, sizeof(r.fig_dir), "%s/figures", dirbuf);
	ret = load_timeseries(&r, err, errlen);
	if (!ret)
		ret = load_guests(&r, err, errlen);
	if (ret)
		goto out;
	if (mkdir(r.fig_dir, 0777) && errno != EEXIST) {
		ret = -errno;
		util_errf(err, errlen, "%s: %s", r.fig_dir, strerror(-ret));
		goto out;
	}
	ret = report_plot_all(&r, err, errlen);
	if (!ret)
		ret = report_html_write(&r, err, errlen);
out:
	report_free(&r);
	return ret;
}
