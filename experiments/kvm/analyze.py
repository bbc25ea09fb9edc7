#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two KVM guests under ESX's policy: the numbers, the shape checks, and
DIR/kvm-two.dat for kvm.gp (one block per guest: time in s, MiB held, MiB
target, MiB ballooned, host state).
usage: analyze.py DIR"""
import csv
import json
import sys

MIB = 256.0  # pages per MiB


def main(d):
    rows = list(csv.DictReader(open(d + "/timeseries.csv")))
    summary = json.load(open(d + "/summary.json"))
    names = []
    for r in rows:
        if r["guest"] not in names:
            names.append(r["guest"])
    budget = summary["host"]["budget_bytes"] / 2**20
    bad = []
    with open(d + "/kvm-two.dat", "w") as f:
        f.write("# budget_mib %.0f\n" % budget)
        for g in names:
            f.write("# %s: time_s held_mib target_mib ballooned_mib host_state\n" % g)
            for r in rows:
                if r["guest"] != g:
                    continue
                f.write("%.3f %.2f %.2f %.2f %s\n" % (
                    float(r["time_ms"]) / 1e3, int(r["alloc_pages"]) / MIB,
                    int(r["alloc_target"]) / MIB, int(r["balloon_actual"]) / MIB,
                    r["host_state"]))
            f.write("\n\n")
    states = [int(r["host_state"]) for r in rows]
    print("host: %.0f MiB budget, worst state %s, %d state transitions, peak %.1f MiB held"
          % (budget, ["high", "soft", "hard", "low"][max(states)],
             summary["host"]["reclamation"]["transitions"],
             summary["host"]["peak_frames"] / MIB))
    for g in names:
        rs = [r for r in rows if r["guest"] == g]
        bmax = max(int(r["balloon_actual"]) for r in rs)
        taken = sum(1 for r in rs if 0 < int(r["alloc_target"]) < int(r["alloc_pages"]))
        gs = [x for x in summary["guests"] if x["name"] == g][0]
        print("%-6s balloon at most %.1f MiB, at its end %.1f MiB; target below its "
              "holding in %d of %d samples; working set (dirty log) %.1f MiB at the end; "
              "status %s, verified %s" % (
                  g, bmax / MIB, int(rs[-1]["balloon_actual"]) / MIB, taken, len(rs),
                  gs["working_set"]["estimate_pages"] / MIB, gs["status"], gs["verified"]))
        if gs["status"] != "ok":
            bad.append("%s did not end well" % g)
    if max(states) < 1:
        bad.append("the host never left the high state: nothing to reclaim")
    small = [r for r in rows if r["guest"] == "small"]
    if small and max(int(r["balloon_actual"]) for r in small) < 2048:
        bad.append("the idle guest was never ballooned by 8 MiB")
    if small and int(small[-1]["balloon_actual"]) >= max(int(r["balloon_actual"]) for r in small):
        bad.append("the idle guest did not get its pages back")
    for b in bad:
        print("shape: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
