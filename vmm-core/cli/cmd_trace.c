/* SPDX-License-Identifier: MIT */
/*
 * `memvisor trace convert|info|record|replay`: the command line of the
 * traces module, and replay of one trace in a guest sized for it.
 *
 * Replay builds the guest a config would build for `workload =
 * trace:PATH` (vm_create: the same guest OS, MMU, paging mode, reclaim
 * and guest swap as `memvisor run`), with memory for mem_map, every page
 * table the trace's regions need and its data frames, so that with
 * --frames N only the data-frame limit ever forces an eviction: the fault
 * count is that of the policy with exactly N frames.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "traces/traces.h"
#include "vmm-core/cli/cli.h"

static const char usage_trace[] =
    "usage: memvisor trace COMMAND [ARGS]\n"
    "\n"
    "Memory-access traces of real programs: valgrind lackey text and memvisor's\n"
    "binary format (.mvt: delta-encoded records in independent zstd chunks,\n"
    "an index, a checksum per chunk, a summary of the pages touched).\n"
    "  convert [--to mvt|lackey] [--chunk N] [--level L] IN OUT\n"
    "                 lackey text to binary (or back); IN '-' reads stdin\n"
    "  info [--json] [--scan] TRACE\n"
    "                 records by kind, distinct pages, footprint, duration\n"
    "  record -o OUT [--chunk N] [--level L] -- COMMAND [ARGS...]\n"
    "                 run COMMAND under valgrind lackey, converting as it streams\n"
    "  replay [--frames N] [--policy lru|clock|random] [--json] [--verify] TRACE\n"
    "                 replay in a guest with N resident data frames; report faults\n"
    "\n"
    "Counting: every record is one access; an access covers every 4 KiB page\n"
    "from its first to its last byte, lowest first; instruction fetches count;\n"
    "an M (modify) record is one access. Exit status 0, 1 runtime failure, 2\n"
    "usage or input error (a malformed line, a truncated or corrupt trace).\n";

static const char usage_convert[] =
    "usage: memvisor trace convert [options] IN OUT\n"
    "\n"
    "Convert IN (a binary trace, or lackey --trace-mem=yes text; '-' reads\n"
    "stdin) into OUT: a binary trace, or lackey text when OUT ends in .txt or\n"
    ".lackey, is '-' (stdout), or --to lackey is given.\n"
    "  --to mvt|lackey   output format\n"
    "  --chunk N         records per chunk (default 262144)\n"
    "  --level L         zstd level 1..22 (default 6)\n";

static const char usage_info[] =
    "usage: memvisor trace info [--json] [--scan] TRACE\n"
    "\n"
    "Print what TRACE holds: records by kind, distinct 4 KiB pages touched with\n"
    "and without instruction fetches, footprint, address range, duration (in\n"
    "instructions, and the recording's wall time if it was recorded). TRACE\n"
    "may be lackey text. --scan decodes every record (chunks in parallel) and\n"
    "checks them against the stored summary.\n";

static const char usage_record[] =
    "usage: memvisor trace record -o OUT [options] -- COMMAND [ARGS...]\n"
    "\n"
    "Run COMMAND under valgrind --tool=lackey --trace-mem=yes with the trace on\n"
    "a private descriptor (--log-fd), so COMMAND's stdout and stderr are its\n"
    "own, and convert the text as it streams into the binary trace OUT. Only\n"
    "the process valgrind starts is traced: give the real executable, not a\n"
    "wrapper script.\n"
    "  -o, --out OUT     the binary trace to write\n"
    "  --chunk N, --level L, as for convert\n"
    "  --valgrind PATH   the valgrind to run (default: valgrind in PATH)\n";

static const char usage_replay[] =
    "usage: memvisor trace replay [options] TRACE\n"
    "\n"
    "Replay TRACE, each of its address spaces as one process, in a soft guest\n"
    "(guest OS page tables, demand paging, guest swap; the MMU with nested or\n"
    "shadow paging and its TLB) whose resident data frames are limited to N (page\n"
    "tables not counted), and report the faults: first touches and swap-ins.\n"
    "A config with `workload = trace:TRACE`, `data_frames = N` and `reclaim =`\n"
    "the policy gives the same counts.\n"
    "  --frames N        resident data frames (default: the whole footprint)\n"
    "  --policy P        lru (exact), clock or random (default clock)\n"
    "  --paging MODE     nested, shadow or dynamic (default nested)\n"
    "  --seed N          seed of the store values and random policy (default 1)\n"
    "  --verify          check every page the trace touched at the end\n"
    "  --json            print the results as one JSON object\n";

static double cmd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* --chunk and --level, shared by convert and record. */
static int writer_opt(int c, struct trace_writer_opts *wo)
{
	uint64_t v;

	if (parse_count(optarg, &v) || !v || v > (c == 'c' ? (1u << 22) : 22u)) {
		fprintf(stderr, "memvisor trace: --%s %s: out of range\n",
			c == 'c' ? "chunk" : "level", optarg);
		return 2;
	}
	if (c == 'c')
		wo->chunk_records = (unsigned)v;
	else
		wo->level = (int)v;
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int cmd_convert(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"chunk", required_argument, NULL, 'c'},
	    {"level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct trace_writer_opts wo = {0};
	struct trace_convert_stats st;
	const char *to = NULL;
	char err[1024];
	bool text;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 't') {
			to = optarg;
		} else if (c == 'c' || c == 'l') {
			if (writer_opt(c, &wo))
				return 2;
		} else if (c == 'h') {
			fputs(usage_convert, stdout);
			return 0;
		} else {
			fputs(usage_convert, stderr);
			return 2;
		}
	}
	if (optind + 2 != argc || (to && strcmp(to, "mvt") && strcmp(to, "lackey"))) {
		fputs(usage_convert, stderr);
		return 2;
	}
	text = to ? !strcmp(to, "lackey")
		  : !strcmp(argv[optind + 1], "-") || ends_with(argv[optind + 1], ".txt") ||
			ends_with(argv[optind + 1], ".lackey");
	if (trace_convert(argv[optind], argv[optind + 1], text, &wo, &st, err, sizeof(err))) {
		fprintf(stderr, "memvisor trace convert: %s\n", err);
		return 2;
	}
	if (!text)
		fprintf(stderr,
			"%s: %" PRIu64 " records (%" PRIu64 " lines skipped), %" PRIu64
			" -> %" PRIu64 " bytes, %.2f s, %.2f M records/s\n",
			argv[optind + 1], st.records, st.skipped, st.bytes_in, st.bytes_out,
			st.seconds, st.seconds > 0 ? (double)st.records / st.seconds / 1e6 : 0.0);
	return 0;
}

