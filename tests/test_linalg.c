// test_linalg.c: the BLAS module against its reference loops and hand-worked answers.
//
// gemm (OpenBLAS) against gemm_ref over many shapes, strides, scalars and all transpose pairs;
// gemm_ref against a hand-computed product and its stated summation order; the routing switch;
// dot and axpy against known values; results that must not depend on where the inputs lie; the
// counting of calls by shape.

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <string.h>

#define MAXDIM 140
#define PAD 3

static double abuf[(MAXDIM + PAD) * (MAXDIM + PAD)], bbuf[(MAXDIM + PAD) * (MAXDIM + PAD)];
static double cbuf[(MAXDIM + PAD) * (MAXDIM + PAD)], rbuf[(MAXDIM + PAD) * (MAXDIM + PAD)];

static void fill(double* x, int n, trpo_rng* r) {
  for (int i = 0; i < n; i++) x[i] = trpo_rng_range(r, -1, 1);
}

// one gemm case: op(A) is m x k, op(B) is k x n, leading dimensions padded by PAD
static void one_case(trpo_rng* r, int ta, int tb, int m, int n, int k, double alpha, double beta) {
  int lda = (ta ? m : k) + PAD, ldb = (tb ? k : n) + PAD, ldc = n + PAD;
  int arows = ta ? k : m, brows = tb ? n : k;
  fill(abuf, arows * lda, r);
  fill(bbuf, brows * ldb, r);
  fill(cbuf, m * ldc, r);
  // beta = 0 must not read C: plant NaN there (quiet, so nothing traps unless it is used)
  if (beta == 0)
    for (int i = 0; i < m * ldc; i++) cbuf[i] = NAN;
  // padding of C gets a marker that neither path may touch
  for (int i = 0; i < m; i++)
    for (int j = n; j < ldc; j++) cbuf[i * ldc + j] = 1234.5;
  memcpy(rbuf, cbuf, sizeof(double) * m * ldc);

  trpo_linalg_gemm(ta, tb, m, n, k, alpha, abuf, lda, bbuf, ldb, beta, cbuf, ldc);
  trpo_linalg_gemm_ref(ta, tb, m, n, k, alpha, abuf, lda, bbuf, ldb, beta, rbuf, ldc);

  // entries agree to rounding (|a|, |b|, |c| <= 1: each sum is off by at most ~k ulps)
  double tol = 1e-15 * (k + 2) * 4;
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      double g = cbuf[i * ldc + j], f = rbuf[i * ldc + j];
      if (!isfinite(g) || !isfinite(f) || fabs(g - f) > tol)
        fail_msg("gemm ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g: C[%d][%d] %.17g vs ref %.17g",
                 ta, tb, m, n, k, alpha, beta, i, j, g, f);
    }
    for (int j = n; j < ldc; j++)
      if (cbuf[i * ldc + j] != 1234.5 || rbuf[i * ldc + j] != 1234.5)
        fail_msg("gemm wrote into the padding of C (m=%d n=%d k=%d)", m, n, k);
  }
}

static void test_gemm_vs_ref(void** state) {
  (void)state;
  trpo_rng r;
  trpo_rng_seed(&r, 1, TRPO_RNG_GLOBAL, 100);
  static const int dims[] = {1, 2, 3, 4, 7, 16, 33, 64, 65, 130};
  const int nd = (int)(sizeof dims / sizeof dims[0]);
  static const double scal[][2] = {{1, 0}, {1, 1}, {-0.75, 0.5}, {2.5, 0}};
  long ncase = 0;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int im = 0; im < nd; im++)
        for (int in = 0; in < nd; in++)
          for (int ik = 0; ik < nd; ik++) {
            const double* s = scal[(im + in + ik) % 4];
            one_case(&r, ta, tb, dims[im], dims[in], dims[ik], s[0], s[1]);
            ncase++;
          }
  // the 10000 x 64 x 64 shapes of the fvp, a few rows of them
  one_case(&r, 0, 0, MAXDIM, 64, 64, 1, 0);
  one_case(&r, 1, 0, 64, 64, MAXDIM, 1, 1);
  one_case(&r, 0, 1, MAXDIM, 64, 64, 1, 0);
  assert_int_equal(ncase, 4 * nd * nd * nd);
}

static void test_gemm_empty(void** state) {
  (void)state;
  // k = 0 scales C by beta; m = 0 or n = 0 touches nothing
  double a[1] = {5}, b[1] = {7}, c[4] = {1, 2, 3, 4}, d[4] = {1, 2, 3, 4};
  trpo_linalg_gemm(0, 0, 2, 2, 0, 1.0, a, 1, b, 2, 0.5, c, 2);
  trpo_linalg_gemm_ref(0, 0, 2, 2, 0, 1.0, a, 1, b, 2, 0.5, d, 2);
  for (int i = 0; i < 4; i++) {
    assert_true(c[i] == 0.5 * (i + 1));
    assert_true(d[i] == 0.5 * (i + 1));
  }
  trpo_linalg_gemm(0, 0, 0, 2, 1, 1.0, a, 1, b, 2, 0.0, c, 2);
  trpo_linalg_gemm_ref(0, 0, 2, 0, 1, 1.0, a, 1, b, 1, 0.0, d, 2);
  assert_true(c[0] == 0.5 && d[0] == 0.5);
}

