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

void trpo_adam_step(trpo_adam* a, double* theta, const double* grad) {
  // bias corrections 1 - beta^t of this step
  a->t++;
  double c1 = 1 - pow(a->beta1, (double)a->t);
  double c2 = 1 - pow(a->beta2, (double)a->t);
  double b1 = a->beta1, b2 = a->beta2;

  // moment updates and the corrected step
  for (int i = 0; i < a->n; i++) {
    double g = grad[i];
    a->m[i] = b1 * a->m[i] + (1 - b1) * g;
    a->v[i] = b2 * a->v[i] + (1 - b2) * g * g;
    double mhat = a->m[i] / c1, vhat = a->v[i] / c2;
    theta[i] -= a->lr * mhat / (sqrt(vhat) + a->eps);
  }
}
