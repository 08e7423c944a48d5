#!/usr/bin/env bash
# device_bundle.sh: everything a call on the lent 16-core machine (no package archive there) needs
# to run launch/bench_node.sh, made on this machine in one step:
#   .device/     the Debian runtime bundle of ../shared/device/bundle.sh, completed with every
#                package that provides a shared library the programs below load and the bundle
#                lacks. The shared list missed the config parser's library (libinih1) and, on the
#                machine lent on 2026-11-27, libunistring2 (which libidn2 needs): a device call
#                then ends in its first seconds. Each program's libraries are read with ldd, Open
#                MPI's and PMIx's plugins included, and mapped to packages with dpkg -S
#                (libc6 is left out: the machine's loader must match its own C library)
#   build-dev/   trpo, tests/bench_scaling and tests/bench_sums from BUILD_DIR: the whole build
#                folder would exceed the 64 MiB a call carries
# Then the call: run with carry [".device", "build-dev"] and
#   source .device/unpack.sh; OUT=$OUT PACK=1 BUDGET=480 bash launch/bench_node.sh build-dev
#
# Usage: launch/device_bundle.sh [BUILD_DIR]   (default build/; build it first: launch/build.sh)
# Environment: BUNDLE (the shared bundle script; default ../shared/device/bundle.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build}
bundle=${BUNDLE:-$root/../shared/device/bundle.sh}
progs=("$build/trpo" "$build/tests/bench_scaling" "$build/tests/bench_sums")
for p in "${progs[@]}"; do
  [ -x "$p" ] || { echo "device_bundle.sh: $p is missing; build first (bash launch/build.sh)" >&2; exit 2; }
done
[ -f "$bundle" ] || { echo "device_bundle.sh: no bundle script at $bundle (set BUNDLE)" >&2; exit 2; }
for t in ldd dpkg apt-get; do
  command -v "$t" >/dev/null || { echo "device_bundle.sh: needs $t" >&2; exit 2; }
done

bash "$bundle"

# what the programs, mpirun and Open MPI's and PMIx's plugins load
objs=("${progs[@]}")
for t in mpirun orted; do
  p=$(command -v "$t" 2>/dev/null) || { echo "device_bundle.sh: $t not found (launch/install-deps.sh)" >&2; exit 2; }
  objs+=("$(readlink -f "$p")")
done
while IFS= read -r f; do objs+=("$f"); done < <(
  find /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3 /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix \
    -name '*.so' 2>/dev/null)
libs=$(for o in "${objs[@]}"; do ldd "$o" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'; done |
  sort -u | xargs -r readlink -f | sort -u)
need=$(xargs -r dpkg -S <<<"$libs" 2>/dev/null | cut -d: -f1 | sort -u | grep -vx 'libc6' || true)
have=$(ls .device/debs | sed 's/_.*//' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$need") <(printf '%s\n' "$have") | grep . || true)
if [ -n "$missing" ]; then
  echo "device_bundle.sh: adding to .device/debs: ${missing//$'\n'/ }"
  # shellcheck disable=SC2086  # one package name per word
  (cd .device/debs && apt-get download -qq $missing)
fi

rm -rf build-dev
mkdir -p build-dev/tests
cp "$build/trpo" build-dev/
cp "$build/tests/bench_scaling" "$build/tests/bench_sums" build-dev/tests/
echo "device_bundle.sh: .device/ ($(ls .device/debs | wc -l) packages, $(du -sh .device | cut -f1)) and build-dev/ ($(du -sh build-dev | cut -f1)), built from $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "  run: carry [\".device\", \"build-dev\"], command:"
echo "  source .device/unpack.sh; OUT=\$OUT PACK=1 BUDGET=480 bash launch/bench_node.sh build-dev"
