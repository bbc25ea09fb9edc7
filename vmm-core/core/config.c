/* SPDX-License-Identifier: MIT */
/*
 * Experiment configs: INI files read with libinih, validated whole before
 * anything runs, so a bad config writes nothing.
 *
 * Sections: [host], [cost] and any number of [guest NAME]. A guest section
 * with `count = N` stands for N identical guests NAME0..NAME{N-1}, instance
 * i seeded with seed + i. Every error names the file, the line and the key
 * ("quick.ini:12: [guest web] memory: bad size 'lots'"); values given with
 * --set name the option instead of a line.
 *
 * Keys: one table, config_keys.c, with each key's type, default and the
 * backends that take it; reading a key is a lookup there, and a guest key
 * that its guest's backend does not take is an error. Once every key and
 * --set is read, each guest section is validated whole (validate_guest:
 * ranges, combinations, the kvm guest's needs), then the host.
 *
 * Trace workloads: `workload = trace:PATH[,trace:PATH...]` replays binary
 * traces, one guest process per address space of each trace, `procs`
 * times over. A relative PATH is relative to the config file's folder
 * (to the current folder in --set). Every trace is opened and checked
 * while the config loads, so a bad trace is a config error naming the
 * file and the record. `accesses` defaults to the longest process's
 * records (each replays its trace once); with `loop = on` each trace
 * starts over at its end until it has run `accesses` accesses, which must
 * then be given. `data_frames = N` limits the guest's resident user data
 * frames to N (page tables and mem_map not counted), any workload.
 */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksm/ksm.h"
#include "traces/traces.h"
#include "vmm-core/core/config_internal.h"
#include "vmm-core/core/reclaim_internal.h"

static unsigned line_of(const struct parse *p, const char *section, const char *key)
{
	for (unsigned i = 0; i < p->nlines; i++)
		if (!strcmp(p->lines[i].section, section) &&
		    (!key || !strcmp(p->lines[i].key, key)))
			return p->lines[i].line;
	return 0;
}

void config_fail(struct parse *p, const char *section, const char *key, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	unsigned line;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	line = p->where ? 0 : line_of(p, section, key);
	if (p->where)
		snprintf(p->err, p->errlen, "%s %s.%s: %s", p->where, section, key ? key : "", msg);
	else if (line)
		snprintf(p->err, p->errlen, "%s:%u: [%s]%s%s: %s", p->cfg->path, line, section,
			 key ? " " : "", key ? key : "", msg);
	else
		snprintf(p->err, p->errlen, "%s: [%s]%s%s: %s", p->cfg->path, section,
			 key ? " " : "", key ? key : "", msg);
}

/* Pre-scan: the line of every section header and key, for messages. */
static int scan_lines(struct parse *p, FILE *f)
{
	char buf[1024], section[VMM_NAME_MAX + 8] = "";
	unsigned line = 0, cap = 0;

	while (fgets(buf, sizeof(buf), f)) {
		char *s = buf, *e;

		line++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '[' && (e = strchr(s, ']'))) {
			*e = 0;
			snprintf(section, sizeof(section), "%s", s + 1);
			e = buf; /* record the header as key "" */
			*e = 0;
		} else if (!(e = strchr(s, '=')) || *s == ';' || *s == '#') {
			continue;
		} else {
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*e = 0;
		}
		if (p->nlines == cap) {
			struct keyline *n;

			cap = cap ? cap * 2 : 64;
			n = realloc(p->lines, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			p->lines = n;
		}
		snprintf(p->lines[p->nlines].section, sizeof(p->lines[0].section), "%.71s",
			 section);
		snprintf(p->lines[p->nlines].key, sizeof(p->lines[0].key), "%.63s",
			 buf[0] ? s : "");
		p->lines[p->nlines++].line = line;
	}
	return 0;
}

static struct vmm_guest_cfg *guest_section(struct parse *p, const char *name, bool create)
{
	struct vmm_guest_cfg *g;

