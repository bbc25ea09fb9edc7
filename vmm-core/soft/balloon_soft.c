/* SPDX-License-Identifier: MIT */
/*
 * balloon_soft: the soft backend's transport for the virtio-balloon device
 * of balloon-driver/, and the device's memory operations on a soft guest.
 *
 * Transport. The soft guest's driver (guest/balloon.c) sees the legacy
 * virtio-PCI register block (balloon_abi.h: features, queue select, size
 * and PFN, notify, status, ISR, then the device configuration). Every
 * register access is an I/O-port exit: counted as MMU_EXIT_BALLOON and
 * costed (exit.balloon), then forwarded to the device. Queue PFNs place
 * the legacy ring layout; a notify makes the device serve the queue at
 * once, inside the exit, as a device model in the VMM does. Interrupts
 * set ISR bits and tell the guest OS, which services them before its next
 * access.
 *
 * Guest memory. The device reaches guest memory as a DMA engine would:
 * through the p2m, never through the guest's MMU. Reads of untouched or
 * ballooned frames are zeros; a write, or a read of a swapped frame, makes
 * the frame present first (vm_page_in: first touch, swap-in, copy-on-write
 * break), so rings may live anywhere in guest memory, swapped out or
 * shared. A write to a ballooned frame is refused (-EFAULT): rings in
 * memory the guest gave away are garbage.
 *
 * Discard (inflate). Each frame the device verified leaves the guest for
 * real: RESIDENT -> BALLOONED after the zap, its frame freed (a batch's
 * frames sorted and given back at once, mem_pool_free_many, so RSS falls);
 * SHARED -> BALLOONED dropping the guest's reference (ksm_unshare);
 * SWAPPED -> BALLOONED freeing the slot; UNTOUCHED -> BALLOONED.
 * Reclaim (deflate, reset): BALLOONED -> UNTOUCHED: the page reads as
 * zeros and is populated on its next touch.
 *
 * Protocol failures are the guest's: a rejected batch or a broken ring is
 * reported once on stderr and the policy reclaims from that guest by host
 * swapping from then on; no other guest is touched. A discard that fails
 * is the host's (it cannot, short of a bug) and fails the device's call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/soft/soft.h"

/* Queue size offered unless the config says otherwise. */
#define BS_DEF_QUEUE 64u
/* Most frames one discard call covers: the device's largest batch
 * (BALLOON_MAX_BATCH, a chain of at most 4096 PFNs). */
#define BS_MAX_DISCARD 4096u

static int bs_dma(struct vm *vm, uint64_t gpa, void *buf, size_t len, bool write)
{
	struct soft_vm *sv = soft_vm(vm);
	uint8_t *p = buf;

	while (len) {
		gfn_t gfn = mem_gpa_to_gfn(gpa);
		unsigned off = (unsigned)(gpa & (MEM_PAGE_SIZE - 1));
		size_t n = len < MEM_PAGE_SIZE - off ? len : MEM_PAGE_SIZE - off;
		enum mem_page_state s;

		if (gfn >= sv->p2m->pages)
			return -EFAULT;
		s = mem_p2m_state(sv->p2m, gfn);
		if (!write && (s == MEM_UNTOUCHED || s == MEM_BALLOONED)) {
			memset(p, 0, n);
		} else if (write && s == MEM_BALLOONED) {
			return -EFAULT;
		} else {
			if (vm_page_in(vm, gfn, write ? MMU_WRITE : MMU_READ))
				return -EFAULT;
			if (write)
				memcpy(mem_p2m_ptr(sv->p2m, gfn) + off, p, n);
			else
				memcpy(p, mem_p2m_ptr(sv->p2m, gfn) + off, n);
		}
		gpa += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int bs_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct vm_balloon *b = ctx;

	return bs_dma(b->vm, gpa, buf, len, false);
}

static int bs_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct vm_balloon *b = ctx;

	return bs_dma(b->vm, gpa, (void *)(uintptr_t)buf, len, true);
}

static int cmp_hfn(const void *a, const void *c)
{
	hfn_t x = *(const hfn_t *)a, y = *(const hfn_t *)c;

	return x < y ? -1 : x > y;
}

