/* SPDX-License-Identifier: MIT */
/* `memvisor report DIR`: figures and report.html from a run's files. */
#include <stdio.h>
#include <string.h>

#include "vmm-core/cli/cli.h"

static const char usage_report[] =
    "usage: memvisor report DIR\n"
    "\n"
    "Read DIR/timeseries.csv, guests.csv and summary.json (from memvisor run)\n"
    "and write gnuplot figures to DIR/figures/ and the page DIR/report.html.\n";

int vmm_cmd_report(int argc, char **argv)
{
	char err[1024];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage_report, stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fputs(usage_report, stderr);
		return 2;
	}
	if (vmm_report(argv[1], err, sizeof(err))) {
		fprintf(stderr, "memvisor report: %s\n", err);
		return 2;
	}
	printf("%s/report.html\n", argv[1]);
	return 0;
}
