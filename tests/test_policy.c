// test_policy.c: both policy heads against hand-worked values, finite differences and a dense
// Fisher matrix.
//
// Known values of logp, entropy and KL; sampling statistics and the exact inverse-CDF rule; the
// gradients of sum logp, entropy, KL and of the surrogate against central differences (h = 1e-5)
// at theta != theta_old, passing iff max|g - g_fd| <= 1e-6 max(1, max|g|); the Fisher-vector
// product against central differences of the KL gradient and against F = sum_rows J^T M J built
// densely from a finite-difference Jacobian of the dist rows; symmetry, the reference path, and
// no allocation.

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <string.h>

#define FD_H 1e-5
#define FD_TOL 1e-6
#define LOG2PI 1.8378770664093454836

//---------------------------------- fixture --------------------------------------------------------
// A policy with random parameters theta, a different theta_old, observations, actions drawn from
// the old policy, advantages and the old log-likelihoods.

typedef struct fix_ {
  trpo_policy p;
  trpo_mlpwork w;
  int n;
  double *theta, *theta_old, *obs, *act, *adv, *logp_old, *dist_old, *dist;
  double *g, *gfd, *th, *v;
} fix;

static double* zalloc(size_t n) { return trpo_alloc(n * sizeof(double)); }

static void fix_make(fix* f, int discrete, int nobs, int nact, const int* hidden, int nhidden, int n,
                     uint64_t seed) {
  trpo_rng r;
  trpo_rng_seed(&r, seed, TRPO_RNG_GLOBAL, TRPO_RNG_INIT);
  trpo_policy_init(&f->p, nobs, nact, discrete, hidden, nhidden);
  trpo_mlp_workmake(&f->p.net, &f->w, n);
  int np = f->p.nparam, nd = f->p.ndist, na = discrete ? 1 : nact;
  f->n = n;
  f->theta = zalloc(np);
  f->theta_old = zalloc(np);
  f->obs = zalloc((size_t)n * nobs);
  f->act = zalloc((size_t)n * na);
  f->adv = zalloc(n);
  f->logp_old = zalloc(n);
  f->dist_old = zalloc((size_t)n * nd);
  f->dist = zalloc((size_t)n * nd);
  f->g = zalloc(np);
  f->gfd = zalloc(np);
  f->th = zalloc(np);
  f->v = zalloc(np);
  // theta_old: the initialiser plus noise everywhere (so the output layer is not tiny)
  trpo_policy_randomize(&f->p, f->theta_old, &r, -0.3);
  for (int i = 0; i < np; i++) f->theta_old[i] += 0.3 * trpo_rng_normal(&r);
  // theta: a step away from it, so no KL or surrogate gradient is trivially zero
  for (int i = 0; i < np; i++) f->theta[i] = f->theta_old[i] + 0.1 * trpo_rng_normal(&r);
  for (int i = 0; i < n * nobs; i++) f->obs[i] = trpo_rng_range(&r, -2, 2);
  for (int i = 0; i < n; i++) f->adv[i] = trpo_rng_normal(&r);
  for (int i = 0; i < np; i++) f->v[i] = trpo_rng_normal(&r);
  // actions from the old policy and their log-likelihoods
  trpo_policy_dist(&f->p, f->theta_old, &f->w, f->dist_old, f->obs, n);
  for (int i = 0; i < n; i++) {
    trpo_policy_sample(&f->p, f->dist_old + (size_t)i * nd, &r, f->act + (size_t)i * na);
    f->logp_old[i] = trpo_policy_logp(&f->p, f->dist_old + (size_t)i * nd, f->act + (size_t)i * na);
  }
}

static void fix_free(fix* f) {
  trpo_mlp_workfree(&f->w);
  double* bufs[] = {f->theta, f->theta_old, f->obs, f->act, f->adv, f->logp_old, f->dist_old,
                    f->dist, f->g, f->gfd, f->th, f->v};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) trpo_alloc_free(bufs[i]);
}

static int act_stride(const fix* f) { return f->p.discrete ? 1 : f->p.nact; }

