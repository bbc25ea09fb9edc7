/* SPDX-License-Identifier: MIT */
/*
 * kvm_internal: the KVM backend's private state and the contracts between
 * its files (vcpu_kvm.c, kvm_boot.c, kvm_dev.c, kvm_stats.c, backend_kvm.c).
 * Only vcpu_kvm.c, kvm_boot.c and kvm_stats.c include <linux/kvm.h>; this
 * header does not, so the runner and tests stay free of it.
 *
 * Guest physical memory map (below 4 GiB, as a PC):
 *   0x00000000  RAM (the real-mode IVT and BDA area is left alone)
 *   0x00000500  GDT for the 64-bit boot entry
 *   0x00007000  boot_params (the "zero page")
 *   0x00009000  boot page tables: PML4, PDPT, 4 PDs: 4 GiB identity, 2 MiB
 *   0x00020000  kernel command line
 *   0x0009fc00  reserved to 0x000a0000 (EBDA)
 *   0x000f0000  reserved to 0x00100000 (BIOS area: the MP table)
 *   0x00100000  the protected-mode kernel, then RAM up to memory
 *   (end)       the initramfs, page-aligned at the top of RAM
 *   0xfec00000  IOAPIC, 0xfee00000 LAPIC (in-kernel irqchip)
 * Guest RAM is at most KV_RAM_MAX so it never meets the 32-bit hole.
 *
 * I/O ports served (everything else reads as all-ones and ignores writes):
 *   0x3f8-0x3ff  16550 UART, IRQ 4: the console
 *   0x0064       i8042 status (reads 0); writing 0xfe is the guest's reset
 *   0x0cf8/0cfc  PCI configuration mechanism 1: 00:00.0 host bridge,
 *                00:01.0 virtio-balloon (legacy), I/O BAR at KV_VIRTIO_IO
 *   0x0510       debug exit: a write ends the guest with that status
 *                (the hand-assembled test guest's way out)
 */
#ifndef VMM_CORE_KVM_INTERNAL_H
#define VMM_CORE_KVM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "balloon-driver/balloon.h"
#include "vmm-core/vmm.h"

#define KV_RAM_MAX	  (3ull << 30) /* guest RAM stays below the PCI hole */
#define KV_MAX_VCPUS	  8u
#define KV_GDT_ADDR	  0x500ull
#define KV_ZERO_PAGE	  0x7000ull
#define KV_PML4_ADDR	  0x9000ull
#define KV_CMDLINE_ADDR	  0x20000ull
#define KV_CMDLINE_MAX	  4096u
#define KV_EBDA_START	  0x9fc00ull
#define KV_BIOS_START	  0xf0000ull
#define KV_KERNEL_ADDR	  0x100000ull
#define KV_IOAPIC_ADDR	  0xfec00000u
#define KV_LAPIC_ADDR	  0xfee00000u

#define KV_SERIAL_PORT	  0x3f8u
#define KV_SERIAL_IRQ	  4u
#define KV_I8042_PORT	  0x64u
#define KV_PCI_CONF_ADDR  0xcf8u
#define KV_PCI_CONF_DATA  0xcfcu
#define KV_VIRTIO_IO	  0xc000u /* balloon BAR0 */
#define KV_VIRTIO_IO_SIZE 0x20u
#define KV_VIRTIO_IRQ	  5u
#define KV_VIRTIO_SLOT	  1u
#define KV_DEBUG_EXIT	  0x510u
#define KV_BALLOON_RATE	  25600u /* target movement: 100 MiB/s of pages */

/* The kernel command line every Linux guest starts with (as kvmtool's on
 * x86): the console on the UART, no ACPI (the MP table describes the
 * machine), legacy PIC interrupts, PCI through mechanism 1, the reset
 * through the keyboard controller (memvisor's sign that the guest is
 * done), no waiting on a panic, and an i8042 that is not probed for. */
#define KV_LINUX_CMDLINE                                                                           \
	"console=ttyS0 earlyprintk=serial noapic noacpi pci=conf1 reboot=k panic=-1 "              \
	"i8042.direct=1 i8042.dumbkbd=1 i8042.nopnp=1 i8042.noaux=1 quiet"

