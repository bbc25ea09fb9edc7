/* SPDX-License-Identifier: MIT */
/* backend_kvm: the kvm backend: Linux guests on /dev/kvm, in wall time. */
/*
 * Each guest is a KVM VM of its own (vcpu_kvm.c) booting a Linux kernel
 * and initramfs (kvm_boot.c) whose /init runs memvisor's in-guest program
 * with the guest's workload on its kernel command line. Its vCPU threads
 * run on their own, so this backend's clock is wall time since the start
 * of the run, and its run() sleeps until the guest's next sample period
 * (sample_ms of wall time, at least 50 ms), then looks at the guest:
 *
 * A guest ends well when its kernel resets the machine (reboot=k) after
 * the in-guest program printed "@memvisor done status=0"; a panic, a
 * triple fault, a reset before that line, an unserved exit or the timeout
 * fail it with the reason and its last console line. Each guest's console
 * is kept in DIR/NAME.console. A guest that ended gives its memory back
 * to the host at once (its memfd is punched whole), as a powered-off VM
 * does.
 *
 * The policy (reclaim.c) is fed from what KVM shows: P is the memfd's
 * allocated pages, demand P plus the balloon, active the working-set
 * estimate sampled through the dirty log (kvm_wss.c: pages written, not
 * read); the host's frames in use are what the guests hold, and the pool's
 * shared frames. The balloon moves here; page sharing (backend_kvm_share.c)
 * and host swap (backend_kvm_swap.c) work on the guest's memfd through a
 * userfaultfd (kvm_mem.c). A KVM guest is never held back (its vCPUs run
 * on their own).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ksm/ksm.h"
#include "vmm-core/kvm/backend_kvm_internal.h"
#include "vmm-core/core/vmm_internal.h"

#define MIB_PAGES 256u

/* ---- policy --------------------------------------------------------------- */

/* The working-set estimate (a fraction of the guest's pages): the dirty-log
 * sampler's, a new period every ws_period_ms of wall time. 1 (no idle tax)
 * while nothing is known or where the kernel has no dirty log. */
static double active_of(struct kguest *g, const char *name, uint64_t now)
{
	const struct vmm_host_cfg *h = &g->h->cfg->host;

	if (!g->wss)
		return 1;
	if ((double)(now - g->ws_start) >= h->ws_period_ms * 1e6) {
		g->ws_start = now;
		if (kv_wss_period(g->wss))
			goto fail;
	}
	if (kv_wss_estimate(g->wss, &g->ws))
		goto fail;
	return g->ws.max;
fail:
	fprintf(stderr, "guest %s: dirty log: %s: working set no longer sampled\n", name,
		strerror(errno));
	kv_wss_destroy(g->wss);
	g->wss = NULL;
	return 1;
}

/*
 * The working-set sampler starts once the guest's userspace is up: what a
 * booting kernel writes is not its workload's working set (the policy sees
 * the guest as all active until then), and write-protecting random pages
 * of a kernel that is still setting itself up made nested KVM under QEMU's
 * TCG triple-fault the guest (two.ini, with a sampling period of 1 s).
 */
static void sampler_start(struct vm *vm, uint64_t now)
{
	struct kguest *g = kguest_of(vm);
	const struct vmm_host_cfg *h = &g->h->cfg->host;

	g->ws_start = now;
	g->wss = kv_wss_create(g->k, h->ws_samples, h->ws_slow_gain, h->ws_fast_gain, g->ws_seed);
	if (!g->wss)
		fprintf(stderr,
			"guest %s: no working-set sampling (%s): the idle tax sees it as all "
			"active\n",
			vm->name,
			errno == ENOTSUP ? "the kernel lacks manual dirty-log protection"
					 : strerror(errno));
}

static uint64_t kv_held(struct vm *vm)
{
	return vm->done ? 0 : held(kguest_of(vm));
}

static uint64_t kv_host_saved(struct vm *vm)
{
	return lksm_saved(kguest_of(vm)->kh);
}

/* P is what the memfd holds, demand P plus its balloon (what it would take
 * back); a guest that ended holds nothing and takes no part. */
static bool kv_policy_in(struct vm *vm, struct mem_policy_guest *p)
{
	struct kguest *g = kguest_of(vm);
	const struct vmm_guest_cfg *c = vm->cfg;
	struct balloon_counters b;

	p->shares = (double)c->shares;
	if (vm->done)
		return false;
	kv_dev_balloon_counters(g->k, &b);
	p->min = c->min >> 12;
	p->max = c->max >> 12;
	p->alloc = held(g);
	p->demand = p->alloc + b.actual;
	p->active = active_of(g, vm->name, kv_now_ns()) * (double)(g->k->ram_size >> 12);
	return true;
}

