/* SPDX-License-Identifier: MIT */
/*
 * columns: the columns of timeseries.csv and guests.csv and the fields of
 * summary.json (a guest's object and the host's), each declared once, with
 * the way its value is printed. A writer fills a row by column (out_u,
 * out_d, out_s, out_b) and prints it with out_row_write (CSV) or
 * out_json_write (JSON); the CSV header comes from the same list, so names
 * and values cannot drift apart, and both backends write the same files.
 * A figure a backend does not measure is left unset: empty in CSV and null
 * in JSON, never 0 (a KVM guest has no modeled TLB). A JSON field's path
 * nests objects at its dots ("cycles.walk" is "cycles": {"walk": ...}); a
 * group's fields are listed together. Which backend measures what: README,
 * "Output files".
 */
#ifndef VMM_CORE_COLUMNS_H
#define VMM_CORE_COLUMNS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* how a value is printed */
enum out_fmt {
	OUT_U64,  /* PRIu64 */
	OUT_INT,  /* %d */
	OUT_STR,  /* as is */
	OUT_F0,	  /* %.0f */
	OUT_F2,	  /* %.2f */
	OUT_F3,	  /* %.3f */
	OUT_F6,	  /* %.6f */
	OUT_F4,	  /* %.4f */
	OUT_G6,	  /* %.6g */
	OUT_BOOL, /* true, false (JSON; yes, no in CSV) */
	OUT_RAW,  /* a string printed as is, unquoted (a number read elsewhere) */
};

/* timeseries.csv, a row per sample per guest (vmm.h says what each is) */
#define OUT_TS_COLUMNS(X)                                                                          \
	X(time_ms, F3)                                                                             \
	X(guest, STR)                                                                              \
	X(accesses, U64)                                                                           \
	X(untouched, U64)                                                                          \
	X(resident, U64)                                                                           \
	X(shared, U64)                                                                             \
	X(ballooned, U64)                                                                          \
	X(swapped, U64)                                                                            \
	X(guest_free, U64)                                                                         \
	X(guest_page_faults, U64)                                                                  \
	X(guest_swap_outs, U64)                                                                    \
	X(guest_swap_ins, U64)                                                                     \
	X(tlb_misses, U64)                                                                         \
	X(walk_refs, U64)                                                                          \
	X(exits, U64)                                                                              \
	X(modeled_cycles, F0)                                                                      \
	X(balloon_target, U64)                                                                     \
	X(balloon_actual, U64)                                                                     \
	X(host_frames_used, U64)                                                                   \
	X(host_rss_bytes, U64)                                                                     \
	X(paging, STR)                                                                             \
	X(mode_switches, U64)                                                                      \
	X(host_state, INT)                                                                         \
	X(host_free_pages, U64)                                                                    \
	X(alloc_pages, U64)                                                                        \
	X(alloc_target, U64)                                                                       \
	X(active_pages, F0)                                                                        \
	X(ws_slow, F0)                                                                             \
	X(ws_fast, F0)                                                                             \
	X(ws_current, F0)                                                                          \
	X(ws_true, U64)                                                                            \
	X(shares_per_page, G6)                                                                     \
	X(idle_tax, F2)                                                                            \
	X(balloon_wanted, U64)                                                                     \
	X(guest_balloon_pages, U64)                                                                \
	X(balloon_inflated, U64)                                                                   \
	X(balloon_deflated, U64)                                                                   \
	X(balloon_deflated_unasked, U64)                                                           \
	X(host_swap_outs, U64)                                                                     \
	X(host_swap_ins, U64)                                                                      \
	X(swap_shared, U64)                                                                        \
	X(blocked, INT)                                                                            \
	X(blocked_ms, F3)                                                                          \
	X(idle_ms, F3)

