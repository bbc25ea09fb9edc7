/* SPDX-License-Identifier: MIT */
/*
 * mem: host memory for guests. The host frame pool, the per-guest p2m
 * (guest frame -> host frame and state), the reverse map, the TLB model,
 * the paging modes behind paging_ops, and the software MMU that every guest
 * access goes through.
 *
 * Address kinds are distinct typedefs and are converted only through the
 * helpers below: a gva_t is guest-virtual, a gpa_t guest-physical, a gfn_t a
 * guest frame number, an hfn_t an index into the host frame pool.
 */
#ifndef MEM_MEM_H
#define MEM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/util.h"

#define MEM_PAGE_SHIFT 12
#define MEM_PAGE_SIZE  4096u
#define MEM_PAGE_MASK  (~(uint64_t)(MEM_PAGE_SIZE - 1))

typedef uint64_t gva_t; /* guest-virtual address */
typedef uint64_t gpa_t; /* guest-physical address */
typedef uint64_t gfn_t; /* guest frame number: gpa >> 12 */
typedef uint64_t hfn_t; /* host frame: index into the frame pool */

static inline gfn_t mem_gpa_to_gfn(gpa_t pa)
{
	return pa >> MEM_PAGE_SHIFT;
}
static inline gpa_t mem_gfn_to_gpa(gfn_t gfn)
{
	return gfn << MEM_PAGE_SHIFT;
}
static inline uint64_t mem_gva_to_vpn(gva_t va)
{
	return va >> MEM_PAGE_SHIFT;
}
static inline gva_t mem_vpn_to_gva(uint64_t vpn)
{
	return vpn << MEM_PAGE_SHIFT;
}

/*
 * x86-64 page-table entry (Intel SDM vol. 3A, 4.5; the same layout at every
 * level of a 4-level table):
 *
 *   63  62..52  51..12  11..9  8  7   6  5  4   3   2  1  0
 *   NX  avail   addr    avail  G  PS  D  A  PCD PWT U  W  P
 *
 * PS is defined in PDPT and PD entries (1 GiB and 2 MiB pages). D is defined
 * in leaf entries only. A not-present entry (P = 0) leaves bits 63..1 to the
 * OS: the guest OS keeps its swap entries there.
 */
#define PTE_P	      (1ull << 0)
#define PTE_W	      (1ull << 1)
#define PTE_U	      (1ull << 2)
#define PTE_PWT	      (1ull << 3)
#define PTE_PCD	      (1ull << 4)
#define PTE_A	      (1ull << 5)
#define PTE_D	      (1ull << 6)
#define PTE_PS	      (1ull << 7)
#define PTE_G	      (1ull << 8)
#define PTE_NX	      (1ull << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* Index of va in the table at level (4 = PML4 ... 1 = PT). */
static inline unsigned pte_index(gva_t va, int level)
{
	return (unsigned)(va >> (MEM_PAGE_SHIFT + 9 * (level - 1))) & 511u;
}

/*
 * EPT entry (Intel SDM vol. 3C, 29.3.2), the format of nested paging here:
 *
 *   51..12  11..10  9  8  7   6     5..3  2  1  0
 *   addr    ign     D  A  PS  IPAT  MT    X  W  R
 *
 * An entry is present when any of R, W, X is set. MT is the memory type of a
 * leaf (6 = write-back). A and D are set by the walker (EPT A/D enabled).
 * The address is a host-physical address: here an hfn << 12, the frame
 * pool being the host-physical address space.
 */
#define EPT_R	      (1ull << 0)
#define EPT_W	      (1ull << 1)
#define EPT_X	      (1ull << 2)
#define EPT_MT_WB     (6ull << 3)
#define EPT_IPAT      (1ull << 6)
#define EPT_PS	      (1ull << 7)
#define EPT_A	      (1ull << 8)
#define EPT_D	      (1ull << 9)
#define EPT_RWX	      (EPT_R | EPT_W | EPT_X)
#define EPT_ADDR_MASK 0x000ffffffffff000ull

/* ------------------------------------------------------------------------
 * Host frame pool (pool.c)
 *
 * One reserved anonymous mapping of `frames` 4 KiB frames with transparent
 * huge pages off (MADV_NOHUGEPAGE), so that a freed frame really leaves RSS.
 * Frames are handed out lazily (a high-water mark, then a free list); a freed
 * frame waits on a pending list and is given back to the kernel with
 * MADV_DONTNEED when MEM_POOL_RELEASE_BATCH frames are pending, or when
 * mem_pool_release() is called. The pool is the host-physical address space:
 * an hfn is a frame index, its address hfn << 12.
 */
#define MEM_POOL_RELEASE_BATCH 64

