#!/usr/bin/env bash
# bench_scaling.sh: weak and strong scaling of `trpo train` on Hopper-v4, against the scaling of
# the bare physics measured in the same run.
#
# Usage: launch/bench_scaling.sh [BUILD_DIR]       (BUILD_DIR defaults to build/)
#
# For each rank count N in 1 2 4 8 16 (those above `nproc` are left out), two runs, each with
# `mpirun --bind-to core`:
#   physics  tests/bench_scaling: N ranks step their environments with MuJoCo alone, at the same
#            time, so that memory bandwidth and clock frequency under N busy cores are in the
#            baseline;
#   train    `trpo train` for WARMUP + ITERS iterations; rates from progress.csv over the last
#            ITERS (env steps over rank 0's wall clock, which includes the per-iteration state
#            gather of src/run.c), phase times summed over those iterations. WARMUP is 6 because
#            load balancing takes its first decision after 5 iterations: the measured iterations
#            are those of a long run after its first few, not its start-up.
# Modes:
#   weak     WEAK_NENV environments per rank (the global batch grows with N; vf_minibatch fixed)
#   weak-mb  the same with vf_minibatch x N, so every iteration has the same number of Adam
#            steps of the value fit (the global minibatch grows with the batch)
#   strong   STRONG_NENV environments in total (64), the config's vf_minibatch
#   strong-mb  the same fixed problem with vf_minibatch = STRONG_MB (2048) at every rank count:
#            a value-fit minibatch takes vf_minibatch/nenv rows of every environment, so 2048
#            rows give 32 rows per environment per Adam step (the config's 256 give only 4, and
#            8x as many exact reductions per iteration)
# Columns: train and physics env steps/s; speedups over the smallest N of the mode; efficiency =
# train speedup / physics speedup (the row's training run over the median physics rate); pair% =
# the same from pairs: each repetition's training rate over the physics rate measured just before
# it, the median, over that of the smallest N (a machine whose speed drifts between repetitions
# moves eff% more than pair%); sync% = the physics rate when the ranks meet at a barrier once
# per round of NSTEPS steps of every environment (as training does once per iteration), as a share
# of the free-running physics rate: what meeting alone costs (unequal rank speeds, OS noise);
# bal% = the most a synchronous iteration could reach with whole environments at the rank speeds
# measured in the free run (the split load balancing would choose; see tests/bench_scaling.c), as a
# share of the free-running rate: where cores differ in speed, the bound whole environments set
# (the sampling, shared in chunks of steal_steps, is not held to it; the work after it is);
# comm% = collectives proper (t_comm) and wait% = waiting at them for slower ranks (t_wait), both
# as shares of the iteration time t_iter (maxima over ranks); wmin% = the least any rank waited
# (t_wait_min: even the busiest rank waits that long, for ranks that reach each collective in a
# different order), so wait% - wmin% is what unequal work per rank costs; other% = rank 0's wall clock
# outside t_iter (the state gather for checkpoints in src/run.c, load balancing, shared flags, the
# log); the per-phase milliseconds of one iteration. A second table, from each run's ranks.csv
# (rank_times = 1), says where the waiting is: how much more work the busiest rank had than the
# mean (all of it, and sampling alone), which rank was most often the busiest, and the waiting at
# each phase's collectives, beside the physics-only runs' slowest rank (its rate over the mean
# rank's, and which rank it was in each repetition): one rank always the busiest, and slowest in
# physics too, points at its core; a busiest rank that changes at random and sampling imbalance
# at the work itself. Beside them: the most involuntary context switches a rank had per iteration
# (ranks.csv preempt: a co-runner on its core) and which rank, and the hypervisor's steal time
# over the training run (/proc/stat, all CPUs and the most-stolen one): a virtual machine's cores
# can be taken away without any process of its own to see; busy_cpu% (the busiest rank's CPU
# time, ranks.csv cpu_time, over its work and collectives: under 100 it was kept from its core);
# quota and thr% (the CPU quota of the cgroup the script runs in, and the share of the ranks'
# time it throttled them: a container limit below the rank count slows free-running physics only
# down to the quota, but a synchronous iteration waits for whichever rank was throttled last;
# launch/bench_nap.sh measures what napping while waiting recovers). Targets at the
# largest N (16 on a 16-core machine): weak >= 90%, strong >= 80%, comm% < 10%. Ends with one
# line per target. More ranks than physical cores are bound to hardware threads. Each point is
# measured REPS times, physics and training alternating; the row is the repetition with the median
# training rate, beside the median physics rate (a shared or cold machine varies by tens of percent
# between runs of the same configuration).
#
# Environment overrides: RANKS="1 2 4" (rank counts above the cores run oversubscribed, unbound:
# only for developing this script), WEAK_NENV=4 STRONG_NENV=64 NSTEPS=128 WARMUP=6 ITERS=8
# PHYS_SECONDS=3 CONFIG=configs/hopper.ini MPIRUN=mpirun MODES="weak weak-mb strong strong-mb" REPS=3
# COMM_TIMING=1 (0: no barrier before each collective; comm% and wait% then read 0), COMM_NAP=1
# (0: waiting ranks spin in MPI_Barrier instead of napping; see launch/bench_nap.sh),
# TRAIN_ARGS="key=value ..." (more settings for every training run, e.g. "rebalance=0"), KEEP=DIR
# (keep every run's raw output there: DIR/MODE-N-REP/ with the training run's progress.csv,
# ranks.csv and train.log, and physics.txt, the physics-only run's output; on the device machine
# KEEP=$OUT/runs brings them back for analysis after the call), FIRST="1 16" (measure these rank
# counts first, for every mode in turn, then the rest of RANKS in ascending order, for every mode in
# turn: a run stopped by a time limit then has every mode's smallest and largest rank counts, the
# rows the targets come from. Main rows are printed as measured, so in that order; the waiting table
# at the end is in the usual order. FIRST must hold the smallest of RANKS: a mode's speedups are over
# its first row).
# About 3 minutes per repetition on 16 cores (all four modes; measured with 2 warm-up iterations,
# the 6 now add an estimated half minute), so about 10 with REPS=3: where one
# command may run at most 10 minutes, split the modes over two calls (MODES="weak-mb strong-mb",
# then MODES="weak strong"). Prints a plain table to stdout, progress to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$root/launch/benchlib.sh"
bench_setup bench_scaling.sh "${1:-build}" tests/bench_scaling
phys=$build/tests/bench_scaling