// the scalar functions whose gradients are tested, summed over rows
enum { F_LOGP, F_ENT, F_KL, F_SURR };

static double objective(fix* f, const double* theta, int which) {
  if (which == F_SURR)
    return trpo_policy_surrogate(&f->p, theta, &f->w, NULL, 1.0, NULL, f->obs, f->act, f->adv,
                                 f->logp_old, f->dist_old, f->n);
  trpo_policy_dist(&f->p, theta, &f->w, f->dist, f->obs, f->n);
  double s = 0;
  int nd = f->p.ndist;
  for (int i = 0; i < f->n; i++) {
    const double* di = f->dist + (size_t)i * nd;
    if (which == F_LOGP) s += trpo_policy_logp(&f->p, di, f->act + (size_t)i * act_stride(f));
    if (which == F_ENT) s += trpo_policy_entropy(&f->p, di);
    if (which == F_KL) s += trpo_policy_kl(&f->p, f->dist_old + (size_t)i * nd, di);
  }
  return s;
}

static void fd_gradient(fix* f, const double* theta, int which) {
  int np = f->p.nparam;
  memcpy(f->th, theta, sizeof(double) * np);
  for (int i = 0; i < np; i++) {
    f->th[i] = theta[i] + FD_H;
    double fp = objective(f, f->th, which);
    f->th[i] = theta[i] - FD_H;
    double fm = objective(f, f->th, which);
    f->th[i] = theta[i];
    f->gfd[i] = (fp - fm) / (2 * FD_H);
  }
}

static void check_fd(const char* what, const double* g, const double* gfd, int n) {
  double err = trpo_test_maxdiff(g, gfd, n), scale = fmax(1.0, trpo_test_maxabs(g, n));
  print_message("%s: max err %.3g, max|g| %.3g\n", what, err, scale);
  if (!(err <= FD_TOL * scale)) fail_msg("%s: max|g - g_fd| = %.3g > %.3g", what, err, FD_TOL * scale);
}

static const int hid_g[2] = {8, 6}, hid_c[1] = {7};

static void make_head(fix* f, int discrete, int n, uint64_t seed) {
  if (discrete)
    fix_make(f, 1, 4, 3, hid_c, 1, n, seed);
  else
    fix_make(f, 0, 3, 2, hid_g, 2, n, seed);
}

//---------------------------------- known values ---------------------------------------------------

static void test_known_values(void** state) {
  (void)state;
  trpo_policy g, c;
  const int h[1] = {4};
  trpo_policy_init(&g, 3, 1, 0, h, 1);
  trpo_policy_init(&c, 3, 3, 1, h, 1);
  assert_int_equal(g.nparam, 3 * 4 + 4 + 4 + 1 + 1);
  assert_int_equal(g.ndist, 2);
  assert_int_equal(c.nparam, 3 * 4 + 4 + 4 * 3 + 3);
  assert_int_equal(c.ndist, 3);

  // Gaussian: N(0,1) at 0, N(0.5, 2^2) at 1, entropy of N(0,1), KL(N(0,1) || N(1, 2^2))
  const double d0[2] = {0, 0}, d1[2] = {0.5, log(2.0)}, d2[2] = {1, log(2.0)};
  const double x0 = 0, x1 = 1;
  assert_true(fabs(trpo_policy_logp(&g, d0, &x0) + 0.5 * LOG2PI) < 1e-15);
  assert_true(fabs(trpo_policy_logp(&g, d1, &x1) - (-0.03125 - log(2.0) - 0.5 * LOG2PI)) < 1e-15);
  assert_true(fabs(trpo_policy_entropy(&g, d0) - 1.4189385332046727) < 1e-15);
  assert_true(fabs(trpo_policy_kl(&g, d0, d2) - 0.44314718055994531) < 1e-15);
  assert_true(trpo_policy_kl(&g, d1, d1) == 0.0);

  // categorical: p = (1/4, 1/4, 1/2)
  const double l0[3] = {0, 0, log(2.0)}, lu[3] = {0, 0, 0};
  const double a2 = 2, a0 = 0;
  assert_true(fabs(trpo_policy_logp(&c, l0, &a2) - log(0.5)) < 1e-15);
  assert_true(fabs(trpo_policy_logp(&c, l0, &a0) - log(0.25)) < 1e-15);
  assert_true(fabs(trpo_policy_entropy(&c, l0) - 1.0397207708399179) < 1e-15);
  assert_true(fabs(trpo_policy_kl(&c, l0, lu) - 0.058891517828191750) < 1e-15);
  // shifting every logit changes nothing; huge logits neither overflow nor lose the answer
  const double l1[3] = {700, 700, 700 + log(2.0)}, big[3] = {1000, 0, -1000};
  assert_true(fabs(trpo_policy_logp(&c, l1, &a2) - log(0.5)) < 1e-12);
  assert_true(fabs(trpo_policy_kl(&c, l1, l0)) < 1e-12);
  assert_true(trpo_policy_logp(&c, big, &a0) == 0.0);
  assert_true(fabs(trpo_policy_logp(&c, big, &a2) + 2000.0) < 1e-9);
  assert_true(fabs(trpo_policy_kl(&c, big, lu) - log(3.0)) < 1e-12);
  assert_true(trpo_policy_entropy(&c, big) == 0.0);
}

