#!/usr/bin/env bash
# Input that some ranks see and others do not (a per-node config or model file, a working
# directory that differs between nodes): the job ends at once with exit code 2 and one line that
# names the rank, the file and the key, never a hang of the ranks that read theirs; input that
# every rank refuses is said once, not once per rank.
#   usage: rank_inputs.sh TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
# Cases: a bad value on every rank (2 ranks: one line); rank 1's config file differs from rank 0's
# (the line names it and the differing key); of 3 ranks only rank 2's config has a bad value; a
# user MJCF that only rank 0 can open, then only rank 1 (relative paths, each rank in its own
# directory). No case writes a checkpoint.
set -uo pipefail
trpo=$1 mpiexec=$2 work=$3 src=$4
shift 4
margs=("$@")
base="$work/rank-inputs"
rm -rf "$base"
mkdir -p "$base/n0" "$base/n1" "$base/n2"
cd "$base" || exit 1
fail() { echo "FAILED: $*"; exit 1; }
run() {   # run NAME NP COMMAND (a shell line; $R is the rank): exit code in $rc, output in $log
  local name=$1 np=$2 cmd=$3
  log="$base/$name.log"
  local t0=$SECONDS
  timeout -k 5 60 "$mpiexec" -n "$np" "${margs[@]}" sh -c "R=\$OMPI_COMM_WORLD_RANK; $cmd" >"$log" 2>&1
  rc=$?
  echo "$name: exit code $rc in $((SECONDS - t0)) s"
  grep '^trpo' "$log" | sed 's/^/    /'
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$name: the job hung until the timeout"
  [ "$rc" -eq 2 ] || fail "$name: exit code $rc, expected 2"
  [ -z "$(find "$base" -name 'ckpt-*')" ] || fail "$name: a checkpoint was written"
}
lines() { grep -c "$1" "$log"; }

run bad-value 2 "exec $trpo train $src/configs/pendulum.ini nenv=abc run_dir=$base/r1"
[ "$(lines "^trpo: ")" -eq 1 ] || fail "bad-value: expected one error line for the job"
[ "$(lines "^trpo: command line: key 'nenv'")" -eq 1 ] || fail "bad-value: the line does not name the key"

cp "$src/configs/pendulum.ini" c0.ini
sed 's/^nsteps *=.*/nsteps = 256/' "$src/configs/pendulum.ini" >c1.ini
grep -q '^nsteps = 256$' c1.ini || fail "configs/pendulum.ini has no nsteps line to change"
run configs-differ 2 "exec $trpo train c\$R.ini run_dir=$base/r2 total_steps=4096"
[ "$(lines "^trpo: rank 1: this rank's config differs from rank 0's: 'nsteps = 256' where rank 0 has 'nsteps = ")" -eq 1 ] ||
  fail "configs-differ: no line naming rank 1 and its differing key"

cp "$src/configs/pendulum.ini" c2.ini
printf 'nenv = x\n' >c2.ini
run rank2-bad-value 3 "exec $trpo train c\$R.ini run_dir=$base/r3 total_steps=4096"
[ "$(lines "^trpo: rank 2: c2.ini:1: key 'nenv'")" -eq 1 ] || fail "rank2-bad-value: no line naming rank 2, the file and the key"
[ "$(lines "^trpo: ")" -eq 1 ] || fail "rank2-bad-value: expected one error line"

cp "$src/configs/mujoco/hopper.xml" n0/my.xml
run model-rank0-only 2 "cd n\$R && exec $trpo train $src/configs/hopper.ini model=my.xml nenv=2 nsteps=64 total_steps=256 run_dir=$base/r4"
[ "$(lines "^trpo: rank 1: Hopper-v4: cannot load MJCF model 'my.xml'")" -eq 1 ] ||
  fail "model-rank0-only: no line naming rank 1 and the model file"
rm n0/my.xml
cp "$src/configs/mujoco/hopper.xml" n1/my.xml
run model-rank1-only 2 "cd n\$R && exec $trpo train $src/configs/hopper.ini model=my.xml nenv=2 nsteps=64 total_steps=256 run_dir=$base/r5"
[ "$(lines "^trpo: Hopper-v4: cannot load MJCF model 'my.xml'")" -eq 1 ] ||
  fail "model-rank1-only: no line from rank 0 naming the model file"
[ "$(lines "^trpo: ")" -eq 1 ] || fail "model-rank1-only: expected one error line"
echo ok
