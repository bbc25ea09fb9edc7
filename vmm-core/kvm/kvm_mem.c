/* SPDX-License-Identifier: MIT */
/*
 * kvm_mem: sharing and host swapping of a KVM guest's memory from
 * userspace, race-free against its vCPUs, with userfaultfd.
 *
 * A guest's RAM is a memfd mapped MAP_SHARED at vm->ram and registered as
 * one KVM memory slot. A page leaves it in two ways, each done by
 * remapping or punching that page of the mapping, which KVM follows
 * through its MMU notifiers:
 *
 *   shared:  the page is mapped MAP_PRIVATE from frame F of a pool memfd
 *            (read-only in effect: write-protected, below) and its memfd
 *            page is punched. Zero pages are shared the same way, on the
 *            pool's zero frame.
 *   swapped: its bytes are written to a slot of the host swap file
 *            (mem/swap.c) and its memfd page is punched; the next touch
 *            faults to us (a MISSING fault) and UFFDIO_COPY puts the
 *            bytes back.
 *
 * Races. Between the compare (or the copy to swap) and the remap (or the
 * punch), a write by a vCPU or a host thread would be lost. So every such
 * operation runs with the page write-protected through userfaultfd
 * (UFFD_FEATURE_WP_HUGETLBFS_SHMEM; mprotect does not stop vCPUs): a
 * writer blocks in its fault until the fault thread wakes it, and the
 * fault thread takes the same lock as the operation, so it sees the page
 * only before or after, never during. After an operation:
 *
 *   a WP fault on a shared page   -> unshare: the pool frame's bytes are
 *                                    written into the memfd, the memfd is
 *                                    mapped back, the writer woken; the
 *                                    write then lands in the guest's own
 *                                    memory (a copy-on-write break);
 *   a fault on a swapped page     -> swap-in (UFFDIO_COPY wakes it);
 *   a WP fault on a resident page -> the operation left it (the compare
 *                                    failed, the swap write failed): clear
 *                                    the protection, which wakes it;
 *   a MISSING fault on a hole     -> a zero page (UFFDIO_ZEROPAGE).
 *
 * The operations read the page with pread on the memfd, never through the
 * mapping: a read there could fault to the fault thread, which waits for
 * the lock the operation holds.
 *
 * Each mmap(MAP_FIXED) makes a new, unregistered VMA: it is registered
 * again at once, before the lock is let go (an unregistered piece would
 * read a swapped page back as zeros, silently). MISSING faults are asked
 * for only with a swap file: without one every first touch of guest
 * memory would come to the fault thread.
 *
 * Facts this rests on (Debian 12's 6.1 and newer): ../shared/KVM-RECLAIM.md
 * of the project's notes; userfaultfd(2), ioctl_userfaultfd(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm-core/kvm/kvm_mem_internal.h"

/* Write-protect gfn (on), or clear it and wake its writers (wake). */
static int wp(struct kv_mem *m, uint64_t gfn, bool on, bool wake)
{
	/* the kernel wakes only when it clears, and refuses DONTWAKE with WP */
	struct uffdio_writeprotect w = {
	    .range = {.start = page_addr(m, gfn), .len = PAGE},
	    .mode = on	   ? UFFDIO_WRITEPROTECT_MODE_WP
		    : wake ? 0
			   : UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
	};

	return ioctl(m->uffd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

static void wake(struct kv_mem *m, uint64_t gfn)
{
	struct uffdio_range r = {.start = page_addr(m, gfn), .len = PAGE};

	(void)ioctl(m->uffd, UFFDIO_WAKE, &r);
}

static int reg_mode(struct kv_mem *m, uint64_t addr, uint64_t len, uint64_t mode)
{
	struct uffdio_register r = {.range = {.start = addr, .len = len}, .mode = mode};

	return ioctl(m->uffd, UFFDIO_REGISTER, &r) ? -errno : 0;
}

static int reg(struct kv_mem *m, uint64_t addr, uint64_t len)
{
	struct uffdio_register r = {.range = {.start = addr, .len = len}, .mode = m->mode};

	return ioctl(m->uffd, UFFDIO_REGISTER, &r) ? -errno : 0;
}

/* Map page gfn from fd at off (shared or private) and register it again.
 * 0 or -errno (the old mapping stays when mmap fails). */
static int remap(struct kv_mem *m, uint64_t gfn, int fd, uint64_t off, bool shared)
{
	void *a = (void *)(uintptr_t)page_addr(m, gfn);
	void *r = mmap(a, PAGE, PROT_READ | PROT_WRITE,
		       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fd, (off_t)off);

	if (r == MAP_FAILED)
		return -errno;
	m->s.remaps++;
	return reg(m, page_addr(m, gfn), PAGE);
}

/*
 * Put frame f of the pool over page gfn, already write-protected, with no
 * moment at which a writer could reach it unprotected: the piece is
 * mapped elsewhere first (private), registered, populated by a read and
 * write-protected there, then moved over the page by mremap, which
 * replaces the old piece atomically and keeps the registration (with
 * UFFD_FEATURE_EVENT_REMAP) and the protection of its entry. Mapped in
 * place, the new piece would be unregistered, then unprotected, for a
 * moment, and a write then would be copied privately by the kernel and
 * lost at the next unshare.
 */
static int move_piece(struct kv_mem *m, uint64_t gfn, uint64_t f)
{
	uint8_t *p =
	    mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, m->p.pool_fd, (off_t)(f * PAGE));
	struct uffdio_writeprotect w = {.range = {.start = (uintptr_t)p, .len = PAGE},
					.mode = UFFDIO_WRITEPROTECT_MODE_WP};
	int r;

	if (p == MAP_FAILED)
		return -errno;
	/* write protection only: the pool page is there, so no read of it
	 * could ever be a missing page, and our own read below must not come
	 * to the fault thread, which waits for the lock we hold */
	r = reg_mode(m, (uintptr_t)p, PAGE, UFFDIO_REGISTER_MODE_WP);
	if (!r) {
		(void)*(volatile uint8_t *)p;
		if (ioctl(m->uffd, UFFDIO_WRITEPROTECT, &w))
			r = -errno;
	}
	if (!r && mremap(p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
			 (void *)(uintptr_t)page_addr(m, gfn)) == MAP_FAILED)
		r = -errno;
	if (r) {
		munmap(p, PAGE);
		return r;
	}
	m->s.remaps++;
	return 0;
}

/* Punch pages [gfn, gfn + n) out of the guest's memfd. 0 or -errno. */
static int punch(struct kv_mem *m, uint64_t gfn, uint64_t n)
{
	return fallocate(m->vm->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)(gfn * PAGE), (off_t)(n * PAGE))
		   ? -errno
		   : 0;
}

