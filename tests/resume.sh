#!/usr/bin/env bash
# resume.sh: exact continuation through the real binary under mpirun. A run stopped after k
# iterations and resumed to N (total_steps raised, a key allowed to change on resume) must end
# with the same final parameters (the checksum line of train.log) and the same progress.csv rows,
# wall-clock columns aside, as one uninterrupted run of N iterations, bit for bit. Cases:
#   1. Pendulum on 2 ranks, stopped after 2 of 6 iterations;
#   2. the same run continued on another rank count at each stop: 1 -> 2 -> 4 ranks, the last
#      part with the node's sharing turned off (share_work, steal and comm_node_sum may change
#      on resume and change no bit);
#   3. Ant-v4 and Humanoid-v4 stopped in the middle of episodes (nsteps = 37 does not divide the
#      1000-step limit; the checkpoint's envs/t must show episodes in flight), resumed on another
#      rank count;
#   4. case 1 with the stopped run's progress.csv lacking a column (as an older build wrote it):
#      the resume rewrites its rows in the current columns and says so;
#   5. SIGTERM while rank 0 is between an iteration's snapshot and its progress.csv row (held
#      there by TRPO_TEST_ROW_STALL_MS): that iteration is published with its row, and the
#      resumed run is identical to the reference;
#   6. a slow disk (every checkpoint write paused 1 s halfway, TRPO_TEST_CKPT_STALL_MS) with a
#      checkpoint every 3 iterations: rank 0's writer thread has the file while the next
#      iteration runs, so that iteration ends well within the pause; every checkpoint due is
#      published, and the run is identical to the reference;
#   7. SIGTERM while the writer thread is paused in the middle of a checkpoint file: the watcher
#      waits for that file, then publishes the last completed iteration (with its row) and exits
#      75; the resumed run is identical to the reference;
#   8. a run directory of the checkpoint layout before the 1.10 one (tests/data) resumes to the
#      same bits as a fresh run, and writes its new checkpoints in the 1.10 layout;
#   9. vf_norm = 1 (the return statistics in the checkpoint), stopped on 2 ranks, resumed on 3.
#   usage: resume.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init resume "$@"

# the values of dataset D of checkpoint F, one line (-A 0: without its attributes, whose own DATA
# blocks would follow)
values() { h5dump -A 0 -d "$2" -y -w 0 "$1" | sed -n '/DATA {/,/}/p' | sed '1d;$d' | tr -d ' \n'; }

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
mpi 4 train "${pend[@]}" run_dir="$work/ranks" total_steps=$((6 * per)) share_work=0 steal=0 \
  comm_node_sum=0
resumed "$work/ranks" 4
same_as "$work/ranks" "$work/ref" "pendulum, 1 -> 2 -> 4 ranks (the last without sharing)"

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
# 6. checkpoints written while training goes on
dir=$work/slowdisk
TRPO_TEST_CKPT_STALL_MS=1000 mpi 2 train "${pend[@]}" run_dir="$dir" total_steps=$((6 * per)) \
  checkpoint_every=3 keep_checkpoints=10 || fail "6: the run with a slow disk failed"
gap=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  $c["iteration"] == 3 { a = $c["wall_s"] } $c["iteration"] == 4 { b = $c["wall_s"] }
  END { printf "%.3f", b - a }' "$dir/progress.csv")
awk -v g="$gap" 'BEGIN { exit !(g < 0.5) }' ||
  fail "6: iteration 4 took $gap s after the checkpoint of iteration 3 was handed over (its write pauses 1 s): training waited for the disk"
for k in 3 6; do [ -f "$(ckpt_path "$dir" "$k")" ] || fail "6: no checkpoint of iteration $k: $(ls "$dir")"; done
all_readable "$dir"
same_as "$dir" "$work/ref" "pendulum, checkpoints written by rank 0's writer thread during a pause"
echo "resume: 6. iteration 4 took $gap s while the checkpoint of iteration 3 was written (a 1 s pause)"
# 7. SIGTERM during a paused write of rank 0's writer thread
dir=$work/termwrite
TRPO_TEST_CKPT_STALL_MS=1500 "$mpiexec" -n 1 "${margs[@]}" "$trpo" train "${pend[@]}" run_dir="$dir" \
  total_steps=$((6 * per)) >"$work/termwrite.out" 2>&1 &
