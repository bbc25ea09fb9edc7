/* SPDX-License-Identifier: MIT */
/* guest replay: trace workloads, their regions, their accesses and their verification. */
/*
 * Design overview.
 *
 * A trace process replays the records of one pid of a binary trace
 * (traces/), read through its own cursor in batches of GUEST_REPLAY_BATCH,
 * as the guest OS's workload: the same scheduler, the same fault handler,
 * page tables, reclaim and swap as a generator process, and every access
 * through the MMU. Only where the addresses and bytes come from differs.
 *
 * Regions. The trace's summary lists, per pid, the runs of consecutive
 * pages the trace touches; each run becomes one region (struct
 * guest_vma), so the process's address space is exactly the trace's, the
 * boot-time memory check counts exactly the page tables those regions
 * need, and a fault outside them (a trace whose records disagree with its
 * summary) fails the guest instead of mapping a page nobody asked for.
 *
 * Accesses. A record is one workload access, issued as one MMU access per
 * 4 KiB page it covers, lowest first, each followed by the LRU touch when
 * the guest runs exact LRU: a page-crossing access is two page touches in
 * order, which is the sequence an LRU simulation of the trace's pages sees,
 * and a fault on the second page cannot undo the first. Loads and fetches
 * translate and count but copy nothing (their bytes are not used); stores
 * and modifies write bytes that are a function of the process's store
 * count (guest.h says which); content records write their whole page.
 *
 * Verification. Nothing is recorded per access: the trace is the record.
 * guest_replay_verify() opens a second cursor, replays the same number of
 * records the process ran (looping as it did) into expected copies of the
 * pages, at most GUEST_VERIFY_PAGES at a time (a trace whose footprint is
 * larger takes one pass over the records per group), and compares each
 * page with guest memory read through the p2m or guest swap. So a lost
 * write, a stale swap copy, a page mapped at the wrong address or a flipped
 * byte anywhere in a touched page is caught, and an untouched page must
 * have no PTE at all, unless it lies in a 2 MiB page (p.large) or in one
 * split to swap: then it must read as zeros.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_internal.h"

#define GUEST_VERIFY_PAGES 4096 /* 16 MiB of expected pages per pass */

struct guest_replay {
	const struct guest_trace *t; /* borrowed from the guest's params */
	uint64_t wbase;		     /* store words: util_mix64(wbase + n) */
	uint64_t stores;	     /* S and M records issued */
	struct guest_treader rd;
	uint8_t buf[MEM_PAGE_SIZE]; /* loads land here; stores start here */
};

int guest_treader_init(struct guest_treader *rd, const struct guest_trace *t)
{
	rd->cur = trace_cursor_create(t->tf, t->pid);
	rd->loop = t->loop;
	rd->n = rd->at = 0;
	return rd->cur ? 0 : -ENOMEM;
}

int guest_treader_next(struct guest_treader *rd, const struct trace_rec **out, char *why,
		       size_t len)
{
	if (rd->at == rd->n) {
		long n = trace_cursor_read(rd->cur, rd->batch, GUEST_REPLAY_BATCH);

		if (n == 0 && rd->loop && !trace_cursor_seek(rd->cur, 0))
			n = trace_cursor_read(rd->cur, rd->batch, GUEST_REPLAY_BATCH);
		if (n < 0) {
			snprintf(why, len, "%s", trace_cursor_error(rd->cur));
			return (int)n;
		}
		if (n == 0) {
			snprintf(why, len, "trace ended before its summary's record count");
			return -EIO;
		}
		rd->n = n;
		rd->at = 0;
	}
	*out = &rd->batch[rd->at++];
	return 0;
}

const char *guest_replay_check(const struct guest_params *p)
{
	if (!p->ntraces || p->ntraces > 65536)
		return "trace process count must be 1..65536";
	for (unsigned i = 0; i < p->ntraces; i++) {
		const struct guest_trace *t = &p->traces[i];
		const struct trace_summary *s = t->tf ? trace_file_summary(t->tf) : NULL;
		const struct trace_proc *tp = s ? trace_summary_proc(s, t->pid) : NULL;

		if (!tp)
			return "the trace has no record of the process to replay";
		if (t->loop && !p->wl.accesses)
			return "a looping trace needs a number of accesses";
		if (tp->nruns > UINT32_MAX)
			return "the trace's address space has too many regions";
		for (uint64_t j = 0; j < tp->nruns; j++)
			if (tp->runs[j].vpn + tp->runs[j].pages >
			    (UINT64_C(1) << 47) / MEM_PAGE_SIZE)
				return "the trace touches addresses beyond the 47-bit user half";
		if (s->by_kind[TRACE_IMAGE] && s->max_image)
			return "the trace fills pages from an image other than image 0 (the "
			       "library), which guests do not have";
		if (s->by_kind[TRACE_IMAGE] && (!p->wl.lib || !p->wl.lib->pages))
			return "the trace fills pages from the library image, but the guest has "
			       "none";
	}
	return NULL;
}

