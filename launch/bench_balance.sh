#!/usr/bin/env bash
# bench_balance.sh: load balancing against a slow rank. NP ranks train Hopper-v4 bound one per
# core, in three cases:
#   time-shared  a busy loop is pinned to the last rank's core, so that rank gets about half of it
#                (a noisy neighbour): it is late by up to a scheduler slice at every collective;
#   slower       the last rank's work between collectives takes SLOW times as long
#                (TRPO_BENCH_SLOW_RANK, a busy wait before each collective; the same bits): a
#                uniformly slower core;
#   none         no slow rank: balancing must then cost nothing.
# In each, the same run with rebalance=0 (environments stay where trpo_shard_range put them) and
# rebalance=1 (environments move from slow to fast ranks between iterations) alternate REPEATS
# times; the table gives each run's env steps/s over the measured iterations, wait% (waiting for
# slower ranks, share of the iteration), the environments moved and the final environments per
# rank, then the medians and their ratio.
#
# Usage: launch/bench_balance.sh [BUILD_DIR]        (BUILD_DIR defaults to build/)
# Environment: NP=2 NENV=16 NSTEPS=128 WARMUP=3 ITERS=12 REPEATS=3 SLOW=2 CONFIG=configs/hopper.ini
# Needs NP cores. About 3 minutes at the defaults on 2 cores.
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
bench_need_cores bench_balance.sh "$np"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_balance.XXXXXX")
hog=""
cleanup() {
  [ -n "$hog" ] && kill "$hog" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# one run: rate wait% moves shares
run() {
  local rb=$1 dir=$work/run
  rm -rf "$dir"
  mpirun -np "$np" --bind-to core --map-by core "$trpo" train "$config" nenv="$nenv" \
    nsteps="$nsteps" total_steps=$((nenv * nsteps * (warmup + iters))) rebalance="$rb" \
    run_dir="$dir" checkpoint_every=0 --restart >"$work/out" 2>&1 ||
    { cat "$work/out" >&2; echo "bench_balance.sh: training failed" >&2; exit 1; }
  local shares
  shares=$(sed -n 's/.*environments per rank now \([0-9,]*\).*/\1/p' "$dir/train.log" | tail -1)
  awk -F, -v w="$warmup" -v sh="${shares:-even}" '
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { mv += $c["env_moves"] }
    $c["iteration"] == w { s0 = $c["env_steps"]; w0 = $c["wall_s"] }
    $c["iteration"] > w { s1 = $c["env_steps"]; w1 = $c["wall_s"]; ti += $c["t_iter"]; tw += $c["t_wait"] }
    END { printf "%.0f %.1f %d %s\n", (s1 - s0) / (w1 - w0), 100 * tw / ti, mv, sh }' "$dir/progress.csv"
}

echo "bench_balance: Hopper-v4 ($config), $np ranks, $nenv environments x $nsteps steps," \
     "$warmup+$iters iterations, $repeats repeats, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for case in time-shared slower none; do
  unset TRPO_BENCH_SLOW_RANK
  case $case in
    time-shared)
      taskset -c $((np - 1)) sh -c 'while :; do :; done' &
      hog=$!
      echo; echo "time-shared: a busy loop pinned to core $((np - 1)) (rank $((np - 1))'s):" ;;
    slower)
      export TRPO_BENCH_SLOW_RANK="$((np - 1)) $slow"
      echo; echo "slower: rank $((np - 1))'s work takes ${slow}x as long:" ;;
    none)
      echo; echo "no slow rank:" ;;
  esac
  printf "%-9s %6s %10s %6s %6s  %s\n" rebalance repeat steps/s wait% moves "envs per rank (last)"
  : >"$work/r0"; : >"$work/r1"
  for k in $(seq "$repeats"); do
    for rb in 0 1; do
      read -r rate wait moves shares <<<"$(run "$rb")"
      printf "%-9s %6d %10s %6s %6s  %s\n" "$rb" "$k" "$rate" "$wait" "$moves" "$shares"
      echo "$rate" >>"$work/r$rb"
    done
  done
  m0=$(median <"$work/r0"); m1=$(median <"$work/r1")
  awk -v a="$m0" -v b="$m1" 'BEGIN { printf "median steps/s: rebalance=0 %.0f, rebalance=1 %.0f, ratio %.2f\n", a, b, b / a }'
  if [ -n "$hog" ]; then kill "$hog"; wait "$hog" 2>/dev/null || true; hog=""; fi
done
unset TRPO_BENCH_SLOW_RANK
