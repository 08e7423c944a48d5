// comm.c: the MPI module, the only code that includes <mpi.h>.
//
// Collectives used by training, each checked: an MPI error is fatal on every rank. Sums of
// doubles across environments never use a floating-point MPI_SUM (its rounding depends on the
// rank count); they travel as the exact integer digits of trpo_fxsum. When timing is on, each
// collective is preceded by a barrier so that waiting for slower ranks (load imbalance, t_wait)
// is told apart from the collective itself (t_comm). With c->nap (config comm_nap) a rank that
// has waited there for TRPO_NAP_AFTER seconds polls between naps instead of spinning (wait_all),
// so the slower ranks it waits for get the CPU time it would burn where they share it.
//
// Exact sums (trpo_comm_sum_fx) add within each node in shared memory first (c->node_sum, config
// comm_node_sum; see "node sums" below), then across nodes with MPI_Allreduce among one rank per
// node: integer addition is exact, so both paths give the same bits. Training reads each sum as
// doubles at once (trpo_comm_sum_fx_get), and with node sums each rank then reads only its slice.
// Several sums can share one collective (trpo_comm_sum_fx_getn): a phase's own sum and the value
// step that rides on it meet once.
//
// Also here: node-shared memory for sharing the sampling (trpo_comm_shm_make, end of file),
// trpo_fatal (it needs MPI_Abort), the launch check for a plain srun, and for
// benchmarks a slower rank (trpo_comm.slow: the work since the last collective is stretched by a
// busy wait before the next one; src/train.c sets it from TRPO_BENCH_SLOW_RANK).

#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trpo/trpo.h"

static int world_rank = -1;
static MPI_Comm wait_comm = MPI_COMM_NULL;   // a copy of MPI_COMM_WORLD for wait_all's messages

void trpo_fatal(const char* file, int line, const char* func, const char* fmt, ...) {
  // one line, flushed, then the whole job goes down
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "trpo: fatal [rank %d] %s:%d %s: %s\n", world_rank, file, line, func, msg);
  fflush(stderr);
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (up && !down) MPI_Abort(MPI_COMM_WORLD, TRPO_EXIT_FAIL);
  abort();
}

#define MPICHECK(call)                                                           \
  do {                                                                           \
    int rc_ = (call);                                                            \
    if (rc_ != MPI_SUCCESS) {                                                    \
      char s_[MPI_MAX_ERROR_STRING];                                             \
      int n_ = 0;                                                                \
      MPI_Error_string(rc_, s_, &n_);                                            \
      TRPO_FATAL("%s failed: %s", #call, s_);                                    \
    }                                                                            \
  } while (0)

int trpo_comm_precheck(char* err, size_t nerr) {
  // a plain srun without PMIx starts N singletons that would each train alone
  const char* ntask = getenv("SLURM_STEP_NUM_TASKS");
  if (ntask && atoi(ntask) > 1 && !getenv("PMIX_RANK") && !getenv("OMPI_COMM_WORLD_SIZE")) {
    snprintf(err, nerr,
             "started by srun with %s tasks but without an MPI process manager: launch with "
             "`srun --mpi=pmix ...` or `mpirun ...`",
             ntask);
    return TRPO_EXIT_BADINPUT;
  }
  return 0;
}

void trpo_comm_init(trpo_comm* c, int* argc, char*** argv) {
  memset(c, 0, sizeof *c);
  int up = 0;
  MPI_Initialized(&up);
  if (!up) MPICHECK(MPI_Init(argc, argv));
  // errors come back as codes, and MPICHECK turns them into one fatal line
  MPICHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MPICHECK(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank));
  MPICHECK(MPI_Comm_size(MPI_COMM_WORLD, &c->nrank));
  world_rank = c->rank;
  if (wait_comm == MPI_COMM_NULL) MPICHECK(MPI_Comm_dup(MPI_COMM_WORLD, &wait_comm));
  c->timing = 1;
  c->nap = 1;
  c->node_sum = 1;
}

