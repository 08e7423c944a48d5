#!/usr/bin/env bash
# rank_times.sh: ranks.csv (rank_times = 1), every rank's phase times, through the real binary.
#   1. 3 ranks, 5 environments (shares 2,2,1), 4 iterations: one row per rank and iteration with
#      the shares it ran with; per column, the maximum over ranks is progress.csv's value of the
#      same name (t_wait's minimum is t_wait_min), bit for bit; t_busy = t_iter - t_wait - t_comm;
#      the waits of the phases are >= 0 and sum to at most t_wait; the steps of its environments
#      that other ranks sampled (given) add up to the steps ranks sampled for others (taken);
#   2. rows after the checkpoint (a killed run's) are dropped on resume, here on 2 ranks, and the
#      new iterations have one row per rank of the new count;
#   3. a resumption with rank_times = 0 still drops them, and adds none;
#   4. --restart removes ranks.csv with the rest of the old run;
#   5. one rank pinned with taskset to a core that a busy loop shares: every row's cpu is that
#      core, preempt counts the scheduler taking the core away (at least once per iteration;
#      always 0 or a wrong cpu fails), and cpu_time shows the half of the core it got (under 80%
#      of t_iter; the wall clock in its place fails);
#   6. waiting without spinning: rank 1's work made 8x as long (TRPO_BENCH_SLOW_RANK), so rank 0
#      waits about 7/8 of each iteration, mostly in waits of several ms. With comm_nap = 1 its
#      cpu_time beyond its own work is under 0.6 of its waiting (measured 0.33: the first ms of
#      each wait spins, then a poll every ~90 us); with comm_nap = 0 (MPI_Barrier spins) its
#      cpu_time is over half of t_iter (measured 0.99). A wait that spins despite comm_nap = 1
#      fails.
#   usage: rank_times.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
set -euo pipefail
source "$(dirname "$0")/runlib.sh"
runlib_init rank_times "$@"

per=$((5 * 64))
# rebalance = 0: the rows' nenv are the even split (load balancing would move environments on a
# shared machine)
# (base is cfg without nenv, nsteps, vf_minibatch and run_dir, for the runs of cases 5 and 6 that
# set their own: trpo refuses a key given twice on the command line)
base=("$src/configs/pendulum.ini" vf_epochs=2 quiet=1 rebalance=0)
cfg=("${base[@]}" nenv=5 nsteps=64 vf_minibatch=20 run_dir="$work/run")
f=$work/run/ranks.csv
head="iteration,rank,nenv,t_sample,t_grad,t_cg,t_ls,t_vf,t_wait,t_comm,t_iter,t_busy,w_sample,w_grad,w_cg,w_ls,w_vf,preempt,cpu,cpu_time,taken,given,worked"

# rows of iteration/rank pairs, sorted: "iteration rank nenv"
pairs() { awk -F, 'NR > 1 { print $1, $2, $3 }' "$f" | sort -n -k1,1 -k2,2; }
expect_pairs() {
  local want=$1 what=$2
  [ "$(pairs)" = "$want" ] || { diff <(pairs) <(echo "$want") >&2 || true; fail "$what: ranks.csv rows"; }
}
# append the rows a killed run would have left after the checkpoint of its last iteration
fake_rows() {
  local it=$1 k
  for k in 0 1 2; do echo "$it,$k,9,12345,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0" >>"$f"; done
  printf '%s' "$it,3,9,123" >>"$f"   # and a torn one
}

# 1. the rows against progress.csv
mpi 3 train "${cfg[@]}" total_steps=$((4 * per)) rank_times=1 >"$work/one.out" 2>&1 ||
  { cat "$work/one.out"; fail "the 3-rank run failed"; }
