/* SPDX-License-Identifier: MIT */
/* test_p2m: the p2m state machine, its counts, reads, and the reverse map. */
#include <errno.h>
#include <stdlib.h>

#include "mem/mem.h"
#include "mem/tests/check_mem.h"

#define POOL_FRAMES 4096u
#define GUEST_PAGES 64u
#define SLOT	    9u /* a swap slot */

/* Fresh per test (Check forks): a pool, a guest, and one frame standing in
 * for a ksm-owned shared frame, which the p2m never frees. */
static struct mem_pool *pool;
static struct mem_p2m *p2m;
static hfn_t ksm_hfn;

/* A mapper that logs its zaps. */
#define LOG_MAX 64
struct zap_log {
	uint64_t n;
	struct {
		struct mem_mapper *m;
		gfn_t gfn;
		uint64_t ref;
	} z[LOG_MAX];
};

static void log_zap(struct mem_mapper *m, gfn_t gfn, uint64_t ref)
{
	struct zap_log *l = m->ctx;

	if (l->n < LOG_MAX) {
		l->z[l->n].m = m;
		l->z[l->n].gfn = gfn;
		l->z[l->n].ref = ref;
	}
	l->n++;
}

static const struct mem_mapper_ops log_ops = {.name = "test", .zap = log_zap};

static struct zap_log zlog;
static struct mem_mapper m1 = {.ops = &log_ops, .ctx = &zlog};
static struct mem_mapper m2 = {.ops = &log_ops, .ctx = &zlog};

static void p2m_setup(void)
{
	pool = mem_pool_create(POOL_FRAMES);
	ck_assert_ptr_nonnull(pool);
	p2m = mem_p2m_create(pool, GUEST_PAGES);
	ck_assert_ptr_nonnull(p2m);
	ck_assert_int_eq(mem_pool_alloc(pool, &ksm_hfn, true), 0);
	memset(mem_pool_ptr(pool, ksm_hfn), 0x42, MEM_PAGE_SIZE);
	memset(&zlog, 0, sizeof(zlog));
}

static void p2m_teardown(void)
{
	mem_p2m_destroy(p2m);
	mem_pool_destroy(pool);
	p2m = NULL;
	pool = NULL;
}

#define CHECK_P2M() ck_assert_int_eq(mem_p2m_check(p2m), 0)

/* The pool holds the guest's RESIDENT frames and the ksm frame, no more. */
#define CHECK_FRAMES() ck_assert_uint_eq(pool->used, p2m->count[MEM_RESIDENT] + 1)

static hfn_t populate(gfn_t gfn)
{
	hfn_t h = ~0ull;

	ck_assert_int_eq(mem_p2m_populate(p2m, gfn, &h), 0);
	ck_assert_int_eq(mem_p2m_state(p2m, gfn), MEM_RESIDENT);
	CHECK_P2M();
	return h;
}

/* Bring an UNTOUCHED gfn to state s the way the VMM would, frames included. */
static void bring(gfn_t gfn, enum mem_page_state s)
{
	hfn_t h;

	switch (s) {
	case MEM_UNTOUCHED:
		break;
	case MEM_RESIDENT:
		populate(gfn);
		break;
	case MEM_SHARED: /* ksm merges: the private frame goes */
		h = populate(gfn);
		ck_assert_int_eq(mem_p2m_set(p2m, gfn, MEM_SHARED, ksm_hfn, true), 0);
		mem_pool_free(pool, h);
		break;
	case MEM_BALLOONED:
		ck_assert_int_eq(mem_p2m_set(p2m, gfn, MEM_BALLOONED, 0, false), 0);
		break;
	case MEM_SWAPPED:
		h = populate(gfn);
		ck_assert_int_eq(mem_p2m_set(p2m, gfn, MEM_SWAPPED, SLOT, false), 0);
		mem_pool_free(pool, h);
		break;
	default:
		ck_abort();
	}
	ck_assert_int_eq(mem_p2m_state(p2m, gfn), s);
	CHECK_P2M();
	CHECK_FRAMES();
}

