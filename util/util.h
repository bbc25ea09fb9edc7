/* SPDX-License-Identifier: MIT */
/*
 * util: the small things every module needs once: a must-check attribute,
 * ARRAY_SIZE, splitmix64 and xorshift64*, an error-buffer printf, writing
 * in full, a file written whole or not at all, and BUG_ON.
 */
#ifndef UTIL_UTIL_H
#define UTIL_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* A result the caller must look at (0 or -errno, a pointer, ...). */
#define MUST_CHECK    __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define UTIL_GOLDEN   0x9e3779b97f4a7c15ull /* 2^64 / phi: splitmix64's step */

/* splitmix64's output function of x + UTIL_GOLDEN (Steele, Lea and Flood,
 * OOPSLA 2014): a bijective mix, used to hash and to seed. */
static inline uint64_t util_mix64(uint64_t x)
{
	x += UTIL_GOLDEN;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The next number of the splitmix64 stream whose state is *s. */
static inline uint64_t util_splitmix64(uint64_t *s)
{
	uint64_t x = *s;

	*s += UTIL_GOLDEN;
	return util_mix64(x);
}

/* The next number of the xorshift64* stream *s (Vigna, 2016); a zero state
 * starts from UTIL_GOLDEN, so the stream never sticks at zero. */
static inline uint64_t util_xorshift64s(uint64_t *s)
{
	uint64_t x = *s ? *s : UTIL_GOLDEN;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* printf into err[len] when err is not NULL and len > 0. */
void util_errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write all len bytes of buf to fd, at off (pwrite) or, with off < 0, at
 * the file position; retries short writes and EINTR. 0 or -errno (-EIO
 * when the device takes nothing). */
int util_write_full(int fd, const void *buf, size_t len, off_t off) MUST_CHECK;

/* One decimal number in a file (a sysctl, a sysfs knob): read it, or
 * write it with a newline. 0 or -errno (-EINVAL: no number there). */
int util_read_u64(const char *path, uint64_t *v) MUST_CHECK;
int util_write_u64(const char *path, uint64_t v) MUST_CHECK;

/* A file written whole or not at all: util_tmp_open opens PATH.tmp for
 * writing (its name into tmp[tmplen]); util_tmp_close flushes, checks for
 * write errors, closes and renames it over path, or removes it. NULL with
 * errno / 0 or -errno. */
FILE *util_tmp_open(const char *path, char *tmp, size_t tmplen);
int util_tmp_close(FILE *f, const char *tmp, const char *path) MUST_CHECK;

/* "FILE:LINE: BUG: ..." on stderr, then abort: an internal inconsistency
 * that would corrupt guest memory if the program went on. */
_Noreturn void util_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define BUG_ON(cond, ...)                                                                          \
	do {                                                                                       \
		if (cond)                                                                          \
			util_bug(__FILE__, __LINE__, __VA_ARGS__);                                 \
	} while (0)

#endif