task=Hopper-v4
config=${CONFIG:-configs/hopper.ini}
weak_nenv=${WEAK_NENV:-4}
strong_nenv=${STRONG_NENV:-64}
nsteps=${NSTEPS:-128}
warmup=${WARMUP:-6}
iters=${ITERS:-8}
phys_s=${PHYS_SECONDS:-3}
mpirun=${MPIRUN:-mpirun}
modes=${MODES:-weak weak-mb strong strong-mb}
strong_mb=${STRONG_MB:-2048}
keep=${KEEP:-}
tag=""   # MODE-N-REP of the current repetition, for KEEP
timing=${COMM_TIMING:-1}
nap=${COMM_NAP:-1}
reps=${REPS:-3}
train_args=${TRAIN_ARGS:-}
vf_mb=$(config_value "$config" vf_minibatch)
ncpu=$(nproc)
ncore=$(bench_cores)
if [ -n "${RANKS:-}" ]; then
  ranks=$RANKS
else
  ranks=""
  for n in 1 2 4 8 16; do [ "$n" -le "$ncpu" ] && ranks="$ranks $n"; done
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_scaling.XXXXXX")
# A signal that ends this script (bench_node.sh stopping a step at its budget's end) also reaches
# the training run's ranks, which publish their last iteration into run_dir on SIGTERM: removing
# $work before they end made them say "cannot write checkpoint". So wait (up to 20 s) until no
# process names $work on its command line (mpirun and the ranks do), then remove it.
cleanup() {
  local i
  for ((i = 0; i < 200; i++)); do
    pgrep -f -- "$work" >/dev/null 2>&1 || break
    sleep 0.1
  done
  rm -rf "$work"
}
trap cleanup EXIT

# binding: benchlib.sh's bindflags (one rank per core, then hardware threads; ncore and ncpu above)

quota=$(cgroup_quota)

# physics and train run inside $(...) || ..., where set -e is off: every step that can fail says
# so itself (return 1), or a run that failed half-way would still give a row