/* guests.csv, a row per guest at the end */
#define OUT_G_COLUMNS(X)                                                                           \
	X(name, STR)                                                                               \
	X(backend, STR)                                                                            \
	X(paging, STR)                                                                             \
	X(guest_pages, U64)                                                                        \
	X(untouched, U64)                                                                          \
	X(host_frames, U64)                                                                        \
	X(pages_sharing, U64)                                                                      \
	X(balloon_actual, U64)                                                                     \
	X(host_swapped, U64)                                                                       \
	X(accesses, U64)                                                                           \
	X(tlb_misses, U64)                                                                         \
	X(walk_refs, U64)                                                                          \
	X(exits, U64)                                                                              \
	X(guest_page_faults, U64)                                                                  \
	X(guest_swap_outs, U64)                                                                    \
	X(guest_swap_ins, U64)                                                                     \
	X(cow_breaks, U64)                                                                         \
	X(modeled_cycles, F0)                                                                      \
	X(modeled_seconds, F6)                                                                     \
	X(cycles_per_access, F3)                                                                   \
	X(cycles_access, F0)                                                                       \
	X(cycles_walk, F0)                                                                         \
	X(cycles_exits, F0)                                                                        \
	X(cycles_guest_os, F0)                                                                     \
	X(cycles_swap_io, F0)                                                                      \
	X(verified, STR)                                                                           \
	X(paging_final, STR)                                                                       \
	X(mode_switches, U64)                                                                      \
	X(exits_nested_fault, U64)                                                                 \
	X(exits_hidden_fault, U64)                                                                 \
	X(exits_pt_write, U64)                                                                     \
	X(exits_cr3_write, U64)                                                                    \
	X(exits_invlpg, U64)                                                                       \
	X(exits_mode_switch, U64)                                                                  \
	X(shadow_accesses, U64)                                                                    \
	X(cycles_host_swap, F0)                                                                    \
	X(cycles_blocked, F0)                                                                      \
	X(cycles_idle, F0)                                                                         \
	X(host_swap_outs, U64)                                                                     \
	X(host_swap_ins, U64)                                                                      \
	X(swap_shared, U64)                                                                        \
	X(balloon_target, U64)                                                                     \
	X(balloon_inflated, U64)                                                                   \
	X(balloon_deflated, U64)                                                                   \
	X(alloc_target, U64)

