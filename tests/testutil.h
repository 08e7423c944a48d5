// testutil.h: shared helpers of the test programs (not part of the library).
//
// Each test program calls trpo_test_traps() first, so a NaN, a division by zero or an overflow
// stops the test where it is born (SIGFPE) instead of passing silently.

#ifndef TRPO_TESTUTIL_H
#define TRPO_TESTUTIL_H

#define _GNU_SOURCE 1   // feenableexcept
#include <fenv.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "trpo/trpo.h"

static inline void trpo_test_traps(void) { feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW); }
static inline void trpo_test_notraps(void) { fedisableexcept(FE_ALL_EXCEPT); }

// max |a - b| over n
static inline double trpo_test_maxdiff(const double* a, const double* b, int n) {
  double m = 0;
  for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}
static inline double trpo_test_maxabs(const double* a, int n) {
  double m = 0;
  for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
  return m;
}

// the default config with these fields set, for a small trainer
static inline void trpo_test_config(trpo_config* c, const char* env, long seed, int nenv,
                                    int nsteps) {
  trpo_config_default(c);
  snprintf(c->env, sizeof c->env, "%s", env);
  c->seed = seed;
  c->nenv = nenv;
  c->nsteps = nsteps;
}

// a trainer of config c on comm; a failure fails the test with the library's message
static inline trpo_train* trpo_test_trainer(trpo_comm* comm, const trpo_config* c) {
  trpo_train* t = NULL;
  char err[512];
  if (trpo_train_make(&t, c, comm, err, sizeof err)) fail_msg("train_make: %s", err);
  return t;
}

#endif  // TRPO_TESTUTIL_H
