#!/bin/sh
# SPDX-License-Identifier: MIT
# ESX Fig 4: page sharing across 1..10 identical guests, and across mixes
# of 3..10 different guests (web, db, batch in turn). Runs every point with
# --verify, collects the host's sharing figures into identical.dat and
# mixed.dat, checks their shape (check.py: exit 1 when the figure does not
# have the shape README.md describes), and plots sharing.png.
# Usage: run.sh [OUT] (default results/sharing-DATE); MAXN=10 by default.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
MAXN=${MAXN:-10}
out=${1:-$top/results/sharing-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

for n in $(seq 1 "$MAXN"); do
	"$MEMVISOR" run "$here/identical.ini" -o "$out/identical/$n" --verify -q \
		--set vm.count="$n" >/dev/null
	if [ "$n" -ge 3 ]; then
		"$MEMVISOR" run "$here/mixed.ini" -o "$out/mixed/$n" --verify -q \
			--set web.count=$(((n + 2) / 3)) --set db.count=$(((n + 1) / 3)) \
			--set batch.count=$((n / 3)) >/dev/null
	fi
	echo "sharing: $n guests done" >&2
done
# shellcheck disable=SC2046
python3 "$here/collect.py" "$out/identical" $(seq 1 "$MAXN") >"$out/identical.dat"
# shellcheck disable=SC2046
python3 "$here/collect.py" "$out/mixed" $(seq 3 "$MAXN") >"$out/mixed.dat"
status=0
python3 "$here/check.py" "$out" || status=$?
gnuplot -e "out='$out'" "$here/sharing.gp"
echo "figure: $out/sharing.png"
echo "$out"
exit $status
