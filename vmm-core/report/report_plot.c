/* SPDX-License-Identifier: MIT */
/* The report's figures: binned data files and the gnuplot scripts. */
/*
 * Each figure NAME gets figures/NAME.dat (plain numbers, one header
 * comment) and figures/NAME.gp, which plots it to NAME.png (pngcairo
 * 900x500, sans 10) and NAME.svg. Scripts refer to their data by base name
 * and run from the figures directory, so `cd figures && gnuplot NAME.gp`
 * redoes a figure by hand. report_gnuplot() (report.c) runs them as
 * `gnuplot -e "out='NAME.tmp'" NAME.gp`; the outputs are renamed only when
 * gnuplot succeeded.
 *
 * Guests sample on their own modeled clocks, so rows of different guests
 * have different time_ms. Levels (memory states, resident per guest) are
 * binned by time: at each distinct time of any sample (or, beyond
 * BIN_MAX_TIMES of them, at BIN_MAX_TIMES evenly spaced times) every guest
 * contributes its last sample at or before that time; a guest with no
 * sample yet contributes nothing. Host-wide columns come from the latest
 * such sample of any guest. Rates come from cumulative counters: each
 * guest's increment since its previous sample (the first since time 0 and
 * zero) is spread evenly over that interval and summed into equal bins.
 *
 * Guest names reach scripts only inside gnuplot single-quoted strings
 * (quotes doubled, control characters replaced), and enhanced text is off,
 * so no name is read as markup or as a command.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm-core/report/report_internal.h"

#define BIN_MAX_TIMES 4000 /* level samples per figure */
#define RATE_BINS_MAX 400  /* bins of the rate figure */
/* what time_ms counts: the soft backend's modeled time, KVM's wall time */
#define TIME_KIND(r)	 ((r)->wall ? "wall" : "modeled")
#define GUESTS_MAX_LINES 12 /* beyond: total and min/max band */
#define XTICS_MAX	 40 /* guest labels on bar charts */
#define MIB(pages)	 ((pages) / 256.0)
#define FIG_PATH_MAX	 (sizeof(((struct report *)0)->fig_dir) + 32)

const char *const report_figures[REPORT_NFIGURES] = {"memory", "guests", "faults", "cycles", "tlb"};

static const char *const palette[GUESTS_MAX_LINES] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#000000",
};

/* One level bin: the guests' last samples at or before t. */
struct bin {
	double t;		      /* ms */
	double state[RTS_NSTATES];    /* pages, summed over guests */
	double host_frames, host_rss; /* pages, bytes */
	double res_min, res_max;      /* pages, over guests with a sample */
	unsigned live;		      /* guests with a sample */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The bins' times: distinct sample times, or an even grid. NULL on ENOMEM. */
static double *bin_times(const struct report *r, size_t *nout)
{
	size_t total = 0, n = 0;
	double *t;

	for (unsigned g = 0; g < r->nseries; g++)
		total += r->series[g].n;
	t = malloc(total * sizeof(*t));
	if (!t)
		return NULL;
	for (unsigned g = 0; g < r->nseries; g++)
		for (size_t k = 0; k < r->series[g].n; k++)
			t[n++] = r->series[g].s[k].v[RTS_TIME];
	qsort(t, n, sizeof(*t), cmp_double);
	n = 0;
	for (size_t k = 0; k < total; k++)
		if (!n || t[k] != t[n - 1])
			t[n++] = t[k];
	if (n > BIN_MAX_TIMES) {
		double t0 = t[0], t1 = t[n - 1];

		for (size_t i = 0; i < BIN_MAX_TIMES; i++)
			t[i] =
			    i == BIN_MAX_TIMES - 1 ? t1 : t0 + (t1 - t0) * i / (BIN_MAX_TIMES - 1);
		n = BIN_MAX_TIMES;
	}
	*nout = n;
	return t;
}

/* Level bins for the figures' times; NULL on ENOMEM. */
static struct bin *bin_levels(const struct report *r, size_t *nout)
{
	size_t n, *pos = calloc(r->nseries, sizeof(*pos));
	double *t = bin_times(r, &n);
	struct bin *b = t ? calloc(n, sizeof(*b)) : NULL;

