// time.c: a monotonic wall clock for phase timing (not MPI_Wtime, which would need <mpi.h>), and
// what the operating system did to this process's time: how often it was preempted, the CPU it
// runs on and the CPU time it got (ranks.csv's preempt, cpu and cpu_time columns, for telling a
// shared or throttled core from slow work), and a short sleep for ranks waiting at a collective.

#define _GNU_SOURCE   // sched_getcpu

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
