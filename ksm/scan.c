/* SPDX-License-Identifier: MIT */
/* scan: the sharing scanner, its order, its pace, and the merge itself. */
/*
 * Design
 *
 * Per page (scan_page), as ESX does it, with Linux's volatility filter:
 *   1. Only RESIDENT gfns are candidates (SHARED ones are shared already).
 *   2. The page is checked for all-zero bytes (which is its byte compare
 *      with the zero frame), else hashed with XXH3 64-bit (inlined here,
 *      the only file that includes xxhash.h).
 *   3. Volatility: the low 32 bits of the hash are kept per gfn. If the page
 *      was scanned before and they changed, the page is being written: it
 *      is skipped (pages_volatile) and its old hint dropped. A page seen for
 *      the first time is not volatile, so static memory shares in one pass.
 *   4. Zero pages map the zero frame. The first zero page found donates
 *      its own frame to be it.
 *   5. Otherwise every table entry with the same 64-bit hash is tried:
 *      - a shared frame: byte compare; equal: merge (the gfn maps the shared
 *        frame read-only, its own frame goes back to the pool);
 *      - a hint (a page seen once): the hinted page is rehashed; changed or
 *        gone, the hint is stale and dropped; unchanged and equal byte for
 *        byte, its frame becomes the shared frame (write-protected in place,
 *        no copy) and this page merges into it;
 *      - equal hashes with different bytes are collisions: counted, kept
 *        apart, never merged.
 *      Nothing matched: the page becomes a hint.
 * Nothing is merged on a hash alone, and a page is only ever compared with
 * a frame that is write-protected (shared) or rehashed just now (hint): the
 * scanner runs between guest quanta, so nothing writes in between.
 *
 * Sharing before swapping (ksm_try_share): the host swap's last look at a
 * victim runs the same steps on that one page at once, outside the pace
 * and with the volatility filter off (a page about to leave memory is
 * worth one hash whatever its history); ESX tries sharing before swapping.
 *
 * Order: sequential (gfn 0, 1, ...) or random: each pass a fresh
 * pseudo-random permutation of the guest's gfns (an affine map and a
 * xorshift on the next power of two, cycle-walked into range), so every page
 * is visited exactly once per pass, in a new order each time.
 *
 * Pace (ksm_tick): credit accrues at the guest's rate per modeled second of
 * its own clock, and at the host rate per modeled second of the host's; a
 * tick scans what both allow, in batches of at most `batch` pages, each
 * page preceded by one bounded step of any table resize. CPU and wall time
 * spent scanning are measured per call (thread CPU clock).
 *
 * Freeing. The frames merges free are held back (up to KSM_DEFER_MAX) and
 * given to the pool sorted by address at the end of each ksm_scan() call,
 * all at once (mem_pool_free_many: one process_madvise per 1024 runs) when
 * there are a pool batch's worth, else to its usual pending batch.
 * Returning scattered 4 KiB frames is the dominant cost of sharing: the
 * kernel clears each PTE and flushes the TLB once per call, and both cost
 * more when the frames of one call lie far apart. In the paravirtualized
 * guest this was measured on, a frame cost about 40 us returned in random
 * batches of 64 and 2 us in sorted batches of 1024. Nothing can use a held
 * frame: no guest runs during a scan call.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ksm/ksm_internal.h"

uint64_t ksm_hash_page(const struct ksm *k, const void *page)
{
	if (k->p.hash)
		return k->p.hash(page, k->p.hash_ctx);
	return XXH3_64bits(page, MEM_PAGE_SIZE);
}

static bool page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)(const void *)page; /* a frame: aligned */

	for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- order ---- */

static void perm_keys(const struct ksm *k, struct ksm_guest *kg)
{
	uint64_t s = util_mix64(k->p.seed ^ ((uint64_t)kg->id << 40) ^ kg->pass);

	kg->perm_bits = 1;
	while ((1ull << kg->perm_bits) < kg->pages)
		kg->perm_bits++;
	kg->perm_a = s | 1; /* odd: x -> a x + c is a bijection mod 2^bits */
	kg->perm_c = util_mix64(s);
}

