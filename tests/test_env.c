// test_env.c: the trpo_envs_* layer (src/env.c) over the classic-control backend.
//
// Checks what env.c adds to a backend: truncation at the time limit and its independence from
// termination, the fault path, per-environment reset streams that belong to the global index
// (so a rank split does not change trajectories), the checkpoint state round trip, the task list
// and its error message, and that reset and step allocate nothing.

#include "testutil.h"

#include <math.h>
#include <string.h>

static const char* const classic[] = {"CartPole-v1", "Pendulum-v1", "Acrobot-v1",
                                      "MountainCarContinuous-v0"};

static trpo_envs* make(const char* task, uint64_t seed, int env_begin, int nenv) {
  trpo_envs* e = NULL;
  char err[512];
  assert_int_equal(trpo_envs_make(&e, task, "", seed, env_begin, nenv, err, sizeof err), 0);
  assert_non_null(e);
  assert_int_equal(trpo_envs_count(e), nenv);
  return e;
}

// a valid action drawn from rng (continuous ones go past the bounds on purpose)
static void randact(const trpo_envinfo* info, trpo_rng* rng, double* act) {
  if (info->discrete)
    act[0] = (double)trpo_rng_below(rng, (uint64_t)info->nact);
  else
    for (int k = 0; k < info->nact; k++)
      act[k] = trpo_rng_range(rng, 1.5 * info->act_lo, 1.5 * info->act_hi);
}

// place env i at simulator state sim with t steps done (the reset stream stays as it is)
static void place(trpo_envs* e, int i, const double* sim, int t) {
  trpo_rng r;
  trpo_envs_getstate(e, i, NULL, &r, NULL);
  trpo_envs_setstate(e, i, sim, &r, t);
}

static void test_tasks(void** unused) {
  (void)unused;
  // every classic task is listed once, and the list ends with NULL
  const char* const* names = trpo_envs_tasks();
  int n = 0;
  while (names[n]) n++;
  assert_true(n >= 4);
  for (int k = 0; k < 4; k++) {
    int found = 0;
    for (int j = 0; j < n; j++) found += strcmp(names[j], classic[k]) == 0;
    assert_int_equal(found, 1);
  }
  // the same storage each time
  assert_ptr_equal(names, trpo_envs_tasks());
}

static void test_unknown_task(void** unused) {
  (void)unused;
  // the message names the task and lists the known ones
  trpo_envs* keep = make("CartPole-v1", 1, 0, 1);
  trpo_envs* e = keep;
  char err[512] = "";
  int rc = trpo_envs_make(&e, "CartPole-v9", "", 1, 0, 2, err, sizeof err);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  assert_null(e);
  trpo_envs_free(keep);
  assert_non_null(strstr(err, "CartPole-v9"));
  for (int k = 0; k < 4; k++) assert_non_null(strstr(err, classic[k]));
  // a short buffer still gets a terminated prefix
  char small[16];
  rc = trpo_envs_make(&e, "Nope-v0", "", 1, 0, 2, small, sizeof small);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  assert_true(strlen(small) == sizeof small - 1);
  // a model file for a classic task is refused as well
  rc = trpo_envs_make(&e, "Pendulum-v1", "model.xml", 1, 0, 2, err, sizeof err);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  assert_null(e);
}

static void test_cartpole_truncates_not_terminates(void** unused) {
  (void)unused;
  // the balancing controller from s0 runs into the time limit: only step 500 is flagged
  trpo_envs* e = make("CartPole-v1", 1, 0, 1);
  const double s0[4] = {0, 0, 0.01, 0};
  double obs[4], r, act[1];
  trpo_envs_reset(e, 0, obs);
  place(e, 0, s0, 0);
  memcpy(obs, s0, sizeof obs);
  for (int k = 1; k <= 500; k++) {
    act[0] = obs[2] + 0.5 * obs[3] > 0;
    int flags = trpo_envs_step(e, 0, obs, &r, act);
    assert_int_equal(trpo_envs_steps(e, 0), k);
    assert_true(r == 1.0);
    assert_int_equal(flags, k < 500 ? 0 : TRPO_ENV_TRUNCATED);
  }
  // no auto-reset: the counter stays until the caller resets
  assert_int_equal(trpo_envs_steps(e, 0), 500);
  trpo_envs_reset(e, 0, obs);
  assert_int_equal(trpo_envs_steps(e, 0), 0);
  assert_int_equal(trpo_envs_simfaults(e), 0);
  trpo_envs_free(e);
}