	for (unsigned i = 0; i < p->nsec; i++)
		if (!strcmp(p->sec[i].section, name))
			return &p->sec[i];
	if (!create || p->nsec == CONFIG_MAX_SECTIONS)
		return NULL;
	g = &p->sec[p->nsec++];
	memset(g, 0, sizeof(*g));
	snprintf(g->section, sizeof(g->section), "%s", name);
	config_key_defaults(false, g);
	g->pin_cpu = -1;
	return g;
}

struct trace_check {
	uint64_t max_records; /* of one process */
	char err[768];
};

static int check_trace(void *arg, const char *path)
{
	struct trace_check *c = arg;
	struct trace_file *tf = trace_open(path, 0, c->err, sizeof(c->err));
	const struct trace_summary *s;
	unsigned n;

	if (!tf)
		return -EINVAL;
	s = trace_file_summary(tf);
	n = s->nprocs;
	if (!n)
		snprintf(c->err, sizeof(c->err), "%s: the trace has no records", path);
	for (unsigned i = 0; i < n; i++)
		if (s->procs[i].records > c->max_records)
			c->max_records = s->procs[i].records;
	trace_close(tf);
	return n ? 0 : -EINVAL;
}

/* A trace workload: every file opens as a valid trace. False on failure. */
static bool validate_traces(struct parse *p, unsigned i)
{
	struct vmm_guest_cfg *g = &p->sec[i];
	struct trace_check c = {0};

	if (vmm_trace_foreach(g->workload, check_trace, &c)) {
		config_fail(p, g->section, "workload", "%s",
			    c.err[0] ? c.err : "expected trace:PATH[,trace:PATH...]");
		return false;
	}
	if (g->loop && !config_given(p, i, "accesses")) {
		config_fail(p, g->section, "loop", "a looping trace needs `accesses`");
		return false;
	}
	if (!config_given(p, i, "accesses"))
		g->accesses = c.max_records;
	return true;
}

/* Key k = v of [host] (i unused) or guest section i: 0, -ENOENT for a key
 * the section does not have, -EINVAL for a bad value. */
static int set_key(struct parse *p, bool host, unsigned i, const char *k, const char *v)
{
	const struct config_key *key = config_key_find(host, k);
	unsigned row;
	int r;

	if (!key)
		return -ENOENT;
	r = config_key_set(p, key, host ? (void *)&p->cfg->host : (void *)&p->sec[i], v);
	row = (unsigned)(key - config_keys);
	if (!r && !host)
		p->given[i][row / 64] |= 1ull << (row % 64);
	return r;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	int r;

	if (!*value) {
		config_fail(p, section, key, "empty value");
		return 0;
	}
	if (!strcmp(section, "host")) {
		r = set_key(p, true, 0, key, value);
	} else if (!strcmp(section, "cost")) {
		r = vmm_cost_set(&p->cfg->cost, key, value);
	} else if (!strncmp(section, "guest ", 6) && section[6]) {
		struct vmm_guest_cfg *g = guest_section(p, section, true);

		if (!g) {
			config_fail(p, section, key, "too many guest sections (at most %d)",
				    CONFIG_MAX_SECTIONS);
			return 0;
		}
		if (strlen(section + 6) > VMM_NAME_MAX - 8 || strpbrk(section + 6, " ,\"<>&/")) {
			config_fail(p, section, NULL,
				    "guest names are short and have no spaces, commas, "
				    "quotes, slashes or <>&");
			return 0;
		}
		r = set_key(p, false, (unsigned)(g - p->sec), key, value);
	} else {
		config_fail(p, section, key,
			    "unknown section (expected [host], [cost] or [guest NAME])");
		return 0;
	}
	if (r == -ENOENT)
		config_fail(p, section, key, "unknown key");
	else if (r)
		config_fail(p, section, key, "bad value '%s'", value);
	return r ? 0 : 1;
}

