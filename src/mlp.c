// mlp.c: the tanh multilayer perceptron, with its reverse-mode and forward-mode derivatives.
//
// y = f(x; theta): h_0 = x, z_{l+1} = h_l W_l + b_l, h_{l+1} = tanh(z_{l+1}) for hidden layers
// and h_L = z_L for the output. theta is one flat vector, [W_0 | b_0 | W_1 | b_1 | ...], W_l
// row-major (size[l] x size[l+1]). The work struct keeps the activations of the last forward, so
// backward (grad += J^T dout) and jvp (J v) reuse them without recomputing a tanh.
//
// Products of many rows go through trpo_linalg_gemm, so the bits of a row may depend on the row
// count n (OpenBLAS picks its kernel by shape) but on nothing else; a single row (stepping
// environments) goes through the reference loops, so its bits depend on that row alone. Callers
// that need identical bits per environment call with per-environment row counts. The tanh is
// this module's own (branch-free, in vector lanes; below), as are the elementwise passes.
// Not a general autodiff: one architecture, and derivatives with respect to theta only.

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "trpo/trpo.h"
#include "vector_clones.h"

//---------------------------------- tanh -----------------------------------------------------------
// tanh(x) = sign(x) e / (e + 2) with e = expm1(2|x|), for every x in one branch-free sequence, so
// that the compiler runs it in vector lanes (glibc's tanh, a call per element with branches, was
// most of the value fit's time). expm1(y): y = k ln2 + r with |r| <= ln2/2 (k rounded by the
// 1.5*2^52 shifter, whose low bits then hold k), expm1(r) = r + r^2 q(r) with q the Taylor series
// sum_{j=0}^{11} r^j/(j+2)! (truncation below 1e-17 relative), evaluated by Estrin's scheme
// for short dependency chains, and expm1(y) = 2^k expm1(r) + (2^k - 1), exact for k = 0. |x| is
// clamped to 20 first (tanh(20) rounds to 1) by integer masks, which raise no floating-point
// exception, so NaN passes through quietly and infinities give +-1. Against glibc over a dense grid
// the relative error stays below 1e-15 (tests/test_mlp.c). Every element gets the same operations
// in a vector lane or alone, and contraction to FMA is off in ISO C mode, so the bits of an element
// depend on its value only, whichever instruction set the clones below were built for.

#define TANH_CLAMP UINT64_C(0x4034000000000000)     // 20.0
#define TANH_INF UINT64_C(0x7ff0000000000000)       // +infinity
#define TANH_SIGN UINT64_C(0x8000000000000000)
#define TANH_SHIFTER 0x1.8p52                       // adding it rounds to an integer in the low bits
#define TANH_INV_LN2 0x1.71547652b82fep+0           // 1 / ln 2
#define TANH_LN2 0x1.62e42fefa39efp-1               // ln 2 (|k| <= 58: k ln2's error stays < 2e-15)

static inline double tanh_one(double x) {
  // |x| clamped to 20 (NaN too; it is put back at the end); the masks are 0 or all ones
  uint64_t ux, ut;
  memcpy(&ux, &x, sizeof ux);
  uint64_t ua = ux & ~TANH_SIGN;
  uint64_t big = 0 - ((TANH_CLAMP - ua) >> 63), nan = 0 - ((TANH_INF - ua) >> 63);
  uint64_t uc = (ua & ~big) | (TANH_CLAMP & big);
  double a;
  memcpy(&a, &uc, sizeof a);
  // y = 2|x| = k ln2 + r
  double y = a + a;
  double kd = y * TANH_INV_LN2 + TANH_SHIFTER;
  uint64_t kb;
  memcpy(&kb, &kd, sizeof kb);
  kd -= TANH_SHIFTER;
  double r = y - kd * TANH_LN2;
  // expm1(r) = r + r^2 q(r), q(r) = sum_j r^j / (j+2)! by Estrin's scheme
  double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  double e0 = 1.0 / 2 + r * (1.0 / 6), e1 = 1.0 / 24 + r * (1.0 / 120);
  double e2 = 1.0 / 720 + r * (1.0 / 5040), e3 = 1.0 / 40320 + r * (1.0 / 362880);
  double e4 = 1.0 / 3628800 + r * (1.0 / 39916800), e5 = 1.0 / 479001600 + r * (1.0 / 6227020800);
  double q = ((e0 + r2 * e1) + r4 * (e2 + r2 * e3)) + r8 * (e4 + r2 * e5);
  double p = r + r2 * q;
  // e = 2^k (1 + p) - 1, 2^k from the shifter's low bits; tanh|x| = e / (e + 2)
  uint64_t sb = (kb + 1023) << 52;
  double s;
  memcpy(&s, &sb, sizeof s);
  double e = s * p + (s - 1.0);
  double t = e / (e + 2.0);
  // the sign of x, or x itself when it is NaN
  memcpy(&ut, &t, sizeof ut);
  ut |= ux & TANH_SIGN;
  ut = (ut & ~nan) | (ux & nan);
  memcpy(&t, &ut, sizeof t);
  return t;
}

