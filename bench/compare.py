#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The three hot loops of this tree against another commit's binary, side
by side in one run (`make bench`; BENCH_BASE=REV picks the commit, default
HEAD~1):

  soft guests end to end  the quickstart config (`memvisor run`): workload
                          accesses per CPU second, and the run's counts,
                          which must be the same for the same seed;
  trace replay            `memvisor trace replay` of a real trace (gzip,
                          recorded here under valgrind lackey): records
                          per CPU second, and its fault and TLB counts;
  the sharing pass        `memvisor share` over synthetic guest images
                          (zero, common and private pages): CPU seconds
                          for the same pages saved.

The two binaries run alternately, REPEATS times each, and the best CPU
time of each is compared (the machines are shared: the best run is the
one least disturbed). CPU time is the children's user + system time.
usage: compare.py NEW_MEMVISOR BASE_MEMVISOR WORKDIR"""
import json
import os
import random
import resource
import subprocess
import sys

REPEATS = 5
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_run(argv, out=None):
    """Run argv; its stdout and the CPU seconds it used."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("compare: %s failed (%d): %s" % (" ".join(argv), p.returncode, p.stderr))
    return p.stdout, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def best_of(new, base, argv_of, counts_of, repeats=REPEATS):
    """Alternate the binaries; the best CPU seconds of each and their counts."""
    best, counts = {}, {}
    for _ in range(repeats):
        for name, binary in (("base", base), ("this", new)):
            out, cpu = cpu_run(argv_of(binary))
            best[name] = min(best.get(name, cpu), cpu)
            counts[name] = counts_of(out)
    return best, counts


def line(what, unit, amount, best, counts):
    same = "same counts" if counts["base"] == counts["this"] else \
        "COUNTS DIFFER: base %s, this %s" % (counts["base"], counts["this"])
    print("%-34s base %10.2f  this %10.2f %s  (%.2fx)  %s" % (
        what, amount / best["base"] / 1e6, amount / best["this"] / 1e6, unit,
        best["base"] / best["this"], same))


def soft(new, base, work):
    ini = os.path.join(TOP, "experiments/quickstart/quickstart.ini")

    def argv(b):
        return [b, "run", ini, "-o", os.path.join(work, "qs"), "-q"]

    def counts(_):
        s = json.load(open(os.path.join(work, "qs/summary.json")))
        return [(g["name"], g["accesses"], g["tlb_misses"], g["guest_page_faults"])
                for g in s["guests"]]

    best, c = best_of(new, base, argv, counts, 3)
    accesses = sum(g[1] for g in c["this"])
    line("soft guests (quickstart)", "M accesses/CPU s", accesses, best, c)


def replay(new, base, work):
    trace = os.path.join(work, "gzip.mvt")
    if not os.path.exists(trace):
        src = os.path.join(work, "gzip.in")
        with open(src, "w") as f:
            for path in sorted(os.listdir(os.path.join(TOP, "mem")))[:8]:
                if path.endswith(".c"):
                    f.write(open(os.path.join(TOP, "mem", path)).read())
        p = subprocess.run([new, "trace", "record", "-o", trace, "--", "gzip", "-c", src],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit("compare: trace record: %s" % p.stderr)

    def argv(b):
        return [b, "trace", "replay", "--json", trace]

    def counts(out):
        d = json.loads(out)
        return [d[k] for k in ("records", "page_accesses", "faults", "tlb_misses", "walk_refs")]

    best, c = best_of(new, base, argv, counts)
    line("trace replay (gzip)", "M records/CPU s", c["this"][0], best, c)


def share(new, base, work):
    """Four 64 MiB images: 20% zero pages, 40% pages common to all, 40%
    their own; the common and own pages are random bytes."""
    pages = 16384
    imgs = [os.path.join(work, "img%d.raw" % i) for i in range(4)]
    if not all(os.path.exists(p) for p in imgs):
        rng = random.Random(1)
        common = [rng.randbytes(4096) for _ in range(pages * 2 // 5)]
        for i, p in enumerate(imgs):
            r = random.Random(100 + i)
            with open(p, "wb") as f:
                for k in range(pages):
                    u = r.random()
                    f.write(bytes(4096) if u < 0.2 else common[r.randrange(len(common))]
                            if u < 0.6 else r.randbytes(4096))

    def argv(b):
        return [b, "share", "--json"] + imgs

    def counts(out):
        d = json.loads(out)
        return [d["pages_total"], d["pages_saved"], d["pages_zero"]]

    best, c = best_of(new, base, argv, counts)
    line("sharing pass (4 x 64 MiB images)", "M pages/CPU s", c["this"][0], best, c)


def main(new, base, work):
    os.makedirs(work, exist_ok=True)
    print("bench: this tree (%s) against the base (%s), best CPU time of %d runs each,"
          " alternating" % (new, base, REPEATS))
    soft(new, base, work)
    replay(new, base, work)
    share(new, base, work)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
