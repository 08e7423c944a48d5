// train.c: one TRPO iteration (Schulman et al. 2015, "Trust Region Policy Optimization").
//
// The trainer of one rank. It holds a contiguous share of the environments; environment e owns
// its random streams and the batch rows [e*T, (e+1)*T) (T = nsteps), so the rank count changes
// only which rows a rank computes. Every sum across environments is exact (trpo_fxsum, reduced
// as integers by trpo_comm_sum_fx), and every dgemm runs over one environment's rows, with
// shapes that do not depend on the rank count: parameters are bitwise identical on 1 or N ranks.
//
// An iteration, as in the paper (section 6, "practical algorithm"):
//   1. sample T steps of every environment with the current stochastic policy (the ranks of a node
//      share it chunk by chunk, "sharing the sampling" below);
//   2. GAE(gamma, lambda) advantages against the value baseline (Schulman et al. 2016), normalised;
//   3. g = grad of the surrogate L(theta) = mean(pi_theta(a|s) / pi_old(a|s) * A) at theta_old;
//   4. s = F^-1 g by conjugate gradient, F the Fisher matrix (+ damping), from products only;
//   5. full step beta*s with beta = sqrt(2 max_kl / s^T (F + damping I) s), so that the quadratic
//      KL model equals max_kl (eq. 14 and appendix C); the damped curvature, as OpenAI Baselines
//      has it, makes that model larger than s^T F s, so the full step's KL falls short of max_kl
//      (README, Design: measured 75-97% of it) and the strict bound of step 6 rejects it less;
//   6. backtracking line search: accept the first step that improves L AND keeps the mean
//      KL(old||new) <= max_kl, else restore theta_old bitwise;
//   7. fit the value network to the lambda-returns by minibatch Adam (its steps ride on the
//      phases of steps 2-6, each summed in the same collective as the phase's own sum; the rest
//      run after step 6; see "7. value fit");
//   8. merge the batch's observation statistics into the running normaliser.
// Steps 2-7 run environment by environment, and the ranks of a node share those pieces ("sharing
// the work" below). Every rank runs the same CG and line search on the same exactly-reduced
// numbers, so all ranks agree bitwise without a broadcast per CG step; rank 0's parameters are
// broadcast once per iteration anyway, which is the design's "new parameters reach every rank".
//
// Not here: the run directory, progress.csv, checkpoint files and signals (src/run.c).

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trpo/trpo.h"

struct trpo_train_ {
  trpo_config cfg;
  trpo_comm* comm;
  trpo_envs* envs;
  trpo_envinfo info;
  trpo_policy pol;
  trpo_mlp vf;
  trpo_normalizer norm;
  trpo_adam adam;

  // sizes
  int nenv_total, env_begin, nenv;   // global count, this rank's share
  int cap;                           // most environments this rank can hold (load balancing)
  int* share;                        // environments of every rank, in rank order   (nrank)
  double* cost;                      // seconds per env of every rank, median       (nrank)
  double* hist;                      // the last rebalance_window of them (rebalance_window x nrank)
  long nhist;                        // iterations recorded in hist
  int slow_rank;                     // benchmarks (TRPO_BENCH_SLOW_RANK): the slow rank at first,
  double slow_factor;                // how much slower its work is,
  long slow_period;                  // and the iterations before the next rank's turn (0: never)
  double* times;                     // every rank's phase times, last iteration (nrank x NTIME)
  int moved;                         // environments that changed rank before this iteration
  // work sharing while sampling (cfg steal; see "sharing the sampling" below)
  int spare;                         // 1: one more env slot, for another rank's environment
  trpo_shm* shm;                     // node-shared blocks, NULL: no sharing
  char** blk;                        // every rank's block on this node, NULL elsewhere (nrank)
  int capg;                          // most environments any rank holds (the blocks' layout)
  size_t rec_off;                    // bytes before a block's environment records
  int chunk;                         // steps of a chunk (steal_steps, at most T)
  uint32_t epoch;                    // sampling phases so far (the blocks' tag; never 0)
  int share_all;                     // 1: every rank shares its node with another (all share)
  long taken, given;                 // steps this rank sampled for others / others sampled for it
  // sharing the work after sampling (cfg share_work; see "sharing the work" below)
  char* rowmem;                      // this rank's row block when it is private (else NULL)
  trpo_shm* rshm;                    // the node-shared row blocks, NULL: private
  char** rbase;                      // every rank's row block on this node, NULL elsewhere (nrank)
  int wshare;                        // 1: this rank has node peers to share the work with
  int work_all;                      // 1: every rank has such peers (balancing then weighs nodes)
  int* node;                         // every rank's node: its lowest rank (nrank; with work_all)
  double* nodew;                     // load balancing's scratch: a node's work and envs (2 x nrank)
  int* begin;                        // first global environment of every rank (nrank)
  uint32_t wtag;                     // work phases so far (the claim words' tag; never 0)
  int wnext, wown;                   // the next own env (private); 1: still claiming own envs
  int wtaken;                        // environments of other ranks worked on, this iteration
  double wt0;                        // benchmarks (comm slow): when the piece in hand began, or 0
  int T, Tsub;                       // segment length, Fisher subsample rows per env
  int nobs, nactdim, ndist;          // observation, stored action and dist-row sizes
  long N;                            // rows in the global batch (nenv_total * T)
  int nlocal;                        // rows held here (nenv * T; arrays have room for cap * T)

  // parameters (identical on every rank)
  double* theta;       // policy parameters                       (pol.nparam)
  double* theta_old;   // policy parameters before the update     (pol.nparam)
  double* vtheta;      // value parameters                        (vf.nparam)

  // per environment state (nenv)
  double* cur_obs;     // raw observation the next action is chosen from   (nenv x nobs)
  double* ep_ret;      // raw return of the episode in flight              (nenv)
  double* ep_len;      // length of the episode in flight                  (nenv)
  trpo_rng* rng_act;   // action-sampling stream of each env               (nenv)

  // first row of the Fisher window of every environment (nenv_total), drawn on every rank
  int* sub_start;

  // batch rows of this rank (nlocal), in its row block (with the activations of pw and vperm)
  double* obs;         // raw observations                     (nlocal x nobs)
  double* nobs_b;      // normalised observations              (nlocal x nobs)
  double* act;         // sampled (unclipped) actions          (nlocal x nactdim)
  double* rew;         // rewards                              (nlocal)
  int* flags;          // TRPO_ENV_* flags of each step        (nlocal)
  double* final_obs;   // raw final observation at truncations (nlocal x nobs)
  double* boot_obs;    // raw observation after each segment   (nenv x nobs)
  double* value;       // V(s_t)                               (nlocal)
  double* vend;        // bootstrap values                     (nlocal)
  double* adv;         // advantages (normalised)              (nlocal)
  double* ret;         // lambda-returns, value targets        (nlocal)
  double* logp_old;    // log pi_old(a|s)                      (nlocal)
  double* dist_old;    // distribution rows of pi_old          (nlocal x ndist)
  double* acth[TRPO_MAXLAYER + 1];   // policy activations of every row (nlocal x size[l]), kept
                                     // from the gradient for every Fisher product

  // networks' work
  trpo_mlpwork pw;     // maxrows T: an environment's policy scratch (its h from acth: env_view)
  trpo_mlpwork vw;     // maxrows max(T, minibatch rows)
  trpo_mlpwork one;    // maxrows 1: sampling-time policy forward
  trpo_mlpwork vone;   // maxrows 1: bootstrap value forwards

  // scratch
  double* g;           // policy gradient                      (pol.nparam)
  double* step;        // CG solution / full step              (pol.nparam)
  double* fv;          // Fisher-vector product                (pol.nparam)
  double* pbuf;        // one environment's partial            (max(pol.nparam+2, vf.nparam+1))
  double* cgwork;      // CG work                              (3 x pol.nparam)
  double* vgrad;       // value gradient + loss                (vf.nparam + 1)
  double* dmb;         // value output gradient of one slice   (T)
  double* vx;          // normalised observations of one slice (T x nobs)
  int* vperm;          // value-fit row order of each env      (nlocal, in the row block)
  double adv_mean, adv_inv;   // advantage normalisation, global (adv_norm 1: apply it)
  // vf_norm: the value network's output is y, V = rmu + rsd y; (rmu, rsd) from rnorm, the running
  // statistics of the lambda-returns (identity before the first batch and with vf_norm = 0)
  trpo_normalizer rnorm;
  double rmu, rsd;
  double rstat[3];     // the checkpoint's copy of rnorm: count, mean, M2
  int adv_norm;
  int nmb;             // value-fit minibatches per epoch
  // the value fit's steps, which ride on the policy update's phases (see 7. value fit)
  int vstep, vsteps;   // the next step (epoch * nmb + minibatch) and the iteration's count
  int vride;           // 1: the phase under way carries step vstep
  int vs0, vn;         // that step's rows of each environment: vn of its order from vs0 on
  uint64_t vkey;       // this epoch's draw of the shuffle stream
  double veploss, vloss;   // this epoch's loss so far, the last whole epoch's
  double tvf;          // seconds this rank spent on value steps this iteration
  trpo_fxsum fxp;      // policy-sized exact sum (Fisher products)
  trpo_fxsum fxg;      // policy gradient + entropy + surrogate at theta_old
  trpo_fxsum fxv;      // value-sized exact sum (+ loss)
  trpo_fxsum fxs;      // statistics after sampling (NSCALAR + 2 x nobs, see the slots below)
  trpo_fxsum fxl;      // line search: surrogate and KL sums
  double* sc;          // fxs read back                        (NSCALAR + 2 x nobs)

  // global streams and counters (identical on every rank)
  trpo_rng rng_shuffle, rng_subsample;
  int test_fault;      // tests: TRPO_TEST_* faults to inject
  long iteration, env_steps, episodes, skipped, consecutive_skips;
  double t_start, wall_before;   // wall-clock of this process, and of earlier processes (resume)

  // checkpoint items and their buffers (per-env arrays are global-sized on rank 0)
  trpo_ckptitem items[32];
  int nitems;
  long counters[6];      // iteration, env_steps, episodes, skipped, consecutive, nenv_total
  double scal[2];        // wall_s so far, normaliser count
  uint64_t grng[8];      // rng_shuffle, rng_subsample
  uint64_t adam_t;
  double* g_sim;         // (nenv_total x nsim)
  double* g_obs;         // (nenv_total x nobs)
  double* g_ep;          // (nenv_total x 2): return, length
  uint64_t* g_rng;       // (nenv_total x 8): reset stream, action stream
  int64_t* g_t;          // (nenv_total)
  double* l_pack;        // this rank's packed env state (nenv x envrec)
  double* g_pack;        // rank 0: all envs packed (nenv_total x envrec)
  int envrec;            // doubles per env record
};

// one rank's times of an iteration, gathered to every rank: phases, wait, comm, whole, busy, and
// the wait of each phase, preemptions, CPU and CPU time (the order of TRPO_RANK_COLUMNS)
enum { T_SAMPLE, T_GRAD, T_CG, T_LS, T_VF, T_WAIT, T_COMM, T_ITER, T_BUSY, W_SAMPLE, W_GRAD, W_CG,
       W_LS, W_VF, T_PREEMPT, T_CPU, T_CPUTIME, T_TAKEN, T_GIVEN, T_WORKED, NTIME };
_Static_assert(NTIME == TRPO_RANK_NTIME, "TRPO_RANK_COLUMNS and the times gathered disagree");

// slots of t->fxs, the one reduction after sampling: advantage statistics (normalize_advantages),
// episode statistics (sample), simulator faults, and the batch's observation sums about the
// current mean (observation_sums, merged into the normaliser at the end of the iteration)
#define S_ADV 0          // sum a, a^2, ret, ret^2, ret - v, (ret - v)^2, ret - rmu, (ret - rmu)^2
#define NADV 8
#define S_EP 8           // episodes, sum return, return^2, length
#define S_FAULTS 12      // simulator faults during sampling
#define S_BAD 13         // rows whose advantage statistics are not finite (or out of range)
#define S_OBSBAD 14      // rows whose observation sums are not finite (or out of range)
#define S_TAKEN 15       // steps sampled by another rank than their environment's owner (steal)
#define NSCALAR 16
#define S_OBS NSCALAR    // sum (o - mean), then sum (o - mean)^2: 2 x nobs

