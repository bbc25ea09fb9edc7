/* SPDX-License-Identifier: MIT */
/* kvm_boot: the x86 Linux boot protocol, the e820 map, the MP table, CPUID. */
/*
 * Linux is entered at its 64-bit entry point, as the boot protocol allows
 * since version 2.12 (Documentation/arch/x86/boot.rst, "64-bit Boot
 * Protocol"): no real-mode setup code runs, so memvisor plays the
 * bootloader and the BIOS both:
 *
 *   - the bzImage's setup header (offset 0x1f1, up to 0x202 + the byte at
 *     0x201) is copied into boot_params (the "zero page"), completed with
 *     the loader type, the command line and initramfs addresses and an
 *     e820 map, and its address goes in %rsi;
 *   - the protected-mode kernel (after the 1 + setup_sects sectors of
 *     real-mode code) is loaded at 1 MiB; it is relocatable and moves
 *     itself to where it was linked;
 *   - the initramfs goes at the top of RAM (below initrd_addr_max), page
 *     aligned, clear of the kernel's init_size;
 *   - paging is on with an identity map of the first 4 GiB in 2 MiB pages,
 *     a GDT with the __BOOT_CS (0x10) and __BOOT_DS (0x18) flat segments,
 *     long mode, interrupts off.
 *
 * The e820 map: RAM [0, 0x9fc00), reserved EBDA [0x9fc00, 0xa0000),
 * reserved BIOS area [0xf0000, 0x100000) where the MP table lives, RAM
 * [1 MiB, end). The MP table (Intel MultiProcessor Specification 1.4)
 * lists the CPUs, a PCI bus 0 and an ISA bus, the IOAPIC and the balloon's
 * INTA routing, which is how a kernel without ACPI tables finds its CPUs
 * (kvmtool does the same on x86).
 *
 * CPUID is the host's supported set (KVM_GET_SUPPORTED_CPUID) with each
 * vCPU's APIC ID and the hypervisor bit, so the guest uses kvm-clock.
 *
 * The hand-assembled test guest instead starts in real mode at a flat
 * image (kv_boot_flat): cs = 0, ip = its address.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm-core/kvm/kvm_internal.h"

/* Setup header fields, as offsets into the bzImage and into boot_params. */
#define BP_SETUP_SECTS	   0x1f1
#define BP_BOOT_FLAG	   0x1fe
#define BP_HEADER	   0x202
#define BP_VERSION	   0x206
#define BP_TYPE_OF_LOADER  0x210
#define BP_LOADFLAGS	   0x211
#define BP_RAMDISK_IMAGE   0x218
#define BP_RAMDISK_SIZE	   0x21c
#define BP_HEAP_END_PTR	   0x224
#define BP_CMD_LINE_PTR	   0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_XLOADFLAGS	   0x236
#define BP_CMDLINE_SIZE	   0x238
#define BP_INIT_SIZE	   0x260
#define BP_E820_ENTRIES	   0x1e8
#define BP_E820_TABLE	   0x2d0
#define BP_EXT_RAMDISK_IMG 0x0c0
#define BP_EXT_RAMDISK_SZ  0x0c4
#define LOADED_HIGH	   0x01
#define CAN_USE_HEAP	   0x80
#define XLF_KERNEL_64	   0x01
#define E820_RAM	   1u
#define E820_RESERVED	   2u

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}
static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}
static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Read a whole file. NULL with err filled. */
static uint8_t *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r <= 0) {
			snprintf(err, errlen, "%s: %s", path, r ? strerror(errno) : "short read");
			free(buf);
			buf = NULL;
			break;
		}
		got += (size_t)r;
	}
	if (!buf && got == 0 && !err[0])
		snprintf(err, errlen, "%s: out of memory", path);
	close(fd);
	*len = got;
	return buf;
}

