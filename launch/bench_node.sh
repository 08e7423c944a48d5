#!/usr/bin/env bash
# bench_node.sh: one node's scaling, measured within a time budget. For a node you hold briefly
# (a short Slurm allocation, or the 16-core machine lent for minutes): it writes what the node is,
# then runs launch/bench_scaling.sh in order of importance, each step only if the budget has
# room for it, and stops a step (its whole process group) at the budget's end.
#
# Writes to OUT:
#   node.txt     the node: CPU model; CPUs, cores, hardware threads per core, sockets, NUMA
#                nodes; the CPUs this job may use (cpuset) and the cgroup CPU quota; steal and
#                iowait over one idle second; the load average and the busiest processes; Open
#                MPI's version. A quota below the rank count, hardware threads sharing a core
#                or steal time each slow a synchronous iteration more than free-running physics
#   1-main.txt   bench_scaling.sh, MODES="weak-mb strong-mb", every rank count, REPS repetitions:
#                the efficiency and collective targets at the largest rank count
#   2-spin.txt   the same two modes at 1 and the largest rank count with COMM_NAP=0 (waiting
#                ranks spin in MPI_Barrier): what napping gives on this node
#   3-plain.txt  MODES="weak strong" at 1 and the largest rank count (the config's vf_minibatch)
#   4-nosteal.txt  weak-mb and strong-mb at 1 and the largest rank count with steal = 0 (no
#                sharing of the sampling): what sharing gives on this node, against step 1
#   5-wide.txt   weak-mb at 1 and the largest rank count with 16 environments per rank (the
#                environment count of configs/hopper.ini on every rank): finer work to share
#   7-mpisum.txt  weak-mb and strong-mb at 1 and the largest rank count with comm_node_sum = 0
#                (exact sums through MPI_Allreduce alone): what node sums give, against step 1
#   8-nowork.txt  weak-mb and strong-mb at 1 and the largest rank count with share_work = 0
#                (each rank works alone on its environments after sampling, and load balancing
#                moves them): what sharing that work gives, against step 1
#   9-whole.txt  weak-mb and strong-mb at 1 and the largest rank count with steal_steps = NSTEPS
#                (the sampling shared in whole environments, not in chunks): what chunks give,
#                against step 1
#   10-noride.txt  weak-mb and strong-mb at 1 and the largest rank count with vf_ride = 0 (the
#                value fit after the policy update, one collective per Adam step, rather than
#                riding on the update's collectives): what fewer meeting points give, against
#                step 1
#   6-sums.txt   tests/bench_sums at 2, 4, 8, ... ranks up to nproc: one exact sum of Hopper's
#                policy gradient (5,126 doubles), read back as doubles, through MPI_Allreduce
#                alone (comm_node_sum = 0), through node shared memory reading the digit words
#                (as node sums did before they read slices) and through node shared memory reading
#                the accumulators in place and slices as doubles (the default), in microseconds
#                per sum (zeroing, adding one vector, the sum and its reading); then that sum and
#                a value-sized one (4,994 doubles) in two collectives and in one, as a value step
#                riding on a phase (vf_ride), the barriers' latency included
#   N-*.err      each step's progress; bench_scaling.sh writes every waiting row there as soon
#                as it is measured, and every main row to N-*.txt, so a step stopped at the
#                budget's end keeps the rows it reached
#   keep/STEP/   every run's raw files (bench_scaling.sh KEEP)
#   summary.txt  node.txt's essentials and the steps' tables, in one file
#   keep.tgz     with PACK=1, keep/, the *.err files and the steps' N-*.txt (their tables are
#                in summary.txt) in one archive instead: node.txt, summary.txt and keep.tgz come
#                back from a device call, which brings back at most 8 files
#
# Usage: launch/bench_node.sh [BUILD_DIR]        (BUILD_DIR defaults to build/)
# Environment: OUT=runs/bench_node BUDGET=480 (seconds for everything; a stopped step's ranks take
# a few seconds more to end, which the script waits for) MIN_STEP=45 (a step starts
# only with this many seconds left) REPS=3 (step 1; the others run once) RANKS (default 1 2 4 8
# 16, those up to nproc) STEPS="6 1 10 9 8 7 4 5 2 3" (the steps to run, in this order), PACK=0, and
# bench_scaling.sh's own (CONFIG, NSTEPS, WARMUP, ITERS,
# STRONG_NENV, STRONG_MB, WEAK_NENV, PHYS_SECONDS). At the defaults on 16 cores step 1 takes an
# estimated 4-5 minutes (each point: a 3 s physics run, then 14 training iterations), the others
# about a minute each.
# On the device machine (a build directory of trpo and tests/bench_scaling alone keeps the transfer
# under 64 MiB): source .device/unpack.sh; OUT=$OUT PACK=1 BUDGET=480 bash launch/bench_node.sh build-dev
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$root/launch/benchlib.sh"
start=$(date +%s)
bench_setup bench_node.sh "${1:-build}" tests/bench_scaling tests/bench_sums
out=${OUT:-runs/bench_node}
budget=${BUDGET:-480}
min_step=${MIN_STEP:-45}
steps=${STEPS:-6 1 10 9 8 7 4 5 2 3}
[[ $budget =~ ^[0-9]+$ && $min_step =~ ^[0-9]+$ ]] ||
  { echo "bench_node.sh: BUDGET and MIN_STEP must be whole seconds (got '$budget', '$min_step')" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
ncpu=$(nproc)
if [ -n "${RANKS:-}" ]; then
  ranks=$RANKS
else
  ranks=""
  for n in 1 2 4 8 16; do [ "$n" -le "$ncpu" ] && ranks="$ranks $n"; done
  ranks=${ranks# }
fi
read -ra rank_list <<<"$ranks"
largest=${rank_list[${#rank_list[@]} - 1]}
ends="1 $largest"
[ "$largest" != 1 ] || ends=1

left() { echo $((budget - ($(date +%s) - start))); }

# --- the node ----------------------------------------------------------------------------------
# one line per fact, "name: value"; a fact this node cannot give is "name: -"
fact() { printf '%-18s %s\n' "$1:" "${2:--}"; }
lscpu_field() { lscpu 2>/dev/null | awk -F: -v k="$1" '$1 == k { sub(/^[ \t]+/, "", $2); print $2; exit }'; }
# the CPU time lines of /proc/stat one second apart: the shares of steal and iowait over all CPUs
idle_second() {
  local a b
  a=$(grep '^cpu ' /proc/stat 2>/dev/null) || { echo "-"; return; }
  sleep 1
  b=$(grep '^cpu ' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 2; i <= n; i++) t += y[i] - x[i]
    if (t > 0) printf "steal %.1f%%, iowait %.1f%%, busy %.1f%% (all CPUs)", 100 * (y[9] - x[9]) / t,
      100 * (y[6] - x[6]) / t, 100 * (t - (y[5] - x[5]) - (y[6] - x[6])) / t; else print "-" }'
}
{
  fact date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  fact host "$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
  fact kernel "$(uname -r)"
  fact cpu_model "$(lscpu_field 'Model name')"
  fact cpus "$ncpu (nproc)"
  fact cores "$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)"
  fact threads_per_core "$(lscpu_field 'Thread(s) per core')"
  fact sockets "$(lscpu_field 'Socket(s)')"
  fact numa_nodes "$(lscpu_field 'NUMA node(s)')"
  fact cpu_mhz_max "$(lscpu_field 'CPU max MHz')"
  fact hypervisor "$(lscpu_field 'Hypervisor vendor')"
  fact smt_active "$(cat /sys/devices/system/cpu/smt/active 2>/dev/null)"
  fact cpuset "$(awk '$1 == "Cpus_allowed_list:" { print $2 }' /proc/self/status)"
  fact cgroup_quota "$(cgroup_quota) CPUs"
  fact cgroup_dirs "$(cgroup_cpu_dirs | tr '\n' ' ')"
  # MPI shared windows (sharing the sampling) live in /dev/shm: a small one stops the run at start
  fact dev_shm "$(df -h --output=size,avail /dev/shm 2>/dev/null | awk 'NR == 2 { print $1 " size, " $2 " free" }')"
  fact idle_second "$(idle_second)"
  fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
  fact busiest_life "$(ps -eo pcpu=,comm= --sort=-pcpu 2>/dev/null | head -5 | awk '{ printf "%s%s %s%%", (NR > 1 ? ", " : ""), $2, $1 }')"
  fact mpirun "$(${MPIRUN:-mpirun} --version 2>/dev/null | head -1)"
  fact build "$(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (modified)')"
  fact ranks "$ranks"
  fact budget "${budget} s"
} >"$out/node.txt"
cat "$out/node.txt" >&2

# --- the steps ---------------------------------------------------------------------------------
# run_step NAME EST RESERVE VAR=VALUE...: bench_scaling.sh with those variables, stopped after
# the budget minus RESERVE (the seconds kept for the steps after it); skipped if fewer than
# MIN_STEP seconds are left for it
run_step() {
  local name=$1 reserve=$2 limit rc=0
  shift 2
  limit=$(($(left) - reserve))
  if [ "$limit" -lt "$min_step" ]; then
    echo "step $name: skipped, $limit s of the budget left for it (MIN_STEP $min_step)" | tee "$out/$name.txt" >&2
    return 0
  fi
  echo "step $name: at most $limit s: $*" >&2
  # timeout signals its whole process group: the script, mpirun (which then stops its ranks)
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_node.XXXXXX")
  env KEEP="$out/keep/$name" TMPDIR="$tmp" "$@" timeout -k 10 "$limit" bash "$root/launch/bench_scaling.sh" "$build" \
    >"$out/$name.txt" 2>"$out/$name.err" || rc=$?
  case $rc in
    0) echo "step $name: done, $(($(date +%s) - start)) s since the start" >&2 ;;
    124 | 137) echo "step $name: stopped at the budget's end; its rows so far are kept" | tee -a "$out/$name.txt" >&2 ;;
    *) echo "step $name: failed ($rc):" >&2; tail -5 "$out/$name.err" >&2 ;;
  esac
  # a stopped step's ranks outlive its script by about a second (mpirun stops them): the next
  # step starts on idle cores. Its training runs are found by their run_dir under the step's
  # TMPDIR, its physics runs by their program
  settle "$tmp"
  rm -rf "$tmp"
}
settle() {
  local k
  for k in $(seq 150); do
    pgrep -f "$1/|$build/tests/bench_scaling " >/dev/null || return 0
    sleep 0.1
  done
  echo "bench_node.sh: processes of a stopped step still ran after 15 s; killed" >&2
  pkill -KILL -f "$1/|$build/tests/bench_scaling " || true
}
# step 6: tests/bench_sums at 2, 4, 8, ... ranks up to the CPU count (a few seconds in all)
sums_step() {
  local name=6-sums limit n
  limit=$(($(left) - $1))
  if [ "$limit" -lt 10 ]; then
    echo "step $name: skipped, $limit s of the budget left for it" | tee "$out/$name.txt" >&2
    return 0
  fi
  echo "step $name: at most $limit s" >&2
  : >"$out/$name.txt"
  for n in 2 4 8 16 32 64; do
    [ "$n" -le "$ncpu" ] || break
    timeout -k 5 "$limit" "${MPIRUN:-mpirun}" -np "$n" --bind-to core --map-by core "$build/tests/bench_sums" 5126 4500 \
      >>"$out/$name.txt" 2>>"$out/$name.err" || echo "ranks $n: bench_sums failed ($?)" >>"$out/$name.txt"
  done
  cat "$out/$name.txt" >&2
}
# keep about MIN_STEP for each step that runs after step K
reserve_after() {
  local k=$1 r=0 s seen=0
  for s in $steps; do
    [ "$seen" = 0 ] || r=$((r + min_step))
    [ "$s" != "$k" ] || seen=1
  done
  echo "$r"
}
for s in $steps; do
  case $s in
    1) run_step 1-main "$(reserve_after 1)" MODES="weak-mb strong-mb" RANKS="$ranks" REPS="${REPS:-3}" ;;
    2) run_step 2-spin "$(reserve_after 2)" MODES="weak-mb strong-mb" RANKS="$ends" REPS=1 COMM_NAP=0 ;;
    3) run_step 3-plain "$(reserve_after 3)" MODES="weak strong" RANKS="$ends" REPS=1 ;;
    4) run_step 4-nosteal "$(reserve_after 4)" MODES="weak-mb strong-mb" RANKS="$ends" REPS=1 TRAIN_ARGS=steal=0 ;;
    5) run_step 5-wide "$(reserve_after 5)" MODES=weak-mb RANKS="$ends" REPS=1 WEAK_NENV=16 ;;
    6) sums_step "$(reserve_after 6)" ;;
    7) run_step 7-mpisum "$(reserve_after 7)" MODES="weak-mb strong-mb" RANKS="$ends" REPS=1 TRAIN_ARGS=comm_node_sum=0 ;;
    8) run_step 8-nowork "$(reserve_after 8)" MODES="weak-mb strong-mb" RANKS="$ends" REPS=1 TRAIN_ARGS=share_work=0 ;;
    9) run_step 9-whole "$(reserve_after 9)" MODES="weak-mb strong-mb" RANKS="$ends" REPS=1 \
         TRAIN_ARGS="steal_steps=${NSTEPS:-128}" ;;
    10) run_step 10-noride "$(reserve_after 10)" MODES="weak-mb strong-mb" RANKS="$ends" REPS=1 \
         TRAIN_ARGS=vf_ride=0 ;;
    *) echo "bench_node.sh: STEPS: unknown step '$s' (expected 1 to 10)" >&2; exit 2 ;;
  esac
done

{
  grep -E '^(cpu_model|cpus|cores|threads_per_core|cgroup_quota|dev_shm|idle_second|busiest_life|build):' "$out/node.txt"
  for f in "$out"/[0-9]-*.txt "$out"/[0-9][0-9]-*.txt; do
    [ -e "$f" ] || continue
    echo
    echo "== $(basename "$f" .txt)"
    cat "$f"
  done
} >"$out/summary.txt"
cat "$out/summary.txt"
if [ "${PACK:-0}" = 1 ]; then
  # what the steps left (a skipped step leaves nothing)
  packed=$(cd "$out" && find . -maxdepth 1 \( -name keep -o -name '*.err' -o -name '[0-9]*-*.txt' \) | sort)
  if [ -n "$packed" ]; then
    # shellcheck disable=SC2086  # the names are the script's own (keep, N-STEP.err, N-STEP.txt)
    (cd "$out" && tar czf keep.tgz $packed && rm -rf $packed)
  fi
fi
echo "bench_node.sh: $(($(date +%s) - start)) s; everything is under $out" >&2
