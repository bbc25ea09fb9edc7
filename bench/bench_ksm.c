/* SPDX-License-Identifier: MIT */
/*
 * bench_ksm: memvisor's page sharing against Linux KSM, on the same memory,
 * side by side in one run.
 *
 * Memory: G guests of P pages each (default 8 x 16 Ki pages = 512 MiB), with
 * the content model of memvisor's guests: per page, by a hash of (guest,
 * page), 20% zero, 40% a page of one shared library image (the same in
 * every guest: guest_library_create), 40% private random bytes. Perfect
 * content-based sharing frees total - distinct pages; the bench counts the
 * distinct contents independently (sorting the pages by their bytes).
 *
 * memvisor: the pages are RESIDENT frames of G p2ms in one frame pool; ksm
 * scans them in whole passes until a pass merges nothing. Reported: pages
 * freed (pages_saved), wall and CPU seconds (the scanning thread's CPU,
 * kernel time for giving frames back included) to the end of the pass that
 * reached the final count, and the confirming pass; the RSS drop.
 *
 * Linux KSM: the same bytes in one anonymous mapping of a plain process,
 * madvise(MADV_MERGEABLE), ksmd at its fastest settings (run = 1,
 * pages_to_scan = 100000, sleep_millisecs = 0) through /sys/kernel/mm/ksm,
 * as root. Other KSM settings (max_page_sharing, use_zero_pages,
 * smart_scan) stay as the system has them and are printed. Reported: pages
 * freed (the growth of pages_sharing), wall time and ksmd CPU time
 * (/proc/PID/schedstat, nanoseconds) until pages_sharing last changed,
 * which is known once it has held for 3 more full scans. The original
 * settings are restored afterwards, also on SIGINT/SIGTERM (blocked during
 * the run and polled). Without root or /sys/kernel/mm/ksm the KSM half is
 * skipped with a message.
 *
 * memvisor on KVM guest memory: the same pages in G KVM VMs' memfd RAM
 * (where /dev/kvm is usable; their vCPUs never run), shared by the same
 * ksm/ through kv_mem as in a run: userfaultfd write protection around
 * every compare, the shared frame moved in with mremap, the page punched.
 * Reported: the same counts, the scanning CPU, and the cost per page of
 * each step (read, hash; protect and compare per compare; remap and punch
 * per merge) and the longest a page stayed write-protected.
 *
 * usage: bench_ksm [GUESTS [PAGES]]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "guest/guest.h"
#include "ksm/ksm.h"
#include "mem/mem.h"
#include "vmm-core/kvm/kvm_internal.h"

#define LIB_PAGES     4096u
#define KSM_SYS	      "/sys/kernel/mm/ksm/"
#define KSM_TIMEOUT_S 300.0

struct bench {
	unsigned guests;
	uint64_t pages; /* per guest */
	struct guest_library *lib;
	uint64_t total, distinct;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The bytes of guest g's page i. */
static void gen_page(const struct bench *b, unsigned g, uint64_t i, uint8_t *buf)
{
	uint64_t h = util_mix64((uint64_t)g << 40 ^ i), x = h;

	switch (h % 10) {
	case 0:
	case 1:
		memset(buf, 0, MEM_PAGE_SIZE);
		break;
	case 2:
	case 3:
	case 4:
	case 5:
		memcpy(buf, b->lib->data + (util_mix64(h) % LIB_PAGES) * MEM_PAGE_SIZE,
		       MEM_PAGE_SIZE);
		break;
	default:
		for (unsigned w = 0; w < MEM_PAGE_SIZE / 8; w++) {
			x = util_mix64(x);
			memcpy(buf + w * 8, &x, 8);
		}
	}
}

static int cmp_pages(const void *a, const void *b)
{
	return memcmp(*(uint8_t *const *)a, *(uint8_t *const *)b, MEM_PAGE_SIZE);
}

/* Distinct contents among n pages, by sorting them (independent of ksm). */
static uint64_t count_distinct(uint8_t **pages, uint64_t n)
{
	uint64_t d = n ? 1 : 0;

	qsort(pages, n, sizeof(*pages), cmp_pages);
	for (uint64_t i = 1; i < n; i++)
		d += memcmp(pages[i - 1], pages[i], MEM_PAGE_SIZE) != 0;
	return d;
}

/* ---- memvisor ---- */