static void nodesum_free(trpo_comm* c);

void trpo_comm_finalize(trpo_comm* c) {
  int down = 0;
  MPI_Finalized(&down);
  if (down) return;
  nodesum_free(c);
  trpo_alloc_free(c->pack);
  c->pack = NULL;
  c->npack = 0;
  if (wait_comm != MPI_COMM_NULL) MPI_Comm_free(&wait_comm);
  MPI_Finalize();
}

// Every rank's arrival. MPI_Barrier busy-polls for the whole wait, and a long wait (the ranks
// that finish sampling first wait for the last) then takes CPU time from the ranks still working
// wherever they share it: a CPU quota of the job's cgroup (a container limit, charged for
// spinning too), a hyperthread sibling, a core shared with another process, a hypervisor's
// overcommitted host. With c->nap the barrier is polled: busily for the first TRPO_NAP_AFTER
// seconds (short waits, the common case, keep their latency), then between naps of TRPO_NAP_NS
// (a long wait ends up to one nap late, a small share of it). The barrier is a dissemination
// barrier of empty point-to-point messages (round k: send to rank + 2^k, receive from rank - 2^k;
// MPI keeps each pair's messages in order, so the rounds of successive barriers cannot mix):
// MPI_Ibarrier would do, but Open MPI progresses non-blocking collectives at low priority, and
// polling it took 85 us more per barrier than MPI_Barrier on the development machine.
#define TRPO_NAP_AFTER 1e-3
#define TRPO_NAP_NS 50000L
static void wait_all(trpo_comm* c, double t0) {
  if (!c->nap) {
    MPICHECK(MPI_Barrier(MPI_COMM_WORLD));
    return;
  }
  for (int d = 1; d < c->nrank; d *= 2) {
    MPI_Request rq[2];
    MPICHECK(MPI_Irecv(NULL, 0, MPI_BYTE, (c->rank - d + c->nrank) % c->nrank, d, wait_comm, &rq[0]));
    MPICHECK(MPI_Isend(NULL, 0, MPI_BYTE, (c->rank + d) % c->nrank, d, wait_comm, &rq[1]));
    for (;;) {
      int done = 0;
      MPICHECK(MPI_Testall(2, rq, &done, MPI_STATUSES_IGNORE));
      if (done) break;
      if (trpo_time_now() - t0 >= TRPO_NAP_AFTER) trpo_time_nap(TRPO_NAP_NS);
    }
  }
}

// wait for every rank (counted as imbalance) and start the clock of the collective proper
static double enter(trpo_comm* c) {
  if (c->slow > 1 && c->t_free > 0) {
    // benchmarks: this rank's work since the last collective takes slow times as long
    trpo_time_spin((trpo_time_now() - c->t_free) * (c->slow - 1));
  }
  double t0 = trpo_time_now();
  if (c->timing && c->nrank > 1) wait_all(c, t0);
  double t1 = trpo_time_now();
  c->t_wait += t1 - t0;
  return t1;
}

static void leave(trpo_comm* c, double t1) {
  c->t_free = trpo_time_now();
  c->t_comm += c->t_free - t1;
}

// The ranks that share this rank's node: its shared-memory domain. TRPO_TEST_NODE_SIZE=k (tests
// only) groups ranks by rank / k instead, so that one machine runs the paths of several nodes.
static void node_split(trpo_comm* c, MPI_Comm* node) {
  const char* k = getenv("TRPO_TEST_NODE_SIZE");
  if (k && atoi(k) > 0)
    MPICHECK(MPI_Comm_split(MPI_COMM_WORLD, c->rank / atoi(k), c->rank, node));
  else
    MPICHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, node));
}

