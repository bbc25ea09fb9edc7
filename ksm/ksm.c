/* SPDX-License-Identifier: MIT */
/* ksm: the sharing engine's life cycle, guests, copy-on-write, counters. */
/*
 * Design
 *
 * State. One struct ksm per host: the frame pool it shares frames of, the
 * global table (table.c), the registered guests by id, and the zero frame.
 * One struct ksm_guest per guest: its p2m and, per gfn, the 32-bit sum of
 * the page's hash at its last scan (scan.c explains the scanner).
 *
 * References. A shared frame is a table entry {hash, hfn, refs}; refs is
 * the number of SHARED gfns, in any guest, whose p2m entry names hfn. The
 * zero frame is kept apart ({zero_hfn, zero_refs}): every zero page maps
 * it, and it needs no lookup. Invariants (ksm_check() recounts them):
 *   - for every shared entry and the zero frame, refs = SHARED gfns naming
 *     it, and refs > 0 (the last reference frees the frame or hands it
 *     back, so no frame lingers with no user);
 *   - every SHARED gfn names the zero frame or a shared entry's hfn;
 *   - shared entries are found again from any of their gfns: the gfn's sum
 *     is the low 32 bits of the entry's hash, which chose its bucket;
 *   - a hint names a registered guest; its page may have changed since
 *     (stale hints are dropped when met, and when their page is rescanned).
 *
 * Copy-on-write. A SHARED gfn is write-protected in the p2m, so every
 * mapper maps it read-only (nested: the EPT leaf without W; shadow: every
 * shadow entry the reverse map records). A guest write exits to the VMM,
 * which calls ksm_cow_break(): with other references left the gfn gets a
 * fresh frame holding a copy; the last reference takes the shared frame
 * itself back, with no copy. Either way mem_p2m_set() zaps every cached
 * translation first, so no mapper keeps writing into a shared frame, in any
 * paging mode and across a switch between modes.
 *
 * Guest removal drops the guest's references and purges its hints (found
 * through its sums), then frees its id for reuse.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ksm/ksm_internal.h"

int ksm_order_parse(const char *s, enum ksm_order *out)
{
	if (!strcmp(s, "random"))
		*out = KSM_ORDER_RANDOM;
	else if (!strcmp(s, "sequential"))
		*out = KSM_ORDER_SEQUENTIAL;
	else
		return -EINVAL;
	return 0;
}

const char *ksm_order_name(enum ksm_order o)
{
	return o == KSM_ORDER_SEQUENTIAL ? "sequential" : "random";
}

struct ksm *ksm_create(struct mem_pool *pool, const struct ksm_params *p)
{
	static const uint8_t zero[MEM_PAGE_SIZE];
	struct ksm *k;

	/* a shared entry keeps an hfn in 32 bits */
	if (!pool || pool->frames > UINT32_MAX || (p && !(p->host_rate >= 0))) {
		errno = EINVAL;
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	if (p)
		k->p = *p;
	if (!k->p.batch)
		k->p.batch = KSM_DEF_BATCH;
	k->pool = pool;
	k->zero_hfn = KSM_NO_FRAME;
	if (ksm_alloc_init(&k->alloc))
		goto err;
	if (ksm_table_init(&k->table, &k->alloc))
		goto err_alloc;
	k->zero_hash = ksm_hash_page(k, zero);
	return k;

err_alloc:
	ksm_alloc_fini(&k->alloc);
err:
	free(k);
	errno = ENOMEM;
	return NULL;
}

void ksm_destroy(struct ksm *k)
{
	if (!k)
		return;
	for (uint32_t i = 0; i < k->nguests; i++)
		BUG_ON(k->guests[i], "ksm_destroy with guest %u still registered", i);
	BUG_ON(k->table.entries || k->zero_refs, "ksm_destroy: %llu entries left",
	       (unsigned long long)k->table.entries);
	ksm_table_fini(&k->table);
	ksm_free(&k->alloc, k->defer, k->defer ? KSM_DEFER_MAX * sizeof(*k->defer) : 0);
	ksm_free(&k->alloc, k->guests, k->guests_cap * sizeof(*k->guests));
	ksm_alloc_fini(&k->alloc);
	free(k);
}

/* A soft guest's memory: its p2m. */
static const uint8_t *p2m_page(void *ctx, gfn_t gfn, uint8_t *buf)
{
	const struct mem_p2m *p2m = ctx;

	(void)buf;
	if (mem_p2m_state(p2m, gfn) != MEM_RESIDENT)
		return NULL;
	return mem_pool_ptr(p2m->pool, mem_p2m_val(p2m, gfn));
}

static hfn_t p2m_shared(void *ctx, gfn_t gfn)
{
	const struct mem_p2m *p2m = ctx;

	return mem_p2m_state(p2m, gfn) == MEM_SHARED ? mem_p2m_val(p2m, gfn) : KSM_NO_FRAME;
}

static uint64_t p2m_sharing(void *ctx)
{
	return ((const struct mem_p2m *)ctx)->count[MEM_SHARED];
}