	if (!pos || !b) {
		free(pos);
		free(t);
		free(b);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		double latest = -1;

		b[i].t = t[i];
		for (unsigned g = 0; g < r->nseries; g++) {
			const struct report_series *s = &r->series[g];
			const struct report_sample *x;

			while (pos[g] < s->n && s->s[pos[g]].v[RTS_TIME] <= t[i])
				pos[g]++;
			if (!pos[g])
				continue;
			x = &s->s[pos[g] - 1];
			for (int k = 0; k < RTS_NSTATES; k++)
				b[i].state[k] += x->v[RTS_RESIDENT + k];
			if (!b[i].live || x->v[RTS_RESIDENT] < b[i].res_min)
				b[i].res_min = x->v[RTS_RESIDENT];
			if (!b[i].live || x->v[RTS_RESIDENT] > b[i].res_max)
				b[i].res_max = x->v[RTS_RESIDENT];
			b[i].live++;
			if (x->v[RTS_TIME] >= latest) {
				latest = x->v[RTS_TIME];
				b[i].host_frames = x->v[RTS_HOST_FRAMES];
				b[i].host_rss = x->v[RTS_HOST_RSS];
			}
		}
	}
	free(pos);
	free(t);
	*nout = n;
	return b;
}

/* Write s as a gnuplot single-quoted string. */
static void gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
	}
	fputc('\'', f);
}

/* Preamble of every script. The title is the key's title, so the legend
 * sits between it and the plot rather than above a `set title`. */
static void gp_begin(FILE *f, const char *name, const char *title)
{
	fprintf(f,
		"# memvisor report figure; redo with: cd figures && gnuplot %s.gp\n"
		"if (!exists(\"out\")) out = '%s'\n"
		"set terminal pngcairo size 900,500 font \"sans,10\" noenhanced\n"
		"set output out.'.png'\n"
		"set key above center horizontal Left reverse noautotitle width 2\n"
		"set key title '%s' font \",11\"\n"
		"set offsets 0, 0, graph 0.05, 0\n"
		"set grid\n"
		"set border 3\nset tics nomirror\n",
		name, name, title);
}

static void gp_end(FILE *f)
{
	fputs("set terminal svg size 900,500 font \"sans,10\" noenhanced background '#ffffff'\n"
	      "set output out.'.svg'\n"
	      "replot\n"
	      "unset output\n",
	      f);
}

/* xtics naming the guests of guests.csv at x = 0, 1, ... */
static void gp_guest_xtics(FILE *f, const struct report *r)
{
	unsigned step = (r->nguests + XTICS_MAX - 1) / XTICS_MAX;
	size_t longest = 0;

	fputs("set xtics (", f);
	for (unsigned g = 0; g < r->nguests; g += step) {
		const char *name = r->guests[g].field[r->g_name_col];

		if (strlen(name) > longest)
			longest = strlen(name);
		fputs(g ? ", " : "", f);
		gp_str(f, name);
		fprintf(f, " %u", g);
	}
	fputs(")", f);
	if (r->nguests > 8 || longest > 8)
		fputs(" rotate by 45 right", f);
	fprintf(f, "\nset xrange [-0.6:%u.6]\n", r->nguests - 1);
	if (step > 1)
		fprintf(f, "set xlabel 'guest (every %u%s labelled)'\n", step,
			step == 2   ? "nd"
			: step == 3 ? "rd"
				    : "th");
	else
		fputs("set xlabel 'guest'\n", f);
}

static int fig_memory(const struct report *r, FILE *dat, FILE *gp)
{
	size_t n;
	struct bin *b = bin_levels(r, &n);

	if (!b)
		return -ENOMEM;
	fputs("# time_ms resident_mib shared_mib swapped_mib ballooned_mib untouched_mib "
	      "host_frames_used_mib host_rss_mib\n",
	      dat);
	for (size_t i = 0; i < n; i++) {
		fprintf(dat, "%.10g", b[i].t);
		for (int k = 0; k < RTS_NSTATES; k++)
			fprintf(dat, " %.10g", MIB(b[i].state[k]));
		fprintf(dat, " %.10g %.10g\n", MIB(b[i].host_frames), b[i].host_rss / 1048576.0);
	}
	free(b);
	gp_begin(gp, "memory", "Host memory by guest p2m state, all guests (stacked)");
	fprintf(gp,
		"set xlabel '%s time (ms)'\n"
		"set ylabel 'memory (MiB)'\n"
		"set yrange [0:*]\n"
		"set style fill solid 0.8 noborder\n"
		"plot 'memory.dat' using 1:($2+$3+$4+$5+$6):($2+$3+$4+$5) with filledcurves "
		"lc rgb '#c9c9c9' title 'untouched', \\\n"
		"  '' using 1:($2+$3+$4+$5):($2+$3+$4) with filledcurves lc rgb '#59a14f' "
		"title 'ballooned', \\\n"
		"  '' using 1:($2+$3+$4):($2+$3) with filledcurves lc rgb '#e15759' "
		"title 'swapped (host swap)', \\\n"
		"  '' using 1:($2+$3):2 with filledcurves lc rgb '#f28e2b' "
		"title 'shared (guest pages on shared frames)', \\\n"
		"  '' using 1:2 with filledcurves x1 lc rgb '#4e79a7' "
		"title 'resident (private host frames)', \\\n"
		"  '' using 1:7 with lines lw 2 lc rgb '#000000' title 'host frames used', \\\n"
		"  '' using 1:8 with lines lw 2 dt 2 lc rgb '#b07aa1' title 'host RSS'\n",
		TIME_KIND(r));
	gp_end(gp);
	return 0;
}

