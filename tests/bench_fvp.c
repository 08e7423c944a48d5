// bench_fvp.c: how close the Fisher-vector product runs to the machine's dgemm rate.
//
// For the policies of two common TRPO settings (Pendulum: 3 observations, 64x64 tanh, 1 action;
// Hopper: 11 observations, 64x64 tanh, 3 actions) over 10,000 samples it times one
// trpo_policy_fvp (median of many, activations at theta_old computed once beforehand as in
// training), counts the FLOPs of the gemms the product issues (2 m n k each; the shapes are
// listed), times the same gemm calls alone (same shapes, same operands, same order) in the same
// run, and prints both rates and their ratio. Elementwise work (tanh derivatives, bias sums, the
// output Fisher M) counts no FLOPs: it is overhead the ratio is meant to expose.
//
// A program, not a test: no pass/fail. One BLAS thread (it re-executes itself with
// OPENBLAS_NUM_THREADS=1 when that is unset), as one MPI rank per core would run. Times are the
// thread's CPU time, so that other work on a shared machine inflates them less.

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trpo/trpo.h"
#include "benchutil.h"

#define NSAMP 10000
#define NREP 60
#define BLOCK 128     // must match FVP_BLOCK of src/policy.c
#define MAXCALL 4096

// one gemm call as the fvp issues it
typedef struct call_ {
  int ta, tb, m, n, k;
  const double* a;
  int lda;
  const double* b;
  int ldb;
  double beta;
  double* c;
  int ldc;
} call;

// the gemm calls of trpo_policy_fvp, block by block, mirroring mlp_jvp and mlp_backward
static int fvp_calls(const trpo_policy* p, const double* theta, trpo_mlpwork* w, double* out,
                     const double* v, int n, call* list) {
  const trpo_mlp* net = &p->net;
  int L = net->nlayer, nc = 0;
  for (int r0 = 0; r0 < n; r0 += BLOCK) {
    int nb = n - r0 < BLOCK ? n - r0 : BLOCK;
    double *h[TRPO_MAXLAYER + 1], *dh[TRPO_MAXLAYER + 1];
    for (int l = 0; l <= L; l++) {
      h[l] = w->h[l] + (size_t)r0 * net->size[l];
      dh[l] = w->dh[l];   // the fvp's tangents reuse the first rows of dh for every block
    }
    // jvp: dz = h dW (+ dh W)
    for (int l = 0; l < L; l++) {
      int a = net->size[l], b = net->size[l + 1];
      list[nc++] = (call){0, 0, nb, b, a, h[l], a, v + net->woff[l], b, 0.0, dh[l + 1], b};
      if (l > 0) list[nc++] = (call){0, 0, nb, b, a, dh[l], a, theta + net->woff[l], b, 1.0, dh[l + 1], b};
    }
    // backward: gW += h^T delta, delta_prev = delta W^T
    for (int l = L - 1; l >= 0; l--) {
      int a = net->size[l], b = net->size[l + 1];
      list[nc++] = (call){1, 0, a, b, nb, h[l], a, dh[l + 1], b, 1.0, out + net->woff[l], b};
      if (l > 0) list[nc++] = (call){0, 1, nb, a, b, dh[l + 1], b, theta + net->woff[l], b, 0.0, dh[l], a};
    }
    if (nc > MAXCALL - 64) {
      fprintf(stderr, "too many gemm calls\n");
      exit(1);
    }
  }
  return nc;
}

// the single-core dgemm rate of one 2048 x 64 x 64 product (the ceiling quoted in HPC-FACTS)
static void ceiling(void) {
  enum { M = 2048, K = 64, N = 64, R = 200 };
  double* a = trpo_alloc(sizeof(double) * M * K);
  double* b = trpo_alloc(sizeof(double) * K * N);
  double* c = trpo_alloc(sizeof(double) * M * N);
  for (int i = 0; i < M * K; i++) a[i] = 1e-3 * (i % 101);
  for (int i = 0; i < K * N; i++) b[i] = 1e-3 * (i % 37);
  double t[R];
  for (int rep = -5; rep < R; rep++) {
    double s = bench_cpu_now();
    trpo_linalg_gemm(0, 0, M, N, K, 1.0, a, K, b, N, 0.0, c, N);
    if (rep >= 0) t[rep] = bench_cpu_now() - s;
  }
  printf("reference: one %dx%dx%d dgemm: %.2f GFLOP/s (median of %d)\n\n", M, N, K,
         2.0 * M * N * K / bench_median(t, R) / 1e9, R);
  trpo_alloc_free(a);
  trpo_alloc_free(b);
  trpo_alloc_free(c);
}

