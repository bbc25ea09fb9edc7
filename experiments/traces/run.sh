#!/bin/sh
# SPDX-License-Identifier: MIT
# Real traces of real programs: record them under valgrind lackey, measure
# the format against lackey's text and zstd of it, replay each under exact
# LRU, clock and random with a sweep of data frames (fault curves), and run
# them as guest processes from a config; then the shape checks (check.py:
# exit 1 when one fails). Prints the results folder last.
#
#   MEMVISOR=build/memvisor sh experiments/traces/run.sh [OUT] [PROGRAMS]
#
# PROGRAMS (default "sort ls gzip python") picks the programs to record.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
out=${1:-$top/results/traces-$(date +%Y%m%d-%H%M%S)}
programs=${2:-sort ls gzip python}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# inputs: 2000 numbers to sort; the repository's sources to list and gzip
awk 'BEGIN { for (i = 0; i < 2000; i++) print (i * 7919) % 10007 }' >"$out/numbers.txt"
cat "$top"/guest/*.c >"$out/sources.txt"
python=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')

record() { # NAME COMMAND...
	name=$1
	shift
	echo "recording $name: $*" >&2
	"$MEMVISOR" trace record -o "$out/$name.mvt" -- "$@" >/dev/null 2>"$out/$name.record.log"
	cat "$out/$name.record.log" >&2
}
for p in $programs; do
	case $p in
	sort) record sort sort -n "$out/numbers.txt" ;;
	ls) record ls ls -R "$top/guest" "$top/mem" "$top/traces" "$top/vmm-core" ;;
	gzip) record gzip gzip -c "$out/sources.txt" ;;
	python) record python "$python" -S -c 'print(sum(i * i for i in range(20000)))' ;;
	*) echo "unknown program $p" >&2 && exit 2 ;;
	esac
done

# sizes: lackey text (regenerated from the trace: the same record lines),
# zstd -3 and -19 of it, the binary trace; conversion speed of the text
num() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1" | head -1; }
echo "program,records,instr,load,store,modify,distinct_pages,distinct_data_pages,text_bytes,zstd3_bytes,zstd19_bytes,mvt_bytes,convert_records_per_s,record_seconds" >"$out/traces.csv"
for p in $programs; do
	"$MEMVISOR" trace info --json "$out/$p.mvt" >"$out/$p.info.json"
	"$MEMVISOR" trace convert "$out/$p.mvt" "$out/$p.txt"
	text=$(wc -c <"$out/$p.txt")
	z3=$(zstd -3 -q -c "$out/$p.txt" | wc -c)
	if [ "$text" -lt 300000000 ]; then z19=$(zstd -19 -T2 -q -c "$out/$p.txt" | wc -c); else z19=; fi
	conv=$("$MEMVISOR" trace convert "$out/$p.txt" "$out/$p.again.mvt" 2>&1 |
		sed -n 's/.*s, \([0-9.]*\) M records\/s.*/\1/p')
	rm -f "$out/$p.txt" "$out/$p.again.mvt"
	j=$out/$p.info.json
	echo "$p,$(num "$j" records),$(num "$j" instr),$(num "$j" load),$(num "$j" store),$(num "$j" modify),$(num "$j" distinct_pages),$(num "$j" distinct_data_pages),$text,$z3,$z19,$(num "$j" bytes),${conv}e6,$(sed -n 's/.*"record_seconds": "\([0-9.]*\)".*/\1/p' "$j")" >>"$out/traces.csv"
done

# fault curves: every policy, data frames from 5% to 100% of the footprint
echo "program,policy,frames,fraction,faults,first_touches,swap_ins,tlb_misses,records_per_s" >"$out/faults.csv"
for p in $programs; do
	fp=$(num "$out/$p.info.json" distinct_pages)
	for pct in 5 10 15 20 30 40 50 60 70 80 90 100; do
		frames=$((fp * pct / 100))
		[ "$frames" -ge 1 ] || frames=1
		for pol in lru clock random; do
			"$MEMVISOR" trace replay --frames "$frames" --policy "$pol" --json \
				"$out/$p.mvt" >"$out/r.json"
			echo "$p,$pol,$frames,$pct,$(num "$out/r.json" faults),$(num "$out/r.json" first_touches),$(num "$out/r.json" swap_ins),$(num "$out/r.json" tlb_misses),$(num "$out/r.json" records_per_second)" >>"$out/faults.csv"
		done
	done
done
rm -f "$out/r.json"
if command -v gnuplot >/dev/null; then
	(cd "$out" && gnuplot -e "programs='$programs'" "$here/faults.gp")
fi

# the same traces as guest processes, from a config, verified
if [ -f "$out/sort.mvt" ] && [ -f "$out/ls.mvt" ] && [ -f "$out/gzip.mvt" ]; then
	cp "$here/mix.ini" "$out/mix.ini"
	"$MEMVISOR" run "$out/mix.ini" -o "$out/mix" --verify -q
	"$MEMVISOR" report "$out/mix" >/dev/null
fi
# the shape checks (exit 1 when one fails)
status=0
python3 "$here/check.py" "$out" || status=$?
echo "$out"
exit $status
