/* SPDX-License-Identifier: MIT */
/* traces pageset: the distinct pages a trace touches, and its summary. */
/*
 * The writer feeds every record through here to build the summary it
 * stores in the file: per process, records by kind, bytes, the distinct
 * 4 KiB pages touched (all, and by data accesses), the address range and
 * the touched pages as runs of consecutive pages, which is what a replayer
 * needs to lay out the address space before the first access.
 *
 * The set is an open-addressing hash table of (pid, vpn) keys with linear
 * probing, kept at most half full and doubled when it would not be. Each
 * slot carries two bits: touched by an instruction fetch, touched by a
 * data access. Consecutive records mostly touch the page the previous
 * record of the same stream touched, so the last page seen for fetches and
 * for data is remembered and the table is not probed for it again.
 *
 * At the end the slots are sorted by (pid, vpn) and merged into runs.
 */
#include <errno.h>
#include <stdlib.h>

#include "traces/traces_internal.h"

#define PS_I 1u /* touched by an instruction fetch */
#define PS_D 2u /* touched by a data access or content */

struct ps_slot {
	uint64_t vpn;
	uint32_t pid;
	uint32_t flags; /* 0: empty slot */
};

struct trace_pageset {
	struct ps_slot *slot;
	uint64_t nslots; /* a power of two */
	uint64_t used;
	struct trace_proc *procs; /* counters only; runs filled at the end */
	unsigned nprocs, cap;
	unsigned cur; /* index of the last pid's entry */
	uint32_t max_image;
	/* the last page seen per stream, to skip the table */
	uint64_t last_vpn[2];
	uint32_t last_pid[2];
	bool last_valid[2];
};

static inline uint64_t ps_hash(uint32_t pid, uint64_t vpn)
{
	uint64_t x = vpn * 0x9e3779b97f4a7c15ull ^ (uint64_t)pid * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 32);
}

struct trace_pageset *trace_pageset_create(void)
{
	struct trace_pageset *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->nslots = 1024;
	ps->slot = calloc(ps->nslots, sizeof(*ps->slot));
	if (!ps->slot) {
		free(ps);
		return NULL;
	}
	return ps;
}

void trace_pageset_destroy(struct trace_pageset *ps)
{
	if (!ps)
		return;
	free(ps->slot);
	free(ps->procs);
	free(ps);
}

static int ps_grow(struct trace_pageset *ps)
{
	uint64_t n = ps->nslots * 2;
	struct ps_slot *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint64_t i = 0; i < ps->nslots; i++) {
		const struct ps_slot *o = &ps->slot[i];
		uint64_t h;

		if (!o->flags)
			continue;
		for (h = ps_hash(o->pid, o->vpn) & (n - 1); s[h].flags; h = (h + 1) & (n - 1))
			;
		s[h] = *o;
	}
	free(ps->slot);
	ps->slot = s;
	ps->nslots = n;
	return 0;
}

/* The counters of pid, created on first use. */
static struct trace_proc *ps_proc(struct trace_pageset *ps, uint32_t pid)
{
	if (ps->nprocs && ps->procs[ps->cur].pid == pid)
		return &ps->procs[ps->cur];
	for (unsigned i = 0; i < ps->nprocs; i++)
		if (ps->procs[i].pid == pid) {
			ps->cur = i;
			return &ps->procs[i];
		}
	if (ps->nprocs == ps->cap) {
		unsigned cap = ps->cap ? ps->cap * 2 : 4;
		struct trace_proc *n = realloc(ps->procs, cap * sizeof(*n));

		if (!n)
			return NULL;
		ps->procs = n;
		ps->cap = cap;
	}
	ps->cur = ps->nprocs++;
	memset(&ps->procs[ps->cur], 0, sizeof(ps->procs[0]));
	ps->procs[ps->cur].pid = pid;
	ps->procs[ps->cur].addr_lo = UINT64_MAX;
	return &ps->procs[ps->cur];
}

/* Mark (pid, vpn) with flag f; count it in pr when new. */
static int ps_mark(struct trace_pageset *ps, struct trace_proc *pr, uint64_t vpn, uint32_t f)
{
	uint64_t mask = ps->nslots - 1, h = ps_hash(pr->pid, vpn) & mask;
	struct ps_slot *s;

	for (;; h = (h + 1) & mask) {
		s = &ps->slot[h];
		if (!s->flags)
			break;
		if (s->vpn == vpn && s->pid == pr->pid) {
			if (f & ~s->flags) {
				if (f == PS_D)
					pr->data_pages++;
				s->flags |= f;
			}
			return 0;
		}
	}
	if (2 * (ps->used + 1) > ps->nslots) {
		int r = ps_grow(ps);

		if (r)
			return r;
		return ps_mark(ps, pr, vpn, f);
	}
	s->vpn = vpn;
	s->pid = pr->pid;
	s->flags = f;
	ps->used++;
	pr->pages++;
	if (f == PS_D)
		pr->data_pages++;
	return 0;
}

