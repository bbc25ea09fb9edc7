#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Numbers, figure data and shape checks of the paging experiment.

usage: analyze.py OUT

OUT/cold and OUT/pwc hold two runs of paging.ini (no walk cache, a 16-entry
walk cache). Writes OUT/cycles_tlb.dat, OUT/cycles_pt.dat, OUT/refs.dat and
OUT/exits.dat for paging.gp, prints the key numbers, and checks the shape
the README describes; any failed check is printed and the exit status is 1.
"""
import json
import os
import sys

REASONS = ["nested_fault", "hidden_fault", "pt_write", "cr3_write", "invlpg", "mode_switch"]
TLB = ["tlb_nested", "tlb_shadow", "tlb_dynamic", "g2m_nested", "g2m_shadow",
       "large_nested", "large_shadow"]
PT = ["pt_nested", "pt_shadow", "pt_dynamic"]
failed = []


def load(path):
    with open(path) as f:
        d = json.load(f)
    if d.get("status") != "ok" or d.get("verified") is not True:
        failed.append("%s: run not ok or not verified" % path)
    return {g["name"]: g for g in d["guests"]}


def check(ok, what):
    print("  [%s] %s" % ("ok" if ok else "FAILED", what))
    if not ok:
        failed.append(what)


def cpa(g):
    """Modeled cycles per workload access."""
    return g["modeled_cycles"] / g["accesses"]


def refs(g):
    """Walk references per TLB miss."""
    return g["walk_refs"] / g["tlb_misses"] if g["tlb_misses"] else 0.0


def walk_ref_cost(g):
    n = g["walk_refs"] + g["phys_walk_refs"]
    return g["cycles"]["walk"] / n if n else 0.0


def native(g, wref):
    """A bare-metal run of the same guest: 4-reference walks (3 through a
    2 MiB page), no exits, no host faults; the same accesses, guest OS work
    and swap I/O."""
    levels = 3 if g["name"].startswith("large") else 4
    c = g["cycles"]
    return (c["access"] + c["guest_os"] + c["swap_io"] +
            g["tlb_misses"] * levels * wref) / g["accesses"]


def gap(a, b):
    """How much slower the slower of two costs is, in % of the faster."""
    return 100.0 * (max(a, b) - min(a, b)) / min(a, b)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    out = sys.argv[1]
    cold = load(os.path.join(out, "cold", "summary.json"))
    pwc = load(os.path.join(out, "pwc", "summary.json"))
    wref = walk_ref_cost(cold["tlb_nested"])

    with open(os.path.join(out, "cycles_tlb.dat"), "w") as f, \
            open(os.path.join(out, "cycles_pt.dat"), "w") as p:
        for fh, names in ((f, TLB), (p, PT)):
            fh.write("# guest access walk exits guest_os total_pwc\n")
            for n in names:
                g = cold[n]
                c = g["cycles"]
                fh.write("%s %.2f %.2f %.2f %.2f %.2f\n" % (
                    n, c["access"] / g["accesses"], c["walk"] / g["accesses"],
                    c["exits"] / g["accesses"],
                    (c["guest_os"] + c["swap_io"]) / g["accesses"], cpa(pwc[n])))
    with open(os.path.join(out, "refs.dat"), "w") as f:
        f.write("# guest cold pwc\n")
        for n in TLB + PT:
            f.write("%s %.2f %.2f\n" % (n, refs(cold[n]), refs(pwc[n])))
    with open(os.path.join(out, "exits.dat"), "w") as f:
        f.write("# guest " + " ".join(REASONS) + "\n")
        for n in TLB + PT:
            g = cold[n]
            row = []
            for r in REASONS:
                v = 1000.0 * g["exits"][r] / g["accesses"]
                row.append("%.4g" % v if v > 0 else "-")
            f.write(n + " " + " ".join(row) + "\n")

    print("%-13s %10s %10s %9s %9s %10s %9s %7s" % (
        "guest", "cyc/acc", "pwc16", "refs/miss", "pwc16", "exits/kacc", "native", "switch"))
    for n in TLB + PT:
        g = cold[n]
        ex = sum(g["exits"].values()) * 1000.0 / g["accesses"]
        print("%-13s %10.1f %10.1f %9.2f %9.2f %10.1f %9.1f %7d" % (
            n, cpa(g), cpa(pwc[n]), refs(g), refs(pwc[n]), ex, native(g, wref),
            g["mode_switches"]))

    tn, ts, td = (cpa(cold[n]) for n in ("tlb_nested", "tlb_shadow", "tlb_dynamic"))
    pn, ps, pd = (cpa(cold[n]) for n in ("pt_nested", "pt_shadow", "pt_dynamic"))
    wn, ws, wd = (cpa(pwc[n]) for n in ("tlb_nested", "tlb_shadow", "tlb_dynamic"))
    print()
    print("TLB-miss heavy: shadow %.0f, nested %.0f cycles/access (nested %.0f%% slower); "
          "with a walk cache %.0f vs %.0f (%.0f%%); dynamic %.0f (%.0f with the cache), "
          "%d switch(es)" % (ts, tn, gap(tn, ts), ws, wn, gap(wn, ws), td, wd,
                             cold["tlb_dynamic"]["mode_switches"]))
    print("page-table heavy: nested %.0f, shadow %.0f cycles/access (shadow %.0f%% slower); "
          "dynamic %.0f, %d switch(es)" % (pn, ps, gap(pn, ps), pd,
                                             cold["pt_dynamic"]["mode_switches"]))
    print("walk references per TLB miss: nested %.1f (4 KiB), %.1f (guest 2 MiB), shadow %.1f; "
          "with 2 MiB in both dimensions TLB misses fall from %d to %d"
          % (refs(cold["tlb_nested"]), refs(cold["g2m_nested"]), refs(cold["tlb_shadow"]),
             cold["g2m_nested"]["tlb_misses"], cold["large_nested"]["tlb_misses"]))
    nat_t = native(cold["tlb_dynamic"], wref)
    nat_p = native(cold["pt_dynamic"], wref)
    print("dynamic over a native estimate: TLB-miss heavy +%.0f%%, page-table heavy +%.0f%%"
          % (100 * (td / nat_t - 1), 100 * (pd / nat_p - 1)))
    print()
    print("shape checks:")
    check(abs(refs(cold["tlb_nested"]) - 24) < 0.5, "a cold nested TLB miss walks 24 references")
    check(abs(refs(cold["tlb_shadow"]) - 4) < 0.1, "a shadow TLB miss walks 4 references")
    check(abs(refs(cold["g2m_nested"]) - 19) < 0.5, "a guest 2 MiB page cuts the 2D walk to 19")
    check(cold["large_nested"]["tlb_misses"] * 100 < cold["g2m_nested"]["tlb_misses"],
          "2 MiB in both dimensions: 2 MiB TLB entries remove nearly all misses")
    check(refs(pwc["tlb_nested"]) < refs(cold["tlb_nested"]) / 1.5,
          "a walk cache shortens nested walks")
    check(ts < tn / 1.2, "TLB-miss heavy: shadow paging wins by more than 20%")
    check(ws < wn, "TLB-miss heavy: shadow paging still wins with a walk cache")
    check(pn < ps / 1.2, "page-table heavy: nested paging wins by more than 20%")
    check(td <= 1.1 * min(tn, ts), "TLB-miss heavy: dynamic within 10% of the better mode")
    check(pd <= 1.1 * min(pn, ps), "page-table heavy: dynamic within 10% of the better mode")
    check(cold["tlb_dynamic"]["paging_final"] == "shadow", "dynamic ends the TLB-heavy run in shadow")
    check(cold["pt_dynamic"]["paging_final"] == "nested", "dynamic keeps the page-table heavy run nested")
    check(cold["pt_shadow"]["exits"]["pt_write"] > 0 and cold["pt_nested"]["exits"]["pt_write"] == 0,
          "page-table stores exit under shadow paging only")
    for n in TLB + PT:
        if n.endswith("_nested"):
            check(cold[n]["guest_page_faults"] == cold[n.replace("nested", "shadow")]["guest_page_faults"],
                  "%s: the same guest page faults in every mode" % n[:-7])
    if failed:
        print("\npaging: SHAPE CHECK FAILED: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
