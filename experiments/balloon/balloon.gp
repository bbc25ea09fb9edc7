# SPDX-License-Identifier: MIT
# ESX Fig 2: throughput by memory size, configured vs ballooned.
# usage: gnuplot -e "dir='OUT'" balloon.gp   (reads OUT/balloon.dat)
set terminal pngcairo size 800,520 font ",11"
set output dir."/balloon.png"
set title "Balloon overhead (ESX Fig 2): one guest, zipf workload over 144 MiB"
set xlabel "guest memory (MiB): configured, or 128 MiB ballooned down to it"
set ylabel "throughput (thousand accesses per modeled second)"
set y2label "ballooned vs configured (%)"
set ytics nomirror
set y2tics
set y2range [-6:1]
set key bottom right
set grid
set style fill solid 0.6
set boxwidth 5
plot dir."/balloon.dat" using 1:($2/1000) with linespoints lw 2 pt 7 title "configured", \
     dir."/balloon.dat" using 1:($3/1000) with linespoints lw 2 pt 5 title "ballooned", \
     dir."/balloon.dat" using 1:4 axes x1y2 with boxes lc rgb "#999999" title "difference (right axis)"