/* ---- info ---------------------------------------------------------------- */

struct scan_counts {
	uint64_t (*by_kind)[TRACE_NKINDS]; /* per chunk */
};

static int scan_count(void *ctx, unsigned chunk, const struct trace_rec *recs, size_t n)
{
	struct scan_counts *s = ctx;

	for (size_t i = 0; i < n; i++)
		s->by_kind[chunk][recs[i].kind]++;
	return 0;
}

/* Decode every record; compare the counts with the summary. 0 or 1. */
static int info_scan(const struct trace_file *tf, bool json)
{
	const struct trace_summary *sum = trace_file_summary(tf);
	unsigned n = trace_file_chunks(tf);
	struct scan_counts s = {calloc(n ? n : 1, sizeof(*s.by_kind))};
	uint64_t k[TRACE_NKINDS] = {0}, total = 0;
	char err[1024] = "";
	double t0 = cmd_now(), dt;
	int r;

	if (!s.by_kind)
		return 1;
	r = trace_scan(tf, 2, scan_count, &s, err, sizeof(err));
	dt = cmd_now() - t0;
	for (unsigned c = 0; c < n; c++)
		for (int i = 0; i < TRACE_NKINDS; i++)
			k[i] += s.by_kind[c][i];
	free(s.by_kind);
	for (int i = 0; i < TRACE_NKINDS; i++)
		total += k[i];
	if (r) {
		fprintf(stderr, "memvisor trace info: %s\n", err);
		return 2;
	}
	if (total != sum->records || memcmp(k, sum->by_kind, sizeof(k))) {
		fprintf(stderr, "memvisor trace info: %s: the records disagree with the summary\n",
			trace_file_name(tf));
		return 2;
	}
	if (json)
		printf(", \"scan_seconds\": %.6f", dt);
	else
		printf("scan         ok: %" PRIu64 " records decoded in %.3f s (%.1f M records/s, "
		       "2 threads)\n",
		       total, dt, dt > 0 ? (double)total / dt / 1e6 : 0.0);
	return 0;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void info_json(const struct trace_file *tf, const char *name)
{
	const struct trace_summary *s = trace_file_summary(tf);
	const char *rs = trace_file_meta(tf, "record_seconds"), *line;

	printf("{\"trace\": ");
	json_string(name);
	printf(", \"bytes\": %" PRIu64 ", \"chunks\": %u, \"records\": %" PRIu64 ", \"by_kind\": {",
	       trace_file_bytes(tf), trace_file_chunks(tf), s->records);
	for (int k = 0; k < TRACE_NKINDS; k++)
		printf("%s\"%s\": %" PRIu64, k ? ", " : "", trace_kind_name((enum trace_kind)k),
		       s->by_kind[k]);
	printf("}, \"distinct_pages\": %" PRIu64 ", \"distinct_data_pages\": %" PRIu64
	       ", \"footprint_bytes\": %" PRIu64 ", \"data_footprint_bytes\": %" PRIu64
	       ", \"instructions\": %" PRIu64 ", \"bytes_accessed\": %" PRIu64
	       ", \"record_seconds\": %s, \"processes\": [",
	       s->pages, s->data_pages, s->pages << 12, s->data_pages << 12,
	       s->by_kind[TRACE_INSTR], s->bytes, rs ? rs : "null");
	for (unsigned i = 0; i < s->nprocs; i++) {
		const struct trace_proc *p = &s->procs[i];

		printf("%s{\"pid\": %" PRIu32 ", \"records\": %" PRIu64
		       ", \"distinct_pages\": %" PRIu64 ", \"distinct_data_pages\": %" PRIu64
		       ", \"regions\": %" PRIu64 ", \"addr_lo\": %" PRIu64 ", \"addr_hi\": %" PRIu64
		       "}",
		       i ? ", " : "", p->pid, p->records, p->pages, p->data_pages, p->nruns,
		       p->addr_lo, p->addr_hi);
	}
	printf("], \"meta\": {");
	for (unsigned i = 0; (line = trace_file_meta_line(tf, i)); i++) {
		const char *eq = strchr(line, '=');
		char key[256];

		snprintf(key, sizeof(key), "%.*s", (int)(eq - line), line);
		printf("%s", i ? ", " : "");
		json_string(key);
		printf(": ");
		json_string(eq + 1);
	}
	printf("}");
}

static void info_text(const struct trace_file *tf, const char *name)
{
	const struct trace_summary *s = trace_file_summary(tf);
	const char *cmd = trace_file_meta(tf, "command"),
		   *rs = trace_file_meta(tf, "record_seconds");
	const char *skipped = trace_file_meta(tf, "lackey.skipped");

	printf("trace        %s: %" PRIu64 " bytes, %u chunks\n", name, trace_file_bytes(tf),
	       trace_file_chunks(tf));
	if (cmd)
		printf("command      %s (exit status %s)\n", cmd,
		       trace_file_meta(tf, "exit_status") ? trace_file_meta(tf, "exit_status")
							  : "?");
	printf("records      %" PRIu64 "%s%s%s\n", s->records, skipped ? " (" : "",
	       skipped ? skipped : "", skipped ? " lackey lines skipped)" : "");
	for (int k = 0; k < TRACE_NKINDS; k++)
		if (k <= TRACE_MODIFY || s->by_kind[k])
			printf("  %-10s %" PRIu64 "\n", trace_kind_name((enum trace_kind)k),
			       s->by_kind[k]);
	printf("pages        %" PRIu64 " distinct 4 KiB pages (footprint %.2f MiB); %" PRIu64
	       " without instruction fetches (%.2f MiB)\n",
	       s->pages, (double)(s->pages << 12) / 1048576.0, s->data_pages,
	       (double)(s->data_pages << 12) / 1048576.0);
	printf("processes    %u\n", s->nprocs);
	for (unsigned i = 0; i < s->nprocs; i++) {
		const struct trace_proc *p = &s->procs[i];

		printf("  pid %-6" PRIu32 " %" PRIu64 " records, %" PRIu64 " pages in %" PRIu64
		       " regions, 0x%" PRIx64 "..0x%" PRIx64 "\n",
		       p->pid, p->records, p->pages, p->nruns, p->addr_lo, p->addr_hi);
	}
	printf("duration     %" PRIu64 " instructions%s%s%s\n", s->by_kind[TRACE_INSTR],
	       rs ? ", recorded in " : "", rs ? rs : "", rs ? " s" : "");
}

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"scan", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false, scan = false;
	char err[1024], tmp[] = "/tmp/memvisor-info-XXXXXX";
	struct trace_file *tf;
	const char *path;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 's') {
			scan = true;
		} else if (c == 'h') {
			fputs(usage_info, stdout);
			return 0;
		} else {
			fputs(usage_info, stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage_info, stderr);
		return 2;
	}
	path = argv[optind];
	if (!trace_is_binary(path)) {
		/* lackey text: convert to a scratch binary trace first */
		int fd = mkstemp(tmp);

		if (fd < 0) {
			perror("memvisor trace info: mkstemp");
			return 1;
		}
		close(fd);
		if (trace_convert(path, tmp, false, NULL, NULL, err, sizeof(err))) {
			fprintf(stderr, "memvisor trace info: %s\n", err);
			unlink(tmp);
			return 2;
		}
		path = tmp;
	}
	tf = trace_open(path, 0, err, sizeof(err));
	if (path == tmp)
		unlink(tmp);
	if (!tf) {
		fprintf(stderr, "memvisor trace info: %s\n", err);
		return 2;
	}
	if (json)
		info_json(tf, argv[optind]);
	else
		info_text(tf, argv[optind]);
	if (scan)
		status = info_scan(tf, json);
	if (json)
		printf("}\n");
	trace_close(tf);
	return status;
}

