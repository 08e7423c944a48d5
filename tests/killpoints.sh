#!/usr/bin/env bash
# killpoints.sh: kill -9 at many moments, through the real binary under mpirun. One run directory
# (Pendulum, a checkpoint every iteration) is started again and again, alternately on 1 and 2
# ranks, and every rank is killed with SIGKILL (a node lost) at a moment of one of three kinds:
#   startup  a random time after mpirun starts, at the latest when the first iteration is logged
#            (MPI start-up, lock, config, loading, the first iteration);
#   random   a random time (0-60 ms) after the run logged its first iteration of its own;
#   write    as soon as the next checkpoint's .tmp file appears (the write in progress). A write
#            takes well under a millisecond where fsync is cheap, so most of these kills race
#            the real write and may land just after it. Two of the six planned write kills (one
#            on 1 rank, one on 2; an extra kill when KILLS is too small) run with
#            TRPO_TEST_CKPT_STALL_MS, which pauses each write halfway, and must leave a partial
#            .tmp: a kill inside the write is then certain on any disk.
# After every kill: each published checkpoint reads back whole (h5dump), and the next start must
# take over the stale lock and resume from the newest published checkpoint (no "unusable"
# report, ever). Finally the run is completed and must be identical (final parameters,
# progress.csv without wall-clock columns) to an uninterrupted run. How many iterations a start
# gets through before its kill depends on the machine's load (the script polls the run directory
# between the run's iterations), so the killed starts are given no reachable end (total_steps is
# a key a resumption may change) and the length of the completed run, and of the uninterrupted
# reference, is fixed after the kills: at least N iterations and some beyond the last kill.
# The kill points are counted:
# how many left a partial .tmp (killed inside the file write) and how many fell between an
# iteration's progress.csv row and the publication of its checkpoint. After the completed run no
# .tmp may remain (the next write removes a killed writer's leftover).
#   usage: killpoints.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
#   KILL_SEED (environment) fixes the random moments (default 5); KILLS the number of kills (18)
#   STALL_MS the pause of the paused writes (default 1000)
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init killpoints "$@"

RANDOM=${KILL_SEED:-5}
kills=${KILLS:-18}
stall_ms=${STALL_MS:-1000}
N=100
common=("$src/configs/pendulum.ini" nenv=2 nsteps=128 vf_epochs=2 vf_minibatch=64 quiet=1
        checkpoint_every=1 keep_checkpoints=3)
# the killed starts: an end no start can reach before its kill, whatever the load
cfg=("${common[@]}" total_steps=$((1000000 * 256)))
dir=$work/run

rows_at_least() { [ "$(last_row "$dir")" -ge "$1" ]; }
tmp_exists() { compgen -G "$dir/ckpt-*.h5.tmp" >/dev/null; }
# identity of the partial checkpoint files (inode, mtime), to tell a new one from a leftover
tmp_id() { stat -c '%n %i %.9Y' "$dir"/ckpt-*.h5.tmp 2>/dev/null || true; }
# a random number of milliseconds in [0, $1)
rand_ms() { echo $(((RANDOM * 32768 + RANDOM) % $1)); }
sleep_ms() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }

# bytes of the newest published checkpoint of DIR (0 if none)
newest_bytes() {
  local n
  n=$(newest_ckpt "$1")
  if [ "$n" -ge 0 ]; then stat -c %s "$(ckpt_path "$1" "$n")"; else echo 0; fi
}

