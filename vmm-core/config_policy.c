/* SPDX-License-Identifier: MIT */
/*
 * Config keys of the memory policy, ballooning and host swap: parsed and
 * validated here for config.c, which calls in for keys it does not know.
 *
 *   [host]  swap_victim random (or lru), swap_size 0 (bytes; 0: the disk's
 *           limit), policy_ms 100, idle_tax 75 (percent; a schedule
 *           "0,75@1500" switches to 75% at modeled host ms 1500),
 *           ws_period_ms 30000, ws_samples 100, ws_slow_gain 0.1,
 *           ws_fast_gain 0.5, free_high 6, free_soft 4, free_hard 2,
 *           free_low 1 (percent of host memory), balloon_rate 256M (bytes
 *           per modeled second the target may move), balloon_max 65
 *           (percent of a guest a balloon may take, as ESX's
 *           Mem.CtlMaxPercent), balloon_queue 64 (virtqueue size),
 *           duration_ms 0 (stop when the host's modeled clock gets there;
 *           0: when every workload has ended)
 *   [guest] balloon_driver virtio (none, ignore, garbage), balloon_target
 *           (bytes: fixed by hand, reached at boot; the policy leaves it),
 *           steps (sizes, comma-separated: the steps workload), step_accesses
 *           1000000, step_ms 0 (if > 0, each step lasts this many modeled ms of
 *           the guest's clock instead, and a step of 0 is idle: the guest
 *           halts)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/reclaim_internal.h"

void config_policy_host_defaults(struct vmm_host_cfg *h)
{
	strcpy(h->swap_victim, "random");
	h->policy_ms = 100;
	h->tau[0] = 0.75;
	h->tau_ms[0] = 0;
	h->ntau = 1;
	h->ws_period_ms = 30000;
	h->ws_samples = 100;
	h->ws_slow_gain = 0.1;
	h->ws_fast_gain = 0.5;
	h->free_pct[0] = 6;
	h->free_pct[1] = 4;
	h->free_pct[2] = 2;
	h->free_pct[3] = 1;
	h->balloon_rate = 256ull << 20;
	h->balloon_max_pct = 65;
	h->balloon_queue = 64;
}

void config_policy_guest_defaults(struct vmm_guest_cfg *g)
{
	strcpy(g->balloon_driver, "virtio");
	g->step_accesses = 1000000;
}

static int num(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end) ? -EINVAL : 0;
}

/* "75" or "0, 75@1500, 25@3000": percent[@ms], ms ascending from 0. */
static int parse_tau(struct vmm_host_cfg *h, const char *v)
{
	char buf[256], *save = NULL;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	h->ntau = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *at = strchr(t, '@');
		double pct, ms = 0;

		while (*t == ' ' || *t == '\t')
			t++;
		if (at)
			*at = 0;
		if (h->ntau == VMM_TAU_MAX || num(t, &pct) || !(pct >= 0 && pct < 100) ||
		    (at && num(at + 1, &ms)) || (h->ntau == 0) != (ms == 0) ||
		    (h->ntau && ms <= h->tau_ms[h->ntau - 1]))
			return -EINVAL;
		h->tau[h->ntau] = pct / 100;
		h->tau_ms[h->ntau++] = ms;
	}
	return h->ntau ? 0 : -EINVAL;
}

static int parse_u(const char *v, unsigned *out, unsigned max)
{
	double d;

	if (num(v, &d) || d < 0 || d > max || d != (unsigned)d)
		return -EINVAL;
	*out = (unsigned)d;
	return 0;
}

int config_policy_host(struct vmm_host_cfg *h, const char *k, const char *v)
{
	static const char *const free_keys[4] = {"free_high", "free_soft", "free_hard", "free_low"};

	if (!strcmp(k, "swap_victim")) {
		enum mem_swap_victim x;

		if (mem_swap_victim_parse(v, &x))
			return -EINVAL;
		strcpy(h->swap_victim, mem_swap_victim_name(x));
		return 0;
	}
	if (!strcmp(k, "swap_size"))
		return vmm_parse_size(v, &h->swap_size);
	if (!strcmp(k, "policy_ms"))
		return num(v, &h->policy_ms);
	if (!strcmp(k, "idle_tax"))
		return parse_tau(h, v);
	if (!strcmp(k, "ws_period_ms"))
		return num(v, &h->ws_period_ms);
	if (!strcmp(k, "ws_samples"))
		return parse_u(v, &h->ws_samples, 1u << 20);
	if (!strcmp(k, "ws_slow_gain"))
		return num(v, &h->ws_slow_gain);
	if (!strcmp(k, "ws_fast_gain"))
		return num(v, &h->ws_fast_gain);
	for (int i = 0; i < 4; i++)
		if (!strcmp(k, free_keys[i]))
			return num(v, &h->free_pct[i]);
	if (!strcmp(k, "balloon_rate"))
		return vmm_parse_size(v, &h->balloon_rate);
	if (!strcmp(k, "balloon_max"))
		return parse_u(v, &h->balloon_max_pct, 100);
	if (!strcmp(k, "duration_ms"))
		return num(v, &h->duration_ms) || !(h->duration_ms >= 0) ? -EINVAL : 0;
	if (!strcmp(k, "balloon_queue"))
		return parse_u(v, &h->balloon_queue, BALLOON_VRING_MAX);
	return -ENOENT;
}

