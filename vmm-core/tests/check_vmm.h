/* SPDX-License-Identifier: MIT */
/* check_vmm: the suites of the vmm-core test binary. */
#ifndef VMM_CORE_TESTS_CHECK_VMM_H
#define VMM_CORE_TESTS_CHECK_VMM_H
#include <check.h>

Suite *config_suite(void);    /* test_config.c */
Suite *cost_suite(void);      /* test_config.c */
Suite *report_suite(void);    /* test_report.c */
Suite *balloon_suite(void);   /* test_balloon.c: the balloon protocol end to end */
Suite *protocol_suite(void);  /* test_protocol.c: a guest that gets it wrong */
Suite *reclaim_suite(void);   /* test_reclaim.c: the policy on real guests */
Suite *trace_cfg_suite(void); /* test_trace_cfg.c */
Suite *kvm_host_suite(void);  /* test_kvm_host.c: what provides /dev/kvm */
Suite *columns_suite(void);   /* test_columns.c: the CSV columns */

/* Write text to a new file in a fresh temporary folder; returns its path
 * (static storage, valid until the next call). */
const char *test_write_file(const char *name, const char *text);

#endif
