# runlib.sh: helpers for the end-to-end run tests (resume, kill points, signals, run directory,
# checkpoint failures). Sourced by those scripts, never run. Every script takes the same first
# arguments, parsed by runlib_init:
#   SCRIPT TRPO MPIEXEC WORKDIR SRCDIR [mpirun args...]
# and gets: $trpo, $mpiexec, $work (its own scratch directory, emptied), $src, $margs (mpirun
# arguments), the MPI environment of launch/env.sh, and the functions below. Not a test itself:
# the oracles (checksum line, progress.csv without wall-clock columns) are defined here once so
# every script compares runs the same way.

# parse the common arguments; $1 of the caller is its tag (scratch directory name)
runlib_init() {
  tag=$1 trpo=$(readlink -f "$2") mpiexec=$3 work=$(readlink -f "$4")/$1 src=$(readlink -f "$5")
  shift 5
  margs=("$@")
  # Open MPI as root, oversubscription, one BLAS thread per rank
  source "$src/launch/env.sh"
  # rank_pids finds the ranks with pgrep; without it (no procps) a script that tolerates ranks
  # not found would go on without the ranks it means to signal or kill
  command -v pgrep >/dev/null || fail "pgrep not found (Debian package procps, see launch/install-deps.sh)"
  # a mount left under the scratch directory by an interrupted earlier run goes first
  local m
  for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts 2>/dev/null | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$work"
  mkdir -p "$work"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# mpirun NP TRPO-ARGS...: trpo under mpirun with NP ranks (foreground, exit code returned)
mpi() {
  local np=$1
  shift
  "$mpiexec" -n "$np" "${margs[@]}" "$trpo" "$@"
}

# the "policy fnv1a64 ... value fnv1a64 ..." checksum line at the end of DIR/train.log
checksum() {
  grep -o 'policy fnv1a64 [0-9a-f]* value fnv1a64 [0-9a-f]*' "$1/train.log" | tail -1
}

# DIR/progress.csv without the wall-clock columns (wall_s, steps_per_s, t_*)
csv_core() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) drop[i] = ($i == "wall_s" || $i == "steps_per_s" || $i == "env_moves" || $i == "steps_taken" || $i ~ /^t_/) }
           { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s (s == "" ? "" : ",") $i; print s }' \
      "$1/progress.csv"
}

# iteration of the last complete (newline-terminated) row of DIR/progress.csv (0 if none)
last_row() {
  local f=$1/progress.csv
  [ -s "$f" ] || { echo 0; return; }
  if [ -n "$(tail -c1 "$f")" ]; then head -n -1 "$f"; else cat "$f"; fi |
    awk -F, 'NR > 1 { n = $1 } END { print n + 0 }'
}

# iteration of the newest published checkpoint of DIR (-1 if none)
newest_ckpt() {
  local n
  n=$(ls "$1" 2>/dev/null | sed -n 's/^ckpt-\([0-9]\{9\}\)\.h5$/\1/p' | sort | tail -1)
  [ -n "$n" ] && echo $((10#$n)) || echo -1
}

# DIR's checkpoint file of iteration N
ckpt_path() { printf '%s/ckpt-%09d.h5' "$1" "$2"; }

# same_as DIR REF WHAT: final parameters and progress.csv (wall-clock columns aside) identical
same_as() {
  local a b
  a=$(checksum "$1")
  b=$(checksum "$2")
  [ -n "$a" ] || fail "$3: no checksum line in $1/train.log"
  [ "$a" = "$b" ] || fail "$3: final parameters differ: '$a' vs reference '$b'"
  if ! diff <(csv_core "$1") <(csv_core "$2") >"$work/csv.diff"; then
    head -20 "$work/csv.diff" >&2
    fail "$3: progress.csv differs from the reference ($1 vs $2)"
  fi
  echo "$3: identical to the reference run ($a, $(($(wc -l <"$1/progress.csv") - 1)) rows)"
}

# every published checkpoint of DIR reads back whole with h5dump (data checksums included)
all_readable() {
  local f
  for f in "$1"/ckpt-*.h5; do
    [ -e "$f" ] || continue
    h5dump "$f" >/dev/null 2>"$work/h5dump.err" || {
      cat "$work/h5dump.err" >&2
      fail "published checkpoint $f does not read back with h5dump"
    }
  done
}

# pids of the trpo ranks started by the mpirun of pid M (its children, or grandchildren under a
# wrapper shell), in rank order (each carries its rank in its environment); waits until NP exist
rank_pids() {
  local m=$1 np=$2 exe p r k
  exe=$(readlink -f "$trpo")
  for k in $(seq 1000); do
    local -a by=()
    for p in $(pgrep -P "$m" 2>/dev/null) $(for c in $(pgrep -P "$m" 2>/dev/null); do pgrep -P "$c"; done); do
      [ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$exe" ] || continue
      r=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
      [ -n "$r" ] && by[$r]=$p
    done
    if [ ${#by[@]} -eq "$np" ]; then
      echo "${by[@]}"
      return 0
    fi
    kill -0 "$m" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

# has_line TEXT GREP-ARGS...: grep GREP-ARGS in TEXT (a string, e.g. "$(tail ...)"). Never
# `producer | grep -q`: grep -q exits at its first match, a producer that writes in several
# chunks (tail writes 4 KiB at a time) then dies of SIGPIPE, and under pipefail the pipeline
# fails although the line is there (or an `if ... | grep -q BAD; then fail` is silently skipped)
has_line() {
  local text=$1
  shift
  grep "$@" <<<"$text"
}

# wait (up to S seconds) until command "$@" succeeds; 1 on timeout
wait_for() {
  local s=$1 k
  shift
  for k in $(seq $((s * 100))); do
    "$@" && return 0
    sleep 0.01
  done
  return 1
}

# seconds since the epoch, with fractions
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