/* ---- record -------------------------------------------------------------- */

static int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},   {"chunk", required_argument, NULL, 'c'},
	    {"level", required_argument, NULL, 'l'}, {"valgrind", required_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},	     {NULL, 0, NULL, 0},
	};
	struct trace_record_opts o = {0};
	struct trace_record_stats st;
	const char *out = NULL;
	char err[1024];
	int c, r;

	/* '+': stop at the first non-option, the command */
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		if (c == 'o') {
			out = optarg;
		} else if (c == 'v') {
			o.valgrind = optarg;
		} else if (c == 'c' || c == 'l') {
			if (writer_opt(c, &o.wo))
				return 2;
		} else if (c == 'h') {
			fputs(usage_record, stdout);
			return 0;
		} else {
			fputs(usage_record, stderr);
			return 2;
		}
	}
	if (!out || optind >= argc) {
		fputs(usage_record, stderr);
		return 2;
	}
	r = trace_record(argv + optind, out, &o, &st, err, sizeof(err));
	if (r) {
		fprintf(stderr, "memvisor trace record: %s\n", err);
		return r == -EINVAL || r == -ENOENT ? 2 : 1;
	}
	fprintf(stderr,
		"%s: %" PRIu64 " records in %.2f s (%.2f M records/s), %" PRIu64
		" bytes of lackey text -> %" PRIu64 " bytes; %s exited %d\n",
		out, st.conv.records, st.seconds,
		st.seconds > 0 ? (double)st.conv.records / st.seconds / 1e6 : 0.0, st.conv.bytes_in,
		st.conv.bytes_out, argv[optind], st.signal ? 128 + st.signal : st.status);
	return 0;
}

