// test_cg.c: conjugate gradient against a direct (Cholesky) solve, and its guards.
//
// Systems are built as A = Q diag(lambda) Q^T with Q a random orthogonal matrix, so the condition
// number and the number of distinct eigenvalues are known. The reference solution comes from a
// Cholesky factorisation written here, independent of CG.

#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define N 50

typedef struct dense_ {
  int n;
  const double* a;   // (n x n) row-major
  int calls;         // products taken
  int nan_after;     // from this call on the product is NaN (-1: never)
} dense;

static void matvec(void* ctx, double* out, const double* v) {
  dense* d = ctx;
  // a product that breaks down returns NaN, as a Fisher product of a broken network would
  if (d->nan_after >= 0 && d->calls >= d->nan_after) {
    for (int i = 0; i < d->n; i++) out[i] = NAN;
    d->calls++;
    return;
  }
  for (int i = 0; i < d->n; i++) {
    double s = 0;
    for (int j = 0; j < d->n; j++) s += d->a[i * d->n + j] * v[j];
    out[i] = s;
  }
  d->calls++;
}

// A = Q diag(lambda) Q^T, Q from Gram-Schmidt of a random Gaussian matrix
static void make_spd(double* a, const double* lambda, int n, trpo_rng* rng) {
  double q[N * N];
  for (int i = 0; i < n * n; i++) q[i] = trpo_rng_normal(rng);
  for (int c = 0; c < n; c++) {
    // columns of q (stored as rows c) made orthonormal, twice for accuracy
    for (int pass = 0; pass < 2; pass++)
      for (int p = 0; p < c; p++) {
        double d = 0;
        for (int k = 0; k < n; k++) d += q[c * n + k] * q[p * n + k];
        for (int k = 0; k < n; k++) q[c * n + k] -= d * q[p * n + k];
      }
    double nn = 0;
    for (int k = 0; k < n; k++) nn += q[c * n + k] * q[c * n + k];
    for (int k = 0; k < n; k++) q[c * n + k] /= sqrt(nn);
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int k = 0; k < n; k++) s += q[k * n + i] * lambda[k] * q[k * n + j];
      a[i * n + j] = s;
    }
}

