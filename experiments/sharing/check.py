#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Shape checks of the sharing experiment (ESX Fig 4), on identical.dat
and mixed.dat as collect.py writes them: exits 1, naming the check, when
the figure does not have the shape README.md describes."""
import sys


def load(path):
    rows = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        f = line.split()
        rows.append({"n": int(f[0]), "touched": float(f[2]), "shared": float(f[3]),
                     "reclaimed": float(f[4]), "zero": float(f[5]),
                     "nonzero_reclaimed": float(f[8]), "metadata_pct": float(f[10]),
                     "verified": f[12] == "yes"})
    return rows


def main():
    out = sys.argv[1]
    ident, mixed = load(f"{out}/identical.dat"), load(f"{out}/mixed.dat")
    checks = []

    def check(name, ok):
        checks.append((name, ok))

    rows = ident + mixed
    check("every run verified", all(r["verified"] for r in rows))
    check("identical guests: reclaimed memory grows with every guest",
          all(b["reclaimed"] > a["reclaimed"] for a, b in zip(ident, ident[1:])))
    check("identical guests: every guest after the first adds non-zero pages shared "
          "with the others (the library)",
          all(b["nonzero_reclaimed"] > a["nonzero_reclaimed"] for a, b in zip(ident, ident[1:])))
    # ESX: reclaimed memory grows about linearly once there are two guests
    if len(ident) >= 3:
        steps = [b["reclaimed"] - a["reclaimed"] for a, b in zip(ident[1:], ident[2:])]
        check("identical guests: reclaimed grows about linearly (steps within 50% of their mean)",
              all(abs(s - sum(steps) / len(steps)) <= 0.5 * sum(steps) / len(steps)
                  for s in steps))
    check("mixed guests: reclaimed memory grows with the number of guests",
          all(b["reclaimed"] > a["reclaimed"] for a, b in zip(mixed, mixed[1:])))
    check("shared never exceeds what the guests touched",
          all(r["shared"] <= r["touched"] for r in rows))
    check("the sharing engine's metadata stays under 0.5% of guest memory (ESX)",
          all(r["metadata_pct"] < 0.5 for r in rows))
    print("shape checks:")
    for name, ok in checks:
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    last = ident[-1]
    print(f"key number: {last['n']} identical guests reclaim {last['reclaimed']:.1f} MiB of "
          f"{last['touched']:.1f} MiB touched ({100 * last['reclaimed'] / last['touched']:.0f}%), "
          f"{last['nonzero_reclaimed']:.1f} MiB of it non-zero pages")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