static int fig_guests(const struct report *r, FILE *dat, FILE *gp)
{
	gp_begin(gp, "guests", "Resident memory per guest");
	fprintf(gp, "set xlabel '%s time (ms)'\nset yrange [0:*]\n", TIME_KIND(r));
	if (r->nseries <= GUESTS_MAX_LINES) {
		fputs("# one block per guest (gnuplot index i): time_ms resident_mib\n", dat);
		fputs("set ylabel 'resident (MiB)'\nplot ", gp);
		for (unsigned g = 0; g < r->nseries; g++) {
			const struct report_series *s = &r->series[g];

			fputs(g ? "\n\n" : "", dat);
			for (size_t k = 0; k < s->n; k++)
				fprintf(dat, "%.10g %.10g\n", s->s[k].v[RTS_TIME],
					MIB(s->s[k].v[RTS_RESIDENT]));
			fprintf(
			    gp,
			    "%s'guests.dat' index %u using 1:2 with %s lw 1.5 lc rgb '%s' title ",
			    g ? ", \\\n  " : "", g, s->n > 1 ? "lines" : "points pt 7", palette[g]);
			gp_str(gp, s->name);
		}
		fputs("\n", gp);
	} else {
		size_t n;
		struct bin *b = bin_levels(r, &n);

		double top = 0; /* of the right axis, which `set offsets` does not pad */

		if (!b)
			return -ENOMEM;
		fputs("# time_ms total_mib min_mib max_mib mean_mib (guests with a sample)\n", dat);
		for (size_t i = 0; i < n; i++) {
			fprintf(dat, "%.10g %.10g %.10g %.10g %.10g\n", b[i].t, MIB(b[i].state[0]),
				MIB(b[i].res_min), MIB(b[i].res_max),
				b[i].live ? MIB(b[i].state[0]) / b[i].live : 0.0);
			if (MIB(b[i].state[0]) > top)
				top = MIB(b[i].state[0]);
		}
		free(b);
		fprintf(
		    gp,
		    "set ylabel 'resident per guest (MiB)'\n"
		    "set y2label 'total resident (MiB)'\nset y2tics\nset y2range [0:%.10g]\n"
		    "set border 11\n"
		    "plot 'guests.dat' using 1:3:4 with filledcurves fs transparent solid 0.35 "
		    "noborder lc rgb '#4e79a7' title 'min-max over %u guests', \\\n"
		    "  '' using 1:5 with lines lw 1.5 lc rgb '#4e79a7' title 'mean per guest', \\\n"
		    "  '' using 1:2 axes x1y2 with lines lw 2 lc rgb '#000000' "
		    "title 'total of %u guests (right axis)'\n",
		    top > 0 ? 1.08 * top : 1.0, r->nseries, r->nseries);
	}
	gp_end(gp);
	return 0;
}

/* Spread amount x over [a, b] into bins of width w; all at a if b <= a. */
static void spread(double *acc, size_t nb, double w, double a, double b, double x)
{
	size_t i = (size_t)(a / w), last = (size_t)(b / w);

	if (x == 0)
		return;
	if (i >= nb)
		i = nb - 1;
	if (last >= nb)
		last = nb - 1;
	if (b <= a) {
		acc[i] += x;
		return;
	}
	for (; i <= last; i++) {
		double lo = i * w > a ? i * w : a;
		double hi = i == last ? b : (i + 1) * w < b ? (i + 1) * w : b;

		if (hi > lo)
			acc[i] += x * (hi - lo) / (b - a);
	}
}

