#!/usr/bin/env bash
# bench_smoke.sh: the scaling, balancing, napping, checkpoint and node benchmark scripts run to
# the end at tiny sizes and print every table they promise; compare_published.sh gives the known
# figures of two hand-made runs. Not a timing test (no figure is
# judged): it keeps a broken script from reaching the 16-core machine, whose time is scarce.
#   usage: bench_smoke.sh BUILD_DIR SRCDIR WORKDIR
set -euo pipefail
build=$(readlink -f "$1") src=$(readlink -f "$2") work=$(readlink -f "$3")/bench_smoke
rm -rf "$work"
mkdir -p "$work"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
export TMPDIR=$work
# the check that no rank outlives bench_node.sh needs pgrep; without it (no procps) it would pass
# unseen
command -v pgrep >/dev/null || fail "pgrep not found (Debian package procps, see launch/install-deps.sh)"

# bench_scaling.sh: 1 and 2 ranks, all four modes, one repetition of 1+2 iterations
out=$work/scaling.out
KEEP=$work/keep RANKS="1 2" MODES="weak weak-mb strong strong-mb" REPS=1 WARMUP=1 ITERS=2 NSTEPS=32 \
  STRONG_NENV=4 STRONG_MB=64 PHYS_SECONDS=0.2 bash "$src/launch/bench_scaling.sh" "$build" \
  >"$out" 2>"$work/scaling.err" || { cat "$work/scaling.err" "$out"; fail "bench_scaling.sh failed"; }
cat "$out"
num='-?[0-9.]+'
for mode in weak weak-mb strong strong-mb; do
  for n in 1 2; do
    # the main row: mode, ranks, then numbers only (a missing or non-numeric field is a bug)
    grep -Eq "^$mode +$n +[0-9]+ +[0-9]+( +$num){19}\$" "$out" ||
      fail "no well-formed main-table row for $mode at $n rank(s)"
    # the where-the-waiting-is row
    grep -Eq "^$mode +$n +$num +$num +[0-9]+:[0-9]+% +$num +$num +$num +$num +$num +[0-9]+ +$num +$num +$num +(-|$num) +$num +$num +[0-9]+(,[0-9]+)*\$" "$out" ||
      fail "no well-formed waiting row for $mode at $n rank(s)"
  done
  grep -Eq "^$mode +at +2 ranks: efficiency +$num% .*collectives +$num% of t_iter" "$out" ||
    fail "no target line for $mode"
done
# KEEP: every repetition's raw files
for mode in weak weak-mb strong strong-mb; do
  for n in 1 2; do
    for f in physics.txt progress.csv ranks.csv train.log; do
      [ -s "$work/keep/$mode-$n-1/$f" ] || fail "KEEP: no $mode-$n-1/$f"
    done
    # the physics-only run gives the best whole-environment split's rate and every rank's rate
    grep -Eq " bal_rate [0-9]+ rank_rates [0-9]+(,[0-9]+){$((n - 1))}\$" "$work/keep/$mode-$n-1/physics.txt" ||
      fail "KEEP: $mode-$n-1/physics.txt has no bal_rate and $n rank rates"
  done
done
echo "bench_scaling.sh: 8 main rows, 8 waiting rows, 4 target lines, the raw files kept"

# bench_replay.sh: the recorded 16-core runs (23 of them, 21 policies), then this script's own
# 2-rank runs kept above
out=$work/replay.out
bash "$src/launch/bench_replay.sh" "$build" >"$out" 2>&1 || { cat "$out"; fail "bench_replay.sh failed"; }
cat "$out"
[ "$(grep -Ec '^call[12]/.*ranks.csv: 16 ranks, (64|256) environments, 14 iterations:( [01]\.[0-9]{3}){21}$' "$out")" = 23 ] ||
  fail "bench_replay.sh did not replay the 23 recorded runs"
[ "$(grep -Ec '^(work|sampling|after|iteration): .* +[01]\.[0-9]{3} +[01]\.[0-9]{3} +[01]\.[0-9]{3} +[01]\.[0-9]{3}$' "$out")" = 21 ] ||
  fail "bench_replay.sh did not print the 21 policies' medians"
[ "$(grep -Ec '^speeds call[12]/.*: spread [0-9.]+ lag1 -?[0-9.]+ lag5 -?[0-9.]+$' "$out")" = 23 ] ||
  fail "bench_replay.sh did not print the 23 runs' speeds"
