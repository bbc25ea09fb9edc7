/* SPDX-License-Identifier: MIT */
/*
 * bench_mmu: the software MMU's throughput under nested and shadow paging,
 * side by side, against native loads doing the same reads over a plain
 * host buffer.
 *
 * Two guests (one per mode) of 64 Ki pages (256 MiB) each, mapped 4 KiB by
 * 4 KiB at BENCH_VA by a 4-level table written through mmu_phys (the guest
 * kernel's direct map), every page touched once. Then, in each mode:
 *   1. TLB hits: sequential 8-byte reads over 64 pages (fits the TLB), and
 *      one read per page in turn over 1024 pages (lookups scan the ways);
 *   2. TLB misses: one 8-byte read per page, striding over all 64 Ki pages
 *      (each access misses a 1536-entry TLB); nested also with a walk cache;
 *   3. a clock step: clear the A bit of a page's PTE (a page-table store),
 *      INVLPG it, read it (which walks and sets A again): the software cost
 *      of keeping shadow tables in sync, against nested paging's none;
 *   4. the same read patterns as native loads over a host buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mem/mem.h"

#define BENCH_PAGES	(64u * 1024)	      /* mapped guest pages, 256 MiB */
#define BENCH_GUEST	(BENCH_PAGES + 1024u) /* guest memory: data + tables */
#define BENCH_TABLE_GFN 1		      /* guest tables from here */
#define BENCH_DATA_GFN	1024		      /* data pages from here */
#define BENCH_VA	0x00007f0000000000ull
#define HIT_PAGES	64   /* sequential reads: one way of 64 sets */
#define WIDE_PAGES	1024 /* one read per page in turn: 8 ways of every set */
#define HIT_ACCESSES	200000000ull
#define MISS_PASSES	32
#define CLOCK_PAGES	BENCH_PAGES

static volatile uint64_t sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_mmu: %s: %s\n", what, strerror(-err));
	exit(1);
}

static int bench_exit(void *ctx, const struct mmu_exit *x)
{
	struct mem_p2m *p2m = ctx;
	hfn_t h;

	if (x->reason == MMU_EXIT_CR3_WRITE || x->reason == MMU_EXIT_INVLPG ||
	    mem_p2m_state(p2m, x->gfn) != MEM_UNTOUCHED)
		return 0;
	return mem_p2m_populate(p2m, x->gfn, &h);
}

static void phys_wr(struct mmu *m, gpa_t pa, uint64_t v)
{
	int r = mmu_phys(m, pa, &v, sizeof(v), MMU_WRITE);

	if (r)
		die("mmu_phys", r);
}

static uint64_t phys_rd(struct mmu *m, gpa_t pa)
{
	uint64_t v;
	int r = mmu_phys(m, pa, &v, sizeof(v), MMU_READ);

	if (r)
		die("mmu_phys", r);
	return v;
}

/* gpa of the PTE of va (tables built). */
static gpa_t pte_gpa(struct mmu *m, gva_t va)
{
	gpa_t table = m->cr3 & PTE_ADDR_MASK;

	for (int level = 4; level > 1; level--)
		table = phys_rd(m, table + 8 * pte_index(va, level)) & PTE_ADDR_MASK;
	return table + 8 * pte_index(va, 1);
}

/* Map BENCH_PAGES pages at BENCH_VA to gfns from BENCH_DATA_GFN. */
static void build_tables(struct mmu *m)
{
	gfn_t next = BENCH_TABLE_GFN;
	gpa_t root = mem_gfn_to_gpa(next++);

	mmu_set_cr3(m, root);
	for (uint64_t i = 0; i < BENCH_PAGES; i++) {
		gva_t va = BENCH_VA + i * MEM_PAGE_SIZE;
		gpa_t table = root;

		for (int level = 4; level > 1; level--) {
			gpa_t ea = table + 8 * pte_index(va, level);
			uint64_t e = phys_rd(m, ea);

			if (!(e & PTE_P)) {
				e = mem_gfn_to_gpa(next++) | PTE_P | PTE_W | PTE_U;
				phys_wr(m, ea, e);
			}
			table = e & PTE_ADDR_MASK;
		}
		phys_wr(m, table + 8 * pte_index(va, 1),
			mem_gfn_to_gpa(BENCH_DATA_GFN + i) | PTE_P | PTE_W | PTE_U);
	}
}

