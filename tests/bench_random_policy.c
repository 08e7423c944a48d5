// bench_random_policy.c: the return of the uniform random policy on a task, the floor that
// "has learning started" is measured against (launch/learn_mujoco.sh).
//
// usage: bench_random_policy TASK [NEPISODES] [SEED]   (100 episodes, seed 1)
// Runs NEPISODES whole episodes of one environment through trpo_envs_* (the trainer's own
// environments, time limit and all), choosing every action uniformly in the task's Box
// (uniformly among the choices of a discrete task) from the environment's action stream, and
// prints the mean and sample standard deviation of the raw undiscounted episode return, and the
// mean episode length. Episodes end at termination or truncation, as in training.
// A program, not a test: no pass/fail. It trains nothing and does not time anything.

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "trpo/trpo.h"

// parse a positive integer argument, or exit 2 naming it
static long argnum(const char* s, const char* what) {
  char* end = NULL;
  long v = strtol(s, &end, 10);
  if (!end || *end || end == s || v < 1) {
    fprintf(stderr, "bench_random_policy: %s must be a positive integer, got '%s'\n", what, s);
    exit(2);
  }
  return v;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: bench_random_policy TASK [NEPISODES] [SEED]\n");
    return 2;
  }
  const char* task = argv[1];
  long nep = argc > 2 ? argnum(argv[2], "NEPISODES") : 100;
  uint64_t seed = argc > 3 ? (uint64_t)argnum(argv[3], "SEED") : 1;

  // one environment with its default model; the action stream of global env 0
  trpo_envs* envs = NULL;
  char err[1024];
  int rc = trpo_envs_make(&envs, task, "", seed, 0, 1, err, sizeof err);
  if (rc) {
    fprintf(stderr, "bench_random_policy: %s\n", err);
    return rc;
  }
  const trpo_envinfo* info = trpo_envs_info(envs);
  int nad = info->discrete ? 1 : info->nact;
  double* obs = trpo_alloc((size_t)info->nobs * sizeof(double));
  double* act = trpo_alloc((size_t)nad * sizeof(double));
  trpo_rng rng;
  trpo_rng_seed(&rng, seed, 0, TRPO_RNG_ACTION);

  // whole episodes; returns summed with Welford's update of mean and squared deviations
  double mean = 0, m2 = 0, len = 0;
  long faults = 0;
  for (long e = 0; e < nep; e++) {
    trpo_envs_reset(envs, 0, obs);
    double ret = 0, r = 0;
    int flags = 0;
    while (!(flags & (TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED))) {
      // a uniform action in the Box, or a uniform choice
      if (info->discrete)
        act[0] = (double)trpo_rng_below(&rng, (uint64_t)info->nact);
      else
        for (int k = 0; k < nad; k++) act[k] = trpo_rng_range(&rng, info->act_lo, info->act_hi);
      flags = trpo_envs_step(envs, 0, obs, &r, act);
      ret += r;
    }
    len += trpo_envs_steps(envs, 0);
    double d = ret - mean;
    mean += d / (double)(e + 1);
    m2 += d * (ret - mean);
  }
  faults = trpo_envs_simfaults(envs);

  // one line: task, episodes, mean, std, mean length (and simulator faults, if any)
  double sd = nep > 1 ? sqrt(m2 / (double)(nep - 1)) : 0.0;
  printf("%s episodes %ld mean %.6g std %.6g len %.6g", task, nep, mean, sd, len / (double)nep);
  if (faults) printf(" sim_faults %ld", faults);
  printf("\n");
  trpo_alloc_free(obs);
  trpo_alloc_free(act);
  trpo_envs_free(envs);
  return 0;
}