/* summary.json, a guest's object ("guests": [...]): id, format, path */
#define OUT_JG_FIELDS(X)                                                                           \
	X(name, STR, "name")                                                                       \
	X(backend, STR, "backend")                                                                 \
	X(paging, STR, "paging")                                                                   \
	X(paging_final, STR, "paging_final")                                                       \
	X(status, STR, "status")                                                                   \
	X(error, STR, "error")                                                                     \
	X(guest_pages, U64, "guest_pages")                                                         \
	X(memory_bytes, U64, "memory_bytes")                                                       \
	X(shares, U64, "shares")                                                                   \
	X(min_bytes, U64, "min_bytes")                                                             \
	X(max_bytes, U64, "max_bytes")                                                             \
	X(seed, U64, "seed")                                                                       \
	X(untouched, U64, "untouched")                                                             \
	X(host_frames, U64, "host_frames")                                                         \
	X(peak_host_frames, U64, "peak_host_frames")                                               \
	X(pages_sharing, U64, "pages_sharing")                                                     \
	X(balloon_target, U64, "balloon_target")                                                   \
	X(balloon_actual, U64, "balloon_actual")                                                   \
	X(host_swapped, U64, "host_swapped")                                                       \
	X(cow_breaks, U64, "cow_breaks")                                                           \
	X(sharing, BOOL, "sharing")                                                                \
	X(pages_scanned, U64, "pages_scanned")                                                     \
	X(pages_volatile, U64, "pages_volatile")                                                   \
	X(pages_merged, U64, "pages_merged")                                                       \
	X(full_scans, U64, "full_scans")                                                           \
	X(accesses, U64, "accesses")                                                               \
	X(tlb_misses, U64, "tlb_misses")                                                           \
	X(walk_refs, U64, "walk_refs")                                                             \
	X(pwc_hits, U64, "pwc_hits")                                                               \
	X(phys_accesses, U64, "phys_accesses")                                                     \
	X(phys_walk_refs, U64, "phys_walk_refs")                                                   \
	X(mode_switches, U64, "mode_switches")                                                     \
	X(nested_accesses, U64, "nested_accesses")                                                 \
	X(shadow_accesses, U64, "shadow_accesses")                                                 \
	X(cr3_loads, U64, "cr3_loads")                                                             \
	X(invlpgs, U64, "invlpgs")                                                                 \
	X(emulated, U64, "emulated")                                                               \
	X(large_splits, U64, "large_splits")                                                       \
	/* the soft MMU's exits by reason (mmu_exit_name) */                                       \
	X(exits_nested_fault, U64, "exits.nested_fault")                                           \
	X(exits_hidden_fault, U64, "exits.hidden_fault")                                           \
	X(exits_pt_write, U64, "exits.pt_write")                                                   \
	X(exits_cr3_write, U64, "exits.cr3_write")                                                 \
	X(exits_invlpg, U64, "exits.invlpg")                                                       \
	X(exits_mode_switch, U64, "exits.mode_switch")                                             \
	X(exits_balloon, U64, "exits.balloon")                                                     \
	/* KVM's own counters by kind (its binary stats), kvm guests */                            \
	X(kvm_exits_exits, U64, "kvm_exits.exits")                                                 \
	X(kvm_exits_io_exits, U64, "kvm_exits.io_exits")                                           \
	X(kvm_exits_mmio_exits, U64, "kvm_exits.mmio_exits")                                       \
	X(kvm_exits_halt_exits, U64, "kvm_exits.halt_exits")                                       \
	X(kvm_exits_irq_exits, U64, "kvm_exits.irq_exits")                                         \
	X(kvm_exits_signal_exits, U64, "kvm_exits.signal_exits")                                   \
	X(kvm_exits_pf_fixed, U64, "kvm_exits.pf_fixed")                                           \
	X(kvm_exits_pf_taken, U64, "kvm_exits.pf_taken")                                           \
	X(kvm_exits_pf_guest, U64, "kvm_exits.pf_guest")                                           \
	X(kvm_exits_invlpg, U64, "kvm_exits.invlpg")                                               \
	X(kvm_exits_tlb_flush, U64, "kvm_exits.tlb_flush")                                         \
	X(kvm_exits_insn_emulation, U64, "kvm_exits.insn_emulation")                               \
	X(kvm_exits_irq_injections, U64, "kvm_exits.irq_injections")                               \
	X(kvm_exits_nmi_injections, U64, "kvm_exits.nmi_injections")                               \
	X(kvm_exits_mmu_pte_write, U64, "kvm_exits.mmu_pte_write")                                 \
	X(kvm_exits_mmu_cache_miss, U64, "kvm_exits.mmu_cache_miss")                               \
	X(kvm_exits_remote_tlb_flush, U64, "kvm_exits.remote_tlb_flush")                           \
	/* modeled cycles of the soft MMU's exits, by reason */                                    \
	X(exit_cycles_nested_fault, F0, "exit_cycles.nested_fault")                                \
	X(exit_cycles_hidden_fault, F0, "exit_cycles.hidden_fault")                                \
	X(exit_cycles_pt_write, F0, "exit_cycles.pt_write")                                        \
	X(exit_cycles_cr3_write, F0, "exit_cycles.cr3_write")                                      \
	X(exit_cycles_invlpg, F0, "exit_cycles.invlpg")                                            \
	X(exit_cycles_mode_switch, F0, "exit_cycles.mode_switch")                                  \
	X(exit_cycles_balloon, F0, "exit_cycles.balloon")                                          \
	X(kvm_stats, STR, "kvm_stats")                                                             \
	X(guest_page_faults, U64, "guest_page_faults")                                             \
	X(guest_zero_fills, U64, "guest_zero_fills")                                               \
	X(guest_swap_outs, U64, "guest_swap_outs")                                                 \
	X(guest_swap_ins, U64, "guest_swap_ins")                                                   \
	X(guest_ctx_switches, U64, "guest_ctx_switches")                                           \
	X(guest_pt_stores, U64, "guest_pt_stores")                                                 \
	X(guest_huge_faults, U64, "guest_huge_faults")                                             \
	X(guest_huge_splits, U64, "guest_huge_splits")                                             \
	X(guest_unmaps, U64, "guest_unmaps")                                                       \
	X(guest_exits, U64, "guest_exits")                                                         \
	X(guest_frames_free, U64, "guest_frames_free")                                             \
	X(guest_frames_kernel, U64, "guest_frames_kernel")                                         \
	X(guest_frames_pt, U64, "guest_frames_pt")                                                 \
	X(guest_frames_user, U64, "guest_frames_user")                                             \
	X(host_zero_fills, U64, "host_zero_fills")                                                 \
	X(vmm_frames, U64, "vmm_frames")                                                           \
	X(balloon_driver, STR, "balloon.driver")                                                   \
	X(balloon_status, STR, "balloon.status")                                                   \
	X(balloon_target2, U64, "balloon.target")                                                  \
	X(balloon_wanted, U64, "balloon.wanted")                                                   \
	X(balloon_actual2, U64, "balloon.actual")                                                  \
	X(balloon_guest_claim, U64, "balloon.guest_claim")                                         \
	X(balloon_guest_pages, U64, "balloon.guest_pages")                                         \
	X(balloon_inflated, U64, "balloon.inflated")                                               \
	X(balloon_deflated, U64, "balloon.deflated")                                               \
	X(balloon_deflated_unasked, U64, "balloon.deflated_unasked")                               \
	X(balloon_inflate_batches, U64, "balloon.inflate_batches")                                 \
	X(balloon_deflate_batches, U64, "balloon.deflate_batches")                                 \
	X(balloon_rejected_batches, U64, "balloon.rejected_batches")                               \
	X(balloon_rejected_pfns, U64, "balloon.rejected_pfns")                                     \
	X(balloon_ring_errors, U64, "balloon.ring_errors")                                         \
	X(balloon_resets, U64, "balloon.resets")                                                   \
	X(balloon_stats_updates, U64, "balloon.stats_updates")                                     \
	X(balloon_features, U64, "balloon.features")                                               \
	X(balloon_register_accesses, U64, "balloon.register_accesses")                             \
	X(balloon_guest_out_of_puff, U64, "balloon.guest_out_of_puff")                             \
	X(balloon_guest_oom_pages, U64, "balloon.guest_oom_pages")                                 \
	X(host_swap_outs, U64, "host_swap_outs")                                                   \
	X(host_swap_ins, U64, "host_swap_ins")                                                     \
	X(swap_shared, U64, "swap_shared")                                                         \
	/* a KVM guest's userfaultfd (sharing, host swap) */                                       \
	X(uffd_faults_wp, U64, "uffd.faults_wp")                                                   \
	X(uffd_faults_missing, U64, "uffd.faults_missing")                                         \
	X(uffd_zero_fills, U64, "uffd.zero_fills")                                                 \
	X(uffd_fault_mean_us, F3, "uffd.fault_mean_us")                                            \
	X(uffd_fault_max_us, F3, "uffd.fault_max_us")                                              \
	X(uffd_fault_lt_1us, U64, "uffd.fault_latency.lt_1us")                                     \
	X(uffd_fault_lt_10us, U64, "uffd.fault_latency.lt_10us")                                   \
	X(uffd_fault_lt_100us, U64, "uffd.fault_latency.lt_100us")                                 \
	X(uffd_fault_ge_100us, U64, "uffd.fault_latency.ge_100us")                                 \
	X(mc_protect_us, F3, "merge_cost.protect_us")                                              \
	X(mc_compare_us, F3, "merge_cost.compare_us")                                              \
	X(mc_remap_us, F3, "merge_cost.remap_us")                                                  \
	X(mc_punch_us, F3, "merge_cost.punch_us")                                                  \
	X(mc_longest_stall_us, F3, "merge_cost.longest_stall_us")                                  \
	X(emergency_frames, U64, "emergency_frames")                                               \
	X(alloc_target, U64, "alloc_target")                                                       \
	X(shares_per_page, G6, "shares_per_page")                                                  \
	X(ws_source, STR, "working_set.source")                                                    \
	X(ws_estimate_pages, F0, "working_set.estimate_pages")                                     \
	X(ws_slow, F4, "working_set.slow")                                                         \
	X(ws_fast, F4, "working_set.fast")                                                         \
	X(ws_current, F4, "working_set.current")                                                   \
	X(ws_periods, U64, "working_set.periods")                                                  \
	X(blocked_seconds, F6, "blocked_seconds")                                                  \
	X(idle_seconds, F6, "idle_seconds")                                                        \
	X(halts, U64, "halts")                                                                     \
	X(reboots, U64, "reboots")                                                                 \
	/* a KVM guest's own report, from its in-guest program */                                  \
	X(guest_uname, STR, "guest.uname")                                                         \
	X(guest_memtotal_kb, U64, "guest.memtotal_kb")                                             \
	X(guest_workload_seconds, RAW, "guest.workload_seconds")                                   \
	X(guest_boot_seconds, F3, "guest.boot_seconds")                                            \
	X(guest_wall_seconds, F3, "guest.wall_seconds")                                            \
	X(guest_console, STR, "guest.console")                                                     \
	X(modeled_cycles, F0, "modeled_cycles")                                                    \
	X(modeled_seconds, F6, "modeled_seconds")                                                  \
	X(cycles_access, F0, "cycles.access")                                                      \
	X(cycles_walk, F0, "cycles.walk")                                                          \
	X(cycles_exits, F0, "cycles.exits")                                                        \
	X(cycles_guest_os, F0, "cycles.guest_os")                                                  \
	X(cycles_swap_io, F0, "cycles.swap_io")                                                    \
	X(cycles_host_swap, F0, "cycles.host_swap")                                                \
	X(cycles_blocked, F0, "cycles.blocked")                                                    \
	X(cycles_idle, F0, "cycles.idle")                                                          \
	X(verified, BOOL, "verified")