//---------------------------------- small helpers --------------------------------------------------

static int finite_vec(const double* x, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

// the network input of one raw observation: normalised and clipped with the running statistics,
// or the observation itself with obs_norm = 0 (no statistics, no clipping)
static void net_input(const trpo_train* t, double* x, const double* raw_obs) {
  if (t->cfg.obs_norm) trpo_normalizer_apply(&t->norm, x, raw_obs, 1);
  else memcpy(x, raw_obs, sizeof(double) * (size_t)t->nobs);
}

static double value1(trpo_train* t, const double* raw_obs) {
  // V of one raw observation (normalised first); one-row forward, the reference path
  double x[t->nobs];
  net_input(t, x, raw_obs);
  return t->rmu + t->rsd * trpo_mlp_forward(&t->vf, t->vtheta, &t->vone, x, 1)[0];
}

// (rmu, rsd) from the return statistics: the mean and sqrt(var + eps) of every lambda-return so
// far, or (0, 1) before the first batch and with vf_norm = 0
static void return_scale(trpo_train* t) {
  const trpo_normalizer* z = &t->rnorm;
  t->rmu = 0;
  t->rsd = 1;
  if (!t->cfg.vf_norm || !(z->count > 0)) return;
  t->rmu = z->mean[0];
  t->rsd = sqrt(fmax(z->m2[0] / z->count, 0.0) + z->eps);
}

//---------------------------------- make / free ----------------------------------------------------

static void make_items(trpo_train* t);
static void share_make(trpo_train* t);
static void rows_make(trpo_train* t);
static void* at(const trpo_train* t, int r, const void* p);
static void pack_env(trpo_train* t, int i, double* p);
static void unpack_env(trpo_train* t, int i, const double* p);

static void* A(size_t n, size_t size) { return trpo_alloc(n * size); }

// the sizes this build can index, checked before anything large is allocated (int offsets in the
// networks, int counts in the exact sums' reductions): 0 or TRPO_EXIT_BADINPUT naming the keys
#define MAX_ROWS 2147483647L       // nenv * nsteps
#define MAX_PARAMS (1L << 28)      // one network's parameters (4 words each in an exact sum)
static int sizes_fit(const trpo_config* cfg, const trpo_envinfo* in, char* err, size_t nerr) {
  long rows = (long)cfg->nenv * cfg->nsteps;
  if (rows > MAX_ROWS)
    return snprintf(err, nerr, "keys 'nenv' and 'nsteps': %d x %d = %ld rows per iteration, more "
                    "than %ld", cfg->nenv, cfg->nsteps, rows, MAX_ROWS), TRPO_EXIT_BADINPUT;
  if (!in) return 0;   // the rows alone, before the environments are made
  // the policy: its network, and a log-std per action when Gaussian (trpo_policy_init)
  long pol = trpo_mlp_count(in->nobs, cfg->hidden_sizes, cfg->nhidden, in->nact) +
             (in->discrete ? 0 : in->nact);
  long val = trpo_mlp_count(in->nobs, cfg->vf_hidden_sizes, cfg->nvf_hidden, 1);
  if (pol > MAX_PARAMS || val > MAX_PARAMS)
    return snprintf(err, nerr, "key '%s' = %s: a network of about %ld parameters, more than %ld",
                    pol > MAX_PARAMS ? "hidden" : "vf_hidden",
                    pol > MAX_PARAMS ? cfg->hidden : cfg->vf_hidden, pol > MAX_PARAMS ? pol : val,
                    MAX_PARAMS), TRPO_EXIT_BADINPUT;
  return 0;
}

int trpo_train_make(trpo_train** out, const trpo_config* cfg, trpo_comm* comm, char* err,
                    size_t nerr) {
  trpo_train* t = A(1, sizeof *t);
  t->cfg = *cfg;
  t->comm = comm;
  t->nenv_total = cfg->nenv;
  // every check of this rank's setup sets rc; one reduction below, before the first collective,
  // tells every rank whether any failed (a model file that only some nodes can read must not leave
  // the other ranks waiting in a collective the failed rank never reaches)
  int rc = 0;
  if (cfg->nenv < comm->nrank) {
    snprintf(err, nerr, "key 'nenv': %d environments cannot be shared by %d ranks (need nenv >= ranks)",
             cfg->nenv, comm->nrank);
    rc = TRPO_EXIT_BADINPUT;
  }
  // benchmarks: TRPO_BENCH_SLOW_RANK="RANK FACTOR [PERIOD]" makes that rank's work between
  // collectives take FACTOR times as long (a busy wait in src/comm.c before each collective; the
  // results are the same): a uniformly slower core for launch/bench_balance.sh. With PERIOD, the
  // slow core moves on to the next rank every PERIOD iterations (RANK, RANK+1, ... mod nrank), as
  // the slow cores of a virtual machine on busy hosts do
  const char* slow = getenv("TRPO_BENCH_SLOW_RANK");
  if (!rc && slow && *slow) {
    int r = -1, n = 0, got;
    double f = 0;
    long period = 0;
    got = sscanf(slow, "%d %lf %n", &r, &f, &n);
    if (got == 2 && slow[n]) {
      int m = 0;
      got = sscanf(slow + n, "%ld %n", &period, &m) == 1 && period >= 1 ? 2 : 0;
      n += m;
    }
    if (got != 2 || slow[n] || r < 0 || !(f >= 1 && f <= 1000)) {
      snprintf(err, nerr, "environment variable TRPO_BENCH_SLOW_RANK='%s': expected \"RANK FACTOR "
               "[PERIOD]\" with RANK >= 0, 1 <= FACTOR <= 1000 and PERIOD >= 1 iterations", slow);
      rc = TRPO_EXIT_BADINPUT;
    } else {
      t->slow_rank = r;
      t->slow_factor = f;
      t->slow_period = period;
      if (r == comm->rank) comm->slow = f;
    }
  }
  if (rc) t->nenv = 0;   // a failed check: the environments are not made, the ranks still meet
  else trpo_shard_range(cfg->nenv, comm->rank, comm->nrank, &t->env_begin, &t->nenv);
  // with load balancing a rank may hold up to twice the even share
  int even = (cfg->nenv + comm->nrank - 1) / comm->nrank;
  t->cap = cfg->rebalance && comm->nrank > 1 ? (2 * even < cfg->nenv ? 2 * even : cfg->nenv) : t->nenv;

  // environments of this rank (and with work sharing a spare slot for one taken from another rank)
  t->spare = cfg->steal && comm->nrank > 1;
  if (!rc) rc = sizes_fit(cfg, NULL, err, nerr);
  if (!rc)
    rc = trpo_envs_make_cap(&t->envs, cfg->env, cfg->model, (uint64_t)cfg->seed, t->env_begin,
                            t->nenv, t->cap + t->spare, err, nerr);
  if (!rc) rc = sizes_fit(cfg, trpo_envs_info(t->envs), err, nerr);
  int any = rc;
  trpo_comm_max_int(comm, &any, 1);
  if (any) {
    // the failed ranks' messages are in their err; a rank that failed no check leaves its empty
    if (!rc && nerr) err[0] = 0;
    trpo_envs_free(t->envs);
    trpo_alloc_free(t);
    return any;
  }
  t->info = *trpo_envs_info(t->envs);
  t->nobs = t->info.nobs;
  t->nactdim = t->info.discrete ? 1 : t->info.nact;
  t->T = cfg->nsteps;
  t->Tsub = (int)fmax(1.0, floor(cfg->fvp_fraction * cfg->nsteps + 0.5));
  if (t->Tsub > t->T) t->Tsub = t->T;
  t->N = (long)t->nenv_total * t->T;
  t->nlocal = t->nenv * t->T;

  // networks, identical on every rank (same seed, same stream)
  trpo_policy_init(&t->pol, t->nobs, t->info.nact, t->info.discrete, cfg->hidden_sizes,
                   cfg->nhidden);
  t->ndist = t->pol.ndist;
  trpo_mlp_init(&t->vf, t->nobs, cfg->vf_hidden_sizes, cfg->nvf_hidden, 1);
  t->theta = A(t->pol.nparam, sizeof(double));
  t->theta_old = A(t->pol.nparam, sizeof(double));
  t->vtheta = A(t->vf.nparam, sizeof(double));
  trpo_rng r;
  trpo_rng_seed(&r, (uint64_t)cfg->seed, TRPO_RNG_GLOBAL, TRPO_RNG_INIT);
  trpo_policy_randomize(&t->pol, t->theta, &r, cfg->init_logstd);
  trpo_mlp_randomize(&t->vf, t->vtheta, &r, 1.0);
  trpo_normalizer_make(&t->norm, t->nobs, cfg->obs_clip);
  trpo_normalizer_make(&t->rnorm, 1, 0);
  return_scale(t);
  trpo_adam_make(&t->adam, t->vf.nparam, cfg->vf_lr);
  trpo_rng_seed(&t->rng_shuffle, (uint64_t)cfg->seed, TRPO_RNG_GLOBAL, TRPO_RNG_SHUFFLE);
  trpo_rng_seed(&t->rng_subsample, (uint64_t)cfg->seed, TRPO_RNG_GLOBAL, TRPO_RNG_SUBSAMPLE);

  // per environment state, with room for cap environments (and the spare slot)
  int nobs = t->nobs, ne = t->cap + t->spare;
  t->share = A(comm->nrank, sizeof(int));
  t->cost = A(comm->nrank, sizeof(double));
  t->hist = A((size_t)cfg->rebalance_window * comm->nrank, sizeof(double));
  t->times = A((size_t)NTIME * comm->nrank, sizeof(double));
  for (int q = 0; q < comm->nrank; q++) {
    int b;
    trpo_shard_range(cfg->nenv, q, comm->nrank, &b, &t->share[q]);
  }
  t->cur_obs = A((size_t)ne * nobs, sizeof(double));
  t->ep_ret = A(ne, sizeof(double));
  t->ep_len = A(ne, sizeof(double));
  t->rng_act = A(ne, sizeof(trpo_rng));
  t->sub_start = A(t->nenv_total, sizeof(int));
  t->begin = A(comm->nrank, sizeof(int));
  for (int q = 0, b = 0; q < comm->nrank; b += t->share[q++]) t->begin[q] = b;

  // work: a value minibatch takes T/nmb rows of every environment (see fit_value)
  long nmb = (t->N + cfg->vf_minibatch / 2) / cfg->vf_minibatch;
  t->nmb = (int)(nmb < 1 ? 1 : nmb > t->T ? t->T : nmb);
  trpo_mlp_workmake(&t->pol.net, &t->pw, t->T);
  trpo_mlp_workmake(&t->vf, &t->vw, t->T);
  trpo_mlp_workmake(&t->pol.net, &t->one, 1);
  int pmax = t->pol.nparam + 2 > t->vf.nparam + 1 ? t->pol.nparam + 2 : t->vf.nparam + 1;
  t->g = A(t->pol.nparam, sizeof(double));
  t->step = A(t->pol.nparam, sizeof(double));
  t->fv = A(t->pol.nparam, sizeof(double));
  t->pbuf = A(pmax, sizeof(double));
  t->cgwork = A(3 * (size_t)t->pol.nparam, sizeof(double));
  t->vgrad = A(t->vf.nparam + 1, sizeof(double));
  t->dmb = A(t->T, sizeof(double));
  t->vx = A((size_t)t->T * nobs, sizeof(double));
  t->sc = A(NSCALAR + 2 * (size_t)nobs, sizeof(double));

  trpo_mlp_workmake(&t->vf, &t->vone, 1);
  make_items(t);
  rows_make(t);
  if (t->spare) share_make(t);
  // the exact sums' accumulators, in node shared memory where node sums read them; after the row
  // blocks, so that a node without the shared memory for those is told about them first (their
  // line names share_work and steal; this one, comm_node_sum)
  trpo_comm_fxsum_make(comm, &t->fxp, t->pol.nparam);
  trpo_comm_fxsum_make(comm, &t->fxg, t->pol.nparam + 2);
  trpo_comm_fxsum_make(comm, &t->fxv, t->vf.nparam + 1);
  trpo_comm_fxsum_make(comm, &t->fxs, NSCALAR + 2 * nobs);
  trpo_comm_fxsum_make(comm, &t->fxl, 2);

  // first observations and streams of every local environment (global env index)
  for (int i = 0; i < t->nenv; i++) {
    trpo_rng_seed(&t->rng_act[i], (uint64_t)cfg->seed, (uint64_t)(t->env_begin + i),
                  TRPO_RNG_ACTION);
    trpo_envs_reset(t->envs, i, t->cur_obs + (size_t)i * nobs);
  }
  t->t_start = trpo_time_now();
  *out = t;
  return 0;
}

void trpo_train_free(trpo_train* t) {
  if (!t) return;
  trpo_comm_shm_free(t->shm);
  trpo_comm_shm_free(t->rshm);
  trpo_alloc_free(t->rowmem);
  trpo_alloc_free(t->rbase);
  trpo_alloc_free(t->node);
  trpo_alloc_free(t->nodew);
  trpo_alloc_free(t->blk);
  trpo_envs_free(t->envs);
  trpo_normalizer_free(&t->norm);
  trpo_normalizer_free(&t->rnorm);
  trpo_adam_free(&t->adam);
  trpo_mlp_workfree(&t->pw);
  trpo_mlp_workfree(&t->vw);
  trpo_mlp_workfree(&t->one);
  trpo_mlp_workfree(&t->vone);
  trpo_comm_fxsum_free(t->comm, &t->fxp);
  trpo_comm_fxsum_free(t->comm, &t->fxg);
  trpo_comm_fxsum_free(t->comm, &t->fxv);
  trpo_comm_fxsum_free(t->comm, &t->fxs);
  trpo_comm_fxsum_free(t->comm, &t->fxl);
  void* bufs[] = {t->theta, t->theta_old, t->vtheta, t->cur_obs, t->ep_ret, t->ep_len, t->rng_act,
                  t->sub_start, t->begin, t->g, t->step, t->fv, t->pbuf, t->cgwork, t->vgrad,
                  t->dmb, t->vx, t->sc, t->share, t->cost, t->hist, t->times, t->g_sim, t->g_obs,
                  t->g_ep, t->g_rng, t->g_t, t->l_pack, t->g_pack};
  for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) trpo_alloc_free(bufs[k]);
  trpo_alloc_free(t);
}