/* ---- transition table ------------------------------------------------- */

/* mem.h's table, written out independently: expect[from][to] == 'x'. */
static const char *const expect[MEM_NR_STATES] = {
    /*                 U R S B W */
    [MEM_UNTOUCHED] = ".x.x.", [MEM_RESIDENT] = "x.xxx", [MEM_SHARED] = ".x.x.",
    [MEM_BALLOONED] = "x....", [MEM_SWAPPED] = ".x.x.",
};

START_TEST(legal_matches_table)
{
	unsigned legal = 0;

	for (int f = 0; f < MEM_NR_STATES; f++)
		for (int t = 0; t < MEM_NR_STATES; t++) {
			bool want = expect[f][t] == 'x';

			ck_assert_msg(mem_p2m_legal(f, t) == want, "%s -> %s",
				      mem_p2m_state_name(f), mem_p2m_state_name(t));
			legal += want;
		}
	ck_assert_uint_eq(legal, 11);
	ck_assert(!mem_p2m_legal(MEM_NR_STATES, MEM_RESIDENT));
	ck_assert(!mem_p2m_legal(MEM_RESIDENT, MEM_NR_STATES));
	ck_assert(!mem_p2m_legal((enum mem_page_state)7, (enum mem_page_state)7));
}
END_TEST

START_TEST(state_names)
{
	ck_assert_str_eq(mem_p2m_state_name(MEM_UNTOUCHED), "untouched");
	ck_assert_str_eq(mem_p2m_state_name(MEM_RESIDENT), "resident");
	ck_assert_str_eq(mem_p2m_state_name(MEM_SHARED), "shared");
	ck_assert_str_eq(mem_p2m_state_name(MEM_BALLOONED), "ballooned");
	ck_assert_str_eq(mem_p2m_state_name(MEM_SWAPPED), "swapped");
	ck_assert_str_eq(mem_p2m_state_name(MEM_NR_STATES), "invalid");
}
END_TEST

/* One (from, to) pair per loop index: 25 runs. */
START_TEST(set_pair)
{
	const enum mem_page_state from = _i / MEM_NR_STATES, to = _i % MEM_NR_STATES;
	const gfn_t gfn = 3;
	uint64_t before, counts[MEM_NR_STATES], val = 0;
	hfn_t old = 0, fresh = 0;
	bool wp = to == MEM_SHARED;
	int ret;

	bring(gfn, from);
	if (from == MEM_RESIDENT)
		old = mem_p2m_val(p2m, gfn);
	/* A plausible value for the target state. */
	if (to == MEM_RESIDENT) {
		ck_assert_int_eq(mem_pool_alloc(pool, &fresh, true), 0);
		val = fresh;
	} else if (to == MEM_SHARED) {
		val = ksm_hfn;
	} else if (to == MEM_SWAPPED) {
		val = SLOT + 1;
	}
	before = p2m->e[gfn];
	memcpy(counts, p2m->count, sizeof(counts));

	ret = mem_p2m_set(p2m, gfn, to, val, wp);
	if (expect[from][to] == 'x') {
		ck_assert_int_eq(ret, 0);
		ck_assert_int_eq(mem_p2m_state(p2m, gfn), to);
		ck_assert_uint_eq(mem_p2m_val(p2m, gfn), val);
		ck_assert(mem_p2m_wp(p2m, gfn) == wp);
		ck_assert_uint_eq(p2m->count[from], counts[from] - 1);
		ck_assert_uint_eq(p2m->count[to], counts[to] + 1);
		/* The caller's bookkeeping: the private frame is gone. */
		if (from == MEM_RESIDENT)
			mem_pool_free(pool, old);
	} else {
		ck_assert_int_eq(ret, -EINVAL);
		ck_assert_uint_eq(p2m->e[gfn], before);
		ck_assert_mem_eq(p2m->count, counts, sizeof(counts));
		if (to == MEM_RESIDENT)
			mem_pool_free(pool, fresh);
	}
	CHECK_P2M();
	CHECK_FRAMES();
}
END_TEST