static int bs_discard(void *ctx, uint64_t pfn, uint64_t n)
{
	struct vm_balloon *b = ctx;
	struct vm *vm = b->vm;
	struct mem_p2m *p2m = soft_vm(vm)->p2m;
	uint64_t nf = 0;
	int r = 0;

	if (n > BS_MAX_DISCARD)
		return -EINVAL;
	for (gfn_t gfn = pfn; gfn < pfn + n && !r; gfn++) {
		switch (mem_p2m_state(p2m, gfn)) {
		case MEM_RESIDENT: {
			hfn_t h = mem_p2m_val(p2m, gfn);

			/* zaps every translation before the frame goes */
			r = mem_p2m_set(p2m, gfn, MEM_BALLOONED, 0, false);
			if (!r)
				b->frames[nf++] = h;
			break;
		}
		case MEM_SHARED:
			/* the guest's reference on the shared frame goes */
			r = vm->share ? ksm_unshare(vm->share, gfn, MEM_BALLOONED, 0) : -EINVAL;
			break;
		case MEM_SWAPPED:
			r = p2m->swap ? mem_swap_drop(p2m->swap, p2m, gfn, MEM_BALLOONED) : -EINVAL;
			break;
		case MEM_UNTOUCHED:
			r = mem_p2m_set(p2m, gfn, MEM_BALLOONED, 0, false);
			break;
		default:
			r = -EINVAL; /* the device checked: cannot happen */
		}
	}
	if (nf >= MEM_POOL_RELEASE_BATCH) {
		qsort(b->frames, nf, sizeof(*b->frames), cmp_hfn);
		mem_pool_free_many(soft_vm(vm)->p2m->pool, b->frames, nf);
	} else {
		for (uint64_t i = 0; i < nf; i++)
			mem_pool_free(soft_vm(vm)->p2m->pool, b->frames[i]);
	}
	return r;
}

static int bs_reclaim(void *ctx, uint64_t pfn, uint64_t n)
{
	struct vm_balloon *b = ctx;

	for (gfn_t gfn = pfn; gfn < pfn + n; gfn++) {
		if (mem_p2m_state(soft_vm(b->vm)->p2m, gfn) != MEM_BALLOONED) {
			b->unusual++; /* the guest touched it meanwhile (vm_page_in) */
			continue;
		}
		if (mem_p2m_set(soft_vm(b->vm)->p2m, gfn, MEM_UNTOUCHED, 0, false))
			return -EINVAL;
	}
	return 0;
}

static void bs_interrupt(void *ctx, unsigned cause)
{
	struct vm_balloon *b = ctx;

	b->isr |= (uint8_t)cause;
	if (soft_vm(b->vm)->os)
		guest_os_interrupt(soft_vm(b->vm)->os);
}

static const struct balloon_ops bs_ops = {
    .read = bs_read,
    .write = bs_write,
    .discard = bs_discard,
    .reclaim = bs_reclaim,
    .interrupt = bs_interrupt,
};

/* The guest broke the protocol: say so once; host swap takes over. */
static void bs_broken(struct vm_balloon *b, const char *what)
{
	struct vm_reclaim *rs = &b->vm->rs;

	if (rs->swap_instead)
		return;
	rs->swap_instead = true;
	snprintf(rs->balloon_note, sizeof(rs->balloon_note), "%s", what);
	fprintf(stderr, "guest %s: balloon: %s; reclaiming from it by host swapping from now on\n",
		b->vm->name, what);
}

static void bs_check(struct vm_balloon *b, int r)
{
	struct balloon_counters c;

	balloon_counters(b->dev, &c);
	if (r == -EPROTO || c.ring_errors || c.rejected_batches > b->rejected) {
		b->rejected = c.rejected_batches;
		bs_broken(b, balloon_last_error(b->dev));
	} else if (r == -EINVAL) {
		bs_broken(b, "notify of a queue that does not exist");
	} else if (r) {
		/* a discard failed: the host's bug, not the guest's */
		bs_broken(b, balloon_last_error(b->dev));
	}
}

static uint32_t bs_io_read(void *ctx, unsigned off, unsigned len)
{
	struct vm_balloon *b = ctx;
	uint32_t v = 0;
	uint8_t isr;

	b->pio++;
	soft_vm(b->vm)->mmu.st.exits[MMU_EXIT_BALLOON]++;
	switch (off) {
	case BALLOON_PCI_HOST_FEATURES:
		return (uint32_t)balloon_host_features(b->dev);
	case BALLOON_PCI_GUEST_FEATURES:
		return b->guest_features;
	case BALLOON_PCI_QUEUE_PFN:
		return (uint32_t)(balloon_queue_desc(b->dev, b->sel) >>
				  BALLOON_PCI_QUEUE_PFN_SHIFT);
	case BALLOON_PCI_QUEUE_NUM:
		return balloon_queue_size(b->dev, b->sel);
	case BALLOON_PCI_QUEUE_SEL:
		return b->sel;
	case BALLOON_PCI_STATUS:
		return balloon_status(b->dev);
	case BALLOON_PCI_ISR:
		isr = b->isr;
		b->isr = 0; /* reading acknowledges */
		return isr;
	default:
		if (off >= BALLOON_PCI_CONFIG && len <= 4)
			balloon_config_read(b->dev, off - BALLOON_PCI_CONFIG, &v, len);
		return v;
	}
}

