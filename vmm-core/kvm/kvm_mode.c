/* SPDX-License-Identifier: MIT */
/* kvm_mode: what provides the host's /dev/kvm, its paging mode, and
 * `memvisor kvm-mode`. */
/*
 * A /dev/kvm says nothing of what is behind it. Stock KVM has a vendor
 * module on a CPU with hardware virtualization: kvm_amd on a CPU with the
 * svm flag, kvm_intel on one with vmx. It fixes shadow or nested paging
 * for the whole host when it loads (kvm_amd's `npt`, kvm_intel's `ept`,
 * readable in /sys/module/MODULE/parameters/), and Linux guests boot on it.
 * Other providers exist: kvm_pvm, PVM, a software hypervisor that runs
 * without svm or vmx, where hand-assembled real-mode guests run (emulated,
 * slowly) but a stock Linux kernel hangs after its decompressor, under
 * QEMU as under memvisor; and modules memvisor does not know. The probe
 * reads /sys/module, /proc/cpuinfo and /dev/kvm (under a root prefix, so
 * tests can give it a made-up host) and names the provider; the runner
 * refuses to boot Linux where it cannot, and `make check-kvm` takes the
 * nested route there.
 *
 * Switching paging means unloading the vendor module and loading it again
 * with the other value, which the kernel refuses while a VM (or an open
 * /dev/kvm) holds it; memvisor checks the module's reference count first
 * and refuses clearly instead. After the reload it reads the parameter
 * back: a CPU without NPT or EPT loads the module with npt=1 and still
 * runs shadow paging. Per-guest and run-time switching stay with the soft
 * backend.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm-core/cli/cli.h"
#include "vmm-core/kvm/kvm_internal.h"

static const struct {
	const char *module, *param, *cpu_flag, *vendor;
} vendors[] = {{"kvm_amd", "npt", "svm", "AMD SVM"}, {"kvm_intel", "ept", "vmx", "Intel VT-x"}};

/* First character of a file, or 0. */
static int file_char(const char *path)
{
	FILE *f = fopen(path, "r");
	int c;

	if (!f)
		return 0;
	c = fgetc(f);
	fclose(f);
	return c == EOF ? 0 : c;
}

static long file_long(const char *path)
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

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* Whether the first "flags" line of cpuinfo holds the word flag. */
static bool cpu_has(const char *cpuinfo, const char *flag)
{
	FILE *f = fopen(cpuinfo, "r");
	char line[8192];
	bool has = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, "flags", 5))
			continue;
		p = strchr(line, ':');
		for (p = p ? strtok(p + 1, " \t\n") : NULL; p; p = strtok(NULL, " \t\n"))
			has |= !strcmp(p, flag);
		break;
	}
	fclose(f);
	return has;
}

/* A loaded module named kvm_* that is none of the known ones, into
 * h->module; empty when there is none. */
static void other_module(const char *root, struct kv_host *h)
{
	char path[4200];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/sys/module", root);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "kvm_", 4) || !strcmp(e->d_name, "kvm_amd") ||
		    !strcmp(e->d_name, "kvm_intel") || !strcmp(e->d_name, "kvm_pvm"))
			continue;
		snprintf(h->module, sizeof(h->module), "%.63s", e->d_name);
		break;
	}
	closedir(d);
}

void kv_host_probe(const char *root, struct kv_host *h)
{
	char path[4200];
	struct stat st;

	memset(h, 0, sizeof(*h));
	snprintf(path, sizeof(path), "%s/dev/kvm", root);
	h->dev = !stat(path, &st) && S_ISCHR(st.st_mode);
	snprintf(path, sizeof(path), "%s/proc/cpuinfo", root);
	for (int i = 0; i < 2; i++)
		if (cpu_has(path, vendors[i].cpu_flag))
			h->cpu_flag = vendors[i].cpu_flag;
	h->kind = KV_HOST_UNKNOWN;
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/sys/module/%s/parameters/%s", root,
			 vendors[i].module, vendors[i].param);
		if (!file_char(path))
			continue;
		snprintf(h->module, sizeof(h->module), "%s", vendors[i].module);
		h->param = vendors[i].param;
		h->vendor = vendors[i].vendor;
		h->nested = strchr("Yy1", file_char(path)) != NULL;
		if (h->cpu_flag && !strcmp(h->cpu_flag, vendors[i].cpu_flag))
			h->kind = KV_HOST_HARDWARE;
		break;
	}
	snprintf(path, sizeof(path), "%s/sys/module/kvm_pvm", root);
	if (!h->module[0] && is_dir(path)) {
		snprintf(h->module, sizeof(h->module), "kvm_pvm");
		h->kind = KV_HOST_PVM;
	}
	if (!h->module[0])
		other_module(root, h);
	if (!h->dev)
		h->kind = KV_HOST_NONE;
}

const char *kv_host_mode(const struct kv_host *h)
{
	static const char *const names[] = {
	    [KV_HOST_NONE] = "none", [KV_HOST_PVM] = "software", [KV_HOST_UNKNOWN] = "unknown"};

	if (h->kind == KV_HOST_HARDWARE)
		return h->nested ? "nested" : "shadow";
	return names[h->kind];
}