START_TEST(set_rejects_bad_values)
{
	uint64_t before;

	populate(1);
	before = p2m->e[1];
	ck_assert_int_eq(mem_p2m_set(p2m, 1, MEM_SWAPPED, 1ull << 52, false), -EINVAL);
	ck_assert_int_eq(mem_p2m_set(p2m, 1, MEM_SHARED, POOL_FRAMES, true), -EINVAL);
	ck_assert_int_eq(mem_p2m_set(p2m, 1, MEM_BALLOONED, 5, false), -EINVAL);
	ck_assert_int_eq(mem_p2m_set(p2m, 1, MEM_NR_STATES, 0, false), -EINVAL);
	ck_assert_int_eq(mem_p2m_set(p2m, 1, (enum mem_page_state)7, 0, false), -EINVAL);
	ck_assert_uint_eq(p2m->e[1], before);
	bring(2, MEM_SWAPPED);
	ck_assert_int_eq(mem_p2m_set(p2m, 2, MEM_RESIDENT, POOL_FRAMES, false), -EINVAL);
	ck_assert_int_eq(mem_p2m_state(p2m, 2), MEM_SWAPPED);
	CHECK_P2M();
}
END_TEST

/* ---- counts ----------------------------------------------------------- */

START_TEST(counts_follow_every_step)
{
	hfn_t h[10];

	ck_assert_uint_eq(p2m->count[MEM_UNTOUCHED], GUEST_PAGES);
	CHECK_P2M();
	for (gfn_t g = 0; g < 10; g++) {
		h[g] = populate(g);
		ck_assert_uint_eq(p2m->count[MEM_RESIDENT], g + 1);
		CHECK_FRAMES();
	}
	/* Populating a RESIDENT gfn returns its frame and allocates nothing. */
	for (gfn_t g = 0; g < 10; g++) {
		hfn_t again;

		ck_assert_int_eq(mem_p2m_populate(p2m, g, &again), 0);
		ck_assert_uint_eq(again, h[g]);
	}
	CHECK_FRAMES();

	ck_assert_int_eq(mem_p2m_set(p2m, 0, MEM_SWAPPED, SLOT, false), 0);
	mem_pool_free(pool, h[0]);
	CHECK_P2M();
	ck_assert_int_eq(mem_p2m_set(p2m, 1, MEM_SHARED, ksm_hfn, true), 0);
	mem_pool_free(pool, h[1]);
	CHECK_P2M();
	ck_assert_int_eq(mem_p2m_set(p2m, 2, MEM_BALLOONED, 0, false), 0);
	mem_pool_free(pool, h[2]);
	CHECK_P2M();
	ck_assert_int_eq(mem_p2m_discard(p2m, 3), 0);
	CHECK_P2M();
	ck_assert_int_eq(mem_p2m_set(p2m, 20, MEM_BALLOONED, 0, false), 0);
	CHECK_P2M();

	ck_assert_uint_eq(p2m->count[MEM_UNTOUCHED], GUEST_PAGES - 10);
	ck_assert_uint_eq(p2m->count[MEM_RESIDENT], 6);
	ck_assert_uint_eq(p2m->count[MEM_SHARED], 1);
	ck_assert_uint_eq(p2m->count[MEM_BALLOONED], 2);
	ck_assert_uint_eq(p2m->count[MEM_SWAPPED], 1);
	CHECK_FRAMES();

	/* Deflate, swap in, break the share: back to the start. */
	ck_assert_int_eq(mem_p2m_set(p2m, 20, MEM_UNTOUCHED, 0, false), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 2, MEM_UNTOUCHED, 0, false), 0);
	CHECK_P2M();
	ck_assert_int_eq(mem_pool_alloc(pool, &h[0], false), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 0, MEM_RESIDENT, h[0], false), 0);
	ck_assert_int_eq(mem_pool_alloc(pool, &h[1], false), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 1, MEM_RESIDENT, h[1], false), 0);
	CHECK_P2M();
	CHECK_FRAMES();
	ck_assert_uint_eq(p2m->count[MEM_RESIDENT], 8);
	ck_assert_uint_eq(p2m->count[MEM_UNTOUCHED], GUEST_PAGES - 8);
}
END_TEST

