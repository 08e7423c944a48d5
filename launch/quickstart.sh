#!/usr/bin/env bash
# Command one of the README: installs what is missing, builds, and trains the embedded default
# job on all local cores: Hopper-v4 for 200k env steps (configs/hopper.ini), one MPI rank per
# core. Ends with a checkpoint, runs/quickstart/progress.csv and runs/quickstart/progress.png.
# Extra key=value arguments are passed to `trpo train` (e.g. total_steps=1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh
source launch/env.sh
bash launch/build.sh build
ranks=$(nproc)
# 200k env steps unless an extra argument sets total_steps (trpo refuses a key given twice)
steps=(total_steps=200000)
for a in "$@"; do case $a in total_steps=*) steps=() ;; esac; done
mpirun -np "$ranks" build/trpo train configs/hopper.ini "${steps[@]}" run_dir=runs/quickstart \
  --restart "$@"
bash launch/plot.sh runs/quickstart "Hopper-v4, $ranks ranks"
build/trpo eval runs/quickstart episodes=5
echo "outputs: runs/quickstart/{progress.csv,progress.png,train.log,config.ini,ckpt-*.h5}"
