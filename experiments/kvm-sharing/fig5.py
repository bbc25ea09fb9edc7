#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ESX Fig 5 on Linux guests: the table beside the paper's, the checks, and
DIR/fig5.dat for fig5.gp.

Each run DIR/fig5-MIX (MIX a, b, c: tests/kvm/fig5-MIX.ini) holds its
summary.json, dump.json (the engine's counters when the guests' pages were
dumped) and exact.json (`memvisor share` over those dumps).
usage: fig5.py DIR"""
import json
import os
import sys

MIB = 256.0  # pages per MiB

MIXES = {
    "a": "one OS, three services (web, db, batch)",
    "b": "one OS and application, three sizes",
    "c": "a real program's trace, an idle OS, private data",
}
# The paper's Figure 5 (production hosts): guests, total MB, shared MB,
# reclaimed MB; percentages are of the total.
ESX = [
    ("A", "10 Windows NT VMs (database, web, development)", 2048, 880, 673),
    ("B", "9 Linux VMs (web, mail, other servers)", 1846, 539, 345),
    ("C", "5 Linux VMs (web proxy, mail, remote access)", 1658, 165, 120),
]


def load(d, mix):
    run = "%s/fig5-%s" % (d, mix)
    try:
        return {n: json.load(open("%s/%s.json" % (run, n)))
                for n in ("summary", "dump", "exact")}, None
    except (OSError, ValueError) as e:
        return None, "%s: %s" % (run, e)


def main(d):
    bad = []
    print("| mix | guests | configured (MiB) | held at the dump (MiB) | shared (MiB) | "
          "reclaimed (MiB) | shared, of configured | reclaimed, of configured | "
          "freeable, byte-exact (MiB) | of it zero pages (MiB) | reclaimed, of freeable | "
          "verified |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    dat = []
    for mix in sorted(MIXES):
        r, err = load(d, mix)
        if err:
            bad.append(err)
            continue
        s, dump, ex = r["summary"], r["dump"], r["exact"]
        conf = sum(g["memory_bytes"] for g in s["guests"]) / 4096.0
        held = ex["pages_total"]
        exact = ex["pages_saved"]
        at = dump["before"]
        sharing, saved = at["pages_sharing"], min(at["pages_saved"],
                                                   dump["after"]["pages_saved"])
        names = ", ".join("%s %d" % (g["name"], g["memory_bytes"] >> 20) for g in s["guests"])
        print("| %s: %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f%% | %.1f%% | %.1f | %.1f | %.0f%% "
              "| %s |" % (mix, MIXES[mix], names, conf / MIB, held / MIB, sharing / MIB,
                          saved / MIB, 100 * sharing / conf, 100 * saved / conf, exact / MIB,
                          ex["pages_zero"] / MIB, 100.0 * saved / exact if exact else 0,
                          s["verified"]))
        dat.append((mix, 100 * sharing / conf, 100 * saved / conf))
        if s["status"] != "ok" or s["verified"] is not True:
            bad.append("mix %s: status %s, verified %s" % (mix, s["status"], s["verified"]))
        if saved > exact:
            bad.append("mix %s: saved %d pages, more than the %d a byte-exact count allows"
                       % (mix, saved, exact))
        if saved <= 0:
            bad.append("mix %s: saved nothing" % mix)
    print()
    print("| ESX | guests | total (MB) | shared (MB) | reclaimed (MB) | shared | reclaimed |")
    print("|---|---|---|---|---|---|---|")
    for name, what, tot, sh, rec in ESX:
        print("| %s | %s | %d | %d | %d | %.1f%% | %.1f%% |" % (
            name, what, tot, sh, rec, 100.0 * sh / tot, 100.0 * rec / tot))
    with open(d + "/fig5.dat", "w") as f:
        f.write("# label shared_pct reclaimed_pct\n")
        for mix, sh, rec in dat:
            f.write("memvisor-%s %.2f %.2f\n" % (mix, sh, rec))
        for name, _, tot, sh, rec in ESX:
            f.write("ESX-%s %.2f %.2f\n" % (name, 100.0 * sh / tot, 100.0 * rec / tot))
    for b in bad:
        print("shape: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.getcwd()))