START_TEST(populate_other_states_einval)
{
	static const enum mem_page_state s[] = {MEM_SHARED, MEM_BALLOONED, MEM_SWAPPED};
	hfn_t h = 12345;

	for (unsigned i = 0; i < 3; i++) {
		uint64_t before;

		bring(i, s[i]);
		before = p2m->e[i];
		ck_assert_int_eq(mem_p2m_populate(p2m, i, &h), -EINVAL);
		ck_assert_uint_eq(p2m->e[i], before);
	}
	ck_assert_uint_eq(h, 12345);
	CHECK_P2M();
	CHECK_FRAMES();
}
END_TEST

START_TEST(populate_enomem_stays_untouched)
{
	struct mem_pool *small = mem_pool_create(2);
	struct mem_p2m *g = mem_p2m_create(small, 4);
	hfn_t h;

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(mem_p2m_populate(g, 0, &h), 0);
	ck_assert_int_eq(mem_p2m_populate(g, 1, &h), 0);
	ck_assert_int_eq(mem_p2m_populate(g, 2, &h), -ENOMEM);
	ck_assert_int_eq(mem_p2m_state(g, 2), MEM_UNTOUCHED);
	ck_assert_int_eq(mem_p2m_check(g), 0);
	ck_assert_int_eq(mem_p2m_discard(g, 0), 0);
	ck_assert_int_eq(mem_p2m_populate(g, 2, &h), 0);
	ck_assert_int_eq(mem_p2m_check(g), 0);
	mem_p2m_destroy(g);
	ck_assert_uint_eq(small->used, 0);
	mem_pool_destroy(small);
}
END_TEST

START_TEST(populate_is_zeroed)
{
	uint8_t *p;
	hfn_t h = populate(4);

	/* Dirty it, give it back, and populate again: must read zero. */
	memset(mem_pool_ptr(pool, h), 0x77, MEM_PAGE_SIZE);
	ck_assert_int_eq(mem_p2m_discard(p2m, 4), 0);
	populate(5);
	p = mem_p2m_ptr(p2m, 5);
	for (unsigned i = 0; i < MEM_PAGE_SIZE; i++)
		ck_assert_uint_eq(p[i], 0);
}
END_TEST

START_TEST(discard_frees_frame)
{
	populate(7);
	ck_assert_uint_eq(pool->used, 2);
	ck_assert_int_eq(mem_p2m_discard(p2m, 7), 0);
	ck_assert_uint_eq(pool->used, 1);
	ck_assert_uint_eq(p2m->e[7], 0);
	ck_assert_int_eq(mem_p2m_discard(p2m, 7), -EINVAL);
	bring(8, MEM_SHARED);
	ck_assert_int_eq(mem_p2m_discard(p2m, 8), -EINVAL);
	ck_assert_int_eq(mem_p2m_state(p2m, 8), MEM_SHARED);
	CHECK_P2M();
	CHECK_FRAMES();
}
END_TEST

START_TEST(destroy_frees_resident_only)
{
	for (gfn_t g = 0; g < 10; g++)
		populate(g);
	bring(10, MEM_SHARED);
	ck_assert_int_eq(mem_rmap_add(p2m, 0, &m1, 1), 0);
	ck_assert_uint_eq(pool->used, 11);
	mem_p2m_destroy(p2m);
	p2m = NULL;
	/* The ksm frame stays: the shared reference is not the p2m's. */
	ck_assert_uint_eq(pool->used, 1);
	ck_assert_uint_eq(zlog.n, 0); /* mappers are gone: no zaps */
	mem_p2m_destroy(NULL);
}
END_TEST

