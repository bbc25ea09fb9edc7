/* SPDX-License-Identifier: MIT */
/* thost: a host for the balloon and reclamation tests. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm-core/tests/check_vmm.h"
#include "vmm-core/tests/thost.h"

void thost_init(struct thost *h, const char *ini)
{
	const char *path = test_write_file("t.ini", ini);
	char err[512], swap[4200];

	memset(h, 0, sizeof(*h));
	ck_assert_ptr_nonnull(path);
	ck_assert_msg(!vmm_config_load(&h->cfg, path, NULL, 0, err, sizeof(err)), "%s", err);
	if (h->cfg.host.swap_file[0]) {
		snprintf(swap, sizeof(swap), "%s", path);
		strcpy(strrchr(swap, '/') + 1, "host.swap");
		ck_assert_uint_lt(strlen(swap), sizeof(h->cfg.host.swap_file));
		strcpy(h->cfg.host.swap_file, swap);
	}
	ck_assert_uint_le(h->cfg.nguests, THOST_MAX);
	h->pool = mem_pool_create(h->cfg.host.memory / MEM_PAGE_SIZE);
	h->store = guest_swap_store_create(NULL);
	h->lib = guest_library_create(h->cfg.host.library_pages, h->cfg.host.library_seed);
	ck_assert(h->pool && h->store && h->lib);
	if (h->cfg.host.sharing) {
		struct ksm_params kp = {.order = KSM_ORDER_SEQUENTIAL};

		h->ksm = ksm_create(h->pool, &kp);
		ck_assert_ptr_nonnull(h->ksm);
	}
	ck_assert_msg(!reclaim_init(&h->rc, &h->cfg, h->pool, h->ksm, err, sizeof(err)), "%s", err);
	h->rc.vms = h->vms;
	for (unsigned i = 0; i < h->cfg.nguests; i++) {
		struct vm_env env = {.pool = h->pool,
				     .store = h->store,
				     .lib = h->lib,
				     .host = &h->cfg.host,
				     .cost = &h->cfg.cost,
				     .rc = &h->rc};
		struct vm *vm = vm_create(&h->cfg.guests[i], &env, err, sizeof(err));

		ck_assert_msg(vm != NULL, "%s", err);
		h->vms[h->n++] = vm;
		h->rc.n = h->n;
		if (h->ksm) {
			vm->share = ksm_guest_add(h->ksm, soft_vm(vm)->p2m, 0);
			ck_assert_ptr_nonnull(vm->share);
		}
	}
}

void thost_fini(struct thost *h)
{
	for (unsigned i = 0; i < h->n; i++) {
		ck_assert_int_eq(mem_p2m_check(soft_vm(h->vms[i])->p2m), 0);
		vm_destroy(h->vms[i]);
	}
	if (h->ksm) {
		ck_assert_int_eq(ksm_check(h->ksm), 0);
		ksm_destroy(h->ksm);
	}
	reclaim_fini(&h->rc);
	guest_library_destroy(h->lib);
	guest_swap_store_destroy(h->store);
	ck_assert_uint_eq(h->pool->used, 0);
	mem_pool_destroy(h->pool);
	vmm_config_free(&h->cfg);
}

int thost_run(struct thost *h, struct vm *vm, uint64_t accesses)
{
	struct vcpu_exit x = {0};
	int r = vm_run(vm, accesses, &x);

	if (r < 0)
		vm->failed = vm->done = true;
	else if (x.reason == VCPU_EXIT_DONE)
		vm->done = true;
	vm_update_clock(vm, NULL);
	reclaim_guest_tick(&h->rc, vm);
	return r;
}

void thost_wait(struct thost *h, struct vm *vm, uint64_t ns)
{
	vm->rs.blocked_cycles += (double)ns * vm->cost->ghz;
	vm_update_clock(vm, NULL);
	reclaim_guest_tick(&h->rc, vm);
}

struct balloon_counters thost_balloon(const struct vm *vm)
{
	struct balloon_counters c;

	balloon_counters(soft_vm(vm)->balloon->dev, &c);
	return c;
}

struct guest_stats thost_gstats(const struct vm *vm)
{
	struct guest_stats st;

	guest_os_stats(soft_vm(vm)->os, &st);
	return st;
}

void thost_target(struct thost *h, struct vm *vm, uint64_t pages)
{
	(void)h;
	balloon_set_target(soft_vm(vm)->balloon->dev, pages);
	while (balloon_tick(soft_vm(vm)->balloon->dev, 1000000000ull))
		;
}