/* Apply one --set SECTION.KEY=VALUE. */
static void apply_set(struct parse *p, const char *arg)
{
	char sec[VMM_NAME_MAX + 8], buf[512];
	const char *eq = strchr(arg, '='), *dot;

	p->where = "--set";
	if (!eq || strlen(arg) >= sizeof(buf) || !(dot = memchr(arg, '.', (size_t)(eq - arg)))) {
		snprintf(p->err, p->errlen, "--set %s: expected SECTION.KEY=VALUE", arg);
		p->failed = true;
		return;
	}
	memcpy(buf, arg, strlen(arg) + 1);
	buf[dot - arg] = 0;
	buf[eq - arg] = 0;
	if (!strcmp(buf, "host") || !strcmp(buf, "cost") || !strncmp(buf, "guest ", 6))
		snprintf(sec, sizeof(sec), "%.71s", buf);
	else
		snprintf(sec, sizeof(sec), "guest %.65s", buf);
	if (!strncmp(sec, "guest ", 6) && !guest_section(p, sec, false)) {
		config_fail(p, sec, buf + (dot - arg) + 1, "no such guest section in %s",
			    p->cfg->path);
		return;
	}
	handler(p, sec, buf + (dot - arg) + 1, buf + (eq - arg) + 1);
}

/* What only a kvm guest needs; the files themselves are checked when the
 * guest is built (backend_kvm.c). */
static void validate_kvm(struct parse *p, unsigned i, bool wss_set)
{
	struct vmm_guest_cfg *g = &p->sec[i];
	const char *s = g->section;
	enum guest_pattern pat;
	enum guest_content con;
	const char *why, *key;

	if (g->max > g->memory || g->min > g->max)
		config_fail(p, s, g->min > g->max ? "min" : "max", "need min <= max <= memory");
	else if (g->count == 0)
		config_fail(p, s, "count", "must be at least 1");
	else if (g->shares == 0)
		config_fail(p, s, "shares", "must be positive");
	else if (strcmp(g->paging, "nested") && strcmp(g->paging, "shadow"))
		config_fail(p, s, "paging", "'%s': on kvm, nested or shadow (the host's mode)",
			    g->paging);
	else if (!(g->zipf_theta >= 0 && g->zipf_theta < 1))
		config_fail(p, s, "zipf_theta", "must be in [0, 1)");
	else if (guest_content_parse(g->content, &con))
		config_fail(p, s, "content", "'%s': expected zero, private, library or mixed",
			    g->content);
	else if ((why = config_policy_guest_check(g, wss_set, &key)))
		config_fail(p, s, key, "%s", why);
	else if (!g->kernel[0] || !g->initrd[0])
		config_fail(p, s, g->kernel[0] ? "initrd" : "kernel",
			    "backend kvm needs kernel and initrd (`make kvm-guest` builds "
			    "build/kvm/kernel/vmlinuz and build/kvm/guest.cpio.gz)");
	else if (g->memory % (2u << 20) || g->memory < (16u << 20) || g->memory > (3ull << 30))
		config_fail(p, s, "memory", "on kvm: a multiple of 2M from 16M to 3G");
	else if (!g->vcpus || g->vcpus > 8)
		config_fail(p, s, "vcpus", "must be 1 to 8");
	else if (!(g->timeout > 0))
		config_fail(p, s, "timeout", "must be positive (seconds)");
	else if (vmm_workload_is_trace(g->workload) && !validate_traces(p, i))
		return;
	else if (!vmm_workload_is_trace(g->workload) && strcmp(g->workload, "ptwrite") &&
		 strcmp(g->workload, "none") &&
		 (guest_pattern_parse(g->workload, &pat) || pat == GUEST_PAT_SPARSE ||
		  pat == GUEST_PAT_CHURN || pat == GUEST_PAT_STEPS))
		config_fail(
		    p, s, "workload",
		    "'%s': on kvm, expected seq, uniform, zipf, ptwrite, none or trace:PATH",
		    g->workload);
	else if (g->procs != 1)
		config_fail(p, s, "procs", "the kvm guest runs one process");
	else if (strpbrk(g->cmdline, "\"\n"))
		config_fail(p, s, "cmdline", "no quotes or newlines");
	else if (p->cfg->host.linux_ksm && (p->cfg->host.sharing || p->cfg->host.swap_file[0]))
		config_fail(p, "host", "linux_ksm",
			    "Linux's KSM shares anonymous memory: not with [host] %s (memvisor's "
			    "sharing and host swap work on a memfd)",
			    p->cfg->host.sharing ? "sharing" : "swap_file");
	else if (p->cfg->host.swap_file[0] && !strcmp(p->cfg->host.swap_victim, "lru"))
		config_fail(p, "host", "swap_victim",
			    "lru: on kvm, random (KVM's dirty log sees a guest's writes, not the "
			    "reads an LRU clock needs)");
}

