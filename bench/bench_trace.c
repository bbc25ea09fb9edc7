/* SPDX-License-Identifier: MIT */
/*
 * bench_trace: recording, conversion, reading and replay of a real trace,
 * each beside what it is compared with, in one run.
 *
 * The program traced is `sort -n` of 1000 numbers (a few million records
 * under valgrind lackey). Then:
 *   1. lackey's own recording speed (valgrind writing the text to a file)
 *      beside `trace record` (the same, converting as it streams) and the
 *      conversion of the text file alone (`trace convert`);
 *   2. the sizes: lackey text, zstd -3 and -19 of that text, the binary
 *      trace;
 *   3. the bare read (decompress and decode every record, one thread; and
 *      a parallel scan) beside the replay through the guest OS and the MMU
 *      (`trace replay`), without memory pressure and with a quarter of the
 *      footprint under exact LRU and clock.
 * Speeds are the best of several runs, in records per second; reading and
 * replay are timed in this thread's CPU time, so that the ratio holds on
 * a shared machine (the parallel scan, in wall time).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "traces/traces.h"
#include "vmm-core/vmm.h"

#define NUMBERS 1000
#define REPEATS 5

static char dir[64];

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static const char *at(const char *name)
{
	static char path[8][256];
	static unsigned k;

	k = (k + 1) % 8;
	snprintf(path[k], sizeof(path[k]), "%s/%s", dir, name);
	return path[k];
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_trace: %s: %s\n", what, why);
	exit(1);
}

/* valgrind lackey writing its text to a file, as one would record with
 * lackey alone. Wall seconds. */
