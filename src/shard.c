// shard.c: which environments a rank holds. Pure integer arithmetic, no MPI.
//
// nenv_total environments are split into nrank contiguous ranges whose sizes differ by at most
// one; the first (nenv_total mod nrank) ranks hold one more.

#include "trpo/trpo.h"

void trpo_shard_range(int nenv_total, int rank, int nrank, int* begin, int* count) {
  int base = nenv_total / nrank, extra = nenv_total % nrank;
  *count = base + (rank < extra);
  *begin = rank * base + (rank < extra ? rank : extra);
}
