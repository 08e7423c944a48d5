#!/usr/bin/env bash
# bench_ckpt.sh: what a checkpoint every iteration (checkpoint_every = 1, the default) costs the
# training rate, against none (checkpoint_every = 0). NP ranks train configs/hopper.ini (16
# environments x 128 steps); the two settings alternate REPEATS times and the medians are
# compared. STALL_MS > 0 makes every checkpoint file write pause that long halfway
# (TRPO_TEST_CKPT_STALL_MS), a stand-in for a slow or remote file system whose write and fsync
# take that long. Each run's row: env steps/s over the measured iterations, and rank 0's wall
# clock per iteration beyond t_iter (the time between iterations: the state gather, the
# checkpoint hand-over or write, the log). Ends with the medians, the cost (1 - the ratio of the
# medians) and the median of the repeats' paired ratios.
#
# Usage: launch/bench_ckpt.sh [BUILD_DIR]        (BUILD_DIR defaults to build/)
# Environment: NP=2 REPEATS=5 WARMUP=5 ITERS=20 STALL_MS=0 CONFIG=configs/hopper.ini
# RUN_DIR: an existing directory on the file system to measure (default: TMPDIR's, /tmp); the
# runs go to a new directory bench_ckpt.XXXXXX in it, removed at the end (nothing else in RUN_DIR
# is touched). About a minute per 5 repeats on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$root/launch/benchlib.sh"
bench_setup bench_ckpt.sh "${1:-build}"
np=${NP:-2}
repeats=${REPEATS:-5}
warmup=${WARMUP:-5}
iters=${ITERS:-20}
stall=${STALL_MS:-0}
config=${CONFIG:-configs/hopper.ini}
bench_need_cores bench_ckpt.sh "$np"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_ckpt.XXXXXX")
own=""
# the training job first: it may still write its last checkpoint into the run directory
cleanup() {
  bench_stop
  rm -rf "$work" ${own:+"$own"}
}
bench_on_exit cleanup
dir=$work/run
if [ -n "${RUN_DIR:-}" ]; then
  # RUN_DIR names a file system, not a directory to use up: the runs go to one of our own in it,
  # which alone is removed (every run restarts it)
  [ -d "$RUN_DIR" ] || { echo "bench_ckpt.sh: RUN_DIR=$RUN_DIR is not a directory" >&2; exit 2; }
  own=$(mktemp -d "$RUN_DIR/bench_ckpt.XXXXXX")
  dir=$own/run
fi
nenv=$(config_value "$config" nenv)
nsteps=$(config_value "$config" nsteps)

# one run: "rate between_ms" on stdout. Called from this shell (not from $(...), whose exit 1
# would leave only the subshell and whose job a signal to the script would not stop).
run() {
  rm -rf "$dir"
  bench_job env TRPO_TEST_CKPT_STALL_MS="$stall" mpirun -np "$np" --bind-to core --map-by core \
    "$trpo" train "$config" total_steps=$((nenv * nsteps * (warmup + iters))) run_dir="$dir" \
    checkpoint_every="$1" keep_checkpoints=3 quiet=1 --restart >"$work/out" 2>&1 ||
    { cat "$work/out" >&2; echo "bench_ckpt.sh: training failed" >&2; exit 1; }
  awk -F, -v w="$warmup" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $c["iteration"] == w { s0 = $c["env_steps"]; w0 = $c["wall_s"] }
    $c["iteration"] > w { s1 = $c["env_steps"]; w1 = $c["wall_s"]; ti += $c["t_iter"]; k++ }
    END { if (k == 0 || w1 <= w0) exit 1
          printf "%.0f %.2f\n", (s1 - s0) / (w1 - w0), 1e3 * ((w1 - w0) - ti) / k }' "$dir/progress.csv" ||
    { echo "bench_ckpt.sh: no measured iterations in $dir/progress.csv" >&2; exit 1; }
}

echo "bench_ckpt: $config, $np ranks, $warmup+$iters iterations, write pause ${stall} ms," \
     "run_dir on $(df -P "$(dirname "$dir")" | awk 'NR == 2 { print $1 }'), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf "%-16s %6s %10s %12s\n" checkpoint_every repeat steps/s between_ms
: >"$work/r1"; : >"$work/r0"
for k in $(seq "$repeats"); do
  for ce in 1 0; do
    run "$ce" >"$work/res"
    read -r rate between <"$work/res"
    printf "%-16s %6d %10s %12s\n" "$ce" "$k" "$rate" "$between"
    echo "$rate" >>"$work/r$ce"
  done
done
m1=$(median <"$work/r1"); m0=$(median <"$work/r0")
# each repeat's pair as a ratio too: this machine's speed drifts between repeats
mp=$(paste "$work/r1" "$work/r0" | awk '{ print $1 / $2 }' | median)
awk -v a="$m1" -v b="$m0" -v p="$mp" 'BEGIN { printf "median steps/s: checkpoint_every=1 %.0f, checkpoint_every=0 %.0f, cost %.1f%% (median of the pairs: %.1f%%)\n", a, b, 100 * (1 - a / b), 100 * (1 - p) }'