//---------------------------------- 1. sampling ----------------------------------------------------

// T steps of every local environment, one environment after another (sample; with work sharing,
// some of them sampled by other ranks of the node: share_sample below). Episode statistics go into
// t->fxs slots S_EP..: [episodes, sum return, sum return^2, sum length].

// steps [s0, s1) of one environment's segment: its state in env slot k, its rows those of rank
// r's environment i from row i*T + s0 (r's row block, which the node maps; r = this rank: its own)
static void sample_steps(trpo_train* t, int k, int r, int i, int s0, int s1) {
  const int nobs = t->nobs, T = t->T, nad = t->nactdim;
  const double lo = t->info.act_lo, hi = t->info.act_hi;
  double dist[t->ndist], a_env[nad > 0 ? nad : 1], next[nobs];
  double t0 = trpo_time_now();
  double* obs = at(t, r, t->obs);
  double* nobs_b = at(t, r, t->nobs_b);
  double* act = at(t, r, t->act);
  double* rew = at(t, r, t->rew);
  int* flags = at(t, r, t->flags);
  double* final_obs = at(t, r, t->final_obs);
  double* cur = t->cur_obs + (size_t)k * nobs;
  for (int s = s0; s < s1; s++) {
    int row = i * T + s;
    double* o = obs + (size_t)row * nobs;
    double* x = nobs_b + (size_t)row * nobs;
    double* a = act + (size_t)row * nad;
    // act: pi(.|normalise(s)) from the one-row reference forward, sampled from the env's stream
    memcpy(o, cur, sizeof(double) * nobs);
    net_input(t, x, o);
    trpo_policy_dist(&t->pol, t->theta, &t->one, dist, x, 1);
    trpo_policy_sample(&t->pol, dist, &t->rng_act[k], a);
    // the env gets the action clipped to its Box; the batch keeps the sample itself
    for (int q = 0; q < nad; q++)
      a_env[q] = (!t->info.discrete && t->cfg.clip_actions) ? fmin(hi, fmax(lo, a[q])) : a[q];
    double rw = 0;
    int f = trpo_envs_step(t->envs, k, next, &rw, a_env);
    rew[row] = rw;
    flags[row] = f;
    t->ep_ret[k] += rw;
    t->ep_len[k] += 1;
    // an episode ended: record it, keep the true final observation, reset
    if (f & (TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED)) {
      double ep[4] = {1, t->ep_ret[k], t->ep_ret[k] * t->ep_ret[k], t->ep_len[k]};
      trpo_fxsum_add_range(&t->fxs, S_EP, 4, ep);
      t->ep_ret[k] = t->ep_len[k] = 0;
      memcpy(final_obs + (size_t)row * nobs, next, sizeof(double) * nobs);
      trpo_envs_reset(t->envs, k, cur);
    } else {
      memcpy(cur, next, sizeof(double) * nobs);
    }
  }
  if (s1 == T) memcpy((double*)at(t, r, t->boot_obs) + (size_t)i * nobs, cur, sizeof(double) * nobs);
  if (t->comm->slow > 1) {
    // benchmarks: a slower core samples slower, so that the others can take its environments;
    // the collective after sampling then stretches only the work since (src/comm.c enter)
    trpo_time_spin((trpo_time_now() - t0) * (t->comm->slow - 1));
    t->comm->t_free = trpo_time_now();
  }
}

static void share_sample(trpo_train* t);

static void sample(trpo_train* t) {
  // sharing where this rank has node peers (share_make leaves its own block NULL otherwise)
  if (t->blk && t->blk[t->comm->rank]) {
    share_sample(t);
    return;
  }
  for (int i = 0; i < t->nenv; i++) sample_steps(t, i, t->comm->rank, i, 0, t->T);
}

//---------------------------------- sharing the work -----------------------------------------------
// Everything after sampling is a sum over environments of per-environment pieces (one dgemm
// shape per environment, converted exactly into a trpo_fxsum), so any rank may compute any
// environment's piece and add it to its own partial sum: the reduced total has the same bits. The
// ranks of a node therefore share each phase's environments (the advantages, the gradient, every
// Fisher product, every line-search candidate, every value minibatch): a rank works on its own
// environments first, then claims the unstarted ones of the rank with the most left, until the
// node has none; the phase's reduction follows. A core that turns slow then does less of the
// phase instead of holding up the reduction. For that, a rank's batch rows and policy activations
// live in its row block, which the node's ranks map (MPI shared memory, src/comm.c) at the same
// layout, so an array of rank r is this rank's array moved by rbase[r] - rbase[me] (at below).
// The block opens with one claim word per rank (a line of its own): wtag << 32 | next, wtag the
// phases so far (the same on every rank, as every rank runs the same phases), next the next
// environment of the owner not started. The owner opens its word when its rows are ready for the
// phase (after sampling: once its environments' last chunks are in); a rank that finds a peer not
// opened yet polls, since the peer cannot be in the last phase's reduction without it. Without
// sharing (share_work = 0, one rank, or alone on its node) a rank works on its own in order; the
// block is then private unless the sampling is shared (steal), which writes into owners' blocks.

#define WORK_HEAD 128       // bytes before the arrays: the claim word, then the owner's test faults
#define SHARE_SPIN 2e-4     // seconds a rank waiting for a peer (here and while sampling) polls
#define SHARE_NAP_NS 20000  // busily, then between naps of this many ns (it may share its core)

// the row block's arrays, in order: where each pointer goes and how many bytes it takes. The same
// layout on every rank: room for the most environments any rank may hold (capg)
static int rows_layout(trpo_train* t, void*** ptr, size_t* bytes) {
  const size_t ne = (size_t)t->capg, nl = ne * t->T, nobs = t->nobs;
  int n = 0;
#define ROWS(p, size) (ptr[n] = (void**)&(p), bytes[n++] = (size))
  ROWS(t->obs, nl * nobs * sizeof(double));
  ROWS(t->nobs_b, nl * nobs * sizeof(double));
  ROWS(t->act, nl * t->nactdim * sizeof(double));
  ROWS(t->rew, nl * sizeof(double));
  ROWS(t->flags, nl * sizeof(int));
  ROWS(t->final_obs, nl * nobs * sizeof(double));
  ROWS(t->boot_obs, ne * nobs * sizeof(double));
  ROWS(t->value, nl * sizeof(double));
  ROWS(t->vend, nl * sizeof(double));
  ROWS(t->adv, nl * sizeof(double));
  ROWS(t->ret, nl * sizeof(double));
  ROWS(t->logp_old, nl * sizeof(double));
  ROWS(t->dist_old, nl * t->ndist * sizeof(double));
  ROWS(t->vperm, nl * sizeof(int));
  for (int l = 0; l <= t->pol.net.nlayer; l++)
    ROWS(t->acth[l], nl * t->pol.net.size[l] * sizeof(double));
#undef ROWS
  return n;
}

static void rows_make(trpo_train* t) {
  const int R = t->comm->nrank, me = t->comm->rank;
  void** ptr[16 + TRPO_MAXLAYER];
  size_t bytes[16 + TRPO_MAXLAYER], total = WORK_HEAD;
  // without load balancing a rank's cap is its own share, and shares may differ by one
  t->capg = t->cfg.rebalance && R > 1 ? t->cap : (t->nenv_total + R - 1) / R;
  int n = rows_layout(t, ptr, bytes);
  for (int k = 0; k < n; k++) total += (bytes[k] + 63) / 64 * 64;
  t->rbase = A(R, sizeof(char*));
  char* mine;
  if ((t->cfg.share_work || t->cfg.steal) && R > 1) {
    t->rshm = trpo_comm_shm_make(t->comm, total, (void**)t->rbase,
                                 "sharing the sampling and the work after it within a node",
                                 "share_work = 0 and steal = 0 turn the sharing off");
    mine = t->rbase[me];
  } else {
    mine = t->rowmem = A(total, 1);
    t->rbase[me] = mine;
  }
  size_t off = WORK_HEAD;
  for (int k = 0; k < n; k++) {
    *ptr[k] = mine + off;
    off += (bytes[k] + 63) / 64 * 64;
  }
  int peers = 0;
  for (int r = 0; r < R; r++) peers += r != me && t->rbase[r];
  t->wshare = t->cfg.share_work && peers > 0;
  if (t->rshm && t->cfg.share_work) {
    int alone[1] = {!peers};
    trpo_comm_max_int(t->comm, alone, 1);
    t->work_all = !alone[0];
    // every rank's node, named by its lowest rank
    double first = me, all[R];
    for (int r = R - 1; r >= 0; r--)
      if (t->rbase[r]) first = r;
    trpo_comm_allgather_double(t->comm, &first, 1, all);
    t->node = A(R, sizeof(int));
    t->nodew = A(2 * (size_t)R, sizeof(double));
    for (int r = 0; r < R; r++) t->node[r] = (int)all[r];
  }
}

// rank r's copy of this rank's row-block array p
static void* at(const trpo_train* t, int r, const void* p) {
  const int me = t->comm->rank;
  return r == me ? (void*)p : t->rbase[r] + ((const char*)p - t->rbase[me]);
}

// one environment's rows, wherever they live
typedef struct {
  int r, i, g;         // owner rank, slot there, global environment index
  double *obs, *nobs_b, *act, *rew, *final_obs, *boot_obs, *value, *vend, *adv, *ret, *logp, *dist;
  int *flags, *perm;
  trpo_mlpwork w;      // the environment's policy activations, with this rank's scratch
} envview;