static void bench(const char* name, int nobs, int nact) {
  // the policy, random parameters and observations, and the dist at theta_old once
  trpo_policy p;
  const int hidden[2] = {64, 64};
  trpo_policy_init(&p, nobs, nact, 0, hidden, 2);
  trpo_mlpwork w;
  trpo_mlp_workmake(&p.net, &w, NSAMP);
  double* theta = trpo_alloc(sizeof(double) * p.nparam);
  double* v = trpo_alloc(sizeof(double) * p.nparam);
  double* out = trpo_alloc(sizeof(double) * p.nparam);
  double* obs = trpo_alloc(sizeof(double) * NSAMP * nobs);
  double* dist = trpo_alloc(sizeof(double) * NSAMP * p.ndist);
  trpo_rng r;
  trpo_rng_seed(&r, 1, TRPO_RNG_GLOBAL, TRPO_RNG_INIT);
  trpo_policy_randomize(&p, theta, &r, -0.5);
  for (int i = 0; i < p.nparam; i++) v[i] = trpo_rng_normal(&r);
  for (int i = 0; i < NSAMP * nobs; i++) obs[i] = trpo_rng_range(&r, -2, 2);
  double t0 = bench_cpu_now();
  trpo_policy_dist(&p, theta, &w, dist, obs, NSAMP);
  double tfwd = bench_cpu_now() - t0;

  // the gemm calls and their FLOPs, grouped by shape
  static call list[MAXCALL];
  int nc = fvp_calls(&p, theta, &w, out, v, NSAMP, list);
  double flops = 0;
  for (int i = 0; i < nc; i++) flops += 2.0 * list[i].m * list[i].n * list[i].k;
  printf("%s: obs %d, 64x64 tanh, %d actions, %d samples, %d parameters\n", name, nobs, nact,
         NSAMP, p.nparam);
  printf("  gemm calls per fvp: %d (blocks of %d rows); distinct shapes (ta tb m n k: count):\n", nc,
         BLOCK);
  for (int i = 0; i < nc; i++) {
    int seen = 0, cnt = 0;
    for (int j = 0; j < i && !seen; j++)
      seen = list[j].ta == list[i].ta && list[j].tb == list[i].tb && list[j].m == list[i].m &&
             list[j].n == list[i].n && list[j].k == list[i].k;
    if (seen) continue;
    for (int j = i; j < nc; j++)
      cnt += list[j].ta == list[i].ta && list[j].tb == list[i].tb && list[j].m == list[i].m &&
             list[j].n == list[i].n && list[j].k == list[i].k;
    printf("    %d %d %5d %3d %5d: %3d  (%.1f MFLOP)\n", list[i].ta, list[i].tb, list[i].m,
           list[i].n, list[i].k, cnt, cnt * 2.0 * list[i].m * list[i].n * list[i].k / 1e6);
  }

  // interleaved timing: one fvp, then the same gemm calls alone, NREP times; medians
  double tf[NREP], tg[NREP];
  for (int rep = -3; rep < NREP; rep++) {
    double a = bench_cpu_now();
    trpo_policy_fvp(&p, theta, &w, out, 1.0 / NSAMP, dist, v, NSAMP);
    double b = bench_cpu_now();
    for (int i = 0; i < nc; i++) {
      const call* c = list + i;
      trpo_linalg_gemm(c->ta, c->tb, c->m, c->n, c->k, 1.0, c->a, c->lda, c->b, c->ldb, c->beta,
                       c->c, c->ldc);
    }
    double e = bench_cpu_now();
    if (rep >= 0) {
      tf[rep] = b - a;
      tg[rep] = e - b;
    }
  }
  double mf = bench_median(tf, NREP), mg = bench_median(tg, NREP), lf = tf[0], lg = tg[0];   // sorted
  printf("  forward at theta_old (once per iteration): %.3f ms\n", tfwd * 1e3);
  printf("  fvp: %.3f ms median, %.1f MFLOP in gemms -> %.2f GFLOP/s\n", mf * 1e3, flops / 1e6,
         flops / mf / 1e9);
  printf("  the same gemm calls alone: %.3f ms median -> %.2f GFLOP/s\n", mg * 1e3,
         flops / mg / 1e9);
  printf("  ratio fvp / dgemm: %.1f%% (fastest runs: fvp %.3f ms, gemms %.3f ms, %.1f%%)\n\n",
         100.0 * mg / mf, lf * 1e3, lg * 1e3, 100.0 * lg / lf);

  trpo_mlp_workfree(&w);
  trpo_alloc_free(theta);
  trpo_alloc_free(v);
  trpo_alloc_free(out);
  trpo_alloc_free(obs);
  trpo_alloc_free(dist);
}

int main(int argc, char** argv) {
  (void)argc;
  // one BLAS thread, fixed before OpenBLAS starts (it reads the variable when it loads)
  if (!getenv("OPENBLAS_NUM_THREADS")) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    perror("re-executing with OPENBLAS_NUM_THREADS=1");
    return 1;
  }
  printf("OPENBLAS_NUM_THREADS=%s\n", getenv("OPENBLAS_NUM_THREADS"));
  ceiling();
  bench("Pendulum-like", 3, 1);
  bench("Hopper-like", 11, 3);
  return 0;
}
