// time.c: a monotonic wall clock for phase timing (not MPI_Wtime, which would need <mpi.h>).

#define _POSIX_C_SOURCE 200809L

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
