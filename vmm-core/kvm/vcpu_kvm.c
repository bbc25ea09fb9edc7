/* SPDX-License-Identifier: MIT */
/* vcpu_kvm: the KVM backend: one VM per guest, memfd RAM, a thread per vCPU. */
/*
 * A guest on this backend is a KVM virtual machine of its own, so many
 * guests live in one memvisor process side by side:
 *
 *   - RAM is one memfd per guest, mapped shared into memvisor and given to
 *     KVM as memory slot 0 at guest-physical 0. A file, not anonymous
 *     memory, so that a ballooned page can be freed for real by punching a
 *     hole in it (fallocate PUNCH_HOLE): MADV_DONTNEED on a shared mapping
 *     only drops the mapping and leaves the page in the file. The memfd's
 *     allocated blocks (st_blocks) are what the guest costs the host.
 *   - The interrupt controllers (PIC, IOAPIC, LAPICs) and the PIT are
 *     KVM's in-kernel ones (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2): the
 *     guest's timer ticks and IPIs never come out to memvisor.
 *   - Each vCPU runs KVM_RUN in its own thread. An exit to userspace is
 *     served on that thread: port I/O goes to the devices (kvm_dev.c,
 *     under the VM's device lock, as two vCPUs may exit at once), a
 *     shutdown, a reset or an exit memvisor cannot serve ends the guest.
 *     Exits KVM serves in the kernel (page faults, HLT, APIC accesses) are
 *     only counted, by KVM (kvm_stats.c).
 *   - Ending a guest (it reset, it hung, memvisor stops it) sets vm->end
 *     once, then makes every vCPU leave KVM_RUN: run->immediate_exit for
 *     one that is about to enter, SIGUSR1 for one inside.
 *
 * backend_kvm.c builds such a VM for each guest of a run and gives it to
 * the runner through the backend ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm-core/kvm/kvm_internal.h"
#include "vmm-core/core/vmm_internal.h"

uint64_t kv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void *kv_vm_gpa(struct kv_vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->ram_size || len > vm->ram_size - gpa)
		return NULL;
	return vm->ram + gpa;
}

int kv_vm_irq_line(struct kv_vm *vm, unsigned irq, int level)
{
	struct kvm_irq_level l = {.irq = irq, .level = level};

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) ? -errno : 0;
}

/* Anonymous RAM's resident pages in [pfn, pfn + n), by mincore (a page
 * KSM merged counts in every guest that maps it). */
static uint64_t anon_resident(const struct kv_vm *vm, uint64_t pfn, uint64_t n)
{
	unsigned char v[4096];
	uint64_t count = 0;

	for (uint64_t i = 0; i < n; i += sizeof(v)) {
		uint64_t k = n - i < sizeof(v) ? n - i : sizeof(v);

		if (mincore(vm->ram + ((pfn + i) << 12), k << 12, v))
			return 0;
		for (uint64_t j = 0; j < k; j++)
			count += v[j] & 1;
	}
	return count;
}

uint64_t kv_vm_ram_allocated(const struct kv_vm *vm)
{
	struct stat st;

	if (vm->p.anon)
		return anon_resident(vm, 0, vm->ram_size >> 12) << 12;
	return fstat(vm->mem_fd, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

uint64_t kv_vm_ram_allocated_range(const struct kv_vm *vm, uint64_t pfn, uint64_t n)
{
	off_t pos = (off_t)(pfn << 12), end = (off_t)((pfn + n) << 12);
	uint64_t bytes = 0;

	if (vm->p.anon)
		return anon_resident(vm, pfn, n);
	while (pos < end) {
		off_t data = lseek(vm->mem_fd, pos, SEEK_DATA), hole;

		if (data < 0 || data >= end)
			break;
		hole = lseek(vm->mem_fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		bytes += (uint64_t)(hole - data);
		pos = hole;
	}
	return bytes >> 12;
}

int kv_vm_discard(struct kv_vm *vm, uint64_t pfn, uint64_t n)
{
	if (pfn > vm->ram_size >> 12 || n > (vm->ram_size >> 12) - pfn)
		return -EINVAL;
	if (vm->mem)
		return kv_mem_discard(vm->mem, pfn, n);
	if (vm->p.anon) /* private anonymous: the next touch reads zeros */
		return madvise(vm->ram + (pfn << 12), n << 12, MADV_DONTNEED) ? -errno : 0;
	if (fallocate(vm->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(pfn << 12),
		      (off_t)(n << 12)))
		return -errno;
	return 0;
}

/* The guest's RAM: a memfd mapped shared, or (p.anon) private anonymous
 * memory that Linux's KSM may merge. 0, or -1 with err filled. */
static int ram_map(struct kv_vm *vm, char *err, size_t errlen)
{
	if (!vm->p.anon) {
		vm->mem_fd = memfd_create(vm->name, MFD_CLOEXEC);
		if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)vm->ram_size)) {
			snprintf(err, errlen, "guest %s: memfd of %llu bytes: %s", vm->name,
				 (unsigned long long)vm->ram_size, strerror(errno));
			return -1;
		}
	}
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       (vm->p.anon ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED) | MAP_NORESERVE,
		       vm->mem_fd, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		snprintf(err, errlen, "guest %s: mmap of its RAM: %s", vm->name, strerror(errno));
		return -1;
	}
	if (vm->p.anon && madvise(vm->ram, vm->ram_size, MADV_MERGEABLE)) {
		snprintf(err, errlen,
			 "guest %s: madvise(MADV_MERGEABLE): %s (a kernel without KSM?)", vm->name,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Manual dirty-log protection with every bit initially set (Linux 5.8 and
 * later): enabling the log then write-protects nothing, so a guest pays
 * only for the pages the working-set sampler clears. Without it, logging
 * would write-protect the whole slot at every read of the log; the guest
 * then runs without a working-set estimate.
 */
static void dirty_log_enable(struct kv_vm *vm)
{
	uint64_t want = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
	struct kvm_enable_cap cap = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, .args = {want}};
	int have = ioctl(vm->kv_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

	vm->dirty_log =
	    have > 0 && ((uint64_t)have & want) == want && !ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
}

int kv_vm_dirty_get(struct kv_vm *vm, uint64_t *bitmap)
{
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = bitmap};

	if (!vm->dirty_log)
		return -ENOTSUP;
	return ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) ? -errno : 0;
}