START_TEST(create_rejects)
{
	errno = 0;
	ck_assert_ptr_null(mem_p2m_create(pool, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(mem_p2m_create(NULL, 4));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(check_detects_corruption)
{
	populate(0);
	p2m->count[MEM_RESIDENT]++;
	ck_assert_int_eq(mem_p2m_check(p2m), -EUCLEAN);
	p2m->count[MEM_RESIDENT]--;
	CHECK_P2M();
	p2m->e[9] = 6; /* no such state */
	ck_assert_int_eq(mem_p2m_check(p2m), -EUCLEAN);
	p2m->e[9] = (uint64_t)3 << MEM_P2M_VAL_SHIFT; /* UNTOUCHED with a value */
	ck_assert_int_eq(mem_p2m_check(p2m), -EUCLEAN);
	p2m->e[9] = 0;
	CHECK_P2M();
}
END_TEST

/* ---- range checks ----------------------------------------------------- */

START_TEST(out_of_range_gfn)
{
	static const gfn_t bad[] = {GUEST_PAGES, GUEST_PAGES + 1, 1ull << 40, UINT64_MAX};
	uint8_t buf[MEM_PAGE_SIZE];
	hfn_t h;

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		gfn_t g = bad[i];

		ck_assert_int_eq(mem_p2m_populate(p2m, g, &h), -EINVAL);
		ck_assert_int_eq(mem_p2m_set(p2m, g, MEM_BALLOONED, 0, false), -EINVAL);
		ck_assert_int_eq(mem_p2m_set(p2m, g, MEM_RESIDENT, ksm_hfn, false), -EINVAL);
		ck_assert_int_eq(mem_p2m_discard(p2m, g), -EINVAL);
		ck_assert_int_eq(mem_p2m_read(p2m, g, buf), -EINVAL);
		ck_assert_ptr_null(mem_p2m_ptr(p2m, g));
		ck_assert_int_eq(mem_rmap_add(p2m, g, &m1, 1), -EINVAL);
		ck_assert_int_eq(mem_rmap_del(p2m, g, &m1, 1), -EINVAL);
		ck_assert_uint_eq(mem_rmap_count(p2m, g), 0);
		mem_rmap_zap(p2m, g);
	}
	ck_assert_uint_eq(zlog.n, 0);
	CHECK_P2M();
	CHECK_FRAMES();
}
END_TEST

/* ---- read ------------------------------------------------------------- */

START_TEST(read_each_state)
{
	uint8_t buf[MEM_PAGE_SIZE], want[MEM_PAGE_SIZE], zero[MEM_PAGE_SIZE] = {0};
	uint64_t counts[MEM_NR_STATES];
	uint8_t *p;

	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(mem_p2m_read(p2m, 0, buf), 0);
	ck_assert_mem_eq(buf, zero, MEM_PAGE_SIZE);
	ck_assert_int_eq(mem_p2m_state(p2m, 0), MEM_UNTOUCHED); /* no side effect */

	populate(1);
	p = mem_p2m_ptr(p2m, 1);
	ck_assert_ptr_nonnull(p);
	for (unsigned i = 0; i < MEM_PAGE_SIZE; i++)
		want[i] = (uint8_t)(i * 31 + 7);
	memcpy(p, want, MEM_PAGE_SIZE);
	memcpy(counts, p2m->count, sizeof(counts));
	ck_assert_int_eq(mem_p2m_read(p2m, 1, buf), 0);
	ck_assert_mem_eq(buf, want, MEM_PAGE_SIZE);
	ck_assert_mem_eq(p2m->count, counts, sizeof(counts));

	bring(2, MEM_SHARED);
	ck_assert_ptr_eq(mem_p2m_ptr(p2m, 2), mem_pool_ptr(pool, ksm_hfn));
	ck_assert_int_eq(mem_p2m_read(p2m, 2, buf), 0);
	memset(want, 0x42, MEM_PAGE_SIZE);
	ck_assert_mem_eq(buf, want, MEM_PAGE_SIZE);

	bring(3, MEM_BALLOONED);
	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(mem_p2m_read(p2m, 3, buf), 0);
	ck_assert_mem_eq(buf, zero, MEM_PAGE_SIZE);
	ck_assert_ptr_null(mem_p2m_ptr(p2m, 3));

	bring(4, MEM_SWAPPED);
	ck_assert_int_eq(mem_p2m_read(p2m, 4, buf), -ENOSYS);
	ck_assert_ptr_null(mem_p2m_ptr(p2m, 4));
	ck_assert_ptr_null(mem_p2m_ptr(p2m, 0));
	CHECK_P2M();
}
END_TEST

/* ---- reverse map ------------------------------------------------------ */

/* How many times (m, gfn, ref) was zapped. */
static unsigned zapped(struct mem_mapper *m, gfn_t gfn, uint64_t ref)
{
	unsigned n = 0;

	for (uint64_t i = 0; i < zlog.n && i < LOG_MAX; i++)
		n += zlog.z[i].m == m && zlog.z[i].gfn == gfn && zlog.z[i].ref == ref;
	return n;
}

START_TEST(rmap_zap_on_state_change)
{
	hfn_t h5 = populate(5);

	populate(6);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 100), 0);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m2, 200), 0);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 300), 0);
	ck_assert_int_eq(mem_rmap_add(p2m, 6, &m1, 400), 0);
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 3);
	ck_assert_uint_eq(mem_rmap_count(p2m, 6), 1);
	ck_assert_uint_eq(p2m->rmap_used, 4);
	CHECK_P2M();

	/* An illegal transition zaps nothing. */
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_RESIDENT, h5, false), -EINVAL);
	ck_assert_uint_eq(zlog.n, 0);
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 3);

	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_BALLOONED, 0, false), 0);
	mem_pool_free(pool, h5);
	ck_assert_uint_eq(zlog.n, 3);
	ck_assert_uint_eq(zapped(&m1, 5, 100), 1);
	ck_assert_uint_eq(zapped(&m2, 5, 200), 1);
	ck_assert_uint_eq(zapped(&m1, 5, 300), 1);
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 0);
	ck_assert_uint_eq(mem_rmap_count(p2m, 6), 1);
	ck_assert_uint_eq(p2m->rmap_used, 1);
	CHECK_P2M();
	CHECK_FRAMES();
}
END_TEST

