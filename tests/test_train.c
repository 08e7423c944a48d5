// test_train.c: invariants of whole TRPO iterations in one process (an MPI singleton).
//
// Same seed -> bitwise-identical parameters; no allocation inside the iteration loop; every
// accepted step improves the surrogate and keeps KL <= max_kl; a rejected line search restores
// the parameters bitwise. And the trainer's wiring against oracles computed here from what it
// exposes: the step against the quadratic model, the Fisher products on their windows against
// the KL's curvature, the lambda-returns from the rows, and the value fit against its targets.

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

// The step against the quadratic model of the paper (eq. 14, appendix C), from quantities the line
// search does not use: g, s and (F + damping I) s as the update computed them. The step taken is
// frac * beta * s with beta = sqrt(2 max_kl / s.(F + d I)s), frac = ls_shrink^(ls_steps - 1); at a
// small max_kl the measured mean KL must equal (frac beta)^2 (s.(F + d I)s - d s.s) / 2 and the
// surrogate's gain frac beta g.s, each to second order. A Fisher product or gradient of the wrong
// scale (against the KL and surrogate evaluated on the batch) fails here; CG must solve its system.
static void step_matches_quadratic_model(void** state) {
  (void)state;
  const char* envs[] = {"Pendulum-v1", "CartPole-v1"};
  for (int e = 0; e < 2; e++) {
    trpo_config c;
    trpo_test_config(&c, envs[e], 4, 4, 128);
    c.vf_epochs = 2;
    c.vf_minibatch = 64;
    c.max_kl = 1e-6;
    c.cg_iters = 40;
    trpo_train* t = trpo_test_trainer(&comm, &c);
    int P = 0;
    trpo_train_policy(t, &P);
    for (int i = 0; i < 4; i++) {
      trpo_stats st;
      assert_int_equal(trpo_train_iterate(t, &st), 0);
      assert_true(st.ls_rejected == 0 && st.ls_steps >= 1);
      const double *g, *s, *fs;
      trpo_train_vectors(t, &g, &s, &fs);
      double sfs = 0, ss = 0, gs = 0, gg = 0, rr = 0;
      for (int k = 0; k < P; k++) {
        sfs += s[k] * fs[k];
        ss += s[k] * s[k];
        gs += g[k] * s[k];
        gg += g[k] * g[k];
        rr += (fs[k] - g[k]) * (fs[k] - g[k]);
      }
      double beta = sqrt(2 * c.max_kl / sfs) * pow(c.ls_shrink, st.ls_steps - 1);
      double kl = 0.5 * beta * beta * (sfs - c.damping * ss), gain = beta * gs;
      // measured on seed 4: KL and gain within 0.1% of the model, CG residuals 3e-6 to 6e-5
      if (!(fabs(st.kl - kl) <= 0.01 * kl && fabs(st.surr_improve - gain) <= 0.01 * gain &&
            sqrt(rr / gg) < 1e-3))
        fail_msg("%s iteration %d: KL %.6g against the model's %.6g, gain %.6g against %.6g, CG "
                 "residual %.3g", envs[e], i, st.kl, kl, st.surr_improve, gain, sqrt(rr / gg));
    }
    trpo_train_free(t);
  }
}

// Fisher-vector products on a subsample (fvp_fraction < 1) against the curvature of the KL itself.
// Each environment's products use only its Fisher window (fisher_rows rows from fisher_start), so
// s.(F s) must equal the second derivative along s of the mean KL(pi_old || pi_theta) over the
// windows' rows alone: (KL(theta_old + eps s) + KL(theta_old - eps s)) / eps^2 at a small eps (the
// cubic terms cancel), evaluated here from the rows' observations with the policy module. A window
// at the wrong rows, activations and distributions of different rows, or the wrong row count in the
// mean fails; the oracle must also tell the window from the segment's first rows and from all of
// its rows (else the check could not see a wrong window).
static double window_kl(const trpo_policy* p, const double* th_old, const double* th, double* d0,
                        double* d1, trpo_mlpwork* w, const trpo_train* t, int nenv, int from,
                        int rows) {
  double kl = 0;
  int n = 0;
  for (int i = 0; i < nenv; i++) {
    trpo_train_rows b;
    trpo_train_rows_of(t, i, &b);
    int r0 = from >= 0 ? from : b.fisher_start, nr = rows > 0 ? rows : b.fisher_rows;
    trpo_policy_dist(p, th_old, w, d0, b.obs + (size_t)r0 * b.nobs, nr);
    trpo_policy_dist(p, th, w, d1, b.obs + (size_t)r0 * b.nobs, nr);
    for (int r = 0; r < nr; r++)
      kl += trpo_policy_kl(p, d0 + (size_t)r * p->ndist, d1 + (size_t)r * p->ndist);
    n += nr;
  }
  return kl / n;
}

