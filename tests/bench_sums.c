// bench_sums.c: the cost of one exact sum across ranks, read back as doubles, as training uses it
// (trpo_comm_sum_fx_get), by three paths alternating in blocks on the same ranks: MPI_Allreduce of
// the digit words, then each rank reads them (comm_node_sum = 0); node shared memory returning
// the digit words, then each rank reads them (trpo_comm_sum_fx then trpo_fxsum_get: the node
// sum before it read its result as doubles); node shared memory reading each rank's slice of
// the result as doubles, from accumulators that live in node shared memory (comm_node_sum = 1,
// the default). Also whether the three give the same bits.
//
// Then, by the default path, a phase's sum with a value step riding on it (vf_ride): the policy-
// sized sum and a value-sized one in two collectives one after the other, and in one
// (trpo_comm_sum_fx_getn), alternating in blocks the same way. The difference is what a
// collective costs apart from the words it carries.
//
//   usage: mpirun -n N bench_sums [NDOUBLES [CALLS [NVALUE]]]
//   NDOUBLES defaults to 5126 (Hopper's 64x64 policy: 20,505 digit words), CALLS to 4500 (30
//   blocks, the three paths in turn; as many again for the pair), NVALUE to 4994 (Hopper's 64x64
//   value network and the loss)
// Prints two lines. First: ranks, doubles, words, the three paths' microseconds per call (all of
// it: zeroing the accumulator, adding one vector, the sum, reading it; less the time in the
// barrier that waits for every rank before the sum; the median block, the largest over ranks),
// the ratio of MPI_Allreduce to the default path, and "same" when every block's doubles agreed
// on every rank. Second: the pair, apart and together, their ratio, and "same" when both ways
// read the same doubles; timed whole, the barrier before each collective included (both ways do
// the same work on every rank, so what that barrier adds is its own latency, the part of a
// collective that does not grow with the words).

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "trpo/trpo.h"

enum { NPATH = 3, NBLOCK = 30 };