struct result {
	double rate; /* accesses per second */
	double refs; /* walk references per access */
	uint64_t accesses;
};

/*
 * Offset of access i in a TLB-hit pattern over `pages` pages (a power of
 * two): sequential 8-byte reads (stride 0), or one read per page in turn
 * (stride 1), which spreads the pages over every way of the sets.
 */
static inline uint64_t hit_off(uint64_t i, uint64_t pages, int stride)
{
	if (!stride)
		return (i * 8) & (pages * MEM_PAGE_SIZE - 1);
	return (i & (pages - 1)) * MEM_PAGE_SIZE +
	       (((i >> __builtin_ctzll(pages)) * 8) & (MEM_PAGE_SIZE - 1));
}

static struct result run_hits(struct mmu *m, uint64_t pages, int stride)
{
	uint64_t sum = 0, v, refs0 = m->st.walk_refs;
	struct result res = {0};
	double t0;

	for (uint64_t i = 0; i < pages; i++) /* warm the TLB */
		if (mmu_access(m, BENCH_VA + i * MEM_PAGE_SIZE, &v, 8, MMU_READ))
			die("mmu_access", -EFAULT);
	refs0 = m->st.walk_refs;
	t0 = now();
	for (uint64_t i = 0; i < HIT_ACCESSES; i++) {
		if (mmu_access(m, BENCH_VA + hit_off(i, pages, stride), &v, 8, MMU_READ))
			die("mmu_access", -EFAULT);
		sum += v;
	}
	res.rate = (double)HIT_ACCESSES / (now() - t0);
	res.refs = (double)(m->st.walk_refs - refs0) / (double)HIT_ACCESSES;
	res.accesses = HIT_ACCESSES;
	sink = sum;
	return res;
}

static struct result run_misses(struct mmu *m)
{
	uint64_t sum = 0, v, n = (uint64_t)MISS_PASSES * BENCH_PAGES;
	uint64_t refs0 = m->st.walk_refs, miss0 = m->st.tlb_misses;
	struct result res = {0};
	double t0;

	mmu_set_cr3(m, m->cr3); /* nothing left over from earlier runs */
	t0 = now();
	for (unsigned p = 0; p < MISS_PASSES; p++)
		for (uint64_t i = 0; i < BENCH_PAGES; i++) {
			int r =
			    mmu_access(m, BENCH_VA + i * MEM_PAGE_SIZE + p * 8, &v, 8, MMU_READ);

			if (r)
				die("mmu_access", r < 0 ? r : -EFAULT);
			sum += v;
		}
	res.rate = (double)n / (now() - t0);
	res.refs = (double)(m->st.walk_refs - refs0) / (double)n;
	if (m->st.tlb_misses - miss0 != n)
		fprintf(stderr, "bench_mmu: warning: %" PRIu64 " misses for %" PRIu64 " accesses\n",
			m->st.tlb_misses - miss0, n);
	res.accesses = n;
	sink = sum;
	return res;
}

static struct result native_hits(const uint8_t *buf, uint64_t pages, int stride)
{
	uint64_t sum = 0, v;
	struct result res = {0};
	double t0 = now();

	for (uint64_t i = 0; i < HIT_ACCESSES; i++) {
		memcpy(&v, buf + hit_off(i, pages, stride), 8);
		sum += v;
		/* keep the loop scalar, as the translated one is */
		__asm__ volatile("" : "+r"(sum));
	}
	res.rate = (double)HIT_ACCESSES / (now() - t0);
	res.accesses = HIT_ACCESSES;
	sink = sum;
	return res;
}

