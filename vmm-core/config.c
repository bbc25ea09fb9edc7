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
 * Keys and defaults:
 *   [host]  memory 1G, sharing off, balloon off, swap_file "",
 *           guest_swap_dir "" ($TMPDIR), tlb_entries 1536, tlb_ways 12,
 *           pwc_entries 0, shadow_roots 8, sample_ms 10, quantum 10000,
 *           library_pages 4096, library_seed 42,
 *           scan_rate 1000000 (page sharing: the host's cap, pages per
 *           modeled second, 0 = none), scan_batch 256, scan_order random
 *   [guest] count 1, memory 256M, backend soft, paging nested (nested,
 *           shadow or dynamic), shares 1000, min 0, max = memory,
 *           workload zipf (seq, uniform, zipf, sparse, churn or trace:PATH),
 *           accesses 1000000, seed 1, wss = memory / 2,
 *           write_pct 30, zipf_theta 0.99, content mixed, zero_pct 20,
 *           library_pct 40, procs 1, timeslice 10000, reclaim clock,
 *           guest_swap = memory, guest_large off, host_large off,
 *           sparse_stride 16 (pages), churn_region 64K, churn_unmap_pm 20,
 *           churn_life 20000 (operations),
 *           paging_switch_at "" (modeled ms, comma-separated, ascending),
 *           paging_switch_every 0 (accesses), dynamic_window_ms 1,
 *           dynamic_margin 0.1, dynamic_confirm 2, dynamic_min_windows 4,
 *           sharing on (opt-out; only with [host] sharing on),
 *           scan_rate 200000 (pages per modeled second of the guest's clock),
 *           loop off, data_frames 0 (no limit),
 *           kernel "", initrd "", cmdline "", vcpus 1, timeout 300,
 *           pin_cpu (none) (backend kvm only)
 *   [host], [guest] memory policy, ballooning, host swap: see config_policy.c
 *   [cost]  see cost.c
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
#include "vmm-core/reclaim_internal.h"
#include "vmm-core/vmm_internal.h"

#define MAX_SECTIONS 256

struct keyline {
	char section[VMM_NAME_MAX + 8];
	char key[64];
	unsigned line;
};

struct parse {
	struct vmm_config *cfg;
	struct vmm_guest_cfg sec[MAX_SECTIONS]; /* one per [guest NAME] */
	bool max_set[MAX_SECTIONS], wss_set[MAX_SECTIONS], swap_set[MAX_SECTIONS];
	bool acc_set[MAX_SECTIONS];
	bool paging_set[MAX_SECTIONS];
	unsigned nsec;
	struct keyline *lines; /* where each key was written */
	unsigned nlines;
	const char *where; /* "--set" while applying options */
	char *err;
	size_t errlen;
	bool failed;
};

int vmm_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	case 'T':
	case 't':
		shift = 40;
		end++;
		break;
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

static int parse_uint(const char *s, unsigned *out, unsigned max)
{
	uint64_t v;

	if (parse_u64(s, &v) || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
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

static unsigned line_of(const struct parse *p, const char *section, const char *key)
{
	for (unsigned i = 0; i < p->nlines; i++)
		if (!strcmp(p->lines[i].section, section) &&
		    (!key || !strcmp(p->lines[i].key, key)))
			return p->lines[i].line;
	return 0;
}

/* Record the first error only: one clear message. */
__attribute__((format(printf, 4, 5))) static void fail(struct parse *p, const char *section,
						       const char *key, const char *fmt, ...)
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
	if (!create || p->nsec == MAX_SECTIONS)
		return NULL;
	g = &p->sec[p->nsec++];
	memset(g, 0, sizeof(*g));
	snprintf(g->section, sizeof(g->section), "%s", name);
	g->count = 1;
	g->memory = 256ull << 20;
	strcpy(g->backend, "soft");
	strcpy(g->paging, "nested");
	g->shares = 1000;
	strcpy(g->workload, "zipf");
	g->accesses = 1000000;
	g->seed = 1;
	g->write_pct = 30;
	g->zipf_theta = 0.99;
	strcpy(g->content, "mixed");
	g->zero_pct = 20;
	g->library_pct = 40;
	g->procs = 1;
	g->timeslice = 10000;
	strcpy(g->reclaim, "clock");
	g->sharing = true;
	g->scan_rate = 200000;
	g->sparse_stride = 16;
	g->churn_region = 64 << 10;
	g->churn_unmap_pm = 20;
	g->churn_life = 20000;
	g->dyn_window_ms = 1;
	g->dyn_margin = 0.1;
	g->dyn_confirm = 2;
	g->dyn_min_windows = 4;
	config_policy_guest_defaults(g);
	g->vcpus = 1;
	g->timeout = 300;
	g->pin_cpu = -1;
	return g;
}

/* "10, 20.5ms, 40": ascending modeled ms, at most VMM_SWITCH_AT_MAX. */
static int parse_switch_at(const char *v, struct vmm_guest_cfg *g)
{
	const char *p = v;

	g->nswitch_at = 0;
	while (*p) {
		char *end;
		double t;

		errno = 0;
		t = strtod(p, &end);
		if (errno || end == p || !(t >= 0) || g->nswitch_at == VMM_SWITCH_AT_MAX ||
		    (g->nswitch_at && t <= g->switch_at[g->nswitch_at - 1]))
			return -EINVAL;
		g->switch_at[g->nswitch_at++] = t;
		p = end;
		if (!strncmp(p, "ms", 2))
			p += 2;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	return g->nswitch_at ? 0 : -EINVAL;
}

static int set_host(struct parse *p, const char *k, const char *v)
{
	struct vmm_host_cfg *h = &p->cfg->host;

	if (!strcmp(k, "memory"))
		return vmm_parse_size(v, &h->memory);
	if (!strcmp(k, "sharing"))
		return parse_bool(v, &h->sharing);
	if (!strcmp(k, "balloon"))
		return parse_bool(v, &h->balloon);
	if (!strcmp(k, "swap_file"))
		return copy_str(h->swap_file, sizeof(h->swap_file), v);
	if (!strcmp(k, "guest_swap_dir"))
		return copy_str(h->guest_swap_dir, sizeof(h->guest_swap_dir), v);
	if (!strcmp(k, "tlb_entries"))
		return parse_uint(v, &h->tlb_entries, 1u << 20);
	if (!strcmp(k, "tlb_ways"))
		return parse_uint(v, &h->tlb_ways, 1024);
	if (!strcmp(k, "pwc_entries"))
		return parse_uint(v, &h->pwc_entries, 4096);
	if (!strcmp(k, "shadow_roots"))
		return parse_uint(v, &h->shadow_roots, 4096);
	if (!strcmp(k, "sample_ms"))
		return parse_double(v, &h->sample_ms);
	if (!strcmp(k, "quantum"))
		return parse_u64(v, &h->quantum);
	if (!strcmp(k, "library_pages"))
		return parse_u64(v, &h->library_pages);
	if (!strcmp(k, "library_seed"))
		return parse_u64(v, &h->library_seed);
	if (!strcmp(k, "scan_rate"))
		return parse_double(v, &h->scan_rate);
	if (!strcmp(k, "scan_batch"))
		return parse_uint(v, &h->scan_batch, 1u << 20);
	if (!strcmp(k, "scan_order"))
		return copy_str(h->scan_order, sizeof(h->scan_order), v);
	return config_policy_host(h, k, v);
}

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

/* workload = trace:...: keep it with relative paths made relative to the
 * config file's folder (given in the file) or left as they are (--set). */
static int set_traces(struct parse *p, struct vmm_guest_cfg *g, const char *v)
{
	char buf[VMM_WORKLOAD_MAX], dir[VMM_WORKLOAD_MAX] = "";
	const char *slash = strrchr(p->cfg->path, '/');
	struct trace_list l = {.out = buf, .cap = sizeof(buf), .dir = dir};
	int r;

	if (!p->where && slash)
		snprintf(dir, sizeof(dir), "%.*s/", (int)(slash - p->cfg->path), p->cfg->path);
	buf[0] = 0;
	r = vmm_trace_foreach(v, add_trace, &l);
	if (r)
		return r;
	return copy_str(g->workload, sizeof(g->workload), buf);
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
		fail(p, g->section, "workload", "%s",
		     c.err[0] ? c.err : "expected trace:PATH[,trace:PATH...]");
		return false;
	}
	if (g->loop && !p->acc_set[i]) {
		fail(p, g->section, "loop", "a looping trace needs `accesses`");
		return false;
	}
	if (!p->acc_set[i])
		g->accesses = c.max_records;
	return true;
}

/* A kvm guest's file path, relative to the config's folder, made whole. */
static void resolve_path(struct parse *p, char *path, size_t len)
{
	const char *slash = strrchr(p->cfg->path, '/');
	char buf[1024];

	if (!path[0] || path[0] == '/' || !slash)
		return;
	snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - p->cfg->path), p->cfg->path, path);
	if (strlen(buf) < len)
		memcpy(path, buf, strlen(buf) + 1);
}

