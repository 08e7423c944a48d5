#!/usr/bin/env bash
# bench_balance.sh: load balancing against a slow rank. NP ranks train Hopper-v4 bound one per
# core, in three cases:
#   time-shared  a busy loop is pinned to the last rank's core, so that rank gets about half of it
#                (a noisy neighbour): it is late by up to a scheduler slice at every collective;
#   slower       the last rank's work between collectives takes SLOW times as long
#                (TRPO_BENCH_SLOW_RANK, a busy wait before each collective; the same bits): a
#                uniformly slower core;
#   moving       the same slowness moves to the next rank every PERIOD iterations (rank 0, 1,
#                ...): the slow cores of a virtual machine whose host is busy, as seen on the
#                16-core machine, where the set of slow cores changed every few iterations;
#   none         no slow rank: balancing must then cost nothing.
# In each, the same run with rebalance=0 (environments stay where trpo_shard_range put them) and
# rebalance=1 (environments move from slow to fast ranks between iterations) alternate REPEATS
# times; the table gives each run's env steps/s over the measured iterations, wait% (waiting for
# slower ranks, share of the iteration), the environments moved and the final environments per
# rank, the steps other ranks sampled for their environments' owners (work sharing, `steal`), then
# the medians and their ratio. WINDOWS="5 1" runs rebalance=1 once per rebalance_window value (the
# iterations whose median busy time a decision uses), labelled 1/wN, and gives each one's median
# and ratio to rebalance=0. STEALS="0 1" runs every setting once per steal value (labels get /sN)
# and WORKS="0 1" once per share_work value (the ranks share the work after sampling; labels get
# /kN), CHUNKS="128 16" once per steal_steps value (the steps of a chunk of an environment that
# ranks hand on while sampling; labels get /cN; with steal = 0 only the first), and each gives
# every median with its ratio to the first setting's. The steps others sampled (taken) and the
# pieces of others' environments worked on after sampling (worked, from ranks.csv) are per
# iteration.
#
# Usage: launch/bench_balance.sh [BUILD_DIR]        (BUILD_DIR defaults to build/)
# Environment: NP=2 NENV=16 NSTEPS=128 WARMUP=3 ITERS=12 REPEATS=3 SLOW=2 PERIOD=4 WINDOWS=1
# STEALS=1 WORKS=1 CHUNKS= (the config's steal_steps)
# CASES="time-shared slower moving none" CONFIG=configs/hopper.ini
# Needs NP cores. About 4 minutes at the defaults on 2 cores, 1.5 more per extra window.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$root/launch/benchlib.sh"
bench_setup bench_balance.sh "${1:-build}"
np=${NP:-2}
nenv=${NENV:-16}
nsteps=${NSTEPS:-128}
warmup=${WARMUP:-3}
iters=${ITERS:-12}
repeats=${REPEATS:-3}
config=${CONFIG:-configs/hopper.ini}
slow=${SLOW:-2}
period=${PERIOD:-4}
windows=${WINDOWS:-1}
cases=${CASES:-time-shared slower moving none}
steals=${STEALS:-1}
works=${WORKS:-1}
chunks=${CHUNKS:-$(config_value "$config" steal_steps)}
chunks=${chunks:-16}
read -ra wins <<<"$windows"
read -ra stl <<<"$steals"
read -ra wks <<<"$works"
read -ra chk <<<"$chunks"
# the settings that alternate, REBALANCE:WINDOW:STEAL:WORK:CHUNK: for each share_work, steal and
# steal_steps value, rebalance=0, then rebalance=1 with each window
settings=""
for w in "${wins[@]}"; do
  [[ $w =~ ^[0-9]+$ && $w -ge 1 && $w -le 16 ]] || { echo "bench_balance.sh: WINDOWS: '$w' is not 1..16" >&2; exit 2; }
done
for c in "${chk[@]}"; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "bench_balance.sh: CHUNKS: '$c' is not a step count" >&2; exit 2; }
done
for k in "${wks[@]}"; do
  [[ $k = 0 || $k = 1 ]] || { echo "bench_balance.sh: WORKS: '$k' is not 0 or 1" >&2; exit 2; }
  for x in "${stl[@]}"; do
    [[ $x = 0 || $x = 1 ]] || { echo "bench_balance.sh: STEALS: '$x' is not 0 or 1" >&2; exit 2; }
    for c in "${chk[@]}"; do
      settings="$settings 0:1:$x:$k:$c"
      for w in "${wins[@]}"; do settings="$settings 1:$w:$x:$k:$c"; done
      [ "$x" = 1 ] || break
    done
  done