START_TEST(rmap_del)
{
	populate(5);
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m1, 1), -ENOENT);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 1), 0);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 2), 0);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 3), 0);
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m2, 2), -ENOENT); /* other mapper */
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m1, 4), -ENOENT); /* other ref */
	ck_assert_int_eq(mem_rmap_del(p2m, 6, &m1, 2), -ENOENT); /* other gfn */
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m1, 2), 0);	 /* middle */
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m1, 2), -ENOENT);
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 2);
	CHECK_P2M();
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m1, 3), 0); /* head */
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m1, 1), 0); /* last */
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 0);
	ck_assert_uint_eq(p2m->rmap_used, 0);
	ck_assert_uint_eq(zlog.n, 0); /* del does not zap */
	/* Duplicates are separate records. */
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m2, 9), 0);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m2, 9), 0);
	ck_assert_int_eq(mem_rmap_del(p2m, 5, &m2, 9), 0);
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 1);
	CHECK_P2M();
}
END_TEST

START_TEST(rmap_add_rejects)
{
	struct mem_mapper nozap = {.ops = NULL};

	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 1), -EINVAL); /* untouched */
	bring(6, MEM_BALLOONED);
	ck_assert_int_eq(mem_rmap_add(p2m, 6, &m1, 1), -EINVAL);
	bring(7, MEM_SWAPPED);
	ck_assert_int_eq(mem_rmap_add(p2m, 7, &m1, 1), -EINVAL);
	populate(8);
	ck_assert_int_eq(mem_rmap_add(p2m, 8, NULL, 1), -EINVAL);
	ck_assert_int_eq(mem_rmap_add(p2m, 8, &nozap, 1), -EINVAL);
	bring(9, MEM_SHARED);
	ck_assert_int_eq(mem_rmap_add(p2m, 9, &m1, 1), 0);
	ck_assert_uint_eq(p2m->rmap_used, 1);
	CHECK_P2M();
}
END_TEST

