// env.c: the environments one rank holds, over the task backends of src/env_backend.h.
//
// A backend (classic control, MuJoCo) owns the simulator states. This file adds what belongs to
// the environment rather than the simulator: the step counter and the time-limit truncation, the
// per-environment reset stream (seeded from the GLOBAL environment index, so an environment
// behaves the same on whichever rank holds it) and the count of simulator faults. It does not
// auto-reset: the caller sees the final observation of an episode and calls trpo_envs_reset.
// Everything is allocated in trpo_envs_make; reset and step allocate nothing.

#include <stdio.h>
#include <string.h>

#include "env_backend.h"

#define MAXTASKS 64   // room in the list of trpo_envs_tasks

struct trpo_envs_ {
  const trpo_envbackend* backend;
  void* state;            // the backend's simulator states
  trpo_envinfo info;
  int nenv;               // environments held here
  int env_begin;          // global index of the first
  int cap;                // most environments this object can hold (trpo_envs_hold)
  uint64_t seed;
  trpo_rng* rng_reset;    // reset stream of each environment   (nenv)
  int* t;                 // env steps since reset               (nenv)
  long* faults;           // simulator faults so far             (nenv)
};

// the backends in lookup order
static const trpo_envbackend* const backends[] = {&trpo_env_classic, &trpo_env_mujoco};
#define NBACKEND ((int)(sizeof backends / sizeof backends[0]))

const char* const* trpo_envs_tasks(void) {
  // filled once from the backends' lists (static storage, never freed)
  static const char* names[MAXTASKS + 1];
  static int filled;
  if (!filled) {
    int n = 0;
    for (int b = 0; b < NBACKEND; b++)
      for (const char* const* p = backends[b]->tasks; p && *p; p++) {
        if (n >= MAXTASKS) TRPO_FATAL("more than %d tasks: raise MAXTASKS", MAXTASKS);
        names[n++] = *p;
      }
    names[n] = NULL;
    filled = 1;
  }
  return names;
}

// the backend serving task, or NULL
static const trpo_envbackend* find(const char* task) {
  for (int b = 0; b < NBACKEND; b++)
    for (const char* const* p = backends[b]->tasks; p && *p; p++)
      if (strcmp(*p, task) == 0) return backends[b];
  return NULL;
}

// message for an unknown task: its name and the list of known ones
static void unknown(const char* task, char* err, size_t nerr) {
  if (!err || nerr == 0) return;
  size_t len = (size_t)snprintf(err, nerr, "unknown task '%s'; known tasks:", task);
  const char* const* names = trpo_envs_tasks();
  for (int k = 0; names[k] && len < nerr; k++)
    len += (size_t)snprintf(err + len, nerr - len, "%s %s", k ? "," : "", names[k]);
}

int trpo_envs_make(trpo_envs** out, const char* task, const char* model_path, uint64_t seed,
                   int env_begin, int nenv, char* err, size_t nerr) {
  return trpo_envs_make_cap(out, task, model_path, seed, env_begin, nenv, nenv, err, nerr);
}

int trpo_envs_make_cap(trpo_envs** out, const char* task, const char* model_path, uint64_t seed,
                       int env_begin, int nenv, int cap, char* err, size_t nerr) {
  TRPO_CHECK(out && task && nenv >= 0 && env_begin >= 0 && cap >= nenv);
  *out = NULL;
  if (err && nerr) err[0] = '\0';

  // the backend that serves this task
  const trpo_envbackend* be = find(task);
  if (!be) {
    unknown(task, err, nerr);
    return TRPO_EXIT_BADINPUT;
  }

  // the simulators (the backend checks the model)
  trpo_envinfo info;
  void* state = NULL;
  char dummy[1];
  int rc = be->make(&state, &info, task, model_path, cap, err && nerr ? err : dummy,
                    err && nerr ? nerr : sizeof dummy);
  if (rc) return rc;
  TRPO_CHECK(info.nobs > 0 && info.nact > 0 && info.max_steps > 0 && info.nsim > 0);

  // per-environment bookkeeping; the reset stream belongs to the global index
  trpo_envs* e = trpo_alloc(sizeof *e);
  e->backend = be;
  e->state = state;
  e->info = info;
  e->nenv = nenv;
  e->cap = cap;
  e->seed = seed;
  size_t n = (size_t)(cap > 0 ? cap : 1);
  e->rng_reset = trpo_alloc(n * sizeof *e->rng_reset);
  e->t = trpo_alloc(n * sizeof *e->t);
  e->faults = trpo_alloc(n * sizeof *e->faults);
  trpo_envs_hold(e, env_begin, nenv);
  *out = e;
  return 0;
}

void trpo_envs_hold(trpo_envs* e, int env_begin, int nenv) {
  TRPO_CHECK(env_begin >= 0 && nenv >= 0 && nenv <= e->cap);
  e->nenv = nenv;
  e->env_begin = env_begin;
  for (int i = 0; i < nenv; i++) {
    trpo_rng_seed(&e->rng_reset[i], e->seed, (uint64_t)env_begin + (uint64_t)i, TRPO_RNG_RESET);
    e->t[i] = 0;
  }
}

void trpo_envs_free(trpo_envs* e) {
  if (!e) return;
  e->backend->free(e->state);
  trpo_alloc_free(e->rng_reset);
  trpo_alloc_free(e->t);
  trpo_alloc_free(e->faults);
  trpo_alloc_free(e);
}

const trpo_envinfo* trpo_envs_info(const trpo_envs* e) { return &e->info; }

int trpo_envs_count(const trpo_envs* e) { return e->nenv; }

void trpo_envs_reset(trpo_envs* e, int i, double* obs) {
  TRPO_CHECK(i >= 0 && i < e->cap);
  e->t[i] = 0;
  e->backend->reset(e->state, i, &e->rng_reset[i], obs);
}

int trpo_envs_step(trpo_envs* e, int i, double* obs, double* reward, const double* act) {
  TRPO_CHECK(i >= 0 && i < e->cap);
  // the simulator step
  int flags = e->backend->step(e->state, i, act, obs, reward);
  e->t[i]++;

  // the time limit, independent of termination (both may be set)
  if (e->t[i] >= e->info.max_steps) flags |= TRPO_ENV_TRUNCATED;

  // a simulator fault ends the episode as truncated and is counted
  if (flags & TRPO_ENV_SIMFAULT) {
    flags |= TRPO_ENV_TRUNCATED;
    e->faults[i]++;
  }
  return flags;
}

int trpo_envs_steps(const trpo_envs* e, int i) {
  TRPO_CHECK(i >= 0 && i < e->cap);
  return e->t[i];
}

long trpo_envs_simfaults(const trpo_envs* e) {
  long n = 0;
  // every slot: one past the held ones may have stepped an environment of another rank
  for (int i = 0; i < e->cap; i++) n += e->faults[i];
  return n;
}

void trpo_envs_getstate(const trpo_envs* e, int i, double* sim, trpo_rng* rng_reset, int* t) {
  TRPO_CHECK(i >= 0 && i < e->cap);
  if (sim) e->backend->getstate(e->state, i, sim);
  if (rng_reset) *rng_reset = e->rng_reset[i];
  if (t) *t = e->t[i];
}

void trpo_envs_setstate(trpo_envs* e, int i, const double* sim, const trpo_rng* rng_reset, int t) {
  TRPO_CHECK(i >= 0 && i < e->cap && t >= 0);
  e->backend->setstate(e->state, i, sim);
  e->rng_reset[i] = *rng_reset;
  e->t[i] = t;
}
