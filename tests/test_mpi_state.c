// test_mpi_state.c: after every iteration each rank holds the same global state as rank 0.
//
// Run through mpiexec at 1, 2 and 4 ranks (tests/cases.cmake) and as a serial singleton. The
// global state is what a checkpoint stores once for all ranks: policy and value parameters, the
// value function's Adam moments and step count, the observation normaliser (mean, M2, count),
// the counters and the global random streams. Nothing but the policy is broadcast by the trainer:
// the value fit and the normaliser update run on every rank from exactly reduced sums, so a
// rank that drifted by one bit would go unnoticed until its samples differ. Each rank's bytes are
// compared with rank 0's, item by item. A self-check flips one bit of the value parameters in
// the last rank's packed copy and requires the comparison to name exactly that item.
// Not here: the per-environment state (it differs by design) and the update itself
// (test_mpi_update.c).

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trpo_comm comm;

static trpo_train* make(const char* env, int nenv, int nsteps) {
  trpo_config cfg;
  trpo_test_config(&cfg, env, 5, nenv, nsteps);
  cfg.vf_epochs = 3;
  cfg.vf_minibatch = 40;
  return trpo_test_trainer(&comm, &cfg);
}

// the global items (not "envs/..."); "scalars" only from its second value, the normaliser count
// (the first is this process's wall clock)
static int global_item(const trpo_ckptitem* it, size_t* skip) {
  *skip = strcmp(it->path, "scalars") == 0 ? 8 : 0;
  return strncmp(it->path, "envs/", 5) != 0;
}

// pack the global items' bytes into buf; returns the total
static size_t pack(const trpo_ckptitem* items, int n, unsigned char* buf) {
  size_t off = 0, skip;
  for (int k = 0; k < n; k++) {
    if (!global_item(&items[k], &skip)) continue;
    size_t b = trpo_ckpt_item_bytes(&items[k]) - skip;
    if (buf) memcpy(buf + off, (const unsigned char*)items[k].data + skip, b);
    off += b;
  }
  return off;
}

// bad[k] = 1 where item k's bytes on any rank differ from rank 0's (mine vs rank 0's in ref)
static void compare(const trpo_ckptitem* items, int n, const unsigned char* mine,
                    const unsigned char* ref, int* bad) {
  size_t off = 0, skip;
  for (int k = 0; k < n; k++) {
    bad[k] = 0;
    if (!global_item(&items[k], &skip)) continue;
    size_t b = trpo_ckpt_item_bytes(&items[k]) - skip;
    bad[k] = memcmp(mine + off, ref + off, b) != 0;
    off += b;
  }
  trpo_comm_max_int(&comm, bad, n);
}

static void same_state(const char* env, int nenv, int nsteps) {
  trpo_train* t = make(env, nenv, nsteps);
  trpo_ckptitem* items;
  int n = trpo_train_items(t, &items);
  size_t nb = pack(items, n, NULL);
  unsigned char* mine = malloc(nb);
  unsigned char* ref = malloc(nb);
  int bad[32];
  for (int it = 1; it <= 3; it++) {
    // an iteration, then the global items filled (gather is collective)
    trpo_stats st;
    trpo_train_iterate(t, &st);
    trpo_train_gather(t);
    pack(items, n, mine);
    memcpy(ref, mine, nb);
    trpo_comm_bcast_bytes(&comm, ref, nb, 0);
    compare(items, n, mine, ref, bad);
    for (int k = 0; k < n; k++)
      if (bad[k])
        fail_msg("%s iteration %d on %d ranks: '%s' differs from rank 0's", env, it, comm.nrank,
                 items[k].path);
  }
  // self-check: one flipped bit of the value parameters on the last rank is found, and only there
  if (comm.nrank > 1) {
    size_t off = 0, skip;
    int vk = -1;
    for (int k = 0; k < n && vk < 0; k++) {
      if (!strcmp(items[k].path, "value/theta")) vk = k;
      else if (global_item(&items[k], &skip)) off += trpo_ckpt_item_bytes(&items[k]) - skip;
    }
    assert_true(vk >= 0);
    if (comm.rank == comm.nrank - 1) mine[off + 13] ^= 0x01;
    compare(items, n, mine, ref, bad);
    for (int k = 0; k < n; k++) assert_int_equal(bad[k], k == vk);
  }
  free(mine);
  free(ref);
  trpo_train_free(t);
}

static void pendulum(void** state) {
  (void)state;
  same_state("Pendulum-v1", 6, 64);
}

static void hopper(void** state) {
  (void)state;
  same_state("Hopper-v4", 5, 40);
}

int main(int argc, char** argv) {
  trpo_comm_init(&comm, &argc, &argv);
  trpo_test_traps();
  // every verdict is collective, so rank 0's report speaks for all ranks
  if (comm.rank != 0 && !freopen("/dev/null", "w", stdout)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pendulum),
      cmocka_unit_test(hopper),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  trpo_comm_finalize(&comm);
  return rc;
}
