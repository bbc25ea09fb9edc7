#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ESX Fig 2: throughput of the configured and the ballooned guest by size.

Reads OUT/configured/SIZE and OUT/ballooned/SIZE (summary.json of each),
writes OUT/balloon.dat, prints the key numbers and checks the shape the
README describes; exits 1 (saying which check failed) when it does not.
usage: analyze.py OUT SIZE...
"""
import json
import os
import sys


def guest(path):
    with open(os.path.join(path, "summary.json")) as f:
        d = json.load(f)
    if d["status"] != "ok" or d["verified"] is not True:
        sys.exit(f"balloon: {path}: run failed or not verified")
    return d["guests"][0]


def main():
    out, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
    rows, fails = [], []
    for s in sizes:
        c = guest(os.path.join(out, "configured", str(s)))
        b = guest(os.path.join(out, "ballooned", str(s)))
        tc = c["accesses"] / c["modeled_seconds"]
        tb = b["accesses"] / b["modeled_seconds"]
        want = (sizes[-1] - s) * 256  # pages ballooned
        if b["balloon_actual"] != want or b["balloon"]["actual"] != want:
            fails.append(f"{s}M: ballooned {b['balloon_actual']} pages, wanted {want}")
        rows.append((s, tc, tb, 100 * (tb / tc - 1), c["guest_swap_outs"], b["guest_swap_outs"],
                     c["guest_frames_kernel"], b["guest_frames_kernel"]))
    with open(os.path.join(out, "balloon.dat"), "w") as f:
        f.write("# size_mb configured_acc_per_s ballooned_acc_per_s overhead_pct "
                "swap_outs_configured swap_outs_ballooned kernel_frames_c kernel_frames_b\n")
        for r in rows:
            f.write("%d %.1f %.1f %.3f %d %d %d %d\n" % r)
    print("size   configured   ballooned   difference  (accesses per modeled second)")
    for s, tc, tb, d, *_ in rows:
        print(f"{s:4d}M  {tc:11.0f}  {tb:10.0f}   {d:+6.2f}%")
    worst = min(r[3] for r in rows[:-1]) if len(rows) > 1 else 0.0
    print(f"key number: the ballooned guest runs within {-worst:.2f}% of the guest "
          f"configured with the same memory (ESX: 1.4% to 4.4%)")
    # the shape: both grow with memory, the ballooned one a little below
    for i in range(1, len(rows)):
        if not (rows[i][1] > rows[i - 1][1] and rows[i][2] > rows[i - 1][2]):
            fails.append(f"throughput does not grow from {rows[i-1][0]}M to {rows[i][0]}M")
    for s, tc, tb, d, *_ in rows[:-1]:
        if not -5.0 <= d <= 0.0:
            fails.append(f"{s}M: ballooned differs by {d:+.2f}% (expected 0 to -5%)")
    if rows and abs(rows[-1][3]) > 0.1:
        fails.append(f"{rows[-1][0]}M: no balloon, yet the runs differ by {rows[-1][3]:+.2f}%")
    if len(rows) > 1 and rows[-1][1] < 3 * rows[0][1]:
        fails.append("throughput at 100% is not well above 50%: no memory pressure to measure")
    for f in fails:
        print("SHAPE CHECK FAILED:", f, file=sys.stderr)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
