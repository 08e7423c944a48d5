#!/usr/bin/env bash
# resume.sh: exact continuation through the real binary under mpirun. A run stopped after k
# iterations and resumed to N (total_steps raised, a key allowed to change on resume) must end
# with the same final parameters (the checksum line of train.log) and the same progress.csv rows,
# wall-clock columns aside, as one uninterrupted run of N iterations, bit for bit. Cases:
#   1. Pendulum on 2 ranks, stopped after 2 of 6 iterations;
#   2. the same run continued on another rank count at each stop: 1 -> 2 -> 4 ranks;
#   3. Ant-v4 and Humanoid-v4 stopped in the middle of episodes (nsteps = 37 does not divide the
#      1000-step limit; the checkpoint's envs/t must show episodes in flight), resumed on another
#      rank count;
#   4. case 1 with the stopped run's progress.csv lacking a column (as an older build wrote it):
#      the resume rewrites its rows in the current columns and says so;
#   5. SIGTERM while rank 0 is between an iteration's snapshot and its progress.csv row (held
#      there by TRPO_TEST_ROW_STALL_MS): that iteration is published with its row, and the
#      resumed run is identical to the reference.
#   usage: resume.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init resume "$@"

# the values of dataset D of checkpoint F, one line
values() { h5dump -d "$2" -y -w 0 "$1" | sed -n '/DATA {/,/}/p' | sed '1d;$d' | tr -d ' \n'; }

# resumed DIR ITER: the newest part of DIR/train.log says it resumed from ckpt ITER
resumed() {
  local line
  line=$(grep 'resuming from' "$1/train.log" | tail -1)
  [ "$line" = "resuming from $(ckpt_path "$1" "$2") (iteration $2)" ] ||
    fail "$1: expected to resume from iteration $2, log says '$line'"
}

# 1. stop after 2 of 6 iterations, resume on the same rank count
pend=("$src/configs/pendulum.ini" nenv=4 nsteps=128 vf_epochs=3 vf_minibatch=64 quiet=1)
per=512
mpi 2 train "${pend[@]}" run_dir="$work/ref" total_steps=$((6 * per))
mpi 2 train "${pend[@]}" run_dir="$work/stop" total_steps=$((2 * per))
[ "$(newest_ckpt "$work/stop")" = 2 ] || fail "no checkpoint of iteration 2 after the first part"
mpi 2 train "${pend[@]}" run_dir="$work/stop" total_steps=$((6 * per))
resumed "$work/stop" 2
same_as "$work/stop" "$work/ref" "pendulum, 2 ranks, stopped after 2 of 6"

# 2. each part on another rank count: 2 iterations on 1 rank, 2 on 2 ranks, 2 on 4 ranks
mpi 1 train "${pend[@]}" run_dir="$work/ranks" total_steps=$((2 * per))
mpi 2 train "${pend[@]}" run_dir="$work/ranks" total_steps=$((4 * per))
resumed "$work/ranks" 2
mpi 4 train "${pend[@]}" run_dir="$work/ranks" total_steps=$((6 * per))
resumed "$work/ranks" 4
same_as "$work/ranks" "$work/ref" "pendulum, 1 -> 2 -> 4 ranks"

# 3. MuJoCo tasks stopped in the middle of episodes: 3 environments, 37 steps each
for task in ant humanoid; do
  cfg=("$src/configs/$task.ini" nenv=3 nsteps=37 vf_epochs=2 vf_minibatch=32 quiet=1)
  per=$((3 * 37))
  mpi 1 train "${cfg[@]}" run_dir="$work/$task-ref" total_steps=$((5 * per))
  mpi 2 train "${cfg[@]}" run_dir="$work/$task" total_steps=$((2 * per))
  f=$(ckpt_path "$work/$task" 2)
  t=$(values "$f" envs/t)
  len=$(values "$f" envs/episode)
  echo "$task: stopped after iteration 2 with env steps since reset $t (episode return,length of each: $len)"
  echo "$t" | tr ',' '\n' | grep -qv '^0$' || fail "$task: no episode in flight at the stop ($t)"
  mpi 1 train "${cfg[@]}" run_dir="$work/$task" total_steps=$((5 * per))
  resumed "$work/$task" 2
  same_as "$work/$task" "$work/$task-ref" "$task, stopped mid-episode after 2 of 5, 2 -> 1 ranks"
done
# 4. a progress.csv of another build's columns (t_wait_min removed) is rewritten on resume
per=512
mpi 2 train "${pend[@]}" run_dir="$work/cols" total_steps=$((2 * per))
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "t_wait_min") drop = i }
         { s = ""; for (i = 1; i <= NF; i++) if (i != drop) s = s (s == "" ? "" : ",") $i; print s }' \
  "$work/cols/progress.csv" >"$work/cols.csv"
mv "$work/cols.csv" "$work/cols/progress.csv"
! head -1 "$work/cols/progress.csv" | grep -q t_wait_min || fail "the column was not removed"
mpi 2 train "${pend[@]}" run_dir="$work/cols" total_steps=$((6 * per))
resumed "$work/cols" 2
grep -q "progress.csv had the columns of another build" "$work/cols/train.log" ||
  fail "the resume did not say that it rewrote progress.csv"
awk -F, 'NR == 1 { n = NF } NF != n { bad = 1 } END { exit bad }' "$work/cols/progress.csv" ||
  fail "progress.csv rows do not all have the header's columns after the rewrite"
same_as "$work/cols" "$work/ref" "pendulum, stopped after 2 of 6, progress.csv of other columns"

# 5. SIGTERM between an iteration's snapshot and its log rows. TRPO_TEST_ROW_STALL_MS holds rank 0
#    there with a busy wait that the signal does not cut short; the watcher thread must not
#    publish that iteration before its progress.csv row is written, or the resumed run would
#    never write the row
dir=$work/rowstall
TRPO_TEST_ROW_STALL_MS=2000 "$mpiexec" -n 1 "${margs[@]}" "$trpo" train "${pend[@]}" run_dir="$dir" \
  total_steps=$((6 * per)) >"$work/rowstall.out" 2>&1 &
M=$!
pids=($(rank_pids $M 1)) || fail "5: the run did not start"
has_ckpt1() { [ "$(newest_ckpt "$dir")" -ge 1 ]; }
wait_for 60 has_ckpt1 || fail "5: no checkpoint of iteration 1"
sleep 0.7   # iteration 2's own work takes well under this: rank 0 is in the stall after it
kill -TERM "${pids[0]}"
rc=0
wait $M || rc=$?
[ $rc = 75 ] || { cat "$work/rowstall.out"; fail "5: exit code $rc after SIGTERM, expected 75"; }
k=$(newest_ckpt "$dir")
[ "$k" = 2 ] || fail "5: newest checkpoint $k, expected 2 (the iteration in its stall)"
[ "$(last_row "$dir")" = 2 ] ||
  fail "5: the checkpoint of iteration 2 was published without its progress.csv row (last row $(last_row "$dir"))"
mpi 2 train "${pend[@]}" run_dir="$dir" total_steps=$((6 * per))
resumed "$dir" 2
same_as "$dir" "$work/ref" "pendulum, SIGTERM between the snapshot of iteration 2 and its log row"
echo "resume: all cases identical to their uninterrupted runs"
