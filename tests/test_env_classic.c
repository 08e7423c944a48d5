// test_env_classic.c: the classic-control backend against the check values of TASKS.md section 4.
//
// The backend is driven directly (no time limit, no step counter): setstate places the stated
// start state, a fixed policy runs, and the episode length and return must equal the published
// figures to the stated digits. Also: action clipping, reset distributions, and that an
// out-of-range discrete action is fatal.

#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env_backend.h"

static const trpo_envbackend* be = &trpo_env_classic;

typedef struct episode_ { int steps; int terminated; double ret; } episode;

// policy: the action for the observation obs and the current state s at step k
typedef void (*policy)(double* act, const double* obs, const double* s, int k);

// a backend made for one env of task with info filled
static void* make1(const char* task, trpo_envinfo* info) {
  void* st = NULL;
  char err[256];
  int rc = be->make(&st, info, task, "", 1, err, sizeof err);
  assert_int_equal(rc, 0);
  assert_non_null(st);
  return st;
}

// run from the start state s0 until termination or maxsteps; the return includes the last step
static episode run(const char* task, const double* s0, policy pol, int maxsteps) {
  trpo_envinfo info;
  void* st = make1(task, &info);
  be->setstate(st, 0, s0);
  double obs[8] = {0}, s[4] = {0}, act[1], r;
  episode ep = {0, 0, 0.0};
  while (ep.steps < maxsteps) {
    be->getstate(st, 0, s);
    pol(act, obs, s, ep.steps);
    int flags = be->step(st, 0, act, obs, &r);
    assert_false(flags & TRPO_ENV_SIMFAULT);
    ep.steps++;
    ep.ret += r;
    if (flags & TRPO_ENV_TERMINATED) {
      ep.terminated = 1;
      break;
    }
  }
  be->free(st);
  return ep;
}

//---------------------------------- CartPole-v1 ----------------------------------------------------

static void always1(double* a, const double* o, const double* s, int k) { (void)o, (void)s, (void)k; a[0] = 1; }
static void alternate(double* a, const double* o, const double* s, int k) { (void)o, (void)s; a[0] = k % 2 == 0; }
static void balance(double* a, const double* o, const double* s, int k) {
  (void)o, (void)k;
  a[0] = s[2] + 0.5 * s[3] > 0;
}

static void test_cartpole_checks(void** unused) {
  (void)unused;
  const double s0[4] = {0, 0, 0.01, 0};
  // always push right: falls at step 10 with +1 on every step, the last included
  episode ep = run("CartPole-v1", s0, always1, 1000);
  assert_true(ep.terminated);
  assert_int_equal(ep.steps, 10);
  assert_true(ep.ret == 10.0);
  // alternating, starting with 1
  ep = run("CartPole-v1", s0, alternate, 1000);
  assert_true(ep.terminated);
  assert_int_equal(ep.steps, 37);
  assert_true(ep.ret == 37.0);
  // the controller survives the time limit
  ep = run("CartPole-v1", s0, balance, 500);
  assert_false(ep.terminated);
  assert_int_equal(ep.steps, 500);
}

static void test_cartpole_observation(void** unused) {
  (void)unused;
  // one step by hand from s0 with action 1: explicit Euler uses the old velocities
  trpo_envinfo info;
  void* st = make1("CartPole-v1", &info);
  const double s0[4] = {0, 0, 0.01, 0};
  be->setstate(st, 0, s0);
  double obs[4], r, act[1] = {1};
  int flags = be->step(st, 0, act, obs, &r);
  assert_int_equal(flags, 0);
  double temp = 10.0 / 1.1;
  double thacc = (9.8 * sin(0.01) - cos(0.01) * temp) /
                 (0.5 * (4.0 / 3.0 - 0.1 * cos(0.01) * cos(0.01) / 1.1));
  double xacc = temp - 0.05 * thacc * cos(0.01) / 1.1;
  assert_true(obs[0] == 0.0);
  assert_true(fabs(obs[1] - 0.02 * xacc) < 1e-15);
  assert_true(obs[2] == 0.01);
  assert_true(fabs(obs[3] - 0.02 * thacc) < 1e-15);
  // the observation is the state
  double s[4];
  be->getstate(st, 0, s);
  assert_memory_equal(s, obs, sizeof s);
  be->free(st);
}

