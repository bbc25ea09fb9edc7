/* SPDX-License-Identifier: MIT */
/*
 * kvm_audit: is a KVM guest's memory mapped as kv_mem's page states say?
 * Asked of the kernel's own view of the process, /proc/self/maps and
 * /proc/self/pagemap, so nothing of the guest's memory is touched:
 *
 *   resident, pending, swapped:  a MAP_SHARED piece of the guest's memfd at
 *                                the page's own offset (kvm_mem.c maps it
 *                                back at every unshare);
 *   shared on frame f:           a MAP_PRIVATE piece of the pool memfd at
 *                                offset f, and where the page is present,
 *                                the pool's own page (pagemap bit 61, file
 *                                page), never an anonymous copy: that would
 *                                be a write that got past the write
 *                                protection, lost at the next unshare;
 *   swapped:                     not present (its next touch must fault).
 *
 * It runs under the guest's lock, so no merge, unshare or swap of this
 * guest moves a piece meanwhile (other guests' pieces are elsewhere). The
 * backend audits every guest when it ends, as a triple fault is otherwise
 * a bare message: the audit says whether memvisor's side of the memory
 * was as it should be at that moment.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmm-core/kvm/kvm_mem_internal.h"

#define PM_PRESENT (1ull << 63)
#define PM_FILE	   (1ull << 61)

struct audit {
	struct kv_mem *m;
	ino_t mem_ino, pool_ino;
	const uint64_t *pm; /* pagemap entries of the guest's pages */
	uint64_t bad;
	char *msg;
	size_t len;
};

static void say(struct audit *a, uint64_t gfn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct audit *a, uint64_t gfn, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->bad++ || !a->len)
		return; /* the first one is said */
	n = snprintf(a->msg, a->len, "page 0x%" PRIx64 ": ", gfn);
	if (n < 0 || (size_t)n >= a->len)
		return;
	va_start(ap, fmt);
	vsnprintf(a->msg + n, a->len - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Pages [g0, g1) lie in one piece: ino at file offset off (of page g0),
 * private or shared. */
static void piece(struct audit *a, uint64_t g0, uint64_t g1, ino_t ino, uint64_t off, bool priv)
{
	for (uint64_t g = g0; g < g1; g++) {
		uint64_t e = a->m->st[g], at = off + (g - g0) * PAGE, pm = a->pm[g];
		bool present = pm & PM_PRESENT;

		if (ST(e) == ST_SHARED) {
			if (ino != a->pool_ino || !priv || at != ST_VAL(e) * PAGE)
				say(a, g,
				    "shared on frame %" PRIu64 " but mapped %s at 0x%" PRIx64
				    " of inode %lu",
				    ST_VAL(e), priv ? "private" : "shared", at, (unsigned long)ino);
			else if (present && !(pm & PM_FILE))
				say(a, g,
				    "shared on frame %" PRIu64 " but holds a private copy "
				    "(a write past the write protection)",
				    ST_VAL(e));
			continue;
		}
		if (ino != a->mem_ino || priv || at != g * PAGE)
			say(a, g, "%s but mapped %s at 0x%" PRIx64 " of inode %lu",
			    ST(e) == ST_SWAPPED ? "swapped out" : "its own",
			    priv ? "private" : "shared", at, (unsigned long)ino);
		else if (ST(e) == ST_SWAPPED && present)
			say(a, g, "swapped out to slot %" PRIu64 " but present", ST_VAL(e));
	}
}

/* Walk /proc/self/maps over the guest's RAM. */
static int walk(struct audit *a, FILE *f)
{
	uint64_t base = page_addr(a->m, 0), end = base + a->m->pages * PAGE, next = base;
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, f) > 0) {
		unsigned long long lo, hi, off;
		unsigned long ino;
		char perm[8];

		if (sscanf(line, "%llx-%llx %7s %llx %*s %lu", &lo, &hi, perm, &off, &ino) != 5)
			continue;
		if (hi <= base || lo >= end)
			continue;
		if (lo < base) {
			off += base - lo;
			lo = base;
		}
		if (hi > end)
			hi = end;
		if (lo > next)
			say(a, (next - base) / PAGE, "not mapped at all");
		piece(a, (lo - base) / PAGE, (hi - base) / PAGE, (ino_t)ino, off, perm[3] == 'p');
		next = hi;
	}
	free(line);
	if (next < end)
		say(a, (next - base) / PAGE, "not mapped at all");
	return ferror(f) ? -EIO : 0;
}

int kv_mem_audit(struct kv_mem *m, char *msg, size_t len)
{
	struct audit a = {.m = m, .msg = msg, .len = len};
	struct stat st;
	uint64_t *pm = NULL;
	FILE *f = NULL;
	int fd = -1, r = 0;

	if (len)
		msg[0] = 0;
	if (m->p.pool_fd >= 0) {
		if (fstat(m->p.pool_fd, &st))
			return -errno;
		a.pool_ino = st.st_ino;
	}
	if (fstat(m->vm->mem_fd, &st))
		return -errno;
	a.mem_ino = st.st_ino;
	pm = calloc(m->pages, sizeof(*pm));
	f = fopen("/proc/self/maps", "re");
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (!pm || !f || fd < 0) {
		r = pm ? -errno : -ENOMEM;
		goto out;
	}
	a.pm = pm;
	pthread_mutex_lock(&m->lock);
	if (pread(fd, pm, m->pages * sizeof(*pm), (off_t)(page_addr(m, 0) / PAGE * sizeof(*pm))) !=
	    (ssize_t)(m->pages * sizeof(*pm)))
		r = -EIO;
	else
		r = walk(&a, f);
	pthread_mutex_unlock(&m->lock);
out:
	if (fd >= 0)
		close(fd);
	if (f)
		fclose(f);
	free(pm);
	return r ? r : (int)(a.bad > INT32_MAX ? INT32_MAX : a.bad);
}
