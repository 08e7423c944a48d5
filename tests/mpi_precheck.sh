#!/usr/bin/env bash
# A plain srun (Slurm says 2 tasks, no PMIx or Open MPI launcher variables) is refused by
# `trpo train` before MPI starts: exit code 2, the launch advice on stderr, the run directory
# untouched. The same command with one Slurm task trains (the control). And a launch without
# launch/env.sh (no OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS or OMP_NUM_THREADS) runs one BLAS
# thread per rank, where OpenBLAS alone would start one per CPU; an explicit
# OPENBLAS_NUM_THREADS=2 is kept (train.log says which).
#   usage: mpi_precheck.sh TRPO CONFIG WORKDIR
set -uo pipefail
trpo=$1 config=$2 work=$3
dir=$work/precheck
rm -rf "$dir"
small=(nenv=1 nsteps=32 total_steps=64 vf_epochs=1 quiet=1)
out=$(env -u PMIX_RANK -u OMPI_COMM_WORLD_SIZE SLURM_STEP_NUM_TASKS=2 \
      timeout 60 "$trpo" train "$config" run_dir="$dir" "${small[@]}" 2>&1)
rc=$?
echo "2 tasks, no PMIx: exit code $rc: $out"
[ "$rc" -eq 2 ] || { echo "FAILED: expected exit code 2"; exit 1; }
if ! grep -q 'srun --mpi=pmix' <<<"$out" || ! grep -q 'mpirun' <<<"$out"; then
  echo "FAILED: the message does not say how to launch"; exit 1
fi
[ ! -e "$dir" ] || { echo "FAILED: $dir was created"; exit 1; }
out=$(env -u PMIX_RANK -u OMPI_COMM_WORLD_SIZE SLURM_STEP_NUM_TASKS=1 \
      timeout 120 "$trpo" train "$config" run_dir="$dir" "${small[@]}" 2>&1)
rc=$?
echo "1 task: exit code $rc"
[ "$rc" -eq 0 ] || { echo "FAILED: a single Slurm task was refused or failed: $out"; exit 1; }

# BLAS threads: none set -> 1; OPENBLAS_NUM_THREADS=2 -> 2 (OpenBLAS caps it at the CPU count)
two=$(( $(nproc) < 2 ? 1 : 2 ))
for want in "unset 1" "2 $two"; do
  read -r setting expect <<<"$want"
  rm -rf "$dir"
  if [ "$setting" = unset ]; then
    env -u OPENBLAS_NUM_THREADS -u GOTO_NUM_THREADS -u OMP_NUM_THREADS \
      timeout 120 "$trpo" train "$config" run_dir="$dir" "${small[@]}" >/dev/null 2>&1
  else
    env -u GOTO_NUM_THREADS -u OMP_NUM_THREADS OPENBLAS_NUM_THREADS="$setting" \
      timeout 120 "$trpo" train "$config" run_dir="$dir" "${small[@]}" >/dev/null 2>&1
  fi || { echo "FAILED: training with OPENBLAS_NUM_THREADS $setting failed"; exit 1; }
  line=$(grep -o '([0-9]* BLAS threads* each)' "$dir/train.log")
  echo "OPENBLAS_NUM_THREADS $setting: $line"
  [[ $line == "($expect BLAS thread"* ]] || { echo "FAILED: expected $expect BLAS thread(s)"; exit 1; }
done
echo "ok"