static int set_guest(struct parse *p, unsigned i, const char *k, const char *v)
{
	struct vmm_guest_cfg *g = &p->sec[i];

	if (!strcmp(k, "count"))
		return parse_uint(v, &g->count, 100000);
	if (!strcmp(k, "memory"))
		return vmm_parse_size(v, &g->memory);
	if (!strcmp(k, "backend"))
		return copy_str(g->backend, sizeof(g->backend), v);
	if (!strcmp(k, "paging")) {
		p->paging_set[i] = true;
		return copy_str(g->paging, sizeof(g->paging), v);
	}
	if (!strcmp(k, "shares"))
		return parse_u64(v, &g->shares);
	if (!strcmp(k, "min"))
		return vmm_parse_size(v, &g->min);
	if (!strcmp(k, "max")) {
		p->max_set[i] = true;
		return vmm_parse_size(v, &g->max);
	}
	if (!strcmp(k, "workload"))
		return vmm_workload_is_trace(v) ? set_traces(p, g, v)
						: copy_str(g->workload, sizeof(g->workload), v);
	if (!strcmp(k, "accesses")) {
		p->acc_set[i] = true;
		return parse_u64(v, &g->accesses);
	}
	if (!strcmp(k, "loop"))
		return parse_bool(v, &g->loop);
	if (!strcmp(k, "data_frames"))
		return parse_u64(v, &g->data_frames);
	if (!strcmp(k, "seed"))
		return parse_u64(v, &g->seed);
	if (!strcmp(k, "wss")) {
		p->wss_set[i] = true;
		return vmm_parse_size(v, &g->wss);
	}
	if (!strcmp(k, "write_pct"))
		return parse_uint(v, &g->write_pct, 100);
	if (!strcmp(k, "zipf_theta"))
		return parse_double(v, &g->zipf_theta);
	if (!strcmp(k, "content"))
		return copy_str(g->content, sizeof(g->content), v);
	if (!strcmp(k, "zero_pct"))
		return parse_uint(v, &g->zero_pct, 100);
	if (!strcmp(k, "library_pct"))
		return parse_uint(v, &g->library_pct, 100);
	if (!strcmp(k, "procs"))
		return parse_uint(v, &g->procs, 1024);
	if (!strcmp(k, "timeslice"))
		return parse_u64(v, &g->timeslice);
	if (!strcmp(k, "reclaim"))
		return copy_str(g->reclaim, sizeof(g->reclaim), v);
	if (!strcmp(k, "guest_swap")) {
		p->swap_set[i] = true;
		return vmm_parse_size(v, &g->guest_swap);
	}
	if (!strcmp(k, "sharing"))
		return parse_bool(v, &g->sharing);
	if (!strcmp(k, "scan_rate"))
		return parse_double(v, &g->scan_rate);
	if (!strcmp(k, "sparse_stride"))
		return parse_u64(v, &g->sparse_stride);
	if (!strcmp(k, "churn_region"))
		return vmm_parse_size(v, &g->churn_region);
	if (!strcmp(k, "churn_unmap_pm"))
		return parse_uint(v, &g->churn_unmap_pm, 1000);
	if (!strcmp(k, "churn_life"))
		return parse_u64(v, &g->churn_life);
	if (!strcmp(k, "guest_large"))
		return parse_bool(v, &g->guest_large);
	if (!strcmp(k, "host_large"))
		return parse_bool(v, &g->host_large);
	if (!strcmp(k, "paging_switch_at"))
		return parse_switch_at(v, g);
	if (!strcmp(k, "paging_switch_every"))
		return parse_u64(v, &g->switch_every);
	if (!strcmp(k, "dynamic_window_ms"))
		return parse_double(v, &g->dyn_window_ms);
	if (!strcmp(k, "dynamic_margin"))
		return parse_double(v, &g->dyn_margin);
	if (!strcmp(k, "dynamic_confirm"))
		return parse_uint(v, &g->dyn_confirm, 1000);
	if (!strcmp(k, "dynamic_min_windows"))
		return parse_uint(v, &g->dyn_min_windows, 1000000);
	if (!strcmp(k, "kernel") || !strcmp(k, "initrd")) {
		char *dst = k[0] == 'k' ? g->kernel : g->initrd;
		size_t len = k[0] == 'k' ? sizeof(g->kernel) : sizeof(g->initrd);

		if (copy_str(dst, len, v))
			return -EINVAL;
		/* in the file: relative to its folder; with --set: as given */
		if (!p->where)
			resolve_path(p, dst, len);
		return 0;
	}
	if (!strcmp(k, "cmdline"))
		return copy_str(g->cmdline, sizeof(g->cmdline), v);
	if (!strcmp(k, "vcpus"))
		return parse_uint(v, &g->vcpus, 64);
	if (!strcmp(k, "timeout"))
		return parse_double(v, &g->timeout);
	if (!strcmp(k, "pin_cpu")) {
		unsigned cpu;

		if (parse_uint(v, &cpu, 1023))
			return -EINVAL;
		g->pin_cpu = (int)cpu;
		return 0;
	}
	return config_policy_guest(g, k, v);
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	int r;

	if (!*value) {
		fail(p, section, key, "empty value");
		return 0;
	}
	if (!strcmp(section, "host")) {
		r = set_host(p, key, value);
	} else if (!strcmp(section, "cost")) {
		r = vmm_cost_set(&p->cfg->cost, key, value);
	} else if (!strncmp(section, "guest ", 6) && section[6]) {
		struct vmm_guest_cfg *g = guest_section(p, section, true);

		if (!g) {
			fail(p, section, key, "too many guest sections (at most %d)", MAX_SECTIONS);
			return 0;
		}
		if (strlen(section + 6) > VMM_NAME_MAX - 8 || strpbrk(section + 6, " ,\"<>&/")) {
			fail(p, section, NULL,
			     "guest names are short and have no spaces, commas, "
			     "quotes, slashes or <>&");
			return 0;
		}
		r = set_guest(p, (unsigned)(g - p->sec), key, value);
	} else {
		fail(p, section, key, "unknown section (expected [host], [cost] or [guest NAME])");
		return 0;
	}
	if (r == -ENOENT)
		fail(p, section, key, "unknown key");
	else if (r)
		fail(p, section, key, "bad value '%s'", value);
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
		fail(p, sec, buf + (dot - arg) + 1, "no such guest section in %s", p->cfg->path);
		return;
	}
	handler(p, sec, buf + (dot - arg) + 1, buf + (eq - arg) + 1);
}

