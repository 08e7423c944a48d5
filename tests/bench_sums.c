// bench_sums.c: the cost of one exact sum across ranks (trpo_comm_sum_fx), through node shared
// memory (comm_node_sum = 1) and through MPI_Allreduce alone (0), alternating in blocks on the
// same ranks; and whether the two give the same digits.
//
//   usage: mpirun -n N bench_sums [NDOUBLES [CALLS]]
//   NDOUBLES defaults to 5126 (Hopper's 64x64 policy: 20,505 digit words), CALLS to 4000 (20
//   blocks, the two paths alternating)
// Prints one line: ranks, doubles, words, the two paths' microseconds per call (t_comm: the
// collective proper, after the barrier that waits for every rank; the median block, the largest
// over ranks), their ratio, and "same" when every block's digits agreed on every rank.

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "trpo/trpo.h"

int main(int argc, char** argv) {
  trpo_comm c;
  trpo_comm_init(&c, &argc, &argv);
  int n = argc > 1 ? atoi(argv[1]) : 5126, calls = argc > 2 ? atoi(argv[2]) : 4000;
  if (n < 1 || calls < 20) {
    if (c.rank == 0) fprintf(stderr, "usage: bench_sums [NDOUBLES >= 1 [CALLS >= 20]]\n");
    trpo_comm_finalize(&c);
    return 2;
  }
  enum { NBLOCK = 20 };
  int per = calls / NBLOCK;
  trpo_fxsum s[2];
  trpo_fxsum_make(&s[0], n);
  trpo_fxsum_make(&s[1], n);
  double* x = trpo_alloc(sizeof(double) * (size_t)n);
  trpo_rng rng;
  trpo_rng_seed(&rng, 7, (uint64_t)c.rank, TRPO_RNG_ACTION);
  // a gradient's spread of magnitudes: every digit word in use
  for (int i = 0; i < n; i++) x[i] = trpo_rng_normal(&rng) * (i % 3 == 0 ? 1e-6 : i % 3 == 1 ? 1.0 : 1e3);
  size_t nw = trpo_fxsum_nwords(&s[0]);
  double t_block[2][NBLOCK / 2];
  int differ = 0;
  for (int b = 0; b < NBLOCK; b++) {
    int path = b % 2;
    c.node_sum = path;
    double t0 = c.t_comm;
    for (int k = 0; k < per; k++) {
      trpo_fxsum_zero(&s[path]);
      trpo_fxsum_add(&s[path], x);
      trpo_comm_sum_fx(&c, &s[path]);
    }
    t_block[path][b / 2] = (c.t_comm - t0) / per;
    if (path == 1) differ += memcmp(s[0].w, s[1].w, sizeof(int64_t) * nw) != 0;
  }
  double med[2];
  for (int p = 0; p < 2; p++) med[p] = bench_median(t_block[p], NBLOCK / 2);
  int bad[1] = {differ};
  trpo_comm_max_double(&c, med, 2);
  trpo_comm_max_int(&c, bad, 1);
  if (c.rank == 0)
    printf("ranks %d doubles %d words %zu: MPI_Allreduce %.1f us, node sum %.1f us, ratio %.2f, %s\n",
           c.nrank, n, nw, 1e6 * med[0], 1e6 * med[1], med[1] > 0 ? med[0] / med[1] : 0,
           bad[0] ? "DIFFERENT digits" : "same");
  trpo_fxsum_free(&s[0]);
  trpo_fxsum_free(&s[1]);
  trpo_alloc_free(x);
  trpo_comm_finalize(&c);
  return bad[0] ? 1 : 0;
}
