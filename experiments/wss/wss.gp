# SPDX-License-Identifier: MIT
# ESX Fig 6: working-set estimates against the truth over modeled time.
# usage: gnuplot -e "dir='OUT'" wss.gp   (reads OUT/wss.dat)
set terminal pngcairo size 900,500 font ",11"
set output dir."/wss.png"
set title "Working-set sampling (ESX Fig 6): 100 pages per 20 ms, 64 MiB guest"
set xlabel "modeled time (ms)"
set ylabel "memory (MiB)"
set yrange [0:64]
set key top right
set grid
plot dir."/wss.dat" using 1:2 with steps lw 3 lc rgb "#000000" title "true (toucher)", \
     dir."/wss.dat" using 1:3 with lines lw 2 lc rgb "#1f77b4" title "slow", \
     dir."/wss.dat" using 1:4 with lines lw 2 lc rgb "#2ca02c" title "fast", \
     dir."/wss.dat" using 1:6 with lines lw 2 dt 2 lc rgb "#d62728" title "max (the estimate)"
