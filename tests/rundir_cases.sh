#!/usr/bin/env bash
# rundir_cases.sh: who may use a run directory, through the real binary on 2 ranks under mpirun.
#   1. a second `trpo train` on a directory locked by a live run is refused: exit 2, a message
#      naming the holder (rank 0's pid and host), nothing in the directory touched;
#   2. a lock of another host is never taken over (exit 2, naming it);
#   3. the stale lock of a job whose ranks were killed with SIGKILL is taken over and the run
#      resumes;
#   4. a directory holding a run of another config is refused (exit 2, naming the key), nothing
#      touched, no lock left; with --restart the old run is discarded and the new one is
#      identical to a fresh run of that config;
#   5. the checkpoints are the judge, not config.ini: with config.ini gone, or replaced by the
#      other config's, a start with another config is refused by the config stored in the
#      newest checkpoint (exit 2, naming the key and the file, nothing touched), and so is
#      `trpo eval`; with config.ini gone and the run's own config the run resumes and ends
#      identical to a fresh run; `trpo eval` of the checkpoints copied without config.ini
#      builds the policy from the stored config and returns what it returns in the run directory.
#   usage: rundir_cases.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init rundir "$@"

per=512
cfg=("$src/configs/pendulum.ini" nenv=4 nsteps=128 vf_epochs=2 vf_minibatch=64 quiet=1)
dir=$work/run
host=$(hostname)

# a fingerprint of the directory: names and contents of everything but train.log
state() { (cd "$1" && for f in $(ls | grep -v '^train.log$'); do echo "$f $(md5sum <"$f")"; done); }
rows_at_least() { [ "$(last_row "$dir")" -ge "$1" ]; }

# expect CODE OUT WHAT: the last command's exit code, and its output named
expect() {
  [ "$1" = "$2" ] || { cat "$3" >&2; fail "$4: exit code $2, expected $1"; }
}

# 1. a live run holds the directory
"$mpiexec" -n 2 "${margs[@]}" "$trpo" train "${cfg[@]}" run_dir="$dir" total_steps=$((400 * per)) \
  >"$work/live.out" 2>&1 &
M=$!
pids=($(rank_pids $M 2)) || fail "the first run did not start"
wait_for 60 rows_at_least 2 || fail "the first run made no progress"
before=$(state "$dir")
rc=0
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((400 * per)) >"$work/second.out" 2>&1 || rc=$?
expect 2 $rc "$work/second.out" "second run on a locked directory"
grep -q "run directory $dir is in use by pid ${pids[0]} on host $host" "$work/second.out" ||
  { cat "$work/second.out"; fail "the refusal does not name the holder (pid ${pids[0]}, host $host)"; }
# nothing touched: the live run may have appended meanwhile, so compare what it cannot change
[ "$(echo "$before" | grep -E '^(config.ini|lock) ')" = "$(state "$dir" | grep -E '^(config.ini|lock) ')" ] ||
  fail "the refused run changed config.ini or the lock"
echo "1. locked by a live run: refused with exit 2: $(grep 'in use' "$work/second.out")"
kill -USR1 "${pids[1]}"
rc=0
wait $M || rc=$?
expect 75 $rc "$work/live.out" "the first run stopped by SIGUSR1"
[ ! -e "$dir/lock" ] || fail "a run stopped by SIGUSR1 left its lock"

# 2. a lock of another host
echo "elsewhere.example 4242" >"$dir/lock"
rc=0
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((400 * per)) >"$work/other.out" 2>&1 || rc=$?
expect 2 $rc "$work/other.out" "a lock of another host"
grep -q "in use by pid 4242 on host elsewhere.example" "$work/other.out" || fail "the refusal does not name the other host"
[ "$(cat "$dir/lock")" = "elsewhere.example 4242" ] || fail "the lock of another host was changed"
rm "$dir/lock"
echo "2. lock of another host: refused with exit 2, lock kept"

# 3. SIGKILL every rank of a running job: its lock is stale and taken over
from=$(newest_ckpt "$dir")
"$mpiexec" -n 2 "${margs[@]}" "$trpo" train "${cfg[@]}" run_dir="$dir" total_steps=$((400 * per)) \
  >"$work/killed.out" 2>&1 &
M=$!
pids=($(rank_pids $M 2)) || fail "the run to kill did not start"
wait_for 60 rows_at_least $((from + 2)) || fail "the run to kill made no progress"
kill -9 "${pids[@]}"
wait $M || true
[ "$(cat "$dir/lock")" = "$host ${pids[0]}" ] || fail "no lock of the killed rank 0 left: '$(cat "$dir/lock")'"
from=$(newest_ckpt "$dir")
logn=$(wc -l <"$dir/train.log")
rc=0
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$(((from + 2) * per)) >"$work/after.out" 2>&1 || rc=$?
expect 0 $rc "$work/after.out" "the run after the killed one"
grep -q "took over the stale lock of a dead job in $dir" "$work/after.out" || fail "no stale-lock report"
has_line "$(tail -n +$((logn + 1)) "$dir/train.log")" -qF "resuming from $(ckpt_path "$dir" "$from") (iteration $from)" ||
  fail "the run after the killed one did not resume from $from"