static void test_dist_rows(void** state) {
  (void)state;
  // [mean | logstd] with the log-std copied from theta; [logits] for the categorical head
  for (int discrete = 0; discrete < 2; discrete++) {
    fix f;
    make_head(&f, discrete, 5, 60 + discrete);
    const double* y = trpo_mlp_forward(&f.p.net, f.theta, &f.w, f.obs, f.n);
    static double ycopy[5 * 3];
    memcpy(ycopy, y, sizeof(double) * 5 * f.p.nact);
    trpo_policy_dist(&f.p, f.theta, &f.w, f.dist, f.obs, f.n);
    for (int i = 0; i < f.n; i++)
      for (int a = 0; a < f.p.nact; a++) {
        assert_true(f.dist[i * f.p.ndist + a] == ycopy[i * f.p.nact + a]);
        if (!discrete)
          assert_true(f.dist[i * f.p.ndist + f.p.nact + a] == f.theta[f.p.net.nparam + a]);
      }
    fix_free(&f);
  }
}

static void test_sample_mode(void** state) {
  (void)state;
  const int h[1] = {4};
  trpo_policy g, c;
  trpo_policy_init(&g, 3, 2, 0, h, 1);
  trpo_policy_init(&c, 3, 3, 1, h, 1);
  trpo_rng r, r2;
  trpo_rng_seed(&r, 9, 3, TRPO_RNG_ACTION);

  // Gaussian: m + s N(0,1), one normal per dimension in order from the given stream
  const double dg[4] = {1.5, -2, log(0.5), log(3.0)};
  double act[2];
  r2 = r;
  trpo_policy_sample(&g, dg, &r, act);
  double z0 = trpo_rng_normal(&r2), z1 = trpo_rng_normal(&r2);
  assert_true(act[0] == 1.5 + 0.5 * z0 && act[1] == -2 + 3.0 * z1);
  assert_memory_equal(&r, &r2, sizeof r);
  // and its moments
  enum { NS = 40000 };
  double s[2] = {0, 0}, s2[2] = {0, 0};
  for (int k = 0; k < NS; k++) {
    trpo_policy_sample(&g, dg, &r, act);
    for (int a = 0; a < 2; a++) {
      s[a] += act[a];
      s2[a] += act[a] * act[a];
    }
  }
  const double sd[2] = {0.5, 3.0};
  for (int a = 0; a < 2; a++) {
    double mean = s[a] / NS, var = s2[a] / NS - mean * mean;
    assert_true(fabs(mean - dg[a]) < 4 * sd[a] / sqrt(NS));
    assert_true(fabs(sqrt(var) / sd[a] - 1) < 0.02);
  }

  // categorical: p = (1/8, 2/8, 5/8); the first index whose cumulative p exceeds one uniform
  const double dc[3] = {0.3, 0.3 + log(2.0), 0.3 + log(5.0)};
  const double cdf[3] = {0.125, 0.375, 1.0};
  long cnt[3] = {0, 0, 0};
  for (int k = 0; k < NS; k++) {
    r2 = r;
    double u = trpo_rng_uniform(&r2);
    trpo_policy_sample(&c, dc, &r, act);
    int want = u < cdf[0] ? 0 : u < cdf[1] ? 1 : 2;
    // u within rounding of a boundary may go either way
    if (fabs(u - cdf[0]) > 1e-12 && fabs(u - cdf[1]) > 1e-12) assert_true(act[0] == want);
    cnt[(int)act[0]]++;
  }
  const double p[3] = {0.125, 0.25, 0.625};
  for (int i = 0; i < 3; i++)
    assert_true(fabs((double)cnt[i] / NS - p[i]) < 4 * sqrt(p[i] * (1 - p[i]) / NS));

  // mode: the mean / the first argmax, with the log-likelihood of that action
  double lp = trpo_policy_mode(&g, dg, act);
  assert_true(act[0] == 1.5 && act[1] == -2);
  assert_true(fabs(lp - (-log(0.5) - log(3.0) - LOG2PI)) < 1e-14);
  const double tie[3] = {1, 4, 4};
  lp = trpo_policy_mode(&c, tie, act);
  assert_true(act[0] == 1.0);
  assert_true(fabs(lp - trpo_policy_logp(&c, tie, act)) == 0.0);
}