//---------------------------------- elementwise passes ---------------------------------------------
// Each row is walked LANES columns at a time with a fixed inner width, which the compiler runs in
// vector lanes at -O2, and the remainder one by one with the same operations.

#define LANES 8

VECTOR_CLONES void trpo_mlp_tanh(double* y, const double* x, int n) {
  trpo_linalg_count_tanh(n);
  // chunks through a local copy, so y may alias x
  int i = 0;
  for (; i + LANES <= n; i += LANES) {
    double v[LANES];
    memcpy(v, x + i, sizeof v);
    for (int j = 0; j < LANES; j++) v[j] = tanh_one(v[j]);
    memcpy(y + i, v, sizeof v);
  }
  for (; i < n; i++) y[i] = tanh_one(x[i]);
}

// z = tanh(z + bias) row by row: a hidden layer's activation from its product (n x b)
static VECTOR_CLONES void bias_tanh(double* restrict z, const double* restrict bias, int n, int b) {
  trpo_linalg_count_tanh((long)n * b);
  for (int i = 0; i < n; i++) {
    double* restrict zi = z + (size_t)i * b;
    int j = 0;
    for (; j + LANES <= b; j += LANES)
      for (int u = 0; u < LANES; u++) zi[j + u] = tanh_one(zi[j + u] + bias[j + u]);
    for (; j < b; j++) zi[j] = tanh_one(zi[j] + bias[j]);
  }
}

// dz = (dz + db) * (1 - h^2): a hidden layer's tangent from its pre-activation tangent
static VECTOR_CLONES void tangent_tanh(double* restrict dz, const double* restrict h,
                                       const double* restrict db, int n, int b) {
  for (int i = 0; i < n; i++) {
    double* restrict zi = dz + (size_t)i * b;
    const double* restrict hi = h + (size_t)i * b;
    int j = 0;
    for (; j + LANES <= b; j += LANES)
      for (int u = 0; u < LANES; u++)
        zi[j + u] = (zi[j + u] + db[j + u]) * (1.0 - hi[j + u] * hi[j + u]);
    for (; j < b; j++) zi[j] = (zi[j] + db[j]) * (1.0 - hi[j] * hi[j]);
  }
}

// d = d * (1 - h^2) and gb += d (rows in order): a hidden layer's delta and its bias gradient
static VECTOR_CLONES void delta_tanh(double* restrict d, const double* restrict h,
                                     double* restrict gb, int n, int a) {
  for (int i = 0; i < n; i++) {
    double* restrict di = d + (size_t)i * a;
    const double* restrict hi = h + (size_t)i * a;
    int j = 0;
    for (; j + LANES <= a; j += LANES)
      for (int u = 0; u < LANES; u++) {
        double du = di[j + u] * (1.0 - hi[j + u] * hi[j + u]);
        di[j + u] = du;
        gb[j + u] += du;
      }
    for (; j < a; j++) {
      di[j] *= 1.0 - hi[j] * hi[j];
      gb[j] += di[j];
    }
  }
}

long trpo_mlp_count(int nin, const int* hidden, int nhidden, int nout) {
  long n = 0, a = nin;
  for (int l = 0; l < nhidden; l++) n += a * hidden[l] + hidden[l], a = hidden[l];
  return n + a * nout + nout;
}

void trpo_mlp_init(trpo_mlp* m, int nin, const int* hidden, int nhidden, int nout) {
  // sizes, input to output
  if (nhidden < 0 || nhidden + 1 > TRPO_MAXLAYER)
    TRPO_FATAL("mlp with %d hidden layers: at most %d are supported", nhidden, TRPO_MAXLAYER - 1);
  memset(m, 0, sizeof *m);
  m->nlayer = nhidden + 1;
  m->size[0] = nin;
  for (int l = 0; l < nhidden; l++) m->size[l + 1] = hidden[l];
  m->size[m->nlayer] = nout;
  for (int l = 0; l <= m->nlayer; l++)
    if (m->size[l] < 1) TRPO_FATAL("mlp layer %d has size %d (must be >= 1)", l, m->size[l]);

  // parameter layout: W_0, b_0, W_1, b_1, ...
  int off = 0;
  for (int l = 0; l < m->nlayer; l++) {
    m->woff[l] = off;
    off += m->size[l] * m->size[l + 1];
    m->boff[l] = off;
    off += m->size[l + 1];
  }
  m->nparam = off;
}

void trpo_mlp_randomize(const trpo_mlp* m, double* theta, trpo_rng* rng, double out_scale) {
  // LeCun normal weights layer by layer in row-major order, zero biases
  for (int l = 0; l < m->nlayer; l++) {
    int a = m->size[l], b = m->size[l + 1];
    double sd = 1.0 / sqrt((double)a);
    if (l == m->nlayer - 1) sd *= out_scale;
    for (int i = 0; i < a * b; i++) theta[m->woff[l] + i] = sd * trpo_rng_normal(rng);
    for (int j = 0; j < b; j++) theta[m->boff[l] + j] = 0.0;
  }
}

