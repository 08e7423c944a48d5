// test_gae.c: GAE against hand-worked segments and against the direct sum of eq. 16.
//
// Hand cases work each delta_t and A_t out in the comments. Entries of vend that must not be
// read hold NaN: reading one makes the result NaN, and the comparison traps (FE_INVALID).

#include "testutil.h"

#include <stdio.h>

#define TERM TRPO_ENV_TERMINATED
#define TRUNC TRPO_ENV_TRUNCATED

static void expect(const double* got, const double* want, int n) {
  for (int i = 0; i < n; i++) {
    if (!(fabs(got[i] - want[i]) <= 1e-12))
      printf("t=%d: got %.17g want %.17g\n", i, got[i], want[i]);
    assert_true(fabs(got[i] - want[i]) <= 1e-12);
  }
}

// run GAE and check adv, and ret = adv + value
static void check(const double* reward, const double* value, const double* vend, const int* flags,
                  int T, double gamma, double lambda, const double* want) {
  double adv[8], ret[8], wret[8];
  trpo_gae_segment(adv, ret, reward, value, vend, flags, T, gamma, lambda);
  expect(adv, want, T);
  for (int t = 0; t < T; t++) wret[t] = want[t] + value[t];
  expect(ret, wret, T);
}

// no flag: the segment's last step bootstraps vend[T-1]
static void test_gae_rollout_boundary(void** state) {
  (void)state;
  const double r[3] = {1, 2, 3}, v[3] = {0.5, 1.0, 1.5}, vend[3] = {NAN, NAN, 2.0};
  const int f[3] = {0, 0, 0};
  // gamma 0.9, lambda 0.8, gamma lambda = 0.72:
  // d2 = 3 + 0.9*2.0 - 1.5 = 3.3               A2 = 3.3
  // d1 = 2 + 0.9*1.5 - 1.0 = 2.35              A1 = 2.35 + 0.72*3.3  = 4.726
  // d0 = 1 + 0.9*1.0 - 0.5 = 1.4               A0 = 1.4  + 0.72*4.726 = 4.80272
  check(r, v, vend, f, 3, 0.9, 0.8, (const double[]){4.80272, 4.726, 3.3});
}

// a termination bootstraps 0 and cuts the recursion
static void test_gae_terminal(void** state) {
  (void)state;
  const double r[4] = {1, 1, 1, 1}, v[4] = {1, 2, 3, 4}, vend[4] = {NAN, NAN, NAN, 5};
  const int f[4] = {0, TERM, 0, 0};
  // d3 = 1 + 0.9*5 - 4 = 1.5                   A3 = 1.5
  // d2 = 1 + 0.9*4 - 3 = 1.6                   A2 = 1.6 + 0.72*1.5 = 2.68
  // d1 = 1 + 0 - 2 = -1 (terminal)             A1 = -1 (cut)
  // d0 = 1 + 0.9*2 - 1 = 1.8                   A0 = 1.8 + 0.72*(-1) = 1.08
  check(r, v, vend, f, 4, 0.9, 0.8, (const double[]){1.08, -1, 2.68, 1.5});
}

// a truncation bootstraps vend[t] (not value[t+1], the next episode's start) and cuts
static void test_gae_truncated(void** state) {
  (void)state;
  const double r[3] = {1, 1, 1}, v[3] = {1, 2, 3}, vend[3] = {NAN, 10, 3};
  const int f[3] = {0, TRUNC, 0};
  // d2 = 1 + 0.9*3 - 3 = 0.7                   A2 = 0.7
  // d1 = 1 + 0.9*10 - 2 = 8 (truncated)        A1 = 8 (cut)
  // d0 = 1 + 0.9*2 - 1 = 1.8                   A0 = 1.8 + 0.72*8 = 7.56
  check(r, v, vend, f, 3, 0.9, 0.8, (const double[]){7.56, 8, 0.7});
}

// both flags on one step: terminal, vend[t] is ignored
static void test_gae_both_flags(void** state) {
  (void)state;
  const double r[3] = {1, 1, 1}, v[3] = {1, 2, 3}, vend[3] = {NAN, NAN, 3};
  const int f[3] = {0, TERM | TRUNC, 0};
  // d2 = 0.7, A2 = 0.7; d1 = 1 - 2 = -1, A1 = -1; A0 = 1.8 - 0.72 = 1.08
  check(r, v, vend, f, 3, 0.9, 0.8, (const double[]){1.08, -1, 0.7});
}