// A shared window of bytes on this rank (units of unit bytes) over node, held in one passive epoch
// for its whole life. A failure (a small /dev/shm or session directory, as in containers) is fatal
// with a line that says what the window was for and which setting avoids it.
static void* win_shared(MPI_Comm node, size_t bytes, int unit, const char* purpose,
                        const char* avoid, MPI_Win* win) {
  MPI_Info info;
  MPICHECK(MPI_Info_create(&info));
  MPICHECK(MPI_Info_set(info, "alloc_shared_noncontig", "true"));
  void* mine = NULL;
  int rc = MPI_Win_allocate_shared((MPI_Aint)bytes, unit, info, node, &mine, win);
  if (rc != MPI_SUCCESS) {
    char e[MPI_MAX_ERROR_STRING];
    int ne = 0;
    MPI_Error_string(rc, e, &ne);
    TRPO_FATAL("MPI_Win_allocate_shared of %zu bytes per rank, for %s, failed: %s; %s", bytes,
               purpose, e, avoid);
  }
  MPICHECK(MPI_Info_free(&info));
  MPICHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, *win));
  return mine;
}

// where node rank p's part of a shared window is mapped in this process
static void* win_base(MPI_Win win, int p) {
  MPI_Aint size = 0;
  int unit = 0;
  void* base = NULL;
  MPICHECK(MPI_Win_shared_query(win, p, &size, &unit, &base));
  return base;
}

static void win_drop(MPI_Win* win) {
  MPICHECK(MPI_Win_unlock_all(*win));
  MPICHECK(MPI_Win_free(win));
}

//---------------------------------- node sums -------------------------------------------------------
// An exact sum is a vector of int64 digits (trpo_fxsum). MPI_Allreduce moves it between the
// ranks of a node through message buffers: at 16 ranks a Hopper-sized vector (5,126 doubles, 160
// KB of digits) took 112 us a call on the 16-core machine (tests/bench_sums; 94 us here), and an
// iteration makes 40 to 100 of them. Here every rank of a node stores its digits in its slot of
// one shared window (nodesum), or adds them in a shared window in the first place
// (trpo_comm_fxsum_make and nodesum_read, below). After a barrier, rank q adds slice q of every
// slot into the node's result. Where there are several nodes, after a second barrier one rank per
// node (node rank 0) adds the node results with MPI_Allreduce among those ranks, and another
// barrier follows. After a last barrier every rank copies the result out (nodesum: the words;
// nodesum_read: the doubles, each rank having read its slice before that barrier). A rank reads
// the result before it reaches the next sum's first barrier, and nobody writes a slice before
// that barrier, so one result and one slot per rank suffice. The window grows (collectively:
// every rank sums the same sizes in the same order) to the largest vector summed so far.

struct trpo_nodesum_ {
  MPI_Comm node;        // this rank's node
  MPI_Comm leaders;     // node rank 0 of every node; MPI_COMM_NULL on the others or with one node
  int nn, q;            // ranks on this node, this rank's place among them
  int multi;            // 1: more than one node
  MPI_Win win;          // slots (and the result, in node rank 0's block); MPI_WIN_NULL until used
  size_t cap;           // words per slot
  int64_t** slot;       // nn slots
  int64_t* res;         // the node's result (cap words)
  double* dres;         // the node's result read as doubles (cap / TRPO_FXWORDS of them)
};

static struct trpo_nodesum_* nodesum_get(trpo_comm* c) {
  if (c->ns) return c->ns;
  struct trpo_nodesum_* ns = trpo_alloc(sizeof *ns);
  memset(ns, 0, sizeof *ns);
  ns->win = MPI_WIN_NULL;
  node_split(c, &ns->node);
  MPICHECK(MPI_Comm_size(ns->node, &ns->nn));
  MPICHECK(MPI_Comm_rank(ns->node, &ns->q));
  MPI_Comm lead;
  MPICHECK(MPI_Comm_split(MPI_COMM_WORLD, ns->q == 0 ? 0 : MPI_UNDEFINED, c->rank, &lead));
  int nnode = 0;
  if (ns->q == 0) MPICHECK(MPI_Comm_size(lead, &nnode));
  MPICHECK(MPI_Bcast(&nnode, 1, MPI_INT, 0, ns->node));
  ns->multi = nnode > 1;
  ns->leaders = MPI_COMM_NULL;
  if (ns->multi && ns->q == 0) ns->leaders = lead;
  else if (lead != MPI_COMM_NULL) MPICHECK(MPI_Comm_free(&lead));
  ns->slot = trpo_alloc(sizeof(int64_t*) * (size_t)ns->nn);
  c->ns = ns;
  return ns;
}