/* summary.json, the host's object ("host": {...}) */
#define OUT_JH_FIELDS(X)                                                                           \
	X(backend, STR, "backend")                                                                 \
	X(kvm_paging, STR, "kvm_paging")                                                           \
	X(budget_bytes, U64, "budget_bytes")                                                       \
	X(frames_used, U64, "frames_used")                                                         \
	X(peak_frames, U64, "peak_frames")                                                         \
	X(vmm_frames, U64, "vmm_frames")                                                           \
	X(rss_bytes, U64, "rss_bytes")                                                             \
	X(peak_rss_bytes, U64, "peak_rss_bytes")                                                   \
	X(pool_resident_frames, U64, "pool_resident_frames")                                       \
	X(sharing_engine, STR, "sharing_engine")                                                   \
	X(pages_shared, U64, "pages_shared")                                                       \
	X(pages_sharing, U64, "pages_sharing")                                                     \
	X(pages_saved, U64, "pages_saved")                                                         \
	X(memory_saved_bytes, U64, "memory_saved_bytes")                                           \
	X(peak_pages_saved, U64, "peak_pages_saved")                                               \
	X(pages_zero_sharing, U64, "pages_zero_sharing")                                           \
	X(pages_hinted, U64, "pages_hinted")                                                       \
	X(pages_volatile, U64, "pages_volatile")                                                   \
	X(pages_scanned, U64, "pages_scanned")                                                     \
	X(pages_hashed, U64, "pages_hashed")                                                       \
	X(full_scans, U64, "full_scans")                                                           \
	X(merges, U64, "merges")                                                                   \
	X(cow_breaks, U64, "cow_breaks")                                                           \
	X(stale_hints, U64, "stale_hints")                                                         \
	X(hash_collisions, U64, "hash_collisions")                                                 \
	X(ksm_table_entries, U64, "ksm_table_entries")                                             \
	X(ksm_table_buckets, U64, "ksm_table_buckets")                                             \
	X(scan_cpu_seconds, F6, "scan_cpu_seconds")                                                \
	X(scan_wall_seconds, F6, "scan_wall_seconds")                                              \
	X(scan_pages_dropped, U64, "scan_pages_dropped")                                           \
	X(scan_read_seconds, F6, "scan_read_seconds")                                              \
	X(scan_hash_seconds, F6, "scan_hash_seconds")                                              \
	X(ksm_metadata_bytes, U64, "ksm_metadata_bytes")                                           \
	X(ksm_metadata_counted_bytes, U64, "ksm_metadata_counted_bytes")                           \
	X(ksm_metadata_source, STR, "ksm_metadata_source")                                         \
	X(ksm_metadata_fraction, F6, "ksm_metadata_fraction")                                      \
	X(max_map_count, U64, "limits.max_map_count")                                              \
	X(max_map_count_before, U64, "limits.max_map_count_before")                                \
	X(peak_vmas, U64, "limits.peak_vmas")                                                      \
	X(lksm_pages_to_scan, U64, "linux_ksm.pages_to_scan")                                      \
	X(lksm_sleep_ms, U64, "linux_ksm.sleep_millisecs")                                         \
	X(lksm_pages_unshared, U64, "linux_ksm.pages_unshared")                                    \
	X(lksm_zero_pages, U64, "linux_ksm.ksm_zero_pages")                                        \
	X(lksm_was_running, BOOL, "linux_ksm.was_running")                                         \
	X(rc_state, STR, "reclamation.state")                                                      \
	X(rc_transitions, U64, "reclamation.transitions")                                          \
	X(rc_policy_ticks, U64, "reclamation.policy_ticks")                                        \
	X(rc_idle_tax, F2, "reclamation.idle_tax")                                                 \
	X(rc_seconds_high, F6, "reclamation.seconds.high")                                         \
	X(rc_seconds_soft, F6, "reclamation.seconds.soft")                                         \
	X(rc_seconds_hard, F6, "reclamation.seconds.hard")                                         \
	X(rc_seconds_low, F6, "reclamation.seconds.low")                                           \
	X(rc_emergencies, U64, "reclamation.emergencies")                                          \
	X(rc_emergency_frames, U64, "reclamation.emergency_frames")                                \
	X(rc_fatal, STR, "reclamation.fatal")                                                      \
	X(swap_file, STR, "swap.file")                                                             \
	X(swap_victim, STR, "swap.victim")                                                         \
	X(swap_slots_used, U64, "swap.slots_used")                                                 \
	X(swap_peak_slots, U64, "swap.peak_slots")                                                 \
	X(swap_outs, U64, "swap.swap_outs")                                                        \
	X(swap_ins, U64, "swap.swap_ins")                                                          \
	X(swap_file_bytes, U64, "swap.file_bytes")                                                 \
	X(swap_write_errors, U64, "swap.write_errors")                                             \
	X(swap_read_errors, U64, "swap.read_errors")                                               \
	X(guest_swap_bytes, U64, "guest_swap_bytes")                                               \
	X(guests, U64, "guests")                                                                   \
	X(wall_seconds, F3, "wall_seconds")                                                        \
	X(modeled_seconds, F6, "modeled_seconds")

