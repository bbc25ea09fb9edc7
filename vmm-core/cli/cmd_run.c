/* SPDX-License-Identifier: MIT */
/* `memvisor run CONFIG.ini`: load the config, run the experiment, say where
 * its files are. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm-core/cli/cli.h"

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

int vmm_cmd_run(int argc, char **argv)
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
