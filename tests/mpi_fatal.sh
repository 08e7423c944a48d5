#!/usr/bin/env bash
# A fatal error on one rank ends the whole MPI job: non-zero exit code, within seconds, no hang.
#   usage: mpi_fatal.sh PROGRAM TIMING MPIEXEC [launcher args: -n N PREFLAGS...]
# Launches PROGRAM (test_mpi_fatal) in its "collective TIMING" mode, where rank 1 (rank 0 when
# alone) calls TRPO_FATAL while the others wait in an allreduce, and checks: the job exits with
# a code other than 0 and other than timeout's; it ended at most LIMIT seconds after the fatal
# error (the time stamped in the error line against the clock when mpiexec returned); the error
# line names the rank; no process of the job is left behind.
set -uo pipefail
prog=$1 timing=$2
shift 2
launcher=("$@")
limit=5
# the leftover-process check below needs pgrep; without it (no procps) it would pass unseen
command -v pgrep >/dev/null ||
  { echo "FAILED: pgrep not found (Debian package procps, see launch/install-deps.sh)"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s.%N)
timeout -k 5 60 "${launcher[@]}" "$prog" collective "$timing" >"$log" 2>&1
rc=$?
end=$(date +%s.%N)
cat "$log"
line=$(grep -m1 'trpo: fatal \[rank [0-9]*\].*deliberate fatal error' "$log" || true)
if [ -z "$line" ]; then echo "FAILED: no fatal error line in the job's output"; exit 1; fi
stamp=$(sed -n 's/.*; at \([0-9.]*\)$/\1/p' <<<"$line")
delay=$(awk -v a="$end" -v b="$stamp" 'BEGIN { printf "%.2f", a - b }')
total=$(awk -v a="$end" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
echo "job exit code $rc; ended ${delay} s after the fatal error (${total} s in all)"
if [ "$rc" -eq 0 ]; then echo "FAILED: the job exited 0"; exit 1; fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "FAILED: the job hung until the 60 s timeout"; exit 1; fi
if awk -v d="$delay" -v l="$limit" 'BEGIN { exit !(d > l) }'; then
  echo "FAILED: the job took more than $limit s to end after the fatal error"; exit 1
fi
if grep -q 'the collective returned' "$log"; then echo "FAILED: a collective returned"; exit 1; fi
# no rank of the job survives it
for _ in 1 2 3 4 5 6 7 8 9 10; do
  # pgrep: 1 no such process, 0 some, anything else it could not look
  pgrep -f "$prog collective" >/dev/null
  case $? in
    0) sleep 0.3 ;;
    1) echo "ok"; exit 0 ;;
    *) echo "FAILED: pgrep could not list the processes"; exit 1 ;;
  esac
done
echo "FAILED: processes of the job are still running:"; pgrep -af "$prog collective"
exit 1
