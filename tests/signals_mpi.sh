#!/usr/bin/env bash
# signals_mpi.sh: the signal protocol through the real binary on 3 ranks under mpirun. One run
# directory goes through six interrupted stages, each resumed by rerunning the same command, and
# must end identical (final parameters, progress.csv without wall-clock columns) to an
# uninterrupted reference run. checkpoint_every is off, so every checkpoint comes from a signal.
#   A. SIGUSR1 to rank 2 only: every rank exits 75 at the same iteration K (exit codes recorded
#      by a wrapper per rank), ckpt K exists and is the last progress.csv row;
#   C. SIGTERM twice to rank 0, the second while the first one's checkpoint is being written when
#      the poll catches it: rank 0 exits at once (under 0.5 s), every published file stays
#      readable, and the next run resumes from the newest without an "unusable" report;
#   D. SIGTERM to rank 1 only: it is OR-reduced at the boundary like SIGUSR1; mpirun returns 75
#      (the code a batch script turns into a requeue);
#   E. SIGUSR1 to rank 1 during start-up, while rank 0 loads the checkpoint: honoured at the first
#      boundary (exit 75), not the signal's default action;
#   F. SIGTERM to rank 0 only: it publishes, and its lock is gone when the job has ended;
#   B. SIGTERM to mpirun, which forwards it (Open MPI 4.1: SIGCONT at once, SIGTERM 1 s later,
#      SIGKILL as soon as one rank exits): the last completed iteration is published within ~1 s
#      (checked: under 1.5 s from the signal to the file). Last, since the run goes on meanwhile.
#   usage: signals_mpi.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init signals "$@"

N=60
cfg=("$src/configs/pendulum.ini" nenv=3 nsteps=512 vf_epochs=3 quiet=1 checkpoint_every=0
     total_steps=$((N * 3 * 512)))
dir=$work/run
export RCDIR=$work/rc
mkdir -p "$RCDIR"

# the reference, uninterrupted (1 rank: the results do not depend on the rank count)
mpi 1 train "${cfg[@]}" run_dir="$work/ref"

rows_at_least() { [ "$(last_row "$dir")" -ge "$1" ]; }
tmp_exists() { compgen -G "$dir/ckpt-*.h5.tmp" >/dev/null; }
log_since() { tail -n +$((logn + 1)) "$dir/train.log"; }
# since GREP-ARGS...: grep in the lines logged since $logn (not through a pipe: see has_line)
since() { has_line "$(log_since)" "$@"; }

# launch WRAP [start]: start a stage on 3 ranks in the background, wait until it has logged two
# iterations of its own (with "start": return at once); sets M, pids, from, out. WRAP=1: each rank's exit code goes to
# $RCDIR/rc.RANK, and mpirun (Open MPI) is told not to kill the other ranks when the first one
# exits non-zero, so that every wrapper lives to record its code (mpirun then returns 0)
stage=0
launch() {
  stage=$((stage + 1))
  from=$(newest_ckpt "$dir")
  local stale want
  stale=$(last_row "$dir")
  logn=0
  [ -f "$dir/train.log" ] && logn=$(wc -l <"$dir/train.log")
  rm -f "$RCDIR"/rc.*
  out=$work/stage$stage.out
  if [ "$1" = 1 ]; then
    OMPI_MCA_orte_abort_on_non_zero_status=0 "$mpiexec" -n 3 "${margs[@]}" sh -c '"$0" "$@"; r=$?; echo $r >"$RCDIR/rc.$OMPI_COMM_WORLD_RANK"; exit $r' \
      "$trpo" train "${cfg[@]}" run_dir="$dir" >"$out" 2>&1 &
  else
    "$mpiexec" -n 3 "${margs[@]}" "$trpo" train "${cfg[@]}" run_dir="$dir" >"$out" 2>&1 &
  fi
  M=$!
  pids=($(rank_pids $M 3)) || fail "stage $stage: the ranks did not start ($(cat "$out"))"
  [ "${2:-}" = start ] && return 0
  want=$(((stale > from ? stale : from) + 2))
  until rows_at_least $want; do
    kill -0 $M 2>/dev/null || fail "stage $stage: the run ended before iteration $want: $(tail -3 "$out")"
    sleep 0.01
  done
}

# finish: wait for the stage's mpirun; sets rc; checks where it resumed from
finish() {
  rc=0
  wait $M || rc=$?
  if [ "$from" -ge 0 ]; then
    since -qF "resuming from $(ckpt_path "$dir" "$from") (iteration $from)" ||
      fail "stage $stage: did not resume from iteration $from"
  fi
  if since -q unusable; then fail "stage $stage: a checkpoint was reported unusable"; fi
  all_readable "$dir"
}