// flags of one CartPole step with action 0 from s0
static int cartpole_flags(double x, double xd, double th, double thd) {
  trpo_envinfo info;
  void* st = make1("CartPole-v1", &info);
  const double s0[4] = {x, xd, th, thd};
  double obs[4], r, act[1] = {0};
  be->setstate(st, 0, s0);
  int flags = be->step(st, 0, act, obs, &r);
  assert_true(r == 1.0);
  be->free(st);
  return flags;
}

static void test_cartpole_limits(void** unused) {
  (void)unused;
  // the new angle 0.2 + 0.02 thd against 12 deg = 0.20943951 rad, either side
  assert_int_equal(cartpole_flags(0, 0, 0.2, 0.48), TRPO_ENV_TERMINATED);   // 0.2096
  assert_int_equal(cartpole_flags(0, 0, 0.2, 0.47), 0);                     // 0.2094
  assert_int_equal(cartpole_flags(0, 0, -0.2, -0.48), TRPO_ENV_TERMINATED);
  assert_int_equal(cartpole_flags(0, 0, -0.2, -0.47), 0);
  // the new cart position 2.39 + 0.02 xd against 2.4
  assert_int_equal(cartpole_flags(2.39, 1.0, 0, 0), TRPO_ENV_TERMINATED);   // 2.41
  assert_int_equal(cartpole_flags(2.39, 0.4, 0, 0), 0);                     // 2.398
  assert_int_equal(cartpole_flags(-2.39, -1.0, 0, 0), TRPO_ENV_TERMINATED);
}

//---------------------------------- Pendulum-v1 ----------------------------------------------------

static void torque0(double* a, const double* o, const double* s, int k) { (void)o, (void)s, (void)k; a[0] = 0; }
static void torque2(double* a, const double* o, const double* s, int k) { (void)o, (void)s, (void)k; a[0] = 2; }
static void torque5(double* a, const double* o, const double* s, int k) { (void)o, (void)s, (void)k; a[0] = 5; }

static void test_pendulum_checks(void** unused) {
  (void)unused;
  const double s0[2] = {1, 0};
  // 200 steps from (1, 0): never terminates; returns to 4 decimals
  episode ep = run("Pendulum-v1", s0, torque0, 200);
  assert_false(ep.terminated);
  assert_int_equal(ep.steps, 200);
  assert_true(fabs(ep.ret - -1067.4522) < 5e-5);
  ep = run("Pendulum-v1", s0, torque2, 200);
  assert_true(fabs(ep.ret - -1677.6000) < 5e-5);
  // a torque beyond the bound is clipped for the dynamics and the cost alike
  episode ep5 = run("Pendulum-v1", s0, torque5, 200);
  assert_true(ep5.ret == ep.ret);
}

static void test_pendulum_step(void** unused) {
  (void)unused;
  // one step by hand from (th, thd) = (4, 1), u = 1: the cost uses the wrapped angle 4 - 2 pi
  trpo_envinfo info;
  void* st = make1("Pendulum-v1", &info);
  const double s0[2] = {4, 1};
  be->setstate(st, 0, s0);
  double obs[3], r, act[1] = {1};
  assert_int_equal(be->step(st, 0, act, obs, &r), 0);
  double an = 4 - 2 * M_PI;
  assert_true(fabs(r - -(an * an + 0.1 + 0.001)) < 1e-14);
  double thd = 1 + (15 * sin(4.0) + 3) * 0.05;
  assert_true(fabs(obs[2] - thd) < 1e-14);
  assert_true(fabs(obs[0] - cos(4 + thd * 0.05)) < 1e-14);
  assert_true(fabs(obs[1] - sin(4 + thd * 0.05)) < 1e-14);
  // a negative angle wraps up: cost of th = -4 uses -4 + 2 pi
  const double sn[2] = {-4, 0};
  be->setstate(st, 0, sn);
  act[0] = 0;
  be->step(st, 0, act, obs, &r);
  an = -4 + 2 * M_PI;
  assert_true(fabs(r - -an * an) < 1e-14);
  // the velocity is clipped to 8
  const double s1[2] = {1, 7.9};
  be->setstate(st, 0, s1);
  act[0] = 2;
  be->step(st, 0, act, obs, &r);
  assert_true(obs[2] == 8.0);
  double s[2];
  be->getstate(st, 0, s);
  assert_true(s[0] == 1 + 8.0 * 0.05);
  be->free(st);
}

