/* SPDX-License-Identifier: MIT */
/* trace: memvisor-guest's trace workload: replay binary traces in a Linux guest. */
/*
 * Design
 *
 * The soft guests replay a trace through their own page tables and MMU
 * (guest/replay.c); a Linux guest replays it on real memory of real
 * processes, so its kernel demand-pages, reclaims and swaps the trace's
 * pages and gives them up to the balloon as it would a program's. The
 * bytes are the soft guests' (guest.h): store n of a process writes the
 * word util_mix64(h(seed, k, TSTORE) + n) at its natural alignment,
 * content records write a zero, library or private page, so a trace
 * leaves the same page contents on both backends.
 *
 * memvisor appends the traces to the initramfs as /trace/0.mvt, 1.mvt, ...
 * (vmm-core/kvm_boot.c); --trace_dir names another folder (the end-to-end
 * tests run the program on the host). Each address space (pid) of each trace becomes one
 * child process, k = 0, 1, ... in trace order then pid order, all running
 * at once as the soft guest's trace processes do. A child maps each run of
 * consecutive pages the trace's summary lists as one anonymous mapping (its
 * own address, found by binary search over the runs: the trace's addresses
 * belong to another program's address space), replays its records in
 * order, each split at page boundaries, then verifies: it reads the trace
 * again into expected pages, 16 MiB of them at a time, and compares every
 * page of every run, so a lost store, a stale swap-in or a page the kernel
 * zeroed by mistake is caught, and a page the trace never wrote must read
 * as zeros. A record outside the summary's runs (a trace that contradicts
 * its own summary) fails the process.
 *
 * A child sends its counts to the parent as one fixed-size message on a
 * pipe (atomic below PIPE_BUF); the parent sums them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/inguest/inguest.h"

#define VERIFY_PAGES 4096u /* expected pages per verification pass */

struct run {
	uint64_t vpn, pages, idx; /* idx: the run's first page among all */
	uint8_t *mem;
};

struct tproc {
	const struct trace_file *tf;
	uint32_t pid;
	struct run *runs;
	uint64_t nruns, npages;
	uint64_t limit; /* records to replay */
	bool loop;
	uint64_t wbase; /* store words: util_mix64(wbase + n) */
	const struct guest_library *lib;
	uint8_t *touched; /* one flag per page */
	bool flip;	  /* flip a byte before verifying (tests) */
	char err[160];
};

/* The message a child sends. */
struct tmsg {
	uint64_t records, pages, mismatches;
	int status; /* 0, or a negative errno */
	char err[160];
};

static struct run *run_of(const struct tproc *p, uint64_t vpn)
{
	uint64_t lo = 0, hi = p->nruns;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const struct run *r = &p->runs[mid];

		if (vpn < r->vpn)
			hi = mid;
		else if (vpn >= r->vpn + r->pages)
			lo = mid + 1;
		else
			return &p->runs[mid];
	}
	return NULL;
}

/* The page a content record writes. */
static const uint8_t *content_page(const struct tproc *p, const struct trace_rec *r, uint8_t *buf)
{
	if (r->kind == TRACE_ZERO) {
		memset(buf, 0, MEM_PAGE_SIZE);
	} else if (r->kind == TRACE_IMAGE && p->lib && p->lib->pages) {
		return p->lib->data + (r->arg % p->lib->pages) * MEM_PAGE_SIZE;
	} else {
		guest_replay_private_page(r->arg, buf);
	}
	return buf;
}

/*
 * Apply record r (store word w) page by page: to the process's memory
 * (expect == NULL; loads read it), or to the expected pages of page
 * indices [base, base + count) (expect != NULL). 0, or -EFAULT with p->err
 * naming the record when it leaves the summary's runs.
 */
