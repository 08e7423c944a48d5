// test_mlp.c: the perceptron against a naive forward, finite differences and its reference path.
//
// Layout by hand; forward against an independent triple loop; the one-row path against the
// reference gemm bit for bit; backward and jvp against central differences (h = 1e-5) at random
// parameters, passing iff max|g - g_fd| <= 1e-6 max(1, max|g|); initialisation statistics; no
// allocation after workmake; and the network's own tanh against the C library's over dense grids,
// at the special values, and in vector lanes against one element at a time.

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <string.h>

#define FD_H 1e-5
#define FD_TOL 1e-6

// a net with random weights, random biases and random inputs
typedef struct net_ {
  trpo_mlp m;
  trpo_mlpwork w;
  double* theta;
  double* x;
  int n;
} net;

static void net_make(net* t, int nin, const int* hidden, int nhidden, int nout, int n,
                     uint64_t seed) {
  trpo_rng r;
  trpo_rng_seed(&r, seed, TRPO_RNG_GLOBAL, TRPO_RNG_INIT);
  trpo_mlp_init(&t->m, nin, hidden, nhidden, nout);
  trpo_mlp_workmake(&t->m, &t->w, n);
  t->theta = trpo_alloc(sizeof(double) * t->m.nparam);
  t->x = trpo_alloc(sizeof(double) * n * nin);
  t->n = n;
  trpo_mlp_randomize(&t->m, t->theta, &r, 1.0);
  for (int l = 0; l < t->m.nlayer; l++)
    for (int j = 0; j < t->m.size[l + 1]; j++) t->theta[t->m.boff[l] + j] = 0.5 * trpo_rng_normal(&r);
  for (int i = 0; i < n * nin; i++) t->x[i] = trpo_rng_range(&r, -2, 2);
}

static void net_free(net* t) {
  trpo_mlp_workfree(&t->w);
  trpo_alloc_free(t->theta);
  trpo_alloc_free(t->x);
}

// sum_rows dout . f(x; theta)
static double weighted_out(net* t, const double* theta, const double* dout) {
  const double* y = trpo_mlp_forward(&t->m, theta, &t->w, t->x, t->n);
  double s = 0;
  for (int i = 0; i < t->n * t->m.size[t->m.nlayer]; i++) s += dout[i] * y[i];
  return s;
}

static void check_fd(const char* what, const double* g, const double* gfd, int n) {
  double err = trpo_test_maxdiff(g, gfd, n), scale = fmax(1.0, trpo_test_maxabs(g, n));
  print_message("%s: err %.3g scale %.3g\n", what, err, scale);
  if (!(err <= FD_TOL * scale)) fail_msg("%s: max|g - g_fd| = %.3g > %.3g", what, err, FD_TOL * scale);
}

static void test_layout(void** state) {
  (void)state;
  // 3 -> 64 -> 64 -> 1: W0 at 0 (192), b0 at 192 (64), W1 at 256 (4096), b1 at 4352 (64),
  // W2 at 4416 (64), b2 at 4480 (1): 4481 parameters
  trpo_mlp m;
  const int hidden[2] = {64, 64};
  trpo_mlp_init(&m, 3, hidden, 2, 1);
  assert_int_equal(m.nlayer, 3);
  const int size[4] = {3, 64, 64, 1}, woff[3] = {0, 256, 4416}, boff[3] = {192, 4352, 4480};
  for (int l = 0; l <= 3; l++) assert_int_equal(m.size[l], size[l]);
  for (int l = 0; l < 3; l++) {
    assert_int_equal(m.woff[l], woff[l]);
    assert_int_equal(m.boff[l], boff[l]);
  }
  assert_int_equal(m.nparam, 4481);
  // no hidden layer: a linear map
  trpo_mlp_init(&m, 4, NULL, 0, 2);
  assert_int_equal(m.nlayer, 1);
  assert_int_equal(m.nparam, 10);
}

static void test_forward_naive(void** state) {
  (void)state;
  // an independent triple loop with the obvious summation order
  const int hidden[2] = {6, 5};
  net t;
  net_make(&t, 4, hidden, 2, 3, 9, 11);
  const double* y = trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, t.n);
  for (int i = 0; i < t.n; i++) {
    double h[3][8];
    for (int j = 0; j < 4; j++) h[0][j] = t.x[i * 4 + j];
    int la = 0;
    for (int l = 0; l < 3; l++) {
      int a = t.m.size[l], b = t.m.size[l + 1], lb = (la + 1) % 3;
      for (int j = 0; j < b; j++) {
        double z = t.theta[t.m.boff[l] + j];
        for (int k = 0; k < a; k++) z += h[la][k] * t.theta[t.m.woff[l] + k * b + j];
        h[lb][j] = l < 2 ? tanh(z) : z;
      }
      la = lb;
    }
    for (int j = 0; j < 3; j++)
      if (fabs(y[i * 3 + j] - h[la][j]) > 1e-14)
        fail_msg("row %d out %d: %.17g vs naive %.17g", i, j, y[i * 3 + j], h[la][j]);
  }
  net_free(&t);
}

