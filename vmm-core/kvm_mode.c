/* SPDX-License-Identifier: MIT */
/* kvm_mode: `memvisor kvm-mode`: the host KVM's paging mode, and switching it. */
/*
 * Stock KVM fixes shadow or nested paging for the whole host when its
 * vendor module loads: kvm_amd's `npt` and kvm_intel's `ept` parameters,
 * readable in /sys/module/MODULE/parameters/. Switching means unloading
 * the module and loading it again with the other value, which the kernel
 * refuses while a VM (or an open /dev/kvm) holds it; memvisor checks the
 * module's reference count first and refuses clearly instead. After the
 * reload it reads the parameter back: a CPU without NPT or EPT loads the
 * module with npt=1 and still runs shadow paging. Per-guest and run-time
 * switching stay with the soft backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm-core/kvm_internal.h"

static const struct {
	const char *module, *param;
} vendors[] = {{"kvm_amd", "npt"}, {"kvm_intel", "ept"}};

/* First character of a sysfs file, or 0. */
static int sysfs_char(const char *path)
{
	FILE *f = fopen(path, "r");
	int c;

	if (!f)
		return 0;
	c = fgetc(f);
	fclose(f);
	return c == EOF ? 0 : c;
}

static long sysfs_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The loaded vendor module's index in vendors[], or -1. */
static int vendor_loaded(void)
{
	char path[128];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", vendors[i].module,
			 vendors[i].param);
		if (sysfs_char(path))
			return i;
	}
	return -1;
}

const char *kvm_mode_get(const char **module)
{
	char path[128];
	int v = vendor_loaded(), c;

	if (v < 0)
		return NULL;
	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", vendors[v].module,
		 vendors[v].param);
	c = sysfs_char(path);
	if (module)
		*module = vendors[v].module;
	return (c == 'Y' || c == 'y' || c == '1') ? "nested" : "shadow";
}

/* Run argv, quietly; its exit status or -1. */
static int run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "memvisor kvm-mode: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char usage[] =
    "usage: memvisor kvm-mode [shadow|nested]\n"
    "\n"
    "Without an argument, print the paging mode the host's KVM runs guests\n"
    "with: nested (AMD NPT / Intel EPT) or shadow, from the kvm_amd npt or\n"
    "kvm_intel ept module parameter. With one, switch to it by reloading the\n"
    "module (as root); this is refused while any VM uses KVM. The mode is the\n"
    "whole host's: per-guest and run-time switching are the soft backend's\n"
    "(paging = nested|shadow|dynamic in a soft guest's section).\n";

int vmm_kvm_mode(int argc, char **argv)
{
	const char *module, *mode, *want;
	char path[128], arg[16];
	long refs;
	int v;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "shadow") && strcmp(argv[1], "nested"))) {
		fputs(usage, stderr);
		return 2;
	}
	mode = kvm_mode_get(&module);
	if (!mode) {
		fprintf(stderr, "memvisor kvm-mode: no KVM vendor module loaded "
				"(/sys/module/kvm_amd and kvm_intel are missing)\n");
		return 1;
	}
	v = !strcmp(module, "kvm_intel");
	if (argc == 1) {
		printf("%s (%s %s=%c)\n", mode, module, vendors[v].param,
		       !strcmp(mode, "nested") ? 'Y' : 'N');
		return 0;
	}
	want = argv[1];
	if (!strcmp(want, mode)) {
		printf("%s (already)\n", mode);
		return 0;
	}
	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", module);
	refs = sysfs_long(path);
	if (refs != 0) {
		fprintf(stderr,
			"memvisor kvm-mode: %s is in use (%ld references: running VMs or open "
			"/dev/kvm); stop them before switching to %s paging\n",
			module, refs, want);
		return 1;
	}
	snprintf(arg, sizeof(arg), "%s=%d", vendors[v].param, !strcmp(want, "nested"));
	{
		char *unload[] = {"modprobe", "-r", (char *)module, NULL};
		char *load[] = {"modprobe", (char *)module, arg, NULL};

		if (run(unload)) {
			fprintf(stderr, "memvisor kvm-mode: modprobe -r %s failed\n", module);
			return 1;
		}
		if (run(load)) {
			fprintf(stderr, "memvisor kvm-mode: modprobe %s %s failed\n", module, arg);
			return 1;
		}
	}
	mode = kvm_mode_get(&module);
	if (!mode || strcmp(mode, want)) {
		fprintf(stderr,
			"memvisor kvm-mode: %s reloaded with %s but runs %s paging (does the "
			"CPU have %s?)\n",
			module, arg, mode ? mode : "no", v ? "EPT" : "NPT");
		return 1;
	}
	printf("%s (%s %s)\n", mode, module, arg);
	return 0;
}
