#!/bin/sh
# bench_train.sh: whole-training-loop env steps/s, phase split and achieved/ceiling (issue 2).
#
# Usage: launch/bench_train.sh [BUILD_DIR] [CONFIG] [key=value ...]
#   BUILD_DIR defaults to build/, CONFIG to configs/pendulum.ini (the tuned Pendulum-v1 setting).
#   REPS, ITERS and WARMUP in the environment set the repeats (default 5), the timed iterations
#   per repeat (5) and the warm-up iterations (2).
# Runs tests/bench_train from BUILD_DIR as one process with one BLAS thread, from the source tree
# root so that configs/ is found. Each repeat times ITERS iterations with gemm/tanh counting on,
# then measures the rate of every counted gemm shape, of tanh and of the env step, and prices the
# same iterations from their counts; the figures printed at the end are medians over the repeats.
# Build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=build
if [ $# -gt 0 ] && [ -d "$1" ]; then
  build=$1
  shift
fi
case $build in /*) ;; *) build=$root/$build ;; esac
config=configs/pendulum.ini
if [ $# -gt 0 ]; then
  case $1 in *=*) ;; *) config=$1; shift ;; esac
fi
bin=$build/tests/bench_train
if [ ! -x "$bin" ]; then
  echo "bench_train.sh: $bin not found; build it first" >&2
  exit 2
fi
cd "$root"
OPENBLAS_NUM_THREADS=1 exec "$bin" --warmup "${WARMUP:-2}" --iters "${ITERS:-5}" --reps "${REPS:-5}" \
  "$config" "$@"