/*
 * Move a guest's balloon toward its allocation target by reclaim.c's step
 * 4 (reclaim_balloon_want), but only in steps worth the guest's work (1/32
 * of its memory, at least 4 MiB), or to 0: statistics and working sets
 * wobble every period, and a balloon that followed every wobble would
 * inflate and deflate for nothing.
 */
static bool kv_balloon(struct vmm_reclaim *rc, struct vm *vm, enum mem_rstate st, uint64_t alloc)
{
	struct kguest *g = kguest_of(vm);
	uint64_t step = (vm->cfg->memory >> 12) / 32, want;
	struct balloon_counters b;

	if (!rc->cfg->host.balloon)
		return false;
	kv_dev_balloon_counters(g->k, &b);
	want = reclaim_balloon_want(st, alloc, vm->rs.target, &b);
	if (step < 4 * MIB_PAGES)
		step = 4 * MIB_PAGES;
	if ((want > b.wanted ? want - b.wanted : b.wanted - want) >= step || (!want && b.wanted))
		kv_dev_balloon_target(g->k, want);
	return true;
}

/* After each run: the balloon's rate-limited target moves, and the guest is
 * asked for statistics. */
static void kv_tick(struct vmm_reclaim *rc, struct vm *vm)
{
	struct kguest *g = kguest_of(vm);
	uint64_t now = kv_now_ns();

	(void)rc;
	if (!vm->done) {
		kv_dev_balloon_tick(g->k, now - g->tick_ns);
		kv_dev_balloon_stats(g->k);
	}
	g->tick_ns = now;
}

/* ---- end of a guest ------------------------------------------------------- */

static void judge(struct vm *vm)
{
	struct kguest *g = kguest_of(vm);
	struct kv_vm *k = g->k;
	int end = atomic_load(&k->end);
	char buf[96];
	const char *st = kv_dev_result(k, "status", buf, sizeof(buf));
	bool ok = false;
	int r;

	vm->done = true;
	g->stats_err = kv_stats_read(k, &g->st);
	/* a guest that ended gives its memory back to the host at once, as a
	 * powered-off VM does; what it held is reported */
	g->end_alloc = held(g);
	if (vm->share) {
		struct ksm_guest_stats ks;

		ksm_guest_stats(vm->share, &ks);
		g->end_sharing = ks.pages_sharing;
	}
	sharing_audit(g);
	r = kv_vm_discard(k, 0, k->ram_size >> 12);
	if (r)
		fprintf(stderr, "guest %s: freeing its memory: %s\n", k->name, strerror(-r));
	if (end == KV_END_RESET && k->res.done && st && !strcmp(st, "0")) {
		ok = true;
	} else if (end == KV_END_RESET && k->res.done) {
		snprintf(vm->err, sizeof(vm->err),
			 "guest %s: memvisor-guest exited with status %s (console: %s)", k->name,
			 st ? st : "?", k->res.last);
	} else if (k->res.panic) {
		snprintf(vm->err, sizeof(vm->err), "guest %s: kernel panic: %s", k->name,
			 k->res.last);
	} else if (end == KV_END_RESET) {
		snprintf(vm->err, sizeof(vm->err),
			 "guest %s: reset before memvisor-guest finished (last console line: %s)",
			 k->name, k->res.lines ? k->res.last : "none: did the kernel start?");
	} else {
		snprintf(vm->err, sizeof(vm->err), "%s (last console line: %s)",
			 k->err[0] ? k->err : "guest ended", k->res.lines ? k->res.last : "none");
	}
	if (g->audit_bad) { /* memvisor's fault, whatever the guest said */
		size_t n = strlen(vm->err);

		if (ok)
			n = (size_t)snprintf(vm->err, sizeof(vm->err), "guest %s: ", k->name);
		snprintf(vm->err + n, sizeof(vm->err) - n,
			 "%smemory audit: %" PRIu64 " pages not as their state says (%s)",
			 ok ? "" : "; ", g->audit_bad, g->audit_msg);
		ok = false;
	}
	vm->failed = !ok;
	vm->verified = ok && kv_dev_result(k, "verified", buf, sizeof(buf)) && !strcmp(buf, "yes");
	vm->verify_ran = ok && g->h->verify;
}

