# Sourced by the benchmark scripts: small helpers they share.

# bench_setup NAME BUILD_DIR [PROGRAM...]: build (BUILD_DIR, relative to the project root $root)
# and trpo as absolute paths; trpo and each PROGRAM (under build) must exist; launch/env.sh
# sourced; the project root the working directory
bench_setup() {
  local name=$1 f
  build=$2
  shift 2
  case $build in /*) ;; *) build=$root/$build ;; esac
  trpo=$build/trpo
  for f in "$trpo" "${@/#/$build/}"; do
    [ -x "$f" ] || { echo "$name: $f not found; build first (launch/build.sh)" >&2; exit 2; }
  done
  # shellcheck source=launch/env.sh disable=SC1091
  source "$root/launch/env.sh"
  cd "$root"
}
# config_value CONFIG KEY: KEY's value in CONFIG as trpo resolves it (defaults included)
config_value() { "$trpo" config "$1" | awk -v k="$2" '$1 == k && $2 == "=" { print $3 }'; }
# bench_need_cores NAME NP: exit 2 unless this machine has NP CPUs
bench_need_cores() {
  [ "$(nproc)" -ge "$2" ] || { echo "$1: needs $2 cores, this machine has $(nproc)" >&2; exit 2; }
}

# bench_cores: the physical cores (lscpu's distinct core and socket pairs; nproc where lscpu cannot
# tell)
bench_cores() {
  local n
  n=$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)
  if [ "$n" -gt 0 ]; then echo "$n"; else nproc; fi
}
# bindflags N: mpirun's binding for N ranks, given the globals ncore (bench_cores) and ncpu
# (nproc): one rank per core; more ranks than cores on hardware threads (--bind-to core would
# refuse to put two ranks on one core where a core has two); more than CPUs (development only)
# unbound
bindflags() {
  if [ "$1" -le "$ncore" ]; then echo "--bind-to core --map-by core"
  elif [ "$1" -le "$ncpu" ]; then echo "--bind-to hwthread --map-by hwthread"
  else echo "--bind-to none"; fi
}

# Jobs that a signal to the script must not leave running. bash runs a script's EXIT trap when
# SIGTERM, SIGINT or SIGHUP ends it, but a job it was waiting for (mpirun in the foreground, or
# inside $(...)) goes on, holding its cores, its run directory and any cgroup it is in (which
# rmdir cannot remove while it has processes). So: bench_job [--cgroup DIR] CMD... runs CMD in
# the background (in cgroup DIR, from cgroup_make_quota, when given), its pid in $bench_pid, and
# waits for it, returning its status; call it from the script's own shell, not from $(...).
# bench_stop ends that job, if one runs (SIGTERM, which mpirun passes on to the ranks), and waits
# for it. bench_on_exit FUNC runs FUNC once when the script ends: at exit, or on SIGTERM, SIGINT or
# SIGHUP, after which it exits 128 + the signal's number. FUNC should call bench_stop first, and
# must not stop at a failing step (set -e applies inside it).
bench_pid=""
bench_job() {
  local cg="" rc=0
  if [ "$1" = --cgroup ]; then cg=$2; shift 2; fi
  # one subshell that joins the cgroup and becomes CMD, so that $! is CMD's own pid
  (if [ -n "$cg" ]; then echo "$BASHPID" >"$cg/cgroup.procs" || exit 1; fi; exec "$@") &
  bench_pid=$!
  wait "$bench_pid" || rc=$?
  bench_pid=""
  return "$rc"
}
bench_stop() {
  [ -n "$bench_pid" ] || return 0
  kill -TERM "$bench_pid" 2>/dev/null || true
  wait "$bench_pid" 2>/dev/null || true
  bench_pid=""
}
bench_on_exit() {
  bench_exit_func=$1
  trap bench_exit EXIT
  trap 'bench_exit 129' HUP
  trap 'bench_exit 130' INT
  trap 'bench_exit 143' TERM
}
bench_exit() {
  trap - EXIT
  "$bench_exit_func"
  [ $# -eq 0 ] || exit "$1"
}

# the median of the numbers on stdin, one per line
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# The CPU quota of this shell's cgroup (which the ranks inherit): a container or job limit that
# lets the group use Q CPUs' worth of time per period whatever the number of CPUs it sees, and
# throttles all of it once that is spent. Free-running physics only slows down to the quota; a
# synchronous iteration also waits for whichever rank was throttled last. cgroup_cpu_dirs prints
# the cpu controller's directory of this cgroup and of each ancestor up to the mount (v1's cpu
# hierarchy where one is mounted, else v2's); cgroup_quota the least quota among them in CPUs
# ("-": none); cgroup_throttled their throttled time so far in seconds (summed over CPUs, as the
# kernel counts it).
cgroup_cpu_dirs() {
  local d
  d=$(awk '
    FILENAME ~ /mountinfo$/ {
      for (i = 7; i <= NF && $i != "-"; i++) continue
      fs = $(i + 1); opts = "," $(i + 3) ","
      if (fs == "cgroup2") { r2 = $4; m2 = $5 }
      else if (fs == "cgroup" && opts ~ /,cpu,/) { r1 = $4; m1 = $5 }
      next
    }
    {
      split($0, f, ":"); path = substr($0, length(f[1]) + length(f[2]) + 3)
      if (f[1] == "0" && f[2] == "") p2 = path
      else if (("," f[2] ",") ~ /,cpu,/) p1 = path
    }
    function under(root, path) {   # the path below the mount root
      if (root != "/" && index(path, root) == 1) path = substr(path, length(root) + 1)
      return path == "/" ? "" : path
    }
    END {
      if (m1 != "" && p1 != "") print m1 " " under(r1, p1)
      else if (m2 != "" && p2 != "") print m2 " " under(r2, p2)
    }' /proc/self/mountinfo /proc/self/cgroup 2>/dev/null) || return 0
  [ -n "$d" ] || return 0
  local mnt=${d%% *} path=${d#* }
  while :; do
    [ -d "$mnt$path" ] && echo "$mnt$path"
    [ -n "$path" ] || break
    path=${path%/*}
  done
}
cgroup_quota() {
  local dir q p best=-
  while IFS= read -r dir; do
    q="" p=""
    if [ -r "$dir/cpu.max" ]; then read -r q p <"$dir/cpu.max"
    elif [ -r "$dir/cpu.cfs_quota_us" ]; then q=$(<"$dir/cpu.cfs_quota_us") p=$(<"$dir/cpu.cfs_period_us"); fi
    [[ $q =~ ^[0-9]+$ && $p =~ ^[0-9]+$ && $p -gt 0 ]] || continue
    best=$(awk -v q="$q" -v p="$p" -v b="$best" 'BEGIN { c = q / p; printf "%.2f", (b == "-" || c < b) ? c : b }')
  done < <(cgroup_cpu_dirs)
  echo "$best"
}
cgroup_throttled() {
  # with DIR: that cgroup's alone
  local dir
  while IFS= read -r dir; do
    [ -r "$dir/cpu.stat" ] && awk '$1 == "throttled_usec" { print $2 / 1e6 } $1 == "throttled_time" { print $2 / 1e9 }' "$dir/cpu.stat"
  done < <(if [ $# -gt 0 ]; then echo "$1"; else cgroup_cpu_dirs; fi) | awk '{ s += $1 } END { printf "%.6f\n", s }'
}
# throttle_mark [DIR]: "THROTTLED_S WALL_S" now (cgroup_throttled and the clock);
# throttle_share MARK0 MARK1 N: the share (%) of N ranks' time between the marks that the quota
# held them back
throttle_mark() { echo "$(cgroup_throttled "$@") $(date +%s.%N)"; }
throttle_share() {
  awk -v m0="$1" -v m1="$2" -v n="$3" 'BEGIN { split(m0, a, " "); split(m1, b, " ")
    printf "%.1f", (b[2] > a[2] ? 100 * (b[1] - a[1]) / (n * (b[2] - a[2])) : 0) }'
}

# A child cgroup of this shell's with a CPU quota of $1 CPUs (cgroup v1's cpu hierarchy, or v2
# where this shell's cgroup may delegate the cpu controller): prints its directory, or a reason
# on stderr and returns 1. Needs root and a writable cgroup file system. Run a command in it with
# cgroup_run DIR CMD... (or bench_job --cgroup DIR CMD..., above, for a job a signal to the script
# must stop), remove it with rmdir once its processes are gone.
cgroup_make_quota() {
  local cpus=$1 leaf dir period=100000 q
  leaf=$(cgroup_cpu_dirs | head -1)
  [ -n "$leaf" ] || { echo "no cgroup cpu controller is mounted" >&2; return 1; }
  q=$(awk -v c="$cpus" -v p="$period" 'BEGIN { printf "%d", c * p }')
  [ "$q" -ge 1000 ] || { echo "quota of $cpus CPUs: expected at least 0.01" >&2; return 1; }
  dir=$leaf/trpo_bench.$$
  mkdir "$dir" 2>/dev/null || { echo "cannot create $dir (needs root and a writable cgroup file system)" >&2; return 1; }
  if [ -e "$dir/cpu.cfs_quota_us" ]; then
    echo "$period" >"$dir/cpu.cfs_period_us" && echo "$q" >"$dir/cpu.cfs_quota_us"
  else
    { [ -e "$dir/cpu.max" ] || echo +cpu >"$leaf/cgroup.subtree_control"; } 2>/dev/null &&
      echo "$q $period" >"$dir/cpu.max"
  fi 2>/dev/null || { rmdir "$dir"; echo "cannot set a CPU quota in $dir (cgroup v2 delegates the cpu controller only from a cgroup without processes)" >&2; return 1; }
  echo "$dir"
}
cgroup_run() {
  local dir=$1
  shift
  (echo "$BASHPID" >"$dir/cgroup.procs" && exec "$@")
}