static uint64_t perm(const struct ksm_guest *kg, uint64_t x)
{
	uint64_t mask = (1ull << kg->perm_bits) - 1;

	do { /* a bijection on [0, 2^bits), walked until it lands in range */
		x = (x * kg->perm_a + kg->perm_c) & mask;
		x ^= x >> (kg->perm_bits / 2 + 1);
	} while (x >= kg->pages);
	return x;
}

static gfn_t next_gfn(struct ksm *k, struct ksm_guest *kg)
{
	bool rnd = k->p.order == KSM_ORDER_RANDOM;
	gfn_t gfn;

	if (kg->pos == 0 && rnd)
		perm_keys(k, kg);
	gfn = rnd ? perm(kg, kg->pos) : kg->pos;
	if (++kg->pos == kg->pages) {
		kg->pos = 0;
		kg->pass++;
		kg->st.full_scans++;
		k->st.full_scans++;
	}
	return gfn;
}

/* ---- merging ---- */

static int cmp_hfn(const void *a, const void *b)
{
	hfn_t x = *(const hfn_t *)a, y = *(const hfn_t *)b;

	return x < y ? -1 : x > y;
}

static void defer_flush(struct ksm *k)
{
	if (k->ndefer > 1)
		qsort(k->defer, k->ndefer, sizeof(*k->defer), cmp_hfn);
	if (k->ndefer >= MEM_POOL_RELEASE_BATCH) {
		mem_pool_free_many(k->pool, k->defer, k->ndefer);
	} else {
		for (uint32_t i = 0; i < k->ndefer; i++)
			mem_pool_free(k->pool, k->defer[i]);
	}
	k->ndefer = 0;
}

/* Free frame hfn (no longer mapped by any gfn) at the end of the scan. */
static void defer_free(struct ksm *k, hfn_t hfn)
{
	if (!k->defer)
		k->defer = ksm_zalloc(&k->alloc, KSM_DEFER_MAX * sizeof(*k->defer));
	if (!k->defer) {
		mem_pool_free(k->pool, hfn);
		return;
	}
	if (k->ndefer == KSM_DEFER_MAX)
		defer_flush(k);
	k->defer[k->ndefer++] = hfn;
}

/*
 * Resident gfn maps shared frame hfn: false when the guest wrote it since
 * it was read (a guest with ops; a soft guest cannot run meanwhile). A soft
 * guest's own frame is freed at the end of the scan, unless it is hfn
 * (the frame became shared in place).
 */
static bool guest_merge(struct ksm *k, struct ksm_guest *kg, gfn_t gfn, hfn_t hfn)
{
	hfn_t own;
	int r;

	if (!kg->p2m)
		return kg->ops->merge(kg->ctx, gfn, hfn) == 1;
	own = mem_p2m_val(kg->p2m, gfn);
	/* zaps every writable translation of gfn before it moves */
	r = mem_p2m_set(kg->p2m, gfn, MEM_SHARED, hfn, true);
	BUG_ON(r, "merge: p2m refused RESIDENT -> SHARED (%d)", r);
	if (own != hfn)
		defer_free(k, own); /* its bytes live on in the shared frame */
	return true;
}

/* A frame holding resident gfn's bytes (page) to become a shared frame: a
 * soft guest's own frame (shared in place, no copy), else a new frame of
 * the pool with a copy. 0 or -ENOMEM. */
static int guest_frame(struct ksm *k, const struct ksm_guest *kg, gfn_t gfn, const uint8_t *page,
		       hfn_t *out)
{
	int r;

	if (kg->p2m) {
		*out = mem_p2m_val(kg->p2m, gfn);
		return 0;
	}
	r = mem_pool_alloc(k->pool, out, false);
	if (!r)
		memcpy(mem_pool_ptr(k->pool, *out), page, MEM_PAGE_SIZE);
	return r;
}

