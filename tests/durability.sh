#!/usr/bin/env bash
# The order of what reaches the disk, read from the system calls themselves (tests/syscall_log.c,
# preloaded: every fsync and rename of the process, in order): before each checkpoint is published
# (the rename of ckpt-N.h5.tmp to ckpt-N.h5), progress.csv and ranks.csv have been synced since the
# checkpoint before it, so that a crash of the node cannot keep checkpoint N and lose the rows up to
# N (the resume would continue the files from N, with a gap that stays); each checkpoint's .tmp is
# synced before its rename.
#   usage: durability.sh TRPO SHIM WORKDIR SRCDIR
set -uo pipefail
trpo=$1 shim=$2 work=$3 src=$4
dir="$work/durability"
log="$work/durability.syscalls"
rm -rf "$dir" "$log"
mkdir -p "$work"
fail() { echo "FAILED: $*"; exit 1; }
# one process (an MPI singleton), so that the shim sees rank 0 alone; a sanitizer build's runtime
# must then accept a library loaded before it
TRPO_SYSCALL_LOG="$log" LD_PRELOAD="$shim" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
  timeout -k 5 120 "$trpo" train "$src/configs/pendulum.ini" run_dir="$dir" nenv=2 nsteps=256 \
  total_steps=3072 vf_epochs=2 rank_times=1 quiet=1 || fail "the run failed"
[ -s "$log" ] || fail "the shim logged nothing (LD_PRELOAD not honoured?)"
awk -v d="$dir" '
  $1 == "fsync" && $2 == d "/progress.csv" { p = 1 }
  $1 == "fsync" && $2 == d "/ranks.csv" { q = 1 }
  $1 == "fsync" && $2 ~ /\/ckpt-[0-9]+\.h5\.tmp$/ { tmp[$2] = 1 }
  $1 == "rename" && $3 ~ /\/ckpt-[0-9]+\.h5$/ {
    n++
    if (!p) { print "FAILED: " $3 " published before progress.csv was synced"; bad = 1 }
    if (!q) { print "FAILED: " $3 " published before ranks.csv was synced"; bad = 1 }
    if (!tmp[$2]) { print "FAILED: " $2 " renamed without an fsync"; bad = 1 }
    p = q = 0
  }
  END {
    if (n < 6) { print "FAILED: " n " checkpoints published, expected 6"; bad = 1 }
    if (!bad) printf "%d checkpoints, each published after progress.csv, ranks.csv and its own file were synced\n", n
    exit bad
  }' "$log" || { grep -E "progress|ranks|ckpt" "$log" | head -20; exit 1; }
echo ok
