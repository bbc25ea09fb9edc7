/* SPDX-License-Identifier: MIT */
/* wss: working-set estimation by sampling, in any paging mode. */
/*
 * Design
 *
 * Sampling (Waldspurger, OSDI 2002, section 5.3). Each period the sampler
 * draws `samples` distinct guest frames uniformly at random and arms them
 * in the p2m's access tracking (MEM_TRACK_WSS). Arming zaps every cached
 * translation of the frame (EPT leaf, shadow entry, TLBs) through the
 * reverse map, so the guest's next access to it exits and a mapper records
 * a new translation; the record clears the bit and counts a hit
 * (p2m->track_hits, rmap.c). The touched count of a period is the growth of
 * that counter, which only this sampler arms for, so no per-page scan is
 * needed until the period ends, when the sample still armed is disarmed
 * (untouched) and a new one drawn. Frames of any state are sampled, as ESX
 * samples guest physical pages: an untouched or ballooned frame counts as
 * idle until the guest touches it. Under a 2 MiB translation a touch is
 * seen for the whole block, as with a large leaf's accessed bit: arming a
 * page so mapped drops the whole 2 MiB translation, and the block's next
 * touch maps it whole again and counts every armed page in it (mem.h,
 * mem_p2m_huge_mappable). The estimate is then one of 2 MiB blocks, as on
 * hardware with large pages; the block is never split for sampling.
 *
 * Estimates. f = t / n for the period just ended feeds two exponentially
 * weighted moving averages, slow and fast (new = old + gain * (f - old)).
 * "Current" is the fast average updated with the touches of the running
 * period so far, t_now / n, in the same way; since t_now only grows during
 * a period, it tracks a working set that grows mid-period. The estimate
 * is the maximum of the three: quick to rise, slow to fall, as ESX's. The
 * averages start at the first period's f; before it they are all 1.
 *
 * Cost: `samples` zaps per period, and one exit per sampled page the guest
 * touches (ESX's cost too): 100 pages per 30 s of guest time by default.
 *
 * The random stream is the sampler's own (splitmix64 of a seed), so runs
 * are deterministic. Duplicates within a sample are redrawn; a guest
 * smaller than the sample is sampled whole.
 */
#include <errno.h>
#include <stdlib.h>

#include "mem/mem.h"

struct mem_wss {
	struct mem_p2m *p2m; /* borrowed */
	struct mem_wss_params p;
	unsigned n;	/* sample size: min(samples, pages) */
	gfn_t *sample;	/* n gfns of the current period */
	uint64_t rng;	/* splitmix64 state */
	uint64_t hits0; /* track_hits[WSS] when the period started */
	struct mem_wss_avg avg;
};

static bool in_sample(const gfn_t *sample, unsigned k, gfn_t gfn)
{
	for (unsigned i = 0; i < k; i++)
		if (sample[i] == gfn)
			return true;
	return false;
}

void mem_wss_draw(uint64_t *rng, uint64_t pages, gfn_t *out, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		gfn_t gfn;

		if (n >= pages) {
			gfn = k;
		} else {
			do
				gfn = (gfn_t)(((unsigned __int128)util_splitmix64(rng) * pages) >>
					      64);
			while (in_sample(out, k, gfn));
		}
		out[k] = gfn;
	}
}

void mem_wss_avg_init(struct mem_wss_avg *a, double slow_gain, double fast_gain)
{
	*a = (struct mem_wss_avg){
	    .slow = 1, .fast = 1, .last = 1, .slow_gain = slow_gain, .fast_gain = fast_gain};
}

void mem_wss_avg_period(struct mem_wss_avg *a, double f)
{
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	if (a->periods == 0) {
		a->slow = a->fast = f;
	} else {
		a->slow += a->slow_gain * (f - a->slow);
		a->fast += a->fast_gain * (f - a->fast);
	}
	a->last = f;
	a->periods++;
}

void mem_wss_avg_estimate(const struct mem_wss_avg *a, double now, uint64_t touched,
			  struct mem_wss_estimate *e)
{
	e->slow = a->slow;
	e->fast = a->fast;
	e->last = a->last;
	e->periods = a->periods;
	e->touched = touched;
	e->current = a->periods ? a->fast + a->fast_gain * (now - a->fast) : 1;
	e->max = e->slow;
	if (e->fast > e->max)
		e->max = e->fast;
	if (e->current > e->max)
		e->max = e->current;
}

/* Draw and arm a fresh sample. */
static void wss_arm(struct mem_wss *w)
{
	w->hits0 = w->p2m->track_hits[MEM_TRACK_WSS];
	mem_wss_draw(&w->rng, w->p2m->pages, w->sample, w->n);
	for (unsigned k = 0; k < w->n; k++)
		if (mem_p2m_track_arm(w->p2m, w->sample[k], MEM_TRACK_WSS))
			abort(); /* gfn < pages: cannot fail */
}

static void wss_disarm(struct mem_wss *w)
{
	for (unsigned k = 0; k < w->n; k++)
		mem_p2m_track_disarm(w->p2m, w->sample[k], MEM_TRACK_WSS);
}

struct mem_wss *mem_wss_create(struct mem_p2m *p2m, const struct mem_wss_params *p)
{
	struct mem_wss *w;

	if (!p2m || !p || !p->samples || !(p->slow_gain > 0 && p->slow_gain <= 1) ||
	    !(p->fast_gain > 0 && p->fast_gain <= 1)) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->p2m = p2m;
	w->p = *p;
	w->n = p->samples < p2m->pages ? p->samples : (unsigned)p2m->pages;
	w->rng = p->seed;
	mem_wss_avg_init(&w->avg, p->slow_gain, p->fast_gain);
	w->sample = calloc(w->n, sizeof(*w->sample));
	if (!w->sample) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	wss_arm(w);
	return w;
}

void mem_wss_destroy(struct mem_wss *w)
{
	if (!w)
		return;
	wss_disarm(w);
	free(w->sample);
	free(w);
}

void mem_wss_period(struct mem_wss *w)
{
	uint64_t t = w->p2m->track_hits[MEM_TRACK_WSS] - w->hits0;

	/* t <= n: only the sample is armed for WSS */
	mem_wss_avg_period(&w->avg, (double)t / (double)w->n);
	wss_disarm(w);
	wss_arm(w);
}

void mem_wss_estimate(const struct mem_wss *w, struct mem_wss_estimate *e)
{
	uint64_t t = w->p2m->track_hits[MEM_TRACK_WSS] - w->hits0;

	mem_wss_avg_estimate(&w->avg, (double)t / (double)w->n, t, e);
}
