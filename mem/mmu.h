/* SPDX-License-Identifier: MIT */
/* mem/mmu.h: the software MMU and the paging modes (part of mem/mem.h, which includes every part).
 */
#ifndef MEM_MMU_H
#define MEM_MMU_H

#include "mem/mem_types.h"
#include "mem/rmap.h"
#include "mem/tlb.h"

/* ------------------------------------------------------------------------
 * The software MMU (mmu.c) and the paging modes behind paging_ops.
 *
 * Every access of a guest, its OS's page-table writes included, goes through
 * mmu_access() (virtual, through the guest's page tables at cr3) or
 * mmu_phys() (the guest kernel's direct map: guest-physical, through the
 * second dimension only). A TLB hit completes inline. A miss calls the
 * paging mode's translate, which walks the mode's structures (and, when it
 * needs to, the guest's 4-level table in guest memory, setting A, and D on
 * a write, as hardware does), counting every memory reference in walk_refs.
 *
 * Exits: when the mode needs the VMM (a nested fault on a gfn the EPT does
 * not map; under shadow paging a shadow miss, a write to a guest page-table
 * page, a CR3 write, an INVLPG) the MMU counts the exit by reason and calls
 * the VMM's handler, a plain function call, before the access retries.
 *
 * The mode can be changed while the guest runs (mmu_switch_mode): the old
 * mode's structures are torn down, the new mode starts empty and builds
 * lazily; guest memory and the guest's own tables are untouched.
 */
enum mmu_exit_reason {
	MMU_EXIT_NESTED_FAULT = 0, /* EPT violation (Intel), #NPF (AMD) */
	MMU_EXIT_HIDDEN_FAULT,	   /* shadow miss: a walk and a fill */
	MMU_EXIT_PT_WRITE,	   /* write to a write-protected guest PT page */
	MMU_EXIT_CR3_WRITE,
	MMU_EXIT_INVLPG,
	MMU_EXIT_MODE_SWITCH,
	MMU_EXIT_BALLOON, /* balloon device notification */
	MMU_EXIT_NR
};
/* The reason's name, as in summary.json ("nested_fault", ...). */
const char *mmu_exit_name(enum mmu_exit_reason r);

/* Access kinds, or-ed. */
#define MMU_READ  0u
#define MMU_WRITE 1u
#define MMU_FETCH 2u
#define MMU_USER  4u /* a user-mode access: needs PTE_U at every level */

/* Guest page-fault error code bits (x86 #PF): P, W/R, U/S, I/D. */
#define MMU_PF_P 1u
#define MMU_PF_W 2u
#define MMU_PF_U 4u
#define MMU_PF_I 16u

/* mmu_access() result when the guest takes a page fault (see m->pf). */
#define MMU_PF 1
/* translate result: the access must be emulated through the mode's phys
 * at m->emul_gfn (a write to a write-protected guest page-table page
 * through a virtual mapping); the MMU does it, then moves on. */
#define MMU_EMULATE 2

struct mmu_stats {
	uint64_t accesses; /* translated accesses (one per page touched) */
	uint64_t writes;
	uint64_t tlb_misses;	/* = walks of the mode's translate */
	uint64_t walk_refs;	/* memory references made by walks */
	uint64_t phys_accesses; /* guest-kernel direct-map accesses */
	uint64_t phys_misses;
	uint64_t phys_walk_refs; /* references made by direct-map misses */
	uint64_t guest_faults;	 /* #PF delivered to the guest */
	uint64_t exits[MMU_EXIT_NR];
	uint64_t pwc_hits;
	uint64_t cr3_loads; /* guest CR3 writes, in every mode */
	uint64_t invlpgs;   /* guest INVLPGs, in every mode */
	uint64_t emulated;  /* accesses emulated (MMU_EMULATE) */
	uint64_t splits;    /* 2 MiB mappings split (nested or shadow) */
};

