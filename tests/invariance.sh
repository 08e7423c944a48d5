#!/usr/bin/env bash
# Rank-count invariance: the same config and seed on 1, 2, 3 and 4 ranks must end with
# bitwise-identical policy and value parameters (checksums printed at the end of train.log).
#   usage: invariance.sh TRPO MPIEXEC WORKDIR TAG CONFIG [mpirun args...] -- [key=value ...]
# INV_VARIANTS="a=1,b=2|c=3" also runs 2 and 4 ranks with each variant's settings added (settings
# that must not change the bits, such as comm_node_sum=0), against the same checksums.
# TRPO_TEST_NODE_SIZE=k in the environment makes the trainer treat ranks r / k as one node.
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
IFS='|' read -ra variants <<<"${INV_VARIANTS:-}"
for v in "${variants[@]}"; do
  IFS=',' read -ra extra <<<"$v"
  for n in 2 4; do
    dir="$work/inv-$name-$n-v"
    rm -rf "$dir"
    "$mpiexec" -n "$n" "${margs[@]}" "$trpo" train "$config" run_dir="$dir" quiet=1 "$@" "${extra[@]}"
    sum=$(grep -o 'policy fnv1a64 [0-9a-f]* value fnv1a64 [0-9a-f]*' "$dir/train.log" | tail -1)
    echo "$n rank(s), $v: $sum"
    [ "$sum" = "$ref" ] || { echo "MISMATCH at $n ranks with $v"; exit 1; }
  done
done
echo "identical on 1, 2, 3 and 4 ranks${TRPO_TEST_NODE_SIZE:+ (nodes of $TRPO_TEST_NODE_SIZE ranks)}${INV_VARIANTS:+, and with $INV_VARIANTS}"