int kv_vm_dirty_clear(struct kv_vm *vm, uint64_t first, uint64_t mask)
{
	uint64_t pages = vm->ram_size >> 12;
	struct kvm_clear_dirty_log c = {.slot = 0, .first_page = first, .dirty_bitmap = &mask};

	if (!vm->dirty_log)
		return -ENOTSUP;
	if (first % 64 || first >= pages)
		return -EINVAL;
	/* a multiple of 64 pages, or up to the end of the slot */
	c.num_pages = (uint32_t)(pages - first < 64 ? pages - first : 64);
	return ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) ? -errno : 0;
}

static void kick_handler(int sig)
{
	(void)sig; /* only to make KVM_RUN return -EINTR */
}

void kv_vm_end(struct kv_vm *vm, int why, const char *fmt, ...)
{
	int expected = KV_END_RUNNING;
	va_list ap;

	if (!atomic_compare_exchange_strong(&vm->end, &expected, why))
		return; /* the first reason stands */
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
		va_end(ap);
	}
	vm->ended_ns = kv_now_ns();
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct kv_vcpu *c = &vm->vcpu[i];

		if (!c->started)
			continue;
		((struct kvm_run *)c->run)->immediate_exit = 1;
		if (!pthread_equal(c->thread, pthread_self()))
			pthread_kill(c->thread, SIGUSR1);
	}
	pthread_mutex_lock(&vm->end_lock);
	pthread_cond_broadcast(&vm->end_cond);
	pthread_mutex_unlock(&vm->end_lock);
}

/* An exit memvisor serves in userspace. Returns false when the guest ends. */
static bool vcpu_exit(struct kv_vcpu *c, struct kvm_run *run)
{
	struct kv_vm *vm = c->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;

		c->io_exits++;
		for (uint32_t i = 0; i < run->io.count; i++)
			kv_dev_pio(vm, run->io.port, run->io.direction == KVM_EXIT_IO_OUT,
				   data + (size_t)i * run->io.size, run->io.size);
		return true;
	}
	case KVM_EXIT_MMIO:
		/* nothing is mapped there: reads float high, writes vanish */
		c->mmio_exits++;
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		kv_vm_end(vm, KV_END_SHUTDOWN, "guest %s: vCPU %u shut down (triple fault)",
			  vm->name, c->id);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		kv_vm_end(vm, KV_END_RESET, NULL);
		return false;
	case KVM_EXIT_HLT:
		kv_vm_end(vm, KV_END_ERROR, "guest %s: vCPU %u halted with nothing to wake it",
			  vm->name, c->id);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		kv_vm_end(vm, KV_END_ERROR,
			  "guest %s: vCPU %u: VM entry failed, hardware reason 0x%llx", vm->name,
			  c->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		kv_vm_end(vm, KV_END_ERROR, "guest %s: vCPU %u: KVM internal error %u", vm->name,
			  c->id, run->internal.suberror);
		return false;
	default:
		c->other_exits++;
		kv_vm_end(vm, KV_END_ERROR, "guest %s: vCPU %u: unhandled exit reason %u", vm->name,
			  c->id, run->exit_reason);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct kv_vcpu *c = arg;
	struct kv_vm *vm = c->vm;
	struct kvm_run *run = c->run;
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (vm->p.pin_cpu >= 0) {
		cpu_set_t cpus;

		CPU_ZERO(&cpus);
		CPU_SET(vm->p.pin_cpu, &cpus);
		if (pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus))
			fprintf(stderr, "guest %s: vCPU %u: cannot pin to CPU %d\n", vm->name,
				c->id, vm->p.pin_cpu);
	}
	r = kv_boot_vcpu_regs(vm, c->id);
	if (r) {
		kv_vm_end(vm, KV_END_ERROR, "guest %s: vCPU %u registers: %s", vm->name, c->id,
			  strerror(-r));
		return NULL;
	}
	while (atomic_load(&vm->end) == KV_END_RUNNING) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			kv_vm_end(vm, KV_END_ERROR, "guest %s: vCPU %u: KVM_RUN: %s", vm->name,
				  c->id, strerror(errno));
			break;
		}
		if (!vcpu_exit(c, run))
			break;
	}
	return NULL;
}

