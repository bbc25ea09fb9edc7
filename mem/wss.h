/* SPDX-License-Identifier: MIT */
/* mem/wss.h: working-set sampling (part of mem/mem.h, which includes every part). */
#ifndef MEM_WSS_H
#define MEM_WSS_H

#include "mem/mem_types.h"

/* ------------------------------------------------------------------------
 * Working-set estimation by sampling (wss.c), as ESX (Waldspurger, OSDI
 * 2002, section 5.3): each period, `samples` guest frames drawn uniformly
 * at random are armed (access tracking, MEM_TRACK_WSS), and at the end the
 * fraction of them touched, f = t / n, estimates the fraction of the
 * guest's memory in active use. Three estimates are kept: a slow and a fast
 * exponentially weighted moving average of f, and the fast one updated
 * with the current period's touches so far; the estimate is the largest,
 * which follows a growing working set at once and a shrinking one slowly.
 */
struct mem_wss_params {
	unsigned samples; /* pages sampled per period (ESX: 100) */
	double slow_gain; /* EWMA gains in (0, 1]: new = old + gain * (f - old) */
	double fast_gain;
	uint64_t seed;
};

/* Estimates as fractions of the guest's pages, in [0, 1]. Before the first
 * period ends nothing is known and every estimate is 1 (no tax on a guest
 * that was never measured). */
struct mem_wss_estimate {
	double slow, fast, current;
	double max;	  /* the estimate used: max(slow, fast, current) */
	double last;	  /* f of the last complete period */
	uint64_t periods; /* complete periods */
	uint64_t touched; /* sampled pages touched in the current period so far */
};

/* The estimator alone, for samplers of other kinds (the KVM backend
 * samples through KVM's dirty log): the two averages of the fractions f
 * of sampled pages touched per period, gains as in mem_wss_params. */
struct mem_wss_avg {
	double slow, fast, last;
	uint64_t periods;
	double slow_gain, fast_gain;
};
void mem_wss_avg_init(struct mem_wss_avg *a, double slow_gain, double fast_gain);
/* A period ended with fraction f (clamped to [0, 1]) of its sample touched. */
void mem_wss_avg_period(struct mem_wss_avg *a, double f);
/* The estimates, with fraction `now` of the running period's sample
 * touched so far (`touched` pages). */
void mem_wss_avg_estimate(const struct mem_wss_avg *a, double now, uint64_t touched,
			  struct mem_wss_estimate *e);
/* Fill out[0..n) with n distinct frame numbers below pages, uniformly at
 * random from the splitmix64 stream *rng (all of 0..n-1 when n >= pages). */
void mem_wss_draw(uint64_t *rng, uint64_t pages, gfn_t *out, unsigned n);

/* Sample p2m (borrowed; the sampler must go before it). p is copied. The
 * first period starts at once. NULL with errno set (EINVAL: samples 0 or a
 * gain outside (0, 1]). */
struct mem_wss *mem_wss_create(struct mem_p2m *p2m, const struct mem_wss_params *p);
/* Disarm what is armed and free the sampler. NULL is a no-op. */
void mem_wss_destroy(struct mem_wss *w);
/* End the current period: count the sampled pages touched, update the
 * averages, and arm a fresh sample. */
void mem_wss_period(struct mem_wss *w);
void mem_wss_estimate(const struct mem_wss *w, struct mem_wss_estimate *e);

#endif
