/* SPDX-License-Identifier: MIT */
/* check_vmm: runs every suite of the vmm-core module. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "vmm-core/tests/check_vmm.h"

const char *test_write_file(const char *name, const char *text)
{
	static char path[4200];
	char dir[] = "/tmp/memvisor-test-XXXXXX";
	FILE *f;

	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

int main(void)
{
	Suite *(*suites[])(void) = {config_suite,    cost_suite,     report_suite,
				    trace_cfg_suite, balloon_suite,  protocol_suite,
				    reclaim_suite,   kvm_host_suite, columns_suite};
	SRunner *sr = srunner_create(NULL);
	int failed;

	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