static struct result native_misses(const uint8_t *buf)
{
	uint64_t sum = 0, v, n = (uint64_t)MISS_PASSES * BENCH_PAGES;
	struct result res = {0};
	double t0 = now();

	for (unsigned p = 0; p < MISS_PASSES; p++)
		for (uint64_t i = 0; i < BENCH_PAGES; i++) {
			memcpy(&v, buf + i * MEM_PAGE_SIZE + p * 8, 8);
			sum += v;
			__asm__ volatile("" : "+r"(sum));
		}
	res.rate = (double)n / (now() - t0);
	res.accesses = n;
	sink = sum;
	return res;
}

/* One clock step per page over `pages` pages: clear A in its PTE through
 * the direct map, INVLPG, read it. */
static struct result run_clock(struct mmu *m, uint64_t pages)
{
	uint64_t v, sum = 0, exits0 = 0, exits = 0;
	struct result res = {0};
	double t0;

	for (int r = 0; r < MMU_EXIT_NR; r++)
		exits0 += m->st.exits[r];
	t0 = now();
	for (uint64_t i = 0; i < pages; i++) {
		gva_t va = BENCH_VA + i * MEM_PAGE_SIZE;
		gpa_t pte = pte_gpa(m, va);

		phys_wr(m, pte, phys_rd(m, pte) & ~PTE_A);
		mmu_invlpg(m, va);
		if (mmu_access(m, va, &v, 8, MMU_READ))
			die("mmu_access", -EFAULT);
		sum += v;
	}
	res.rate = (double)pages / (now() - t0);
	for (int r = 0; r < MMU_EXIT_NR; r++)
		exits += m->st.exits[r];
	res.refs = (double)(exits - exits0) / (double)pages; /* exits per step */
	res.accesses = pages;
	sink = sum;
	return res;
}

struct guest {
	struct mem_pool *pool;
	struct mem_p2m *p2m;
	struct mmu m;
};

/* A guest in mode ops, its tables built and every page written once. */
static void guest_init(struct guest *g, const struct paging_ops *ops)
{
	struct mmu_config cfg = {0};
	uint64_t v;
	int r;

	g->pool = mem_pool_create(BENCH_GUEST + 1024);
	if (!g->pool)
		die("mem_pool_create", -errno);
	g->p2m = mem_p2m_create(g->pool, BENCH_GUEST);
	if (!g->p2m)
		die("mem_p2m_create", -errno);
	r = mmu_init(&g->m, g->p2m, ops, &cfg, bench_exit, g->p2m);
	if (r)
		die("mmu_init", r);
	build_tables(&g->m);
	for (uint64_t i = 0; i < BENCH_PAGES; i++) {
		v = i;
		r = mmu_access(&g->m, BENCH_VA + i * MEM_PAGE_SIZE, &v, 8, MMU_WRITE);
		if (r)
			die("touch", r < 0 ? r : -EFAULT);
	}
}

static void guest_fini(struct guest *g)
{
	mmu_fini(&g->m);
	mem_p2m_destroy(g->p2m);
	mem_pool_destroy(g->pool);
}

/* A row of the table; sh.accesses == 0 means "not measured in shadow". */
static void row(const char *name, struct result n, struct result sh, struct result nat)
{
	char srate[16] = "-", srefs[16] = "-";

	if (sh.accesses) {
		snprintf(srate, sizeof(srate), "%.1f", sh.rate / 1e6);
		snprintf(srefs, sizeof(srefs), "%.2f", sh.refs);
	}
	printf("%-26s %10.1f %10s %10.1f %9.2f %9s\n", name, n.rate / 1e6, srate, nat.rate / 1e6,
	       n.refs, srefs);
}

