/* SPDX-License-Identifier: MIT */
/* check_balloon: the suites of the balloon-driver module's test binary. */
#ifndef BALLOON_DRIVER_TESTS_CHECK_BALLOON_H
#define BALLOON_DRIVER_TESTS_CHECK_BALLOON_H
#include <check.h>

Suite *balloon_ring_suite(void);   /* test_ring.c: ring and chain validation */
Suite *balloon_device_suite(void); /* test_device.c: batches, targets, stats, reset */

#endif
