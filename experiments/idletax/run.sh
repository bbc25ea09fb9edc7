#!/bin/sh
# SPDX-License-Identifier: MIT
# ESX Fig 7, the idle memory tax: idletax.ini with the rate moving from 0
# to 75% half-way, then the rate held at 0, 25, 50 and 75% for the steady
# state; every run verified. Then the numbers, the shape checks (exit 1
# when the figure does not have the shape the README describes) and the
# figure idletax.png.
# usage: run.sh [OUT]   (MEMVISOR=path/to/memvisor to use another binary)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
out=${1:-$top/results/idletax-$(date +%Y%m%d-%H%M%S)}
TAUS=${TAUS:-"0 25 50 75"}

if [ ! -x "$MEMVISOR" ]; then
	echo "idletax: no memvisor at $MEMVISOR (run make first)" >&2
	exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd) # absolute: the runs work in it
cd "$out" # the swap file lives with the results while a run lasts
"$MEMVISOR" run "$here/idletax.ini" -o "$out/switch" --verify -q >/dev/null
echo "idletax: switch done" >&2
for t in $TAUS; do
	"$MEMVISOR" run "$here/idletax.ini" -o "$out/tau$t" --verify -q \
		--set host.idle_tax="$t" >/dev/null
	echo "idletax: tau $t% done" >&2
done
status=0
# shellcheck disable=SC2086
python3 "$here/analyze.py" "$out" $TAUS || status=$?
gnuplot -e "dir='$out'" "$here/idletax.gp"
echo "figure: $out/idletax.png"
exit $status