int main(void)
{
	struct mmu_config cfg_pwc = {.pwc_entries = 16};
	struct guest gn, gs;
	struct mmu mp;
	struct result hit[2], wide[2], miss[2], clk[2], miss_pwc, nhit, nwide, nmiss, none = {0};
	uint8_t *buf;
	int r;

	guest_init(&gn, &paging_nested_ops);
	guest_init(&gs, &paging_shadow_ops);
	r = mmu_init(&mp, gn.p2m, &paging_nested_ops, &cfg_pwc, bench_exit, gn.p2m);
	if (r)
		die("mmu_init", r);
	mmu_set_cr3(&mp, gn.m.cr3);
	buf = malloc((size_t)BENCH_PAGES * MEM_PAGE_SIZE);
	if (!buf)
		die("malloc", -ENOMEM);
	for (uint64_t i = 0; i < BENCH_PAGES; i++) {
		memset(buf + i * MEM_PAGE_SIZE, 0, MEM_PAGE_SIZE);
		memcpy(buf + i * MEM_PAGE_SIZE, &i, 8);
	}

	printf("bench_mmu: nested and shadow paging, %u pages (%u MiB) mapped per guest, "
	       "TLB %u entries/%u ways\n",
	       BENCH_PAGES, BENCH_PAGES / 256, gn.m.tlb.sets * gn.m.tlb.ways, gn.m.tlb.ways);
	for (int k = 0; k < 2; k++) {
		struct mmu *m = k ? &gs.m : &gn.m;

		hit[k] = run_hits(m, HIT_PAGES, 0);
		wide[k] = run_hits(m, WIDE_PAGES, 1);
		miss[k] = run_misses(m);
	}
	miss_pwc = run_misses(&mp);
	nhit = native_hits(buf, HIT_PAGES, 0);
	nwide = native_hits(buf, WIDE_PAGES, 1);
	nmiss = native_misses(buf);
	clk[0] = run_clock(&gn.m, CLOCK_PAGES);
	clk[1] = run_clock(&gs.m, CLOCK_PAGES);

	printf("%-26s %10s %10s %10s %9s %9s\n", "pattern (M/s)", "nested", "shadow", "native",
	       "refs n", "refs s");
	row("TLB hit, 64 pages seq", hit[0], hit[1], nhit);
	row("TLB hit, 1024 pages", wide[0], wide[1], nwide);
	row("TLB miss, no pwc", miss[0], miss[1], nmiss);
	row("TLB miss, nested pwc 16", miss_pwc, none, nmiss);
	printf("%-26s %10.2f %10.2f %10s %9.2f %9.2f   (exits per step)\n",
	       "clock step: store,INVLPG,rd", clk[0].rate / 1e6, clk[1].rate / 1e6, "-",
	       clk[0].refs, clk[1].refs);
	printf("bench_mmu: %.0f M TLB-hit accesses/s per core under nested, %.0f M under shadow "
	       "(target >= 100 M/s: %s), native %.1fx faster; TLB-miss %.1f M/s nested at "
	       "%.1f refs/access (%.1f with pwc), %.1f M/s shadow at %.1f refs/access (%.1fx "
	       "nested), native %.0fx faster than nested; a clock step %.2f M/s nested, %.2f M/s "
	       "shadow (%.1f exits each)\n",
	       hit[0].rate / 1e6, hit[1].rate / 1e6,
	       hit[0].rate >= 100e6 && hit[1].rate >= 100e6 ? "met" : "NOT met",
	       nhit.rate / hit[0].rate, miss[0].rate / 1e6, miss[0].refs, miss_pwc.refs,
	       miss[1].rate / 1e6, miss[1].refs, miss[1].rate / miss[0].rate,
	       nmiss.rate / miss[0].rate, clk[0].rate / 1e6, clk[1].rate / 1e6, clk[1].refs);

	free(buf);
	mmu_fini(&mp);
	guest_fini(&gs);
	guest_fini(&gn);
	return 0;
}