static void env_view(const trpo_train* t, int r, int i, envview* e) {
  const size_t r0 = (size_t)i * t->T, nobs = t->nobs;
  e->r = r;
  e->i = i;
  e->g = t->begin[r] + i;
  e->obs = (double*)at(t, r, t->obs) + r0 * nobs;
  e->nobs_b = (double*)at(t, r, t->nobs_b) + r0 * nobs;
  e->act = (double*)at(t, r, t->act) + r0 * t->nactdim;
  e->rew = (double*)at(t, r, t->rew) + r0;
  e->final_obs = (double*)at(t, r, t->final_obs) + r0 * nobs;
  e->boot_obs = (double*)at(t, r, t->boot_obs) + (size_t)i * nobs;
  e->value = (double*)at(t, r, t->value) + r0;
  e->vend = (double*)at(t, r, t->vend) + r0;
  e->adv = (double*)at(t, r, t->adv) + r0;
  e->ret = (double*)at(t, r, t->ret) + r0;
  e->logp = (double*)at(t, r, t->logp_old) + r0;
  e->dist = (double*)at(t, r, t->dist_old) + r0 * t->ndist;
  e->flags = (int*)at(t, r, t->flags) + r0;
  e->perm = (int*)at(t, r, t->vperm) + r0;
  e->w = t->pw;
  for (int l = 0; l <= t->pol.net.nlayer; l++)
    e->w.h[l] = (double*)at(t, r, t->acth[l]) + r0 * t->pol.net.size[l];
}

static uint64_t* work_word(const trpo_train* t, int r) { return (uint64_t*)t->rbase[r]; }
static int* work_faults(const trpo_train* t, int r) { return (int*)(t->rbase[r] + 64); }

// a phase begins: this rank's environments (their rows ready) open to the node. The phases meet
// at a reduction (an MPI collective) between them; the fences here and at a phase's end order
// the rows written in one phase before their reads in the next on any memory model, whatever
// the collective's implementation orders itself
static void work_open(trpo_train* t) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (++t->wtag == 0) t->wtag = 1;
  t->wnext = 0;
  t->wown = 1;
  if (t->wshare)
    __atomic_store_n(work_word(t, t->comm->rank), (uint64_t)t->wtag << 32, __ATOMIC_RELEASE);
}