struct mem_pool {
	uint8_t *base;	  /* the reserved mapping, frames * 4 KiB bytes */
	uint64_t frames;  /* budget, 4 KiB frames */
	uint64_t used;	  /* frames allocated now */
	uint64_t peak;	  /* highest `used` ever */
	uint64_t hiwater; /* frames [0, hiwater) have been handed out once */
	hfn_t *free;	  /* free frames already given back to the kernel */
	uint64_t nfree;
	hfn_t *pending; /* freed frames not yet given back */
	uint64_t npending;
	uint64_t releases; /* madvise(MADV_DONTNEED) batches issued */
	uint64_t released; /* frames given back to the kernel, total */
};

/* Reserve a pool of `frames` frames. Returns NULL with errno set. */
struct mem_pool *mem_pool_create(uint64_t frames);
/* Unmap the pool. Every frame is gone; callers must not hold pointers. */
void mem_pool_destroy(struct mem_pool *pool);
/*
 * Allocate one frame into *out. With zero set the frame reads as zeros.
 * Returns 0, or -ENOMEM when all `frames` are in use.
 */
int mem_pool_alloc(struct mem_pool *pool, hfn_t *out, bool zero) MUST_CHECK;
/* Free a frame allocated from this pool. Freeing a free frame is a BUG. */
void mem_pool_free(struct mem_pool *pool, hfn_t hfn);
/*
 * Free n frames (sorted ascending, allocated, distinct: BUG otherwise) and
 * give them back to the kernel now, in as few calls as it takes (one per
 * 1024 runs of adjacent frames): for callers that free many scattered
 * frames at once (page sharing), where a TLB flush per batch of
 * MEM_POOL_RELEASE_BATCH would dominate. Counts as one release.
 */
void mem_pool_free_many(struct mem_pool *pool, const hfn_t *hfn, uint64_t n);
/* Give every pending freed frame back to the kernel now. */
void mem_pool_release(struct mem_pool *pool);
/* Frames of the pool resident in host memory now (mincore), 4 KiB frames. */
uint64_t mem_pool_resident(const struct mem_pool *pool);

static inline uint8_t *mem_pool_ptr(const struct mem_pool *pool, hfn_t hfn)
{
	return pool->base + (hfn << MEM_PAGE_SHIFT);
}

/*
 * 2 MiB runs. mem_pool_alloc_huge() hands out MEM_HUGE_PAGES frames whose
 * first hfn is a multiple of MEM_HUGE_PAGES: a 2 MiB aligned, contiguous
 * host-physical run, what a transparent huge page is to a real host. Runs
 * are carved from the never-used part of the pool only ([hiwater, frames),
 * the frames skipped to align going to the free list): frees return frames
 * one by one and the pool never compacts, so after enough churn there is no
 * run left even when enough single frames are free, as on a fragmented
 * host. A run is cleared on allocation (resident, as clear_huge_page()
 * leaves a THP) and freed frame by frame with mem_pool_free().
 */
#define MEM_HUGE_SHIFT 9
#define MEM_HUGE_PAGES (1u << MEM_HUGE_SHIFT) /* 4 KiB frames per 2 MiB */

/* Allocate a 2 MiB run into *out (its first frame). Returns 0, or -ENOMEM
 * when the budget or the never-used part of the pool cannot hold one. */
int mem_pool_alloc_huge(struct mem_pool *pool, hfn_t *out) MUST_CHECK;

/* Resident set size of this process (/proc/self/statm), bytes; 0 if unknown. */
uint64_t mem_rss_bytes(void);

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

/* ------------------------------------------------------------------------
 * Reverse map (rmap.c): which translations map a guest frame.
 *
 * A mapper is anything that caches a gfn -> host frame translation in a
 * structure of its own: the nested (EPT) table, shadow page tables, a TLB.
 * It records each cached translation with mem_rmap_add(); a remap of the
 * gfn calls mem_rmap_zap(), which calls the mapper's zap for every record
 * and removes them. `ref` is the mapper's own handle for the translation
 * (for example the address of the EPT leaf entry).
 */
struct mem_mapper;
struct mem_mapper_ops {
	const char *name;
	/* Drop the translation `ref` of gfn. May delete records of other gfns
	 * (mem_rmap_del: dropping a 2 MiB translation that covers them) but
	 * must not add or zap; the record of gfn itself is already gone. */
	void (*zap)(struct mem_mapper *m, gfn_t gfn, uint64_t ref);
};
struct mem_mapper {
	const struct mem_mapper_ops *ops;
	void *ctx; /* the mapper's own state */
};
struct mem_rmap_entry {
	struct mem_mapper *mapper;
	uint64_t ref;
	uint32_t next; /* index of the next entry of the same gfn, 0 = end */
};

/* Record that `m` maps gfn through `ref`, for an access that needed the
 * translation: an armed gfn (access tracking) counts as touched. 0 or
 * -ENOMEM / -EINVAL. */
