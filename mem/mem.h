/* SPDX-License-Identifier: MIT */
/*
 * mem: host memory for guests. The host frame pool, the per-guest p2m
 * (guest frame -> host frame and state), the reverse map, the TLB model,
 * the paging modes behind paging_ops, and the software MMU that every guest
 * access goes through.
 *
 * Address kinds are distinct typedefs and are converted only through the
 * helpers of mem_types.h: a gva_t is guest-virtual, a gpa_t guest-physical, a gfn_t a
 * guest frame number, an hfn_t an index into the host frame pool.
 */
#ifndef MEM_MEM_H
#define MEM_MEM_H

#include "mem/mem_types.h"
#include "mem/pool.h"
#include "mem/p2m.h"
#include "mem/rmap.h"
#include "mem/tlb.h"
#include "mem/mmu.h"
#include "mem/swap.h"
#include "mem/wss.h"
#include "mem/policy.h"

#endif
