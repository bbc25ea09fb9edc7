/* SPDX-License-Identifier: MIT */
/* test_replay: trace workloads: regions, the page sequence, exact LRU, verify, large pages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/tests/check_guest.h"

/* A trace file of n records, open; removed from disk at once (the mapping
 * stays). */
static struct trace_file *mk_trace(const struct trace_rec *r, size_t n, unsigned chunk)
{
	char path[] = "/tmp/memvisor-replay-XXXXXX", err[512];
	struct trace_writer_opts o = {.chunk_records = chunk};
	struct trace_writer *w;
	struct trace_file *tf;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	w = trace_writer_create(path, &o, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(trace_writer_put(w, &r[i]) == 0, "%s", trace_writer_error(w));
	ck_assert_int_eq(trace_writer_finish(w), 0);
	trace_writer_destroy(w);
	tf = trace_open(path, 0, err, sizeof(err));
	ck_assert_msg(tf != NULL, "%s", err);
	unlink(path);
	return tf;
}

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 17;
}

/* n accesses of pid over three regions (code, heap, stack) of `pages`
 * pages in all: fetches, loads, stores, modifies, some crossing pages. */
static struct trace_rec *mk_recs(size_t n, uint64_t pages, uint32_t pid, uint64_t seed)
{
	struct trace_rec *r = calloc(n, sizeof(*r));
	const uint64_t base[3] = {0x400000, 0x10000000, 0x7ffd00000000ull};
	const uint64_t span[3] = {pages / 4, pages / 2, pages - pages / 4 - pages / 2};

	for (size_t i = 0; i < n; i++) {
		uint64_t x = rnd(&seed), reg = x % 3, page = rnd(&seed) % span[reg];
		/* skewed: half the accesses to an eighth of each region */
		if (x & 8)
			page %= span[reg] / 8 + 1;
		r[i].pid = pid;
		r[i].kind = (uint8_t)(reg == 0 ? TRACE_INSTR : TRACE_LOAD + (x >> 8) % 3);
		r[i].size = (x >> 12) % 16 ? 1u << ((x >> 16) % 4) : 64;
		r[i].addr = base[reg] + page * 4096 + (rnd(&seed) % 4096);
		if (r[i].addr + r[i].size > base[reg] + span[reg] * 4096)
			r[i].addr = base[reg] + span[reg] * 4096 - r[i].size;
	}
	return r;
}

static struct guest_params trace_params(uint64_t pages, const struct guest_trace *t, unsigned n)
{
	struct guest_params p = tvm_params(pages, 1, 0);

	p.traces = t;
	p.ntraces = n;
	p.wl.accesses = 0;
	return p;
}

/* Exact LRU of `frames` frames over the page sequence of r: every record
 * touches the pages it covers, lowest first. Written from the semantics,
 * sharing no code with the guest. */
static uint64_t lru_faults(const struct trace_rec *r, size_t n, uint64_t frames)
{
	size_t cap = 4096, npages = 0;
	uint64_t *vpn = malloc(cap * sizeof(*vpn)), *stamp = malloc(cap * sizeof(*stamp));
	uint32_t *pid = malloc(cap * sizeof(*pid));
	bool *in = malloc(cap);
	uint64_t t = 0, resident = 0, faults = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t first = r[i].addr / 4096,
			 last = (r[i].addr + (r[i].size ? r[i].size - 1 : 0)) / 4096;

		for (uint64_t v = first; v <= last; v++) {
			size_t j;

			for (j = 0; j < npages; j++)
				if (vpn[j] == v && pid[j] == r[i].pid)
					break;
			if (j == npages) {
				ck_assert_uint_lt(npages, cap);
				vpn[j] = v;
				pid[j] = r[i].pid;
				in[j] = false;
				npages++;
			}
			if (!in[j]) {
				faults++;
				if (resident == frames) {
					size_t victim = SIZE_MAX;

					for (size_t k = 0; k < npages; k++)
						if (in[k] && (victim == SIZE_MAX ||
							      stamp[k] < stamp[victim]))
							victim = k;
					in[victim] = false;
					resident--;
				}
				in[j] = true;
				resident++;
			}
			stamp[j] = ++t;
		}
	}
	free(vpn);
	free(stamp);
	free(pid);
	free(in);
	return faults;
}

