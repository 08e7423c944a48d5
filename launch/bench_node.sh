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
#                MPI's version; the build (the commit trpo was built from). A quota below the rank
#                count, hardware threads sharing a core or steal time each slow a synchronous
#                iteration more than free-running physics
#   1-main.txt   bench_scaling.sh, MODES="weak-mb strong-mb", every rank count, REPS repetitions:
#                the efficiency and collective targets at the largest rank count. Measured in the
#                order 1 and the largest rank count for both modes, then the others (FIRST): a step
#                stopped at the budget's end keeps the rows the targets come from. Its rows are in
#                that order; summary.txt sorts them by rank count
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
#                riding on a phase (vf_ride), the barriers' latency included. SUMS_MAX seconds in
#                all (a hung rank count must not take the other steps' time), each rank count
#                stopped at that deadline
#   N-*.err      each step's progress; bench_scaling.sh writes every waiting row there as soon
#                as it is measured, and every main row to N-*.txt, so a step stopped at the
#                budget's end keeps the rows it reached
#   keep/STEP/   every run's raw files (bench_scaling.sh KEEP)
#   summary.txt  node.txt's essentials and the steps' tables, in one file (a stopped or running
#                step's waiting rows so far from its N-*.err). Rebuilt after every step and
#                whenever a running step measures a row, and on SIGTERM, SIGINT or SIGHUP: a
#                command cut at any moment leaves everything measured so far in it
#   keep.tgz     with PACK=1, keep/, the *.err files and the steps' N-*.txt (their tables are
#                in summary.txt) in one archive instead, rebuilt after every step; these files
#                are then written outside OUT (under TMPDIR) and OUT holds only node.txt,
#                summary.txt and keep.tgz at any moment: a device call brings back at most 8
#                files, none deep in folders, also when the command is cut
#
# Usage: launch/bench_node.sh [BUILD_DIR]        (BUILD_DIR defaults to build/)
# Environment: OUT=runs/bench_node BUDGET=480 (seconds for everything; a stopped step's ranks take
# a few seconds more to end, which the script waits for) MARGIN (seconds of BUDGET no step may use,
# for a stopped step's ranks to end and the last summary and archive; default 30, at most BUDGET/8)
# MIN_STEP=45 (a step starts only with this many seconds left) SUMS_MAX=60 (step 6's seconds in
# all) REPS=3 (step 1; the others run once) RANKS (default 1 2 4 8 16, those up to nproc)
# STEPS="6 1 10 9 8 7 4 5 2 3" (the steps to run, in this order; all checked before any runs),
# PACK=0, and bench_scaling.sh's own (CONFIG, NSTEPS, WARMUP, ITERS,
# STRONG_NENV, STRONG_MB, WEAK_NENV, PHYS_SECONDS). At the defaults on 16 cores step 1 takes an
# estimated 4-5 minutes (each point: a 3 s physics run, then 14 training iterations), the others
# about a minute each. Before anything is measured, every program the chosen steps need is run
# once (trpo config, and 1-rank runs of tests/bench_scaling and tests/bench_sums through mpirun):
# a missing program or shared library ends the script in its first seconds, with exit status 2.
# On the device machine (a build directory of trpo, tests/bench_scaling and tests/bench_sums alone
# keeps the transfer under 64 MiB; launch/device_bundle.sh makes it, build-dev/, and the runtime
# bundle .device/ here first):
# source .device/unpack.sh; OUT=$OUT PACK=1 BUDGET=480 bash launch/bench_node.sh build-dev
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$root/launch/benchlib.sh"
start=$(date +%s)
budget=${BUDGET:-480}
min_step=${MIN_STEP:-45}
sums_max=${SUMS_MAX:-60}
steps=${STEPS:-6 1 10 9 8 7 4 5 2 3}
pack=${PACK:-0}
config=${CONFIG:-configs/hopper.ini}
mpirun=${MPIRUN:-mpirun}
die() { echo "bench_node.sh: $*" >&2; exit 2; }
[[ $budget =~ ^[0-9]+$ && $min_step =~ ^[0-9]+$ && $sums_max =~ ^[0-9]+$ ]] ||
  die "BUDGET, MIN_STEP and SUMS_MAX must be whole seconds (got '$budget', '$min_step', '$sums_max')"