# one physics-only measurement of N ranks holding NENV environments in all:
# "rate sync_rate min/mean slowest bal_rate": the slowest rank's rate over the mean rank's, its
# rank, and the best whole-environment split's synchronous rate at the measured rank speeds
physics() {
  local n=$1 nenv=$2 out
  # shellcheck disable=SC2046
  out=$("$mpirun" -np "$n" $(bindflags "$n") "$phys" "$task" "$nenv" "$nsteps" "$phys_s") || return 1
  if [ -n "$keep" ]; then mkdir -p "$keep/$tag" && echo "$out" >"$keep/$tag/physics.txt" || return 1; fi
  awk -v n="$n" '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1) }
    END { if (v["rate"] > 0) printf "%s %s %.3f %s %s\n", v["rate"], v["sync_rate"], n * v["rank_min"] / v["rate"], v["slowest"], v["bal_rate"] }' <<<"$out"
}

# train and summarise progress.csv over the measured iterations:
# rate comm% wait% wmin% other% t_iter sample grad cg ls vf (ms per iteration); other% is the share of
# rank 0's wall clock outside t_iter (state gather for checkpoints, shared flags, the log)
train() {
  local n=$1 nenv=$2 mb=$3 dir=$work/run
  rm -rf "$dir"
  local stat0 stat1 main imb steal mark0 mark1
  stat0=$(grep '^cpu[0-9]' /proc/stat 2>/dev/null || true)
  mark0=$(throttle_mark)
  # shellcheck disable=SC2046,SC2086  # bindflags and TRAIN_ARGS are split into words on purpose
  "$mpirun" -np "$n" $(bindflags "$n") "$trpo" train "$config" env="$task" nenv="$nenv" \
    nsteps="$nsteps" vf_minibatch="$mb" total_steps=$((nenv * nsteps * (warmup + iters))) \
    run_dir="$dir" checkpoint_every=0 comm_timing="$timing" comm_nap="$nap" rank_times=1 quiet=1 \
    $train_args --restart >/dev/null || return 1
  stat1=$(grep '^cpu[0-9]' /proc/stat 2>/dev/null || true)
  mark1=$(throttle_mark)
  if [ -n "$keep" ]; then
    mkdir -p "$keep/$tag" && cp "$dir/progress.csv" "$dir/ranks.csv" "$dir/train.log" "$keep/$tag/" || return 1
  fi
  # the hypervisor's share of the run (the 8th number of a /proc/stat cpu line: time a virtual
  # CPU was ready but the host ran something else), over all CPUs and on the most-stolen one;
  # "-1 -1" where /proc/stat is not there
  steal="-1 -1"
  [ -z "$stat0" ] || steal=$(awk 'NR == FNR { for (i = 2; i <= NF; i++) a[$1, i] = $i; next }
    { tot = 0; for (i = 2; i <= NF; i++) tot += $i - a[$1, i]
      st = NF >= 9 ? $9 - a[$1, 9] : 0; T += tot; S += st
      if (tot > 0 && 100 * st / tot > mx) mx = 100 * st / tot }
    END { if (T > 0) printf "%.1f %.1f\n", 100 * S / T, mx; else print "-1 -1" }' \
    <(echo "$stat0") <(echo "$stat1"))
  main=$(awk -F, -v w="$warmup" '
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $c["iteration"] == w { s0 = $c["env_steps"]; w0 = $c["wall_s"] }
    $c["iteration"] > w {
      s1 = $c["env_steps"]; w1 = $c["wall_s"]; k++
      ti += $c["t_iter"]; tc += $c["t_comm"]; tw += $c["t_wait"]; tm += $c["t_wait_min"]
      ts += $c["t_sample"]; tg += $c["t_grad"]; tcg += $c["t_cg"]; tl += $c["t_ls"]; tv += $c["t_vf"]
    }
    END {
      if (k == 0 || w1 <= w0) { print "bench_scaling.sh: no measured iterations" > "/dev/stderr"; exit 1 }
      printf "%.0f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f\n", (s1 - s0) / (w1 - w0),
             100 * tc / ti, 100 * tw / ti, 100 * tm / ti, 100 * (1 - ti / (w1 - w0)), 1e3 * ti / k,
             1e3 * ts / k, 1e3 * tg / k,
             1e3 * tcg / k, 1e3 * tl / k, 1e3 * tv / k
    }' "$dir/progress.csv") || return 1
  # from ranks.csv, over the same iterations: the busiest rank's work over the mean (all of its
  # work, and sampling alone), the rank most often the busiest and in how many iterations (%), and
  # the waiting at each phase's collectives (ms per iteration, the most any rank waited there)
  imb=$(awk -F, -v w="$warmup" '
    BEGIN { split("w_grad w_cg w_ls w_vf", ph, " ") }
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $1 > w {
      it = $1; r = $2; b = $c["t_busy"]; s = $c["t_sample"]
      if (!(it in n)) { n[it] = 0; its[++k] = it }
      n[it]++; sb[it] += b; ss[it] += s
      if (b > bmax[it] || n[it] == 1) {
        bmax[it] = b; arg[it] = r; bw = b + $c["t_comm"]
        bcpu[it] = bw > 0 ? $c["cpu_time"] / bw : 1
      }
      if (s > smax[it] || n[it] == 1) smax[it] = s
      for (j = 1; j <= 4; j++) if ($c[ph[j]] > wm[it, j] || n[it] == 1) wm[it, j] = $c[ph[j]]
      p = $c["preempt"]; pr[r] += p
      if (p > pm[it] || n[it] == 1) pm[it] = p
    }
    END {
      if (k == 0) { print "bench_scaling.sh: no measured rows in ranks.csv" > "/dev/stderr"; exit 1 }
      for (q = 1; q <= k; q++) {
        it = its[q]
        bi += sb[it] > 0 ? bmax[it] * n[it] / sb[it] : 1
        si += ss[it] > 0 ? smax[it] * n[it] / ss[it] : 1
        cnt[arg[it]]++
        for (j = 1; j <= 4; j++) ws[j] += wm[it, j]
        pms += pm[it]; bcs += bcpu[it]
      }
      best = -1
      for (r in cnt) if (best < 0 || cnt[r] > cnt[best]) best = r
      pbest = -1
      for (r in pr) if (pbest < 0 || pr[r] > pr[pbest]) pbest = r
      printf "%.3f %.3f %d %.0f %.1f %.1f %.1f %.1f %.1f %d %.1f\n", bi / k, si / k, best, 100 * cnt[best] / k,
             1e3 * ws[1] / k, 1e3 * ws[2] / k, 1e3 * ws[3] / k, 1e3 * ws[4] / k, pms / k, pbest, 100 * bcs / k
    }' "$dir/ranks.csv") || return 1
  # throttled: the share of the ranks' time (N ranks over the run's wall clock) that the cgroup's
  # CPU quota held them back
  echo "$main $imb $steal $(throttle_share "$mark0" "$mark1" "$n")"
}

echo "bench_scaling: $task, nsteps $nsteps, $warmup+$iters iterations per run, $reps repetitions, comm_nap $nap${train_args:+, $train_args}, ranks:$ranks" \
     "(nproc $ncpu, cores $ncore, cgroup CPU quota $quota), $(date -u +%Y-%m-%dT%H:%M:%SZ)" >&2
printf "%-7s %5s %5s %7s %11s %11s %7s %7s %7s %6s %6s %6s %6s %6s %6s %6s %6s %8s %7s %6s %6s %6s %7s\n" \
  mode ranks nenv rows train/s phys/s tr/ph speedup ph_spd eff% pair% sync% bal% comm% wait% wmin% other% \
  t_iter sample grad cg ls vf
# the points "MODE N" in the order they are measured: mode by mode, RANKS in its order; with
# FIRST, FIRST's rank counts for every mode, then the others (both ascending)
points=()
if [ -z "${FIRST:-}" ]; then
  for mode in $modes; do for n in $ranks; do points+=("$mode $n"); done; done
else
  sorted=$(tr ' ' '\n' <<<"$ranks" | awk 'NF' | sort -n -u)
  read -ra first <<<"$FIRST"
  [[ " ${first[*]} " == *" $(head -1 <<<"$sorted") "* ]] ||
    { echo "bench_scaling.sh: FIRST ('$FIRST') must hold the smallest of RANKS ($(head -1 <<<"$sorted")): a mode's speedups are over its first row" >&2; exit 2; }
  for phase in first rest; do
    for mode in $modes; do
      for n in $sorted; do
        if [[ " ${first[*]} " == *" $n "* ]]; then [ "$phase" = first ] || continue
        else [ "$phase" = rest ] || continue; fi
        points+=("$mode $n")
      done
    done
  done
fi
# per mode: its first row's rates (the speedups' base) and its largest rank count's row (the targets)
declare -A base_rate base_phys base_pair last lastn
# the waiting table's rows by point, and the points in the order measured
declare -A wrow
summary=()
waits=()
for point in "${points[@]}"; do
  read -r mode n <<<"$point"
  case $mode in
    weak) nenv=$((weak_nenv * n)) mb=$vf_mb ;;
    weak-mb) nenv=$((weak_nenv * n)) mb=$((vf_mb * n)) ;;
    strong) nenv=$strong_nenv mb=$vf_mb ;;
    strong-mb) nenv=$strong_nenv mb=$strong_mb ;;
    *) echo "bench_scaling.sh: unknown mode $mode" >&2; exit 2 ;;
  esac
  [ "$nenv" -ge "$n" ] || continue
  echo "  $mode, $n rank(s), $nenv environments: physics and training, $reps time(s) ..." >&2
  phys_out="" train_out=""
  for ((k = 0; k < reps; k++)); do
    tag="$mode-$n-$((k + 1))"
    ph=$(physics "$n" "$nenv") || ph=""
    [[ $ph =~ ^[0-9.]+\ [0-9.]+\ [0-9.]+\ [0-9]+\ [0-9.]+$ ]] || { echo "bench_scaling.sh: the physics run at $n ranks failed" >&2; exit 1; }
    phys_out+="$ph"$'\n'
    res=$(train "$n" "$nenv" "$mb") || { echo "bench_scaling.sh: training at $n ranks failed" >&2; exit 1; }
    train_out+="$res"$'\n'
  done
  p=$(awk 'NF { print $1 }' <<<"$phys_out" | median)
  ps=$(awk 'NF { print $2 }' <<<"$phys_out" | median)
  # the best whole-environment split's rate, as a share of the free-running rate: per repetition,
  # then the median
  pb=$(awk 'NF { print 100 * $5 / $1 }' <<<"$phys_out" | median)
  # physics: the slowest rank's rate over the mean (median of the repetitions), and the slowest
  # rank of each repetition
  pmin=$(awk 'NF { print $3 }' <<<"$phys_out" | median | awk '{ printf "%.3f", $1 }')
  pslow=$(awk 'NF { printf "%s%s", (k++ ? "," : ""), $4 }' <<<"$phys_out")
  # the repetition with the median training rate (the lower middle one for an even count)
  res=$(awk 'NF' <<<"$train_out" | sort -g -k1,1 | sed -n "$(((reps + 1) / 2))p")
  read -r rate comm wait wmin other titer ts tg tcg tl tv bimb simb slow slowpct wg wcg wls wvf pre prank \
    bcpu steal stealmax thr <<<"$res"
  # each repetition's training rate over the physics rate measured just before it, the median:
  # drift of the machine's speed between repetitions cancels within a pair
  pr=$(paste -d' ' <(awk 'NF { print $1 }' <<<"$train_out") <(awk 'NF { print $1 }' <<<"$phys_out") |
    awk '{ print $1 / $2 }' | median)
  [ -n "${base_rate[$mode]:-}" ] || { base_rate[$mode]=$rate; base_phys[$mode]=$p; base_pair[$mode]=$pr; }
  over=""; [ "$n" -le "$ncpu" ] || over="*"
  line=$(awk -v m="$mode" -v n="$n$over" -v e="$nenv" -v rows=$((nenv * nsteps)) -v r="$rate" \
    -v p="$p" -v ps="$ps" -v pb="$pb" -v br="${base_rate[$mode]}" -v bp="${base_phys[$mode]}" -v pr="$pr" -v bpr="${base_pair[$mode]}" -v c="$comm" -v w="$wait" -v wm="$wmin" -v o="$other" -v ti="$titer" \
    -v ts="$ts" -v tg="$tg" -v tcg="$tcg" -v tl="$tl" -v tv="$tv" 'BEGIN {
      sp = r / br; phs = p / bp
      printf "%-7s %5s %5d %7d %11.0f %11.0f %7.3f %7.2f %7.2f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %8.1f %7.1f %6.1f %6.1f %6.1f %7.1f\n",
             m, n, e, rows, r, p, r / p, sp, phs, 100 * sp / phs, 100 * pr / bpr, 100 * ps / p, pb, c, w, wm, o, ti, ts, tg, tcg, tl, tv }')
  echo "$line"
  if [ -z "${lastn[$mode]:-}" ] || [ "$n" -gt "${lastn[$mode]}" ]; then
    lastn[$mode]=$n last[$mode]="$n $(awk '{ print $10, $14 }' <<<"$line")"
  fi
  wrow[$point]="$(printf "%-9s %5s %9s %11s %7s %7s %7s %7s %7s %8s %9s %9s %6s %6s %6s %6s %12s" "$mode" "$n$over" \
    "$bimb" "$simb" "$slow:$slowpct%" "$wg" "$wcg" "$wls" "$wvf" "$pre" "$prank" "$bcpu" "$steal" "$stealmax" \
    "$quota" "$thr" "$pmin") $pslow"
  waits+=("$point")
  # also now, on stderr: a run cut short by a time limit keeps the rows it reached
  echo "  waiting: ${wrow[$point]}" >&2