/* ---- replay -------------------------------------------------------------- */

static void replay_print(const char *path, const struct vmm_replay_opts *o, bool json,
			 const struct vmm_replay_result *r)
{
	const char *verified = !o->verify ? "null" : r->verified ? "true" : "false";
	double secs = r->seconds;

	if (json) {
		printf("{\"trace\": ");
		json_string(path);
		printf(", \"frames\": %" PRIu64 ", \"policy\": \"%s\", \"paging\": \"%s\", "
		       "\"guest_pages\": %" PRIu64 ", \"records\": %" PRIu64
		       ", \"page_accesses\": %" PRIu64 ", \"faults\": %" PRIu64
		       ", \"first_touches\": %" PRIu64 ", \"swap_ins\": %" PRIu64
		       ", \"swap_outs\": %" PRIu64 ", \"tlb_misses\": %" PRIu64
		       ", \"walk_refs\": %" PRIu64 ", \"nested_faults\": %" PRIu64
		       ", \"wall_seconds\": %.6f, \"cpu_seconds\": %.6f"
		       ", \"records_per_second\": %.0f, \"verified\": %s}\n",
		       r->frames, o->policy, o->paging, r->guest_pages, r->records,
		       r->page_accesses, r->faults, r->first_touches, r->swap_ins, r->swap_outs,
		       r->tlb_misses, r->walk_refs, r->nested_faults, secs, r->cpu_seconds,
		       secs > 0 ? (double)r->records / secs : 0.0, verified);
		return;
	}
	printf("trace        %s\n", path);
	printf("guest        %" PRIu64 " pages, %" PRIu64 " data frames, %s replacement, %s "
	       "paging\n",
	       r->guest_pages, r->frames, o->policy, o->paging);
	printf("records      %" PRIu64 " (%" PRIu64 " page accesses)\n", r->records,
	       r->page_accesses);
	printf("faults       %" PRIu64 ": %" PRIu64 " first touches, %" PRIu64 " swap-ins (%" PRIu64
	       " swap-outs)\n",
	       r->faults, r->first_touches, r->swap_ins, r->swap_outs);
	printf("tlb          %" PRIu64 " misses, %" PRIu64 " walk references\n", r->tlb_misses,
	       r->walk_refs);
	printf("speed        %.3f s, %.2f M records/s (CPU %.3f s, %.2f M records/s)\n", secs,
	       secs > 0 ? (double)r->records / secs / 1e6 : 0.0, r->cpu_seconds,
	       r->cpu_seconds > 0 ? (double)r->records / r->cpu_seconds / 1e6 : 0.0);
	if (o->verify)
		printf("verified     %s\n", r->verified ? "yes" : "NO");
}

