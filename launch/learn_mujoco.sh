#!/usr/bin/env bash
# learn_mujoco.sh: has learning started on the nine MuJoCo tasks? For each task it measures the
# uniform random policy's return (tests/bench_random_policy, 100 episodes) and trains
# configs/<task>.ini for STEPS env steps, then prints one table:
#   task | random return mean +- std | final return_mean | std devs above random | wall time
# "final" is the episode-weighted mean return of the last iterations of progress.csv that together
# hold at least 10 finished episodes (as tests/learn.sh reads it). Learning has started when the
# final return is at least 3 random-policy standard deviations above the random mean.
#
# usage: launch/learn_mujoco.sh [BUILD_DIR] [STEPS]      (build/, 200000)
# environment: NP ranks for mpirun (2), RUNS output folder (runs/learn_mujoco), SEED (1),
#              TASKS to run a subset (space-separated task names).
# Runs go to RUNS/<config>/ (restarted from scratch); the table also goes to RUNS/table.txt.
# Build first: launch/build.sh build. Not a test: it exits 0 whether or not a task learned,
# and non-zero only when a program fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
steps=${2:-200000}
case $build in /*) ;; *) build=$root/$build ;; esac
np=${NP:-2}
seed=${SEED:-1}
runs=${RUNS:-runs/learn_mujoco}
cd "$root"
trpo=$build/trpo
bench=$build/tests/bench_random_policy
for bin in "$trpo" "$bench"; do
  [ -x "$bin" ] || { echo "learn_mujoco.sh: $bin not found; build it first" >&2; exit 2; }
done
source launch/env.sh
mkdir -p "$runs"

# task -> config file
declare -A cfg=([Hopper-v4]=hopper [Walker2d-v4]=walker2d [HalfCheetah-v4]=half_cheetah
                [Swimmer-v4]=swimmer [Ant-v4]=ant [Humanoid-v4]=humanoid
                [InvertedPendulum-v4]=inverted_pendulum
                [InvertedDoublePendulum-v4]=inverted_double_pendulum [Reacher-v4]=reacher)
tasks=${TASKS:-Hopper-v4 Walker2d-v4 HalfCheetah-v4 Swimmer-v4 Ant-v4 Humanoid-v4
InvertedPendulum-v4 InvertedDoublePendulum-v4 Reacher-v4}

# final return: episode-weighted mean of the last iterations holding >= 10 episodes
final_return() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { n++; eps[n] = $(col["episodes"]); ret[n] = $(col["return_mean"]) }
    END { s = 0; c = 0
          for (i = n; i >= 1 && c < 10; i--) if (eps[i] > 0) { s += eps[i] * ret[i]; c += eps[i] }
          if (c == 0) print "nan", 0; else printf "%.2f %d\n", s / c, c }' "$1"
}

rows=()
for task in $tasks; do
  name=${cfg[$task]:-}
  [ -n "$name" ] || { echo "learn_mujoco.sh: no config for task $task" >&2; exit 2; }
  # the random policy's return: "TASK episodes N mean M std S len L"
  out=$("$bench" "$task" 100 "$seed")
  read -r _ _ _ _ rmean _ rstd _ <<< "$out"
  # training, timed here (start-up and checkpoints included)
  echo "== $task: random $rmean +- $rstd; training configs/$name.ini for $steps steps on $np ranks"
  t0=$(date +%s.%N)
  mpirun -np "$np" "$trpo" train "configs/$name.ini" total_steps="$steps" seed="$seed" \
    run_dir="$runs/$name" quiet=1 --restart
  t1=$(date +%s.%N)
  out=$(final_return "$runs/$name/progress.csv")
  read -r fret neps <<< "$out"
  rows+=("$(awk -v t="$task" -v m="$rmean" -v s="$rstd" -v f="$fret" -v n="$neps" \
               -v w="$(echo "$t0 $t1" | awk '{print $2 - $1}')" 'BEGIN {
      z = (s > 0 && f != "nan") ? (f - m) / s : 0
      printf "%-26s %10.2f +- %-8.2f %11s %5d %8.1f  %-3s %8.0f", t, m, s, f, n, z,
             (z >= 3 ? "yes" : "no"), w }')")
done

# the table
{
  echo "learn_mujoco: $steps env steps per task, $np ranks, seed $seed ($(date -u +%Y-%m-%dT%H:%MZ))"
  printf "%-26s %22s %11s %5s %8s  %-3s %8s\n" task "random return" "final" "eps" \
    "sd>rand" "ok" "wall [s]"
  for r in "${rows[@]}"; do echo "$r"; done
  echo "final: mean return of the last iterations holding >= 10 episodes (eps);"
  echo "sd>rand: (final - random mean) / random std; ok: learning started (sd>rand >= 3)"
} | tee "$runs/table.txt"
