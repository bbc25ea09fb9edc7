/* SPDX-License-Identifier: MIT */
/* guest zipf: rejection-inversion sampling of zipf-distributed ranks. */
/*
 * W. Hoermann and G. Derflinger, "Rejection-inversion to generate variates
 * from monotone discrete distributions", ACM TOMACS 6(3), 1996; the form
 * used by Apache Commons RNG's RejectionInversionZipfSampler.
 *
 * For ranks x = 1..n with weights h(x) = x^-theta, H is an antiderivative
 * of h shifted so that the areas under h over [k - 1/2, k + 1/2] bound the
 * weight of k from above. A uniform u over [H(n + 1/2), H(3/2) - 1] is
 * inverted to x = H^-1(u) and rounded to k; k is accepted when x lies in
 * the squeeze (k - x <= s) or u >= H(k + 1/2) - h(k). The expected number
 * of rounds is below 1.1 for any theta > 0 and n, with no O(n) table: a
 * draw costs a few exp/log calls, whatever the working set.
 */
#include <errno.h>
#include <math.h>

#include "guest/guest_internal.h"

/* log(1 + x) / x, accurate near 0. */
static double guest_zipf_helper1(double x)
{
	if (fabs(x) > 1e-8)
		return log1p(x) / x;
	return 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

/* (exp(x) - 1) / x, accurate near 0. */
static double guest_zipf_helper2(double x)
{
	if (fabs(x) > 1e-8)
		return expm1(x) / x;
	return 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

static double guest_zipf_h(const struct guest_zipf *z, double x)
{
	return exp(-z->theta * log(x));
}

static double guest_zipf_hint(const struct guest_zipf *z, double x)
{
	double lx = log(x);

	return guest_zipf_helper2((1 - z->theta) * lx) * lx;
}

static double guest_zipf_hinv(const struct guest_zipf *z, double x)
{
	double t = x * (1 - z->theta);

	if (t < -1)
		t = -1; /* rounding at the edge of the domain */
	return exp(guest_zipf_helper1(t) * x);
}

int guest_zipf_init(struct guest_zipf *z, uint64_t n, double theta)
{
	if (!n || !(theta > 0))
		return -EINVAL;
	z->n = n;
	z->theta = theta;
	z->h_x1 = guest_zipf_hint(z, 1.5) - 1;
	z->h_n = guest_zipf_hint(z, (double)n + 0.5);
	z->s = 2 - guest_zipf_hinv(z, guest_zipf_hint(z, 2.5) - guest_zipf_h(z, 2));
	return 0;
}

uint64_t guest_zipf_next(const struct guest_zipf *z, struct guest_rng *r)
{
	for (;;) {
		double u = z->h_n + guest_rng_double(r) * (z->h_x1 - z->h_n);
		double x = guest_zipf_hinv(z, u);
		double kd = floor(x + 0.5);
		uint64_t k;

		if (kd < 1)
			kd = 1;
		else if (kd > (double)z->n)
			kd = (double)z->n;
		k = (uint64_t)kd;
		if (kd - x <= z->s || u >= guest_zipf_hint(z, kd + 0.5) - guest_zipf_h(z, kd))
			return k - 1;
	}
}