int mem_rmap_add(struct mem_p2m *p2m, gfn_t gfn, struct mem_mapper *m, uint64_t ref) MUST_CHECK;
/* Forget one record. Returns 0, or -ENOENT if there is none. */
int mem_rmap_del(struct mem_p2m *p2m, gfn_t gfn, struct mem_mapper *m, uint64_t ref);
/* Zap and forget every translation of gfn. */
void mem_rmap_zap(struct mem_p2m *p2m, gfn_t gfn);
/* Number of translations recorded for gfn. */
unsigned mem_rmap_count(const struct mem_p2m *p2m, gfn_t gfn);

/* ------------------------------------------------------------------------
 * TLB model (tlb.c): set-associative, LRU within a set, untagged (a CR3
 * write flushes it, as without PCID). Entries must be a multiple of ways and
 * the number of sets a power of two.
 *
 * One array holds 4 KiB and 2 MiB translations, as the second-level TLB of
 * Skylake-class cores does: a 4 KiB entry is keyed by its vpn, a 2 MiB entry
 * by mem_tlb_key2m(vpn) (the 2 MiB page number with MEM_TLB_KEY_2M set), and
 * maps the whole aligned 2 MiB: hptr is the host address of its first byte,
 * gfn its first guest frame. A 2 MiB entry exists only where both
 * dimensions map 2 MiB or more (the guest page and the EPT or shadow
 * mapping); a guest large page over 4 KiB host mappings is cached as 4 KiB
 * pieces flagged MEM_TLB_G2M / MEM_TLB_G1G, which INVLPG of any address in
 * the guest page drops together (mem_tlb_flush_page), as on hardware.
 */
#define MEM_TLB_W                                                                                  \
	1u		   /* a write may complete without a walk: writable all                    \
			      the way and the guest PTE's D bit already set */
#define MEM_TLB_U      2u  /* user-accessible */
#define MEM_TLB_NX     4u  /* no instruction fetch */
#define MEM_TLB_G2M    8u  /* part of a guest 2 MiB page */
#define MEM_TLB_G1G    16u /* part of a guest 1 GiB page */

#define MEM_TLB_KEY_2M (1ull << 61)
/* Key of the 2 MiB entry that would cover vpn. */
static inline uint64_t mem_tlb_key2m(uint64_t vpn)
{
	return MEM_TLB_KEY_2M | (vpn >> MEM_HUGE_SHIFT);
}

struct mem_tlb_entry {
	uint64_t tag;	/* key << 1 | 1 when valid, 0 when empty */
	uint8_t *hptr;	/* host address of the 4 KiB frame (2 MiB: run) */
	gfn_t gfn;	/* guest frame it maps (2 MiB: the first) */
	uint32_t flags; /* MEM_TLB_* */
	uint32_t stamp; /* LRU: larger is more recent */
};
struct mem_tlb {
	unsigned sets, ways;
	uint32_t tick;
	struct mem_tlb_entry *e; /* sets * ways */
	uint64_t flushes;
	uint64_t large; /* fills flagged G2M/G1G since the last flush_all */
};

/* Set up a TLB of `entries` entries, `ways` per set. 0 or -EINVAL/-ENOMEM. */
int mem_tlb_init(struct mem_tlb *tlb, unsigned entries, unsigned ways) MUST_CHECK;
void mem_tlb_fini(struct mem_tlb *tlb);

static inline struct mem_tlb_entry *mem_tlb_lookup(struct mem_tlb *tlb, uint64_t vpn)
{
	struct mem_tlb_entry *e = tlb->e + (size_t)(vpn & (tlb->sets - 1)) * tlb->ways;
	uint64_t tag = vpn << 1 | 1;

	for (unsigned w = 0; w < tlb->ways; w++)
		if (e[w].tag == tag) {
			e[w].stamp = ++tlb->tick;
			return &e[w];
		}
	return NULL;
}
/* Insert or overwrite the entry of key (a vpn, or a 2 MiB key), evicting
 * the set's LRU entry. */
void mem_tlb_fill(struct mem_tlb *tlb, uint64_t key, uint8_t *hptr, gfn_t gfn, uint32_t flags);
void mem_tlb_flush_all(struct mem_tlb *tlb);
/* Drop the entry of key (exactly that key). */
void mem_tlb_flush_vpn(struct mem_tlb *tlb, uint64_t key);
/* Drop every entry that maps gfn, 2 MiB entries covering it included. */
void mem_tlb_flush_gfn(struct mem_tlb *tlb, gfn_t gfn);
/* The same for every gfn of [gfn, gfn + n), in one scan. */
void mem_tlb_flush_gfns(struct mem_tlb *tlb, gfn_t gfn, uint64_t n);
/* Drop every 4 KiB and 2 MiB entry that translates a page of
 * [vpn, vpn + n): a scan of the whole array. */
void mem_tlb_flush_range(struct mem_tlb *tlb, uint64_t vpn, uint64_t n);
/* INVLPG of vpn: its 4 KiB entry, the 2 MiB entry covering it, and every
 * piece of a guest large page containing it. */