margin=${MARGIN:-$((budget / 8 < 30 ? budget / 8 : 30))}
[[ $margin =~ ^[0-9]+$ ]] || die "MARGIN must be whole seconds (got '$margin')"
# every step is checked before the first runs: a bad entry found when the loop reached it ended
# the script after the steps before it, without summary.txt or the archive
seen=" " need_scaling=0 need_sums=0
for s in $steps; do
  [[ $s =~ ^([1-9]|10)$ ]] || die "STEPS: unknown step '$s' (expected 1 to 10; STEPS='$steps')"
  [[ $seen != *" $s "* ]] || die "STEPS: step $s given twice (STEPS='$steps')"
  seen="$seen$s "
  if [ "$s" = 6 ]; then need_sums=1; else need_scaling=1; fi
done
[ "$seen" != " " ] || die "STEPS names no step"
programs=()
[ "$need_scaling" = 0 ] || programs+=(tests/bench_scaling)
[ "$need_sums" = 0 ] || programs+=(tests/bench_sums)
bench_setup bench_node.sh "${1:-build}" "${programs[@]}"
ncpu=$(nproc)
ncore=$(bench_cores)
if [ -n "${RANKS:-}" ]; then
  ranks=$RANKS
else
  ranks=""
  for n in 1 2 4 8 16; do [ "$n" -le "$ncpu" ] && ranks="$ranks $n"; done
  ranks=${ranks# }
fi
read -ra rank_list <<<"$ranks"
[ "${#rank_list[@]}" -gt 0 ] || die "RANKS names no rank count"
for n in "${rank_list[@]}"; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "RANKS: '$n' is not a rank count"; done
smallest=$(printf '%s\n' "${rank_list[@]}" | sort -n | head -1)
largest=$(printf '%s\n' "${rank_list[@]}" | sort -n | tail -1)
ends="1 $largest"
[ "$largest" != 1 ] || ends=1

# every program the steps need runs here, as the steps run it: a missing shared library (the
# device machine's runtime bundle lacking one, libinih.so.1 where the package is not installed)
# ends the script now, not a step minutes into the budget. trpo config reads the config every
# training run reads; the test programs run at 1 rank through mpirun for a moment, side by side
check_programs() {
  local msg rc=0 i chk pids=()
  msg=$("$trpo" config "$config" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = 0 ] || die "$trpo does not run here ('trpo config $config' exited $rc): ${msg:0:600}"
  chk=$(mktemp -d "${TMPDIR:-/tmp}/bench_node_check.XXXXXX")
  for i in "${!programs[@]}"; do
    case ${programs[$i]} in
      tests/bench_scaling) set -- Hopper-v4 1 8 0.01 ;;   # task, environments, steps, seconds
      tests/bench_sums) set -- 64 30 64 ;;                # doubles, calls (one per block), value doubles
    esac
    timeout -k 5 30 "$mpirun" -np 1 "$build/${programs[$i]}" "$@" </dev/null >"$chk/$i" 2>&1 &
    pids+=($!)
  done
  msg=""
  for i in "${!programs[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    [ "$rc" = 0 ] || msg+=$'\n'"$build/${programs[$i]} does not run here (1 rank through $mpirun, exit $rc):"$'\n'"$(grep -m 3 -i -e error -e 'not found' "$chk/$i" || head -3 "$chk/$i")"
  done
  rm -rf "$chk"
  [ -z "$msg" ] || die "a program the steps need fails:$msg"
}
check_programs

out=${OUT:-runs/bench_node}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# the steps' own files (N-*.txt, N-*.err, keep/): in OUT; with PACK=1 outside it, packed into
# OUT/keep.tgz after every step, so that OUT never holds more than a device call brings back
if [ "$pack" = 1 ]; then
  stage=$(mktemp -d "${TMPDIR:-/tmp}/bench_node_files.XXXXXX")
  stage=$(cd "$stage" && pwd)