//---------------------------------- gradients against finite differences --------------------------

static void grad_case(int discrete, int which, uint64_t seed) {
  fix f;
  make_head(&f, discrete, 9, seed);
  int np = f.p.nparam;
  // the analytic gradient, accumulated onto g0 = 1 (the functions add to grad)
  for (int i = 0; i < np; i++) f.g[i] = 1.0;
  if (which == F_LOGP) trpo_policy_grad_logp(&f.p, f.theta, &f.w, f.g, f.obs, f.act, f.n);
  if (which == F_ENT) trpo_policy_grad_entropy(&f.p, f.theta, &f.w, f.g, f.obs, f.n);
  if (which == F_KL) trpo_policy_grad_kl(&f.p, f.theta, &f.w, f.g, f.obs, f.dist_old, f.n);
  for (int i = 0; i < np; i++) f.g[i] -= 1.0;
  fd_gradient(&f, f.theta, which);
  static const char* names[2][3] = {{"gauss logp", "gauss entropy", "gauss kl"},
                                    {"cat logp", "cat entropy", "cat kl"}};
  check_fd(names[discrete][which], f.g, f.gfd, np);
  // the finite differences are not all zero (the Gaussian entropy's net part is, rightly)
  assert_true(trpo_test_maxabs(f.gfd, f.p.net.nparam) > (which == F_ENT && !discrete ? -1 : 1e-3));
  fix_free(&f);
}

static void test_grad_logp(void** state) {
  (void)state;
  grad_case(0, F_LOGP, 1);
  grad_case(1, F_LOGP, 2);
}

static void test_grad_entropy(void** state) {
  (void)state;
  grad_case(0, F_ENT, 3);
  grad_case(1, F_ENT, 4);
}

static void test_grad_kl(void** state) {
  (void)state;
  grad_case(0, F_KL, 5);
  grad_case(1, F_KL, 6);
}