static int apply(struct tproc *p, const struct trace_rec *r, uint64_t w, uint64_t nrec,
		 uint8_t *expect, uint64_t base, uint64_t count, uint64_t *sink)
{
	uint8_t buf[MEM_PAGE_SIZE];
	const uint8_t *content = trace_kind_is_content(r->kind) ? content_page(p, r, buf) : NULL;
	bool store = r->kind == TRACE_STORE || r->kind == TRACE_MODIFY;
	uint64_t va = r->addr, len = r->size ? r->size : 1;

	do {
		size_t off = va & (MEM_PAGE_SIZE - 1), n = MEM_PAGE_SIZE - off;
		const struct run *run = run_of(p, va / MEM_PAGE_SIZE);
		uint64_t idx;
		uint8_t *page;

		if (!run) {
			snprintf(p->err, sizeof(p->err),
				 "pid %u record %llu: address %#llx is outside the trace's summary",
				 p->pid, (unsigned long long)nrec, (unsigned long long)va);
			return -EFAULT;
		}
		idx = run->idx + (va / MEM_PAGE_SIZE - run->vpn);
		if (n > len)
			n = (size_t)len;
		if (!expect) {
			page = run->mem + (idx - run->idx) * MEM_PAGE_SIZE;
			p->touched[idx] = 1;
		} else if (idx >= base && idx - base < count) {
			page = expect + (idx - base) * MEM_PAGE_SIZE;
		} else {
			page = NULL;
		}
		if (page && content) {
			memcpy(page, content, MEM_PAGE_SIZE);
		} else if (page && store && r->size) {
			guest_replay_store_bytes(w, va, n, page + off);
		} else if (page && !expect && r->size) {
			uint8_t v[8] = {0};

			memcpy(v, page + off, n < 8 ? n : 8); /* the load */
			*sink += v[0];
		}
		va += n;
		len -= n;
	} while (len);
	return 0;
}

/* Replay (expect == NULL) or recompute pages [base, base + count). */
static int pass(struct tproc *p, uint8_t *expect, uint64_t base, uint64_t count, uint64_t *sink)
{
	const struct guest_trace t = {.tf = p->tf, .pid = p->pid, .loop = p->loop};
	struct guest_treader *rd = malloc(sizeof(*rd));
	uint64_t stores = 0;
	int e;

	if (!rd)
		return -ENOMEM;
	e = guest_treader_init(rd, &t);
	for (uint64_t k = 0; k < p->limit && !e; k++) {
		const struct trace_rec *r = NULL;
		uint64_t w = 0;

		e = guest_treader_next(rd, &r, p->err, sizeof(p->err));
		if (e)
			break;
		if (r->kind == TRACE_STORE || r->kind == TRACE_MODIFY)
			w = util_mix64(p->wbase + stores++);
		e = apply(p, r, w, k, expect, base, count, sink);
	}
	trace_cursor_destroy(rd->cur);
	free(rd);
	return e;
}

/* Compare every page with its expected bytes, 16 MiB at a time. */
static int verify(struct tproc *p, uint64_t *bad)
{
	uint8_t *expect = malloc((size_t)VERIFY_PAGES * MEM_PAGE_SIZE);
	uint64_t sink = 0;
	int e = 0;

	if (!expect)
		return -ENOMEM;
	for (uint64_t base = 0; base < p->npages && !e; base += VERIFY_PAGES) {
		uint64_t count = p->npages - base < VERIFY_PAGES ? p->npages - base : VERIFY_PAGES;

		memset(expect, 0, (size_t)count * MEM_PAGE_SIZE);
		e = pass(p, expect, base, count, &sink);
		for (uint64_t j = 0; j < p->nruns && !e; j++) {
			const struct run *r = &p->runs[j];

			for (uint64_t i = 0; i < r->pages; i++) {
				uint64_t idx = r->idx + i;

				if (idx >= base && idx - base < count &&
				    memcmp(r->mem + i * MEM_PAGE_SIZE,
					   expect + (idx - base) * MEM_PAGE_SIZE, MEM_PAGE_SIZE))
					(*bad)++;
			}
		}
	}
	free(expect);
	return e;
}