int kv_vm_start(struct kv_vm *vm)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigset_t set, old;
	int r = 0;

	/* Process-wide and idempotent: every VM installs the same no-op. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return -errno;
	/* Threads start with SIGUSR1 blocked and unblock it themselves. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	vm->started_ns = kv_now_ns();
	for (unsigned i = 0; i < vm->nvcpus && !r; i++) {
		r = -pthread_create(&vm->vcpu[i].thread, NULL, vcpu_thread, &vm->vcpu[i]);
		if (!r)
			vm->vcpu[i].started = true;
		else
			snprintf(vm->err, sizeof(vm->err), "guest %s: vCPU thread: %s", vm->name,
				 strerror(-r));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int kv_vm_wait(struct kv_vm *vm, uint64_t timeout_ms)
{
	struct timespec ts;
	int end;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(timeout_ms / 1000);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->end_lock);
	while ((end = atomic_load(&vm->end)) == KV_END_RUNNING)
		if (pthread_cond_timedwait(&vm->end_cond, &vm->end_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&vm->end_lock);
	return atomic_load(&vm->end);
}

static int vm_ioctl(struct kv_vm *vm, unsigned long req, unsigned long arg, const char *what,
		    char *err, size_t errlen)
{
	int r = ioctl(vm->vm_fd, req, arg);

	if (r < 0)
		snprintf(err, errlen, "guest %s: %s: %s", vm->name, what, strerror(errno));
	return r;
}

/*
 * What a PC BIOS leaves in the two 8259s: vectors 0x08 and 0x70 and every
 * line masked, so that a device interrupt before the kernel set up its
 * own PIC (the balloon's, say) cannot arrive on an exception vector. KVM's
 * reset state has vector base 0 and nothing masked.
 */
static int pic_like_bios(struct kv_vm *vm)
{
	for (unsigned chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_PIC_SLAVE; chip++) {
		struct kvm_irqchip c = {.chip_id = chip};

		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c))
			return -errno;
		c.chip.pic.imr = 0xff;
		c.chip.pic.irq_base = chip == KVM_IRQCHIP_PIC_MASTER ? 0x08 : 0x70;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c))
			return -errno;
	}
	return 0;
}

/* /dev/kvm, the VM, its irqchip, PIT and memory slot. */
static int vm_setup(struct kv_vm *vm, char *err, size_t errlen)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	struct kvm_userspace_memory_region slot = {0};
	uint64_t ident = 0xfffbc000ull;
	int v;

	vm->kv_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kv_fd < 0) {
		snprintf(err, errlen, "guest %s: /dev/kvm: %s", vm->name, strerror(errno));
		return -1;
	}
	v = ioctl(vm->kv_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(err, errlen, "guest %s: /dev/kvm: API version %d, expected %d", vm->name,
			 v, KVM_API_VERSION);
		return -1;
	}
	if (ioctl(vm->kv_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0 ||
	    ioctl(vm->kv_fd, KVM_CHECK_EXTENSION, KVM_CAP_PIT2) <= 0 ||
	    ioctl(vm->kv_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		snprintf(err, errlen,
			 "guest %s: /dev/kvm lacks the in-kernel irqchip, PIT2 or immediate exit",
			 vm->name);
		return -1;
	}
	do
		vm->vm_fd = ioctl(vm->kv_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		snprintf(err, errlen, "guest %s: KVM_CREATE_VM: %s", vm->name, strerror(errno));
		return -1;
	}
	if (vm_ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul, "KVM_SET_TSS_ADDR", err, errlen) < 0 ||
	    vm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&ident,
		     "KVM_SET_IDENTITY_MAP_ADDR", err, errlen) < 0 ||
	    vm_ioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP", err, errlen) < 0 ||
	    vm_ioctl(vm, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2", err, errlen) < 0)
		return -1;
	if (pic_like_bios(vm)) {
		snprintf(err, errlen, "guest %s: KVM_SET_IRQCHIP: %s", vm->name, strerror(errno));
		return -1;
	}
	if (ram_map(vm, err, errlen))
		return -1;
	if (vm->p.dirty_log)
		dirty_log_enable(vm);
	slot.slot = 0;
	slot.flags = vm->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0;
	slot.guest_phys_addr = 0;
	slot.memory_size = vm->ram_size;
	slot.userspace_addr = (uintptr_t)vm->ram;
	return vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&slot,
			"KVM_SET_USER_MEMORY_REGION", err, errlen) < 0
		   ? -1
		   : 0;
}

