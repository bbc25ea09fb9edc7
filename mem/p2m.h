/* SPDX-License-Identifier: MIT */
/* mem/p2m.h: the per-guest p2m (part of mem/mem.h, which includes every part). */
#ifndef MEM_P2M_H
#define MEM_P2M_H

#include "mem/mem_types.h"

/* ------------------------------------------------------------------------
 * Per-guest p2m (p2m.c)
 *
 * One entry per guest frame. State machine (every transition not listed is
 * illegal and refused with -EINVAL; mem_p2m_legal() is the table):
 *
 *   UNTOUCHED -> RESIDENT    first touch: a zeroed host frame (populate)
 *   RESIDENT  -> SHARED      merged with identical content (ksm)
 *   SHARED    -> RESIDENT    copy-on-write break: a private copy
 *   RESIDENT  -> SWAPPED     host swap-out
 *   SWAPPED   -> RESIDENT    host swap-in, exact bytes
 *   UNTOUCHED, RESIDENT, SHARED, SWAPPED -> BALLOONED   balloon inflate
 *   BALLOONED -> UNTOUCHED   balloon deflate: the page reads as zeros again
 *   RESIDENT  -> UNTOUCHED   the guest is reset (reboot) or destroyed
 *
 * Invariants, checked by mem_p2m_check() and in every test:
 *   - count[UNTOUCHED] + count[RESIDENT] + count[SHARED] + count[BALLOONED]
 *     + count[SWAPPED] = pages;
 *   - count[s] is the number of entries in state s;
 *   - a RESIDENT entry owns one host frame, allocated from the pool; a
 *     SHARED entry holds a reference on a shared frame owned by ksm; the
 *     other states hold no host frame.
 * Every transition that changes or drops the host frame of a gfn first zaps
 * every translation that maps it (the reverse map below), so no TLB, EPT or
 * shadow entry keeps pointing at a frame the guest no longer owns.
 */
enum mem_page_state {
	MEM_UNTOUCHED = 0,
	MEM_RESIDENT,
	MEM_SHARED,
	MEM_BALLOONED,
	MEM_SWAPPED,
	MEM_NR_STATES
};

/*
 * Access tracking: the p2m's own accessed bits, one per user, that work
 * in every paging mode because they live where every mode must go. A user
 * arms a gfn (mem_p2m_track_arm): its bit is set and every translation of
 * the gfn is zapped through the reverse map, so the guest's next access to
 * it cannot complete without a mapper building a translation again, which
 * it records with mem_rmap_add(). That record is the access: it clears
 * every armed bit of the gfn and counts one hit per user (track_hits).
 * Mappers build translations only for an access that needs one (both
 * paging modes are lazy), so a record is a touch. The bits survive state
 * changes: a sampled page that is swapped out and touched later counts
 * when it is swapped back in and mapped. Users: the working-set sampler
 * (wss.c) and the LRU victim choice of host swap (swap.c).
 */
enum mem_track_user {
	MEM_TRACK_WSS = 0, /* working-set sampling */
	MEM_TRACK_SWAP,	   /* host swap's clock (LRU by accessed bits) */
	MEM_TRACK_NR
};

/* Entry layout: bits 2..0 state, bit 3 write-protected, bits 5..4 armed
 * access-tracking bits (bit 4 + user), bits 63..12 value (the hfn for
 * RESIDENT and SHARED, the swap slot for SWAPPED, else 0). */
#define MEM_P2M_STATE_MASK  7ull
#define MEM_P2M_WP	    (1ull << 3)
#define MEM_P2M_TRACK_SHIFT 4
#define MEM_P2M_TRACK_MASK  (((1ull << MEM_TRACK_NR) - 1) << MEM_P2M_TRACK_SHIFT)
#define MEM_P2M_VAL_SHIFT   12

struct mem_rmap_entry;
struct mem_swap;
struct mem_p2m {
	struct mem_pool *pool;		   /* borrowed */
	struct mem_swap *swap;		   /* borrowed host swap, NULL: none (swap.c) */
	uint64_t pages;			   /* configured guest memory, 4 KiB pages */
	uint64_t *e;			   /* pages entries */
	uint64_t count[MEM_NR_STATES];	   /* entries in each state */
	uint64_t track_hits[MEM_TRACK_NR]; /* armed gfns touched, per user, ever */
	uint64_t remaps;		   /* entries whose frame changed or went away, ever: code
					      holding a host pointer to a guest frame across an exit
					      (a walker) compares it, since the exit's handler may
					      swap or balloon any frame of the guest */
	/* reverse map: head index into rmap[] per gfn, 0 = none */
	uint32_t *rmap_head;
	struct mem_rmap_entry *rmap;
	uint32_t rmap_cap, rmap_free, rmap_used;
};

/* Create the p2m of a guest of `pages` frames, all UNTOUCHED. NULL + errno. */
struct mem_p2m *mem_p2m_create(struct mem_pool *pool, uint64_t pages);
/* Free every RESIDENT frame back to the pool, every SWAPPED gfn's slot back
 * to the attached swap, and the p2m itself. */
void mem_p2m_destroy(struct mem_p2m *p2m);

static inline enum mem_page_state mem_p2m_state(const struct mem_p2m *p2m, gfn_t gfn)
{
	return (enum mem_page_state)(p2m->e[gfn] & MEM_P2M_STATE_MASK);
}
static inline uint64_t mem_p2m_val(const struct mem_p2m *p2m, gfn_t gfn)
{
	return p2m->e[gfn] >> MEM_P2M_VAL_SHIFT;
}
static inline bool mem_p2m_wp(const struct mem_p2m *p2m, gfn_t gfn)
{
	return (p2m->e[gfn] & MEM_P2M_WP) != 0;
}

