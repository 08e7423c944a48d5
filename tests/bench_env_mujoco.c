// bench_env_mujoco.c: env steps per second of the MuJoCo driver against its physics limit.
//
// For each task (all the backend serves, or those named on the command line): an untimed pass
// records uniform random actions in the Box and where the driver's episodes end (termination or
// time limit) with the state each reset drew. Then, alternating five times, the timed runs:
// "limit", a bare loop that replays those actions and resets calling only the MuJoCo functions
// the task needs (ctrl, mj_step x frame_skip, mj_rnePostConstraint where needed, and
// mj_resetData + mj_forward at resets); "driver", the same steps through trpo_env_mujoco; and
// "limit, fast reset", the bare loop with the driver's reset in place of mj_resetData
// (trpo_env_mujoco_resetdata: the same mjData without clearing the 3 MB of constraint rows MuJoCo
// did not write, so where episodes are short the driver outruns the first limit). Prints the
// median of each, the driver's ratio to the limit and to the limit with the fast reset. Times are
// the thread's CPU time, so that other processes on a shared machine do not count (they still
// share caches). Last, "state": one
// environment's simulator state out (getstate) and into another (setstate), in microseconds, the
// median of NREP runs of NSTATE pairs: what handing an environment on between chunks of sharing
// the sampling costs (src/train.c pack_env / unpack_env, which add a few small copies). One core,
// one environment; not a CTest case.

#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env_backend.h"
#include "env_mujoco.h"
#include "benchutil.h"

#define NREP 5
#define TARGET_S 0.25   // seconds per timed run
#define NSTATE 20000    // state pairs per timed run

typedef struct record_ {
  int n;               // env steps
  double* act;         // actions (n x nact)
  unsigned char* end;  // 1: the episode ended at this step and the env was reset (n)
  double* start;       // qpos, qvel after each reset, the first one included (nreset x (nq+nv))
  int nreset;
} record;

static void* make(const char* task, int nenv, trpo_envinfo* info) {
  void* s = NULL;
  char err[1024];
  if (trpo_env_mujoco.make(&s, info, task, "", nenv, err, sizeof err)) {
    fprintf(stderr, "bench_env_mujoco: %s\n", err);
    exit(2);
  }
  return s;
}

// the untimed pass: actions, episode ends and reset states of n driver steps of env 0
static void recordrun(void* s, const trpo_envinfo* info, record* r, int n) {
  const trpo_envbackend* b = &trpo_env_mujoco;
  const mjModel* m;
  mjData* d;
  trpo_env_mujoco_data(s, 0, &m, &d);
  int nqv = m->nq + m->nv;
  r->n = n;
  r->act = trpo_alloc((size_t)n * (size_t)info->nact * sizeof(double));
  r->end = trpo_alloc((size_t)n);
  r->start = trpo_alloc((size_t)(n + 1) * (size_t)nqv * sizeof(double));
  r->nreset = 0;
  // random actions, uniform in the Box
  trpo_rng ra, rr;
  trpo_rng_seed(&ra, 1, 0, TRPO_RNG_ACTION);
  trpo_rng_seed(&rr, 1, 0, TRPO_RNG_RESET);
  for (long k = 0; k < (long)n * info->nact; k++)
    r->act[k] = trpo_rng_range(&ra, info->act_lo, info->act_hi);
  // the driver's episodes, keeping each reset's state
  double obs[512], rew;
  b->reset(s, 0, &rr, obs);
  memcpy(r->start, d->qpos, (size_t)m->nq * sizeof(double));
  memcpy(r->start + m->nq, d->qvel, (size_t)m->nv * sizeof(double));
  r->nreset = 1;
  for (int t = 0, len = 0; t < n; t++) {
    int flags = b->step(s, 0, r->act + (size_t)t * info->nact, obs, &rew);
    if (flags || ++len == info->max_steps) {
      b->reset(s, 0, &rr, obs);
      double* x = r->start + (size_t)r->nreset++ * nqv;
      memcpy(x, d->qpos, (size_t)m->nq * sizeof(double));
      memcpy(x + m->nq, d->qvel, (size_t)m->nv * sizeof(double));
      r->end[t] = 1;
      len = 0;
    }
  }
}

