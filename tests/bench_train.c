// bench_train.c: whole-loop speed of training against its arithmetic ceiling (issue 2).
//
// Builds the trainer of a config on one MPI rank (a singleton), runs warm-up iterations, then
// REPS repeats of ITERS timed iterations with linalg counting on. Each repeat reports env steps
// per second of the whole loop, the phase split of trpo_stats (sampling, policy gradient, CG with
// its Fisher products, line search, value fit), and its ceiling: the time the same iterations
// would take if they did nothing but their counted arithmetic and their environment steps,
//   ceiling = sum over gemm shapes (calls x time per call) + tanh calls x time per tanh
//             + env steps x time per env step,
// with every rate measured in the same repeat, right after the loop: each counted gemm shape
// (with its transposes, its beta and its path, BLAS or the one-row reference loops) repeated on
// hot operands, trpo_mlp_tanh over a block of pre-activation-like values, and the task's own
// environment stepped with random in-bound actions. Achieved / ceiling = ceiling time / loop time
// (1 would be a loop with no overhead at all). Figures are medians over the repeats.
//
// Times are the CPU time of this thread (a preempted run does not count the time it waited);
// wall-clock steps/s is printed beside. The policy's exp calls are not counted (profiles put them
// near 0.1% of the loop's time): leaving them out only lowers the ceiling. The parameter checksums
// printed at the end equal those of `trpo train` after as many iterations: counting changes no bit.
// A program, not a test: no pass/fail. One BLAS thread (re-executes itself with
// OPENBLAS_NUM_THREADS=1 when that is unset), as one MPI rank per core would run.
//
// usage: bench_train [--warmup W] [--iters K] [--reps R] [--quick] [CONFIG] [key=value ...]

#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trpo/trpo.h"
#include "benchutil.h"

#define MAXREP 64
#define MAXDIM 4096        // largest gemm dimension the shape timer supports
#define TANH_BLOCK 4096    // elements per timed tanh call (a 64-row block of a 64-wide layer)
#define MIN_TIME 1e-3      // CPU seconds each rate is timed over, at least
#define MAXROWS 24         // shapes listed one per line

//---------------------------------- rates of the primitives ----------------------------------------

typedef struct bufs_ {
  double *a, *b, *c;   // gemm operands (MAXDIM x 64 at most on each side, see shape_fits)
  double* x;           // tanh inputs  (TANH_BLOCK)
  double* y;           // tanh outputs (TANH_BLOCK)
} bufs;

static size_t gemm_elems(const trpo_gemmshape* s, int which) {
  // elements of op(A) (m x k), op(B) (k x n) and C (m x n)
  if (which == 0) return (size_t)s->m * s->k;
  if (which == 1) return (size_t)s->k * s->n;
  return (size_t)s->m * s->n;
}

// CPU seconds per call of one gemm shape, repeated on the same (hot) operands
static double time_gemm(const trpo_gemmshape* s, bufs* B) {
  int lda = s->transa ? s->m : s->k, ldb = s->transb ? s->k : s->n, ldc = s->n;
  // beta exactly 0 or 1 as the callers pass it (OpenBLAS scales C first for any other beta);
  // a small alpha keeps C bounded however often it is accumulated into
  double beta = s->beta0 ? 0.0 : 1.0, alpha = 1.0 / (1.0 + s->k);
  long reps = 1;
  for (;;) {
    double t0 = bench_cpu_now();
    for (long r = 0; r < reps; r++) {
      if (s->ref)
        trpo_linalg_gemm_ref(s->transa, s->transb, s->m, s->n, s->k, alpha, B->a, lda, B->b, ldb,
                             beta, B->c, ldc);
      else
        trpo_linalg_gemm(s->transa, s->transb, s->m, s->n, s->k, alpha, B->a, lda, B->b, ldb,
                         beta, B->c, ldc);
    }
    double dt = bench_cpu_now() - t0;
    if (dt >= MIN_TIME) return dt / (double)reps;
    reps *= dt > 0 ? (long)fmin(100.0, fmax(2.0, 1.5 * MIN_TIME / dt)) : 100;
  }
}

