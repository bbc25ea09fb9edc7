/* SPDX-License-Identifier: MIT */
/* check_mem: the suites of the mem module's test binary, and helpers. */
#ifndef MEM_TESTS_CHECK_MEM_H
#define MEM_TESTS_CHECK_MEM_H
#include <check.h>

#include "mem/mem_test.h"

Suite *pool_suite(void);   /* test_pool.c */
Suite *p2m_suite(void);	   /* test_p2m.c: state machine, rmap */
Suite *pte_suite(void);	   /* test_walk.c: PTE/EPT formats, flag table */
Suite *walk_suite(void);   /* test_walk.c: 2D walk counts, TLB, PWC */
Suite *shadow_suite(void); /* test_shadow.c: shadow paging, mode switches */
Suite *large_suite(void);  /* test_large.c: 2 MiB runs, mappings, splits */
Suite *swap_suite(void);   /* test_swap.c: host swap, victims, access tracking */
Suite *policy_suite(void); /* test_policy.c: working-set sampling, allocation policy */

/* The PTE flag table of test_walk.c, run under both modes: the guest-visible
 * results (ret, err, A, D) are the same; the TLB flags may differ. */
struct pte_case {
	const char *name;
	uint64_t upper; /* flags of PML4, PDPT and PD entries */
	uint64_t leaf;	/* flags of the PT entry */
	unsigned acc;
	int ret;	  /* 0 or MMU_PF */
	unsigned err;	  /* m->pf.err when MMU_PF */
	bool a, d;	  /* leaf A and D after the access */
	uint32_t tlbf;	  /* the TLB entry's flags after it (when ret == 0) */
	uint32_t tlbf_sh; /* the same under shadow paging, when it differs */
};
extern const struct pte_case pte_cases[];
extern const int n_pte_cases;

/*
 * A guest for the paging-mode tests (tenv.c): a pool, a p2m of `pages`
 * frames and an MMU in mode ops whose exit handler makes the gfn of a
 * nested or hidden fault present (with huge: its whole 2 MiB block on one
 * run when it can), breaks copy-on-write of a SHARED gfn on a write, and
 * counts the VMM calls by reason. Guest tables are written through mmu_phys
 * and bump-allocated from gfn 1 (the PML4); data pages from MENV_DATA.
 */
#define MENV_DATA  1024 /* first data gfn (4 MiB: 2 MiB aligned) */
#define MENV_UPPER (PTE_P | PTE_W | PTE_U)
#define MENV_VA	   0x00007f0000200000ull

struct menv {
	struct mem_pool *pool;
	struct mem_p2m *p2m;
	struct mmu m;
	gfn_t next_table;
	bool huge;
	int fail;		     /* the handler returns this when set */
	unsigned calls[MMU_EXIT_NR]; /* handler calls by reason */
	struct mmu_exit last;	     /* the last call */
};

void menv_init(struct menv *t, const struct paging_ops *ops, uint64_t pages, bool huge,
	       const struct mmu_config *cfg);
/* Forget the counts of the setup. */
void menv_reset(struct menv *t);
/* Tear down, checking that the mode left no record and no frame. */
void menv_fini(struct menv *t);
/* Kernel direct-map read / write of 8 bytes (mmu_phys). */
uint64_t menv_rd(struct menv *t, gpa_t pa);
void menv_wr(struct menv *t, gpa_t pa, uint64_t v);
/* Map va -> pa with leaf flags at leaf_level (1, 2, 3), making missing
 * tables above it. */
void menv_map(struct menv *t, gva_t va, gpa_t pa, uint64_t leaf, int leaf_level);
/* The guest entry of va at level read through the p2m; its gpa in *gpa. */
uint64_t menv_pte(struct menv *t, gva_t va, int level, gpa_t *gpa);
/* An 8-byte mmu_access. */
int menv_access(struct menv *t, gva_t va, uint64_t *v, unsigned acc);

#endif
