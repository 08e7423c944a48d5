// bench_scaling.c: the physics-only rate of N ranks stepping MuJoCo at once, the baseline that
// launch/bench_scaling.sh divides training rates by.
//
//   mpirun -np N bench_scaling TASK NENV_TOTAL NSTEPS SECONDS
//
// Each rank holds the environments `trpo train` would give it (trpo_shard_range of NENV_TOTAL)
// and steps them in the order sampling does (NSTEPS steps of one environment, then the next),
// with physics only: uniform random controls, frame_skip x mj_step (and mj_rnePostConstraint
// where the task reads contact forces), and at the task's termination or time limit the
// driver's reset (trpo_env_mujoco_resetdata, mj_resetData's result without clearing what MuJoCo
// did not write), the task's reset noise and mj_forward. No policy, observation or reward. All
// ranks start together after a barrier and run SECONDS of wall-clock time, so memory bandwidth,
// shared caches and clock frequency under N busy cores are part of the baseline. A second,
// synchronised measurement then runs whole rounds (every environment NSTEPS steps, as one
// training iteration samples) with a barrier after each, for about SECONDS: its rate is what
// physics alone would give if ranks had to meet once per iteration, so the gap between the two
// is the cost of meeting (unequal rank speeds, OS noise) before any training work. Rank 0 prints
// one line of key/value pairs: ranks, nenv, steps, seconds (the slowest rank's), rate (env
// steps/s summed over ranks), the slowest and fastest rank's rate, which rank was the slowest,
// sync_rate, bal_rate and rank_rates (every rank's free-running rate, in rank order). bal_rate
// is the most a synchronous iteration could reach with whole environments at these rank speeds:
// the environments assigned as load balancing would assign them (trpo_shard_balance, with each
// rank's measured seconds per environment round, its cap of twice the even share and no
// minimum gain), an iteration as long as its slowest rank's share, no cost but the physics.
// Where ranks differ in speed, whole
// environments cannot even them out (4 per rank: a rank 1.5x slower still holds 3 or 4 of
// them), so bal_rate / rate is the bound that whole environments set on a synchronous
// algorithm's efficiency against free-running physics. The trainer's sampling escapes it (ranks
// share it in chunks of steal_steps steps); its work after sampling, in pieces of whole
// environments, does not. Not a CTest case.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_backend.h"
#include "env_mujoco.h"

// one env step of environment i, physics only: controls, substeps, what the task's reward would
// need, and at the episode's end a reset as the driver does it
static void envstep(void* s, const trpo_mjtask* task, int i, trpo_rng* rng, int* len) {
  const int* ids = trpo_env_mujoco_ids(s);
  const mjModel* m;
  mjData* d;
  trpo_env_mujoco_data(s, i, &m, &d);
  for (int a = 0; a < m->nu; a++) d->ctrl[a] = trpo_rng_range(rng, task->act_lo, task->act_hi);
  for (int j = 0; j < task->frame_skip; j++) mj_step(m, d);
  if (task->needs_rne) mj_rnePostConstraint(m, d);
  if (task->terminated(ids, m, d) || ++len[i] >= task->max_steps) {
    trpo_env_mujoco_resetdata(m, d);
    task->reset(ids, m, d, rng);
    mj_forward(m, d);
    len[i] = 0;
  }
}

// physics of this rank's environments for `seconds`; returns the env steps done, *dt the time
static long physics(void* s, const trpo_mjtask* task, int nenv, int nsteps, double seconds,
                    trpo_rng* rng, int* len, double* dt) {
  long steps = 0;
  double t0 = trpo_time_now(), now = t0;
  while (now - t0 < seconds)
    for (int i = 0; i < nenv && now - t0 < seconds; i++)
      for (int k = 0; k < nsteps && now - t0 < seconds; k++) {
        envstep(s, task, i, rng, len);
        steps++;
        now = trpo_time_now();
      }
  *dt = now - t0;
  return steps;
}

// one round: NSTEPS steps of every environment, in sampling order; returns the steps
static long round_once(void* s, const trpo_mjtask* task, int nenv, int nsteps, trpo_rng* rng,
                       int* len) {
  for (int i = 0; i < nenv; i++)
    for (int k = 0; k < nsteps; k++) envstep(s, task, i, rng, len);
  return (long)nenv * nsteps;
}

