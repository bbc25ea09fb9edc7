#!/bin/sh
# SPDX-License-Identifier: MIT
# ESX Fig 2, balloon overhead: the guest of balloon.ini configured with
# 64M..128M, and configured with 128M and ballooned down to the same
# sizes; every run verified. Then the numbers, the shape checks (exit 1
# when the figure does not have the shape the README describes) and the
# figure balloon.png.
# usage: run.sh [OUT]   (MEMVISOR=path/to/memvisor to use another binary)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
out=${1:-$top/results/balloon-$(date +%Y%m%d-%H%M%S)}
SIZES=${SIZES:-"64 80 96 112 128"}
MAX=128

if [ ! -x "$MEMVISOR" ]; then
	echo "balloon: no memvisor at $MEMVISOR (run make first)" >&2
	exit 2
fi
mkdir -p "$out"
for s in $SIZES; do
	"$MEMVISOR" run "$here/balloon.ini" -o "$out/configured/$s" --verify -q \
		--set vm.memory="${s}M" >/dev/null
	"$MEMVISOR" run "$here/balloon.ini" -o "$out/ballooned/$s" --verify -q \
		--set vm.balloon_target="$((MAX - s))M" >/dev/null
	echo "balloon: ${s}M done" >&2
done
status=0
# shellcheck disable=SC2086
python3 "$here/analyze.py" "$out" $SIZES || status=$?
gnuplot -e "dir='$out'" "$here/balloon.gp"
echo "figure: $out/balloon.png"
exit $status
