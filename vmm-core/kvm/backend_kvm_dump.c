/* SPDX-License-Identifier: MIT */
/*
 * backend_kvm_dump: [host] dump_ms. Once every guest's userspace is up,
 * and dump_ms of wall time later (the experiment chooses a moment when the
 * guests idle and the scanner has gone over them), each running guest's
 * pages are written to DIR/NAME.pages (kvm_dump.c: the pages the host holds
 * memory for) and the sharing counters before and after to DIR/dump.json.
 * `memvisor share` over DIR/NAME.pages of every guest then counts what perfect sharing would free
 * at that moment, byte for byte, to set beside what the engine saved.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "ksm/ksm.h"
#include "vmm-core/kvm/backend_kvm_internal.h"

struct dump_counts {
	uint64_t shared, sharing, saved;
};

static void counts(const struct run_host *h, const struct khost *kh, struct dump_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (h->ksm) {
		struct ksm_stats s;

		ksm_stats(h->ksm, &s);
		c->shared = s.pages_shared;
		c->sharing = s.pages_sharing;
		c->saved = s.pages_saved;
	} else if (kh->lksm.on) {
		struct lksm_stats s;

		lksm_stats(kh, &s);
		c->shared = s.shared;
		c->sharing = s.shared + s.sharing;
		c->saved = s.sharing;
	}
}

static void put_counts(FILE *f, const char *name, const struct dump_counts *c)
{
	fprintf(f,
		"  \"%s\": {\"pages_shared\": %" PRIu64 ", \"pages_sharing\": %" PRIu64
		", \"pages_saved\": %" PRIu64 "},\n",
		name, c->shared, c->sharing, c->saved);
}

/* One guest's pages to DIR/NAME.pages: their number, or -errno (said). */
static int64_t dump_guest(struct kguest *g, const char *dir)
{
	char path[4200];
	uint64_t n = 0;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s.pages", dir, g->vm->name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "dump: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	r = kv_vm_dump(g->k, fd, &n);
	if (close(fd) && !r)
		r = -errno;
	if (r) {
		fprintf(stderr, "dump: %s: %s\n", path, strerror(-r));
		return r;
	}
	return (int64_t)n;
}

static void dump_all(struct khost *kh, const struct run_host *h, uint64_t now)
{
	const char *dir = h->o->out_dir;
	struct dump_counts before, after;
	char path[4200];
	bool first = true;
	FILE *f;

	snprintf(path, sizeof(path), "%s/dump.json", dir);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "dump: %s: %s\n", path, strerror(errno));
		return;
	}
	counts(h, kh, &before);
	fprintf(f, "{\n  \"seconds\": %.3f,\n  \"engine\": \"%s\",\n",
		(double)(now - h->t0_ns) / 1e9,
		h->ksm	      ? "memvisor"
		: kh->lksm.on ? "linux ksm"
			      : "none");
	put_counts(f, "before", &before);
	fputs("  \"guests\": [", f);
	for (unsigned i = 0; i < h->cfg->nguests; i++) {
		struct kguest *g = kh->order[i];
		int64_t n;

		if (!g || g->vm->done)
			continue;
		n = dump_guest(g, dir);
		fprintf(
		    f, "%s\n    {\"name\": \"%s\", \"file\": \"%s.pages\", \"pages\": %" PRId64 "}",
		    first ? "" : ",", g->vm->name, g->vm->name, n);
		first = false;
	}
	fputs("\n  ],\n", f);
	counts(h, kh, &after);
	put_counts(f, "after", &after);
	fprintf(f, "  \"dump_seconds\": %.3f\n}\n", (double)(kv_now_ns() - now) / 1e9);
	if (fclose(f))
		fprintf(stderr, "dump: %s: %s\n", path, strerror(errno));
}

void kv_dump_due(struct khost *kh, const struct run_host *h, uint64_t now)
{
	uint64_t last = 0;
	bool running = false;

	if (!(h->cfg->host.dump_ms > 0) || kh->dumped)
		return;
	for (unsigned i = 0; i < h->cfg->nguests; i++) {
		const struct kguest *g = kh->order[i];

		if (!g || (!g->vm->done && !g->boot_ns))
			return; /* one is still booting */
		if (!g->vm->done)
			running = true;
		if (g->boot_ns > last)
			last = g->boot_ns;
	}
	if (!running) {
		kh->dumped = true;
		fprintf(stderr,
			"note: [host] dump_ms: every guest ended before the dump was due\n");
		return;
	}
	if ((double)(now - last) < h->cfg->host.dump_ms * 1e6)
		return;
	kh->dumped = true;
	dump_all(kh, h, now);
}
