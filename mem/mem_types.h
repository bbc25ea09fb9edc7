/* SPDX-License-Identifier: MIT */
/* mem_types: what every part of mem/ speaks in: page sizes, the address
 * kinds (distinct typedefs, converted only through the helpers below), and
 * the x86-64 page-table and EPT entry formats. */
#ifndef MEM_MEM_TYPES_H
#define MEM_MEM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/util.h"

#define MEM_PAGE_SHIFT 12
#define MEM_PAGE_SIZE  4096u
#define MEM_PAGE_MASK  (~(uint64_t)(MEM_PAGE_SIZE - 1))
#define MEM_HUGE_SHIFT 9
#define MEM_HUGE_PAGES (1u << MEM_HUGE_SHIFT) /* 4 KiB frames per 2 MiB */

typedef uint64_t gva_t; /* guest-virtual address */
typedef uint64_t gpa_t; /* guest-physical address */
typedef uint64_t gfn_t; /* guest frame number: gpa >> 12 */
typedef uint64_t hfn_t; /* host frame: index into the frame pool */

static inline gfn_t mem_gpa_to_gfn(gpa_t pa)
{
	return pa >> MEM_PAGE_SHIFT;
}
static inline gpa_t mem_gfn_to_gpa(gfn_t gfn)
{
	return gfn << MEM_PAGE_SHIFT;
}
static inline uint64_t mem_gva_to_vpn(gva_t va)
{
	return va >> MEM_PAGE_SHIFT;
}
static inline gva_t mem_vpn_to_gva(uint64_t vpn)
{
	return vpn << MEM_PAGE_SHIFT;
}

/*
 * x86-64 page-table entry (Intel SDM vol. 3A, 4.5; the same layout at every
 * level of a 4-level table):
 *
 *   63  62..52  51..12  11..9  8  7   6  5  4   3   2  1  0
 *   NX  avail   addr    avail  G  PS  D  A  PCD PWT U  W  P
 *
 * PS is defined in PDPT and PD entries (1 GiB and 2 MiB pages). D is defined
 * in leaf entries only. A not-present entry (P = 0) leaves bits 63..1 to the
 * OS: the guest OS keeps its swap entries there.
 */
#define PTE_P	      (1ull << 0)
#define PTE_W	      (1ull << 1)
#define PTE_U	      (1ull << 2)
#define PTE_PWT	      (1ull << 3)
#define PTE_PCD	      (1ull << 4)
#define PTE_A	      (1ull << 5)
#define PTE_D	      (1ull << 6)
#define PTE_PS	      (1ull << 7)
#define PTE_G	      (1ull << 8)
#define PTE_NX	      (1ull << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* Index of va in the table at level (4 = PML4 ... 1 = PT). */
static inline unsigned pte_index(gva_t va, int level)
{
	return (unsigned)(va >> (MEM_PAGE_SHIFT + 9 * (level - 1))) & 511u;
}

/*
 * EPT entry (Intel SDM vol. 3C, 29.3.2), the format of nested paging here:
 *
 *   51..12  11..10  9  8  7   6     5..3  2  1  0
 *   addr    ign     D  A  PS  IPAT  MT    X  W  R
 *
 * An entry is present when any of R, W, X is set. MT is the memory type of a
 * leaf (6 = write-back). A and D are set by the walker (EPT A/D enabled).
 * The address is a host-physical address: here an hfn << 12, the frame
 * pool being the host-physical address space.
 */
#define EPT_R	      (1ull << 0)
#define EPT_W	      (1ull << 1)
#define EPT_X	      (1ull << 2)
#define EPT_MT_WB     (6ull << 3)
#define EPT_IPAT      (1ull << 6)
#define EPT_PS	      (1ull << 7)
#define EPT_A	      (1ull << 8)
#define EPT_D	      (1ull << 9)
#define EPT_RWX	      (EPT_R | EPT_W | EPT_X)
#define EPT_ADDR_MASK 0x000ffffffffff000ull

#endif