static void fisher_window_matches_kl_curvature(void** state) {
  (void)state;
  const char* envs[] = {"Pendulum-v1", "CartPole-v1"};
  for (int e = 0; e < 2; e++) {
    trpo_config c;
    trpo_test_config(&c, envs[e], 5, 3, 128);
    c.obs_norm = 0;   // the rows' observations are then the policy's inputs
    c.fvp_fraction = 0.25;
    c.vf_epochs = 1;
    c.vf_minibatch = 64;
    trpo_train* t = trpo_test_trainer(&comm, &c);
    const trpo_policy* p = trpo_train_policy_def(t);
    int P = 0;
    const double* theta = trpo_train_policy(t, &P);
    double* th_old = malloc(sizeof(double) * (size_t)P);
    double* th = malloc(sizeof(double) * (size_t)P);
    double* d0 = malloc(sizeof(double) * (size_t)c.nsteps * p->ndist);
    double* d1 = malloc(sizeof(double) * (size_t)c.nsteps * p->ndist);
    trpo_mlpwork w;
    trpo_mlp_workmake(&p->net, &w, c.nsteps);
    for (int it = 0; it < 3; it++) {
      memcpy(th_old, theta, sizeof(double) * (size_t)P);
      trpo_stats st;
      assert_int_equal(trpo_train_iterate(t, &st), 0);
      const double *g, *s, *fs;
      trpo_train_vectors(t, &g, &s, &fs);
      double sfs = 0, ss = 0;
      for (int k = 0; k < P; k++) {
        sfs += s[k] * fs[k];
        ss += s[k] * s[k];
      }
      double want = sfs - c.damping * ss;   // s.F s as the update computed it
      trpo_train_rows b;
      trpo_train_rows_of(t, 0, &b);
      assert_int_equal(b.fisher_rows, 32);   // 0.25 x 128
      double eps = sqrt(2e-6 / want), curv[3];
      // the windows, the segments' first 32 rows, all 128 rows
      const int from[3] = {-1, 0, 0}, rows[3] = {0, 32, c.nsteps};
      for (int m = 0; m < 3; m++) {
        double kl2 = 0;
        for (int sign = -1; sign <= 1; sign += 2) {
          for (int k = 0; k < P; k++) th[k] = th_old[k] + sign * eps * s[k];
          kl2 += window_kl(p, th_old, th, d0, d1, &w, t, c.nenv, from[m], rows[m]);
        }
        curv[m] = kl2 / (eps * eps);
      }
      double err = fabs(want - curv[0]) / want;
      // measured on seed 5: within 2e-6 of the windows' curvature (relative), and 2% to 530% from
      // the other two
      if (!(err < 1e-4))
        fail_msg("%s iteration %d: s.Fs %.10g, the windows' KL curvature %.10g (rel. %.2g)",
                 envs[e], it, want, curv[0], err);
      for (int m = 1; m < 3; m++)
        if (!(fabs(curv[m] - curv[0]) > 10 * 1e-4 * curv[0]))
          fail_msg("%s iteration %d: the windows' curvature %.10g is no different from %s rows' "
                   "%.10g: this case cannot see a wrong window", envs[e], it, curv[0],
                   m == 1 ? "the first 32" : "all", curv[m]);
    }
    trpo_mlp_workfree(&w);
    free(th_old);
    free(th);
    free(d0);
    free(d1);
    trpo_train_free(t);
  }
}

// The trainer's GAE wiring against an oracle written here: with no value fit, no observation
// statistics and raw value targets, V(s) after the iteration is the V the iteration used, so every
// lambda-return can be recomputed from the rows alone: a terminal row bootstraps 0, a truncated row
// V of its true final observation, the segment's last row V of the observation after it, any other
// row V of the next row's observation; the lambda recursion stops at every episode end. On
// Pendulum (time limit 200, 250 steps per segment) each environment truncates inside the segment;
// its final observation must follow the last row by the task's semi-implicit Euler step (theta' =
// theta + thetadot' dt, dt = 0.05), not be the next episode's first observation. CartPole ends
// episodes by termination.
static void gae_wiring_matches_oracle(void** state) {
  (void)state;
  const char* envs[] = {"Pendulum-v1", "CartPole-v1"};
  const int nsteps[] = {250, 64};
  for (int e = 0; e < 2; e++) {
    trpo_config c;
    trpo_test_config(&c, envs[e], 9, 3, nsteps[e]);
    c.vf_epochs = 0;
    c.obs_norm = 0;
    c.lam = 0.9;
    trpo_train* t = trpo_test_trainer(&comm, &c);
    int truncs = 0, terms = 0;
    for (int it = 0; it < 2; it++) {
      trpo_stats st;
      assert_int_equal(trpo_train_iterate(t, &st), 0);
      for (int i = 0; i < c.nenv; i++) {
        trpo_train_rows b;
        trpo_train_rows_of(t, i, &b);
        assert_int_equal(b.T, c.nsteps);
        double a = 0;
        for (int s = b.T - 1; s >= 0; s--) {
          const double* o = b.obs + (size_t)s * b.nobs;
          int f = b.flags[s], term = (f & TRPO_ENV_TERMINATED) != 0;
          int trunc = !term && (f & TRPO_ENV_TRUNCATED);
          double next = term    ? 0
                        : trunc ? trpo_train_value_of(t, b.final_obs + (size_t)s * b.nobs)
                        : s == b.T - 1 ? trpo_train_value_of(t, b.boot_obs)
                                       : trpo_train_value_of(t, o + b.nobs);
          double v = trpo_train_value_of(t, o);
          int cont = !term && !trunc && s < b.T - 1;
          a = b.rew[s] + c.gamma * next - v + (cont ? c.gamma * c.lam * a : 0);
          double want = a + v;
          if (!(fabs(b.ret[s] - want) <= 1e-9 * (1 + fabs(want))))
            fail_msg("%s env %d row %d: lambda-return %.17g, oracle %.17g", envs[e], i, s,
                     b.ret[s], want);
          terms += term;
          truncs += trunc;
          if (trunc && e == 0) {
            const double* fo = b.final_obs + (size_t)s * b.nobs;
            double th0 = atan2(o[1], o[0]), th1 = atan2(fo[1], fo[0]);
            double d = remainder(th1 - th0 - 0.05 * fo[2], 2 * M_PI);
            if (!(fabs(d) < 1e-9)) fail_msg("env %d row %d: final obs is no step after it", i, s);
            if (s < b.T - 1 && fo[2] == o[b.nobs + 2])
              fail_msg("env %d row %d: final obs is the next episode's first", i, s);
          }
        }
      }
    }
    // Pendulum: every environment truncates once per 200 steps; CartPole: terminations only
    if (e == 0) assert_true(truncs >= 2 * c.nenv && terms == 0);
    if (e == 1) assert_true(terms >= c.nenv && truncs == 0);
    trpo_train_free(t);
  }
}

