// test_train.c: invariants of whole TRPO iterations in one process (an MPI singleton).
//
// Same seed -> bitwise-identical parameters; no allocation inside the iteration loop; every
// accepted step improves the surrogate and keeps KL <= max_kl; a rejected line search restores
// the parameters bitwise.

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trpo_comm comm;

static trpo_train* make(const char* env, long seed, int nenv, int nsteps) {
  trpo_config c;
  trpo_test_config(&c, env, seed, nenv, nsteps);
  c.vf_epochs = 2;
  c.vf_minibatch = 64;
  return trpo_test_trainer(&comm, &c);
}

static void same_seed_same_bits(void** state) {
  (void)state;
  uint64_t p[3], v[3];
  long seeds[3] = {7, 7, 8};
  for (int k = 0; k < 3; k++) {
    trpo_train* t = make("Pendulum-v1", seeds[k], 3, 100);
    trpo_stats st;
    for (int i = 0; i < 5; i++) assert_int_equal(trpo_train_iterate(t, &st), 0);
    trpo_train_checksum(t, &p[k], &v[k]);
    trpo_train_free(t);
  }
  assert_true(p[0] == p[1] && v[0] == v[1]);
  assert_true(p[0] != p[2] && v[0] != v[2]);
}

static void no_allocation_in_loop(void** state) {
  (void)state;
  const char* envs[] = {"Pendulum-v1", "CartPole-v1"};
  for (int e = 0; e < 2; e++) {
    trpo_train* t = make(envs[e], 1, 2, 64);
    trpo_stats st;
    long before = trpo_alloc_count();
    for (int i = 0; i < 3; i++) trpo_train_iterate(t, &st);
    assert_int_equal(trpo_alloc_count(), before);
    trpo_train_free(t);
  }
}

static void accepted_steps_respect_trust_region(void** state) {
  (void)state;
  const char* envs[] = {"Pendulum-v1", "CartPole-v1", "Acrobot-v1"};
  for (int e = 0; e < 3; e++) {
    trpo_train* t = make(envs[e], 3, 4, 128);
    trpo_stats st;
    int accepted = 0;
    for (int i = 0; i < 6; i++) {
      trpo_train_iterate(t, &st);
      if (st.ls_rejected == 0 && st.ls_steps > 0) {
        accepted++;
        assert_true(st.kl <= 0.01 + 0.0);       // the default max_kl
        assert_true(st.kl > 0);
        assert_true(st.surr_improve > 0);
      }
      assert_true(st.cg_iters >= 1);
    }
    assert_true(accepted >= 3);   // the line search is not rejecting everything
    trpo_train_free(t);
  }
}

// a malloc'd copy of the policy parameters (n of them)
static double* policy_copy(const trpo_train* t, int* n) {
  const double* th = trpo_train_policy(t, n);
  double* copy = malloc(sizeof(double) * (size_t)*n);
  memcpy(copy, th, sizeof(double) * (size_t)*n);
  return copy;
}

static void rejected_search_restores_bitwise(void** state) {
  (void)state;
  trpo_train* t = make("Pendulum-v1", 5, 2, 128);
  trpo_stats st;
  trpo_train_iterate(t, &st);
  int n = 0;
  double* before = policy_copy(t, &n);
  trpo_train_test_fault(t, TRPO_TEST_REJECT);
  trpo_train_iterate(t, &st);
  assert_true(st.ls_rejected == 1);
  assert_int_equal(memcmp(before, trpo_train_policy(t, NULL), sizeof(double) * n), 0);
  // and the next normal iteration moves again
  trpo_train_test_fault(t, 0);
  trpo_train_iterate(t, &st);
  assert_true(memcmp(before, trpo_train_policy(t, NULL), sizeof(double) * n) != 0);
  free(before);
  trpo_train_free(t);
}

