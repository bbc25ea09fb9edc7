#!/bin/sh
# SPDX-License-Identifier: MIT
# ESX Fig 8, dynamic reallocation: the five guests of realloc.ini, verified;
# then the numbers, the shape checks (exit 1 when the figure does not have
# the shape the README describes) and the figure realloc.png.
# usage: run.sh [OUT]   (MEMVISOR=path/to/memvisor to use another binary)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
out=${1:-$top/results/realloc-$(date +%Y%m%d-%H%M%S)}

if [ ! -x "$MEMVISOR" ]; then
	echo "realloc: no memvisor at $MEMVISOR (run make first)" >&2
	exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd) # absolute: the runs work in it
cd "$out" # the swap file lives with the results while the run lasts
"$MEMVISOR" run "$here/realloc.ini" -o "$out/run" --verify -q >/dev/null
status=0
python3 "$here/analyze.py" "$out" || status=$?
gnuplot -e "dir='$out'" "$here/realloc.gp"
echo "figure: $out/realloc.png"
exit $status