// CPU seconds per element of trpo_mlp_tanh over blocks of TANH_BLOCK
static double time_tanh(bufs* B) {
  long reps = 1;
  for (;;) {
    double t0 = bench_cpu_now();
    for (long r = 0; r < reps; r++) trpo_mlp_tanh(B->y, B->x, TANH_BLOCK);
    double dt = bench_cpu_now() - t0;
    if (dt >= MIN_TIME) return dt / (double)reps / TANH_BLOCK;
    reps *= dt > 0 ? (long)fmin(100.0, fmax(2.0, 1.5 * MIN_TIME / dt)) : 100;
  }
}

// CPU seconds per env step (resets included as training does them), random in-bound actions
static double time_env(trpo_envs* e, trpo_rng* r) {
  const trpo_envinfo* in = trpo_envs_info(e);
  double obs[in->nobs > 0 ? in->nobs : 1], act[in->nact > 0 ? in->nact : 1], rew;
  long steps = 0;
  double t0 = bench_cpu_now(), dt = 0;
  while (dt < 4 * MIN_TIME) {
    for (int s = 0; s < 64; s++, steps++) {
      if (in->discrete)
        act[0] = (double)trpo_rng_below(r, (uint64_t)in->nact);
      else
        for (int a = 0; a < in->nact; a++) act[a] = trpo_rng_range(r, in->act_lo, in->act_hi);
      int f = trpo_envs_step(e, 0, obs, &rew, act);
      if (f & (TRPO_ENV_TERMINATED | TRPO_ENV_TRUNCATED)) trpo_envs_reset(e, 0, obs);
    }
    dt = bench_cpu_now() - t0;
  }
  return dt / (double)steps;
}

//---------------------------------- one repeat -----------------------------------------------------

typedef struct rep_ {
  double cpu, wall;        // seconds of the timed iterations
  double steps;            // env steps of the timed iterations (all ranks: this one)
  double ph[5];            // sampling, gradient, CG, line search, value fit (wall, summed)
  double t_iter;           // sum of trpo_stats t_iter
  double ceil_gemm, ceil_ref, ceil_tanh, ceil_env;   // ceiling parts (CPU seconds)
  double flops;            // gemm FLOPs of the timed iterations
  double cg_iters, ls_steps;
} rep;

static const char* const phase_name[5] = {"sampling", "policy gradient", "CG / FVP",
                                          "line search", "value fit"};

static void run_rep(trpo_train* tr, trpo_envs* env, trpo_rng* rng, bufs* B, int iters, rep* R,
                    trpo_linalgcount* cnt, double* tcall, double* ttanh, double* tenv) {
  memset(R, 0, sizeof *R);
  // the timed iterations, counting on
  trpo_linalg_count(1);
  double w0 = trpo_time_now(), c0 = bench_cpu_now();
  for (int it = 0; it < iters; it++) {
    trpo_stats st;
    int rc = trpo_train_iterate(tr, &st);
    if (rc) fprintf(stderr, "bench_train: iterate returned %d (training stopped)\n", rc);
    double ph[5] = {st.t_sample, st.t_grad, st.t_cg, st.t_ls, st.t_vf};
    for (int k = 0; k < 5; k++) R->ph[k] += ph[k];
    R->t_iter += st.t_iter;
    R->cg_iters += st.cg_iters;
    R->ls_steps += st.ls_steps;
  }
  R->cpu = bench_cpu_now() - c0;
  R->wall = trpo_time_now() - w0;
  trpo_linalg_count(0);
  trpo_linalg_count_read(cnt);
  if (cnt->lost) fprintf(stderr, "bench_train: %ld gemm calls of shapes beyond the table\n", cnt->lost);
  R->steps = (double)iters * (double)(trpo_train_env_steps(tr) / trpo_train_iteration(tr));

  // rates of this repeat's shapes, tanh and the env, then the ceiling
  for (int s = 0; s < cnt->nshape; s++) {
    const trpo_gemmshape* g = &cnt->shape[s];
    tcall[s] = time_gemm(g, B);
    double t = (double)g->calls * tcall[s];
    R->flops += 2.0 * g->m * g->n * g->k * (double)g->calls;
    if (g->ref)
      R->ceil_ref += t;
    else
      R->ceil_gemm += t;
  }
  *ttanh = time_tanh(B);
  R->ceil_tanh = (double)cnt->ntanh * *ttanh;
  *tenv = time_env(env, rng);
  R->ceil_env = R->steps * *tenv;
}