// the next unstarted environment of rank r in this phase, claimed: its slot; -1 when r has none
// left, -2 when r has not opened the phase yet
static int work_claim(trpo_train* t, int r) {
  uint64_t* c = work_word(t, r);
  uint64_t v = __atomic_load_n(c, __ATOMIC_ACQUIRE);
  for (;;) {
    if ((uint32_t)(v >> 32) != t->wtag) return -2;
    if ((int)(uint32_t)v >= t->share[r]) return -1;
    if (__atomic_compare_exchange_n(c, &v, v + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      return (int)(uint32_t)v;
  }
}

// the environment this rank works on next in this phase (1), or 0 when the node has none left
static int work_next1(trpo_train* t, envview* e);

static int work_next(trpo_train* t, envview* e) {
  if (!(t->comm->slow > 1)) return work_next1(t, e);
  // benchmarks: a slower core works slower on each piece (as sample_steps), so that the others can
  // take its environments; the collective after the phase then stretches only the work since
  if (t->wt0 > 0) {
    trpo_time_spin((trpo_time_now() - t->wt0) * (t->comm->slow - 1));
    t->comm->t_free = trpo_time_now();
  }
  int got = work_next1(t, e);
  t->wt0 = got ? trpo_time_now() : 0;
  return got;
}

static int work_next1(trpo_train* t, envview* e) {
  const int R = t->comm->nrank, me = t->comm->rank;
  if (!t->wshare) {
    if (t->wnext >= t->nenv) return 0;
    env_view(t, me, t->wnext++, e);
    return 1;
  }
  int i;
  if (t->wown) {
    if ((i = work_claim(t, me)) >= 0) {
      env_view(t, me, i, e);
      return 1;
    }
    t->wown = 0;
  }
  double t0 = trpo_time_now();
  for (;;) {
    int best = -1, most = 0, pending = 0;
    for (int r = 0; r < R; r++) {
      if (r == me || !t->rbase[r]) continue;
      uint64_t v = __atomic_load_n(work_word(t, r), __ATOMIC_ACQUIRE);
      if ((uint32_t)(v >> 32) != t->wtag) {
        pending = 1;
        continue;
      }
      int left = t->share[r] - (int)(uint32_t)v;
      if (left > most) most = left, best = r;
    }
    if (best < 0) {
      if (!pending) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return 0;
      }
      if (trpo_time_now() - t0 >= SHARE_SPIN) trpo_time_nap(SHARE_NAP_NS);
      continue;
    }
    if ((i = work_claim(t, best)) >= 0) {
      env_view(t, best, i, e);
      t->wtaken++;
      return 1;
    }
  }
}

static int vf_ride(trpo_train* t);
static void vf_piece(trpo_train* t, const envview* e);
static void phase_sum(trpo_train* t, trpo_fxsum* s, double* out);

//---------------------------------- 2. advantages --------------------------------------------------

// one environment's values, bootstrap values, GAE and lambda-returns, and its rows' sums into
// t->fxs: the advantage statistics [sum a, a^2, ret, ret^2, ret - v, (ret - v)^2] (slots S_ADV..;
// a row that is not finite counted in S_BAD rather than added, which would make every slot NaN)
// and, with obs_norm, the observation sums (observation_sums)
static void observation_sums(trpo_train* t, const double* obs, int n);

static void prepare_env(trpo_train* t, envview* e) {
  const int T = t->T, nobs = t->nobs;
  if (t->cfg.obs_norm) observation_sums(t, e->obs, T);
  const double* v = trpo_mlp_forward(&t->vf, t->vtheta, &t->vw, e->nobs_b, T);
  for (int s = 0; s < T; s++) e->value[s] = t->rmu + t->rsd * v[s];
  // V(final obs) at truncations, V(next obs) after the segment's last step
  for (int s = 0; s < T; s++) {
    int f = e->flags[s];
    e->vend[s] = 0;
    if ((f & TRPO_ENV_TRUNCATED) && !(f & TRPO_ENV_TERMINATED))
      e->vend[s] = value1(t, e->final_obs + (size_t)s * nobs);
    else if (s == T - 1 && !(f & TRPO_ENV_TERMINATED))
      e->vend[s] = value1(t, e->boot_obs);
  }
  trpo_gae_segment(e->adv, e->ret, e->rew, e->value, e->vend, e->flags, T, t->cfg.gamma,
                   t->cfg.lam);
  // tests: one advantage of the owner's last environment made NaN
  if ((*work_faults(t, e->r) & TRPO_TEST_NANADV) && e->i == t->share[e->r] - 1)
    e->adv[T - 1] = NAN;
  for (int s = 0; s < T; s++) {
    double a = e->adv[s], d = e->ret[s] - e->value[s], c = e->ret[s] - t->rmu;
    double x[NADV] = {a, a * a, e->ret[s], e->ret[s] * e->ret[s], d, d * d, c, c * c};
    int fits = 1;
    for (int k = 0; k < NADV; k++) fits &= trpo_fxsum_fits(x[k]);
    if (!fits) {
      trpo_fxsum_add1(&t->fxs, S_BAD, 1.0);
      continue;
    }
    trpo_fxsum_add_range(&t->fxs, S_ADV, NADV, x);
  }
}

// advantages of every environment and their global statistics; 0 if they are not finite. The
// one reduction also carries what sampling left in t->fxs (slots S_EP.. to S_OBS..), read into s.
// The normalisation itself (t->adv_norm) is applied environment by environment in the gradient.
static int advantages(trpo_train* t, double* ev_out, double* s) {
  envview e;
  int v = vf_ride(t);
  work_open(t);
  while (work_next(t, &e)) {
    prepare_env(t, &e);
    if (v) vf_piece(t, &e);
  }
  phase_sum(t, &t->fxs, s);
  t->adv_norm = 0;
  if (!(s[S_BAD] == 0)) {   // NaN too: a bad episode statistic poisons every slot
    *ev_out = NAN;
    return 0;
  }
  double n = (double)t->N;
  double mean = s[0] / n, var = fmax(0.0, s[1] / n - mean * mean);
  // explained variance of the old value function: 1 - Var(ret - V) / Var(ret)
  double vret = s[3] / n - (s[2] / n) * (s[2] / n), vres = s[5] / n - (s[4] / n) * (s[4] / n);
  *ev_out = vret > 0 ? 1.0 - vres / vret : 0.0;
  if (!isfinite(mean) || !isfinite(var)) return 0;
  if (t->cfg.norm_adv) {
    t->adv_norm = 1;
    t->adv_mean = mean;
    t->adv_inv = 1.0 / (sqrt(var) + 1e-8);
  }
  return 1;
}

//---------------------------------- 3-5. gradient, Fisher products, CG -----------------------------

// g = grad L(theta_old), and the old distribution (kept, with its activations, for the FVPs);
// the same reduction gives the mean entropy and the surrogate L(theta_old) the line search
// starts from
static void policy_gradient(trpo_train* t, double* entropy, double* surr0) {
  const int T = t->T, P = t->pol.nparam;
  trpo_fxsum_zero(&t->fxg);
  envview e;
  int v = vf_ride(t);
  work_open(t);
  while (work_next(t, &e)) {
    if (t->adv_norm)
      for (int s = 0; s < T; s++) e.adv[s] = (e.adv[s] - t->adv_mean) * t->adv_inv;
    // old distribution and log-likelihoods
    trpo_policy_dist(&t->pol, t->theta, &e.w, e.dist, e.nobs_b, T);
    double ent = 0;
    for (int s = 0; s < T; s++) {
      const double* d = e.dist + (size_t)s * t->ndist;
      e.logp[s] = trpo_policy_logp(&t->pol, d, e.act + (size_t)s * t->nactdim);
      ent += trpo_policy_entropy(&t->pol, d);
    }
    // this environment's share of grad mean(ratio * A), its entropy and its surrogate sum;
    // the forward leaves theta_old activations
    memset(t->pbuf, 0, sizeof(double) * P);
    t->pbuf[P + 1] = trpo_policy_surrogate(&t->pol, t->theta, &e.w, t->pbuf, 1.0 / (double)t->N,
                                           NULL, e.nobs_b, e.act, e.adv, e.logp, e.dist, T);
    t->pbuf[P] = ent;
    trpo_fxsum_add(&t->fxg, t->pbuf);
    if (v) vf_piece(t, &e);
  }
  phase_sum(t, &t->fxg, t->pbuf);
  memcpy(t->g, t->pbuf, sizeof(double) * P);
  *entropy = t->pbuf[P] / (double)t->N;
  *surr0 = t->pbuf[P + 1] / (double)t->N;
}

// out = (F + damping I) v, F averaged over the Fisher rows of all environments
static void fisher_product(void* ctx, double* out, const double* v) {
  trpo_train* t = ctx;
  const double scale = 1.0 / ((double)t->nenv_total * t->Tsub);
  trpo_fxsum_zero(&t->fxp);
  envview e;
  int vr = vf_ride(t);
  work_open(t);
  while (work_next(t, &e)) {
    // the environment's Fisher window: its rows from sub_start on
    int s0 = t->sub_start[e.g];
    trpo_mlpwork w = e.w;
    for (int l = 0; l <= t->pol.net.nlayer; l++) w.h[l] += (size_t)s0 * t->pol.net.size[l];
    memset(t->pbuf, 0, sizeof(double) * t->pol.nparam);
    trpo_policy_fvp(&t->pol, t->theta_old, &w, t->pbuf, scale, e.dist + (size_t)s0 * t->ndist, v,
                    t->Tsub);
    trpo_fxsum_add(&t->fxp, t->pbuf);
    if (vr) vf_piece(t, &e);
  }
  phase_sum(t, &t->fxp, out);
  for (int k = 0; k < t->pol.nparam; k++) out[k] += t->cfg.damping * v[k];
}

// surrogate improvement and mean KL at the current theta: sums over all environments
static void evaluate(trpo_train* t, double* surr, double* kl) {
  trpo_fxsum_zero(&t->fxl);
  envview e;
  int v = vf_ride(t);
  work_open(t);
  while (work_next(t, &e)) {
    double k = 0;
    double L = trpo_policy_surrogate(&t->pol, t->theta, &e.w, NULL, 1.0, &k, e.nobs_b, e.act,
                                     e.adv, e.logp, e.dist, t->T);
    trpo_fxsum_add1(&t->fxl, 0, L);
    trpo_fxsum_add1(&t->fxl, 1, k);
    if (v) vf_piece(t, &e);
  }
  double s[2];
  phase_sum(t, &t->fxl, s);
  *surr = s[0] / (double)t->N;
  *kl = s[1] / (double)t->N;
}

//---------------------------------- 7. value fit ---------------------------------------------------
// Minibatch Adam on mean (V - ret)^2, stratified by environment. An epoch has nmb =
// round(N / vf_minibatch) minibatches (at most T); each environment shuffles its own T rows and
// minibatch m takes slice m of that order, rows [m*T/nmb, (m+1)*T/nmb), from every environment.
// So every Adam step sees the same number of rows of each environment, and a rank's work per step
// is proportional to the environments it holds: no rank waits for another's random share. The
// row orders come from a stream keyed by (one draw of the global shuffle stream per epoch, global
// environment index), so whichever rank draws an environment's order (the one that works on it
// in the epoch's first minibatch) draws the same, and the minibatches do not depend on the rank
// count. Each environment's slice gradient is one exact partial (one forward, one backward, one
// exact conversion), the minibatch gradient their exact sum: a fixed number of reductions per
// iteration (vf_epochs * nmb) whatever the rank count.
//
// The steps ride on the policy update's phases. The value fit needs nothing from the policy
// update, nor it from the value fit (the advantages are taken against the value network as it
// was when the iteration began), so each phase of steps 2-6 that works through the environments
// and ends in an exact sum (the advantages, the gradient, every Fisher product, every line-search
// candidate) also carries the next value step: its pieces environment by environment beside the
// phase's own, its gradient summed in the same collective, its Adam step taken after it. The
// steps left run on their own after the line search (fit_value). The steps, their minibatches and
// their order are those of a fit after the update, and so are the bits; the ranks meet once less
// per phase that carries a step (cg_iters + 3 and the line-search candidates, at most).

static void vf_begin(trpo_train* t) {
  t->vstep = 0;
  t->vsteps = t->cfg.vf_epochs * t->nmb;
  t->vride = 0;
  t->veploss = t->vloss = 0;
  t->tvf = 0;
}

// 1 if the phase about to open carries the next value step, its sum zeroed (and at an epoch's
// start, the epoch's key drawn); 0 when every step has been taken
static int vf_next(trpo_train* t) {
  t->vride = t->vstep < t->vsteps;
  if (!t->vride) return 0;
  double t0 = trpo_time_now();
  const int T = t->T, M = t->nmb, m = t->vstep % M;
  if (m == 0) {
    t->vkey = trpo_rng_next(&t->rng_shuffle);
    t->veploss = 0;
  }
  t->vs0 = (int)((long)m * T / M);
  t->vn = (int)((long)(m + 1) * T / M) - t->vs0;
  trpo_fxsum_zero(&t->fxv);
  t->tvf += trpo_time_now() - t0;
  return 1;
}

// vf_next for a phase of the policy update: 0 with vf_ride = 0, where the value fit runs after it
static int vf_ride(trpo_train* t) {
  if (t->cfg.vf_ride) return vf_next(t);
  t->vride = 0;
  return 0;
}

// one environment's piece of the value step under way: its slice's gradient and loss into fxv
static void vf_piece(trpo_train* t, const envview* e) {
  const int T = t->T, nobs = t->nobs, P = t->vf.nparam, n = t->vn;
  double t0 = trpo_time_now();
  double bscale = 1.0 / ((double)t->nenv_total * n);   // over the minibatch's rows
  const double rmu = t->rmu, rinv = 1.0 / t->rsd;     // targets in the network's scale
  if (t->vs0 == 0) {
    // an epoch's first minibatch (the only one from row 0, as nmb <= T): the environment's row
    // order for this epoch
    trpo_rng r;
    trpo_rng_seed(&r, t->vkey, (uint64_t)e->g, TRPO_RNG_VFROWS);
    for (int k = 0; k < T; k++) e->perm[k] = k;
    for (int k = T - 1; k > 0; k--) {
      int j = (int)trpo_rng_below(&r, (uint64_t)(k + 1));
      int tmp = e->perm[k];
      e->perm[k] = e->perm[j];
      e->perm[j] = tmp;
    }
  }
  // this environment's slice: gather, forward, squared error, backward
  const int* p = e->perm + t->vs0;
  for (int q = 0; q < n; q++)
    memcpy(t->vx + (size_t)q * nobs, e->nobs_b + (size_t)p[q] * nobs, sizeof(double) * nobs);
  const double* v = trpo_mlp_forward(&t->vf, t->vtheta, &t->vw, t->vx, n);
  double l = 0;
  for (int q = 0; q < n; q++) {
    double d = v[q] - (e->ret[p[q]] - rmu) * rinv;
    l += d * d;
    t->dmb[q] = 2.0 * d * bscale;
  }
  memset(t->pbuf, 0, sizeof(double) * (P + 1));
  trpo_mlp_backward(&t->vf, t->vtheta, &t->vw, t->pbuf, t->dmb, n);
  t->pbuf[P] = l * bscale;
  trpo_fxsum_add(&t->fxv, t->pbuf);
  t->tvf += trpo_time_now() - t0;
}

// the phase's exact sum s read into out, in one collective with the value step's when the phase
// carries one; then that step's Adam update. s NULL: the value step's alone
static void phase_sum(trpo_train* t, trpo_fxsum* s, double* out) {
  if (!t->vride) {
    trpo_comm_sum_fx_get(t->comm, s, out);
    return;
  }
  trpo_fxsum* ss[2] = {&t->fxv, s};
  double* oo[2] = {t->vgrad, out};
  trpo_comm_sum_fx_getn(t->comm, s ? 2 : 1, ss, oo);
  double t0 = trpo_time_now();
  const int P = t->vf.nparam;
  long rows = (long)t->nenv_total * t->vn;   // in this minibatch, over all environments
  t->veploss += t->vgrad[P] * (double)rows / (double)t->N;
  if (finite_vec(t->vgrad, P)) trpo_adam_step(&t->adam, t->vtheta, t->vgrad);   // else skipped
  if (++t->vstep % t->nmb == 0) t->vloss = t->veploss;
  t->vride = 0;
  t->tvf += trpo_time_now() - t0;
}

// the value steps that no phase of the update carried, each a phase of its own; the last epoch's
// loss
static double fit_value(trpo_train* t) {
  while (vf_next(t)) {
    envview e;
    work_open(t);
    while (work_next(t, &e)) vf_piece(t, &e);
    phase_sum(t, NULL, NULL);
  }
  return t->vloss;
}

//---------------------------------- 8. observation statistics --------------------------------------

// n raw observations as sums about the current mean into t->fxs (slots S_OBS..): shifted sums
// keep the variance well conditioned. They travel with the advantage statistics; the mean does
// not change before update_normalizer uses them.
static void observation_sums(trpo_train* t, const double* obs, int n) {
  const int nobs = t->nobs;
  double x[2 * nobs];
  for (int r = 0; r < n; r++) {
    const double* o = obs + (size_t)r * nobs;
    int fits = 1;
    for (int k = 0; k < nobs; k++) {
      double d = o[k] - t->norm.mean[k];
      x[k] = d;
      x[nobs + k] = d * d;
      fits &= trpo_fxsum_fits(d) & trpo_fxsum_fits(d * d);
    }
    if (fits) trpo_fxsum_add_range(&t->fxs, S_OBS, 2 * nobs, x);
    else trpo_fxsum_add1(&t->fxs, S_OBSBAD, 1.0);
  }
}

// a batch's mean and M2 from its n values' sums about c: s1 = sum (x - c), s2 = sum (x - c)^2
static void shifted_moments(double n, double c, double s1, double s2, double* mean, double* m2) {
  *mean = c + s1 / n;
  *m2 = fmax(0.0, s2 - s1 * s1 / n);
}

// fold the reduced sums (t->sc) into the running normaliser; a bad row skips the merge
static void update_normalizer(trpo_train* t) {
  const int nobs = t->nobs;
  if (!(t->sc[S_OBSBAD] == 0)) return;
  double n = (double)t->N;
  double mean[nobs], m2[nobs];
  for (int k = 0; k < nobs; k++)
    shifted_moments(n, t->norm.mean[k], t->sc[S_OBS + k], t->sc[S_OBS + nobs + k], &mean[k], &m2[k]);
  if (finite_vec(mean, nobs) && finite_vec(m2, nobs)) trpo_normalizer_merge(&t->norm, n, mean, m2);
}

// vf_norm: fold this batch's lambda-returns (their sums about rmu, reduced after sampling) into the
// return statistics, then rescale the value network's output layer so that V(s) stays what it was
// (PopArt, van Hasselt et al. 2016): with f = rsd_old / rsd_new, W <- f W and
// b <- (rsd_old b + rmu_old - rmu_new) / rsd_new. The fit's loss in the network's scale becomes f^2
// times what it was, so Adam's moments are put in the new scale too: the output layer's gradient
// scales by f (m by f, v by f^2), the hidden layers' by f^2 (m by f^2, v by f^4). Every rank
// computes this from the same reduced sums: the same bits on every rank count.
static void update_returns(trpo_train* t) {
  if (!t->cfg.vf_norm || !(t->sc[S_BAD] == 0)) return;
  double n = (double)t->N, mean, m2;
  shifted_moments(n, t->rmu, t->sc[S_ADV + 6], t->sc[S_ADV + 7], &mean, &m2);
  if (!isfinite(mean) || !isfinite(m2)) return;
  double mu0 = t->rmu, sd0 = t->rsd;
  trpo_normalizer_merge(&t->rnorm, n, &mean, &m2);
  return_scale(t);
  const int L = t->vf.nlayer - 1, wo = t->vf.woff[L], bo = t->vf.boff[L];
  const double f = sd0 / t->rsd, f2 = f * f;
  for (int k = 0; k < wo; k++) {   // hidden layers: parameters kept, moments rescaled
    t->adam.m[k] *= f2;
    t->adam.v[k] *= f2 * f2;
  }
  for (int k = wo; k < bo; k++) {   // the output layer's weights (one output)
    t->vtheta[k] *= f;
    t->adam.m[k] *= f;
    t->adam.v[k] *= f2;
  }
  t->vtheta[bo] = (sd0 * t->vtheta[bo] + mu0 - t->rmu) / t->rsd;
  t->adam.m[bo] *= f;
  t->adam.v[bo] *= f2;
}

//---------------------------------- the iteration --------------------------------------------------

int trpo_train_iterate(trpo_train* t, trpo_stats* st) {
  const int P = t->pol.nparam;
  double tc0 = t->comm->t_comm, tw0 = t->comm->t_wait;
  double t0 = trpo_time_now();
  long pre0 = trpo_time_preemptions();
  double cpu0 = trpo_time_thread_cpu();
  memset(st, 0, sizeof *st);
  long faults0 = trpo_envs_simfaults(t->envs);
  if (t->slow_period > 0)
    t->comm->slow = (t->slow_rank + t->iteration / t->slow_period) % t->comm->nrank == t->comm->rank
                        ? t->slow_factor : 1.0;

  // 1. sample; what it counts is reduced with the advantage and observation statistics
  trpo_fxsum_zero(&t->fxs);
  sample(t);
  trpo_fxsum_add1(&t->fxs, S_FAULTS, (double)(trpo_envs_simfaults(t->envs) - faults0));
  trpo_fxsum_add1(&t->fxs, S_TAKEN, (double)t->taken);
  double t1 = trpo_time_now(), tw1 = t->comm->t_wait;

  // 2-3. advantages and gradient
  double ev = 0, entropy = 0, surr0 = 0;
  if ((t->test_fault & TRPO_TEST_NANOBS) && t->nlocal > 0) t->obs[0] = NAN;
  *work_faults(t, t->comm->rank) = t->test_fault;   // published by the phase's opening
  t->wtaken = 0;
  vf_begin(t);   // its steps ride on the phases from here on (see 7. value fit)
  int ok = advantages(t, &ev, t->sc);
  const double* ep = t->sc + S_EP;
  memcpy(t->theta_old, t->theta, sizeof(double) * P);
  // the Fisher window of every environment, drawn for all envs so every rank stays in step
  for (int e = 0; e < t->nenv_total; e++)
    t->sub_start[e] =
        t->Tsub < t->T ? (int)trpo_rng_below(&t->rng_subsample, (uint64_t)(t->T - t->Tsub + 1)) : 0;
  policy_gradient(t, &entropy, &surr0);
  if (t->test_fault & TRPO_TEST_NANGRAD) t->g[P / 2] = NAN;
  ok = ok && finite_vec(t->g, P) && isfinite(surr0);
  double t2 = trpo_time_now(), tw2 = t->comm->t_wait, v2 = t->tvf;

  // 4-5. natural gradient direction and step length
  trpo_cgresult cg = {0, 0, 0};
  double shs = 0, fullscale = 0;
  if (ok) {
    cg = trpo_cg_solve(fisher_product, t, t->step, t->g, t->cgwork, P, t->cfg.cg_iters, t->cfg.cg_tol);
    ok = finite_vec(t->step, P);
  }
  if (ok) {
    fisher_product(t, t->fv, t->step);
    shs = trpo_linalg_dot(t->step, t->fv, P);
    ok = isfinite(shs) && shs > 0;
  }
  if (ok) {
    fullscale = sqrt(2.0 * t->cfg.max_kl / shs);
    ok = isfinite(fullscale);
  }
  double t3 = trpo_time_now(), tw3 = t->comm->t_wait, v3 = t->tvf;

  // 6. backtracking line search on the surrogate and the KL constraint, from L(theta_old)
  double improve = 0, kl = 0;
  int accepted = 0, nls = 0;
  if (ok) {
    double frac = 1.0;
    for (nls = 1; nls <= t->cfg.ls_steps; nls++, frac *= t->cfg.ls_shrink) {
      for (int k = 0; k < P; k++) t->theta[k] = t->theta_old[k] + frac * fullscale * t->step[k];
      double surr = 0;
      evaluate(t, &surr, &kl);
      improve = surr - surr0;
      if (!(t->test_fault & TRPO_TEST_REJECT) && isfinite(improve) && isfinite(kl) && improve > 0 && kl <= t->cfg.max_kl) {
        accepted = 1;
        break;
      }
    }
    if (!accepted) {
      memcpy(t->theta, t->theta_old, sizeof(double) * P);
      improve = 0;
      kl = 0;
      nls = t->cfg.ls_steps;
    }
  }
  if (!ok) {
    // a non-finite quantity anywhere skips the update: the parameters stay bitwise as they were
    memcpy(t->theta, t->theta_old, sizeof(double) * P);
    t->skipped++;
    t->consecutive_skips++;
  } else {
    t->consecutive_skips = 0;
  }
  // rank 0's parameters are the truth
  trpo_comm_bcast(t->comm, t->theta, P, 0);
  double t4 = trpo_time_now(), tw4 = t->comm->t_wait, v4 = t->tvf;

  // 7. the value fit's steps that no phase carried (also when the policy update was skipped)
  double vloss = fit_value(t);
  double t5 = trpo_time_now(), tw5 = t->comm->t_wait;

  // 8. observation statistics of this batch (reduced after sampling), for the next iteration
  if (t->cfg.obs_norm) update_normalizer(t);
  update_returns(t);

  // statistics; times as maxima over ranks, from every rank's times (gathered to every rank, so
  // that load balancing decides the same on every rank without a collective of its own)
  t->iteration++;
  t->env_steps += t->N;
  if (isfinite(ep[0])) t->episodes += (long)ep[0];
  double t6 = trpo_time_now();
  // the value steps that rode on phases 2-6 count as value fit; the waits at their collectives
  // stay with the phases they rode on
  double mine[NTIME] = {t1 - t0, t2 - t1 - v2, t3 - t2 - (v3 - v2), t4 - t3 - (v4 - v3), t5 - t4 + v4,
                        t->comm->t_wait - tw0,
                        t->comm->t_comm - tc0, t6 - t0, 0, tw1 - tw0, tw2 - tw1, tw3 - tw2,
                        tw4 - tw3, tw5 - tw4, (double)(trpo_time_preemptions() - pre0),
                        (double)trpo_time_cpu(), trpo_time_thread_cpu() - cpu0, t->taken,
                        t->given, t->wtaken};
  // this rank's own work (the iteration minus collectives), for load balancing
  mine[T_BUSY] = mine[T_ITER] - mine[T_WAIT] - mine[T_COMM];
  trpo_comm_allgather_double(t->comm, mine, NTIME, t->times);
  // tm: maxima over ranks; wait_min: the least any rank waited, the waiting that even the
  // busiest rank does (collectives meeting at different times); t_wait - t_wait_min is the part
  // that unequal work causes
  double tm[NTIME], wait_min = t->times[T_WAIT];
  for (int k = 0; k < NTIME; k++) tm[k] = t->times[k];
  for (int r = 1; r < t->comm->nrank; r++) {
    const double* x = t->times + (size_t)r * NTIME;
    for (int k = 0; k < NTIME; k++) tm[k] = fmax(tm[k], x[k]);
    wait_min = fmin(wait_min, x[T_WAIT]);
  }
  st->iteration = (double)t->iteration;
  st->env_steps = (double)t->env_steps;
  st->wall_s = t->wall_before + (trpo_time_now() - t->t_start);
  st->episodes = ep[0];
  st->return_mean = ep[0] > 0 ? ep[1] / ep[0] : NAN;
  st->return_std = ep[0] > 0 ? sqrt(fmax(0.0, ep[2] / ep[0] - st->return_mean * st->return_mean)) : NAN;
  st->len_mean = ep[0] > 0 ? ep[3] / ep[0] : NAN;
  st->kl = kl;
  st->entropy = entropy;
  st->surr_improve = improve;
  st->ls_steps = nls;
  st->cg_iters = cg.iters;
  st->cg_residual = cg.residual;
  st->vf_loss = vloss;
  st->vf_explained_var = ev;
  st->skipped_updates = (double)t->skipped;
  st->steps_per_s = (double)t->N / tm[T_ITER];
  st->ls_rejected = ok && !accepted;
  st->sim_faults = t->sc[S_FAULTS];
  st->env_moves = (double)t->moved;
  st->steps_taken = t->sc[S_TAKEN];
  t->moved = 0;
  st->t_sample = tm[T_SAMPLE];
  st->t_grad = tm[T_GRAD];
  st->t_cg = tm[T_CG];
  st->t_ls = tm[T_LS];
  st->t_vf = tm[T_VF];
  st->t_wait = tm[T_WAIT];
  st->t_wait_min = wait_min;
  st->t_comm = tm[T_COMM];
  st->t_iter = tm[T_ITER];
  if (t->consecutive_skips >= t->cfg.max_skips) return TRPO_STOP_SKIPS;
  return 0;
}

//---------------------------------- accessors ------------------------------------------------------

const double* trpo_train_policy(const trpo_train* t, int* nparam) {
  if (nparam) *nparam = t->pol.nparam;
  return t->theta;
}

const double* trpo_train_value(const trpo_train* t, int* nparam) {
  if (nparam) *nparam = t->vf.nparam;
  return t->vtheta;
}

long trpo_train_iteration(const trpo_train* t) { return t->iteration; }

double trpo_train_value_of(trpo_train* t, const double* raw_obs) { return value1(t, raw_obs); }

static uint64_t fnv1a(const void* data, size_t n) {
  const unsigned char* b = data;
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t k = 0; k < n; k++) h = (h ^ b[k]) * UINT64_C(1099511628211);
  return h;
}