/* Has the guest ended, or outlived its timeout? */
static void watch(struct vm *vm, uint64_t now)
{
	struct kguest *g = kguest_of(vm);
	char buf[96];

	if (!g->boot_ns && kv_dev_result(g->k, "uname", buf, sizeof(buf))) {
		g->boot_ns = now;
		sampler_start(vm, now);
		sharing_start(vm);
	}
	if (atomic_load(&g->k->end) != KV_END_RUNNING) {
		judge(vm);
	} else if ((double)(now - g->k->started_ns) > vm->cfg->timeout * 1e9) {
		kv_vm_end(g->k, KV_END_STOPPED, "guest %s: no power-off within %.0f s", g->k->name,
			  vm->cfg->timeout);
		judge(vm);
	}
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * [host] boot_serial: a guest boots once the one before it in the config
 * has (its userspace said hello) or has ended, or BOOT_WAIT_S after that
 * one started, so
 * that no two kernels boot at once: as hosts avoid boot storms, and under
 * nested QEMU (TCG's emulated SVM) two Linux guests booting together
 * triple-faulted one of them in most runs of tests/kvm/two.ini.
 */
#define BOOT_WAIT_S 180
static void boot_due(struct vm *vm, uint64_t now)
{
	struct kguest *g = kguest_of(vm), *prev = g->kh->order[g->index - 1];
	int r;

	if (prev->waiting || (!prev->boot_ns && !prev->vm->done &&
			      now - prev->k->started_ns < BOOT_WAIT_S * 1000000000ull))
		return;
	g->waiting = false;
	r = kv_vm_start(g->k);
	if (r)
		kv_vm_end(g->k, KV_END_ERROR, "%s", g->k->err);
}

/* Until the wall clock reaches the guest's next sample period; then its
 * clock is the wall time since the start. */
static int kvm_run(struct vm *vm, uint64_t budget, struct vcpu_exit *x)
{
	struct kguest *g = kguest_of(vm);
	uint64_t period = (uint64_t)(g->h->sample_ms * 1e6), t0 = g->h->t0_ns;
	uint64_t clock = (uint64_t)(vm->cycles / vm->cost->ghz);
	uint64_t at = t0 + (clock / period + 1) * period, now = kv_now_ns();

	(void)budget; /* a KVM guest runs on its own, in wall time */
	if (at > now)
		sleep_ns(at - now);
	now = kv_now_ns();
	if (g->waiting) {
		boot_due(vm, now);
		now = kv_now_ns(); /* after its start */
	}
	if (!g->waiting)
		watch(vm, now);
	kv_dump_due(g->h->b, g->h, now);
	vm->cycles = (double)(now - t0) * vm->cost->ghz;
	sharing_drain(vm); /* before the runner's scan of it */
	x->accesses = 0;
	x->reason = vm->failed ? VCPU_EXIT_FAILED : vm->done ? VCPU_EXIT_DONE : VCPU_EXIT_QUANTUM;
	return vm->failed ? -EIO : 0;
}

/* At the end of the run: a guest still running ([host] duration_ms ended
 * the run) is stopped and failed; one that ended well and was asked to
 * verify says whether its pages held what its workload wrote. */
static int kv_finish(struct vm *vm, struct run_host *h)
{
	struct kguest *g = kguest_of(vm);

	if (!vm->done) {
		kv_vm_end(g->k, KV_END_STOPPED,
			  "guest %s: stopped by the end of the run, before it powered off",
			  vm->name);
		judge(vm);
		fprintf(stderr, "%s\n", vm->err);
	}
	if (vm->failed)
		return 1;
	if (h->o->verify && !vm->verified) {
		fprintf(stderr,
			"verify: guest %s: %llu pages differ from what its workload wrote\n",
			vm->name, (unsigned long long)result_u64(g->k, "mismatches"));
		return 1;
	}
	return 0;
}

/* ---- the host, guests --------------------------------------------------- */

static int kv_host_init(struct run_host *h)
{
	struct khost *kh = calloc(1, sizeof(*kh));
	const char *anyway = getenv("MEMVISOR_KVM_BOOT_ANYWAY");
	char why[1024];

	if (!kh)
		return -1;
	h->b = kh;
	kh->order = calloc(h->cfg->nguests, sizeof(*kh->order));
	if (!kh->order)
		return -1;
	kv_host_probe("", &kh->host);
	kv_host_explain(&kh->host, why, sizeof(why));
	if (access("/dev/kvm", R_OK | W_OK)) {
		fprintf(stderr, "%s: backend kvm needs /dev/kvm: %s (%s)\n", h->cfg->path,
			strerror(errno), why);
		return -1;
	}
	/* the paging column says what is known: a hardware KVM's mode, else
	 * "unknown" */
	kh->mode = kh->host.kind == KV_HOST_HARDWARE ? kv_host_mode(&kh->host) : "unknown";
	kh->boot_anyway = anyway && *anyway;
	if (kh->host.kind == KV_HOST_UNKNOWN)
		fprintf(stderr, "note: %s\n", why);
	if (h->cfg->host.linux_ksm)
		return lksm_init(h, kh);
	return h->cfg->host.sharing ? sharing_init(h, kh) : 0;
}

static void kv_host_fini(struct run_host *h)
{
	struct khost *kh = h->b;

	ksm_destroy(h->ksm); /* after every guest let go of its frames */
	h->ksm = NULL;
	h->pool = NULL;
	if (kh) {
		lksm_fini(kh);
		sharing_fini(kh);
		mem_pool_destroy(kh->pool);
		free(kh->order);
	}
	free(h->b);
	h->b = NULL;
}

/* The guest's kernel command line: the base, the in-guest program's
 * parameters (memvisor.*, which /init turns into its options), the
 * config's own additions last. */
static void guest_cmdline(const struct vmm_guest_cfg *g, unsigned ntraces, char *buf, size_t len)
{
	char wl[64];

	if (ntraces)
		snprintf(wl, sizeof(wl), "trace memvisor.traces=%u memvisor.loop=%d", ntraces,
			 g->loop);
	else
		snprintf(wl, sizeof(wl), "%.40s", g->workload); /* seq, ..., none */
	snprintf(buf, len,
		 "%s memvisor.workload=%s memvisor.wss=%llu memvisor.accesses=%llu "
		 "memvisor.write_pct=%u memvisor.zipf_theta=%g memvisor.seed=%llu "
		 "memvisor.content=%s memvisor.zero_pct=%u memvisor.library_pct=%u "
		 "memvisor.zram=%llu %s",
		 KV_LINUX_CMDLINE, wl, (unsigned long long)g->wss, (unsigned long long)g->accesses,
		 g->write_pct, g->zipf_theta, (unsigned long long)g->seed, g->content, g->zero_pct,
		 g->library_pct, (unsigned long long)g->guest_swap, g->cmdline);
}

/* A trace workload's files, for the initramfs as trace/0.mvt, ... */
struct traces {
	struct kv_boot_file f[KV_BOOT_FILES_MAX];
	char name[KV_BOOT_FILES_MAX][32];
	unsigned n;
};

static int add_trace(void *ctx, const char *path)
{
	struct traces *t = ctx;

	if (t->n == KV_BOOT_FILES_MAX)
		return -E2BIG;
	t->f[t->n].path = strdup(path);
	return t->f[t->n].path ? (t->n++, 0) : -ENOMEM;
}

/* The KVM VM of guest g, its kernel and initramfs loaded. NULL with err. */
static struct kv_vm *boot(const struct vmm_guest_cfg *g, bool linux_ksm, char *err, size_t errlen)
{
	struct kv_vm_params p = {
	    .name = g->name,
	    .memory = g->memory,
	    .vcpus = g->vcpus,
	    .balloon = true,
	    /* Linux needs room to live: the balloon leaves min, or a quarter */
	    .balloon_min = (g->min ? g->min : g->memory / 4) >> 12,
	    .balloon_rate = KV_BALLOON_RATE,
	    .balloon_oom = true,
	    .pin_cpu = g->pin_cpu,
	    .dirty_log = true,
	    .anon = linux_ksm,
	};
	char cmdline[2048];
	struct traces tr = {.n = 0};
	struct kv_vm *k;
	int r;

	k = kv_vm_create(&p, err, errlen);
	if (!k)
		return NULL;
	if (vmm_workload_is_trace(g->workload) && vmm_trace_foreach(g->workload, add_trace, &tr)) {
		snprintf(err, errlen, "guest %s: more than %u traces", g->name, KV_BOOT_FILES_MAX);
		r = -EINVAL;
		goto out;
	}
	for (unsigned i = 0; i < tr.n; i++) {
		snprintf(tr.name[i], sizeof(tr.name[i]), "trace/%u.mvt", i);
		tr.f[i].name = tr.name[i];
	}
	guest_cmdline(g, tr.n, cmdline, sizeof(cmdline));
	r = kv_boot_linux_files(k, g->kernel, g->initrd, tr.f, tr.n, cmdline, err, errlen);
out:
	for (unsigned i = 0; i < tr.n; i++)
		free((char *)tr.f[i].path);
	if (r) {
		kv_vm_destroy(k);
		return NULL;
	}
	return k;
}

static void kv_destroy(struct vm *vm)
{
	struct kguest *g = kguest_of(vm);

	if (!g)
		return;
	kv_wss_destroy(g->wss);
	sharing_remove(vm);
	kv_vm_destroy(g->k);
	if (g->console)
		fclose(g->console);
	free(g);
	vm->backend = NULL;
}

static int kv_create(struct vm *vm, const struct vm_env *env, char *err, size_t errlen)
{
	const struct vmm_guest_cfg *c = vm->cfg;
	const struct khost *kh = env->bhost;
	struct kguest *g;

	if (kh && c->paging_given && strcmp(c->paging, kh->mode)) {
		snprintf(err, errlen,
			 "guest %s: paging = %s, but the host's KVM runs %s paging "
			 "(`memvisor kvm-mode %s` switches the whole host)",
			 c->name, c->paging, kh->mode, c->paging);
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "guest %s: out of memory", c->name);
		return -ENOMEM;
	}
	g->kh = kh;
	g->vm = vm;
	g->index = env->index;
	g->k = boot(c, env->host->linux_ksm, err, errlen);
	if (!g->k) {
		free(g);
		return -EINVAL;
	}
	vm->backend = g;
	if (guest_mem_add(vm, env, err, errlen)) {
		kv_destroy(vm);
		return -EINVAL;
	}
	if (kh)
		kh->order[env->index] = g;
	g->ws.max = g->ws.slow = g->ws.fast = g->ws.current = 1;
	g->ws_seed = c->seed * UTIL_GOLDEN + env->index;
	vm->rs.cursor.rng = c->seed * 0xbf58476d1ce4e5b9ull + 3 + env->index; /* victims */
	return 0;
}

/* A guest that cannot boot on this host's KVM fails at once, alone. */
static void refuse(struct vm *vm, const struct run_host *h)
{
	struct kguest *g = kguest_of(vm);

	vm->done = vm->failed = true;
	g->k->started_ns = g->k->ended_ns = kv_now_ns();
	/* the kernel and initramfs loaded into its memory go back at once */
	if (kv_vm_discard(g->k, 0, g->k->ram_size >> 12))
		fprintf(stderr, "guest %s: freeing its memory failed\n", vm->name);
	snprintf(vm->err, sizeof(vm->err),
		 "guest %s: not booted: /dev/kvm here is kvm_pvm, a software hypervisor on "
		 "which stock Linux kernels do not boot (they hang after the decompressor); run "
		 "it on hardware KVM or under nested QEMU (sh tests/kvm/run-nested.sh), or set "
		 "MEMVISOR_KVM_BOOT_ANYWAY=1 for a kernel built for PVM",
		 vm->name);
	fprintf(stderr, "%s%s\n", h->o->progress ? "\n" : "", vm->err);
}

/* Its console file, then its vCPU threads. */
static int kv_start(struct vm *vm, struct run_host *h)
{
	struct kguest *g = kguest_of(vm);
	const struct khost *kh = h->b;
	char path[4200];
	int r;

	g->h = h;
	g->tick_ns = h->t0_ns;
	snprintf(path, sizeof(path), "%s/%s.console", h->o->out_dir, vm->name);
	g->console = fopen(path, "w");
	if (!g->console) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	g->k->p.console = g->console;
	if (kh->host.kind == KV_HOST_PVM && !kh->boot_anyway) {
		refuse(vm, h);
		return 0;
	}
	if (h->cfg->host.boot_serial && g->index > 0) {
		g->waiting = true; /* boot_due() starts it */
		return 0;
	}
	r = kv_vm_start(g->k);
	if (r) {
		fprintf(stderr, "%s\n", g->k->err);
		return -1;
	}
	return 0;
}

const struct backend_ops backend_kvm = {
    .name = "kvm",
    .wall_clock = true,
    .can_block = false,
    .min_sample_ms = 50,
    .host_init = kv_host_init,
    .host_fini = kv_host_fini,
    .create = kv_create,
    .destroy = kv_destroy,
    .start = kv_start,
    .run = kvm_run,
    .tick = kv_tick,
    .held = kv_held,
    .host_saved = kv_host_saved,
    .policy_in = kv_policy_in,
    .balloon = kv_balloon,
    .swap = kv_swap,
    .sample = kv_sample,
    .finish = kv_finish,
    .result = kv_result,
    .json = kv_json,
    .json_host = kv_json_host,
};
