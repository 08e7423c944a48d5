#!/usr/bin/env bash
# bench_nap.sh: waiting at collectives by napping (comm_nap = 1, the default) against spinning
# (comm_nap = 0, MPI_Barrier). NP ranks train Hopper-v4 bound one per core, with rebalance = 0 so
# that only the waiting differs. NENV defaults to one environment fewer than 4 per rank: the
# last rank holds 3 and the others wait for it a quarter of the sampling, the imbalance of an
# environment count that is not a multiple of the rank count. Three cases:
#   quota   the ranks run in a child cgroup with a CPU quota of QUOTA CPUs (default 3/4 of NP):
#           a container or job limit; a spinning rank spends the quota that the ranks it waits
#           for need (needs root and a writable cgroup file system; said and left out otherwise);
#   slower  the last rank's work between collectives takes SLOW times as long
#           (TRPO_BENCH_SLOW_RANK), so the others wait long at every collective, on their own cores;
#   none    nothing: napping must then cost nothing.
# In each, comm_nap = 0 and 1 alternate REPEATS times. Each run's row: env steps/s over the
# measured iterations, wait% (the ranks' waiting, share of their iterations), cpu% (the CPU time
# the ranks ran, ranks.csv cpu_time, share of their iterations: about 100 when they spin while
# waiting on their own cores, less by what napping gives back or a quota takes) and thr% (the
# share of the ranks' time the quota throttled them); then the medians and their ratio.
#
# Usage: launch/bench_nap.sh [BUILD_DIR]        (BUILD_DIR defaults to build/)
# Environment: NP=2 NENV=4*NP-1 NSTEPS=128 WARMUP=3 ITERS=10 REPEATS=5 SLOW=2 QUOTA=0.75*NP
# CASES="quota slower none" CONFIG=configs/hopper.ini. Needs NP cores. About 3 minutes at the
# defaults on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$root/launch/benchlib.sh"
bench_setup bench_nap.sh "${1:-build}"
np=${NP:-2}
nenv=${NENV:-$((4 * np - 1))}
nsteps=${NSTEPS:-128}
warmup=${WARMUP:-3}
iters=${ITERS:-10}
repeats=${REPEATS:-5}
config=${CONFIG:-configs/hopper.ini}
slow=${SLOW:-2}
quota=${QUOTA:-$(awk -v n="$np" 'BEGIN { printf "%.2f", 0.75 * n }')}
cases=${CASES:-quota slower none}
bench_need_cores bench_nap.sh "$np"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_nap.XXXXXX")
cg=""
# also on SIGTERM, SIGINT and SIGHUP: the running job first (the cgroup cannot be removed while it
# holds the ranks), then the cgroup (its ranks may take a moment to be gone); no step may stop
# the rest
cleanup() {
  bench_stop
  if [ -n "$cg" ]; then
    for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
    [ ! -d "$cg" ] || echo "bench_nap.sh: could not remove the cgroup $cg" >&2
  fi
  rm -rf "$work"
}
bench_on_exit cleanup

# one run: "rate wait% cpu% thr%" on stdout. Called from this shell (not from $(...), whose exit 1
# would leave only the subshell and whose job a signal to the script would not stop).
run() {
  local nap=$1 dir=$work/run mark0 thr
  rm -rf "$dir"
  local cmd=(mpirun -np "$np" --bind-to core --map-by core "$trpo" train "$config" nenv="$nenv"
             nsteps="$nsteps" total_steps=$((nenv * nsteps * (warmup + iters))) rebalance=0
             comm_nap="$nap" rank_times=1 run_dir="$dir" checkpoint_every=0 quiet=1 --restart)
  mark0=$(throttle_mark ${cg:+"$cg"})
  bench_job ${cg:+--cgroup "$cg"} "${cmd[@]}" >"$work/out" 2>&1 ||
    { cat "$work/out" >&2; echo "bench_nap.sh: training failed" >&2; exit 1; }
  thr=$(throttle_share "$mark0" "$(throttle_mark ${cg:+"$cg"})" "$np")
  awk -F, -v w="$warmup" -v thr="$thr" '
    FILENAME ~ /progress.csv$/ {
      if (FNR == 1) { for (i = 1; i <= NF; i++) p[$i] = i; next }
      if ($p["iteration"] == w) { s0 = $p["env_steps"]; w0 = $p["wall_s"] }
      if ($p["iteration"] > w) { s1 = $p["env_steps"]; w1 = $p["wall_s"] }
      next
    }
    FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $c["iteration"] > w {
      ti += $c["t_iter"]; tw += $c["t_wait"]; u += $c["cpu_time"]
    }
    END {
      printf "%.0f %.1f %.1f %s\n", (w1 > w0 ? (s1 - s0) / (w1 - w0) : 0), (ti > 0 ? 100 * tw / ti : 0),
             (ti > 0 ? 100 * u / ti : 0), thr
    }' "$dir/progress.csv" "$dir/ranks.csv"
}

echo "bench_nap: Hopper-v4 ($config), $np ranks, $nenv environments x $nsteps steps," \
     "$warmup+$iters iterations, rebalance=0, $repeats repeats, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for case in $cases; do
  unset TRPO_BENCH_SLOW_RANK
  case $case in
    quota)
      echo
      if ! cg=$(cgroup_make_quota "$quota" 2>"$work/cgerr"); then
        cg=""
        echo "quota: left out: $(cat "$work/cgerr")"
        continue
      fi
      echo "quota: the ranks in a cgroup with a CPU quota of $quota CPUs ($cg):" ;;
    slower)
      export TRPO_BENCH_SLOW_RANK="$((np - 1)) $slow"
      echo; echo "slower: rank $((np - 1))'s work takes ${slow}x as long:" ;;
    none)
      echo; echo "nothing slows a rank:" ;;
    *) echo "bench_nap.sh: unknown case $case (quota, slower, none)" >&2; exit 2 ;;
  esac
  printf "%-8s %6s %10s %6s %6s %6s\n" comm_nap repeat steps/s wait% cpu% thr%
  : >"$work/r0"; : >"$work/r1"
  for k in $(seq "$repeats"); do
    for nap in 0 1; do
      run "$nap" >"$work/res"
      read -r rate wait cpu thr <"$work/res"
      printf "%-8s %6d %10s %6s %6s %6s\n" "$nap" "$k" "$rate" "$wait" "$cpu" "$thr"
      echo "$rate" >>"$work/r$nap"
    done
  done
  m0=$(median <"$work/r0"); m1=$(median <"$work/r1")
  awk -v a="$m0" -v b="$m1" 'BEGIN { printf "median steps/s: comm_nap=0 %.0f, comm_nap=1 %.0f, ratio %.3f\n", a, b, b / a }'
  if [ -n "$cg" ]; then rmdir "$cg" 2>/dev/null || true; cg=""; fi
done
unset TRPO_BENCH_SLOW_RANK