// room for n words in every slot and the result (collective over the node)
static void nodesum_grow(struct trpo_nodesum_* ns, size_t n) {
  if (n <= ns->cap) return;
  if (ns->win != MPI_WIN_NULL) win_drop(&ns->win);
  size_t cap = (n + 7) / 8 * 8;   // whole cache lines
  if (cap > (size_t)1 << 30) TRPO_FATAL("exact sum of %zu words is too large", n);
  size_t lead = 2 * cap + cap / TRPO_FXWORDS;   // node rank 0: its slot, res and dres
  win_shared(ns->node, sizeof(int64_t) * (ns->q == 0 ? lead : cap), (int)sizeof(int64_t),
             "exact sums within a node", "comm_node_sum = 0 sums with MPI_Allreduce instead",
             &ns->win);
  for (int p = 0; p < ns->nn; p++) ns->slot[p] = win_base(ns->win, p);
  ns->res = ns->slot[0] + cap;
  ns->dres = (double*)(ns->res + cap);
  ns->cap = cap;
}

static void nodesum_free(trpo_comm* c) {
  struct trpo_nodesum_* ns = c->ns;
  if (!ns) return;
  if (ns->win != MPI_WIN_NULL) win_drop(&ns->win);
  if (ns->leaders != MPI_COMM_NULL) MPICHECK(MPI_Comm_free(&ns->leaders));
  MPICHECK(MPI_Comm_free(&ns->node));
  trpo_alloc_free(ns->slot);
  trpo_alloc_free(ns);
  c->ns = NULL;
}

static void node_barrier(struct trpo_nodesum_* ns) {
  MPICHECK(MPI_Win_sync(ns->win));
  MPICHECK(MPI_Barrier(ns->node));
  MPICHECK(MPI_Win_sync(ns->win));
}

// w (n words) summed over all ranks, in place
static void nodesum(trpo_comm* c, int64_t* w, size_t n) {
  struct trpo_nodesum_* ns = nodesum_get(c);
  nodesum_grow(ns, n);
  double t0 = trpo_time_now();
  memcpy(ns->slot[ns->q], w, sizeof(int64_t) * n);
  MPICHECK(MPI_Win_sync(ns->win));
  double copied = trpo_time_now() - t0;
  // the first barrier: every slot written (the timing barrier is one, across all ranks)
  double t = enter(c);
  if (c->timing) MPICHECK(MPI_Win_sync(ns->win));
  else node_barrier(ns);
  size_t lo = n * (size_t)ns->q / (size_t)ns->nn, hi = n * (size_t)(ns->q + 1) / (size_t)ns->nn;
  int64_t* r = ns->res;
  memcpy(r + lo, ns->slot[0] + lo, sizeof(int64_t) * (hi - lo));
  for (int p = 1; p < ns->nn; p++) {
    const int64_t* x = ns->slot[p];
    for (size_t i = lo; i < hi; i++) r[i] += x[i];
  }
  node_barrier(ns);
  if (ns->multi) {
    if (ns->leaders != MPI_COMM_NULL)
      MPICHECK(MPI_Allreduce(MPI_IN_PLACE, r, (int)n, MPI_INT64_T, MPI_SUM, ns->leaders));
    node_barrier(ns);
  }
  memcpy(w, r, sizeof(int64_t) * n);
  leave(c, t);
  c->t_comm += copied;
}

