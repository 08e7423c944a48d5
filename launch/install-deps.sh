#!/usr/bin/env bash
# Installs the Debian packages trpo needs to build, test and plot, if any are missing.
# Quiet and fast (one dpkg query) when everything is present. Needs root (or sudo) to install.
#   bash launch/install-deps.sh          build + run + test dependencies
set -euo pipefail
pkgs=(
  gcc make cmake pkg-config git        # toolchain
  libopenmpi-dev openmpi-bin           # MPI: ranks, collectives, mpirun
  libopenblas-dev                      # BLAS: dgemm for the networks
  libhdf5-openmpi-dev hdf5-tools       # HDF5: checkpoints (h5dump reads them)
  libmujoco-dev libqhull-dev           # MuJoCo 2.2.2 (its CMake config needs qhull headers)
  libinih-dev                          # INI config parser
  libcmocka-dev                        # unit-test assertions
  gnuplot-nox                          # learning-curve plot
  procps                               # pgrep: the tests' "no process of the job left" checks
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
