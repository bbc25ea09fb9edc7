/* SPDX-License-Identifier: MIT */
/* mem_test: internals that mem's tests (and its own files) look at; not
 * part of mem's public header. */
#ifndef MEM_MEM_TEST_H
#define MEM_MEM_TEST_H

#include "mem/mem.h"

/* Root of the EPT (host-physical address), for tests and dumps. */
uint64_t paging_nested_root(const struct mmu *m);
/* Shadow internals for tests: frames of shadow tables the mode holds, and
 * whether guest frame gfn is write-protected as a shadowed page table. */
uint64_t paging_shadow_pages(const struct mmu *m);
bool paging_shadow_tracked(const struct mmu *m, gfn_t gfn);

#endif