else
  stage=$out
fi

left() { echo $((budget - margin - ($(date +%s) - start))); }

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
# the build: the commit trpo was built from (CMake stores `git rev-parse --short HEAD` at configure
# time as TRPO_GIT_COMMIT, for checkpoints, right after the string "git_commit"; no trpo command
# prints it), else the tree's HEAD. "modified" only where git diff says the tree differs from HEAD
# (exit 1): the device machine's copy of the tree has no .git, and git's failure there said
# "modified" too
build_id() {
  local built head="" rc=2
  built=$(tr -c '[:alnum:]_' '\n' <"$trpo" |
    awk 'p && /^[0-9a-f]+$/ && length($0) >= 4 { print; exit } { p = ($0 == "git_commit") }') || true
  # git only where this tree is a repository's top (not a copy inside some other repository)
  if [ "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)" = "$root" ]; then
    head=$(git -C "$root" rev-parse --short HEAD 2>/dev/null) || head=""
    rc=0
    git -C "$root" diff --quiet HEAD 2>/dev/null || rc=$?
  fi
  local mod=""
  [ "$rc" != 1 ] || mod=" (modified)"
  if [ -n "$built" ] && [ -n "$head" ]; then
    if [[ $head == "$built"* || $built == "$head"* ]]; then echo "$built$mod"
    else echo "$built (trpo's), tree at $head$mod"; fi
  elif [ -n "$built" ]; then echo "$built (trpo's; no git here to tell local changes)"
  elif [ -n "$head" ]; then echo "$head$mod"
  else echo "unknown (no git)"; fi
}
{
  fact date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  fact host "$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
  fact kernel "$(uname -r)"
  fact cpu_model "$(lscpu_field 'Model name')"
  fact cpus "$ncpu (nproc)"
  fact cores "$ncore"
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
  fact mpirun "$("$mpirun" --version 2>/dev/null | head -1)"
  fact build "$(build_id)"
  fact ranks "$ranks"
  fact budget "${budget} s (margin $margin s), steps $steps"
} >"$out/node.txt"
cat "$out/node.txt" >&2

# --- the summary and the archive ------------------------------------------------------------------
done_steps="" running="" state=""
# each block of table rows (a mode, then a rank count) sorted: modes in the order they first
# appear, rank counts ascending (step 1 measures the ends first)
sort_rows() {
  awk 'function flush(   i, j, r, q) {
         for (i = 2; i <= k; i++) {
           r = row[i]; q = key[i]
           for (j = i - 1; j >= 1 && key[j] > q; j--) { row[j + 1] = row[j]; key[j + 1] = key[j] }
           row[j + 1] = r; key[j + 1] = q
         }
         for (i = 1; i <= k; i++) print row[i]
         k = 0; m = 0; split("", ord)
       }
       $1 ~ /^(weak|weak-mb|strong|strong-mb)$/ && $2 ~ /^[0-9]+\*?$/ {
         if (!($1 in ord)) ord[$1] = ++m
         row[++k] = $0; key[k] = sprintf("%04d %09d %04d", ord[$1], $2 + 0, k)
         next
       }
       { flush(); print }
       END { flush() }'
}
# summary.txt from node.txt and the steps' files as they stand, written whole and then renamed:
# a command cut at any moment leaves the last one whole
write_summary() {
  local f name
  {
    grep -E '^(cpu_model|cpus|cores|threads_per_core|cgroup_quota|dev_shm|idle_second|busiest_life|build):' "$out/node.txt"
    fact progress "$(($(date +%s) - start)) s of $budget; steps ended:${done_steps:- none}; ${state:-starting}"
    for f in "$stage"/[0-9]-*.txt "$stage"/[0-9][0-9]-*.txt; do
      [ -e "$f" ] || continue
      name=$(basename "$f" .txt)
      echo
      echo "== $name"
      sort_rows <"$f"
      [ "$name" != "$running" ] || echo "step $name: running; its rows so far"
      # a step stopped (or still running) before its waiting table: the rows it wrote to its .err
      if ! grep -q '^where the waiting is' "$f" && grep -q '^  waiting: ' "$stage/$name.err" 2>/dev/null; then
        echo "where the waiting is, the rows so far ($name.err; the columns of bench_scaling.sh's second table):"
        sed -n 's/^  waiting: //p' "$stage/$name.err" | sort_rows
      fi
    done
  } >"$out/summary.txt.tmp"
  mv -f "$out/summary.txt.tmp" "$out/summary.txt"
}
# PACK=1: keep/, the *.err and the steps' N-*.txt as they stand into OUT/keep.tgz (written whole,
# then renamed)
pack_files() {
  [ "$pack" = 1 ] || return 0
  local names rc=0
  names=$(cd "$stage" && find . -maxdepth 1 \( -name keep -o -name '*.err' -o -name '[0-9]*-*.txt' \) | sort)
  [ -n "$names" ] || return 0
  # shellcheck disable=SC2086  # the names are the script's own (keep, N-STEP.err, N-STEP.txt)
  (cd "$stage" && tar czf "$out/keep.tgz.tmp" $names) || rc=$?
  # 1: a file changed as tar read it (a stopped step's ranks ending); the archive is whole
  if [ "$rc" -le 1 ]; then
    mv -f "$out/keep.tgz.tmp" "$out/keep.tgz"
  else
    rm -f "$out/keep.tgz.tmp"
    echo "bench_node.sh: packing keep.tgz failed ($rc)" >&2
  fi
}

