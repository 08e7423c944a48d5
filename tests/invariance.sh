#!/usr/bin/env bash
# Rank-count invariance: the same config and seed on 1, 2, 3 and 4 ranks must end with
# bitwise-identical policy and value parameters (checksums printed at the end of train.log).
#   usage: invariance.sh TRPO MPIEXEC WORKDIR TAG CONFIG [mpirun args...] -- [key=value ...]
set -euo pipefail
trpo=$1 mpiexec=$2 work=$3 name=$4 config=$5
shift 5
margs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do margs+=("$1"); shift; done
[ $# -gt 0 ] && shift
ref=""
for n in 1 2 3 4; do
  dir="$work/inv-$name-$n"
  rm -rf "$dir"
  "$mpiexec" -n "$n" "${margs[@]}" "$trpo" train "$config" run_dir="$dir" quiet=1 "$@"
  sum=$(grep -o 'policy fnv1a64 [0-9a-f]* value fnv1a64 [0-9a-f]*' "$dir/train.log" | tail -1)
  echo "$n rank(s): $sum"
  [ -n "$sum" ] || { echo "no checksum line in $dir/train.log"; exit 1; }
  if [ -z "$ref" ]; then ref=$sum; elif [ "$sum" != "$ref" ]; then echo "MISMATCH at $n ranks"; exit 1; fi
done
echo "identical on 1, 2, 3 and 4 ranks"
