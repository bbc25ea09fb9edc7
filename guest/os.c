/* SPDX-License-Identifier: MIT */
/* guest OS: boot, processes, scheduler (mem_map and the frame allocator:
 * frames.c). */
/*
 * Design overview.
 *
 * The soft guest OS is a small paging kernel that lives in guest memory and
 * is executed by the host on the guest's behalf: every byte it reads or
 * writes goes through the software MMU, so the VMM sees its memory traffic
 * (page-table writes, mem_map updates, zero-fills, swap I/O copies) exactly
 * as it sees a real kernel's. Host-side state is limited to what a CPU's
 * registers and the kernel's few globals would hold (list heads, counters)
 * and to the workload's write record, which stands apart from guest memory
 * on purpose so that guest_os_verify() can check memory against it.
 *
 * Guest-physical layout:
 *   gfn 0                      reserved (as a real PC's real-mode page)
 *   gfn 1 .. mm_frames         mem_map: one 64-byte struct guest_page per
 *                              guest frame, the entry of gfn at
 *                              4096 + 64 * gfn (guest_mm_gpa)
 *   gfn bl.base .. first_data-1  the balloon driver's rings and buffers
 *                              (none without a balloon device)
 *   gfn first_data .. pages-1  free at boot, linked through mem_map `next`
 *
 * Frames leave the free list as page-table pages (GUEST_PG_PT, freed only
 * when an unmap or an exit empties them) or user data pages
 * (GUEST_PG_USER). User pages also sit on one circular ring through mem_map
 * prev/next, in order of insertion: the clock hand and the LRU order
 * (reclaim.c). Every mem_map access is an 8-, 16-, 64-byte or one-page
 * mmu_phys access.
 *
 * 2 MiB pages (p.large): at boot every 2 MiB aligned block of gfns inside
 * the data frames goes on a second free list (its first frame FREE | HUGE,
 * linked through `next`; the 511 others TAIL), the frames around them on
 * the 4 KiB list. A fault in a 2 MiB aligned stretch of the working set
 * whose PDE is still empty takes a block and maps it with one PDE (PS); the
 * block's first frame then carries USER | HUGE, pid and vpn, and stands for
 * the whole page on the ring. 4 KiB allocations break a block up (into 512
 * free frames) before they reclaim; blocks are never merged again, as a
 * buddy allocator without compaction would leave them.
 *
 * Processes (pids 1..procs) each own a 4-level x86-64 page table (pgtable.c)
 * whose PML4 is allocated at boot; lower tables are allocated on demand by
 * the page-fault handler (fault.c). A process's valid regions (struct
 * guest_vma) are its working set at GUEST_WL_BASE when it runs a generator
 * (workload.c), or the runs of pages its trace touches when it replays one
 * (replay.c). The scheduler switches round robin every `timeslice`
 * accesses, loading CR3, which flushes the untagged TLB. So only the
 * running process can have TLB entries: reclaim invalidates (INVLPG) only
 * for it.
 *
 * Memory pressure: when the free list is empty, or when a user page would
 * exceed the data_frames limit, the allocator evicts one user page
 * (reclaim.c) to guest swap (swap.c), leaving a swap entry in its PTE; a
 * later fault reads it back. When that fails with the free list empty
 * (swap full), a balloon that negotiated deflate-on-OOM gives pages back
 * (balloon.c), as Linux's OOM notifier makes virtio_balloon do. The
 * balloon takes its pages through the same allocator, so inflating makes
 * the guest reclaim its own pages first: the point of ballooning. Boot
 * refuses a guest whose memory cannot hold mem_map, every page table its
 * processes' regions need and GUEST_MIN_DATA_FRAMES data frames
 * (data_frames, if fewer), so eviction always finds a user page to take.
 *
 * Failure: anything the guest itself gets wrong (a fault outside its
 * regions, corrupt mem_map, swap full, a frame the VMM refuses) fails that
 * guest with a message in err[]; guest_os_run() returns the -errno and
 * never crashes the host.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_internal.h"

const char *guest_errname(int err)
{
	switch (err) {
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EIO:
		return "EIO";
	case E2BIG:
		return "E2BIG";
	case EAGAIN:
		return "EAGAIN";
	case ENOMEM:
		return "ENOMEM";
	case EFAULT:
		return "EFAULT";
	case EBUSY:
		return "EBUSY";
	case EINVAL:
		return "EINVAL";
	case EFBIG:
		return "EFBIG";
	case ENOSPC:
		return "ENOSPC";
	case ERANGE:
		return "ERANGE";
	case ENOSYS:
		return "ENOSYS";
	case EOVERFLOW:
		return "EOVERFLOW";
	case EUCLEAN:
		return "EUCLEAN";
	default:
		return NULL;
	}
}

int guest_detail(struct guest_os *g, int r, const char *fmt, ...)
{
	va_list ap;

	if (g->detail[0])
		return r;
	va_start(ap, fmt);
	vsnprintf(g->detail, sizeof(g->detail), fmt, ap);
	va_end(ap);
	return r;
}

int guest_fail_at(struct guest_os *g, uint32_t pid, gva_t va, int r)
{
	const char *en = guest_errname(-r);
	char num[24];

	if (g->failed)
		return g->failed;
	if (r >= 0)
		r = -EIO;
	if (!en) {
		snprintf(num, sizeof(num), "errno %d", -r);
		en = num;
	}
	g->failed = r;
	snprintf(g->err, sizeof(g->err),
		 "guest %s: pid %" PRIu32 " gva 0x%" PRIx64 ": %s: -%s (%s)", g->name, pid, va,
		 g->detail[0] ? g->detail : "access failed", en, strerror(-r));
	return r;
}

int guest_phys(struct guest_os *g, gpa_t pa, void *buf, size_t len, unsigned acc)
{
	int r = mmu_phys(g->m, pa, buf, len, acc);

	if (r)
		return guest_detail(g, r, "kernel %s of %zu bytes at gpa 0x%" PRIx64 " failed",
				    (acc & MMU_WRITE) ? "write" : "read", len, pa);
	return 0;
}

/* ---- processes and scheduling ------------------------------------------ */

