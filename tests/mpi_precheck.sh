#!/usr/bin/env bash
# A plain srun (Slurm says 2 tasks, no PMIx or Open MPI launcher variables) is refused by
# `trpo train` before MPI starts: exit code 2, the launch advice on stderr, the run directory
# untouched. The same command with one Slurm task trains (the control).
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
echo "ok"