static int write_full(int fd, const void *buf, uint64_t off)
{
	ssize_t n = pwrite(fd, buf, PAGE, (off_t)off);

	return n == (ssize_t)PAGE ? 0 : n < 0 ? -errno : -EIO;
}

/* Shared gfn back into its own memory, under the lock: the frame's bytes
 * into the memfd, the memfd mapped back, the sharing dropped. The guest
 * cannot have written the shared page (it is write-protected). */
static int unshare_locked(struct kv_mem *m, uint64_t gfn)
{
	uint64_t e = m->st[gfn], f = ST_VAL(e);
	uint8_t buf[PAGE];
	int r;

	r = kv_mem_read_page(m->p.pool_fd, buf, f * PAGE);
	if (!r)
		r = write_full(m->vm->mem_fd, buf, gfn * PAGE);
	if (!r)
		r = remap(m, gfn, m->vm->mem_fd, gfn * PAGE, true);
	if (r)
		return r;
	m->s.unshares++;
	kv_mem_pending(m, gfn, f, 0);
	return 0;
}

void kv_mem_pending(struct kv_mem *m, uint64_t gfn, uint64_t f, uint64_t how)
{
	m->st[gfn] = ST_MK(ST_RESIDENT, 0);
	m->nshared--;
	if (m->nq == m->qcap) {
		size_t cap = m->qcap ? 2 * m->qcap : 256;
		uint64_t *q = realloc(m->q, cap * sizeof(*q));

		if (!q)
			return; /* the frame keeps a reference it does not need */
		m->q = q;
		m->qcap = cap;
	}
	m->q[m->nq++] = gfn | how;
	m->st[gfn] = ST_MK(ST_PENDING, f);
}

