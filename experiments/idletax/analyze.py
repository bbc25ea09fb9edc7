#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ESX Fig 7: allocations and the busy guest's throughput under the tax.

Reads OUT/switch (the rate moves 0 -> 75% at 1000 ms) and OUT/tauT (the
rate held), writes OUT/switch.dat (time, allocations and estimates in MiB,
busy throughput) and OUT/sweep.dat (rate, busy throughput, allocations),
prints the key numbers and checks the shape the README describes; exits 1
(saying which check failed) when it does not. usage: analyze.py OUT TAU...
"""
import csv
import json
import os
import sys

MIB = 256  # pages


def load(path):
    with open(os.path.join(path, "summary.json")) as f:
        s = json.load(f)
    if s["status"] != "ok" or s["verified"] is not True:
        sys.exit(f"idletax: {path}: run failed or not verified")
    with open(os.path.join(path, "timeseries.csv")) as f:
        return s, list(csv.DictReader(f))


def series(rows, g):
    return [r for r in rows if r["guest"] == g]


def window(rows, g, t0, t1):
    """Busy throughput (accesses per modeled second) and mean allocations
    of both guests over [t0, t1] ms."""
    b = [r for r in series(rows, "busy") if t0 <= float(r["time_ms"]) <= t1]
    i = [r for r in series(rows, g) if t0 <= float(r["time_ms"]) <= t1]
    thru = (int(b[-1]["accesses"]) - int(b[0]["accesses"])) / \
        ((float(b[-1]["time_ms"]) - float(b[0]["time_ms"])) / 1e3)
    mean = lambda rr, c: sum(float(r[c]) for r in rr) / len(rr) / MIB
    return thru, mean(b, "alloc_pages"), mean(i, "alloc_pages")


def main():
    out, taus = sys.argv[1], [int(t) for t in sys.argv[2:]]
    fails = []
    _, rows = load(os.path.join(out, "switch"))
    with open(os.path.join(out, "switch.dat"), "w") as f:
        f.write("# time_ms guest alloc_mib target_mib active_mib ballooned_mib swapped_mib "
                "throughput_per_s idle_tax_pct\n")
        for g in ("idle", "busy"):
            prev = None
            for r in series(rows, g):
                t, a = float(r["time_ms"]), int(r["accesses"])
                thru = (a - prev[1]) / ((t - prev[0]) / 1e3) if prev and t > prev[0] else 0
                prev = (t, a)
                f.write("%.2f %s %.2f %.2f %.2f %.2f %.2f %.0f %s\n" % (
                    t, g, int(r["alloc_pages"]) / MIB, int(r["alloc_target"]) / MIB,
                    float(r["active_pages"]) / MIB, int(r["ballooned"]) / MIB,
                    int(r["swapped"]) / MIB, thru, r["idle_tax"]))
            f.write("\n\n")
    before = window(rows, "idle", 500, 1000)
    after = window(rows, "idle", 1500, 2000)
    print("                 busy accesses/s   busy MiB   idle MiB")
    print(f"tax 0   (500-1000 ms) {before[0]:12.0f}   {before[1]:8.1f}   {before[2]:8.1f}")
    print(f"tax 75% (1500-2000 ms){after[0]:12.0f}   {after[1]:8.1f}   {after[2]:8.1f}")
    print(f"key number: moving the tax from 0 to 75% moved {after[1] - before[1]:.1f} MiB "
          f"({100 * (after[1] / before[1] - 1):+.0f}%) from the idle guest to the busy one, "
          f"whose throughput went x{after[0] / before[0]:.1f} (ESX: about +30% for dbench)")
    if abs(before[1] - before[2]) > 0.05 * before[1]:
        fails.append(f"with no tax the equal-share guests hold {before[1]:.1f} and "
                     f"{before[2]:.1f} MiB, not about the same")
    if after[1] < before[1] * 1.15 or after[2] > before[2] * 0.85:
        fails.append("the tax did not move at least 15% of the memory to the busy guest")
    if after[0] < 1.25 * before[0]:
        fails.append("the busy guest's throughput did not grow by a quarter or more")
    sweep = []
    for t in taus:
        _, rr = load(os.path.join(out, f"tau{t}"))
        sweep.append((t,) + window(rr, "idle", 1000, 2000))
    with open(os.path.join(out, "sweep.dat"), "w") as f:
        f.write("# tax_pct busy_accesses_per_s busy_mib idle_mib (1000-2000 ms)\n")
        for s in sweep:
            f.write("%d %.0f %.2f %.2f\n" % s)
    print("held rate: " + ", ".join(f"{t}%: busy {b:.1f} MiB, {x:.0f}/s" for t, x, b, _ in sweep))
    for a, b in zip(sweep, sweep[1:]):
        if b[2] < a[2] - 0.5 or b[1] < a[1] * 0.95:
            fails.append(f"raising the tax from {a[0]}% to {b[0]}% did not keep the busy "
                         f"guest's memory and throughput up")
    if len(sweep) > 1 and sweep[-1][2] < sweep[0][2] * 1.15:
        fails.append("the held-rate runs do not give the busy guest more memory at 75%")
    for f in fails:
        print("SHAPE CHECK FAILED:", f, file=sys.stderr)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