/* Every key given in guest section i applies to its backend (an unknown
 * backend is validate_guest's to report). False, with the error, if not. */
static bool backend_keys(struct parse *p, unsigned i)
{
	const struct vmm_guest_cfg *g = &p->sec[i];
	unsigned b = !strcmp(g->backend, "kvm")	   ? CB_KVM
		     : !strcmp(g->backend, "soft") ? CB_SOFT
						   : 0;

	for (unsigned k = 0; b && k < config_nkeys; k++)
		if ((p->given[i][k / 64] >> (k % 64) & 1) && !(config_keys[k].backends & b)) {
			config_fail(p, g->section, config_keys[k].name,
				    "a key of backend %s only; this guest's backend is %s%s",
				    b == CB_KVM ? "soft" : "kvm", g->backend,
				    !strncmp(config_keys[k].name, "paging_switch", 13)
					? " (on kvm the host switches: memvisor kvm-mode)"
					: "");
			return false;
		}
	return true;
}

/* A soft guest's keys, whole. */
static void validate_soft(struct parse *p, unsigned i, bool wss_set)
{
	struct vmm_guest_cfg *g = &p->sec[i];
	const char *s = g->section;
	enum guest_pattern pat;
	enum guest_content con;
	enum guest_reclaim rec;
	bool trace = vmm_workload_is_trace(g->workload);
	const char *why, *key;

	why = config_policy_guest_check(g, wss_set, &key);
	if (why)
		config_fail(p, s, key, "%s", why);
	else if (g->memory < (1u << 20) || g->memory % MEM_PAGE_SIZE)
		config_fail(p, s, "memory", "must be at least 1M and a multiple of 4K");
	else if (g->count == 0)
		config_fail(p, s, "count", "must be at least 1");
	else if (strcmp(g->backend, "soft"))
		config_fail(p, s, "backend", "'%s': expected soft or kvm", g->backend);
	else if (strcmp(g->paging, "dynamic") && !paging_find(g->paging))
		config_fail(p, s, "paging", "'%s': expected nested, shadow or dynamic", g->paging);
	else if ((g->nswitch_at || g->switch_every) && !strcmp(g->paging, "dynamic"))
		config_fail(
		    p, s, g->nswitch_at ? "paging_switch_at" : "paging_switch_every",
		    "a schedule needs paging = nested or shadow (dynamic switches by itself)");
	else if (!(g->dyn_window_ms > 0))
		config_fail(p, s, "dynamic_window_ms", "must be positive");
	else if (!(g->dyn_margin >= 0 && g->dyn_margin < 1))
		config_fail(p, s, "dynamic_margin", "must be in [0, 1)");
	else if (!g->dyn_confirm)
		config_fail(p, s, "dynamic_confirm", "must be at least 1");
	else if (g->max > g->memory || g->min > g->max)
		config_fail(p, s, g->min > g->max ? "min" : "max", "need min <= max <= memory");
	else if (g->shares == 0)
		config_fail(p, s, "shares", "must be positive");
	else if (!trace && guest_pattern_parse(g->workload, &pat))
		config_fail(p, s, "workload",
			    "'%s': expected seq, uniform, zipf, sparse, churn, steps or trace:PATH",
			    g->workload);
	else if (!trace && pat == GUEST_PAT_SPARSE &&
		 (!g->sparse_stride || g->sparse_stride > (1u << 20)))
		config_fail(p, s, "sparse_stride", "must be 1..1048576 pages");
	else if (!trace && pat == GUEST_PAT_CHURN &&
		 (g->churn_region < MEM_PAGE_SIZE || g->churn_region % MEM_PAGE_SIZE ||
		  g->churn_region > g->wss))
		config_fail(p, s, "churn_region", "must be a multiple of 4K, at most wss");
	else if (g->accesses == 0 && (config_given(p, i, "accesses") || !trace))
		config_fail(p, s, "accesses", "must be positive");
	else if (trace && !validate_traces(p, i))
		return;
	else if (g->wss < MEM_PAGE_SIZE)
		config_fail(p, s, "wss", "must be at least one page (4K)");
	else if (!(g->zipf_theta >= 0 && g->zipf_theta < 1))
		config_fail(p, s, "zipf_theta", "must be in [0, 1)");
	else if (guest_content_parse(g->content, &con))
		config_fail(p, s, "content", "'%s': expected zero, private, library or mixed",
			    g->content);
	else if (g->zero_pct + g->library_pct > 100)
		config_fail(p, s, "library_pct", "zero_pct + library_pct exceed 100");
	else if (g->procs == 0)
		config_fail(p, s, "procs", "must be at least 1");
	else if (g->timeslice == 0)
		config_fail(p, s, "timeslice", "must be positive");
	else if (guest_reclaim_parse(g->reclaim, &rec))
		config_fail(p, s, "reclaim", "'%s': expected clock, lru or random", g->reclaim);
	else if (!(g->scan_rate >= 0 && g->scan_rate < 1e15))
		config_fail(p, s, "scan_rate", "must be a number of pages per second, 0 or more");
}

