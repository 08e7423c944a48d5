// normalizer.c: running per-dimension mean and variance of observations, and their use.
//
// The statistics are (count, mean, M2) with M2 the sum of squared deviations from the mean, so
// two sets merge exactly in form by the parallel formula of Chan, Golub and LeVeque (1979):
// n = na + nb, delta = mean_b - mean_a, mean = mean_a + delta nb / n,
// M2 = M2_a + M2_b + delta^2 na nb / n. The caller computes each batch's (count, mean, M2), for
// instance summed over environments with trpo_fxsum, and merges it here. Applying normalises with
// the population variance M2 / count and clips. Allocation happens only in make.

#include <math.h>
#include <string.h>

#include "trpo/trpo.h"

void trpo_normalizer_make(trpo_normalizer* z, int n, double clip) {
  z->n = n;
  z->count = 0;
  z->mean = trpo_alloc((size_t)n * sizeof(double));
  z->m2 = trpo_alloc((size_t)n * sizeof(double));
  z->clip = clip;
  z->eps = 1e-8;
}

void trpo_normalizer_free(trpo_normalizer* z) {
  trpo_alloc_free(z->mean);
  trpo_alloc_free(z->m2);
  z->mean = z->m2 = NULL;
}

void trpo_normalizer_merge(trpo_normalizer* z, double count, const double* mean,
                           const double* m2) {
  // an empty batch changes nothing; the first batch is taken as it is
  if (!(count > 0)) return;
  if (z->count == 0) {
    z->count = count;
    memcpy(z->mean, mean, (size_t)z->n * sizeof(double));
    memcpy(z->m2, m2, (size_t)z->n * sizeof(double));
    return;
  }

  // Chan et al.: shift the mean towards the batch, add both M2 and the between-set term
  double na = z->count, nb = count, ntot = na + nb;
  double wb = nb / ntot, wab = na * nb / ntot;
  for (int i = 0; i < z->n; i++) {
    double delta = mean[i] - z->mean[i];
    z->mean[i] += delta * wb;
    z->m2[i] += m2[i] + delta * delta * wab;
  }
  z->count = ntot;
}

void trpo_normalizer_apply(const trpo_normalizer* z, double* y, const double* x, int rows) {
  // before any data the statistics are mean 0, variance 1
  int n = z->n;
  int have = z->count > 0;
  double clip = z->clip;
  for (int r = 0; r < rows; r++) {
    const double* xr = x + (size_t)r * n;
    double* yr = y + (size_t)r * n;
    for (int i = 0; i < n; i++) {
      // y = (x - mean) / sqrt(var + eps), then clip to [-clip, clip] when clip > 0
      double mean = have ? z->mean[i] : 0;
      double var = have ? fmax(z->m2[i] / z->count, 0) : 1;
      double v = (xr[i] - mean) / sqrt(var + z->eps);
      if (clip > 0) v = fmin(fmax(v, -clip), clip);
      yr[i] = v;
    }
  }
}