/* Give back a frame guest_frame made that no gfn maps after all. */
static void guest_frame_unused(struct ksm *k, const struct ksm_guest *kg, hfn_t f)
{
	if (!kg->p2m)
		mem_pool_free(k->pool, f);
}

static void count_volatile(struct ksm *k, struct ksm_guest *kg)
{
	k->st.pages_volatile++;
	kg->st.pages_volatile++;
}

/* gfn (RESIDENT, equal byte for byte to shared entry i) maps its frame;
 * false when it changed meanwhile. */
static bool merge_into(struct ksm *k, struct ksm_guest *kg, gfn_t gfn, uint32_t i)
{
	struct ksm_entry *e = ksm_entry(&k->table, i);

	if (!guest_merge(k, kg, gfn, e->val)) {
		count_volatile(k, kg);
		return false;
	}
	e->aux++; /* the reference of (kg, gfn) */
	k->sharing++;
	k->st.merges++;
	kg->st.merges++;
	return true;
}

/* Zero page gfn maps the zero frame, or gives the bytes to be it. */
static void share_zero(struct ksm *k, struct ksm_guest *kg, gfn_t gfn, const uint8_t *page)
{
	hfn_t f;

	if (k->zero_hfn == KSM_NO_FRAME) {
		if (guest_frame(k, kg, gfn, page, &f))
			return; /* no frame: it stays as it is */
		if (!guest_merge(k, kg, gfn, f)) {
			guest_frame_unused(k, kg, f);
			count_volatile(k, kg);
			return;
		}
		k->zero_hfn = f; /* all zero, as just checked; write-protected from now on */
	} else if (!guest_merge(k, kg, gfn, k->zero_hfn)) {
		count_volatile(k, kg);
		return;
	}
	k->zero_refs++; /* the reference of (kg, gfn) */
	k->st.merges++;
	kg->st.merges++;
}

/* HINT_BUSY: no frame for the copy, or this page was written meanwhile:
 * leave it for the next pass */
enum hint_result { HINT_MERGED, HINT_STALE, HINT_DIFFERENT, HINT_BUSY };

/* Try hint i (not of gfn itself) for page (gfn's bytes, hash h). */
static enum hint_result try_hint(struct ksm *k, struct ksm_guest *kg, gfn_t gfn,
				 const uint8_t *page, uint64_t h, uint32_t i)
{
	struct ksm_entry *e = ksm_entry(&k->table, i);
	struct ksm_guest *hg = k->guests[e->aux & ~KSM_HINT];
	gfn_t hgfn = e->val;
	uint8_t buf[MEM_PAGE_SIZE];
	const uint8_t *hp;
	hfn_t hhfn;

	BUG_ON(!hg, "hint %u names guest %u, which is gone", i, e->aux & ~KSM_HINT);
	hp = hg->ops->page(hg->ctx, hgfn, buf);
	if (!hp || ksm_hash_page(k, hp) != h)
		return HINT_STALE;
	if (memcmp(page, hp, MEM_PAGE_SIZE))
		return HINT_DIFFERENT;
	/* the hinted page's bytes become the shared frame: its own frame in
	 * place (soft), or a copy the guest then maps */
	if (guest_frame(k, hg, hgfn, hp, &hhfn))
		return HINT_BUSY;
	if (!guest_merge(k, hg, hgfn, hhfn)) {
		guest_frame_unused(k, hg, hhfn);
		return HINT_STALE;
	}
	e->val = (uint32_t)hhfn;
	e->aux = 1; /* the reference of (hg, hgfn) */
	hg->sum[hgfn] = ksm_sum(h);
	k->shared_frames++;
	k->sharing++;
	k->st.merges++;
	hg->st.merges++;
	if (!merge_into(k, kg, gfn, i))
		return HINT_BUSY; /* the frame stays, shared by hg alone */
	return HINT_MERGED;
}