static void bs_io_write(void *ctx, unsigned off, uint32_t v, unsigned len)
{
	struct vm_balloon *b = ctx;
	uint64_t base;
	uint16_t num;

	b->pio++;
	soft_vm(b->vm)->mmu.st.exits[MMU_EXIT_BALLOON]++;
	switch (off) {
	case BALLOON_PCI_GUEST_FEATURES:
		b->guest_features = v;
		if (balloon_set_features(b->dev, v))
			bs_broken(b, balloon_last_error(b->dev));
		break;
	case BALLOON_PCI_QUEUE_SEL:
		b->sel = (uint16_t)v;
		break;
	case BALLOON_PCI_QUEUE_PFN:
		base = (uint64_t)v << BALLOON_PCI_QUEUE_PFN_SHIFT;
		num = balloon_queue_size(b->dev, b->sel);
		if (!num)
			break; /* no such queue: the write goes nowhere */
		if (balloon_queue_set(b->dev, b->sel, v ? num : 0, base,
				      balloon_vring_legacy_avail(base, num),
				      balloon_vring_legacy_used(base, num)))
			bs_broken(b, balloon_last_error(b->dev));
		break;
	case BALLOON_PCI_QUEUE_NOTIFY:
		bs_check(b, balloon_queue_notify(b->dev, v));
		break;
	case BALLOON_PCI_STATUS:
		balloon_set_status(b->dev, (uint8_t)v);
		break;
	default:
		if (off >= BALLOON_PCI_CONFIG && len <= 4)
			balloon_config_write(b->dev, off - BALLOON_PCI_CONFIG, &v, len);
		break;
	}
}

static uint64_t bs_clock_ns(void *ctx)
{
	struct vm_balloon *b = ctx;

	vm_update_clock(b->vm, NULL);
	return (uint64_t)(b->vm->cycles / b->vm->cost->ghz);
}

const struct guest_dev_ops vm_balloon_dev_ops = {
    .io_read = bs_io_read,
    .io_write = bs_io_write,
    .clock_ns = bs_clock_ns,
};

struct vm_balloon *vm_balloon_create(struct vm *vm, const struct vmm_host_cfg *h)
{
	struct soft_vm *sv = soft_vm(vm);
	struct balloon_params p = {
	    .guest_pages = sv->p2m->pages,
	    .min_guest_pages = sv->p2m->pages - sv->p2m->pages * h->balloon_max_pct / 100,
	    .features = BALLOON_FEATURE(BALLOON_F_MUST_TELL_HOST) |
			BALLOON_FEATURE(BALLOON_F_STATS_VQ) |
			BALLOON_FEATURE(BALLOON_F_DEFLATE_ON_OOM),
	    .queue_size = (uint16_t)(h->balloon_queue ? h->balloon_queue : BS_DEF_QUEUE),
	    .rate_pages = h->balloon_rate / MEM_PAGE_SIZE,
	};
	struct vm_balloon *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->vm = vm;
	b->frames = malloc(BS_MAX_DISCARD * sizeof(*b->frames));
	b->dev = b->frames ? balloon_create(&p, &bs_ops, b) : NULL;
	if (!b->dev) {
		int e = b->frames ? errno : ENOMEM;

		free(b->frames);
		free(b);
		errno = e;
		return NULL;
	}
	if (vm->cfg->balloon_fixed) {
		/* set by hand, reached at once: the guest finds it at boot */
		b->fixed = true;
		vm->rs.wanted = balloon_set_target(b->dev, vm->cfg->balloon_target / MEM_PAGE_SIZE);
		while (balloon_tick(b->dev, 1000000000ull))
			;
	}
	return b;
}

void vm_balloon_destroy(struct vm_balloon *b)
{
	if (!b)
		return;
	balloon_destroy(b->dev);
	free(b->frames);
	free(b);
}

bool vm_balloon_usable(const struct vm *vm, const char **why)
{
	const struct vm_balloon *b = soft_vm(vm)->balloon;

	if (!b) {
		*why = "no balloon device";
		return false;
	}
	if (vm->rs.swap_instead) {
		*why = vm->rs.balloon_note;
		return false;
	}
	if (!(balloon_status(b->dev) & BALLOON_STATUS_DRIVER_OK)) {
		*why = "no balloon driver in the guest";
		return false;
	}
	return true;
}
