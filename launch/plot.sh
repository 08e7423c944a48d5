#!/usr/bin/env bash
# Plots a run's learning curve (return_mean against env_steps) from RUN_DIR/progress.csv into
# RUN_DIR/progress.png with gnuplot.   usage: plot.sh RUN_DIR [TITLE]
set -euo pipefail
dir=$1
title=${2:-$(basename "$dir")}
csv="$dir/progress.csv"
[ -s "$csv" ] || { echo "plot: no $csv" >&2; exit 2; }
# gnuplot columns by name, from the header
col() { head -1 "$csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
x=$(col env_steps) y=$(col return_mean) s=$(col return_std)
gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 900,540 noenhanced
set output "$dir/progress.png"
set title "$title"
set xlabel "env steps"
set ylabel "episode return (raw)"
set key bottom right
set grid
plot "$csv" using $x:(\$$y-\$$s):(\$$y+\$$s) every ::1 with filledcurves lc rgb "#c6dbef" title "+- std", \
     "$csv" using $x:$y every ::1 with lines lw 2 lc rgb "#08519c" title "mean return"
GP
echo "plot: $dir/progress.png"
