/* SPDX-License-Identifier: MIT */
/* kvm_dev: the KVM guest's devices: 16550 console, PCI, virtio-balloon. */
/*
 * Every device lives behind port I/O and is served on the vCPU thread that
 * exited, under the VM's dev_lock (two vCPUs may exit at once; the policy
 * thread sets balloon targets under the same lock).
 *
 * 16550 UART at 0x3f8, IRQ 4. A byte written to THR goes to the console
 * at once, so the transmitter is always empty (LSR THRE|TEMT) and a
 * THR-empty interrupt is pending whenever the driver enables it or writes
 * a byte with it enabled, until it reads IIR. Input is a 1 KiB queue the
 * host fills (kv_dev_console_send): LSR DR and the received-data
 * interrupt while it holds bytes. Loopback mode mirrors MCR into MSR as
 * Linux's autoconfig probe expects. The line is level: up while an enabled
 * interrupt is pending.
 *
 * PCI, configuration mechanism 1 (0xcf8 address latch, 0xcfc data): bus 0
 * holds a host bridge at 00:00.0 (which Linux's sanity check looks for)
 * and the balloon at 00:01.0, a transitional virtio device (vendor 0x1af4,
 * device 0x1002, subsystem 5, revision 0) with no capabilities, so the
 * kernel's virtio_pci falls back to the legacy interface: registers in I/O
 * BAR 0 (32 bytes), INTA on IRQ 5. BAR sizing (writing all-ones) reads back
 * the size mask.
 *
 * Legacy virtio registers (balloon_abi.h) are translated to the
 * transport-neutral device: QUEUE_PFN places a queue in the legacy layout,
 * QUEUE_NOTIFY serves it, STATUS 0 resets (the balloon is lost), reading
 * ISR returns and clears the pending causes and lowers the line. The
 * device's frees punch holes in the guest's memfd.
 *
 * The console is also the in-guest program's channel: lines starting
 * with "@memvisor " carry KEY=VALUE results, "@memvisor done" marks the
 * end of its run; "Kernel panic" anywhere marks a dead guest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/kvm/kvm_internal.h"

/* ---- console lines ------------------------------------------------------ */

static void result_set(struct kv_results *res, const char *key, size_t klen, const char *val,
		       size_t vlen)
{
	unsigned i;

	if (klen >= sizeof(res->key[0]))
		return;
	for (i = 0; i < res->n; i++)
		if (strlen(res->key[i]) == klen && !memcmp(res->key[i], key, klen))
			break;
	if (i == res->n) {
		if (res->n == KV_RESULT_MAX)
			return;
		res->n++;
	}
	memcpy(res->key[i], key, klen);
	res->key[i][klen] = 0;
	if (vlen >= sizeof(res->val[0]))
		vlen = sizeof(res->val[0]) - 1;
	memcpy(res->val[i], val, vlen);
	res->val[i][vlen] = 0;
}

static void console_line(struct kv_vm *vm, char *line)
{
	struct kv_results *res = &vm->res;
	const char *p;

	res->lines++;
	if (line[strspn(line, " \t")])
		snprintf(res->last, sizeof(res->last), "%s", line);
	if (strstr(line, "Kernel panic"))
		res->panic = true;
	if (strncmp(line, "@memvisor ", 10))
		return;
	p = line + 10;
	if (!strncmp(p, "done", 4))
		res->done = true;
	while (*p) {
		size_t tok = strcspn(p, " "), k = strcspn(p, "=");

		if (k < tok)
			result_set(res, p, k, p + k + 1, tok - k - 1);
		p += tok;
		p += strspn(p, " ");
	}
}