/* The VMM's side of an exit. Return 0 to retry the access, -errno to fail
 * the guest (the access returns that error). */
struct mmu_exit {
	enum mmu_exit_reason reason;
	gfn_t gfn;    /* the guest frame concerned */
	unsigned acc; /* MMU_* of the access that exited */
};
typedef int (*mmu_exit_fn)(void *ctx, const struct mmu_exit *x);

struct mmu;
/*
 * A paging mode. create, destroy, translate and phys are required; set_cr3
 * and invlpg are optional. The mode owns m->mode and every host frame it
 * holds (counted in m->mode_frames), and every rmap record it adds; destroy
 * gives all of them back and leaves no TLB entry that came from the mode.
 */
struct paging_ops {
	const char *name;
	/* Allocate the mode's state in m->mode. Called with m->p2m and
	 * m->cr3 set (cr3 may be 0 before the guest loads one). */
	int (*create)(struct mmu *m);
	/* Free the mode's state and its host frames; drop its rmap records;
	 * flush m->tlb and m->ptlb. */
	void (*destroy)(struct mmu *m);
	/* TLB miss: translate va for acc, count refs, set guest A/D bits, fill
	 * the TLB. Returns 0, MMU_PF (m->pf filled), MMU_EMULATE (m->emul_gfn
	 * set) or -errno. */
	int (*translate)(struct mmu *m, gva_t va, unsigned acc);
	/* Host address of gpa for a guest-kernel access of kind acc to len
	 * bytes (within one page). The mode may exit (a write to a protected
	 * page-table page under shadow paging is emulated here: the MMU does
	 * the store into the returned address right after). *tlbf holds the
	 * flags the direct-map TLB would cache (MEM_TLB_W after a write); the
	 * mode clears MEM_TLB_W when later writes must come back to it.
	 * Returns NULL with *err set (-errno) on failure. */
	uint8_t *(*phys)(struct mmu *m, gpa_t gpa, size_t len, unsigned acc, uint32_t *tlbf,
			 int *err);
	/* Optional: the guest loaded CR3 / executed INVLPG, after the MMU's
	 * own TLB flush. */
	void (*set_cr3)(struct mmu *m, gpa_t cr3);
	void (*invlpg)(struct mmu *m, gva_t va);
};
/* The paging mode called `name` ("nested", "shadow"), or NULL. */
const struct paging_ops *paging_find(const char *name);
extern const struct paging_ops paging_nested_ops;
extern const struct paging_ops paging_shadow_ops;

struct mmu_config {
	unsigned tlb_entries, tlb_ways;	  /* gva TLB (default 1536, 12 ways) */
	unsigned ptlb_entries, ptlb_ways; /* kernel direct-map TLB (64, 4) */
	unsigned pwc_entries;		  /* nested walk cache: gfn -> host frame of the
					     guest's page-table pages, fully associative;
					     0 = none (the cold 24-reference walk) */
	unsigned shadow_roots;		  /* shadow paging: cached roots, one per guest
					     address space (default 8) */
};

struct mmu {
	/* hot fields first */
	struct mem_tlb tlb;
	gpa_t cr3;
	struct mmu_stats st;
	gfn_t last_gfn;	      /* guest frame of the last page accessed */
	struct {	      /* the last guest page fault (MMU_PF) */
		gva_t addr;   /* CR2 */
		unsigned err; /* MMU_PF_* */
	} pf;
	gfn_t emul_gfn; /* MMU_EMULATE: the guest frame to access */
	struct mem_tlb ptlb;
	struct mem_p2m *p2m;   /* borrowed */
	struct mem_pool *pool; /* borrowed, = p2m->pool */
	const struct paging_ops *ops;
	void *mode;	      /* the paging mode's state */
	uint64_t mode_frames; /* host frames the mode holds (EPT, shadow tables) */
	struct mmu_config cfg;
	mmu_exit_fn exit;
	void *exit_ctx;
	struct mem_mapper tlb_mapper; /* the TLBs as mappers (zap by gfn) */
};