static int fig_faults(const struct report *r, FILE *dat, FILE *gp)
{
	static const int col[3] = {RTS_FAULTS, RTS_SWAP_OUTS, RTS_SWAP_INS};
	double tmax = 0, w, *acc;
	size_t nb = 1;

	for (unsigned g = 0; g < r->nseries; g++) {
		const struct report_series *s = &r->series[g];

		if (s->s[s->n - 1].v[RTS_TIME] > tmax)
			tmax = s->s[s->n - 1].v[RTS_TIME];
		if (s->n > nb)
			nb = s->n;
	}
	if (nb > RATE_BINS_MAX)
		nb = RATE_BINS_MAX;
	w = tmax > 0 ? tmax / nb : 1;
	acc = calloc(3 * nb, sizeof(*acc));
	if (!acc)
		return -ENOMEM;
	for (unsigned g = 0; g < r->nseries; g++) {
		const struct report_series *s = &r->series[g];
		struct report_sample prev = {{0}};

		for (size_t k = 0; k < s->n; k++) {
			for (int c = 0; c < 3; c++)
				spread(acc + c * nb, nb, w, prev.v[RTS_TIME], s->s[k].v[RTS_TIME],
				       s->s[k].v[col[c]] - prev.v[col[c]]);
			prev = s->s[k];
		}
	}
	fprintf(dat, "# bin_center_ms faults_per_ms swap_outs_per_ms swap_ins_per_ms (bin %g ms)\n",
		w);
	for (size_t i = 0; i < nb; i++)
		fprintf(dat, "%.10g %.10g %.10g %.10g\n", (i + 0.5) * w, acc[i] / w,
			acc[nb + i] / w, acc[2 * nb + i] / w);
	free(acc);
	gp_begin(gp, "faults", "Guest paging activity, all guests");
	fprintf(gp,
		"set xlabel '%s time (ms)'\n"
		"set ylabel 'events per %s ms (bins of %.3g ms)'\n"
		"set yrange [0:*]\n"
		"plot 'faults.dat' using 1:2 with lines lw 2 lc rgb '#4e79a7' "
		"title 'guest page faults', \\\n"
		"  '' using 1:3 with lines lw 2 lc rgb '#e15759' title 'guest swap-outs (pages)', "
		"\\\n"
		"  '' using 1:4 with lines lw 2 dt 2 lc rgb '#59a14f' "
		"title 'guest swap-ins (pages)'\n",
		TIME_KIND(r), TIME_KIND(r), w);
	gp_end(gp);
	return 0;
}

