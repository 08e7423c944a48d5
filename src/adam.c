// adam.c: the Adam optimiser (Kingma and Ba 2015, algorithm 1), used for the value function.
//
// m and v are exponential moving averages of the gradient and its square; each step corrects
// their bias towards zero by 1 - beta^t. theta -= lr mhat / (sqrt(vhat) + eps). Minimises: pass
// the gradient of the loss. No weight decay, no AMSGrad, no gradient clipping.

#include <math.h>

#include "trpo/trpo.h"

void trpo_adam_make(trpo_adam* a, int n, double lr) {
  a->n = n;
  a->lr = lr;
  a->beta1 = 0.9;
  a->beta2 = 0.999;
  a->eps = 1e-8;
  a->t = 0;
  a->m = trpo_alloc((size_t)n * sizeof(double));
  a->v = trpo_alloc((size_t)n * sizeof(double));
}

void trpo_adam_free(trpo_adam* a) {
  trpo_alloc_free(a->m);
  trpo_alloc_free(a->v);
  a->m = a->v = NULL;
}

// one element's moments and step
static inline void adam_one(double* restrict theta, double* restrict m, double* restrict v,
                            double g, double b1, double b2, double c1, double c2, double lr,
                            double eps) {
  *m = b1 * *m + (1 - b1) * g;
  *v = b2 * *v + (1 - b2) * g * g;
  double mhat = *m / c1, vhat = *v / c2;
  *theta -= lr * mhat / (sqrt(vhat) + eps);
}

// eight elements at a time with a fixed inner width (vector lanes at -O2), the rest one by one;
// every element gets the same operations either way
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void adam_loop(double* restrict theta, double* restrict m, double* restrict v,
                      const double* restrict grad, int n, double b1, double b2, double c1,
                      double c2, double lr, double eps) {
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int u = 0; u < 8; u++)
      adam_one(theta + i + u, m + i + u, v + i + u, grad[i + u], b1, b2, c1, c2, lr, eps);
  for (; i < n; i++) adam_one(theta + i, m + i, v + i, grad[i], b1, b2, c1, c2, lr, eps);
}

void trpo_adam_step(trpo_adam* a, double* theta, const double* grad) {
  // bias corrections 1 - beta^t of this step
  a->t++;
  double c1 = 1 - pow(a->beta1, (double)a->t);
  double c2 = 1 - pow(a->beta2, (double)a->t);
  double b1 = a->beta1, b2 = a->beta2;

  // moment updates and the corrected step
  adam_loop(theta, a->m, a->v, grad, a->n, b1, b2, c1, c2, a->lr, a->eps);
}