static int vcpus_setup(struct kv_vm *vm, char *err, size_t errlen)
{
	int mmap_size = ioctl(vm->kv_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (mmap_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "guest %s: KVM_GET_VCPU_MMAP_SIZE: %s", vm->name,
			 strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct kv_vcpu *c = &vm->vcpu[i];
		int r;

		c->vm = vm;
		c->id = i;
		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0) {
			snprintf(err, errlen, "guest %s: KVM_CREATE_VCPU %u: %s", vm->name, i,
				 strerror(errno));
			return -1;
		}
		c->run_size = (size_t)mmap_size;
		c->run = mmap(NULL, c->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (c->run == MAP_FAILED) {
			c->run = NULL;
			snprintf(err, errlen, "guest %s: vCPU %u kvm_run: %s", vm->name, i,
				 strerror(errno));
			return -1;
		}
		r = kv_boot_cpuid(vm, c->fd, i);
		if (r) {
			snprintf(err, errlen, "guest %s: vCPU %u CPUID: %s", vm->name, i,
				 strerror(-r));
			return -1;
		}
	}
	return 0;
}

struct kv_vm *kv_vm_create(const struct kv_vm_params *p, char *err, size_t errlen)
{
	struct kv_vm *vm;

	if (!p->memory || p->memory % (2u << 20) || p->memory > KV_RAM_MAX ||
	    p->memory < (16u << 20)) {
		snprintf(err, errlen,
			 "guest %s: memory must be a multiple of 2M from 16M to 3G on kvm (got "
			 "%llu bytes)",
			 p->name, (unsigned long long)p->memory);
		return NULL;
	}
	if (!p->vcpus || p->vcpus > KV_MAX_VCPUS) {
		snprintf(err, errlen, "guest %s: vcpus must be 1 to %u", p->name, KV_MAX_VCPUS);
		return NULL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "guest %s: out of memory", p->name);
		return NULL;
	}
	vm->p = *p;
	snprintf(vm->name, sizeof(vm->name), "%s", p->name);
	vm->p.name = vm->name;
	vm->kv_fd = vm->vm_fd = vm->mem_fd = vm->stats_fd = -1;
	vm->ram_size = p->memory;
	vm->nvcpus = p->vcpus;
	for (unsigned i = 0; i < KV_MAX_VCPUS; i++)
		vm->vcpu[i].fd = vm->vcpu[i].stats_fd = -1;
	pthread_mutex_init(&vm->dev_lock, NULL);
	pthread_mutex_init(&vm->end_lock, NULL);
	pthread_cond_init(&vm->end_cond, NULL);
	if (vm_setup(vm, err, errlen) || vcpus_setup(vm, err, errlen))
		goto fail;
	kv_stats_open(vm);
	if (kv_dev_init(vm)) {
		snprintf(err, errlen, "guest %s: balloon device: %s", vm->name, strerror(errno));
		goto fail;
	}
	return vm;
fail:
	kv_vm_destroy(vm);
	return NULL;
}

void kv_vm_destroy(struct kv_vm *vm)
{
	if (!vm)
		return;
	kv_vm_end(vm, KV_END_STOPPED, NULL);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (vm->vcpu[i].started)
			pthread_join(vm->vcpu[i].thread, NULL);
	kv_dev_fini(vm);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpu[i].run)
			munmap(vm->vcpu[i].run, vm->vcpu[i].run_size);
		if (vm->vcpu[i].fd >= 0)
			close(vm->vcpu[i].fd);
		if (vm->vcpu[i].stats_fd >= 0)
			close(vm->vcpu[i].stats_fd);
	}
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->stats_fd >= 0)
		close(vm->stats_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kv_fd >= 0)
		close(vm->kv_fd);
	pthread_cond_destroy(&vm->end_cond);
	pthread_mutex_destroy(&vm->end_lock);
	pthread_mutex_destroy(&vm->dev_lock);
	free(vm);
}