static int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"frames", required_argument, NULL, 'f'}, {"policy", required_argument, NULL, 'p'},
	    {"paging", required_argument, NULL, 'g'}, {"seed", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},	      {"verify", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct vmm_replay_opts o = {.policy = "clock", .paging = "nested", .seed = 1};
	struct vmm_replay_result res;
	enum guest_reclaim rec;
	bool json = false;
	char err[1024];
	int c, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (parse_count(optarg, &o.frames) || !o.frames) {
				fprintf(stderr,
					"memvisor trace replay: --frames %s: expected a "
					"positive number of 4 KiB frames\n",
					optarg);
				return 2;
			}
			break;
		case 'p':
			o.policy = optarg;
			break;
		case 'g':
			o.paging = optarg;
			break;
		case 's':
			if (parse_count(optarg, &o.seed)) {
				fprintf(stderr,
					"memvisor trace replay: --seed %s: expected a "
					"non-negative integer\n",
					optarg);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'v':
			o.verify = true;
			break;
		case 'h':
			fputs(usage_replay, stdout);
			return 0;
		default:
			fputs(usage_replay, stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage_replay, stderr);
		return 2;
	}
	if (guest_reclaim_parse(o.policy, &rec)) {
		fprintf(stderr,
			"memvisor trace replay: --policy %s: expected lru, clock or random\n",
			o.policy);
		return 2;
	}
	if (!paging_find(o.paging) && strcmp(o.paging, "dynamic")) {
		fprintf(stderr, "memvisor trace replay: --paging %s: no such paging mode\n",
			o.paging);
		return 2;
	}
	status = vmm_replay(argv[optind], &o, &res, err, sizeof(err));
	if (err[0])
		fprintf(stderr, "memvisor trace replay: %s\n", err);
	if (status != 2 && res.records)
		replay_print(argv[optind], &o, json, &res);
	return status;
}

int vmm_cmd_trace(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"convert", cmd_convert},
	    {"info", cmd_info},
	    {"record", cmd_record},
	    {"replay", cmd_replay},
	};

	if (argc < 2) {
		fputs(usage_trace, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_trace, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			optind = 0; /* a fresh getopt over the subcommand's arguments */
			return cmds[i].fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "memvisor trace: unknown command '%s'\n\n%s", argv[1], usage_trace);
	return 2;
}
