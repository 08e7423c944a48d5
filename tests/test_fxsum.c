// test_fxsum.c: exact fixed-point sums: order and split independence to the bit, exactness where
// double summation fails, the range limit, and agreement with an __int128 reference.

#include "testutil.h"

#include <stdio.h>
#include <string.h>

__extension__ typedef __int128 i128;   // GCC's 128-bit integer (not ISO C)

// random value of mixed magnitude: normal times 2^[-40, 40), random sign
static double mixed(trpo_rng* r) {
  return ldexp(trpo_rng_normal(r), (int)trpo_rng_below(r, 80) - 40);
}

static void shuffle(double* x, int n, trpo_rng* r) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)trpo_rng_below(r, (uint64_t)i + 1);
    double t = x[i];
    x[i] = x[j];
    x[j] = t;
  }
}

// sum rows of x (rows of n) in the given order
static void sum_rows(double* out, const double* x, int rows, int n) {
  trpo_fxsum s;
  trpo_fxsum_make(&s, n);
  trpo_fxsum_zero(&s);
  for (int r = 0; r < rows; r++) trpo_fxsum_add(&s, x + (size_t)r * n);
  trpo_fxsum_get(&s, out);
  trpo_fxsum_free(&s);
}

// permutations and splits into partial accumulators give identical bits
static void test_fxsum_order_independent(void** state) {
  (void)state;
  enum { R = 20000 };
  static double x[R], y[R];
  trpo_rng rng;
  trpo_rng_seed(&rng, 1, TRPO_RNG_GLOBAL, 11);
  for (int i = 0; i < R; i++) x[i] = mixed(&rng);
  double ref;
  sum_rows(&ref, x, R, 1);

  // the same values in random orders
  memcpy(y, x, sizeof x);
  double plain_min = INFINITY, plain_max = -INFINITY;
  for (int trial = 0; trial < 10; trial++) {
    shuffle(y, R, &rng);
    double got, plain = 0;
    sum_rows(&got, y, R, 1);
    assert_memory_equal(&got, &ref, sizeof ref);
    for (int i = 0; i < R; i++) plain += y[i];
    plain_min = fmin(plain_min, plain);
    plain_max = fmax(plain_max, plain);
  }
  // (plain double sums of the same orders do differ: the test data can tell)
  printf("fxsum %.17g, plain double sums in [%.17g, %.17g]\n", ref, plain_min, plain_max);
  assert_true(plain_min != plain_max);

  // split into k partial accumulators (as ranks would), normalised, words added as integers
  for (int k = 2; k <= 7; k++) {
    trpo_fxsum part[7], total;
    trpo_fxsum_make(&total, 1);
    trpo_fxsum_zero(&total);
    for (int p = 0; p < k; p++) {
      trpo_fxsum_make(&part[p], 1);
      trpo_fxsum_zero(&part[p]);
    }
    for (int i = 0; i < R; i++) trpo_fxsum_add1(&part[(i * 7919) % k], 0, y[i]);
    for (int p = 0; p < k; p++) {
      trpo_fxsum_normalize(&part[p]);
      for (size_t w = 0; w < trpo_fxsum_nwords(&total); w++) total.w[w] += part[p].w[w];
      trpo_fxsum_free(&part[p]);
    }
    double got;
    trpo_fxsum_get(&total, &got);
    assert_memory_equal(&got, &ref, sizeof ref);
    trpo_fxsum_free(&total);
  }
}

// a vector sum over many additions (past the carry headroom) equals the sum of its pieces
static void test_fxsum_many_additions(void** state) {
  (void)state;
  enum { R = 1500000 };   // more than the 2^20 additions between normalisations
  trpo_rng rng;
  trpo_rng_seed(&rng, 2, TRPO_RNG_GLOBAL, 11);
  trpo_fxsum a, b, c;
  trpo_fxsum_make(&a, 2);
  trpo_fxsum_make(&b, 2);
  trpo_fxsum_make(&c, 2);
  trpo_fxsum_zero(&a);
  trpo_fxsum_zero(&b);
  trpo_fxsum_zero(&c);
  for (int i = 0; i < R; i++) {
    // large same-sign values stress the carries
    double v[2] = {ldexp(1.0 - trpo_rng_uniform(&rng), 55), -ldexp(trpo_rng_uniform(&rng), 40)};
    trpo_fxsum_add(&a, v);
    trpo_fxsum_add(i % 2 ? &b : &c, v);
  }
  trpo_fxsum_normalize(&b);
  trpo_fxsum_normalize(&c);
  for (size_t w = 0; w < trpo_fxsum_nwords(&b); w++) b.w[w] += c.w[w];
  double ga[2], gb[2];
  trpo_fxsum_get(&a, ga);
  trpo_fxsum_get(&b, gb);
  printf("sums: %.17g %.17g\n", ga[0], ga[1]);
  assert_memory_equal(ga, gb, sizeof ga);
  // 1.5e6 values of about 2^54 on average: far beyond 2^57 per value, still exact as a sum
  assert_true(ga[0] > 1e21 && ga[1] < 0);
  trpo_fxsum_free(&a);
  trpo_fxsum_free(&b);
  trpo_fxsum_free(&c);
}