static void console_put(struct kv_vm *vm, uint8_t ch)
{
	struct kv_serial *s = &vm->serial;

	vm->res.bytes++;
	if (vm->p.console)
		fputc(ch, vm->p.console);
	if (ch == '\r')
		return;
	if (ch == '\n' || s->len == sizeof(s->line) - 1) {
		s->line[s->len] = 0;
		if (vm->p.console_echo)
			fprintf(stderr, "[%s] %s\n", vm->name, s->line);
		console_line(vm, s->line);
		s->len = 0;
		if (ch == '\n')
			return;
	}
	s->line[s->len++] = (char)ch;
}

/* ---- 16550 -------------------------------------------------------------- */

#define UART_IER_RDI  0x01
#define UART_IER_THRI 0x02
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10

static void serial_update_irq(struct kv_vm *vm)
{
	struct kv_serial *s = &vm->serial;
	bool level =
	    (s->thri && (s->ier & UART_IER_THRI)) || (s->rx_len && (s->ier & UART_IER_RDI));

	if (level != s->irq_level) {
		s->irq_level = level;
		(void)kv_vm_irq_line(vm, KV_SERIAL_IRQ, level);
	}
}

static uint8_t serial_msr(const struct kv_serial *s)
{
	uint8_t m = s->mcr;

	if (!(m & UART_MCR_LOOP))
		return 0xb0; /* DCD, DSR, CTS */
	/* loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
	return (uint8_t)(((m & 1) << 5) | ((m & 2) << 3) | ((m & 4) << 4) | ((m & 8) << 4));
}

static void serial_io(struct kv_vm *vm, unsigned off, bool out, uint8_t *v)
{
	struct kv_serial *s = &vm->serial;
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (off) {
	case 0:
		if (dlab)
			out ? (void)(s->dll = *v) : (void)(*v = s->dll);
		else if (out) {
			if (!(s->mcr & UART_MCR_LOOP))
				console_put(vm, *v);
			s->thri = true;
		} else if (s->rx_len) {
			*v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % sizeof(s->rx);
			s->rx_len--;
		} else {
			*v = 0;
		}
		break;
	case 1:
		if (dlab) {
			out ? (void)(s->dlm = *v) : (void)(*v = s->dlm);
		} else if (out) {
			if ((*v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
				s->thri = true; /* the transmitter is empty */
			s->ier = *v & 0x0f;
		} else {
			*v = s->ier;
		}
		break;
	case 2:
		if (out)
			break; /* FCR: no FIFOs to set up */
		if (s->rx_len && (s->ier & UART_IER_RDI)) {
			*v = 0x04; /* received data; it stays until read */
		} else if (s->thri && (s->ier & UART_IER_THRI)) {
			*v = 0x02;
			s->thri = false;
		} else {
			*v = 0x01;
		}
		break;
	case 3:
		out ? (void)(s->lcr = *v) : (void)(*v = s->lcr);
		break;
	case 4:
		out ? (void)(s->mcr = *v & 0x1f) : (void)(*v = s->mcr);
		break;
	case 5:
		if (!out)
			*v = (uint8_t)(0x60 | (s->rx_len ? 1 : 0)); /* THRE, TEMT, DR */
		break;
	case 6:
		if (!out)
			*v = serial_msr(s);
		break;
	default:
		out ? (void)(s->scr = *v) : (void)(*v = s->scr);
		break;
	}
	serial_update_irq(vm);
}

/* ---- PCI ---------------------------------------------------------------- */

static void virtio_update_irq(struct kv_vm *vm)
{
	bool level = vm->pci.isr != 0;

	if (level != vm->pci.irq_level) {
		vm->pci.irq_level = level;
		(void)kv_vm_irq_line(vm, KV_VIRTIO_IRQ, level);
	}
}