int main(int argc, char** argv) {
  trpo_comm comm;
  trpo_comm_init(&comm, &argc, &argv);
  comm.timing = 0;
  if (argc != 5) {
    if (comm.rank == 0) fprintf(stderr, "usage: bench_scaling TASK NENV_TOTAL NSTEPS SECONDS\n");
    trpo_comm_finalize(&comm);
    return 2;
  }
  const char* name = argv[1];
  int nenv_total = atoi(argv[2]), nsteps = atoi(argv[3]);
  double seconds = atof(argv[4]);
  const trpo_mjtask* task = trpo_mjtask_find(name);
  if (!task || nenv_total < comm.nrank || nsteps < 1 || !(seconds > 0)) {
    if (comm.rank == 0)
      fprintf(stderr, "bench_scaling: need a MuJoCo task, NENV_TOTAL >= ranks (%d), NSTEPS >= 1, "
              "SECONDS > 0\n", comm.nrank);
    trpo_comm_finalize(&comm);
    return 2;
  }

  // this rank's environments, reset with their own streams
  int begin, nenv;
  trpo_shard_range(nenv_total, comm.rank, comm.nrank, &begin, &nenv);
  void* s = NULL;
  trpo_envinfo info;
  char err[1024];
  if (trpo_env_mujoco.make(&s, &info, name, "", nenv, err, sizeof err)) TRPO_FATAL("%s", err);
  trpo_rng rng;
  trpo_rng_seed(&rng, 1, (uint64_t)begin, TRPO_RNG_ACTION);
  double obs[512];
  int* len = trpo_alloc((size_t)nenv * sizeof(int));
  for (int i = 0; i < nenv; i++) trpo_env_mujoco.reset(s, i, &rng, obs);

  // a short warm-up, then all ranks start together
  double dt = 0;
  physics(s, task, nenv, nsteps, 0.1 * seconds, &rng, len, &dt);
  trpo_comm_barrier(&comm);
  long steps[1];
  steps[0] = physics(s, task, nenv, nsteps, seconds, &rng, len, &dt);

  // rates over ranks: sum, slowest (and which rank), fastest; the longest time
  double mine[2] = {dt, (double)steps[0] / dt};
  double* all = trpo_alloc((size_t)comm.nrank * 2 * sizeof(double));
  trpo_comm_allgather_double(&comm, mine, 2, all);
  double mx[3] = {all[0], -all[1], all[1]};
  int slowest = 0;
  for (int r = 1; r < comm.nrank; r++) {
    mx[0] = all[2 * r] > mx[0] ? all[2 * r] : mx[0];
    if (-all[2 * r + 1] > mx[1]) mx[1] = -all[2 * r + 1], slowest = r;
    mx[2] = all[2 * r + 1] > mx[2] ? all[2 * r + 1] : mx[2];
  }
  // the best whole-environment split at these speeds: seconds per environment round of rank r =
  // nsteps / its rate (it steps one environment at a time)
  double* cost = trpo_alloc((size_t)comm.nrank * sizeof(double));
  int* share = trpo_alloc((size_t)comm.nrank * sizeof(int));
  int* best = trpo_alloc((size_t)comm.nrank * sizeof(int));
  for (int r = 0; r < comm.nrank; r++) {
    int b, c;
    trpo_shard_range(nenv_total, r, comm.nrank, &b, &c);
    share[r] = c;
    cost[r] = (double)nsteps / all[2 * r + 1];
  }
  // the cap load balancing has: twice the even share
  int even = (nenv_total + comm.nrank - 1) / comm.nrank;
  trpo_shard_balance(nenv_total, comm.nrank, 2 * even < nenv_total ? 2 * even : nenv_total, cost,
                     share, 0.0, best);
  double tbal = 0;
  for (int r = 0; r < comm.nrank; r++) tbal = best[r] * cost[r] > tbal ? best[r] * cost[r] : tbal;
  double bal_rate = (double)nenv_total * nsteps / tbal;
  trpo_comm_sum_long(&comm, steps, 1);

  // synchronised: whole rounds with a barrier after each; the round count comes from the free
  // run's slowest rank (the same reduced numbers on every rank, so all agree)
  double per_round = (double)((nenv_total + comm.nrank - 1) / comm.nrank) * nsteps / -mx[1];
  long rounds = (long)(seconds / per_round);
  if (rounds < 3) rounds = 3;
  trpo_comm_barrier(&comm);
  double t0 = trpo_time_now();
  long ssteps[1] = {0};
  for (long k = 0; k < rounds; k++) {
    ssteps[0] += round_once(s, task, nenv, nsteps, &rng, len);
    trpo_comm_barrier(&comm);
  }
  double sdt[1] = {trpo_time_now() - t0};
  trpo_comm_max_double(&comm, sdt, 1);
  trpo_comm_sum_long(&comm, ssteps, 1);
  if (comm.rank == 0)
    printf("ranks %d nenv %d steps %ld seconds %.3f rate %.0f rank_min %.0f rank_max %.0f "
           "slowest %d sync_rate %.0f bal_rate %.0f rank_rates ",
           comm.nrank, nenv_total, steps[0], mx[0], (double)steps[0] / mx[0], -mx[1], mx[2],
           slowest, (double)ssteps[0] / sdt[0], bal_rate);
  if (comm.rank == 0)
    for (int r = 0; r < comm.nrank; r++) printf("%s%.0f", r ? "," : "", all[2 * r + 1]);
  if (comm.rank == 0) printf("\n");
  trpo_alloc_free(all);
  trpo_alloc_free(cost);
  trpo_alloc_free(share);
  trpo_alloc_free(best);
  trpo_alloc_free(len);
  trpo_env_mujoco.free(s);
  trpo_comm_finalize(&comm);
  return 0;
}