static void surrogate_case(int discrete, uint64_t seed) {
  fix f;
  make_head(&f, discrete, 9, seed);
  int np = f.p.nparam, nd = f.p.ndist;
  const double scale = 0.37;
  // value, KL and scaled gradient (accumulated onto g0 = 1) in one call
  for (int i = 0; i < np; i++) f.g[i] = 1.0;
  double kl = -1;
  double s = trpo_policy_surrogate(&f.p, f.theta, &f.w, f.g, scale, &kl, f.obs, f.act, f.adv,
                                   f.logp_old, f.dist_old, f.n);
  for (int i = 0; i < np; i++) f.g[i] = (f.g[i] - 1.0) / scale;
  // the value and the KL from the single-row functions
  trpo_policy_dist(&f.p, f.theta, &f.w, f.dist, f.obs, f.n);
  double s_want = 0, kl_want = 0;
  for (int i = 0; i < f.n; i++) {
    double lp = trpo_policy_logp(&f.p, f.dist + i * nd, f.act + i * act_stride(&f));
    s_want += exp(lp - f.logp_old[i]) * f.adv[i];
    kl_want += trpo_policy_kl(&f.p, f.dist_old + i * nd, f.dist + i * nd);
  }
  assert_true(fabs(s - s_want) <= 1e-13 * fmax(1, fabs(s_want)));
  assert_true(fabs(kl - kl_want) <= 1e-13 * fmax(1, kl_want));
  assert_true(kl > 1e-3);
  // at theta_old every ratio is 1 and the KL is 0
  double kl0 = -1;
  double s0 = trpo_policy_surrogate(&f.p, f.theta_old, &f.w, NULL, 1, &kl0, f.obs, f.act, f.adv,
                                    f.logp_old, f.dist_old, f.n);
  double advsum = 0;
  for (int i = 0; i < f.n; i++) advsum += f.adv[i];
  assert_true(fabs(s0 - advsum) < 1e-12 && fabs(kl0) < 1e-15);
  // the gradient against central differences of the value
  fd_gradient(&f, f.theta, F_SURR);
  check_fd(discrete ? "cat surrogate" : "gauss surrogate", f.g, f.gfd, np);
  fix_free(&f);
}

static void test_surrogate(void** state) {
  (void)state;
  surrogate_case(0, 7);
  surrogate_case(1, 8);
}

//---------------------------------- Fisher-vector product ------------------------------------------

// F v by central differences of grad_kl at theta_old +- h v (sum over rows, as fvp sums)
static void fvp_fd(fix* f, double* out) {
  int np = f->p.nparam;
  for (int i = 0; i < np; i++) f->th[i] = f->theta_old[i] + FD_H * f->v[i];
  memset(out, 0, sizeof(double) * np);
  trpo_policy_grad_kl(&f->p, f->th, &f->w, out, f->obs, f->dist_old, f->n);
  for (int i = 0; i < np; i++) f->th[i] = f->theta_old[i] - FD_H * f->v[i];
  memset(f->gfd, 0, sizeof(double) * np);
  trpo_policy_grad_kl(&f->p, f->th, &f->w, f->gfd, f->obs, f->dist_old, f->n);
  for (int i = 0; i < np; i++) out[i] = (out[i] - f->gfd[i]) / (2 * FD_H);
}

static void fvp_fd_case(int discrete, int nobs, int nact, const int* hidden, int nhidden, int n,
                        uint64_t seed, const char* what) {
  fix f;
  fix_make(&f, discrete, nobs, nact, hidden, nhidden, n, seed);
  int np = f.p.nparam;
  double* fd = zalloc(np);
  fvp_fd(&f, fd);
  // analytic, at the dist of the last forward (theta_old), accumulated onto 1 with a scale
  const double scale = 1.0 / n;
  trpo_policy_dist(&f.p, f.theta_old, &f.w, f.dist, f.obs, f.n);
  for (int i = 0; i < np; i++) f.g[i] = 1.0;
  trpo_policy_fvp(&f.p, f.theta_old, &f.w, f.g, scale, f.dist, f.v, n);
  for (int i = 0; i < np; i++) f.g[i] = (f.g[i] - 1.0) / scale;
  check_fd(what, f.g, fd, np);
  trpo_alloc_free(fd);
  fix_free(&f);
}

static void test_fvp_fd(void** state) {
  (void)state;
  const int h64[2] = {64, 64};
  fvp_fd_case(0, 3, 2, hid_g, 2, 9, 11, "gauss fvp vs fd");
  fvp_fd_case(1, 4, 3, hid_c, 1, 9, 12, "cat fvp vs fd");
  // more rows than one fvp block (and not a multiple of it), the benchmark's layer sizes
  fvp_fd_case(0, 11, 3, h64, 2, 700, 13, "gauss fvp vs fd, 700 rows");
  fvp_fd_case(1, 6, 3, h64, 2, 555, 14, "cat fvp vs fd, 555 rows");
}

