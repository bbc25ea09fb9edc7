/* SPDX-License-Identifier: MIT */
/* guest content models: what writes store, the library, expected bytes. */
/*
 * A page's bytes are a function of (seed, pid, page index, write count)
 * and, for library pages, the library's seed: the workload writes them
 * through the MMU and guest_os_verify() recomputes them from its record.
 *
 *   zero     all zero, whatever is written (every store writes 0);
 *   private  write 1: 512 words from xoshiro seeded by (seed, pid, idx);
 *            write k >= 2: word h(seed, pid, idx, k) & 511 becomes
 *            h'(seed, pid, idx, k);
 *   library  write 1: library page idx % pages; write k >= 2 stores the
 *            library's own word at the chosen index, so the page stays a
 *            copy of the library page (identical across guests, processes
 *            and runs with the same library seed).
 *
 * The library image imitates a program's file-backed pages: each page is
 * one of an array of 64-byte records (ids, pointers, small counters, short
 * names), text, high-entropy bytes (compressed data, code), or a sparse page
 * (a header and a few words). No library page is all zero.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_internal.h"

#define GUEST_WORDS (MEM_PAGE_SIZE / 8)

static inline void guest_put64(uint8_t *b, size_t off, uint64_t v)
{
	memcpy(b + off, &v, 8);
}

static void guest_lib_records(struct guest_rng *r, uint64_t page, uint8_t *b)
{
	for (unsigned i = 0; i < MEM_PAGE_SIZE / 64; i++) {
		uint8_t *rec = b + i * 64;
		uint64_t x = guest_rng_next(r);

		guest_put64(rec, 0, page * 64 + i + 1); /* id */
		guest_put64(rec, 8,
			    i + 1 < 64 ? 0x00007f0000000000ull + page * 4096 + (i + 1) * 64 : 0);
		guest_put64(rec, 16, (x & 0xff) | ((1 + (x >> 8) % 4) << 32)); /* flags, refs */
		snprintf((char *)rec + 24, 16, "obj_%06x", (unsigned)(page * 64 + i) & 0xffffff);
		memset(rec + 40, 0, 16);
		guest_put64(rec, 56, guest_rng_next(r));
	}
}

static void guest_lib_text(struct guest_rng *r, uint8_t *b)
{
	static const char *const words[] = {
	    "the",   "memory", "page",	 "guest", "frame", "table", "return", "static",
	    "int",   "void",   "struct", "if",	  "else",  "for",   "while",  "error",
	    "value", "count",  "buffer", "size",  "const", "char",  "data",   "node",
	};
	size_t n = 0, col = 0;

	while (n < MEM_PAGE_SIZE) {
		const char *w = words[guest_rng_below(r, ARRAY_SIZE(words))];
		size_t len = strlen(w);

		for (size_t i = 0; i < len && n < MEM_PAGE_SIZE; i++)
			b[n++] = (uint8_t)w[i];
		col += len + 1;
		if (n < MEM_PAGE_SIZE)
			b[n++] = col > 72 ? '\n' : ' ';
		if (col > 72)
			col = 0;
	}
}

static void guest_lib_page(uint64_t seed, uint64_t page, uint8_t *b)
{
	struct guest_rng r;

	guest_rng_seed(&r, guest_hash4(GUEST_H_LIB, seed, page, 0, 0));
	memset(b, 0, MEM_PAGE_SIZE);
	switch (guest_rng_next(&r) % 4) {
	case 0:
		guest_lib_records(&r, page, b);
		break;
	case 1:
		guest_lib_text(&r, b);
		break;
	case 2:
		for (unsigned i = 0; i < GUEST_WORDS; i++)
			guest_put64(b, i * 8, guest_rng_next(&r));
		break;
	default:
		for (unsigned i = 0; i < 8; i++)
			guest_put64(b, i * 8, guest_rng_next(&r));
		for (unsigned i = 0; i < 16; i++)
			guest_put64(b, 8 * (8 + guest_rng_below(&r, GUEST_WORDS - 8)),
				    guest_rng_next(&r));
		break;
	}
	b[0] |= 1; /* never an all-zero page */
}