struct mv_result {
	uint64_t saved, zero_sharing, shared;
	double wall, cpu, first_cpu, first_wall, metadata_frac;
	unsigned rounds;
	int64_t rss_drop;
	const char *metadata_source;
};

static void run_memvisor(struct bench *b, enum ksm_order order, struct mv_result *res)
{
	struct mem_pool *pool = mem_pool_create(b->total + 64);
	struct mem_p2m **p2m = calloc(b->guests, sizeof(*p2m));
	struct ksm_guest **kg = calloc(b->guests, sizeof(*kg));
	uint8_t **ptrs = calloc(b->total, sizeof(*ptrs));
	struct ksm_params kp = {.seed = 1, .order = order};
	struct ksm_stats st;
	struct ksm *k;
	uint64_t rss0, n = 0;

	if (!pool || !p2m || !kg || !ptrs || !(k = ksm_create(pool, &kp))) {
		perror("bench_ksm: memvisor setup");
		exit(1);
	}
	for (unsigned g = 0; g < b->guests; g++) {
		p2m[g] = mem_p2m_create(pool, b->pages);
		if (!p2m[g]) {
			perror("bench_ksm: p2m");
			exit(1);
		}
		for (gfn_t gfn = 0; gfn < b->pages; gfn++) {
			hfn_t h;

			if (mem_p2m_populate(p2m[g], gfn, &h)) {
				fprintf(stderr, "bench_ksm: pool exhausted\n");
				exit(1);
			}
			gen_page(b, g, gfn, mem_pool_ptr(pool, h));
			ptrs[n++] = mem_pool_ptr(pool, h);
		}
		kg[g] = ksm_guest_add(k, p2m[g], 0);
	}
	b->distinct = count_distinct(ptrs, n);
	free(ptrs);
	rss0 = mem_rss_bytes();
	res->rounds = ksm_converge(k, 16, &res->first_cpu, &res->first_wall);
	mem_pool_release(pool);
	res->rss_drop = (int64_t)rss0 - (int64_t)mem_rss_bytes();
	ksm_stats(k, &st);
	res->saved = st.pages_saved;
	res->zero_sharing = st.pages_zero_sharing;
	res->shared = st.pages_shared;
	res->wall = st.scan_wall_seconds;
	res->cpu = st.scan_cpu_seconds;
	res->metadata_frac = (double)st.metadata_bytes / ((double)b->total * MEM_PAGE_SIZE);
	res->metadata_source = st.metadata_source;
	if (ksm_check(k)) {
		fprintf(stderr, "bench_ksm: ksm_check failed\n");
		exit(1);
	}
	for (unsigned g = 0; g < b->guests; g++) {
		ksm_guest_remove(kg[g]);
		mem_p2m_destroy(p2m[g]);
	}
	ksm_destroy(k);
	mem_pool_destroy(pool);
	free(kg);
	free(p2m);
}

/* ---- memvisor on KVM guest memory ---- */

/* The same pages in G KVM VMs' memfd RAM (their vCPUs never run), shared
 * through kv_mem (userfaultfd write protection, mremap, punch) as a KVM
 * guest's are in a run: the cost of each step, per page. */
struct kv_result {
	bool ran;
	uint64_t saved, scanned, hashed, compares, merges;
	double cpu, read, hash, protect, compare, remap, punch, stall_max;
};

