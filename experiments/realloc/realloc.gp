# SPDX-License-Identifier: MIT
# ESX Fig 8: the reclamation state, memory in total and per guest over time.
# usage: gnuplot -e "dir='OUT'" realloc.gp (reads OUT/total.dat, guests.dat)
set terminal pngcairo size 1100,1150 font ",10"
set output dir."/realloc.png"
set multiplot layout 4,2 title "Dynamic reallocation (ESX Fig 8): five 32 MiB guests on an 84 MiB host"
set grid
set xlabel "modeled time (ms)"
set xrange [0:1800]
set ylabel "state"
set yrange [-0.5:3.5]
set ytics ("high" 0, "soft" 1, "hard" 2, "low" 3)
set title "(a) reclamation state"
plot dir."/total.dat" using 1:2 with steps lw 2 lc rgb "#444444" notitle
set ytics auto
set yrange [0:*]
set ylabel "MiB"
set title "(b) all guests"
set yrange [0:130]
set key top left font ",9"
plot dir."/total.dat" using 1:(84 - $3) with lines lw 3 lc rgb "#bbbbbb" title "host memory in use (of 84)", \
     dir."/total.dat" using 1:4 with lines lw 2 lc rgb "#000000" title "allocated (a shared page counts for each sharer)", \
     dir."/total.dat" using 1:5 with lines lw 2 lc rgb "#2ca02c" title "active", \
     dir."/total.dat" using 1:6 with lines lw 2 lc rgb "#1f77b4" title "ballooned", \
     dir."/total.dat" using 1:7 with lines lw 2 lc rgb "#9467bd" title "shared", \
     dir."/total.dat" using 1:8 with lines lw 2 lc rgb "#d62728" title "swapped"
set yrange [0:32]
names = "web db idle batch burst"
do for [i=1:5] {
	set title sprintf("(%c) %s", 98 + i, word(names, i))
	if (i == 1) { set key top right font ",9" } else { unset key }
	plot dir."/guests.dat" index (i-1) using 1:2 with lines lw 2 lc rgb "#000000" title "allocated", \
	     dir."/guests.dat" index (i-1) using 1:3 with lines lw 2 lc rgb "#2ca02c" title "active (estimate)", \
	     dir."/guests.dat" index (i-1) using 1:4 with lines lw 2 lc rgb "#1f77b4" title "ballooned", \
	     dir."/guests.dat" index (i-1) using 1:5 with lines lw 1 lc rgb "#9467bd" title "shared", \
	     dir."/guests.dat" index (i-1) using 1:6 with lines lw 2 lc rgb "#d62728" title "swapped", \
	     dir."/guests.dat" index (i-1) using 1:7 with steps lw 1 dt 2 lc rgb "#777777" title "true active"
}
unset multiplot
