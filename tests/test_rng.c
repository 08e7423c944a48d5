// test_rng.c: xoshiro256** against published outputs, stream separation, and the moments and
// ranges of every distribution.

#include "testutil.h"

#include <stdio.h>
#include <string.h>

// the generator core from the state (1, 2, 3, 4), as computed by the reference algorithm
static void test_rng_known_answers(void** state) {
  (void)state;
  trpo_rng r = {{1, 2, 3, 4}};
  const uint64_t want[6] = {11520u, 0u, 1509978240u, UINT64_C(1215971899390074240),
                            UINT64_C(1216172134540287360), UINT64_C(607988272756665600)};
  for (int i = 0; i < 6; i++) assert_true(trpo_rng_next(&r) == want[i]);
}

// same (seed, stream, purpose): same sequence; any word different: a different one
static void test_rng_streams(void** state) {
  (void)state;
  enum { N = 1000 };
  static uint64_t a[N], b[N];
  trpo_rng r;
  trpo_rng_seed(&r, 42, 7, TRPO_RNG_ACTION);
  for (int i = 0; i < N; i++) a[i] = trpo_rng_next(&r);
  trpo_rng_seed(&r, 42, 7, TRPO_RNG_ACTION);
  for (int i = 0; i < N; i++) b[i] = trpo_rng_next(&r);
  assert_memory_equal(a, b, sizeof a);

  // neighbours in each word, and the global stream
  const uint64_t other[][3] = {{43, 7, TRPO_RNG_ACTION},  {42, 8, TRPO_RNG_ACTION},
                               {42, 6, TRPO_RNG_ACTION},  {42, 7, TRPO_RNG_RESET},
                               {42, TRPO_RNG_GLOBAL, TRPO_RNG_ACTION}, {0, 7, TRPO_RNG_ACTION},
                               {42, 0, TRPO_RNG_ACTION},  {42, 7, 0}};
  for (size_t k = 0; k < sizeof other / sizeof other[0]; k++) {
    trpo_rng_seed(&r, other[k][0], other[k][1], other[k][2]);
    int same = 0;
    for (int i = 0; i < N; i++) same += trpo_rng_next(&r) == a[i];
    assert_int_equal(same, 0);
  }

  // many streams: first outputs all distinct (a collision among 10^4 64-bit values is ~1e-11)
  enum { S = 10000 };
  static uint64_t first[S];
  for (int s = 0; s < S; s++) {
    trpo_rng_seed(&r, 1, (uint64_t)s, TRPO_RNG_RESET);
    first[s] = trpo_rng_next(&r);
  }
  for (int s = 0; s < S; s++)
    for (int t = s + 1; t < S; t++) assert_true(first[s] != first[t]);
}

// U[0, 1): in range, on the 2^-53 grid, mean 1/2 and variance 1/12
static void test_rng_uniform(void** state) {
  (void)state;
  enum { N = 1000000 };
  trpo_rng r;
  trpo_rng_seed(&r, 1, 2, 3);
  double s = 0, q = 0, lo = 1, hi = 0;
  for (int i = 0; i < N; i++) {
    double u = trpo_rng_uniform(&r);
    assert_true(u >= 0 && u < 1);
    assert_true(ldexp(u, 53) == floor(ldexp(u, 53)));
    s += u;
    q += (u - 0.5) * (u - 0.5);
    lo = fmin(lo, u);
    hi = fmax(hi, u);
  }
  double mean = s / N, var = q / N;
  printf("uniform: mean %.6f var %.6f min %.3g max %.9f\n", mean, var, lo, hi);
  // 6 standard errors: sqrt(1/12/N) = 2.9e-4; var's: sqrt(1/180/N) = 7.5e-5
  assert_true(fabs(mean - 0.5) < 6 * 2.9e-4);
  assert_true(fabs(var - 1.0 / 12) < 6 * 7.5e-5);
  assert_true(lo < 1e-5 && hi > 1 - 1e-5);

  // range(lo, hi) stays in [lo, hi)
  for (int i = 0; i < 10000; i++) {
    double x = trpo_rng_range(&r, -2, 3);
    assert_true(x >= -2 && x < 3);
  }
}

// N(0, 1): mean 0, variance 1, kurtosis 3, the 1.96 tails hold 5%
static void test_rng_normal(void** state) {
  (void)state;
  enum { N = 1000000 };
  trpo_rng r;
  trpo_rng_seed(&r, 9, 9, 9);
  double s = 0, q = 0, k4 = 0;
  long tail = 0;
  for (int i = 0; i < N; i++) {
    double z = trpo_rng_normal(&r);
    assert_true(isfinite(z));
    s += z;
    q += z * z;
    k4 += z * z * z * z;
    tail += fabs(z) > 1.959963984540054;
  }
  double mean = s / N, var = q / N - mean * mean, kurt = k4 / N, frac = (double)tail / N;
  printf("normal: mean %.5f var %.5f E z^4 %.4f tails %.5f\n", mean, var, kurt, frac);
  // standard errors: 1e-3 (mean), 1.4e-3 (var), 9.8e-3 (E z^4), 2.2e-4 (tail fraction)
  assert_true(fabs(mean) < 6e-3);
  assert_true(fabs(var - 1) < 9e-3);
  assert_true(fabs(kurt - 3) < 6e-2);
  assert_true(fabs(frac - 0.05) < 1.4e-3);
}

// below(n): in [0, n), every value about equally often (chi-square), n = 1 gives 0
static void test_rng_below(void** state) {
  (void)state;
  trpo_rng r;
  trpo_rng_seed(&r, 5, 6, 7);
  const uint64_t ns[] = {1, 2, 3, 7, 10, 1000, UINT64_C(1) << 63, (UINT64_C(1) << 63) + 1,
                         UINT64_MAX};
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
    for (int i = 0; i < 20000; i++) assert_true(trpo_rng_below(&r, ns[k]) < ns[k]);

  // chi-square with 9 and 6 degrees of freedom; P(chi2_9 > 33.7) = 1e-4, P(chi2_6 > 27.9) = 1e-4
  const uint64_t ms[] = {10, 7};
  const double limit[] = {33.7, 27.9};
  for (int k = 0; k < 2; k++) {
    enum { N = 200000 };
    long count[10] = {0};
    for (int i = 0; i < N; i++) count[trpo_rng_below(&r, ms[k])]++;
    double chi2 = 0, e = (double)N / ms[k];
    for (uint64_t j = 0; j < ms[k]; j++) chi2 += (count[j] - e) * (count[j] - e) / e;
    printf("below(%d): chi2 %.2f\n", (int)ms[k], chi2);
    assert_true(chi2 < limit[k]);
  }

  // a large n that is not a power of two: the halves [0, n/2) and [n/2, n) are equally likely
  uint64_t n = UINT64_C(3) << 62;   // 0.75 * 2^64: plain modulo would favour the lower third
  long low = 0;
  for (int i = 0; i < 100000; i++) low += trpo_rng_below(&r, n) < n / 3;
  printf("below(3*2^62): fraction below n/3 %.4f\n", low / 1e5);
  assert_true(fabs(low / 1e5 - 1.0 / 3) < 6 * 1.5e-3);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rng_known_answers), cmocka_unit_test(test_rng_streams),
      cmocka_unit_test(test_rng_uniform),       cmocka_unit_test(test_rng_normal),
      cmocka_unit_test(test_rng_below),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
