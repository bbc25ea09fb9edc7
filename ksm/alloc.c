/* SPDX-License-Identifier: MIT */
/* alloc: ksm's metadata allocations, in an arena of their own, measured. */
/*
 * The sharing engine's memory overhead (its table, its chunks of entries,
 * one 32-bit sum per guest page) is a figure the ESX paper reports (under
 * 0.5% of memory), so it is measured, not estimated.
 *
 * Release build (MEMVISOR_JEMALLOC, linked with jemalloc): every
 * allocation goes to a jemalloc arena created for this engine alone, with
 * the thread cache bypassed (MALLOCX_TCACHE_NONE), so the arena's
 * statistics ("stats.arenas.<i>.small.allocated" + "large.allocated",
 * refreshed through "epoch") are exactly the bytes jemalloc holds for us,
 * size-class rounding included. The arena is destroyed with the engine.
 *
 * Sanitizer build (no jemalloc: both it and ASan replace malloc): plain
 * malloc, and the measured figure is our own count of the bytes requested.
 * Both builds keep that count, which the summary reports beside the
 * measured one.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "ksm/ksm_internal.h"

#ifdef MEMVISOR_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static void count(struct ksm_alloc *a, size_t add, size_t sub)
{
	a->bytes += add;
	a->bytes -= sub;
	if (a->bytes > a->peak)
		a->peak = a->bytes;
}

#ifdef MEMVISOR_JEMALLOC

static int flags(const struct ksm_alloc *a)
{
	return (int)MALLOCX_ARENA(a->arena) | MALLOCX_TCACHE_NONE;
}

int ksm_alloc_init(struct ksm_alloc *a)
{
	size_t sz = sizeof(a->arena);

	memset(a, 0, sizeof(*a));
	if (mallctl("arenas.create", &a->arena, &sz, NULL, 0))
		return -ENOMEM;
	a->jemalloc = true;
	return 0;
}

void ksm_alloc_fini(struct ksm_alloc *a)
{
	char name[64];

	BUG_ON(a->bytes, "ksm: %llu metadata bytes never freed", (unsigned long long)a->bytes);
	snprintf(name, sizeof(name), "arena.%u.destroy", a->arena);
	/* only fails for a bad index: the arena then merely stays */
	(void)mallctl(name, NULL, NULL, NULL, 0);
}

void *ksm_zalloc(struct ksm_alloc *a, size_t n)
{
	void *p = mallocx(n ? n : 1, flags(a) | MALLOCX_ZERO);

	if (!p)
		a->failures++;
	else
		count(a, n, 0);
	return p;
}

void *ksm_realloc(struct ksm_alloc *a, void *p, size_t old, size_t n)
{
	void *q = p ? rallocx(p, n ? n : 1, flags(a)) : mallocx(n ? n : 1, flags(a));

	if (!q) {
		a->failures++;
		return NULL;
	}
	count(a, n, old);
	return q;
}

void ksm_free(struct ksm_alloc *a, void *p, size_t n)
{
	if (!p)
		return;
	dallocx(p, flags(a));
	count(a, 0, n);
}

uint64_t ksm_alloc_measured(const struct ksm_alloc *a)
{
	uint64_t epoch = 1, small = 0, large = 0;
	size_t sz = sizeof(epoch), vsz = sizeof(size_t);
	size_t v;
	char name[96];

	if (mallctl("epoch", &epoch, &sz, &epoch, sz))
		return a->bytes;
	snprintf(name, sizeof(name), "stats.arenas.%u.small.allocated", a->arena);
	if (!mallctl(name, &v, &vsz, NULL, 0))
		small = v;
	snprintf(name, sizeof(name), "stats.arenas.%u.large.allocated", a->arena);
	vsz = sizeof(size_t);
	if (!mallctl(name, &v, &vsz, NULL, 0))
		large = v;
	/* a jemalloc built without statistics reports nothing: count */
	return small + large ? small + large : a->bytes;
}

const char *ksm_alloc_source(const struct ksm_alloc *a)
{
	return a->jemalloc ? "jemalloc" : "counted";
}

#else /* !MEMVISOR_JEMALLOC */

int ksm_alloc_init(struct ksm_alloc *a)
{
	memset(a, 0, sizeof(*a));
	return 0;
}

void ksm_alloc_fini(struct ksm_alloc *a)
{
	BUG_ON(a->bytes, "ksm: %llu metadata bytes never freed", (unsigned long long)a->bytes);
}

void *ksm_zalloc(struct ksm_alloc *a, size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		a->failures++;
	else
		count(a, n, 0);
	return p;
}

void *ksm_realloc(struct ksm_alloc *a, void *p, size_t old, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		a->failures++;
		return NULL;
	}
	count(a, n, old);
	return q;
}

void ksm_free(struct ksm_alloc *a, void *p, size_t n)
{
	if (!p)
		return;
	free(p);
	count(a, 0, n);
}

uint64_t ksm_alloc_measured(const struct ksm_alloc *a)
{
	return a->bytes;
}

const char *ksm_alloc_source(const struct ksm_alloc *a)
{
	(void)a;
	return "counted";
}

#endif
