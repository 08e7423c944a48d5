// test_mpi_update.c: the distributed update equals the single-process update of the same batch.
//
// Run through mpiexec at 1, 2 and 4 ranks (tests/cases.cmake) and as a serial singleton. Every
// rank trains its share of the environments with the world communicator; rank 0 also trains a
// second trainer that holds all environments alone (a trpo_comm of one rank, whose collectives are
// local no-ops), which is exactly what a one-process run computes. After each of three
// iterations, the policy gradient g, the CG direction s = F^-1 g, the Fisher product (F+d) s, the
// new policy and value parameters and the iteration's statistics must be bitwise equal on every
// rank to the single-process ones. Environment counts are chosen so that ranks hold unequal
// shares (6 environments on 4 ranks: 2, 2, 1, 1) and the Fisher products use subsample windows.
// The "moving" cases move environments between ranks before every iteration
// (trpo_train_set_shares, as load balancing does), to lopsided shares, and must still agree; after
// each iteration the checkpoint gather under the moved shares must give rank 0 every
// environment's state ("envs/..." items) exactly as the single-process trainer holds it. The
// slow-rank cases give the last rank 8x the work (trpo_comm.slow): load balancing moves its
// environments away, sharing the sampling (steal) takes chunks of its environments, and sharing
// the work after sampling (share_work) has the others work on its environments' pieces, all with
// the single-process bits.
// Not here: the value function and normaliser copies of each rank (test_mpi_state.c).

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trpo_comm comm;

// the pieces compared, in the order they are packed
enum { G, S, FS, THETA, VTHETA, STATS, NPIECE };
static const char* const piece_name[NPIECE] = {"policy gradient g", "CG direction s",
                                               "Fisher product (F+d)s", "policy theta",
                                               "value theta", "statistics"};
#define NSTAT 12

static int window = 0;        // rebalance_window for make (0: the default)
static int rebalance = -1;    // rebalance, steal and share_work for make (-1: the default)
static int steal = -1;
static int share_work = -1;
static int steal_steps = 0;   // steal_steps for make (0: the default)

static trpo_train* make(trpo_comm* c, const char* env, int nenv, int nsteps) {
  trpo_config cfg;
  trpo_test_config(&cfg, env, 11, nenv, nsteps);
  if (window) cfg.rebalance_window = window;
  if (rebalance >= 0) cfg.rebalance = rebalance;
  if (steal >= 0) cfg.steal = steal;
  if (share_work >= 0) cfg.share_work = share_work;
  if (steal_steps) cfg.steal_steps = steal_steps;
  cfg.fvp_fraction = 0.5;
  cfg.vf_epochs = 2;
  cfg.vf_minibatch = 48;
  return trpo_test_trainer(c, &cfg);
}

// one iteration, then every compared value packed into x; returns the pieces' offsets in off
static void iterate_pack(trpo_train* t, double* x, int* off) {
  trpo_stats st;
  trpo_train_iterate(t, &st);
  // the least waiting of any rank is between none and the most
  assert_true(st.t_wait_min >= 0 && st.t_wait_min <= st.t_wait);
  int P = 0, Pv = 0;
  const double *g, *s, *fs;
  const double* theta = trpo_train_policy(t, &P);
  const double* vtheta = trpo_train_value(t, &Pv);
  trpo_train_vectors(t, &g, &s, &fs);
  double stats[NSTAT] = {st.episodes, st.return_mean, st.return_std, st.kl, st.entropy,
                         st.surr_improve, st.ls_steps, st.cg_iters, st.cg_residual, st.vf_loss,
                         st.vf_explained_var, st.ls_rejected};
  const double* src[NPIECE] = {g, s, fs, theta, vtheta, stats};
  int len[NPIECE] = {P, P, P, P, Pv, NSTAT};
  off[0] = 0;
  for (int k = 0; k < NPIECE; k++) {
    memcpy(x + off[k], src[k], sizeof(double) * len[k]);
    off[k + 1] = off[k] + len[k];
  }
}

static uint64_t fnv1a(const void* data, size_t n) {
  const unsigned char* b = data;
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t k = 0; k < n; k++) h = (h ^ b[k]) * UINT64_C(1099511628211);
  return h;
}