START_TEST(rmap_zap_rules)
{
	hfn_t h = populate(5), h2;

	/* RESIDENT -> SHARED on the same frame, no write-protect: kept. */
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 1), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_SHARED, h, false), 0);
	ck_assert_uint_eq(zlog.n, 0);
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 1);
	/* SHARED -> RESIDENT, same frame, wp stays off: kept. */
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_RESIDENT, h, false), 0);
	ck_assert_uint_eq(zlog.n, 0);
	/* Only wp turns on: zapped. */
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_SHARED, h, true), 0);
	ck_assert_uint_eq(zlog.n, 1);
	ck_assert_uint_eq(zapped(&m1, 5, 1), 1);
	ck_assert_uint_eq(mem_rmap_count(p2m, 5), 0);
	/* wp turns off on the same frame: a read-only mapping may stay. */
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 2), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_RESIDENT, h, false), 0);
	ck_assert_uint_eq(zlog.n, 1);
	/* Copy-on-write break to another frame: zapped. */
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_SHARED, ksm_hfn, true), 0);
	ck_assert_uint_eq(zlog.n, 2);
	ck_assert_uint_eq(zapped(&m1, 5, 2), 1);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m2, 3), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_RESIDENT, h, false), 0);
	ck_assert_uint_eq(zlog.n, 3);
	ck_assert_uint_eq(zapped(&m2, 5, 3), 1);
	/* Swap-out: zapped. */
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m2, 4), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_SWAPPED, SLOT, false), 0);
	ck_assert_uint_eq(zlog.n, 4);
	ck_assert_uint_eq(zapped(&m2, 5, 4), 1);
	/* Swap-in, then discard: zapped. */
	ck_assert_int_eq(mem_p2m_set(p2m, 5, MEM_RESIDENT, h, false), 0);
	ck_assert_int_eq(mem_rmap_add(p2m, 5, &m1, 5), 0);
	ck_assert_int_eq(mem_p2m_discard(p2m, 5), 0);
	ck_assert_uint_eq(zlog.n, 5);
	ck_assert_uint_eq(zapped(&m1, 5, 5), 1);
	/* Shared -> ballooned: zapped. */
	bring(6, MEM_SHARED);
	ck_assert_int_eq(mem_rmap_add(p2m, 6, &m1, 6), 0);
	ck_assert_int_eq(mem_p2m_set(p2m, 6, MEM_BALLOONED, 0, false), 0);
	ck_assert_uint_eq(zlog.n, 6);
	ck_assert_uint_eq(zapped(&m1, 6, 6), 1);
	/* populate of an UNTOUCHED gfn has nothing to zap. */
	h2 = populate(5);
	(void)h2;
	ck_assert_uint_eq(zlog.n, 6);
	ck_assert_uint_eq(p2m->rmap_used, 0);
	CHECK_P2M();
	CHECK_FRAMES();
}
END_TEST

/* Many records: a million adds, half deleted, re-added into freed entries,
 * then all zapped through discard. */
#define STRESS_PAGES   (1u << 16)
#define STRESS_RECORDS (1u << 20)

