// trpo.h: the public API of libtrpo, Trust Region Policy Optimization for MPI clusters.
//
// One header, sectioned like mujoco.h. Every module's exported symbols are declared here with the
// module name as prefix (src/cg.c exports trpo_cg_*). No third-party header is included: MPI,
// HDF5, OpenBLAS and MuJoCo each live behind exactly one module, and everything else sees plain
// ints and double buffers.
//
// The unit of work is the environment, not the rank. Environment e (0 <= e < nenv_total) owns
// its random streams and the batch rows [e*nsteps, (e+1)*nsteps); a rank merely holds the
// contiguous share [env_begin, env_begin+nenv). Every sum across environments goes through the
// exact fixed-point accumulator (trpo_fxsum), so results do not depend on the rank count.

#ifndef TRPO_TRPO_H
#define TRPO_TRPO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//---------------------------------- exit codes -----------------------------------------------------

#define TRPO_EXIT_OK          0    // finished
#define TRPO_EXIT_FAIL        1    // training failed (too many skipped updates, fatal error)
#define TRPO_EXIT_BADINPUT    2    // bad config, model or checkpoint: nothing was changed
#define TRPO_EXIT_IOERROR     3    // a checkpoint could not be written; the last good one stays
#define TRPO_EXIT_CHECKPOINTED 75  // stopped by a signal after writing a checkpoint (requeue me)

//---------------------------------- alloc: the project's only allocator ----------------------------
// Every allocation of the project goes through these, so a test can count them around the
// iteration loop. Out of memory is fatal.

void* trpo_alloc(size_t nbytes);                 // zero-filled, 64-byte aligned
void  trpo_alloc_free(void* p);
long  trpo_alloc_count(void);                    // number of trpo_alloc calls so far

//---------------------------------- fatal errors ---------------------------------------------------
// Tier one of the three error tiers: a bug, a broken invariant, OOM or an MPI failure. Prints one
// line with file, line, function and rank, then aborts the whole MPI job (never exit()).

