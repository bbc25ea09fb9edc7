/* SPDX-License-Identifier: MIT */
/* test_vm: a minimal VMM (pool, p2m, nested MMU) to run one guest OS on. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/tests/check_guest.h"

/* Nested faults, hidden faults and PT writes need the frame present: back
 * it (its 2 MiB block on a host run when huge). CR3 writes, INVLPGs: 0. */
static int tvm_exit(void *ctx, const struct mmu_exit *x)
{
	struct tvm *vm = ctx;
	hfn_t h;

	if (x->reason == MMU_EXIT_CR3_WRITE || x->reason == MMU_EXIT_INVLPG ||
	    mem_p2m_state(vm->p2m, x->gfn) != MEM_UNTOUCHED)
		return 0;
	if (vm->huge && !mem_p2m_populate_huge(vm->p2m, x->gfn, &h))
		return 0;
	return mem_p2m_populate(vm->p2m, x->gfn, &h);
}

struct tvm *tvm_create(uint64_t pages, uint64_t swap_pages)
{
	return tvm_create_mode(pages, swap_pages, &paging_nested_ops, false);
}

struct tvm *tvm_create_mode(uint64_t pages, uint64_t swap_pages, const struct paging_ops *ops,
			    bool huge)
{
	struct tvm *vm = calloc(1, sizeof(*vm));

	ck_assert_ptr_nonnull(vm);
	vm->huge = huge;
	/* guest frames, room for the mode's tables, and for 2 MiB runs */
	vm->pool = mem_pool_create(2 * pages + 1024);
	ck_assert_ptr_nonnull(vm->pool);
	vm->p2m = mem_p2m_create(vm->pool, pages);
	ck_assert_ptr_nonnull(vm->p2m);
	ck_assert_int_eq(mmu_init(&vm->mmu, vm->p2m, ops, NULL, tvm_exit, vm), 0);
	vm->store = guest_swap_store_create(NULL);
	ck_assert_ptr_nonnull(vm->store);
	if (swap_pages) {
		vm->sw = guest_swap_create(vm->store, swap_pages);
		ck_assert_ptr_nonnull(vm->sw);
	}
	return vm;
}

void tvm_destroy(struct tvm *vm)
{
	guest_os_destroy(vm->g);
	guest_swap_destroy(vm->sw);
	guest_swap_store_destroy(vm->store);
	mmu_fini(&vm->mmu);
	mem_p2m_destroy(vm->p2m);
	mem_pool_destroy(vm->pool);
	free(vm);
}

struct guest_params tvm_params(uint64_t pages, uint64_t wss, uint64_t accesses)
{
	struct guest_params p = {
	    .name = "t0",
	    .pages = pages,
	    .procs = 1,
	    .timeslice = 100,
	    .reclaim = GUEST_RECLAIM_CLOCK,
	    .swap_pages = 4096,
	    .seed = 42,
	    .wl =
		{
		    .pattern = GUEST_PAT_UNIFORM,
		    .wss_pages = wss,
		    .accesses = accesses,
		    .write_pct = 50,
		    .zipf_theta = 0.99,
		    .content = GUEST_CONTENT_PRIVATE,
		},
	};
	return p;
}

void tvm_boot(struct tvm *vm, const struct guest_params *p)
{
	const char *why = NULL;

	vm->g = guest_os_create(&vm->mmu, vm->sw, p, &why);
	ck_assert_msg(vm->g, "boot failed: %s", why ? why : "?");
}

void tvm_run(struct tvm *vm)
{
	uint64_t done;
	int r = guest_os_run(vm->g, UINT64_MAX, &done);

	ck_assert_msg(r == 0, "run failed: %d: %s", r, guest_os_error(vm->g));
	ck_assert(guest_os_done(vm->g));
}

int tvm_walk(const struct tvm *vm, gpa_t root, gva_t va, uint64_t *pte, uint64_t *upper)
{
	uint64_t tbl[512];
	gpa_t t = root;

	for (int level = 4; level >= 1; level--) {
		uint64_t e;

		ck_assert_uint_lt(mem_gpa_to_gfn(t), vm->p2m->pages);
		ck_assert_int_eq(mem_p2m_read(vm->p2m, mem_gpa_to_gfn(t), tbl), 0);
		e = tbl[pte_index(va, level)];
		if (level == 1) {
			*pte = e;
			return 0;
		}
		if (upper)
			upper[level] = e;
		if (!(e & PTE_P))
			return -ENOENT;
		t = e & PTE_ADDR_MASK;
	}
	return -ENOENT;
}

gpa_t tvm_root(const struct tvm *vm, uint32_t pid)
{
	char *buf = NULL, *line;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	gpa_t root = 0;
	bool found = false;

	ck_assert_ptr_nonnull(f);
	guest_os_dump_roots(vm->g, f);
	fclose(f);
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned p;
		unsigned long long r;

		ck_assert_int_eq(sscanf(line, "%u %llx", &p, &r), 2);
		if (p == pid) {
			root = r;
			found = true;
		}
	}
	free(buf);
	ck_assert_msg(found, "pid %u not in the dump", pid);
	return root;
}

void tvm_check(struct tvm *vm)
{
	char msg[512];

	ck_assert_msg(guest_os_check(vm->g, msg, sizeof(msg)) == 0, "check: %s", msg);
	ck_assert_msg(guest_os_verify(vm->g, msg, sizeof(msg)) == 0, "verify: %s", msg);
}