static void run_kvm(struct bench *b, struct kv_result *res)
{
	struct mem_pool *pool = mem_pool_create_memfd(b->total + 64);
	struct ksm_params kp = {.seed = 1, .order = KSM_ORDER_SEQUENTIAL};
	struct kv_vm **vm = calloc(b->guests, sizeof(*vm));
	struct kv_mem **m = calloc(b->guests, sizeof(*m));
	struct ksm_guest **kg = calloc(b->guests, sizeof(*kg));
	struct ksm_stats st;
	struct ksm *k;
	char err[512];

	memset(res, 0, sizeof(*res));
	if (access("/dev/kvm", R_OK | W_OK) || !pool || !vm || !m || !kg ||
	    !(k = ksm_create(pool, &kp))) {
		printf("memvisor on KVM guest memory: skipped (/dev/kvm: %s)\n", strerror(errno));
		return;
	}
	for (unsigned g = 0; g < b->guests; g++) {
		struct kv_vm_params vp = {
		    .name = "bench", .memory = b->pages * MEM_PAGE_SIZE, .vcpus = 1, .pin_cpu = -1};
		struct kv_mem_params mp = {.pool_fd = pool->fd};

		vm[g] = kv_vm_create(&vp, err, sizeof(err));
		if (vm[g])
			for (uint64_t i = 0; i < b->pages; i++)
				gen_page(b, g, i, vm[g]->ram + i * MEM_PAGE_SIZE);
		m[g] = vm[g] ? kv_mem_create(vm[g], &mp, err, sizeof(err)) : NULL;
		kg[g] = m[g] ? ksm_guest_add_mem(k, &kv_mem_ksm_ops, m[g], b->pages, 0) : NULL;
		if (!kg[g]) {
			printf("memvisor on KVM guest memory: skipped (%s)\n", err);
			exit(1);
		}
	}
	ksm_converge(k, 16, NULL, NULL);
	ksm_stats(k, &st);
	res->ran = true;
	res->saved = st.pages_saved;
	res->scanned = st.pages_scanned;
	res->hashed = st.pages_hashed;
	res->cpu = st.scan_cpu_seconds;
	res->read = st.read_seconds;
	res->hash = st.hash_seconds;
	for (unsigned g = 0; g < b->guests; g++) {
		struct kv_mem_stats s;

		kv_mem_stats(m[g], &s);
		res->compares += s.compares;
		res->merges += s.merges;
		res->protect += (double)s.ns_protect / 1e9;
		res->compare += (double)s.ns_compare / 1e9;
		res->remap += (double)s.ns_remap / 1e9;
		res->punch += (double)s.ns_punch / 1e9;
		if ((double)s.stall_ns_max / 1e9 > res->stall_max)
			res->stall_max = (double)s.stall_ns_max / 1e9;
		ksm_guest_remove(kg[g]);
		kv_mem_destroy(m[g]);
		kv_vm_destroy(vm[g]);
	}
	ksm_destroy(k);
	mem_pool_destroy(pool);
	free(kg);
	free(m);
	free(vm);
}

static void print_kvm(const struct kv_result *r, double perfect)
{
	double us = 1e6;

	if (!r->ran)
		return;
	printf("memvisor on KVM guest memory (userfaultfd): freed %" PRIu64
	       " pages (%.2f%% of perfect); %.3f s CPU in all, %" PRIu64 " pages scanned;\n"
	       "           per page: read %.2f us, hash %.2f us (of %" PRIu64
	       " scanned); per compare: protect %.2f us, compare %.2f us (%" PRIu64
	       "); per merge: remap %.2f us, punch %.2f us (%" PRIu64
	       "); longest write-protected %.1f us\n",
	       r->saved, 100.0 * (double)r->saved / perfect, r->cpu, r->scanned,
	       us * r->read / (double)r->scanned, us * r->hash / (double)r->hashed, r->hashed,
	       us * r->protect / (double)r->compares, us * r->compare / (double)r->compares,
	       r->compares, us * r->remap / (double)r->merges, us * r->punch / (double)r->merges,
	       r->merges, us * r->stall_max);
}

/* ---- Linux KSM ---- */

static int sys_read(const char *name, uint64_t *v)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_SYS "%s", name);
	return util_read_u64(path, v);
}

static int sys_write(const char *name, uint64_t v)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_SYS "%s", name);
	return util_write_u64(path, v);
}

