# SPDX-License-Identifier: MIT
# ESX Fig 7: allocations over time as the tax moves 0 -> 75%, the busy
# guest's throughput, and the held-rate sweep.
# usage: gnuplot -e "dir='OUT'" idletax.gp (reads OUT/switch.dat, sweep.dat)
set terminal pngcairo size 1000,720 font ",11"
set output dir."/idletax.png"
set multiplot layout 2,2 title "Idle memory tax (ESX Fig 7): two 64 MiB guests, equal shares, 96 MiB host"
set grid
set xlabel "modeled time (ms)"
set ylabel "allocated memory (MiB)"
set arrow 1 from 1000, graph 0 to 1000, graph 1 nohead dt 2 lc rgb "#666666"
set label 1 "tax 0 -> 75%" at 1020, graph 0.93
set key bottom right
plot dir."/switch.dat" index 1 using 1:3 with lines lw 2 lc rgb "#d62728" title "busy", \
     dir."/switch.dat" index 0 using 1:3 with lines lw 2 lc rgb "#1f77b4" title "idle", \
     dir."/switch.dat" index 0 using 1:5 with lines lw 1 dt 3 lc rgb "#1f77b4" title "idle: estimated active"
set ylabel "busy: accesses per modeled s"
set logscale y
unset key
plot dir."/switch.dat" index 1 using 1:($8 > 0 ? $8 : 1/0) with lines lw 2 lc rgb "#d62728"
unset logscale y
unset arrow 1
unset label 1
set xlabel "idle memory tax (%), held for the whole run"
set ylabel "busy guest's memory (MiB), 1-2 s"
set xrange [-5:80]
set key top left
plot dir."/sweep.dat" using 1:3 with linespoints lw 2 pt 7 lc rgb "#d62728" title "busy", \
     dir."/sweep.dat" using 1:4 with linespoints lw 2 pt 5 lc rgb "#1f77b4" title "idle"
set ylabel "busy: accesses per modeled s"
set logscale y
unset key
plot dir."/sweep.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb "#d62728"
unset multiplot