void trpo_mlp_workmake(const trpo_mlp* m, trpo_mlpwork* w, int maxrows) {
  // activations and tangents of every layer, input included
  TRPO_CHECK(maxrows >= 1);
  memset(w, 0, sizeof *w);
  w->maxrows = maxrows;
  for (int l = 0; l <= m->nlayer; l++) {
    w->h[l] = trpo_alloc((size_t)maxrows * m->size[l] * sizeof(double));
    w->dh[l] = trpo_alloc((size_t)maxrows * m->size[l] * sizeof(double));
  }
}

void trpo_mlp_workfree(trpo_mlpwork* w) {
  for (int l = 0; l <= TRPO_MAXLAYER; l++) {
    trpo_alloc_free(w->h[l]);
    trpo_alloc_free(w->dh[l]);
    w->h[l] = w->dh[l] = NULL;
  }
  w->maxrows = 0;
}

const double* trpo_mlp_forward(const trpo_mlp* m, const double* theta, trpo_mlpwork* w,
                               const double* x, int n) {
  TRPO_CHECK(n >= 0 && n <= w->maxrows);
  // keep the input: backward needs it for the first layer's weight gradient
  if (w->h[0] != x) memmove(w->h[0], x, (size_t)n * m->size[0] * sizeof(double));

  for (int l = 0; l < m->nlayer; l++) {
    int a = m->size[l], b = m->size[l + 1];
    const double* W = theta + m->woff[l];
    const double* bias = theta + m->boff[l];
    double* z = w->h[l + 1];
    // z = h_l W_l: one row takes the reference loops, many rows the BLAS
    if (n == 1)
      trpo_linalg_gemm_ref(0, 0, n, b, a, 1.0, w->h[l], a, W, b, 0.0, z, b);
    else
      trpo_linalg_gemm(0, 0, n, b, a, 1.0, w->h[l], a, W, b, 0.0, z, b);
    // add the bias, then tanh on hidden layers
    if (l < m->nlayer - 1) {
      bias_tanh(z, bias, n, b);
    } else {
      for (int i = 0; i < n; i++)
        for (int j = 0; j < b; j++) z[(size_t)i * b + j] += bias[j];
    }
  }
  return w->h[m->nlayer];
}

void trpo_mlp_backward(const trpo_mlp* m, const double* theta, trpo_mlpwork* w, double* grad,
                       const double* dout, int n) {
  TRPO_CHECK(n >= 0 && n <= w->maxrows);
  int L = m->nlayer;
  // output bias: column sums of dout, rows in order
  {
    int b = m->size[L];
    double* gb = grad + m->boff[L - 1];
    for (int i = 0; i < n; i++)
      for (int j = 0; j < b; j++) gb[j] += dout[(size_t)i * b + j];
  }

  // layers from the output down; delta is dL/dz_{l+1} (n x size[l+1])
  const double* delta = dout;
  for (int l = L - 1; l >= 0; l--) {
    int a = m->size[l], b = m->size[l + 1];
    // gW_l += h_l^T delta
    trpo_linalg_gemm(1, 0, a, b, n, 1.0, w->h[l], a, delta, b, 1.0, grad + m->woff[l], b);
    if (l == 0) break;   // the input has no gradient
    // delta_l = (delta W_l^T) * (1 - h_l^2), and b_{l-1} takes its column sums in the same pass
    double* d = w->dh[l];
    trpo_linalg_gemm(0, 1, n, a, b, 1.0, delta, b, theta + m->woff[l], b, 0.0, d, a);
    delta_tanh(d, w->h[l], grad + m->boff[l - 1], n, a);
    delta = d;
  }
}

const double* trpo_mlp_jvp(const trpo_mlp* m, const double* theta, trpo_mlpwork* w,
                           const double* v, int n) {
  TRPO_CHECK(n >= 0 && n <= w->maxrows);
  for (int l = 0; l < m->nlayer; l++) {
    int a = m->size[l], b = m->size[l + 1];
    double* dz = w->dh[l + 1];
    // dz_{l+1} = h_l dW_l + dh_l W_l (the input has no tangent: dh_0 = 0)
    trpo_linalg_gemm(0, 0, n, b, a, 1.0, w->h[l], a, v + m->woff[l], b, 0.0, dz, b);
    if (l > 0)
      trpo_linalg_gemm(0, 0, n, b, a, 1.0, w->dh[l], a, theta + m->woff[l], b, 1.0, dz, b);
    // add db_l, then the tanh derivative 1 - h^2 on hidden layers
    const double* db = v + m->boff[l];
    if (l < m->nlayer - 1) {
      tangent_tanh(dz, w->h[l + 1], db, n, b);
    } else {
      for (int i = 0; i < n; i++)
        for (int j = 0; j < b; j++) dz[(size_t)i * b + j] += db[j];
    }
  }
  return w->dh[m->nlayer];
}