// the physics limit: the recorded steps and resets with MuJoCo calls only (env 1's mjData), or
// (fast) with the driver's reset in place of mj_resetData
static double limitrun(void* s, const trpo_mjtask* t, const record* r, int fast) {
  void (*resetdata)(const mjModel*, mjData*) = fast ? trpo_env_mujoco_resetdata : mj_resetData;
  const mjModel* m;
  mjData* d;
  trpo_env_mujoco_data(s, 1, &m, &d);
  int nq = m->nq, nv = m->nv, nu = m->nu, nreset = 0;
  double t0 = bench_cpu_now();
  // the first reset
  resetdata(m, d);
  memcpy(d->qpos, r->start, (size_t)nq * sizeof(double));
  memcpy(d->qvel, r->start + nq, (size_t)nv * sizeof(double));
  mj_forward(m, d);
  nreset++;
  for (int k = 0; k < r->n; k++) {
    // step
    memcpy(d->ctrl, r->act + (size_t)k * nu, (size_t)nu * sizeof(double));
    for (int j = 0; j < t->frame_skip; j++) mj_step(m, d);
    if (t->needs_rne) mj_rnePostConstraint(m, d);
    // reset where the driver's episode ended
    if (r->end[k]) {
      const double* x = r->start + (size_t)nreset++ * (nq + nv);
      resetdata(m, d);
      memcpy(d->qpos, x, (size_t)nq * sizeof(double));
      memcpy(d->qvel, x + nq, (size_t)nv * sizeof(double));
      mj_forward(m, d);
    }
  }
  return r->n / (bench_cpu_now() - t0);
}

// the driver: the same actions, resetting where its episodes end (the same reset stream)
static double driverrun(void* s, const trpo_envinfo* info, const record* r) {
  const trpo_envbackend* b = &trpo_env_mujoco;
  trpo_rng rr;
  trpo_rng_seed(&rr, 1, 0, TRPO_RNG_RESET);
  double obs[512], rew;
  int nend = 0;
  double t0 = bench_cpu_now();
  b->reset(s, 0, &rr, obs);
  for (int t = 0, len = 0; t < r->n; t++) {
    int flags = b->step(s, 0, r->act + (size_t)t * info->nact, obs, &rew);
    if (flags || ++len == info->max_steps) {
      b->reset(s, 0, &rr, obs);
      len = 0;
      nend++;
    }
  }
  double rate = r->n / (bench_cpu_now() - t0);
  // the replay must have followed the recorded episodes
  if (nend != r->nreset - 1) {
    fprintf(stderr, "bench_env_mujoco: %s: %d episode ends, recorded %d\n", info->name, nend,
            r->nreset - 1);
    exit(1);
  }
  return rate;
}

// microseconds per getstate of one environment and setstate of the other (2 environments)
static double staterun(void* s, const trpo_envinfo* info) {
  double* buf = trpo_alloc((size_t)info->nsim * sizeof(double));
  double t0 = bench_cpu_now();
  for (int k = 0; k < NSTATE; k++) {
    trpo_env_mujoco.getstate(s, k & 1, buf);
    trpo_env_mujoco.setstate(s, (k & 1) ^ 1, buf);
  }
  double us = (bench_cpu_now() - t0) / NSTATE * 1e6;
  trpo_alloc_free(buf);
  return us;
}

static void bench(const char* task) {
  const trpo_mjtask* t = trpo_mjtask_find(task);
  if (!t) {
    fprintf(stderr, "bench_env_mujoco: unknown MuJoCo task %s\n", task);
    exit(2);
  }
  trpo_envinfo info;
  void* s = make(task, 2, &info);
  // size the runs to about TARGET_S seconds from a short calibration
  record cal;
  double t0 = bench_cpu_now();
  recordrun(s, &info, &cal, 2000);
  int n = (int)(TARGET_S * 2000 / (bench_cpu_now() - t0));
  if (n < 2000) n = 2000;
  record r;
  recordrun(s, &info, &r, n);
  // alternate limit, driver and limit with the fast reset
  double lim[NREP], drv[NREP], limf[NREP];
  limitrun(s, t, &r, 0);   // warm caches
  for (int k = 0; k < NREP; k++) {
    lim[k] = limitrun(s, t, &r, 0);
    drv[k] = driverrun(s, &info, &r);
    limf[k] = limitrun(s, t, &r, 1);
  }
  double l = bench_median(lim, NREP), dv = bench_median(drv, NREP), lf = bench_median(limf, NREP);
  double st[NREP];
  for (int k = 0; k < NREP; k++) st[k] = staterun(s, &info);
  printf("%-26s %12.0f %12.0f %7.3f %8d %7d %10.3f %12.0f %7.3f\n", task, l, dv, dv / l, n,
         r.nreset - 1, bench_median(st, NREP), lf, dv / lf);
  fflush(stdout);
  trpo_alloc_free(cal.act), trpo_alloc_free(cal.end), trpo_alloc_free(cal.start);
  trpo_alloc_free(r.act), trpo_alloc_free(r.end), trpo_alloc_free(r.start);
  trpo_env_mujoco.free(s);
}

int main(int argc, char** argv) {
  printf("%-26s %12s %12s %7s %8s %7s %10s %12s %7s\n", "task", "limit [1/s]", "driver [1/s]",
         "ratio", "steps", "resets", "state [us]", "limit_f [1/s]", "ratio_f");
  if (argc > 1)
    for (int k = 1; k < argc; k++) bench(argv[k]);
  else
    for (int k = 0; trpo_env_mujoco.tasks[k]; k++) bench(trpo_env_mujoco.tasks[k]);
  return 0;
}
