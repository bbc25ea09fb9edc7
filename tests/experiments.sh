#!/bin/sh
# SPDX-License-Identifier: MIT
# `make check-experiments` (part of `make check`): every soft experiment
# under experiments/ run by its own run.sh, in a reduced form where it has
# a knob for it (fewer sizes, taus, guest counts or traced programs), so its
# shape checks (exit 1 when the figure does not have the shape its README
# describes) cannot rot unseen. The KVM experiment runs in the KVM suite
# (tests/kvm/suite.sh runs its two.ini with the same checks' core).
# Usage: tests/experiments.sh BUILD  (BUILD holds the release memvisor)
# EXPERIMENTS="a b" runs only those.
set -u
B=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
OUT=${TMPDIR:-/tmp}/memvisor-experiments
rm -rf "$OUT"
mkdir -p "$OUT"
export MEMVISOR="$B/memvisor"
pass=0
fail=0

# the reduced forms: each experiment's own knobs
export SIZES="64 96 128" # balloon: three sizes of five
export TAUS="0 75"       # idletax: the two ends of the tax
export MAXN=4            # sharing: 1 to 4 guests
for e in ${EXPERIMENTS:-paging balloon idletax realloc wss sharing traces}; do
	t0=$(date +%s)
	progs=""
	[ "$e" = traces ] && progs="sort ls gzip" # not python: 57 M records
	if sh "$top/experiments/$e/run.sh" "$OUT/$e" ${progs:+"$progs"} >"$OUT/$e.log" 2>&1; then
		pass=$((pass + 1))
		echo "ok $pass - experiment $e ($(($(date +%s) - t0)) s)$(grep -m 1 '^key number' "$OUT/$e.log" | sed 's/^/: /')"
	else
		fail=$((fail + 1))
		echo "not ok - experiment $e ($(($(date +%s) - t0)) s):"
		tail -n 25 "$OUT/$e.log"
	fi
done
echo "experiments: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
