/* SPDX-License-Identifier: MIT */
/* check_balloon: runs every suite of the balloon-driver module. */
#include <stdlib.h>

#include "balloon-driver/tests/check_balloon.h"
#include "util/util.h"

int main(void)
{
	Suite *(*suites[])(void) = {balloon_ring_suite, balloon_device_suite};
	SRunner *sr = srunner_create(NULL);
	int failed;

	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
