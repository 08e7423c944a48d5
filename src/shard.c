// shard.c: which environments a rank holds. Pure arithmetic, no MPI.
//
// nenv_total environments are split into nrank contiguous ranges whose sizes differ by at most
// one; the first (nenv_total mod nrank) ranks hold one more. Load balancing (trpo_shard_balance)
// later resizes the ranges from each rank's measured seconds per environment.

#include "trpo/trpo.h"

void trpo_shard_range(int nenv_total, int rank, int nrank, int* begin, int* count) {
  int base = nenv_total / nrank, extra = nenv_total % nrank;
  *count = base + (rank < extra);
  *begin = rank * base + (rank < extra ? rank : extra);
}

int trpo_shard_balance(int nenv_total, int nrank, int cap, const double* cost, const int* share,
                       double gain, int* out) {
  // greedy: one environment each, then each next one to the rank that would finish it first
  // (ties to the lower rank, so equal costs give trpo_shard_range's split)
  for (int r = 0; r < nrank; r++) out[r] = 1;
  for (int k = nrank; k < nenv_total; k++) {
    int best = -1;
    for (int r = 0; r < nrank; r++)
      if (out[r] < cap && (best < 0 || (out[r] + 1) * cost[r] < (out[best] + 1) * cost[best]))
        best = r;
    out[best]++;
  }
  // the predicted iteration is the slowest rank's; move only for a clear gain
  double now = 0, pred = 0;
  for (int r = 0; r < nrank; r++) {
    now = share[r] * cost[r] > now ? share[r] * cost[r] : now;
    pred = out[r] * cost[r] > pred ? out[r] * cost[r] : pred;
  }
  if (pred < (1.0 - gain) * now) return 1;
  for (int r = 0; r < nrank; r++) out[r] = share[r];
  return 0;
}