int kv_mem_discard(struct kv_mem *m, uint64_t gfn, uint64_t n)
{
	int r = 0;

	if (gfn > m->pages || n > m->pages - gfn)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	for (uint64_t g = gfn; g < gfn + n && !r; g++) {
		uint64_t e = m->st[g];

		if (ST(e) == ST_SHARED) {
			/* its own memory again: empty, as a ballooned page is */
			r = remap(m, g, m->vm->mem_fd, g * PAGE, true);
			if (!r)
				kv_mem_pending(m, g, ST_VAL(e), KV_MEM_DROPPED);
		} else if (ST(e) == ST_SWAPPED) {
			mem_swap_free_slot(m->p.swap, ST_VAL(e));
			m->st[g] = ST_MK(ST_RESIDENT, 0);
		}
	}
	if (!r)
		r = punch(m, gfn, n);
	pthread_mutex_unlock(&m->lock);
	return r;
}

static void stalled(struct kv_mem *m, uint64_t t0)
{
	uint64_t dt = kv_now_ns() - t0;

	if (dt > m->s.stall_ns_max)
		m->s.stall_ns_max = dt;
}

int kv_mem_merge(struct kv_mem *m, uint64_t gfn, uint64_t frame)
{
	uint8_t mine[PAGE], theirs[PAGE];
	uint64_t t0, t1, t2;
	int r;

	if (gfn >= m->pages || m->p.pool_fd < 0)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (ST(m->st[gfn]) != ST_RESIDENT) {
		r = -EBUSY;
		goto out;
	}
	/* from here until the remap a writer waits in its fault */
	t0 = kv_now_ns();
	r = m->p.unprotected ? 0 : wp(m, gfn, true, false);
	t1 = kv_now_ns();
	if (!r)
		r = kv_mem_read_page(m->vm->mem_fd, mine, gfn * PAGE);
	if (!r)
		r = kv_mem_read_page(m->p.pool_fd, theirs, frame * PAGE);
	m->s.compares++;
	if (r || memcmp(mine, theirs, PAGE)) { /* an error, or not the same bytes */
		if (!m->p.unprotected)
			(void)wp(m, gfn, false, true);
		m->s.ns_protect += t1 - t0;
		m->s.ns_compare += kv_now_ns() - t1;
		stalled(m, t0);
		goto out;
	}
	t2 = kv_now_ns();
	r = m->p.unprotected ? remap(m, gfn, m->p.pool_fd, frame * PAGE, false)
			     : move_piece(m, gfn, frame);
	if (r) {
		/* each shared page is a mapping of its own: the kernel's limit
		 * on them (vm.max_map_count) ends sharing here, nothing else */
		if (!m->s.merge_errors++)
			m->s.merge_errno = -r;
		(void)wp(m, gfn, false, true);
		goto out;
	}
	m->s.ns_protect += t1 - t0;
	m->s.ns_compare += t2 - t1;
	t1 = kv_now_ns();
	m->s.ns_remap += t1 - t2;
	(void)punch(m, gfn, 1);
	m->s.ns_punch += kv_now_ns() - t1;
	m->st[gfn] = ST_MK(ST_SHARED, frame);
	m->s.merges++;
	m->nshared++;
	wake(m, gfn); /* writers that waited retry on the new piece */
	stalled(m, t0);
	r = 1;
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

int kv_mem_unshare(struct kv_mem *m, uint64_t gfn)
{
	int r = -EINVAL;

	if (gfn >= m->pages)
		return r;
	pthread_mutex_lock(&m->lock);
	if (ST(m->st[gfn]) == ST_SHARED) {
		r = unshare_locked(m, gfn);
		if (!r)
			wake(m, gfn);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int kv_mem_swap_out(struct kv_mem *m, uint64_t gfn)
{
	uint8_t buf[PAGE];
	uint64_t slot, t0;
	int r;

	if (gfn >= m->pages || !m->p.swap)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (ST(m->st[gfn]) != ST_RESIDENT) {
		r = 0;
		goto out;
	}
	t0 = kv_now_ns();
	r = m->p.unprotected ? 0 : wp(m, gfn, true, false);
	if (!r)
		r = kv_mem_read_page(m->vm->mem_fd, buf, gfn * PAGE);
	if (!r)
		r = mem_swap_write_slot(m->p.swap, buf, &slot);
	if (!r) {
		r = punch(m, gfn, 1);
		if (r)
			mem_swap_free_slot(m->p.swap, slot);
	}
	if (!r) {
		m->st[gfn] = ST_MK(ST_SWAPPED, slot);
		m->s.swap_outs++;
		r = 1;
	}
	/* clearing the protection wakes the writers that waited: they fault
	 * again, on a missing page now, and swap it in */
	if (!m->p.unprotected)
		(void)wp(m, gfn, false, true);
	stalled(m, t0);
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Swapped gfn back at addr (the page fault's), under the lock. */
static int swap_in_locked(struct kv_mem *m, uint64_t gfn)
{
	uint64_t slot = ST_VAL(m->st[gfn]);
	uint8_t buf[PAGE];
	struct uffdio_copy c = {.dst = page_addr(m, gfn), .src = (uintptr_t)buf, .len = PAGE};
	int r = mem_swap_read_slot(m->p.swap, slot, buf);

	if (r)
		return r;
	if (ioctl(m->uffd, UFFDIO_COPY, &c) && errno != EEXIST)
		return -errno;
	mem_swap_swapped_in(m->p.swap, slot);
	m->st[gfn] = ST_MK(ST_RESIDENT, 0);
	m->s.swap_ins++;
	return 0;
}

/* A hole touched for the first time (MISSING mode): a zero page. */
static int zero_fill(struct kv_mem *m, uint64_t gfn)
{
	static const uint8_t zero[PAGE];
	struct uffdio_zeropage z = {.range = {.start = page_addr(m, gfn), .len = PAGE}};
	struct uffdio_copy c = {.dst = page_addr(m, gfn), .src = (uintptr_t)zero, .len = PAGE};

	m->s.zero_fills++;
	if (!ioctl(m->uffd, UFFDIO_ZEROPAGE, &z) || errno == EEXIST)
		return 0;
	if (!ioctl(m->uffd, UFFDIO_COPY, &c) || errno == EEXIST)
		return 0;
	return -errno;
}

/* One page fault, under the lock. */
static int fault(struct kv_mem *m, const struct uffd_msg *msg)
{
	uint64_t a = msg->arg.pagefault.address & ~(PAGE - 1), gfn;
	bool is_wp = msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP;

	if (a < page_addr(m, 0) || a >= page_addr(m, m->pages))
		return -EFAULT;
	gfn = (a - page_addr(m, 0)) / PAGE;
	switch (ST(m->st[gfn])) {
	case ST_SHARED:
		m->s.faults_wp++;
		if (unshare_locked(m, gfn))
			return -EIO;
		wake(m, gfn);
		return 0;
	case ST_SWAPPED:
		m->s.faults_missing++;
		return swap_in_locked(m, gfn);
	default:
		if (is_wp) { /* an operation left it resident */
			m->s.faults_wp++;
			return wp(m, gfn, false, true);
		}
		m->s.faults_missing++;
		return zero_fill(m, gfn);
	}
}

/* One page fault handled, under the lock, with its time counted. */
static void handle(struct kv_mem *m, const struct uffd_msg *msg)
{
	uint64_t t0 = kv_now_ns(), dt;
	int r = fault(m, msg);

	dt = kv_now_ns() - t0;
	m->s.fault_ns += dt;
	if (dt > m->s.fault_ns_max)
		m->s.fault_ns_max = dt;
	m->s.fault_hist[dt < 1000 ? 0 : dt < 10000 ? 1 : dt < 100000 ? 2 : 3]++;
	if (r && !m->err[0])
		snprintf(
		    m->err, sizeof(m->err), "page fault at gfn %llu: %s",
		    (unsigned long long)((msg->arg.pagefault.address - page_addr(m, 0)) / PAGE),
		    strerror(-r));
}

#define FAULTS_MAX 64 /* page faults read and not yet handled */

/*
 * The fault thread. It never waits for the lock while it has events to
 * read: a merge holds the lock across its mremap, which waits until this
 * thread has read the REMAP event. So it reads every event there is,
 * keeps the page faults, and handles them when it gets the lock (trying
 * again every millisecond while an operation holds it).
 */
static void *fault_thread(void *arg)
{
	struct kv_mem *m = arg;
	struct pollfd pf[2] = {{.fd = m->uffd, .events = POLLIN},
			       {.fd = m->stop_fd, .events = POLLIN}};
	struct uffd_msg q[FAULTS_MAX];
	unsigned n = 0;

	for (;;) {
		struct uffd_msg msg;
		bool failed = false;

		if (poll(pf, 2, n ? 1 : -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		while (n < FAULTS_MAX && read(m->uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg))
			if (msg.event == UFFD_EVENT_PAGEFAULT)
				q[n++] = msg; /* a REMAP event needs only reading */
		if (!n || pthread_mutex_trylock(&m->lock))
			continue;
		for (unsigned i = 0; i < n; i++)
			handle(m, &q[i]);
		n = 0;
		failed = m->err[0] != 0;
		pthread_mutex_unlock(&m->lock);
		if (failed) /* the guest cannot go on: its fault would repeat */
			kv_vm_end(m->vm, KV_END_ERROR, "memory: %s", m->err);
	}
	return NULL;
}

static int uffd_open(struct kv_mem *m, char *err, size_t errlen)
{
	struct uffdio_api api = {.api = UFFD_API,
				 .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
					     UFFD_FEATURE_EVENT_REMAP |
					     (m->p.swap ? UFFD_FEATURE_MISSING_SHMEM : 0)};

	m->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (m->uffd < 0) {
		snprintf(err, errlen,
			 "userfaultfd: %s (sharing and host swap of KVM guests need it: run as "
			 "root, or with access to /dev/userfaultfd)",
			 strerror(errno));
		return -errno;
	}
	if (ioctl(m->uffd, UFFDIO_API, &api)) {
		snprintf(err, errlen,
			 "userfaultfd: write protection of shared memory is not supported by "
			 "this kernel (%s; Linux 5.19 or later has it)",
			 strerror(errno));
		return -ENOTSUP;
	}
	m->mode = UFFDIO_REGISTER_MODE_WP | (m->p.swap ? UFFDIO_REGISTER_MODE_MISSING : 0);
	return 0;
}

struct kv_mem *kv_mem_create(struct kv_vm *vm, const struct kv_mem_params *p, char *err,
			     size_t errlen)
{
	struct kv_mem *m = calloc(1, sizeof(*m));
	int r;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->vm = vm;
	m->p = *p;
	m->pages = vm->ram_size / PAGE;
	m->uffd = m->stop_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	m->st = calloc(m->pages, sizeof(*m->st));
	if (!m->st) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (uffd_open(m, err, errlen))
		goto fail;
	r = reg(m, page_addr(m, 0), vm->ram_size);
	if (r) {
		snprintf(err, errlen, "userfaultfd: registering guest memory: %s", strerror(-r));
		goto fail;
	}
	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (m->stop_fd < 0 || pthread_create(&m->thread, NULL, fault_thread, m)) {
		snprintf(err, errlen, "userfaultfd: fault thread: %s", strerror(errno));
		goto fail;
	}
	m->thread_started = true;
	vm->mem = m;
	return m;
fail:
	kv_mem_destroy(m);
	return NULL;
}

void kv_mem_destroy(struct kv_mem *m)
{
	if (!m)
		return;
	if (m->vm->mem == m)
		m->vm->mem = NULL;
	if (m->thread_started) {
		uint64_t one = 1;

		if (write(m->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(m->thread, NULL);
	}
	/* closing the userfaultfd lets every later fault resolve normally */
	if (m->uffd >= 0)
		close(m->uffd);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	for (uint64_t g = 0; m->st && m->p.swap && g < m->pages; g++)
		if (ST(m->st[g]) == ST_SWAPPED)
			mem_swap_free_slot(m->p.swap, ST_VAL(m->st[g]));
	pthread_mutex_destroy(&m->lock);
	free(m->st);
	free(m->q);
	free(m);
}

enum kv_page kv_mem_state(struct kv_mem *m, uint64_t gfn, uint64_t *val)
{
	uint64_t e;

	pthread_mutex_lock(&m->lock);
	e = gfn < m->pages ? m->st[gfn] : 0;
	pthread_mutex_unlock(&m->lock);
	if (val)
		*val = ST_VAL(e);
	return ST(e) == ST_SHARED    ? KV_PAGE_SHARED
	       : ST(e) == ST_SWAPPED ? KV_PAGE_SWAPPED
				     : KV_PAGE_RESIDENT;
}

void kv_mem_stats(struct kv_mem *m, struct kv_mem_stats *s)
{
	pthread_mutex_lock(&m->lock);
	*s = m->s;
	pthread_mutex_unlock(&m->lock);
}

const char *kv_mem_error(struct kv_mem *m)
{
	return m->err;
}