uint64_t guest_trace_table_frames(const struct guest_trace *t)
{
	const struct trace_proc *tp = trace_summary_proc(trace_file_summary(t->tf), t->pid);
	uint64_t frames = 1;

	if (!tp)
		return 0;
	/* as guest_pt_frames_vmas(), over the trace's runs */
	for (unsigned shift = 9; shift <= 27; shift += 9) {
		uint64_t last = UINT64_MAX;

		for (uint64_t j = 0; j < tp->nruns; j++) {
			uint64_t lo = tp->runs[j].vpn >> shift,
				 hi = (tp->runs[j].vpn + tp->runs[j].pages - 1) >> shift;

			frames += hi - lo + 1 - (lo == last);
			last = hi;
		}
	}
	return frames;
}

int guest_replay_init(struct guest_os *g, struct guest_proc *pr, const struct guest_trace *t)
{
	const struct trace_proc *tp = trace_summary_proc(trace_file_summary(t->tf), t->pid);
	uint64_t acc = g->p.wl.accesses;
	int r;

	pr->tr = calloc(1, sizeof(*pr->tr));
	pr->vma = calloc(tp->nruns ? tp->nruns : 1, sizeof(*pr->vma));
	if (!pr->tr || !pr->vma)
		return -ENOMEM;
	for (uint64_t j = 0; j < tp->nruns; j++) {
		pr->vma[j].start = tp->runs[j].vpn;
		pr->vma[j].end = tp->runs[j].vpn + tp->runs[j].pages;
		pr->vma[j].idx = pr->npages;
		pr->npages += tp->runs[j].pages;
	}
	pr->nvma = (unsigned)tp->nruns;
	pr->limit = !acc ? tp->records : t->loop ? acc : acc < tp->records ? acc : tp->records;
	pr->tr->t = t;
	pr->tr->wbase = guest_hash4(GUEST_H_TSTORE, g->p.seed, pr->pid, 0, 0);
	r = guest_treader_init(&pr->tr->rd, t);
	return r;
}

void guest_replay_fini(struct guest_proc *pr)
{
	if (!pr->tr)
		return;
	trace_cursor_destroy(pr->tr->rd.cur);
	free(pr->tr);
	pr->tr = NULL;
}

void guest_replay_private_page(uint64_t seed, uint8_t *buf)
{
	struct guest_rng r;

	guest_rng_seed(&r, guest_hash4(GUEST_H_TPRIV, seed, 0, 0, 0));
	for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i++) {
		uint64_t v = guest_rng_next(&r);

		memcpy(buf + 8 * i, &v, 8);
	}
}

/* The page a content record writes: g->zero, a library page, or buf. */
static const uint8_t *replay_content(const struct guest_os *g, const struct trace_rec *r,
				     uint8_t *buf)
{
	const struct guest_library *lib = g->p.wl.lib;

	switch (r->kind) {
	case TRACE_ZERO:
		return g->zero;
	case TRACE_IMAGE:
		return lib->data + (r->arg % lib->pages) * MEM_PAGE_SIZE;
	default:
		guest_replay_private_page(r->arg, buf);
		return buf;
	}
}

/* MMU access kind of each record kind. */
static const unsigned replay_acc[TRACE_NKINDS] = {
    [TRACE_INSTR] = MMU_FETCH,	 [TRACE_LOAD] = MMU_READ,  [TRACE_STORE] = MMU_WRITE,
    [TRACE_MODIFY] = MMU_WRITE,	 [TRACE_ZERO] = MMU_WRITE, [TRACE_IMAGE] = MMU_WRITE,
    [TRACE_PRIVATE] = MMU_WRITE,
};

/* One record: its pages in order, each an MMU access and, under exact
 * LRU, a touch. 0 or -errno with the guest failed. */
static inline int replay_one(struct guest_os *g, struct guest_proc *pr, const struct trace_rec *r,
			     bool lru)
{
	struct guest_replay *t = pr->tr;
	unsigned acc = replay_acc[r->kind];
	const uint8_t *content = NULL;
	uint64_t w = 0, len = r->size;
	gva_t va = r->addr;
	int e;

	if (trace_kind_is_content(r->kind))
		content = replay_content(g, r, t->buf);
	else if (acc == MMU_WRITE)
		w = util_mix64(t->wbase + t->stores++);
	do {
		size_t n = MEM_PAGE_SIZE - (va & (MEM_PAGE_SIZE - 1));
		/* a load's or fetch's bytes are not wanted: the access alone */
		void *data = content ? (void *)content : acc == MMU_WRITE ? t->buf : NULL;

		if (n > len)
			n = (size_t)len;
		if (!content && acc == MMU_WRITE)
			guest_replay_store_bytes(w, va, n, t->buf);
		e = guest_access(g, pr, va, data, n, acc);
		if (e)
			return e;
		if (lru) {
			e = guest_lru_touch(g, g->m->last_gfn);
			if (e)
				return guest_fail_at(g, pr->pid, va, e);
		}
		va += n;
		len -= n;
	} while (len);
	return 0;
}

