#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Walk the x86-64 page tables of a memvisor guest dump, independently.

memvisor run --dump DIR writes NAME.mem (the guest's physical memory, raw)
and NAME.roots (one "pid cr3" line per process, cr3 in hex). This tool reads
them with no memvisor code and walks each process's 4-level table as the
hardware would (Intel SDM vol. 3A, 4.5), checking what it finds:
  - every entry's address lies inside guest memory;
  - an entry with A set sits below entries with A set (the MMU sets A on
    every level it walks; the guest OS clears A only in leaves, when its
    clock policy ages a page, and leaves D alone, as Linux does);
  - no guest frame is mapped twice (the soft guest OS never aliases).
It prints one JSON object: per process the present, accessed and dirty
4 KiB pages (a 2 MiB page counts 512), the large-page leaves, and the
not-present entries that hold a swap entry; and exits 1 with a message
naming the table entry on the first inconsistency.

usage: ptwalk.py DIR NAME
"""
import json
import os
import struct
import sys

P, W, U, A, D, PS = 1, 2, 4, 32, 64, 128
ADDR = 0x000FFFFFFFFFF000


def fail(msg):
    print("ptwalk: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    d, name = sys.argv[1], sys.argv[2]
    mem = open(os.path.join(d, name + ".mem"), "rb").read()
    pages = len(mem) // 4096
    roots = []
    for line in open(os.path.join(d, name + ".roots")):
        if line.strip():
            pid, cr3 = line.split()
            roots.append((int(pid), int(cr3, 16)))

    def table(gpa, where):
        if gpa % 4096 or gpa // 4096 >= pages:
            fail("%s: table at 0x%x outside guest memory (%d pages)" % (where, gpa, pages))
        return struct.unpack_from("<512Q", mem, gpa)

    owner = {}
    out = {"guest_pages": pages, "processes": {}}
    for pid, cr3 in roots:
        st = {"present": 0, "accessed": 0, "dirty": 0, "swapped": 0, "tables": 0, "large": 0}

        def walk(gpa, level, va, parent_a):
            st["tables"] += 1
            for i, e in enumerate(table(gpa, "pid %d level %d" % (pid, level))):
                v = va | (i << (12 + 9 * (level - 1)))
                where = "pid %d va 0x%x level %d entry %d" % (pid, v, level, i)
                if not e & P:
                    if level == 1 and e:
                        st["swapped"] += 1
                    continue
                if e & A and not parent_a:
                    fail(where + ": accessed below a non-accessed entry")
                if level == 1 or e & PS:
                    # a 2 MiB (1 GiB) page counts as the 4 KiB pages it maps
                    n = 1 << (9 * (level - 1))
                    first = (e & ADDR & ~((n << 12) - 1)) >> 12
                    if first + n > pages:
                        fail(where + ": maps gfn %d beyond guest memory" % (first + n - 1))
                    for gfn in range(first, first + n):
                        if gfn in owner:
                            fail(where + ": gfn %d already mapped by %s" % (gfn, owner[gfn]))
                        owner[gfn] = where
                    st["present"] += n
                    st["accessed"] += n * bool(e & A)
                    st["dirty"] += n * bool(e & D)
                    st["large"] += level > 1
                else:
                    walk(e & ADDR, level - 1, v, bool(e & A))

        walk(cr3, 4, 0, True)
        out["processes"][str(pid)] = st
    print(json.dumps(out))


if __name__ == "__main__":
    main()