int trace_pageset_add(struct trace_pageset *ps, const struct trace_rec *r)
{
	struct trace_proc *pr = ps_proc(ps, r->pid);
	uint64_t first, last, end;
	unsigned st = r->kind == TRACE_INSTR ? 0 : 1;
	uint32_t f = st ? PS_D : PS_I;

	if (!pr)
		return -ENOMEM;
	pr->records++;
	pr->by_kind[r->kind]++;
	pr->bytes += r->size;
	if (r->kind == TRACE_IMAGE && r->image > ps->max_image)
		ps->max_image = r->image;
	if (!trace_rec_pages(r, &first, &last))
		return -EINVAL;
	end = r->addr + (r->size ? r->size - 1 : 0);
	if (r->addr < pr->addr_lo)
		pr->addr_lo = r->addr;
	if (end > pr->addr_hi)
		pr->addr_hi = end;
	for (uint64_t vpn = first;; vpn++) {
		if (!(ps->last_valid[st] && ps->last_vpn[st] == vpn &&
		      ps->last_pid[st] == r->pid)) {
			int e = ps_mark(ps, pr, vpn, f);

			if (e)
				return e;
			ps->last_vpn[st] = vpn;
			ps->last_pid[st] = r->pid;
			ps->last_valid[st] = true;
		}
		if (vpn == last)
			break;
	}
	return 0;
}

static int ps_cmp(const void *a, const void *b)
{
	const struct ps_slot *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->vpn < y->vpn ? -1 : x->vpn > y->vpn;
}

static int proc_cmp(const void *a, const void *b)
{
	const struct trace_proc *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

void trace_summary_free(struct trace_summary *s)
{
	for (unsigned i = 0; s->procs && i < s->nprocs; i++)
		free(s->procs[i].runs);
	free(s->procs);
	memset(s, 0, sizeof(*s));
}

/* Totals of s from its processes. */
static void summary_totals(struct trace_summary *s)
{
	s->records = s->bytes = s->pages = s->data_pages = 0;
	memset(s->by_kind, 0, sizeof(s->by_kind));
	for (unsigned i = 0; i < s->nprocs; i++) {
		const struct trace_proc *p = &s->procs[i];

		s->records += p->records;
		s->bytes += p->bytes;
		s->pages += p->pages;
		s->data_pages += p->data_pages;
		for (int k = 0; k < TRACE_NKINDS; k++)
			s->by_kind[k] += p->by_kind[k];
	}
}

int trace_pageset_summary(const struct trace_pageset *ps, struct trace_summary *s)
{
	struct ps_slot *all = malloc((ps->used ? ps->used : 1) * sizeof(*all));
	uint64_t n = 0, at = 0;

	memset(s, 0, sizeof(*s));
	if (!all)
		return -ENOMEM;
	for (uint64_t i = 0; i < ps->nslots; i++)
		if (ps->slot[i].flags)
			all[n++] = ps->slot[i];
	qsort(all, n, sizeof(*all), ps_cmp);
	s->procs = calloc(ps->nprocs ? ps->nprocs : 1, sizeof(*s->procs));
	if (!s->procs) {
		free(all);
		return -ENOMEM;
	}
	if (ps->nprocs)
		memcpy(s->procs, ps->procs, ps->nprocs * sizeof(*s->procs));
	s->nprocs = ps->nprocs;
	qsort(s->procs, s->nprocs, sizeof(*s->procs), proc_cmp);
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct trace_proc *p = &s->procs[i];
		uint64_t end = at, runs = 0;

		p->runs = NULL;
		p->nruns = 0;
		while (end < n && all[end].pid == p->pid)
			end++;
		for (uint64_t j = at; j < end; j++)
			if (j == at || all[j].vpn != all[j - 1].vpn + 1)
				runs++;
		p->runs = malloc((runs ? runs : 1) * sizeof(*p->runs));
		if (!p->runs) {
			free(all);
			trace_summary_free(s);
			return -ENOMEM;
		}
		for (uint64_t j = at; j < end; j++) {
			if (j == at || all[j].vpn != all[j - 1].vpn + 1)
				p->runs[p->nruns++] = (struct trace_run){all[j].vpn, 0};
			p->runs[p->nruns - 1].pages++;
		}
		if (!p->records)
			p->addr_lo = 0;
		at = end;
	}
	free(all);
	s->max_image = ps->max_image;
	summary_totals(s);
	return 0;
}