struct guest_proc *guest_proc_find(struct guest_os *g, uint32_t pid)
{
	if (pid < 1 || pid > g->nprocs)
		return NULL;
	return &g->procs[pid - 1];
}

static bool guest_proc_done(const struct guest_os *g, const struct guest_proc *pr)
{
	(void)g;
	return pr->wl.issued >= pr->limit;
}

/* Pick the next runnable process round robin; false when all are done. */
static bool guest_sched_next(struct guest_os *g)
{
	for (unsigned i = 1; i <= g->nprocs; i++) {
		unsigned c = (g->cur + i) % g->nprocs;

		if (guest_proc_done(g, &g->procs[c]))
			continue;
		if (c != g->cur) {
			g->cur = c;
			mmu_set_cr3(g->m, g->procs[c].pml4);
			g->st.ctx_switches++;
		}
		g->slice_left = g->p.timeslice;
		return true;
	}
	return false;
}

/* Validate p; a static reason or NULL. */
static const char *guest_params_check(const struct mmu *m, const struct guest_params *p)
{
	const struct guest_workload_params *w = &p->wl;

	if (!p->pages || p->pages > m->p2m->pages)
		return "guest memory size is 0 or larger than the VM's memory";
	if (p->traces) {
		const char *why = guest_replay_check(p);

		if (why)
			return why;
	} else if (!p->procs || p->procs > 65536) {
		return "process count must be 1..65536";
	} else if (!w->wss_pages || w->wss_pages > UINT32_MAX ||
		   w->wss_pages >
		       (UINT64_C(1) << 47) / MEM_PAGE_SIZE - mem_gva_to_vpn(GUEST_WL_BASE)) {
		return "working set size must be 1..2^32-1 pages below the 128 TiB user half";
	}
	if (w->write_pct > 100)
		return "write_pct must be 0..100";
	if (w->content == GUEST_CONTENT_MIXED && w->zero_pct + w->library_pct > 100)
		return "zero_pct + library_pct must not exceed 100";
	if ((w->content == GUEST_CONTENT_LIBRARY ||
	     (w->content == GUEST_CONTENT_MIXED && w->library_pct)) &&
	    (!w->lib || !w->lib->pages))
		return "library content needs a library";
	if (w->pattern == GUEST_PAT_ZIPF && !(w->zipf_theta > 0 && w->zipf_theta < 100))
		return "zipf theta must be in (0, 100)";
	if (w->pattern == GUEST_PAT_SPARSE &&
	    (!w->stride || w->stride > UINT32_MAX ||
	     (w->wss_pages - 1) * w->stride >=
		 (UINT64_C(1) << 47) / MEM_PAGE_SIZE - mem_gva_to_vpn(GUEST_WL_BASE)))
		return "sparse stride must be at least 1 and the working set's span fit in the "
		       "user half";
	if (w->pattern == GUEST_PAT_CHURN &&
	    (!w->region || w->region > w->wss_pages || w->unmap_pm > 1000))
		return "churn needs 1 <= region <= working set and unmap_pm <= 1000";
	if (w->pattern == GUEST_PAT_STEPS) {
		if (!w->nsteps || w->nsteps > GUEST_WL_MAX_STEPS || !w->step_accesses)
			return "steps workload needs 1..16 steps and step_accesses > 0";
		for (unsigned i = 0; i < w->nsteps; i++)
			if ((!w->steps[i] && !w->step_ns) || w->steps[i] > w->wss_pages)
				return "every step must be 1..wss pages (0, idle, by time only)";
	}
	if (p->balloon && (!p->balloon->io_read || !p->balloon->io_write || !p->balloon->clock_ns))
		return "balloon device without its register or clock operations";
	if (w->pattern == GUEST_PAT_STEPS && w->step_ns && (!p->clock_ns || !p->halt_ns))
		return "steps by time need the guest's clock and HLT";
	if (p->swap_pages >= GUEST_SWAP_SLOT_MAX)
		return "swap area too large for a swap entry";
	return NULL;
}