/* How a guest ended. */
enum kv_end {
	KV_END_RUNNING = 0,
	KV_END_RESET,	   /* the guest reset the machine (reboot, poweroff) */
	KV_END_DEBUG_EXIT, /* a write to KV_DEBUG_EXIT */
	KV_END_SHUTDOWN,   /* triple fault */
	KV_END_ERROR,	   /* an exit memvisor cannot serve, or an ioctl failed */
	KV_END_STOPPED,	   /* memvisor stopped it (timeout, teardown) */
};

/* 16550 UART state (kvm_dev.c). */
struct kv_serial {
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool irq_level;	  /* what we told the irqchip */
	bool thri;	  /* a THR-empty interrupt is pending */
	uint8_t rx[1024]; /* bytes for the guest to read (console input) */
	unsigned rx_head, rx_len;
	char line[512]; /* the console line being assembled */
	unsigned len;
};

/* PCI configuration mechanism 1 and the balloon's legacy transport. */
struct kv_pci {
	uint32_t addr;	    /* 0xcf8 latch */
	uint16_t command;   /* balloon's command register */
	uint32_t bar0;	    /* balloon's BAR0 as the guest wrote it */
	uint16_t queue_sel; /* legacy QUEUE_SEL */
	uint8_t isr;	    /* legacy ISR: BALLOON_ISR_* pending */
	bool irq_level;
	uint32_t guest_features;
};

/* One guest's console protocol lines (kvm_dev.c parses, backend_kvm.c reads).
 * The in-guest program prints "@memvisor KEY=VALUE ..." lines. */
#define KV_RESULT_MAX 48
struct kv_results {
	char key[KV_RESULT_MAX][32];
	char val[KV_RESULT_MAX][96];
	unsigned n;
	bool done;	/* "@memvisor done" seen */
	bool panic;	/* "Kernel panic" seen on the console */
	char last[256]; /* last console line, for messages */
	uint64_t lines; /* console lines */
	uint64_t bytes; /* console bytes */
};

struct kv_vcpu {
	struct kv_vm *vm; /* back pointer */
	unsigned id;
	int fd;
	int stats_fd; /* KVM_GET_STATS_FD, opened before the thread starts:
			 ioctls on fd wait for KVM_RUN, reading this does not */
	void *run;    /* struct kvm_run, mmap'ed */
	size_t run_size;
	pthread_t thread;
	bool started;
	uint64_t io_exits, mmio_exits, other_exits; /* seen in userspace */
};

struct kv_vm_params {
	const char *name;
	uint64_t memory; /* bytes, a multiple of 2 MiB, <= KV_RAM_MAX */
	unsigned vcpus;
	bool balloon;	       /* put a virtio-balloon on PCI */
	uint64_t balloon_min;  /* pages the balloon always leaves the guest */
	uint64_t balloon_rate; /* target movement, pages/s (0: at once) */
	bool balloon_oom;      /* offer F_DEFLATE_ON_OOM */
	int pin_cpu;	       /* host CPU for every vCPU thread, -1: any */
	bool dirty_log;	       /* log writes for working-set sampling */
	bool anon;	       /* RAM is private anonymous memory marked
				  MADV_MERGEABLE (Linux's KSM), not a memfd */
	FILE *console;	       /* copy of the guest's console, or NULL */
	bool console_echo;     /* also to stderr, prefixed with the name */
};

struct kv_wss;

struct kv_vm {
	struct kv_vm_params p;
	char name[VMM_NAME_MAX];
	int kv_fd, vm_fd, mem_fd, stats_fd;
	uint8_t *ram; /* the memfd, mapped shared (or anonymous: p.anon, mem_fd -1) */
	uint64_t ram_size;
	bool dirty_log; /* KVM logs writes to the slot (manual protect) */
	unsigned nvcpus;
	struct kv_vcpu vcpu[KV_MAX_VCPUS];
	/* boot state for vCPU 0, set by the loaders */
	bool boot_linux; /* 64-bit Linux entry; else 16-bit real mode */
	uint64_t entry;	 /* rip (or ip in real mode, cs = 0) */
	/* devices, under dev_lock */
	pthread_mutex_t dev_lock;
	struct kv_serial serial;
	struct kv_pci pci;
	struct balloon *balloon;
	struct kv_results res;
	uint64_t stats_pending; /* stats requests with none to return */
	/* end of the guest */
	pthread_mutex_t end_lock;
	pthread_cond_t end_cond;
	_Atomic int end; /* enum kv_end, first writer wins */
	int end_status;	 /* debug-exit value */
	char err[256];
	uint64_t started_ns, ended_ns;
	struct kv_mem *mem; /* its sharing and host swap (kvm_mem.c), or NULL */
};