// a non-finite gradient skips the update (parameters bitwise unchanged, counted), and max_skips
// consecutive skips stop the run; a good update in between resets the count
static void nonfinite_skips_and_stops(void** state) {
  (void)state;
  trpo_train* t = make("Pendulum-v1", 4, 2, 64);   // default max_skips = 5
  trpo_stats st;
  trpo_train_iterate(t, &st);
  int n = 0;
  double* before = policy_copy(t, &n);
  trpo_train_test_fault(t, TRPO_TEST_NANGRAD);
  for (int k = 1; k <= 4; k++) {
    assert_int_equal(trpo_train_iterate(t, &st), 0);
    assert_true(st.skipped_updates == k);
    assert_true(st.ls_rejected == 0 && st.kl == 0);
    assert_int_equal(memcmp(before, trpo_train_policy(t, NULL), sizeof(double) * n), 0);
  }
  trpo_train_test_fault(t, 0);
  assert_int_equal(trpo_train_iterate(t, &st), 0);   // a good update resets the run of skips
  trpo_train_test_fault(t, TRPO_TEST_NANGRAD);
  for (int k = 1; k <= 4; k++) assert_int_equal(trpo_train_iterate(t, &st), 0);
  assert_int_equal(trpo_train_iterate(t, &st), TRPO_STOP_SKIPS);
  assert_true(st.skipped_updates == 9);
  free(before);
  trpo_train_free(t);
}

// evaluation leaves training untouched, repeats exactly, and respects the time limit
// a non-finite advantage skips the update too; the episode statistics that travel in the same
// exact reduction stay finite (the bad row is counted apart, not summed)
static void nonfinite_advantage_skips(void** state) {
  (void)state;
  trpo_train* t = make("Pendulum-v1", 4, 3, 200);   // every iteration ends one episode per env
  trpo_stats st;
  trpo_train_iterate(t, &st);
  int n = 0;
  double* before = policy_copy(t, &n);
  trpo_train_test_fault(t, TRPO_TEST_NANADV);
  assert_int_equal(trpo_train_iterate(t, &st), 0);
  assert_true(st.skipped_updates == 1);
  assert_int_equal(memcmp(before, trpo_train_policy(t, NULL), sizeof(double) * n), 0);
  assert_true(st.episodes == 3 && isfinite(st.return_mean) && st.len_mean == 200);
  assert_true(st.sim_faults == 0 && isnan(st.vf_explained_var));
  trpo_train_test_fault(t, 0);
  assert_int_equal(trpo_train_iterate(t, &st), 0);
  assert_true(st.skipped_updates == 1 && isfinite(st.vf_explained_var));
  assert_true(memcmp(before, trpo_train_policy(t, NULL), sizeof(double) * n) != 0);
  free(before);
  trpo_train_free(t);
}

// the data of checkpoint item `path` after a gather, or NULL when the trainer has no such item
static const double* item_data(trpo_train* t, const char* path) {
  trpo_ckptitem* it;
  int n = trpo_train_items(t, &it);
  trpo_train_gather(t);
  for (int k = 0; k < n; k++)
    if (!strcmp(it[k].path, path)) return it[k].data;
  return NULL;
}

// the running normaliser's sample count, through the checkpoint items
static double norm_count(trpo_train* t) {
  const double* sc = item_data(t, "scalars");
  if (!sc) fail_msg("no scalars item");
  return sc[1];
}

// a non-finite observation keeps the batch out of the normaliser and nothing else: the update,
// the episode statistics and the next batch's merge go on
static void nonfinite_observation_skips_merge(void** state) {
  (void)state;
  trpo_train* t = make("Pendulum-v1", 4, 3, 200);
  trpo_stats st;
  trpo_train_iterate(t, &st);
  double n0 = norm_count(t);
  assert_true(n0 >= 600);
  int n = 0;
  double* before = policy_copy(t, &n);
  trpo_train_test_fault(t, TRPO_TEST_NANOBS);
  assert_int_equal(trpo_train_iterate(t, &st), 0);
  assert_true(norm_count(t) == n0);
  assert_true(st.skipped_updates == 0 && st.episodes == 3 && isfinite(st.vf_explained_var));
  assert_true(memcmp(before, trpo_train_policy(t, NULL), sizeof(double) * n) != 0);
  trpo_train_test_fault(t, 0);
  assert_int_equal(trpo_train_iterate(t, &st), 0);
  assert_true(norm_count(t) == n0 + 600);
  free(before);
  trpo_train_free(t);
}