// An exact sum made by trpo_comm_fxsum_make keeps its digits in a node-shared window of its own:
// node sums read every rank's digits where they were added, and nothing is copied in. A rank
// writes its digits (zeroing, adding, normalising) only between sums: after the second barrier
// of one, which every rank passes only when the node has read them, and before the first barrier
// of the next.
struct trpo_fxshared_ {
  MPI_Win win;
  int64_t* slot[];      // the node's ranks' digits
};

void trpo_comm_fxsum_make(trpo_comm* c, trpo_fxsum* s, int n) {
  if (c->nrank == 1 || !c->node_sum) {
    trpo_fxsum_make(s, n);
    return;
  }
  struct trpo_nodesum_* ns = nodesum_get(c);
  struct trpo_fxshared_* sh = trpo_alloc(sizeof *sh + sizeof(int64_t*) * (size_t)ns->nn);
  s->n = n;
  s->nadd = 0;
  size_t nw = trpo_fxsum_nwords(s);
  if (nw > (size_t)1 << 30) TRPO_FATAL("exact sum of %zu words is too large", nw);
  s->w = win_shared(ns->node, sizeof(int64_t) * ((nw + 7) / 8 * 8), (int)sizeof(int64_t),
                    "exact sums within a node", "comm_node_sum = 0 sums with MPI_Allreduce instead",
                    &sh->win);
  for (int p = 0; p < ns->nn; p++) sh->slot[p] = win_base(sh->win, p);
  s->shared = sh;
}

void trpo_comm_fxsum_free(trpo_comm* c, trpo_fxsum* s) {
  (void)c;
  if (!s->shared) {
    trpo_fxsum_free(s);
    return;
  }
  win_drop(&s->shared->win);
  trpo_alloc_free(s->shared);
  s->shared = NULL;
  s->w = NULL;
}

