// time.c: a monotonic wall clock for phase timing (not MPI_Wtime, which would need <mpi.h>), and
// what the operating system did to this process's time: how often it was preempted, the CPU it
// runs on and the CPU time it got (ranks.csv's preempt, cpu and cpu_time columns, for telling a
// shared or throttled core from slow work), and a short sleep for ranks waiting at a collective.

#define _GNU_SOURCE   // sched_getcpu

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "trpo/trpo.h"

double trpo_time_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void trpo_time_spin(double seconds) {
  double until = trpo_time_now() + seconds;
  while (trpo_time_now() < until) continue;
}

void trpo_time_nap(long ns) {
  // Linux lets a sleep of a normal thread end up to its timer slack (50 us by default) late: a
  // 50 us nap took 138 us on the development machine, 87 us with a 1 us slack
  static _Thread_local int slack_set;
  if (!slack_set) {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);   // nanoseconds; a failure keeps the default
    slack_set = 1;
  }
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  nanosleep(&ts, NULL);   // a signal cuts it short: the caller polls again
}

double trpo_time_thread_cpu(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long trpo_time_preemptions(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nivcsw : 0;
}

int trpo_time_cpu(void) { return sched_getcpu(); }

//---------------------------------- the CPU quota of this cgroup ----------------------------------
// A container or job limit lets a cgroup run Q CPUs' worth of time per period, whatever the CPUs
// it sees, and stops all of it once that is spent. cgroup v2: cpu.max ("max PERIOD" or "QUOTA
// PERIOD") in the cgroup's directory and each ancestor's; v1: cpu.cfs_quota_us (-1: none) and
// cpu.cfs_period_us in the cpu hierarchy's. The path comes from /proc/self/cgroup; a container
// that shows the host's path for its own root (v1 without a cgroup namespace) has no such
// directory, and then the mount's own files are its cgroup's.

// QUOTA/PERIOD of one directory's files, or 0
static double quota_at(const char* dir, int v2) {
  char p[4096], a[64] = "", b[64] = "";
  FILE* f;
  if (v2) {
    snprintf(p, sizeof p, "%s/cpu.max", dir);
    if (!(f = fopen(p, "r"))) return 0;
    int n = fscanf(f, "%63s %63s", a, b);
    fclose(f);
    if (n != 2 || !strcmp(a, "max")) return 0;
  } else {
    snprintf(p, sizeof p, "%s/cpu.cfs_quota_us", dir);
    if (!(f = fopen(p, "r"))) return 0;
    int n = fscanf(f, "%63s", a);
    fclose(f);
    snprintf(p, sizeof p, "%s/cpu.cfs_period_us", dir);
    if (n != 1 || !(f = fopen(p, "r"))) return 0;
    n = fscanf(f, "%63s", b);
    fclose(f);
    if (n != 1) return 0;
  }
  char* end;
  double q = strtod(a, &end);
  if (*end || !(q > 0)) return 0;
  double per = strtod(b, &end);
  return *end || !(per > 0) ? 0 : q / per;
}

// the least quota from ROOT/SUB/PATH up to ROOT/SUB, or 0
static double quota_walk(const char* root, const char* sub, const char* path, int v2) {
  char dir[4096];
  int n = snprintf(dir, sizeof dir, "%s%s%s%s", root, *sub ? "/" : "", sub, path);
  if (n < 0 || (size_t)n >= sizeof dir) return 0;
  struct stat st;
  size_t top = strlen(root) + (*sub ? 1 + strlen(sub) : 0);
  if (stat(dir, &st) != 0) dir[top] = '\0';   // the host's path: the mount is this cgroup
  double best = 0;
  for (;;) {
    size_t len = strlen(dir);
    while (len > top && dir[len - 1] == '/') dir[--len] = '\0';
    double q = quota_at(dir, v2);
    if (q > 0 && (best == 0 || q < best)) best = q;
    if (len <= top) return best;
    char* slash = strrchr(dir + top, '/');
    if (!slash) return best;
    *slash = '\0';
  }
}

double trpo_time_cpu_quota_at(const char* root, const char* proc_cgroup) {
  // v1's cpu line first (a hybrid system keeps its cpu controller there), else v2's
  double best = 0;
  int have_v1 = 0;
  char line[4096];
  FILE* f = fopen(proc_cgroup, "r");
  if (!f) return 0;
  char v2path[4096] = "";
  int have_v2 = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char* c1 = strchr(line, ':');
    char* c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c1 = *c2 = '\0';
    const char *ctrls = c1 + 1, *path = c2 + 1;
    if (!strcmp(line, "0") && !*ctrls) {
      snprintf(v2path, sizeof v2path, "%s", path);
      have_v2 = 1;
      continue;
    }
    // a v1 hierarchy whose controllers include cpu: mounted as cpu or cpu,cpuacct
    char list[4096];
    snprintf(list, sizeof list, ",%s,", ctrls);
    if (!strstr(list, ",cpu,")) continue;
    have_v1 = 1;
    const char* subs[] = {ctrls, "cpu"};   // the hierarchy's own name, or systemd's cpu link
    for (int k = 0; k < 2; k++) {
      char d[4096];
      struct stat st;
      snprintf(d, sizeof d, "%s/%s", root, subs[k]);
      if (stat(d, &st) != 0) continue;
      best = quota_walk(root, subs[k], path, 0);
      break;
    }
  }
  fclose(f);
  if (!have_v1 && have_v2) best = quota_walk(root, "", v2path, 1);
  return best;
}

double trpo_time_cpu_quota(void) { return trpo_time_cpu_quota_at("/sys/fs/cgroup", "/proc/self/cgroup"); }
