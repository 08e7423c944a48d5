#!/usr/bin/env bash
# Command two of the README: installs what is missing, builds, and runs the whole test suite:
# a normal build (every case, learning tests included) and an AddressSanitizer +
# UndefinedBehaviorSanitizer build (every case except the learning runs, which are the same code
# paths at 20x the cost). The normal build also runs the Slurm case (tests/slurm.sh), which
# installs Slurm and munge with apt when missing and starts, then stops, a single-node cluster.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh
source launch/env.sh
jobs=$(nproc)
# both options explicit: a cache left by an earlier configure (-DTRPO_LEARNING_TESTS=OFF, or a
# sanitizer build in build/) would otherwise keep its values and quietly shrink "every case"
bash launch/build.sh build -DTRPO_SANITIZE=OFF -DTRPO_LEARNING_TESTS=ON -DTRPO_SLURM_TESTS=ON
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 1200
bash launch/build.sh build-san -DTRPO_SANITIZE=ON -DTRPO_LEARNING_TESTS=OFF
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
# use_tls=0: LeakSanitizer does not take thread-local storage as roots. GCC 12's LSan crashed
# ("Tracer caught signal 11") while scanning a bogus dynamic-TLS range of MPI processes started
# without mpirun, once the normal suite had run on the machine. Without those roots it can only
# report more leaks, never fewer: a planted leak is still caught.
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:fast_unwind_on_malloc=0:use_tls=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-san --output-on-failure -j "$jobs" --timeout 1200
echo "all tests passed (normal and sanitizer builds)"
