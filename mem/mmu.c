/* SPDX-License-Identifier: MIT */
/*
 * mmu: the software MMU's slow paths: TLB misses, page-crossing accesses,
 * the guest kernel's direct map, CR3 and INVLPG, exits, run-time mode
 * switches, and the table of paging modes.
 *
 * The fast path (mmu_access in mem.h) completes a single-page access that
 * hits a 4 KiB TLB entry with permission. Everything else lands here: the
 * access is split at page boundaries, and each page is one access that
 * looks up the TLB (its 4 KiB entry, then the 2 MiB entry covering it) and,
 * on a miss or a missing permission (a write to an entry without MEM_TLB_W,
 * a user access without MEM_TLB_U, a fetch from MEM_TLB_NX), calls the
 * mode's translate, which walks, faults or fills the TLB; the lookup is
 * then retried. A translate that returns 0 must leave an entry that grants
 * the access: that is the mode's contract, checked here. A translate that
 * returns MMU_EMULATE (a store to a write-protected guest page table through
 * a virtual mapping, under shadow paging) has the page's part of the access
 * done through the mode's phys, which emulates it.
 *
 * The direct map (mmu_phys) has its own small TLB, ptlb, keyed by gfn. An
 * entry carries MEM_TLB_W only when the access that filled it was a write
 * and the mode left MEM_TLB_W in the flags it returned: a read fill does
 * not know whether the mode would allow a write, and a write-protected
 * guest page table must see every later write.
 */
#include <assert.h>
#include <errno.h>

#include "mem/mem.h"

#define MMU_DEF_TLB_ENTRIES  1536 /* 128 sets of 12 ways */
#define MMU_DEF_TLB_WAYS     12
#define MMU_DEF_PTLB_ENTRIES 64
#define MMU_DEF_PTLB_WAYS    4

#define MMU_DEF_SHADOW_ROOTS 8

static const struct paging_ops *const paging_modes[] = {
    &paging_nested_ops,
    &paging_shadow_ops,
};

const struct paging_ops *paging_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(paging_modes); i++)
		if (!strcmp(paging_modes[i]->name, name))
			return paging_modes[i];
	return NULL;
}

static const char *const mmu_exit_names[MMU_EXIT_NR] = {
    [MMU_EXIT_NESTED_FAULT] = "nested_fault",
    [MMU_EXIT_HIDDEN_FAULT] = "hidden_fault",
    [MMU_EXIT_PT_WRITE] = "pt_write",
    [MMU_EXIT_CR3_WRITE] = "cr3_write",
    [MMU_EXIT_INVLPG] = "invlpg",
    [MMU_EXIT_MODE_SWITCH] = "mode_switch",
    [MMU_EXIT_BALLOON] = "balloon",
};

const char *mmu_exit_name(enum mmu_exit_reason r)
{
	return (unsigned)r < MMU_EXIT_NR ? mmu_exit_names[r] : "unknown";
}

/* The TLBs as a mapper: a record `ref` of gfn drops gfn from both. */
static void mmu_tlb_zap(struct mem_mapper *mp, gfn_t gfn, uint64_t ref)
{
	struct mmu *m = mp->ctx;

	(void)ref;
	mem_tlb_flush_gfn(&m->tlb, gfn);
	mem_tlb_flush_gfn(&m->ptlb, gfn);
}

static const struct mem_mapper_ops mmu_tlb_mapper_ops = {
    .name = "tlb",
    .zap = mmu_tlb_zap,
};

