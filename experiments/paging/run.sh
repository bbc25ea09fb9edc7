#!/bin/sh
# SPDX-License-Identifier: MIT
# The paging experiment: paging.ini without and with a nested walk cache,
# every guest verified; then the numbers, the shape checks (exit 1 when the
# figure does not have the shape the README describes) and the figure.
# usage: run.sh [OUT]   (MEMVISOR=path/to/memvisor to use another binary)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
out=${1:-$top/results/paging-$(date +%Y%m%d-%H%M%S)}

if [ ! -x "$MEMVISOR" ]; then
	echo "paging: no memvisor at $MEMVISOR (run make first)" >&2
	exit 2
fi
mkdir -p "$out"
"$MEMVISOR" run "$here/paging.ini" -o "$out/cold" --verify -q
"$MEMVISOR" run "$here/paging.ini" -o "$out/pwc" --verify -q --set host.pwc_entries=16
status=0
python3 "$here/analyze.py" "$out" || status=$?
gnuplot -e "dir='$out'" "$here/paging.gp"
echo "figure: $out/paging.png"
exit $status