static void test_pendulum_truncates_at_200(void** unused) {
  (void)unused;
  // random torques from a random reset: flags 0 until exactly step 200
  trpo_envs* e = make("Pendulum-v1", 4, 0, 1);
  trpo_rng rng;
  trpo_rng_seed(&rng, 9, 0, 77);
  double obs[3], r, act[1];
  for (int ep = 0; ep < 3; ep++) {
    trpo_envs_reset(e, 0, obs);
    for (int k = 1; k <= 200; k++) {
      randact(trpo_envs_info(e), &rng, act);
      int flags = trpo_envs_step(e, 0, obs, &r, act);
      assert_true(r <= 0 && r >= -16.2736044);
      assert_int_equal(flags, k < 200 ? 0 : TRPO_ENV_TRUNCATED);
    }
  }
  trpo_envs_free(e);
}

static void test_terminated_and_truncated(void** unused) {
  (void)unused;
  // CartPole pushed right from s0 falls on its 10th step; start it at t = 490
  trpo_envs* e = make("CartPole-v1", 1, 0, 1);
  const double s0[4] = {0, 0, 0.01, 0};
  double obs[4], r, act[1] = {1};
  place(e, 0, s0, 490);
  for (int k = 1; k <= 10; k++) {
    int flags = trpo_envs_step(e, 0, obs, &r, act);
    assert_int_equal(flags, k < 10 ? 0 : TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED);
  }
  // started at t = 489 instead it terminates one step before the limit
  place(e, 0, s0, 489);
  int flags = 0;
  for (int k = 1; k <= 10; k++) flags = trpo_envs_step(e, 0, obs, &r, act);
  assert_int_equal(flags, TRPO_ENV_TERMINATED);
  trpo_envs_free(e);

  // MountainCar reaches the goal on step 106 from (-0.5, 0): at t = 999 - 106 both flags
  e = make("MountainCarContinuous-v0", 1, 0, 1);
  const double m0[2] = {-0.5, 0};
  double mobs[2] = {-0.5, 0}, ret = 0;
  place(e, 0, m0, 999 - 106);
  for (int k = 1; k <= 106; k++) {
    act[0] = mobs[1] >= 0 ? 1 : -1;
    flags = trpo_envs_step(e, 0, mobs, &r, act);
    ret += r;
    assert_int_equal(flags, k < 106 ? 0 : TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED);
  }
  assert_true(fabs(ret - 89.4) < 1e-9);
  trpo_envs_free(e);
}

static void test_simfault(void** unused) {
  (void)unused;
  // a NaN torque: the step is undone, the last finite observation kept, the fault counted
  trpo_envs* e = make("Pendulum-v1", 2, 0, 2);
  double obs0[3], obs[3], sim0[2], sim[2], r = 1, act[1] = {0.5};
  trpo_envs_reset(e, 1, obs0);
  trpo_envs_step(e, 1, obs0, &r, act);
  trpo_envs_getstate(e, 1, sim0, NULL, NULL);
  trpo_test_notraps();
  act[0] = nan("");
  int flags = trpo_envs_step(e, 1, obs, &r, act);
  trpo_test_traps();
  assert_int_equal(flags, TRPO_ENV_SIMFAULT | TRPO_ENV_TRUNCATED);
  assert_memory_equal(obs, obs0, sizeof obs);
  assert_true(r == 0.0);
  trpo_envs_getstate(e, 1, sim, NULL, NULL);
  assert_memory_equal(sim, sim0, sizeof sim);
  assert_int_equal(trpo_envs_steps(e, 1), 2);
  assert_int_equal(trpo_envs_simfaults(e), 1);
  // the counter stays after a reset
  trpo_envs_reset(e, 1, obs);
  assert_int_equal(trpo_envs_simfaults(e), 1);
  trpo_envs_free(e);
}

// one trajectory of env i: nstep steps of random actions from arng, resetting at episode ends;
// observations and rewards into out (nstep x (nobs + 1))
static void trajectory(trpo_envs* e, int i, trpo_rng* arng, double* out, int nstep) {
  const trpo_envinfo* info = trpo_envs_info(e);
  double act[4];
  int w = info->nobs + 1;
  trpo_envs_reset(e, i, out);
  for (int k = 0; k < nstep; k++) {
    double* row = out + (size_t)k * w;
    randact(info, arng, act);
    int flags = trpo_envs_step(e, i, row, &row[info->nobs], act);
    if (flags & (TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED)) trpo_envs_reset(e, i, row);
  }
}

#define NSTEP 1500
static double ta[NSTEP * 7], tb[NSTEP * 7];