/* The records from rd->at on (at most max, up to the end of the batch)
 * that the page run takes: done there, a store's bytes written straight
 * into its page. Returns how many; rd->at is past them. */
static uint64_t replay_in_run(struct guest_replay *restrict t, struct mmu_run *restrict run,
			      struct guest_treader *restrict rd, uint64_t max)
{
	const struct trace_rec *restrict b = rd->batch;
	size_t at = (size_t)rd->at, end = (size_t)rd->n, first = at;
	uint64_t wbase = t->wbase, stores = t->stores;

	if (end - at > max)
		end = at + (size_t)max;
	for (; at < end; at++) {
		const struct trace_rec *r = &b[at];
		unsigned acc = replay_acc[r->kind];
		uint8_t *h;

		if (trace_kind_is_content(r->kind))
			break;
		h = mmu_run_next(run, r->addr, r->size, acc);
		if (!h)
			break;
		if (acc == MMU_WRITE)
			guest_replay_store_bytes(util_mix64(wbase + stores++), r->addr, r->size, h);
	}
	t->stores = stores;
	rd->at = (long)at;
	return at - first;
}

/*
 * Up to n records of pr. Without exact LRU (whose touch of every access
 * reads the guest's mem_map) the records that stay on pages the last few
 * touched go through the MMU as a page run (mem/mmu.h), which leaves the
 * same counts and TLB state as one access each; the others one by one.
 */
int guest_replay_run(struct guest_os *g, struct guest_proc *pr, uint64_t n, uint64_t *done)
{
	struct guest_treader *rd = &pr->tr->rd;
	bool lru = g->p.reclaim == GUEST_RECLAIM_LRU;
	struct mmu_run run;
	uint64_t k = 0;
	int e = 0;

	memset(&run, 0, sizeof(run));
	while (k < n && !e) {
		const struct trace_rec *r;

		if (rd->at == rd->n) {
			/* refill; guest_treader_next takes the first record */
			e = guest_treader_next(rd, &r, g->detail, sizeof(g->detail));
			if (e) {
				e = guest_fail_at(g, pr->pid, 0, e);
				break;
			}
			rd->at--;
		}
		if (!lru) {
			k += replay_in_run(pr->tr, &run, rd, n - k);
			if (k == n || rd->at == rd->n)
				continue;
			mmu_run_end(g->m, &run);
		}
		r = &rd->batch[rd->at];
		e = replay_one(g, pr, r, lru);
		if (e)
			break;
		if (!lru)
			mmu_run_note(g->m, &run, r->addr + (r->size ? r->size - 1 : 0));
		rd->at++;
		k++;
	}
	mmu_run_end(g->m, &run);
	pr->wl.issued += k;
	g->st.accesses += k;
	*done = k;
	return e;
}

/* ---- verification ------------------------------------------------------- */

struct replay_expect {
	uint64_t base, count; /* page indices [base, base + count) */
	uint8_t *page;	      /* count expected pages */
	uint8_t *touched;     /* count flags */
};

/* Apply record r (store word w) to the expected pages in e. */
static int expect_apply(const struct guest_os *g, const struct guest_proc *pr,
			struct replay_expect *e, const struct trace_rec *r, uint64_t w,
			uint8_t *scratch)
{
	const uint8_t *content =
	    trace_kind_is_content(r->kind) ? replay_content(g, r, scratch) : NULL;
	bool store = r->kind == TRACE_STORE || r->kind == TRACE_MODIFY;
	uint64_t len = r->size;
	gva_t va = r->addr;

	do {
		size_t off = va & (MEM_PAGE_SIZE - 1), n = MEM_PAGE_SIZE - off;
		uint64_t vpn = mem_gva_to_vpn(va), idx;
		const struct guest_vma *v = guest_vma_find(pr, vpn);

		if (!v)
			return -EFAULT;
		idx = v->idx + (vpn - v->start);
		if (n > len)
			n = (size_t)len;
		if (idx >= e->base && idx - e->base < e->count) {
			uint8_t *p = e->page + (idx - e->base) * MEM_PAGE_SIZE;

			e->touched[idx - e->base] = 1;
			if (content)
				memcpy(p, content, MEM_PAGE_SIZE);
			else if (store)
				guest_replay_store_bytes(w, va, n, p + off);
		}
		va += n;
		len -= n;
	} while (len);
	return 0;
}

