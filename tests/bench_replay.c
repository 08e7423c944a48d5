// bench_replay.c: how well load balancing and sharing the sampling would have done on recorded
// runs. It replays ranks.csv files (rank_times = 1) of many-rank runs: each iteration's time per
// environment of every rank, as the run measured it, and how long that iteration would have
// taken under another policy.
//
//   bench_replay [--warmup W] RANKS_CSV...
//
// For every file, from the iterations after W (default 6, as launch/bench_scaling.sh measures),
// the share of the "added-up rate" that a policy reaches: the sum over those iterations of
// N / sum_r (1 / c_r) (every rank's speed added up, as free-running physics does) over the sum of
// the policy's iteration times, where N is the environment count and c_r a rank's seconds per
// environment in that iteration. Four groups of policies:
//   work      c_r = t_busy / nenv (all of a rank's work): an even split never moved; load
//             balancing as src/train.c does it (trpo_shard_balance, 10% minimum gain, each rank's
//             cost the median of the last H iterations, deciding after each iteration once H are
//             in) for H = 5, 3 and 1; and an oracle that splits every iteration by its own c_r;
//             an iteration takes max_r share_r * c_r.
//   sampling  c_r = t_sample / nenv: even split, balancing with H = 5 and 1, and sharing the
//             sampling from the even split in whole environments (the policy before steal_steps):
//             each rank samples its own environments in order, then takes the next unstarted one
//             of the rank with the most left, at its own speed, until none is left; the phase ends
//             with the last. Sharing by earliest finish (never built: it gained 2 points): a free
//             rank starts one only if it is among the U ranks (U left) that would finish one
//             soonest. Handoffs (never built): whole environments as above, each of K chunks, and
//             once none is unstarted a free rank takes over the running environment that would
//             finish last, if it would finish it sooner, at the holder's next chunk boundary.
//             Level (src/train.c share_sample, K = nsteps / steal_steps): each environment is K
//             chunks, and a free rank runs the next chunk of its own environment with the most
//             chunks left that nobody runs, else of the node's environment with the most left; a
//             chunk of an environment another rank ran last costs HANDOFF_S more.
//             With sharing, the split does not matter here (equal environments: the same
//             schedule from any split), so balancing plus sharing is not a row of its own.
//   after     c_r = (t_busy - t_sample) / nenv, the work after sampling: even split, balancing
//             from the last iteration, and sharing it as src/train.c does with share_work (in
//             each phase, own environments first, then the unstarted ones of the rank with the
//             most left; every phase has one piece per environment and the same proportions, so
//             the phases' schedules add up to that of one). The model takes a rank's speed as
//             constant through the iteration's work after sampling.
//   iteration the two phases in turn: sharing the sampling in whole environments with the work
//             after it balanced from the last iteration (build 1c9fb48); sharing both, the
//             sampling in whole environments (build b38fd25); and sharing both, the sampling level
//             in 8 chunks (steal_steps 16 at Hopper's 128 steps); the added-up rate is that of
//             each phase's added-up rate in turn.
// The replay assumes a rank's speed per environment does not depend on which environments it
// holds. Prints one line per file and policy medians over the files (all, and by environments
// per rank), then how the ranks' speeds behave in each file: the median over iterations of the
// slowest rank's sampling time per environment over the fastest's (spread), and the correlation
// across ranks of that time between an iteration and the one LAG later (median over iterations,
// LAG 1 and 5): near 1, the slow ranks stay slow; near 0, the slow set changes. Not a CTest case; launch/bench_replay.sh runs it on the recorded 16-core traces.

#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "trpo/trpo.h"

#define MAXR 256
#define MAXIT 4096
#define HANDOFF_S 3e-5   // seconds a chunk of an environment another rank ran last costs more: its
                         // state out and in took 0.12 us for Hopper on the 2-core machine, in
                         // cache (launch/bench_env.sh); the rest is a margin for the caches

typedef struct {
  int R, nit, N;
  double* busy;     // nit x R seconds per environment
  double* sample;   // nit x R
  double* after;    // nit x R: busy - sample
} trace;