// F = sum_rows J^T M J built densely: J column by column from central differences of the dist rows
static void fvp_dense_case(int discrete, uint64_t seed) {
  const int hid[1] = {3};
  fix f;
  enum { N = 4 };
  fix_make(&f, discrete, 2, discrete ? 3 : 2, hid, 1, N, seed);
  int np = f.p.nparam, nd = f.p.ndist, na = f.p.nact;
  double* J = zalloc((size_t)N * nd * np);   // J[(i*nd + r)*np + c] = d dist_i,r / d theta_c
  double* F = zalloc((size_t)np * np);
  double* dp = zalloc((size_t)N * nd);
  double* M = zalloc((size_t)nd * nd);
  // the Jacobian of the dist rows at theta_old
  memcpy(f.th, f.theta_old, sizeof(double) * np);
  for (int c = 0; c < np; c++) {
    f.th[c] = f.theta_old[c] + FD_H;
    trpo_policy_dist(&f.p, f.th, &f.w, dp, f.obs, N);
    f.th[c] = f.theta_old[c] - FD_H;
    trpo_policy_dist(&f.p, f.th, &f.w, f.dist, f.obs, N);
    f.th[c] = f.theta_old[c];
    for (int k = 0; k < N * nd; k++) J[(size_t)k * np + c] = (dp[k] - f.dist[k]) / (2 * FD_H);
  }
  // F = sum_i J_i^T M_i J_i with M the Fisher of the row's distribution
  trpo_policy_dist(&f.p, f.theta_old, &f.w, f.dist, f.obs, N);
  for (int i = 0; i < N; i++) {
    const double* di = f.dist + i * nd;
    memset(M, 0, sizeof(double) * nd * nd);
    if (!discrete) {
      for (int a = 0; a < na; a++) {
        M[a * nd + a] = exp(-2 * di[na + a]);
        M[(na + a) * nd + na + a] = 2;
      }
    } else {
      double z = 0, pr[3];
      for (int a = 0; a < na; a++) z += exp(di[a]);
      for (int a = 0; a < na; a++) pr[a] = exp(di[a]) / z;
      for (int a = 0; a < na; a++)
        for (int b = 0; b < na; b++) M[a * nd + b] = (a == b) * pr[a] - pr[a] * pr[b];
    }
    const double* Ji = J + (size_t)i * nd * np;
    for (int r = 0; r < nd; r++)
      for (int s = 0; s < nd; s++)
        for (int c = 0; c < np; c++)
          for (int e = 0; e < np; e++) F[c * np + e] += Ji[r * np + c] * M[r * nd + s] * Ji[s * np + e];
  }
  // compare F v with the fvp for several directions
  trpo_rng r;
  trpo_rng_seed(&r, seed, TRPO_RNG_GLOBAL, 77);
  for (int rep = 0; rep < 5; rep++) {
    for (int c = 0; c < np; c++) f.v[c] = trpo_rng_normal(&r);
    for (int c = 0; c < np; c++) f.gfd[c] = trpo_linalg_dot(F + (size_t)c * np, f.v, np);
    memset(f.g, 0, sizeof(double) * np);
    trpo_policy_fvp(&f.p, f.theta_old, &f.w, f.g, 1.0, f.dist, f.v, N);
    check_fd(discrete ? "cat fvp vs dense" : "gauss fvp vs dense", f.g, f.gfd, np);
  }
  trpo_alloc_free(J);
  trpo_alloc_free(F);
  trpo_alloc_free(dp);
  trpo_alloc_free(M);
  fix_free(&f);
}

static void test_fvp_dense(void** state) {
  (void)state;
  fvp_dense_case(0, 21);
  fvp_dense_case(1, 22);
}