void mem_tlb_flush_page(struct mem_tlb *tlb, uint64_t vpn);

/* ------------------------------------------------------------------------
 * The software MMU (mmu.c) and the paging modes behind paging_ops.
 *
 * Every access of a guest, its OS's page-table writes included, goes through
 * mmu_access() (virtual, through the guest's page tables at cr3) or
 * mmu_phys() (the guest kernel's direct map: guest-physical, through the
 * second dimension only). A TLB hit completes inline. A miss calls the
 * paging mode's translate, which walks the mode's structures (and, when it
 * needs to, the guest's 4-level table in guest memory, setting A, and D on
 * a write, as hardware does), counting every memory reference in walk_refs.
 *
 * Exits: when the mode needs the VMM (a nested fault on a gfn the EPT does
 * not map; under shadow paging a shadow miss, a write to a guest page-table
 * page, a CR3 write, an INVLPG) the MMU counts the exit by reason and calls
 * the VMM's handler, a plain function call, before the access retries.
 *
 * The mode can be changed while the guest runs (mmu_switch_mode): the old
 * mode's structures are torn down, the new mode starts empty and builds
 * lazily; guest memory and the guest's own tables are untouched.
 */
enum mmu_exit_reason {
	MMU_EXIT_NESTED_FAULT = 0, /* EPT violation (Intel), #NPF (AMD) */
	MMU_EXIT_HIDDEN_FAULT,	   /* shadow miss: a walk and a fill */
	MMU_EXIT_PT_WRITE,	   /* write to a write-protected guest PT page */
	MMU_EXIT_CR3_WRITE,
	MMU_EXIT_INVLPG,
	MMU_EXIT_MODE_SWITCH,
	MMU_EXIT_BALLOON, /* balloon device notification */
	MMU_EXIT_NR
};
/* The reason's name, as in summary.json ("nested_fault", ...). */
const char *mmu_exit_name(enum mmu_exit_reason r);

/* Access kinds, or-ed. */
#define MMU_READ  0u
#define MMU_WRITE 1u
#define MMU_FETCH 2u
#define MMU_USER  4u /* a user-mode access: needs PTE_U at every level */

/* Guest page-fault error code bits (x86 #PF): P, W/R, U/S, I/D. */
#define MMU_PF_P 1u
#define MMU_PF_W 2u
#define MMU_PF_U 4u
#define MMU_PF_I 16u

/* mmu_access() result when the guest takes a page fault (see m->pf). */
#define MMU_PF 1
/* translate result: the access must be emulated through the mode's phys
 * at m->emul_gfn (a write to a write-protected guest page-table page
 * through a virtual mapping); the MMU does it, then moves on. */
#define MMU_EMULATE 2

struct mmu_stats {
	uint64_t accesses; /* translated accesses (one per page touched) */
	uint64_t writes;
	uint64_t tlb_misses;	/* = walks of the mode's translate */
	uint64_t walk_refs;	/* memory references made by walks */
	uint64_t phys_accesses; /* guest-kernel direct-map accesses */
	uint64_t phys_misses;
	uint64_t phys_walk_refs; /* references made by direct-map misses */
	uint64_t guest_faults;	 /* #PF delivered to the guest */
	uint64_t exits[MMU_EXIT_NR];
	uint64_t pwc_hits;
	uint64_t cr3_loads; /* guest CR3 writes, in every mode */
	uint64_t invlpgs;   /* guest INVLPGs, in every mode */
	uint64_t emulated;  /* accesses emulated (MMU_EMULATE) */
	uint64_t splits;    /* 2 MiB mappings split (nested or shadow) */
};

/* The VMM's side of an exit. Return 0 to retry the access, -errno to fail
 * the guest (the access returns that error). */
struct mmu_exit {
	enum mmu_exit_reason reason;
	gfn_t gfn;    /* the guest frame concerned */
	unsigned acc; /* MMU_* of the access that exited */
};
typedef int (*mmu_exit_fn)(void *ctx, const struct mmu_exit *x);

struct mmu;
/*
 * A paging mode. create, destroy, translate and phys are required; set_cr3
 * and invlpg are optional. The mode owns m->mode and every host frame it
 * holds (counted in m->mode_frames), and every rmap record it adds; destroy
 * gives all of them back and leaves no TLB entry that came from the mode.
 */
