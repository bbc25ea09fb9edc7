#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Read OUT/N/summary.json for each N given and print one gnuplot data row
# per run: N and the host's sharing figures in MiB.
import json
import sys

MIB = 4096 / 1048576
out = sys.argv[1]
print("# guests guest_mib touched_mib shared_mib reclaimed_mib zero_shared_mib "
      "zero_reclaimed_mib nonzero_shared_mib nonzero_reclaimed_mib cow_breaks "
      "metadata_pct scan_cpu_s verified")
for n in sys.argv[2:]:
    with open(f"{out}/{n}/summary.json") as f:
        s = json.load(f)
    h = s["host"]
    guests = s["guests"]
    pages = sum(g["guest_pages"] for g in guests)
    touched = sum(g["guest_pages"] - g["untouched"] for g in guests)
    zero = h["pages_zero_sharing"]
    zero_rec = max(zero - 1, 0)
    print(n, f"{pages * MIB:.1f}", f"{touched * MIB:.1f}",
          f"{h['pages_sharing'] * MIB:.2f}", f"{h['pages_saved'] * MIB:.2f}",
          f"{zero * MIB:.2f}", f"{zero_rec * MIB:.2f}",
          f"{(h['pages_sharing'] - zero) * MIB:.2f}",
          f"{(h['pages_saved'] - zero_rec) * MIB:.2f}", h["cow_breaks"],
          f"{100 * h['ksm_metadata_fraction']:.3f}", f"{h['scan_cpu_seconds']:.3f}",
          "yes" if s["verified"] else "no")