/* merge is scan.c's own for a p2m: it frees the guest's frame there */
const struct ksm_mem_ops ksm_p2m_ops = {
    .page = p2m_page,
    .shared = p2m_shared,
    .sharing = p2m_sharing,
};

static struct ksm_guest *guest_add(struct ksm *k, const struct ksm_mem_ops *ops, void *ctx,
				   uint64_t pages, double rate)
{
	struct ksm_guest *kg;
	uint32_t id = 0;

	if (pages > UINT32_MAX || !(rate >= 0)) {
		errno = EINVAL;
		return NULL;
	}
	while (id < k->nguests && k->guests[id])
		id++;
	if (id == k->nguests && k->nguests == k->guests_cap) {
		uint32_t cap = k->guests_cap ? 2 * k->guests_cap : 16;
		struct ksm_guest **g;

		if (cap >= KSM_HINT) {
			errno = ENOSPC;
			return NULL;
		}
		g = ksm_realloc(&k->alloc, k->guests, k->guests_cap * sizeof(*g), cap * sizeof(*g));
		if (!g) {
			errno = ENOMEM;
			return NULL;
		}
		k->guests = g;
		k->guests_cap = cap;
	}
	kg = ksm_zalloc(&k->alloc, sizeof(*kg));
	if (!kg) {
		errno = ENOMEM;
		return NULL;
	}
	kg->sum = ksm_zalloc(&k->alloc, pages * sizeof(*kg->sum));
	if (!kg->sum) {
		ksm_free(&k->alloc, kg, sizeof(*kg));
		errno = ENOMEM;
		return NULL;
	}
	kg->k = k;
	kg->ops = ops;
	kg->ctx = ctx;
	kg->pages = pages;
	kg->id = id;
	kg->rate = rate;
	k->guests[id] = kg;
	if (id == k->nguests)
		k->nguests++;
	k->guest_pages += pages;
	return kg;
}

struct ksm_guest *ksm_guest_add(struct ksm *k, struct mem_p2m *p2m, double rate)
{
	struct ksm_guest *kg;

	if (!p2m || p2m->pool != k->pool) {
		errno = EINVAL;
		return NULL;
	}
	kg = guest_add(k, &ksm_p2m_ops, p2m, p2m->pages, rate);
	if (kg)
		kg->p2m = p2m;
	return kg;
}

struct ksm_guest *ksm_guest_add_mem(struct ksm *k, const struct ksm_mem_ops *ops, void *ctx,
				    uint64_t pages, double rate)
{
	if (!ops || !ops->page || !ops->shared || !ops->merge || !ops->sharing) {
		errno = EINVAL;
		return NULL;
	}
	return guest_add(k, ops, ctx, pages, rate);
}

/* Drop one reference on the shared frame hfn (entry i, or the zero frame
 * when i is 0), freeing the frame with its last reference. The gfn that
 * held it has already left SHARED. */
static void put_ref(struct ksm *k, uint32_t i, hfn_t hfn)
{
	struct ksm_entry *e;

	if (!i) {
		BUG_ON(hfn != k->zero_hfn || !k->zero_refs, "zero frame refcount");
		if (--k->zero_refs == 0) {
			mem_pool_free(k->pool, hfn);
			k->zero_hfn = KSM_NO_FRAME;
		}
		return;
	}
	e = ksm_entry(&k->table, i);
	BUG_ON(ksm_entry_hint(e) || e->val != hfn || !e->aux, "shared entry %u refcount", i);
	k->sharing--;
	if (--e->aux == 0) {
		mem_pool_free(k->pool, hfn);
		ksm_table_remove(&k->table, i);
		k->shared_frames--;
	}
}

uint32_t ksm_find_shared(const struct ksm *k, const struct ksm_guest *kg, gfn_t gfn, hfn_t hfn)
{
	struct ksm_cursor c;

	for (uint32_t i = ksm_table_first(&k->table, &c, kg->sum[gfn], true); i;
	     i = ksm_table_next(&k->table, &c)) {
		const struct ksm_entry *e = ksm_entry(&k->table, i);

		if (!ksm_entry_hint(e) && e->val == hfn)
			return i;
	}
	util_bug(__FILE__, __LINE__,
		 "guest %u gfn %" PRIu64 ": shared frame %" PRIu64 " not in the table", kg->id, gfn,
		 hfn);
}

void ksm_drop_hints(struct ksm *k, const struct ksm_guest *kg, gfn_t gfn)
{
	struct ksm_cursor c;

	for (uint32_t i = ksm_table_first(&k->table, &c, kg->sum[gfn], true); i;
	     i = ksm_table_next(&k->table, &c)) {
		const struct ksm_entry *e = ksm_entry(&k->table, i);

		if (ksm_entry_hint(e) && e->val == gfn && (e->aux & ~KSM_HINT) == kg->id)
			ksm_table_remove(&k->table, i);
	}
}

/* The entry holding SHARED gfn's frame: 0 for the zero frame. */
static uint32_t shared_of(struct ksm *k, const struct ksm_guest *kg, gfn_t gfn, hfn_t hfn)
{
	return hfn == k->zero_hfn ? 0 : ksm_find_shared(k, kg, gfn, hfn);
}

