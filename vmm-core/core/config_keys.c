/* SPDX-License-Identifier: MIT */
/*
 * The config's keys as data: one row per key of [host] and [guest NAME]
 * (config_internal.h says what a row holds), the parsers of their values,
 * and the key reference `memvisor run --help` prints. Reading a key is a
 * lookup in this table; its default is its row's text read the same way,
 * so the defaults, the docs and the parser cannot drift apart. The
 * memory policy's own parsers (idle_tax, steps, ...) are in
 * config_policy.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/core/config_internal.h"
#include "vmm-core/core/reclaim_internal.h"

int vmm_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	char *end;
	const char *u;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end && (u = strchr(units, *end & ~0x20))) {
		shift = 10 * (unsigned)(u - units + 1);
		end++;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return (errno || *end) ? -EINVAL : 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end) ? -EINVAL : 0;
}

static int copy_str(char *dst, size_t n, const char *s)
{
	if (strlen(s) >= n)
		return -EINVAL;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* ---- keys with a parser of their own -------------------------------------- */

struct trace_list {
	char *out;
	size_t len, cap;
	const char *dir; /* prefix of relative paths, "" for none */
};

static int add_trace(void *arg, const char *path)
{
	struct trace_list *l = arg;
	int n = snprintf(l->out + l->len, l->cap - l->len, "%s%s%s%s", l->len ? "," : "",
			 VMM_TRACE_PREFIX, path[0] == '/' ? "" : l->dir, path);

	if (n < 0 || (size_t)n >= l->cap - l->len)
		return -EINVAL;
	l->len += (size_t)n;
	return 0;
}

/* workload: a pattern's name, or trace:... kept with relative paths made
 * relative to the config file's folder (given in the file) or left as
 * they are (--set). */
static int set_workload(struct parse *p, void *base, const char *v)
{
	struct vmm_guest_cfg *g = base;
	char buf[VMM_WORKLOAD_MAX], dir[VMM_WORKLOAD_MAX] = "";
	struct trace_list l = {.out = buf, .cap = sizeof(buf), .dir = dir};
	const char *slash;
	int r;

	if (!vmm_workload_is_trace(v))
		return copy_str(g->workload, sizeof(g->workload), v);
	slash = strrchr(p->cfg->path, '/');
	if (!p->where && slash)
		snprintf(dir, sizeof(dir), "%.*s/", (int)(slash - p->cfg->path), p->cfg->path);
	buf[0] = 0;
	r = vmm_trace_foreach(v, add_trace, &l);
	if (r)
		return r;
	return copy_str(g->workload, sizeof(g->workload), buf);
}

/* A kvm guest's file: in the file relative to its folder, with --set as
 * given. */
static int set_path(struct parse *p, char *path, size_t len, const char *v)
{
	const char *slash = strrchr(p->cfg->path, '/');
	char buf[1024];

	if (copy_str(path, len, v))
		return -EINVAL;
	if (p->where || path[0] == '/' || !slash)
		return 0;
	snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - p->cfg->path), p->cfg->path, path);
	return copy_str(path, len, buf);
}

static int set_kernel(struct parse *p, void *base, const char *v)
{
	struct vmm_guest_cfg *g = base;

	return set_path(p, g->kernel, sizeof(g->kernel), v);
}

static int set_initrd(struct parse *p, void *base, const char *v)
{
	struct vmm_guest_cfg *g = base;

	return set_path(p, g->initrd, sizeof(g->initrd), v);
}

static int set_pin_cpu(struct parse *p, void *base, const char *v)
{
	struct vmm_guest_cfg *g = base;
	uint64_t cpu;

	(void)p;
	if (parse_u64(v, &cpu) || cpu > 1023)
		return -EINVAL;
	g->pin_cpu = (int)cpu;
	return 0;
}

/* "10, 20.5ms, 40": ascending modeled ms, at most VMM_SWITCH_AT_MAX. */
static int set_switch_at(struct parse *p, void *base, const char *v)
{
	struct vmm_guest_cfg *g = base;
	const char *s = v;

	(void)p;
	g->nswitch_at = 0;
	while (*s) {
		char *end;
		double t;

		errno = 0;
		t = strtod(s, &end);
		if (errno || end == s || !(t >= 0) || g->nswitch_at == VMM_SWITCH_AT_MAX ||
		    (g->nswitch_at && t <= g->switch_at[g->nswitch_at - 1]))
			return -EINVAL;
		g->switch_at[g->nswitch_at++] = t;
		s = end;
		if (!strncmp(s, "ms", 2))
			s += 2;
		s += strspn(s, " \t");
		if (*s == ',')
			s++;
		else if (*s)
			return -EINVAL;
		s += strspn(s, " \t");
	}
	return g->nswitch_at ? 0 : -EINVAL;
}

