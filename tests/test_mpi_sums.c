// test_mpi_sums.c: exact sums across ranks (trpo_comm_sum_fx_get, trpo_comm_sum_fx) against one
// accumulator that adds every rank's inputs itself.
//
// Run through mpiexec at 1, 2 and 4 ranks, and at 4 ranks as two "nodes" of 2
// (TRPO_TEST_NODE_SIZE=2: the node sums then meet through MPI_Allreduce among node leaders); see
// tests/cases.cmake. Every rank can make every rank's inputs (seeded by size, rank and round), so
// the reference needs no communication. Checked to the bit: node sums reading slices as doubles,
// node sums returning digit words, MPI_Allreduce alone; accumulators of each rank's own and
// accumulators in node shared memory (trpo_comm_fxsum_make); with the timing barrier and without;
// vectors shorter than the rank count and longer than before (the window grows); many sums in a
// row, each read before the next begins; a bad input on one rank reading NaN everywhere; and
// several sums in one collective (trpo_comm_sum_fx_getn), private and shared accumulators mixed,
// a bad input in one of them reading NaN in that one only.

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static trpo_comm comm;

// every verdict is collective (a rank that returned early would leave the others in a sum), so
// each rank counts its mismatches, says where on stderr, and the test asserts the most of any rank
static int mismatches;

static void expect_same(const double* got, const double* ref, int n, const char* what, int k) {
  if (memcmp(got, ref, sizeof(double) * (size_t)n) == 0) return;
  fprintf(stderr, "rank %d: %s, %d values, round %d: not the reference's bits\n", comm.rank, what,
          n, k);
  mismatches++;
}

static void expect_nan(const double* got, int n, const char* what) {
  for (int i = 0; i < n; i++)
    if (!isnan(got[i])) {
      fprintf(stderr, "rank %d: %s: value %d is not NaN\n", comm.rank, what, i);
      mismatches++;
      return;
    }
}

static void verdict(void) {
  int most[1] = {mismatches};
  mismatches = 0;
  trpo_comm_max_int(&comm, most, 1);
  assert_int_equal(most[0], 0);
}

// rank r's inputs of round k: n values over 80 binades, some exactly representable integers
static void inputs(double* x, int n, int r, int k) {
  trpo_rng g;
  trpo_rng_seed(&g, 1000 + (uint64_t)n, (uint64_t)r, (uint64_t)k);
  for (int i = 0; i < n; i++)
    x[i] = i % 5 == 4 ? (double)(int)trpo_rng_below(&g, 1000) - 500
                      : ldexp(trpo_rng_normal(&g), (int)trpo_rng_below(&g, 80) - 40);
}

// the sum of every rank's inputs of round k, added here (two partials per rank, as environments)
static void reference(double* ref, int n, int k) {
  trpo_fxsum s;
  trpo_fxsum_make(&s, n);
  trpo_fxsum_zero(&s);
  double* x = malloc(sizeof(double) * (size_t)n);
  for (int r = 0; r < comm.nrank; r++) {
    inputs(x, n, r, k);
    trpo_fxsum_add(&s, x);
    trpo_fxsum_add(&s, x);
  }
  trpo_fxsum_get(&s, ref);
  trpo_fxsum_free(&s);
  free(x);
}

// the accumulator of a sum: private (trpo_fxsum_make) or, with shared, made while node sums are on
// (trpo_comm_fxsum_make: its digits in a node window of their own, read there by the node sum)
static void make(trpo_fxsum* s, int n, int shared) {
  int was = comm.node_sum;
  comm.node_sum = 1;
  if (shared) trpo_comm_fxsum_make(&comm, s, n);
  else trpo_fxsum_make(s, n);
  comm.node_sum = was;
}

// this rank's partials of round k added into s, zeroed first (two, as environments); with bad,
// the last rank's second one has a NaN
static void add_inputs(trpo_fxsum* s, int n, int k, int bad) {
  trpo_fxsum_zero(s);
  double* x = malloc(sizeof(double) * (size_t)n);
  inputs(x, n, comm.rank, k);
  trpo_fxsum_add(s, x);
  if (bad && comm.rank == comm.nrank - 1) x[n / 2] = NAN;
  trpo_fxsum_add(s, x);
  free(x);
}

// round k's sum into out through s (made for n values): path 0 sum_fx_get, 1 sum_fx then get; with
// bad, the last rank adds a NaN
static void sum_into(trpo_fxsum* s, double* out, int n, int k, int path, int bad) {
  add_inputs(s, n, k, bad);
  if (path == 0) {
    trpo_comm_sum_fx_get(&comm, s, out);
  } else {
    trpo_comm_sum_fx(&comm, s);
    trpo_fxsum_get(s, out);
  }
}

// this rank's sum of round k through the path, in a new accumulator
static void through(double* out, int n, int k, int path, int bad, int shared) {
  trpo_fxsum s;
  make(&s, n, shared);
  sum_into(&s, out, n, k, path, bad);
  trpo_comm_fxsum_free(&comm, &s);
}