#define OUT_ENUM(prefix, name, fmt) prefix##name,
#define OUT_TS_ENUM(name, fmt)	    OUT_ENUM(TS_, name, fmt)
#define OUT_G_ENUM(name, fmt)	    OUT_ENUM(G_, name, fmt)
enum out_ts_col { OUT_TS_COLUMNS(OUT_TS_ENUM) TS_NR };
enum out_g_col { OUT_G_COLUMNS(OUT_G_ENUM) G_NR };
#define OUT_JG_ENUM(name, fmt, path) JG_##name,
#define OUT_JH_ENUM(name, fmt, path) JH_##name,
enum out_jg_field { OUT_JG_FIELDS(OUT_JG_ENUM) JG_NR };
enum out_jh_field { OUT_JH_FIELDS(OUT_JH_ENUM) JH_NR };

struct out_col {
	const char *name;
	enum out_fmt fmt;
};
extern const struct out_col out_ts_cols[TS_NR], out_g_cols[G_NR];
extern const struct out_col out_jg_fields[JG_NR], out_jh_fields[JH_NR];

#define OUT_MAX_COLS 192
/* One row being filled: a value and a set bit per column. */
struct out_row {
	const struct out_col *cols;
	unsigned n;
	uint64_t set[OUT_MAX_COLS / 64];
	union {
		uint64_t u;
		double d;
		const char *s;
	} v[OUT_MAX_COLS];
	char arena[1024]; /* strings out_sf made */
	size_t used;
};

