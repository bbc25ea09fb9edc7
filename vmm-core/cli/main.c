/* SPDX-License-Identifier: MIT */
/*
 * memvisor: the command line. Exit status 0 on success, 1 on a runtime
 * failure (a guest failed, verification found a difference), 2 on a usage,
 * config or input error; every message names the file and line, or the
 * guest and page.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm-core/core/vmm_internal.h"

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

static const char usage_run[] =
    "usage: memvisor run CONFIG.ini [options]\n"
    "\n"
    "Run the experiment CONFIG.ini: its guests on their backends, interleaved\n"
    "by modeled time, sampled every [host] sample_ms of modeled time.\n"
    "\n"
    "  -o, --out DIR        output folder (default results/CONFIG-NAME)\n"
    "      --seed N         seed every guest: instance i of a section gets N + i\n"
    "      --set S.K=V      override key K of section S (host, cost, or a\n"
    "                       guest section by its name: --set web.memory=2G)\n"
    "      --verify         at the end, check every page each workload wrote\n"
    "                       against its own record; a difference fails the run\n"
    "      --dump DIR       write each guest's physical memory (NAME.mem, raw)\n"
    "                       and its page-table roots (NAME.roots: pid cr3)\n"
    "  -q, --quiet          no progress line\n"
    "\n"
    "Guests with backend = kvm boot Linux (kernel, initrd) on /dev/kvm and run\n"
    "in wall time; all guests of a run have one backend. A kvm guest's paging\n"
    "mode is the host's (memvisor kvm-mode); a key marked (soft only) or (kvm\n"
    "only) below is an error in a guest of the other backend.\n";

static const char usage_report[] =
    "usage: memvisor report DIR\n"
    "\n"
    "Read DIR/timeseries.csv, guests.csv and summary.json (from memvisor run)\n"
    "and write gnuplot figures to DIR/figures/ and the page DIR/report.html.\n";

/* --seed N: instance i of a section gets N + i. 0, or -1 (said). */
static int apply_seed(struct vmm_config *cfg, const char *seed)
{
	char *end;
	unsigned long long s;

	errno = 0;
	s = strtoull(seed, &end, 10);
	if (errno || *end || !*seed || *seed == '-') {
		fprintf(stderr, "memvisor: --seed %s: expected a non-negative integer\n", seed);
		return -1;
	}
	for (unsigned i = 0; i < cfg->nguests; i++)
		cfg->guests[i].seed = s + cfg->guests[i].instance;
	return 0;
}

/* results/NAME for CONFIG path .../NAME.ini */
static void default_out(const char *path, char *out, size_t len)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	snprintf(out, len, "results/%.*s", (int)strcspn(base, "."), base);
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},  {"seed", required_argument, NULL, 's'},
	    {"set", required_argument, NULL, 'S'},  {"verify", no_argument, NULL, 'v'},
	    {"dump", required_argument, NULL, 'd'}, {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},	    {NULL, 0, NULL, 0},
	};
	struct vmm_run_opts o = {.progress = isatty(STDERR_FILENO)};
	char **sets = calloc((size_t)argc, sizeof(char *));
	unsigned nsets = 0;
	const char *seed = NULL;
	char out[4096], err[1024];
	struct vmm_config cfg;
	int c, status;

	if (!sets)
		return 1;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.out_dir = optarg;
			break;
		case 's':
			seed = optarg;
			break;
		case 'S':
			sets[nsets++] = optarg;
			break;
		case 'v':
			o.verify = true;
			break;
		case 'd':
			o.dump_dir = optarg;
			break;
		case 'q':
			o.progress = false;
			break;
		case 'h':
			fputs(usage_run, stdout);
			fputs("\nConfig keys, with their defaults ([cost] keys: README, \"Modeled "
			      "time\"):\n",
			      stdout);
			vmm_config_keys_print(stdout);
			free(sets);
			return 0;
		default:
			fputs(usage_run, stderr);
			free(sets);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage_run, stderr);
		free(sets);
		return 2;
	}
	if (vmm_config_load(&cfg, argv[optind], sets, nsets, err, sizeof(err))) {
		fprintf(stderr, "memvisor: %s\n", err);
		free(sets);
		return 2;
	}
	free(sets);
	if (seed && apply_seed(&cfg, seed)) {
		vmm_config_free(&cfg);
		return 2;
	}
	if (!o.out_dir) {
		default_out(argv[optind], out, sizeof(out));
		o.out_dir = out;
	}
	status = vmm_run(&cfg, &o);
	if (status != 2)
		printf("%s %s\n", status ? "failed; results in" : "results in", o.out_dir);
	vmm_config_free(&cfg);
	return status;
}

static int cmd_report(int argc, char **argv)
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

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "trace"))
		return vmm_cmd_trace(argc - 1, argv + 1);
	if (!strcmp(argv[1], "share"))
		return vmm_share_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "kvm-mode"))
		return vmm_kvm_mode(argc - 1, argv + 1);
	fprintf(stderr, "memvisor: unknown command '%s'\n\n%s", argv[1], usage_main);
	return 2;
}