/* Create the MMU of one vCPU over p2m with paging mode ops; exits go to
 * fn(ctx). Returns 0 or -errno. */
int mmu_init(struct mmu *m, struct mem_p2m *p2m, const struct paging_ops *ops,
	     const struct mmu_config *cfg, mmu_exit_fn fn, void *ctx) MUST_CHECK;
void mmu_fini(struct mmu *m);
/* Count exit x and call the VMM's handler. For paging modes. */
int mmu_exit(struct mmu *m, const struct mmu_exit *x) MUST_CHECK;
/* Call the VMM's handler for x without counting an exit: the mode is
 * already handling one (a shadow miss that finds a guest table frame
 * absent or write-protected). For paging modes. */
int mmu_exit_resolve(struct mmu *m, const struct mmu_exit *x) MUST_CHECK;
/* Load CR3 (flushes the TLB). */
void mmu_set_cr3(struct mmu *m, gpa_t cr3);
/* Invalidate the translation of va (INVLPG): the whole guest page when va
 * lies in a guest large page. */
void mmu_invlpg(struct mmu *m, gva_t va);
/*
 * Switch to paging mode ops at run time (a no-op when it is the current
 * one): count an MMU_EXIT_MODE_SWITCH (without calling the handler: the VMM
 * is the caller), tear the current mode down, create the new one, which
 * builds lazily. Returns 0, or -errno when the new mode cannot be created;
 * the MMU then runs the old mode again (-errno only if that fails too, and
 * the guest cannot continue).
 */
int mmu_switch_mode(struct mmu *m, const struct paging_ops *ops) MUST_CHECK;

/* Slow path of mmu_access: misses, page-crossing accesses. */
int mmu_access_slow(struct mmu *m, gva_t va, void *buf, size_t len, unsigned acc);

/*
 * Read (acc without MMU_WRITE: into buf, or nowhere if buf is NULL: a
 * touch whose bytes are not wanted) or write (from buf) len bytes at
 * guest-virtual va. An access that crosses a page boundary touches every
 * page it covers, lowest first, each counted as one access. Returns 0,
 * MMU_PF with m->pf set (nothing after the faulting page was done), or
 * -errno when the VMM failed the guest.
 */
static inline int mmu_access(struct mmu *m, gva_t va, void *buf, size_t len, unsigned acc)
{
	unsigned off = (unsigned)(va & (MEM_PAGE_SIZE - 1));

	if (off + len <= MEM_PAGE_SIZE) {
		struct mem_tlb_entry *e = mem_tlb_lookup(&m->tlb, va >> MEM_PAGE_SHIFT);
		uint32_t need =
		    ((acc & MMU_WRITE) ? MEM_TLB_W : 0) | ((acc & MMU_USER) ? MEM_TLB_U : 0);

		if (e && (e->flags & need) == need &&
		    !((acc & MMU_FETCH) && (e->flags & MEM_TLB_NX))) {
			m->st.accesses++;
			m->last_gfn = e->gfn;
			if (acc & MMU_WRITE) {
				m->st.writes++;
				memcpy(e->hptr + off, buf, len);
			} else if (buf) {
				memcpy(buf, e->hptr + off, len);
			}
			return 0;
		}
	}
	return mmu_access_slow(m, va, buf, len, acc);
}

/*
 * Page runs: user accesses that the TLB would grant on a hit, counted
 * together (trace replay, whose records mostly touch the code and data
 * pages the last few did). The run remembers MMU_RUN_SLOTS TLB entries,
 * slot vpn % MMU_RUN_SLOTS, and takes an access (mmu_run_next) where the
 * slot's entry still holds the page and grants the access, as mmu_access's
 * own hit test would; the caller reads or writes through the host address
 * it returns. mmu_run_end() adds up what the run took before anything else
 * reaches the MMU; mmu_run_note() remembers va's entry after an access
 * went through mmu_access. Counts, the TLB's LRU stamps and last_gfn are
 * then what one mmu_access per access would have left: a TLB hit changes
 * nothing else.
 */