/* ---- the table ------------------------------------------------------------ */

#define H(name, type, field, size, def, help)                                                      \
	{                                                                                          \
#name, true, type, CB_ALL, offsetof(struct vmm_host_cfg, field), size, def, NULL,  \
		    help                                                                           \
	}
#define G(name, type, b, field, size, def, help)                                                   \
	{                                                                                          \
#name, false, type, b, offsetof(struct vmm_guest_cfg, field), size, def, NULL,     \
		    help                                                                           \
	}
#define HF(name, fn, def, help)                                                                    \
	{                                                                                          \
#name, true, CT_FN, CB_ALL, 0, 0, def, fn, help                                    \
	}
#define GF(name, b, fn, def, help)                                                                 \
	{                                                                                          \
#name, false, CT_FN, b, 0, 0, def, fn, help                                        \
	}
#define STR(s, field) sizeof(((s *)0)->field)

const struct config_key config_keys[] = {
    H(memory, CT_SIZE, memory, 0, "1G", "the host memory budget"),
    H(sharing, CT_BOOL, sharing, 0, "off", "content-based page sharing"),
    H(linux_ksm, CT_BOOL, linux_ksm, 0, "off",
      "kvm: Linux's KSM shares guest RAM (anonymous, MADV_MERGEABLE) instead"),
    H(dump_ms, CT_DOUBLE0, dump_ms, 0, "0",
      "kvm: write guests' pages to DIR/NAME.pages this long after the last is up (0: never)"),
    H(scan_rate, CT_DOUBLE, scan_rate, 0, "1000000", "sharing scan cap, pages per host second"),
    H(scan_batch, CT_UINT, scan_batch, 1u << 20, "256", "pages per scan batch"),
    H(scan_order, CT_STR, scan_order, STR(struct vmm_host_cfg, scan_order), "random",
      "random or sequential"),
    H(balloon, CT_BOOL, balloon, 0, "off", "the policy drives the balloons"),
    H(swap_file, CT_STR, swap_file, STR(struct vmm_host_cfg, swap_file), NULL,
      "the host swap file (none: no host swap)"),
    H(swap_size, CT_SIZE, swap_size, 0, "0", "most bytes of host swap (0: the disk's)"),
    HF(swap_victim, config_set_swap_victim, "random", "random or lru"),
    H(policy_ms, CT_DOUBLE, policy_ms, 0, "100", "ms between policy ticks"),
    HF(idle_tax, config_set_idle_tax, "75", "idle memory tax, percent (0, 75@1000: a schedule)"),
    H(ws_period_ms, CT_DOUBLE, ws_period_ms, 0, "30000", "working-set sampling period, ms"),
    H(ws_samples, CT_UINT, ws_samples, 1u << 20, "100", "pages sampled per period"),
    H(ws_slow_gain, CT_DOUBLE, ws_slow_gain, 0, "0.1", "slow moving average's gain"),
    H(ws_fast_gain, CT_DOUBLE, ws_fast_gain, 0, "0.5", "fast moving average's gain"),
    H(free_high, CT_DOUBLE, free_pct[0], 0, "6", "high state threshold, percent free"),
    H(free_soft, CT_DOUBLE, free_pct[1], 0, "4", "soft state threshold, percent free"),
    H(free_hard, CT_DOUBLE, free_pct[2], 0, "2", "hard state threshold, percent free"),
    H(free_low, CT_DOUBLE, free_pct[3], 0, "1", "low state threshold, percent free"),
    H(balloon_rate, CT_SIZE, balloon_rate, 0, "256M", "balloon target movement, bytes/s"),
    H(balloon_max, CT_UINT, balloon_max_pct, 100, "65", "most of a guest a balloon holds, %"),
    H(balloon_queue, CT_UINT, balloon_queue, BALLOON_VRING_MAX, "64", "virtqueue size"),
    H(duration_ms, CT_DOUBLE0, duration_ms, 0, "0", "stop the run there (0: at the end)"),
    H(boot_serial, CT_BOOL, boot_serial, 0, "on", "kvm: a guest boots once the one before has"),
    H(guest_swap_dir, CT_STR, guest_swap_dir, STR(struct vmm_host_cfg, guest_swap_dir), NULL,
      "where guest swap lives ($TMPDIR)"),
    H(tlb_entries, CT_UINT, tlb_entries, 1u << 20, "1536", "TLB model: entries"),
    H(tlb_ways, CT_UINT, tlb_ways, 1024, "12", "TLB model: ways"),
    H(pwc_entries, CT_UINT, pwc_entries, 4096, "0", "nested walk cache entries"),
    H(shadow_roots, CT_UINT, shadow_roots, 4096, "8", "shadow tables cached per guest"),
    H(sample_ms, CT_DOUBLE, sample_ms, 0, "10", "sampling period, ms"),
    H(quantum, CT_U64, quantum, 0, "10000", "accesses per scheduling quantum"),
    H(library_pages, CT_U64, library_pages, 0, "4096", "pages of the shared library image"),
    H(library_seed, CT_U64, library_seed, 0, "42", "its content's seed"),

    G(count, CT_UINT, CB_ALL, count, 100000, "1", "identical instances"),
    G(memory, CT_SIZE, CB_ALL, memory, 0, "256M", "configured guest memory"),
    G(backend, CT_STR, CB_ALL, backend, STR(struct vmm_guest_cfg, backend), "soft", "soft or kvm"),
    G(paging, CT_STR, CB_ALL, paging, STR(struct vmm_guest_cfg, paging), "nested",
      "nested, shadow or dynamic (kvm: the host's mode)"),
    GF(paging_switch_at, CB_SOFT, set_switch_at, NULL, "modeled ms of mode toggles"),
    G(paging_switch_every, CT_U64, CB_SOFT, switch_every, 0, "0", "toggle every N accesses"),
    G(dynamic_window_ms, CT_DOUBLE, CB_SOFT, dyn_window_ms, 0, "1", "dynamic: window, ms"),
    G(dynamic_margin, CT_DOUBLE, CB_SOFT, dyn_margin, 0, "0.1", "dynamic: saving needed"),
    G(dynamic_confirm, CT_UINT, CB_SOFT, dyn_confirm, 1000, "2", "dynamic: windows agreeing"),
    G(dynamic_min_windows, CT_UINT, CB_SOFT, dyn_min_windows, 1000000, "4",
      "dynamic: windows after a switch"),
    G(guest_large, CT_BOOL, CB_SOFT, guest_large, 0, "off", "the guest OS maps 2 MiB pages"),
    G(host_large, CT_BOOL, CB_SOFT, host_large, 0, "off", "2 MiB host runs on first touch"),
    G(shares, CT_U64, CB_ALL, shares, 0, "1000", "ESX shares"),
    G(min, CT_SIZE, CB_ALL, min, 0, "0", "ESX min: never targeted below"),
    G(max, CT_SIZE, CB_ALL, max, 0, NULL, "ESX max: never targeted above (memory)"),
    GF(balloon_driver, CB_SOFT, config_set_balloon_driver, "virtio",
       "virtio, none, ignore or garbage"),
    G(balloon_target, CT_SIZE, CB_SOFT, balloon_target, 0, NULL, "a fixed balloon target"),
    GF(workload, CB_ALL, set_workload, "zipf",
       "seq, uniform, zipf, sparse, churn, steps, trace:PATH (kvm: ptwrite, none)"),
    GF(steps, CB_SOFT, config_set_steps, NULL, "steps: working-set sizes, comma-separated"),
    G(step_accesses, CT_U64, CB_SOFT, step_accesses, 0, "1000000", "steps: accesses per step"),
    G(step_ms, CT_DOUBLE0, CB_SOFT, step_ms, 0, "0", "steps: modeled ms per step"),
    G(sparse_stride, CT_U64, CB_SOFT, sparse_stride, 0, "16", "sparse: pages apart"),
    G(churn_region, CT_SIZE, CB_SOFT, churn_region, 0, "64K", "churn: region unmapped"),
    G(churn_unmap_pm, CT_UINT, CB_SOFT, churn_unmap_pm, 1000, "20", "churn: unmaps per 1000"),
    G(churn_life, CT_U64, CB_SOFT, churn_life, 0, "20000", "churn: operations per life"),
    G(accesses, CT_U64, CB_ALL, accesses, 0, "1000000", "accesses per process"),
    G(loop, CT_BOOL, CB_ALL, loop, 0, "off", "traces start over at their end"),
    G(data_frames, CT_U64, CB_SOFT, data_frames, 0, "0", "resident user data frames at most"),
    G(seed, CT_U64, CB_ALL, seed, 0, "1", "workload seed (instance i: seed + i)"),
    G(wss, CT_SIZE, CB_ALL, wss, 0, NULL, "working set per process (memory/2)"),
    G(write_pct, CT_UINT, CB_ALL, write_pct, 100, "30", "percent of writes"),
    G(zipf_theta, CT_DOUBLE, CB_ALL, zipf_theta, 0, "0.99", "zipf skew, [0, 1)"),
    G(content, CT_STR, CB_ALL, content, STR(struct vmm_guest_cfg, content), "mixed",
      "zero, private, library or mixed"),
    G(zero_pct, CT_UINT, CB_ALL, zero_pct, 100, "20", "mixed: percent zero pages"),
    G(library_pct, CT_UINT, CB_ALL, library_pct, 100, "40", "mixed: percent library pages"),
    G(procs, CT_UINT, CB_ALL, procs, 1024, "1", "processes (kvm: 1)"),
    G(timeslice, CT_U64, CB_SOFT, timeslice, 0, "10000", "accesses between context switches"),
    G(reclaim, CT_STR, CB_SOFT, reclaim, STR(struct vmm_guest_cfg, reclaim), "clock",
      "guest replacement: clock, lru or random"),
    G(guest_swap, CT_SIZE, CB_ALL, guest_swap, 0, NULL, "guest swap (memory; kvm: zram)"),
    G(sharing, CT_BOOL, CB_ALL, sharing, 0, "on", "per-guest opt-out of page sharing"),
    G(scan_rate, CT_DOUBLE, CB_ALL, scan_rate, 0, "200000", "sharing scan, pages per second"),
    GF(kernel, CB_KVM, set_kernel, NULL, "the bzImage"),
    GF(initrd, CB_KVM, set_initrd, NULL, "the initramfs"),
    G(cmdline, CT_STR, CB_KVM, cmdline, STR(struct vmm_guest_cfg, cmdline), NULL,
      "appended to the kernel command line"),
    G(vcpus, CT_UINT, CB_KVM, vcpus, 64, "1", "vCPUs (1 to 8)"),
    G(timeout, CT_DOUBLE, CB_KVM, timeout, 0, "300", "wall seconds before it is failed"),
    GF(pin_cpu, CB_KVM, set_pin_cpu, NULL, "host CPU for its vCPU threads"),
};
const unsigned config_nkeys = ARRAY_SIZE(config_keys);
_Static_assert(ARRAY_SIZE(config_keys) <= CONFIG_MAX_KEYS, "config_keys: raise CONFIG_MAX_KEYS");