// k sums s[j] over all ranks, read into out[j], in one collective: as nodesum, except that rank q
// reads its slice of each result as doubles (the same bits as trpo_fxsum_get, value by value)
// before the last barrier, and every rank then copies out the doubles rather than the 4n + 1
// words per sum it would read itself: a quarter of the bytes that cross between cores after that
// barrier, and a sixteenth of the reading at 16 ranks a node. Each sum's last slice takes its
// bad-input count. With several nodes the slices are read after the leaders' MPI_Allreduce (one
// message for all k sums), behind a barrier of their own (four in all, against nodesum's three).
// A sum with its own window (s->shared) is read in place, without the copy into this rank's
// slot; the others are copied in one after another.
static void nodesum_read(trpo_comm* c, int k, trpo_fxsum* const* s, double* const* out) {
  struct trpo_nodesum_* ns = nodesum_get(c);
  // where each sum's words and doubles sit in the node's result, one sum after another
  size_t woff[k + 1], voff[k + 1];
  woff[0] = voff[0] = 0;
  for (int j = 0; j < k; j++) {
    woff[j + 1] = woff[j] + trpo_fxsum_nwords(s[j]);
    voff[j + 1] = voff[j] + (size_t)s[j]->n;
  }
  nodesum_grow(ns, woff[k]);   // room for cap / TRPO_FXWORDS doubles holds voff[k] of them
  double t0 = trpo_time_now();
  for (int j = 0; j < k; j++) {
    if (s[j]->shared) MPICHECK(MPI_Win_sync(s[j]->shared->win));
    else memcpy(ns->slot[ns->q] + woff[j], s[j]->w, sizeof(int64_t) * (woff[j + 1] - woff[j]));
  }
  MPICHECK(MPI_Win_sync(ns->win));
  double copied = trpo_time_now() - t0;
  double t = enter(c);
  if (c->timing) MPICHECK(MPI_Win_sync(ns->win));
  else node_barrier(ns);
  for (int j = 0; j < k; j++)
    if (s[j]->shared) MPICHECK(MPI_Win_sync(s[j]->shared->win));
  // rank q's slice of each sum (values lo..hi), added into the node's result
  int64_t* r = ns->res;
  size_t lo[k], hi[k];
  for (int j = 0; j < k; j++) {
    const size_t nv = (size_t)s[j]->n, nw = woff[j + 1] - woff[j];
    lo[j] = nv * (size_t)ns->q / (size_t)ns->nn;
    hi[j] = nv * (size_t)(ns->q + 1) / (size_t)ns->nn;
    size_t wlo = lo[j] * TRPO_FXWORDS, whi = hi[j] == nv ? nw : hi[j] * TRPO_FXWORDS;
    int64_t* const* slot = s[j]->shared ? s[j]->shared->slot : ns->slot;
    size_t off = s[j]->shared ? 0 : woff[j];
    int64_t* rj = r + woff[j];
    memcpy(rj + wlo, slot[0] + off + wlo, sizeof(int64_t) * (whi - wlo));
    for (int p = 1; p < ns->nn; p++) {
      const int64_t* x = slot[p] + off;
      for (size_t i = wlo; i < whi; i++) rj[i] += x[i];
    }
  }
  if (ns->multi) {
    // the node's results complete; then every node's, added among one rank per node
    node_barrier(ns);
    if (ns->leaders != MPI_COMM_NULL)
      MPICHECK(MPI_Allreduce(MPI_IN_PLACE, r, (int)woff[k], MPI_INT64_T, MPI_SUM, ns->leaders));
    node_barrier(ns);
  }
  for (int j = 0; j < k; j++) {
    trpo_fxsum sum = {.n = s[j]->n, .nadd = c->nrank, .w = r + woff[j]};
    trpo_fxsum_get_range(&sum, (int)lo[j], (int)(hi[j] - lo[j]), ns->dres + voff[j] + lo[j]);
  }
  node_barrier(ns);
  for (int j = 0; j < k; j++) {
    const size_t nv = (size_t)s[j]->n;
    memcpy(out[j], ns->dres + voff[j], sizeof(double) * nv);
    if (r[woff[j + 1] - 1] != 0)
      for (size_t i = 0; i < nv; i++) out[j][i] = NAN;
  }
  leave(c, t);
  c->t_comm += copied;
}