/* Check the setup header of a bzImage image of len bytes. */
static int check_header(const char *path, const uint8_t *k, size_t len, char *err, size_t errlen)
{
	unsigned sects;

	if (len < 0x1000 || get16(k + BP_BOOT_FLAG) != 0xaa55 || memcmp(k + BP_HEADER, "HdrS", 4)) {
		snprintf(err, errlen,
			 "%s: not a Linux bzImage (no boot sector flag or HdrS header)", path);
		return -EINVAL;
	}
	if (get16(k + BP_VERSION) < 0x020c || !(get16(k + BP_XLOADFLAGS) & XLF_KERNEL_64)) {
		snprintf(err, errlen,
			 "%s: boot protocol %u.%02u without a 64-bit entry point (2.12 with "
			 "XLF_KERNEL_64 needed)",
			 path, k[BP_VERSION + 1], k[BP_VERSION]);
		return -EINVAL;
	}
	sects = k[BP_SETUP_SECTS] ? k[BP_SETUP_SECTS] : 4;
	if ((size_t)(sects + 1) * 512 >= len) {
		snprintf(err, errlen, "%s: truncated: %zu bytes, setup alone is %u", path, len,
			 (sects + 1) * 512);
		return -EINVAL;
	}
	return 0;
}

int kv_boot_check_kernel(const char *path, char *err, size_t errlen)
{
	size_t len;
	uint8_t *k;
	int r;

	err[0] = 0;
	k = slurp(path, &len, err, errlen);
	if (!k)
		return -ENOENT;
	r = check_header(path, k, len, err, errlen);
	free(k);
	return r;
}

static uint8_t mp_checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return (uint8_t)-s;
}

/* The MP configuration table and floating pointer at KV_BIOS_START. */
static void mp_table(struct kv_vm *vm)
{
	uint8_t *base = kv_vm_gpa(vm, KV_BIOS_START, 0x1000), *p = base + 44;
	unsigned n = 0, ioapic = vm->nvcpus + 1;

	memset(base, 0, 0x1000);
	for (unsigned i = 0; i < vm->nvcpus; i++, n++, p += 20) {
		p[0] = 0; /* processor */
		p[1] = (uint8_t)i;
		p[2] = 0x14; /* xAPIC version */
		p[3] = (uint8_t)(1 | (i == 0 ? 2 : 0));
		put32(p + 4, 0x600);
		put32(p + 8, 0x201);
	}
	p[0] = 1, p[1] = 0, memcpy(p + 2, "PCI   ", 6), p += 8, n++;
	p[0] = 1, p[1] = 1, memcpy(p + 2, "ISA   ", 6), p += 8, n++;
	p[0] = 2, p[1] = (uint8_t)ioapic, p[2] = 0x14, p[3] = 1;
	put32(p + 4, KV_IOAPIC_ADDR), p += 8, n++;
	/* balloon INTA (bus 0, slot KV_VIRTIO_SLOT) -> IOAPIC pin KV_VIRTIO_IRQ */
	p[0] = 3, p[1] = 0, put16(p + 2, 0), p[4] = 0, p[5] = KV_VIRTIO_SLOT << 2;
	p[6] = (uint8_t)ioapic, p[7] = KV_VIRTIO_IRQ, p += 8, n++;
	/* ISA IRQs 0..15 identity-mapped to the IOAPIC pins (0 goes to 2) */
	for (unsigned irq = 0; irq < 16; irq++, p += 8, n++) {
		p[0] = 3, p[1] = 0, put16(p + 2, 0), p[4] = 1, p[5] = (uint8_t)irq;
		p[6] = (uint8_t)ioapic, p[7] = (uint8_t)(irq ? irq : 2);
	}
	p[0] = 4, p[1] = 3 /* ExtINT */, p[4] = 1, p[6] = 0, p[7] = 0, p += 8, n++;
	p[0] = 4, p[1] = 1 /* NMI */, p[4] = 1, p[6] = 0xff, p[7] = 1, p += 8, n++;
	memcpy(base, "PCMP", 4);
	put16(base + 4, (uint16_t)(p - base));
	base[6] = 4;
	memcpy(base + 8, "MEMVISOR", 8);
	memcpy(base + 16, "KVM         ", 12);
	put16(base + 34, (uint16_t)n);
	put32(base + 36, KV_LAPIC_ADDR);
	base[7] = mp_checksum(base, (size_t)(p - base));
	/* the floating pointer, 16-byte aligned after the table */
	p = base + (((size_t)(p - base) + 15) & ~(size_t)15);
	memcpy(p, "_MP_", 4);
	put32(p + 4, (uint32_t)KV_BIOS_START);
	p[8] = 1;
	p[9] = 4;
	p[10] = mp_checksum(p, 16);
}

