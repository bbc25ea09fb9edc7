/* SPDX-License-Identifier: MIT */
/*
 * backend_kvm_share: page sharing of KVM guests in a run ([host] sharing).
 * The host keeps a memfd pool of shared frames and ksm/ over it; each
 * guest's RAM goes under a kv_mem (kvm_mem.c) at creation (for host swap
 * too, backend_kvm_swap.c), and into the
 * one sharing table once its userspace is up; the copy-on-write breaks
 * and discards the fault thread saw reach ksm/ before each scan; the
 * guest leaves the table before its memory goes.
 *
 * Each shared page is a mapping of its own, splitting the guest's: up to
 * two more VMAs per page. The kernel's limit on them (vm.max_map_count,
 * 65530 by default) would stop sharing at about 32,000 pages, so the run
 * raises it to what every guest page shared would take, where it may
 * (root), and puts it back at the end; where it may not, it says so, and
 * a merge the kernel refuses leaves the page as it was, said once.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ksm/ksm.h"
#include "vmm-core/kvm/backend_kvm_internal.h"

#define MAP_COUNT "/proc/sys/vm/max_map_count"

/* vm.max_map_count up to what sharing every guest page would take. */
static void map_count_raise(const struct run_host *h, struct khost *kh)
{
	uint64_t need = 65536, now;
	int r;

	for (unsigned i = 0; i < h->cfg->nguests; i++)
		need += 2 * (h->cfg->guests[i].memory / MEM_PAGE_SIZE);
	if (util_read_u64(MAP_COUNT, &now))
		return; /* no such sysctl: nothing to say */
	kh->map_count = now;
	if (now >= need)
		return;
	r = util_write_u64(MAP_COUNT, need);
	if (r) {
		fprintf(stderr,
			"note: page sharing: vm.max_map_count is %" PRIu64 " and cannot be raised "
			"(%s): sharing stops at about %" PRIu64 " pages\n",
			now, strerror(-r), now / 2);
		return;
	}
	kh->map_count0 = now;
	kh->map_count = need;
}

void sharing_fini(struct khost *kh)
{
	if (kh->map_count0 && util_write_u64(MAP_COUNT, kh->map_count0))
		fprintf(stderr,
			"page sharing: could not put vm.max_map_count back to %" PRIu64 "\n",
			kh->map_count0);
	kh->map_count0 = 0;
}

/* [host] sharing: the shared frames' pool (a memfd the guests map
 * privately, of the budget's size) and ksm/ over it, as on soft. */
int sharing_init(struct run_host *h, struct khost *kh)
{
	const struct vmm_host_cfg *c = &h->cfg->host;
	/* the scanner runs in the runner's thread: half of its time at most,
	 * so that policy ticks, samples and the guests' ends are not starved
	 * where scanning is slow (nested emulation) */
	struct ksm_params kp = {.host_rate = c->scan_rate,
				.batch = c->scan_batch,
				.seed = h->cfg->guests[0].seed,
				.max_call_seconds = h->sample_ms / 1e3 / 2 / h->cfg->nguests};

	if (ksm_order_parse(c->scan_order, &kp.order))
		return -1; /* validated with the config */
	kh->pool = mem_pool_create_memfd(c->memory / MEM_PAGE_SIZE);
	h->ksm = kh->pool ? ksm_create(kh->pool, &kp) : NULL;
	if (!h->ksm) {
		fprintf(stderr, "page sharing: %s\n", strerror(errno));
		return -1;
	}
	h->pool = kh->pool;
	map_count_raise(h, kh);
	return 0;
}

/* The guest's memory under a userfaultfd (kvm_mem.c), for page sharing
 * (a place in the one sharing table, taken later) and host swap, where
 * the run has them. 0, or -1 with err filled. */
int guest_mem_add(struct vm *vm, const struct vm_env *env, char *err, size_t errlen)
{
	struct kguest *g = kguest_of(vm);
	bool share = env->ksm && vm->cfg->sharing;
	struct kv_mem_params mp = {.pool_fd = share ? env->pool->fd : -1,
				   .swap = env->rc ? env->rc->swap : NULL};
	char why[256];

	if (!share && !mp.swap)
		return 0;
	g->mem = kv_mem_create(g->k, &mp, why, sizeof(why));
	if (!g->mem) {
		snprintf(err, errlen, "guest %s: %s: %s", vm->name,
			 share ? "page sharing" : "host swap", why);
		return -1;
	}
	g->ksm = share ? env->ksm : NULL; /* joined when its userspace is up */
	return 0;
}

/*
 * The guest joins the sharing table once its userspace is up, as the
 * working-set sampler starts then, and for the same reason: write-
 * protecting pages of a kernel still setting itself up triple-faulted
 * the guest under nested KVM on QEMU's TCG (the share test, 1 run in 4,
 * before the first console line). Its boot's pages are shared from then.
 */
void sharing_start(struct vm *vm)
{
	struct kguest *g = kguest_of(vm);

	if (!g->ksm || vm->share)
		return;
	vm->share = ksm_guest_add_mem(g->ksm, &kv_mem_ksm_ops, g->mem,
				      g->k->ram_size / MEM_PAGE_SIZE, vm->cfg->scan_rate);
	if (!vm->share)
		fprintf(stderr, "guest %s: page sharing: %s: its pages are not shared\n", vm->name,
			strerror(errno));
}

/* Copy-on-write breaks and discards since the last look, to ksm/. */
static void drain_one(void *ctx, uint64_t gfn, uint64_t f, bool written)
{
	int r = ksm_unshared(ctx, gfn, f, written);

	BUG_ON(r, "ksm_unshared: gfn %" PRIu64 " frame %" PRIu64 ": %d", gfn, f, r);
}

void sharing_drain(struct vm *vm)
{
	struct kguest *g = kguest_of(vm);
	struct kv_mem_stats s;

	if (!g->mem || !vm->share)
		return;
	kv_mem_drain(g->mem, drain_one, vm->share);
	kv_mem_stats(g->mem, &s);
	if (s.merge_errors && !g->merge_said) {
		g->merge_said = true;
		fprintf(stderr,
			"guest %s: page sharing: the kernel refused to map a shared page (%s%s); "
			"such pages stay the guest's own\n",
			vm->name, strerror(s.merge_errno),
			s.merge_errno == ENOMEM ? ": the limit of vm.max_map_count?" : "");
	}
}

void sharing_remove(struct vm *vm)
{
	struct kguest *g = kguest_of(vm);

	if (vm->share) {
		sharing_drain(vm);
		ksm_guest_remove(vm->share); /* before the memory it names goes */
		vm->share = NULL;
	}
	kv_mem_destroy(g->mem);
	g->mem = NULL;
}

/* Where it shares or swaps: is its memory mapped as kv_mem says (kvm_audit.c)?
 * Asked as it ends, before its memory is freed: after a triple fault, this
 * says whether memvisor's side was sound at that moment. */
void sharing_audit(struct kguest *g)
{
	int r;

	if (!g->mem)
		return;
	r = kv_mem_audit(g->mem, g->audit_msg, sizeof(g->audit_msg));
	if (r < 0)
		fprintf(stderr, "guest %s: memory audit not done: %s\n", g->k->name, strerror(-r));
	else
		g->audit_bad = (uint64_t)r;
}
