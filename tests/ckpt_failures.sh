#!/usr/bin/env bash
# ckpt_failures.sh: damaged checkpoints and failing disks, through the real binary on 2 ranks
# under mpirun. Every case ends by rerunning the same command, which must resume from the last
# good checkpoint and finish identical (final parameters, progress.csv without wall-clock columns)
# to an uninterrupted reference run.
#   1. the newest checkpoint corrupted (bytes flipped in its middle): one clear report line names
#      it, the run resumes from the previous one and moves the corrupted file aside, unchanged;
#   2. every checkpoint unusable: exit 2 with a clear message, nothing started from scratch
#      (no new checkpoint, progress.csv and config.ini untouched);
#   3. the run directory becomes full (a small tmpfs filled up while the run goes on) and
#   4. read-only (a read-only bind mount over it while the run goes on): exit 3, a message naming
#      the path and the system error, the last good checkpoint intact;
#   5. the file-size limit of the running rank 0 lowered below a checkpoint's size (prlimit, the
#      runtime form of ulimit -f; SIGXFSZ ignored): exit 3, EFBIG, the last good one intact;
#   6. progress.csv that cannot grow (the same limit just above its size): exit 3 naming it, and
#      that iteration's checkpoint never published;
#   7. unusable checkpoints newer than the one resumed from never displace a good one: they are
#      moved aside (ckpt-N.h5.bad, case 1 too) before the run writes its own.
#   8. a checkpoint renamed to a later number: its contents (counters) do not match its name, it
#      is reported and moved aside like a damaged one, and the run resumes from the newest good one.
# Cases 3 and 4 need mount (root); where mount is not permitted the script says so and relies on
# case 5 for the failing write (5 and 6 always run; nothing is skipped silently).
#   usage: ckpt_failures.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init ckptfail "$@"

per=512
N=20
cfg=("$src/configs/pendulum.ini" nenv=4 nsteps=128 vf_epochs=2 vf_minibatch=64 quiet=1)
mpi 2 train "${cfg[@]}" run_dir="$work/ref" total_steps=$((N * per))