//---------------------------------- Acrobot-v1 -----------------------------------------------------

static void pump(double* a, const double* o, const double* s, int k) {
  (void)o, (void)k;
  a[0] = s[3] >= 0 ? 2 : 0;   // torque +1 is index 2, -1 is index 0
}

static void test_acrobot_checks(void** unused) {
  (void)unused;
  const double s0[4] = {0, 0, 0, 0};
  episode ep = run("Acrobot-v1", s0, pump, 500);
  assert_true(ep.terminated);
  assert_int_equal(ep.steps, 73);
  assert_true(ep.ret == -72.0);
}

static void test_acrobot_limits(void** unused) {
  (void)unused;
  // velocities beyond the limits are clipped to exactly 4 pi and 9 pi
  trpo_envinfo info;
  void* st = make1("Acrobot-v1", &info);
  const double s0[4] = {0, 0, 30, -60};
  double obs[6], s[4], r, act[1] = {1};
  be->setstate(st, 0, s0);
  be->step(st, 0, act, obs, &r);
  be->getstate(st, 0, s);
  assert_true(s[2] == 4 * M_PI && s[3] == -9 * M_PI);
  // the tip above one link length terminates with reward 0: (pi, 0) is straight up
  const double s1[4] = {3.0, 0, 0, 0};
  be->setstate(st, 0, s1);
  assert_int_equal(be->step(st, 0, act, obs, &r), TRPO_ENV_TERMINATED);
  assert_true(r == 0.0);
  be->free(st);
}

static void test_acrobot_wrap_and_observation(void** unused) {
  (void)unused;
  // many random steps: angles stay in [-pi, pi], velocities within their limits, obs = f(state)
  trpo_envinfo info;
  void* st = make1("Acrobot-v1", &info);
  trpo_rng rng;
  trpo_rng_seed(&rng, 7, 0, 99);
  double obs[6], s[4], r, act[1];
  be->reset(st, 0, &rng, obs);
  for (int k = 0; k < 2000; k++) {
    act[0] = (double)trpo_rng_below(&rng, 3);
    int flags = be->step(st, 0, act, obs, &r);
    be->getstate(st, 0, s);
    assert_true(fabs(s[0]) <= M_PI && fabs(s[1]) <= M_PI);
    assert_true(fabs(s[2]) <= 4 * M_PI && fabs(s[3]) <= 9 * M_PI);
    double want[6] = {cos(s[0]), sin(s[0]), cos(s[1]), sin(s[1]), s[2], s[3]};
    assert_memory_equal(obs, want, sizeof want);
    assert_true(r == ((flags & TRPO_ENV_TERMINATED) ? 0.0 : -1.0));
    if (flags & TRPO_ENV_TERMINATED) be->reset(st, 0, &rng, obs);
  }
  be->free(st);
}

//---------------------------------- MountainCarContinuous-v0 ---------------------------------------

static void bang(double* a, const double* o, const double* s, int k) {
  (void)o, (void)k;
  a[0] = s[1] >= 0 ? 1 : -1;
}
static void plus1(double* a, const double* o, const double* s, int k) { (void)o, (void)s, (void)k; a[0] = 1; }

static void test_mountaincar_checks(void** unused) {
  (void)unused;
  const double s0[2] = {-0.5, 0};
  // bang-bang on the velocity sign: the goal at step 106, return 100 - 0.1 * 106
  episode ep = run("MountainCarContinuous-v0", s0, bang, 999);
  assert_true(ep.terminated);
  assert_int_equal(ep.steps, 106);
  assert_true(fabs(ep.ret - 89.4) < 1e-9);
  // constant +1 never makes it within 999 steps
  ep = run("MountainCarContinuous-v0", s0, plus1, 999);
  assert_false(ep.terminated);
  assert_int_equal(ep.steps, 999);
  assert_true(fabs(ep.ret - -99.9) < 1e-9);
}