// the benchmark slowdown (TRPO_BENCH_SLOW_RANK) changes time only; a malformed value is refused
// with a message naming the variable
static void bench_slowdown_same_bits(void** state) {
  (void)state;
  uint64_t p[2], v[2];
  double ts[2];
  for (int k = 0; k < 2; k++) {
    if (k) setenv("TRPO_BENCH_SLOW_RANK", "0 3", 1);
    trpo_train* t = make("Pendulum-v1", 5, 2, 200);
    trpo_stats st;
    for (int i = 0; i < 2; i++) assert_int_equal(trpo_train_iterate(t, &st), 0);
    ts[k] = st.t_iter;
    trpo_train_checksum(t, &p[k], &v[k]);
    trpo_train_free(t);
  }
  print_message("  iteration %.2f ms plain, %.2f ms with work 3x as long\n", 1e3 * ts[0], 1e3 * ts[1]);
  assert_true(p[0] == p[1] && v[0] == v[1]);
  assert_true(ts[1] > ts[0]);
  const char* bad[] = {"1", "0 0.5", "-1 2", "0 2 x", "a b", "0 2 0", "0 2 -3", "0 2 3 x", "0 2 1.5"};
  for (int k = 0; k < 9; k++) {
    setenv("TRPO_BENCH_SLOW_RANK", bad[k], 1);
    trpo_config c;
    trpo_test_config(&c, "Pendulum-v1", 1, 2, 8);
    trpo_train* t = NULL;
    char err[512] = "";
    assert_int_equal(trpo_train_make(&t, &c, &comm, err, sizeof err), TRPO_EXIT_BADINPUT);
    assert_non_null(strstr(err, "TRPO_BENCH_SLOW_RANK"));
    assert_null(t);
  }
  // a period is accepted (tests/test_mpi_update.c follows the slowness from rank to rank)
  setenv("TRPO_BENCH_SLOW_RANK", "0 3 2", 1);
  trpo_train* t = make("Pendulum-v1", 5, 2, 200);
  trpo_stats st;
  assert_int_equal(trpo_train_iterate(t, &st), 0);
  assert_true(comm.slow == 3);
  trpo_train_free(t);
  unsetenv("TRPO_BENCH_SLOW_RANK");
  comm.slow = 0;
}

// vf_norm: rescaling the value network's output layer to new return statistics keeps V(s). With
// no value fit (vf_epochs = 0) and no observation normalisation, V of fixed observations stays
// what it was, iteration after iteration, while the output layer changes with the statistics
// (read through the checkpoint item "value/returns": every lambda-return so far)
static void value_norm_keeps_values(void** state) {
  (void)state;
  trpo_config c;
  trpo_test_config(&c, "Pendulum-v1", 3, 2, 100);
  c.vf_norm = 1;
  c.vf_epochs = 0;
  c.obs_norm = 0;
  trpo_train* t = trpo_test_trainer(&comm, &c);
  double obs[4][3] = {{1, 0, 0}, {0, 1, -3}, {-1, 0, 8}, {0.6, -0.8, 2}}, v0[4];
  for (int k = 0; k < 4; k++) v0[k] = trpo_train_value_of(t, obs[k]);
  int nv = 0;
  const double* vt = trpo_train_value(t, &nv);
  double b0 = vt[nv - 1], w0 = vt[nv - 2];   // the output bias and the last output weight
  trpo_stats st;
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(trpo_train_iterate(t, &st), 0);
    for (int k = 0; k < 4; k++) {
      double v = trpo_train_value_of(t, obs[k]);
      if (!(fabs(v - v0[k]) <= 1e-10 * (1 + fabs(v0[k]))))
        fail_msg("iteration %d: V(obs %d) = %.17g, was %.17g", i, k, v, v0[k]);
    }
  }
  const double* rs = item_data(t, "value/returns");
  assert_non_null(rs);
  // 3 iterations of 2 x 100 rows; Pendulum pays -16..0 a step, so the returns are negative
  assert_true(rs[0] == 600 && rs[1] < -1 && rs[2] > 0);
  double sd = sqrt(rs[2] / rs[0]);
  print_message("  returns: mean %.2f, std %.2f; output bias %.4g -> %.4g\n", rs[1], sd, b0, vt[nv - 1]);
  assert_true(sd > 1);
  assert_true(fabs(vt[nv - 2]) < fabs(w0));   // the weights shrink by the old over the new std
  trpo_train_free(t);
  // without vf_norm the checkpoint holds no such item
  c.vf_norm = 0;
  t = trpo_test_trainer(&comm, &c);
  assert_null(item_data(t, "value/returns"));
  trpo_train_free(t);
}

