/* SPDX-License-Identifier: MIT */
/* check_mem: the suites of the mem module's test binary. */
#ifndef MEM_TESTS_CHECK_MEM_H
#define MEM_TESTS_CHECK_MEM_H
#include <check.h>

Suite *pool_suite(void);   /* test_pool.c */
Suite *p2m_suite(void);	   /* test_p2m.c: state machine, rmap */
Suite *pte_suite(void);	   /* test_walk.c: PTE/EPT formats, flag table */
Suite *walk_suite(void);   /* test_walk.c: 2D walk counts, TLB, PWC */
Suite *swap_suite(void);   /* test_swap.c: host swap, victims, access tracking */
Suite *policy_suite(void); /* test_policy.c: working-set sampling, allocation policy */

#endif