/* Non-zero, non-volatile RESIDENT page gfn with hash h. */
static void share_page(struct ksm *k, struct ksm_guest *kg, gfn_t gfn, const uint8_t *page,
		       uint64_t h, bool seen)
{
	struct ksm_table *t = &k->table;
	struct ksm_cursor c;
	bool self = false;

	for (uint32_t i = ksm_table_first(t, &c, h, false); i; i = ksm_table_next(t, &c)) {
		struct ksm_entry *e = ksm_entry(t, i);

		if (!ksm_entry_hint(e)) {
			if (memcmp(page, mem_pool_ptr(k->pool, e->val), MEM_PAGE_SIZE)) {
				k->st.collisions++;
				continue;
			}
			if (e->aux == KSM_HINT - 1)
				continue; /* its reference count is full */
			if (!merge_into(k, kg, gfn, i))
				return; /* written meanwhile: next time */
			goto merged;
		}
		if ((e->aux & ~KSM_HINT) == kg->id && e->val == gfn) {
			self = true; /* unchanged since it was hinted */
			continue;
		}
		switch (try_hint(k, kg, gfn, page, h, i)) {
		case HINT_MERGED:
			goto merged;
		case HINT_STALE:
			ksm_table_remove(t, i);
			k->st.stale_hints++;
			break;
		case HINT_DIFFERENT:
			k->st.collisions++;
			break;
		case HINT_BUSY:
			return;
		}
	}
	/* no memory for a hint: the page stays unshared until next time */
	if (!self)
		(void)ksm_table_insert(t, h, (uint32_t)gfn, KSM_HINT | kg->id);
	return;
merged:
	if (seen)
		ksm_drop_hints(k, kg, gfn);
}

/* Scan gfn. With force (a last look before the page is swapped out) the
 * volatility filter does not apply: a changed page is looked at as new. */
static void scan_page(struct ksm *k, struct ksm_guest *kg, gfn_t gfn, bool force)
{
	uint8_t buf[MEM_PAGE_SIZE];
	const uint8_t *page;
	uint32_t sum, old;
	uint64_t h;
	bool zero;

	double t0 = clock_s(CLOCK_MONOTONIC), t1;

	k->st.pages_scanned++;
	kg->st.pages_scanned++;
	page = kg->ops->page(kg->ctx, gfn, buf);
	t1 = clock_s(CLOCK_MONOTONIC);
	k->st.read_seconds += t1 - t0;
	if (!page)
		return;
	zero = page_is_zero(page);
	h = zero ? k->zero_hash : ksm_hash_page(k, page);
	k->st.pages_hashed++;
	k->st.hash_seconds += clock_s(CLOCK_MONOTONIC) - t1;
	sum = ksm_sum(h);
	old = kg->sum[gfn];
	if (old && old != sum) {
		ksm_drop_hints(k, kg, gfn); /* found through the old sum */
		kg->sum[gfn] = sum;
		if (!force) {
			count_volatile(k, kg);
			return;
		}
		old = 0; /* its hints are gone: a page seen for the first time */
	}
	kg->sum[gfn] = sum;
	if (zero) {
		if (old)
			ksm_drop_hints(k, kg, gfn);
		share_zero(k, kg, gfn, page);
	} else {
		share_page(k, kg, gfn, page, h, old != 0);
	}
}

/* ---- pace ---- */

/* Start fetching gfn's frame: the scan is bound by reading memory, and in
 * random order the hardware cannot guess the next page. */
static void prefetch_page(const struct ksm *k, const struct ksm_guest *kg, gfn_t gfn)
{
	const uint8_t *p;

	if (!kg->p2m || mem_p2m_state(kg->p2m, gfn) != MEM_RESIDENT)
		return; /* another guest's page is read by its ops, into a buffer */
	p = mem_pool_ptr(k->pool, mem_p2m_val(kg->p2m, gfn));
	for (unsigned off = 0; off < MEM_PAGE_SIZE; off += 256)
		__builtin_prefetch(p + off);
}

