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

# The soft model's numbers, byte for byte: the quickstart's guests.csv must
# be experiments/quickstart/expected-guests.csv, so that no refactoring
# changes what a soft guest does unseen. A change to the model itself
# updates that file on purpose, and says so.
if [ -z "${EXPERIMENTS:-}" ]; then
	t0=$(date +%s)
	if "$MEMVISOR" run "$top/experiments/quickstart/quickstart.ini" -o "$OUT/quickstart" -q \
		--verify >"$OUT/quickstart.log" 2>&1 &&
		cmp -s "$OUT/quickstart/guests.csv" "$top/experiments/quickstart/expected-guests.csv"; then
		pass=$((pass + 1))
		echo "ok $pass - quickstart: guests.csv as expected ($(($(date +%s) - t0)) s)"
	else
		fail=$((fail + 1))
		echo "not ok - quickstart: guests.csv differs from experiments/quickstart/expected-guests.csv:"
		diff "$top/experiments/quickstart/expected-guests.csv" "$OUT/quickstart/guests.csv" | head -n 20
		tail -n 5 "$OUT/quickstart.log"
	fi
fi

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