/* Replay pr's records into e. 0 or -errno with msg. */
static int expect_fill(const struct guest_os *g, const struct guest_proc *pr,
		       struct replay_expect *e, uint8_t *scratch, char *msg, size_t msglen)
{
	struct guest_treader *rd = malloc(sizeof(*rd));
	uint64_t stores = 0;
	char why[640];
	int r;

	if (!rd)
		return -ENOMEM;
	r = guest_treader_init(rd, pr->tr->t);
	for (uint64_t k = 0; !r && k < pr->wl.issued; k++) {
		const struct trace_rec *rec;
		uint64_t w = 0;

		r = guest_treader_next(rd, &rec, why, sizeof(why));
		if (r) {
			snprintf(msg, msglen, "guest %s: pid %" PRIu32 ": verify: %s", g->name,
				 pr->pid, why);
			break;
		}
		if (rec->kind == TRACE_STORE || rec->kind == TRACE_MODIFY)
			w = util_mix64(pr->tr->wbase + stores++);
		r = expect_apply(g, pr, e, rec, w, scratch);
		if (r)
			snprintf(msg, msglen,
				 "guest %s: pid %" PRIu32 ": verify: record %" PRIu64
				 " at 0x%" PRIx64 " is outside the process's regions",
				 g->name, pr->pid, k, rec->addr);
	}
	trace_cursor_destroy(rd->cur);
	free(rd);
	return r;
}

/* Compare pages [e->base, +count) of pr with e. */
static int expect_check(struct guest_os *g, const struct guest_proc *pr,
			const struct replay_expect *e, struct guest_vcache *c, uint8_t *act,
			char *msg, size_t msglen)
{
	for (unsigned i = 0; i < pr->nvma; i++) {
		const struct guest_vma *v = &pr->vma[i];

		for (uint64_t vpn = v->start; vpn < v->end; vpn++) {
			uint64_t idx = v->idx + (vpn - v->start), pte = 0;
			gva_t va = mem_vpn_to_gva(vpn);
			char where[48];
			int r;

			if (idx < e->base || idx - e->base >= e->count)
				continue;
			r = guest_vwalk(c, pr->pml4, va, &pte);
			if (r == -EIO) {
				snprintf(msg, msglen,
					 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64
					 ": page table unreadable",
					 g->name, pr->pid, va);
				return -EIO;
			}
			/* an untouched page may sit in a 2 MiB page, or in one
			 * that was split to swap: then it must read as zeros */
			if (!e->touched[idx - e->base] && r != 1 && !(g->p.large && pte)) {
				if (!pte)
					continue;
				snprintf(msg, msglen,
					 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64
					 ": never touched but its PTE is 0x%" PRIx64,
					 g->name, pr->pid, va, pte);
				return -EIO;
			}
			r = guest_verify_read(g, pr, va, pte, act, where, sizeof(where), msg,
					      msglen);
			if (!r)
				r = guest_verify_page(g, pr, va, where,
						      e->page + (idx - e->base) * MEM_PAGE_SIZE,
						      act, msg, msglen);
			if (r)
				return r;
		}
	}
	return 0;
}

int guest_replay_verify(struct guest_os *g, const struct guest_proc *pr, char *msg, size_t msglen)
{
	uint64_t group = pr->npages < GUEST_VERIFY_PAGES ? pr->npages : GUEST_VERIFY_PAGES;
	struct replay_expect e = {0};
	struct guest_vcache c;
	uint8_t *scratch = malloc(6 * MEM_PAGE_SIZE);
	int r = 0;

	e.page = malloc((group ? group : 1) * MEM_PAGE_SIZE);
	e.touched = malloc(group ? group : 1);
	if (!scratch || !e.page || !e.touched) {
		snprintf(msg, msglen, "guest %s: verify: out of host memory", g->name);
		r = -ENOMEM;
		goto out;
	}
	guest_vcache_init(&c, g, scratch);
	for (e.base = 0; !r && e.base < pr->npages; e.base += group) {
		e.count = pr->npages - e.base < group ? pr->npages - e.base : group;
		memset(e.page, 0, e.count * MEM_PAGE_SIZE);
		memset(e.touched, 0, e.count);
		r = expect_fill(g, pr, &e, scratch + 4 * MEM_PAGE_SIZE, msg, msglen);
		if (!r)
			r = expect_check(g, pr, &e, &c, scratch + 5 * MEM_PAGE_SIZE, msg, msglen);
	}
out:
	free(scratch);
	free(e.page);
	free(e.touched);
	return r;
}