static void test_mountaincar_clip(void** unused) {
  (void)unused;
  // a = 3 moves the car like a = 1, but costs 0.1 * 9
  trpo_envinfo info;
  void* st = make1("MountainCarContinuous-v0", &info);
  const double s0[2] = {-0.5, 0.01};
  double obs1[2], obs3[2], r1, r3, a1[1] = {1}, a3[1] = {3};
  be->setstate(st, 0, s0);
  be->step(st, 0, a1, obs1, &r1);
  be->setstate(st, 0, s0);
  be->step(st, 0, a3, obs3, &r3);
  assert_memory_equal(obs1, obs3, sizeof obs1);
  assert_true(fabs(r1 - -0.1) < 1e-15 && fabs(r3 - -0.9) < 1e-15);
  // by hand: v from the old position, then p with the new v
  double v = 0.01 + (1 * 0.0015 - 0.0025 * cos(-1.5));
  assert_true(obs1[1] == v && obs1[0] == -0.5 + v);
  // past the goal but rolling back is not the goal; rolling forward is, with +100
  const double s2[2] = {0.5, -0.01}, s3[2] = {0.44, 0.02};
  a1[0] = -1;
  be->setstate(st, 0, s2);
  assert_int_equal(be->step(st, 0, a1, obs1, &r1), 0);
  assert_true(obs1[0] >= 0.45 && obs1[1] < 0);
  a1[0] = 0.5;
  be->setstate(st, 0, s3);
  assert_int_equal(be->step(st, 0, a1, obs1, &r1), TRPO_ENV_TERMINATED);
  assert_true(fabs(r1 - (100 - 0.025)) < 1e-12);
  // the left wall stops the car
  const double s1[2] = {-1.19, -0.05};
  double a0[1] = {-1};
  be->setstate(st, 0, s1);
  be->step(st, 0, a0, obs1, &r1);
  assert_true(obs1[0] == -1.2 && obs1[1] == 0.0);
  be->free(st);
}

//---------------------------------- all tasks ------------------------------------------------------

static void test_info(void** unused) {
  (void)unused;
  // sizes, limits and bounds of each task
  struct { const char* name; int nobs, nact, discrete, max_steps, nsim; double lo, hi; } want[] = {
      {"CartPole-v1", 4, 2, 1, 500, 4, 0, 1},
      {"Pendulum-v1", 3, 1, 0, 200, 2, -2, 2},
      {"Acrobot-v1", 6, 3, 1, 500, 4, 0, 2},
      {"MountainCarContinuous-v0", 2, 1, 0, 999, 2, -1, 1},
  };
  for (int k = 0; k < 4; k++) {
    trpo_envinfo info;
    void* st = make1(want[k].name, &info);
    assert_string_equal(info.name, want[k].name);
    assert_int_equal(info.nobs, want[k].nobs);
    assert_int_equal(info.nact, want[k].nact);
    assert_int_equal(info.discrete, want[k].discrete);
    assert_int_equal(info.max_steps, want[k].max_steps);
    assert_int_equal(info.nsim, want[k].nsim);
    assert_int_equal(info.substeps, 1);
    assert_true(info.act_lo == want[k].lo && info.act_hi == want[k].hi);
    assert_string_equal(be->tasks[k], want[k].name);
    be->free(st);
  }
  assert_null(be->tasks[4]);
}