static int setup(struct tproc *p, const struct trace_proc *tp)
{
	p->runs = calloc(tp->nruns ? tp->nruns : 1, sizeof(*p->runs));
	if (!p->runs)
		return -ENOMEM;
	for (uint64_t j = 0; j < tp->nruns; j++) {
		struct run *r = &p->runs[j];

		r->vpn = tp->runs[j].vpn;
		r->pages = tp->runs[j].pages;
		r->idx = p->npages;
		p->npages += r->pages;
		r->mem = mmap(NULL, r->pages * MEM_PAGE_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (r->mem == MAP_FAILED)
			return -errno;
		p->nruns = j + 1;
	}
	p->touched = calloc(p->npages ? p->npages : 1, 1);
	return p->touched ? 0 : -ENOMEM;
}

/* A child: replay, verify, send the counts. Does not return. */
static void child(struct tproc *p, const struct trace_proc *tp, int fd, unsigned hold)
{
	struct tmsg m = {0};
	uint64_t sink = 0;

	m.status = setup(p, tp);
	if (!m.status)
		m.status = pass(p, NULL, 0, 0, &sink);
	if (!m.status) {
		m.records = p->limit;
		for (uint64_t i = 0; i < p->npages; i++)
			m.pages += p->touched[i];
		if (hold)
			sleep(hold);
		if (p->flip && p->nruns) /* the tests' proof that verify looks */
			p->runs[0].mem[0] ^= 1;
		m.status = verify(p, &m.mismatches);
	}
	snprintf(m.err, sizeof(m.err), "%s", p->err[0] || !m.status ? p->err : strerror(-m.status));
	if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(3);
	_exit(sink == 1 ? 4 : 0); /* keeps the loads */
}

int inguest_traces(const struct inguest_trace_opts *o, struct inguest_trace_result *res)
{
	struct trace_file *tf[INGUEST_MAX_TRACES] = {0};
	unsigned nchild = 0;
	int fds[2], e = 0;

	memset(res, 0, sizeof(*res));
	if (!o->ntraces || o->ntraces > INGUEST_MAX_TRACES || pipe(fds))
		return -EINVAL;
	for (unsigned t = 0; t < o->ntraces && !e; t++) {
		char path[4200], err[256];
		const struct trace_summary *s;

		snprintf(path, sizeof(path), "%s/%u.mvt", o->dir ? o->dir : "/trace", t);
		tf[t] = trace_open(path, 0, err, sizeof(err));
		if (!tf[t]) {
			snprintf(res->err, sizeof(res->err), "%.159s", err);
			e = -EINVAL;
			break;
		}
		s = trace_file_summary(tf[t]);
		for (unsigned i = 0; i < s->nprocs; i++) {
			const struct trace_proc *tp = &s->procs[i];
			struct tproc p = {
			    .tf = tf[t],
			    .pid = tp->pid,
			    .loop = o->loop,
			    .lib = o->lib,
			    .flip = o->flip,
			    .wbase = guest_hash4(GUEST_H_TSTORE, o->seed, nchild, 0, 0),
			};
			pid_t c;

			p.limit = !o->accesses				 ? tp->records
				  : o->loop || o->accesses < tp->records ? o->accesses
									 : tp->records;
			fflush(stdout);
			c = fork();
			if (c < 0) {
				e = -errno;
				break;
			}
			if (c == 0) {
				close(fds[0]);
				child(&p, tp, fds[1], o->hold);
			}
			nchild++;
		}
	}
	close(fds[1]);
	for (unsigned i = 0; i < nchild; i++) {
		struct tmsg m;

		if (read(fds[0], &m, sizeof(m)) != (ssize_t)sizeof(m)) {
			snprintf(res->err, sizeof(res->err), "a trace process died");
			e = e ? e : -EIO;
			continue;
		}
		res->records += m.records;
		res->pages += m.pages;
		res->mismatches += m.mismatches;
		if (m.status && !e) {
			snprintf(res->err, sizeof(res->err), "%s", m.err);
			e = m.status;
		}
	}
	while (wait(NULL) > 0)
		;
	close(fds[0]);
	res->procs = nchild;
	for (unsigned t = 0; t < o->ntraces; t++)
		trace_close(tf[t]);
	return e;
}