void trpo_train_checksum(const trpo_train* t, uint64_t* policy, uint64_t* value) {
  *policy = fnv1a(t->theta, sizeof(double) * t->pol.nparam);
  *value = fnv1a(t->vtheta, sizeof(double) * t->vf.nparam);
}

void trpo_train_test_fault(trpo_train* t, int faults) { t->test_fault = faults; }

void trpo_train_vectors(const trpo_train* t, const double** g, const double** s, const double** fs) {
  *g = t->g;
  *s = t->step;
  *fs = t->fv;
}
void trpo_train_rows_of(const trpo_train* t, int i, trpo_train_rows* rows) {
  envview e;
  env_view(t, t->comm->rank, i, &e);
  *rows = (trpo_train_rows){.T = t->T, .nobs = t->nobs, .fisher_start = t->sub_start[e.g],
                            .fisher_rows = t->Tsub, .obs = e.obs, .rew = e.rew,
                            .final_obs = e.final_obs, .boot_obs = e.boot_obs, .ret = e.ret,
                            .flags = e.flags};
}
const trpo_policy* trpo_train_policy_def(const trpo_train* t) { return &t->pol; }
long trpo_train_env_steps(const trpo_train* t) { return t->env_steps; }

//---------------------------------- checkpoint state -----------------------------------------------
// Everything a resumed run needs to continue bitwise as if it had never stopped. Global state is
// identical on every rank; per-environment state is indexed by GLOBAL environment index, gathered
// to rank 0 for writing and scattered by the current sharding after reading, so a run can resume
// on another rank count.

static void item(trpo_train* t, const char* path, const char* desc, int type, size_t d0, size_t d1,
                 void* data) {
  TRPO_CHECK(t->nitems < (int)(sizeof t->items / sizeof t->items[0]));
  trpo_ckptitem* it = &t->items[t->nitems++];
  it->path = path;
  it->description = desc;
  it->type = type;
  it->ndim = d1 ? 2 : 1;
  it->dims[0] = d0;
  it->dims[1] = d1;
  it->data = data;
}

static void make_items(trpo_train* t) {
  const size_t ne = (size_t)t->nenv_total, nsim = (size_t)t->info.nsim, nobs = (size_t)t->nobs;
  // one env record: sim state, current observation, episode return and length, two rng states, t
  t->envrec = (int)(nsim + nobs + 2 + 8 + 1);
  t->l_pack = A((size_t)t->cap * t->envrec, sizeof(double));
  if (t->comm->rank == 0) {
    t->g_sim = A(ne * (nsim ? nsim : 1), sizeof(double));
    t->g_obs = A(ne * nobs, sizeof(double));
    t->g_ep = A(ne * 2, sizeof(double));
    t->g_rng = A(ne * 8, sizeof(uint64_t));
    t->g_t = A(ne, sizeof(int64_t));
    t->g_pack = A(ne * t->envrec, sizeof(double));
  }
  item(t, "policy/theta", "policy parameters: MLP layers (W row-major in x out, then b) then log-std",
       TRPO_CKPT_F64, t->pol.nparam, 0, t->theta);
  item(t, "value/theta", "value-function parameters: MLP layers (W row-major in x out, then b)",
       TRPO_CKPT_F64, t->vf.nparam, 0, t->vtheta);
  item(t, "value/adam_m", "Adam first moment of the value parameters", TRPO_CKPT_F64, t->vf.nparam,
       0, t->adam.m);
  item(t, "value/adam_v", "Adam second moment of the value parameters", TRPO_CKPT_F64,
       t->vf.nparam, 0, t->adam.v);
  item(t, "value/adam_t", "Adam step count", TRPO_CKPT_U64, 1, 0, &t->adam_t);
  item(t, "normalizer/mean", "running observation mean", TRPO_CKPT_F64, nobs, 0, t->norm.mean);
  item(t, "normalizer/m2", "running sum of squared deviations of observations", TRPO_CKPT_F64,
       nobs, 0, t->norm.m2);
  if (t->cfg.vf_norm)
    item(t, "value/returns", "running lambda-return statistics (vf_norm): count, mean, M2",
         TRPO_CKPT_F64, 3, 0, t->rstat);
  item(t, "counters", "iteration, env_steps, episodes, skipped_updates, consecutive_skips, nenv_total",
       TRPO_CKPT_I64, 6, 0, t->counters);
  item(t, "scalars", "wall-clock seconds so far, normaliser sample count", TRPO_CKPT_F64, 2, 0,
       t->scal);
  item(t, "rng/global", "xoshiro256** states: value minibatch shuffle, Fisher subsample",
       TRPO_CKPT_U64, 8, 0, t->grng);
  item(t, "envs/sim", "simulator state of each environment (global index x nsim)", TRPO_CKPT_F64,
       ne, nsim ? nsim : 1, t->g_sim);
  item(t, "envs/obs", "raw observation the next action is chosen from (global index x nobs)",
       TRPO_CKPT_F64, ne, nobs, t->g_obs);
  item(t, "envs/episode", "return and length of the episode in flight (global index x 2)",
       TRPO_CKPT_F64, ne, 2, t->g_ep);
  item(t, "envs/rng", "xoshiro256** states: reset stream, action stream (global index x 8)",
       TRPO_CKPT_U64, ne, 8, t->g_rng);
  item(t, "envs/t", "env steps since the episode's reset (global index)", TRPO_CKPT_I64, ne, 0,
       t->g_t);
}