struct paging_ops {
	const char *name;
	/* Allocate the mode's state in m->mode. Called with m->p2m and
	 * m->cr3 set (cr3 may be 0 before the guest loads one). */
	int (*create)(struct mmu *m);
	/* Free the mode's state and its host frames; drop its rmap records;
	 * flush m->tlb and m->ptlb. */
	void (*destroy)(struct mmu *m);
	/* TLB miss: translate va for acc, count refs, set guest A/D bits, fill
	 * the TLB. Returns 0, MMU_PF (m->pf filled), MMU_EMULATE (m->emul_gfn
	 * set) or -errno. */
	int (*translate)(struct mmu *m, gva_t va, unsigned acc);
	/* Host address of gpa for a guest-kernel access of kind acc to len
	 * bytes (within one page). The mode may exit (a write to a protected
	 * page-table page under shadow paging is emulated here: the MMU does
	 * the store into the returned address right after). *tlbf holds the
	 * flags the direct-map TLB would cache (MEM_TLB_W after a write); the
	 * mode clears MEM_TLB_W when later writes must come back to it.
	 * Returns NULL with *err set (-errno) on failure. */
	uint8_t *(*phys)(struct mmu *m, gpa_t gpa, size_t len, unsigned acc, uint32_t *tlbf,
			 int *err);
	/* Optional: the guest loaded CR3 / executed INVLPG, after the MMU's
	 * own TLB flush. */
	void (*set_cr3)(struct mmu *m, gpa_t cr3);
	void (*invlpg)(struct mmu *m, gva_t va);
};
/* The paging mode called `name` ("nested", "shadow"), or NULL. */
const struct paging_ops *paging_find(const char *name);
extern const struct paging_ops paging_nested_ops;
extern const struct paging_ops paging_shadow_ops;

struct mmu_config {
	unsigned tlb_entries, tlb_ways;	  /* gva TLB (default 1536, 12 ways) */
	unsigned ptlb_entries, ptlb_ways; /* kernel direct-map TLB (64, 4) */
	unsigned pwc_entries;		  /* nested walk cache: gfn -> host frame of the
					     guest's page-table pages, fully associative;
					     0 = none (the cold 24-reference walk) */
	unsigned shadow_roots;		  /* shadow paging: cached roots, one per guest
					     address space (default 8) */
};

struct mmu {
	/* hot fields first */
	struct mem_tlb tlb;
	gpa_t cr3;
	struct mmu_stats st;
	gfn_t last_gfn;	      /* guest frame of the last page accessed */
	struct {	      /* the last guest page fault (MMU_PF) */
		gva_t addr;   /* CR2 */
		unsigned err; /* MMU_PF_* */
	} pf;
	gfn_t emul_gfn; /* MMU_EMULATE: the guest frame to access */
	struct mem_tlb ptlb;
	struct mem_p2m *p2m;   /* borrowed */
	struct mem_pool *pool; /* borrowed, = p2m->pool */
	const struct paging_ops *ops;
	void *mode;	      /* the paging mode's state */
	uint64_t mode_frames; /* host frames the mode holds (EPT, shadow tables) */
	struct mmu_config cfg;
	mmu_exit_fn exit;
	void *exit_ctx;
	struct mem_mapper tlb_mapper; /* the TLBs as mappers (zap by gfn) */
};

/* Create the MMU of one vCPU over p2m with paging mode ops; exits go to
 * fn(ctx). Returns 0 or -errno. */
int mmu_init(struct mmu *m, struct mem_p2m *p2m, const struct paging_ops *ops,
	     const struct mmu_config *cfg, mmu_exit_fn fn, void *ctx) MUST_CHECK;
void mmu_fini(struct mmu *m);
/* Count exit x and call the VMM's handler. For paging modes. */
int mmu_exit(struct mmu *m, const struct mmu_exit *x) MUST_CHECK;
/* Call the VMM's handler for x without counting an exit: the mode is
 * already handling one (a shadow miss that finds a guest table frame
 * absent or write-protected). For paging modes. */
int mmu_exit_resolve(struct mmu *m, const struct mmu_exit *x) MUST_CHECK;
/* Load CR3 (flushes the TLB). */
void mmu_set_cr3(struct mmu *m, gpa_t cr3);
/* Invalidate the translation of va (INVLPG): the whole guest page when va
 * lies in a guest large page. */
void mmu_invlpg(struct mmu *m, gva_t va);
/*
 * Switch to paging mode ops at run time (a no-op when it is the current
 * one): count an MMU_EXIT_MODE_SWITCH (without calling the handler: the VMM
 * is the caller), tear the current mode down, create the new one, which
 * builds lazily. Returns 0, or -errno when the new mode cannot be created;
 * the MMU then runs the old mode again (-errno only if that fails too, and
 * the guest cannot continue).
 */
int mmu_switch_mode(struct mmu *m, const struct paging_ops *ops) MUST_CHECK;

/* Slow path of mmu_access: misses, page-crossing accesses. */
int mmu_access_slow(struct mmu *m, gva_t va, void *buf, size_t len, unsigned acc);

/*
 * Read (acc without MMU_WRITE: into buf) or write (from buf) len bytes at
 * guest-virtual va. An access that crosses a page boundary touches every
 * page it covers, lowest first, each counted as one access. Returns 0,
 * MMU_PF with m->pf set (nothing after the faulting page was done), or
 * -errno when the VMM failed the guest.
 */