/* The pid of the ksmd kernel thread, or -1. */
static long ksmd_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long pid = -1;

	while (d && (e = readdir(d)) && pid < 0) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, "ksmd\n"))
			pid = atol(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

/*
 * Another process with MADV_MERGEABLE memory (QEMU marks guest RAM so by
 * default): ksmd would scan it too, and its CPU time and pages_sharing
 * would not be ours. Returns its pid (name in comm), or 0.
 */
static long other_mergeable(char *comm, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long found = 0, self = (long)getpid();
	char *line = NULL;
	size_t cap = 0;

	while (d && !found && (e = readdir(d))) {
		char path[300];
		long pid = atol(e->d_name);
		FILE *f;

		if (pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/smaps", pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (!found && getline(&line, &cap, f) > 0)
			if (!strncmp(line, "VmFlags:", 8) && strstr(line, " mg"))
				found = pid;
		fclose(f);
		if (found) {
			snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
			f = fopen(path, "re");
			comm[0] = 0;
			if (f) {
				if (fgets(comm, (int)len, f))
					comm[strcspn(comm, "\n")] = 0;
				fclose(f);
			}
		}
	}
	free(line);
	if (d)
		closedir(d);
	return found;
}

/* ksmd's CPU time so far, seconds (schedstat: nanoseconds on a CPU). */
static double ksmd_cpu(long pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/schedstat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return (double)ns / 1e9;
}

struct ksm_result {
	uint64_t saved;
	double wall, cpu;
	uint64_t full_scans;
	bool ran;
	bool timeout;
};

static const char *const ksm_knobs[] = {"run", "pages_to_scan", "sleep_millisecs"};
#define NKNOBS 3

static void ksm_restore(const uint64_t *saved)
{
	for (int i = NKNOBS - 1; i >= 0; i--)
		if (sys_write(ksm_knobs[i], saved[i]))
			fprintf(stderr, "bench_ksm: could not restore %s%s to %" PRIu64 "\n",
				KSM_SYS, ksm_knobs[i], saved[i]);
}

static void run_linux_ksm(const struct bench *b, struct ksm_result *res)
{
	uint64_t saved[NKNOBS], base = 0, last = 0, v, scans, scans0 = 0, last_scans = 0;
	uint64_t mps = 0, zp = 0, smart = 0;
	size_t len = b->total * MEM_PAGE_SIZE;
	double t0, cpu0, last_t, last_cpu;
	sigset_t block, pending, old;
	long pid = ksmd_pid(), other;
	char comm[32];
	uint8_t *mem;

	memset(res, 0, sizeof(*res));
	if (geteuid() != 0 || access(KSM_SYS "run", W_OK) || pid < 0) {
		printf("Linux KSM: skipped (%s)\n", access(KSM_SYS "run", F_OK) ? "no " KSM_SYS
										  " on this kernel"
						    : geteuid() ? "needs root to set " KSM_SYS "run"
						    : pid < 0	? "no ksmd thread found"
								: KSM_SYS "run is not writable");
		return;
	}
	for (int i = 0; i < NKNOBS; i++)
		if (sys_read(ksm_knobs[i], &saved[i])) {
			printf("Linux KSM: skipped (cannot read %s%s)\n", KSM_SYS, ksm_knobs[i]);
			return;
		}
	other = other_mergeable(comm, sizeof(comm));
	if (other) {
		printf("Linux KSM: skipped (process %ld, %s, has MADV_MERGEABLE memory: ksmd would "
		       "scan it too; run again when it is gone)\n",
		       other, comm);
		return;
	}
	(void)sys_read("max_page_sharing", &mps);
	(void)sys_read("use_zero_pages", &zp);
	(void)sys_read("smart_scan", &smart);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("bench_ksm: mmap");
		exit(1);
	}
	/* 4 KiB pages, as the pool's: ksmd would split huge pages first */
	(void)madvise(mem, len, MADV_NOHUGEPAGE);
	for (unsigned g = 0; g < b->guests; g++)
		for (uint64_t i = 0; i < b->pages; i++)
			gen_page(b, g, i, mem + (g * b->pages + i) * MEM_PAGE_SIZE);

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	(void)sys_read("pages_sharing", &base);
	(void)sys_read("full_scans", &scans0);
	if (sys_write("sleep_millisecs", 0) || sys_write("pages_to_scan", 100000) ||
	    sys_write("run", 1)) {
		printf("Linux KSM: skipped (cannot set %s)\n", KSM_SYS);
		goto restore;
	}
	res->ran = true;
	printf("Linux KSM: ksmd (pid %ld) at pages_to_scan 100000, sleep_millisecs 0; "
	       "max_page_sharing %" PRIu64 ", use_zero_pages %" PRIu64 ", smart_scan %" PRIu64 "\n",
	       pid, mps, zp, smart);
	fflush(stdout);
	cpu0 = last_cpu = ksmd_cpu(pid);
	t0 = last_t = now();
	if (madvise(mem, len, MADV_MERGEABLE)) {
		perror("bench_ksm: madvise(MADV_MERGEABLE)");
		res->ran = false;
		goto restore;
	}
	for (;;) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		nanosleep(&ts, NULL);
		if (sys_read("pages_sharing", &v) || sys_read("full_scans", &scans))
			break;
		if (v != last) {
			last = v;
			last_t = now();
			last_cpu = ksmd_cpu(pid);
			last_scans = scans;
		}
		/* final once it held for 3 more full scans */
		if (last != base && scans >= last_scans + 3)
			break;
		if (now() - t0 > KSM_TIMEOUT_S) {
			res->timeout = true;
			break;
		}
		sigpending(&pending);
		if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM))
			break;
	}
	res->saved = last - base;
	res->wall = last_t - t0;
	res->cpu = last_cpu - cpu0;
	res->full_scans = last_scans - scans0;