START_TEST(rmap_stress)
{
	struct mem_pool *big = mem_pool_create(STRESS_PAGES);
	struct mem_p2m *g = mem_p2m_create(big, STRESS_PAGES);
	struct mem_mapper maps[3] = {
	    {.ops = &log_ops, .ctx = &zlog},
	    {.ops = &log_ops, .ctx = &zlog},
	    {.ops = &log_ops, .ctx = &zlog},
	};
	uint64_t bad = 0;
	uint32_t cap;
	hfn_t h;

	/* Failures are counted, not asserted, in the loops: each ck_assert
	 * costs a write to Check's message pipe. */
	ck_assert_ptr_nonnull(g);
	for (gfn_t gfn = 0; gfn < STRESS_PAGES; gfn++)
		bad += mem_p2m_populate(g, gfn, &h) != 0;
	for (uint32_t i = 0; i < STRESS_RECORDS; i++)
		bad += mem_rmap_add(g, i % STRESS_PAGES, &maps[i % 3], i) != 0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(g->rmap_used, STRESS_RECORDS);
	ck_assert_uint_eq(mem_rmap_count(g, 0), STRESS_RECORDS / STRESS_PAGES);
	ck_assert_uint_eq(mem_rmap_count(g, STRESS_PAGES - 1), STRESS_RECORDS / STRESS_PAGES);
	ck_assert_int_eq(mem_p2m_check(g), 0);

	/* Delete every other record, oldest first: from the lists' tails. */
	for (uint32_t i = 0; i < STRESS_RECORDS; i += 2)
		bad += mem_rmap_del(g, i % STRESS_PAGES, &maps[i % 3], i) != 0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(g->rmap_used, STRESS_RECORDS / 2);
	for (uint32_t i = 0; i < 1000; i += 2)
		bad += mem_rmap_del(g, i % STRESS_PAGES, &maps[i % 3], i) != -ENOENT;
	ck_assert_uint_eq(bad, 0);
	ck_assert_int_eq(mem_p2m_check(g), 0);

	/* Re-adding fills the freed entries: the array does not grow. */
	cap = g->rmap_cap;
	for (uint32_t i = 0; i < STRESS_RECORDS; i += 2)
		bad += mem_rmap_add(g, i % STRESS_PAGES, &maps[i % 3], i) != 0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(g->rmap_cap, cap);
	ck_assert_uint_eq(g->rmap_used, STRESS_RECORDS);
	ck_assert_int_eq(mem_p2m_check(g), 0);

	for (gfn_t gfn = 0; gfn < STRESS_PAGES; gfn++)
		bad += mem_p2m_discard(g, gfn) != 0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(zlog.n, STRESS_RECORDS);
	ck_assert_uint_eq(g->rmap_used, 0);
	ck_assert_int_eq(mem_p2m_check(g), 0);
	ck_assert_uint_eq(big->used, 0);
	mem_p2m_destroy(g);
	mem_pool_destroy(big);
}
END_TEST

Suite *p2m_suite(void)
{
	Suite *s = suite_create("p2m");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, p2m_setup, p2m_teardown);
	tcase_add_test(tc, legal_matches_table);
	tcase_add_test(tc, state_names);
	tcase_add_loop_test(tc, set_pair, 0, MEM_NR_STATES * MEM_NR_STATES);
	tcase_add_test(tc, set_rejects_bad_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, p2m_setup, p2m_teardown);
	tcase_add_test(tc, counts_follow_every_step);
	tcase_add_test(tc, populate_other_states_einval);
	tcase_add_test(tc, populate_enomem_stays_untouched);
	tcase_add_test(tc, populate_is_zeroed);
	tcase_add_test(tc, discard_frees_frame);
	tcase_add_test(tc, destroy_frees_resident_only);
	tcase_add_test(tc, create_rejects);
	tcase_add_test(tc, check_detects_corruption);
	suite_add_tcase(s, tc);

	tc = tcase_create("range");
	tcase_add_checked_fixture(tc, p2m_setup, p2m_teardown);
	tcase_add_test(tc, out_of_range_gfn);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_checked_fixture(tc, p2m_setup, p2m_teardown);
	tcase_add_test(tc, read_each_state);
	suite_add_tcase(s, tc);

	tc = tcase_create("rmap");
	tcase_add_checked_fixture(tc, p2m_setup, p2m_teardown);
	tcase_add_test(tc, rmap_zap_on_state_change);
	tcase_add_test(tc, rmap_del);
	tcase_add_test(tc, rmap_add_rejects);
	tcase_add_test(tc, rmap_zap_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("rmap_stress");
	tcase_add_checked_fixture(tc, p2m_setup, p2m_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, rmap_stress);
	suite_add_tcase(s, tc);

	return s;
}