/* Identity map of the first 4 GiB in 2 MiB pages, and the boot GDT. */
static void boot_tables(struct kv_vm *vm)
{
	uint8_t *pml4 = kv_vm_gpa(vm, KV_PML4_ADDR, 6 * 4096);
	uint8_t *gdt = kv_vm_gpa(vm, KV_GDT_ADDR, 32);

	memset(pml4, 0, 6 * 4096);
	put64(pml4, (KV_PML4_ADDR + 0x1000) | 3);
	for (uint64_t i = 0; i < 4; i++) {
		put64(pml4 + 0x1000 + i * 8, (KV_PML4_ADDR + 0x2000 + i * 0x1000) | 3);
		for (uint64_t j = 0; j < 512; j++)
			put64(pml4 + 0x2000 + i * 0x1000 + j * 8, ((i * 512 + j) << 21) | 0x83);
	}
	put64(gdt, 0);
	put64(gdt + 8, 0);
	put64(gdt + 16, 0x00af9b000000ffffull); /* 0x10: 64-bit code */
	put64(gdt + 24, 0x00cf93000000ffffull); /* 0x18: flat data */
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *e = zp + BP_E820_TABLE + 20 * zp[BP_E820_ENTRIES]++;

	put64(e, addr);
	put64(e + 8, size);
	put32(e + 16, type);
}

/* Append one newc entry (cpio -H newc) to buf at *len; data may be NULL
 * (a directory). */
static void cpio_put(uint8_t *buf, size_t *len, const char *name, unsigned mode, const void *data,
		     size_t size, unsigned ino)
{
	size_t nlen = strlen(name) + 1;

	*len += (size_t)sprintf(
	    (char *)buf + *len, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino,
	    mode, 0u, 0u, 1u, 0u, (unsigned)size, 0u, 0u, 0u, 0u, (unsigned)nlen, 0u);
	memcpy(buf + *len, name, nlen);
	*len += nlen;
	while (*len % 4)
		buf[(*len)++] = 0;
	if (size)
		memcpy(buf + *len, data, size);
	*len += size;
	while (*len % 4)
		buf[(*len)++] = 0;
}

/*
 * The initramfs: the file at initrd, then (4-byte aligned, as the kernel
 * wants each archive of a concatenated initramfs) an uncompressed newc
 * archive holding files[] under their names and the folders they name.
 * The kernel unpacks both into its rootfs, in order.
 */
static uint8_t *initramfs(const char *initrd, const struct kv_boot_file *files, unsigned nfiles,
			  size_t *len, char *err, size_t errlen)
{
	uint8_t *rd = NULL, *data[KV_BOOT_FILES_MAX] = {0}, *buf;
	char prev[256] = "";
	size_t rdlen = 0, dlen[KV_BOOT_FILES_MAX], total = 1024;

	*len = 0;
	if (nfiles > KV_BOOT_FILES_MAX) {
		snprintf(err, errlen, "more than %u files for the initramfs", KV_BOOT_FILES_MAX);
		return NULL;
	}
	if (initrd && initrd[0] && !(rd = slurp(initrd, &rdlen, err, errlen)))
		return NULL;
	if (!nfiles) {
		*len = rdlen;
		return rd;
	}
	for (unsigned i = 0; i < nfiles; i++) {
		data[i] = slurp(files[i].path, &dlen[i], err, errlen);
		if (!data[i])
			goto fail;
		if (dlen[i] > UINT32_MAX) {
			snprintf(err, errlen, "%s: larger than 4 GiB", files[i].path);
			goto fail;
		}
		total += dlen[i] + 2 * (strlen(files[i].name) + 128);
	}
	buf = malloc(rdlen + 4 + total);
	if (!buf) {
		snprintf(err, errlen, "initramfs of %zu bytes: out of memory", rdlen + total);
		goto fail;
	}
	if (rdlen)
		memcpy(buf, rd, rdlen);
	*len = rdlen;
	while (*len % 4)
		buf[(*len)++] = 0;
	for (unsigned i = 0; i < nfiles; i++) {
		char dir[256];
		const char *slash = strrchr(files[i].name, '/');

		/* its folder first, once (one level: "trace/0.mvt") */
		if (slash && (size_t)(slash - files[i].name) < sizeof(dir)) {
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - files[i].name),
				 files[i].name);
			if (strcmp(dir, prev))
				cpio_put(buf, len, dir, 040755, NULL, 0, 2 * i + 1);
			memcpy(prev, dir, sizeof(prev));
		}
		cpio_put(buf, len, files[i].name, 0100644, data[i], dlen[i], 2 * i + 2);
		free(data[i]);
	}
	cpio_put(buf, len, "TRAILER!!!", 0, NULL, 0, 0);
	free(rd);
	return buf;
