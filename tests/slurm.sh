#!/usr/bin/env bash
# slurm.sh: launch/slurm/train.sbatch on a single-node Slurm: a job gets SIGUSR1 as its time-limit
# warning (`scancel --signal=USR1 --batch`, what --signal=B:USR1@T delivers), must checkpoint,
# exit 75, requeue itself, start again, resume and finish with the same final parameters and
# progress.csv (wall-clock columns aside) as an uninterrupted run. Once per launcher: srun
# --mpi=pmix and mpirun (which takes its slots from the allocation).
#
# Slurm: a running one is used when SLURM_CONF is set and `sinfo` answers; otherwise the
# single-node set-up script (SLURM_SETUP, else launch/slurm/single-node.sh of the source tree, else
# /work/shared/slurm/single-node.sh; it installs the Debian packages when missing, so as root
# with the package archive) starts munge, slurmctld and slurmd under WORKDIR, and exactly the
# daemons started here are stopped at the end. A requeued job waits for its begin time, which
# Slurm 22.05 sets about 2 minutes ahead (the job credential's lifetime): the test waits 2 s (slurmd
# refuses a credential issued in the same second as the revocation of the previous run's: "Job
# credential revoked") and then sets StartTime=now, so the wait costs little.
#   usage: slurm.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init slurm "$@"

# 1. a Slurm to use
started=()
cleanup() {
  local p
  [ -n "${jobs_here:-}" ] && scancel $jobs_here 2>/dev/null || true
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do
    for k in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
}
trap cleanup EXIT
if [ -n "${SLURM_CONF:-}" ] && sinfo >/dev/null 2>&1; then
  echo "using the running Slurm of $SLURM_CONF"
else
  setup=${SLURM_SETUP:-}
  for s in "$src/launch/slurm/single-node.sh" /work/shared/slurm/single-node.sh; do
    [ -z "$setup" ] && [ -f "$s" ] && setup=$s
  done
  [ -n "$setup" ] || fail "no Slurm running and no single-node set-up script (set SLURM_SETUP)"
  munge_before=$(pgrep -x munged || true)
  export SLURM_DIR=$work/slurm
  bash "$setup" >"$work/setup.log" 2>&1 || { cat "$work/setup.log"; fail "the Slurm set-up failed"; }
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  started=("$(cat "$SLURM_DIR/slurmctld.pid")" "$(cat "$SLURM_DIR/slurmd.pid")")
  [ -z "$munge_before" ] && started+=($(pgrep -x munged || true))
  sinfo >/dev/null || fail "sinfo does not answer after the set-up"
fi
cpus=$(sinfo -h -o %c | head -1)
[ "${cpus%%[^0-9]*}" -ge 2 ] || fail "the node has $cpus CPUs, the job needs 2"

# the run: Pendulum, 2 ranks, 40 iterations; the uninterrupted reference without Slurm
per=512
N=40
cfg=("$src/configs/pendulum.ini" nenv=4 nsteps=128 vf_epochs=2 vf_minibatch=64 quiet=1
     total_steps=$((N * per)))
mpi 2 train "${cfg[@]}" run_dir="$work/ref"

# a job field from scontrol
field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
rows_at_least() { [ "$(last_row "$1")" -ge "$2" ]; }
# wait_state JOB SECONDS STATE...: until the job is in one of the states
wait_state() {
  local job=$1 s=$2 k st
  shift 2
  for k in $(seq $((s * 10))); do
    st=$(field "$job" JobState)
    for want in "$@"; do [ "$st" = "$want" ] && return 0; done
    sleep 0.1
  done
  fail "job $job still $st after $s s (expected $*)"
}

jobs_here=""
for launcher in srun mpirun; do
  dir=$work/run-$launcher
  out=$work/job-$launcher.out
  # submit; the job runs in the work directory, with this environment (the binary, MPI settings)
  job=$(cd "$work" && TRPO="$trpo" TRPO_ROOT="$src" TRPO_LAUNCHER=$launcher \
    sbatch --parsable --ntasks=2 --output="$out" "$src/launch/slurm/train.sbatch" "${cfg[@]}" run_dir="$dir")
  jobs_here="$jobs_here $job"
  wait_state "$job" 60 RUNNING
  wait_for 120 rows_at_least "$dir" 2 || { cat "$out"; fail "$launcher: job $job made no progress"; }
  # the time-limit warning, to the batch shell only
  scancel --signal=USR1 --batch "$job"
  # requeued: pending again (after the requeue it waits for its begin time; start it now)
  wait_state "$job" 120 PENDING REQUEUED
  K=$(newest_ckpt "$dir")
  grep -q "stopped by SIGUSR1 after iteration $K," "$dir/train.log" || { cat "$out"; fail "$launcher: no stop at iteration $K"; }
  grep -q "requeueing job $job" "$out" || { cat "$out"; fail "$launcher: the script did not requeue"; }
  wait_state "$job" 60 PENDING
  echo "$launcher: job $job requeued after iteration $K: pending ($(field "$job" Reason)) until" \
    "$(field "$job" EligibleTime); it is $(date +%FT%T)"
  sleep 2
  scontrol update JobId="$job" StartTime=now
  wait_state "$job" 300 COMPLETED FAILED CANCELLED TIMEOUT
  [ "$(field "$job" JobState)" = COMPLETED ] || { cat "$out"; fail "$launcher: job $job ended $(field "$job" JobState)"; }
  [ "$(field "$job" Restarts)" = 1 ] || fail "$launcher: job $job restarted $(field "$job" Restarts) times, expected 1"
  grep -qF "resuming from $(ckpt_path "$dir" "$K") (iteration $K)" "$dir/train.log" || fail "$launcher: did not resume from $K"
  same_as "$dir" "$work/ref" "$launcher: job $job, SIGUSR1 after iteration $K, requeued once"
done
