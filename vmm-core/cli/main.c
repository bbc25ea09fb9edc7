/* SPDX-License-Identifier: MIT */
/*
 * memvisor: the command line, one command table; each command is a file of
 * its own (cmd_run.c, cmd_report.c, cmd_trace.c, share.c, and kvm-mode in
 * kvm/kvm_mode.c). Exit status 0 on success, 1 on a runtime
 * failure (a guest failed, verification found a difference), 2 on a usage,
 * config or input error; every message names the file and line, or the
 * guest and page.
 */
#include <stdio.h>
#include <string.h>

#include "vmm-core/cli/cli.h"

static const char usage_main[] =
    "usage: memvisor COMMAND [ARGS]\n"
    "\n"
    "memvisor runs virtual machines whose memory is overcommitted and measures\n"
    "how the host reclaims it. Commands:\n"
    "  run CONFIG.ini [-o DIR] [--seed N] [--set SECTION.KEY=VALUE ...]\n"
    "                 [--verify] [--dump DIR] [--quiet]\n"
    "                 run an experiment; writes DIR/summary.json, timeseries.csv\n"
    "                 and guests.csv\n"
    "  report DIR     gnuplot figures and DIR/report.html from a run's files\n"
    "  trace convert|info|record|replay ...\n"
    "                 memory-access traces: convert lackey text, inspect, record\n"
    "                 a program under valgrind, replay in a guest\n"
    "  share [--json] IMAGE...\n"
    "                 share identical pages of guest memory images (raw or .zst)\n"
    "                 with the sharing engine and print what it saved\n"
    "  kvm-mode [shadow|nested]\n"
    "                 report or switch the host KVM's paging mode (the whole\n"
    "                 host's; per-guest switching is the soft backend's)\n"
    "\n"
    "`memvisor COMMAND --help` describes each. Exit status: 0 success, 1 runtime\n"
    "failure, 2 usage, config or input error.\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
	    {"run", vmm_cmd_run},     {"report", vmm_cmd_report},     {"trace", vmm_cmd_trace},
	    {"share", vmm_cmd_share}, {"kvm-mode", vmm_cmd_kvm_mode},
	};

	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "memvisor: unknown command '%s'\n\n%s", argv[1], usage_main);
	return 2;
}