/* 64 bytes of a type-0 header for device dev on bus 0, or false. */
static bool pci_header(struct kv_vm *vm, unsigned dev, uint8_t h[64])
{
	memset(h, 0, 64);
	if (dev == 0) {
		uint16_t id[2] = {0x8086, 0x1237}; /* a PC host bridge */

		memcpy(h, id, 4);
		h[0x0a] = 0x00; /* subclass: host bridge */
		h[0x0b] = 0x06; /* class: bridge */
		return true;
	}
	if (dev != KV_VIRTIO_SLOT || !vm->balloon)
		return false;
	{
		uint16_t v[2] = {BALLOON_PCI_VENDOR, BALLOON_PCI_DEVICE};
		uint16_t sub[2] = {BALLOON_PCI_VENDOR, BALLOON_PCI_SUBSYS_ID};
		uint32_t bar = (vm->pci.bar0 & ~(uint32_t)(KV_VIRTIO_IO_SIZE - 1)) | 1;

		memcpy(h, v, 4);
		memcpy(h + 4, &vm->pci.command, 2);
		h[0x08] = 0; /* revision: legacy virtio ABI 0 */
		h[0x09] = (uint8_t)BALLOON_PCI_CLASS;
		h[0x0a] = (uint8_t)(BALLOON_PCI_CLASS >> 8);
		h[0x0b] = (uint8_t)(BALLOON_PCI_CLASS >> 16);
		memcpy(h + 0x10, &bar, 4);
		memcpy(h + 0x2c, sub, 4);
		h[0x3c] = KV_VIRTIO_IRQ;
		h[0x3d] = 1; /* INTA */
	}
	return true;
}

static void pci_conf(struct kv_vm *vm, unsigned off, bool out, uint8_t *data, unsigned size)
{
	uint32_t a = vm->pci.addr;
	unsigned bus = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f, fn = (a >> 8) & 7;
	unsigned reg = (a & 0xfc) + off;
	uint8_t h[64];

	if (!(a & 0x80000000u) || bus || fn || !pci_header(vm, dev, h)) {
		if (!out)
			memset(data, 0xff, size);
		return;
	}
	if (!out) {
		memset(data, 0, size);
		if (reg < 64)
			memcpy(data, h + reg, size < 64 - reg ? size : 64 - reg);
		return;
	}
	if (dev != KV_VIRTIO_SLOT)
		return; /* the host bridge is read-only */
	if (reg == 0x04 && size >= 2)
		memcpy(&vm->pci.command, data, 2);
	else if (reg == 0x10 && size == 4)
		memcpy(&vm->pci.bar0, data, 4); /* sizing reads back the mask */
}

/* ---- legacy virtio ------------------------------------------------------ */

static void balloon_problem(struct kv_vm *vm, int r)
{
	if (r)
		fprintf(stderr, "guest %s: balloon: %s\n", vm->name,
			balloon_last_error(vm->balloon));
}