int main(int argc, char** argv) {
  trpo_comm c;
  trpo_comm_init(&c, &argc, &argv);
  int n = argc > 1 ? atoi(argv[1]) : 5126, calls = argc > 2 ? atoi(argv[2]) : 4500;
  int nv = argc > 3 ? atoi(argv[3]) : 4994;
  if (n < 1 || calls < NBLOCK || nv < 1) {
    if (c.rank == 0)
      fprintf(stderr, "usage: bench_sums [NDOUBLES >= 1 [CALLS >= %d [NVALUE >= 1]]]\n", NBLOCK);
    trpo_comm_finalize(&c);
    return 2;
  }
  int per = calls / NBLOCK;
  // paths 0 and 1 add into an accumulator of this rank's own; the default path into one in node
  // shared memory, as training does (trpo_comm_fxsum_make: the node sum reads it in place)
  trpo_fxsum own, shared;
  trpo_fxsum_make(&own, n);
  trpo_comm_fxsum_make(&c, &shared, n);
  double* x = trpo_alloc(sizeof(double) * (size_t)n);
  double* out[NPATH];
  for (int p = 0; p < NPATH; p++) out[p] = trpo_alloc(sizeof(double) * (size_t)n);
  trpo_rng rng;
  trpo_rng_seed(&rng, 7, (uint64_t)c.rank, TRPO_RNG_ACTION);
  // a gradient's spread of magnitudes: every digit word in use
  for (int i = 0; i < n; i++) x[i] = trpo_rng_normal(&rng) * (i % 3 == 0 ? 1e-6 : i % 3 == 1 ? 1.0 : 1e3);
  double t_block[NPATH][NBLOCK / NPATH];
  int differ = 0;
  for (int b = 0; b < NBLOCK; b++) {
    int path = b % NPATH;
    c.node_sum = path > 0;
    double t0 = trpo_time_now(), w0 = c.t_wait;
    trpo_fxsum* s = path == 2 ? &shared : &own;
    for (int k = 0; k < per; k++) {
      trpo_fxsum_zero(s);
      trpo_fxsum_add(s, x);
      if (path == 1) {
        trpo_comm_sum_fx(&c, s);
        trpo_fxsum_get(s, out[path]);
      } else {
        trpo_comm_sum_fx_get(&c, s, out[path]);
      }
    }
    t_block[path][b / NPATH] = (trpo_time_now() - t0 - (c.t_wait - w0)) / per;
    if (path == NPATH - 1)
      for (int p = 1; p < NPATH; p++) differ += memcmp(out[0], out[p], sizeof(double) * (size_t)n) != 0;
  }
  double med[NPATH];
  for (int p = 0; p < NPATH; p++) med[p] = bench_median(t_block[p], NBLOCK / NPATH);

  // the pair: the policy-sized sum (shared) and a value-sized one, apart and together
  c.node_sum = 1;
  trpo_fxsum val;
  trpo_comm_fxsum_make(&c, &val, nv);
  double* y = trpo_alloc(sizeof(double) * (size_t)nv);
  for (int i = 0; i < nv; i++) y[i] = trpo_rng_normal(&rng) * (i % 2 ? 1e-3 : 10.0);
  double* vout[2] = {trpo_alloc(sizeof(double) * (size_t)nv), trpo_alloc(sizeof(double) * (size_t)nv)};
  double t_pair[2][NBLOCK / 2];
  int pdiffer = 0;
  for (int b = 0; b < NBLOCK; b++) {
    int way = b % 2;   // 0 apart, 1 together
    double t0 = trpo_time_now();
    for (int k = 0; k < per; k++) {
      trpo_fxsum_zero(&shared);
      trpo_fxsum_add(&shared, x);
      trpo_fxsum_zero(&val);
      trpo_fxsum_add(&val, y);
      if (way == 0) {
        trpo_comm_sum_fx_get(&c, &shared, out[0]);
        trpo_comm_sum_fx_get(&c, &val, vout[0]);
      } else {
        trpo_fxsum* ss[2] = {&val, &shared};
        double* oo[2] = {vout[1], out[1]};
        trpo_comm_sum_fx_getn(&c, 2, ss, oo);
      }
    }
    t_pair[way][b / 2] = (trpo_time_now() - t0) / per;   // the barriers' own latency included
    if (way == 1)
      pdiffer += memcmp(out[0], out[1], sizeof(double) * (size_t)n) != 0 ||
                 memcmp(vout[0], vout[1], sizeof(double) * (size_t)nv) != 0;
  }
  double pmed[2] = {bench_median(t_pair[0], NBLOCK / 2), bench_median(t_pair[1], NBLOCK / 2)};

  int bad[2] = {differ, pdiffer};
  trpo_comm_max_double(&c, med, NPATH);
  trpo_comm_max_double(&c, pmed, 2);
  trpo_comm_max_int(&c, bad, 2);
  if (c.rank == 0) {
    printf("ranks %d doubles %d words %zu: MPI_Allreduce %.1f us, node sum reading words %.1f us, "
           "node sum %.1f us, ratio %.2f, %s\n",
           c.nrank, n, trpo_fxsum_nwords(&own), 1e6 * med[0], 1e6 * med[1], 1e6 * med[2],
           med[2] > 0 ? med[0] / med[2] : 0, bad[0] ? "DIFFERENT sums" : "same");
    printf("ranks %d pair %d+%d: apart %.1f us, together %.1f us, ratio %.2f, %s\n", c.nrank, n,
           nv, 1e6 * pmed[0], 1e6 * pmed[1], pmed[1] > 0 ? pmed[0] / pmed[1] : 0,
           bad[1] ? "DIFFERENT sums" : "same");
  }
  trpo_fxsum_free(&own);
  trpo_comm_fxsum_free(&c, &shared);
  trpo_comm_fxsum_free(&c, &val);
  trpo_alloc_free(y);
  trpo_alloc_free(vout[0]);
  trpo_alloc_free(vout[1]);
  trpo_alloc_free(x);
  for (int p = 0; p < NPATH; p++) trpo_alloc_free(out[p]);
  trpo_comm_finalize(&c);
  return bad[0] || bad[1] ? 1 : 0;
}