n_tmp=0 n_stalled=0 n_window=0 n_early=0 n_kinds=(0 0 0) kinds=(startup random write)
k=0
# the planned kills, then (only when KILLS is too small to include a paused write) one more
while [ $k -lt "$kills" ] || { [ $n_stalled = 0 ] && [ $k = "$kills" ]; }; do
  k=$((k + 1))
  np=$((1 + k % 2))
  kind=$((k % 3))
  [ $k -gt "$kills" ] && kind=2
  # the paused writes: the write kills of every other group of six (one on 1 rank, one on 2),
  # and the extra one
  stall=0
  [ $kind = 2 ] && { [ $(((k / 6) % 2)) = 1 ] || [ $k -gt "$kills" ]; } && stall=$stall_ms
  from=$(newest_ckpt "$dir")
  stale=$(last_row "$dir")
  base=$((stale > from ? stale : from))
  tmp0=$(tmp_id)
  logn=0
  [ -f "$dir/train.log" ] && logn=$(wc -l <"$dir/train.log")
  TRPO_TEST_CKPT_STALL_MS=$stall "$mpiexec" -n "$np" "${margs[@]}" "$trpo" train "${cfg[@]}" run_dir="$dir" \
    >"$work/run$k.out" 2>&1 &
  M=$!
  pids=$(rank_pids $M "$np") || pids=""
  # wait for the moment
  case $kind in
    0)
      # a random moment of the start-up, at the latest its first row
      end=$((${EPOCHREALTIME/./} + 1000 * $(rand_ms 1500)))
      until [ ${EPOCHREALTIME/./} -ge $end ] || rows_at_least $((base + 1)) || ! kill -0 $M 2>/dev/null; do
        sleep 0.005
      done
      ;;
    1 | 2)
      # write: two rows of its own, so that the first write (which removes leftovers) is done
      want=$((base + kind))
      until rows_at_least $want || ! kill -0 $M 2>/dev/null; do sleep 0.005; done
      if [ $kind = 1 ]; then
        sleep_ms "$(rand_ms 60)"
      else
        # the next write starting: its .tmp appears (or, were publication not safe, any new name)
        names0=("$dir"/ckpt-*)
        for i in $(seq 200000); do
          tmp_exists && break
          if [ $((i % 16)) = 0 ]; then
            names=("$dir"/ckpt-*)
            [ "${names[*]}" = "${names0[*]}" ] || break
          fi
        done
      fi
      ;;
  esac
  # SIGKILL every rank, unless the run ended first
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  rc=0
  wait $M || rc=$?
  [ $rc = 0 ] && fail "kill $k: the run exited 0 before it (its total_steps is out of reach)"
  # what the kill interrupted
  n=$(newest_ckpt "$dir")
  r=$(last_row "$dir")
  what=""
  tmp1=$(tmp_id)
  if [ -n "$tmp1" ] && [ "$tmp1" != "$tmp0" ]; then what="inside a checkpoint file write"; n_tmp=$((n_tmp + 1)); fi
  if [ "$stall" != 0 ]; then
    # a paused write must have been killed in its pause: a .tmp of its own, half written
    [ -n "$what" ] || fail "kill $k: the write paused by TRPO_TEST_CKPT_STALL_MS=$stall left no new .tmp"
    part=$(stat -c %s "$dir"/ckpt-*.h5.tmp | head -1) whole=$(newest_bytes "$dir")
    [ "$part" -gt 0 ] && [ "$part" -lt "$whole" ] ||
      fail "kill $k: the paused write left a .tmp of $part bytes (expected part of a $whole-byte checkpoint)"
    what="$what, paused ($part of about $whole bytes)"
    n_stalled=$((n_stalled + 1))
  fi
  if [ "$r" -gt "$n" ]; then what="${what:-between row $r and its checkpoint}"; n_window=$((n_window + 1)); fi
  if [ "$r" -le "$base" ]; then what="${what:-before an iteration of its own}"; n_early=$((n_early + 1)); fi
  n_kinds[$kind]=$((n_kinds[kind] + 1))
  echo "kill $k (${kinds[$kind]}, $np rank(s)): newest checkpoint $n, last row $r${what:+, $what}"
  # nothing published is damaged, and this start resumed from the newest one
  all_readable "$dir"
  log=$(tail -n +$((logn + 1)) "$dir/train.log" 2>/dev/null || true)
  if grep -q unusable <<<"$log$(cat "$work/run$k.out")"; then fail "kill $k: a checkpoint was reported unusable"; fi
  if [ "$from" -ge 0 ] && grep -q "resuming from" <<<"$log"; then
    grep -qF "resuming from $(ckpt_path "$dir" "$from") (iteration $from)" <<<"$log" ||
      fail "kill $k: did not resume from the newest checkpoint $from: $(grep 'resuming from' <<<"$log")"
  fi
done

# the completed length: N iterations, or 10 beyond the furthest the kills let the run get
from=$(newest_ckpt "$dir")
r=$(last_row "$dir")
N=$((r + 10 > N ? r + 10 : N))
cfg=("${common[@]}" total_steps=$((N * 256)))
mpi 2 train "${cfg[@]}" run_dir="$work/ref"

# the last start completes the run: stale lock taken over, resumed from the newest checkpoint
logn=$(wc -l <"$dir/train.log")
[ -e "$dir/lock" ] || fail "the killed runs left no lock behind (expected a stale one)"
mpi 2 train "${cfg[@]}" run_dir="$dir" >"$work/final.out" 2>&1 || { cat "$work/final.out"; fail "the final run failed"; }
grep -q "took over the stale lock" "$work/final.out" || fail "the final run did not report taking over the stale lock"
if [ "$from" -ge 0 ]; then
  has_line "$(tail -n +$((logn + 1)) "$dir/train.log")" -qF "resuming from $(ckpt_path "$dir" "$from") (iteration $from)" ||
    fail "the final run did not resume from $from"
fi
if grep -q unusable "$dir/train.log" "$work"/*.out; then fail "a checkpoint was reported unusable"; fi
all_readable "$dir"
if tmp_exists; then fail "the completed run left a killed writer's .tmp behind: $(tmp_id)"; fi
same_as "$dir" "$work/ref" "after $k kills"
echo "kill points: $k (startup ${n_kinds[0]}, random ${n_kinds[1]}, write ${n_kinds[2]});" \
  "inside a checkpoint file write (partial .tmp left): $n_tmp ($n_stalled paused halfway);" \
  "between an iteration's row and its checkpoint: $n_window; before any iteration of its own: $n_early"
[ "$n_tmp" -gt 0 ] || fail "no kill landed inside a checkpoint write"
