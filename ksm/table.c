/* SPDX-License-Identifier: MIT */
/* table: the global sharing table, chained, resized incrementally. */
/*
 * Design
 *
 * One table for all guests, keyed by a page's 64-bit content hash. Each
 * entry is either a shared frame (hash, hfn, reference count) or a hint
 * (hash, guest id, gfn of a page seen once), 20 bytes, as in ESX's "frames"
 * (16 bytes there, with a truncated hash in hints). Several entries may
 * carry the same hash: hash collisions are kept side by side, since the
 * hash is only a filter and a byte compare decides.
 *
 * Entries live in a slab of chunks of KSM_CHUNK entries, addressed by a
 * 32-bit index (0 = none), with a free list through `next`. A chunk never
 * moves, so the slab grows by one chunk at a time and nothing is copied.
 *
 * Buckets are arrays of 32-bit entry indexes, chains linked through
 * `next`. The bucket of a hash is chosen by its low 32 bits (ksm_sum), so a
 * table has at most 2^32 buckets and the scanner, which keeps only those 32
 * bits per page, can always find a page's entries again.
 *
 * Resizing is Redis's dict (src/dict.c): when entries reach the bucket
 * count (load 1) a table twice the size is allocated as ht[1] and the
 * buckets of ht[0] move over a few at a time: every ksm_table_step() moves
 * at most STEP_BUCKETS non-empty buckets and looks at most STEP_VISITS
 * buckets in all, so no insert ever pays for a whole rehash. While resizing,
 * inserts go to ht[1] and lookups look in both. The scanner takes one step
 * per page it looks up, at most one insert per page, so a resize always
 * ends before the new table fills. When entries drop below an eighth of
 * the buckets the same machinery shrinks the table (never below
 * HT_MIN_SIZE). A bucket array that cannot be allocated leaves the table as
 * it is: chains grow longer, nothing breaks. Allocating a large zeroed
 * bucket array is itself cheap: the allocator hands out fresh zero pages.
 *
 * Cursors: ksm_table_first/next walk one bucket of ht[0], then of ht[1],
 * with the next entry prefetched, so the caller may remove the entry it was
 * just given (a stale hint). No insert and no step while a cursor is open:
 * either could move entries under it.
 */
#include <errno.h>
#include <string.h>

#include "ksm/ksm_internal.h"

#define HT_MAX_SIZE  (1ull << 32) /* buckets: chosen by 32 bits */
#define HT_MIN_SIZE  KSM_HT_MIN_SIZE
#define STEP_BUCKETS KSM_STEP_BUCKETS
#define STEP_VISITS  KSM_STEP_VISITS

static uint64_t ht_bucket(const struct ksm_ht *h, uint32_t sum)
{
	return sum & (h->size - 1);
}

static int ht_alloc(struct ksm_table *t, struct ksm_ht *h, uint64_t size)
{
	h->b = ksm_zalloc(t->alloc, size * sizeof(*h->b));
	if (!h->b)
		return -ENOMEM;
	h->size = size;
	h->used = 0;
	return 0;
}

static void ht_free(struct ksm_table *t, struct ksm_ht *h)
{
	ksm_free(t->alloc, h->b, h->size * sizeof(*h->b));
	*h = (struct ksm_ht){0};
}

int ksm_table_init(struct ksm_table *t, struct ksm_alloc *a)
{
	memset(t, 0, sizeof(*t));
	t->alloc = a;
	t->rehash = -1;
	t->fresh = 1; /* index 0 is "none" */
	return ht_alloc(t, &t->ht[0], HT_MIN_SIZE);
}

void ksm_table_fini(struct ksm_table *t)
{
	ht_free(t, &t->ht[0]);
	ht_free(t, &t->ht[1]);
	for (uint32_t c = 0; c < t->nchunks; c++)
		ksm_free(t->alloc, t->chunk[c], KSM_CHUNK * sizeof(struct ksm_entry));
	ksm_free(t->alloc, t->chunk, t->chunk_cap * sizeof(*t->chunk));
	t->chunk = NULL;
	t->nchunks = t->chunk_cap = 0;
}

uint64_t ksm_table_buckets(const struct ksm_table *t)
{
	return t->ht[0].size + t->ht[1].size;
}

/* ---- entries ---- */

static uint32_t entry_alloc(struct ksm_table *t)
{
	uint32_t i = t->free;

	if (i) {
		t->free = ksm_entry(t, i)->next;
		return i;
	}
	if (t->fresh == UINT32_MAX)
		return 0;
	if ((t->fresh >> KSM_CHUNK_BITS) == t->nchunks) {
		if (t->nchunks == t->chunk_cap) {
			uint32_t cap = t->chunk_cap ? 2 * t->chunk_cap : 16;
			struct ksm_entry **d = ksm_realloc(
			    t->alloc, t->chunk, t->chunk_cap * sizeof(*d), cap * sizeof(*d));

			if (!d)
				return 0;
			t->chunk = d;
			t->chunk_cap = cap;
		}
		t->chunk[t->nchunks] = ksm_zalloc(t->alloc, KSM_CHUNK * sizeof(struct ksm_entry));
		if (!t->chunk[t->nchunks])
			return 0;
		t->nchunks++;
	}
	return t->fresh++;
}

