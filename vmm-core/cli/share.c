/* SPDX-License-Identifier: MIT */
/*
 * memvisor share: load raw guest memory images (plain, or zstd-compressed
 * with a .zst name) as guests and run the real sharing engine to
 * convergence.
 *
 * Every image page becomes a RESIDENT frame of a guest's p2m, allocated
 * from one frame pool and written (so it is in RSS), exactly as a live
 * guest's touched memory; then ksm scans these guests in whole passes until
 * a pass merges nothing, merging through the same mem_p2m_set() and
 * copy-on-write protection as in a run. Frames the merges free go back to
 * the kernel, so the drop in RSS shows the pages saved; both are printed.
 * Perfect content-based sharing frees total - distinct pages, and that is
 * what the engine must reach (tests check it on images with known
 * contents). --verify reads every image again and compares it, page by
 * page, with what the guests now hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "ksm/ksm.h"
#include "vmm-core/cli/cli.h"

#define SHARE_BUF (64u << 10)

static const char usage_share[] =
    "usage: memvisor share [--json] [--verify] [--order random|sequential] IMAGE...\n"
    "\n"
    "Load raw guest memory images (4 KiB pages; zstd-compressed when the name\n"
    "ends in .zst) as guests, share identical pages with the sharing engine\n"
    "until a full pass merges nothing, and print pages total, zero pages,\n"
    "pages_shared (shared frames), pages_sharing (pages mapping them), pages\n"
    "saved, scan wall and CPU seconds, and host RSS before and after.\n"
    "\n"
    "  --json           one JSON object instead of the table\n"
    "  --verify         afterwards, compare every page with its image again\n"
    "  --order O        scan order, random or sequential (default sequential:\n"
    "                   the images do not change, so order cannot change the\n"
    "                   result, and address order reads memory fastest)\n";

struct share_img {
	const char *path;
	bool zst;
	uint64_t pages;
	struct mem_p2m *p2m;
	struct ksm_guest *kg;
};

/* What to do with each page read: count (NULL), load, or verify. */
typedef int (*share_page_fn)(void *ctx, uint64_t idx, const uint8_t *page);

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

/* Feed len bytes to the page assembler; call fn on each whole page. */
static int share_feed(uint8_t *page, size_t *fill, uint64_t *idx, const uint8_t *p, size_t len,
		      share_page_fn fn, void *ctx)
{
	while (len) {
		size_t n = MEM_PAGE_SIZE - *fill < len ? MEM_PAGE_SIZE - *fill : len;
		int r;

		memcpy(page + *fill, p, n);
		*fill += n;
		p += n;
		len -= n;
		if (*fill == MEM_PAGE_SIZE) {
			r = fn ? fn(ctx, *idx, page) : 0;
			if (r)
				return r;
			(*idx)++;
			*fill = 0;
		}
	}
	return 0;
}

/* The image ended after bytes bytes, idx whole pages and fill more bytes,
 * with zret from the decoder (zstd): 0, or -EINVAL with err saying what is
 * wrong with it. */
static int share_ended(const struct share_img *img, uint64_t bytes, size_t zret, size_t fill,
		       uint64_t idx, char *err, size_t errlen)
{
	if (!bytes)
		snprintf(err, errlen, "%s: empty image", img->path);
	else if (img->zst && zret)
		snprintf(err, errlen, "%s: truncated zstd stream (it ends inside a frame)",
			 img->path);
	else if (fill)
		snprintf(err, errlen,
			 "%s: truncated: %" PRIu64 " pages and %zu bytes, not a whole number "
			 "of 4 KiB pages",
			 img->path, idx, fill);
	else if (!idx)
		snprintf(err, errlen, "%s: no pages", img->path);
	else
		return 0;
	return -EINVAL;
}

/*
 * Read image img page by page into fn; *pages gets the count. Returns 0, or
 * -errno with err naming the file: unreadable, empty, truncated (not whole
 * pages, or a zstd stream that ends early), corrupt.
 */
