#!/bin/sh
# bench_env.sh: env steps per second of the MuJoCo driver against its physics limit, per task.
#
# Usage: launch/bench_env.sh [BUILD_DIR] [TASK...]   (BUILD_DIR defaults to build/)
# Runs tests/bench_env_mujoco from BUILD_DIR on one core, from the source tree root so that
# configs/mujoco/ is found. Prints task / limit / driver / ratio (median of 5, alternating runs),
# the limit with the driver's reset in place of mj_resetData and the ratio to it (ratio_f),
# and the microseconds one environment's state takes out and into another (sharing the sampling).
# Build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$root/$build ;; esac
bin=$build/tests/bench_env_mujoco
if [ ! -x "$bin" ]; then
  echo "bench_env.sh: $bin not found; build it first" >&2
  exit 2
fi
cd "$root"
exec "$bin" "$@"