void vmm_config_host_defaults(struct vmm_host_cfg *h)
{
	memset(h, 0, sizeof(*h));
	config_key_defaults(true, h);
}

void vmm_config_guest_defaults(struct vmm_guest_cfg *g)
{
	memset(g, 0, sizeof(*g));
	config_key_defaults(false, g);
	g->pin_cpu = -1;
}

const struct config_key *config_key_find(bool host, const char *name)
{
	for (unsigned i = 0; i < config_nkeys; i++)
		if (config_keys[i].host == host && !strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

int config_key_set(struct parse *p, const struct config_key *k, void *base, const char *v)
{
	char *at = (char *)base + k->off;
	uint64_t u;

	switch (k->type) {
	case CT_SIZE:
		return vmm_parse_size(v, (uint64_t *)(void *)at);
	case CT_U64:
		return parse_u64(v, (uint64_t *)(void *)at);
	case CT_UINT:
		if (parse_u64(v, &u) || u > k->size)
			return -EINVAL;
		*(unsigned *)(void *)at = (unsigned)u;
		return 0;
	case CT_BOOL:
		return parse_bool(v, (bool *)(void *)at);
	case CT_DOUBLE:
		return parse_double(v, (double *)(void *)at);
	case CT_DOUBLE0:
		return parse_double(v, (double *)(void *)at) || !(*(double *)(void *)at >= 0)
			   ? -EINVAL
			   : 0;
	case CT_STR:
		return copy_str(at, k->size, v);
	case CT_FN:
		return k->fn(p, base, v);
	}
	return -EINVAL;
}

/* A default is read as a value in a config would be; no default needs the
 * parse (its parser is not given one). */
void config_key_defaults(bool host, void *base)
{
	for (unsigned i = 0; i < config_nkeys; i++)
		if (config_keys[i].host == host && config_keys[i].def)
			BUG_ON(config_key_set(NULL, &config_keys[i], base, config_keys[i].def),
			       "config key %s: bad default '%s'", config_keys[i].name,
			       config_keys[i].def);
}

bool config_given(const struct parse *p, unsigned i, const char *name)
{
	const struct config_key *k = config_key_find(false, name);
	unsigned row;

	BUG_ON(!k, "no guest key %s", name);
	row = (unsigned)(k - config_keys);
	return p->given[i][row / 64] >> (row % 64) & 1;
}

void vmm_config_keys_print(FILE *f)
{
	for (unsigned i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		char key[96];

		snprintf(key, sizeof(key), "[%s] %s = %s", k->host ? "host" : "guest", k->name,
			 k->def ? k->def : "");
		fprintf(f, "  %-36s %s%s\n", key, k->help,
			k->host || k->backends == CB_ALL ? ""
			: k->backends == CB_SOFT	 ? " (soft only)"
							 : " (kvm only)");
	}
}
