// test_normalizer.c: merged running statistics against two-pass statistics of the whole data,
// and the normalise-and-clip map against hand-worked values.

#include "testutil.h"

#include <stdio.h>
#include <string.h>

// two-pass mean and M2 of rows [r0, r1) of x (rows of n)
static void two_pass(double* mean, double* m2, const double* x, int n, int r0, int r1) {
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int r = r0; r < r1; r++) s += x[r * n + i];
    mean[i] = s / (r1 - r0);
    double q = 0;
    for (int r = r0; r < r1; r++) q += (x[r * n + i] - mean[i]) * (x[r * n + i] - mean[i]);
    m2[i] = q;
  }
}

static int close_rel(double a, double b, double rel) { return fabs(a - b) <= rel * fabs(b); }

// merging random batches one by one equals the whole data's mean and variance
static void test_normalizer_merge_batches(void** state) {
  (void)state;
  enum { R = 3000, n = 4 };
  static double x[R * n];
  trpo_rng rng;
  trpo_rng_seed(&rng, 5, TRPO_RNG_GLOBAL, 1);
  // offsets large against the spread, where a naive sum-of-squares formula fails
  const double off[n] = {0, 1e4, -3e6, 1e-3}, sd[n] = {1, 0.1, 2.5, 1e-4};
  for (int r = 0; r < R; r++)
    for (int i = 0; i < n; i++) x[r * n + i] = off[i] + sd[i] * trpo_rng_normal(&rng);

  trpo_normalizer z;
  trpo_normalizer_make(&z, n, 0);
  int r0 = 0;
  while (r0 < R) {
    // a batch of 1..200 rows
    int r1 = r0 + 1 + (int)trpo_rng_below(&rng, 200);
    if (r1 > R) r1 = R;
    double mean[n], m2[n];
    two_pass(mean, m2, x, n, r0, r1);
    trpo_normalizer_merge(&z, r1 - r0, mean, m2);
    r0 = r1;
  }

  // against the whole data
  double mean[n], m2[n];
  two_pass(mean, m2, x, n, 0, R);
  assert_true(z.count == R);
  for (int i = 0; i < n; i++) {
    printf("dim %d: mean %.17g vs %.17g, var %.17g vs %.17g\n", i, z.mean[i], mean[i],
           z.m2[i] / z.count, m2[i] / R);
    assert_true(fabs(z.mean[i] - mean[i]) <= 1e-12 * (fabs(off[i]) + sd[i]));
    assert_true(close_rel(z.m2[i], m2[i], 1e-9));
  }

  // merging two accumulated normalizers gives the same as one over all the data
  trpo_normalizer a, b;
  trpo_normalizer_make(&a, n, 0);
  trpo_normalizer_make(&b, n, 0);
  double ma[n], qa[n], mb[n], qb[n];
  two_pass(ma, qa, x, n, 0, 1000);
  two_pass(mb, qb, x, n, 1000, R);
  trpo_normalizer_merge(&a, 1000, ma, qa);
  trpo_normalizer_merge(&b, R - 1000, mb, qb);
  trpo_normalizer_merge(&a, b.count, b.mean, b.m2);
  for (int i = 0; i < n; i++) {
    assert_true(fabs(a.mean[i] - mean[i]) <= 1e-12 * (fabs(off[i]) + sd[i]));
    assert_true(close_rel(a.m2[i], m2[i], 1e-9));
  }

  // an empty batch changes nothing
  double before[n];
  memcpy(before, a.mean, sizeof before);
  trpo_normalizer_merge(&a, 0, (double[n]){1e9, 1e9, 1e9, 1e9}, (double[n]){1, 1, 1, 1});
  assert_memory_equal(before, a.mean, sizeof before);
  assert_true(a.count == R);
  trpo_normalizer_free(&a);
  trpo_normalizer_free(&b);
  trpo_normalizer_free(&z);
}

// hand-worked: data {1,2,3,4} -> mean 2.5, var 1.25 (population); clipping
static void test_normalizer_apply_and_clip(void** state) {
  (void)state;
  trpo_normalizer z;
  trpo_normalizer_make(&z, 1, 1.5);

  // before any data: mean 0, variance 1
  double x0[2] = {1.2, -3}, y0[2];
  trpo_normalizer_apply(&z, y0, x0, 2);
  assert_true(fabs(y0[0] - 1.2 / sqrt(1 + 1e-8)) <= 1e-15);
  assert_true(y0[1] == -1.5);   // clipped

  // merge {1,2} and {3,4} as two batches: (2, 1.5, 0.5) and (2, 3.5, 0.5)
  trpo_normalizer_merge(&z, 2, (double[]){1.5}, (double[]){0.5});
  trpo_normalizer_merge(&z, 2, (double[]){3.5}, (double[]){0.5});
  assert_true(z.count == 4 && z.mean[0] == 2.5 && z.m2[0] == 5);

  // y = (x - 2.5) / sqrt(1.25 + 1e-8), clipped to +-1.5; in place (y == x)
  double x[4] = {3, 2.5, 5, -10};
  trpo_normalizer_apply(&z, x, x, 4);
  double s = sqrt(1.25 + 1e-8);
  assert_true(fabs(x[0] - 0.5 / s) <= 1e-15);
  assert_true(x[1] == 0);
  assert_true(x[2] == 1.5 && x[3] == -1.5);

  // clip 0: no clipping
  z.clip = 0;
  double big[1] = {1000}, yb[1];
  trpo_normalizer_apply(&z, yb, big, 1);
  assert_true(fabs(yb[0] - 997.5 / s) <= 1e-12);
  trpo_normalizer_free(&z);
}

// rows of several dimensions use each dimension's statistics
static void test_normalizer_rows(void** state) {
  (void)state;
  trpo_normalizer z;
  trpo_normalizer_make(&z, 2, 10);
  // dim 0: mean 1, var 4 (m2 = 8 over 2); dim 1: mean -1, var 0.25 (m2 = 0.5)
  trpo_normalizer_merge(&z, 2, (double[]){1, -1}, (double[]){8, 0.5});
  double x[4] = {3, 0, -1, -1.5}, y[4];
  trpo_normalizer_apply(&z, y, x, 2);
  double want[4] = {2 / sqrt(4 + 1e-8), 1 / sqrt(0.25 + 1e-8), -2 / sqrt(4 + 1e-8),
                    -0.5 / sqrt(0.25 + 1e-8)};
  assert_true(trpo_test_maxdiff(y, want, 4) <= 1e-15);
  trpo_normalizer_free(&z);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalizer_merge_batches),
      cmocka_unit_test(test_normalizer_apply_and_clip),
      cmocka_unit_test(test_normalizer_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
