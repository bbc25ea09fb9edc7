/* SPDX-License-Identifier: MIT */
/*
 * The cost model: event counts to modeled cycles, and the modeled clock.
 *
 * memvisor does not time guests by the wall clock: the soft backend runs
 * at whatever speed the host allows, and a shared machine is noisy. Each
 * guest has one modeled clock instead, the sum of its events weighted by
 * the costs below, in cycles of a modeled CPU of `ghz` GHz. Every period in
 * the system (sampling, scan rates, policy intervals, the time series) is a
 * period of that clock. Modeled time and wall time are unrelated except
 * that both grow with work done; summary.json reports both.
 *
 * Defaults, each a round figure from published measurements on recent x86
 * servers (all overridable in the [cost] section under the field's name):
 *   access 1         a load/store that hits the TLB and L1, at the
 *                    throughput of an out-of-order core (about 1 IPC).
 *   walk_ref 20      one page-walk reference. Walks hit the caches mostly;
 *                    L2 is about 14 cycles and the LLC about 40 on
 *                    Skylake-class parts (Intel optimization manual,
 *                    table 2-6); Bhargava et al. (ASPLOS 2008) and Gandhi
 *                    et al. (ISCA 2016) model walk references the same way.
 *   phys_access 1    a guest-kernel access through its direct map.
 *   exit.* 1200..    a VM exit and entry round trip is about 1000 to 1500
 *                    cycles on Intel since Haswell (Agesen et al., USENIX
 *                    ATC 2012, measured 1000 to 2000); handlers add to it:
 *                    nested_fault 2500 (EPT violation with a p2m lookup),
 *                    hidden_fault 3500 (a shadow walk and fill), pt_write
 *                    3000 (decode and emulate a guest store), cr3_write
 *                    1500, invlpg 1500, mode_switch 100000 (tear down and
 *                    rebuild lazily), balloon 5000 (a virtqueue kick).
 *   guest_fault 1500 a minor page fault in Linux: trap, handler, return
 *                    (about 0.5 us at 3 GHz, LWN "Page fault latency").
 *   zero_page 400    clearing 4 KiB at about 10 bytes per cycle.
 *   swap_in 150000   a 4 KiB read from an NVMe SSD, about 50 us.
 *   swap_out 30000   a 4 KiB write, queued and merged by the block layer.
 *   host_swap_in 150000  a host swap-in the guest waits for: a 4 KiB read
 *                    from the host's NVMe, as swap_in. Host swap-outs are the
 *                    host's work and cost the guest nothing directly.
 *   copy_page 800    a copy-on-write break's 4 KiB copy plus the frame
 *                    allocation: a read and a write stream of 4 KiB at
 *                    about 10 bytes per cycle each (as zero_page).
 *   ghz 3            the modeled clock rate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-core/vmm.h"

void vmm_cost_defaults(struct vmm_cost *c)
{
	memset(c, 0, sizeof(*c));
	c->access = 1;
	c->walk_ref = 20;
	c->phys_access = 1;
	c->exit[MMU_EXIT_NESTED_FAULT] = 2500;
	c->exit[MMU_EXIT_HIDDEN_FAULT] = 3500;
	c->exit[MMU_EXIT_PT_WRITE] = 3000;
	c->exit[MMU_EXIT_CR3_WRITE] = 1500;
	c->exit[MMU_EXIT_INVLPG] = 1500;
	c->exit[MMU_EXIT_MODE_SWITCH] = 100000;
	c->exit[MMU_EXIT_BALLOON] = 5000;
	c->guest_fault = 1500;
	c->zero_page = 400;
	c->swap_in = 150000;
	c->swap_out = 30000;
	c->copy_page = 800;
	c->host_swap_in = 150000;
	c->ghz = 3;
}

static double *cost_field(struct vmm_cost *c, const char *key)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
	    {"access", offsetof(struct vmm_cost, access)},
	    {"walk_ref", offsetof(struct vmm_cost, walk_ref)},
	    {"phys_access", offsetof(struct vmm_cost, phys_access)},
	    {"guest_fault", offsetof(struct vmm_cost, guest_fault)},
	    {"zero_page", offsetof(struct vmm_cost, zero_page)},
	    {"swap_in", offsetof(struct vmm_cost, swap_in)},
	    {"swap_out", offsetof(struct vmm_cost, swap_out)},
	    {"copy_page", offsetof(struct vmm_cost, copy_page)},
	    {"host_swap_in", offsetof(struct vmm_cost, host_swap_in)},
	    {"ghz", offsetof(struct vmm_cost, ghz)},
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (!strcmp(key, fields[i].name))
			return (double *)((char *)c + fields[i].off);
	if (!strncmp(key, "exit.", 5))
		for (int r = 0; r < MMU_EXIT_NR; r++)
			if (!strcmp(key + 5, mmu_exit_name((enum mmu_exit_reason)r)))
				return &c->exit[r];
	return NULL;
}

int vmm_cost_set(struct vmm_cost *c, const char *key, const char *value)
{
	double *f = cost_field(c, key);
	char *end;
	double v;

	if (!f)
		return -ENOENT;
	errno = 0;
	v = strtod(value, &end);
	if (errno || end == value || *end || v < 0 || (f == &c->ghz && v <= 0))
		return -EINVAL;
	*f = v;
	return 0;
}