// one ranks.csv: -1 (and a message) if it cannot be read
static int load(const char* path, trace* t) {
  FILE* f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "bench_replay: cannot open %s\n", path);
    return -1;
  }
  char line[8192];
  int ci = -1, cr = -1, cn = -1, cs = -1, cb = -1;
  if (!fgets(line, sizeof line, f)) {
    fclose(f);
    fprintf(stderr, "bench_replay: %s is empty\n", path);
    return -1;
  }
  line[strcspn(line, "\r\n")] = 0;
  int k = 0;
  for (char* tok = strtok(line, ","); tok; tok = strtok(NULL, ","), k++) {
    if (!strcmp(tok, "iteration")) ci = k;
    if (!strcmp(tok, "rank")) cr = k;
    if (!strcmp(tok, "nenv")) cn = k;
    if (!strcmp(tok, "t_sample")) cs = k;
    if (!strcmp(tok, "t_busy")) cb = k;
  }
  if (ci < 0 || cr < 0 || cn < 0 || cs < 0 || cb < 0) {
    fclose(f);
    fprintf(stderr, "bench_replay: %s: no iteration, rank, nenv, t_sample or t_busy column\n", path);
    return -1;
  }
  t->busy = calloc((size_t)MAXIT * MAXR, sizeof(double));
  t->sample = calloc((size_t)MAXIT * MAXR, sizeof(double));
  t->after = calloc((size_t)MAXIT * MAXR, sizeof(double));
  t->R = 0;
  t->nit = 0;
  t->N = 0;
  while (fgets(line, sizeof line, f)) {
    double v[64] = {0};
    int n = 0;
    for (char* tok = strtok(line, ","); tok && n < 64; tok = strtok(NULL, ",")) v[n++] = atof(tok);
    int it = (int)v[ci], r = (int)v[cr], ne = (int)v[cn];
    if (n <= cb || it < 1 || it > MAXIT || r < 0 || r >= MAXR || ne < 1) continue;
    t->busy[(size_t)(it - 1) * MAXR + r] = v[cb] / ne;
    t->sample[(size_t)(it - 1) * MAXR + r] = v[cs] / ne;
    t->after[(size_t)(it - 1) * MAXR + r] = fmax(v[cb] - v[cs], 0.0) / ne;
    if (r + 1 > t->R) t->R = r + 1;
    if (it > t->nit) t->nit = it;
    if (it == 1) t->N += ne;
  }
  fclose(f);
  if (t->R < 2 || t->nit < 2 || t->N < t->R) {
    fprintf(stderr, "bench_replay: %s: need 2+ ranks and 2+ iterations\n", path);
    return -1;
  }
  return 0;
}

static double* row(const double* c, int it) { return (double*)c + (size_t)it * MAXR; }