static inline int mmu_access(struct mmu *m, gva_t va, void *buf, size_t len, unsigned acc)
{
	unsigned off = (unsigned)(va & (MEM_PAGE_SIZE - 1));

	if (off + len <= MEM_PAGE_SIZE) {
		struct mem_tlb_entry *e = mem_tlb_lookup(&m->tlb, va >> MEM_PAGE_SHIFT);
		uint32_t need =
		    ((acc & MMU_WRITE) ? MEM_TLB_W : 0) | ((acc & MMU_USER) ? MEM_TLB_U : 0);

		if (e && (e->flags & need) == need &&
		    !((acc & MMU_FETCH) && (e->flags & MEM_TLB_NX))) {
			m->st.accesses++;
			m->last_gfn = e->gfn;
			if (acc & MMU_WRITE) {
				m->st.writes++;
				memcpy(e->hptr + off, buf, len);
			} else {
				memcpy(buf, e->hptr + off, len);
			}
			return 0;
		}
	}
	return mmu_access_slow(m, va, buf, len, acc);
}

/*
 * Guest-kernel access to guest-physical memory (its direct map): len bytes
 * at gpa, within one page. Goes through the mode's phys translation (and
 * the direct-map TLB). Returns 0 or -errno (-EFAULT beyond guest memory).
 */
int mmu_phys(struct mmu *m, gpa_t gpa, void *buf, size_t len, unsigned acc) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Host swap (swap.c): one swap file per host, the last resort of reclaim.
 *
 * A swapped-out gfn is SWAPPED with its slot as the p2m value; its bytes
 * are at slot * 4 KiB in the file, written with pwrite before the p2m
 * changes, so a failed write leaves the page resident and untouched. A
 * swap-in reads them back into a new frame with pread before the p2m
 * changes, so a failed read leaves the page swapped with its slot intact.
 * Victims are chosen at random, as ESX does, or by a clock over the
 * p2m's access-tracking bits (MEM_TRACK_SWAP), an LRU approximation that
 * works in every paging mode. Sharing is tried before swapping by the
 * caller (vmm-core), which knows the sharing engine.
 */

/* The file's I/O, replaceable for fault injection: transfer exactly len
 * bytes at off, 0 or -errno (-EIO for a transfer that makes no progress,
 * -ENOSPC when the disk is full). */
struct mem_swap_io {
	int (*write)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
	int (*read)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
};

struct mem_swap_params {
	const char *path;	      /* created (must not exist: it is the host's, and
					 it is removed by mem_swap_destroy) */
	uint64_t slots;		      /* most slots, 4 KiB each; 0: no limit but the disk */
	const struct mem_swap_io *io; /* NULL: pread/pwrite; borrowed */
	void *io_ctx;
};

struct mem_swap_stats {
	uint64_t used;	       /* slots holding a page now */
	uint64_t peak;	       /* highest `used` */
	uint64_t outs, ins;    /* pages written out / read back, ever */
	uint64_t write_errors; /* failed swap-outs (nothing changed) */
	uint64_t read_errors;  /* failed swap-ins (nothing changed) */
	uint64_t file_bytes;   /* disk space the file occupies now */
};

/* Create the swap file at p->path (O_EXCL). NULL with errno set (EEXIST:
 * the file exists). */
struct mem_swap *mem_swap_create(const struct mem_swap_params *p);
/* Close and remove the file. Every p2m attached must be gone. NULL is
 * a no-op. */
void mem_swap_destroy(struct mem_swap *s);
/*
 * Swap RESIDENT gfn of p2m (in the swap's pool) out: write its frame to a
 * free slot, then move it to SWAPPED (zapping its translations) and free
 * the frame. Returns 0; -EINVAL when gfn is not RESIDENT or is
 * write-protected; -ENOSPC when every slot is taken or the disk is full,
 * -EIO (or another -errno) when the write failed: then nothing changed and
 * mem_swap_error() names the slot and the cause.
 */
int mem_swap_out(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn) MUST_CHECK;
/*
 * Swap SWAPPED gfn back in: read its slot into a new frame, then make it
 * RESIDENT and free the slot. Returns 0; -EINVAL when gfn is not SWAPPED;
 * -ENOMEM when the pool has no frame; -EIO (-errno) when the read failed
 * (mem_swap_error() says why). On failure nothing changed.
 */
int mem_swap_in(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn) MUST_CHECK;
/* Move SWAPPED gfn to state `to` (BALLOONED: the guest gave the page up)
 * and free its slot; its bytes are gone. 0 or -EINVAL (nothing changed). */
int mem_swap_drop(struct mem_swap *s, struct mem_p2m *p2m, gfn_t gfn,
		  enum mem_page_state to) MUST_CHECK;
/* Read slot (allocated) into buf, 4 KiB, without side effects. 0, -EINVAL
 * (slot not in use), -EIO. */
