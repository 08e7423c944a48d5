#!/usr/bin/env bash
# compare_published.sh: this project's 1M-step returns beside published TRPO returns at 1M steps.
# Reads the run folders that launch/learn_mujoco.sh leaves (one per seed: RUNS/<config>/
# progress.csv) and prints, per MuJoCo task:
#   final  the mean over seeds of each run's final return (the episode-weighted mean of the last
#          iterations holding >= 10 episodes, as learn_mujoco.sh and tests/learn.sh read it);
#   best   the highest point of the seeds' mean curve, where each seed's curve is, at every
#          iteration, the episode-weighted mean return of the iterations up to it that hold the
#          last >= 10 episodes. This is the kind of figure Tianshou's table gives ("max average
#          return over 10 trials", each point 10 test episodes), read off training episodes of
#          the stochastic policy here, not test episodes;
#   eval   with TRPO set (the trpo binary), the mean over seeds of `trpo eval` on each run's final
#          checkpoint: the deterministic policy's mean return over 10 test episodes ("-" without).
#          A seed whose eval fails is named on stderr and left out: the figure then reads M(k/n),
#          the mean of the k seeds of n that were evaluated ("-" when none was);
# then the published figures at 1M steps. They are copied from the TRPO table of Tianshou's
# MuJoCo benchmark (github.com/thu-ml/tianshou, examples/mujoco/README.md, commit 1da9b86):
# Tianshou's own TRPO (10 seeds), and values read off the graphs of the ACKTR paper (Wu et al.
# 2017), the PPO paper (Schulman et al. 2017), OpenAI Baselines' benchmarks_mujoco1M and Spinning
# Up (TensorFlow), all on Gym's v2/v3 tasks; "-" where a source has none. The last column is the
# wall time of the seeds' runs (s, from each run's progress.csv), for reference.
#
# usage: [TRPO=build/trpo] launch/compare_published.sh SEED_RUNS_DIR...
#   e.g. for k in 1 2 3; do SEED=$k RUNS=runs/s$k bash launch/learn_mujoco.sh build 1000000; done
#        TRPO=build/trpo bash launch/compare_published.sh runs/s1 runs/s2 runs/s3
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }

# task config tianshou acktr ppo baselines spinningup
published="Hopper-v4 hopper 2046.0 1400 2100 2200 1200
Walker2d-v4 walker2d 3826.7 550 1100 2350 600
HalfCheetah-v4 half_cheetah 4471.2 400 0 1350 850
Swimmer-v4 swimmer 40.9 40 121 95 85
Ant-v4 ant 2866.7 0 - - 150
Humanoid-v4 humanoid 810.1 - - - -
InvertedPendulum-v4 inverted_pendulum 1000.0 1000 1000 910 -
InvertedDoublePendulum-v4 inverted_double_pendulum 8435.2 800 200 7000 -
Reacher-v4 reacher -5.1 -8 -115 -5 -"

trpo=${TRPO:-}
[ -z "$trpo" ] || [ -x "$trpo" ] || { echo "compare_published.sh: TRPO=$trpo is not executable" >&2; exit 2; }
printf "%-26s %5s %9s %9s %9s %10s %7s %7s %9s %8s %12s\n" task seeds final best eval tianshou \
  acktr ppo baselines spinup "wall [s]"
while read -r task name ts ac pp bl su; do
  files=()
  ev=-
  for d in "$@"; do [ -f "$d/$name/progress.csv" ] && files+=("$d/$name/progress.csv"); done
  [ ${#files[@]} -gt 0 ] || continue
  if [ -n "$trpo" ]; then
    # each seed's eval on its own, its status checked: in a pipeline a failed eval either ended
    # the script without a word (the last seed, under pipefail) or vanished from the mean
    # "TASK iteration N (PATH): deterministic policy, 10 episodes: return M +- S, length L"
    rets=()
    for f in "${files[@]}"; do
      d=$(dirname "$f")
      r=""
      # (its stderr kept for the report below; the figure from its last result line)
      if out=$("$trpo" eval "$d" 2>&1); then
        r=$(awk '/ policy, [0-9]+ episodes: return / {
                   for (i = 1; i < NF; i++) if ($i == "return") v = $(i + 1) }
                 END { print v }' <<<"$out")
      fi
      if [[ $r =~ ^-?[0-9.]+([eE][-+]?[0-9]+)?$ ]]; then
        rets+=("$r")
      else
        { echo "compare_published.sh: $task: trpo eval $d failed; the eval column leaves this seed out:"
          printf '  %s\n' "${out//$'\n'/$'\n'  }"; } >&2
      fi
    done
    ev=$(printf '%s\n' "${rets[@]}" | awk -v n=${#files[@]} 'NF { t += $1; c++ }
      END { if (!c) print "-"; else if (c < n) printf "%.1f(%d/%d)", t / c, c, n; else printf "%.1f", t / c }')
  fi
  awk -F, -v task="$task" -v ev="$ev" -v ts="$ts" -v ac="$ac" -v pp="$pp" -v bl="$bl" -v su="$su" '
    FNR == 1 { f++; for (i = 1; i <= NF; i++) col[$i] = i; n[f] = 0; next }
    { k = ++n[f]; eps[f, k] = $(col["episodes"]); ret[f, k] = $(col["return_mean"])
      wall[f] = $(col["wall_s"]) }
    # episode-weighted mean of the iterations up to i holding the last >= 10 episodes ("" when
    # they hold fewer than need)
    function window(s, i, need,    j, c, t) {
      c = 0; t = 0
      for (j = i; j >= 1 && c < 10; j--) if (eps[s, j] > 0) { t += eps[s, j] * ret[s, j]; c += eps[s, j] }
      return c >= need && c > 0 ? t / c : ""
    }
    END {
      m = n[1]; for (s = 2; s <= f; s++) if (n[s] < m) m = n[s]
      best = ""; fin = 0; ws = ""
      for (i = 1; i <= m; i++) {
        t = 0; ok = 1
        for (s = 1; s <= f; s++) { w = window(s, i, 10); if (w == "") { ok = 0; break } t += w }
        if (ok && (best == "" || t / f > best)) best = t / f
      }
      for (s = 1; s <= f; s++) {
        # final: the window at the end of the run, taken even if the whole run holds fewer than 10
        w = window(s, n[s], 1)
        fin += (w == "" ? 0 : w) / f
        ws = ws (s > 1 ? "," : "") sprintf("%.0f", wall[s])
      }
      printf "%-26s %5d %9.1f %9s %9s %10s %7s %7s %9s %8s %12s\n", task, f, fin,
             best == "" ? "-" : sprintf("%.1f", best), ev, ts, ac, pp, bl, su, ws
    }' "${files[@]}"
done <<<"$published"
echo "final: mean over seeds of the final return; best: highest point of the seeds' mean curve of"
echo "10-episode means (training episodes); eval: the final checkpoints' deterministic policy over 10"
echo "test episodes (M(k/n): only k of the n seeds evaluated, the failures on stderr); the other"
echo "columns: published TRPO at 1M steps (see the header of this script for the sources; all but"
echo "tianshou read off graphs)"