/* Guest section i, read whole: the keys that follow memory, its keys
 * against its backend, then its backend's checks. */
static void validate_guest(struct parse *p, unsigned i)
{
	struct vmm_guest_cfg *g = &p->sec[i];
	bool wss_set = config_given(p, i, "wss");

	if (!config_given(p, i, "max"))
		g->max = g->memory;
	if (!wss_set)
		g->wss = g->memory / 2;
	if (!config_given(p, i, "guest_swap"))
		g->guest_swap = g->memory;
	g->paging_given = config_given(p, i, "paging");
	g->balloon_fixed = config_given(p, i, "balloon_target");
	if (!backend_keys(p, i))
		return;
	if (!strcmp(g->backend, "kvm"))
		validate_kvm(p, i, wss_set);
	else if (p->cfg->host.linux_ksm)
		config_fail(p, "host", "linux_ksm",
			    "kvm guests only (guest %s is soft: [host] sharing = on shares it)",
			    g->name);
	else
		validate_soft(p, i, wss_set);
}

static int expand(struct parse *p)
{
	struct vmm_config *cfg = p->cfg;
	uint64_t n = 0, k = 0, min_total = 0;

	for (unsigned i = 0; i < p->nsec; i++) {
		n += p->sec[i].count;
		min_total += p->sec[i].count * p->sec[i].min;
	}
	if (n == 0) {
		snprintf(p->err, p->errlen, "%s: no [guest NAME] section", cfg->path);
		return -EINVAL;
	}
	if (cfg->host.memory < min_total) {
		config_fail(p, "host", "memory",
			    "budget too small: %" PRIu64 " bytes, but the guests' min reservations "
			    "total %" PRIu64,
			    cfg->host.memory, min_total);
		return -EINVAL;
	}
	cfg->guests = calloc(n, sizeof(*cfg->guests));
	if (!cfg->guests)
		return -ENOMEM;
	for (unsigned i = 0; i < p->nsec; i++)
		for (unsigned j = 0; j < p->sec[i].count; j++) {
			struct vmm_guest_cfg *g = &cfg->guests[k++];

			*g = p->sec[i];
			g->line = line_of(p, g->section, "");
			if (g->count == 1)
				snprintf(g->name, sizeof(g->name), "%s", g->section + 6);
			else
				snprintf(g->name, sizeof(g->name), "%s%u", g->section + 6, j);
			g->seed += j;
			g->instance = j;
		}
	cfg->nguests = (unsigned)n;
	return 0;
}

