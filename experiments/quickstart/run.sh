#!/bin/sh
# SPDX-License-Identifier: MIT
# The quickstart experiment: run it, verify every page, make the report.
# Prints the results folder on its last line.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MEMVISOR=${MEMVISOR:-$top/build/memvisor}
out=${1:-$top/results/quickstart-$(date +%Y%m%d-%H%M%S)}

"$MEMVISOR" run "$here/quickstart.ini" -o "$out" --verify
"$MEMVISOR" report "$out" >/dev/null
echo "report: $out/report.html"
echo "$out"
