// cg.c: conjugate gradient for a symmetric positive definite system given only products A v.
//
// Hestenes and Stiefel (1952), started from x0 = 0, as TRPO uses it to get the natural-gradient
// step F^-1 g from Fisher-vector products (Schulman et al. 2015, appendix C). Plain loops in a
// fixed order, so the same inputs give the same bits. Not a preconditioned or restarted solver,
// and it never factors A. A curvature p.Ap that is not positive (A not SPD, or a product that
// returned NaN) stops the solve with the last good x and converged = 0 instead of producing NaN.

#include <math.h>
#include <string.h>

#include "trpo/trpo.h"

static double dot(const double* x, const double* y, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

trpo_cgresult trpo_cg_solve(trpo_cg_matvec f, void* ctx, double* x, const double* b, double* work,
                            int n, int iters, double tol) {
  double* r = work;           // residual b - A x   (n)
  double* p = work + n;       // search direction   (n)
  double* ap = work + 2 * n;  // A p                (n)
  trpo_cgresult res = {0, 0, 0};

  // x0 = 0, so r0 = p0 = b
  memset(x, 0, (size_t)n * sizeof(double));
  memcpy(r, b, (size_t)n * sizeof(double));
  memcpy(p, b, (size_t)n * sizeof(double));
  double rr = dot(r, r, n);
  res.residual = rr;

  // a non-finite right-hand side cannot be solved; an exact zero one is solved by x = 0
  if (!isfinite(rr)) return res;
  if (rr == 0 || rr <= tol) {
    res.converged = 1;
    return res;
  }

  for (int k = 0; k < iters; k++) {
    // step length alpha = r.r / p.Ap, refused when the curvature is not clearly positive
    // (the relative floor also keeps alpha from overflowing)
    f(ctx, ap, p);
    double pap = dot(p, ap, n);
    if (!isfinite(pap) || pap <= rr * 0x1p-1000) break;
    double alpha = rr / pap;

    // x += alpha p, r -= alpha A p
    for (int i = 0; i < n; i++) x[i] += alpha * p[i];
    for (int i = 0; i < n; i++) r[i] -= alpha * ap[i];
    double rr_new = dot(r, r, n);
    res.iters = k + 1;
    res.residual = rr_new;
    if (!isfinite(rr_new)) break;
    if (rr_new == 0 || rr_new <= tol) {
      res.converged = 1;
      break;
    }

    // p = r + beta p with beta = r_new.r_new / r.r (Fletcher-Reeves form of Hestenes-Stiefel)
    double beta = rr_new / rr;
    for (int i = 0; i < n; i++) p[i] = r[i] + beta * p[i];
    rr = rr_new;
  }
  return res;
}