static void same_sums(int node_sum, int timing) {
  comm.node_sum = node_sum;   // shared accumulators are made with node sums on all the same
  comm.timing = timing;
  // short, longer than the rank count, then Hopper's policy (the window grows), then short again
  static const int sizes[] = {1, 2, 3, 7, 5126, 2, 40000, 5};
  for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
    int n = sizes[z];
    double* ref = malloc(sizeof(double) * (size_t)n);
    double* got = malloc(sizeof(double) * (size_t)n);
    for (int shared = 0; shared < 2; shared++)
      for (int path = 0; path < 2; path++) {
        reference(ref, n, (int)z);
        through(got, n, (int)z, path, 0, shared);
        expect_same(got, ref, n,
                    path == 0 ? (shared ? "shared, sum_fx_get" : "sum_fx_get")
                              : (shared ? "shared, sum_fx then get" : "sum_fx then get"),
                    (int)z);
      }
    free(ref);
    free(got);
  }
  comm.node_sum = 1;
  comm.timing = 1;
  verdict();
}

static void node_sums_timed(void** state) { (void)state; same_sums(1, 1); }
static void node_sums_untimed(void** state) { (void)state; same_sums(1, 0); }
static void allreduce_timed(void** state) { (void)state; same_sums(0, 1); }
static void allreduce_untimed(void** state) { (void)state; same_sums(0, 0); }

// sums back to back through one accumulator each, as training makes them (zero, add, sum, read,
// again): a rank that ran ahead into its next additions, or into the next sum, must not change
// the digits or the result another rank is still reading
static void sums_in_a_row(void** state) {
  (void)state;
  enum { N = 5126, ROUNDS = 200 };
  static double ref[N], got[N];
  for (int shared = 0; shared < 2; shared++) {
    trpo_fxsum s;
    make(&s, N, shared);
    for (int k = 0; k < ROUNDS; k++) {
      reference(ref, N, 100 + k);
      sum_into(&s, got, N, 100 + k, 0, 0);
      expect_same(got, ref, N, shared ? "in a row, shared" : "in a row", 100 + k);
    }
    trpo_comm_fxsum_free(&comm, &s);
  }
  verdict();
}

// one NaN on the last rank: every rank reads every value as NaN, by every path
static void bad_input_reads_nan(void** state) {
  (void)state;
  enum { N = 77 };
  double got[N];
  for (int shared = 0; shared < 2; shared++)
    for (int node_sum = 0; node_sum < 2; node_sum++)
      for (int path = 0; path < 2; path++) {
        comm.node_sum = node_sum;
        trpo_fxsum s;
        make(&s, N, shared);
        sum_into(&s, got, N, 7, path, 1);
        expect_nan(got, N, path == 0 ? "bad input, sum_fx_get" : "bad input, sum_fx then get");
        // and the next sum through the same accumulator is clean again
        double ref[N];
        reference(ref, N, 8);
        sum_into(&s, got, N, 8, path, 0);
        expect_same(got, ref, N, "after a bad input", 8);
        trpo_comm_fxsum_free(&comm, &s);
      }
  comm.node_sum = 1;
  verdict();
}

// k sums in one collective, as training makes a phase's sum and a value step's together: each
// read to the bit, by every path, round after round through the same accumulators (the first
// rounds grow the node window); in the last round the second sum has a bad input on the last
// rank and reads NaN, the others do not
static void several_at_once(void** state) {
  (void)state;
  enum { K = 3, ROUNDS = 6 };
  static const int n[K] = {5126, 3, 4866};
  for (int node_sum = 0; node_sum < 2; node_sum++)
    for (int timing = 0; timing < 2; timing++) {
      comm.node_sum = node_sum;
      comm.timing = timing;
      trpo_fxsum s[K];
      double *got[K], *ref[K];
      for (int j = 0; j < K; j++) {
        make(&s[j], n[j], j != 1);   // the middle one private, the others shared
        got[j] = malloc(sizeof(double) * (size_t)n[j]);
        ref[j] = malloc(sizeof(double) * (size_t)n[j]);
      }
      trpo_fxsum* ps[K] = {&s[0], &s[1], &s[2]};
      for (int k = 0; k < ROUNDS; k++) {
        int bad = k == ROUNDS - 1;
        for (int j = 0; j < K; j++) {
          reference(ref[j], n[j], 300 + 10 * k + j);
          add_inputs(&s[j], n[j], 300 + 10 * k + j, bad && j == 1);
        }
        // the first rounds sum fewer at once, so that the window grows between rounds
        int kk = k < 2 ? k + 1 : K;
        trpo_comm_sum_fx_getn(&comm, kk, ps, got);
        for (int j = 0; j < kk; j++) {
          if (bad && j == 1) expect_nan(got[j], n[j], "several at once, the bad one");
          else expect_same(got[j], ref[j], n[j], node_sum ? "several at once, node sums"
                                                          : "several at once, MPI_Allreduce", k);
        }
      }
      for (int j = 0; j < K; j++) {
        trpo_comm_fxsum_free(&comm, &s[j]);
        free(got[j]);
        free(ref[j]);
      }
    }
  comm.node_sum = 1;
  comm.timing = 1;
  verdict();
}

int main(int argc, char** argv) {
  trpo_comm_init(&comm, &argc, &argv);
  trpo_test_traps();
  if (comm.rank != 0 && !freopen("/dev/null", "w", stdout)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(node_sums_timed),   cmocka_unit_test(node_sums_untimed),
      cmocka_unit_test(allreduce_timed),   cmocka_unit_test(allreduce_untimed),
      cmocka_unit_test(sums_in_a_row),     cmocka_unit_test(bad_input_reads_nan),
      cmocka_unit_test(several_at_once),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  trpo_comm_finalize(&comm);
  return failed ? 1 : 0;
}