/* ---- vcpu_kvm.c ------------------------------------------------------ */

/* Create a VM: /dev/kvm, in-kernel irqchip and PIT, a memfd of p->memory
 * as memory slot 0, its vCPUs (not yet running), and the devices. Returns
 * NULL with err filled ("/dev/kvm: No such file or directory", ...). */
struct kv_vm *kv_vm_create(const struct kv_vm_params *p, char *err, size_t errlen);
/* Stop the vCPUs if running, free everything. NULL is fine. */
void kv_vm_destroy(struct kv_vm *vm);
/* Start the vCPU threads. 0 or -errno with vm->err set. */
int kv_vm_start(struct kv_vm *vm) MUST_CHECK;
/* Wait until the guest ended or timeout_ms passed. Returns the kv_end
 * (KV_END_RUNNING on timeout). */
int kv_vm_wait(struct kv_vm *vm, uint64_t timeout_ms);
/* End the guest as `why` (first end wins) and kick the vCPUs out. */
void kv_vm_end(struct kv_vm *vm, int why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Host pointer to [gpa, gpa + len) of guest RAM, or NULL when it is not
 * all inside RAM (overflow checked). */
void *kv_vm_gpa(struct kv_vm *vm, uint64_t gpa, uint64_t len);
/* Drive irq (a GSI of the in-kernel PIC/IOAPIC) to level. 0 or -errno. */
int kv_vm_irq_line(struct kv_vm *vm, unsigned irq, int level);
/* Bytes of the memfd that hold memory (st_blocks * 512). */
uint64_t kv_vm_ram_allocated(const struct kv_vm *vm);
/* Pages of guest frames [pfn, pfn + n) that hold memory in the memfd
 * (found with SEEK_DATA / SEEK_HOLE). */
uint64_t kv_vm_ram_allocated_range(const struct kv_vm *vm, uint64_t pfn, uint64_t n);
/* Free guest frames [pfn, pfn + n): punch a hole in the memfd; with
 * vm->mem, shared pages are the guest's own (empty) again and swapped ones
 * lose their slots too (kv_mem_discard). 0/-errno. */
int kv_vm_discard(struct kv_vm *vm, uint64_t pfn, uint64_t n) MUST_CHECK;
/*
 * Dirty logging for working-set sampling, when vm->dirty_log: the slot
 * logs writes with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and INITIALLY_SET,
 * so every page starts dirty and writable and costs nothing; only pages
 * cleared with kv_vm_dirty_clear are write-protected, and their next
 * write (one exit) sets their bit again. kv_vm_dirty_get copies the
 * bitmap (one bit per page, ram_size / 2^18 words) without clearing it.
 * Both 0 or -errno; neither waits for a running vCPU.
 */
int kv_vm_dirty_get(struct kv_vm *vm, uint64_t *bitmap) MUST_CHECK;
/* Clear and write-protect the pages of mask in [first, first + 64); first
 * is a multiple of 64. */
int kv_vm_dirty_clear(struct kv_vm *vm, uint64_t first, uint64_t mask) MUST_CHECK;
/* Wall-clock nanoseconds (CLOCK_MONOTONIC). */
uint64_t kv_now_ns(void);

/* ---- kvm_boot.c ------------------------------------------------------- */

/* Load a bzImage from kernel (path) with initrd (path or NULL) and cmdline
 * into vm's RAM per the x86 boot protocol, with an e820 map and an MP
 * table, and set vm->entry. Returns 0 or -errno with err naming the file
 * and what is wrong with it. */
int kv_boot_linux(struct kv_vm *vm, const char *kernel, const char *initrd, const char *cmdline,
		  char *err, size_t errlen) MUST_CHECK;
/* The same with files added to the initramfs: an uncompressed newc
 * archive after the one at initrd, holding each file at its name ("trace/
 * 0.mvt": one folder level at most). For the trace workload. */
#define KV_BOOT_FILES_MAX 16
struct kv_boot_file {
	const char *name; /* in the guest's root */
	const char *path; /* on the host */
};
int kv_boot_linux_files(struct kv_vm *vm, const char *kernel, const char *initrd,
			const struct kv_boot_file *files, unsigned nfiles, const char *cmdline,
			char *err, size_t errlen) MUST_CHECK;
/* Check that path is a bzImage this loader can boot (64-bit entry, boot
 * protocol 2.12 or later). 0 or -errno with err filled. */
int kv_boot_check_kernel(const char *path, char *err, size_t errlen) MUST_CHECK;
/* Load a flat real-mode image at gpa and start there (cs = 0, ip = gpa).
 * 0 or -EINVAL when it does not fit below 640 KiB. */
int kv_boot_flat(struct kv_vm *vm, uint64_t gpa, const void *code, size_t len) MUST_CHECK;
/* Set vCPU i's registers for the entry the loader chose (vcpu_kvm.c calls
 * it before the first KVM_RUN). 0 or -errno. */
int kv_boot_vcpu_regs(struct kv_vm *vm, unsigned i) MUST_CHECK;
/* Give vCPU fd the host's supported CPUID with its APIC ID. 0 or -errno. */
int kv_boot_cpuid(struct kv_vm *vm, int vcpu_fd, unsigned id) MUST_CHECK;

/* ---- kvm_dev.c -------------------------------------------------------- */

/* Serve a port I/O exit: size 1, 2 or 4 bytes at data. Takes dev_lock. */
void kv_dev_pio(struct kv_vm *vm, uint16_t port, bool out, uint8_t *data, unsigned size);
/* Create the balloon device if vm->p.balloon. 0 or -errno. */
int kv_dev_init(struct kv_vm *vm) MUST_CHECK;
void kv_dev_fini(struct kv_vm *vm);
/* Policy side, under dev_lock: set the balloon target (pages), tick it,
 * ask for statistics; copy the counters. Without a balloon they do
 * nothing and the counters are zero. */
uint64_t kv_dev_balloon_target(struct kv_vm *vm, uint64_t pages);
void kv_dev_balloon_tick(struct kv_vm *vm, uint64_t elapsed_ns);
void kv_dev_balloon_stats(struct kv_vm *vm);
void kv_dev_balloon_counters(struct kv_vm *vm, struct balloon_counters *c);
/* Type s on the guest's console (its ttyS0 input). Returns the bytes
 * queued: fewer than strlen(s) when the guest has not read enough. */
size_t kv_dev_console_send(struct kv_vm *vm, const char *s);
/* The value of result `key` the guest printed, or NULL (under dev_lock,
 * copied into buf). */
const char *kv_dev_result(struct kv_vm *vm, const char *key, char *buf, size_t len);

/* ---- kvm_stats.c ------------------------------------------------------ */

/* KVM's statistics of a VM, summed over its vCPUs: from the binary stats
 * interface (KVM_GET_STATS_FD) where the kernel has it. */
#define KV_STAT_NAMES                                                                              \
	X(exits)                                                                                   \
	X(io_exits)                                                                                \
	X(mmio_exits)                                                                              \
	X(halt_exits)                                                                              \
	X(irq_exits)                                                                               \
	X(signal_exits)                                                                            \
	X(pf_fixed)                                                                                \
	X(pf_taken)                                                                                \
	X(pf_guest)                                                                                \
	X(invlpg)                                                                                  \
	X(tlb_flush)                                                                               \
	X(insn_emulation)                                                                          \
	X(irq_injections)                                                                          \
	X(nmi_injections)                                                                          \
	X(mmu_pte_write)                                                                           \
	X(mmu_cache_miss)                                                                          \
	X(remote_tlb_flush)
enum kv_stat_id {
#define X(n) KV_STAT_##n,
	KV_STAT_NAMES
#undef X
	    KV_STAT_NR
};
struct kv_stats {
	uint64_t v[KV_STAT_NR];
	bool have[KV_STAT_NR]; /* the kernel reports this one */
	bool binary;	       /* read through KVM_GET_STATS_FD */
};
extern const char *const kv_stat_names[KV_STAT_NR];
/* Open the stats files of vm and its vCPUs (vm->stats_fd, vcpu stats_fd;
 * -1 where the kernel has none). Called once, before the vCPUs run: a
 * vCPU ioctl would wait for its KVM_RUN to return. */
void kv_stats_open(struct kv_vm *vm);
/* Read vm's counters (VM-wide and every vCPU's) into st, from the files
 * kv_stats_open opened; never blocks on a running vCPU. 0 or -errno
 * (-ENOTSUP: no binary stats; st is then zero). */
int kv_stats_read(struct kv_vm *vm, struct kv_stats *st) MUST_CHECK;

/* ---- kvm_mem.c -------------------------------------------------------- */

/* Sharing and host swap of a guest's pages, race-free against its vCPUs
 * (userfaultfd write protection; kvm_mem.c says how). */
struct kv_mem;
struct mem_swap;
struct ksm_mem_ops;
struct kv_mem_params {
	int pool_fd;	       /* shared frames: a memfd, frame f at f * 4 KiB; -1: none */
	struct mem_swap *swap; /* the host swap file, or NULL: no swapping */
	bool unprotected;      /* tests only: no write protection (writes get lost) */
};
struct kv_mem_stats {
	uint64_t compares, merges, unshares, remaps;
	uint64_t swap_outs, swap_ins, zero_fills;
	uint64_t faults_wp, faults_missing;
	uint64_t fault_ns, fault_ns_max; /* the fault thread's time per fault */
	uint64_t fault_hist[4];		 /* < 1 us, < 10 us, < 100 us, more */
	/* a merge's steps, ns in all: write-protect, read and compare both
	 * pages (every compare), map the shared frame, punch the page
	 * (every merge); the longest a page stayed write-protected in a
	 * merge or swap-out (what a vCPU writing it could wait) */
	uint64_t ns_protect, ns_compare, ns_remap, ns_punch, stall_ns_max;
	uint64_t merge_errors; /* merges the kernel refused (the page stays) */
	int merge_errno;       /* the first one's errno (ENOMEM: vm.max_map_count) */
};
enum kv_page { KV_PAGE_RESIDENT, KV_PAGE_SHARED, KV_PAGE_SWAPPED };
/* Take over vm's RAM: a userfaultfd over it and its fault thread. NULL
 * with err saying why (no userfaultfd: a privilege; an old kernel). */
struct kv_mem *kv_mem_create(struct kv_vm *vm, const struct kv_mem_params *p, char *err,
			     size_t errlen);
/* Stop the fault thread, free the swap slots still held. Before the RAM
 * is unmapped. NULL is fine. */
void kv_mem_destroy(struct kv_mem *m);
/* Share resident gfn on pool frame `frame` if their bytes are the same: 1
 * shared, 0 not the same, -EBUSY not resident, -errno. */
int kv_mem_merge(struct kv_mem *m, uint64_t gfn, uint64_t frame) MUST_CHECK;
/* Shared gfn back into the guest's own memory. 0 or -errno. */
int kv_mem_unshare(struct kv_mem *m, uint64_t gfn) MUST_CHECK;
/* Resident gfn out to the swap file: 1 swapped, 0 not resident, -errno
 * (the page stays; mem_swap_error() says why). */
int kv_mem_swap_out(struct kv_mem *m, uint64_t gfn) MUST_CHECK;
/* gfn's state and its frame (shared) or slot (swapped) in *val. */
enum kv_page kv_mem_state(struct kv_mem *m, uint64_t gfn, uint64_t *val);
void kv_mem_stats(struct kv_mem *m, struct kv_mem_stats *s);
/* Free [gfn, gfn + n) as the balloon or a guest's end does: shared pages
 * are mapped back to the guest's (empty) memory, their references left
 * for kv_mem_drain; swapped pages lose their slots; then the memfd range
 * is punched. 0 or -errno. */
int kv_mem_discard(struct kv_mem *m, uint64_t gfn, uint64_t n) MUST_CHECK;
/* The pages taken off shared frames since the last call: fn(ctx, gfn, f,
 * written) for each, written when a guest write broke the share (a
 * copy-on-write break), else the page was discarded. The sharing engine
 * then drops the reference (ksm_unshared). Until then such a page is
 * neither merged nor swapped out again, and still counts as holding f
 * (ksm's ops). */
void kv_mem_drain(struct kv_mem *m, void (*fn)(void *ctx, uint64_t gfn, uint64_t f, bool written),
		  void *ctx);
/* The sharing engine's view of the guest (ksm_guest_add_mem, ctx the
 * kv_mem): resident pages read from the memfd, merges by kv_mem_merge. */
extern const struct ksm_mem_ops kv_mem_ksm_ops;
/* The fault thread's first failure ("" if none). */
const char *kv_mem_error(struct kv_mem *m);
/* Is every page mapped as its state says (kvm_audit.c)? The number of
 * pages that are not, the first described in msg; or -errno. */
int kv_mem_audit(struct kv_mem *m, char *msg, size_t len);

/* ---- kvm_dump.c ------------------------------------------------------- */

/* Write every page vm holds memory for (its memfd's, shared, swapped out;
 * resident, for anonymous RAM) to fd, one after another; *pages says how
 * many. 0 or -errno. */
int kv_vm_dump(struct kv_vm *vm, int fd, uint64_t *pages) MUST_CHECK;

/* ---- kvm_wss.c -------------------------------------------------------- */

/* A working-set sampler of vm through its dirty log (vm->dirty_log must be
 * on): `samples` pages per period, the estimator's gains, a seed. NULL with
 * errno (ENOTSUP: no dirty log; EINVAL: bad parameters; EIO: KVM refused
 * to clear the log). */
struct kv_wss *kv_wss_create(struct kv_vm *vm, unsigned samples, double slow_gain, double fast_gain,
			     uint64_t seed);
void kv_wss_destroy(struct kv_wss *w);
/* End a period: count the sample's pages written, update the averages,
 * draw a new sample. 0 or -errno. */
int kv_wss_period(struct kv_wss *w) MUST_CHECK;
/* The estimates now (fractions of the guest's pages). 0 or -errno. */
int kv_wss_estimate(struct kv_wss *w, struct mem_wss_estimate *e) MUST_CHECK;

/* ---- kvm_mode.c ------------------------------------------------------- */

/* What provides /dev/kvm. Only a hardware vendor module boots stock Linux
 * guests; PVM (kvm_pvm) runs hand-assembled real-mode guests alone. */
enum kv_host_kind {
	KV_HOST_NONE,	  /* no /dev/kvm character device */
	KV_HOST_HARDWARE, /* kvm_amd on an svm CPU, kvm_intel on a vmx CPU */
	KV_HOST_PVM,	  /* kvm_pvm: the PVM software hypervisor */
	KV_HOST_UNKNOWN,  /* another module, or a vendor module without its flag */
};

struct kv_host {
	enum kv_host_kind kind;
	char module[64];      /* kvm_amd, kvm_intel, kvm_pvm, another, or "" */
	const char *param;    /* "npt" or "ept" for a vendor module, else NULL */
	const char *vendor;   /* "AMD SVM" or "Intel VT-x" with param */
	const char *cpu_flag; /* "svm", "vmx", or NULL: the CPU's own flag */
	bool nested;	      /* the vendor module's npt/ept is on */
	bool dev;	      /* /dev/kvm is a character device */
};

/* Read what provides /dev/kvm from ROOT/sys/module, ROOT/proc/cpuinfo and
 * ROOT/dev/kvm; root "" is this host. */
void kv_host_probe(const char *root, struct kv_host *h);
/* One word: "nested" or "shadow" (hardware), "software" (PVM), "unknown",
 * or "none". */
const char *kv_host_mode(const struct kv_host *h);
/* What h means for guests, as a sentence or two, into buf; snprintf's
 * return. */
int kv_host_explain(const struct kv_host *h, char *buf, size_t len);

#endif
