// env_classic.c: the classic-control backend (CartPole-v1, Pendulum-v1, Acrobot-v1,
// MountainCarContinuous-v0), pure C in double precision.
//
// Each task is a table entry: sizes plus reset, step and observe functions over a small state
// vector, following /work/shared/TASKS.md section 4 to the letter (integration order, reward on
// the terminating step, the clipping of each action). This file knows nothing of time limits,
// step counters or random-stream bookkeeping: src/env.c adds those. It is not a MuJoCo task and
// reads no model file. A step whose new state or reward is not finite is undone and reported as
// TRPO_ENV_SIMFAULT, so the caller keeps the last finite observation.

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "env_backend.h"

#define MAXSIM 4      // largest state of a classic task
#define PI 3.14159265358979323846

typedef struct task_ {
  const char* name;
  int nobs, nact, discrete, nsim, max_steps;
  double act_lo, act_hi;
  void (*reset)(double* s, trpo_rng* rng);
  // advance s in place with act; write the reward; return 1 when terminated
  int (*step)(double* s, const double* act, double* reward);
  void (*observe)(const double* s, double* obs);
} task;

typedef struct classic_ {
  const task* task;
  int nenv;
  double* s;    // simulator states (nenv x MAXSIM)
} classic;

// the index held by a discrete action, or fatal when it is not one of 0 .. n-1
static int choice(const double* act, int n) {
  double a = act[0];
  if (!(a >= 0 && a < n) || a != floor(a))
    TRPO_FATAL("discrete action %g is not an index in 0..%d", a, n - 1);
  return (int)a;
}

// x limited to [lo, hi]; NaN passes through (and then shows as a fault)
static double clip(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

//---------------------------------- CartPole-v1 ----------------------------------------------------

static void cartpole_reset(double* s, trpo_rng* rng) {
  for (int k = 0; k < 4; k++) s[k] = trpo_rng_range(rng, -0.05, 0.05);
}

static int cartpole_step(double* s, const double* act, double* reward) {
  // constants: g, cart and pole mass, total mass, pole half-length, force, tau
  const double g = 9.8, mp = 0.1, mtot = 1.1, l = 0.5, tau = 0.02;
  double f = choice(act, 2) == 1 ? 10.0 : -10.0;
  double x = s[0], xd = s[1], th = s[2], thd = s[3];

  // accelerations of the cart-pole (Barto, Sutton and Anderson 1983, as in Gymnasium)
  double c = cos(th), sn = sin(th);
  double temp = (f + mp * l * thd * thd * sn) / mtot;
  double thacc = (g * sn - c * temp) / (l * (4.0 / 3.0 - mp * c * c / mtot));
  double xacc = temp - mp * l * thacc * c / mtot;

  // explicit Euler: every right-hand side uses the old state
  s[0] = x + tau * xd;
  s[1] = xd + tau * xacc;
  s[2] = th + tau * thd;
  s[3] = thd + tau * thacc;

  // +1 on every step, the terminating one included; terminate on the new state
  const double xlim = 2.4, thlim = 12 * 2 * PI / 360;
  *reward = 1.0;
  return s[0] < -xlim || s[0] > xlim || s[2] < -thlim || s[2] > thlim;
}

static void cartpole_observe(const double* s, double* obs) { memcpy(obs, s, 4 * sizeof *obs); }

//---------------------------------- Pendulum-v1 ----------------------------------------------------

static void pendulum_reset(double* s, trpo_rng* rng) {
  s[0] = trpo_rng_range(rng, -PI, PI);
  s[1] = trpo_rng_range(rng, -1.0, 1.0);
}

// ((x + pi) mod 2 pi) - pi with a floored modulo, in [-pi, pi)
static double angle_normalize(double x) {
  double m = fmod(x + PI, 2 * PI);
  if (m < 0) m += 2 * PI;
  return m - PI;
}

static int pendulum_step(double* s, const double* act, double* reward) {
  // constants: g, m, l, dt, max speed; the torque is clipped for dynamics and cost
  const double g = 10.0, m = 1.0, l = 1.0, dt = 0.05, maxspeed = 8.0;
  double u = clip(act[0], -2.0, 2.0);
  double th = s[0], thd = s[1];

  // cost on the state before the update
  double an = angle_normalize(th);
  *reward = -(an * an + 0.1 * thd * thd + 0.001 * u * u);

  // semi-implicit Euler: new velocity (clipped) first, then the angle with it
  double thd1 = thd + (3 * g / (2 * l) * sin(th) + 3.0 / (m * l * l) * u) * dt;
  thd1 = clip(thd1, -maxspeed, maxspeed);
  s[0] = th + thd1 * dt;
  s[1] = thd1;
  return 0;
}

static void pendulum_observe(const double* s, double* obs) {
  obs[0] = cos(s[0]);
  obs[1] = sin(s[0]);
  obs[2] = s[1];
}

//---------------------------------- Acrobot-v1 -----------------------------------------------------

static void acrobot_reset(double* s, trpo_rng* rng) {
  for (int k = 0; k < 4; k++) s[k] = trpo_rng_range(rng, -0.1, 0.1);
}

// time derivative of (th1, th2, thd1, thd2) under torque tau on joint 2 ("book" dynamics)
static void acrobot_deriv(double* ds, const double* s, double tau) {
  const double m1 = 1, m2 = 1, l1 = 1, lc1 = 0.5, lc2 = 0.5, i1 = 1, i2 = 1, g = 9.8;
  double th1 = s[0], th2 = s[1], thd1 = s[2], thd2 = s[3];
  double d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2 * l1 * lc2 * cos(th2)) + i1 + i2;
  double d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos(th2)) + i2;
  double phi2 = m2 * lc2 * g * cos(th1 + th2 - PI / 2.0);
  double phi1 = -m2 * l1 * lc2 * thd2 * thd2 * sin(th2) -
                2 * m2 * l1 * lc2 * thd2 * thd1 * sin(th2) +
                (m1 * lc1 + m2 * l1) * g * cos(th1 - PI / 2) + phi2;
  double thdd2 = (tau + d2 / d1 * phi1 - m2 * l1 * lc2 * thd1 * thd1 * sin(th2) - phi2) /
                 (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
  double thdd1 = -(d2 * thdd2 + phi1) / d1;
  ds[0] = thd1;
  ds[1] = thd2;
  ds[2] = thdd1;
  ds[3] = thdd2;
}