void trpo_comm_sum_fx_getn(trpo_comm* c, int k, trpo_fxsum* const* s, double* const* out) {
  // one rank, or one sum through MPI_Allreduce alone
  if (c->nrank == 1 || (!c->node_sum && k == 1)) {
    for (int j = 0; j < k; j++) {
      trpo_comm_sum_fx(c, s[j]);
      trpo_fxsum_get(s[j], out[j]);
    }
    return;
  }
  // local carries first (see trpo_comm_sum_fx)
  size_t nw = 0;
  for (int j = 0; j < k; j++) {
    trpo_fxsum_normalize(s[j]);
    nw += trpo_fxsum_nwords(s[j]);
  }
  if (nw > (size_t)1 << 30) TRPO_FATAL("exact sum of %zu words is too large", nw);
  if (c->node_sum) {
    nodesum_read(c, k, s, out);
    return;
  }
  // MPI_Allreduce: one call for all k sums, their words packed one after another
  if (nw > c->npack) {
    trpo_alloc_free(c->pack);
    c->pack = trpo_alloc(sizeof(int64_t) * nw);
    c->npack = nw;
  }
  for (size_t j = 0, off = 0; j < (size_t)k; off += trpo_fxsum_nwords(s[j]), j++)
    memcpy(c->pack + off, s[j]->w, sizeof(int64_t) * trpo_fxsum_nwords(s[j]));
  double t = enter(c);
  MPICHECK(MPI_Allreduce(MPI_IN_PLACE, c->pack, (int)nw, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
  leave(c, t);
  for (size_t j = 0, off = 0; j < (size_t)k; off += trpo_fxsum_nwords(s[j]), j++) {
    memcpy(s[j]->w, c->pack + off, sizeof(int64_t) * trpo_fxsum_nwords(s[j]));
    s[j]->nadd = c->nrank;   // as trpo_comm_sum_fx leaves it
    trpo_fxsum_get(s[j], out[j]);
  }
}

void trpo_comm_sum_fx_get(trpo_comm* c, trpo_fxsum* s, double* out) {
  trpo_comm_sum_fx_getn(c, 1, &s, &out);
}

void trpo_comm_sum_fx(trpo_comm* c, trpo_fxsum* s) {
  // local carries first: each word then holds less than 2^42 in magnitude, so nrank < 2^21
  // ranks can add without overflow
  // one rank: nothing to add (trpo_fxsum_get normalises before it reads)
  if (c->nrank == 1) return;
  trpo_fxsum_normalize(s);
  size_t n = trpo_fxsum_nwords(s);
  if (n > (size_t)1 << 30) TRPO_FATAL("exact sum of %zu words is too large", n);
  if (c->node_sum) {
    nodesum(c, s->w, n);
  } else {
    double t = enter(c);
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, s->w, (int)n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    leave(c, t);
  }
  // each word now holds less than nrank * 2^42: counted as nrank additions, so a later add
  // normalises in time; trpo_fxsum_get reads digits in any such state
  s->nadd = c->nrank;
}

void trpo_comm_bcast(trpo_comm* c, double* x, int n, int root) {
  double t = enter(c);
  if (c->nrank > 1) MPICHECK(MPI_Bcast(x, n, MPI_DOUBLE, root, MPI_COMM_WORLD));
  leave(c, t);
}

void trpo_comm_bcast_bytes(trpo_comm* c, void* x, size_t n, int root) {
  double t = enter(c);
  if (c->nrank > 1) {
    if (n > (size_t)1 << 30) TRPO_FATAL("broadcast of %zu bytes is too large", n);
    MPICHECK(MPI_Bcast(x, (int)n, MPI_BYTE, root, MPI_COMM_WORLD));
  }
  leave(c, t);
}

void trpo_comm_max_double(trpo_comm* c, double* x, int n) {
  double t = enter(c);
  if (c->nrank > 1) MPICHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  leave(c, t);
}

void trpo_comm_allgather_double(trpo_comm* c, const double* x, int n, double* all) {
  double t = enter(c);
  if (c->nrank > 1)
    MPICHECK(MPI_Allgather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD));
  else
    memmove(all, x, sizeof(double) * (size_t)n);
  leave(c, t);
}

void trpo_comm_max_int(trpo_comm* c, int* x, int n) {
  double t = enter(c);
  if (c->nrank > 1) MPICHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  leave(c, t);
}

void trpo_comm_sum_long(trpo_comm* c, long* x, int n) {
  double t = enter(c);
  if (c->nrank > 1) MPICHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_LONG, MPI_SUM, MPI_COMM_WORLD));
  leave(c, t);
}

int trpo_comm_node_size(trpo_comm* c) {
  // the ranks that share this rank's node (its shared-memory domain)
  if (c->nrank == 1) return 1;
  MPI_Comm node;
  int n = 1;
  node_split(c, &node);
  MPICHECK(MPI_Comm_size(node, &n));
  MPICHECK(MPI_Comm_free(&node));
  return n;
}

void trpo_comm_barrier(trpo_comm* c) {
  double t0 = trpo_time_now();
  if (c->nrank > 1) wait_all(c, t0);
  c->t_wait += trpo_time_now() - t0;
}