#define MMU_RUN_SLOTS 64
struct mmu_run {
	struct {
		struct mem_tlb_entry *e; /* NULL: empty */
		uint32_t last;		 /* the run's tick of its last access, 0: none */
	} s[MMU_RUN_SLOTS];
	uint64_t used;	/* bit i: slot i was accessed since mmu_run_end */
	uint32_t ticks; /* accesses taken since mmu_run_end */
	uint32_t writes;
	unsigned last; /* slot of the last access */
};

static inline uint8_t *mmu_run_next(struct mmu_run *restrict r, gva_t va, size_t len, unsigned acc)
{
	uint64_t vpn = va >> MEM_PAGE_SHIFT;
	unsigned i = (unsigned)(vpn % MMU_RUN_SLOTS), off = (unsigned)(va & (MEM_PAGE_SIZE - 1));
	const struct mem_tlb_entry *e = r->s[i].e;
	uint32_t need = MEM_TLB_U | (acc == MMU_WRITE ? MEM_TLB_W : 0);

	if (!e || e->tag != (vpn << 1 | 1) || (e->flags & need) != need ||
	    (acc == MMU_FETCH && (e->flags & MEM_TLB_NX)) || off + len > MEM_PAGE_SIZE)
		return NULL;
	r->s[i].last = ++r->ticks;
	r->used |= 1ull << i;
	r->last = i;
	r->writes += acc == MMU_WRITE;
	return e->hptr + off;
}

static inline void mmu_run_end(struct mmu *m, struct mmu_run *r)
{
	if (!r->ticks)
		return;
	for (uint64_t u = r->used; u; u &= u - 1) {
		unsigned i = (unsigned)__builtin_ctzll(u);

		r->s[i].e->stamp = m->tlb.tick + r->s[i].last;
	}
	r->used = 0;
	m->tlb.tick += r->ticks;
	m->st.accesses += r->ticks;
	m->st.writes += r->writes;
	m->last_gfn = r->s[r->last].e->gfn;
	r->ticks = r->writes = 0;
}

static inline void mmu_run_note(struct mmu *m, struct mmu_run *r, gva_t va)
{
	uint64_t vpn = va >> MEM_PAGE_SHIFT;

	r->s[vpn % MMU_RUN_SLOTS].e = mem_tlb_peek(&m->tlb, vpn);
}

/*
 * Guest-kernel access to guest-physical memory (its direct map): len bytes
 * at gpa, within one page. Goes through the mode's phys translation (and
 * the direct-map TLB). Returns 0 or -errno (-EFAULT beyond guest memory).
 */
int mmu_phys(struct mmu *m, gpa_t gpa, void *buf, size_t len, unsigned acc) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Walk-reference arithmetic (Bhargava et al., ASPLOS 2008), no caches.
 *
 * Nested: each guest level costs the EPT levels that translate the guest
 * table page's gpa plus 1 reference for the guest entry; the final gpa
 * costs the EPT levels once more. With g guest levels and h EPT levels,
 * g * (h + 1) + h: 4 KiB/4 KiB 24, 2 MiB guest pages 19, 2 MiB EPT 19,
 * 2 MiB in both 15. With the walk cache, a hit on a guest table page's gfn
 * saves its EPT references; the data page's gfn is not cached there (the
 * TLB does that).
 *
 * Shadow: the hardware walks the shadow table only, one reference per
 * level: 4, or 3 when the shadow entry maps 2 MiB.
 */
#define PAGING_NESTED_REFS(g, h) ((g) * ((h) + 1) + (h))
#define PAGING_NESTED_COLD_REFS	 PAGING_NESTED_REFS(4, 4)
#define PAGING_SHADOW_REFS	 4

#endif