/* What only a kvm guest needs; the files themselves are checked when the
 * guest is built (backend_kvm.c). */
static void validate_kvm(struct parse *p, unsigned i)
{
	struct vmm_guest_cfg *g = &p->sec[i];
	const char *s = g->section;
	enum guest_pattern pat;

	if (!g->kernel[0] || !g->initrd[0])
		fail(p, s, g->kernel[0] ? "initrd" : "kernel",
		     "backend kvm needs kernel and initrd (`make kvm-guest` builds "
		     "build/kvm/kernel/vmlinuz and build/kvm/guest.cpio.gz)");
	else if (g->memory % (2u << 20) || g->memory < (16u << 20) || g->memory > (3ull << 30))
		fail(p, s, "memory", "on kvm: a multiple of 2M from 16M to 3G");
	else if (!g->vcpus || g->vcpus > 8)
		fail(p, s, "vcpus", "must be 1 to 8");
	else if (!(g->timeout > 0))
		fail(p, s, "timeout", "must be positive (seconds)");
	else if (vmm_workload_is_trace(g->workload) && !validate_traces(p, i))
		return;
	else if (!vmm_workload_is_trace(g->workload) && strcmp(g->workload, "ptwrite") &&
		 strcmp(g->workload, "none") &&
		 (guest_pattern_parse(g->workload, &pat) || pat == GUEST_PAT_SPARSE ||
		  pat == GUEST_PAT_CHURN || pat == GUEST_PAT_STEPS))
		fail(p, s, "workload",
		     "'%s': on kvm, expected seq, uniform, zipf, ptwrite, none or trace:PATH",
		     g->workload);
	else if (g->nswitch_at || g->switch_every)
		fail(p, s, g->nswitch_at ? "paging_switch_at" : "paging_switch_every",
		     "per-guest switching is the soft backend's (on kvm: memvisor kvm-mode)");
	else if (g->procs != 1)
		fail(p, s, "procs", "the kvm guest runs one process");
	else if (strpbrk(g->cmdline, "\"\n"))
		fail(p, s, "cmdline", "no quotes or newlines");
}