// byte counts and displacements for the v-collectives; MPI takes int counts
static void displs(trpo_comm* c, const size_t* counts, int* icount, int* idispl) {
  size_t off = 0;
  for (int r = 0; r < c->nrank; r++) {
    if (counts[r] > (size_t)1 << 30 || off > (size_t)1 << 30)
      TRPO_FATAL("gather of %zu bytes is too large", off + counts[r]);
    icount[r] = (int)counts[r];
    idispl[r] = (int)off;
    off += counts[r];
  }
}

void trpo_comm_gatherv(trpo_comm* c, const void* send, size_t nsend, void* recv,
                       const size_t* counts, int root) {
  double t = enter(c);
  if (c->nrank == 1) {
    if (nsend) memmove(recv, send, nsend);
  } else {
    int icount[c->nrank], idispl[c->nrank];
    displs(c, counts, icount, idispl);
    MPICHECK(MPI_Gatherv(send, (int)nsend, MPI_BYTE, recv, icount, idispl, MPI_BYTE, root,
                         MPI_COMM_WORLD));
  }
  leave(c, t);
}

void trpo_comm_scatterv(trpo_comm* c, const void* send, const size_t* counts, void* recv,
                        size_t nrecv, int root) {
  double t = enter(c);
  if (c->nrank == 1) {
    if (nrecv) memmove(recv, send, nrecv);
  } else {
    int icount[c->nrank], idispl[c->nrank];
    displs(c, counts, icount, idispl);
    MPICHECK(MPI_Scatterv(send, icount, idispl, MPI_BYTE, recv, (int)nrecv, MPI_BYTE, root,
                          MPI_COMM_WORLD));
  }
  leave(c, t);
}

//---------------------------------- node-shared memory ---------------------------------------------
// Work sharing within a sampling phase (src/train.c) needs memory that the ranks of one node read
// and write directly, without the owner entering MPI: an MPI shared window, held in one passive
// epoch (MPI_Win_lock_all) for its whole life, so loads, stores and the C11/GCC atomics the caller
// uses on it are valid at any time (MPI's unified memory model, which shared windows have).

struct trpo_shm_ {
  MPI_Win win;
  MPI_Comm node;
};

trpo_shm* trpo_comm_shm_make(trpo_comm* c, size_t bytes, void** base, const char* purpose,
                             const char* avoid) {
  for (int r = 0; r < c->nrank; r++) base[r] = NULL;
  if (c->nrank == 1) return NULL;
  trpo_shm* s = trpo_alloc(sizeof *s);
  node_split(c, &s->node);
  // a whole number of cache lines per rank, at least one
  size_t n = (bytes + 63) / 64 * 64;
  if (n == 0) n = 64;
  if (n > (size_t)1 << 40) TRPO_FATAL("node-shared block of %zu bytes is too large", bytes);
  void* mine = win_shared(s->node, n, 1, purpose, avoid, &s->win);
  memset(mine, 0, n);
  // the node's ranks, as world ranks, and their blocks
  int nn = 0;
  MPICHECK(MPI_Comm_size(s->node, &nn));
  MPI_Group wg, ng;
  MPICHECK(MPI_Comm_group(MPI_COMM_WORLD, &wg));
  MPICHECK(MPI_Comm_group(s->node, &ng));
  for (int q = 0; q < nn; q++) {
    int w = -1;
    MPICHECK(MPI_Group_translate_ranks(ng, 1, &q, wg, &w));
    void* p = win_base(s->win, q);
    if (w >= 0 && w < c->nrank) base[w] = p;
  }
  MPICHECK(MPI_Group_free(&wg));
  MPICHECK(MPI_Group_free(&ng));
  // every block zeroed before anyone reads one
  MPICHECK(MPI_Win_sync(s->win));
  MPICHECK(MPI_Barrier(s->node));
  MPICHECK(MPI_Win_sync(s->win));
  return s;
}

void trpo_comm_shm_free(trpo_shm* s) {
  if (!s) return;
  win_drop(&s->win);
  MPICHECK(MPI_Comm_free(&s->node));
  trpo_alloc_free(s);
}
