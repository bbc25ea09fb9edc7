/* SPDX-License-Identifier: MIT */
/* check_guest: runs every suite of the guest module. */
#include <stdlib.h>

#include "guest/tests/check_guest.h"

int main(void)
{
	Suite *(*suites[])(void) = {swap_suite,	   workload_suite, os_suite,
				    reclaim_suite, replay_suite,   modes_suite};
	SRunner *sr = srunner_create(NULL);
	int failed;

	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