void ksm_guest_remove(struct ksm_guest *kg)
{
	struct ksm *k;

	if (!kg)
		return;
	k = kg->k;
	for (gfn_t gfn = 0; gfn < kg->pages; gfn++) {
		hfn_t hfn = kg->ops->shared(kg->ctx, gfn);

		/* the guest's reference, dropped without changing its memory:
		 * it goes next (see ksm.h) */
		if (hfn != KSM_NO_FRAME)
			put_ref(k, shared_of(k, kg, gfn, hfn), hfn);
		if (kg->sum[gfn])
			ksm_drop_hints(k, kg, gfn);
	}
	k->guests[kg->id] = NULL;
	while (k->nguests && !k->guests[k->nguests - 1])
		k->nguests--;
	k->guest_pages -= kg->pages;
	ksm_free(&k->alloc, kg->sum, kg->pages * sizeof(*kg->sum));
	ksm_free(&k->alloc, kg, sizeof(*kg));
}

int ksm_unshared(struct ksm_guest *kg, gfn_t gfn, hfn_t hfn, bool written)
{
	struct ksm *k = kg->k;

	if (kg->p2m || gfn >= kg->pages || hfn == KSM_NO_FRAME)
		return -EINVAL;
	put_ref(k, shared_of(k, kg, gfn, hfn), hfn);
	if (written) {
		k->st.cow_breaks++;
		kg->st.cow_breaks++;
	}
	return 0;
}

int ksm_cow_break(struct ksm_guest *kg, gfn_t gfn)
{
	struct ksm *k = kg->k;
	struct mem_p2m *p2m = kg->p2m;
	hfn_t hfn, copy;
	uint32_t i;
	uint64_t refs;
	int r;

	if (!p2m || gfn >= p2m->pages || mem_p2m_state(p2m, gfn) != MEM_SHARED)
		return -EINVAL;
	hfn = mem_p2m_val(p2m, gfn);
	i = shared_of(k, kg, gfn, hfn);
	refs = i ? ksm_entry(&k->table, i)->aux : k->zero_refs;
	if (refs == 1) {
		/* the last reference: the frame becomes this gfn's own. Same
		 * frame, write-protection off: the p2m needs no zap. */
		r = mem_p2m_set(p2m, gfn, MEM_RESIDENT, hfn, false);
		BUG_ON(r, "cow: p2m refused SHARED -> RESIDENT (%d)", r);
		if (i) {
			ksm_table_remove(&k->table, i);
			k->shared_frames--;
			k->sharing--;
		} else {
			k->zero_refs = 0;
			k->zero_hfn = KSM_NO_FRAME;
		}
	} else {
		r = mem_pool_alloc(k->pool, &copy, false);
		if (r)
			return r;
		memcpy(mem_pool_ptr(k->pool, copy), mem_pool_ptr(k->pool, hfn), MEM_PAGE_SIZE);
		/* zaps every read-only translation of the shared frame */
		r = mem_p2m_set(p2m, gfn, MEM_RESIDENT, copy, false);
		BUG_ON(r, "cow: p2m refused SHARED -> RESIDENT (%d)", r);
		put_ref(k, i, hfn); /* this gfn's reference */
	}
	k->st.cow_breaks++;
	kg->st.cow_breaks++;
	return 0;
}

int ksm_unshare(struct ksm_guest *kg, gfn_t gfn, enum mem_page_state to, uint64_t val)
{
	struct ksm *k = kg->k;
	hfn_t hfn;
	uint32_t i;
	int r;

	if (!kg->p2m || gfn >= kg->p2m->pages || mem_p2m_state(kg->p2m, gfn) != MEM_SHARED ||
	    to == MEM_RESIDENT)
		return -EINVAL;
	hfn = mem_p2m_val(kg->p2m, gfn);
	i = shared_of(k, kg, gfn, hfn);
	r = mem_p2m_set(kg->p2m, gfn, to, val, false);
	if (r)
		return r;
	put_ref(k, i, hfn); /* this gfn's reference, after the zap */
	return 0;
}

void ksm_stats(const struct ksm *k, struct ksm_stats *st)
{
	*st = k->st;
	st->pages_shared = k->shared_frames + (k->zero_refs ? 1 : 0);
	st->pages_sharing = k->sharing + k->zero_refs;
	st->pages_saved = st->pages_sharing - st->pages_shared;
	st->pages_zero_sharing = k->zero_refs;
	st->pages_hinted = k->table.entries - k->shared_frames;
	st->table_entries = k->table.entries;
	st->table_buckets = ksm_table_buckets(&k->table);
	st->table_resizes = k->table.resizes;
	st->metadata_bytes = ksm_alloc_measured(&k->alloc);
	st->metadata_counted_bytes = k->alloc.bytes;
	st->metadata_source = ksm_alloc_source(&k->alloc);
}

void ksm_guest_stats(const struct ksm_guest *kg, struct ksm_guest_stats *st)
{
	*st = kg->st;
	st->pages_sharing = kg->ops->sharing(kg->ctx);
}

uint64_t ksm_guest_cow_breaks(const struct ksm_guest *kg)
{
	return kg ? kg->st.cow_breaks : 0;
}