static int fig_cycles(const struct report *r, FILE *dat, FILE *gp)
{
	static const char *const title[] = {"access (TLB hit)", "page walk", "VM exits",
					    "guest OS (faults, zeroing)", "guest swap I/O"};
	static const char *const color[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#edc948"};

	fputs("# guest_index access walk exits guest_os swap_io (cycles per access)\n", dat);
	for (unsigned g = 0; g < r->nguests; g++) {
		const double *v = r->guests[g].v;
		double a = v[RG_ACCESSES];

		fprintf(dat, "%u", g);
		for (int k = RG_CYC_ACCESS; k <= RG_CYC_SWAP_IO; k++)
			fprintf(dat, " %.10g", a > 0 ? v[k] / a : 0.0);
		fputs("\n", dat);
	}
	gp_begin(gp, "cycles", "Modeled cycles per access, by component");
	gp_guest_xtics(gp, r);
	fputs("set ylabel 'modeled cycles per access'\nset yrange [0:*]\n"
	      "set style fill solid 0.85 border lc rgb '#ffffff'\nplot ",
	      gp);
	/* boxes from 0, tallest (the whole stack) first so each shows its layer */
	for (int k = 4; k >= 0; k--) {
		fputs(k < 4 ? ", \\\n  " : "", gp);
		fputs(k < 4 ? "''" : "'cycles.dat'", gp);
		fputs(" using 1:(", gp);
		for (int j = 0; j <= k; j++)
			fprintf(gp, "%s$%d", j ? "+" : "", j + 2);
		fprintf(gp, "):(0.7) with boxes lc rgb '%s' title '%s'", color[k], title[k]);
	}
	/* the total on top of each bar, where there is room for it */
	if (r->nguests <= XTICS_MAX / 2)
		fputs(", \\\n  '' using 1:($2+$3+$4+$5+$6):($2+$3+$4+$5+$6 >= 100 ? "
		      "sprintf('%.0f', $2+$3+$4+$5+$6) : sprintf('%.3g', $2+$3+$4+$5+$6)) "
		      "with labels offset 0,0.7 notitle",
		      gp);
	fputs("\n", gp);
	gp_end(gp);
	return 0;
}

static int fig_tlb(const struct report *r, FILE *dat, FILE *gp)
{
	double top = 0; /* of the right axis, which `set offsets` does not pad */

	fputs("# guest_index tlb_misses_per_1000_accesses walk_refs_per_miss\n", dat);
	for (unsigned g = 0; g < r->nguests; g++) {
		const double *v = r->guests[g].v;
		double per_miss = v[RG_TLB_MISSES] > 0 ? v[RG_WALK_REFS] / v[RG_TLB_MISSES] : 0.0;

		fprintf(dat, "%u %.10g %.10g\n", g,
			v[RG_ACCESSES] > 0 ? 1000 * v[RG_TLB_MISSES] / v[RG_ACCESSES] : 0.0,
			per_miss);
		if (per_miss > top)
			top = per_miss;
	}
	gp_begin(gp, "tlb", "TLB misses and page-walk cost per guest");
	gp_guest_xtics(gp, r);
	fprintf(gp, "set y2range [0:%.10g]\n", top > 0 ? 1.08 * top : 1.0);
	fputs("set ylabel 'TLB misses per 1000 accesses'\nset yrange [0:*]\n"
	      "set y2label 'walk memory references per TLB miss'\n"
	      "set y2tics\nset border 11\n"
	      "set style fill solid 0.85 border lc rgb '#ffffff'\n"
	      "plot 'tlb.dat' using ($1-0.19):2:(0.36) with boxes lc rgb '#4e79a7' "
	      "title 'TLB misses per 1000 accesses (left axis)', \\\n"
	      "  '' using ($1+0.19):3:(0.36) axes x1y2 with boxes lc rgb '#f28e2b' "
	      "title 'walk references per miss (right axis)'\n",
	      gp);
	gp_end(gp);
	return 0;
}

static int (*const fig_write[])(const struct report *, FILE *, FILE *) = {
    fig_memory, fig_guests, fig_faults, fig_cycles, fig_tlb,
};
_Static_assert(ARRAY_SIZE(fig_write) == REPORT_NFIGURES, "one writer per figure");

/* buf (FIG_PATH_MAX bytes) = fig_dir/NAME.EXT; vmm_report bounds fig_dir
 * and the names are ours, so it always fits. */
static void fig_path(char *buf, const struct report *r, const char *name, const char *ext)
{
	int n = snprintf(buf, FIG_PATH_MAX, "%s/%s%s", r->fig_dir, name, ext);

	assert(n > 0 && (size_t)n < FIG_PATH_MAX);
	(void)n;
}

/* Write NAME.dat and NAME.gp, run gnuplot, rename its outputs. */
static int plot_one(const struct report *r, unsigned i, char *err, size_t errlen)
{
	const char *name = report_figures[i];
	static const char *const ext[2][2] = {{".tmp.png", ".png"}, {".tmp.svg", ".svg"}};
	char dpath[FIG_PATH_MAX], gpath[FIG_PATH_MAX], dtmp[FIG_PATH_MAX + 8];
	char gtmp[FIG_PATH_MAX + 8], from[FIG_PATH_MAX], to[FIG_PATH_MAX];
	FILE *dat, *gp;
	int ret;

	fig_path(dpath, r, name, ".dat");
	fig_path(gpath, r, name, ".gp");
	dat = report_tmp_open(dpath, dtmp, sizeof(dtmp), err, errlen);
	if (!dat)
		return -errno;
	gp = report_tmp_open(gpath, gtmp, sizeof(gtmp), err, errlen);
	if (!gp) {
		ret = -errno;
		fclose(dat);
		unlink(dtmp);
		return ret;
	}
	ret = fig_write[i](r, dat, gp);
	if (ret) {
		util_errf(err, errlen, "%s: %s", dpath, strerror(-ret));
		fclose(dat);
		fclose(gp);
		unlink(dtmp);
		unlink(gtmp);
		return ret;
	}
	ret = report_tmp_commit(dat, dtmp, dpath, err, errlen);
	if (ret) {
		fclose(gp);
		unlink(gtmp);
		return ret;
	}
	ret = report_tmp_commit(gp, gtmp, gpath, err, errlen);
	if (!ret)
		ret = report_gnuplot(r, name, err, errlen);
	for (int k = 0; k < 2; k++) {
		fig_path(from, r, name, ext[k][0]);
		fig_path(to, r, name, ext[k][1]);
		if (ret)
			unlink(from);
		else if (rename(from, to)) {
			ret = -errno;
			util_errf(err, errlen, "%s: gnuplot wrote no %s%s: %s", gpath, name,
				  ext[k][1], strerror(-ret));
		}
	}
	return ret;
}

int report_plot_all(const struct report *r, char *err, size_t errlen)
{
	for (unsigned i = 0; i < REPORT_NFIGURES; i++) {
		int ret = plot_one(r, i, err, errlen);

		if (ret)
			return ret;
	}
	return 0;
}