// shares for iteration it: one environment each, the rest piled on ranks from (it mod nrank) on,
// each up to cap, so that every iteration moves environments
static void moving_shares(int it, int nenv, int cap, int* share) {
  for (int r = 0; r < comm.nrank; r++) share[r] = 1;
  int rest = nenv - comm.nrank;
  for (int k = 0; k < comm.nrank && rest > 0; k++) {
    int r = (it + k) % comm.nrank, add = cap - 1 < rest ? cap - 1 : rest;
    share[r] += add;
    rest -= add;
  }
}

static void same_update(const char* env, int nenv, int nsteps, int moving) {
  // the distributed trainer on every rank, the single-process one on rank 0
  trpo_comm solo = {.rank = 0, .nrank = 1, .t_wait = 0, .t_comm = 0, .timing = 0};
  trpo_train* t = make(&comm, env, nenv, nsteps);
  trpo_train* ref = comm.rank == 0 ? make(&solo, env, nenv, nsteps) : NULL;
  int P = 0, Pv = 0;
  trpo_train_policy(t, &P);
  trpo_train_value(t, &Pv);
  int n = 4 * P + Pv + NSTAT;
  double* x = calloc((size_t)n, sizeof(double));
  double* y = calloc((size_t)n, sizeof(double));
  int off[NPIECE + 1], roff[NPIECE + 1];
  int share[comm.nrank], now[comm.nrank];
  for (int it = 1; it <= (moving ? 4 : 3); it++) {
    if (moving && comm.nrank > 1) {
      int cap = trpo_train_shares(t, now);
      moving_shares(it, nenv, cap, share);
      int moved = trpo_train_set_shares(t, share);
      trpo_train_shares(t, now);
      assert_memory_equal(now, share, sizeof share);
      if (comm.rank == 0) printf("%s iteration %d: %d environment(s) moved\n", env, it, moved);
      assert_true(moved > 0);
    }
    // the same iteration both ways; rank 0's reference goes to every rank
    iterate_pack(t, x, off);
    if (ref) iterate_pack(ref, y, roff);
    trpo_comm_bcast(&comm, y, n, 0);
    // every rank compares its own copy piece by piece; the verdict is shared
    int bad[NPIECE];
    for (int k = 0; k < NPIECE; k++)
      bad[k] = memcmp(x + off[k], y + off[k], sizeof(double) * (off[k + 1] - off[k])) != 0;
    trpo_comm_max_int(&comm, bad, NPIECE);
    if (comm.rank == 0) {
      size_t b = sizeof(double) * P;
      printf("%s iteration %d on %d rank(s): g %016llx s %016llx fs %016llx\n", env, it,
             comm.nrank, (unsigned long long)fnv1a(x + off[G], b),
             (unsigned long long)fnv1a(x + off[S], b), (unsigned long long)fnv1a(x + off[FS], b));
    }
    for (int k = 0; k < NPIECE; k++)
      if (bad[k])
        fail_msg("%s iteration %d: %s on %d ranks differs from the single-process one (max |diff| "
                 "%.3g on rank %d)",
                 env, it, piece_name[k], comm.nrank,
                 trpo_test_maxdiff(x + off[k], y + off[k], off[k + 1] - off[k]), comm.rank);
    // the per-environment state a checkpoint would store, gathered under the current shares
    if (moving) {
      trpo_train_gather(t);
      if (ref) {
        trpo_train_gather(ref);
        trpo_ckptitem *a, *b;
        int na = trpo_train_items(t, &a), nb = trpo_train_items(ref, &b);
        assert_int_equal(na, nb);
        int nenvitems = 0;
        for (int k = 0; k < na; k++) {
          if (strncmp(a[k].path, "envs/", 5)) continue;
          if (memcmp(a[k].data, b[k].data, trpo_ckpt_item_bytes(&a[k])))
            fail_msg("%s iteration %d: gathered %s differs from the single-process one", env, it,
                     a[k].path);
          nenvitems++;
        }
        assert_int_equal(nenvitems, 5);
      }
    }
    // the compared vectors are not trivially equal: a real gradient and a real step
    assert_true(trpo_test_maxabs(x + off[G], P) > 0);
    assert_true(trpo_test_maxabs(x + off[S], P) > 0);
    assert_true(trpo_test_maxabs(x + off[FS], P) > 0);
  }
  free(x);
  free(y);
  trpo_train_free(ref);
  trpo_train_free(t);
}

static void gaussian_pendulum(void** state) {
  (void)state;
  same_update("Pendulum-v1", 6, 64, 0);
}