static void test_one_row_bits(void** state) {
  (void)state;
  // a row alone (reference loops) has the bits of that row in a reference-path batch, and the
  // batch with OpenBLAS agrees to rounding
  const int hidden[2] = {64, 64};
  net t;
  net_make(&t, 11, hidden, 2, 3, 300, 12);
  static double yref[300 * 3], yblas[300 * 3];
  trpo_linalg_use_ref(1);
  memcpy(yref, trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, t.n), sizeof yref);
  trpo_linalg_use_ref(0);
  memcpy(yblas, trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, t.n), sizeof yblas);
  assert_true(trpo_test_maxdiff(yref, yblas, 300 * 3) < 1e-12);
  for (int i = 0; i < t.n; i += 37) {
    const double* y1 = trpo_mlp_forward(&t.m, t.theta, &t.w, t.x + i * 11, 1);
    assert_memory_equal(y1, yref + i * 3, 3 * sizeof(double));
  }
  net_free(&t);
}

// backward against central differences of sum_rows dout . y
static void backward_case(int nin, const int* hidden, int nhidden, int nout, int n, uint64_t seed) {
  net t;
  net_make(&t, nin, hidden, nhidden, nout, n, seed);
  int np = t.m.nparam;
  double* dout = trpo_alloc(sizeof(double) * n * nout);
  double* g = trpo_alloc(sizeof(double) * np);
  double* gfd = trpo_alloc(sizeof(double) * np);
  double* g0 = trpo_alloc(sizeof(double) * np);
  double* th = trpo_alloc(sizeof(double) * np);
  trpo_rng r;
  trpo_rng_seed(&r, seed, TRPO_RNG_GLOBAL, 99);
  for (int i = 0; i < n * nout; i++) dout[i] = trpo_rng_normal(&r);
  for (int i = 0; i < np; i++) g[i] = g0[i] = trpo_rng_normal(&r);

  // analytic, accumulated onto a nonzero gradient
  trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, n);
  trpo_mlp_backward(&t.m, t.theta, &t.w, g, dout, n);
  for (int i = 0; i < np; i++) g[i] -= g0[i];

  // central differences, one parameter at a time
  memcpy(th, t.theta, sizeof(double) * np);
  for (int i = 0; i < np; i++) {
    th[i] = t.theta[i] + FD_H;
    double fp = weighted_out(&t, th, dout);
    th[i] = t.theta[i] - FD_H;
    double fm = weighted_out(&t, th, dout);
    th[i] = t.theta[i];
    gfd[i] = (fp - fm) / (2 * FD_H);
  }
  check_fd("mlp backward", g, gfd, np);
  // no parameter is trivially zero here (a check that the test exercises every block)
  for (int i = 0; i < np; i++) assert_true(gfd[i] != 0.0);

  trpo_alloc_free(dout);
  trpo_alloc_free(g);
  trpo_alloc_free(gfd);
  trpo_alloc_free(g0);
  trpo_alloc_free(th);
  net_free(&t);
}

static void test_backward_fd(void** state) {
  (void)state;
  const int h2[2] = {7, 5}, h64[2] = {64, 64}, h3[3] = {6, 5, 4};
  backward_case(3, h2, 2, 2, 6, 21);
  backward_case(3, h64, 2, 1, 40, 22);
  backward_case(5, h3, 3, 3, 1, 23);   // one row
  backward_case(4, NULL, 0, 2, 5, 24);  // linear
}

// jvp against central differences of the forward along v
static void jvp_case(int nin, const int* hidden, int nhidden, int nout, int n, uint64_t seed) {
  net t;
  net_make(&t, nin, hidden, nhidden, nout, n, seed);
  int np = t.m.nparam, ny = n * nout;
  double* v = trpo_alloc(sizeof(double) * np);
  double* th = trpo_alloc(sizeof(double) * np);
  double* yp = trpo_alloc(sizeof(double) * ny);
  double* fd = trpo_alloc(sizeof(double) * ny);
  trpo_rng r;
  trpo_rng_seed(&r, seed, TRPO_RNG_GLOBAL, 98);
  for (int i = 0; i < np; i++) v[i] = trpo_rng_normal(&r);

  // differences first, then the forward at theta that jvp reuses
  for (int i = 0; i < np; i++) th[i] = t.theta[i] + FD_H * v[i];
  memcpy(yp, trpo_mlp_forward(&t.m, th, &t.w, t.x, n), sizeof(double) * ny);
  for (int i = 0; i < np; i++) th[i] = t.theta[i] - FD_H * v[i];
  const double* ym = trpo_mlp_forward(&t.m, th, &t.w, t.x, n);
  for (int i = 0; i < ny; i++) fd[i] = (yp[i] - ym[i]) / (2 * FD_H);
  trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, n);
  const double* jv = trpo_mlp_jvp(&t.m, t.theta, &t.w, v, n);
  check_fd("mlp jvp", jv, fd, ny);

  trpo_alloc_free(v);
  trpo_alloc_free(th);
  trpo_alloc_free(yp);
  trpo_alloc_free(fd);
  net_free(&t);
}