/* Set up process pr's workload and regions, host-side only. 0 or -errno. */
static int guest_proc_init(struct guest_os *g, struct guest_proc *pr, unsigned i)
{
	const struct guest_params *p = &g->p;
	int r;

	pr->pid = i + 1;
	if (p->traces)
		return guest_replay_init(g, pr, &p->traces[i]);
	r = guest_wl_init(&pr->wl, &g->p.wl, p->seed, pr->pid);
	if (r)
		return r;
	pr->vma = malloc(sizeof(*pr->vma));
	if (!pr->vma)
		return -ENOMEM;
	/* one region spanning the working set; with a sparse stride only
	 * every stride-th page of it is valid (guest_proc_has) */
	pr->vma[0].start = g->wl_vpn;
	pr->vma[0].end = g->wl_vpn + (p->wl.wss_pages - 1) * g->stride + 1;
	pr->vma[0].idx = 0;
	pr->nvma = 1;
	pr->npages = pr->vma[0].end - pr->vma[0].start;
	pr->limit = p->wl.accesses;
	return 0;
}

/* The guest's fixed state and guest-physical layout (see the overview):
 * mem_map, the balloon's frames, the first data frame. */
static void guest_layout(struct guest_os *g, struct mmu *m, struct guest_swap *sw,
			 const struct guest_params *p)
{
	g->m = m;
	g->sw = sw;
	g->p = *p;
	snprintf(g->name, sizeof(g->name), "%s", p->name ? p->name : "guest");
	g->p.name = g->name;
	if (!g->p.timeslice)
		g->p.timeslice = 1;
	g->pages = p->pages;
	g->mm_frames = (g->pages * GUEST_MM_ENTRY + MEM_PAGE_SIZE - 1) / MEM_PAGE_SIZE;
	g->bl.ops = p->balloon;
	g->bl.ctx = p->balloon_ctx;
	g->bl.mode = p->balloon_mode;
	g->bl.base = 1 + g->mm_frames;
	g->bl.frames = guest_balloon_probe(p, g->bl.qsize);
	g->first_data = g->bl.base + g->bl.frames;
	g->wl_vpn = mem_gva_to_vpn(GUEST_WL_BASE);
	g->stride = p->wl.pattern == GUEST_PAT_SPARSE ? p->wl.stride : 1;
	guest_rng_seed(&g->rrng, guest_hash4(GUEST_H_RECLAIM, p->seed, 0, 0, 0));
}

struct guest_os *guest_os_create(struct mmu *m, struct guest_swap *sw, const struct guest_params *p,
				 const char **why)
{
	const char *bad = guest_params_check(m, p);
	struct guest_os *g;
	uint64_t need, min_data;
	int err = EINVAL;

	if (bad)
		goto err_why;
	g = calloc(1, sizeof(*g));
	if (!g) {
		err = ENOMEM;
		bad = NULL;
		goto err_why;
	}
	guest_layout(g, m, sw, p);
	g->bounce = malloc(MEM_PAGE_SIZE);
	g->fill = malloc(MEM_PAGE_SIZE);
	g->zero = calloc(1, MEM_PAGE_SIZE);
	g->ptbuf = malloc(MEM_PAGE_SIZE);
	g->nprocs = p->traces ? p->ntraces : p->procs;
	g->procs = calloc(g->nprocs, sizeof(*g->procs));
	if (!g->bounce || !g->fill || !g->zero || !g->ptbuf || !g->procs) {
		err = ENOMEM;
		bad = NULL;
		goto err_free;
	}
	need = g->first_data;
	for (unsigned i = 0; i < g->nprocs; i++) {
		struct guest_proc *pr = &g->procs[i];
		int r = guest_proc_init(g, pr, i);

		if (r) {
			err = -r;
			bad = NULL;
			goto err_free;
		}
		g->pt_need += guest_pt_frames_vmas(pr->vma, pr->nvma);
	}
	need += g->pt_need;
	min_data = p->data_frames && p->data_frames < GUEST_MIN_DATA_FRAMES ? p->data_frames
									    : GUEST_MIN_DATA_FRAMES;
	if (need + min_data > g->pages) {
		bad = "guest memory too small for mem_map, page tables and 8 data frames";
		goto err_free;
	}
	/* From here on failures are the VMM's or the host's, not the
	 * configuration's: no *why, errno says what. */
	bad = NULL;
	err = -guest_boot_mem_map(g);
	if (err)
		goto err_free;
	for (unsigned i = 0; i < g->nprocs; i++) {
		int r = guest_pt_alloc(g, &g->procs[i].pml4);

		if (r) {
			err = -r;
			goto err_free;
		}
	}
	g->cur = 0;
	mmu_set_cr3(m, g->procs[0].pml4);
	g->slice_left = g->p.timeslice;
	err = -guest_balloon_init(g);
	if (err)
		goto err_free;
	return g;

err_free:
	guest_os_destroy(g);
err_why:
	if (why)
		*why = bad;
	errno = err;
	return NULL;
}