[ ! -e "$dir/lock" ] || fail "a finished run left its lock"
echo "3. stale lock of SIGKILLed ranks (pid ${pids[0]}): taken over, resumed from iteration $from"

# 4. another config: refused, untouched; --restart starts over
before=$(state "$dir")
for change in seed=2 hidden=32,32 gamma=0.95; do
  rc=0
  mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((3 * per)) "$change" >"$work/other-config.out" 2>&1 || rc=$?
  expect 2 $rc "$work/other-config.out" "run_dir of another config ($change)"
  grep -q "holds a run with a different config (key '${change%%=*}' differs" "$work/other-config.out" ||
    { cat "$work/other-config.out"; fail "the refusal does not name key ${change%%=*}"; }
  [ "$before" = "$(state "$dir")" ] || fail "the refused run ($change) changed the directory"
done
echo "4. another config: refused with exit 2 ($(grep -o "key '[a-z_]*' differs" "$work/other-config.out"), ...), directory untouched"
mpi 2 train "${cfg[@]}" run_dir="$work/fresh" total_steps=$((3 * per)) seed=2
logn=$(wc -l <"$dir/train.log")
# the user's own files that merely start like a checkpoint's name survive --restart
echo notes >"$dir/ckpt-notes.txt"
echo mine >"$dir/ckpt-important.h5"
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((3 * per)) seed=2 --restart
if has_line "$(tail -n +$((logn + 1)) "$dir/train.log")" -q "resuming from"; then fail "--restart resumed"; fi
[ "$(newest_ckpt "$dir")" = 3 ] || fail "--restart left checkpoints of the old run: $(ls "$dir")"
[ -f "$dir/ckpt-notes.txt" ] && [ -f "$dir/ckpt-important.h5" ] || fail "--restart removed files not its own: $(ls "$dir")"
rm "$dir/ckpt-notes.txt" "$dir/ckpt-important.h5"
same_as "$dir" "$work/fresh" "4. --restart"

# 5. config.ini missing or not the checkpoints': the stored config decides
stored="the config stored in $(ckpt_path "$dir" 3)"
# refused_seed3 NAME WHAT: a start with seed=3 exits 2 naming key seed and the checkpoint
refused_seed3() {
  local rc=0
  mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((5 * per)) seed=3 >"$work/$1.out" 2>&1 || rc=$?
  expect 2 $rc "$work/$1.out" "another config, $2"
  grep -qF "holds a run with a different config (key 'seed' differs from $stored)" "$work/$1.out" ||
    { cat "$work/$1.out"; fail "5: the refusal ($2) does not name key seed and the checkpoint"; }
}
rm "$dir/config.ini"
before=$(state "$dir")
refused_seed3 noini "config.ini gone"
[ "$before" = "$(state "$dir")" ] || fail "5: the refused run (config.ini gone) changed the directory"
mpi 2 train "${cfg[@]}" run_dir="$work/seed3" total_steps=$per seed=3
cp "$work/seed3/config.ini" "$dir/config.ini"
before=$(state "$dir")
refused_seed3 swapped "config.ini swapped for it"
rc=0
mpi 1 eval "$dir" episodes=1 >"$work/eval.out" 2>&1 || rc=$?
expect 2 $rc "$work/eval.out" "eval with a swapped config.ini"
grep -qF "$dir/config.ini is not the config of $(ckpt_path "$dir" 3) (key 'seed' differs)" "$work/eval.out" ||
  { cat "$work/eval.out"; fail "5: eval's refusal does not name key seed and the checkpoint"; }
[ "$before" = "$(state "$dir")" ] || fail "5: a refused start (config.ini swapped) changed the directory"
echo "5. config.ini gone or swapped: refused with exit 2 by $stored, directory untouched; eval refused too"
rm "$dir/config.ini"
mpi 2 train "${cfg[@]}" run_dir="$work/fresh5" total_steps=$((5 * per)) seed=2
logn=$(wc -l <"$dir/train.log")
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((5 * per)) seed=2
has_line "$(tail -n +$((logn + 1)) "$dir/train.log")" -qF "resuming from $(ckpt_path "$dir" 3) (iteration 3)" ||
  fail "5: with config.ini gone the run's own config did not resume from iteration 3"
[ -e "$dir/config.ini" ] || fail "5: the resumed run wrote no config.ini"
same_as "$dir" "$work/fresh5" "5. config.ini gone, own config: resumed"
mkdir "$work/copied"
cp "$dir"/ckpt-*.h5 "$work/copied/"
mpi 1 eval "$dir" episodes=2 >"$work/eval-dir.out"
mpi 1 eval "$work/copied" episodes=2 >"$work/eval-copied.out" 2>"$work/eval-copied.err" ||
  { cat "$work/eval-copied.err"; fail "5: eval of checkpoints without config.ini failed"; }
grep -qF "no config.ini in $work/copied: using the config stored in $(ckpt_path "$work/copied" 5)" \
  "$work/eval-copied.err" || { cat "$work/eval-copied.err"; fail "5: eval did not say which config it used"; }
a=$(sed 's/ ([^)]*)//' "$work/eval-dir.out")
b=$(sed 's/ ([^)]*)//' "$work/eval-copied.out")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "5: eval without config.ini: '$b', in the run directory: '$a'"
echo "5. eval of checkpoints copied without config.ini: $b"