// x brought into [-pi, pi] by whole turns (a non-finite x is left to the fault check)
static double wrap(double x) {
  if (!isfinite(x)) return x;
  while (x > PI) x -= 2 * PI;
  while (x < -PI) x += 2 * PI;
  return x;
}

static int acrobot_step(double* s, const double* act, double* reward) {
  const double dt = 0.2;
  double tau = choice(act, 3) - 1.0;

  // one classical RK4 step of length dt with the torque held
  double k1[4], k2[4], k3[4], k4[4], y[4];
  acrobot_deriv(k1, s, tau);
  for (int k = 0; k < 4; k++) y[k] = s[k] + dt / 2 * k1[k];
  acrobot_deriv(k2, y, tau);
  for (int k = 0; k < 4; k++) y[k] = s[k] + dt / 2 * k2[k];
  acrobot_deriv(k3, y, tau);
  for (int k = 0; k < 4; k++) y[k] = s[k] + dt * k3[k];
  acrobot_deriv(k4, y, tau);
  for (int k = 0; k < 4; k++) s[k] += dt / 6.0 * (k1[k] + 2 * k2[k] + 2 * k3[k] + k4[k]);

  // wrap the angles, clip the velocities
  s[0] = wrap(s[0]);
  s[1] = wrap(s[1]);
  s[2] = clip(s[2], -4 * PI, 4 * PI);
  s[3] = clip(s[3], -9 * PI, 9 * PI);

  // terminal when the tip is one link length above the pivot; -1 except on that step
  int term = -cos(s[0]) - cos(s[1] + s[0]) > 1.0;
  *reward = term ? 0.0 : -1.0;
  return term;
}

static void acrobot_observe(const double* s, double* obs) {
  obs[0] = cos(s[0]);
  obs[1] = sin(s[0]);
  obs[2] = cos(s[1]);
  obs[3] = sin(s[1]);
  obs[4] = s[2];
  obs[5] = s[3];
}

//---------------------------------- MountainCarContinuous-v0 ---------------------------------------

static void mountaincar_reset(double* s, trpo_rng* rng) {
  s[0] = trpo_rng_range(rng, -0.6, -0.4);
  s[1] = 0.0;
}

static int mountaincar_step(double* s, const double* act, double* reward) {
  const double power = 0.0015, maxspeed = 0.07, pmin = -1.2, pmax = 0.6;
  double a = act[0], f = clip(a, -1.0, 1.0);
  double p = s[0], v = s[1];

  // velocity from the old position, clipped; then position, clipped; stop at the left wall
  v += f * power - 0.0025 * cos(3 * p);
  v = clip(v, -maxspeed, maxspeed);
  p += v;
  p = clip(p, pmin, pmax);
  if (p == pmin && v < 0) v = 0;
  s[0] = p;
  s[1] = v;

  // goal reached: +100 on that step; the action cost uses the unclipped action
  int term = p >= 0.45 && v >= 0.0;
  *reward = (term ? 100.0 : 0.0) - 0.1 * a * a;
  return term;
}