fail:
	for (unsigned i = 0; i < nfiles; i++)
		free(data[i]);
	free(rd);
	return NULL;
}

int kv_boot_linux(struct kv_vm *vm, const char *kernel, const char *initrd, const char *cmdline,
		  char *err, size_t errlen)
{
	return kv_boot_linux_files(vm, kernel, initrd, NULL, 0, cmdline, err, errlen);
}

int kv_boot_linux_files(struct kv_vm *vm, const char *kernel, const char *initrd,
			const struct kv_boot_file *files, unsigned nfiles, const char *cmdline,
			char *err, size_t errlen)
{
	uint8_t *k = NULL, *rd = NULL, *zp;
	size_t klen = 0, rdlen = 0, pm_off, hdr_end, clen = strlen(cmdline);
	uint64_t kend, rd_addr = 0, top;
	int r = -EINVAL;

	err[0] = 0;
	k = slurp(kernel, &klen, err, errlen);
	if (!k)
		return -ENOENT;
	if (check_header(kernel, k, klen, err, errlen))
		goto out;
	if ((initrd && initrd[0]) || nfiles) {
		rd = initramfs(initrd, files, nfiles, &rdlen, err, errlen);
		if (!rd) {
			r = -ENOENT;
			goto out;
		}
	}
	pm_off = (size_t)((k[BP_SETUP_SECTS] ? k[BP_SETUP_SECTS] : 4) + 1) * 512;
	kend =
	    KV_KERNEL_ADDR +
	    ((klen - pm_off) > get32(k + BP_INIT_SIZE) ? (klen - pm_off) : get32(k + BP_INIT_SIZE));
	top = vm->ram_size;
	if ((uint64_t)get32(k + BP_INITRD_ADDR_MAX) + 1 < top)
		top = (uint64_t)get32(k + BP_INITRD_ADDR_MAX) + 1;
	if (rdlen) {
		rd_addr = (top - rdlen) & ~0xfffull;
		if (rdlen > top || rd_addr < kend) {
			snprintf(
			    err, errlen,
			    "guest %s: %llu bytes of memory cannot hold the kernel (%llu bytes "
			    "with its init area) and %s%s (%zu bytes)",
			    vm->name, (unsigned long long)vm->ram_size,
			    (unsigned long long)(kend - KV_KERNEL_ADDR), initrd,
			    nfiles ? " with its workload's files" : "", rdlen);
			goto out;
		}
	} else if (kend > vm->ram_size) {
		snprintf(err, errlen, "guest %s: memory too small for kernel %s", vm->name, kernel);
		goto out;
	}
	if (clen + 1 > KV_CMDLINE_MAX || clen + 1 > get32(k + BP_CMDLINE_SIZE) + 1u) {
		snprintf(err, errlen, "guest %s: kernel command line of %zu bytes is too long",
			 vm->name, clen);
		goto out;
	}
	/* the protected-mode kernel at 1 MiB, the initramfs at the top */
	memcpy(kv_vm_gpa(vm, KV_KERNEL_ADDR, klen - pm_off), k + pm_off, klen - pm_off);
	if (rdlen)
		memcpy(kv_vm_gpa(vm, rd_addr, rdlen), rd, rdlen);
	memcpy(kv_vm_gpa(vm, KV_CMDLINE_ADDR, clen + 1), cmdline, clen + 1);

	zp = kv_vm_gpa(vm, KV_ZERO_PAGE, 4096);
	memset(zp, 0, 4096);
	hdr_end = 0x202 + k[0x201];
	memcpy(zp + BP_SETUP_SECTS, k + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	zp[BP_TYPE_OF_LOADER] = 0xff; /* undefined loader */
	zp[BP_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
	put16(zp + BP_HEAP_END_PTR, 0xfe00);
	put32(zp + BP_CMD_LINE_PTR, (uint32_t)KV_CMDLINE_ADDR);
	put32(zp + BP_RAMDISK_IMAGE, (uint32_t)rd_addr);
	put32(zp + BP_RAMDISK_SIZE, (uint32_t)rdlen);
	put32(zp + BP_EXT_RAMDISK_IMG, (uint32_t)(rd_addr >> 32));
	put32(zp + BP_EXT_RAMDISK_SZ, (uint32_t)((uint64_t)rdlen >> 32));
	e820_add(zp, 0, KV_EBDA_START, E820_RAM);
	e820_add(zp, KV_EBDA_START, 0xa0000 - KV_EBDA_START, E820_RESERVED);
	e820_add(zp, KV_BIOS_START, KV_KERNEL_ADDR - KV_BIOS_START, E820_RESERVED);
	e820_add(zp, KV_KERNEL_ADDR, vm->ram_size - KV_KERNEL_ADDR, E820_RAM);
	mp_table(vm);
	boot_tables(vm);
	vm->boot_linux = true;
	vm->entry = KV_KERNEL_ADDR + 0x200; /* startup_64 */
	r = 0;
out:
	free(k);
	free(rd);
	return r;
}

int kv_boot_flat(struct kv_vm *vm, uint64_t gpa, const void *code, size_t len)
{
	void *dst = kv_vm_gpa(vm, gpa, len);

	if (!dst || gpa + len > KV_EBDA_START || gpa > 0xffff)
		return -EINVAL;
	memcpy(dst, code, len);
	vm->boot_linux = false;
	vm->entry = gpa;
	return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

int kv_boot_vcpu_regs(struct kv_vm *vm, unsigned i)
{
	struct kvm_sregs sr;
	struct kvm_regs regs;
	int fd = vm->vcpu[i].fd;

	if (i != 0)
		return 0; /* application processors wait for INIT/SIPI */
	if (ioctl(fd, KVM_GET_SREGS, &sr))
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = vm->entry;
	if (vm->boot_linux) {
		seg(&sr.cs, 0x10, 0xb, true);
		seg(&sr.ds, 0x18, 0x3, false);
		sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
		sr.gdt.base = KV_GDT_ADDR;
		sr.gdt.limit = 4 * 8 - 1;
		sr.cr0 = 0x80000011; /* PG, ET, PE */
		sr.cr3 = KV_PML4_ADDR;
		sr.cr4 = 0x20;	 /* PAE */
		sr.efer = 0x500; /* LME, LMA */
		regs.rsi = KV_ZERO_PAGE;
	} else {
		sr.cs.selector = 0;
		sr.cs.base = 0;
	}
	if (ioctl(fd, KVM_SET_SREGS, &sr) || ioctl(fd, KVM_SET_REGS, &regs))
		return -errno;
	return 0;
}

int kv_boot_cpuid(struct kv_vm *vm, int vcpu_fd, unsigned id)
{
	unsigned nent = 128;
	struct kvm_cpuid2 *c;
	int r;

	for (;;) {
		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (!ioctl(vm->kv_fd, KVM_GET_SUPPORTED_CPUID, c))
			break;
		r = -errno;
		free(c);
		if (r != -E2BIG || nent > 4096)
			return r;
		nent *= 2;
	}
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1) {
			e->ebx = (e->ebx & 0x00ffffffu) | (id << 24); /* initial APIC ID */
			/* "running under a hypervisor": Linux then finds KVM's
			 * leaves at 0x40000000 and uses kvm-clock, instead of
			 * calibrating the TSC against the PIT (which fails
			 * when the host is busy, and leaves it without a clock) */
			e->ecx |= 1u << 31;
		} else if (e->function == 0xb || e->function == 0x1f)
			e->edx = id; /* x2APIC ID */
	}
	r = ioctl(vcpu_fd, KVM_SET_CPUID2, c) ? -errno : 0;
	free(c);
	return r;
}
