#!/usr/bin/env bash
# Learning test: trains CONFIG with SEED for STEPS env steps and passes if the mean return of the
# last episodes (whole iterations from the end of progress.csv, at least 10 episodes) reaches
# THRESHOLD.   usage: learn.sh TRPO CONFIG SEED STEPS THRESHOLD WORKDIR [key=value ...]
set -euo pipefail
trpo=$1 config=$2 seed=$3 steps=$4 threshold=$5 work=$6
shift 6
dir="$work/learn-$(basename "$config" .ini)-seed$seed"
rm -rf "$dir"
"$trpo" train "$config" seed="$seed" total_steps="$steps" run_dir="$dir" quiet=1 "$@"
# columns by name from the header
awk -F, -v thr="$threshold" -v what="$(basename "$config") seed $seed" '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { n++; eps[n] = $(col["episodes"]); ret[n] = $(col["return_mean"]) }
  END {
    sum = 0; cnt = 0
    for (i = n; i >= 1 && cnt < 10; i--) if (eps[i] > 0) { sum += eps[i] * ret[i]; cnt += eps[i] }
    if (cnt < 10) { printf "%s: only %d episodes finished\n", what, cnt; exit 1 }
    m = sum / cnt
    printf "%s: mean return of the last %d episodes %.2f (threshold %s)\n", what, cnt, m, thr
    exit !(m >= thr)
  }' "$dir/progress.csv"
