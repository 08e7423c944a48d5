#!/usr/bin/env bash
# Command one of the README: installs what is missing, builds, and trains the embedded default
# job on the local cores: Hopper-v4 for 200k env steps (configs/hopper.ini), one MPI rank per
# core, up to one per environment (16). Ends with a checkpoint, runs/quickstart/progress.csv and
# runs/quickstart/progress.png.
# Extra key=value arguments are passed to `trpo train` (e.g. total_steps=1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh
source launch/env.sh
bash launch/build.sh build
# 200k env steps unless an extra argument sets total_steps (trpo refuses a key given twice)
steps=(total_steps=200000)
kv=()
for a in "$@"; do
  case $a in total_steps=*) steps=() ;; esac
  case $a in *=*) kv+=("$a") ;; esac
done
# one rank per core, but at most nenv: trpo refuses more ranks than environments, and
# configs/hopper.ini has 16, fewer than the CPUs of a large node. nenv as trpo resolves it, with
# the extra key=value arguments (nenv=32 allows 32 ranks).
nenv=$(build/trpo config configs/hopper.ini "${kv[@]}" | awk '$1 == "nenv" && $2 == "=" { print $3 }')
[[ $nenv =~ ^[1-9][0-9]*$ ]] || { echo "quickstart.sh: no nenv in the resolved config" >&2; exit 1; }
ranks=$(nproc)
[ "$ranks" -le "$nenv" ] || ranks=$nenv
mpirun -np "$ranks" build/trpo train configs/hopper.ini "${steps[@]}" run_dir=runs/quickstart \
  --restart "$@"
bash launch/plot.sh runs/quickstart "Hopper-v4, $ranks ranks"
build/trpo eval runs/quickstart episodes=5
echo "outputs: runs/quickstart/{progress.csv,progress.png,train.log,config.ini,ckpt-*.h5}"
