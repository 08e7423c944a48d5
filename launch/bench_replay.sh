#!/usr/bin/env bash
# bench_replay.sh: replay recorded many-rank runs under other load-balancing and sampling
# policies (tests/bench_replay.c says how). Without arguments it replays the 16-rank runs recorded
# on the lent 16-core machine on 2026-11-26 (tests/data/ranks-16core-2026-11-26.tar.gz: the
# ranks.csv columns the replay reads, of the 23 runs at 16 ranks of that day's two calls of
# launch/bench_node.sh and launch/bench_scaling.sh, build 99f2e11); with arguments, the ranks.csv
# files given (for example a KEEP directory's */ranks.csv from bench_scaling.sh).
#
# Usage: launch/bench_replay.sh [BUILD_DIR [RANKS_CSV...]]       (BUILD_DIR defaults to build/)
# Environment: WARMUP=6 (iterations left out at the start of every run)
# Prints one line per run and the medians; these are the replay tables of README Performance.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/benchlib.sh disable=SC1091
source "$root/launch/benchlib.sh"
bench_setup bench_replay.sh "${1:-build}" tests/bench_replay
shift || true
warmup=${WARMUP:-6}
if [ $# -eq 0 ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/bench_replay.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  tar xzf "$root/tests/data/ranks-16core-2026-11-26.tar.gz" -C "$work"
  mapfile -t files < <(find "$work" -name ranks.csv | sort)
  echo "bench_replay: the 16-core machine's 16-rank runs of 2026-11-26 (${#files[@]} runs)"
  # name runs by their place in the archive
  (cd "$work" && "$build/tests/bench_replay" --warmup "$warmup" "${files[@]#"$work"/}")
else
  "$build/tests/bench_replay" --warmup "$warmup" "$@"
fi