static int share_read(const struct share_img *img, share_page_fn fn, void *ctx, uint64_t *pages,
		      char *err, size_t errlen)
{
	uint8_t *in = malloc(SHARE_BUF), *out = malloc(SHARE_BUF), page[MEM_PAGE_SIZE];
	ZSTD_DCtx *z = img->zst ? ZSTD_createDCtx() : NULL;
	size_t fill = 0, zret = 0;
	uint64_t idx = 0, bytes = 0;
	int fd = open(img->path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0 || !in || !out || (img->zst && !z)) {
		r = fd < 0 ? -errno : -ENOMEM;
		snprintf(err, errlen, "%s: %s", img->path, strerror(-r));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, in, SHARE_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: read: %s", img->path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		bytes += (uint64_t)n;
		if (!img->zst) {
			r = share_feed(page, &fill, &idx, in, (size_t)n, fn, ctx);
			if (r)
				goto fed;
			continue;
		}
		ZSTD_inBuffer zi = {in, (size_t)n, 0};

		while (zi.pos < zi.size) {
			ZSTD_outBuffer zo = {out, SHARE_BUF, 0};

			zret = ZSTD_decompressStream(z, &zo, &zi);
			if (ZSTD_isError(zret)) {
				r = -EINVAL;
				snprintf(err, errlen, "%s: corrupt zstd stream: %s", img->path,
					 ZSTD_getErrorName(zret));
				goto out;
			}
			r = share_feed(page, &fill, &idx, out, zo.pos, fn, ctx);
			if (r)
				goto fed;
		}
	}
	/* flush what the decoder still holds */
	while (img->zst && zret && bytes) {
		ZSTD_inBuffer zi = {in, 0, 0};
		ZSTD_outBuffer zo = {out, SHARE_BUF, 0};

		zret = ZSTD_decompressStream(z, &zo, &zi);
		if (ZSTD_isError(zret) || !zo.pos)
			break;
		r = share_feed(page, &fill, &idx, out, zo.pos, fn, ctx);
		if (r)
			goto fed;
	}
	r = share_ended(img, bytes, zret, fill, idx, err, errlen);
	*pages = idx;
	goto out;
fed:
	if (!err[0])
		snprintf(err, errlen, "%s: page %" PRIu64 ": %s", img->path, idx, strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	ZSTD_freeDCtx(z);
	free(in);
	free(out);
	return r;
}

struct share_load {
	struct mem_p2m *p2m;
	uint64_t zero;
	uint64_t diffs; /* verify */
	uint64_t first_diff;
};

static int share_load_page(void *ctx, uint64_t idx, const uint8_t *page)
{
	static const uint8_t zero[MEM_PAGE_SIZE];
	struct share_load *l = ctx;
	hfn_t h;
	int r;

	if (idx >= l->p2m->pages)
		return -EFBIG; /* the image grew since it was sized */
	r = mem_p2m_populate(l->p2m, idx, &h);
	if (r)
		return r;
	/* written even when zero: a guest's touched page is resident */
	memcpy(mem_pool_ptr(l->p2m->pool, h), page, MEM_PAGE_SIZE);
	l->zero += !memcmp(page, zero, MEM_PAGE_SIZE);
	return 0;
}

static int share_verify_page(void *ctx, uint64_t idx, const uint8_t *page)
{
	struct share_load *l = ctx;
	uint8_t now[MEM_PAGE_SIZE];

	if (idx >= l->p2m->pages || mem_p2m_read(l->p2m, idx, now) ||
	    memcmp(now, page, MEM_PAGE_SIZE)) {
		if (!l->diffs++)
			l->first_diff = idx;
	}
	return 0;
}

struct share_result {
	uint64_t total, zero, rss_before, rss_after;
	unsigned rounds;
	double first_cpu, first_wall;
	struct ksm_stats st;
	bool verify, verified;
};

static void share_print(const struct share_result *s, bool json, unsigned nimg)
{
	const struct ksm_stats *st = &s->st;
	double drop = (double)s->rss_before - (double)s->rss_after;
	double frac = (double)st->metadata_bytes / ((double)s->total * MEM_PAGE_SIZE);

	if (json) {
		printf("{\"images\": %u, \"pages_total\": %" PRIu64 ", \"pages_zero\": %" PRIu64
		       ", \"pages_shared\": %" PRIu64 ", \"pages_sharing\": %" PRIu64
		       ", \"pages_saved\": %" PRIu64 ", \"pages_distinct\": %" PRIu64
		       ", \"pages_hinted\": %" PRIu64 ", \"hash_collisions\": %" PRIu64
		       ", \"scan_seconds\": %.6f, \"cpu_seconds\": %.6f"
		       ", \"first_pass_cpu_seconds\": %.6f, \"first_pass_seconds\": %.6f, "
		       "\"rounds\": %u"
		       ", \"rss_before_bytes\": %" PRIu64 ", \"rss_after_bytes\": %" PRIu64
		       ", \"metadata_bytes\": %" PRIu64 ", \"metadata_source\": \"%s\""
		       ", \"metadata_fraction\": %.6f, \"verified\": %s}\n",
		       nimg, s->total, s->zero, st->pages_shared, st->pages_sharing,
		       st->pages_saved, s->total - st->pages_saved, st->pages_hinted,
		       st->collisions, st->scan_wall_seconds, st->scan_cpu_seconds, s->first_cpu,
		       s->first_wall, s->rounds, s->rss_before, s->rss_after, st->metadata_bytes,
		       st->metadata_source, frac,
		       !s->verify    ? "null"
		       : s->verified ? "true"
				     : "false");
		return;
	}
	printf("images          %u\n", nimg);
	printf("pages total     %" PRIu64 " (%.1f MiB)\n", s->total,
	       (double)s->total * MEM_PAGE_SIZE / 1048576);
	printf("zero pages      %" PRIu64 "\n", s->zero);
	printf("pages_shared    %" PRIu64 " shared frames (the zero frame included)\n",
	       st->pages_shared);
	printf("pages_sharing   %" PRIu64 " pages mapping them\n", st->pages_sharing);
	printf("pages saved     %" PRIu64 " (%.1f MiB, %.1f%%); distinct contents %" PRIu64 "\n",
	       st->pages_saved, (double)st->pages_saved * MEM_PAGE_SIZE / 1048576,
	       100.0 * (double)st->pages_saved / (double)s->total, s->total - st->pages_saved);
	printf("scan            %.3f s wall, %.3f s CPU in %u passes (the first, which "
	       "shared it all: %.3f s wall, %.3f s CPU)\n",
	       st->scan_wall_seconds, st->scan_cpu_seconds, s->rounds, s->first_wall, s->first_cpu);
	printf("host RSS        %.1f MiB before, %.1f MiB after: %.1f MiB freed\n",
	       (double)s->rss_before / 1048576, (double)s->rss_after / 1048576, drop / 1048576);
	printf("metadata        %" PRIu64 " bytes (%s), %.3f%% of image memory\n",
	       st->metadata_bytes, st->metadata_source, 100 * frac);
	if (s->verify)
		printf("verify          %s\n",
		       s->verified ? "every page matches its image" : "DIFFERENCES (see above)");
}

/* Size every image first (a zstd stream is decoded once to count). */
static int share_size(struct share_img *img, unsigned n, uint64_t *total, char *err, size_t len)
{
	*total = 0;
	for (unsigned i = 0; i < n; i++) {
		struct stat sb;
		int r;

		if (img[i].zst) {
			r = share_read(&img[i], NULL, NULL, &img[i].pages, err, len);
		} else if (stat(img[i].path, &sb)) {
			r = -errno;
			snprintf(err, len, "%s: %s", img[i].path, strerror(errno));
		} else if (!S_ISREG(sb.st_mode)) {
			r = -EINVAL;
			snprintf(err, len, "%s: not a regular file", img[i].path);
		} else if (sb.st_size == 0 || sb.st_size % MEM_PAGE_SIZE) {
			r = -EINVAL;
			snprintf(err, len,
				 sb.st_size ? "%s: truncated: %lld bytes is not a whole number of "
					      "4 KiB pages"
					    : "%s: empty image",
				 img[i].path, (long long)sb.st_size);
		} else {
			img[i].pages = (uint64_t)sb.st_size / MEM_PAGE_SIZE;
			r = 0;
		}
		if (!r && img[i].pages > UINT32_MAX) {
			r = -EFBIG;
			snprintf(err, len, "%s: %" PRIu64 " pages: at most 2^32 per image",
				 img[i].path, img[i].pages);
		}
		if (r)
			return r;
		*total += img[i].pages;
	}
	return 0;
}

/* Load, share, measure, verify. Returns the exit status. */
static int share_run(struct share_img *img, unsigned n, const struct ksm_params *kp, bool json,
		     bool verify)
{
	struct share_result res = {.verify = verify};
	struct mem_pool *pool = NULL;
	struct ksm *k = NULL;
	char err[1024] = "";
	int status = 2;

	if (share_size(img, n, &res.total, err, sizeof(err)))
		goto fail;
	pool = mem_pool_create(res.total + 64);
	k = pool ? ksm_create(pool, kp) : NULL;
	if (!k) {
		snprintf(err, sizeof(err), "cannot reserve %" PRIu64 " frames: %s", res.total,
			 strerror(errno));
		status = 1;
		goto fail;
	}
	for (unsigned i = 0; i < n; i++) {
		struct share_load l = {0};
		uint64_t pages;

		l.p2m = img[i].p2m = mem_p2m_create(pool, img[i].pages);
		if (!l.p2m) {
			snprintf(err, sizeof(err), "%s: p2m: %s", img[i].path, strerror(errno));
			status = 1;
			goto fail;
		}
		if (share_read(&img[i], share_load_page, &l, &pages, err, sizeof(err)))
			goto fail;
		if (pages != img[i].pages) {
			snprintf(err, sizeof(err), "%s: changed while being read", img[i].path);
			goto fail;
		}
		res.zero += l.zero;
		img[i].kg = ksm_guest_add(k, l.p2m, 0);
		if (!img[i].kg) {
			snprintf(err, sizeof(err), "%s: %s", img[i].path, strerror(errno));
			status = 1;
			goto fail;
		}
	}
	res.rss_before = mem_rss_bytes();
	res.rounds = ksm_converge(k, 16, &res.first_cpu, &res.first_wall);
	mem_pool_release(pool); /* the last partial batch of freed frames */
	res.rss_after = mem_rss_bytes();
	ksm_stats(k, &res.st);
	status = ksm_check(k) ? 1 : 0;
	if (verify) {
		res.verified = true;
		for (unsigned i = 0; i < n; i++) {
			struct share_load l = {.p2m = img[i].p2m};
			uint64_t pages;

			if (share_read(&img[i], share_verify_page, &l, &pages, err, sizeof(err)))
				goto fail;
			if (l.diffs) {
				fprintf(stderr,
					"memvisor share: %s: %" PRIu64 " pages differ from the "
					"image, the first at page %" PRIu64 "\n",
					img[i].path, l.diffs, l.first_diff);
				res.verified = false;
				status = 1;
			}
		}
	}
	share_print(&res, json, n);
	err[0] = 0;
fail:
	if (err[0])
		fprintf(stderr, "memvisor share: %s\n", err);
	for (unsigned i = 0; i < n; i++) {
		ksm_guest_remove(img[i].kg);
		mem_p2m_destroy(img[i].p2m);
	}
	ksm_destroy(k);
	mem_pool_destroy(pool);
	return status;
}

int vmm_cmd_share(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"verify", no_argument, NULL, 'v'},
	    {"order", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ksm_params kp = {.seed = 1, .order = KSM_ORDER_SEQUENTIAL};
	bool json = false, verify = false;
	struct share_img *img;
	int c, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'v':
			verify = true;
			break;
		case 'o':
			if (ksm_order_parse(optarg, &kp.order)) {
				fprintf(stderr,
					"memvisor share: --order %s: expected random or "
					"sequential\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage_share, stdout);
			return 0;
		default:
			fputs(usage_share, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_share, stderr);
		return 2;
	}
	img = calloc((size_t)(argc - optind), sizeof(*img));
	if (!img)
		return 1;
	for (int i = optind; i < argc; i++) {
		img[i - optind].path = argv[i];
		img[i - optind].zst = has_suffix(argv[i], ".zst");
	}
	status = share_run(img, (unsigned)(argc - optind), &kp, json, verify);
	free(img);
	return status;
}
