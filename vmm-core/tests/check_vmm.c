/* SPDX-License-Identifier: MIT */
/* check_vmm: runs every suite of the vmm-core module. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "vmm-core/tests/check_vmm.h"

/* Every test's files, in one folder made before the (forked) tests run
 * and removed with all they left in it after. */
static char dir[] = "/tmp/memvisor-test-XXXXXX";

const char *test_write_file(const char *name, const char *text)
{
	static char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path);
}

int main(void)
{
	Suite *(*suites[])(void) = {config_suite,    cost_suite,     report_suite,
				    trace_cfg_suite, balloon_suite,  protocol_suite,
				    reclaim_suite,   kvm_host_suite, columns_suite};
	SRunner *sr = srunner_create(NULL);
	int failed;

	if (!mkdtemp(dir)) {
		perror(dir);
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS))
		perror(dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