/* MMU accesses the records make: one per page each covers. */
static uint64_t page_touches(const struct trace_rec *r, size_t n)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += (r[i].addr + (r[i].size ? r[i].size - 1 : 0)) / 4096 - r[i].addr / 4096 + 1;
	return t;
}

/* Without pressure: every page faults once, every page a record covers is
 * one MMU access, verify and check pass. */
START_TEST(replay_basic)
{
	struct trace_rec *r = mk_recs(20000, 300, 1, 1);
	struct trace_file *tf = mk_trace(r, 20000, 4096);
	struct guest_trace t = {.tf = tf, .pid = 1};
	struct tvm *vm = tvm_create(1024, 0);
	struct guest_params p = trace_params(1024, &t, 1);
	struct guest_stats st;

	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.accesses, 20000);
	ck_assert_uint_eq(st.page_faults, trace_file_summary(tf)->pages);
	ck_assert_uint_eq(st.zero_fills, st.page_faults);
	ck_assert_uint_eq(st.swap_outs, 0);
	ck_assert_uint_eq(st.frames_pt, guest_trace_table_frames(&t));
	ck_assert_uint_eq(vm->mmu.st.accesses, page_touches(r, 20000));
	ck_assert_uint_gt(vm->mmu.st.accesses, 20000); /* some records cross pages */
	tvm_check(vm);
	tvm_destroy(vm);
	trace_close(tf);
	free(r);
}
END_TEST

/* With a data-frame limit and exact LRU, the guest's faults are those of
 * an LRU simulation of the trace's page sequence; the limit holds. */
START_TEST(lru_exact)
{
	const uint64_t frames[] = {1, 7, 40, 120};
	struct trace_rec *r = mk_recs(15000, 240, 1, 7 + (uint64_t)_i);
	struct trace_file *tf = mk_trace(r, 15000, 1000);
	struct guest_trace t = {.tf = tf, .pid = 1};
	struct tvm *vm = tvm_create(512, 1024);
	struct guest_params p = trace_params(512, &t, 1);
	struct guest_stats st;
	uint64_t model = lru_faults(r, 15000, frames[_i]);

	p.reclaim = GUEST_RECLAIM_LRU;
	p.data_frames = frames[_i];
	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.frames_user, frames[_i]);
	ck_assert_uint_gt(st.swap_ins, 0);
	ck_assert_msg(st.page_faults == model, "guest %llu faults, exact LRU of %llu frames %llu",
		      (unsigned long long)st.page_faults, (unsigned long long)frames[_i],
		      (unsigned long long)model);
	tvm_check(vm);
	tvm_destroy(vm);
	trace_close(tf);
	free(r);
}
END_TEST

/* Clock and random under the same limit: contents survive eviction, the
 * limit holds, every page's first touch is counted once. */
START_TEST(other_policies)
{
	struct trace_rec *r = mk_recs(15000, 240, 1, 3);
	struct trace_file *tf = mk_trace(r, 15000, 0);
	struct guest_trace t = {.tf = tf, .pid = 1};

	for (int pol = GUEST_RECLAIM_CLOCK; pol <= GUEST_RECLAIM_RANDOM; pol += 2) {
		struct tvm *vm = tvm_create(512, 1024);
		struct guest_params p = trace_params(512, &t, 1);
		struct guest_stats st;

		p.reclaim = (enum guest_reclaim)pol;
		p.data_frames = 30;
		tvm_boot(vm, &p);
		tvm_run(vm);
		guest_os_stats(vm->g, &st);
		ck_assert_uint_eq(st.frames_user, 30);
		ck_assert_uint_eq(st.zero_fills, trace_file_summary(tf)->pages);
		ck_assert_uint_eq(st.page_faults, st.zero_fills + st.swap_ins);
		tvm_check(vm);
		tvm_destroy(vm);
	}
	trace_close(tf);
	free(r);
}
END_TEST

/* A flipped byte in a page a store wrote, or a store that never reached
 * memory, is found, with the page and byte named. */