int trpo_train_items_check(const trpo_train* t, long iteration, char* why, size_t nwhy) {
  const long* c = t->counters;
  if (c[0] != iteration)
    return snprintf(why, nwhy, "item counters says iteration %ld, the file's name %ld",
                    c[0], iteration), 1;
  if (c[5] != t->nenv_total)
    return snprintf(why, nwhy, "item counters says %ld environments, the config %d",
                    c[5], t->nenv_total), 1;
  if (c[1] != iteration * t->N)
    return snprintf(why, nwhy, "item counters says %ld env steps, %ld iterations of %ld make %ld",
                    c[1], iteration, t->N, iteration * t->N), 1;
  if (c[2] < 0 || c[3] < 0 || c[4] < 0 || c[4] > c[3])
    return snprintf(why, nwhy, "item counters holds impossible counts (episodes %ld, skipped "
                    "%ld, consecutive %ld)", c[2], c[3], c[4]), 1;
  for (int e = 0; e < t->nenv_total; e++)
    if (t->g_t[e] < 0 || t->g_t[e] >= t->info.max_steps)
      return snprintf(why, nwhy, "item envs/t: environment %d at step %ld of an episode (the "
                      "time limit is %d)", e, (long)t->g_t[e], t->info.max_steps), 1;
  if (!finite_vec(t->theta, t->pol.nparam) || !finite_vec(t->vtheta, t->vf.nparam) ||
      !finite_vec(t->scal, 2) || !(t->scal[1] >= 0))
    return snprintf(why, nwhy, "items policy/theta, value/theta or scalars hold a non-finite or "
                    "negative value"), 1;
  return 0;
}

int trpo_train_items(trpo_train* t, trpo_ckptitem** items) {
  *items = t->items;
  return t->nitems;
}

// record sizes in bytes of every rank's share, in rank order
static void pack_counts(const trpo_train* t, size_t* counts) {
  for (int r = 0; r < t->comm->nrank; r++) {
    counts[r] = (size_t)t->share[r] * t->envrec * sizeof(double);
  }
}

// environment slot i's record (sim state, observation, episode, streams, t) -> p
static void pack_env(trpo_train* t, int i, double* p) {
  const int nsim = t->info.nsim, nobs = t->nobs;
  trpo_rng rr;
  int steps = 0;
  trpo_envs_getstate(t->envs, i, p, &rr, &steps);
  memcpy(p + nsim, t->cur_obs + (size_t)i * nobs, sizeof(double) * nobs);
  p[nsim + nobs] = t->ep_ret[i];
  p[nsim + nobs + 1] = t->ep_len[i];
  memcpy(p + nsim + nobs + 2, rr.s, 4 * sizeof(uint64_t));
  memcpy(p + nsim + nobs + 6, t->rng_act[i].s, 4 * sizeof(uint64_t));
  int64_t st = steps;
  memcpy(p + nsim + nobs + 10, &st, sizeof st);
}

// p -> environment slot i
static void unpack_env(trpo_train* t, int i, const double* p) {
  const int nsim = t->info.nsim, nobs = t->nobs;
  trpo_rng rr;
  int64_t st;
  memcpy(rr.s, p + nsim + nobs + 2, 4 * sizeof(uint64_t));
  memcpy(t->rng_act[i].s, p + nsim + nobs + 6, 4 * sizeof(uint64_t));
  memcpy(&st, p + nsim + nobs + 10, sizeof st);
  trpo_envs_setstate(t->envs, i, p, &rr, (int)st);
  memcpy(t->cur_obs + (size_t)i * nobs, p + nsim, sizeof(double) * nobs);
  t->ep_ret[i] = p[nsim + nobs];
  t->ep_len[i] = p[nsim + nobs + 1];
}

// this rank's environment records -> l_pack
static void pack_local(trpo_train* t) {
  for (int i = 0; i < t->nenv; i++) pack_env(t, i, t->l_pack + (size_t)i * t->envrec);
}

// l_pack -> this rank's environments
static void unpack_local(trpo_train* t) {
  for (int i = 0; i < t->nenv; i++) unpack_env(t, i, t->l_pack + (size_t)i * t->envrec);
}

void trpo_train_gather(trpo_train* t) {
  const int nsim = t->info.nsim, nobs = t->nobs, rec = t->envrec;
  // global state: identical on every rank, rank 0 writes it
  t->counters[0] = t->iteration;
  t->counters[1] = t->env_steps;
  t->counters[2] = t->episodes;
  t->counters[3] = t->skipped;
  t->counters[4] = t->consecutive_skips;
  t->counters[5] = t->nenv_total;
  t->scal[0] = t->wall_before + (trpo_time_now() - t->t_start);
  t->scal[1] = t->norm.count;
  t->rstat[0] = t->rnorm.count;
  t->rstat[1] = t->rnorm.mean[0];
  t->rstat[2] = t->rnorm.m2[0];
  memcpy(t->grng, t->rng_shuffle.s, 4 * sizeof(uint64_t));
  memcpy(t->grng + 4, t->rng_subsample.s, 4 * sizeof(uint64_t));
  t->adam_t = (uint64_t)t->adam.t;
  pack_local(t);
  size_t counts[t->comm->nrank];
  pack_counts(t, counts);
  trpo_comm_gatherv(t->comm, t->l_pack, (size_t)t->nenv * rec * sizeof(double), t->g_pack, counts, 0);
  if (t->comm->rank != 0) return;
  // unpack into the items' global arrays
  for (int e = 0; e < t->nenv_total; e++) {
    const double* p = t->g_pack + (size_t)e * rec;
    if (nsim) memcpy(t->g_sim + (size_t)e * nsim, p, sizeof(double) * nsim);
    memcpy(t->g_obs + (size_t)e * nobs, p + nsim, sizeof(double) * nobs);
    t->g_ep[2 * e] = p[nsim + nobs];
    t->g_ep[2 * e + 1] = p[nsim + nobs + 1];
    memcpy(t->g_rng + (size_t)e * 8, p + nsim + nobs + 2, 8 * sizeof(uint64_t));
    memcpy(&t->g_t[e], p + nsim + nobs + 10, sizeof(int64_t));
  }
}

void trpo_train_scatter(trpo_train* t) {
  const int nsim = t->info.nsim, nobs = t->nobs, rec = t->envrec;
  // rank 0 packs every environment's record in global order
  if (t->comm->rank == 0) {
    for (int e = 0; e < t->nenv_total; e++) {
      double* p = t->g_pack + (size_t)e * rec;
      if (nsim) memcpy(p, t->g_sim + (size_t)e * nsim, sizeof(double) * nsim);
      memcpy(p + nsim, t->g_obs + (size_t)e * nobs, sizeof(double) * nobs);
      p[nsim + nobs] = t->g_ep[2 * e];
      p[nsim + nobs + 1] = t->g_ep[2 * e + 1];
      memcpy(p + nsim + nobs + 2, t->g_rng + (size_t)e * 8, 8 * sizeof(uint64_t));
      memcpy(p + nsim + nobs + 10, &t->g_t[e], sizeof(int64_t));
    }
  }
  size_t counts[t->comm->nrank];
  pack_counts(t, counts);
  trpo_comm_scatterv(t->comm, t->g_pack, counts, t->l_pack, (size_t)t->nenv * rec * sizeof(double), 0);
  // global state from rank 0
  int P = t->pol.nparam, Pv = t->vf.nparam;
  trpo_comm_bcast(t->comm, t->theta, P, 0);
  trpo_comm_bcast(t->comm, t->vtheta, Pv, 0);
  trpo_comm_bcast(t->comm, t->adam.m, Pv, 0);
  trpo_comm_bcast(t->comm, t->adam.v, Pv, 0);
  trpo_comm_bcast(t->comm, t->norm.mean, t->nobs, 0);
  trpo_comm_bcast(t->comm, t->norm.m2, t->nobs, 0);
  trpo_comm_bcast(t->comm, t->scal, 2, 0);
  trpo_comm_bcast(t->comm, t->rstat, 3, 0);
  trpo_comm_bcast_bytes(t->comm, t->counters, sizeof t->counters, 0);
  trpo_comm_bcast_bytes(t->comm, t->grng, sizeof t->grng, 0);
  trpo_comm_bcast_bytes(t->comm, &t->adam_t, sizeof t->adam_t, 0);
  t->iteration = t->counters[0];
  t->env_steps = t->counters[1];
  t->episodes = t->counters[2];
  t->skipped = t->counters[3];
  t->consecutive_skips = t->counters[4];
  t->wall_before = t->scal[0];
  t->t_start = trpo_time_now();
  t->norm.count = t->scal[1];
  if (t->cfg.vf_norm) {
    t->rnorm.count = t->rstat[0];
    t->rnorm.mean[0] = t->rstat[1];
    t->rnorm.m2[0] = t->rstat[2];
  }
  return_scale(t);
  memcpy(t->rng_shuffle.s, t->grng, 4 * sizeof(uint64_t));
  memcpy(t->rng_subsample.s, t->grng + 4, 4 * sizeof(uint64_t));
  t->adam.t = (long)t->adam_t;
  unpack_local(t);
}

//---------------------------------- load balancing -----------------------------------------------
// Environments are the unit of work: every per-environment computation gives the same bits on
// whichever rank holds it, and every sum across environments is exact, so moving environments
// between ranks changes the time an iteration takes and nothing else. Between iterations every
// rank compares the ranks' busy time per environment (the iteration minus time in collectives,
// gathered to every rank with the iteration's timings; per rank the median of the last
// rebalance_window iterations), and all take the same
// decision from the same numbers: move environments from slow ranks to fast ones when that
// shortens the predicted iteration by more than REBALANCE_GAIN. Shares stay contiguous ranges in
// rank order; the state of the moving environments travels through rank 0.

#define REBALANCE_GAIN 0.10

int trpo_train_set_shares(trpo_train* t, const int* share) {
  const int R = t->comm->nrank, rec = t->envrec;
  int same = 1, sum = 0;
  for (int r = 0; r < R; r++) {
    TRPO_CHECK(share[r] >= 1 && share[r] <= t->cap);
    same &= share[r] == t->share[r];
    sum += share[r];
  }
  TRPO_CHECK(sum == t->nenv_total);
  if (same) return 0;
  // environments whose rank changes: global index e moves when its old and new owners differ
  int moved = 0;
  for (int e = 0, ro = 0, rn = 0, bo = 0, bn = 0; e < t->nenv_total; e++) {
    while (e >= bo + t->share[ro]) bo += t->share[ro++];
    while (e >= bn + share[rn]) bn += share[rn++];
    moved += ro != rn;
  }
  // every record to rank 0 under the old shares, back out under the new ones
  size_t counts[R];
  pack_local(t);
  pack_counts(t, counts);
  trpo_comm_gatherv(t->comm, t->l_pack, (size_t)t->nenv * rec * sizeof(double), t->g_pack, counts, 0);
  memcpy(t->share, share, sizeof(int) * R);
  t->env_begin = 0;
  for (int r = 0; r < t->comm->rank; r++) t->env_begin += share[r];
  t->nenv = share[t->comm->rank];
  t->nlocal = t->nenv * t->T;
  for (int q = 0, b = 0; q < R; b += share[q++]) t->begin[q] = b;
  trpo_envs_hold(t->envs, t->env_begin, t->nenv);
  pack_counts(t, counts);
  trpo_comm_scatterv(t->comm, t->g_pack, counts, t->l_pack, (size_t)t->nenv * rec * sizeof(double), 0);
  unpack_local(t);
  return moved;
}

int trpo_train_shares(const trpo_train* t, int* share) {
  memcpy(share, t->share, sizeof(int) * t->comm->nrank);
  return t->cap;
}

const double* trpo_train_rank_times(const trpo_train* t) { return t->times; }

