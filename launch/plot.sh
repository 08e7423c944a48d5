#!/usr/bin/env bash
# Plots a run's learning curve (return_mean against env_steps) from RUN_DIR/progress.csv into
# RUN_DIR/progress.png with gnuplot.   usage: plot.sh RUN_DIR [TITLE]
set -euo pipefail
case $# in 1 | 2) ;; *) echo "usage: plot.sh RUN_DIR [TITLE]" >&2; exit 2 ;; esac
dir=$1
title=${2:-$(basename "$dir")}
csv="$dir/progress.csv"
[ -s "$csv" ] || { echo "plot: no $csv" >&2; exit 2; }
# gnuplot columns by name, from the header; a missing one is said (gnuplot would otherwise plot
# against the row number, or fail without a word)
col() { head -1 "$csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1 || true; }
x=$(col env_steps) y=$(col return_mean) s=$(col return_std)
for c in env_steps:$x return_mean:$y return_std:$s; do
  [ -n "${c#*:}" ] || { echo "plot: $csv has no column ${c%%:*}" >&2; exit 2; }
done
# strings go to gnuplot in single quotes, where nothing but '' (one quote) is special: a title or
# path with " or \ in it then stays as it is
gq() { local v=${1//$'\n'/ }; printf "'%s'" "${v//\'/\'\'}"; }
gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 900,540 noenhanced
set output $(gq "$dir/progress.png")
set title $(gq "$title")
set xlabel "env steps"
set ylabel "episode return (raw)"
set key bottom right
set grid
plot $(gq "$csv") using $x:(\$$y-\$$s):(\$$y+\$$s) every ::1 with filledcurves lc rgb "#c6dbef" title "+- std", \
     $(gq "$csv") using $x:$y every ::1 with lines lw 2 lc rgb "#08519c" title "mean return"
GP
echo "plot: $dir/progress.png"
