/* SPDX-License-Identifier: MIT */
/*
 * Config keys of the memory policy, ballooning and host swap: the parsers
 * of those that need their own (config_keys.c's table names them and
 * holds every default): the idle tax schedule ("0, 75@1500": 0% until
 * modeled host ms 1500, then 75%), the swap victim policy, the steps
 * workload's sizes and the balloon driver's mode; and the checks of these
 * keys once a section is read whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/core/config_internal.h"
#include "vmm-core/core/reclaim_internal.h"

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

int config_set_idle_tax(struct parse *p, void *base, const char *v)
{
	(void)p;
	return parse_tau(base, v);
}

int config_set_swap_victim(struct parse *p, void *base, const char *v)
{
	struct vmm_host_cfg *h = base;
	enum mem_swap_victim x;

	(void)p;
	if (mem_swap_victim_parse(v, &x))
		return -EINVAL;
	strcpy(h->swap_victim, mem_swap_victim_name(x));
	return 0;
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

int config_set_steps(struct parse *p, void *base, const char *v)
{
	(void)p;
	return parse_steps(base, v);
}

int config_set_balloon_driver(struct parse *p, void *base, const char *v)
{
	struct vmm_guest_cfg *g = base;
	enum guest_balloon_mode m;

	(void)p;
	if (guest_balloon_mode_parse(v, &m) || strlen(v) >= sizeof(g->balloon_driver))
		return -EINVAL;
	strcpy(g->balloon_driver, v);
	return 0;
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