static void validate_guest(struct parse *p, unsigned i)
{
	struct vmm_guest_cfg *g = &p->sec[i];
	const char *s = g->section;
	enum guest_pattern pat;
	enum guest_content con;
	enum guest_reclaim rec;
	bool trace = vmm_workload_is_trace(g->workload);
	const char *why, *key;

	if (!p->max_set[i])
		g->max = g->memory;
	if (!p->wss_set[i])
		g->wss = g->memory / 2;
	if (!p->swap_set[i])
		g->guest_swap = g->memory;
	g->paging_given = p->paging_set[i];
	if (!strcmp(g->backend, "kvm")) {
		if (g->max > g->memory || g->min > g->max)
			fail(p, s, g->min > g->max ? "min" : "max", "need min <= max <= memory");
		else if (g->count == 0)
			fail(p, s, "count", "must be at least 1");
		else if (g->shares == 0)
			fail(p, s, "shares", "must be positive");
		else if (strcmp(g->paging, "nested") && strcmp(g->paging, "shadow"))
			fail(p, s, "paging", "'%s': on kvm, nested or shadow (the host's mode)",
			     g->paging);
		else if (!(g->zipf_theta >= 0 && g->zipf_theta < 1))
			fail(p, s, "zipf_theta", "must be in [0, 1)");
		else if (guest_content_parse(g->content, &con))
			fail(p, s, "content", "'%s': expected zero, private, library or mixed",
			     g->content);
		else if ((why = config_policy_guest_check(g, p->wss_set[i], &key)))
			fail(p, s, key, "%s", why);
		else
			validate_kvm(p, i);
		return;
	}
	why = config_policy_guest_check(g, p->wss_set[i], &key);
	if (why)
		fail(p, s, key, "%s", why);
	else if (g->memory < (1u << 20) || g->memory % MEM_PAGE_SIZE)
		fail(p, s, "memory", "must be at least 1M and a multiple of 4K");
	else if (g->count == 0)
		fail(p, s, "count", "must be at least 1");
	else if (strcmp(g->backend, "soft"))
		fail(p, s, "backend", "'%s': expected soft or kvm", g->backend);
	else if (!vm_paging_initial(g))
		fail(p, s, "paging", "'%s': expected nested, shadow or dynamic", g->paging);
	else if ((g->nswitch_at || g->switch_every) && !strcmp(g->paging, "dynamic"))
		fail(p, s, g->nswitch_at ? "paging_switch_at" : "paging_switch_every",
		     "a schedule needs paging = nested or shadow (dynamic switches by itself)");
	else if (!(g->dyn_window_ms > 0))
		fail(p, s, "dynamic_window_ms", "must be positive");
	else if (!(g->dyn_margin >= 0 && g->dyn_margin < 1))
		fail(p, s, "dynamic_margin", "must be in [0, 1)");
	else if (!g->dyn_confirm)
		fail(p, s, "dynamic_confirm", "must be at least 1");
	else if (g->max > g->memory || g->min > g->max)
		fail(p, s, g->min > g->max ? "min" : "max", "need min <= max <= memory");
	else if (g->shares == 0)
		fail(p, s, "shares", "must be positive");
	else if (!trace && guest_pattern_parse(g->workload, &pat))
		fail(p, s, "workload",
		     "'%s': expected seq, uniform, zipf, sparse, churn, steps or trace:PATH",
		     g->workload);
	else if (!trace && pat == GUEST_PAT_SPARSE &&
		 (!g->sparse_stride || g->sparse_stride > (1u << 20)))
		fail(p, s, "sparse_stride", "must be 1..1048576 pages");
	else if (!trace && pat == GUEST_PAT_CHURN &&
		 (g->churn_region < MEM_PAGE_SIZE || g->churn_region % MEM_PAGE_SIZE ||
		  g->churn_region > g->wss))
		fail(p, s, "churn_region", "must be a multiple of 4K, at most wss");
	else if (g->accesses == 0 && (p->acc_set[i] || !trace))
		fail(p, s, "accesses", "must be positive");
	else if (trace && !validate_traces(p, i))
		return;
	else if (g->wss < MEM_PAGE_SIZE)
		fail(p, s, "wss", "must be at least one page (4K)");
	else if (!(g->zipf_theta >= 0 && g->zipf_theta < 1))
		fail(p, s, "zipf_theta", "must be in [0, 1)");
	else if (guest_content_parse(g->content, &con))
		fail(p, s, "content", "'%s': expected zero, private, library or mixed", g->content);
	else if (g->zero_pct + g->library_pct > 100)
		fail(p, s, "library_pct", "zero_pct + library_pct exceed 100");
	else if (g->procs == 0)
		fail(p, s, "procs", "must be at least 1");
	else if (g->timeslice == 0)
		fail(p, s, "timeslice", "must be positive");
	else if (guest_reclaim_parse(g->reclaim, &rec))
		fail(p, s, "reclaim", "'%s': expected clock, lru or random", g->reclaim);
	else if (!(g->scan_rate >= 0 && g->scan_rate < 1e15))
		fail(p, s, "scan_rate", "must be a number of pages per second, 0 or more");
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
		fail(p, "host", "memory",
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

int vmm_config_load(struct vmm_config *cfg, const char *path, char *const *sets, unsigned nsets,
		    char *err, size_t errlen)
{
	struct parse *p;
	FILE *f;
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	cfg->host.memory = 1ull << 30;
	cfg->host.tlb_entries = 1536;
	cfg->host.tlb_ways = 12;
	cfg->host.shadow_roots = 8;
	cfg->host.sample_ms = 10;
	cfg->host.quantum = 10000;
	cfg->host.library_pages = 4096;
	cfg->host.library_seed = 42;
	cfg->host.scan_rate = 1000000;
	cfg->host.scan_batch = KSM_DEF_BATCH;
	strcpy(cfg->host.scan_order, "random");
	config_policy_host_defaults(&cfg->host);
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
	if (!r && !p->failed) {
		struct vmm_host_cfg *h = &cfg->host;
		enum ksm_order order;

		if (h->memory < (4u << 20) || h->memory % MEM_PAGE_SIZE)
			fail(p, "host", "memory", "must be at least 4M and a multiple of 4K");
		else if (!h->tlb_ways || !h->tlb_entries || h->tlb_entries % h->tlb_ways ||
			 ((h->tlb_entries / h->tlb_ways) & (h->tlb_entries / h->tlb_ways - 1)))
			fail(p, "host", "tlb_entries",
			     "entries / ways must be a power of two (e.g. 1536 / 12 = 128)");
		else if (!h->shadow_roots)
			fail(p, "host", "shadow_roots", "must be at least 1");
		else if (!(h->sample_ms > 0))
			fail(p, "host", "sample_ms", "must be positive");
		else if (!h->quantum)
			fail(p, "host", "quantum", "must be positive");
		else if (!h->library_pages)
			fail(p, "host", "library_pages", "must be positive");
		else if (!(h->scan_rate >= 0 && h->scan_rate < 1e15))
			fail(p, "host", "scan_rate",
			     "must be a number of pages per second, 0 or more");
		else if (!h->scan_batch)
			fail(p, "host", "scan_batch", "must be positive");
		else if (ksm_order_parse(h->scan_order, &order))
			fail(p, "host", "scan_order", "'%s': expected random or sequential",
			     h->scan_order);
		else {
			const char *key, *why = config_policy_host_check(h, &key);

			if (why)
				fail(p, "host", key, "%s", why);
		}
	}
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
