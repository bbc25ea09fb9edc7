/* SPDX-License-Identifier: MIT */
/*
 * backend_kvm_lksm: Linux's KSM beside memvisor's sharing ([host]
 * linux_ksm = on), so that the two can be compared on the same guests.
 *
 * Each guest's RAM is then private anonymous memory marked MADV_MERGEABLE
 * (vcpu_kvm.c), as QEMU's is by default, and the kernel's ksmd merges it.
 * For the run memvisor turns ksmd on at the scan rate the config asks of
 * its own scanner ([host] scan_rate capped by the guests' sum: pages_to_scan
 * per sleep_millisecs of 20 ms) and puts the three settings back at the
 * end. What ksmd did comes from /sys/kernel/mm/ksm (host-wide: any other
 * process's mergeable memory counts too, and the summary says so when
 * ksmd was running before) and its CPU time from /proc/PID/stat.
 *
 * Counting. KSM's pages_shared are the merged frames and pages_sharing
 * the mappings beyond the first of each: the pages saved. A guest's pages
 * (mincore over its RAM) count a merged frame in each guest that maps
 * it, so the host's frames in use are the guests' pages less the saved.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm-core/kvm/backend_kvm_internal.h"

#define KSM_DIR	     "/sys/kernel/mm/ksm/"
#define KSM_SLEEP_MS 20u

static int read_u64(const char *name, uint64_t *v)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_DIR "%s", name);
	return util_read_u64(path, v);
}

static int write_u64(const char *name, uint64_t v)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_DIR "%s", name);
	return util_write_u64(path, v);
}

/* ksmd's CPU seconds so far (user and system), or -1 when it is not found. */
static double ksmd_cpu(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	double s = -1;

	while (d && (e = readdir(d)) && s < 0) {
		char path[300], buf[512];
		unsigned long ut, st;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		/* pid (comm) state ppid ... field 14 utime, 15 stime */
		if (fgets(buf, sizeof(buf), f) && strstr(buf, " (ksmd) ") &&
		    sscanf(strrchr(buf, ')') + 2,
			   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
			s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		fclose(f);
	}
	if (d)
		closedir(d);
	return s;
}

int lksm_init(struct run_host *h, struct khost *kh)
{
	struct lksm *l = &kh->lksm;
	const struct vmm_config *cfg = h->cfg;
	double rate = 0;
	int r;

	for (unsigned i = 0; i < cfg->nguests; i++)
		rate += cfg->guests[i].scan_rate;
	if (cfg->host.scan_rate > 0 && cfg->host.scan_rate < rate)
		rate = cfg->host.scan_rate;
	r = read_u64("run", &l->run0);
	if (!r)
		r = read_u64("pages_to_scan", &l->to_scan0);
	if (!r)
		r = read_u64("sleep_millisecs", &l->sleep0);
	if (r) {
		fprintf(stderr, "%s: [host] linux_ksm: %s: %s (a kernel without KSM?)\n", cfg->path,
			KSM_DIR, strerror(-r));
		return -1;
	}
	l->to_scan = (uint64_t)(rate * KSM_SLEEP_MS / 1e3);
	if (l->to_scan < 1)
		l->to_scan = 1;
	r = write_u64("sleep_millisecs", KSM_SLEEP_MS);
	if (!r)
		r = write_u64("pages_to_scan", l->to_scan);
	if (!r)
		r = write_u64("run", 1);
	if (r) {
		fprintf(stderr, "%s: [host] linux_ksm: turning ksmd on in %s: %s (it takes root)\n",
			cfg->path, KSM_DIR, strerror(-r));
		lksm_fini(kh);
		return -1;
	}
	l->on = true;
	l->was_running = l->run0 == 1;
	if (l->was_running)
		fprintf(stderr, "note: ksmd was running before this run: its counters include "
				"other processes' mergeable memory\n");
	l->cpu0 = ksmd_cpu();
	return 0;
}

void lksm_fini(struct khost *kh)
{
	struct lksm *l = &kh->lksm;

	if (!l->run0 && !l->to_scan0 && !l->sleep0)
		return; /* never read */
	/* stopped (0) leaves merged pages merged; they go with the guests */
	if (write_u64("run", l->run0) || write_u64("pages_to_scan", l->to_scan0) ||
	    write_u64("sleep_millisecs", l->sleep0))
		fprintf(stderr, "[host] linux_ksm: could not restore %s settings: %s\n", KSM_DIR,
			strerror(errno));
	l->on = false;
}

void lksm_stats(const struct khost *kh, struct lksm_stats *s)
{
	const struct lksm *l = &kh->lksm;
	double c = ksmd_cpu();

	memset(s, 0, sizeof(*s));
	(void)read_u64("pages_shared", &s->shared);
	(void)read_u64("pages_sharing", &s->sharing);
	(void)read_u64("pages_unshared", &s->unshared);
	(void)read_u64("pages_volatile", &s->volatile_);
	(void)read_u64("full_scans", &s->full_scans);
	(void)read_u64("ksm_zero_pages", &s->zero); /* Linux 6.5 and later */
	s->cpu_seconds = c >= 0 && l->cpu0 >= 0 ? c - l->cpu0 : 0;
}

uint64_t lksm_saved(const struct khost *kh)
{
	uint64_t v = 0;

	if (kh->lksm.on)
		(void)read_u64("pages_sharing", &v);
	return v;
}