done
# a setting's label: 0 or 1 (rebalance), /wN where several windows are compared, /sN where several
# steal values are, /kN where several share_work values are, /cN where several steal_steps are
label() {
  local rb win x k c l
  IFS=: read -r rb win x k c <<<"$1"
  l=$rb
  [ "$rb" = 0 ] || [ ${#wins[@]} -eq 1 ] || l="$l/w$win"
  [ ${#stl[@]} -eq 1 ] || l="$l/s$x"
  [ ${#wks[@]} -eq 1 ] || l="$l/k$k"
  [ ${#chk[@]} -eq 1 ] || [ "$x" = 0 ] || l="$l/c$c"
  echo "$l"
}
bench_need_cores bench_balance.sh "$np"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_balance.XXXXXX")
hog=""
# also on SIGTERM, SIGINT and SIGHUP: the running job, the busy loop, the scratch directory; no
# step may stop the rest
cleanup() {
  bench_stop
  if [ -n "$hog" ]; then kill "$hog" 2>/dev/null || true; fi
  rm -rf "$work"
}
bench_on_exit cleanup

# one run: "rate wait% moves taken worked shares" on stdout. Called from this shell (not from
# $(...), whose exit 1 would leave only the subshell and whose job a signal to the script would
# not stop).
run() {
  local rb win x k c dir=$work/run
  IFS=: read -r rb win x k c <<<"$1"
  rm -rf "$dir"
  bench_job mpirun -np "$np" --bind-to core --map-by core "$trpo" train "$config" nenv="$nenv" \
    nsteps="$nsteps" total_steps=$((nenv * nsteps * (warmup + iters))) rebalance="$rb" \
    rebalance_window="$win" steal="$x" steal_steps="$c" share_work="$k" rank_times=1 run_dir="$dir" \
    checkpoint_every=0 --restart >"$work/out" 2>&1 ||
    { cat "$work/out" >&2; echo "bench_balance.sh: training failed" >&2; exit 1; }
  local shares
  shares=$(sed -n 's/.*environments per rank now \([0-9,]*\).*/\1/p' "$dir/train.log" | tail -1)
  awk -F, -v w="$warmup" -v sh="${shares:-even}" '
    FNR == 1 { for (i = 1; i <= NF; i++) c[FILENAME, $i] = i; next }
    FILENAME ~ /ranks.csv$/ { if ($c[FILENAME, "iteration"] > w) wk += $c[FILENAME, "worked"]; next }
    { mv += $c[FILENAME, "env_moves"] }
    $c[FILENAME, "iteration"] == w { s0 = $c[FILENAME, "env_steps"]; w0 = $c[FILENAME, "wall_s"] }
    $c[FILENAME, "iteration"] > w {
      s1 = $c[FILENAME, "env_steps"]; w1 = $c[FILENAME, "wall_s"]; ti += $c[FILENAME, "t_iter"]
      tw += $c[FILENAME, "t_wait"]; tk += $c[FILENAME, "steps_taken"]; n++
    }
    END { printf "%.0f %.1f %d %.1f %.1f %s\n", (s1 - s0) / (w1 - w0), 100 * tw / ti, mv, tk / n, wk / n, sh }' \
    "$dir/ranks.csv" "$dir/progress.csv"
}

echo "bench_balance: Hopper-v4 ($config), $np ranks, $nenv environments x $nsteps steps," \
     "$warmup+$iters iterations, $repeats repeats, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for case in $cases; do
  unset TRPO_BENCH_SLOW_RANK
  case $case in
    time-shared)
      taskset -c $((np - 1)) sh -c 'while :; do :; done' &
      hog=$!
      echo; echo "time-shared: a busy loop pinned to core $((np - 1)) (rank $((np - 1))'s):" ;;
    slower)
      export TRPO_BENCH_SLOW_RANK="$((np - 1)) $slow"
      echo; echo "slower: rank $((np - 1))'s work takes ${slow}x as long:" ;;
    moving)
      export TRPO_BENCH_SLOW_RANK="0 $slow $period"
      echo; echo "moving: one rank's work takes ${slow}x as long, the next rank's after every $period iterations:" ;;
    none)
      echo; echo "no slow rank:" ;;
    *) echo "bench_balance.sh: CASES: unknown case '$case'" >&2; exit 2 ;;
  esac
  printf "%-9s %6s %10s %6s %6s %6s %6s  %s\n" rebalance repeat steps/s wait% moves taken worked \
    "envs per rank (last)"
  for st in $settings; do : >"$work/r$st"; done
  for k in $(seq "$repeats"); do
    for st in $settings; do
      run "$st" >"$work/res"
      read -r rate wait moves taken worked shares <"$work/res"
      printf "%-9s %6d %10s %6s %6s %6s %6s  %s\n" "$(label "$st")" "$k" "$rate" "$wait" "$moves" "$taken" \
        "$worked" "$shares"
      echo "$rate" >>"$work/r$st"
    done
  done
  if [ ${#stl[@]} -gt 1 ] || [ ${#wks[@]} -gt 1 ] || [ ${#chk[@]} -gt 1 ]; then
    # every setting's median and its ratio to the first setting's
    line="median steps/s:" first=""
    for st in $settings; do
      m=$(median <"$work/r$st")
      if [ -z "$first" ]; then first=$m; line="$line $(label "$st") $(awk -v a="$m" 'BEGIN { printf "%.0f", a }')"
      else line="$line, $(label "$st") $(awk -v a="$first" -v b="$m" 'BEGIN { printf "%.0f (ratio %.2f)", b, b / a }')"; fi
    done
    echo "$line"
  elif [ ${#wins[@]} -eq 1 ]; then
    m0=$(median <"$work/r0:1:${stl[0]}:${wks[0]}:${chk[0]}")
    m1=$(median <"$work/r1:${wins[0]}:${stl[0]}:${wks[0]}:${chk[0]}")
    awk -v a="$m0" -v b="$m1" 'BEGIN { printf "median steps/s: rebalance=0 %.0f, rebalance=1 %.0f, ratio %.2f\n", a, b, b / a }'
  else
    m0=$(median <"$work/r0:1:${stl[0]}:${wks[0]}:${chk[0]}")
    line="median steps/s: rebalance=0 $(awk -v a="$m0" 'BEGIN { printf "%.0f", a }')"
    for w in "${wins[@]}"; do
      m=$(median <"$work/r1:$w:${stl[0]}:${wks[0]}:${chk[0]}")
      line="$line, window $w $(awk -v a="$m0" -v b="$m" 'BEGIN { printf "%.0f (ratio %.2f)", b, b / a }')"
    done
    echo "$line"
  fi
  if [ -n "$hog" ]; then kill "$hog"; wait "$hog" 2>/dev/null || true; hog=""; fi
done
unset TRPO_BENCH_SLOW_RANK