static void test_gemm_ref_hand(void** state) {
  (void)state;
  // A = [1 2 3; 4 5 6], B = [7 8; 9 10; 11 12]: A B = [58 64; 139 154]
  const double A[6] = {1, 2, 3, 4, 5, 6}, At[6] = {1, 4, 2, 5, 3, 6};
  const double B[6] = {7, 8, 9, 10, 11, 12}, Bt[6] = {7, 9, 11, 8, 10, 12};
  const double want[4] = {58, 64, 139, 154};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      double c[4] = {1, 1, 1, 1}, g[4] = {1, 1, 1, 1};
      // C = 2 A B - 3 C
      trpo_linalg_gemm_ref(ta, tb, 2, 2, 3, 2.0, ta ? At : A, ta ? 2 : 3, tb ? Bt : B,
                           tb ? 3 : 2, -3.0, c, 2);
      trpo_linalg_gemm(ta, tb, 2, 2, 3, 2.0, ta ? At : A, ta ? 2 : 3, tb ? Bt : B, tb ? 3 : 2,
                       -3.0, g, 2);
      for (int i = 0; i < 4; i++) {
        assert_true(c[i] == 2 * want[i] - 3);
        assert_true(g[i] == 2 * want[i] - 3);
      }
    }
}

static void test_gemm_ref_order(void** state) {
  (void)state;
  // the reference sums each entry from zero in increasing k: the same bits as that plain loop,
  // for every transpose pair (untransposed B takes the fixed-width column passes: 300 columns
  // are nine full passes and a remainder) and with or without reading C
  trpo_rng r;
  trpo_rng_seed(&r, 2, TRPO_RNG_GLOBAL, 100);
  enum { M = 5, N = 300, K = 77 };
  static double a[K * M], b[N * K], c[M * N], c0[M * N];
  fill(a, K * M, &r);
  fill(b, N * K, &r);
  fill(c0, M * N, &r);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int zb = 0; zb < 2; zb++) {
        double beta = zb ? 0.0 : 0.25;
        memcpy(c, c0, sizeof c);
        trpo_linalg_gemm_ref(ta, tb, M, N, K, 0.5, a, ta ? M : K, b, tb ? K : N, beta, c, N);
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < K; p++)
              s += (ta ? a[p * M + i] : a[i * K + p]) * (tb ? b[j * K + p] : b[p * N + j]);
            double want = zb ? 0.5 * s : 0.5 * s + 0.25 * c0[i * N + j];
            if (c[i * N + j] != want)
              fail_msg("ref ta=%d tb=%d beta=%g: C[%d][%d] %.17g != %.17g", ta, tb, beta, i, j,
                       c[i * N + j], want);
          }
      }
}

static void test_count(void** state) {
  (void)state;
  // counting tallies each call under its shape (reference path apart, beta 0 apart), in order of
  // first appearance, changes no bit of any result, and stops and clears when asked
  trpo_rng r;
  trpo_rng_seed(&r, 6, TRPO_RNG_GLOBAL, 100);
  enum { M = 40, N = 64, K = 33 };
  static double a[M * K], b[K * N], c1[M * N], c2[M * N];
  fill(a, M * K, &r);
  fill(b, K * N, &r);
  trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c1, N);
  trpo_linalg_count(1);
  for (int rep = 0; rep < 3; rep++) trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c2, N);
  assert_memory_equal(c1, c2, sizeof c1);
  trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 1.0, c2, N);
  trpo_linalg_gemm(1, 0, K, N, M, 1.0, a, K, c1, N, 1.0, b, N);
  trpo_linalg_gemm_ref(0, 0, 1, N, K, 1.0, a, K, b, N, 0.0, c2, N);
  trpo_linalg_gemm_ref(0, 0, 1, N, K, 1.0, a, K, b, N, 0.0, c2, N);
  trpo_linalg_use_ref(1);
  trpo_linalg_gemm(0, 0, 1, N, K, 1.0, a, K, b, N, 0.0, c2, N);   // counted once, as ref
  trpo_linalg_use_ref(0);
  trpo_linalg_count_tanh(1000);
  trpo_linalg_count(0);
  trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c2, N);   // not counted
  trpo_linalg_count_tanh(5);
  static trpo_linalgcount cnt;
  trpo_linalg_count_read(&cnt);
  const trpo_gemmshape want[4] = {{0, 0, 0, M, N, K, 1, 3}, {0, 0, 0, M, N, K, 0, 1},
                                  {0, 1, 0, K, N, M, 0, 1}, {1, 0, 0, 1, N, K, 1, 3}};
  assert_int_equal(cnt.nshape, 4);
  assert_int_equal(cnt.lost, 0);
  assert_int_equal(cnt.ntanh, 1000);
  for (int s = 0; s < 4; s++) {
    const trpo_gemmshape* g = &cnt.shape[s];
    if (g->ref != want[s].ref || g->transa != want[s].transa || g->transb != want[s].transb ||
        g->m != want[s].m || g->n != want[s].n || g->k != want[s].k || g->beta0 != want[s].beta0 ||
        g->calls != want[s].calls)
      fail_msg("shape %d: ref %d ta %d tb %d %dx%dx%d beta0 %d calls %ld", s, g->ref, g->transa,
               g->transb, g->m, g->n, g->k, g->beta0, g->calls);
  }
  // a full table: further shapes are lost, not misfiled; starting again clears everything
  trpo_linalg_count(1);
  for (int k = 1; k <= TRPO_LINALG_NSHAPE + 3; k++)
    trpo_linalg_gemm_ref(0, 0, 1, 1, k, 1.0, a, k, b, 1, 0.0, c2, 1);   // one row of a, one column of b
  trpo_linalg_gemm_ref(0, 0, 1, 1, 7, 1.0, a, 7, b, 1, 0.0, c2, 1);
  trpo_linalg_count(0);
  trpo_linalg_count_read(&cnt);
  assert_int_equal(cnt.nshape, TRPO_LINALG_NSHAPE);
  assert_int_equal(cnt.lost, 3);
  assert_int_equal(cnt.shape[6].k, 7);
  assert_int_equal(cnt.shape[6].calls, 2);
  trpo_linalg_count(1);
  trpo_linalg_count(0);
  trpo_linalg_count_read(&cnt);
  assert_int_equal(cnt.nshape, 0);
  assert_int_equal(cnt.lost, 0);
}