static void virtio_io(struct kv_vm *vm, unsigned off, bool out, uint8_t *data, unsigned size)
{
	struct balloon *b = vm->balloon;
	uint32_t v = 0;

	if (out)
		memcpy(&v, data, size < 4 ? size : 4);
	if (off >= BALLOON_PCI_CONFIG) {
		if (out)
			balloon_config_write(b, off - BALLOON_PCI_CONFIG, data, size);
		else
			balloon_config_read(b, off - BALLOON_PCI_CONFIG, data, size);
		return;
	}
	if (!out) {
		switch (off) {
		case BALLOON_PCI_HOST_FEATURES:
			v = (uint32_t)balloon_host_features(b);
			break;
		case BALLOON_PCI_GUEST_FEATURES:
			v = vm->pci.guest_features;
			break;
		case BALLOON_PCI_QUEUE_PFN:
			v = (uint32_t)(balloon_queue_desc(b, vm->pci.queue_sel) >>
				       BALLOON_PCI_QUEUE_PFN_SHIFT);
			break;
		case BALLOON_PCI_QUEUE_NUM:
			v = balloon_queue_size(b, vm->pci.queue_sel);
			break;
		case BALLOON_PCI_QUEUE_SEL:
			v = vm->pci.queue_sel;
			break;
		case BALLOON_PCI_STATUS:
			v = balloon_status(b);
			break;
		case BALLOON_PCI_ISR:
			v = vm->pci.isr;
			vm->pci.isr = 0;
			virtio_update_irq(vm);
			break;
		}
		memcpy(data, &v, size < 4 ? size : 4);
		return;
	}
	switch (off) {
	case BALLOON_PCI_GUEST_FEATURES:
		vm->pci.guest_features = v;
		balloon_problem(vm, balloon_set_features(b, v));
		break;
	case BALLOON_PCI_QUEUE_PFN: {
		uint64_t base = (uint64_t)v << BALLOON_PCI_QUEUE_PFN_SHIFT;
		uint16_t num = balloon_queue_size(b, vm->pci.queue_sel);

		balloon_problem(vm, balloon_queue_set(b, vm->pci.queue_sel, num, base,
						      balloon_vring_legacy_avail(base, num),
						      balloon_vring_legacy_used(base, num)));
		break;
	}
	case BALLOON_PCI_QUEUE_SEL:
		vm->pci.queue_sel = (uint16_t)v;
		break;
	case BALLOON_PCI_QUEUE_NOTIFY:
		balloon_problem(vm, balloon_queue_notify(b, v));
		break;
	case BALLOON_PCI_STATUS:
		balloon_set_status(b, (uint8_t)v);
		if (!v) {
			vm->pci.isr = 0;
			vm->pci.guest_features = 0;
			virtio_update_irq(vm);
		}
		break;
	}
}

/* ---- the balloon's backend callbacks ------------------------------------ */