// The value fit reaches its targets: after many epochs on one batch, V of each row's observation
// (in the returns' units) explains a good part of the variance of that row's lambda-return (on
// Pendulum under a near-random policy the returns hold much action noise), with raw
// targets and with vf_norm (targets scaled by the return statistics of the iterations before,
// which the second iteration is the first to use). No observation statistics, so V after the
// iteration is the V that was fitted.
static void value_fit_reaches_targets(void** state) {
  (void)state;
  for (int norm = 0; norm <= 1; norm++) {
    trpo_config c;
    trpo_test_config(&c, "Pendulum-v1", 2, 2, 100);
    c.obs_norm = 0;
    c.vf_norm = norm;
    c.vf_epochs = 300;
    c.vf_minibatch = 50;
    c.vf_lr = 0.003;
    trpo_train* t = trpo_test_trainer(&comm, &c);
    for (int it = 0; it < 2; it++) {
      trpo_stats st;
      assert_int_equal(trpo_train_iterate(t, &st), 0);
      double n = 0, sy = 0, syy = 0, sr = 0;
      for (int i = 0; i < c.nenv; i++) {
        trpo_train_rows b;
        trpo_train_rows_of(t, i, &b);
        for (int s = 0; s < b.T; s++) {
          double y = b.ret[s], d = y - trpo_train_value_of(t, b.obs + (size_t)s * b.nobs);
          n++, sy += y, syy += y * y, sr += d * d;
        }
      }
      double r2 = 1 - sr / (syy - sy * sy / n);
      // measured (seed 2): 0.45 to 0.66; targets scaled by the std instead of divided: -2.4e6
      if (!(r2 > 0.3))
        fail_msg("vf_norm %d, iteration %d: V explains %.3f of the targets' variance", norm, it, r2);
    }
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

// sizes past what the build indexes (int offsets, int counts in the exact sums) are refused
// before anything large is allocated, naming the keys, not left to overflow
static void oversized_configs_refused(void** state) {
  (void)state;
  struct { const char *key, *value, *want; } cases[] = {
      {"nsteps", "10000000", "keys 'nenv' and 'nsteps': 300 x 10000000"},
      {"hidden", "50000,50000", "key 'hidden' = 50000,50000"},
      {"vf_hidden", "30000,30000", "key 'vf_hidden' = 30000,30000"},
  };
  for (int k = 0; k < 3; k++) {
    trpo_config c;
    trpo_test_config(&c, "Pendulum-v1", 1, k == 0 ? 300 : 2, k == 0 ? 100 : 64);
    char over[64], err[512] = "", *ov[1] = {over};
    snprintf(over, sizeof over, "%s=%s", cases[k].key, cases[k].value);
    assert_int_equal(trpo_config_load(&c, NULL, 1, ov, err, sizeof err), 0);
    trpo_train* t = NULL;
    assert_int_equal(trpo_train_make(&t, &c, &comm, err, sizeof err), TRPO_EXIT_BADINPUT);
    assert_null(t);
    if (!strstr(err, cases[k].want)) fail_msg("message '%s' lacks '%s'", err, cases[k].want);
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
      cmocka_unit_test(step_matches_quadratic_model),
      cmocka_unit_test(fisher_window_matches_kl_curvature),
      cmocka_unit_test(gae_wiring_matches_oracle),
      cmocka_unit_test(value_fit_reaches_targets),
      cmocka_unit_test(oversized_configs_refused),
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