/* An empty row of the timeseries.csv or the guests.csv columns, or of a
 * guest's or the host's summary.json fields. */
void out_row_ts(struct out_row *r);
void out_row_g(struct out_row *r);
void out_row_jg(struct out_row *r);
void out_row_jh(struct out_row *r);
/* Set column i (an enum out_ts_col, out_g_col, out_jg_field or
 * out_jh_field of r's file). A string is borrowed until r is written. */
void out_u(struct out_row *r, unsigned i, uint64_t v);
void out_d(struct out_row *r, unsigned i, double v);
void out_s(struct out_row *r, unsigned i, const char *v);
void out_b(struct out_row *r, unsigned i, bool v);
/* The field of r's table at path GROUP.KEY, or -1. */
int out_find(const struct out_row *r, const char *group, const char *key);
/* A string printed into r's own space (empty if it is full). */
void out_sf(struct out_row *r, unsigned i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The header line of r's columns; r itself, unset columns empty. */
void out_header_write(FILE *f, const struct out_col *cols, unsigned n);
void out_row_write(FILE *f, const struct out_row *r);
/* r as a JSON object, its fields in table order, nested at the dots of
 * their paths, unset ones null; indent starts each line after the first. */
void out_json_write(FILE *f, const struct out_row *r, const char *indent);
/* A JSON string, quoted and escaped. */
void out_json_str(FILE *f, const char *s);

#endif
