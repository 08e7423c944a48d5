// time.c: a monotonic wall clock for phase timing (not MPI_Wtime, which would need <mpi.h>), and
// what the operating system did to this process's time: how often it was preempted, and the CPU
// it runs on (ranks.csv's preempt and cpu columns, for telling a shared core from slow work).

#define _GNU_SOURCE   // sched_getcpu

#include <sched.h>
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

long trpo_time_preemptions(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nivcsw : 0;
}

int trpo_time_cpu(void) { return sched_getcpu(); }