static void test_jvp_fd(void** state) {
  (void)state;
  const int h2[2] = {7, 5}, h64[2] = {64, 64}, h3[3] = {6, 5, 4};
  jvp_case(3, h2, 2, 2, 6, 31);
  jvp_case(11, h64, 2, 3, 300, 32);
  jvp_case(5, h3, 3, 3, 1, 33);
  jvp_case(4, NULL, 0, 2, 5, 34);
}

static void test_jvp_backward_adjoint(void** state) {
  (void)state;
  // u . (J v) = (J^T u) . v, both paths with OpenBLAS and with the reference
  const int h64[2] = {64, 64};
  net t;
  net_make(&t, 3, h64, 2, 2, 517, 41);
  int np = t.m.nparam, ny = 517 * 2;
  double* v = trpo_alloc(sizeof(double) * np);
  double* g = trpo_alloc(sizeof(double) * np);
  double* u = trpo_alloc(sizeof(double) * ny);
  trpo_rng r;
  trpo_rng_seed(&r, 41, TRPO_RNG_GLOBAL, 97);
  for (int i = 0; i < np; i++) v[i] = trpo_rng_normal(&r);
  for (int i = 0; i < ny; i++) u[i] = trpo_rng_normal(&r);
  double lhs[2], rhs[2];
  for (int ref = 0; ref < 2; ref++) {
    trpo_linalg_use_ref(ref);
    trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, t.n);
    lhs[ref] = trpo_linalg_dot(u, trpo_mlp_jvp(&t.m, t.theta, &t.w, v, t.n), ny);
    memset(g, 0, sizeof(double) * np);
    trpo_mlp_backward(&t.m, t.theta, &t.w, g, u, t.n);
    rhs[ref] = trpo_linalg_dot(g, v, np);
  }
  trpo_linalg_use_ref(0);
  assert_true(fabs(lhs[0] - rhs[0]) <= 1e-10 * fabs(lhs[0]));
  assert_true(fabs(lhs[1] - rhs[1]) <= 1e-10 * fabs(lhs[1]));
  assert_true(fabs(lhs[0] - lhs[1]) <= 1e-10 * fabs(lhs[0]));
  trpo_alloc_free(v);
  trpo_alloc_free(g);
  trpo_alloc_free(u);
  net_free(&t);
}

static void test_randomize(void** state) {
  (void)state;
  // weights N(0, 1/fan_in), the output layer scaled, biases exactly zero
  const int hidden[1] = {400};
  trpo_mlp m;
  trpo_mlp_init(&m, 100, hidden, 1, 50);
  double* th = trpo_alloc(sizeof(double) * m.nparam);
  for (int i = 0; i < m.nparam; i++) th[i] = 7;
  trpo_rng r;
  trpo_rng_seed(&r, 5, TRPO_RNG_GLOBAL, TRPO_RNG_INIT);
  trpo_mlp_randomize(&m, th, &r, 0.1);
  const double want_sd[2] = {0.1, 0.1 * 0.05};   // 1/sqrt(100), 0.1/sqrt(400)
  for (int l = 0; l < 2; l++) {
    int nw = m.size[l] * m.size[l + 1];
    double s = 0, s2 = 0;
    for (int i = 0; i < nw; i++) {
      s += th[m.woff[l] + i];
      s2 += th[m.woff[l] + i] * th[m.woff[l] + i];
    }
    double mean = s / nw, sd = sqrt(s2 / nw - mean * mean);
    assert_true(fabs(mean) < 4 * want_sd[l] / sqrt(nw));
    assert_true(fabs(sd / want_sd[l] - 1) < 0.02);   // 40000 and 20000 draws: ~0.5% sd
    for (int j = 0; j < m.size[l + 1]; j++) assert_true(th[m.boff[l] + j] == 0.0);
  }
  trpo_alloc_free(th);
}