START_TEST(verify_catches)
{
	struct trace_rec r[] = {
	    {.kind = TRACE_STORE, .addr = 0x10000ff8, .size = 16, .pid = 1}, /* crosses */
	    {.kind = TRACE_LOAD, .addr = 0x10002000, .size = 8, .pid = 1},
	    {.kind = TRACE_MODIFY, .addr = 0x10001010, .size = 4, .pid = 1},
	};
	struct trace_file *tf = mk_trace(r, 3, 0);
	struct guest_trace t = {.tf = tf, .pid = 1};
	struct tvm *vm = tvm_create(256, 0);
	struct guest_params p = trace_params(256, &t, 1);
	const struct guest_proc *pr;
	uint64_t pte;
	uint8_t *h;
	char msg[512];

	tvm_boot(vm, &p);
	tvm_run(vm);
	tvm_check(vm);
	pr = &vm->g->procs[0];
	ck_assert_int_eq(tvm_walk(vm, pr->pml4, 0x10001000, &pte, NULL), 0);
	h = mem_p2m_ptr(vm->p2m, mem_gpa_to_gfn(pte & PTE_ADDR_MASK));
	/* the second half of the crossing store, then the modify */
	ck_assert(h[0] || h[1] || h[7]);
	h[0x12] ^= 1;
	ck_assert_int_eq(guest_os_verify(vm->g, msg, sizeof(msg)), -EIO);
	ck_assert_msg(strstr(msg, "gva 0x10001000") && strstr(msg, "byte 18"), "%s", msg);
	h[0x12] ^= 1;
	ck_assert_int_eq(guest_os_verify(vm->g, msg, sizeof(msg)), 0);
	memset(h, 0, 8); /* the store's bytes lost */
	ck_assert_int_eq(guest_os_verify(vm->g, msg, sizeof(msg)), -EIO);
	ck_assert_msg(strstr(msg, "gva 0x10001000") && strstr(msg, "byte 0"), "%s", msg);
	tvm_destroy(vm);
	trace_close(tf);
}
END_TEST

/* A footprint larger than one verification group (4096 pages) is
 * checked group by group, each a pass over the records. */
START_TEST(verify_groups)
{
	const size_t n = 9000;
	struct trace_rec *r = calloc(n, sizeof(*r));
	struct trace_file *tf;
	struct guest_trace t;
	struct tvm *vm = tvm_create(5200, 0);
	struct guest_params p;
	uint64_t pte;
	uint8_t *h;
	char msg[512];

	for (size_t i = 0; i < n; i++) {
		r[i].pid = 1;
		r[i].kind = i % 3 ? TRACE_STORE : TRACE_LOAD;
		r[i].size = 8;
		r[i].addr = 0x40000000 + (i * 2654435761u % 5000) * 4096 + (i % 512) * 8;
	}
	tf = mk_trace(r, n, 0);
	t = (struct guest_trace){.tf = tf, .pid = 1};
	p = trace_params(5200, &t, 1);
	tvm_boot(vm, &p);
	tvm_run(vm);
	ck_assert_uint_eq(trace_file_summary(tf)->pages, 5000);
	tvm_check(vm);
	/* a byte of the last page, in the second group */
	ck_assert_int_eq(
	    tvm_walk(vm, vm->g->procs[0].pml4, 0x40000000 + 4999 * 4096ull, &pte, NULL), 0);
	h = mem_p2m_ptr(vm->p2m, mem_gpa_to_gfn(pte & PTE_ADDR_MASK));
	h[4095] ^= 0x80;
	ck_assert_int_eq(guest_os_verify(vm->g, msg, sizeof(msg)), -EIO);
	ck_assert_msg(strstr(msg, "gva 0x41387000") && strstr(msg, "byte 4095"), "%s", msg);
	tvm_destroy(vm);
	trace_close(tf);
	free(r);
}
END_TEST

/* Two address spaces in one trace: two processes with their own tables;
 * the same virtual page holds different bytes in each. */
START_TEST(two_pids)
{
	size_t n = 8000;
	struct trace_rec *a = mk_recs(n / 2, 64, 1, 5), *b = mk_recs(n / 2, 64, 2, 6);
	struct trace_rec *r = malloc(n * sizeof(*r));
	struct trace_file *tf;
	struct guest_trace t[2];
	struct tvm *vm = tvm_create(1024, 2048);
	struct guest_params p;
	struct guest_stats st;

	for (size_t i = 0; i < n / 2; i++) {
		r[2 * i] = a[i];
		r[2 * i + 1] = b[i];
	}
	tf = mk_trace(r, n, 777);
	t[0] = (struct guest_trace){.tf = tf, .pid = 1};
	t[1] = (struct guest_trace){.tf = tf, .pid = 2};
	p = trace_params(1024, t, 2);
	p.timeslice = 333;
	p.data_frames = 50; /* fewer than the two footprints together */
	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.accesses, n);
	ck_assert_uint_gt(st.ctx_switches, 10);
	ck_assert_uint_gt(st.swap_ins, 0);
	ck_assert_uint_eq(st.zero_fills, trace_file_summary(tf)->pages);
	ck_assert_uint_ne(tvm_root(vm, 1), tvm_root(vm, 2));
	tvm_check(vm);
	tvm_destroy(vm);
	trace_close(tf);
	free(a);
	free(b);
	free(r);
}
END_TEST