int trpo_train_rebalance(trpo_train* t) {
  const int R = t->comm->nrank, H = t->cfg.rebalance_window;
  // without the timing barriers a rank's busy time would include its waiting: nothing to see
  if (!t->cfg.rebalance || !t->comm->timing || R < 2) return 0;
  // every rank holds every rank's busy time of the last iteration (gathered with the timings) and
  // takes the same decision from the same numbers: no collective unless environments move
  double* h = t->hist + (size_t)(t->nhist++ % H) * R;
  // seconds per environment held: its sampling and the work after it. Where every rank shares
  // the work after sampling with its node (share_work), the ranks of a node finish each phase
  // together whatever their shares, so that work counts per node: the seconds the node's ranks
  // spent on it over the node's environments, the same for each of its ranks. (Per rank, it
  // would make a rank's seconds per environment fall as its share grew, and the split drift.) So
  // does the sampling where every rank also shares that (steal). On one node the balancer then
  // keeps the split it has; between nodes it moves environments to the faster one. Where every
  // rank shares the sampling but not the work after it, the sampling phase ends at about the same
  // time on every rank whatever the shares (its waits for the last chunks are part of it), so only the
  // work after it, which follows the rows a rank holds, decides; with no sharing, all of the
  // rank's work does
  if (t->work_all) {
    double *w = t->nodew, *e = t->nodew + R;
    for (int r = 0; r < R; r++) w[r] = e[r] = 0;
    for (int r = 0; r < R; r++) {
      const double* x = t->times + (size_t)r * NTIME;
      w[t->node[r]] += t->share_all ? x[T_BUSY] : x[T_BUSY] - x[T_SAMPLE];
      e[t->node[r]] += t->share[r];
    }
  }
  for (int r = 0; r < R; r++) {
    const double* x = t->times + (size_t)r * NTIME;
    double sample = t->share_all ? 0 : x[T_SAMPLE] / t->share[r];
    double after = t->work_all ? t->nodew[t->node[r]] / t->nodew[R + t->node[r]]
                               : (x[T_BUSY] - x[T_SAMPLE]) / t->share[r];
    h[r] = fmax(sample + after, 1e-9);
  }
  int share[R];
  memcpy(share, t->share, sizeof share);
  if (t->nhist >= H) {
    // seconds per environment of each rank: the median of the last H iterations
    for (int r = 0; r < R; r++) {
      double v[H];
      for (int k = 0; k < H; k++) {
        // insertion sort of one rank's history
        double x = t->hist[(size_t)k * R + r];
        int j = k;
        for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
      }
      t->cost[r] = v[H / 2];
    }
    trpo_shard_balance(t->nenv_total, R, t->cap, t->cost, t->share, REBALANCE_GAIN, share);
  }
  t->moved = trpo_train_set_shares(t, share);
  return t->moved;
}

//---------------------------------- sharing the sampling -----------------------------------------
// Load balancing moves environments between iterations, from speeds measured in the past; a core
// that turns slow in the middle of an iteration still holds everyone up (on the 16-core machine
// the slow cores changed every few iterations, and cores differed 1.6-1.8x in speed). So the
// ranks of a node share the sampling chunk by chunk: an environment's segment is K chunks of
// steal_steps steps, and between two chunks any rank of the node may go on with it. A free rank
// takes the next chunk of its own environment with the most chunks left that nobody is running,
// else of the node's environment with the most left (ties: the lower rank and index); so the
// environments advance level, and until the last chunks every rank has one to run (a whole
// environment at a time left up to one segment's idling at the end, 4 environments per rank made
// that a quarter of the phase; bench_replay "sampling: level"). A chunk is sampled exactly as the
// owner would (the same code, parameters, normaliser and streams: the same bits): the rank loads
// the environment's record into its own slot (an owner's environment) or its spare slot, writes
// the rows straight into the owner's row block (mapped by the node, see "sharing the work"), and
// stores the record back for whoever runs the next chunk. A rank that ran the last chunk itself
// keeps the state and skips the load. Once no chunk is left to take, the owner waits for its
// environments' last chunks and loads the records that others left. Only the episode and fault
// counts stay with the taker, and they are exact sums across ranks. Nothing after sampling
// changes. The ranks of a node share one block each (MPI shared memory, src/comm.c):
//   words    (64-bit) one per environment: epoch << 32 | chunks done << 16 | running << 15 | the
//            rank that ran the last chunk (a claim is one compare-and-swap of this word)
//   records  each environment's record (cap x envrec) after its last chunk
// The epoch (sampling phases so far, the same on every rank) tells this iteration's words from
// the last one's, so blocks need no reset and no collective; a rank finding a peer's words not yet
// at this epoch polls, since the peer will open them. Ranks on other nodes share nothing.

#define W_MAKE(ep, done, run, last) \
  ((uint64_t)(ep) << 32 | (uint64_t)(done) << 16 | (uint64_t)(run) << 15 | (uint64_t)(last))
#define W_EPOCH(v) ((uint32_t)((v) >> 32))
#define W_DONE(v) ((int)(((v) >> 16) & 0xffff))
#define W_RUN(v) ((int)(((v) >> 15) & 1))
#define W_LAST(v) ((int)((v) & 0x7fff))

static uint64_t* share_word(const trpo_train* t, int r, int i) { return (uint64_t*)t->blk[r] + i; }
static double* share_rec(const trpo_train* t, int r, int i) {
  return (double*)(t->blk[r] + t->rec_off) + (size_t)i * t->envrec;
}

static void share_make(trpo_train* t) {
  const int R = t->comm->nrank, T = t->T;
  // chunks: steal_steps steps, at most 0xffff of them (the word's field)
  t->chunk = t->cfg.steal_steps < T ? t->cfg.steal_steps : T;
  if ((T + t->chunk - 1) / t->chunk > 0xffff) t->chunk = (T + 0xfffe) / 0xffff;
  if (R > 0x7fff) return;   // beyond the word's rank field: no sharing
  // the same layout on every rank (capg, rows_make); sharing needs the node-mapped row blocks
  t->rec_off = ((size_t)t->capg * sizeof(uint64_t) + 63) / 64 * 64;
  size_t bytes = t->rec_off + sizeof(double) * (size_t)t->capg * t->envrec;
  t->blk = A(R, sizeof(char*));
  t->shm = trpo_comm_shm_make(t->comm, bytes, (void**)t->blk, "sharing the sampling within a node",
                              "steal = 0 turns the sharing off");
  // alone on its node: nothing to share with
  int peers = 0;
  for (int r = 0; r < R; r++) peers += r != t->comm->rank && t->blk[r];
  if (!peers) t->blk[t->comm->rank] = NULL;
  // whether every rank has a node peer (load balancing then leaves sampling to sharing)
  int alone[1] = {!peers};
  trpo_comm_max_int(t->comm, alone, 1);
  t->share_all = !alone[0];
}

// rank r's environment with the most chunks left that nobody runs, if it has more left than *left
// (then *bi, *bv: its index and word); *pending = 1 if r has not opened this epoch's words yet
static void share_scan(const trpo_train* t, int r, uint32_t ep, int K, int* bi, uint64_t* bv,
                       int* left, int* pending) {
  for (int i = 0; i < t->share[r]; i++) {
    uint64_t v = __atomic_load_n(share_word(t, r, i), __ATOMIC_ACQUIRE);
    if (W_EPOCH(v) != ep) {
      *pending = 1;
      return;
    }
    if (!W_RUN(v) && K - W_DONE(v) > *left) *left = K - W_DONE(v), *bi = i, *bv = v;
  }
}

static void share_sample(trpo_train* t) {
  const int R = t->comm->nrank, me = t->comm->rank, T = t->T, L = t->chunk, S = t->cap;
  const int K = (T + L - 1) / L;
  if (++t->epoch == 0) t->epoch = 1;
  const uint32_t ep = t->epoch;
  // this epoch's start records, each opened to the node by its word
  for (int i = 0; i < t->nenv; i++) {
    pack_env(t, i, share_rec(t, me, i));
    __atomic_store_n(share_word(t, me, i), W_MAKE(ep, 0, 0, me), __ATOMIC_RELEASE);
  }
  int held_r = -1, held_i = -1;   // the environment in the spare slot, as this rank left it
  long own = 0, taken = 0;        // steps sampled of own environments, of others'
  double t0 = 0;
  for (;;) {
    // a chunk: of an own environment, else of the node's with the most left
    int br = me, bi = -1, left = 0, pending = 0;
    uint64_t v = 0;
    share_scan(t, me, ep, K, &bi, &v, &left, &pending);
    if (bi < 0) {
      for (int r = 0; r < R; r++) {
        if (r == me || !t->blk[r]) continue;
        int i0 = bi;
        share_scan(t, r, ep, K, &bi, &v, &left, &pending);
        if (bi != i0) br = r;
      }
    }
    if (bi < 0) {
      if (!pending) break;
      // a rank that has not started this sampling yet (it is still leaving the last iteration)
      if (t0 == 0) t0 = trpo_time_now();
      if (trpo_time_now() - t0 >= SHARE_SPIN) trpo_time_nap(SHARE_NAP_NS);
      continue;
    }
    t0 = 0;
    const int done = W_DONE(v);
    if (!__atomic_compare_exchange_n(share_word(t, br, bi), &v, W_MAKE(ep, done, 1, me), 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      continue;   // another rank claimed it first
    // the state in: an own environment in its slot, another's in the spare slot
    const int k = br == me ? bi : S;
    if (!(W_LAST(v) == me && (br == me || (held_r == br && held_i == bi))))
      unpack_env(t, k, share_rec(t, br, bi));
    if (br != me) held_r = br, held_i = bi;
    const int s0 = done * L, s1 = s0 + L < T ? s0 + L : T;
    sample_steps(t, k, br, bi, s0, s1);
    if (br == me) own += s1 - s0;
    else taken += s1 - s0;
    // the state out for whoever runs the next chunk (an owner's last chunk stays in its slot)
    if (br != me || done + 1 < K) pack_env(t, k, share_rec(t, br, bi));
    __atomic_store_n(share_word(t, br, bi), W_MAKE(ep, done + 1, 0, me), __ATOMIC_RELEASE);
  }
  // own environments others ran last, once their last chunks are in
  for (int i = 0; i < t->nenv; i++) {
    uint64_t v;
    t0 = trpo_time_now();
    while (W_DONE(v = __atomic_load_n(share_word(t, me, i), __ATOMIC_ACQUIRE)) < K)
      if (trpo_time_now() - t0 >= SHARE_SPIN) trpo_time_nap(SHARE_NAP_NS);
    if (W_LAST(v) != me) unpack_env(t, i, share_rec(t, me, i));
  }
  t->taken = taken;
  t->given = (long)t->nenv * T - own;
}

//---------------------------------- evaluation -----------------------------------------------------

int trpo_train_evaluate(trpo_train* t, int episodes, int deterministic, double* mean, double* std,
                        double* len, char* err, size_t nerr) {
  // a separate environment, so training's environments and streams are untouched
  trpo_envs* ev = NULL;
  int rc = trpo_envs_make(&ev, t->cfg.env, t->cfg.model, (uint64_t)t->cfg.seed, t->nenv_total, 1,
                          err, nerr);
  if (rc) return rc;
  trpo_rng rng;
  trpo_rng_seed(&rng, (uint64_t)t->cfg.seed, (uint64_t)t->nenv_total, TRPO_RNG_ACTION);
  const int nobs = t->nobs, nad = t->nactdim;
  const double lo = t->info.act_lo, hi = t->info.act_hi;
  double obs[nobs], x[nobs], dist[t->ndist], a[nad], a_env[nad];
  double s1 = 0, s2 = 0, sl = 0;
  for (int e = 0; e < episodes; e++) {
    double ret = 0;
    int steps = 0, f = 0;
    trpo_envs_reset(ev, 0, obs);
    while (!(f & (TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED))) {
      // the frozen normaliser, then the mode or a sample
      net_input(t, x, obs);
      trpo_policy_dist(&t->pol, t->theta, &t->one, dist, x, 1);
      if (deterministic) trpo_policy_mode(&t->pol, dist, a);
      else trpo_policy_sample(&t->pol, dist, &rng, a);
      for (int k = 0; k < nad; k++)
        a_env[k] = (!t->info.discrete && t->cfg.clip_actions) ? fmin(hi, fmax(lo, a[k])) : a[k];
      double r = 0;
      f = trpo_envs_step(ev, 0, obs, &r, a_env);
      ret += r;
      steps++;
    }
    s1 += ret;
    s2 += ret * ret;
    sl += steps;
  }
  trpo_envs_free(ev);
  *mean = s1 / episodes;
  *std = sqrt(fmax(0.0, s2 / episodes - *mean * *mean));
  *len = sl / episodes;
  return 0;
}
