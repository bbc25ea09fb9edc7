/* SPDX-License-Identifier: MIT */
/* gen_internal: the guest module's generators, what the soft guest OS and
 * the in-guest program of Linux guests (guest/inguest/) share: hashing and
 * random numbers, zipf ranks, content models, the workload generator and
 * its write record, and the trace reader with the bytes a replayed store
 * writes. */
#ifndef GUEST_GEN_INTERNAL_H
#define GUEST_GEN_INTERNAL_H

#include <assert.h>
#include <stdarg.h>

#include "guest/guest.h"
#include "traces/traces.h"

/* ------------------------------------------------------------------------
 * Hashing and pseudo-random numbers: splitmix64 to mix and seed,
 * xoshiro256** as the per-process generator. Everything the workload does
 * is a function of these and the seeds, which is what makes runs
 * deterministic and pages verifiable.
 */
/* A hash of four words; `dom` separates the uses of one tuple. */
static inline uint64_t guest_hash4(uint64_t dom, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t h = util_mix64(dom ^ 0x6a09e667f3bcc909ull);

	h = util_mix64(h ^ a);
	h = util_mix64(h ^ b);
	h = util_mix64(h ^ c);
	return util_mix64(h ^ d);
}

/* Hash domains. */
#define GUEST_H_PROC	1u /* (seed, pid): a process's generator */
#define GUEST_H_FILL	2u /* (seed, pid, idx): private first-write bytes */
#define GUEST_H_WIDX	3u /* (seed, pid, idx, k): word index of write k */
#define GUEST_H_WVAL	4u /* (seed, pid, idx, k): value of write k */
#define GUEST_H_KIND	5u /* (seed, idx): content kind of a mixed page */
#define GUEST_H_PERM	6u /* (seed, pid): zipf rank permutation */
#define GUEST_H_LIB	7u /* (lib seed, page): library bytes */
#define GUEST_H_RECLAIM 8u
#define GUEST_H_TSTORE	9u  /* (seed, pid): a trace process's store words */
#define GUEST_H_TPRIV	10u /* (trace seed): a PRIVATE content page */

struct guest_rng {
	uint64_t s[4];
};

static inline void guest_rng_seed(struct guest_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		seed += UTIL_GOLDEN;
		r->s[i] = util_mix64(seed);
	}
}

static inline uint64_t guest_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t guest_rng_next(struct guest_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = guest_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = guest_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, n), by multiply-shift (Lemire), n > 0. */
static inline uint64_t guest_rng_below(struct guest_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)guest_rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1). */
static inline double guest_rng_double(struct guest_rng *r)
{
	return (double)(guest_rng_next(r) >> 11) * 0x1p-53;
}

/* ------------------------------------------------------------------------
 * Zipf ranks (zipf.c): rejection-inversion sampling (Hoermann and
 * Derflinger 1996), O(1) per draw for any exponent theta > 0, no table.
 */
struct guest_zipf {
	uint64_t n;
	double theta;
	double h_x1; /* H(1.5) - 1 */
	double h_n;  /* H(n + 0.5) */
	double s;    /* squeeze bound */
};

/* Set up draws over ranks 0..n-1 with P(k) ~ 1/(k+1)^theta. 0 or -EINVAL. */
int guest_zipf_init(struct guest_zipf *z, uint64_t n, double theta) MUST_CHECK;
/* A rank in [0, n); rank 0 is the most popular. */
uint64_t guest_zipf_next(const struct guest_zipf *z, struct guest_rng *r);

/* ------------------------------------------------------------------------
 * Content models (content.c). Pages are named by idx, their index in the
 * working set. `kind` is a GUEST_CONTENT_* other than MIXED.
 *
 * Write k of a page (k = 1, 2, ...): write 1 fills the whole page (private:
 * a stream of (seed, pid, idx); library: library page idx % lib->pages;
 * zero: nothing, the page is zero); write k >= 2 stores one word at index
 * guest_content_word() gives.
 */
enum guest_content guest_content_kind(const struct guest_workload_params *p, uint64_t seed,
				      uint64_t idx);
/* The 4 KiB write 1 puts in the page, into buf; false for a zero page,
 * which write 1 leaves as it is (buf untouched). */
bool guest_content_fill(enum guest_content kind, const struct guest_library *lib, uint64_t seed,
			uint32_t pid, uint64_t idx, uint8_t *buf);
