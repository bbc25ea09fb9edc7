/* SPDX-License-Identifier: MIT */
/* memvisor-guest: memvisor's static program inside a Linux guest on KVM. */
/*
 * The initramfs's /init runs this program with the memvisor.* parameters
 * of the kernel command line turned into options. It runs the same
 * workload generators as the soft guests (guest/workload.c, zipf.c and
 * content.c: the same seeds give the same access stream and the same page
 * contents), but on real memory of a real Linux process, so the guest
 * kernel demand-pages it, reclaims it to its zram swap and gives it up to
 * the balloon as Linux does. At the end it checks every page against what
 * the workload wrote, as --verify does on the soft backend.
 *
 * Everything it reports goes to stdout (the guest's console, ttyS0) as
 * lines memvisor parses (vmm-core/kvm_dev.c):
 *
 *   @memvisor boot memtotal_kb=N memfree_kb=N cpus=N
 *   @memvisor result workload=W accesses=N wss_pages=N seconds=S
 *             verified=yes|no mismatches=N pgfault=N pgmajfault=N
 *             pswpin=N pswpout=N
 *   @memvisor ack=K ... (agent mode: the reply to the K-th command)
 *
 * Workloads: seq, uniform, zipf (guest/); trace: the binary traces
 * memvisor put in /trace/ (--traces=N, --loop=0|1), each address space a
 * process of its own (trace.c); and ptwrite: map, touch and unmap runs of
 * 64 pages, so the guest rewrites page-table entries and flushes TLB
 * entries all the time, the case shadow paging pays for.
 *
 * Agent mode (--agent): after the workload, read commands from stdin, one
 * per line, and answer each with an ack line:
 *   touch SIZE   map SIZE bytes and write a pattern into every page
 *   free         unmap everything touch and mlock mapped
 *   mlock SIZE   map and lock SIZE bytes, 1 MiB at a time, until it fails
 *   check        verify the touch pattern of every page still mapped
 *   meminfo      report MemTotal, MemFree, MemAvailable, SwapTotal/Free
 *   quit         end the program (status 0)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "guest/inguest/inguest.h"

#define CHUNK	   (1u << 20)
#define MAX_CHUNKS 4096u

struct opts {
	struct guest_workload_params wp;
	char workload[16];
	uint64_t seed;
	uint64_t library_pages, library_seed;
	bool agent;
	unsigned hold;	     /* seconds to keep the working set after the run */
	unsigned traces;     /* trace workload: files in /trace/ */
	char trace_dir[256]; /* ... or here */
	bool flip;	     /* tests: a byte flipped before verifying */
	bool loop;	     /* trace workload: start over until accesses */
};