static int kb_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	void *p = kv_vm_gpa(ctx, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

static int kb_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	void *p = kv_vm_gpa(ctx, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

static int kb_discard(void *ctx, uint64_t pfn, uint64_t n)
{
	return kv_vm_discard(ctx, pfn, n);
}

/* RAM in the e820 map, above the first MiB Linux keeps for itself. */
static bool kb_pfn_ok(void *ctx, uint64_t pfn)
{
	(void)ctx;
	return pfn >= (KV_KERNEL_ADDR >> 12);
}

static void kb_interrupt(void *ctx, unsigned cause)
{
	struct kv_vm *vm = ctx;

	vm->pci.isr |= (uint8_t)cause;
	virtio_update_irq(vm);
}

static const struct balloon_ops kv_balloon_ops = {
    .read = kb_read,
    .write = kb_write,
    .discard = kb_discard,
    .reclaim = NULL, /* a punched page refaults zeroed */
    .pfn_ok = kb_pfn_ok,
    .interrupt = kb_interrupt,
};

int kv_dev_init(struct kv_vm *vm)
{
	struct balloon_params bp = {
	    .guest_pages = vm->ram_size >> 12,
	    .min_guest_pages = vm->p.balloon_min,
	    .features = BALLOON_FEATURE(BALLOON_F_STATS_VQ) |
			(vm->p.balloon_oom ? BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM) : 0),
	    .queue_size = 128,
	    .rate_pages = vm->p.balloon_rate,
	};

	vm->pci.bar0 = KV_VIRTIO_IO;
	if (!vm->p.balloon)
		return 0;
	if (bp.min_guest_pages > bp.guest_pages)
		bp.min_guest_pages = bp.guest_pages;
	vm->balloon = balloon_create(&bp, &kv_balloon_ops, vm);
	return vm->balloon ? 0 : -errno;
}

void kv_dev_fini(struct kv_vm *vm)
{
	balloon_destroy(vm->balloon);
	vm->balloon = NULL;
	if (vm->serial.len) {
		vm->serial.line[vm->serial.len] = 0;
		console_line(vm, vm->serial.line);
		vm->serial.len = 0;
	}
}

void kv_dev_pio(struct kv_vm *vm, uint16_t port, bool out, uint8_t *data, unsigned size)
{
	uint32_t bar = vm->pci.bar0 & ~(uint32_t)(KV_VIRTIO_IO_SIZE - 1) & 0xffff;

	pthread_mutex_lock(&vm->dev_lock);
	if (port >= KV_SERIAL_PORT && port < KV_SERIAL_PORT + 8 && size == 1) {
		serial_io(vm, port - KV_SERIAL_PORT, out, data);
	} else if (port == KV_PCI_CONF_ADDR && size == 4) {
		if (out)
			memcpy(&vm->pci.addr, data, 4);
		else
			memcpy(data, &vm->pci.addr, 4);
	} else if (port >= KV_PCI_CONF_DATA && port < KV_PCI_CONF_DATA + 4) {
		pci_conf(vm, port - KV_PCI_CONF_DATA, out, data, size);
	} else if (vm->balloon && (vm->pci.command & 1) && port >= bar &&
		   port < bar + KV_VIRTIO_IO_SIZE) {
		virtio_io(vm, port - bar, out, data, size);
	} else if (port == KV_I8042_PORT) {
		if (!out)
			*data = 0; /* nothing to read, ready for a command */
		else if (*data == 0xfe)
			kv_vm_end(vm, KV_END_RESET, NULL); /* reboot=k */
	} else if (port == KV_DEBUG_EXIT && out) {
		vm->end_status = data[0];
		kv_vm_end(vm, KV_END_DEBUG_EXIT, NULL);
	} else if (!out) {
		memset(data, 0xff, size);
	}
	pthread_mutex_unlock(&vm->dev_lock);
}

size_t kv_dev_console_send(struct kv_vm *vm, const char *str)
{
	struct kv_serial *s = &vm->serial;
	size_t n = 0;

	pthread_mutex_lock(&vm->dev_lock);
	for (; str[n] && s->rx_len < sizeof(s->rx); n++, s->rx_len++)
		s->rx[(s->rx_head + s->rx_len) % sizeof(s->rx)] = (uint8_t)str[n];
	serial_update_irq(vm);
	pthread_mutex_unlock(&vm->dev_lock);
	return n;
}

uint64_t kv_dev_balloon_target(struct kv_vm *vm, uint64_t pages)
{
	uint64_t r = 0;

	pthread_mutex_lock(&vm->dev_lock);
	if (vm->balloon)
		r = balloon_set_target(vm->balloon, pages);
	pthread_mutex_unlock(&vm->dev_lock);
	return r;
}

void kv_dev_balloon_tick(struct kv_vm *vm, uint64_t elapsed_ns)
{
	pthread_mutex_lock(&vm->dev_lock);
	if (vm->balloon)
		balloon_tick(vm->balloon, elapsed_ns);
	pthread_mutex_unlock(&vm->dev_lock);
}

void kv_dev_balloon_stats(struct kv_vm *vm)
{
	pthread_mutex_lock(&vm->dev_lock);
	/* -EAGAIN: the guest has none waiting (a request is out) */
	if (vm->balloon && balloon_request_stats(vm->balloon) == -EAGAIN)
		vm->stats_pending++;
	pthread_mutex_unlock(&vm->dev_lock);
}

void kv_dev_balloon_counters(struct kv_vm *vm, struct balloon_counters *c)
{
	pthread_mutex_lock(&vm->dev_lock);
	if (vm->balloon)
		balloon_counters(vm->balloon, c);
	else
		memset(c, 0, sizeof(*c));
	pthread_mutex_unlock(&vm->dev_lock);
}

const char *kv_dev_result(struct kv_vm *vm, const char *key, char *buf, size_t len)
{
	const char *r = NULL;

	pthread_mutex_lock(&vm->dev_lock);
	for (unsigned i = 0; i < vm->res.n; i++)
		if (!strcmp(vm->res.key[i], key)) {
			snprintf(buf, len, "%s", vm->res.val[i]);
			r = buf;
			break;
		}
	pthread_mutex_unlock(&vm->dev_lock);
	return r;
}
