#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Shape checks of the traces experiment, on OUT/traces.csv and
OUT/faults.csv as run.sh writes them; exits 1, naming the check, when one
fails. The fault-curve checks are exact properties, not tolerances: LRU is
a stack algorithm (Mattson et al., 1970), so its faults never rise with
more frames, and with a frame for every page only first touches fault."""
import csv
import sys


def main():
    out = sys.argv[1]
    sizes = list(csv.DictReader(open(f"{out}/traces.csv")))
    faults = list(csv.DictReader(open(f"{out}/faults.csv")))
    checks = []

    def check(name, ok):
        checks.append((name, ok))

    for t in sizes:
        p = t["program"]
        check(f"{p}: the .mvt is at least 10x smaller than lackey's text",
              int(t["mvt_bytes"]) * 10 <= int(t["text_bytes"]))
        check(f"{p}: the .mvt is smaller than zstd -3 of lackey's text",
              int(t["mvt_bytes"]) < int(t["zstd3_bytes"]))
        lru = [r for r in faults if r["program"] == p and r["policy"] == "lru"]
        lru.sort(key=lambda r: int(r["frames"]))
        check(f"{p}: LRU faults never rise with more frames (a stack algorithm)",
              all(int(b["faults"]) <= int(a["faults"]) for a, b in zip(lru, lru[1:])))
        full = [r for r in faults if r["program"] == p and r["fraction"] == "100"]
        check(f"{p}: a frame per page: only first touches fault, under every policy",
              len(full) == 3 and all(int(r["faults"]) == int(r["first_touches"]) and
                                     int(r["swap_ins"]) == 0 for r in full))
        check(f"{p}: every replay touches all {t['distinct_pages']} pages of the trace",
              all(r["first_touches"] == t["distinct_pages"]
                  for r in faults if r["program"] == p))
    print("shape checks:")
    for name, ok in checks:
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    t = sizes[0]
    print(f"key number: {t['program']}: {int(t['records']):,} records in {int(t['mvt_bytes']):,} "
          f"bytes of .mvt, {int(t['text_bytes']) / int(t['mvt_bytes']):.0f}x less than lackey's "
          f"text and {int(t['zstd3_bytes']) / int(t['mvt_bytes']):.1f}x less than zstd -3 of it")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