static void entry_free(struct ksm_table *t, uint32_t i)
{
	struct ksm_entry *e = ksm_entry(t, i);

	*e = (struct ksm_entry){.next = t->free};
	t->free = i;
}

/* ---- resizing ---- */

/* Start moving every entry to a table of `size` buckets. */
static void resize_start(struct ksm_table *t, uint64_t size)
{
	if (t->rehash >= 0 || size == t->ht[0].size)
		return;
	if (ht_alloc(t, &t->ht[1], size))
		return; /* stay as we are: longer chains, nothing lost */
	t->rehash = 0;
	t->resizes++;
}

void ksm_table_step(struct ksm_table *t)
{
	struct ksm_ht *from = &t->ht[0], *to = &t->ht[1];
	unsigned moved = 0, visited = 0;

	if (t->rehash < 0)
		return;
	while (moved < STEP_BUCKETS && visited < STEP_VISITS && (uint64_t)t->rehash < from->size) {
		uint32_t i = from->b[t->rehash];

		visited++;
		moved += i != 0;
		while (i) {
			struct ksm_entry *e = ksm_entry(t, i);
			uint32_t next = e->next;
			uint64_t b = ht_bucket(to, ksm_sum(ksm_entry_hash(e)));

			e->next = to->b[b];
			to->b[b] = i;
			from->used--;
			to->used++;
			i = next;
		}
		from->b[t->rehash++] = 0;
	}
	if (visited > t->max_step)
		t->max_step = visited;
	if ((uint64_t)t->rehash == from->size) {
		BUG_ON(from->used, "table: %llu entries left behind by a resize",
		       (unsigned long long)from->used);
		ht_free(t, from);
		t->ht[0] = *to;
		*to = (struct ksm_ht){0};
		t->rehash = -1;
	}
}

/* ---- insert, remove, lookup ---- */

uint32_t ksm_table_insert(struct ksm_table *t, uint64_t hash, uint32_t val, uint32_t aux)
{
	struct ksm_ht *h = t->rehash >= 0 ? &t->ht[1] : &t->ht[0];
	uint32_t i = entry_alloc(t);
	struct ksm_entry *e;
	uint64_t b;

	if (!i)
		return 0;
	e = ksm_entry(t, i);
	b = ht_bucket(h, ksm_sum(hash));
	*e = (struct ksm_entry){.hlo = (uint32_t)hash,
				.hhi = (uint32_t)(hash >> 32),
				.next = h->b[b],
				.val = val,
				.aux = aux};
	h->b[b] = i;
	h->used++;
	t->entries++;
	if (t->rehash < 0 && t->ht[0].used >= t->ht[0].size && t->ht[0].size < HT_MAX_SIZE)
		resize_start(t, t->ht[0].size * 2);
	return i;
}

void ksm_table_remove(struct ksm_table *t, uint32_t i)
{
	struct ksm_entry *e = ksm_entry(t, i);
	uint32_t sum = ksm_sum(ksm_entry_hash(e));

	for (int n = 0; n < 2; n++) {
		struct ksm_ht *h = &t->ht[n];
		uint32_t *link;

		if (!h->size)
			continue;
		for (link = &h->b[ht_bucket(h, sum)]; *link; link = &ksm_entry(t, *link)->next)
			if (*link == i) {
				*link = e->next;
				h->used--;
				t->entries--;
				entry_free(t, i);
				goto shrink;
			}
	}
	util_bug(__FILE__, __LINE__, "table: entry %u is in no chain", i);
shrink:
	if (t->rehash < 0 && t->ht[0].size > HT_MIN_SIZE && t->ht[0].used * 8 < t->ht[0].size) {
		uint64_t size = HT_MIN_SIZE;

		while (size < t->ht[0].used * 2)
			size *= 2;
		resize_start(t, size);
	}
}

static bool cursor_match(const struct ksm_cursor *c, const struct ksm_entry *e)
{
	uint64_t h = ksm_entry_hash(e);

	return c->by_sum ? ksm_sum(h) == c->key : h == c->key;
}

uint32_t ksm_table_next(const struct ksm_table *t, struct ksm_cursor *c)
{
	uint32_t sum = c->by_sum ? (uint32_t)c->key : ksm_sum(c->key);

	for (;;) {
		while (c->next) {
			uint32_t i = c->next;
			const struct ksm_entry *e = ksm_entry(t, i);

			c->next = e->next;
			if (cursor_match(c, e))
				return i;
		}
		if (c->t == 1 || !t->ht[1].size)
			return 0;
		c->t = 1;
		c->next = t->ht[1].b[ht_bucket(&t->ht[1], sum)];
	}
}

uint32_t ksm_table_first(const struct ksm_table *t, struct ksm_cursor *c, uint64_t hash,
			 bool by_sum)
{
	uint32_t sum = by_sum ? (uint32_t)hash : ksm_sum(hash);

	c->key = hash;
	c->by_sum = by_sum;
	c->t = 0;
	c->next = t->ht[0].b[ht_bucket(&t->ht[0], sum)];
	return ksm_table_next(t, c);
}
