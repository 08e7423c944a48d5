// test_shard.c: environments to ranks: every env held by exactly one rank, contiguous ranges in
// rank order, sizes that differ by at most one.

#include "testutil.h"

// the invariants for one (n, nrank)
static void check(int n, int nrank) {
  int next = 0, lo = n, hi = 0;
  for (int r = 0; r < nrank; r++) {
    int begin, count;
    trpo_shard_range(n, r, nrank, &begin, &count);
    // rank r starts where rank r-1 ended: no gap, no overlap
    assert_int_equal(begin, next);
    assert_true(count >= 0);
    next = begin + count;
    lo = count < lo ? count : lo;
    hi = count > hi ? count : hi;
  }
  // all held, balanced
  assert_int_equal(next, n);
  assert_true(hi - lo <= 1);
  assert_true(hi == (n + nrank - 1) / nrank && lo == n / nrank);
}

static void test_shard_many(void** state) {
  (void)state;
  for (int n = 0; n <= 300; n++)
    for (int nrank = 1; nrank <= 70; nrank++) check(n, nrank);
  // large counts
  check(1000000, 1);
  check(1000000, 7);
  check(1000003, 1024);
  check(999999937, 4096);
}

// every env index is held exactly once (counted per env, not only by range arithmetic)
static void test_shard_exactly_once(void** state) {
  (void)state;
  const int cases[][2] = {{10, 4}, {3, 8}, {64, 64}, {97, 13}, {1, 1}, {0, 3}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int n = cases[k][0], nrank = cases[k][1];
    int* held = trpo_alloc(((size_t)n + 1) * sizeof(int));
    for (int r = 0; r < nrank; r++) {
      int begin, count;
      trpo_shard_range(n, r, nrank, &begin, &count);
      for (int e = begin; e < begin + count; e++) {
        assert_true(e >= 0 && e < n);
        held[e]++;
      }
    }
    for (int e = 0; e < n; e++) assert_int_equal(held[e], 1);
    trpo_alloc_free(held);
  }
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shard_many),
      cmocka_unit_test(test_shard_exactly_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