int mmu_init(struct mmu *m, struct mem_p2m *p2m, const struct paging_ops *ops,
	     const struct mmu_config *cfg, mmu_exit_fn fn, void *ctx)
{
	struct mmu_config c = cfg ? *cfg : (struct mmu_config){0};
	int r;

	memset(m, 0, sizeof(*m));
	if (!c.tlb_entries)
		c.tlb_entries = MMU_DEF_TLB_ENTRIES;
	if (!c.tlb_ways)
		c.tlb_ways = MMU_DEF_TLB_WAYS;
	if (!c.ptlb_entries)
		c.ptlb_entries = MMU_DEF_PTLB_ENTRIES;
	if (!c.ptlb_ways)
		c.ptlb_ways = MMU_DEF_PTLB_WAYS;
	if (!c.shadow_roots)
		c.shadow_roots = MMU_DEF_SHADOW_ROOTS;
	m->cfg = c;
	m->p2m = p2m;
	m->pool = p2m->pool;
	m->ops = ops;
	m->exit = fn;
	m->exit_ctx = ctx;
	m->tlb_mapper.ops = &mmu_tlb_mapper_ops;
	m->tlb_mapper.ctx = m;

	r = mem_tlb_init(&m->tlb, c.tlb_entries, c.tlb_ways);
	if (r)
		goto err;
	r = mem_tlb_init(&m->ptlb, c.ptlb_entries, c.ptlb_ways);
	if (r)
		goto err_tlb;
	r = ops->create(m);
	if (r)
		goto err_ptlb;
	return 0;

err_ptlb:
	mem_tlb_fini(&m->ptlb);
err_tlb:
	mem_tlb_fini(&m->tlb);
err:
	return r;
}

void mmu_fini(struct mmu *m)
{
	if (m->ops && m->mode)
		m->ops->destroy(m);
	m->mode = NULL;
	mem_tlb_fini(&m->ptlb);
	mem_tlb_fini(&m->tlb);
}

int mmu_exit(struct mmu *m, const struct mmu_exit *x)
{
	assert((unsigned)x->reason < MMU_EXIT_NR);
	m->st.exits[x->reason]++;
	return mmu_exit_resolve(m, x);
}

int mmu_exit_resolve(struct mmu *m, const struct mmu_exit *x)
{
	if (!m->exit)
		return -EFAULT; /* nobody to resolve it: fail the guest */
	return m->exit(m->exit_ctx, x);
}

void mmu_set_cr3(struct mmu *m, gpa_t cr3)
{
	m->cr3 = cr3;
	m->st.cr3_loads++;
	mem_tlb_flush_all(&m->tlb);
	if (m->ops->set_cr3)
		m->ops->set_cr3(m, cr3);
}

void mmu_invlpg(struct mmu *m, gva_t va)
{
	m->st.invlpgs++;
	mem_tlb_flush_page(&m->tlb, mem_gva_to_vpn(va));
	if (m->ops->invlpg)
		m->ops->invlpg(m, va);
}

int mmu_switch_mode(struct mmu *m, const struct paging_ops *ops)
{
	const struct paging_ops *old = m->ops;
	int r;

	if (ops == old)
		return 0;
	m->st.exits[MMU_EXIT_MODE_SWITCH]++;
	if (m->mode)
		old->destroy(m);
	m->mode = NULL;
	m->ops = ops;
	r = ops->create(m);
	if (!r)
		return 0;
	/* keep running the old mode; it rebuilds lazily as after a switch */
	m->ops = old;
	if (old->create(m))
		m->mode = NULL; /* no mode: every later translate fails */
	return r;
}

/* Does entry e grant an access of kind acc without a walk? */
static bool mmu_tlb_grants(const struct mem_tlb_entry *e, unsigned acc)
{
	uint32_t need = ((acc & MMU_WRITE) ? MEM_TLB_W : 0) | ((acc & MMU_USER) ? MEM_TLB_U : 0);

	return (e->flags & need) == need && !((acc & MMU_FETCH) && (e->flags & MEM_TLB_NX));
}

/* The TLB entry (4 KiB, else 2 MiB) that grants acc at vpn, with the host
 * address of that page in *h and its gfn in *gfn; NULL when none does. */
static struct mem_tlb_entry *mmu_tlb_find(struct mmu *m, uint64_t vpn, unsigned acc, uint8_t **h,
					  gfn_t *gfn)
{
	struct mem_tlb_entry *e = mem_tlb_lookup(&m->tlb, vpn);
	uint64_t i = vpn & (MEM_HUGE_PAGES - 1);

	if (e && mmu_tlb_grants(e, acc)) {
		*h = e->hptr;
		*gfn = e->gfn;
		return e;
	}
	e = mem_tlb_lookup(&m->tlb, mem_tlb_key2m(vpn));
	if (e && mmu_tlb_grants(e, acc)) {
		*h = e->hptr + (i << MEM_PAGE_SHIFT);
		*gfn = e->gfn + i;
		return e;
	}
	return NULL;
}