static void categorical_cartpole(void** state) {
  (void)state;
  same_update("CartPole-v1", 5, 60, 0);
}

static void mujoco_hopper(void** state) {
  (void)state;
  same_update("Hopper-v4", 4, 50, 0);
}

static void moving_pendulum(void** state) {
  (void)state;
  same_update("Pendulum-v1", 7, 64, 1);
}

static void moving_hopper(void** state) {
  (void)state;
  same_update("Hopper-v4", 8, 50, 1);
}

// t's parameters equal those of ref, the one-process run on rank 0 (NULL elsewhere); frees both
static void same_as_one_process(trpo_train* t, trpo_train* ref) {
  uint64_t h[2] = {0, 0}, hr[2] = {0, 0};
  trpo_train_checksum(t, &h[0], &h[1]);
  if (ref) trpo_train_checksum(ref, &hr[0], &hr[1]);
  trpo_comm_bcast_bytes(&comm, hr, sizeof hr, 0);
  assert_memory_equal(h, hr, sizeof h);
  trpo_train_free(ref);
  trpo_train_free(t);
}

// iters iterations of t (and of ref, if any) with the last rank's work 8x as long
// (trpo_comm.slow, the benchmarks' slower core), each followed by load balancing; returns the
// environments moved, *first the iteration after which the first move came (0: none)
static int slow_run(trpo_train* t, trpo_train* ref, int iters, int* first) {
  trpo_stats st;
  int moved = 0;
  *first = 0;
  if (comm.rank == comm.nrank - 1) comm.slow = 8.0;
  for (int it = 1; it <= iters; it++) {
    trpo_train_iterate(t, &st);
    if (ref) trpo_train_iterate(ref, &st);
    int m = trpo_train_rebalance(t);
    if (m && !*first) *first = it;
    moved += m;
  }
  comm.slow = 0;
  return moved;
}

// load balancing end to end: the last rank works 8x as long; once rebalance_window iterations
// are in (w; 0: the default, 1), every rank takes the same decision and environments leave it,
// and the parameters stay those of the single-process run. Each rank works on its own
// environments after sampling (share_work = 0): where the ranks share that work, they all finish
// it together and there is nothing for the balancer to see on one node
static void slow_rank_with_window(int w) {
  window = w;
  share_work = 0;
  const int nenv = 8, iters = 7;
  trpo_comm solo = {.rank = 0, .nrank = 1, .t_wait = 0, .t_comm = 0, .timing = 0};
  trpo_train* t = make(&comm, "Pendulum-v1", nenv, 64);
  trpo_train* ref = comm.rank == 0 ? make(&solo, "Pendulum-v1", nenv, 64) : NULL;
  int first = 0, share[comm.nrank];
  int moved = slow_run(t, ref, iters, &first);
  trpo_train_shares(t, share);
  if (comm.rank == 0) {
    printf("%d rank(s): %d environment(s) moved, first after iteration %d; shares", comm.nrank,
           moved, first);
    for (int r = 0; r < comm.nrank; r++) printf(" %d", share[r]);
    printf("\n");
  }
  // every rank holds the same shares (rank 0's, broadcast, compared everywhere)
  int mine[comm.nrank];
  memcpy(mine, share, sizeof mine);
  trpo_comm_bcast_bytes(&comm, share, sizeof share, 0);
  int differ[1] = {memcmp(mine, share, sizeof mine) != 0};
  trpo_comm_max_int(&comm, differ, 1);
  assert_int_equal(differ[0], 0);
  if (comm.nrank > 1) {
    // right after the window is full (not before), and the slow rank now holds less than an
    // even share
    assert_int_equal(first, w ? w : 1);
    assert_true(moved > 0);
    assert_true(share[comm.nrank - 1] * comm.nrank < nenv);
  } else {
    assert_int_equal(moved, 0);
  }
  // the same parameters as one process
  same_as_one_process(t, ref);
  // without the timing barriers a busy time includes waiting: the balancer stays put
  comm.timing = 0;
  t = make(&comm, "Pendulum-v1", nenv, 64);
  assert_int_equal(slow_run(t, NULL, iters, &first), 0);
  trpo_train_free(t);
  comm.timing = 1;
  window = 0;
  share_work = -1;
}

static void slow_rank_loses_environments(void** state) {
  (void)state;
  slow_rank_with_window(0);
}