// exact where doubles fail; small negative values; zero
static void test_fxsum_exact(void** state) {
  (void)state;
  trpo_fxsum s;
  trpo_fxsum_make(&s, 3);
  trpo_fxsum_zero(&s);
  double a[3] = {1e16, 1e-300, -1e-10}, b[3] = {1, 0, -2.5e-11}, c[3] = {-1e16, -1e-300, 0};
  trpo_fxsum_add(&s, a);
  trpo_fxsum_add(&s, b);
  trpo_fxsum_add(&s, c);
  double out[3];
  trpo_fxsum_get(&s, out);
  assert_true(1e16 + 1 - 1e16 != 1);   // what double summation gives
  assert_true(out[0] == 1);
  assert_true(out[1] == 0 && !signbit(out[1]));
  assert_true(fabs(out[2] - -1.25e-10) <= 1e-15 * 1.25e-10);

  // single small negative values read back to 1e-15 relative
  const double small[] = {-1e-3, -3.7e-5, -1e-10, -0.1, -1.0 / 3, -2.5e-15};
  for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
    trpo_fxsum_zero(&s);
    trpo_fxsum_add1(&s, 1, small[i]);
    trpo_fxsum_get(&s, out);
    assert_true(fabs(out[1] - small[i]) <= 1e-15 * fabs(small[i]));
    assert_true(out[0] == 0 && out[2] == 0);
  }
  trpo_fxsum_free(&s);
}

// NaN, infinities and |x| >= 2^57 make the vector's sum NaN; just below the limit is fine
static void test_fxsum_bad_inputs(void** state) {
  (void)state;
  const double bad[] = {NAN, INFINITY, -INFINITY, 0x1p57, -0x1p57, 1e300};
  trpo_fxsum s;
  trpo_fxsum_make(&s, 2);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    // traps stay on: a NaN input must be counted quietly, never raise FE_INVALID
    feclearexcept(FE_ALL_EXCEPT);
    trpo_test_traps();
    trpo_fxsum_zero(&s);
    trpo_fxsum_add(&s, (double[]){1, 2});
    trpo_fxsum_add1(&s, 0, bad[i]);
    double out[2];
    trpo_fxsum_get(&s, out);
    assert_true(isnan(out[0]));
    assert_true(isnan(out[1]));   // one bad-input count per vector: all of it reads NaN
  }
  feclearexcept(FE_ALL_EXCEPT);
  trpo_test_traps();
  trpo_fxsum_zero(&s);
  double near[2] = {0x1p57 - 0x1p4, -(0x1p57 - 0x1p4)};
  trpo_fxsum_add(&s, near);
  double out[2];
  trpo_fxsum_get(&s, out);
  assert_true(out[0] == near[0] && out[1] == near[1]);
  trpo_fxsum_free(&s);
}

// values on the 2^-60 grid below 2^40: an __int128 sum is exact; fxsum matches it within 1 ulp
static void test_fxsum_int128_reference(void** state) {
  (void)state;
  enum { R = 5000 };
  trpo_rng rng;
  trpo_rng_seed(&rng, 3, TRPO_RNG_GLOBAL, 11);
  for (int trial = 0; trial < 50; trial++) {
    trpo_fxsum s;
    trpo_fxsum_make(&s, 1);
    trpo_fxsum_zero(&s);
    i128 ref = 0;
    long double ld = 0;
    for (int i = 0; i < R; i++) {
      // m 2^e with |m| < 2^52, e in [-60, -12]: a multiple of 2^-60 below 2^40
      int64_t m = (int64_t)(trpo_rng_next(&rng) >> 12) - (INT64_C(1) << 51);
      int e = -60 + (int)trpo_rng_below(&rng, 49);
      double x = ldexp((double)m, e);
      trpo_fxsum_add1(&s, 0, x);
      ref += (i128)ldexp(x, 60);
      ld += x;
    }
    double got, want = ldexp((double)ref, -60);
    trpo_fxsum_get(&s, &got);
    double ulp = nextafter(fabs(want), INFINITY) - fabs(want);
    if (trial == 0) printf("fxsum %.17g int128 %.17g long double %.17Lg\n", got, want, ld);
    assert_true(fabs(got - want) <= ulp);
    trpo_fxsum_free(&s);
  }
}