M=$!
pids=($(rank_pids $M 1)) || fail "7: the run did not start"
tmp_exists() { compgen -G "$dir/ckpt-*.h5.tmp" >/dev/null; }
wait_for 60 tmp_exists || fail "7: no checkpoint write started"
# training goes on during the 1.5 s pause: iteration 2 ends while the file of iteration 1 is open
row2() { [ "$(last_row "$dir")" -ge 2 ]; }
wait_for 10 row2 || fail "7: no progress.csv row of iteration 2"
tmp_exists || fail "7: iteration 2 ended only after the 1.5 s write pause of iteration 1"
kill -TERM "${pids[0]}"
rc=0
wait $M || rc=$?
[ $rc = 75 ] || { cat "$work/termwrite.out"; fail "7: exit code $rc after SIGTERM, expected 75"; }
k=$(newest_ckpt "$dir")
[ "$k" -ge 2 ] || fail "7: newest checkpoint $k, expected the last completed iteration (>= 2)"
[ "$(last_row "$dir")" = "$k" ] ||
  fail "7: newest checkpoint $k but last progress.csv row $(last_row "$dir"): the SIGTERM did not publish the last completed iteration"
! tmp_exists || fail "7: a .tmp is left: $(ls "$dir")"
all_readable "$dir"
mpi 2 train "${pend[@]}" run_dir="$dir" total_steps=$((6 * per))
resumed "$dir" "$k"
same_as "$dir" "$work/ref" "pendulum, SIGTERM while a checkpoint write was paused"
echo "resume: 7. SIGTERM during a paused write: published iteration $k, resumed identical"
# 8. a run directory written in the checkpoint layout before the 1.10 one (libver v18; build
# 3b55546: Pendulum with 8-unit networks, stopped after 2 iterations) resumes to the same bits as
# an uninterrupted run of this build; the checkpoints it writes hold no version-1 B-tree node
# (signature "TREE", the chunk index without a checksum that the 1.10 layout replaced)
small=("${pend[@]}" hidden=8 vf_hidden=8 keep_checkpoints=1)
mpi 2 train "${small[@]}" run_dir="$work/ref8" total_steps=$((4 * per))
dir=$work/v18
mkdir -p "$dir"
tar -xzf "$src/tests/data/resume-v18-pendulum.tar.gz" -C "$dir"
LC_ALL=C grep -q TREE "$(ckpt_path "$dir" 2)" || fail "8: the fixture's checkpoint has no v18 chunk index"
mpi 2 train "${small[@]}" run_dir="$dir" total_steps=$((4 * per))
resumed "$dir" 2
same_as "$dir" "$work/ref8" "pendulum, resumed from a checkpoint of the v18 layout"
! LC_ALL=C grep -q TREE "$(ckpt_path "$dir" 4)" || fail "8: the new checkpoint has a version-1 B-tree"
echo "resume: 8. a checkpoint of the v18 layout resumed identical; the new one is 1.10"
# 9. value targets scaled by the running return statistics (vf_norm = 1): the statistics travel in
# the checkpoint (value/returns), so a run stopped after 2 iterations on 2 ranks and resumed on 3
# ends with the bits of one uninterrupted run on 1 rank
vn=("${pend[@]}" vf_norm=1)
mpi 1 train "${vn[@]}" run_dir="$work/ref9" total_steps=$((4 * per))
mpi 2 train "${vn[@]}" run_dir="$work/vn" total_steps=$((2 * per))
[ -n "$(values "$(ckpt_path "$work/vn" 2)" /value/returns)" ] || fail "9: no value/returns in the checkpoint"
mpi 3 train "${vn[@]}" run_dir="$work/vn" total_steps=$((4 * per))
resumed "$work/vn" 2
same_as "$work/vn" "$work/ref9" "pendulum with vf_norm, 2 -> 3 ranks"
echo "resume: 9. vf_norm's return statistics resumed identical on another rank count"
echo "resume: all cases identical to their uninterrupted runs"