static void test_use_ref(void** state) {
  (void)state;
  // with use_ref(1) gemm gives the reference's bits; without, OpenBLAS is not bitwise the
  // reference for a long sum (this checks that the switch really switches)
  trpo_rng r;
  trpo_rng_seed(&r, 3, TRPO_RNG_GLOBAL, 100);
  enum { M = 64, N = 64, K = 128 };
  static double a[M * K], b[K * N], c1[M * N], c2[M * N], c3[M * N];
  fill(a, M * K, &r);
  fill(b, K * N, &r);
  trpo_linalg_use_ref(1);
  trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c1, N);
  trpo_linalg_use_ref(0);
  trpo_linalg_gemm_ref(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c2, N);
  trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c3, N);
  assert_memory_equal(c1, c2, sizeof c1);
  int differ = 0;
  for (int i = 0; i < M * N; i++) differ += c3[i] != c2[i];
  assert_true(differ > 0);
  assert_true(trpo_test_maxdiff(c3, c2, M * N) < 1e-12);
}

static void test_address_independent(void** state) {
  (void)state;
  // the same values at other addresses (other alignments) give the same bits
  trpo_rng r;
  trpo_rng_seed(&r, 4, TRPO_RNG_GLOBAL, 100);
  enum { M = 37, N = 64, K = 64 };
  static double a[M * K], b[K * N], c[M * N];
  static double a2[M * K + 8], b2[K * N + 8], c2[M * N + 8];
  fill(a, M * K, &r);
  fill(b, K * N, &r);
  trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c, N);
  for (int s = 1; s < 8; s++) {
    memcpy(a2 + s, a, sizeof a);
    memcpy(b2 + 8 - s, b, sizeof b);
    trpo_linalg_gemm(0, 0, M, N, K, 1.0, a2 + s, K, b2 + 8 - s, N, 0.0, c2 + s, N);
    assert_memory_equal(c, c2 + s, sizeof c);
  }
}

static void test_dot_axpy(void** state) {
  (void)state;
  // known values
  const double x[4] = {1, -2, 3, 0.5}, y[4] = {4, 5, -6, 8};
  assert_true(trpo_linalg_dot(x, y, 4) == 4 - 10 - 18 + 4);
  assert_true(trpo_linalg_dot(x, y, 0) == 0);
  double z[4] = {1, 1, 1, 1};
  trpo_linalg_axpy(z, -2.0, x, 4);
  const double want[4] = {-1, 5, -5, 0};
  assert_memory_equal(z, want, sizeof want);
  // the fixed order: dot equals the plain increasing-index loop bit for bit
  trpo_rng r;
  trpo_rng_seed(&r, 5, TRPO_RNG_GLOBAL, 100);
  static double u[1001], v[1001];
  fill(u, 1001, &r);
  fill(v, 1001, &r);
  double s = 0;
  for (int i = 0; i < 1001; i++) s += u[i] * v[i];
  assert_true(trpo_linalg_dot(u, v, 1001) == s);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gemm_vs_ref),      cmocka_unit_test(test_gemm_empty),
      cmocka_unit_test(test_gemm_ref_hand),    cmocka_unit_test(test_gemm_ref_order),
      cmocka_unit_test(test_use_ref),          cmocka_unit_test(test_address_independent),
      cmocka_unit_test(test_dot_axpy),         cmocka_unit_test(test_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
