// benchutil.h: what the benchmark programs (tests/bench_*.c) share; not part of the library.

#ifndef TRPO_BENCHUTIL_H
#define TRPO_BENCHUTIL_H

#include <stdlib.h>
#include <time.h>

// CPU time of this thread: on a shared machine a preempted run does not count the time it waited
static inline double bench_cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int bench_cmp_double(const void* x, const void* y) {
  double a = *(const double*)x, b = *(const double*)y;
  return (a > b) - (a < b);
}

// the median of v[0..n); sorts v in place (v[0] is then the smallest)
static inline double bench_median(double* v, int n) {
  qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif  // TRPO_BENCHUTIL_H