[ "$(head -1 "$f")" = "$head" ] || fail "ranks.csv header: '$(head -1 "$f")', expected '$head'"
want=$(for i in 1 2 3 4; do echo "$i 0 2"; echo "$i 1 2"; echo "$i 2 1"; done)
expect_pairs "$want" "3 ranks, 4 iterations"
awk -F, '
  BEGIN { split("t_sample t_grad t_cg t_ls t_vf t_wait t_comm t_iter", names, " ") }
  FNR == 1 { for (i = 1; i <= NF; i++) col[FILENAME, $i] = i; next }
  FILENAME ~ /ranks.csv$/ {
    it = $1
    for (i = 4; i <= NF; i++) if ($i < 0) { print "negative " i " at iteration " it; bad = 1 }
    t = col[FILENAME, "t_iter"]; w = col[FILENAME, "t_wait"]; c = col[FILENAME, "t_comm"]
    b = col[FILENAME, "t_busy"]
    if (($b - ($t - $w - $c))^2 > 1e-24) { print "t_busy != t_iter - t_wait - t_comm at " it; bad = 1 }
    ws = 0
    for (i = col[FILENAME, "w_sample"]; i <= col[FILENAME, "w_vf"]; i++) ws += $i
    p = $col[FILENAME, "preempt"]; u = $col[FILENAME, "cpu"]
    if (p != int(p) || u != int(u)) { print "preempt or cpu not a whole number at " it; bad = 1 }
    if (ws > $w + 1e-12) { print "phase waits sum to more than t_wait at " it; bad = 1 }
    if ($col[FILENAME, "cpu_time"] > $t + 1e-3) { print "cpu_time over t_iter at " it; bad = 1 }
    tk = $col[FILENAME, "taken"]; gv = $col[FILENAME, "given"]
    if (tk != int(tk) || gv != int(gv) || gv > $3 * 64) { print "taken or given not a count of steps at " it; bad = 1 }
    wk = $col[FILENAME, "worked"]
    if (wk != int(wk)) { print "worked not a count at " it; bad = 1 }
    taken[it] += tk; given[it] += gv
    for (k in names) { n = names[k]; v = $col[FILENAME, n] + 0; if (!((it, n) in mx) || v > mx[it, n]) mx[it, n] = v }
    v = $w + 0; if (!((it, "min") in mx) || v < mx[it, "min"]) mx[it, "min"] = v
    next
  }
  {
    it = $1
    for (k in names) {
      n = names[k]
      if (mx[it, n] != $col[FILENAME, n] + 0) { print n " at " it ": max over ranks " mx[it, n] ", progress.csv " $col[FILENAME, n]; bad = 1 }
    }
    if (mx[it, "min"] != $col[FILENAME, "t_wait_min"] + 0) { print "t_wait_min at " it; bad = 1 }
    # every step taken was given by its owner, and progress.csv counts them
    if (taken[it] != given[it] || taken[it] != $col[FILENAME, "steps_taken"] + 0) {
      print "taken " taken[it] ", given " given[it] ", steps_taken " $col[FILENAME, "steps_taken"] " at " it; bad = 1
    }
    seen++
  }
  END { if (seen != 4) { print seen " progress rows"; bad = 1 } exit bad }
' "$f" "$work/run/progress.csv" || fail "ranks.csv disagrees with progress.csv"
echo "1. 3 ranks: 12 rows; maxima over ranks = progress.csv, t_busy and phase waits consistent, steps taken = given = steps_taken"

# 2. resume on 2 ranks after a kill left rows of iteration 5
fake_rows 5
mpi 2 train "${cfg[@]}" total_steps=$((6 * per)) rank_times=1 >"$work/two.out" 2>&1 ||
  { cat "$work/two.out"; fail "the 2-rank resumption failed"; }
want=$(echo "$want"; for i in 5 6; do echo "$i 0 3"; echo "$i 1 2"; done)
expect_pairs "$want" "resumed on 2 ranks"
# the fake rows' t_sample is exactly 12345 (a substring search could match a real time's digits)
! awk -F, 'NR > 1 && $4 == 12345 { found = 1 } END { exit !found }' "$f" ||
  fail "the killed run's rows survived the resumption"
echo "2. resumed on 2 ranks: the killed run's rows dropped, iterations 5-6 have 2 rows each"

# 3. resumed with rank_times = 0: rewound, nothing added
fake_rows 7
mpi 2 train "${cfg[@]}" total_steps=$((7 * per)) rank_times=0 >"$work/three.out" 2>&1 ||
  { cat "$work/three.out"; fail "the resumption with rank_times=0 failed"; }
expect_pairs "$want" "resumed with rank_times=0"
[ "$(last_row "$work/run")" = 7 ] || fail "the rank_times=0 resumption did not reach iteration 7"
echo "3. resumed with rank_times=0: rows after the checkpoint dropped, none added"

