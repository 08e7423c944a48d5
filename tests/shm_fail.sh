#!/usr/bin/env bash
# Node shared memory that cannot be had (Open MPI told to put its shared windows in a directory
# that does not exist, as a full or missing /dev/shm would): the job ends at once with one fatal
# line that names the setting to turn off, and writes no checkpoint; with all such settings off
# it trains to the end.
#   usage: shm_fail.sh TRPO MPIEXEC WORKDIR CONFIG [mpirun args...]
# Cases, each on 2 ranks: the defaults, share_work = 0 and steal = 0 each alone (the row blocks,
# which sharing the sampling and sharing the work after it both need, allocate first: the line
# names both settings); both off (the exact sums' window: `comm_node_sum = 0`); all three off
# (exit 0).
set -uo pipefail
trpo=$1 mpiexec=$2 work=$3 config=$4
shift 4
margs=("$@")
mkdir -p "$work"
export OMPI_MCA_osc_sm_backing_directory=/nonexistent-trpo-test
fail() { echo "FAILED: $*"; exit 1; }
run() {   # run NAME SETTINGS...: the job's exit code in $rc, its output in $log
  local name=$1
  shift
  dir="$work/shm-fail-$name"
  log="$work/shm-fail-$name.log"
  rm -rf "$dir"
  timeout -k 5 120 "$mpiexec" -n 2 "${margs[@]}" "$trpo" train "$config" run_dir="$dir" quiet=1 \
    total_steps=2048 nenv=2 nsteps=256 "$@" >"$log" 2>&1
  rc=$?
  echo "$name: exit code $rc"
}
expect_fatal() {   # expect_fatal NAME SETTING-NAMED
  [ "$rc" -ne 0 ] || fail "$1: the job exited 0"
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$1: the job hung until the timeout"
  local line
  line=$(grep -m1 '^trpo: fatal \[rank [0-9]\]' "$log") || { cat "$log"; fail "$1: no fatal line"; }
  echo "  $line"
  grep -q "MPI_Win_allocate_shared" <<<"$line" || fail "$1: the line does not name the allocation"
  grep -q "$2" <<<"$line" || fail "$1: the line does not name '$2'"
  ! ls "$dir"/ckpt-* >/dev/null 2>&1 || fail "$1: a checkpoint was written"
}
run defaults
expect_fatal defaults "share_work = 0 and steal = 0 turn the sharing off"
run work0 share_work=0
expect_fatal work0 "share_work = 0 and steal = 0 turn the sharing off"
run nosteal steal=0
expect_fatal nosteal "share_work = 0 and steal = 0 turn the sharing off"
run steal0 share_work=0 steal=0
expect_fatal steal0 "comm_node_sum = 0 sums with MPI_Allreduce"
run all0 share_work=0 steal=0 comm_node_sum=0
[ "$rc" -eq 0 ] || { cat "$log"; fail "all0: the job failed"; }
grep -q 'policy fnv1a64' "$dir/train.log" || fail "all0: no final checksum in train.log"
echo "ok"