/* Is from -> to a legal transition of the table above? */
bool mem_p2m_legal(enum mem_page_state from, enum mem_page_state to);
/* The state's name as used in CSV headers ("untouched", "resident", ...). */
const char *mem_p2m_state_name(enum mem_page_state s);

/*
 * Make an UNTOUCHED gfn RESIDENT on a zeroed host frame; *hfn gets it.
 * A RESIDENT gfn just returns its frame. Returns 0, -ENOMEM when the pool
 * is exhausted (the gfn stays UNTOUCHED), -EINVAL for any other state or a
 * gfn out of range.
 */
int mem_p2m_populate(struct mem_p2m *p2m, gfn_t gfn, hfn_t *hfn) MUST_CHECK;
/*
 * Make the 2 MiB block of gfns containing gfn (gfn & ~511 .. + 511) RESIDENT
 * on one 2 MiB run of host frames (mem_pool_alloc_huge), so that it can be
 * mapped by 2 MiB translations; *hfn gets gfn's own frame. Every gfn of the
 * block must be UNTOUCHED and inside the guest. Returns 0, -EBUSY when they
 * are not (populate them one by one instead), -ENOMEM when the pool has no
 * run. Nothing changes on failure.
 */
int mem_p2m_populate_huge(struct mem_p2m *p2m, gfn_t gfn, hfn_t *hfn) MUST_CHECK;
/*
 * Can the 2 MiB block containing gfn be mapped by one 2 MiB translation?
 * True when all its 512 gfns are inside the guest, RESIDENT and not
 * write-protected, and their frames form one aligned run in gfn order.
 * Access tracking does not stand in the way: under a 2 MiB translation a
 * touch is seen for the whole block, as a large leaf's accessed bit tells
 * (the mapper records all 512 gfns at once, which counts a hit for every
 * armed one), and arming a gfn so mapped drops the whole 2 MiB translation
 * rather than splitting it, so that the block is mapped whole again on its
 * next touch.
 */
bool mem_p2m_huge_mappable(const struct mem_p2m *p2m, gfn_t gfn);
/*
 * Move gfn to state `to` with value `val` (hfn or slot) and the
 * write-protect bit `wp`, after zapping its translations. The caller has
 * already moved the contents and owns the frame bookkeeping (this function
 * neither allocates nor frees host frames). Returns 0 or -EINVAL for an
 * illegal transition or out-of-range gfn, leaving the entry unchanged.
 */
int mem_p2m_set(struct mem_p2m *p2m, gfn_t gfn, enum mem_page_state to, uint64_t val,
		bool wp) MUST_CHECK;
/*
 * Return a RESIDENT gfn to UNTOUCHED, freeing its host frame (guest reset).
 * Returns 0 or -EINVAL if the gfn is not RESIDENT.
 */
int mem_p2m_discard(struct mem_p2m *p2m, gfn_t gfn) MUST_CHECK;
/*
 * Copy the current contents of gfn into buf (4 KiB) without side effects:
 * no state change, no accessed bits, no exits. UNTOUCHED and BALLOONED read
 * as zeros; SWAPPED is read from the attached host swap's slot (-ENOSYS
 * when none is attached, -EIO when the read fails). Returns 0, -EINVAL out
 * of range.
 */
int mem_p2m_read(const struct mem_p2m *p2m, gfn_t gfn, void *buf) MUST_CHECK;
/* Host pointer of a RESIDENT or SHARED gfn, or NULL. */
uint8_t *mem_p2m_ptr(const struct mem_p2m *p2m, gfn_t gfn);
/* Recount every state from the entries and compare with count[] and pages.
 * Returns 0, or -EUCLEAN with a message on stderr naming the gfn/state. */
int mem_p2m_check(const struct mem_p2m *p2m) MUST_CHECK;

/*
 * Arm gfn for user u: set its tracking bit and zap every translation of it
 * (a no-op zap for states without a frame). The next translation a mapper
 * records for gfn clears the bit and counts in track_hits[u]. Returns 0 or
 * -EINVAL (gfn or u out of range).
 */
int mem_p2m_track_arm(struct mem_p2m *p2m, gfn_t gfn, enum mem_track_user u) MUST_CHECK;
/* Clear u's bit of gfn without touching translations (a sample ends). */
void mem_p2m_track_disarm(struct mem_p2m *p2m, gfn_t gfn, enum mem_track_user u);
/* Is gfn armed for any user? (false out of range) */
static inline bool mem_p2m_tracked(const struct mem_p2m *p2m, gfn_t gfn)
{
	return gfn < p2m->pages && (p2m->e[gfn] & MEM_P2M_TRACK_MASK);
}
/* Is gfn armed for u: not accessed since u armed it? (false out of range) */
static inline bool mem_p2m_track_armed(const struct mem_p2m *p2m, gfn_t gfn, enum mem_track_user u)
{
	return gfn < p2m->pages && (p2m->e[gfn] >> (MEM_P2M_TRACK_SHIFT + u)) & 1;
}
/* Attach host swap s (borrowed; NULL detaches): mem_p2m_read() then reads
 * SWAPPED gfns from it and mem_p2m_destroy() frees their slots. */
void mem_p2m_attach_swap(struct mem_p2m *p2m, struct mem_swap *s);

#endif