static void test_no_alloc(void** state) {
  (void)state;
  // forward, backward and jvp allocate nothing after workmake
  const int h64[2] = {64, 64};
  net t;
  net_make(&t, 3, h64, 2, 1, 100, 51);
  double* g = trpo_alloc(sizeof(double) * t.m.nparam);
  long before = trpo_alloc_count();
  for (int rep = 0; rep < 3; rep++) {
    trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, t.n);
    trpo_mlp_jvp(&t.m, t.theta, &t.w, t.theta, t.n);
    trpo_mlp_backward(&t.m, t.theta, &t.w, g, t.w.dh[3], t.n);
    trpo_mlp_forward(&t.m, t.theta, &t.w, t.x, 1);
  }
  assert_int_equal(trpo_alloc_count(), before);
  trpo_alloc_free(g);
  net_free(&t);
}

// relative error of trpo_mlp_tanh against libm's tanh over x[0..n), and odd symmetry, bit for bit
static double tanh_block(const double* x, int n) {
  static double y[4096], yneg[4096], xneg[4096];
  assert_true(n <= 4096);
  trpo_mlp_tanh(y, x, n);
  for (int i = 0; i < n; i++) xneg[i] = -x[i];
  trpo_mlp_tanh(yneg, xneg, n);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    double want = tanh(x[i]);
    double e = want != 0 ? fabs(y[i] - want) / fabs(want) : fabs(y[i]);
    if (!(e <= 1e-15)) fail_msg("tanh(%.17g) = %.17g, libm %.17g (relative error %.3g)", x[i], y[i], want, e);
    if (yneg[i] != -y[i]) fail_msg("tanh(-%.17g) = %.17g is not -tanh(x) = %.17g", x[i], yneg[i], -y[i]);
    worst = fmax(worst, e);
  }
  return worst;
}

static void test_tanh_vs_libm(void** state) {
  (void)state;
  // a geometric grid from 1e-30 to 30 (ratio 1 + 1e-5) and a linear one over [0, 25] (step 1e-5):
  // the relative error stays below 1e-15 everywhere (about 5 units in the last place)
  static double x[4096];
  double worst = 0, v = 1e-30;
  while (v < 30) {
    int n = 0;
    for (; n < 4096 && v < 30; n++, v *= 1.00001) x[n] = v;
    worst = fmax(worst, tanh_block(x, n));
  }
  for (long i = 0; i <= 2500000;) {
    int n = 0;
    for (; n < 4096 && i <= 2500000; n++, i++) x[n] = 1e-5 * (double)i;
    worst = fmax(worst, tanh_block(x, n));
  }
  print_message("tanh: worst relative error against libm %.3g\n", worst);
}

static void test_tanh_special(void** state) {
  (void)state;
  // signed zeros, infinities, the saturated range, a subnormal, and a quiet NaN (the traps are on:
  // nothing may raise invalid)
  const double x[9] = {0.0, -0.0, INFINITY, -INFINITY, 20.0, -1e300, 19.0, 0x1p-1070, NAN};
  double y[9];
  trpo_mlp_tanh(y, x, 9);
  assert_true(y[0] == 0 && !signbit(y[0]));
  assert_true(y[1] == 0 && signbit(y[1]));
  assert_true(y[2] == 1.0 && y[3] == -1.0 && y[4] == 1.0 && y[5] == -1.0);
  assert_true(y[6] == tanh(19.0));
  assert_true(y[7] == x[7]);
  assert_true(isnan(y[8]));
}

static void test_tanh_lanes(void** state) {
  (void)state;
  // a block in vector lanes gives each element the bits it gets alone (the tail path), in place too
  trpo_rng r;
  trpo_rng_seed(&r, 8, TRPO_RNG_GLOBAL, 101);
  enum { N = 101 };
  double x[N], y[N], z[N];
  for (int i = 0; i < N; i++) x[i] = trpo_rng_range(&r, -6, 6) * (i % 7 == 0 ? 1e-9 : 1.0);
  trpo_mlp_tanh(y, x, N);
  for (int i = 0; i < N; i++) trpo_mlp_tanh(z + i, x + i, 1);
  assert_memory_equal(y, z, sizeof y);
  memcpy(z, x, sizeof z);
  trpo_mlp_tanh(z + 3, z + 3, N - 3);
  assert_memory_equal(y + 3, z + 3, sizeof(double) * (N - 3));
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),       cmocka_unit_test(test_forward_naive),
      cmocka_unit_test(test_one_row_bits), cmocka_unit_test(test_backward_fd),
      cmocka_unit_test(test_jvp_fd),       cmocka_unit_test(test_jvp_backward_adjoint),
      cmocka_unit_test(test_randomize),    cmocka_unit_test(test_no_alloc),
      cmocka_unit_test(test_tanh_vs_libm), cmocka_unit_test(test_tanh_special),
      cmocka_unit_test(test_tanh_lanes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