static void mountaincar_observe(const double* s, double* obs) { memcpy(obs, s, 2 * sizeof *obs); }

//---------------------------------- the table and the backend --------------------------------------

static const task tasks[] = {
    {"CartPole-v1", 4, 2, 1, 4, 500, 0, 1, cartpole_reset, cartpole_step, cartpole_observe},
    {"Pendulum-v1", 3, 1, 0, 2, 200, -2, 2, pendulum_reset, pendulum_step, pendulum_observe},
    {"Acrobot-v1", 6, 3, 1, 4, 500, 0, 2, acrobot_reset, acrobot_step, acrobot_observe},
    {"MountainCarContinuous-v0", 2, 1, 0, 2, 999, -1, 1, mountaincar_reset, mountaincar_step,
     mountaincar_observe},
};
#define NTASK ((int)(sizeof tasks / sizeof tasks[0]))

static const char* const names[] = {"CartPole-v1", "Pendulum-v1", "Acrobot-v1",
                                    "MountainCarContinuous-v0", NULL};

static int make(void** state, trpo_envinfo* info, const char* name, const char* model_path,
                int nenv, char* err, size_t nerr) {
  // find the task
  const task* tk = NULL;
  for (int k = 0; k < NTASK; k++)
    if (strcmp(tasks[k].name, name) == 0) tk = &tasks[k];
  if (!tk) {
    snprintf(err, nerr, "task '%s' is not a classic-control task", name);
    return TRPO_EXIT_BADINPUT;
  }
  // a classic task has no model file: a given one is a mistake, not something to ignore
  if (model_path && model_path[0]) {
    snprintf(err, nerr, "model '%s' given, but %s is a classic-control task that reads no model",
             model_path, name);
    return TRPO_EXIT_BADINPUT;
  }
  TRPO_CHECK(nenv >= 0);

  // sizes; a discrete task's bounds are the range of its action index
  memset(info, 0, sizeof *info);
  snprintf(info->name, sizeof info->name, "%s", tk->name);
  info->nobs = tk->nobs;
  info->nact = tk->nact;
  info->discrete = tk->discrete;
  info->act_lo = tk->act_lo;
  info->act_hi = tk->act_hi;
  info->max_steps = tk->max_steps;
  info->nsim = tk->nsim;
  info->substeps = 1;

  // the states, zero until the first reset
  classic* c = trpo_alloc(sizeof *c);
  c->task = tk;
  c->nenv = nenv;
  c->s = trpo_alloc((size_t)(nenv > 0 ? nenv : 1) * MAXSIM * sizeof *c->s);
  *state = c;
  return 0;
}

static void cfree(void* state) {
  classic* c = state;
  if (!c) return;
  trpo_alloc_free(c->s);
  trpo_alloc_free(c);
}

static void reset(void* state, int i, trpo_rng* rng, double* obs) {
  classic* c = state;
  TRPO_CHECK(i >= 0 && i < c->nenv);
  double* s = c->s + (size_t)i * MAXSIM;
  c->task->reset(s, rng);
  c->task->observe(s, obs);
}

static int step(void* state, int i, const double* act, double* obs, double* reward) {
  classic* c = state;
  TRPO_CHECK(i >= 0 && i < c->nenv);
  const task* tk = c->task;
  double* s = c->s + (size_t)i * MAXSIM;

  // advance a copy, so that a non-finite result can be undone
  double s1[MAXSIM], r = 0;
  memcpy(s1, s, sizeof s1);
  int term = tk->step(s1, act, &r);

  // fault: keep the old state, report its observation and a zero reward
  int finite = isfinite(r);
  for (int k = 0; k < tk->nsim; k++) finite = finite && isfinite(s1[k]);
  if (!finite) {
    tk->observe(s, obs);
    *reward = 0.0;
    return TRPO_ENV_SIMFAULT;
  }

  // accept the step
  memcpy(s, s1, sizeof s1);
  tk->observe(s, obs);
  *reward = r;
  return term ? TRPO_ENV_TERMINATED : 0;
}

static void getstate(const void* state, int i, double* sim) {
  const classic* c = state;
  TRPO_CHECK(i >= 0 && i < c->nenv);
  memcpy(sim, c->s + (size_t)i * MAXSIM, (size_t)c->task->nsim * sizeof *sim);
}

static void setstate(void* state, int i, const double* sim) {
  classic* c = state;
  TRPO_CHECK(i >= 0 && i < c->nenv);
  memcpy(c->s + (size_t)i * MAXSIM, sim, (size_t)c->task->nsim * sizeof *sim);
}

const trpo_envbackend trpo_env_classic = {
    .tasks = names,
    .make = make,
    .free = cfree,
    .reset = reset,
    .step = step,
    .getstate = getstate,
    .setstate = setstate,
};