// the last step terminated: no bootstrap from vend; truncated there: vend as at a boundary
static void test_gae_last_step_flags(void** state) {
  (void)state;
  const double r[3] = {1, 1, 1}, v[3] = {1, 2, 3};
  const int fterm[3] = {0, 0, TERM}, ftrunc[3] = {0, 0, TRUNC};
  // terminated: d2 = 1 - 3 = -2; d1 = 1 + 2.7 - 2 = 1.7, A1 = 1.7 - 1.44 = 0.26;
  // d0 = 1.8, A0 = 1.8 + 0.72*0.26 = 1.9872
  check(r, v, (const double[]){NAN, NAN, NAN}, fterm, 3, 0.9, 0.8,
        (const double[]){1.9872, 0.26, -2});
  // truncated with vend 3: d2 = 1 + 2.7 - 3 = 0.7; A1 = 1.7 + 0.504 = 2.204;
  // A0 = 1.8 + 0.72*2.204 = 3.38688
  check(r, v, (const double[]){NAN, NAN, 3}, ftrunc, 3, 0.9, 0.8,
        (const double[]){3.38688, 2.204, 0.7});
}

// edge values of gamma and lambda
static void test_gae_edges(void** state) {
  (void)state;
  const double r[3] = {1, 2, 3}, v[3] = {0.5, 1.0, 1.5}, vend[3] = {NAN, NAN, 2.0};
  const int f[3] = {0, 0, 0};
  // lambda 0: one-step TD errors d_t (from the boundary case above)
  check(r, v, vend, f, 3, 0.9, 0, (const double[]){1.4, 2.35, 3.3});
  // gamma 1, lambda 1: rewards to the end + vend - V: 8-0.5, 7-1, 5-1.5
  check(r, v, vend, f, 3, 1, 1, (const double[]){7.5, 6, 3.5});
  // gamma 0: r_t - V(s_t) whatever lambda
  check(r, v, vend, f, 3, 0, 1, (const double[]){0.5, 1, 1.5});
  // gamma 1, lambda 1 with a termination: Monte Carlo returns of each episode
  // episode 1 (steps 0,1): rewards 1+2 -> A0 = 3 - 0.5, A1 = 2 - 1; episode 2: 3 + 2 - 1.5
  const int fterm[3] = {0, TERM, 0};
  check(r, v, vend, fterm, 3, 1, 1, (const double[]){2.5, 1, 3.5});
  // T = 1: only the boundary bootstrap
  check(r + 2, v + 2, vend + 2, f, 1, 0.5, 0.5, (const double[]){3 + 0.5 * 2 - 1.5});
}

// a long random segment against the direct sum A_t = sum_l (gamma lambda)^l d_{t+l} to the end
// of the piece of trajectory, with its own bootstrap rule
static void test_gae_direct_sum(void** state) {
  (void)state;
  enum { T = 400 };
  static double r[T], v[T], vend[T], adv[T], ret[T], d[T];
  static int f[T], end[T];
  trpo_rng rng;
  trpo_rng_seed(&rng, 3, TRPO_RNG_GLOBAL, 77);
  for (int t = 0; t < T; t++) {
    r[t] = trpo_rng_normal(&rng);
    v[t] = trpo_rng_normal(&rng);
    double u = trpo_rng_uniform(&rng);
    f[t] = u < 0.03 ? TERM : u < 0.06 ? TRUNC : u < 0.07 ? TERM | TRUNC : 0;
    vend[t] = (f[t] == TRUNC || t == T - 1) ? trpo_rng_normal(&rng) : NAN;
  }
  double gamma = 0.97, lambda = 0.9;
  trpo_gae_segment(adv, ret, r, v, vend, f, T, gamma, lambda);

  // deltas and the end of the piece each step belongs to
  for (int t = 0; t < T; t++) {
    int term = f[t] & TERM, stop = f[t] || t == T - 1;
    double vn = term ? 0 : stop ? vend[t] : v[t + 1];
    d[t] = r[t] + gamma * vn - v[t];
    end[t] = stop ? t : -1;
  }
  for (int t = T - 2; t >= 0; t--)
    if (end[t] < 0) end[t] = end[t + 1];
  for (int t = 0; t < T; t++) {
    double s = 0, w = 1;
    for (int k = t; k <= end[t]; k++, w *= gamma * lambda) s += w * d[k];
    assert_true(fabs(adv[t] - s) <= 1e-12 * (1 + fabs(s)));
    assert_true(ret[t] == adv[t] + v[t]);
  }
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gae_rollout_boundary), cmocka_unit_test(test_gae_terminal),
      cmocka_unit_test(test_gae_truncated),        cmocka_unit_test(test_gae_both_flags),
      cmocka_unit_test(test_gae_last_step_flags),  cmocka_unit_test(test_gae_edges),
      cmocka_unit_test(test_gae_direct_sum),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