static void test_reset_distributions(void** unused) {
  (void)unused;
  // each state entry: within [lo, hi), reaching close to both ends, mean near the middle
  struct { const char* name; double lo[4], hi[4]; } want[] = {
      {"CartPole-v1", {-0.05, -0.05, -0.05, -0.05}, {0.05, 0.05, 0.05, 0.05}},
      {"Pendulum-v1", {-M_PI, -1}, {M_PI, 1}},
      {"Acrobot-v1", {-0.1, -0.1, -0.1, -0.1}, {0.1, 0.1, 0.1, 0.1}},
      {"MountainCarContinuous-v0", {-0.6, 0}, {-0.4, 0}},
  };
  const int n = 20000;
  for (int k = 0; k < 4; k++) {
    trpo_envinfo info;
    void* st = make1(want[k].name, &info);
    trpo_rng rng;
    trpo_rng_seed(&rng, 3, (uint64_t)k, TRPO_RNG_RESET);
    double lo[4] = {1e9, 1e9, 1e9, 1e9}, hi[4] = {-1e9, -1e9, -1e9, -1e9}, sum[4] = {0};
    double obs[8], s[4], prev[4] = {0};
    int same = 0;
    for (int m = 0; m < n; m++) {
      be->reset(st, 0, &rng, obs);
      be->getstate(st, 0, s);
      if (memcmp(s, prev, sizeof s) == 0) same++;
      memcpy(prev, s, sizeof s);
      for (int j = 0; j < info.nsim; j++) {
        lo[j] = fmin(lo[j], s[j]);
        hi[j] = fmax(hi[j], s[j]);
        sum[j] += s[j];
      }
    }
    assert_int_equal(same, 0);
    for (int j = 0; j < info.nsim; j++) {
      double a = want[k].lo[j], b = want[k].hi[j], w = b - a;
      if (w == 0) {
        assert_true(lo[j] == a && hi[j] == a);   // MountainCar's velocity starts at exactly 0
        continue;
      }
      assert_true(lo[j] >= a && hi[j] < b);
      assert_true(lo[j] < a + 0.002 * w && hi[j] > b - 0.002 * w);
      // the mean of U(a, b) has std w / sqrt(12 n); allow 5 of them
      assert_true(fabs(sum[j] / n - (a + b) / 2) < 5 * w / sqrt(12.0 * n));
    }
    be->free(st);
  }
}

static void test_reset_observation(void** unused) {
  (void)unused;
  // the reset observation is the observation of the reset state
  trpo_envinfo info;
  void* st = make1("Pendulum-v1", &info);
  trpo_rng rng;
  trpo_rng_seed(&rng, 5, 0, TRPO_RNG_RESET);
  double obs[3], s[2];
  be->reset(st, 0, &rng, obs);
  be->getstate(st, 0, s);
  assert_true(obs[0] == cos(s[0]) && obs[1] == sin(s[0]) && obs[2] == s[1]);
  be->free(st);
}

static void test_bad_make(void** unused) {
  (void)unused;
  // an unknown task and a model file for a model-less task are refused with a message
  void* st = NULL;
  trpo_envinfo info;
  char err[256] = "";
  assert_int_equal(be->make(&st, &info, "Hopper-v4", "", 1, err, sizeof err), TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, "Hopper-v4"));
  err[0] = '\0';
  assert_int_equal(be->make(&st, &info, "Pendulum-v1", "x.xml", 1, err, sizeof err),
                   TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, "x.xml"));
}

// run a step with act in a child process; return 1 if the child aborted
static int aborts(const char* task, double a) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    // child: silence the expected fatal line, then step
    if (!freopen("/dev/null", "w", stderr)) _exit(3);
    trpo_envinfo info;
    void* st = NULL;
    char err[256];
    if (be->make(&st, &info, task, "", 1, err, sizeof err)) _exit(2);
    double obs[8], r, act[1] = {a};
    be->step(st, 0, act, obs, &r);
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void test_bad_index_fatal(void** unused) {
  (void)unused;
  // an index outside the choices, or not a whole number, is a bug
  assert_true(aborts("CartPole-v1", 2));
  assert_true(aborts("CartPole-v1", -1));
  assert_true(aborts("Acrobot-v1", 3));
  assert_true(aborts("Acrobot-v1", 0.5));
  // the oracle itself: a valid index does not abort
  assert_false(aborts("Acrobot-v1", 2));
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cartpole_checks),
      cmocka_unit_test(test_cartpole_observation),
      cmocka_unit_test(test_cartpole_limits),
      cmocka_unit_test(test_pendulum_checks),
      cmocka_unit_test(test_pendulum_step),
      cmocka_unit_test(test_acrobot_checks),
      cmocka_unit_test(test_acrobot_limits),
      cmocka_unit_test(test_acrobot_wrap_and_observation),
      cmocka_unit_test(test_mountaincar_checks),
      cmocka_unit_test(test_mountaincar_clip),
      cmocka_unit_test(test_info),
      cmocka_unit_test(test_reset_distributions),
      cmocka_unit_test(test_reset_observation),
      cmocka_unit_test(test_bad_make),
      cmocka_unit_test(test_bad_index_fatal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