/* MMU_EMULATE: do this page's part of an access through the mode's phys. */
static int mmu_emulate(struct mmu *m, gva_t va, uint8_t *p, size_t n, unsigned acc)
{
	gpa_t gpa = mem_gfn_to_gpa(m->emul_gfn) | (va & (MEM_PAGE_SIZE - 1));
	uint32_t tlbf = 0;
	int err = 0;
	uint8_t *h = m->ops->phys(m, gpa, n, acc, &tlbf, &err);

	if (!h)
		return err ? err : -EFAULT;
	m->st.accesses++;
	m->st.emulated++;
	m->last_gfn = m->emul_gfn;
	if (acc & MMU_WRITE) {
		m->st.writes++;
		memcpy(h, p, n);
	} else {
		memcpy(p, h, n);
	}
	return 0;
}

int mmu_access_slow(struct mmu *m, gva_t va, void *buf, size_t len, unsigned acc)
{
	static _Thread_local uint8_t sink[MEM_PAGE_SIZE]; /* where unwanted bytes go */
	uint8_t *p = buf ? buf : sink;

	assert(buf || !(acc & MMU_WRITE));

	if (!m->mode)
		return -EFAULT; /* a failed mode switch left no mode */
	/* do-while: a zero-length access still touches (and counts) its page,
	 * as on the fast path */
	do {
		unsigned off = (unsigned)(va & (MEM_PAGE_SIZE - 1));
		size_t n = len < MEM_PAGE_SIZE - off ? len : MEM_PAGE_SIZE - off;
		uint64_t vpn = mem_gva_to_vpn(va);
		struct mem_tlb_entry *e;
		uint8_t *h = NULL;
		gfn_t gfn = 0;

		if (!mmu_tlb_find(m, vpn, acc, &h, &gfn)) {
			int r;

			m->st.tlb_misses++;
			r = m->ops->translate(m, va, acc);
			if (r == MMU_EMULATE) {
				r = mmu_emulate(m, va, p, n, acc);
				if (r)
					return r;
				goto next;
			}
			if (r)
				return r;
			/* the mode's contract: a successful translate fills
			 * an entry that grants the access */
			e = mmu_tlb_find(m, vpn, acc, &h, &gfn);
			assert(e);
			if (!e)
				return -EFAULT;
		}
		m->st.accesses++;
		m->last_gfn = gfn;
		if (acc & MMU_WRITE) {
			m->st.writes++;
			memcpy(h + off, p, n);
		} else {
			memcpy(p, h + off, n);
		}
	next:
		va += n;
		if (buf)
			p += n;
		len -= n;
	} while (len);
	return 0;
}

int mmu_phys(struct mmu *m, gpa_t gpa, void *buf, size_t len, unsigned acc)
{
	unsigned off = (unsigned)(gpa & (MEM_PAGE_SIZE - 1));
	gfn_t gfn = mem_gpa_to_gfn(gpa);
	struct mem_tlb_entry *e;
	uint8_t *h;

	if (len > MEM_PAGE_SIZE - off)
		return -EINVAL;
	if (gfn >= m->p2m->pages)
		return -EFAULT;
	if (!m->mode)
		return -EFAULT;
	m->st.phys_accesses++;
	e = mem_tlb_lookup(&m->ptlb, gfn);
	if (e && (!(acc & MMU_WRITE) || (e->flags & MEM_TLB_W))) {
		h = e->hptr + off;
	} else {
		uint32_t tlbf = (acc & MMU_WRITE) ? MEM_TLB_W : 0;
		int err = 0;

		m->st.phys_misses++;
		h = m->ops->phys(m, gpa, len, acc, &tlbf, &err);
		if (!h)
			return err ? err : -EFAULT;
		mem_tlb_fill(&m->ptlb, gfn, h - off, gfn, tlbf);
	}
	if (acc & MMU_WRITE)
		memcpy(h, buf, len);
	else
		memcpy(buf, h, len);
	return 0;
}