grep -Eq '^speeds over all runs: spread [0-9.]+ to [0-9.]+, lag1 ' "$out" || fail "bench_replay.sh: no speed ranges"
WARMUP=1 bash "$src/launch/bench_replay.sh" "$build" "$work"/keep/*-2-1/ranks.csv >"$out" 2>&1 ||
  { cat "$out"; fail "bench_replay.sh on kept runs failed"; }
[ "$(grep -Ec '^(work|sampling|after|iteration): ' "$out")" = 21 ] || { cat "$out"; fail "bench_replay.sh on kept runs: no medians"; }
echo "bench_replay.sh: the recorded runs and the kept ones replayed"

# bench_balance.sh: 2 ranks, one repeat of each case, long enough for the balancer's history
out=$work/balance.out
NP=2 NENV=4 NSTEPS=32 WARMUP=1 ITERS=6 REPEATS=1 bash "$src/launch/bench_balance.sh" "$build" \
  >"$out" 2>&1 || { cat "$out"; fail "bench_balance.sh failed"; }
cat "$out"
[ "$(grep -Ec '^median steps/s: rebalance=0 [0-9]+, rebalance=1 [0-9]+, ratio [0-9.]+$' "$out")" = 4 ] ||
  fail "bench_balance.sh did not print the four medians"
[ "$(grep -Ec '^[01] +1 +[0-9]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+  ' "$out")" = 8 ] ||
  fail "bench_balance.sh did not print eight runs"
# two windows compared: three settings per case, each median with its ratio
out=$work/balance2.out
NP=2 NENV=4 NSTEPS=32 WARMUP=1 ITERS=6 REPEATS=1 WINDOWS="5 1" CASES=moving PERIOD=2 \
  bash "$src/launch/bench_balance.sh" "$build" >"$out" 2>&1 || { cat "$out"; fail "bench_balance.sh WINDOWS failed"; }
cat "$out"
grep -Eq '^median steps/s: rebalance=0 [0-9]+, window 5 [0-9]+ \(ratio [0-9.]+\), window 1 [0-9]+ \(ratio [0-9.]+\)$' "$out" ||
  fail "bench_balance.sh WINDOWS=\"5 1\" did not print the medians of both windows"
[ "$(grep -Ec '^(0|1/w5|1/w1) +1 +[0-9]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+  ' "$out")" = 3 ] ||
  fail "bench_balance.sh WINDOWS=\"5 1\" did not print three runs"
# two steal values, two share_work values, two steal_steps values (labelled /sN, /kN, /cN): four
# settings each, every median with its ratio to the first
for kv in STEALS:s:0:1 WORKS:k:0:1 CHUNKS:c:32:8; do
  IFS=: read -r var l v1 v2 <<<"$kv"
  out=$work/balance-$var.out
  env "$var=$v1 $v2" NP=2 NENV=4 NSTEPS=32 WARMUP=1 ITERS=4 REPEATS=1 CASES=slower \
    bash "$src/launch/bench_balance.sh" "$build" >"$out" 2>&1 || { cat "$out"; fail "bench_balance.sh $var failed"; }
  cat "$out"
  grep -Eq "^median steps/s: 0/$l$v1 [0-9]+, 1/$l$v1 [0-9]+ \(ratio [0-9.]+\), 0/$l$v2 [0-9]+ \(ratio [0-9.]+\), 1/$l$v2 [0-9]+ \(ratio [0-9.]+\)\$" "$out" ||
    fail "bench_balance.sh $var=\"$v1 $v2\" did not print four medians"
done
# the slow rank's pieces are worked on by the other rank only with share_work = 1
out=$work/balance-WORKS.out
[ "$(grep -Ec '^[01]/k0 +1 +[0-9]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +0\.0  ' "$out")" = 2 ] ||
  fail "bench_balance.sh WORKS=\"0 1\": pieces worked on for others with share_work = 0"

# bench_nap.sh: 2 ranks, one repeat of each case; the quota case runs where this machine lets a
# cgroup be made (root, writable cgroup cpu controller) and says why it is left out otherwise
out=$work/nap.out
NP=2 NENV=4 NSTEPS=32 WARMUP=1 ITERS=3 REPEATS=1 bash "$src/launch/bench_nap.sh" "$build" \
  >"$out" 2>&1 || { cat "$out"; fail "bench_nap.sh failed"; }
cat "$out"
medians=$(grep -Ec '^median steps/s: comm_nap=0 [0-9]+, comm_nap=1 [0-9]+, ratio [0-9.]+$' "$out")
left=$(grep -c '^quota: left out: ' "$out" || true)
[ $((medians + left)) = 3 ] || fail "bench_nap.sh: $medians medians and $left cases left out, expected 3 in all"
[ "$(grep -Ec '^[01] +1 +[0-9]+ +[0-9.]+ +-?[0-9.]+ +-?[0-9.]+$' "$out")" = $((2 * medians)) ] ||
  fail "bench_nap.sh did not print two runs per case"
# bench_ckpt.sh: 2 ranks, one repeat of each setting, with a write pause
out=$work/ckpt.out
NP=2 REPEATS=1 WARMUP=1 ITERS=2 STALL_MS=5 bash "$src/launch/bench_ckpt.sh" "$build" >"$out" 2>&1 ||
  { cat "$out"; fail "bench_ckpt.sh failed"; }
cat "$out"
grep -Eq '^median steps/s: checkpoint_every=1 [0-9]+, checkpoint_every=0 [0-9]+, cost -?[0-9.]+% \(median of the pairs: -?[0-9.]+%\)$' "$out" ||
  fail "bench_ckpt.sh did not print the medians"
[ "$(grep -Ec '^[01] +1 +[0-9]+ +[0-9.]+$' "$out")" = 2 ] || fail "bench_ckpt.sh did not print two runs"

# bench_node.sh: the node's facts, then every step at tiny sizes; then a step stopped at the
# budget's end (no rank of it may still run when the script returns) and one skipped for want of
# time
node=$work/node
OUT=$node BUDGET=300 MIN_STEP=10 RANKS="1 2" REPS=1 WARMUP=1 ITERS=2 NSTEPS=32 STRONG_NENV=4 \
  STRONG_MB=64 PHYS_SECONDS=0.2 bash "$src/launch/bench_node.sh" "$build" >"$work/node.out" 2>&1 ||
  { cat "$work/node.out"; fail "bench_node.sh failed"; }
cat "$work/node.out"
for k in cpu_model cpus cores threads_per_core cpuset cgroup_quota dev_shm idle_second mpirun build ranks; do
  grep -Eq "^$k: +[^ ]" "$node/node.txt" || fail "bench_node.sh: node.txt has no $k"
done
for step in 1-main:weak-mb 1-main:strong-mb 2-spin:weak-mb 2-spin:strong-mb 3-plain:weak 3-plain:strong \
  4-nosteal:weak-mb 4-nosteal:strong-mb 5-wide:weak-mb 7-mpisum:weak-mb 7-mpisum:strong-mb \
  8-nowork:weak-mb 8-nowork:strong-mb 9-whole:weak-mb 9-whole:strong-mb 10-noride:weak-mb \
  10-noride:strong-mb; do
  f=$node/${step%%:*}.txt mode=${step#*:}
  grep -Eq "^$mode +2 +[0-9]+ +[0-9]+( +$num){19}\$" "$f" || fail "bench_node.sh: no $mode row at 2 ranks in $f"
  grep -q "^== ${step%%:*}\$" "$node/summary.txt" || fail "bench_node.sh: summary.txt lacks ${step%%:*}"
done
grep -q "comm_nap 0" "$node/2-spin.err" || fail "bench_node.sh: step 2 did not run with comm_nap 0"
grep -q "steal=0" "$node/4-nosteal.err" || fail "bench_node.sh: step 4 did not run with steal=0"
grep -q "comm_node_sum=0" "$node/7-mpisum.err" || fail "bench_node.sh: step 7 did not run with comm_node_sum=0"
grep -q "share_work=0" "$node/8-nowork.err" || fail "bench_node.sh: step 8 did not run with share_work=0"
grep -q "steal_steps=32" "$node/9-whole.err" || fail "bench_node.sh: step 9 did not run with steal_steps=32"
grep -q "vf_ride=0" "$node/10-noride.err" || fail "bench_node.sh: step 10 did not run with vf_ride=0"
grep -Eq "^ranks 2 doubles 5126 words 20505: MPI_Allreduce $num us, node sum reading words $num us, node sum $num us, ratio $num, same\$" \
  "$node/6-sums.txt" || fail "bench_node.sh: step 6 printed no exact-sum line at 2 ranks"
grep -Eq "^ranks 2 pair 5126\+4994: apart $num us, together $num us, ratio $num, same\$" "$node/6-sums.txt" ||
  fail "bench_node.sh: step 6 printed no line for two sums apart and together at 2 ranks"
[ -s "$node/keep/1-main/weak-mb-2-1/ranks.csv" ] || fail "bench_node.sh: no kept raw files"
OUT=$work/node2 BUDGET=15 MIN_STEP=5 STEPS=1 RANKS="1 2" REPS=1 WARMUP=1 ITERS=100000 \
  bash "$src/launch/bench_node.sh" "$build" >"$work/node2.out" 2>&1 || { cat "$work/node2.out"; fail "bench_node.sh (budget) failed"; }
cat "$work/node2.out"
grep -q "^step 1-main: stopped at the budget's end" "$work/node2/1-main.txt" || fail "bench_node.sh: step 1 was not stopped"
OUT=$work/node3 BUDGET=3 MIN_STEP=10 STEPS=3 bash "$src/launch/bench_node.sh" "$build" >"$work/node3.out" 2>&1 ||
  { cat "$work/node3.out"; fail "bench_node.sh (no time) failed"; }
grep -q "^step 3-plain: skipped" "$work/node3/3-plain.txt" || fail "bench_node.sh: step 3 was not skipped"
# a bad entry anywhere in STEPS ends the script before any step runs (it once ran step 6 first)
rc=0
OUT=$work/node5 STEPS="6 11" bash "$src/launch/bench_node.sh" "$build" >"$work/node5.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && [ ! -e "$work/node5" ] && grep -q "unknown step '11'" "$work/node5.out" ||
  { cat "$work/node5.out"; fail "bench_node.sh: STEPS=\"6 11\" did not end at once with exit status 2"; }
# PACK=1: keep/ and the *.err files in keep.tgz, at most 8 files in all (a device call's limit)
OUT=$work/node4 BUDGET=120 MIN_STEP=5 STEPS=4 PACK=1 RANKS="1 2" REPS=1 WARMUP=1 ITERS=2 NSTEPS=32 \
  STRONG_NENV=4 STRONG_MB=64 PHYS_SECONDS=0.2 bash "$src/launch/bench_node.sh" "$build" >"$work/node4.out" 2>&1 ||
  { cat "$work/node4.out"; fail "bench_node.sh (PACK) failed"; }
[ -s "$work/node4/keep.tgz" ] && [ ! -e "$work/node4/keep" ] && ! ls "$work/node4"/*.err >/dev/null 2>&1 &&
  ! ls "$work/node4"/[0-9]*-*.txt >/dev/null 2>&1 && grep -q "^== 4-nosteal$" "$work/node4/summary.txt" ||
  fail "bench_node.sh: PACK=1 did not pack keep/, the .err and the step files (or summary.txt lacks the step)"
[ "$(find "$work/node4" -type f | wc -l)" -le 8 ] || fail "bench_node.sh: PACK=1 left more than 8 files"
rc=0; pgrep -f "run_dir=$work/" >/dev/null || rc=$?
[ $rc = 1 ] || fail "bench_node.sh: a rank of the stopped step still runs after it returned (pgrep: $rc)"

# compare_published.sh on two hand-made seeds of Hopper whose figures are known: seed 1's
# 10-episode curve is -, 15, 30, 30, 0 and seed 2's 40, 0, 0, 0, 10 (an iteration without episodes
# keeps the window of the ones before), so the mean curve's best is 15 (iterations 3 and 4) and the
# final returns 0 and 10 average 5
cmp=$work/compare
mkdir -p "$cmp/s1/hopper" "$cmp/s2/hopper"
printf 'iteration,wall_s,episodes,return_mean\n1,1,5,10\n2,2,5,20\n3,3,10,30\n4,4,0,nan\n5,5,10,0\n' \
  >"$cmp/s1/hopper/progress.csv"
printf 'iteration,wall_s,episodes,return_mean\n1,2,10,40\n2,4,10,0\n3,6,10,0\n4,8,10,0\n5,9,10,10\n' \
  >"$cmp/s2/hopper/progress.csv"
bash "$src/launch/compare_published.sh" "$cmp/s1" "$cmp/s2" >"$cmp/out" || { cat "$cmp/out"; fail "compare_published.sh failed"; }
cat "$cmp/out"
grep -Eq '^Hopper-v4 +2 +5\.0 +15\.0 +- +2046\.0 +1400 +2100 +2200 +1200 +5,9$' "$cmp/out" ||
  fail "compare_published.sh: the Hopper row is not seeds 2, final 5.0, best 15.0, eval -, the published figures, wall 5,9"
[ "$(grep -c -- '-v4 ' "$cmp/out")" = 1 ] || fail "compare_published.sh: a row for a task without runs"
echo "PASS"