// Pearson correlation of x and y over n
static double corr(const double* x, const double* y, int n) {
  double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < n; i++) mx += x[i] / n, my += y[i] / n;
  for (int i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

// the median over iterations of the sampling speeds' correlation LAG iterations apart, and of the
// slowest-over-fastest ratio
static void speeds(const trace* t, double* lag1, double* lag5, double* spread) {
  double v[MAXIT];
  int lags[2] = {1, 5};
  for (int l = 0; l < 2; l++) {
    int n = 0;
    for (int it = 0; it + lags[l] < t->nit; it++) {
      double c = corr(row(t->sample, it), row(t->sample, it + lags[l]), t->R);
      if (isfinite(c)) v[n++] = c;
    }
    *(l ? lag5 : lag1) = n ? bench_median(v, n) : NAN;
  }
  for (int it = 0; it < t->nit; it++) {
    const double* c = row(t->sample, it);
    double lo = c[0], hi = c[0];
    for (int r = 1; r < t->R; r++) lo = fmin(lo, c[r]), hi = fmax(hi, c[r]);
    v[it] = lo > 0 ? hi / lo : NAN;
  }
  *spread = bench_median(v, t->nit);
}

static double slowest(const int* share, const double* c, int R) {
  double m = 0;
  for (int r = 0; r < R; r++) m = fmax(m, share[r] * c[r]);
  return m;
}

// the rank whose next unstarted environment rank q starts: q's own while it has any, else the
// rank with the most left (ties: the lower rank); -1 when none is left
static int unstarted_from(const int* share, const int* next, int R, int q) {
  if (next[q] < share[q]) return q;
  int from = -1, most = 0;
  for (int r = 0; r < R; r++)
    if (share[r] - next[r] > most) most = share[r] - next[r], from = r;
  return from;
}

// sharing: own environments in order, then the next unstarted one of the rank with the most left.
// eft: a free rank starts an environment only if it is among the U ranks (U environments left)
// that would finish one soonest (each rank's finish: when it is next free, plus its time per
// environment); otherwise it waits for the next rank to finish and asks again
static double shared(const int* share, const double* c, int R, int eft) {
  double now[MAXR], end = 0;
  int next[MAXR], busy[MAXR], left = 0;
  for (int r = 0; r < R; r++) now[r] = 0, next[r] = 0, busy[r] = 1, left += share[r];
  for (;;) {
    // the rank that is free first (ties: the lower rank)
    int q = -1;
    for (int r = 0; r < R; r++)
      if (busy[r] && (q < 0 || now[r] < now[q])) q = r;
    if (q < 0) break;
    if (eft && left > 0) {
      double fq = now[q] + c[q], wake = INFINITY;
      int better = 0;
      for (int f = 0; f < R; f++) {
        if (f == q || !busy[f]) continue;
        double ff = fmax(now[f], now[q]) + c[f];
        better += ff < fq || (ff == fq && f < q);
        if (now[f] > now[q]) wake = fmin(wake, now[f]);
      }
      if (better >= left && wake < INFINITY) {
        now[q] = wake;
        continue;
      }
    }
    int from = unstarted_from(share, next, R, q);
    if (from < 0) {
      busy[q] = 0;
      end = fmax(end, now[q]);
      continue;
    }
    next[from]++;
    left--;
    now[q] += c[q];
  }
  return end;
}

// sharing with handoffs: as shared(), and each environment's segment is K chunks; once no
// environment is left unstarted, a free rank asks for the running environment that would finish
// last, if it would finish it sooner itself, and takes it over at the holder's next chunk
// boundary (the holder is then free and does the same). ov: seconds per chunk a handoff costs
static double handoff(const int* share, const double* c, int R, int K, double ov) {
  enum { MAXE = 4096 };
  static int rem[MAXE], req[MAXE];
  double t[MAXR], end = 0;
  int cur[MAXR], state[MAXR], next[MAXR], first[MAXR], n = 0;   // state 0 ready, 1 waiting, 2 done
  for (int r = 0; r < R; r++) {
    first[r] = n, next[r] = 0, t[r] = 0, cur[r] = -1, state[r] = 0;
    for (int i = 0; i < share[r] && n < MAXE; i++) rem[n] = K, req[n] = -1, n++;
  }
  for (;;) {
    int r = -1;
    for (int q = 0; q < R; q++)
      if (state[q] == 0 && (r < 0 || t[q] < t[r])) r = q;
    if (r < 0) break;
    int e = cur[r];
    if (e >= 0) {   // a chunk ended
      if (--rem[e] == 0) {
        cur[r] = -1;
      } else if (req[e] >= 0) {
        int q = req[e];
        req[e] = -1, cur[q] = e, state[q] = 0, t[q] = t[r] + ov + c[q] / K;
        cur[r] = -1;
      } else {
        t[r] += c[r] / K;
        continue;
      }
    }
    // free: own unstarted, then the rank with the most unstarted
    int from = unstarted_from(share, next, R, r);
    if (from >= 0) {
      cur[r] = first[from] + next[from]++;
      t[r] += c[r] / K;
      continue;
    }
    // the running environment that would finish last, if this rank would finish it sooner
    int best = -1;
    double late = 0;
    for (int h = 0; h < R; h++) {
      int x = cur[h];
      if (h == r || x < 0 || req[x] >= 0 || rem[x] < 2) continue;
      double fh = t[h] + (rem[x] - 1) * c[h] / K, fr = fmax(t[h], t[r]) + ov + (rem[x] - 1) * c[r] / K;
      if (fr < fh && fh > late) late = fh, best = x;
    }
    if (best >= 0) {
      req[best] = r, state[r] = 1;
      continue;
    }
    state[r] = 2;
    end = fmax(end, t[r]);
  }
  return end;
}

// sharing chunk by chunk: each environment's segment is K chunks, and its state is handed on
// between chunks. A free rank runs the next chunk of its own environment with the most chunks left
// that nobody runs, else that of any environment of the node (the most left; ties: the lower
// index); a chunk of an environment another rank ran last costs ov more (its state in)
static double level(const int* share, const double* c, int R, int K, double ov) {
  enum { MAXE = 4096 };
  static int rem[MAXE], run[MAXE], last[MAXE], own[MAXE];
  double t[MAXR], end = 0;
  int cur[MAXR], n = 0;
  for (int r = 0; r < R; r++) {
    t[r] = 0, cur[r] = -1;
    for (int i = 0; i < share[r] && n < MAXE; i++) own[n] = r, last[n] = r, rem[n] = K, run[n] = 0, n++;
  }
  for (;;) {
    int r = -1;
    for (int q = 0; q < R; q++)
      if (t[q] >= 0 && (r < 0 || t[q] < t[r])) r = q;
    if (r < 0) break;
    if (cur[r] >= 0) rem[cur[r]]--, run[cur[r]] = 0, cur[r] = -1;
    int best = -1;
    for (int pass = 0; pass < 2 && best < 0; pass++)
      for (int e = 0; e < n; e++)
        if (!run[e] && rem[e] > 0 && (pass || own[e] == r) && (best < 0 || rem[e] > rem[best])) best = e;
    if (best < 0) {
      end = fmax(end, t[r]);
      t[r] = -1;
      continue;
    }
    t[r] += c[r] / K + (last[best] != r ? ov : 0);
    run[best] = 1, last[best] = r, cur[r] = best;
  }
  return end;
}

// the even split of the trace's environments into share; returns the most a rank may hold under
// load balancing (twice the even share, as src/train.c)
static int even_split(const trace* t, int* share) {
  const int R = t->R, N = t->N, even = (N + R - 1) / R;
  for (int r = 0; r < R; r++) {
    int b;
    trpo_shard_range(N, r, R, &b, &share[r]);
  }
  return 2 * even < N ? 2 * even : N;
}

// one phase's time under a sharing mode: 0 none (the slowest rank's share), 1 whole environments
// (shared), 2 whole by earliest finish, 3-5 handoffs in 4, 8, 16 chunks, 6-9 level in 2, 4, 8, 16
static double phase(const int* share, const double* c, int R, int mode) {
  if (mode >= 6) return level(share, c, R, 1 << (mode - 5), HANDOFF_S);
  if (mode >= 3) return handoff(share, c, R, 1 << (mode - 1), HANDOFF_S);
  return mode ? shared(share, c, R, mode == 2) : slowest(share, c, R);
}

// the share of the added-up rate over iterations after warmup: policy H (0: even split, -1:
// oracle), sharing on or off
static double replay(const trace* t, const double* c, int H, int share_on, int warmup) {
  const int R = t->R, N = t->N;
  int share[MAXR], out[MAXR], cap = even_split(t, share);
  double fluid = 0, took = 0, cost[MAXR], v[16];
  for (int it = 0; it < t->nit; it++) {
    const double* ci = row(c, it);
    double inv = 0;
    for (int r = 0; r < R; r++) inv += 1.0 / fmax(ci[r], 1e-12);
    double span;
    if (H < 0) {
      trpo_shard_balance(N, R, cap, ci, share, 0.0, out);
      span = slowest(out, ci, R);
    } else {
      span = phase(share, ci, R, share_on);
    }
    if (it + 1 > warmup) fluid += N / inv, took += span;
    if (H > 0 && it + 1 >= H) {
      for (int r = 0; r < R; r++) {
        for (int k = 0; k < H; k++) v[k] = row(c, it + 1 - H + k)[r];
        cost[r] = bench_median(v, H);
      }
      trpo_shard_balance(N, R, cap, cost, share, 0.10, out);
      memcpy(share, out, sizeof(int) * R);
    }
  }
  return took > 0 ? fluid / took : NAN;
}

// the whole iteration: the sampling shared in whole environments, then the work after it balanced
// from the last iteration (mode 0); or the sampling shared under mode (a phase() mode) and the
// work after it shared
static double replay_iter(const trace* t, int mode, int warmup) {
  const int R = t->R, N = t->N;
  int share[MAXR], out[MAXR], cap = even_split(t, share);
  double fluid = 0, took = 0;
  for (int it = 0; it < t->nit; it++) {
    const double *cs = row(t->sample, it), *ca = row(t->after, it);
    double inv_s = 0, inv_a = 0;
    for (int r = 0; r < R; r++) inv_s += 1.0 / fmax(cs[r], 1e-12), inv_a += 1.0 / fmax(ca[r], 1e-12);
    double span = phase(share, cs, R, mode ? mode : 1) + phase(share, ca, R, mode > 0);
    if (it + 1 > warmup) fluid += N / inv_s + N / inv_a, took += span;
    if (!mode) {
      trpo_shard_balance(N, R, cap, ca, share, 0.10, out);
      memcpy(share, out, sizeof(int) * R);
    }
  }
  return took > 0 ? fluid / took : NAN;
}

int main(int argc, char** argv) {
  int warmup = 6, a = 1;
  if (a + 1 < argc && !strcmp(argv[a], "--warmup")) warmup = atoi(argv[a + 1]), a += 2;
  int nf = argc - a;
  if (nf < 1 || warmup < 0) {
    fprintf(stderr, "usage: bench_replay [--warmup W] RANKS_CSV...\n");
    return 2;
  }
  // policies: name, trace column (0 work, 1 sampling, 2 after sampling, 3 the iteration), H,
  // sharing
  static const struct { const char* name; int col, H, share; } P[] = {
      {"work: even split", 0, 0, 0},          {"work: balancing, median of 5", 0, 5, 0},
      {"work: balancing, median of 3", 0, 3, 0}, {"work: balancing, last iteration", 0, 1, 0},
      {"work: oracle split", 0, -1, 0},        {"sampling: even split", 1, 0, 0},
      {"sampling: balancing, median of 5", 1, 5, 0}, {"sampling: balancing, last iteration", 1, 1, 0},
      {"sampling: sharing", 1, 0, 1}, {"sampling: sharing, earliest finish", 1, 0, 2},
      {"after: even split", 2, 0, 0}, {"after: balancing, last iteration", 2, 1, 0},
      {"after: sharing", 2, 0, 1}, {"iteration: sampling shared, whole envs", 3, 1, 0},
      {"iteration: both shared, whole envs", 3, 0, 1},
      {"sampling: handoffs, 8 chunks", 1, 0, 4}, {"sampling: level, 2 chunks", 1, 0, 6},
      {"sampling: level, 4 chunks", 1, 0, 7},   {"sampling: level, 8 chunks", 1, 0, 8},
      {"sampling: level, 16 chunks", 1, 0, 9},  {"iteration: both shared, level 8", 3, 0, 8}};
  const int np = (int)(sizeof P / sizeof P[0]);
  double* res = calloc((size_t)nf * np, sizeof(double));
  double* spd = calloc((size_t)nf * 3, sizeof(double));
  int* per = calloc((size_t)nf, sizeof(int));
  for (int f = 0; f < nf; f++) {
    trace t;
    if (load(argv[a + f], &t)) return 2;
    if (t.nit <= warmup) {
      fprintf(stderr, "bench_replay: %s: %d iterations, none after the %d warm-up ones\n", argv[a + f],
              t.nit, warmup);
      return 2;
    }
    per[f] = t.N / t.R;
    printf("%s: %d ranks, %d environments, %d iterations:", argv[a + f], t.R, t.N, t.nit);
    for (int p = 0; p < np; p++) {
      const double* c = P[p].col == 0 ? t.busy : P[p].col == 1 ? t.sample : t.after;
      res[(size_t)p * nf + f] = P[p].col == 3 ? replay_iter(&t, P[p].share, warmup)
                                              : replay(&t, c, P[p].H, P[p].share, warmup);
      printf(" %.3f", res[(size_t)p * nf + f]);
    }
    printf("\n");
    speeds(&t, &spd[3 * f], &spd[3 * f + 1], &spd[3 * f + 2]);
    free(t.busy);
    free(t.sample);
    free(t.after);
  }
  // medians over all files and by environments per rank
  int groups[64], ng = 0;
  for (int f = 0; f < nf; f++) {
    int seen = 0;
    for (int g = 0; g < ng; g++) seen |= groups[g] == per[f];
    if (!seen && ng < 64) groups[ng++] = per[f];
  }
  printf("\n%-38s %8s %8s", "policy (share of the added-up rate)", "median", "lowest");
  for (int g = 0; g < ng; g++) printf("   %2d/rank", groups[g]);
  printf("\n");
  double* v = calloc((size_t)nf, sizeof(double));
  for (int p = 0; p < np; p++) {
    for (int f = 0; f < nf; f++) v[f] = res[(size_t)p * nf + f];
    double med = bench_median(v, nf), lo = v[0];
    printf("%-38s %8.3f %8.3f", P[p].name, med, lo);
    for (int g = 0; g < ng; g++) {
      int n = 0;
      for (int f = 0; f < nf; f++)
        if (per[f] == groups[g]) v[n++] = res[(size_t)p * nf + f];
      printf(" %9.3f", bench_median(v, n));
    }
    printf("\n");
  }
  // the speeds
  printf("\nrank speeds (sampling time per environment): spread = slowest / fastest rank, lag1 and "
         "lag5 = correlation across ranks 1 and 5 iterations apart (medians over iterations)\n");
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int f = 0; f < nf; f++) {
    printf("speeds %s: spread %.2f lag1 %.2f lag5 %.2f\n", argv[a + f], spd[3 * f + 2], spd[3 * f],
           spd[3 * f + 1]);
    for (int k = 0; k < 3; k++)
      if (isfinite(spd[3 * f + k])) lo[k] = fmin(lo[k], spd[3 * f + k]), hi[k] = fmax(hi[k], spd[3 * f + k]);
  }
  printf("speeds over all runs: spread %.2f to %.2f, lag1 %.2f to %.2f, lag5 %.2f to %.2f\n", lo[2],
         hi[2], lo[0], hi[0], lo[1], hi[1]);
  free(v);
  free(res);
  free(spd);
  free(per);
  return 0;
}