static void slow_rank_loses_environments_window5(void** state) {
  (void)state;
  slow_rank_with_window(5);
}

// load balancing where the ranks of a node share their work (the defaults): on one node every
// rank's seconds per environment are the node's, and nothing moves however slow the last rank is
// (the others take its work instead); on two nodes of 2 ranks (at 4 ranks, TRPO_TEST_NODE_SIZE=2)
// whose second node's ranks are both slow, environments leave that node. The parameters stay those of one process, which
// runs after the many-rank run here: between iterations it would make rank 0 late for every
// iteration, and rank 1, waiting for it to open its work, look busy
static void slow_node_loses_environments(void** state) {
  (void)state;
  const int nenv = 8, iters = 7;
  trpo_comm solo = {.rank = 0, .nrank = 1, .t_wait = 0, .t_comm = 0, .timing = 0};
  for (int nodes = 1; nodes <= 2; nodes++) {
    if (nodes == 2 && comm.nrank != 4) continue;
    if (nodes == 2) setenv("TRPO_TEST_NODE_SIZE", "2", 1);
    trpo_train* t = make(&comm, "Pendulum-v1", nenv, 64);
    int first = 0, share[comm.nrank], moved = 0;
    if (nodes == 1) {
      moved = slow_run(t, NULL, iters, &first);
    } else {
      trpo_stats st;
      if (comm.rank >= 2) comm.slow = 8.0;
      for (int it = 0; it < iters; it++) {
        trpo_train_iterate(t, &st);
        moved += trpo_train_rebalance(t);
      }
      comm.slow = 0;
    }
    trpo_train* ref = comm.rank == 0 ? make(&solo, "Pendulum-v1", nenv, 64) : NULL;
    trpo_stats st;
    for (int it = 0; ref && it < iters; it++) trpo_train_iterate(ref, &st);
    trpo_train_shares(t, share);
    if (comm.rank == 0) {
      printf("%d rank(s), %d node(s): %d environment(s) moved; shares", comm.nrank, nodes, moved);
      for (int r = 0; r < comm.nrank; r++) printf(" %d", share[r]);
      printf("\n");
    }
    if (nodes == 1) {
      assert_int_equal(moved, 0);
    } else {
      assert_true(moved > 0);
      assert_true(share[0] + share[1] > share[2] + share[3]);
    }
    same_as_one_process(t, ref);
    unsetenv("TRPO_TEST_NODE_SIZE");
  }
}

// TRPO_BENCH_SLOW_RANK="RANK FACTOR PERIOD": the slow rank is RANK for PERIOD iterations, then
// the next rank's turn comes (mod the rank count), on every rank alike
static void slow_rank_moves_on(void** state) {
  (void)state;
  setenv("TRPO_BENCH_SLOW_RANK", "1 4 2", 1);
  trpo_train* t = make(&comm, "Pendulum-v1", 2 * comm.nrank, 16);
  trpo_stats st;
  for (int it = 0; it < 6; it++) {
    trpo_train_iterate(t, &st);
    int slow_rank = (1 + it / 2) % comm.nrank;
    assert_true(comm.slow == (slow_rank == comm.rank ? 4.0 : 1.0));
  }
  trpo_train_free(t);
  unsetenv("TRPO_BENCH_SLOW_RANK");
  comm.slow = 0;
}

// nenv Hopper environments of 32 steps over the ranks (and alone on rank 0), iters iterations
// with the last rank's work 8x as long; sums over the iterations of the steps others sampled of
// their owners' environments (steps_taken), the pieces of other ranks' environments worked on by
// all ranks and by the slow one (ranks.csv worked); then the parameters are compared with the
// one-process run's. Rank 0 runs the one-process trainer after the distributed iterations, not
// between them: between them it came late to the next sampling by a whole one-process iteration,
// and the slow rank had sometimes started all its environments by then (64 steps taken in 3
// iterations, once in a CI run)
static void slow_hopper(int nenv, int iters, double* taken, double* pieces, double* slow_did) {
  const int worked = 19;   // the column of TRPO_RANK_COLUMNS
  trpo_comm solo = {.rank = 0, .nrank = 1, .t_wait = 0, .t_comm = 0, .timing = 0};
  trpo_train* t = make(&comm, "Hopper-v4", nenv, 32);
  trpo_train* ref = comm.rank == 0 ? make(&solo, "Hopper-v4", nenv, 32) : NULL;
  if (comm.rank == comm.nrank - 1) comm.slow = 8.0;
  trpo_stats st, sr;
  *taken = *pieces = *slow_did = 0;
  for (int it = 0; it < iters; it++) {
    trpo_train_iterate(t, &st);
    *taken += st.steps_taken;
    const double* x = trpo_train_rank_times(t);
    for (int r = 0; r < comm.nrank; r++) *pieces += x[(size_t)r * TRPO_RANK_NTIME + worked];
    *slow_did += x[(size_t)(comm.nrank - 1) * TRPO_RANK_NTIME + worked];
  }
  comm.slow = 0;
  if (ref)
    for (int it = 0; it < iters; it++) trpo_train_iterate(ref, &sr);
  same_as_one_process(t, ref);
}