// x = A^-1 b by Cholesky A = L L^T
static void cholesky_solve(double* x, const double* a, const double* b, int n) {
  double l[N * N] = {0};
  for (int j = 0; j < n; j++) {
    double d = a[j * n + j];
    for (int k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    assert_true(d > 0);
    l[j * n + j] = sqrt(d);
    for (int i = j + 1; i < n; i++) {
      double s = a[i * n + j];
      for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / l[j * n + j];
    }
  }
  double y[N];
  for (int i = 0; i < n; i++) {
    double s = b[i];
    for (int k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  for (int i = n - 1; i >= 0; i--) {
    double s = y[i];
    for (int k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
}

static double norm2(const double* x, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i] * x[i];
  return s;
}

// random SPD systems with condition 1e3: CG reaches the tolerance and matches Cholesky
static void test_cg_random_spd(void** state) {
  (void)state;
  trpo_rng rng;
  trpo_rng_seed(&rng, 7, TRPO_RNG_GLOBAL, 99);
  static double a[N * N];
  for (int trial = 0; trial < 5; trial++) {
    // eigenvalues log-spaced over [1, 1e3]
    double lambda[N];
    for (int k = 0; k < N; k++) lambda[k] = pow(10.0, 3.0 * k / (N - 1));
    make_spd(a, lambda, N, &rng);
    double b[N], x[N], xref[N], work[3 * N], r[N];
    for (int i = 0; i < N; i++) b[i] = trpo_rng_normal(&rng);
    double tol = 1e-24 * norm2(b, N);

    // solve both ways
    dense d = {N, a, 0, -1};
    trpo_cgresult res = trpo_cg_solve(matvec, &d, x, b, work, N, 1000, tol);
    cholesky_solve(xref, a, b, N);

    // converged, within the iteration budget, one product per iteration
    printf("trial %d: %d iterations, r.r %.3g\n", trial, res.iters, res.residual);
    assert_int_equal(res.converged, 1);
    assert_true(res.residual <= tol);
    assert_true(res.iters >= 1 && res.iters < 1000);
    assert_int_equal(d.calls, res.iters);

    // the true residual is small and x matches the direct solve
    matvec(&d, r, x);
    for (int i = 0; i < N; i++) r[i] -= b[i];
    assert_true(norm2(r, N) <= 1e-18 * norm2(b, N));
    double err = trpo_test_maxdiff(x, xref, N) / trpo_test_maxabs(xref, N);
    printf("  max |x - x_chol| / max |x_chol| = %.3g\n", err);
    assert_true(err < 1e-9);
  }
}

// k distinct eigenvalues: CG finishes in k iterations (Krylov space of dimension k)
static void test_cg_distinct_eigenvalues(void** state) {
  (void)state;
  trpo_rng rng;
  trpo_rng_seed(&rng, 8, TRPO_RNG_GLOBAL, 99);
  static double a[N * N];
  double lambda[N];
  for (int k = 0; k < N; k++) lambda[k] = 1.0 + k % 3;   // {1, 2, 3}
  make_spd(a, lambda, N, &rng);
  double b[N], x[N], work[3 * N];
  for (int i = 0; i < N; i++) b[i] = trpo_rng_normal(&rng);
  dense d = {N, a, 0, -1};
  trpo_cgresult res = trpo_cg_solve(matvec, &d, x, b, work, N, 100, 1e-20 * norm2(b, N));
  assert_int_equal(res.converged, 1);
  assert_int_equal(res.iters, 3);
}

// the iteration limit stops it, not converged; same inputs give the same bits
static void test_cg_limit_and_determinism(void** state) {
  (void)state;
  trpo_rng rng;
  trpo_rng_seed(&rng, 9, TRPO_RNG_GLOBAL, 99);
  static double a[N * N];
  double lambda[N];
  for (int k = 0; k < N; k++) lambda[k] = pow(10.0, 3.0 * k / (N - 1));
  make_spd(a, lambda, N, &rng);
  double b[N], x1[N], x2[N], work[3 * N], r[N];
  for (int i = 0; i < N; i++) b[i] = trpo_rng_normal(&rng);

  // five iterations, then the reported r.r is that of the returned x
  dense d = {N, a, 0, -1};
  trpo_cgresult r1 = trpo_cg_solve(matvec, &d, x1, b, work, N, 5, 0);
  assert_int_equal(r1.iters, 5);
  assert_int_equal(r1.converged, 0);
  matvec(&d, r, x1);
  for (int i = 0; i < N; i++) r[i] = b[i] - r[i];
  assert_true(fabs(norm2(r, N) - r1.residual) <= 1e-8 * r1.residual);

  // the A-norm error (x - x*)^T A (x - x*) falls with every iteration (r.r need not)
  double xref[N], e[N], ae[N], prev;
  cholesky_solve(xref, a, b, N);
  matvec(&d, ae, xref);
  prev = 0;
  for (int i = 0; i < N; i++) prev += xref[i] * ae[i];
  for (int k = 1; k <= 8; k++) {
    trpo_cgresult rk = trpo_cg_solve(matvec, &d, x2, b, work, N, k, 0);
    assert_int_equal(rk.iters, k);
    for (int i = 0; i < N; i++) e[i] = x2[i] - xref[i];
    matvec(&d, ae, e);
    double en = 0;
    for (int i = 0; i < N; i++) en += e[i] * ae[i];
    assert_true(en < prev);
    prev = en;
  }

  // a second run, with garbage in x and work, gives the same bits
  for (int i = 0; i < N; i++) x2[i] = 1e300;
  for (int i = 0; i < 3 * N; i++) work[i] = -1e300;
  trpo_cgresult r2 = trpo_cg_solve(matvec, &d, x2, b, work, N, 5, 0);
  assert_memory_equal(x1, x2, sizeof x1);
  assert_memory_equal(&r1.residual, &r2.residual, sizeof(double));
}

// zero right-hand side: x = 0 at once, no product, no NaN
static void test_cg_zero_rhs(void** state) {
  (void)state;
  double a[4] = {2, 0, 0, 3}, b[2] = {0, 0}, x[2] = {5, -7}, work[6];
  dense d = {2, a, 0, -1};
  trpo_cgresult res = trpo_cg_solve(matvec, &d, x, b, work, 2, 10, 0);
  assert_int_equal(res.iters, 0);
  assert_int_equal(res.converged, 1);
  assert_true(res.residual == 0);
  assert_true(x[0] == 0 && x[1] == 0);
  assert_int_equal(d.calls, 0);
}

// not SPD: negative or zero curvature stops at once with x = 0 and converged 0
static void test_cg_not_spd(void** state) {
  (void)state;
  double work[6], x[2];

  // negative definite
  double neg[4] = {-1, 0, 0, -2}, b[2] = {1, 1};
  dense d = {2, neg, 0, -1};
  trpo_cgresult res = trpo_cg_solve(matvec, &d, x, b, work, 2, 10, 0);
  assert_int_equal(res.converged, 0);
  assert_int_equal(res.iters, 0);
  assert_true(x[0] == 0 && x[1] == 0);

  // indefinite with p.Ap = 0 exactly on the first direction
  double ind[4] = {1, 0, 0, -1};
  d = (dense){2, ind, 0, -1};
  res = trpo_cg_solve(matvec, &d, x, b, work, 2, 10, 0);
  assert_int_equal(res.converged, 0);
  assert_int_equal(res.iters, 0);
  assert_true(isfinite(x[0]) && isfinite(x[1]));

  // indefinite, failing only on the second direction: the first step's x is kept
  double ind2[4] = {1, 0, 0, -0.5};
  double b2[2] = {1, 0.1};
  d = (dense){2, ind2, 0, -1};
  res = trpo_cg_solve(matvec, &d, x, b2, work, 2, 10, 0);
  assert_int_equal(res.converged, 0);
  assert_int_equal(res.iters, 1);
  assert_true(isfinite(x[0]) && isfinite(x[1]) && isfinite(res.residual));
}

// a product that returns NaN stops the solve with the last finite x
static void test_cg_nan_product(void** state) {
  (void)state;
  trpo_rng rng;
  trpo_rng_seed(&rng, 10, TRPO_RNG_GLOBAL, 99);
  static double a[N * N];
  double lambda[N];
  for (int k = 0; k < N; k++) lambda[k] = 1 + k;
  make_spd(a, lambda, N, &rng);
  double b[N], x[N], work[3 * N];
  for (int i = 0; i < N; i++) b[i] = trpo_rng_normal(&rng);
  dense d = {N, a, 0, 3};
  trpo_cgresult res = trpo_cg_solve(matvec, &d, x, b, work, N, 10, 0);
  assert_int_equal(res.converged, 0);
  assert_int_equal(res.iters, 3);
  for (int i = 0; i < N; i++) assert_true(isfinite(x[i]));
  assert_true(isfinite(res.residual));
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cg_random_spd),
      cmocka_unit_test(test_cg_distinct_eigenvalues),
      cmocka_unit_test(test_cg_limit_and_determinism),
      cmocka_unit_test(test_cg_zero_rhs),
      cmocka_unit_test(test_cg_not_spd),
      cmocka_unit_test(test_cg_nan_product),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