done
for mode in $modes; do
  if [ -n "${last[$mode]:-}" ]; then summary+=("$mode ${last[$mode]}"); fi
done

# where the waiting is (ranks.csv of the same repetitions)
echo
echo "where the waiting is: busy = a rank's work (t_iter - t_wait - t_comm), max over ranks / mean;"
echo "sample = the same for sampling alone; slowest = the rank most often the busiest : share of"
echo "iterations; w_* = ms per iteration waited at that phase's collectives (max over ranks; the"
echo "wait for slower samplers lands in w_grad); phys_min = in the physics-only runs, the slowest"
echo "rank's rate over the mean rank's (median), and phys_slowest = that rank in each repetition:"
echo "the same rank slowest in physics and in training points at its core. preempt = the most"
echo "involuntary context switches any rank had per iteration (ranks.csv preempt: another runnable"
echo "thread took its core), pre_rank = the rank with the most; busy_cpu% = the busiest rank's CPU"
echo "time (ranks.csv cpu_time) over its work and collectives, mean over iterations: under 100, it"
echo "was kept from its core (a co-runner, a quota, the host); steal% = the hypervisor's share of"
echo "all CPUs' time during the training run (/proc/stat), st_max% = that of the most-stolen CPU;"
echo "quota = the CPU quota of the job's cgroup in CPUs (- for none), thr% = the share of the ranks'"
echo "time that it throttled them during the training run (cpu.stat)"
printf "%-9s %5s %9s %11s %7s %7s %7s %7s %7s %8s %9s %9s %6s %6s %6s %6s %12s %s\n" mode ranks busy_imb sample_imb slowest \
  w_grad w_cg w_ls w_vf preempt pre_rank busy_cpu% steal% st_max% quota thr% phys_min phys_slowest
if [ -z "${FIRST:-}" ]; then
  for w in "${waits[@]}"; do echo "${wrow[$w]}"; done
else
  for mode in $modes; do
    for n in $sorted; do if [ -n "${wrow[$mode $n]:-}" ]; then echo "${wrow[$mode $n]}"; fi; done
  done
fi

# the targets, at the largest rank count of each mode
echo
for s in "${summary[@]}"; do
  read -r mode n eff comm <<<"$s"
  case $mode in weak | weak-mb) target=90 ;; strong | strong-mb) target=80 ;; esac
  awk -v m="$mode" -v n="$n" -v e="$eff" -v c="$comm" -v t="$target" -v tm="$timing" 'BEGIN {
    printf "%-7s at %2d ranks: efficiency %5.1f%% (target >= %d%%): %s; collectives %4.1f%% of t_iter (target < 10%%): %s\n",
           m, n, e, t, (e >= t ? "met" : "NOT met"), c, (tm == 0 ? "not measured" : (c < 10 ? "met" : "NOT met")) }'
done