int kv_host_explain(const struct kv_host *h, char *buf, size_t len)
{
	switch (h->kind) {
	case KV_HOST_HARDWARE:
		return snprintf(buf, len,
				"hardware KVM: %s on %s; Linux guests boot and run under %s "
				"paging. The mode is the whole host's: `memvisor kvm-mode "
				"%s` switches it.",
				h->module, h->vendor, h->nested ? "nested" : "shadow",
				h->nested ? "shadow" : "nested");
	case KV_HOST_PVM:
		return snprintf(buf, len,
				"no hardware KVM: /dev/kvm comes from kvm_pvm, PVM, a software "
				"hypervisor (the CPU has %s). Hand-assembled real-mode test "
				"guests run on it, emulated; stock Linux kernels do not boot "
				"(they stop after the decompressor, under QEMU too), and there "
				"is no npt/ept mode to switch. Run Linux guests on hardware "
				"KVM, or under nested QEMU: sh tests/kvm/run-nested.sh.",
				h->cpu_flag ? h->cpu_flag : "no svm or vmx flag");
	case KV_HOST_UNKNOWN:
		if (h->param)
			return snprintf(buf, len,
					"no hardware KVM: %s is loaded but the CPU has no %s "
					"flag; whether Linux guests boot is not known (make "
					"check-kvm probes it).",
					h->module, strcmp(h->module, "kvm_amd") ? "vmx" : "svm");
		return snprintf(buf, len,
				"no hardware KVM known: /dev/kvm comes from %s%s, not kvm_amd, "
				"kvm_intel or kvm_pvm; whether Linux guests boot is not known "
				"(make check-kvm probes it).",
				h->module[0] ? "an unknown module " : "no module memvisor found",
				h->module);
	case KV_HOST_NONE:
		break;
	}
	return snprintf(buf, len,
			"no /dev/kvm%s%s: backend = kvm cannot run here; soft guests run "
			"everywhere, and the KVM suite runs under nested QEMU.",
			h->module[0] ? ", though this module is loaded: " : "", h->module);
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
    "Without an argument, say what provides the host's /dev/kvm and what that\n"
    "means for guests. The first word is the paging mode of a hardware KVM,\n"
    "nested (AMD NPT / Intel EPT) or shadow, from the kvm_amd npt or kvm_intel\n"
    "ept module parameter; or software (kvm_pvm), unknown (another module) or\n"
    "none (no /dev/kvm). With an argument, switch a hardware KVM to that mode\n"
    "by reloading its module (as root); this is refused while any VM uses KVM.\n"
    "The mode is the whole host's: per-guest and run-time switching are the\n"
    "soft backend's (paging = nested|shadow|dynamic in a soft guest's section).\n"
    "\n"
    "Exit status: 0 hardware KVM, 3 no hardware KVM, 1 a switch failed, 2 usage.\n";

/* Reload h's vendor module with the other paging mode. */
static int switch_mode(struct kv_host *h, const char *want)
{
	char path[128], arg[16];
	char *unload[] = {"modprobe", "-r", h->module, NULL};
	char *load[] = {"modprobe", h->module, arg, NULL};
	long refs;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", h->module);
	refs = file_long(path);
	if (refs != 0) {
		fprintf(stderr,
			"memvisor kvm-mode: %s is in use (%ld references: running VMs or open "
			"/dev/kvm); stop them before switching to %s paging\n",
			h->module, refs, want);
		return 1;
	}
	snprintf(arg, sizeof(arg), "%s=%d", h->param, !strcmp(want, "nested"));
	if (run(unload)) {
		fprintf(stderr, "memvisor kvm-mode: modprobe -r %s failed\n", h->module);
		return 1;
	}
	if (run(load)) {
		fprintf(stderr, "memvisor kvm-mode: modprobe %s %s failed\n", h->module, arg);
		return 1;
	}
	kv_host_probe("", h);
	if (h->kind != KV_HOST_HARDWARE || strcmp(kv_host_mode(h), want)) {
		fprintf(stderr,
			"memvisor kvm-mode: %s reloaded with %s but runs %s paging (does the "
			"CPU have %s?)\n",
			h->module, arg, kv_host_mode(h), strcmp(h->param, "ept") ? "NPT" : "EPT");
		return 1;
	}
	printf("%s (%s %s)\n", want, h->module, arg);
	return 0;
}

int vmm_cmd_kvm_mode(int argc, char **argv)
{
	struct kv_host h;
	char why[1024];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "shadow") && strcmp(argv[1], "nested"))) {
		fputs(usage, stderr);
		return 2;
	}
	kv_host_probe("", &h);
	kv_host_explain(&h, why, sizeof(why));
	if (argc == 1) {
		if (h.kind == KV_HOST_HARDWARE)
			printf("%s (%s %s=%c)\n", kv_host_mode(&h), h.module, h.param,
			       h.nested ? 'Y' : 'N');
		else
			printf("%s (%s)\n", kv_host_mode(&h), h.module[0] ? h.module : "no module");
		printf("%s\n", why);
		return h.kind == KV_HOST_HARDWARE ? 0 : 3;
	}
	if (h.kind != KV_HOST_HARDWARE) {
		fprintf(stderr, "memvisor kvm-mode: cannot switch to %s paging: %s\n", argv[1],
			why);
		return 3;
	}
	if (!strcmp(argv[1], kv_host_mode(&h))) {
		printf("%s (already)\n", argv[1]);
		return 0;
	}
	return switch_mode(&h, argv[1]);
}