// long vectors (the add, normalise and read loops then run in vector lanes) give, element by
// element, the bits of one-element sums of the same columns, with the __int128 reference within
// an ulp; a NaN in a long vector is counted without raising FE_INVALID (traps are on)
static void test_fxsum_long_vectors(void** state) {
  (void)state;
  enum { R = 600, N = 257 };
  static double x[R * N], col[R], got[N];
  static i128 ref[N];
  trpo_rng rng;
  trpo_rng_seed(&rng, 4, TRPO_RNG_GLOBAL, 11);
  for (int i = 0; i < R * N; i++) {
    // on the 2^-60 grid below 2^40, like test_fxsum_int128_reference; large same-sign columns
    // (every 7th) drive the top digit up and the sums negative or positive
    int64_t m = (int64_t)(trpo_rng_next(&rng) >> 12) - (INT64_C(1) << 51);
    int c = i % N;
    if (c % 7 == 0) m = (c % 14 == 0 ? 1 : -1) * (m < 0 ? -m : m);
    x[i] = ldexp((double)m, -60 + (int)trpo_rng_below(&rng, 49));
    ref[c] += (i128)ldexp(x[i], 60);
  }
  trpo_fxsum s;
  trpo_fxsum_make(&s, N);
  trpo_fxsum_zero(&s);
  for (int r = 0; r < R; r++) trpo_fxsum_add(&s, x + (size_t)r * N);
  trpo_fxsum_get(&s, got);
  for (int c = 0; c < N; c++) {
    for (int r = 0; r < R; r++) col[r] = x[(size_t)r * N + c];
    double one;
    sum_rows(&one, col, R, 1);
    assert_memory_equal(&got[c], &one, sizeof one);
    double want = ldexp((double)ref[c], -60);
    assert_true(fabs(got[c] - want) <= nextafter(fabs(want), INFINITY) - fabs(want));
  }
  // reading is repeatable and leaves the sum as it was; normalising changes no value
  double again[N];
  trpo_fxsum_get(&s, again);
  assert_memory_equal(again, got, sizeof got);
  trpo_fxsum_normalize(&s);
  trpo_fxsum_get(&s, again);
  assert_memory_equal(again, got, sizeof got);
  // read in slices (as node sums read theirs, src/comm.c), before and after normalising: the
  // same bits, value by value
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) {
      trpo_fxsum_zero(&s);
      for (int r = 0; r < R; r++) trpo_fxsum_add(&s, x + (size_t)r * N);
    }
    memset(again, 0, sizeof again);
    static const int cut[] = {0, 1, 2, 64, 65, 200, 256, N};
    for (size_t k = 0; k + 1 < sizeof cut / sizeof cut[0]; k++)
      trpo_fxsum_get_range(&s, cut[k], cut[k + 1] - cut[k], again + cut[k]);
    assert_memory_equal(again, got, sizeof got);
  }

  // a NaN and an infinity inside a long vector: counted, all of it reads NaN, no trap
  x[37] = NAN;
  x[N + 200] = -INFINITY;
  feclearexcept(FE_ALL_EXCEPT);
  trpo_test_traps();
  trpo_fxsum_zero(&s);
  trpo_fxsum_add(&s, x);
  trpo_fxsum_add(&s, x + N);
  trpo_fxsum_get(&s, got);
  for (int c = 0; c < N; c++) assert_true(isnan(got[c]));
  trpo_fxsum_free(&s);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fxsum_order_independent), cmocka_unit_test(test_fxsum_many_additions),
      cmocka_unit_test(test_fxsum_exact),             cmocka_unit_test(test_fxsum_bad_inputs),
      cmocka_unit_test(test_fxsum_int128_reference), cmocka_unit_test(test_fxsum_long_vectors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