int mem_swap_read_slot(const struct mem_swap *s, uint64_t slot, void *buf) MUST_CHECK;
/* Free an allocated slot (its p2m entry is going away). */
void mem_swap_free_slot(struct mem_swap *s, uint64_t slot);
/* The last I/O error as a message naming the file, slot and cause. */
const char *mem_swap_error(const struct mem_swap *s);
const char *mem_swap_path(const struct mem_swap *s);
void mem_swap_stats(const struct mem_swap *s, struct mem_swap_stats *st);

enum mem_swap_victim {
	MEM_SWAP_RANDOM, /* uniformly random resident pages (ESX) */
	MEM_SWAP_LRU,	 /* clock over the p2m's accessed bits */
};
/* "random" or "lru"; -EINVAL otherwise. */
int mem_swap_victim_parse(const char *s, enum mem_swap_victim *out) MUST_CHECK;
const char *mem_swap_victim_name(enum mem_swap_victim v);

/* Per-guest state of victim selection. Zero it, then set rng to a seed. */
struct mem_swap_cursor {
	uint64_t rng;  /* xorshift state (random) */
	gfn_t hand;    /* next gfn the clock looks at (lru) */
	uint64_t arms; /* pages the clock armed, ever (each costs a refault) */
};
/*
 * Choose a RESIDENT, writable gfn of p2m to swap out. Random draws gfns
 * until one is resident (a bounded number of times, then a scan from a
 * random start). LRU moves the clock hand: an armed page (not touched
 * since the hand last passed) is the victim, any other is armed and
 * passed over; two turns at most. Returns 0 with *out, or -ENOENT when the
 * guest has no such page.
 */
int mem_swap_pick(struct mem_p2m *p2m, enum mem_swap_victim how, struct mem_swap_cursor *c,
		  gfn_t *out) MUST_CHECK;

/* ------------------------------------------------------------------------
 * Working-set estimation by sampling (wss.c), as ESX (Waldspurger, OSDI
 * 2002, section 5.3): each period, `samples` guest frames drawn uniformly
 * at random are armed (access tracking, MEM_TRACK_WSS), and at the end the
 * fraction of them touched, f = t / n, estimates the fraction of the
 * guest's memory in active use. Three estimates are kept: a slow and a fast
 * exponentially weighted moving average of f, and the fast one updated
 * with the current period's touches so far; the estimate is the largest,
 * which follows a growing working set at once and a shrinking one slowly.
 */
struct mem_wss_params {
	unsigned samples; /* pages sampled per period (ESX: 100) */
	double slow_gain; /* EWMA gains in (0, 1]: new = old + gain * (f - old) */
	double fast_gain;
	uint64_t seed;
};

/* Estimates as fractions of the guest's pages, in [0, 1]. Before the first
 * period ends nothing is known and every estimate is 1 (no tax on a guest
 * that was never measured). */
struct mem_wss_estimate {
	double slow, fast, current;
	double max;	  /* the estimate used: max(slow, fast, current) */
	double last;	  /* f of the last complete period */
	uint64_t periods; /* complete periods */
	uint64_t touched; /* sampled pages touched in the current period so far */
};

/* The estimator alone, for samplers of other kinds (the KVM backend
 * samples through KVM's dirty log): the two averages of the fractions f
 * of sampled pages touched per period, gains as in mem_wss_params. */
struct mem_wss_avg {
	double slow, fast, last;
	uint64_t periods;
	double slow_gain, fast_gain;
};
void mem_wss_avg_init(struct mem_wss_avg *a, double slow_gain, double fast_gain);
/* A period ended with fraction f (clamped to [0, 1]) of its sample touched. */
void mem_wss_avg_period(struct mem_wss_avg *a, double f);
/* The estimates, with fraction `now` of the running period's sample
 * touched so far (`touched` pages). */
void mem_wss_avg_estimate(const struct mem_wss_avg *a, double now, uint64_t touched,
			  struct mem_wss_estimate *e);
/* Fill out[0..n) with n distinct frame numbers below pages, uniformly at
 * random from the splitmix64 stream *rng (all of 0..n-1 when n >= pages). */
void mem_wss_draw(uint64_t *rng, uint64_t pages, gfn_t *out, unsigned n);

/* Sample p2m (borrowed; the sampler must go before it). p is copied. The
 * first period starts at once. NULL with errno set (EINVAL: samples 0 or a
 * gain outside (0, 1]). */
struct mem_wss *mem_wss_create(struct mem_p2m *p2m, const struct mem_wss_params *p);
/* Disarm what is armed and free the sampler. NULL is a no-op. */
void mem_wss_destroy(struct mem_wss *w);
/* End the current period: count the sampled pages touched, update the
 * averages, and arm a fresh sample. */
void mem_wss_period(struct mem_wss *w);
void mem_wss_estimate(const struct mem_wss *w, struct mem_wss_estimate *e);