const struct trace_proc *trace_summary_proc(const struct trace_summary *s, uint32_t pid)
{
	for (unsigned i = 0; i < s->nprocs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

/* ---- serialization ------------------------------------------------------ */

#define SUM_PROC_WORDS (8 + TRACE_NKINDS) /* varints per process, before runs */

uint8_t *trace_summary_encode(const struct trace_summary *s, size_t *len)
{
	size_t cap = 40;
	uint8_t *buf, *p;

	for (unsigned i = 0; i < s->nprocs; i++)
		cap += 10 * (SUM_PROC_WORDS + 2 * s->procs[i].nruns);
	buf = malloc(cap);
	if (!buf)
		return NULL;
	p = trace_put_varint(buf, s->records);
	p = trace_put_varint(p, s->max_image);
	p = trace_put_varint(p, s->nprocs);
	for (unsigned i = 0; i < s->nprocs; i++) {
		const struct trace_proc *pr = &s->procs[i];
		uint64_t next = 0;

		p = trace_put_varint(p, pr->pid);
		p = trace_put_varint(p, pr->records);
		for (int k = 0; k < TRACE_NKINDS; k++)
			p = trace_put_varint(p, pr->by_kind[k]);
		p = trace_put_varint(p, pr->bytes);
		p = trace_put_varint(p, pr->pages);
		p = trace_put_varint(p, pr->data_pages);
		p = trace_put_varint(p, pr->addr_lo);
		p = trace_put_varint(p, pr->addr_hi);
		p = trace_put_varint(p, pr->nruns);
		for (uint64_t j = 0; j < pr->nruns; j++) {
			p = trace_put_varint(p, pr->runs[j].vpn - next);
			p = trace_put_varint(p, pr->runs[j].pages);
			next = pr->runs[j].vpn + pr->runs[j].pages;
		}
	}
	*len = (size_t)(p - buf);
	return buf;
}

/* Parse one process; false with *why on malformed input. */
static bool summary_proc_decode(const uint8_t **pp, const uint8_t *end, struct trace_proc *pr,
				uint32_t prev_pid, bool first, const char **why)
{
	uint64_t v, next = 0, pages = 0, kinds = 0;

	*why = "summary: malformed process entry";
	if (!trace_get_varint(pp, end, &v) || v > UINT32_MAX || (!first && v <= prev_pid))
		return false;
	pr->pid = (uint32_t)v;
	if (!trace_get_varint(pp, end, &pr->records))
		return false;
	for (int k = 0; k < TRACE_NKINDS; k++) {
		if (!trace_get_varint(pp, end, &pr->by_kind[k]))
			return false;
		kinds += pr->by_kind[k];
	}
	if (kinds != pr->records || !trace_get_varint(pp, end, &pr->bytes) ||
	    !trace_get_varint(pp, end, &pr->pages) || !trace_get_varint(pp, end, &pr->data_pages) ||
	    !trace_get_varint(pp, end, &pr->addr_lo) || !trace_get_varint(pp, end, &pr->addr_hi) ||
	    !trace_get_varint(pp, end, &pr->nruns))
		return false;
	/* each run takes two bytes at least: bound the allocation by input */
	if (pr->data_pages > pr->pages || pr->nruns > (uint64_t)(end - *pp) / 2 ||
	    pr->nruns > pr->pages)
		return false;
	pr->runs = malloc((pr->nruns ? pr->nruns : 1) * sizeof(*pr->runs));
	if (!pr->runs) {
		*why = "summary: out of memory";
		return false;
	}
	*why = "summary: malformed page runs";
	for (uint64_t j = 0; j < pr->nruns; j++) {
		uint64_t gap, len;

		if (!trace_get_varint(pp, end, &gap) || !trace_get_varint(pp, end, &len) || !len ||
		    (j && !gap) || gap > (UINT64_MAX >> TRACE_PAGE_SHIFT) - next ||
		    len > (UINT64_MAX >> TRACE_PAGE_SHIFT) + 1 - (next + gap))
			return false;
		pr->runs[j].vpn = next + gap;
		pr->runs[j].pages = len;
		next = next + gap + len;
		pages += len;
	}
	if (pages != pr->pages)
		return false;
	return true;
}

int trace_summary_decode(const uint8_t *p, size_t len, struct trace_summary *s, const char **why)
{
	const uint8_t *end = p + len;
	uint64_t records, max_image, nprocs;

	memset(s, 0, sizeof(*s));
	*why = "summary: malformed header";
	if (!trace_get_varint(&p, end, &records) || !trace_get_varint(&p, end, &max_image) ||
	    max_image > UINT32_MAX || !trace_get_varint(&p, end, &nprocs) ||
	    nprocs > (uint64_t)(end - p) / SUM_PROC_WORDS)
		return -EINVAL;
	s->procs = calloc(nprocs ? nprocs : 1, sizeof(*s->procs));
	if (!s->procs)
		return -ENOMEM;
	s->nprocs = (unsigned)nprocs;
	s->max_image = (uint32_t)max_image;
	for (unsigned i = 0; i < s->nprocs; i++)
		if (!summary_proc_decode(&p, end, &s->procs[i], i ? s->procs[i - 1].pid : 0, i == 0,
					 why)) {
			trace_summary_free(s);
			return -EINVAL;
		}
	summary_totals(s);
	if (p != end || s->records != records) {
		*why = "summary: totals do not add up";
		trace_summary_free(s);
		return -EINVAL;
	}
	return 0;
}