//---------------------------------- main -----------------------------------------------------------

static int shape_fits(const trpo_gemmshape* s) {
  return s->m <= MAXDIM && s->n <= MAXDIM && s->k <= MAXDIM && gemm_elems(s, 0) <= (size_t)MAXDIM * 64 &&
         gemm_elems(s, 1) <= (size_t)MAXDIM * 64 && gemm_elems(s, 2) <= (size_t)MAXDIM * 64;
}

int main(int argc, char** argv) {
  // one BLAS thread, fixed before OpenBLAS starts (it reads the variable when it loads)
  if (!getenv("OPENBLAS_NUM_THREADS")) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    perror("re-executing with OPENBLAS_NUM_THREADS=1");
    return 1;
  }
  // options, then the config file and key=value overrides
  int warmup = 2, iters = 5, reps = 5, a = 1;
  for (; a < argc; a++) {
    if (strcmp(argv[a], "--warmup") == 0 && a + 1 < argc)
      warmup = atoi(argv[++a]);
    else if (strcmp(argv[a], "--iters") == 0 && a + 1 < argc)
      iters = atoi(argv[++a]);
    else if (strcmp(argv[a], "--reps") == 0 && a + 1 < argc)
      reps = atoi(argv[++a]);
    else if (strcmp(argv[a], "--quick") == 0)
      warmup = 1, iters = 1, reps = 1;
    else
      break;
  }
  if (iters < 1 || reps < 1 || reps > MAXREP || warmup < 0) {
    fprintf(stderr, "bench_train: need --iters >= 1, 1 <= --reps <= %d, --warmup >= 0\n", MAXREP);
    return 2;
  }
  const char* path = NULL;
  if (a < argc && !strchr(argv[a], '=')) path = argv[a++];
  trpo_comm comm;
  trpo_comm_init(&comm, &argc, &argv);
  if (comm.nrank != 1) {
    fprintf(stderr, "bench_train: run it as one process (no mpirun)\n");
    trpo_comm_finalize(&comm);
    return 2;
  }
  trpo_config cfg;
  char err[1024];
  trpo_config_default(&cfg);
  int rc = trpo_config_load(&cfg, path, argc - a, argv + a, err, sizeof err);
  trpo_train* tr = NULL;
  if (!rc) {
    comm.timing = cfg.comm_timing;
    rc = trpo_train_make(&tr, &cfg, &comm, err, sizeof err);
  }
  trpo_envs* env = NULL;
  if (!rc) rc = trpo_envs_make(&env, cfg.env, cfg.model, (uint64_t)cfg.seed + 1, 0, 1, err, sizeof err);
  if (rc) {
    fprintf(stderr, "bench_train: %s\n", err);
    trpo_train_free(tr);
    trpo_comm_finalize(&comm);
    return 2;
  }
  int np = 0, nv = 0;
  trpo_train_policy(tr, &np);
  trpo_train_value(tr, &nv);
  printf("bench_train: %s (%s), %d env x %d steps, policy %s (%d params), value %s (%d params)\n",
         cfg.env, path ? path : "defaults", cfg.nenv, cfg.nsteps, cfg.hidden, np, cfg.vf_hidden, nv);
  printf("  cg_iters %d, damping %g, vf_epochs %d x minibatch %d, gamma %g, lam %g; "
         "OPENBLAS_NUM_THREADS=%s\n",
         cfg.cg_iters, cfg.damping, cfg.vf_epochs, cfg.vf_minibatch, cfg.gamma, cfg.lam,
         getenv("OPENBLAS_NUM_THREADS"));
  printf("  %d warm-up iterations, then %d repeats of %d timed iterations (CPU time of this thread)\n",
         warmup, reps, iters);

  // operands of the rate measurements, filled once with bounded values
  bufs B;
  B.a = trpo_alloc(sizeof(double) * MAXDIM * 64);
  B.b = trpo_alloc(sizeof(double) * MAXDIM * 64);
  B.c = trpo_alloc(sizeof(double) * MAXDIM * 64);
  B.x = trpo_alloc(sizeof(double) * TANH_BLOCK);
  B.y = trpo_alloc(sizeof(double) * TANH_BLOCK);
  trpo_rng rng;
  trpo_rng_seed(&rng, 12345, TRPO_RNG_GLOBAL, 99);
  for (int i = 0; i < MAXDIM * 64; i++) {
    B.a[i] = trpo_rng_range(&rng, -1, 1);
    B.b[i] = trpo_rng_range(&rng, -1, 1);
    B.c[i] = trpo_rng_range(&rng, -1, 1);
  }
  // pre-activations of a LeCun-initialised tanh layer are roughly N(0, 1); a few reach the tails
  for (int i = 0; i < TANH_BLOCK; i++) B.x[i] = 1.5 * trpo_rng_normal(&rng);

  // warm-up
  for (int it = 0; it < warmup; it++) {
    trpo_stats st;
    trpo_train_iterate(tr, &st);
  }

  // repeats: loop, then the rates and the ceiling of exactly those iterations
  static rep R[MAXREP];
  static trpo_linalgcount cnt;
  static double tcall[TRPO_LINALG_NSHAPE];
  double ttanh[MAXREP], tenv[MAXREP], ratio[MAXREP], sps_cpu[MAXREP], sps_wall[MAXREP];
  double ceil_t[MAXREP], cpu_it[MAXREP], ph_share[5][MAXREP], gflops[MAXREP];
  double parts[4][MAXREP];
  static double shape_t[TRPO_LINALG_NSHAPE][MAXREP];
  static trpo_gemmshape shapes[TRPO_LINALG_NSHAPE];
  int nshape = 0;
  for (int r = 0; r < reps; r++) {
    run_rep(tr, env, &rng, &B, iters, &R[r], &cnt, tcall, &ttanh[r], &tenv[r]);
    for (int s = 0; s < cnt.nshape; s++)
      if (!shape_fits(&cnt.shape[s])) {
        fprintf(stderr, "bench_train: gemm shape %d x %d x %d is beyond the timer's buffers\n",
                cnt.shape[s].m, cnt.shape[s].n, cnt.shape[s].k);
        return 1;
      }
    double ceil = R[r].ceil_gemm + R[r].ceil_ref + R[r].ceil_tanh + R[r].ceil_env;
    ceil_t[r] = ceil / iters;
    cpu_it[r] = R[r].cpu / iters;
    ratio[r] = ceil / R[r].cpu;
    sps_cpu[r] = R[r].steps / R[r].cpu;
    sps_wall[r] = R[r].steps / R[r].wall;
    gflops[r] = R[r].flops / R[r].cpu / 1e9;
    parts[0][r] = R[r].ceil_gemm / iters;
    parts[1][r] = R[r].ceil_ref / iters;
    parts[2][r] = R[r].ceil_tanh / iters;
    parts[3][r] = R[r].ceil_env / iters;
    for (int k = 0; k < 5; k++) ph_share[k][r] = R[r].ph[k] / R[r].t_iter;
    // the last repeat's shape list (the shapes are the same every repeat for a fixed config)
    nshape = cnt.nshape;
    for (int s = 0; s < nshape; s++) {
      shapes[s] = cnt.shape[s];
      shape_t[s][r] = tcall[s];
    }
    printf("  repeat %d: %.0f steps/s (CPU), %.0f steps/s (wall), %.2f ms/iter, ceiling %.2f ms/iter, "
           "achieved/ceiling %.1f%%\n",
           r + 1, sps_cpu[r], sps_wall[r], 1e3 * cpu_it[r], 1e3 * ceil_t[r], 100 * ratio[r]);
  }

  // the shape table of the last repeat's counts, largest share of the ceiling first; the many
  // small row counts of the value fit's minibatch groups are summed in one line at the end
  const rep* L = &R[reps - 1];
  double ceil_last = L->ceil_gemm + L->ceil_ref + L->ceil_tanh + L->ceil_env;
  static double share[TRPO_LINALG_NSHAPE];
  static int order[TRPO_LINALG_NSHAPE];
  for (int s = 0; s < nshape; s++) {
    share[s] = (double)shapes[s].calls * bench_median(shape_t[s], reps) / ceil_last;
    order[s] = s;
  }
  for (int s = 1; s < nshape; s++)   // insertion sort by share, descending
    for (int u = s; u > 0 && share[order[u]] > share[order[u - 1]]; u--) {
      int tmp = order[u];
      order[u] = order[u - 1];
      order[u - 1] = tmp;
    }
  printf("\ngemm shapes per iteration (%d distinct; last repeat's counts; time per call: median over "
         "repeats)\n", nshape);
  printf("  %-4s %2s %2s %5s %5s %5s %4s %9s %9s %9s %8s %6s\n", "path", "ta", "tb", "m", "n", "k",
         "beta", "calls/it", "MFLOP/it", "us/call", "GFLOP/s", "ceil%");
  double rest_calls = 0, rest_flops = 0, rest_share = 0;
  int nrest = 0;
  for (int u = 0; u < nshape; u++) {
    const trpo_gemmshape* g = &shapes[order[u]];
    double tc = bench_median(shape_t[order[u]], reps), calls = (double)g->calls / iters;
    double fl = 2.0 * g->m * g->n * g->k;
    if (u >= MAXROWS) {
      rest_calls += calls;
      rest_flops += calls * fl;
      rest_share += share[order[u]];
      nrest++;
      continue;
    }
    printf("  %-4s %2d %2d %5d %5d %5d %4s %9.1f %9.3f %9.3f %8.2f %5.1f%%\n", g->ref ? "ref" : "blas",
           g->transa, g->transb, g->m, g->n, g->k, g->beta0 ? "0" : "1", calls, calls * fl / 1e6,
           tc * 1e6, fl / tc / 1e9, 100.0 * share[order[u]]);
  }
  if (nrest)
    printf("  ... %d more shapes: %.1f calls/it, %.3f MFLOP/it, %.1f%% of the ceiling\n", nrest,
           rest_calls, rest_flops / 1e6, 100.0 * rest_share);
  printf("  tanh: %.0f calls/it at %.2f ns each (median)\n", (double)cnt.ntanh / iters,
         1e9 * bench_median(ttanh, reps));
  printf("  env step: %.0f steps/it at %.1f ns each (median)\n", L->steps / iters,
         1e9 * bench_median(tenv, reps));

  // the figures, medians over the repeats
  printf("\nphase split (trpo_stats, share of t_iter, median):");
  for (int k = 0; k < 5; k++) printf(" %s %.1f%%%s", phase_name[k], 100 * bench_median(ph_share[k], reps),
                                     k < 4 ? "," : "\n");
  printf("ceiling per iteration (median): gemm %.2f ms + one-row ref %.2f ms + tanh %.2f ms + env "
         "%.2f ms = %.2f ms\n",
         1e3 * bench_median(parts[0], reps), 1e3 * bench_median(parts[1], reps), 1e3 * bench_median(parts[2], reps),
         1e3 * bench_median(parts[3], reps), 1e3 * bench_median(ceil_t, reps));
  printf("loop per iteration (median): %.2f ms CPU; gemm FLOPs at %.2f GFLOP/s of loop time\n",
         1e3 * bench_median(cpu_it, reps), bench_median(gflops, reps));
  printf("RESULT steps_per_s_cpu %.0f steps_per_s_wall %.0f ms_per_iter %.3f ceiling_ms %.3f "
         "achieved_over_ceiling %.3f\n",
         bench_median(sps_cpu, reps), bench_median(sps_wall, reps), 1e3 * bench_median(cpu_it, reps),
         1e3 * bench_median(ceil_t, reps), bench_median(ratio, reps));

  // the parameters after every iteration run (counting on or off must not change them)
  uint64_t hp, hv;
  trpo_train_checksum(tr, &hp, &hv);
  printf("parameters after iteration %ld: policy fnv1a64 %016llx value fnv1a64 %016llx\n",
         trpo_train_iteration(tr), (unsigned long long)hp, (unsigned long long)hv);

  trpo_alloc_free(B.a);
  trpo_alloc_free(B.b);
  trpo_alloc_free(B.c);
  trpo_alloc_free(B.x);
  trpo_alloc_free(B.y);
  trpo_envs_free(env);
  trpo_train_free(tr);
  trpo_comm_finalize(&comm);
  return 0;
}