# mounts made here are undone whatever happens
mounts=()
cleanup() {
  local m
  for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT

# flip FILE OFFSET: invert one byte in place
flip() {
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\$(printf %03o $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# corrupt FILE: invert three bytes inside it (its data, which the checksums cover)
corrupt() {
  local size
  size=$(stat -c %s "$1")
  for off in $((size / 2)) $((size / 2 + 1000)) $((size / 3)); do flip "$1" $off; done
}

# finish DIR WHAT: rerun the command to N; it resumes from the newest good checkpoint FROM
# (given) and ends identical to the reference
finish() {
  local dir=$1 from=$2 logn
  logn=$(wc -l <"$dir/train.log")
  mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((N * per)) >"$work/finish.out" 2>&1 ||
    { cat "$work/finish.out"; fail "$3: the rerun failed"; }
  has_line "$(tail -n +$((logn + 1)) "$dir/train.log")" -qF "resuming from $(ckpt_path "$dir" "$from") (iteration $from)" ||
    fail "$3: the rerun did not resume from iteration $from"
  same_as "$dir" "$work/ref" "$3, rerun"
}

# 1. the newest checkpoint corrupted
dir=$work/corrupt
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((4 * per))
f=$(ckpt_path "$dir" 4)
corrupt "$f"
sum=$(md5sum <"$f")
logn=$(wc -l <"$dir/train.log")
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((N * per)) >"$work/corrupt.out" 2>&1 ||
  { cat "$work/corrupt.out"; fail "1: the run after the corruption failed"; }
[ "$(grep -c '^trpo: checkpoint .* unusable: ' "$work/corrupt.out")" = 1 ] ||
  { cat "$work/corrupt.out"; fail "1: expected one report line"; }
grep -qF "trpo: moved unusable checkpoint $f aside to $f.bad" "$work/corrupt.out" ||
  { cat "$work/corrupt.out"; fail "1: no line saying that $f was moved aside"; }
[ -e "$f.bad" ] && [ "$(md5sum <"$f.bad")" = "$sum" ] || fail "1: $f.bad is not the corrupted file"
grep -q "^trpo: checkpoint $f unusable: .*; trying ckpt-000000003.h5$" "$work/corrupt.out" ||
  { cat "$work/corrupt.out"; fail "1: the report line does not name $f and the fallback"; }
has_line "$(tail -n +$((logn + 1)) "$dir/train.log")" -qF "resuming from $(ckpt_path "$dir" 3) (iteration 3)" ||
  fail "1: did not resume from iteration 3"
echo "1. corrupted newest checkpoint: $(grep unusable "$work/corrupt.out")"
same_as "$dir" "$work/ref" "1. corrupted newest checkpoint"

# 2. every checkpoint unusable: exit 2, nothing started
dir=$work/allbad
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((4 * per))
for f in "$dir"/ckpt-*.h5; do truncate -s $(($(stat -c %s "$f") / 2)) "$f"; done
ls -l --time-style=+%s.%N "$dir" | grep -v train.log >"$work/allbad.before"
logn=$(wc -l <"$dir/train.log")
rc=0
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((N * per)) >"$work/allbad.out" 2>&1 || rc=$?
[ $rc = 2 ] || { cat "$work/allbad.out"; fail "2: exit code $rc, expected 2"; }
grep -q "^trpo: no usable checkpoint in $dir: all 3 failed (newest ckpt-000000004.h5: " "$work/allbad.out" ||
  { cat "$work/allbad.out"; fail "2: no clear 'no usable checkpoint' message"; }
[ "$(grep -c unusable "$work/allbad.out")" = 3 ] || fail "2: expected one report line per file"
if tail -n +$((logn + 1)) "$dir/train.log" | grep -Eq "^training|starting from scratch"; then
  fail "2: training started"
fi
# config.ini too: a refused start does not rewrite it
ls -l --time-style=+%s.%N "$dir" | grep -v train.log >"$work/allbad.after"
diff "$work/allbad.before" "$work/allbad.after" >/dev/null ||
  fail "2: the directory changed: $(diff "$work/allbad.before" "$work/allbad.after")"
echo "2. all unusable: exit 2: $(grep 'no usable' "$work/allbad.out" | cut -c1-150)..."

# the running stages: a run in DIR (extra keys after OUT) with SIGXFSZ ignored in its ranks, at
# least 2 iterations of its own logged; sets M and R0 (rank 0's pid)
rows_at_least() { [ "$(last_row "$1")" -ge "$2" ]; }
start_bg() {
  local dir=$1 out=$2 first
  shift 2
  first=$(($(newest_ckpt "$dir") + 2))
  [ $first -ge 2 ] || first=2
  "$mpiexec" -n 2 "${margs[@]}" sh -c 'trap "" XFSZ; exec "$@"' sh \
    "$trpo" train "${cfg[@]}" run_dir="$dir" total_steps=$((1000 * per)) "$@" >"$out" 2>&1 &
  M=$!
  R0=$(rank_pids $M 2 | cut -d' ' -f1) || fail "the run in $dir did not start"
  wait_for 60 rows_at_least "$dir" $first || fail "the run in $dir made no progress"
}
# stopped_ioerror DIR OUT WHAT ERRNO-TEXT: exit 3, the message names a path in DIR and the error;
# every checkpoint reads back, and the newest is no older than $good (the newest when the failure
# was set up)
stopped_ioerror() {
  local rc=0
  wait $M || rc=$?
  [ $rc = 3 ] || { cat "$2" >&2; fail "$3: exit code $rc, expected 3"; }
  grep -Eq "^trpo: cannot (write|publish) (checkpoint )?$1/[^ ]*: .*$4" "$2" ||
    { cat "$2" >&2; fail "$3: no message naming a path in $1 and '$4'"; }
  all_readable "$1"
  [ "$(newest_ckpt "$1")" -ge "$good" ] || fail "$3: checkpoint $good (published before the failure) is gone"
  grep -m1 "^trpo: cannot" "$2" >&2
}

mnt=$work/mnt
mkdir -p "$mnt"
if mount -t tmpfs -o size=2m tmpfs "$mnt" 2>/dev/null; then
  mounts+=("$mnt")
  # 3. full: fill the tmpfs while the run goes on
  dir=$mnt/run
  start_bg "$dir" "$work/full.out"
  good=$(newest_ckpt "$dir")
  dd if=/dev/zero of="$mnt/filler" bs=64k status=none 2>/dev/null || true
  stopped_ioerror "$dir" "$work/full.out" "3. disk full" "No space left on device"
  from=$(newest_ckpt "$dir")
  rm "$mnt/filler"
  echo "3. disk full: exit 3, checkpoint $from intact"
  finish "$dir" "$from" "3. disk full"

  # 4. read-only: a read-only bind mount over the run directory while the run goes on (a plain
  # remount fails with EBUSY while the run holds files open for writing; the bind mount has no
  # writers of its own, and every path lookup of the run goes through it)
  dir=$work/ro
  start_bg "$dir" "$work/ro.out"
  good=$(newest_ckpt "$dir")
  mount --bind "$dir" "$dir"
  mounts+=("$dir")
  for k in $(seq 100); do mount -o remount,bind,ro "$dir" 2>/dev/null && break; sleep 0.01; done
  touch "$dir/probe" 2>/dev/null && fail "4: the bind mount is not read-only"
  stopped_ioerror "$dir" "$work/ro.out" "4. read-only" "Read-only file system"
  umount "$dir"
  from=$(newest_ckpt "$dir")
  echo "4. read-only: exit 3, checkpoint $from intact"
  finish "$dir" "$from" "4. read-only"
else
  echo "mount is not permitted here: the full and read-only cases are covered by the file-size limit (5)"
fi

# 5. the file-size limit of the running rank 0 lowered below the checkpoint's size (prlimit;
# SIGXFSZ ignored): the next checkpoint write fails with EFBIG
dir=$work/efbig
start_bg "$dir" "$work/efbig.out"
good=$(newest_ckpt "$dir")
limit=$(($(stat -c %s "$(ckpt_path "$dir" "$(newest_ckpt "$dir")")") / 2))
prlimit --pid "$R0" --fsize=$limit
stopped_ioerror "$dir" "$work/efbig.out" "5. file-size limit" "writing: File too large"
from=$(newest_ckpt "$dir")
echo "5. file-size limit $limit bytes: exit 3, checkpoint $from intact"
finish "$dir" "$from" "5. file-size limit"

# 6. progress.csv that cannot grow (rank 0's file-size limit just above its size, checkpoints off
# in the resumed run): exit 3 at the first row that does not fit, naming progress.csv; nothing of
# that iteration published, so the rerun resumes from the last checkpoint and matches
dir=$work/csvfull
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((2 * per))
start_bg "$dir" "$work/csvfull.out" checkpoint_every=0
prlimit --pid "$R0" --fsize=$(($(stat -c %s "$dir/progress.csv") + 100))
rc=0
wait $M || rc=$?
[ $rc = 3 ] || { cat "$work/csvfull.out"; fail "6: exit code $rc, expected 3"; }
grep -q "^trpo: cannot write $dir/progress.csv: File too large" "$work/csvfull.out" ||
  { cat "$work/csvfull.out"; fail "6: no message naming progress.csv and EFBIG"; }
[ "$(newest_ckpt "$dir")" = 2 ] || fail "6: a checkpoint was published after its row was lost"
echo "6. progress.csv cannot grow: exit 3: $(grep -m1 '^trpo: cannot' "$work/csvfull.out")"
finish "$dir" 2 "6. progress.csv cannot grow"

# 7. checkpoints 5 and 6 of 4..6 corrupted, the rerun checkpointing every 4 iterations: with the
# two counted among the 3 kept, writing 8 would have removed 4, the only good one older than 8
dir=$work/aside
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((6 * per))
for k in 5 6; do corrupt "$(ckpt_path "$dir" $k)"; done
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((8 * per)) checkpoint_every=4 >"$work/aside.out" 2>&1 ||
  { cat "$work/aside.out"; fail "7: the run after the corruption failed"; }
files=$(cd "$dir" && ls ckpt-* | tr '\n' ' ')
[ "$files" = "ckpt-000000004.h5 ckpt-000000005.h5.bad ckpt-000000006.h5.bad ckpt-000000008.h5 " ] ||
  { cat "$work/aside.out"; fail "7: expected checkpoints 4 and 8 and the two moved aside, got: $files"; }
echo "7. two unusable newer checkpoints moved aside; 4 and 8 kept: $files"
finish "$dir" 8 "7. unusable newer checkpoints"

# 8. a checkpoint under another number (renamed, or copied from elsewhere): its counters say
# iteration 3, its name 9; it is judged by its contents, reported, and never resumed from (a
# resume from it would start at "iteration 9" with the state of 3, and the file, the newest
# forever, would be read first by every later start)
dir=$work/renamed
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((4 * per))
mv "$(ckpt_path "$dir" 3)" "$(ckpt_path "$dir" 9)"
mpi 2 train "${cfg[@]}" run_dir="$dir" total_steps=$((N * per)) >"$work/renamed.out" 2>&1 ||
  { cat "$work/renamed.out"; fail "8: the run after the rename failed"; }
grep -qF "trpo: checkpoint $(ckpt_path "$dir" 9) unusable: item counters says iteration 3, the file's name 9; trying ckpt-000000004.h5" "$work/renamed.out" ||
  { cat "$work/renamed.out"; fail "8: no report naming the file, its counters and the fallback"; }
[ -e "$(ckpt_path "$dir" 9).bad" ] || fail "8: the renamed file was not moved aside"
echo "8. renamed checkpoint: $(grep -m1 unusable "$work/renamed.out" | cut -c1-160)..."
same_as "$dir" "$work/ref" "8. renamed checkpoint, rerun"