void trpo_fatal(const char* file, int line, const char* func, const char* fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
#define TRPO_FATAL(...) trpo_fatal(__FILE__, __LINE__, __func__, __VA_ARGS__)
#define TRPO_CHECK(cond) \
  do { if (!(cond)) TRPO_FATAL("check failed: %s", #cond); } while (0)

//---------------------------------- rng: explicit generator state ----------------------------------
// xoshiro256** seeded through splitmix64 from (seed, stream, purpose). One state per global
// environment index and purpose, plus global streams with stream = TRPO_RNG_GLOBAL.

typedef struct trpo_rng_ { uint64_t s[4]; } trpo_rng;

#define TRPO_RNG_GLOBAL UINT64_C(0xFFFFFFFFFFFF)   // stream index of non-environment streams
typedef enum trpo_rngpurpose_ {
  TRPO_RNG_RESET = 1,        // per env: reset noise of the simulator
  TRPO_RNG_ACTION = 2,       // per env: action sampling
  TRPO_RNG_INIT = 3,         // global: network initialisation
  TRPO_RNG_SHUFFLE = 4,      // global: one key per value-fit epoch
  TRPO_RNG_SUBSAMPLE = 5,    // global: Fisher subsample
  TRPO_RNG_VFROWS = 6        // per env, per epoch: value-fit row order (seeded with that key)
} trpo_rngpurpose;

void     trpo_rng_seed(trpo_rng* r, uint64_t seed, uint64_t stream, uint64_t purpose);
uint64_t trpo_rng_next(trpo_rng* r);                      // 64 random bits
double   trpo_rng_uniform(trpo_rng* r);                   // U[0, 1), 53 bits
double   trpo_rng_range(trpo_rng* r, double lo, double hi);   // U[lo, hi)
double   trpo_rng_normal(trpo_rng* r);                    // N(0, 1), no cached second value
uint64_t trpo_rng_below(trpo_rng* r, uint64_t n);         // uniform integer in [0, n), unbiased

//---------------------------------- fxsum: exact, order-independent sums ---------------------------
// A double x with |x| < 2^57 is held exactly (to 2^-110) as TRPO_FXWORDS signed 42-bit digits in
// int64 words: x = sum_k w[k] * 2^(16 - 42 k). Integer addition is exact and associative, so sums
// over environments give the same bits in any order and on any number of ranks (the words are
// reduced with an integer MPI_SUM). Each vector carries one extra word counting non-finite or
// out-of-range inputs; such a sum reads back as NaN.

#define TRPO_FXWORDS 4
typedef struct trpo_fxsum_ {
  int n;            // number of doubles summed elementwise
  long nadd;        // additions since the last normalisation (carry headroom)
  int64_t* w;       // digits, n*TRPO_FXWORDS + 1 (the last word counts bad inputs)
  struct trpo_fxshared_* shared;   // w's node-shared window (trpo_comm_fxsum_make), or NULL
} trpo_fxsum;

void   trpo_fxsum_make(trpo_fxsum* s, int n);
void   trpo_fxsum_free(trpo_fxsum* s);
void   trpo_fxsum_zero(trpo_fxsum* s);
void   trpo_fxsum_add(trpo_fxsum* s, const double* x);          // s += x (n values)
void   trpo_fxsum_add1(trpo_fxsum* s, int i, double x);         // s[i] += x
void   trpo_fxsum_add_range(trpo_fxsum* s, int i0, int n, const double* x);   // s[i0+k] += x[k]
void   trpo_fxsum_normalize(trpo_fxsum* s);                     // canonical carries
void   trpo_fxsum_get(const trpo_fxsum* s, double* out);        // read n doubles (s unchanged)
// read values i0..i0+n-1 (the same bits as trpo_fxsum_get's) without looking at the bad count
void   trpo_fxsum_get_range(const trpo_fxsum* s, int i0, int n, double* out);
size_t trpo_fxsum_nwords(const trpo_fxsum* s);                  // words to reduce
int    trpo_fxsum_fits(double x);      // 1: x is finite and in range (adds exactly, not as bad)

//---------------------------------- comm: the MPI module -------------------------------------------
// The only module that includes <mpi.h>. Every call is checked; a failure is fatal on all ranks.

typedef struct trpo_comm_ {
  int rank, nrank;
  double t_wait;     // seconds waiting at collectives for slower ranks (barrier before each)
  double t_comm;     // seconds inside collectives proper
  int timing;        // 1: measure wait and comm separately (adds one barrier per collective)
  int nap;           // 1: a rank that has waited 1 ms at that barrier polls it between naps
  double slow;       // benchmarks (0 or 1: off): local work between collectives is stretched to
                     // this factor by a busy wait before the next collective, a slower core
  double t_free;     // when this rank last left a collective (for slow)
  int node_sum;      // 1: exact sums add within a node in shared memory, then across nodes
  struct trpo_nodesum_* ns;   // that path's node communicators and window (src/comm.c)
  int64_t* pack;     // MPI_Allreduce path: several sums' words in one message
  size_t npack;
} trpo_comm;

// before MPI_Init: refuse a plain srun without PMIx; returns 0 or TRPO_EXIT_BADINPUT with a message
int  trpo_comm_precheck(char* err, size_t nerr);
void trpo_comm_init(trpo_comm* c, int* argc, char*** argv);
void trpo_comm_finalize(trpo_comm* c);
void trpo_comm_sum_fx(trpo_comm* c, trpo_fxsum* s);             // exact allreduce, normalises
// the exact sum over all ranks read into out (n doubles, as trpo_fxsum_get reads it); s is left
// holding this rank's digits or the sum's, whichever the path leaves
void trpo_comm_sum_fx_get(trpo_comm* c, trpo_fxsum* s, double* out);
// k such sums in one collective: s[j] read into out[j], each as trpo_comm_sum_fx_get reads it
void trpo_comm_sum_fx_getn(trpo_comm* c, int k, trpo_fxsum* const* s, double* const* out);
// an exact sum whose digits live in node shared memory, where the node's ranks read them in place
// when they sum them (trpo_comm_sum_fx_get); with comm_node_sum = 0 or one rank, as
// trpo_fxsum_make. Both collective
void trpo_comm_fxsum_make(trpo_comm* c, trpo_fxsum* s, int n);
void trpo_comm_fxsum_free(trpo_comm* c, trpo_fxsum* s);
void trpo_comm_bcast(trpo_comm* c, double* x, int n, int root);
void trpo_comm_bcast_bytes(trpo_comm* c, void* x, size_t n, int root);
void trpo_comm_max_double(trpo_comm* c, double* x, int n);      // allreduce MAX
void trpo_comm_max_int(trpo_comm* c, int* x, int n);            // allreduce MAX (OR of flags)
// every rank's n doubles, in rank order, into all (nrank x n) on every rank
void trpo_comm_allgather_double(trpo_comm* c, const double* x, int n, double* all);
void trpo_comm_sum_long(trpo_comm* c, long* x, int n);          // allreduce SUM, exact
void trpo_comm_barrier(trpo_comm* c);
int  trpo_comm_node_size(trpo_comm* c);   // ranks on this rank's node (collective)
// gather variable-size byte blocks to root (counts known on every rank); recv NULL off root
void trpo_comm_gatherv(trpo_comm* c, const void* send, size_t nsend, void* recv,
                       const size_t* counts, int root);
void trpo_comm_scatterv(trpo_comm* c, const void* send, const size_t* counts, void* recv,
                        size_t nrecv, int root);
// node-shared memory (collective): every rank allocates bytes (zeroed) that the ranks of its node
// can load, store and update atomically at any time; base[r] (nrank entries) is rank r's block
// where r shares this rank's node, NULL otherwise. NULL (and no blocks) on one rank. A failure is
// fatal with a line that names purpose (what the memory is for) and avoid (the setting without it).
typedef struct trpo_shm_ trpo_shm;
trpo_shm* trpo_comm_shm_make(trpo_comm* c, size_t bytes, void** base, const char* purpose,
                             const char* avoid);
void      trpo_comm_shm_free(trpo_shm* s);   // collective

//---------------------------------- shard: environments to ranks -----------------------------------
// Pure arithmetic, testable without MPI: rank r of nrank holds envs [begin, begin+count).

void trpo_shard_range(int nenv_total, int rank, int nrank, int* begin, int* count);
// new shares (out, rank order, each 1..cap, summing to nenv_total; needs nrank <= nenv_total <=
// nrank * cap) for ranks that take cost[r] seconds per environment: the split that minimises the
// slowest rank's time, if it beats the current shares' by more than the fraction gain (returns 1);
// else out = share (returns 0)
int  trpo_shard_balance(int nenv_total, int nrank, int cap, const double* cost, const int* share,
                        double gain, int* out);

//---------------------------------- env: the environment interface ---------------------------------
// A task is data plus reset/step. Environments write into caller-owned rows: reset writes the
// observation; step writes observation and reward and returns flags. Truncation at the task's
// time limit is decided here from the step counter. On a simulator fault the episode is ended as
// truncated, the observation written is the last finite one, and TRPO_ENV_SIMFAULT is set.

#define TRPO_ENV_TERMINATED 1
#define TRPO_ENV_TRUNCATED  2
#define TRPO_ENV_SIMFAULT   4

typedef struct trpo_envinfo_ {
  char name[64];
  int nobs;            // observation size
  int nact;            // action size (continuous) or number of choices (discrete)
  int discrete;        // 1: categorical action, passed as one double holding the index
  double act_lo, act_hi;   // Box bounds of every action component (continuous)
  int max_steps;       // time limit
  int nsim;            // doubles of simulator state in trpo_envs_getstate
  int substeps;        // physics steps per env step (1 for classic control)
} trpo_envinfo;

typedef struct trpo_envs_ trpo_envs;    // the environments one rank holds

// returns 0, or TRPO_EXIT_BADINPUT with a message naming the task, file and element
int  trpo_envs_make(trpo_envs** out, const char* task, const char* model_path, uint64_t seed,
                    int env_begin, int nenv, char* err, size_t nerr);
// the same with room for up to cap environments, so that trpo_envs_hold can move them
int  trpo_envs_make_cap(trpo_envs** out, const char* task, const char* model_path, uint64_t seed,
                        int env_begin, int nenv, int cap, char* err, size_t nerr);
// hold global environments [env_begin, env_begin + nenv) (nenv <= cap) in slots 0..nenv-1; their
// states are then whatever trpo_envs_setstate gives them (load balancing moves environments). A slot
// from nenv to cap-1 holds no environment of its own: trpo_envs_setstate may load one there to be
// stepped, reset and read back (work sharing samples another rank's environment in it). Its
// faults count in trpo_envs_simfaults, which sums every slot's
void trpo_envs_hold(trpo_envs* e, int env_begin, int nenv);
void trpo_envs_free(trpo_envs* e);
const trpo_envinfo* trpo_envs_info(const trpo_envs* e);
int  trpo_envs_count(const trpo_envs* e);
void trpo_envs_reset(trpo_envs* e, int i, double* obs);
int  trpo_envs_step(trpo_envs* e, int i, double* obs, double* reward, const double* act);
int  trpo_envs_steps(const trpo_envs* e, int i);                // env steps since reset
long trpo_envs_simfaults(const trpo_envs* e);                   // faults so far (all local envs)
// in-flight state of env i for checkpoints: simulator state (nsim), its rng streams, step count
void trpo_envs_getstate(const trpo_envs* e, int i, double* sim, trpo_rng* rng_reset, int* t);
void trpo_envs_setstate(trpo_envs* e, int i, const double* sim, const trpo_rng* rng_reset, int t);
// names of known tasks, NULL-terminated
const char* const* trpo_envs_tasks(void);

//---------------------------------- linalg: the BLAS module ----------------------------------------
// The only module that includes <cblas.h>. Row-major. C = alpha * op(A) op(B) + beta * C.
// trpo_linalg_gemm_ref is the plain-loop reference path kept for tests and for 1-row products.

void trpo_linalg_gemm(int transa, int transb, int m, int n, int k, double alpha,
                      const double* a, int lda, const double* b, int ldb, double beta,
                      double* c, int ldc);
void trpo_linalg_gemm_ref(int transa, int transb, int m, int n, int k, double alpha,
                          const double* a, int lda, const double* b, int ldb, double beta,
                          double* c, int ldc);
double trpo_linalg_dot(const double* x, const double* y, int n);      // fixed loop order
void   trpo_linalg_axpy(double* y, double a, const double* x, int n);  // y += a x
void   trpo_linalg_use_ref(int on);   // 1: every gemm takes the reference path (tests)
// one BLAS thread unless OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS or OMP_NUM_THREADS says
// otherwise (ranks are the parallelism); trpo_linalg_threads: the count in effect
void   trpo_linalg_threads_default(void);
int    trpo_linalg_threads(void);

// Counting, for benchmarks: while on, every gemm call is tallied by its shape, reference-path
// calls apart, and the mlp tallies its tanh evaluations. A fixed table, no allocation, no effect
// on any result; off (the default) it costs one branch per call.
#define TRPO_LINALG_NSHAPE 512   // value-fit minibatch groups bring many row counts
typedef struct trpo_gemmshape_ {
  int ref;                    // 1: the plain-loop reference path
  int transa, transb, m, n, k;
  int beta0;                  // 1: beta == 0 (C is written, not read)
  long calls;
} trpo_gemmshape;
typedef struct trpo_linalgcount_ {
  int nshape;                 // distinct shapes in shape[]
  long lost;                  // calls of shapes that found the table full
  long ntanh;                 // tanh evaluations (trpo_mlp_tanh)
  trpo_gemmshape shape[TRPO_LINALG_NSHAPE];   // in order of first appearance
} trpo_linalgcount;
void trpo_linalg_count(int on);                    // 1: clear the tallies and count; 0: stop
void trpo_linalg_count_read(trpo_linalgcount* c);  // the tallies so far
void trpo_linalg_count_tanh(long n);               // the mlp's hook: n tanh evaluations

//---------------------------------- mlp: tanh multilayer perceptron --------------------------------
// Parameters are one flat vector theta; layer l's weight W_l (size[l] x size[l+1], row-major,
// x W) and bias b_l are views into it at woff[l], boff[l]. Hidden layers use tanh, the output
// is linear. Activations of the last forward pass are kept in the work struct for backward and
// forward-mode (tangent) passes.

#define TRPO_MAXLAYER 8
typedef struct trpo_mlp_ {
  int nlayer;                      // weight layers
  int size[TRPO_MAXLAYER + 1];     // size[0] inputs ... size[nlayer] outputs
  int woff[TRPO_MAXLAYER];         // offset of W_l in theta
  int boff[TRPO_MAXLAYER];         // offset of b_l in theta
  int nparam;
} trpo_mlp;

typedef struct trpo_mlpwork_ {
  int maxrows;
  double* h[TRPO_MAXLAYER + 1];    // h[0] = input copy, h[l] = layer l output   (maxrows x size[l])
  double* dh[TRPO_MAXLAYER + 1];   // tangents or backward deltas               (maxrows x size[l])
} trpo_mlpwork;

void trpo_mlp_init(trpo_mlp* m, int nin, const int* hidden, int nhidden, int nout);
// the parameters such a network has, counted in long (checked before init, whose offsets are int)
long trpo_mlp_count(int nin, const int* hidden, int nhidden, int nout);
// W ~ N(0, 1/fan_in) (LeCun), output layer scaled by out_scale, biases 0
void trpo_mlp_randomize(const trpo_mlp* m, double* theta, trpo_rng* rng, double out_scale);
void trpo_mlp_workmake(const trpo_mlp* m, trpo_mlpwork* w, int maxrows);
void trpo_mlp_workfree(trpo_mlpwork* w);
// y = f(x) for n rows; the output is w->h[nlayer] (n x nout); n == 1 uses the reference loops
const double* trpo_mlp_forward(const trpo_mlp* m, const double* theta, trpo_mlpwork* w,
                               const double* x, int n);
// grad += d(sum_rows dout . y)/dtheta using the activations of the last forward of these rows
void trpo_mlp_backward(const trpo_mlp* m, const double* theta, trpo_mlpwork* w, double* grad,
                       const double* dout, int n);
// tangent of the output along parameter direction v: w->dh[nlayer] (n x nout), at the last forward
const double* trpo_mlp_jvp(const trpo_mlp* m, const double* theta, trpo_mlpwork* w,
                           const double* v, int n);
// y = tanh(x) elementwise (y may equal x): the hidden layers' activation, counted when linalg counts
void trpo_mlp_tanh(double* y, const double* x, int n);

//---------------------------------- policy: Gaussian and categorical heads -------------------------
// theta = [mlp parameters | log-std (nact, Gaussian only)]. The network outputs the mean
// (Gaussian) or the logits (categorical). "dist" rows hold the distribution parameters that the
// KL and ratio need: Gaussian [mean (nact) | logstd (nact)], categorical [logits (nact)].

typedef struct trpo_policy_ {
  trpo_mlp net;
  int nobs, nact, discrete;
  int nparam;          // net.nparam + (discrete ? 0 : nact)
  int ndist;           // doubles per dist row: 2*nact (Gaussian) or nact (categorical)
} trpo_policy;

void trpo_policy_init(trpo_policy* p, int nobs, int nact, int discrete, const int* hidden,
                      int nhidden);
void trpo_policy_randomize(const trpo_policy* p, double* theta, trpo_rng* rng, double init_logstd);
// dist rows for n observations (runs the net forward; activations stay in w)
void trpo_policy_dist(const trpo_policy* p, const double* theta, trpo_mlpwork* w, double* dist,
                      const double* obs, int n);
void trpo_policy_sample(const trpo_policy* p, const double* dist, trpo_rng* rng, double* act);
double trpo_policy_mode(const trpo_policy* p, const double* dist, double* act);  // deterministic
double trpo_policy_logp(const trpo_policy* p, const double* dist, const double* act);
double trpo_policy_entropy(const trpo_policy* p, const double* dist);
double trpo_policy_kl(const trpo_policy* p, const double* dold, const double* dnew); // KL(old||new)

// surrogate over n rows at theta (forward included): returns sum_rows ratio*adv (caller divides),
// and, if kl != NULL, *kl = sum_rows KL(old||new). If grad != NULL, grad += d(sum ratio*adv)*scale.
double trpo_policy_surrogate(const trpo_policy* p, const double* theta, trpo_mlpwork* w,
                             double* grad, double scale, double* kl, const double* obs,
                             const double* act, const double* adv, const double* logp_old,
                             const double* dist_old, int n);
// Fisher-vector product at the dist of the last forward (w holds its activations):
// out += scale * J^T M J v, M the Fisher of the output distribution. No damping here.
void trpo_policy_fvp(const trpo_policy* p, const double* theta, trpo_mlpwork* w, double* out,
                     double scale, const double* dist, const double* v, int n);
// gradients for finite-difference tests: d/dtheta of sum_rows logp / entropy / KL(old||new)
void trpo_policy_grad_logp(const trpo_policy* p, const double* theta, trpo_mlpwork* w,
                           double* grad, const double* obs, const double* act, int n);
void trpo_policy_grad_entropy(const trpo_policy* p, const double* theta, trpo_mlpwork* w,
                              double* grad, const double* obs, int n);
void trpo_policy_grad_kl(const trpo_policy* p, const double* theta, trpo_mlpwork* w, double* grad,
                         const double* obs, const double* dist_old, int n);

//---------------------------------- cg: conjugate gradient -----------------------------------------
// Solves A x = b for SPD A given only products A v (Hestenes-Stiefel, x0 = 0). Stops after
// iters iterations or when r.r <= tol. Work: 3n doubles.

typedef void (*trpo_cg_matvec)(void* ctx, double* out, const double* v);
typedef struct trpo_cgresult_ { int iters; double residual; int converged; } trpo_cgresult;
trpo_cgresult trpo_cg_solve(trpo_cg_matvec f, void* ctx, double* x, const double* b, double* work,
                            int n, int iters, double tol);

//---------------------------------- gae: advantages ------------------------------------------------
// GAE(gamma, lambda) over one environment's segment of T steps (Schulman et al. 2016, eq. 16).
// value[t] = V(s_t); vend[t] = V(s_{t+1}) where it is needed: V(final observation) at a
// time-limit truncation, V(next observation) at the segment's last step, anything elsewhere.
// flags[t] are TRPO_ENV_* flags: terminated bootstraps 0, truncated bootstraps vend[t], and
// the recursion is cut at both. Writes adv and ret = adv + value (lambda-returns).

void trpo_gae_segment(double* adv, double* ret, const double* reward, const double* value,
                      const double* vend, const int* flags, int T, double gamma, double lambda);

//---------------------------------- normalizer: running observation statistics ---------------------
// Mergeable (count, mean, M2) per dimension (Chan et al.), clipping of normalised values.

typedef struct trpo_normalizer_ {
  int n;
  double count;
  double* mean;     // (n)
  double* m2;       // (n) sum of squared deviations
  double clip;
  double eps;
} trpo_normalizer;

void trpo_normalizer_make(trpo_normalizer* z, int n, double clip);
void trpo_normalizer_free(trpo_normalizer* z);
// merge a batch given as (count, mean, m2)
void trpo_normalizer_merge(trpo_normalizer* z, double count, const double* mean, const double* m2);
// y = clip((x - mean) / sqrt(var + eps)) for rows of n; y may equal x
void trpo_normalizer_apply(const trpo_normalizer* z, double* y, const double* x, int rows);

//---------------------------------- adam ------------------------------------------------------------

typedef struct trpo_adam_ {
  int n;
  double lr, beta1, beta2, eps;
  long t;
  double* m;   // first moment  (n)
  double* v;   // second moment (n)
} trpo_adam;

void trpo_adam_make(trpo_adam* a, int n, double lr);
void trpo_adam_free(trpo_adam* a);
void trpo_adam_step(trpo_adam* a, double* theta, const double* grad);

//---------------------------------- config ---------------------------------------------------------
// One X-macro list of keys drives the struct, parsing, range checks, the resolved config file and
// --help. Files are INI-style "key = value" lines (libinih); command-line "key=value" overrides.

#define TRPO_STRLEN 512

// X(type, name, default, min, max, help); type is INT, LONG, DOUBLE or STR
#define TRPO_CONFIG_FIELDS(X)                                                                     \
  X(STR, env, "Pendulum-v1", 0, 0, "task name (see `trpo tasks`)")                               \
  X(STR, model, "", 0, 0, "MJCF file for MuJoCo tasks (empty: the task's default model)")       \
  X(LONG, seed, 1, 0, 4294967295.0, "master seed of every random stream")                        \
  X(LONG, total_steps, 200000, 1, 1e15, "env steps to train for (all environments)")             \
  X(STR, run_dir, "runs/default", 0, 0, "output directory (config, progress.csv, checkpoints)")  \
  X(INT, nenv, 2, 1, 1000000, "environments in total, over all ranks")                           \
  X(INT, nsteps, 1024, 1, 10000000, "env steps per environment per iteration (segment length)")  \
  X(STR, hidden, "64,64", 0, 0, "policy hidden layer sizes, comma separated")                   \
  X(STR, vf_hidden, "64,64", 0, 0, "value-function hidden layer sizes")                         \
  X(DOUBLE, init_logstd, 0.0, -10, 10, "initial log standard deviation (Gaussian policy)")       \
  X(DOUBLE, max_kl, 0.01, 1e-8, 10, "trust region radius: mean KL(old||new) bound")              \
  X(DOUBLE, damping, 0.1, 0, 1e6, "Fisher damping added to every Fisher-vector product")         \
  X(INT, cg_iters, 10, 1, 1000, "conjugate-gradient iterations")                                 \
  X(DOUBLE, cg_tol, 1e-10, 0, 1e6, "conjugate-gradient residual tolerance (r.r)")                \
  X(DOUBLE, fvp_fraction, 1.0, 1e-6, 1, "fraction of each segment used for Fisher products")     \
  X(INT, ls_steps, 10, 1, 100, "line-search backtracking steps")                                 \
  X(DOUBLE, ls_shrink, 0.5, 0.01, 0.99, "line-search shrink factor")                             \
  X(DOUBLE, gamma, 0.99, 0, 1, "discount")                                                       \
  X(DOUBLE, lam, 0.95, 0, 1, "GAE lambda")                                                       \
  X(INT, vf_epochs, 5, 0, 10000, "value-function epochs per iteration")                          \
  X(INT, vf_minibatch, 64, 1, 100000000, "value minibatch rows, an equal share from each env")   \
  X(DOUBLE, vf_lr, 1e-3, 1e-9, 10, "value-function Adam learning rate")                          \
  X(INT, vf_norm, 0, 0, 1, "value net fits returns scaled by their running mean/std (PopArt)")   \
  X(INT, obs_norm, 1, 0, 1, "normalise observations with running statistics (0: raw, unclipped)")\
  X(DOUBLE, obs_clip, 10.0, 0, 1e9, "clip normalised observations to +-obs_clip (0: no clipping)")\
  X(INT, norm_adv, 1, 0, 1, "normalise advantages to zero mean, unit std")                       \
  X(INT, clip_actions, 1, 0, 1, "clip sampled actions to the Box bounds before env step")        \
  X(INT, max_skips, 5, 1, 1000000, "consecutive skipped (non-finite) updates before stopping")   \
  X(INT, checkpoint_every, 1, 0, 1000000, "checkpoint every N iterations (0: off)")              \
  X(DOUBLE, checkpoint_minutes, 0, 0, 1e9, "also checkpoint every M minutes (0: off)")           \
  X(INT, keep_checkpoints, 3, 1, 1000, "checkpoints kept in run_dir")                            \
  X(INT, comm_timing, 1, 0, 1, "separate waiting from communication (one barrier/collective)")   \
  X(INT, comm_nap, 1, 0, 1, "a wait over 1 ms at a collective sleeps between polls (0: spin)")  \
  X(INT, rebalance, 1, 0, 1, "move envs from slow to fast ranks (same results; needs comm_timing)")\
  X(INT, rebalance_window, 1, 1, 16, "iterations behind a balancing decision (median of their times)")\
  X(INT, steal, 1, 0, 1, "ranks of a node share the sampling, env by env in chunks (same bits)")   \
  X(INT, steal_steps, 16, 1, 1000000000, "steps of a chunk of an env's segment (steal)")           \
  X(INT, share_work, 1, 0, 1, "ranks of a node share the work after sampling, env by env (same bits)")\
  X(INT, comm_node_sum, 1, 0, 1, "exact sums add in node shared memory first (0: one MPI_Allreduce)")\
  X(INT, vf_ride, 1, 0, 1, "value-fit steps share the policy update's collectives (same bits)") \
  X(INT, rank_times, 0, 0, 1, "also write ranks.csv: every rank's phase times, each iteration")  \
  X(INT, quiet, 0, 0, 1, "no per-iteration line on stdout")

typedef struct trpo_config_ {
#define TRPO_CONFIG_MEMBER_INT(name) int name;
#define TRPO_CONFIG_MEMBER_LONG(name) long name;
#define TRPO_CONFIG_MEMBER_DOUBLE(name) double name;
#define TRPO_CONFIG_MEMBER_STR(name) char name[TRPO_STRLEN];
#define TRPO_CONFIG_MEMBER(type, name, def, lo, hi, help) TRPO_CONFIG_MEMBER_##type(name)
  TRPO_CONFIG_FIELDS(TRPO_CONFIG_MEMBER)
#undef TRPO_CONFIG_MEMBER
  int nhidden, hidden_sizes[TRPO_MAXLAYER];        // parsed from hidden
  int nvf_hidden, vf_hidden_sizes[TRPO_MAXLAYER];  // parsed from vf_hidden
} trpo_config;

void trpo_config_default(trpo_config* c);
// parse a file (path may be NULL) then overrides "key=value"; 0 or TRPO_EXIT_BADINPUT + message
int  trpo_config_load(trpo_config* c, const char* path, int noverride, char** overrides, char* err,
                      size_t nerr);
// parse INI text held in memory (a checkpoint's config), named `name` in messages; a failed
// parse leaves *c untouched; 0 or TRPO_EXIT_BADINPUT + message
int  trpo_config_parse(trpo_config* c, const char* text, const char* name, char* err, size_t nerr);
int  trpo_config_set(trpo_config* c, const char* key, const char* value, const char* where,
                     char* err, size_t nerr);
// the resolved config as INI text into buf (returns length, truncated at nbuf)
size_t trpo_config_write(const trpo_config* c, char* buf, size_t nbuf);
void trpo_config_help(void* file);   // FILE*, kept as void* so stdio stays out of this header

//---------------------------------- stats: one field list for the log ------------------------------
// All doubles. The X-macro drives the struct, progress.csv's header and rows and the console line.

#define TRPO_STATS_FIELDS(X) \
  X(iteration) X(env_steps) X(wall_s) X(episodes) X(return_mean) X(return_std) X(len_mean)      \
  X(kl) X(entropy) X(surr_improve) X(ls_steps) X(cg_iters) X(cg_residual) X(vf_loss)           \
  X(vf_explained_var) X(skipped_updates) X(steps_per_s) X(ls_rejected) X(sim_faults)           \
  X(env_moves) X(steps_taken) X(t_sample) X(t_grad) X(t_cg) X(t_ls) X(t_vf) X(t_wait) X(t_wait_min) X(t_comm)  \
  X(t_iter)

typedef struct trpo_stats_ {
#define TRPO_STATS_MEMBER(name) double name;
  TRPO_STATS_FIELDS(TRPO_STATS_MEMBER)
#undef TRPO_STATS_MEMBER
} trpo_stats;

void   trpo_stats_header(char* buf, size_t nbuf);                   // CSV header line
void   trpo_stats_row(const trpo_stats* s, char* buf, size_t nbuf); // CSV row, %.17g
int    trpo_stats_parse(trpo_stats* s, const char* line);           // CSV row back (0 ok)

//---------------------------------- checkpoint: the HDF5 module -----------------------------------
// The only module that includes <hdf5.h>. A checkpoint is a list of named arrays ("items") written
// as one self-describing HDF5 file: groups from the '/'-separated paths, a "description" attribute
// on every dataset, Fletcher32 on every (chunked) dataset and checksums on all metadata, chunk
// indexes included (libver bounds V110..LATEST). Files are DIR/ckpt-NNNNNNNNN.h5 (iteration, 9
// digits), published safely (write .tmp, fsync, rename, fsync DIR); the newest `keep` are kept.

#define TRPO_CKPT_FORMAT 1
typedef enum trpo_ckpttype_ { TRPO_CKPT_F64 = 0, TRPO_CKPT_I64 = 1, TRPO_CKPT_U64 = 2 } trpo_ckpttype;

typedef struct trpo_ckptitem_ {
  const char* path;          // "policy/theta"; groups are created as needed
  const char* description;   // stored as the dataset's "description" attribute
  int type;                  // trpo_ckpttype
  int ndim;                  // 1 or 2
  size_t dims[2];            // shape; a read must find exactly this shape
  void* data;                // write: source; read: destination of the right size
} trpo_ckptitem;
size_t trpo_ckpt_item_bytes(const trpo_ckptitem* it);   // dims[0] (x dims[1]) x 8

typedef struct trpo_ckptattr_ { const char* key; const char* value; } trpo_ckptattr;  // file attributes

// write items (and string attributes, plus format_version and the text blob "config") as the
// checkpoint of `iteration`; 0, or TRPO_EXIT_IOERROR with a message naming the path and the system
// error (the previous checkpoints are untouched)
int trpo_checkpoint_write(const char* dir, long iteration, const trpo_ckptitem* items, int nitems,
                          const trpo_ckptattr* attrs, int nattrs, const char* config_text,
                          int keep, char* err, size_t nerr);
// The same in two steps, so that the slow part (the disk) can run in another thread: the file
// built in memory from items (HDF5, CPU only), then written and published (no HDF5). A rank's
// thread that writes need not touch the items, and HDF5 stays on the thread that builds.
typedef struct trpo_ckptimage_ {
  void* data;                // the whole file (malloc'd)
  size_t size;
  long iteration;            // whose checkpoint it is (the file name)
} trpo_ckptimage;
int  trpo_checkpoint_image(const char* dir, long iteration, const trpo_ckptitem* items, int nitems,
                           const trpo_ckptattr* attrs, int nattrs, const char* config_text,
                           trpo_ckptimage* out, char* err, size_t nerr);
// write, fsync, rename to ckpt-ITERATION.h5, fsync the directory, prune to keep; 0 or
// TRPO_EXIT_IOERROR as trpo_checkpoint_write (err may hold a note about pruning on success)
int  trpo_checkpoint_put(const char* dir, const trpo_ckptimage* im, int keep, char* err, size_t nerr);
void trpo_checkpoint_image_free(trpo_ckptimage* im);
// load the newest usable checkpoint of dir into items, trying older ones when one fails to open,
// fails a checksum, has another format version or another shape; each rejected file is reported
// as one line through report(ctx, line). Returns 0 (with *iteration and the path used),
// 1 when dir has no checkpoint file at all, or TRPO_EXIT_BADINPUT when files exist but none is
// usable (message in err). config_text (may be NULL) receives the stored config, nconfig bytes max.
int trpo_checkpoint_read(const char* dir, trpo_ckptitem* items, int nitems, long* iteration,
                         char* path, size_t npath, char* config_text, size_t nconfig,
                         void (*report)(void* ctx, const char* line), void* ctx, char* err,
                         size_t nerr);
// the same, with check(ctx, number, why, nwhy) judging each file that reads well by its contents
// (called with the items filled): 0 usable, else unusable for the reason written to why
int trpo_checkpoint_read_checked(const char* dir, trpo_ckptitem* items, int nitems,
                                 long* iteration, char* path, size_t npath, char* config_text,
                                 size_t nconfig,
                                 int (*check)(void* ctx, long iteration, char* why, size_t nwhy),
                                 void (*report)(void* ctx, const char* line), void* ctx, char* err,
                                 size_t nerr);
// after a resume from checkpoint `after`: every checkpoint file of dir newer than it (each one
// the reader found unusable) renamed to ckpt-N.h5.bad, so that it is kept for inspection but
// never read, never counted by keep_checkpoints and never displaces a good one; each move (or a
// failure, which stops the moves and only costs space) reported as one line. Returns the moves.
int trpo_checkpoint_set_aside(const char* dir, long after,
                              void (*report)(void* ctx, const char* line), void* ctx);
// 1 if a file name is one that this module writes: ckpt-N.h5, ckpt-N.h5.tmp or ckpt-N.h5.bad, N
// the 9-digit iteration (what --restart removes; other files in the directory are the user's)
int trpo_checkpoint_file(const char* name);
// tests: pause ms milliseconds halfway through every later checkpoint file write (0: no pause), so
// that a kill lands inside the write however fast the disk is (trpo reads TRPO_TEST_CKPT_STALL_MS)
void trpo_checkpoint_set_stall(double ms);
// tests: the largest chunk of a dataset in bytes, 8 up to the default of 1 MiB (0: the default),
// so that a small file has datasets of several chunks
void trpo_checkpoint_set_chunk(size_t bytes);
// the library versions string for file attributes: "hdf5 1.10.8"
const char* trpo_checkpoint_libversion(void);

//---------------------------------- rundir: run directory, lock, signals ---------------------------
// Plain POSIX, no third-party library.

// create dir (and parents); 0, TRPO_EXIT_BADINPUT (empty or too long, a file in the way, no
// permission, a read-only file system) or TRPO_EXIT_IOERROR (no space, an I/O error) + message
int  trpo_rundir_make(const char* dir, char* err, size_t nerr);
// take DIR/lock (O_EXCL, holding "host pid", and under Slurm the job id and restart count); a
// lock whose holder is gone (a process of this host that is not running or has our own pid, or an
// earlier run of this Slurm job) is taken over (*stale = 1). 0, TRPO_EXIT_BADINPUT + message
// naming the holder, or TRPO_EXIT_IOERROR when the lock cannot be written for lack of space.
int  trpo_rundir_lock(const char* dir, int* stale, char* err, size_t nerr);
void trpo_rundir_unlock(const char* dir);
// keep the header and the rows of iteration <= last of a CSV file whose first column is
// `iteration`; rewrite it safely. With header (the current column names, comma separated) a file
// with other columns (an older build's) is rewritten in those columns, matched by name, "nan"
// where it had none, and *converted (if given) is set. Rows that are not complete (no newline,
// another number of fields, a NUL byte) are dropped. 0; TRPO_EXIT_BADINPUT + message, the file
// untouched, when its first line is not a header (`iteration` first, no NUL byte); or
// TRPO_EXIT_IOERROR + message.
int  trpo_rundir_truncate_csv(const char* path, long last, const char* header, int* converted,
                              char* err, size_t nerr);
// write a whole small file safely (tmp, fsync, rename, fsync dir). 0 or TRPO_EXIT_IOERROR.
int  trpo_rundir_write_file(const char* path, const char* text, size_t n, char* err, size_t nerr);
// read a whole small file into buf (NUL-terminated); returns bytes or -1 if missing/unreadable
long trpo_rundir_read_file(const char* path, char* buf, size_t nbuf);

// SIGUSR1, SIGTERM, SIGINT set a flag (TRPO_SIG_*); a second SIGTERM/SIGINT while one is pending
// calls _exit(TRPO_EXIT_CHECKPOINTED) at once, touching no file.
#define TRPO_SIG_USR1 1
#define TRPO_SIG_TERM 2
void trpo_signal_install(void);
int  trpo_signal_pending(void);      // the flags received so far (async-signal-safe read)
void trpo_signal_clear(void);

//---------------------------------- train: one TRPO iteration over the environments of all ranks --
// The trainer of one rank: its environments, its rows of the batch, the policy and value networks
// (identical on every rank) and the scratch of an iteration, all sized once in make. An iteration
// samples nsteps steps of every local environment, then runs the update: GAE, the policy gradient
// and every Fisher-vector product summed exactly over all environments of all ranks, conjugate
// gradient, the KL-constrained backtracking line search, and the value fit.

typedef struct trpo_train_ trpo_train;

#define TRPO_STOP_SKIPS 1      // iterate: too many consecutive skipped updates

// collective: a failure on any rank fails it on every rank (one reduction before the first other
// collective), with this rank's message in err, empty where only another rank failed
int  trpo_train_make(trpo_train** out, const trpo_config* cfg, trpo_comm* comm, char* err,
                     size_t nerr);
void trpo_train_free(trpo_train* t);
// one iteration; fills st; returns 0 or TRPO_STOP_*
int  trpo_train_iterate(trpo_train* t, trpo_stats* st);
const double* trpo_train_policy(const trpo_train* t, int* nparam);   // policy theta
const double* trpo_train_value(const trpo_train* t, int* nparam);    // value theta
// V(s) of one raw observation, in the returns' units (observation normalised, vf_norm undone)
double trpo_train_value_of(trpo_train* t, const double* raw_obs);
long trpo_train_iteration(const trpo_train* t);                      // iterations done
long trpo_train_env_steps(const trpo_train* t);                      // env steps done (all ranks)
// checkpoint items of the whole run (per-environment rows for all nenv_total environments live
// on rank 0 after gather); the pointers stay valid for the trainer's lifetime
int  trpo_train_items(trpo_train* t, trpo_ckptitem** items);
// FNV-1a 64 of the bytes of the policy and value parameters (bitwise-identity checks)
void trpo_train_checksum(const trpo_train* t, uint64_t* policy, uint64_t* value);
// tests only: inject faults. TRPO_TEST_REJECT: the line search rejects every candidate (restores
// theta_old); TRPO_TEST_NANGRAD: the policy gradient is made non-finite (the update is skipped);
// TRPO_TEST_NANADV: one advantage of this rank is made NaN (the update is skipped);
// TRPO_TEST_NANOBS: one stored raw observation is made NaN after sampling (the normaliser skips
// this batch, the update goes on)
#define TRPO_TEST_REJECT 1
#define TRPO_TEST_NANGRAD 2
#define TRPO_TEST_NANADV 4
#define TRPO_TEST_NANOBS 8
void trpo_train_test_fault(trpo_train* t, int faults);
// evaluate the current policy on `episodes` fresh episodes of separate environments (global
// indices nenv_total.., so their streams differ from training's), observation statistics frozen;
// deterministic: the mode action (mean / argmax), else sampled. Raw return mean and std.
// Local to the calling rank; 0 or TRPO_EXIT_BADINPUT + message.
int  trpo_train_evaluate(trpo_train* t, int episodes, int deterministic, double* mean, double* std,
                         double* len, char* err, size_t nerr);
// tests only: the last iteration's policy gradient g, CG direction s ~ F^-1 g and Fisher product
// (F + damping I) s, nparam doubles each, valid until the next iterate
void trpo_train_vectors(const trpo_train* t, const double** g, const double** s, const double** fs);
// tests only: the last iteration's rows of this rank's local environment i (its nsteps rows, as
// sampled): raw observations (T x nobs), rewards, TRPO_ENV_* flags, the raw final observation of
// each truncated row (T x nobs; other rows unspecified), the observation after the segment (nobs),
// and the lambda-returns the value network is fitted to (in the returns' units); the environment's
// Fisher window (fvp_fraction): its fisher_rows rows from row fisher_start, which the iteration's
// Fisher-vector products used; valid until the next iterate
typedef struct trpo_train_rows_ {
  int T, nobs, fisher_start, fisher_rows;
  const double *obs, *rew, *final_obs, *boot_obs, *ret;
  const int* flags;
} trpo_train_rows;
void trpo_train_rows_of(const trpo_train* t, int i, trpo_train_rows* rows);
// tests only: the policy's definition (network shapes, distribution), for trpo_policy_* calls on
// trpo_train_policy's parameters
const trpo_policy* trpo_train_policy_def(const trpo_train* t);
// rank 0, a checkpoint read into the item buffers: whether what they hold can be the state of this
// run's config after `iteration` iterations (the file's number; counters consistent with it and
// the config, episode clocks within the time limit, finite parameters): 0, or 1 with the reason
int  trpo_train_items_check(const trpo_train* t, long iteration, char* why, size_t nwhy);
void trpo_train_gather(trpo_train* t);   // collective: local env state -> rank 0's item buffers
void trpo_train_scatter(trpo_train* t);  // collective: rank 0's item buffers -> every rank
// load balancing, collective. trpo_train_rebalance: between iterations, move environments from
// slower to faster ranks when that shortens the predicted iteration by > 10% (cfg rebalance);
// returns the number moved. trpo_train_set_shares: hold share[r] environments on rank r
// (contiguous, rank order; each 1..cap, summing to nenv_total), moving their state; returns the
// number that changed rank. trpo_train_shares: the current shares; returns cap. Parameters and
// every statistic are bitwise the same whatever the shares.
int trpo_train_rebalance(trpo_train* t);
int trpo_train_set_shares(trpo_train* t, const int* share);
int trpo_train_shares(const trpo_train* t, int* share);
// every rank's times of the last iteration (seconds), gathered to every rank by iterate at no
// extra collective: nrank rows of TRPO_RANK_NTIME in the order of TRPO_RANK_COLUMNS. t_* as in
// progress.csv but of that rank alone; t_busy = t_iter - t_wait - t_comm (its own work);
// w_<phase> = the part of t_wait spent at that phase's collectives (the waiting for the samples of
// slower ranks lands in w_grad: the first collective after sampling is there); preempt = the
// rank's involuntary context switches during the iteration (another runnable thread took its core);
// cpu = the CPU it ran on at the iteration's end; cpu_time = the CPU seconds its thread ran in
// the iteration (below t_busy + t_comm: the rank was kept from its core; about t_iter: it spun
// while waiting); taken, given = environments this rank sampled for others of its node and its own
// that others sampled; worked = environment pieces of other ranks it worked on after sampling
// (every phase's). ranks.csv (rank_times = 1) holds these rows.
#define TRPO_RANK_COLUMNS \
  "t_sample,t_grad,t_cg,t_ls,t_vf,t_wait,t_comm,t_iter,t_busy,w_sample,w_grad,w_cg,w_ls,w_vf," \
  "preempt,cpu,cpu_time,taken,given,worked"
#define TRPO_RANK_NTIME 20
const double* trpo_train_rank_times(const trpo_train* t);

//---------------------------------- run: a whole training run in a run directory --------------------
// Config, lock, resume, progress.csv, checkpoints, signals; returns a TRPO_EXIT_* code.

int trpo_run_train(const trpo_config* cfg, const char* config_text, int restart, trpo_comm* comm);
// collective: rc of every rank reduced (the largest); an error message (err, empty on a rank that
// only learned of another's failure) is said once, by rank 0 when it has one, else by each rank
// that has one (tagged with its rank); returns the reduced code
int trpo_run_agree(trpo_comm* comm, int rc, const char* err);
// load run_dir's config and newest good checkpoint, evaluate on rank 0, print the result
int trpo_run_eval(const char* run_dir, int episodes, int deterministic, trpo_comm* comm);

//---------------------------------- timer ----------------------------------------------------------

double trpo_time_now(void);   // monotonic seconds
// busy-wait (a signal does not cut it short); benchmark and test slowdowns only
void trpo_time_spin(double seconds);
void trpo_time_nap(long ns);   // sleep about ns nanoseconds (1 us timer slack); signals end it
// involuntary context switches of this process so far: each is a time the scheduler took the
// core away from it for another runnable thread (a co-runner on a shared core); 0 if unknown
long trpo_time_preemptions(void);
int trpo_time_cpu(void);      // the CPU this thread runs on now, -1 if unknown
// CPU seconds this thread has run so far (time it was runnable but not running, preempted,
// throttled by a cgroup quota or taken by a hypervisor, does not count); 0 if unknown
double trpo_time_thread_cpu(void);
// the CPU quota of this process's cgroup in CPUs (the least of its own and its ancestors'), 0 if
// none or unknown; _at reads a cgroup file system mounted at ROOT (v1 hierarchies in ROOT/cpu or
// ROOT/cpu,cpuacct, v2 at ROOT) for the process whose /proc/PID/cgroup is PROC_CGROUP (tests)
double trpo_time_cpu_quota(void);
double trpo_time_cpu_quota_at(const char* root, const char* proc_cgroup);

#ifdef __cplusplus
}
#endif
#endif  // TRPO_TRPO_H