void ksm_scan(struct ksm *k, struct ksm_guest *kg, uint64_t pages)
{
	double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID), wall = clock_s(CLOCK_MONOTONIC);
	gfn_t next = pages ? next_gfn(k, kg) : 0;

	while (pages) {
		uint64_t n = pages < k->p.batch ? pages : k->p.batch;

		pages -= n;
		while (n--) {
			gfn_t gfn = next;

			/* out of time at the end of a batch: drop the rest */
			if (!n && pages && k->p.max_call_seconds > 0 &&
			    clock_s(CLOCK_MONOTONIC) - wall >= k->p.max_call_seconds) {
				k->st.pages_dropped += pages;
				pages = 0;
			}
			/* one page ahead, within this call's pages only */
			if (n || pages) {
				next = next_gfn(k, kg);
				prefetch_page(k, kg, next);
			}
			ksm_table_step(&k->table);
			scan_page(k, kg, gfn, false);
		}
	}
	defer_flush(k);
	k->st.scan_cpu_seconds += clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu;
	k->st.scan_wall_seconds += clock_s(CLOCK_MONOTONIC) - wall;
}

int ksm_try_share(struct ksm_guest *kg, gfn_t gfn)
{
	struct ksm *k = kg->k;
	uint8_t buf[MEM_PAGE_SIZE];
	bool shared;

	if (gfn >= kg->pages)
		return -EINVAL;
	shared = kg->ops->shared(kg->ctx, gfn) != KSM_NO_FRAME;
	if (!shared && kg->ops->page(kg->ctx, gfn, buf)) { /* resident, not a hole */
		ksm_table_step(&k->table);
		scan_page(k, kg, gfn, true);
		defer_flush(k);
		k->st.swap_tries++;
		shared = kg->ops->shared(kg->ctx, gfn) != KSM_NO_FRAME;
		if (shared)
			k->st.swap_merges++;
	}
	return shared;
}

void ksm_tick(struct ksm *k, struct ksm_guest *kg, double guest_seconds, double host_seconds)
{
	uint64_t n;

	if (guest_seconds > kg->last) {
		kg->credit += kg->rate * (guest_seconds - kg->last);
		kg->last = guest_seconds;
	}
	if (kg->credit > (double)kg->pages)
		kg->credit = (double)kg->pages;
	n = (uint64_t)kg->credit;
	if (k->p.host_rate > 0) {
		if (host_seconds > k->host_last) {
			k->host_credit += k->p.host_rate * (host_seconds - k->host_last);
			k->host_last = host_seconds;
		}
		if (k->host_credit > (double)k->guest_pages)
			k->host_credit = (double)k->guest_pages;
		if ((uint64_t)k->host_credit < n)
			n = (uint64_t)k->host_credit;
		k->host_credit -= (double)n;
	}
	kg->credit -= (double)n;
	if (n)
		ksm_scan(k, kg, n);
}

unsigned ksm_converge(struct ksm *k, unsigned max_rounds, double *first_cpu, double *first_wall)
{
	double cpu0 = k->st.scan_cpu_seconds, wall0 = k->st.scan_wall_seconds;
	unsigned rounds = 0;

	while (rounds < max_rounds) {
		uint64_t merges = k->st.merges;

		for (uint32_t g = 0; g < k->nguests; g++)
			if (k->guests[g])
				ksm_scan(k, k->guests[g], k->guests[g]->pages);
		if (++rounds == 1 && first_cpu)
			*first_cpu = k->st.scan_cpu_seconds - cpu0;
		if (rounds == 1 && first_wall)
			*first_wall = k->st.scan_wall_seconds - wall0;
		if (k->st.merges == merges)
			break;
	}
	return rounds;
}