struct vmstat {
	uint64_t pgfault, pgmajfault, pswpin, pswpout;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t file_value(const char *path, const char *key)
{
	char line[256];
	size_t n = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && (line[n] == ' ' || line[n] == ':')) {
			v = strtoull(line + n + 1 + strspn(line + n + 1, " :"), NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void vmstat_read(struct vmstat *v)
{
	v->pgfault = file_value("/proc/vmstat", "pgfault");
	v->pgmajfault = file_value("/proc/vmstat", "pgmajfault");
	v->pswpin = file_value("/proc/vmstat", "pswpin");
	v->pswpout = file_value("/proc/vmstat", "pswpout");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'K':
	case 'k':
		v <<= 10, end++;
		break;
	case 'M':
	case 'm':
		v <<= 20, end++;
		break;
	case 'G':
	case 'g':
		v <<= 30, end++;
		break;
	}
	if (end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	uint64_t v;

	memset(o, 0, sizeof(*o));
	snprintf(o->workload, sizeof(o->workload), "zipf");
	o->wp.wss_pages = 4096;
	o->wp.accesses = 1000000;
	o->wp.write_pct = 30;
	o->wp.zipf_theta = 0.99;
	o->wp.content = GUEST_CONTENT_MIXED;
	o->wp.zero_pct = 20;
	o->wp.library_pct = 40;
	o->seed = 1;
	o->library_pages = 4096;
	o->library_seed = 42;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *val = strchr(a, '=');

		if (strncmp(a, "--", 2))
			goto bad;
		a += 2;
		if (!strcmp(a, "agent")) {
			o->agent = true;
			continue;
		}
		if (!val)
			goto bad;
		*val++ = 0;
		if (!strcmp(a, "workload"))
			snprintf(o->workload, sizeof(o->workload), "%s", val);
		else if (!strcmp(a, "wss") && !parse_size(val, &v))
			o->wp.wss_pages = v / 4096;
		else if (!strcmp(a, "accesses") && !parse_size(val, &v))
			o->wp.accesses = v;
		else if (!strcmp(a, "write_pct") && !parse_size(val, &v) && v <= 100)
			o->wp.write_pct = (unsigned)v;
		else if (!strcmp(a, "zipf_theta"))
			o->wp.zipf_theta = strtod(val, NULL);
		else if (!strcmp(a, "seed") && !parse_size(val, &v))
			o->seed = v;
		else if (!strcmp(a, "content")) {
			if (guest_content_parse(val, &o->wp.content))
				goto bad;
		} else if (!strcmp(a, "zero_pct") && !parse_size(val, &v) && v <= 100)
			o->wp.zero_pct = (unsigned)v;
		else if (!strcmp(a, "library_pct") && !parse_size(val, &v) && v <= 100)
			o->wp.library_pct = (unsigned)v;
		else if (!strcmp(a, "library_pages") && !parse_size(val, &v) && v)
			o->library_pages = v;
		else if (!strcmp(a, "library_seed") && !parse_size(val, &v))
			o->library_seed = v;
		else if (!strcmp(a, "hold") && !parse_size(val, &v))
			o->hold = (unsigned)v;
		else if (!strcmp(a, "traces") && !parse_size(val, &v) && v &&
			 v <= INGUEST_MAX_TRACES)
			o->traces = (unsigned)v;
		else if (!strcmp(a, "loop") && !parse_size(val, &v) && v <= 1)
			o->loop = v;
		else if (!strcmp(a, "flip") && !parse_size(val, &v) && v <= 1)
			o->flip = v;
		else if (!strcmp(a, "trace_dir"))
			snprintf(o->trace_dir, sizeof(o->trace_dir), "%s", val);
		else
			goto bad;
		continue;
	bad:
		printf("@memvisor error=bad-option option=%s\n", argv[i]);
		return -EINVAL;
	}
	return 0;
}

/* The generators' workload on wss_pages of anonymous memory; pid 0. */
static int run_generator(const struct opts *o, const struct guest_library *lib, uint64_t *bad)
{
	struct guest_wl w;
	uint8_t fill[MEM_PAGE_SIZE], want[MEM_PAGE_SIZE];
	struct guest_workload_params wp = o->wp; /* borrowed by w until the end */
	uint64_t n = o->wp.wss_pages, sink = 0;
	uint8_t *base;
	int r = guest_pattern_parse(o->workload, &wp.pattern);

	if (r)
		return r;
	r = guest_wl_init(&w, &wp, o->seed, 0);
	if (r)
		return r;
	base = mmap(NULL, n * MEM_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		guest_wl_fini(&w);
		return -errno;
	}
	for (uint64_t i = 0; i < o->wp.accesses; i++) {
		struct guest_op op;
		uint64_t *rec, k;
		uint8_t *page;

		guest_wl_next(&w, &op);
		rec = &w.rec[op.idx];
		page = base + op.idx * MEM_PAGE_SIZE;
		if (op.write) {
			enum guest_content kind = guest_rec_kind(*rec);
			unsigned word;
			uint64_t val;

			k = guest_rec_writes(*rec) + 1;
			if (k == 1 && guest_content_fill(kind, lib, o->seed, 0, op.idx, fill)) {
				memcpy(page, fill, MEM_PAGE_SIZE);
			} else {
				guest_content_word(kind, lib, o->seed, 0, op.idx, k, &word, &val);
				memcpy(page + word * 8u, &val, 8);
			}
		} else {
			uint64_t v;

			memcpy(&v, page + op.off, 8);
			sink += v;
		}
		*rec = (*rec + (op.write ? 1 : 0)) | GUEST_REC_TOUCHED;
	}
	/* --verify, as on the soft backend: every page against its record */
	*bad = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (!guest_rec_touched(w.rec[i]))
			continue;
		guest_content_expected(guest_rec_kind(w.rec[i]), lib, o->seed, 0, i,
				       guest_rec_writes(w.rec[i]), want);
		if (memcmp(want, base + i * MEM_PAGE_SIZE, MEM_PAGE_SIZE))
			(*bad)++;
	}
	if (o->hold)
		sleep(o->hold);
	munmap(base, n * MEM_PAGE_SIZE);
	guest_wl_fini(&w);
	return sink == 1 ? 1 : 0; /* keeps the reads */
}

/* Page-table churn: map, touch and unmap 64-page runs. */
static uint64_t run_ptwrite(const struct opts *o)
{
	uint64_t touches = 0;

	while (touches < o->wp.accesses) {
		uint8_t *p = mmap(NULL, 64 * MEM_PAGE_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			break;
		for (unsigned i = 0; i < 64; i++, touches++)
			p[i * MEM_PAGE_SIZE] = (uint8_t)i;
		munmap(p, 64 * MEM_PAGE_SIZE);
	}
	return touches;
}

/* ---- agent ---------------------------------------------------------------- */

struct region {
	uint8_t *p;
	size_t len;
	bool locked;
};

struct agent {
	struct region r[MAX_CHUNKS];
	unsigned n;
	unsigned acks;
};

static uint64_t pattern(size_t region, size_t page)
{
	return util_mix64(((uint64_t)region << 32) ^ page ^ 0x6d656d76ull);
}

static void agent_meminfo(struct agent *a)
{
	printf("@memvisor ack=%u memtotal_kb=%llu memfree_kb=%llu memavail_kb=%llu "
	       "swaptotal_kb=%llu swapfree_kb=%llu\n",
	       a->acks, (unsigned long long)file_value("/proc/meminfo", "MemTotal"),
	       (unsigned long long)file_value("/proc/meminfo", "MemFree"),
	       (unsigned long long)file_value("/proc/meminfo", "MemAvailable"),
	       (unsigned long long)file_value("/proc/meminfo", "SwapTotal"),
	       (unsigned long long)file_value("/proc/meminfo", "SwapFree"));
}

static void agent_touch(struct agent *a, uint64_t bytes, bool lock)
{
	uint64_t done = 0;

	while (done < bytes && a->n < MAX_CHUNKS) {
		size_t len = bytes - done < CHUNK ? bytes - done : CHUNK;
		uint8_t *p =
		    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			break;
		if (lock && mlock(p, len)) {
			munmap(p, len);
			break;
		}
		for (size_t off = 0; off < len; off += MEM_PAGE_SIZE) {
			uint64_t v = pattern(a->n, off / MEM_PAGE_SIZE);

			memcpy(p + off, &v, 8);
		}
		a->r[a->n++] = (struct region){.p = p, .len = len, .locked = lock};
		done += len;
	}
	printf("@memvisor ack=%u %s_bytes=%llu\n", a->acks, lock ? "mlock" : "touch",
	       (unsigned long long)done);
}

static void agent_check(struct agent *a)
{
	uint64_t pages = 0, bad = 0;

	for (unsigned i = 0; i < a->n; i++)
		for (size_t off = 0; off < a->r[i].len; off += MEM_PAGE_SIZE, pages++) {
			uint64_t v;

			memcpy(&v, a->r[i].p + off, 8);
			bad += v != pattern(i, off / MEM_PAGE_SIZE);
		}
	printf("@memvisor ack=%u checked_pages=%llu check_bad=%llu\n", a->acks,
	       (unsigned long long)pages, (unsigned long long)bad);
}

static int agent(void)
{
	static struct agent a;
	char line[128];

	printf("@memvisor agent=ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[16] = "", arg[32] = "";
		uint64_t size = 0;

		if (sscanf(line, "%15s %31s", cmd, arg) < 1)
			continue;
		a.acks++;
		if (!strcmp(cmd, "touch") && !parse_size(arg, &size)) {
			agent_touch(&a, size, false);
		} else if (!strcmp(cmd, "mlock") && !parse_size(arg, &size)) {
			agent_touch(&a, size, true);
		} else if (!strcmp(cmd, "free")) {
			for (unsigned i = 0; i < a.n; i++)
				munmap(a.r[i].p, a.r[i].len);
			a.n = 0;
			printf("@memvisor ack=%u freed=yes\n", a.acks);
		} else if (!strcmp(cmd, "check")) {
			agent_check(&a);
		} else if (!strcmp(cmd, "meminfo")) {
			agent_meminfo(&a);
		} else if (!strcmp(cmd, "quit")) {
			printf("@memvisor ack=%u quit=yes\n", a.acks);
			fflush(stdout);
			return 0;
		} else {
			printf("@memvisor ack=%u error=unknown-command\n", a.acks);
		}
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct guest_library *lib = NULL;
	struct vmstat v0, v1;
	struct opts o;
	uint64_t bad = 0, done;
	double t0, secs;
	int r = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_opts(argc, argv, &o))
		return 2;
	printf("@memvisor boot memtotal_kb=%llu memfree_kb=%llu cpus=%ld\n",
	       (unsigned long long)file_value("/proc/meminfo", "MemTotal"),
	       (unsigned long long)file_value("/proc/meminfo", "MemFree"),
	       sysconf(_SC_NPROCESSORS_ONLN));
	if (o.wp.content == GUEST_CONTENT_LIBRARY || o.wp.content == GUEST_CONTENT_MIXED) {
		lib = guest_library_create(o.library_pages, o.library_seed);
		if (!lib) {
			printf("@memvisor error=library errno=%d\n", errno);
			return 1;
		}
		o.wp.lib = lib;
	}
	vmstat_read(&v0);
	t0 = now();
	if (!strcmp(o.workload, "none")) {
		done = 0;
	} else if (!strcmp(o.workload, "ptwrite")) {
		done = run_ptwrite(&o);
	} else if (!strcmp(o.workload, "trace")) {
		struct inguest_trace_opts to = {.dir = o.trace_dir[0] ? o.trace_dir : NULL,
						.ntraces = o.traces,
						.accesses = o.wp.accesses,
						.loop = o.loop,
						.seed = o.seed,
						.lib = lib,
						.hold = o.hold,
						.flip = o.flip};
		struct inguest_trace_result tr;

		r = inguest_traces(&to, &tr);
		if (r < 0)
			printf("@memvisor error=trace detail=\"%s\"\n", tr.err);
		done = tr.records;
		bad = tr.mismatches;
		o.wp.wss_pages = tr.pages;
		printf("@memvisor trace_procs=%u trace_pages=%llu\n", tr.procs,
		       (unsigned long long)tr.pages);
	} else {
		r = run_generator(&o, lib, &bad);
		done = r < 0 ? 0 : o.wp.accesses;
	}
	secs = now() - t0;
	vmstat_read(&v1);
	if (r < 0) {
		printf("@memvisor error=workload workload=%s errno=%d\n", o.workload, -r);
		guest_library_destroy(lib);
		return 1;
	}
	printf("@memvisor result workload=%s accesses=%llu wss_pages=%llu seconds=%.3f "
	       "verified=%s mismatches=%llu pgfault=%llu pgmajfault=%llu pswpin=%llu "
	       "pswpout=%llu\n",
	       o.workload, (unsigned long long)done, (unsigned long long)o.wp.wss_pages, secs,
	       bad ? "no" : "yes", (unsigned long long)bad,
	       (unsigned long long)(v1.pgfault - v0.pgfault),
	       (unsigned long long)(v1.pgmajfault - v0.pgmajfault),
	       (unsigned long long)(v1.pswpin - v0.pswpin),
	       (unsigned long long)(v1.pswpout - v0.pswpout));
	guest_library_destroy(lib);
	if (o.agent)
		r = agent();
	return bad ? 1 : r;
}
