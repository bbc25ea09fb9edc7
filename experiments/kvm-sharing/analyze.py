#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ESX Fig 4 on Linux guests: the table, the shape checks, and
DIR/kvm-sharing.dat for kvm-sharing.gp.

Each run DIR/fig4-ENGINE-N (ENGINE memvisor or ksm, N guests) holds the
run's summary.json, dump.json (the engine's counters when the guests' pages
were dumped) and exact.json (`memvisor share` over those dumps: what
perfect sharing frees, byte for byte).
usage: analyze.py DIR"""
import json
import os
import sys

MIB = 256.0  # pages per MiB


def load(d, engine, n):
    run = "%s/fig4-%s-%d" % (d, engine, n)
    try:
        s = json.load(open(run + "/summary.json"))
        dump = json.load(open(run + "/dump.json"))
        exact = json.load(open(run + "/exact.json"))
    except (OSError, ValueError) as e:
        return None, "%s: %s" % (run, e)
    return {"summary": s, "dump": dump, "exact": exact}, None


def main(d):
    bad = []
    rows = {}
    for engine in ("memvisor", "ksm"):
        for n in (1, 2, 3):
            r, err = load(d, engine, n)
            if err:
                bad.append(err)
                continue
            rows[(engine, n)] = r
    print("| engine | guests | held at the dump (MiB) | freeable, byte-exact (MiB) | "
          "zero pages (MiB) | saved by the engine (MiB) | of freeable | peak saved (MiB) | "
          "scanner CPU (s) | verified |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    dat = {}
    for (engine, n), r in sorted(rows.items()):
        s, dump, ex = r["summary"], r["dump"], r["exact"]
        held = ex["pages_total"]
        exact = ex["pages_saved"]
        saved = min(dump["before"]["pages_saved"], dump["after"]["pages_saved"])
        host = s["host"]
        frac = saved / exact if exact else 0.0
        print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.1f | %s |" % (
            engine, n, held / MIB, exact / MIB, ex["pages_zero"] / MIB, saved / MIB,
            100 * frac, (host.get("peak_pages_saved") or 0) / MIB,
            host.get("scan_cpu_seconds") or 0, s["verified"]))
        dat.setdefault(n, {})[engine] = (held, exact, saved)
        if s["status"] != "ok" or s["verified"] is not True:
            bad.append("%s N=%d: status %s, verified %s" % (engine, n, s["status"],
                                                             s["verified"]))
        if engine == "memvisor" and saved > exact:
            bad.append("memvisor N=%d saved %d pages, more than the %d a byte-exact count "
                       "allows" % (n, saved, exact))
        if saved <= 0:
            bad.append("%s N=%d saved nothing" % (engine, n))
    with open(d + "/kvm-sharing.dat", "w") as f:
        f.write("# guests held_mib exact_mib memvisor_saved_mib ksm_saved_mib\n")
        for n in sorted(dat):
            m = dat[n].get("memvisor", (0, 0, 0))
            k = dat[n].get("ksm", (0, 0, 0))
            f.write("%d %.2f %.2f %.2f %.2f\n" % (n, m[0] / MIB, m[1] / MIB, m[2] / MIB,
                                                  k[2] / MIB))
    # ESX Fig 4's shape: what can be freed, and what is, grows with each guest
    for engine in ("memvisor", "ksm"):
        for n in (2, 3):
            a, b = rows.get((engine, n - 1)), rows.get((engine, n))
            if not a or not b:
                continue
            if b["exact"]["pages_saved"] <= a["exact"]["pages_saved"]:
                bad.append("%s: freeable did not grow from %d to %d guests" % (engine, n - 1, n))
            if b["dump"]["before"]["pages_saved"] <= a["dump"]["before"]["pages_saved"]:
                bad.append("%s: saved did not grow from %d to %d guests" % (engine, n - 1, n))
    for b in bad:
        print("shape: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.getcwd()))
