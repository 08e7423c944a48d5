// test_env_mujoco_wrapper.c: the MuJoCo tasks through the generic trpo_envs_* wrapper (env.c).
//
// Time-limit truncation is marked truncated (not terminated) at each task's max steps; a
// simulator fault ends the episode as truncated and is counted; the per-environment reset streams
// belong to the global environment index; every one of the nine tasks is listed and steps.

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <stdio.h>
#include <string.h>

static const char* const nine[] = {"Hopper-v4", "Walker2d-v4", "HalfCheetah-v4",
                                   "Swimmer-v4", "Ant-v4", "Humanoid-v4",
                                   "InvertedPendulum-v4", "InvertedDoublePendulum-v4",
                                   "Reacher-v4"};

static trpo_envs* make(const char* task, uint64_t seed, int begin, int n) {
  trpo_envs* e = NULL;
  char err[512];
  int rc = trpo_envs_make(&e, task, "", seed, begin, n, err, sizeof err);
  if (rc) fail_msg("%s: %s", task, err);
  return e;
}

static void all_nine_listed_and_step(void** state) {
  (void)state;
  for (int k = 0; k < 9; k++) {
    int found = 0;
    for (const char* const* t = trpo_envs_tasks(); *t; t++) found |= !strcmp(*t, nine[k]);
    assert_true(found);
    trpo_envs* e = make(nine[k], 1, 0, 1);
    const trpo_envinfo* in = trpo_envs_info(e);
    double obs[512], act[32] = {0}, r = 0;
    assert_true(in->nobs <= 512 && in->nact <= 32);
    trpo_envs_reset(e, 0, obs);
    int f = trpo_envs_step(e, 0, obs, &r, act);
    assert_false(f & TRPO_ENV_SIMFAULT);
    assert_int_equal(trpo_envs_steps(e, 0), 1);
    trpo_envs_free(e);
  }
}

// tasks that never terminate truncate exactly at their limit, with only the truncated flag
static void truncation_at_time_limit(void** state) {
  (void)state;
  const char* tasks[] = {"Reacher-v4", "Swimmer-v4", "HalfCheetah-v4"};
  const int limit[] = {50, 1000, 1000};
  for (int k = 0; k < 3; k++) {
    trpo_envs* e = make(tasks[k], 2, 0, 1);
    assert_int_equal(trpo_envs_info(e)->max_steps, limit[k]);
    double obs[64], act[8] = {0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1}, r;
    trpo_envs_reset(e, 0, obs);
    for (int s = 1; s <= limit[k]; s++) {
      int f = trpo_envs_step(e, 0, obs, &r, act);
      assert_false(f & TRPO_ENV_TERMINATED);
      assert_int_equal(!!(f & TRPO_ENV_TRUNCATED), s == limit[k]);
    }
    trpo_envs_free(e);
  }
}

// a NaN action poisons the simulator: the wrapper ends the episode as truncated and counts it
static void fault_is_truncation_and_counted(void** state) {
  (void)state;
  trpo_envs* e = make("Hopper-v4", 3, 0, 2);
  double obs[16], prev[16], act[3] = {0, 0, 0}, r;
  trpo_envs_reset(e, 1, obs);
  trpo_envs_step(e, 1, obs, &r, act);
  memcpy(prev, obs, sizeof prev);
  act[1] = NAN;
  trpo_test_notraps();   // MuJoCo's own checks compare the NaN
  int f = trpo_envs_step(e, 1, obs, &r, act);
  feclearexcept(FE_ALL_EXCEPT);
  trpo_test_traps();
  assert_true(f & TRPO_ENV_SIMFAULT);
  assert_true(f & TRPO_ENV_TRUNCATED);
  assert_false(f & TRPO_ENV_TERMINATED);
  assert_int_equal(trpo_envs_simfaults(e), 1);
  assert_true(r == 0);
  for (int k = 0; k < 11; k++) assert_true(isfinite(obs[k]) && obs[k] == prev[k]);
  // the env resets and runs on
  act[1] = 0;
  trpo_envs_reset(e, 1, obs);
  f = trpo_envs_step(e, 1, obs, &r, act);
  assert_false(f & TRPO_ENV_SIMFAULT);
  trpo_envs_free(e);
}

// env i of a set starting at 0 equals env 0 of a set starting at i (streams of global indices)
static void streams_belong_to_global_index(void** state) {
  (void)state;
  trpo_envs* all = make("Ant-v4", 9, 0, 3);
  for (int i = 0; i < 3; i++) {
    trpo_envs* one = make("Ant-v4", 9, i, 1);
    double a[64], b[64];
    trpo_envs_reset(all, i, a);
    trpo_envs_reset(one, 0, b);
    assert_memory_equal(a, b, sizeof(double) * 27);
    trpo_envs_free(one);
  }
  trpo_envs_free(all);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(all_nine_listed_and_step),
      cmocka_unit_test(truncation_at_time_limit),
      cmocka_unit_test(fault_is_truncation_and_counted),
      cmocka_unit_test(streams_belong_to_global_index),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