static void test_fvp_properties(void** state) {
  (void)state;
  // symmetric (u.Fv = v.Fu), positive (v.Fv > 0), the reference path agrees, nothing allocated
  const int h64[2] = {64, 64};
  for (int discrete = 0; discrete < 2; discrete++) {
    fix f;
    fix_make(&f, discrete, 5, 3, h64, 2, 600, 31 + discrete);
    int np = f.p.nparam;
    double* u = zalloc(np);
    double* fu = zalloc(np);
    for (int i = 0; i < np; i++) u[i] = f.theta[i] - f.theta_old[i];
    trpo_policy_dist(&f.p, f.theta_old, &f.w, f.dist, f.obs, f.n);
    long before = trpo_alloc_count();
    memset(f.g, 0, sizeof(double) * np);
    trpo_policy_fvp(&f.p, f.theta_old, &f.w, f.g, 1.0, f.dist, f.v, f.n);
    trpo_policy_fvp(&f.p, f.theta_old, &f.w, fu, 1.0, f.dist, u, f.n);
    double s = 0;
    trpo_policy_surrogate(&f.p, f.theta, &f.w, f.gfd, 1.0, &s, f.obs, f.act, f.adv, f.logp_old,
                          f.dist_old, f.n);
    assert_int_equal(trpo_alloc_count(), before);
    double ufv = trpo_linalg_dot(u, f.g, np), vfu = trpo_linalg_dot(f.v, fu, np);
    assert_true(fabs(ufv - vfu) <= 1e-10 * fabs(ufv));
    assert_true(trpo_linalg_dot(f.v, f.g, np) > 0 && trpo_linalg_dot(u, fu, np) > 0);
    // the same product through the reference gemm
    trpo_policy_dist(&f.p, f.theta_old, &f.w, f.dist, f.obs, f.n);
    memcpy(fu, f.g, sizeof(double) * np);
    trpo_linalg_use_ref(1);
    trpo_policy_fvp(&f.p, f.theta_old, &f.w, fu, -1.0, f.dist, f.v, f.n);
    trpo_linalg_use_ref(0);
    assert_true(trpo_test_maxabs(fu, np) <= 1e-12 * trpo_test_maxabs(f.g, np));
    trpo_alloc_free(u);
    trpo_alloc_free(fu);
    fix_free(&f);
  }
}

static void test_bits_independent_of_placement(void** state) {
  (void)state;
  // the same rows in another work struct (other addresses, room for more rows) give the same bits
  // for the fvp and the surrogate gradient
  const int h64[2] = {64, 64};
  fix f;
  fix_make(&f, 0, 3, 1, h64, 2, 300, 41);
  int np = f.p.nparam;
  trpo_mlpwork w2;
  trpo_mlp_workmake(&f.p.net, &w2, 3 * f.n + 5);
  double* g2 = zalloc(np);
  double* obs2 = zalloc((size_t)f.n * 3 + 1);   // shifted by one double
  memcpy(obs2 + 1, f.obs, sizeof(double) * f.n * 3);
  for (int pass = 0; pass < 2; pass++) {
    trpo_mlpwork* w = pass ? &w2 : &f.w;
    double* g = pass ? g2 : f.g;
    const double* obs = pass ? obs2 + 1 : f.obs;
    memset(g, 0, sizeof(double) * np);
    trpo_policy_surrogate(&f.p, f.theta, w, g, 1.0, NULL, obs, f.act, f.adv, f.logp_old,
                          f.dist_old, f.n);
    trpo_policy_dist(&f.p, f.theta_old, w, f.dist, obs, f.n);
    trpo_policy_fvp(&f.p, f.theta_old, w, g, 0.5, f.dist, f.v, f.n);
  }
  assert_memory_equal(f.g, g2, sizeof(double) * np);
  trpo_mlp_workfree(&w2);
  trpo_alloc_free(g2);
  trpo_alloc_free(obs2);
  fix_free(&f);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values), cmocka_unit_test(test_dist_rows),
      cmocka_unit_test(test_sample_mode),  cmocka_unit_test(test_grad_logp),
      cmocka_unit_test(test_grad_entropy), cmocka_unit_test(test_grad_kl),
      cmocka_unit_test(test_surrogate),    cmocka_unit_test(test_fvp_fd),
      cmocka_unit_test(test_fvp_dense),    cmocka_unit_test(test_fvp_properties),
      cmocka_unit_test(test_bits_independent_of_placement),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