restore:
	munmap(mem, len); /* KSM pages go with the mapping */
	ksm_restore(saved);
	sigprocmask(SIG_SETMASK, &old, NULL); /* a pending signal acts now */
}

static void print_memvisor(const char *order, const struct mv_result *mv, double perfect)
{
	printf("memvisor (%s order): freed %" PRIu64 " pages (%.2f%% of perfect; RSS fell %.1f MiB "
	       "= %.1f%% of that), %" PRIu64 " shared frames, %" PRIu64 " zero pages on one "
	       "frame;\n"
	       "           %.3f s wall, %.3f s CPU to converge (first pass); %u passes in all, "
	       "%.3f s CPU; metadata %.3f%% of memory (%s)\n",
	       order, mv->saved, 100.0 * (double)mv->saved / perfect,
	       (double)mv->rss_drop / 1048576,
	       100.0 * (double)mv->rss_drop / ((double)mv->saved * MEM_PAGE_SIZE), mv->shared,
	       mv->zero_sharing, mv->first_wall, mv->first_cpu, mv->rounds, mv->cpu,
	       100 * mv->metadata_frac, mv->metadata_source);
}

int main(int argc, char **argv)
{
	struct bench b = {.guests = 8, .pages = 16384};
	struct mv_result mv = {0}, mvr = {0};
	struct kv_result kv;
	struct ksm_result lk;
	double perfect;

	if (argc > 1)
		b.guests = (unsigned)atoi(argv[1]);
	if (argc > 2)
		b.pages = strtoull(argv[2], NULL, 10);
	if (argc > 3 || !b.guests || !b.pages) {
		fprintf(stderr, "usage: bench_ksm [GUESTS [PAGES]]\n");
		return 2;
	}
	b.total = b.guests * b.pages;
	b.lib = guest_library_create(LIB_PAGES, 42);
	if (!b.lib) {
		perror("bench_ksm: library");
		return 1;
	}
	run_memvisor(&b, KSM_ORDER_SEQUENTIAL, &mv);
	run_memvisor(&b, KSM_ORDER_RANDOM, &mvr);
	perfect = (double)(b.total - b.distinct);
	printf("memory: %u guests x %" PRIu64 " pages = %" PRIu64 " pages (%.0f MiB); "
	       "%" PRIu64 " distinct contents: perfect sharing frees %" PRIu64 " pages\n",
	       b.guests, b.pages, b.total, (double)b.total * MEM_PAGE_SIZE / 1048576, b.distinct,
	       b.total - b.distinct);
	print_memvisor("sequential", &mv, perfect);
	print_memvisor("random", &mvr, perfect);
	fflush(stdout);
	run_kvm(&b, &kv);
	print_kvm(&kv, perfect);
	fflush(stdout);
	run_linux_ksm(&b, &lk);
	if (lk.ran) {
		printf("Linux KSM: freed %" PRIu64 " pages (%.2f%% of perfect)%s;\n"
		       "           %.3f s wall, %.3f s ksmd CPU to converge (%" PRIu64
		       " full scans)\n",
		       lk.saved, 100.0 * (double)lk.saved / perfect,
		       lk.timeout ? " [timed out]" : "", lk.wall, lk.cpu, lk.full_scans);
		printf("ratio KSM / memvisor: %.1fx the CPU, %.1fx the wall time (sequential; "
		       "random: %.1fx, %.1fx); memvisor frees %" PRId64 " pages more\n",
		       lk.cpu / (mv.first_cpu > 0 ? mv.first_cpu : 1e-9),
		       lk.wall / (mv.first_wall > 0 ? mv.first_wall : 1e-9),
		       lk.cpu / (mvr.first_cpu > 0 ? mvr.first_cpu : 1e-9),
		       lk.wall / (mvr.first_wall > 0 ? mvr.first_wall : 1e-9),
		       (int64_t)mv.saved - (int64_t)lk.saved);
	}
	guest_library_destroy(b.lib);
	return 0;
}
