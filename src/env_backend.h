// env_backend.h: what a family of tasks (classic control, MuJoCo) provides to src/env.c.
//
// Private to the env module. A backend owns the simulator state of nenv environments and knows
// nothing of ranks, time limits or random-stream bookkeeping: env.c adds the step counter, the
// time-limit truncation, the per-environment reset streams and the fault counter.

#ifndef TRPO_ENV_BACKEND_H
#define TRPO_ENV_BACKEND_H

#include "trpo/trpo.h"

typedef struct trpo_envbackend_ {
  const char* const* tasks;   // task names this backend serves, NULL-terminated
  // make nenv environments of a task; fill info (all fields); 0, or TRPO_EXIT_BADINPUT + message
  int (*make)(void** state, trpo_envinfo* info, const char* task, const char* model_path,
              int nenv, char* err, size_t nerr);
  void (*free)(void* state);
  // reset env i with its reset stream and write the first observation
  void (*reset)(void* state, int i, trpo_rng* rng, double* obs);
  // one env step: write observation and reward; return TRPO_ENV_TERMINATED and/or
  // TRPO_ENV_SIMFAULT (then obs holds the last finite observation and reward is finite)
  int (*step)(void* state, int i, const double* act, double* obs, double* reward);
  // simulator state of env i as info->nsim doubles (everything the next step reads)
  void (*getstate)(const void* state, int i, double* sim);
  void (*setstate)(void* state, int i, const double* sim);
} trpo_envbackend;

extern const trpo_envbackend trpo_env_classic;   // src/env_classic.c
extern const trpo_envbackend trpo_env_mujoco;    // src/env_mujoco.c

#endif  // TRPO_ENV_BACKEND_H