# every rank of a wrapped stage exited 75
all_75() {
  local k
  for k in 0 1 2; do
    [ "$(cat "$RCDIR/rc.$k" 2>/dev/null)" = 75 ] ||
      fail "stage $stage: rank $k exit code '$(cat "$RCDIR/rc.$k" 2>/dev/null)', expected 75"
  done
}

# stopped_at: the newest checkpoint is the last logged iteration, newer than the start; prints it
stopped_at() {
  local k r
  k=$(newest_ckpt "$dir")
  r=$(last_row "$dir")
  [ "$k" = "$r" ] || fail "stage $stage: newest checkpoint $k but last progress.csv row $r"
  [ "$k" -gt "$from" ] || fail "stage $stage: no new checkpoint (newest $k, resumed from $from)"
  echo "$k"
}

# A. SIGUSR1 to one rank of three
launch 1
kill -USR1 "${pids[2]}"
finish
all_75
K=$(stopped_at)
since -q "stopped by SIGUSR1 after iteration $K," || fail "A: no stop message for iteration $K"
echo "A: SIGUSR1 to rank 2 of 3: all ranks exit 75 after iteration $K, ckpt $K published"

# C. two SIGTERMs to rank 0, the second as soon as the first one's checkpoint file appears
launch 0
kill -TERM "${pids[0]}"
hit=0
for k in $(seq 20000); do
  if tmp_exists; then hit=1; break; fi
  kill -0 "${pids[0]}" 2>/dev/null || break
done
kill -TERM "${pids[0]}" 2>/dev/null || true
t0=$(now)
while kill -0 "${pids[0]}" 2>/dev/null; do sleep 0.002; done
dt=$(elapsed "$t0" "$(now)")
finish
left=$(tmp_exists && echo "a partial .tmp left behind" || echo "no partial file")
awk -v d="$dt" 'BEGIN { exit !(d < 0.5) }' || fail "C: rank 0 took $dt s to exit after the second SIGTERM"
echo "C: second SIGTERM (write in progress seen: $hit; $left): rank 0 gone in $dt s, newest ckpt $(newest_ckpt "$dir"), all readable"

# D. SIGTERM to rank 1 only
launch 0
kill -TERM "${pids[1]}"
finish
[ $rc = 75 ] || fail "D: mpirun exit code $rc, expected 75"
K=$(stopped_at)
since -q "stopped by SIGTERM/SIGINT after iteration $K," || fail "D: no stop message for iteration $K"
echo "D: SIGTERM to rank 1 of 3: stopped after iteration $K, mpirun exit code 75"

# E. SIGUSR1 to rank 1 during start-up (rank 0 is loading the checkpoint): honoured at the
# first boundary, not death by the signal's default action
launch 0 start
until since -q "resuming from"; do
  kill -0 $M 2>/dev/null || fail "E: the run ended before loading: $(tail -3 "$out")"
  sleep 0.002
done
kill -USR1 "${pids[1]}"
finish
[ $rc = 75 ] || fail "E: mpirun exit code $rc, expected 75"
K=$(stopped_at)
echo "E: SIGUSR1 to rank 1 while rank 0 loads iteration $from: stopped after iteration $K, exit code 75"

# F. one SIGTERM to rank 0: its watcher publishes, removes the lock and leaves with 75, so that a
# requeue on another node (whose lock it would never take over) can resume
launch 0
kill -TERM "${pids[0]}"
finish
K=$(stopped_at)
[ ! -e "$dir/lock" ] || fail "F: the lock outlived rank 0: $(cat "$dir/lock")"
echo "F: SIGTERM to rank 0 of 3: iteration $K published, lock removed"

# B. SIGTERM to mpirun
launch 0
t0=$(now)
kill -TERM $M
finish
K=$(stopped_at)
dt=$(elapsed "$t0" "$(stat -c %.9Y "$(ckpt_path "$dir" "$K")")")
since -Eq "(terminated by SIGTERM/SIGINT; state of iteration|stopped by SIGTERM/SIGINT after iteration) $K\b" ||
  fail "B: no termination message for iteration $K"
awk -v d="$dt" 'BEGIN { exit !(d < 1.5) }' || fail "B: checkpoint $K published $dt s after SIGTERM (limit 1.5 s)"
echo "B: SIGTERM to mpirun (exit code $rc): last completed iteration $K published $dt s after the signal"

# the same command once more finishes the run, identical to the uninterrupted one
from=$(newest_ckpt "$dir")
logn=$(wc -l <"$dir/train.log")
mpi 3 train "${cfg[@]}" run_dir="$dir"
since -qF "resuming from $(ckpt_path "$dir" "$from") (iteration $from)" || fail "final: did not resume from $from"
if grep -q unusable "$dir/train.log"; then fail "a checkpoint was reported unusable"; fi
same_as "$dir" "$work/ref" "signals A, C, D, E, F, B then resume"