void guest_os_destroy(struct guest_os *g)
{
	if (!g)
		return;
	if (g->procs)
		for (unsigned i = 0; i < g->nprocs; i++) {
			guest_wl_fini(&g->procs[i].wl);
			guest_replay_fini(&g->procs[i]);
			free(g->procs[i].vma);
		}
	free(g->procs);
	free(g->bounce);
	free(g->fill);
	free(g->zero);
	free(g->ptbuf);
	free(g);
}

int guest_os_run(struct guest_os *g, uint64_t budget, uint64_t *done)
{
	uint64_t n = 0;

	*done = 0;
	if (g->failed)
		return g->failed;
	while (n < budget) {
		struct guest_proc *pr = &g->procs[g->cur];
		uint64_t chunk;

		/* interrupts and the balloon's pending work, between chunks */
		if (g->bl.irq || g->bl.work) {
			int r = guest_balloon_service(g);

			if (r)
				return guest_fail_at(g, 0, 0, r);
		}

		if (!g->slice_left || guest_proc_done(g, pr)) {
			if (!guest_sched_next(g))
				break;
			pr = &g->procs[g->cur];
		}
		if (g->p.wl.step_ns && !pr->tr) { /* steps by time: the clock now */
			pr->wl.now = g->p.clock_ns(g->p.clock_ctx);
			if (!guest_wl_active(&pr->wl)) {
				/* an idle step: halt until the next one, or the
				 * next timer tick, when interrupts are seen */
				uint64_t left = g->p.wl.step_ns - pr->wl.now % g->p.wl.step_ns;

				g->p.halt_ns(g->p.clock_ctx,
					     left < GUEST_TICK_NS ? left : GUEST_TICK_NS);
				g->st.halts++;
				break;
			}
		}
		chunk = budget - n;
		if (chunk > g->slice_left)
			chunk = g->slice_left;
		if ((g->p.wl.step_ns || g->bl.work) && chunk > GUEST_CLOCK_CHUNK)
			chunk = GUEST_CLOCK_CHUNK;
		if (chunk > pr->limit - pr->wl.issued)
			chunk = pr->limit - pr->wl.issued;
		if (pr->tr) {
			uint64_t k;
			int r = guest_replay_run(g, pr, chunk, &k);

			if (r) {
				*done = n + k;
				return r;
			}
		}
		for (uint64_t i = 0; !pr->tr && i < chunk; i++) {
			int r = guest_wl_step(g, pr);

			if (r) {
				*done = n + i;
				return r;
			}
		}
		n += chunk;
		g->slice_left -= chunk;
	}
	*done = n;
	return 0;
}

bool guest_os_done(const struct guest_os *g)
{
	if (g->failed)
		return true;
	for (unsigned i = 0; i < g->nprocs; i++)
		if (!guest_proc_done(g, &g->procs[i]))
			return false;
	return true;
}

const char *guest_os_error(const struct guest_os *g)
{
	return g->err; /* "" while the guest has not failed */
}

void guest_os_interrupt(struct guest_os *g)
{
	g->bl.irq = true;
}

const char *guest_balloon_error(const struct guest_os *g)
{
	return g->bl.err;
}

void guest_os_stats(const struct guest_os *g, struct guest_stats *st)
{
	*st = g->st;
	st->frames_free = g->nfree + g->nhfree * MEM_HUGE_PAGES;
	st->frames_kernel = g->first_data;
	st->frames_pt = g->npt;
	st->frames_user = guest_user_frames(g);
	st->frames_balloon = g->bl.npages;
	st->balloon_target = g->bl.target;
	st->wl_active = 0;
	for (unsigned i = 0; i < g->nprocs; i++) {
		const struct guest_proc *pr = &g->procs[i];

		if (!guest_proc_done(g, pr))
			st->wl_active += pr->tr ? pr->npages : guest_wl_active(&pr->wl);
	}
}

void guest_os_dump_roots(const struct guest_os *g, FILE *f)
{
	for (unsigned i = 0; i < g->nprocs; i++)
		fprintf(f, "%" PRIu32 " 0x%" PRIx64 "\n", g->procs[i].pid, g->procs[i].pml4);
}