// sharing the sampling: with the last rank's sampling 8x as long and no load balancing, the other
// ranks take chunks of its environments in every iteration, and the parameters stay those of the
// single-process run: with whole segments (steal_steps 32) and with 4 chunks of 8 steps, whose
// states pass between ranks within the segment; with steal = 0 nobody takes any. (The work after
// sampling stays with each rank, share_work = 0, so that the slow rank's own work comes before
// the next sampling)
static void slow_rank_work_is_taken(void** state) {
  (void)state;
  const int nenv = 4 * comm.nrank + (comm.nrank > 1), iters = 3;   // uneven shares: uneven caps
  rebalance = 0;
  share_work = 0;
  for (int c = 0; c < 3; c++) {
    steal = c > 0;
    steal_steps = c == 2 ? 8 : 32;
    double taken, pieces, slow_did;
    slow_hopper(nenv, iters, &taken, &pieces, &slow_did);
    if (comm.rank == 0)
      printf("%d rank(s), steal %d, steal_steps %d: %.0f step(s) taken in %d iterations\n",
             comm.nrank, steal, steal_steps, taken, iters);
    // at least a chunk in every iteration, and whole chunks
    if (steal && comm.nrank > 1) assert_true(taken >= iters * steal_steps && fmod(taken, steal_steps) == 0);
    else assert_true(taken == 0);
  }
  rebalance = steal = share_work = -1;
  steal_steps = 0;
}

// sharing the work after sampling: with the last rank's work 8x as long (each environment's piece
// of every phase) and no load balancing, the other ranks work on its environments, and the
// parameters stay those of the single-process run; with share_work = 0 nobody does
static void slow_rank_pieces_are_shared(void** state) {
  (void)state;
  const int nenv = 4 * comm.nrank + (comm.nrank > 1), iters = 3;   // uneven shares: uneven caps
  rebalance = 0;
  steal = 0;
  for (share_work = 0; share_work <= 1; share_work++) {
    double taken, pieces, slow_did;
    slow_hopper(nenv, iters, &taken, &pieces, &slow_did);
    if (comm.rank == 0)
      printf("%d rank(s), share_work %d: %.0f pieces of other ranks' environments in %d iterations\n",
             comm.nrank, share_work, pieces, iters);
    // every phase of an iteration (at least the advantages, the gradient, cg_iters + 1 Fisher
    // products and a line-search candidate) has pieces of the slow rank's environments to take
    if (share_work && comm.nrank > 1) assert_true(pieces >= iters * 4 && slow_did < pieces);
    else assert_true(pieces == 0);
  }
  rebalance = steal = share_work = -1;
}

int main(int argc, char** argv) {
  trpo_comm_init(&comm, &argc, &argv);
  trpo_test_traps();
  // every verdict is collective, so rank 0's report speaks for all ranks
  if (comm.rank != 0 && !freopen("/dev/null", "w", stdout)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gaussian_pendulum),
      cmocka_unit_test(categorical_cartpole),
      cmocka_unit_test(mujoco_hopper),
      cmocka_unit_test(moving_pendulum),
      cmocka_unit_test(moving_hopper),
      cmocka_unit_test(slow_rank_loses_environments),
      cmocka_unit_test(slow_rank_loses_environments_window5),
      cmocka_unit_test(slow_rank_moves_on),
      cmocka_unit_test(slow_node_loses_environments),
      cmocka_unit_test(slow_rank_work_is_taken),
      cmocka_unit_test(slow_rank_pieces_are_shared),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  trpo_comm_finalize(&comm);
  return rc;
}
