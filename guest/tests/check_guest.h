/* SPDX-License-Identifier: MIT */
/* check_guest: the suites of the guest module's test binary, and helpers. */
#ifndef GUEST_TESTS_CHECK_GUEST_H
#define GUEST_TESTS_CHECK_GUEST_H
#include <check.h>

#include "guest/guest_internal.h"

Suite *swap_suite(void);     /* test_swap.c: the swap store and areas */
Suite *workload_suite(void); /* test_workload.c: parsers, zipf, content */
Suite *os_suite(void);	     /* test_os.c: boot, page tables, faults */
Suite *reclaim_suite(void);  /* test_reclaim.c: policies, LRU model, verify */
Suite *modes_suite(void);    /* test_modes.c: large pages, sparse, churn, and
				the same guest under every paging mode */

/*
 * A VM for one guest (test_vm.c): a host pool, a p2m of `pages` guest
 * frames and a nested-paging MMU whose exit handler populates the gfn of a
 * nested fault, so guest memory is backed on first touch. With a swap store
 * and an area of swap_pages slots (0: no swap area).
 */
struct tvm {
	bool huge; /* back 2 MiB blocks on host runs */
	struct mem_pool *pool;
	struct mem_p2m *p2m;
	struct mmu mmu;
	struct guest_swap_store *store;
	struct guest_swap *sw;
	struct guest_os *g;
};

struct tvm *tvm_create(uint64_t pages, uint64_t swap_pages);
/* The same in paging mode ops; with huge, first touches back whole 2 MiB
 * blocks with host runs when they can. */
struct tvm *tvm_create_mode(uint64_t pages, uint64_t swap_pages, const struct paging_ops *ops,
			    bool huge);
void tvm_destroy(struct tvm *vm);
/* Boot vm->g with p; fails the test when the guest cannot boot. */
void tvm_boot(struct tvm *vm, const struct guest_params *p);
/* Default parameters: 1 process, uniform, 50% private writes. */
struct guest_params tvm_params(uint64_t pages, uint64_t wss, uint64_t accesses);
/* Run the guest to the end; fails the test on a guest failure. */
void tvm_run(struct tvm *vm);
/* Independent walk through mem_p2m_read: the leaf PTE of va under root,
 * and each upper entry into upper[4..2] (may be NULL). 0 or -ENOENT. */
int tvm_walk(const struct tvm *vm, gpa_t root, gva_t va, uint64_t *pte, uint64_t *upper);
/* The root (CR3) of pid, parsed from guest_os_dump_roots(). */
gpa_t tvm_root(const struct tvm *vm, uint32_t pid);
/* Fail the test unless guest_os_verify and guest_os_check pass. */
void tvm_check(struct tvm *vm);

#endif