// obs_norm = 0: the networks see the raw observation, neither normalised nor clipped to obs_clip.
// Oracle: the value network's own forward pass on the raw observation, through trpo_mlp alone.
// With obs_norm = 1 the same trainer's V differs (normalised, and 100 clipped to obs_clip = 10).
static void raw_observations_without_obs_norm(void** state) {
  (void)state;
  double obs[3][3] = {{1, 0, 100}, {0.6, -0.8, -37}, {0, 1, 2}};
  for (int norm = 0; norm <= 1; norm++) {
    trpo_config c;
    trpo_test_config(&c, "Pendulum-v1", 5, 2, 100);
    c.obs_norm = norm;
    c.vf_epochs = 1;
    trpo_train* t = trpo_test_trainer(&comm, &c);
    trpo_stats st;
    assert_int_equal(trpo_train_iterate(t, &st), 0);
    int nv = 0;
    const double* vt = trpo_train_value(t, &nv);
    trpo_mlp m;
    int hidden[2] = {64, 64};
    trpo_mlp_init(&m, 3, hidden, 2, 1);
    assert_int_equal(m.nparam, nv);
    trpo_mlpwork w;
    trpo_mlp_workmake(&m, &w, 1);
    for (int k = 0; k < 3; k++) {
      double want = trpo_mlp_forward(&m, vt, &w, obs[k], 1)[0];
      double got = trpo_train_value_of(t, obs[k]);
      if (norm == 0 && got != want) fail_msg("obs %d: V = %.17g, raw forward %.17g", k, got, want);
      if (norm == 1 && got == want) fail_msg("obs %d: obs_norm = 1 gave the raw forward", k);
    }
    trpo_mlp_workfree(&w);
    trpo_train_free(t);
  }
}

static void evaluation_is_separate_and_repeatable(void** state) {
  (void)state;
  trpo_train* a = make("CartPole-v1", 6, 2, 64);
  trpo_train* b = make("CartPole-v1", 6, 2, 64);
  trpo_stats st;
  trpo_train_iterate(a, &st);
  trpo_train_iterate(b, &st);
  double m1, s1, l1, m2, s2, l2;
  char err[256];
  assert_int_equal(trpo_train_evaluate(a, 3, 1, &m1, &s1, &l1, err, sizeof err), 0);
  assert_int_equal(trpo_train_evaluate(a, 3, 1, &m2, &s2, &l2, err, sizeof err), 0);
  assert_true(m1 == m2 && s1 == s2 && l1 == l2);
  assert_true(l1 >= 1 && l1 <= 500 && m1 == l1);   // CartPole pays 1 per step
  // a trainer that evaluated continues exactly like one that did not
  trpo_train_iterate(a, &st);
  trpo_train_iterate(b, &st);
  uint64_t pa, va, pb, vb;
  trpo_train_checksum(a, &pa, &va);
  trpo_train_checksum(b, &pb, &vb);
  assert_true(pa == pb && va == vb);
  trpo_train_free(a);
  trpo_train_free(b);
}

int main(int argc, char** argv) {
  trpo_comm_init(&comm, &argc, &argv);
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(same_seed_same_bits),
      cmocka_unit_test(no_allocation_in_loop),
      cmocka_unit_test(accepted_steps_respect_trust_region),
      cmocka_unit_test(rejected_search_restores_bitwise),
      cmocka_unit_test(nonfinite_skips_and_stops),
      cmocka_unit_test(nonfinite_advantage_skips),
      cmocka_unit_test(nonfinite_observation_skips_merge),
      cmocka_unit_test(bench_slowdown_same_bits),
      cmocka_unit_test(evaluation_is_separate_and_repeatable),
      cmocka_unit_test(value_norm_keeps_values),
      cmocka_unit_test(raw_observations_without_obs_norm),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  trpo_comm_finalize(&comm);
  return rc;
}
