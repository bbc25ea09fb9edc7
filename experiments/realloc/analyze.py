#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ESX Fig 8: reclamation state and memory per guest and in total over time.

Reads OUT/run, writes OUT/total.dat (every 10 ms: state, free, and the
guests' allocated, active, ballooned, shared and swapped memory summed, in
MiB) and OUT/guests.dat (one block per guest: time, the same five), prints
the key numbers and checks the shape the README describes; exits 1 (saying
which check failed) when it does not. usage: analyze.py OUT
"""
import csv
import json
import os
import sys

MIB = 256  # pages
GUESTS = ["web", "db", "idle", "batch", "burst"]
COLS = [("alloc_pages", 1), ("active_pages", 1), ("ballooned", 1), ("shared", 1),
        ("swapped", 1)]


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "run", "summary.json")) as f:
        summ = json.load(f)
    if summ["status"] != "ok" or summ["verified"] is not True:
        sys.exit("realloc: the run failed or was not verified")
    with open(os.path.join(out, "run", "timeseries.csv")) as f:
        rows = list(csv.DictReader(f))
    by = {g: [r for r in rows if r["guest"] == g] for g in GUESTS}
    end = max(float(r["time_ms"]) for r in rows)
    budget = summ["host"]["budget_bytes"] / 4096 / MIB

    def at(g, t):
        """The guest's last sample at or before t."""
        last = by[g][0]
        for r in by[g]:
            if float(r["time_ms"]) > t:
                break
            last = r
        return last

    def val(r, c):
        return float(r[c]) / MIB

    total, states = [], set()
    t = 0.0
    while t <= end:
        rs = [at(g, t) for g in GUESTS]
        latest = max(rs, key=lambda r: float(r["time_ms"]))
        st = int(latest["host_state"])
        states.add(st)
        sums = [sum(val(r, c) for r in rs) for c, _ in COLS]
        total.append((t, st, int(latest["host_free_pages"]) / MIB, *sums))
        t += 10
    with open(os.path.join(out, "total.dat"), "w") as f:
        f.write("# time_ms state(0 high,1 soft,2 hard,3 low) free_mib alloc_mib active_mib "
                "ballooned_mib shared_mib swapped_mib\n")
        for row in total:
            f.write("%.0f %d %.2f %.2f %.2f %.2f %.2f %.2f\n" % row)
    with open(os.path.join(out, "guests.dat"), "w") as f:
        for g in GUESTS:
            f.write(f"# {g}: time_ms alloc active ballooned shared swapped true (MiB)\n")
            for r in by[g]:
                f.write("%.2f %.2f %.2f %.2f %.2f %.2f %.2f\n" % (
                    float(r["time_ms"]), *(val(r, c) for c, _ in COLS), int(r["ws_true"]) / MIB))
            f.write("\n\n")

    fails = []
    peak = lambda g, c, t0, t1: max(
        [val(r, c) for r in by[g] if t0 <= float(r["time_ms"]) <= t1] or [0])
    last = lambda g, c: val(by[g][-1], c)
    idle_peak, idle_end = peak("idle", "alloc_pages", 0, 300), last("idle", "alloc_pages")
    batch_before = peak("batch", "alloc_pages", 0, 590)
    batch_on = peak("batch", "alloc_pages", 600, 1200)
    batch_end = last("batch", "alloc_pages")
    gi = next(g for g in summ["guests"] if g["name"] == "idle")
    print("state time (ms): " + ", ".join(f"{k} {v * 1e3:.0f}" for k, v in
                                         summ["host"]["reclamation"]["seconds"].items()))
    print(f"idle: {idle_peak:.1f} MiB at its peak, {idle_end:.1f} MiB at the end "
          f"(ballooned {gi['balloon_actual'] / MIB:.1f}, swapped {gi['host_swapped'] / MIB:.1f}, "
          f"shared {gi['pages_sharing'] / MIB:.1f} MiB then)")
    print(f"batch: {batch_before:.1f} MiB before, {batch_on:.1f} MiB at most while busy, "
          f"{batch_end:.1f} MiB at the end")
    print(f"totals at most: ballooned {max(r[5] for r in total):.1f} MiB, shared "
          f"{max(r[6] for r in total):.1f} MiB, swapped {max(r[7] for r in total):.1f} MiB "
          f"of {budget:.0f} MiB of host")
    print(f"key number: {idle_peak - idle_end:.1f} MiB taken from the idle guest and "
          f"{batch_on - batch_before:.1f} MiB given to the batch guest when it woke, "
          f"through states {sorted(states)} (0 high .. 3 low)")
    if not states & {1, 2, 3}:
        fails.append("the host never left the high state: no reclamation to show")
    if max(r[5] for r in total) <= 0 or max(r[7] for r in total) <= 0 or \
            max(r[6] for r in total) <= 0:
        fails.append("ballooning, sharing and host swap were not all used")
    if any(r[2] < 0 for r in total):
        fails.append("free host memory went negative")
    if idle_end > 0.7 * idle_peak:
        fails.append(f"the idle guest kept {idle_end:.1f} of {idle_peak:.1f} MiB")
    if batch_on < batch_before + 15:
        fails.append(f"the batch guest got only {batch_on - batch_before:.1f} MiB when it woke")
    if batch_end > 0.85 * batch_on:
        fails.append("the batch guest kept its memory after it went idle")
    for f in fails:
        print("SHAPE CHECK FAILED:", f, file=sys.stderr)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