/* The [host] section, read whole. */
static void validate_host(struct parse *p)
{
	struct vmm_host_cfg *h = &p->cfg->host;
	enum ksm_order order;

	if (h->memory < (4u << 20) || h->memory % MEM_PAGE_SIZE)
		config_fail(p, "host", "memory", "must be at least 4M and a multiple of 4K");
	else if (!h->tlb_ways || !h->tlb_entries || h->tlb_entries % h->tlb_ways ||
		 ((h->tlb_entries / h->tlb_ways) & (h->tlb_entries / h->tlb_ways - 1)))
		config_fail(p, "host", "tlb_entries",
			    "entries / ways must be a power of two (e.g. 1536 / 12 = 128)");
	else if (!h->shadow_roots)
		config_fail(p, "host", "shadow_roots", "must be at least 1");
	else if (!(h->sample_ms > 0))
		config_fail(p, "host", "sample_ms", "must be positive");
	else if (!h->quantum)
		config_fail(p, "host", "quantum", "must be positive");
	else if (!h->library_pages)
		config_fail(p, "host", "library_pages", "must be positive");
	else if (!(h->scan_rate >= 0 && h->scan_rate < 1e15))
		config_fail(p, "host", "scan_rate",
			    "must be a number of pages per second, 0 or more");
	else if (!h->scan_batch)
		config_fail(p, "host", "scan_batch", "must be positive");
	else if (ksm_order_parse(h->scan_order, &order))
		config_fail(p, "host", "scan_order", "'%s': expected random or sequential",
			    h->scan_order);
	else {
		const char *key, *why = config_policy_host_check(h, &key);

		if (why)
			config_fail(p, "host", key, "%s", why);
	}
}

int vmm_config_load(struct vmm_config *cfg, const char *path, char *const *sets, unsigned nsets,
		    char *err, size_t errlen)
{
	struct parse *p;
	FILE *f;
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	config_key_defaults(true, &cfg->host);
	vmm_cost_defaults(&cfg->cost);

	f = fopen(path, "r");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		fclose(f);
		return -ENOMEM;
	}
	p->cfg = cfg;
	p->err = err;
	p->errlen = errlen;
	r = scan_lines(p, f);
	if (!r) {
		rewind(f);
		r = ini_parse_file(f, handler, p);
		if (r > 0 && !p->failed)
			snprintf(err, errlen, "%s:%d: syntax error", path, r);
		r = (r || p->failed) ? -EINVAL : 0;
	}
	fclose(f);
	for (unsigned i = 0; !r && i < nsets && !p->failed; i++)
		apply_set(p, sets[i]);
	p->where = NULL;
	for (unsigned i = 0; !r && i < p->nsec && !p->failed; i++)
		validate_guest(p, i);
	if (!r && !p->failed)
		validate_host(p);
	if (!r && p->failed)
		r = -EINVAL;
	if (!r)
		r = expand(p);
	free(p->lines);
	free(p);
	if (r)
		vmm_config_free(cfg);
	return r;
}

void vmm_config_free(struct vmm_config *cfg)
{
	free(cfg->guests);
	cfg->guests = NULL;
	cfg->nguests = 0;
}