/* "64M, 16M,128M": at most GUEST_WL_MAX_STEPS sizes. */
static int parse_steps(struct vmm_guest_cfg *g, const char *v)
{
	char buf[512], *save = NULL;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	g->nsteps = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		if (g->nsteps == GUEST_WL_MAX_STEPS || vmm_parse_size(t, &g->steps[g->nsteps]))
			return -EINVAL;
		g->nsteps++;
	}
	return g->nsteps ? 0 : -EINVAL;
}

int config_policy_guest(struct vmm_guest_cfg *g, const char *k, const char *v)
{
	if (!strcmp(k, "balloon_driver")) {
		enum guest_balloon_mode m;

		if (guest_balloon_mode_parse(v, &m) || strlen(v) >= sizeof(g->balloon_driver))
			return -EINVAL;
		strcpy(g->balloon_driver, v);
		return 0;
	}
	if (!strcmp(k, "balloon_target")) {
		g->balloon_fixed = true;
		return vmm_parse_size(v, &g->balloon_target);
	}
	if (!strcmp(k, "steps"))
		return parse_steps(g, v);
	if (!strcmp(k, "step_ms"))
		return num(v, &g->step_ms) || !(g->step_ms >= 0) ? -EINVAL : 0;
	if (!strcmp(k, "step_accesses")) {
		char *end;

		errno = 0;
		g->step_accesses = strtoull(v, &end, 10);
		return (errno || *end || *v == '-' || !*v) ? -EINVAL : 0;
	}
	return -ENOENT;
}

const char *config_policy_guest_check(struct vmm_guest_cfg *g, bool wss_set, const char **key)
{
	bool steps = !strcmp(g->workload, "steps");
	uint64_t top = 0;

	for (unsigned i = 0; i < g->nsteps; i++)
		top = g->steps[i] > top ? g->steps[i] : top;
	if (steps && !wss_set)
		g->wss = top; /* the largest step is the working set */
	*key = "steps";
	if (steps && !g->nsteps)
		return "the steps workload needs steps (sizes, comma-separated)";
	for (unsigned i = 0; i < g->nsteps; i++)
		if ((g->steps[i] < MEM_PAGE_SIZE && (g->steps[i] || !(g->step_ms > 0))) ||
		    g->steps[i] > g->wss || g->steps[i] % MEM_PAGE_SIZE)
			return "every step must be a multiple of 4K, at most wss (0, idle, "
			       "only with step_ms)";
	*key = "step_accesses";
	if (!g->step_accesses)
		return "must be positive";
	*key = "balloon_target";
	if (g->balloon_fixed && g->balloon_target > g->memory)
		return "larger than the guest's memory";
	return NULL;
}

const char *config_policy_host_check(const struct vmm_host_cfg *h, const char **key)
{
	static const char *const free_keys[4] = {"free_high", "free_soft", "free_hard", "free_low"};

	*key = "policy_ms";
	if (!(h->policy_ms > 0))
		return "must be positive";
	*key = "ws_period_ms";
	if (!(h->ws_period_ms > 0))
		return "must be positive";
	*key = "ws_samples";
	if (!h->ws_samples)
		return "must be at least 1";
	*key = "ws_slow_gain";
	if (!(h->ws_slow_gain > 0 && h->ws_slow_gain <= 1))
		return "must be in (0, 1]";
	*key = "ws_fast_gain";
	if (!(h->ws_fast_gain > 0 && h->ws_fast_gain <= 1))
		return "must be in (0, 1]";
	for (int i = 0; i < 4; i++) {
		*key = free_keys[i];
		if (!(h->free_pct[i] > 0 && h->free_pct[i] < 100))
			return "must be a percentage in (0, 100)";
		if (i && !(h->free_pct[i] < h->free_pct[i - 1]))
			return "thresholds must decrease: free_high > free_soft > free_hard > "
			       "free_low";
	}
	*key = "balloon_queue";
	if (h->balloon_queue < 2 || (h->balloon_queue & (h->balloon_queue - 1)))
		return "must be a power of two, 2 to 32768";
	*key = "swap_size";
	if (h->swap_size % MEM_PAGE_SIZE)
		return "must be a multiple of 4K";
	return NULL;
}
