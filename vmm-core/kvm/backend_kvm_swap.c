/* SPDX-License-Identifier: MIT */
/*
 * backend_kvm_swap: host swap of KVM guests, on the policy's word (its
 * step 5: the pages a guest holds above its target, in the hard and low
 * states, or in the soft state where the balloon cannot help).
 *
 * Victims are random pages the guest's memfd holds, as ESX chooses them:
 * from a random gfn, the next page the file holds (lseek SEEK_DATA, so
 * that holes are never written to the swap file), wrapping once. As on
 * soft guests, a victim that can be shared is shared instead (ksm/ says,
 * byte compare and all). kv_mem_swap_out (kvm_mem.c) writes the page to
 * the host swap file under write protection and punches it; the guest's
 * next touch brings the exact bytes back through a userfaultfd fault.
 *
 * A guest is swapped only once its userspace is up, as it joins the
 * sharing table then: write-protecting pages of a kernel still setting
 * itself up has triple-faulted guests under nested KVM on QEMU's TCG.
 *
 * A failed write (a full disk, an I/O error, every slot taken) leaves the
 * page in the guest's memory. It is said once, host swap stops for the
 * rest of the run (rc->swap_failed), and the run's exit status says so;
 * the guests go on, so that they can verify their pages at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "ksm/ksm.h"
#include "vmm-core/kvm/backend_kvm_internal.h"

/* A random page the memfd holds, or -ENOENT when it holds none. */
static int pick(struct vm *vm, uint64_t *gfn)
{
	struct kv_vm *k = kguest_of(vm)->k;
	uint64_t pages = k->ram_size / MEM_PAGE_SIZE;
	uint64_t from = util_xorshift64s(&vm->rs.cursor.rng) % pages;

	for (int wrap = 0; wrap < 2; wrap++) {
		off_t off = lseek(k->mem_fd, (off_t)(from * MEM_PAGE_SIZE), SEEK_DATA);

		if (off >= 0) {
			*gfn = (uint64_t)off / MEM_PAGE_SIZE;
			return 0;
		}
		if (errno != ENXIO)
			return -errno;
		from = 0; /* no data after it: from the start */
	}
	return -ENOENT;
}

/* Said once: the swap file's own message when its write failed (it names
 * the file and slot), else the errno of the step that did. */
static void swap_failed(struct vmm_reclaim *rc, const struct vm *vm, uint64_t gfn, int r,
			uint64_t write_errors)
{
	struct mem_swap_stats st;

	mem_swap_stats(rc->swap, &st);
	rc->swap_failed = true;
	snprintf(rc->fatal_msg, sizeof(rc->fatal_msg),
		 "%s (swapping out guest %s gfn %" PRIu64 "); host swap stops for the rest of "
		 "the run, and the page stays in the guest's memory",
		 st.write_errors > write_errors ? mem_swap_error(rc->swap) : strerror(-r), vm->name,
		 gfn);
	fprintf(stderr, "%s\n", rc->fatal_msg);
}

/* Up to want of vm's pages out of the host's memory, sharing first. 0, or
 * the swap's -errno (host swap then stops). */
int kv_swap(struct vmm_reclaim *rc, struct vm *vm, uint64_t want)
{
	struct kguest *g = kguest_of(vm);
	uint64_t done = 0, tries = 0;

	if (!g->mem || !g->boot_ns || vm->done || rc->swap_failed)
		return 0;
	sharing_drain(vm); /* broken shares first: they are the guest's own pages again */
	while (done < want && tries++ < 4 * want + 64) {
		struct mem_swap_stats st;
		uint64_t gfn = 0;
		int r = pick(vm, &gfn);

		if (r)
			break; /* nothing left in memory */
		if (vm->share && ksm_try_share(vm->share, gfn) == 1) {
			vm->rs.swap_shared++; /* ESX: sharing before swapping */
			done++;
			continue;
		}
		mem_swap_stats(rc->swap, &st);
		r = kv_mem_swap_out(g->mem, gfn);
		if (r < 0) {
			swap_failed(rc, vm, gfn, r, st.write_errors);
			return r;
		}
		if (r == 1) {
			vm->rs.swap_outs++;
			done++;
		}
	}
	return 0;
}
