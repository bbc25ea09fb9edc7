/* SPDX-License-Identifier: MIT */
/*
 * Trace workloads of guests: `workload = trace:PATH[,trace:PATH...]`.
 *
 * Each trace file of a guest's workload is opened once per guest (the
 * mapping is shared by the page cache; validating it again costs a
 * checksum pass) and stays open for the guest's lifetime: its processes'
 * cursors read from it. Every address space (pid) of every trace becomes
 * one guest process, `procs` times over, each in its own page tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "traces/traces.h"
#include "vmm-core/soft/soft.h"

struct vm_traces {
	struct trace_file **tf;
	unsigned ntf;
	struct guest_trace *gt; /* the guest's processes */
	unsigned ngt;
};

bool vmm_workload_is_trace(const char *w)
{
	return !strncmp(w, VMM_TRACE_PREFIX, strlen(VMM_TRACE_PREFIX));
}

int vmm_trace_foreach(const char *w, int (*fn)(void *ctx, const char *path), void *ctx)
{
	const size_t plen = strlen(VMM_TRACE_PREFIX);

	while (*w) {
		const char *end = strchr(w, ','), *s = w;
		char path[VMM_WORKLOAD_MAX];
		size_t n;
		int r;

		if (!end)
			end = w + strlen(w);
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		n = (size_t)(end - s);
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n <= plen || strncmp(s, VMM_TRACE_PREFIX, plen) || n - plen >= sizeof(path))
			return -EINVAL;
		memcpy(path, s + plen, n - plen);
		path[n - plen] = 0;
		r = fn(ctx, path);
		if (r)
			return r;
		w = *end ? end + 1 : end;
	}
	return 0;
}

struct open_ctx {
	struct vm_traces *t;
	char *err;
	size_t errlen;
};

static int open_one(void *arg, const char *path)
{
	struct open_ctx *c = arg;
	struct trace_file **n = realloc(c->t->tf, (c->t->ntf + 1) * sizeof(*n));

	if (!n) {
		snprintf(c->err, c->errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c->t->tf = n;
	n[c->t->ntf] = trace_open(path, 0, c->err, c->errlen);
	if (!n[c->t->ntf])
		return errno ? -errno : -EINVAL;
	c->t->ntf++;
	return 0;
}

void vm_traces_close(struct vm *vm)
{
	struct soft_vm *sv = soft_vm(vm);
	struct vm_traces *t = sv->traces;

	if (!t)
		return;
	for (unsigned i = 0; i < t->ntf; i++)
		trace_close(t->tf[i]);
	free(t->tf);
	free(t->gt);
	free(t);
	sv->traces = NULL;
}

int vm_traces_open(struct vm *vm, const struct vmm_guest_cfg *cfg, struct guest_params *gp,
		   char *err, size_t errlen)
{
	struct soft_vm *sv = soft_vm(vm);
	struct open_ctx c = {.err = err, .errlen = errlen};
	unsigned n = 0;
	int r;

	c.t = sv->traces = calloc(1, sizeof(*sv->traces));
	if (!c.t) {
		snprintf(err, errlen, "guest %s: out of memory", cfg->name);
		return -ENOMEM;
	}
	r = vmm_trace_foreach(cfg->workload, open_one, &c);
	if (r == -EINVAL && !err[0])
		snprintf(err, errlen, "guest %s: bad trace workload '%s'", cfg->name,
			 cfg->workload);
	if (r)
		return r;
	for (unsigned i = 0; i < c.t->ntf; i++)
		n += trace_file_summary(c.t->tf[i])->nprocs * cfg->procs;
	if (!n || n > 65536) {
		snprintf(err, errlen, "guest %s: its traces hold %u processes (1..65536 allowed)",
			 cfg->name, n);
		return -EINVAL;
	}
	c.t->gt = calloc(n, sizeof(*c.t->gt));
	if (!c.t->gt) {
		snprintf(err, errlen, "guest %s: out of memory", cfg->name);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c.t->ntf; i++) {
		const struct trace_summary *s = trace_file_summary(c.t->tf[i]);

		for (unsigned j = 0; j < s->nprocs; j++)
			for (unsigned k = 0; k < cfg->procs; k++)
				c.t->gt[c.t->ngt++] = (struct guest_trace){
				    .tf = c.t->tf[i], .pid = s->procs[j].pid, .loop = cfg->loop};
	}
	gp->traces = c.t->gt;
	gp->ntraces = c.t->ngt;
	return 0;
}