/* A looping trace runs `accesses` accesses, over its end and again; a
 * limit shorter than the trace stops it there; verify replays as far. */
START_TEST(loop_and_limit)
{
	struct trace_rec *r = mk_recs(700, 40, 1, 9);
	struct trace_file *tf = mk_trace(r, 700, 256);
	struct guest_trace t = {.tf = tf, .pid = 1, .loop = true};
	const uint64_t acc[2] = {2500, 300};

	for (int i = 0; i < 2; i++) {
		struct tvm *vm = tvm_create(256, 512);
		struct guest_params p = trace_params(256, &t, 1);
		struct guest_stats st;

		t.loop = i == 0;
		p.wl.accesses = acc[i];
		p.data_frames = 12;
		tvm_boot(vm, &p);
		tvm_run(vm);
		guest_os_stats(vm->g, &st);
		ck_assert_uint_eq(st.accesses, acc[i]);
		tvm_check(vm);
		tvm_destroy(vm);
	}
	trace_close(tf);
	free(r);
}
END_TEST

/* Content records: zero, library and private pages hold what guest.h
 * says, equal seeds give equal pages, and verify checks them. */
START_TEST(content_records)
{
	struct trace_rec r[] = {
	    {.kind = TRACE_PRIVATE, .addr = 0x20000000, .size = 4096, .pid = 1, .arg = 42},
	    {.kind = TRACE_PRIVATE, .addr = 0x20005000, .size = 4096, .pid = 1, .arg = 42},
	    {.kind = TRACE_IMAGE, .addr = 0x20001000, .size = 4096, .pid = 1, .arg = 7},
	    {.kind = TRACE_STORE, .addr = 0x20001008, .size = 8, .pid = 1},
	    {.kind = TRACE_ZERO, .addr = 0x20001000, .size = 4096, .pid = 1},
	    {.kind = TRACE_IMAGE, .addr = 0x20002000, .size = 4096, .pid = 1, .arg = 4096 + 3},
	};
	struct trace_file *tf = mk_trace(r, 6, 0);
	struct guest_trace t = {.tf = tf, .pid = 1};
	struct guest_library *lib = guest_library_create(16, 42);
	struct tvm *vm = tvm_create(256, 0);
	struct guest_params p = trace_params(256, &t, 1);
	const struct guest_proc *pr;
	uint8_t *pg[4];
	uint64_t pte;
	const gva_t va[4] = {0x20000000, 0x20005000, 0x20001000, 0x20002000};

	p.wl.lib = lib;
	tvm_boot(vm, &p);
	tvm_run(vm);
	tvm_check(vm);
	pr = &vm->g->procs[0];
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(tvm_walk(vm, pr->pml4, va[i], &pte, NULL), 0);
		pg[i] = mem_p2m_ptr(vm->p2m, mem_gpa_to_gfn(pte & PTE_ADDR_MASK));
	}
	ck_assert(!memcmp(pg[0], pg[1], 4096));
	ck_assert(memcmp(pg[0], vm->g->zero, 4096));
	ck_assert(!memcmp(pg[2], vm->g->zero, 4096));
	ck_assert(!memcmp(pg[3], lib->data + 3 * 4096, 4096)); /* page 4099 mod 16 */
	tvm_destroy(vm);
	guest_library_destroy(lib);
	trace_close(tf);
}
END_TEST