static void test_streams(void** unused) {
  (void)unused;
  for (int k = 0; k < 4; k++) {
    const char* task = classic[k];
    trpo_envs* a = make(task, 11, 0, 4);
    trpo_envs* b = make(task, 11, 0, 4);
    int w = trpo_envs_info(a)->nobs + 1;
    size_t nb = (size_t)NSTEP * (size_t)w * sizeof(double);
    trpo_rng r1, r2;

    // the same seed gives the same trajectory, bitwise
    trpo_rng_seed(&r1, 1, 2, 3);
    trpo_rng_seed(&r2, 1, 2, 3);
    trajectory(a, 2, &r1, ta, NSTEP);
    trajectory(b, 2, &r2, tb, NSTEP);
    assert_memory_equal(ta, tb, nb);

    // env i of a 4-env make equals env 0 of a make starting at global index i
    for (int i = 0; i < 4; i++) {
      trpo_envs* one = make(task, 11, i, 1);
      trpo_envs* four = make(task, 11, 0, 4);
      trpo_rng_seed(&r1, 5, 0, 0);
      trpo_rng_seed(&r2, 5, 0, 0);
      trajectory(four, i, &r1, ta, NSTEP);
      trajectory(one, 0, &r2, tb, NSTEP);
      assert_memory_equal(ta, tb, nb);
      trpo_envs_free(one);
      trpo_envs_free(four);
    }

    // other global indices and other seeds give other reset states
    double o0[8], o1[8];
    trpo_envs_reset(a, 0, o0);
    trpo_envs_reset(a, 1, o1);
    assert_true(memcmp(o0, o1, (size_t)(w - 1) * sizeof(double)) != 0);
    trpo_envs* c = make(task, 12, 0, 1);
    trpo_envs* d = make(task, 11, 0, 1);
    trpo_envs_reset(c, 0, o0);
    trpo_envs_reset(d, 0, o1);
    assert_true(memcmp(o0, o1, (size_t)(w - 1) * sizeof(double)) != 0);
    trpo_envs_free(c);
    trpo_envs_free(d);
    trpo_envs_free(a);
    trpo_envs_free(b);
  }
}

static void test_state_roundtrip(void** unused) {
  (void)unused;
  for (int k = 0; k < 4; k++) {
    // run env 1 a while, then save its state mid-episode
    trpo_envs* a = make(classic[k], 21, 3, 2);
    const trpo_envinfo* info = trpo_envs_info(a);
    int w = info->nobs + 1;
    size_t nb = (size_t)NSTEP * (size_t)w * sizeof(double);
    trpo_rng arng;
    trpo_rng_seed(&arng, 8, 0, 0);
    trajectory(a, 1, &arng, ta, 137);
    double sim[4];
    trpo_rng rr;
    int t;
    trpo_envs_getstate(a, 1, sim, &rr, &t);
    assert_int_equal(t, trpo_envs_steps(a, 1));
    trpo_rng arng2 = arng;

    // continue the original, stepping from the saved state (episodes end and reset on the way)
    double act[4];
    for (int m = 0; m < NSTEP; m++) {
      double* row = ta + (size_t)m * w;
      randact(info, &arng, act);
      int flags = trpo_envs_step(a, 1, row, &row[info->nobs], act);
      if (flags & (TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED)) trpo_envs_reset(a, 1, row);
    }

    // a fresh set with another seed, given the saved state, continues identically
    trpo_envs* b = make(classic[k], 99, 0, 1);
    trpo_envs_setstate(b, 0, sim, &rr, t);
    for (int m = 0; m < NSTEP; m++) {
      double* row = tb + (size_t)m * w;
      randact(info, &arng2, act);
      int flags = trpo_envs_step(b, 0, row, &row[info->nobs], act);
      if (flags & (TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED)) trpo_envs_reset(b, 0, row);
    }
    assert_memory_equal(ta, tb, nb);
    assert_int_equal(trpo_envs_steps(a, 1), trpo_envs_steps(b, 0));
    trpo_envs_free(a);
    trpo_envs_free(b);
  }
}

static void test_no_alloc(void** unused) {
  (void)unused;
  // make everything first, then count around reset and step of every task
  trpo_envs* e[4];
  for (int k = 0; k < 4; k++) e[k] = make(classic[k], 3, 0, 3);
  trpo_rng arng;
  trpo_rng_seed(&arng, 4, 0, 0);
  long before = trpo_alloc_count();
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < 3; i++) trajectory(e[k], i, &arng, ta, NSTEP);
  assert_int_equal(trpo_alloc_count(), before);
  // and make does allocate (the counter works)
  trpo_envs* f = make("CartPole-v1", 3, 0, 1);
  assert_true(trpo_alloc_count() > before);
  trpo_envs_free(f);
  for (int k = 0; k < 4; k++) trpo_envs_free(e[k]);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tasks),
      cmocka_unit_test(test_unknown_task),
      cmocka_unit_test(test_cartpole_truncates_not_terminates),
      cmocka_unit_test(test_pendulum_truncates_at_200),
      cmocka_unit_test(test_terminated_and_truncated),
      cmocka_unit_test(test_simfault),
      cmocka_unit_test(test_streams),
      cmocka_unit_test(test_state_roundtrip),
      cmocka_unit_test(test_no_alloc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