/* ------------------------------------------------------------------------
 * The allocation policy (policy.c): ESX's shares, min and max, the idle
 * memory tax, and the reclamation states (Waldspurger, OSDI 2002, sections
 * 5 and 6.3). Pure computation: the VMM gathers the inputs and applies the
 * outputs (balloon targets, host swap, blocking).
 */
enum mem_rstate {
	MEM_RSTATE_HIGH = 0, /* enough free memory: no reclamation */
	MEM_RSTATE_SOFT,     /* reclaim by ballooning (swap where it cannot) */
	MEM_RSTATE_HARD,     /* reclaim by host swapping */
	MEM_RSTATE_LOW,	     /* swap, and block guests above their target */
	MEM_RSTATE_NR
};
const char *mem_rstate_name(enum mem_rstate s);

struct mem_policy_params {
	double tau;			 /* idle memory tax rate, [0, 1) (ESX: 0.75) */
	double threshold[MEM_RSTATE_NR]; /* free-memory thresholds, fractions of host
					    memory: high .06, soft .04, hard .02, low .01 */
};
void mem_policy_defaults(struct mem_policy_params *p);
/* 0, or -EINVAL with *why naming the bad field (tau outside [0, 1),
 * thresholds not decreasing from high to low, or outside (0, 1)). */
int mem_policy_check(const struct mem_policy_params *p, const char **why) MUST_CHECK;

/*
 * The next reclamation state from `cur` with `free` of `total` pages free.
 * Down: as soon as free drops below the threshold of a lower state (several
 * at once if need be). Up: one state at a time, only once free exceeds the
 * threshold of the state above the one to leave: from soft back to high
 * above 6%, not at 4%. The gap is the hysteresis.
 */
enum mem_rstate mem_policy_state(const struct mem_policy_params *p, enum mem_rstate cur,
				 uint64_t free, uint64_t total);

/* One guest's inputs and outputs, in 4 KiB pages. */
struct mem_policy_guest {
	double shares;	 /* S, > 0 */
	uint64_t min;	 /* never targeted below */
	uint64_t max;	 /* never targeted above */
	uint64_t alloc;	 /* P: pages it holds (resident and shared) */
	uint64_t demand; /* what it would hold if let: P + ballooned + swapped */
	double active;	 /* working-set estimate, pages */
	/* out */
	uint64_t target; /* the allocation the policy wants it at */
	double rho;	 /* adjusted shares per page at P: S / (P (f + k (1 - f))) */
};

/*
 * Adjusted shares per page (section 5.2): shares / cost, the cost of
 * `pages` allocated pages of which `active` are in use being active +
 * k * idle with k = 1 / (1 - tau). Infinite for 0 pages.
 */
double mem_policy_rho(double tau, double shares, double pages, double active);
/*
 * Target allocations for n guests sharing `avail` pages (the pages the
 * guests may hold together with free memory at the high threshold).
 * Min-funding revocation solved in closed form: the guests whose targets
 * lie strictly between their bounds end at one common adjusted
 * shares-per-page ratio, so reclaiming a page from any of them would take
 * it from the guest with the fewest, as ESX's incremental revocation does;
 * the bounds are [min, max(min, min(max, demand))]. When the bounds' upper
 * ends fit avail, every guest gets its upper end. Fills target and rho.
 */
void mem_policy_targets(const struct mem_policy_params *p, struct mem_policy_guest *g, unsigned n,
			uint64_t avail);

/* ------------------------------------------------------------------------
 * Walk-reference arithmetic (Bhargava et al., ASPLOS 2008), no caches.
 *
 * Nested: each guest level costs the EPT levels that translate the guest
 * table page's gpa plus 1 reference for the guest entry; the final gpa
 * costs the EPT levels once more. With g guest levels and h EPT levels,
 * g * (h + 1) + h: 4 KiB/4 KiB 24, 2 MiB guest pages 19, 2 MiB EPT 19,
 * 2 MiB in both 15. With the walk cache, a hit on a guest table page's gfn
 * saves its EPT references; the data page's gfn is not cached there (the
 * TLB does that).
 *
 * Shadow: the hardware walks the shadow table only, one reference per
 * level: 4, or 3 when the shadow entry maps 2 MiB.
 */
#define PAGING_NESTED_REFS(g, h) ((g) * ((h) + 1) + (h))
#define PAGING_NESTED_COLD_REFS	 PAGING_NESTED_REFS(4, 4)
#define PAGING_SHADOW_REFS	 4
/* Root of the EPT (host-physical address), for tests and dumps. */
uint64_t paging_nested_root(const struct mmu *m);
/* Shadow internals for tests: frames of shadow tables the mode holds, and
 * whether guest frame gfn is write-protected as a shadowed page table. */
uint64_t paging_shadow_pages(const struct mmu *m);
bool paging_shadow_tracked(const struct mmu *m, gfn_t gfn);

#endif