/* Traces a guest cannot replay are refused at boot with a reason. */
START_TEST(refused)
{
	struct trace_rec hi = {.kind = TRACE_LOAD, .addr = 0x800000000000ull, .size = 8, .pid = 1};
	struct trace_rec img = {
	    .kind = TRACE_IMAGE, .addr = 0x1000, .size = 4096, .pid = 1, .image = 1};
	struct trace_rec ok = {.kind = TRACE_LOAD, .addr = 0x1000, .size = 8, .pid = 1};
	struct trace_file *tf[3] = {mk_trace(&hi, 1, 0), mk_trace(&img, 1, 0), mk_trace(&ok, 1, 0)};
	struct guest_trace t[4] = {{.tf = tf[0], .pid = 1},
				   {.tf = tf[1], .pid = 1},
				   {.tf = tf[2], .pid = 9},
				   {.tf = tf[2], .pid = 1, .loop = true}};
	const char *want[4] = {"47-bit", "image other than image 0", "no record of the process",
			       "looping trace needs"};
	struct tvm *vm = tvm_create(256, 0);

	for (int i = 0; i < 4; i++) {
		struct guest_params p = trace_params(256, &t[i], 1);
		const char *why = NULL;

		ck_assert_ptr_null(guest_os_create(&vm->mmu, NULL, &p, &why));
		ck_assert_msg(why && strstr(why, want[i]), "case %d: %s", i, why ? why : "(none)");
	}
	tvm_destroy(vm);
	for (int i = 0; i < 3; i++)
		trace_close(tf[i]);
}
END_TEST

/* Trace processes with 2 MiB pages (p.large), under nested and shadow
 * paging, with and without a data-frame limit, run to the end or stopped
 * halfway: a region of two aligned 2 MiB blocks is mapped with large pages
 * where the limit leaves room for 512 frames; under the limit the large
 * page is split to swap; contents survive (pages of a large page the trace
 * has not reached yet read as zeros) and the limit holds. */
START_TEST(large_pages)
{
	const size_t n = 6000, dense = 1024;
	const uint64_t limit = _i & 2 ? 700 : 0;
	const bool partial = _i & 4; /* stop halfway through the second block */
	struct trace_rec *r = calloc(n, sizeof(*r));
	uint64_t seed = 11 + (uint64_t)_i;
	struct trace_file *tf;
	struct guest_trace t = {.pid = 1};
	struct tvm *vm =
	    tvm_create_mode(4096, 2048, _i & 1 ? &paging_shadow_ops : &paging_nested_ops, true);
	struct guest_params p;
	struct guest_stats st;

	for (size_t i = 0; i < n; i++) {
		uint64_t x = rnd(&seed);

		r[i].pid = 1;
		if (i < dense) { /* every page of the 4 MiB region once */
			r[i].kind = TRACE_STORE;
			r[i].size = 8;
			r[i].addr = 0x10000000ull + i * 4096 + (i % 512) * 8;
		} else if (x % 10 == 0) { /* and a little code elsewhere */
			r[i].kind = TRACE_INSTR;
			r[i].size = 4;
			r[i].addr = 0x400000 + (x >> 8) % (3 * 4096 - 4);
		} else {
			r[i].kind = (uint8_t)(TRACE_LOAD + (x >> 4) % 3);
			r[i].size = 8;
			r[i].addr = 0x10000000ull + (x >> 8) % (dense * 4096 - 8);
		}
	}
	tf = mk_trace(r, n, 1000);
	t.tf = tf;
	p = trace_params(4096, &t, 1);
	p.large = true;
	p.data_frames = limit;
	p.wl.accesses = partial ? 600 : 0;
	tvm_boot(vm, &p);
	tvm_run(vm);
	guest_os_stats(vm->g, &st);
	ck_assert_uint_eq(st.accesses, partial ? 600 : n);
	ck_assert_uint_eq(st.huge_faults, limit ? 1 : 2);
	if (limit)
		ck_assert_uint_le(st.frames_user, limit);
	if (limit && !partial)
		ck_assert_uint_gt(st.swap_outs, 0);
	if (!limit)
		ck_assert_uint_eq(st.swap_outs, 0);
	if (!limit && !partial)
		ck_assert_uint_eq(st.zero_fills, 2 + 3);
	tvm_check(vm);
	tvm_destroy(vm);
	trace_close(tf);
	free(r);
}
END_TEST

Suite *replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("trace");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, replay_basic);
	tcase_add_loop_test(tc, lru_exact, 0, 4);
	tcase_add_test(tc, other_policies);
	tcase_add_test(tc, verify_catches);
	tcase_add_test(tc, verify_groups);
	tcase_add_test(tc, two_pids);
	tcase_add_test(tc, loop_and_limit);
	tcase_add_test(tc, content_records);
	tcase_add_test(tc, refused);
	tcase_add_loop_test(tc, large_pages, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}
