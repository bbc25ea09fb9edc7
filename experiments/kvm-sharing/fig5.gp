# SPDX-License-Identifier: MIT
# ESX Fig 5 on Linux guests: memory shared and reclaimed, as a percentage of
# the guests' configured memory, for memvisor's three mixes beside the
# paper's three production hosts. Called by run.sh with dir='DIR'.
set terminal pngcairo size 800,480 font ",10"
set output dir.'/fig5.png'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
set ylabel "% of configured guest memory"
set yrange [0:*]
set grid ytics
set title "page sharing in mixes of unlike guests (memvisor, Linux guests) and ESX's hosts"
plot dir.'/fig5.dat' using 2:xtic(1) title "shared", '' using 3 title "reclaimed"
