/* SPDX-License-Identifier: MIT */
/* check_mem: runs every suite of the mem module. */
#include <stdlib.h>

#include "mem/tests/check_mem.h"

/* Weak while the suites are being written in parallel; see git log. */
#pragma weak pool_suite
#pragma weak p2m_suite
#pragma weak pte_suite
#pragma weak walk_suite
#pragma weak shadow_suite
#pragma weak large_suite
#pragma weak swap_suite
#pragma weak policy_suite

int main(void)
{
	Suite *(*suites[])(void) = {pool_suite,	  p2m_suite,   pte_suite,  walk_suite,
				    shadow_suite, large_suite, swap_suite, policy_suite};
	SRunner *sr = srunner_create(NULL);
	int failed;

	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		if (suites[i])
			srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
