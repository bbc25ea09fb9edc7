#!/bin/sh
# SPDX-License-Identifier: MIT
# ESX Fig 6, working-set sampling: the toucher of wss.ini, verified; then
# the numbers, the shape checks (exit 1 when the figure does not have the
# shape the README describes) and the figure wss.png.
# usage: run.sh [OUT]   (MEMVISOR=path/to/memvisor to use another binary)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
out=${1:-$top/results/wss-$(date +%Y%m%d-%H%M%S)}

if [ ! -x "$MEMVISOR" ]; then
	echo "wss: no memvisor at $MEMVISOR (run make first)" >&2
	exit 2
fi
mkdir -p "$out"
"$MEMVISOR" run "$here/wss.ini" -o "$out/run" --verify -q >/dev/null
status=0
python3 "$here/analyze.py" "$out" || status=$?
gnuplot -e "dir='$out'" "$here/wss.gp"
echo "figure: $out/wss.png"
exit $status
