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
# check N LABEL [key=value ...]: train on N ranks; the first run's checksums are the reference,
# every later run must match them
ref=""
check() {
  local n=$1 label=$2 dir="$work/inv-$name-$1${2:+-v}" sum
  shift 2
  rm -rf "$dir"
  "$mpiexec" -n "$n" "${margs[@]}" "$trpo" train "$config" run_dir="$dir" quiet=1 "${args[@]}" "$@"
  sum=$(grep -o 'policy fnv1a64 [0-9a-f]* value fnv1a64 [0-9a-f]*' "$dir/train.log" | tail -1)
  echo "$n rank(s)${label:+, $label}: $sum"
  [ -n "$sum" ] || { echo "no checksum line in $dir/train.log"; exit 1; }
  [ -n "$ref" ] || ref=$sum
  [ "$sum" = "$ref" ] || { echo "MISMATCH at $n ranks${label:+ with $label}"; exit 1; }
}
args=("$@")
for n in 1 2 3 4; do check "$n" ""; done
IFS='|' read -ra variants <<<"${INV_VARIANTS:-}"
for v in "${variants[@]}"; do
  IFS=',' read -ra extra <<<"$v"
  for n in 2 4; do check "$n" "$v" "${extra[@]}"; done
done
echo "identical on 1, 2, 3 and 4 ranks${TRPO_TEST_NODE_SIZE:+ (nodes of $TRPO_TEST_NODE_SIZE ranks)}${INV_VARIANTS:+, and with $INV_VARIANTS}"