# 4. --restart starts over without the old ranks.csv
mpi 2 train "${cfg[@]}" total_steps=$((1 * per)) --restart >"$work/four.out" 2>&1 ||
  { cat "$work/four.out"; fail "the --restart run failed"; }
[ ! -e "$f" ] || fail "--restart kept the old ranks.csv"
echo "4. --restart: ranks.csv removed"

# 5. a busy loop on the rank's core (a rank started without mpirun keeps taskset's binding)
# the last CPU this process may run on (a container's CPUs need not be numbered from 0)
core=$(awk '/^Cpus_allowed_list/ { print $2 }' /proc/self/status | tr ',' '\n' | tail -1 | sed 's/.*-//')
[ -n "$core" ] || core=$(($(nproc) - 1))
taskset -c "$core" sh -c 'while :; do :; done' &
hog=$!
trap 'kill "$hog" 2>/dev/null || true' EXIT
taskset -c "$core" "$trpo" train "${base[@]}" run_dir="$work/pinned" nenv=2 nsteps=512 \
  vf_minibatch=20 total_steps=$((6 * 2 * 512)) rank_times=1 >"$work/five.out" 2>&1 ||
  { cat "$work/five.out"; fail "the pinned run failed"; }
kill "$hog" 2>/dev/null || true
read -r rows cpus pre share <<<"$(awk -F, -v c="$core" '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { n++; if ($col["cpu"] == c) on++; p += $col["preempt"]; u += $col["cpu_time"]; t += $col["t_iter"] }
  END { printf "%d %d %d %.3f\n", n, on, p, (t > 0 ? u / t : 1) }' "$work/pinned/ranks.csv")"
[ "$rows" = 6 ] || fail "pinned run: $rows ranks.csv rows, expected 6"
[ "$cpus" = 6 ] || fail "pinned run: cpu is $core in only $cpus of 6 rows"
[ "$pre" -ge 6 ] || fail "pinned run beside a busy loop: $pre preemptions in 6 iterations, expected >= 6"
awk -v s="$share" 'BEGIN { exit !(s > 0 && s < 0.8) }' ||
  fail "pinned run beside a busy loop: cpu_time is $share of t_iter, expected a share of the core (0 < x < 0.8)"
echo "5. pinned beside a busy loop: cpu $core in every row, $pre preemptions in 6 iterations, cpu_time $share of t_iter"

# 6. rank 0 waits for an 8x slower rank 1: naps, or spinning with comm_nap = 0
# "cpu_time/t_iter (cpu_time - busy - comm)/wait" of rank 0 over the iterations after the first
nap_share() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["rank"] == 0 && $col["iteration"] > 1 {
      u += $col["cpu_time"]; t += $col["t_iter"]; b += $col["t_busy"] + $col["t_comm"]; w += $col["t_wait"] }
    END { printf "%.3f %.3f %.3f\n", (t > 0 ? u / t : 0), (w > 0 ? (u - b) / w : 1), (t > 0 ? w / t : 0) }' "$1"
}
for nap in 1 0; do
  TRPO_BENCH_SLOW_RANK="1 8" mpi 2 train "${base[@]}" run_dir="$work/nap$nap" nenv=2 nsteps=2048 \
    vf_minibatch=1024 total_steps=$((6 * 2 * 2048)) rank_times=1 comm_nap=$nap \
    >"$work/six.out" 2>&1 ||
    { cat "$work/six.out"; fail "the comm_nap=$nap run failed"; }
  read -r share inwait waited <<<"$(nap_share "$work/nap$nap/ranks.csv")"
  awk -v w="$waited" 'BEGIN { exit !(w > 0.5) }' ||
    fail "comm_nap=$nap: rank 0 waited only $waited of t_iter for the 8x slower rank 1"
  if [ "$nap" = 1 ]; then
    awk -v x="$inwait" 'BEGIN { exit !(x < 0.6) }' ||
      fail "comm_nap=1: rank 0 used CPU for $inwait of its waiting, expected naps (< 0.6)"
  else
    awk -v s="$share" 'BEGIN { exit !(s > 0.5) }' ||
      fail "comm_nap=0: rank 0's cpu_time is $share of t_iter, expected spinning (> 0.5)"
  fi
  echo "6. comm_nap=$nap: rank 0 waited $waited of t_iter; cpu_time $share of t_iter, $inwait of the waiting"
done
echo "PASS"