/* Word index (0..511) and value of write k >= 2. */
void guest_content_word(enum guest_content kind, const struct guest_library *lib, uint64_t seed,
			uint32_t pid, uint64_t idx, uint64_t k, unsigned *word, uint64_t *val);
/* The page's expected 4 KiB after `writes` writes (0: all zero). */
void guest_content_expected(enum guest_content kind, const struct guest_library *lib, uint64_t seed,
			    uint32_t pid, uint64_t idx, uint64_t writes, uint8_t *buf);

/* ------------------------------------------------------------------------
 * Workload generator and write record (workload.c).
 *
 * The record is one host word per page of the working set:
 *   bits 59..0  writes (0: never written)
 *   bits 61..60 content kind (GUEST_CONTENT_ZERO/PRIVATE/LIBRARY)
 *   bit  62     touched (read or written at least once)
 */
#define GUEST_REC_WRITES     ((1ull << 60) - 1)
#define GUEST_REC_KIND_SHIFT 60
#define GUEST_REC_TOUCHED    (1ull << 62)

static inline uint64_t guest_rec_writes(uint64_t rec)
{
	return rec & GUEST_REC_WRITES;
}
static inline enum guest_content guest_rec_kind(uint64_t rec)
{
	return (enum guest_content)((rec >> GUEST_REC_KIND_SHIFT) & 3);
}
static inline bool guest_rec_touched(uint64_t rec)
{
	return (rec & GUEST_REC_TOUCHED) != 0;
}

struct guest_wl {
	const struct guest_workload_params *p; /* borrowed, the guest's copy */
	uint64_t seed;
	uint32_t pid;
	struct guest_rng rng;
	uint64_t pos;	 /* seq: next index */
	uint64_t issued; /* accesses (operations, for churn) completed */
	uint64_t lived;	 /* churn: operations since the process started */
	struct guest_zipf zipf;
	uint32_t *perm; /* zipf: rank -> page index */
	uint64_t *rec;	/* wss_pages record words */
	uint64_t now;	/* steps by time: the guest's clock, ns (the OS sets it) */
};

/* One operation the generator chose: an access, or (churn) an unmap of
 * pages idx .. idx + n - 1, or the exit of the process. */
enum guest_op_kind { GUEST_OP_ACCESS, GUEST_OP_UNMAP, GUEST_OP_EXIT };
struct guest_op {
	enum guest_op_kind kind;
	uint64_t idx; /* page index in the working set */
	uint64_t n;   /* unmap: pages */
	unsigned off; /* byte offset of an 8-byte read (8-aligned) */
	bool write;
};

/* Set up process pid's generator and record. 0 or -ENOMEM / -EINVAL. */
int guest_wl_init(struct guest_wl *w, const struct guest_workload_params *p, uint64_t seed,
		  uint32_t pid) MUST_CHECK;
void guest_wl_fini(struct guest_wl *w);
/* The next access; a pure function of the generator's state. */
void guest_wl_next(struct guest_wl *w, struct guest_op *op);
/* Pages the generator draws from now: its step's (steps), else the
 * working set. */
uint64_t guest_wl_active(const struct guest_wl *w);

/* ------------------------------------------------------------------------
 * Reading a trace workload's records (replay.c): batches from a cursor,
 * starting over at the end when the trace loops.
 */
#define GUEST_REPLAY_BATCH 256
struct guest_treader {
	struct trace_cursor *cur;
	bool loop;
	long n, at; /* records in batch, the next one */
	struct trace_rec batch[GUEST_REPLAY_BATCH];
};
int guest_treader_init(struct guest_treader *rd, const struct guest_trace *t) MUST_CHECK;
int guest_treader_next(struct guest_treader *rd, const struct trace_rec **out, char *why,
		       size_t len) MUST_CHECK;
/* The bytes of the trace workload (guest.h), shared with the in-guest
 * program of Linux guests (guest/inguest/): n bytes of a store at va whose
 * word is w (byte i is byte (va + i) & 7 of w, little-endian), and the 4
 * KiB of a PRIVATE content record with this seed. */
static inline void guest_replay_store_bytes(uint64_t w, gva_t va, size_t n, uint8_t *buf)
{
	unsigned s = (unsigned)(va & 7) * 8;
	uint64_t v = s ? w >> s | w << (64 - s) : w; /* byte 0 is byte va & 7 of w */
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		memcpy(buf + i, &v, 8);
	memcpy(buf + i, &v, n - i);
}
void guest_replay_private_page(uint64_t seed, uint8_t *buf);

#endif