struct guest_library *guest_library_create(uint64_t pages, uint64_t seed)
{
	struct guest_library *lib;

	if (!pages || pages > SIZE_MAX / MEM_PAGE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	lib = calloc(1, sizeof(*lib));
	if (!lib)
		return NULL;
	lib->data = malloc(pages * MEM_PAGE_SIZE);
	if (!lib->data) {
		free(lib);
		errno = ENOMEM;
		return NULL;
	}
	lib->pages = pages;
	for (uint64_t p = 0; p < pages; p++)
		guest_lib_page(seed, p, lib->data + p * MEM_PAGE_SIZE);
	return lib;
}

void guest_library_destroy(struct guest_library *lib)
{
	if (!lib)
		return;
	free(lib->data);
	free(lib);
}

enum guest_content guest_content_kind(const struct guest_workload_params *p, uint64_t seed,
				      uint64_t idx)
{
	uint64_t h;

	if (p->content != GUEST_CONTENT_MIXED)
		return p->content;
	/* No pid: every process (and guest) with this seed agrees. */
	h = guest_hash4(GUEST_H_KIND, seed, idx, 0, 0) % 100;
	if (h < p->zero_pct)
		return GUEST_CONTENT_ZERO;
	if (h < (uint64_t)p->zero_pct + p->library_pct)
		return GUEST_CONTENT_LIBRARY;
	return GUEST_CONTENT_PRIVATE;
}

static const uint8_t *guest_lib_ptr(const struct guest_library *lib, uint64_t idx)
{
	return lib->data + (idx % lib->pages) * MEM_PAGE_SIZE;
}

bool guest_content_fill(enum guest_content kind, const struct guest_library *lib, uint64_t seed,
			uint32_t pid, uint64_t idx, uint8_t *buf)
{
	struct guest_rng r;

	switch (kind) {
	case GUEST_CONTENT_PRIVATE:
		guest_rng_seed(&r, guest_hash4(GUEST_H_FILL, seed, pid, idx, 0));
		for (unsigned i = 0; i < GUEST_WORDS; i++)
			guest_put64(buf, i * 8, guest_rng_next(&r));
		return true;
	case GUEST_CONTENT_LIBRARY:
		memcpy(buf, guest_lib_ptr(lib, idx), MEM_PAGE_SIZE);
		return true;
	default:
		return false;
	}
}

void guest_content_word(enum guest_content kind, const struct guest_library *lib, uint64_t seed,
			uint32_t pid, uint64_t idx, uint64_t k, unsigned *word, uint64_t *val)
{
	*word = (unsigned)(guest_hash4(GUEST_H_WIDX, seed, pid, idx, k) & (GUEST_WORDS - 1));
	switch (kind) {
	case GUEST_CONTENT_PRIVATE:
		*val = guest_hash4(GUEST_H_WVAL, seed, pid, idx, k);
		break;
	case GUEST_CONTENT_LIBRARY:
		memcpy(val, guest_lib_ptr(lib, idx) + *word * 8, 8);
		break;
	default:
		*val = 0;
		break;
	}
}

void guest_content_expected(enum guest_content kind, const struct guest_library *lib, uint64_t seed,
			    uint32_t pid, uint64_t idx, uint64_t writes, uint8_t *buf)
{
	if (!writes || !guest_content_fill(kind, lib, seed, pid, idx, buf)) {
		memset(buf, 0, MEM_PAGE_SIZE);
		return;
	}
	/* Library stores rewrite the library's own words: nothing changes. */
	if (kind != GUEST_CONTENT_PRIVATE)
		return;
	for (uint64_t k = 2; k <= writes; k++) {
		unsigned w;
		uint64_t v;

		guest_content_word(kind, lib, seed, pid, idx, k, &w, &v);
		guest_put64(buf, (size_t)w * 8, v);
	}
}