# --- the steps ---------------------------------------------------------------------------------
step_pid="" step_tmp="" step_procs=""
# a signal (the device call's time limit, Ctrl-C): the running step stopped with its ranks, then
# summary.txt and the archive as they stand
on_signal() {
  trap - TERM INT HUP
  state="stopped by a signal${running:+ during step $running}"
  echo "bench_node.sh: $state; summary.txt has what was measured" >&2
  # timeout passes the signal on to its process group: the step's script, mpirun and its ranks
  [ -z "$step_pid" ] || kill -TERM "$step_pid" 2>/dev/null || true
  [ -z "$running" ] || echo "step $running: stopped by a signal; its rows so far are kept" >>"$stage/$running.txt"
  running=""
  write_summary
  pack_files
  [ -z "$step_procs" ] || settle "$step_procs"
  [ -z "$step_tmp" ] || rm -rf "$step_tmp"
  [ "$pack" != 1 ] || rm -rf "$stage"
  exit 143
}
trap on_signal TERM INT HUP
write_summary

# a stopped step's processes (pgrep -f PATTERN) outlive its script by about a second (mpirun
# stops them): the next step starts on idle cores
settle() {
  local k
  for k in $(seq 150); do
    pgrep -f "$1" >/dev/null || return 0
    sleep 0.1
  done
  echo "bench_node.sh: processes of a stopped step still ran after 15 s; killed" >&2
  pkill -KILL -f "$1" || true
}
# follow PID FILE: wait for PID (the running step), rebuilding summary.txt whenever FILE has
# changed (a row was measured: bench_scaling.sh is between runs then); PID's exit status. Polled
# once a second, in the background of this script, so that a signal is handled at once
follow() {
  local pid=$1 file=$2 rc=0
  touch "$step_tmp/summarised"
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ "$file" -nt "$step_tmp/summarised" ]; then
      touch "$step_tmp/summarised"
      write_summary
    fi
  done
  wait "$pid" || rc=$?
  return "$rc"
}
# a step's end: the next summary says so, and the archive has its files
step_done() {
  done_steps="$done_steps $1" running="" state="$1 ended at $(($(date +%s) - start)) s"
  write_summary
  pack_files
}
# run_step NAME RESERVE VAR=VALUE...: bench_scaling.sh with those variables, stopped after
# the budget minus RESERVE (the seconds kept for the steps after it); skipped if fewer than
# MIN_STEP seconds are left for it
run_step() {
  local name=$1 reserve=$2 limit rc=0
  shift 2
  limit=$(($(left) - reserve))
  if [ "$limit" -lt "$min_step" ]; then
    echo "step $name: skipped, $limit s of the budget left for it (MIN_STEP $min_step)" | tee "$stage/$name.txt" >&2
    step_done "$name"
    return 0
  fi
  echo "step $name: at most $limit s: $*" >&2
  step_tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_node.XXXXXX")
  # its training runs are found by their run_dir under the step's TMPDIR, its physics runs by
  # their program
  step_procs="$step_tmp/|$build/tests/bench_scaling "
  running=$name state="running step $name (at most $limit s)"
  # timeout signals its whole process group: the script, mpirun (which then stops its ranks)
  env KEEP="$stage/keep/$name" TMPDIR="$step_tmp" "$@" timeout -k 10 "$limit" bash "$root/launch/bench_scaling.sh" "$build" \
    >"$stage/$name.txt" 2>"$stage/$name.err" &
  step_pid=$!
  follow "$step_pid" "$stage/$name.txt" || rc=$?
  step_pid=""
  case $rc in
    0) echo "step $name: done, $(($(date +%s) - start)) s since the start" >&2 ;;
    124 | 137) echo "step $name: stopped at the budget's end; its rows so far are kept" | tee -a "$stage/$name.txt" >&2 ;;
    *) echo "step $name: failed ($rc):" >&2; tail -5 "$stage/$name.err" >&2 ;;
  esac
  settle "$step_procs"
  rm -rf "$step_tmp"
  step_tmp="" step_procs=""
  step_done "$name"
}
# step 6: tests/bench_sums at 2, 4, 8, ... ranks up to the CPU count (a few seconds in all), bound
# as bench_scaling.sh binds (on hardware threads past the cores). SUMS_MAX seconds in all: each rank
# count gets the time left until the step's deadline, so that one that hangs cannot take more
skip_sums() { echo "step 6-sums: skipped, $1 s of the budget left for it" | tee "$stage/6-sums.txt" >&2; }
sums_step() {
  local name=6-sums limit deadline n t rc
  limit=$(($(left) - $1))
  [ "$limit" -le "$sums_max" ] || limit=$sums_max
  if [ "$limit" -lt 10 ]; then
    skip_sums "$limit"
    step_done "$name"
    return 0
  fi
  deadline=$(($(date +%s) + limit))
  echo "step $name: at most $limit s in all" >&2
  running=$name state="running step $name (at most $limit s)"
  step_procs="$build/tests/bench_sums "
  : >"$stage/$name.txt"
  for n in 2 4 8 16 32 64; do
    [ "$n" -le "$ncpu" ] || break
    t=$((deadline - $(date +%s)))
    if [ "$t" -lt 2 ]; then
      echo "ranks $n: skipped, the step's $limit s are spent" >>"$stage/$name.txt"
      continue
    fi
    rc=0
    # shellcheck disable=SC2046  # bindflags's words are mpirun's arguments
    timeout -k 5 "$t" "$mpirun" -np "$n" $(bindflags "$n") "$build/tests/bench_sums" 5126 4500 \
      >>"$stage/$name.txt" 2>>"$stage/$name.err" &
    step_pid=$!
    wait "$step_pid" || rc=$?
    step_pid=""
    case $rc in
      0) ;;
      124 | 137) echo "ranks $n: stopped at the step's deadline ($limit s in all)" >>"$stage/$name.txt" ;;
      *) echo "ranks $n: bench_sums failed ($rc)" >>"$stage/$name.txt" ;;
    esac
    [ "$rc" = 0 ] || settle "$step_procs"
    write_summary
  done
  step_procs=""
  cat "$stage/$name.txt" >&2
  step_done "$name"
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
    1) run_step 1-main "$(reserve_after 1)" MODES="weak-mb strong-mb" RANKS="$ranks" FIRST="$smallest $largest" \
         REPS="${REPS:-3}" ;;
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
  esac
done

state=finished
write_summary
pack_files
trap - TERM INT HUP
[ "$pack" != 1 ] || rm -rf "$stage"
cat "$out/summary.txt"
echo "bench_node.sh: $(($(date +%s) - start)) s; everything is under $out" >&2
