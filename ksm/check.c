/* SPDX-License-Identifier: MIT */
/* check: recount the sharing engine's invariants (tests, end of a run). */
#include <errno.h>
#include <inttypes.h>

#include "ksm/ksm_internal.h"

#define CHECK_FAIL(...)                                                                            \
	do {                                                                                       \
		fprintf(stderr, "ksm: " __VA_ARGS__);                                              \
		fputc('\n', stderr);                                                               \
		r = -EUCLEAN;                                                                      \
		goto out;                                                                          \
	} while (0)

/* Is there a shared entry for hfn in the bucket of sum? */
static bool findable(const struct ksm *k, uint32_t sum, hfn_t hfn)
{
	struct ksm_cursor c;

	for (uint32_t i = ksm_table_first(&k->table, &c, sum, true); i;
	     i = ksm_table_next(&k->table, &c)) {
		const struct ksm_entry *e = ksm_entry(&k->table, i);

		if (!ksm_entry_hint(e) && e->val == hfn)
			return true;
	}
	return false;
}

/* Every SHARED gfn: a frame in the pool, findable; count per frame. */
static int check_guests(const struct ksm *k, uint32_t *refs, uint64_t *total)
{
	int r = 0;

	for (uint32_t g = 0; g < k->nguests; g++) {
		const struct ksm_guest *kg = k->guests[g];

		if (!kg)
			continue;
		if (kg->id != g)
			CHECK_FAIL("guest slot %u holds guest %u", g, kg->id);
		for (gfn_t gfn = 0; gfn < kg->pages; gfn++) {
			hfn_t hfn = kg->ops->shared(kg->ctx, gfn);

			if (hfn == KSM_NO_FRAME)
				continue;
			if (hfn >= k->pool->hiwater)
				CHECK_FAIL("guest %u gfn %" PRIu64 ": frame %" PRIu64
					   " never allocated",
					   g, gfn, hfn);
			if (kg->p2m && !mem_p2m_wp(kg->p2m, gfn))
				CHECK_FAIL("guest %u gfn %" PRIu64 ": shared but writable", g, gfn);
			if (hfn != k->zero_hfn && !findable(k, kg->sum[gfn], hfn))
				CHECK_FAIL("guest %u gfn %" PRIu64 ": frame %" PRIu64
					   " not found through its sum",
					   g, gfn, hfn);
			refs[hfn]++;
			(*total)++;
		}
	}
out:
	return r;
}

/* Every entry: in the right bucket, naming a live guest or frame, with the
 * reference count the guests agree on. */
static int check_table(const struct ksm *k, uint32_t *refs, uint64_t *shared, uint64_t *hints,
		       uint64_t *sharing)
{
	const struct ksm_table *t = &k->table;
	int r = 0;

	for (int n = 0; n < 2; n++) {
		const struct ksm_ht *h = &t->ht[n];
		uint64_t used = 0;

		for (uint64_t b = 0; b < h->size; b++)
			for (uint32_t i = h->b[b]; i; i = ksm_entry(t, i)->next) {
				const struct ksm_entry *e = ksm_entry(t, i);
				uint32_t id = e->aux & ~KSM_HINT;

				used++;
				if ((ksm_sum(ksm_entry_hash(e)) & (h->size - 1)) != b)
					CHECK_FAIL("entry %u in bucket %" PRIu64 " of table %d", i,
						   b, n);
				if (ksm_entry_hint(e)) {
					if (id >= k->nguests || !k->guests[id] ||
					    e->val >= k->guests[id]->pages)
						CHECK_FAIL("hint %u names guest %u gfn %u", i, id,
							   e->val);
					(*hints)++;
					continue;
				}
				if (e->val >= k->pool->hiwater || !e->aux)
					CHECK_FAIL("shared entry %u: frame %u, %u references", i,
						   e->val, e->aux);
				if (refs[e->val] != e->aux)
					CHECK_FAIL("shared frame %u: %u references counted, %u "
						   "gfns map it",
						   e->val, e->aux, refs[e->val]);
				refs[e->val] = 0; /* claimed: a second entry fails */
				(*shared)++;
				*sharing += e->aux;
			}
		if (used != h->used)
			CHECK_FAIL("table %d: %" PRIu64 " entries chained, used %" PRIu64, n, used,
				   h->used);
	}
out:
	return r;
}

int ksm_check(const struct ksm *k)
{
	uint64_t total = 0, shared = 0, hints = 0, sharing = 0;
	uint32_t *refs = calloc(k->pool->frames, sizeof(*refs));
	int r;

	if (!refs)
		return -ENOMEM;
	r = check_guests(k, refs, &total);
	if (r)
		goto out;
	if (k->zero_refs) {
		if (refs[k->zero_hfn] != k->zero_refs)
			CHECK_FAIL("zero frame: %" PRIu64 " references, %u gfns map it",
				   k->zero_refs, refs[k->zero_hfn]);
		refs[k->zero_hfn] = 0;
	} else if (k->zero_hfn != KSM_NO_FRAME) {
		CHECK_FAIL("a zero frame with no references");
	}
	r = check_table(k, refs, &shared, &hints, &sharing);
	if (r)
		goto out;
	for (uint64_t f = 0; f < k->pool->frames; f++)
		if (refs[f])
			CHECK_FAIL("frame %" PRIu64 " mapped SHARED by %u gfns but owned by no "
				   "entry",
				   f, refs[f]);
	if (shared != k->shared_frames || sharing != k->sharing ||
	    total != k->sharing + k->zero_refs || shared + hints != k->table.entries)
		CHECK_FAIL("counts: %" PRIu64 " shared entries (%" PRIu64 " kept), %" PRIu64
			   " references (%" PRIu64 " kept), %" PRIu64 " SHARED gfns, %" PRIu64
			   " hints, %" PRIu64 " entries",
			   shared, k->shared_frames, sharing, k->sharing, total, hints,
			   k->table.entries);
out:
	free(refs);
	return r;
}
