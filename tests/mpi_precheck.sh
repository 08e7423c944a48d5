#!/usr/bin/env bash
# A plain srun (Slurm says 2 tasks, no PMIx or Open MPI launcher variables) is refused by
# `trpo train` before MPI starts: exit code 2, the launch advice on stderr, the run directory
# untouched. The same command with one Slurm task trains (the control). And a launch without
# launch/env.sh (no OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS or OMP_NUM_THREADS) runs one BLAS
# thread per rank, where OpenBLAS alone would start one per CPU; an explicit
# OPENBLAS_NUM_THREADS=2 is kept (train.log says which). Where this machine lets a cgroup with
# a CPU quota be made (root, writable cgroup file system), 2 ranks under a 1.5-CPU quota get
# train.log's note on it, and the same run outside gets none (tests/test_time.c reads made-up
# cgroup file systems everywhere).
#   usage: mpi_precheck.sh TRPO CONFIG WORKDIR [MPIEXEC]
set -uo pipefail
trpo=$1 config=$2 work=$3 mpiexec=${4:-mpirun}
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

# the CPU quota note: 2 ranks in a 1.5-CPU cgroup, and the control outside it (mpirun with the
# MPI environment of launch/env.sh, as tests/runlib.sh gives the other MPI scripts)
# shellcheck source=launch/env.sh disable=SC1091
source "$(dirname "$0")/../launch/env.sh"
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$(dirname "$0")/../launch/benchlib.sh"
if cg=$(cgroup_make_quota 1.5 2>"$work/cgerr"); then
  for where in inside outside; do
    rm -rf "$dir"
    run=(timeout 120 "$mpiexec" -n 2 "$trpo" train "$config" run_dir="$dir" nenv=2 nsteps=32
         total_steps=64 vf_epochs=1 quiet=1)
    if [ "$where" = inside ]; then cgroup_run "$cg" "${run[@]}"; else "${run[@]}"; fi >"$work/quota.out" 2>&1 ||
      { cat "$work/quota.out"; rmdir "$cg"; echo "FAILED: 2 ranks $where the quota cgroup did not train"; exit 1; }
    note=$(grep 'note: the 2 ranks on this node share a CPU quota of 1.50 CPUs' "$dir/train.log")
    echo "quota $where: ${note:-no note}"
    if [ "$where" = inside ] && [ -z "$note" ]; then rmdir "$cg"; echo "FAILED: no quota note"; exit 1; fi
    if [ "$where" = outside ] && [ -n "$note" ]; then rmdir "$cg"; echo "FAILED: a quota note without a quota"; exit 1; fi
  done
  rmdir "$cg"
else
  echo "quota note: not run on this machine ($(cat "$work/cgerr"))"
fi
echo "ok"
