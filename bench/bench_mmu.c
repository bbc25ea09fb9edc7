/* SPDX-License-Identifier: MIT */
/*
 * bench_mmu: the software MMU's throughput under nested paging, against
 * native loads doing the same reads over a plain host buffer.
 *
 * One guest of 64 Ki pages (256 MiB) mapped 4 KiB by 4 KiB at BENCH_VA by a
 * 4-level table the bench writes through mmu_phys (the guest kernel's direct
 * map), every page touched once. Then:
 *   1. TLB hits: sequential 8-byte reads over 64 pages (fits the TLB), and
 *      one read per page in turn over 1024 pages (lookups scan the ways);
 *   2. TLB misses: one 8-byte read per page, striding over all 64 Ki pages
 *      (each access misses a 1536-entry TLB), without and with a walk cache;
 *   3. the same two patterns as native loads over a host buffer.
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

static void row(const char *name, struct result tr, struct result nat)
{
	printf("%-24s %12.1f %12.1f %10.1fx %10.2f\n", name, tr.rate / 1e6, nat.rate / 1e6,
	       nat.rate / tr.rate, tr.refs);
}

int main(void)
{
	struct mmu_config cfg = {0}, cfg_pwc = {.pwc_entries = 16};
	struct mem_pool *pool;
	struct mem_p2m *p2m;
	struct mmu m, mp;
	struct result hit, hit_wide, miss, miss_pwc, nhit, nhit_wide, nmiss;
	uint8_t *buf;
	uint64_t v = 0;
	int r;

	pool = mem_pool_create(BENCH_GUEST + 256);
	if (!pool)
		die("mem_pool_create", -errno);
	p2m = mem_p2m_create(pool, BENCH_GUEST);
	if (!p2m)
		die("mem_p2m_create", -errno);
	r = mmu_init(&m, p2m, &paging_nested_ops, &cfg, bench_exit, p2m);
	if (r)
		die("mmu_init", r);
	r = mmu_init(&mp, p2m, &paging_nested_ops, &cfg_pwc, bench_exit, p2m);
	if (r)
		die("mmu_init", r);
	build_tables(&m);
	mmu_set_cr3(&mp, m.cr3);
	for (uint64_t i = 0; i < BENCH_PAGES; i++) {
		v = i;
		r = mmu_access(&m, BENCH_VA + i * MEM_PAGE_SIZE, &v, 8, MMU_WRITE);
		if (r)
			die("touch", r < 0 ? r : -EFAULT);
	}
	buf = malloc((size_t)BENCH_PAGES * MEM_PAGE_SIZE);
	if (!buf)
		die("malloc", -ENOMEM);
	for (uint64_t i = 0; i < BENCH_PAGES; i++) {
		memset(buf + i * MEM_PAGE_SIZE, 0, MEM_PAGE_SIZE);
		memcpy(buf + i * MEM_PAGE_SIZE, &i, 8);
	}

	printf("bench_mmu: nested paging, %u pages (%u MiB) mapped, TLB %u entries/%u ways\n",
	       BENCH_PAGES, BENCH_PAGES / 256, m.tlb.sets * m.tlb.ways, m.tlb.ways);
	hit = run_hits(&m, HIT_PAGES, 0);
	nhit = native_hits(buf, HIT_PAGES, 0);
	hit_wide = run_hits(&m, WIDE_PAGES, 1);
	nhit_wide = native_hits(buf, WIDE_PAGES, 1);
	miss = run_misses(&m);
	miss_pwc = run_misses(&mp);
	nmiss = native_misses(buf);

	printf("%-24s %12s %12s %11s %10s\n", "pattern", "mmu M/s", "native M/s", "native/mmu",
	       "refs/acc");
	row("TLB hit, 64 pages seq", hit, nhit);
	row("TLB hit, 1024 pages", hit_wide, nhit_wide);
	row("TLB miss, no pwc", miss, nmiss);
	row("TLB miss, pwc 16", miss_pwc, nmiss);
	printf("bench_mmu: %.0f M TLB-hit accesses/s per core (target >= 100 M/s: %s), "
	       "native %.1fx faster; TLB-miss %.1f M/s at %.1f refs/access (%.1f with pwc), "
	       "native %.0fx faster\n",
	       hit.rate / 1e6, hit.rate >= 100e6 ? "met" : "NOT met", nhit.rate / hit.rate,
	       miss.rate / 1e6, miss.refs, miss_pwc.refs, nmiss.rate / miss.rate);

	free(buf);
	mmu_fini(&mp);
	mmu_fini(&m);
	mem_p2m_destroy(p2m);
	mem_pool_destroy(pool);
	return 0;
}