static double lackey_to_file(const char *in, const char *text)
{
	char logopt[300];
	double t0 = now();
	pid_t pid;
	int st;

	snprintf(logopt, sizeof(logopt), "--log-file=%s", text);
	pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execlp("valgrind", "valgrind", "--tool=lackey", "--trace-mem=yes", logopt, "sort",
		       "-n", in, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("valgrind lackey", "failed (is valgrind installed?)");
	return now() - t0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		die(path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die(path, "read failed");
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Size of text compressed with zstd at level; *secs the time it took. */
static size_t zstd_size(const uint8_t *text, size_t len, int level, double *secs)
{
	size_t cap = ZSTD_compressBound(len), n;
	void *out = malloc(cap);
	double t0 = now();

	if (!out)
		die("zstd", "out of memory");
	n = ZSTD_compress(out, cap, text, len, level);
	*secs = now() - t0;
	if (ZSTD_isError(n))
		die("zstd", ZSTD_getErrorName(n));
	free(out);
	return n;
}

/* Decompress and decode every record, one thread: records/s, best of. */
static double bare_read(const struct trace_file *tf)
{
	static struct trace_rec buf[4096];
	double best = 0;

	for (int i = 0; i < REPEATS; i++) {
		struct trace_cursor *c = trace_cursor_create(tf, TRACE_ALL_PIDS);
		uint64_t n = 0, sum = 0;
		double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID), dt;
		long got;

		while ((got = trace_cursor_read(c, buf, 4096)) > 0) {
			n += (uint64_t)got;
			sum += buf[got - 1].addr; /* keep the records alive */
		}
		dt = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
		if (got < 0 || n != trace_file_records(tf) || !sum)
			die("read", trace_cursor_error(c));
		trace_cursor_destroy(c);
		if ((double)n / dt > best)
			best = (double)n / dt;
	}
	return best;
}

static int scan_fn(void *ctx, unsigned chunk, const struct trace_rec *recs, size_t n)
{
	(void)ctx;
	(void)chunk;
	return n && !recs[n - 1].size && recs[n - 1].kind > TRACE_NKINDS; /* never */
}

static double scan_rate(const struct trace_file *tf, unsigned threads)
{
	double best = 0;
	char err[256];

	for (int i = 0; i < REPEATS; i++) {
		double t0 = now(), dt;

		if (trace_scan(tf, threads, scan_fn, NULL, err, sizeof(err)))
			die("scan", err);
		dt = now() - t0;
		if ((double)trace_file_records(tf) / dt > best)
			best = (double)trace_file_records(tf) / dt;
	}
	return best;
}

static double replay_rate(const char *path, uint64_t frames, const char *policy,
			  struct vmm_replay_result *res)
{
	struct vmm_replay_opts o = {
	    .frames = frames, .policy = policy, .paging = "nested", .seed = 1};
	double best = 0;
	char err[1024];

	for (int i = 0; i < REPEATS; i++) {
		if (vmm_replay(path, &o, res, err, sizeof(err)))
			die("replay", err);
		if ((double)res->records / res->cpu_seconds > best)
			best = (double)res->records / res->cpu_seconds;
	}
	return best;
}

int main(void)
{
	const char *in, *text, *rec, *conv;
	struct trace_record_stats rs;
	struct trace_convert_stats cs;
	struct vmm_replay_result r_full, r_lru, r_clock;
	double t_lackey, z3s, z19s, read, scan2, full, lru, clock;
	size_t tlen, z3, z19;
	uint64_t fp, records;
	struct trace_file *tf;
	char *sort[] = {"sort", "-n", NULL, NULL};
	char err[1024];
	uint8_t *tbuf;
	FILE *f;
	int out;

	strcpy(dir, "/tmp/memvisor-bench-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	in = strdup(at("numbers.txt"));
	text = strdup(at("sort.txt"));
	rec = strdup(at("sort-record.mvt"));
	conv = strdup(at("sort.mvt"));
	f = fopen(in, "w");
	for (int i = 0; i < NUMBERS; i++)
		fprintf(f, "%d\n", (i * 7919) % 10007);
	fclose(f);
	sort[2] = (char *)in;

	printf("bench_trace: valgrind lackey on `sort -n` of %d numbers\n", NUMBERS);
	t_lackey = lackey_to_file(in, text);
	/* trace record: its child's stdout to /dev/null, ours kept */
	fflush(stdout);
	out = dup(1);
	if (out < 0 || !freopen("/dev/null", "w", stdout))
		die("stdout", strerror(errno));
	if (trace_record(sort, rec, NULL, &rs, err, sizeof(err)))
		die("trace record", err);
	fflush(stdout);
	dup2(out, 1);
	close(out);
	if (trace_convert(text, conv, false, NULL, &cs, err, sizeof(err)))
		die("trace convert", err);
	records = cs.records;
	printf("%-44s %10s %14s\n", "recording and conversion", "seconds", "records/s");
	printf("%-44s %10.2f %14.0f\n", "valgrind lackey, text to a file", t_lackey,
	       (double)records / t_lackey);
	printf("%-44s %10.2f %14.0f\n", "memvisor trace record (lackey + streaming)", rs.seconds,
	       (double)rs.conv.records / rs.seconds);
	printf("%-44s %10.2f %14.0f\n", "memvisor trace convert (text file to .mvt)", cs.seconds,
	       (double)records / cs.seconds);
	printf("conversion is %.0fx lackey's own recording speed (%" PRIu64 " records)\n\n",
	       t_lackey / cs.seconds, records);

	tbuf = slurp(text, &tlen);
	z3 = zstd_size(tbuf, tlen, 3, &z3s);
	z19 = zstd_size(tbuf, tlen, 19, &z19s);
	free(tbuf);
	printf("%-44s %14s %10s %10s\n", "size", "bytes", "bytes/rec", "text/this");
	printf("%-44s %14zu %10.3f %10.1f\n", "lackey text", tlen, (double)tlen / (double)records,
	       1.0);
	printf("%-44s %14zu %10.3f %10.1f\n", "zstd -3 of the text", z3,
	       (double)z3 / (double)records, (double)tlen / (double)z3);
	printf("%-44s %14zu %10.3f %10.1f\n", "zstd -19 of the text", z19,
	       (double)z19 / (double)records, (double)tlen / (double)z19);
	printf("%-44s %14" PRIu64 " %10.3f %10.1f\n", "memvisor .mvt (zstd -6 chunks, index, sums)",
	       cs.bytes_out, (double)cs.bytes_out / (double)records,
	       (double)tlen / (double)cs.bytes_out);
	printf(".mvt is %.2fx smaller than zstd -3 of the text (%.2f s to compress), %.2fx "
	       "than zstd -19 (%.2f s)\n\n",
	       (double)z3 / (double)cs.bytes_out, z3s, (double)z19 / (double)cs.bytes_out, z19s);

	tf = trace_open(conv, 0, err, sizeof(err));
	if (!tf)
		die("open", err);
	fp = trace_file_summary(tf)->pages;
	read = bare_read(tf);
	scan2 = scan_rate(tf, 2);
	trace_close(tf);
	full = replay_rate(conv, 0, "clock", &r_full);
	lru = replay_rate(conv, fp / 4, "lru", &r_lru);
	clock = replay_rate(conv, fp / 4, "clock", &r_clock);
	printf("%-44s %14s %10s %10s\n", "reading and replay (per CPU second)", "records/s",
	       "read/this", "faults");
	printf("%-44s %14.0f %10.2f %10s\n", "bare read: decompress + decode, 1 thread", read, 1.0,
	       "");
	printf("%-44s %14.0f %10.2f %10s\n", "parallel scan, 2 threads (wall)", scan2, read / scan2,
	       "");
	printf("%-44s %14.0f %10.2f %10" PRIu64 "\n", "replay, all frames (clock)", full,
	       read / full, r_full.faults);
	printf("%-44s %14.0f %10.2f %10" PRIu64 "\n", "replay, 1/4 of the footprint, exact LRU",
	       lru, read / lru, r_lru.faults);
	printf("%-44s %14.0f %10.2f %10" PRIu64 "\n", "replay, 1/4 of the footprint, clock", clock,
	       read / clock, r_clock.faults);
	printf("bench_trace: replay at %.0f M records/s is %.2fx the bare read's time (target <= "
	       "2: %s); footprint %" PRIu64 " pages\n",
	       full / 1e6, read / full, read / full <= 2 ? "met" : "NOT met", fp);

	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	if (system(err))
		fprintf(stderr, "bench_trace: could not remove %s\n", dir);
	return 0;
}
