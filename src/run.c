// run.c: a whole training run in a run directory: lock, resume, progress.csv, checkpoints, signals.
//
// Rank 0 owns the directory: it takes the lock, checks that the directory belongs to this config
// (config.ini, and the config stored in the checkpoint it resumes from), loads the newest good
// checkpoint (falling back to older ones), then writes config.ini, progress.csv and
// train.log (flushed line by line, since mpirun's buffered stdout can be lost on a kill) and the
// checkpoints. Decisions that every rank must share (an error, a resume, a stop) are broadcast,
// so a bad input ends every rank with the same exit code and no rank hangs.
//
// Stopping safely: SIGUSR1 (Slurm's warning before a time limit) sets a flag that is OR-reduced
// at the next iteration boundary; then every rank checkpoints and exits with
// TRPO_EXIT_CHECKPOINTED. SIGTERM/SIGINT leave about a second (mpirun kills ranks ~1 s after it
// forwards SIGTERM), so rank 0 keeps a copy of the state of the last completed iteration and a
// watcher thread publishes it as soon as the signal arrives, then exits with the same code. A
// SIGTERM that reached another rank only is OR-reduced at the boundary like SIGUSR1. A second
// signal exits at once (src/signals.c). A progress.csv row that cannot be written ends the run
// with TRPO_EXIT_IOERROR before that iteration's checkpoint, so the log and the newest checkpoint
// never disagree.
//
// Checkpoints off the critical path: at a checkpoint boundary rank 0 builds the file in memory
// (HDF5, on the main thread) and hands it to a writer thread, which writes, fsyncs, renames and
// fsyncs the directory while the next iteration runs; the other ranks never wait for the disk.
// One file is in the writer's hands at a time (the next boundary waits for it). A write that
// fails ends the run at the next boundary with TRPO_EXIT_IOERROR. The last checkpoint and the
// one a stop signal asks for are written before the run goes on or exits. Locks: `lock` guards
// the snapshot, the hand-over and every HDF5 call; `wlock` is held while a file is written; a
// thread that holds both took wlock first.

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trpo/trpo.h"

// keys that may change between a run and its resumption
static const char* const resumable_keys[] = {"total_steps", "quiet", "checkpoint_every",
                                             "checkpoint_minutes", "keep_checkpoints",
                                             "comm_timing", "comm_nap", "rebalance",
                                             "rebalance_window", "steal", "steal_steps", "share_work",
                                             "comm_node_sum", "vf_ride", "rank_times", "run_dir",
                                             NULL};

typedef struct runctx_ {
  const trpo_config* cfg;
  const char* config_text;
  trpo_comm* comm;
  trpo_train* tr;
  FILE* csv;
  FILE* rcsv;              // ranks.csv (rank_times = 1), rank 0
  FILE* log;
  char path[TRPO_STRLEN + 64];
  char rpath[TRPO_STRLEN + 64];
  // rank 0: deep copy of the checkpoint items at the last iteration boundary
  trpo_ckptitem* items;
  trpo_ckptitem snap[32];
  int nitems;
  long snap_iter;          // iteration of the snapshot (-1: none)
  long written_iter;       // newest iteration published
  pthread_mutex_t lock;    // snap, the writer's state below, HDF5
  pthread_mutex_t wlock;   // a checkpoint file being written (taken before lock)
  pthread_cond_t cv;       // with lock: an image handed to the writer, or one written
  pthread_t watcher;
  int watching;
  // rank 0's checkpoint writer thread
  pthread_t writer;
  int writing;             // the writer thread runs
  int quit;                // the writer leaves once nothing is pending
  trpo_ckptimage pending;  // handed over, not yet on disk (data NULL: none)
  int werr;                // a write failed: TRPO_EXIT_IOERROR, the message in werr_msg
  char werr_msg[1024];
  long said_iter;          // newest written checkpoint said in the log
  double wdt;              // seconds the newest write took (building and writing)
  double row_stall_ms;     // tests: TRPO_TEST_ROW_STALL_MS
  volatile int done;
} runctx;

//---------------------------------- messages -------------------------------------------------------

// rank 0 prints to stdout (or stderr) and to train.log, flushed
static void say(runctx* r, int err, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(runctx* r, int err, const char* fmt, ...) {
  if (r->comm->rank != 0) return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  FILE* out = err ? stderr : stdout;
  if (!(r->cfg->quiet && !err)) {
    fprintf(out, "%s\n", line);
    fflush(out);
  }
  if (r->log) {
    fprintf(r->log, "%s\n", line);
    fflush(r->log);
  }
}

static void report_line(void* ctx, const char* line) { say(ctx, 1, "trpo: %s", line); }

//---------------------------------- checkpoints ----------------------------------------------------

// rank 0, holding lock: the snapshot (the state of iteration snap_iter) as a file image; 0 or
// TRPO_EXIT_IOERROR
static int build(runctx* r, trpo_ckptimage* im, char* err, size_t nerr) {
  char nrank[32], created[64];
  snprintf(nrank, sizeof nrank, "%d", r->comm->nrank);
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  trpo_ckptattr attrs[] = {{"git_commit", TRPO_GIT_COMMIT},
                           {"trpo_version", TRPO_VERSION},
                           {"task", r->cfg->env},
                           {"nrank", nrank},
                           {"created", created},
                           {"libraries", trpo_checkpoint_libversion()}};
  return trpo_checkpoint_image(r->cfg->run_dir, r->snap_iter, r->snap, r->nitems, attrs,
                               (int)(sizeof attrs / sizeof attrs[0]), r->config_text, im, err,
                               nerr);
}

// rank 0: progress.csv and ranks.csv durable before a checkpoint is published. Their rows up to
// the checkpoint's iteration were written (fflush) before its state was copied; without this, a
// crash of the node could keep checkpoint N and lose rows up to N, and the resume would continue
// the file from N with a gap that stays. 0 or TRPO_EXIT_IOERROR + message
static int sync_rows(runctx* r, char* err, size_t nerr) {
  FILE* f[2] = {r->csv, r->rcsv};
  const char* path[2] = {r->path, r->rpath};
  for (int k = 0; k < 2; k++)
    if (f[k] && fsync(fileno(f[k])) < 0)
      return snprintf(err, nerr, "cannot write %s: fsync: %s", path[k], strerror(errno)),
             TRPO_EXIT_IOERROR;
  return 0;
}

// rank 0, holding wlock and lock: build and write the snapshot now; 0 or TRPO_EXIT_IOERROR
static int publish(runctx* r, char* err, size_t nerr) {
  trpo_ckptimage im;
  double t0 = trpo_time_now();
  int rc = build(r, &im, err, nerr);
  if (rc == 0) rc = sync_rows(r, err, nerr);
  if (rc == 0) rc = trpo_checkpoint_put(r->cfg->run_dir, &im, r->cfg->keep_checkpoints, err, nerr);
  trpo_checkpoint_image_free(&im);
  if (rc == 0) {
    r->written_iter = r->snap_iter;
    r->wdt = trpo_time_now() - t0;
  }
  return rc;
}

// rank 0's writer thread: puts each handed-over image on disk
static void* write_loop(void* arg) {
  runctx* r = arg;
  pthread_mutex_lock(&r->lock);
  for (;;) {
    while (!r->pending.data && !r->quit) pthread_cond_wait(&r->cv, &r->lock);
    if (!r->pending.data) break;
    // the image stays pending (the SIGTERM watcher, waiting on wlock, sees it unwritten)
    trpo_ckptimage im = r->pending;
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_lock(&r->wlock);
    char err[1024] = "";
    double t0 = trpo_time_now();
    int rc = sync_rows(r, err, sizeof err);
    if (!rc) rc = trpo_checkpoint_put(r->cfg->run_dir, &im, r->cfg->keep_checkpoints, err, sizeof err);
    double dt = trpo_time_now() - t0;
    pthread_mutex_lock(&r->lock);
    if (rc) {
      r->werr = rc;
      snprintf(r->werr_msg, sizeof r->werr_msg, "%s", err);
    } else if (im.iteration > r->written_iter) {
      r->written_iter = im.iteration;
      r->wdt += dt;
    }
    trpo_checkpoint_image_free(&r->pending);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->wlock);
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

// rank 0: drop the rows of PATH after the loaded iteration (rewriting it in the columns of HEAD if
// an older build wrote others), then open it for appending (with HEAD if it is new) into *out;
// out NULL: rewind only. 0, TRPO_EXIT_BADINPUT (a file that is not such a CSV, left as it was)
// or TRPO_EXIT_IOERROR, said
static int open_csv(runctx* r, const char* path, const char* head, FILE** out) {
  char err[1024] = "";
  int converted = 0;
  int rc = trpo_rundir_truncate_csv(path, trpo_train_iteration(r->tr), head, &converted, err, sizeof err);
  if (rc) return say(r, 1, "trpo: %s", err), rc;
  if (converted)
    say(r, 0, "%s had the columns of another build: its rows are rewritten in this build's "
              "columns (nan where a column is new)", path);
  if (!out) return 0;
  int fresh = access(path, F_OK) != 0;
  FILE* f = fopen(path, "a");
  if (!f) return say(r, 1, "trpo: cannot open %s: %s", path, strerror(errno)), TRPO_EXIT_IOERROR;
  if (fresh || ftell(f) == 0) {
    fprintf(f, "%s\n", head);
    fflush(f);
  }
  *out = f;
  return 0;
}

// rank 0: one ranks.csv row per rank for the iteration just done, with the shares it ran with;
// 0 or -1 with errno
static int rank_rows(runctx* r, const int* share) {
  const double* x = trpo_train_rank_times(r->tr);
  long it = trpo_train_iteration(r->tr);
  errno = 0;
  for (int k = 0; k < r->comm->nrank; k++, x += TRPO_RANK_NTIME) {
    if (fprintf(r->rcsv, "%ld,%d,%d", it, k, share[k]) < 0) return -1;
    for (int j = 0; j < TRPO_RANK_NTIME; j++)
      if (fprintf(r->rcsv, ",%.17g", x[j]) < 0) return -1;
    if (fputc('\n', r->rcsv) == EOF) return -1;
  }
  return fflush(r->rcsv) != 0 ? -1 : 0;
}

// rank 0: the iteration's progress.csv row and ranks.csv rows; 0, or 1 when one could not be
// written (said)
static int log_rows(runctx* r, const trpo_stats* st, const int* ran) {
  char row[4096];
  trpo_stats_row(st, row, sizeof row);
  errno = 0;
  if (fprintf(r->csv, "%s\n", row) < 0 || fflush(r->csv) != 0)
    return say(r, 1, "trpo: cannot write %s: %s", r->path, strerror(errno ? errno : EIO)), 1;
  if (r->rcsv && rank_rows(r, ran) != 0)
    return say(r, 1, "trpo: cannot write %s: %s", r->rpath, strerror(errno ? errno : EIO)), 1;
  return 0;
}

// collective: gather the state of the iteration just completed into rank 0's snapshot. With st
// (the loop, not the start), rank 0 also logs the iteration inside the same lock, so the SIGTERM
// watcher never publishes a state whose progress.csv row is missing (a resume would never write
// it); a row that cannot be written withdraws the snapshot from publishing and returns 1
static int snapshot(runctx* r, const trpo_stats* st, const int* ran) {
  trpo_train_gather(r->tr);
  if (r->comm->rank != 0) return 0;
  int bad = 0;
  pthread_mutex_lock(&r->lock);
  for (int k = 0; k < r->nitems; k++)
    memcpy(r->snap[k].data, r->items[k].data, trpo_ckpt_item_bytes(&r->items[k]));
  r->snap_iter = trpo_train_iteration(r->tr);
  if (st) {
    // tests: a busy wait (a signal does not cut it short) between the copy and the rows
    if (r->row_stall_ms > 0) trpo_time_spin(1e-3 * r->row_stall_ms);
    bad = log_rows(r, st, ran);
    if (bad) r->snap_iter = r->written_iter;
  }
  pthread_mutex_unlock(&r->lock);
  return bad;
}

// rank 0: say the checkpoints written since the last call (one line, the newest)
static void say_written(runctx* r) {
  pthread_mutex_lock(&r->lock);
  long it = r->written_iter;
  double dt = r->wdt;
  int fresh = it > r->said_iter;
  r->said_iter = it;
  pthread_mutex_unlock(&r->lock);
  if (fresh && !r->cfg->quiet) say(r, 0, "checkpoint iteration %ld written in %.3f s", it, dt);
}

// rank 0: the snapshot on disk now, after the file in the writer's hands if there is one; a
// failure is kept in werr (with werr_msg) like the writer's
static void write_now(runctx* r) {
  char err[1024] = "";
  pthread_mutex_lock(&r->lock);
  while (r->pending.data) pthread_cond_wait(&r->cv, &r->lock);
  pthread_mutex_unlock(&r->lock);
  pthread_mutex_lock(&r->wlock);
  pthread_mutex_lock(&r->lock);
  if (!r->werr && r->snap_iter > r->written_iter) {
    r->werr = publish(r, err, sizeof err);
    if (r->werr) snprintf(r->werr_msg, sizeof r->werr_msg, "%s", err);
  }
  pthread_mutex_unlock(&r->lock);
  pthread_mutex_unlock(&r->wlock);
}

// rank 0, no collective: a checkpoint of the snapshot. The file is built here and handed to the
// writer thread (after the previous one is on disk); without a writer thread it is written here.
// A failure is kept in werr for the next boundary.
static void checkpoint_async(runctx* r) {
  if (!r->writing) {
    write_now(r);
    return;
  }
  char err[1024] = "";
  trpo_ckptimage im;
  pthread_mutex_lock(&r->lock);
  while (r->pending.data) pthread_cond_wait(&r->cv, &r->lock);
  if (!r->werr && r->snap_iter > r->written_iter) {
    double t0 = trpo_time_now();
    r->werr = build(r, &im, err, sizeof err);
    if (r->werr) {
      snprintf(r->werr_msg, sizeof r->werr_msg, "%s", err);
    } else {
      r->wdt = trpo_time_now() - t0;
      r->pending = im;
      pthread_cond_broadcast(&r->cv);
    }
  }
  pthread_mutex_unlock(&r->lock);
}

// rank 0: a failed write so far (its message said once); 0 or TRPO_EXIT_IOERROR
static int write_failed(runctx* r) {
  pthread_mutex_lock(&r->lock);
  int rc = r->werr;
  char msg[sizeof r->werr_msg];
  memcpy(msg, r->werr_msg, sizeof msg);
  r->werr_msg[0] = 0;
  pthread_mutex_unlock(&r->lock);
  if (rc && msg[0]) say(r, 1, "trpo: %s", msg);
  return rc;
}

// collective: the snapshot on disk before this returns (after the writer's file, if one is in
// its hands); every rank gets the same return code
static int checkpoint(runctx* r) {
  int rc = 0;
  if (r->comm->rank == 0) {
    write_now(r);
    rc = write_failed(r);
    if (!rc) say_written(r);
  }
  trpo_comm_max_int(r->comm, &rc, 1);
  return rc;
}

// rank 0's watcher: on SIGTERM/SIGINT publish the last completed iteration and leave at once
static void* watch(void* arg) {
  runctx* r = arg;
  struct timespec tick = {0, 20 * 1000 * 1000};
  while (!r->done) {
    if (trpo_signal_pending() & TRPO_SIG_TERM) {
      // after the writer's file, if one is in its hands (wlock, then lock: the order of every
      // thread that takes both)
      pthread_mutex_lock(&r->wlock);
      pthread_mutex_lock(&r->lock);
      char err[1024] = "", line[TRPO_STRLEN + 1200];
      int rc = 0;
      if (r->snap_iter > r->written_iter) rc = publish(r, err, sizeof err);
      if (rc) snprintf(line, sizeof line, "trpo: %s", err);
      else snprintf(line, sizeof line, "trpo: terminated by SIGTERM/SIGINT; state of iteration %ld is in %s",
                    r->written_iter, r->cfg->run_dir);
      // stderr may be lost with mpirun: train.log gets the line too
      fprintf(stderr, "%s\n", line);
      if (r->log) {
        fprintf(r->log, "%s\n", line);
        fflush(r->log);
      }
      // nothing of this run writes to the directory any more (the writer waits on wlock, the
      // other ranks write nothing there): the lock goes, so that a requeued job on another node
      // can resume (a lock of another host is never taken over)
      trpo_rundir_unlock(r->cfg->run_dir);
      _exit(rc ? TRPO_EXIT_IOERROR : TRPO_EXIT_CHECKPOINTED);
    }
    nanosleep(&tick, NULL);
  }
  return NULL;
}

//---------------------------------- the run directory ----------------------------------------------

// compare the stored config with ours, except the keys a resumption may change
static int same_config(const trpo_config* a, const trpo_config* b, char* key, size_t nkey) {
#define CMP_INT(name) (a->name == b->name)
#define CMP_LONG(name) (a->name == b->name)
#define CMP_DOUBLE(name) (a->name == b->name)
#define CMP_STR(name) (strcmp(a->name, b->name) == 0)
#define CMP(type, name, def, lo, hi, help)                                          \
  {                                                                                 \
    int free_ = 0;                                                                  \
    for (int k = 0; resumable_keys[k]; k++)                                         \
      if (strcmp(resumable_keys[k], #name) == 0) free_ = 1;                         \
    if (!free_ && !CMP_##type(name)) {                                              \
      snprintf(key, nkey, "%s", #name);                                             \
      return 0;                                                                     \
    }                                                                               \
  }
  TRPO_CONFIG_FIELDS(CMP)
#undef CMP
  return 1;
}

// rank 0: lock, check ownership, prepare files; returns 0 or an exit code (message printed)
static int open_dir(runctx* r, int restart, int* resume) {
  char err[1024];
  const char* dir = r->cfg->run_dir;
  *resume = 0;
  // tests: TRPO_TEST_CKPT_STALL_MS pauses halfway through each checkpoint file write, so that
  // tests/killpoints.sh can kill inside a write however fast the disk is; TRPO_TEST_ROW_STALL_MS
  // pauses between an iteration's snapshot and its log rows (tests/resume.sh)
  const char* names[2] = {"TRPO_TEST_CKPT_STALL_MS", "TRPO_TEST_ROW_STALL_MS"};
  for (int k = 0; k < 2; k++) {
    const char* stall = getenv(names[k]);
    if (!stall || !*stall) continue;
    char* end;
    double ms = strtod(stall, &end);
    if (*end || !(ms >= 0 && ms <= 60000))
      return say(r, 1, "trpo: environment variable %s='%s': expected milliseconds from 0 to 60000",
                 names[k], stall), TRPO_EXIT_BADINPUT;
    if (k == 0) trpo_checkpoint_set_stall(ms);
    else r->row_stall_ms = ms;
  }
  int made = trpo_rundir_make(dir, err, sizeof err);
  if (made) return say(r, 1, "trpo: %s", err), made;
  int stale = 0;
  int locked = trpo_rundir_lock(dir, &stale, err, sizeof err);
  if (locked) return say(r, 1, "trpo: %s", err), locked;
  if (stale) say(r, 1, "trpo: took over the stale lock of a dead job in %s", dir);

  // a directory that holds another config's run is refused unless told to start over
  snprintf(r->path, sizeof r->path, "%s/config.ini", dir);
  char key[128];
  trpo_config old;
  trpo_config_default(&old);
  int have = access(r->path, F_OK) == 0;
  if (have && !restart) {
    if (trpo_config_load(&old, r->path, 0, NULL, err, sizeof err)) {
      say(r, 1, "trpo: %s (the run directory's config; use --restart to start over)", err);
      return TRPO_EXIT_BADINPUT;
    }
    if (!same_config(&old, r->cfg, key, sizeof key)) {
      say(r, 1, "trpo: run_dir '%s' holds a run with a different config (key '%s' differs from %s); "
                "choose another run_dir or pass --restart to start over",
          dir, key, r->path);
      return TRPO_EXIT_BADINPUT;
    }
    *resume = 1;
  }
  if (restart) {
    // start over: remove the previous run's progress and checkpoints (ckpt-*.h5 and .tmp)
    char p[TRPO_STRLEN + 300];
    for (int k = 0; k < 2; k++) {
      snprintf(p, sizeof p, "%s/%s", dir, k ? "ranks.csv" : "progress.csv");
      if (unlink(p) && errno != ENOENT)
        return say(r, 1, "trpo: cannot remove %s: %s", p, strerror(errno)), TRPO_EXIT_IOERROR;
    }
    DIR* d = opendir(dir);
    struct dirent* e;
    while (d && (e = readdir(d)))
      if (trpo_checkpoint_file(e->d_name)) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p)) {
          closedir(d);
          return say(r, 1, "trpo: cannot remove %s: %s", p, strerror(errno)), TRPO_EXIT_IOERROR;
        }
      }
    if (d) closedir(d);
  }
  return 0;
}

// rank 0: config.ini, once the checkpoint to resume from (if any) is known to be this config's
static int write_config(runctx* r) {
  char err[1024];
  char path[TRPO_STRLEN + 64];   // not r->path: that names progress.csv from here on
  snprintf(path, sizeof path, "%s/config.ini", r->cfg->run_dir);
  if (trpo_rundir_write_file(path, r->config_text, strlen(r->config_text), err, sizeof err))
    return say(r, 1, "trpo: %s", err), TRPO_EXIT_IOERROR;
  return 0;
}

#define CKPT_CONFIG_MAX (1 << 16)   // bytes of a stored config read (every key at its longest fits)

// the config text stored in checkpoint file ckpt, parsed over *c; 0 or TRPO_EXIT_BADINPUT + message
static int stored_config(trpo_config* c, const char* text, const char* ckpt, char* err,
                         size_t nerr) {
  char name[TRPO_STRLEN + 96];
  snprintf(name, sizeof name, "%s (dataset config)", ckpt);
  if (strlen(text) + 1 >= CKPT_CONFIG_MAX)
    return snprintf(err, nerr, "%s: longer than %d bytes", name, CKPT_CONFIG_MAX - 1),
           TRPO_EXIT_BADINPUT;
  return trpo_config_parse(c, text, name, err, nerr);
}

// A checkpoint carries the config of the run that wrote it. It must be cfg's, but for the keys a
// resumption may change: config.ini may be missing, or not the checkpoints' (copied from another
// run, edited). 0 the same; 1 a key differs (named in key); TRPO_EXIT_BADINPUT with a message
// when the stored config cannot be read.
static int ckpt_config_check(const trpo_config* cfg, const char* text, const char* ckpt,
                             char* key, size_t nkey, char* err, size_t nerr) {
  trpo_config old;
  trpo_config_default(&old);
  if (stored_config(&old, text, ckpt, err, nerr)) return TRPO_EXIT_BADINPUT;
  return same_config(&old, cfg, key, nkey) ? 0 : 1;
}

// a checkpoint's contents judged by the trainer (the file's number against its counters, ...)
static int check_items(void* ctx, long iteration, char* why, size_t nwhy) {
  return trpo_train_items_check(((runctx*)ctx)->tr, iteration, why, nwhy);
}

// rank 0: load the newest good checkpoint; 0 resumed, 1 none, else exit code
static int load(runctx* r) {
  char err[2048], used[TRPO_STRLEN + 64];
  long iter = 0;
  char* text = trpo_alloc(CKPT_CONFIG_MAX);
  int rc = trpo_checkpoint_read_checked(r->cfg->run_dir, r->items, r->nitems, &iter, used,
                                        sizeof used, text, CKPT_CONFIG_MAX, check_items,
                                        report_line, r, err, sizeof err);
  char key[128];
  int c = rc ? 0 : ckpt_config_check(r->cfg, text, used, key, sizeof key, err, sizeof err);
  trpo_alloc_free(text);
  if (rc == 1) return 1;
  if (rc || c == TRPO_EXIT_BADINPUT) {
    say(r, 1, "trpo: %s%s", err, rc ? "" : " (use --restart to start over)");
    return TRPO_EXIT_BADINPUT;
  }
  if (c) {
    say(r, 1, "trpo: run_dir '%s' holds a run with a different config (key '%s' differs from the "
              "config stored in %s); choose another run_dir or pass --restart to start over",
        r->cfg->run_dir, key, used);
    return TRPO_EXIT_BADINPUT;
  }
  say(r, 0, "resuming from %s (iteration %ld)", used, iter);
  // the newer files the reader passed over: kept, but out of the way of the ones this run writes
  trpo_checkpoint_set_aside(r->cfg->run_dir, iter, report_line, r);
  return 0;
}

//---------------------------------- the run --------------------------------------------------------

int trpo_run_agree(trpo_comm* comm, int rc, const char* err) {
  // rank 0 says its own error; the others say theirs only when rank 0 had none (a file that only
  // some nodes lack), each line tagged with its rank, so a config that every rank refuses is one
  // line, not one per rank
  int said = rc && err && err[0];   // a rank that failed no check of its own has no message
  int s[2] = {rc, comm->rank == 0 && said};
  trpo_comm_max_int(comm, s, 2);
  if (said && (comm->rank == 0 || !s[1])) {
    if (comm->rank == 0) fprintf(stderr, "trpo: %s\n", err);
    else fprintf(stderr, "trpo: rank %d: %s\n", comm->rank, err);
    fflush(stderr);
  }
  return s[0];
}

// every rank must run the config that rank 0 runs (a per-node file, or one edited while the job
// started, would otherwise hang the ranks in collectives of different shapes): rank 0's resolved
// text reaches every rank, and a rank whose text differs names its first differing line
static int ranks_same_config(trpo_comm* comm, const char* text, char* err, size_t nerr) {
  if (comm->nrank == 1) return 0;
  size_t n = strlen(text) + 1;
  long len = (long)n;
  trpo_comm_bcast_bytes(comm, &len, sizeof len, 0);
  char* root = trpo_alloc((size_t)len);
  if (comm->rank == 0) memcpy(root, text, n);
  trpo_comm_bcast_bytes(comm, root, (size_t)len, 0);
  int rc = 0;
  if (strcmp(root, text)) {
    // the first line that differs, as this rank has it and as rank 0 has it
    const char *a = text, *b = root;
    for (;;) {
      const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
      size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
      if (la != lb || memcmp(a, b, la) || !ea || !eb) {
        snprintf(err, nerr, "this rank's config differs from rank 0's: '%.*s' where rank 0 has "
                 "'%.*s' (every rank must read the same config file and overrides)",
                 (int)(la < 200 ? la : 200), a, (int)(lb < 200 ? lb : 200), b);
        break;
      }
      a = ea + 1;
      b = eb + 1;
    }
    rc = TRPO_EXIT_BADINPUT;
  }
  trpo_alloc_free(root);
  return rc;
}

static void console_line(runctx* r, const trpo_stats* s) {
  say(r, 0,
      "iter %4.0f | steps %9.0f | return %9.2f +- %7.2f (%3.0f eps, len %6.1f) | kl %.5f | "
      "ent %7.3f | ls %2.0f%s | cg %2.0f | vf_ev %5.2f | %8.0f steps/s",
      s->iteration, s->env_steps, s->return_mean, s->return_std, s->episodes, s->len_mean, s->kl,
      s->entropy, s->ls_steps, s->ls_rejected ? " REJECTED" : "", s->cg_iters, s->vf_explained_var,
      s->steps_per_s);
}

int trpo_run_train(const trpo_config* cfg, const char* config_text, int restart, trpo_comm* comm) {
  runctx rr, *r = &rr;
  memset(r, 0, sizeof *r);
  r->cfg = cfg;
  r->config_text = config_text;
  r->comm = comm;
  r->snap_iter = r->written_iter = r->said_iter = -1;
  pthread_mutex_init(&r->lock, NULL);
  pthread_mutex_init(&r->wlock, NULL);
  pthread_cond_init(&r->cv, NULL);
  comm->timing = cfg->comm_timing;
  comm->nap = cfg->comm_nap;
  comm->node_sum = cfg->comm_node_sum;
  char err[1024] = "";
  // the stop flags from here on: a SIGUSR1 during start-up (environments, lock, loading) would
  // otherwise kill the rank by its default action; it is honoured at the first boundary
  trpo_signal_install();

  // every rank builds its trainer from the same config (the same config gives the same error
  // everywhere; a rank that alone fails says so)
  int rc = trpo_run_agree(comm, ranks_same_config(comm, config_text, err, sizeof err), err);
  if (rc) return rc;
  rc = trpo_run_agree(comm, trpo_train_make(&r->tr, cfg, comm, err, sizeof err), err);
  if (rc) {
    trpo_train_free(r->tr);
    return rc;
  }
  r->nitems = trpo_train_items(r->tr, &r->items);

  // rank 0 opens the directory and loads the newest good checkpoint
  int resume = 0, state[2] = {0, 0};
  if (comm->rank == 0) {
    for (int k = 0; k < r->nitems; k++) {
      r->snap[k] = r->items[k];
      r->snap[k].data = trpo_alloc(trpo_ckpt_item_bytes(&r->items[k]));
    }
    state[0] = open_dir(r, restart, &resume);
    if (!state[0]) {
      char lp[TRPO_STRLEN + 64];
      snprintf(lp, sizeof lp, "%s/train.log", cfg->run_dir);
      r->log = fopen(lp, "a");
      if (!r->log)   // the run goes on; its lines still reach stdout and stderr
        say(r, 1, "trpo: warning: cannot open %s: %s; the run's log lines go to stdout and stderr "
                  "only", lp, strerror(errno));
      int l = load(r);
      if (l == 0) state[1] = 1;
      else if (l != 1) state[0] = l;
      else if (resume) say(r, 1, "trpo: %s has this config but no checkpoint: starting from scratch", cfg->run_dir);
    }
  }
  trpo_comm_max_int(comm, state, 2);
  if (state[0]) goto done_err;
  if (state[1]) trpo_train_scatter(r->tr);
  rc = 0;

  // progress.csv (and ranks.csv, also when this run does not write it) continue after the
  // checkpoint's iteration
  if (comm->rank == 0) {
    snprintf(r->path, sizeof r->path, "%s/progress.csv", cfg->run_dir);
    snprintf(r->rpath, sizeof r->rpath, "%s/ranks.csv", cfg->run_dir);
    char head[2048];
    trpo_stats_header(head, sizeof head);
    state[0] = open_csv(r, r->path, head, &r->csv);
    if (!state[0])
      state[0] = open_csv(r, r->rpath, "iteration,rank,nenv," TRPO_RANK_COLUMNS,
                          cfg->rank_times ? &r->rcsv : NULL);
    // a refused start (at the checkpoint or at these files) leaves config.ini as it found it
    if (!state[0]) state[0] = write_config(r);
  }
  trpo_comm_max_int(comm, state, 1);
  if (state[0]) goto done_err;

  // rank 0's watcher for the fast path
  snapshot(r, NULL, NULL);
  if (comm->rank == 0 && pthread_create(&r->watcher, NULL, watch, r) == 0) r->watching = 1;
  // and its checkpoint writer (without it, checkpoints are written on the main thread)
  if (comm->rank == 0 && pthread_create(&r->writer, NULL, write_loop, r) == 0) r->writing = 1;
  // a CPU quota below the ranks of a node (rank 0's; its cgroup's, assumed shared by them) is a
  // cause of waiting that no setting of ours removes: say so where the user looks first
  int node_ranks = trpo_comm_node_size(comm);
  double quota = trpo_time_cpu_quota();
  if (quota > 0 && quota < node_ranks)
    say(r, 0, "note: the %d ranks on this node share a CPU quota of %.2f CPUs (cgroup), %.0f%% of "
              "a CPU each: an iteration waits for whichever rank was throttled last (%s)",
        node_ranks, quota, 100 * quota / node_ranks,
        cfg->comm_nap && cfg->comm_timing ? "waiting ranks nap, comm_nap = 1, and leave it to the others"
                                          : "waiting ranks spin and spend it; comm_nap = 1 and "
                                            "comm_timing = 1 let them nap");
  int nblas = trpo_linalg_threads();
  say(r, 0, "training %s: %d environments x %d steps per iteration on %d rank%s (%d BLAS thread%s "
            "each), %ld steps total, run_dir %s",
      cfg->env, cfg->nenv, cfg->nsteps, comm->nrank, comm->nrank > 1 ? "s" : "", nblas,
      nblas > 1 ? "s" : "", cfg->total_steps, cfg->run_dir);

  // the loop
  double last_ckpt = trpo_time_now();
  while (trpo_train_env_steps(r->tr) < cfg->total_steps) {
    trpo_stats st;
    int stop = trpo_train_iterate(r->tr, &st);
    int ran[comm->nrank];   // the shares of this iteration, before load balancing moves any
    trpo_train_shares(r->tr, ran);
    // rank 0 logs the iteration with its snapshot; a row that cannot be written is a disk error
    // like a checkpoint's
    int csv_bad = snapshot(r, &st, ran);
    // environments move between ranks; results do not change
    int moved = trpo_train_rebalance(r->tr);
    if (moved && comm->rank == 0 && !cfg->quiet) {
      int share[comm->nrank];
      trpo_train_shares(r->tr, share);
      char line[1024];
      size_t len = 0;
      for (int k = 0; k < comm->nrank && len < sizeof line; k++)
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%d", k ? "," : "", share[k]);
      say(r, 0, "load balancing moved %d environment%s; environments per rank now %s", moved,
          moved > 1 ? "s" : "", line);
    }
    if (comm->rank == 0) console_line(r, &st);
    if (stop == TRPO_STOP_SKIPS) {
      say(r, 1, "trpo: %d consecutive updates were skipped for non-finite gradients, curvature or "
                "surrogate; stopping instead of training on garbage (see skipped_updates in %s)",
          cfg->max_skips, r->path);
      rc = TRPO_EXIT_FAIL;
      break;
    }
    // shared decisions at the boundary: a stop signal on any rank (SIGUSR1, or a SIGTERM that
    // reached this rank alone), a checkpoint due, a log row lost or a checkpoint write failed on
    // rank 0
    long it = trpo_train_iteration(r->tr);
    int sig = trpo_signal_pending();
    int flag[5] = {sig & TRPO_SIG_USR1 ? 1 : 0, sig & TRPO_SIG_TERM ? 1 : 0, 0, csv_bad, 0};
    if (comm->rank == 0) {
      int by_iter = cfg->checkpoint_every > 0 && it % cfg->checkpoint_every == 0;
      int by_time = cfg->checkpoint_minutes > 0 && trpo_time_now() - last_ckpt >= 60 * cfg->checkpoint_minutes;
      flag[2] = by_iter || by_time;
      say_written(r);
      flag[4] = write_failed(r);
    }
    trpo_comm_max_int(comm, flag, 5);
    // without its progress.csv row this iteration is not published (not by the watcher either):
    // a resume redoes it
    if (flag[3] || flag[4]) {
      rc = TRPO_EXIT_IOERROR;
      break;
    }
    int stopsig = flag[0] || flag[1];
    if (stopsig) {
      // on disk before the exit
      int w = checkpoint(r);
      if (w) {
        rc = w;
        break;
      }
    } else if (flag[2]) {
      // rank 0's writer thread puts it on disk while the next iteration runs
      if (comm->rank == 0) checkpoint_async(r);
      last_ckpt = trpo_time_now();
    }
    if (stopsig) {
      say(r, 1, "trpo: stopped by %s after iteration %ld, checkpoint written; exit code %d "
                "means 'checkpointed, not finished' (requeue)",
          flag[0] ? "SIGUSR1" : "SIGTERM/SIGINT", it, TRPO_EXIT_CHECKPOINTED);
      rc = TRPO_EXIT_CHECKPOINTED;
      break;
    }
  }
  // the final state is always published
  if (rc == 0) rc = checkpoint(r);
  uint64_t hp, hv;
  trpo_train_checksum(r->tr, &hp, &hv);
  say(r, 0, "parameters after iteration %ld: policy fnv1a64 %016llx value fnv1a64 %016llx",
      trpo_train_iteration(r->tr), (unsigned long long)hp, (unsigned long long)hv);
  if (rc == 0) say(r, 0, "done: %ld env steps; outputs in %s (progress.csv, train.log, ckpt-*.h5)",
                   trpo_train_env_steps(r->tr), cfg->run_dir);
  goto done;

done_err:
  rc = state[0];
done:
  // a file in the writer's hands is finished (it is good: an earlier iteration's)
  if (r->writing) {
    pthread_mutex_lock(&r->lock);
    r->quit = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->writer, NULL);
  }
  r->done = 1;
  if (r->watching) pthread_join(r->watcher, NULL);
  if (r->csv) fclose(r->csv);
  if (r->rcsv) fclose(r->rcsv);
  if (comm->rank == 0) trpo_rundir_unlock(cfg->run_dir);   // removes only our own lock
  if (r->log) fclose(r->log);
  if (comm->rank == 0)
    for (int k = 0; k < r->nitems; k++) trpo_alloc_free(r->snap[k].data);
  trpo_train_free(r->tr);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->wlock);
  pthread_mutex_destroy(&r->lock);
  return rc;
}

//---------------------------------- evaluation -----------------------------------------------------

int trpo_run_eval(const char* run_dir, int episodes, int deterministic, trpo_comm* comm) {
  char path[TRPO_STRLEN + 64], err[2048] = "", used[TRPO_STRLEN + 64] = "";
  trpo_config cfg;
  trpo_config_default(&cfg);
  snprintf(path, sizeof path, "%s/config.ini", run_dir);
  int have = access(path, F_OK) == 0 || errno != ENOENT;
  if (have && trpo_config_load(&cfg, path, 0, NULL, err, sizeof err)) {
    if (comm->rank == 0) fprintf(stderr, "trpo: %s (is '%s' a run directory?)\n", err, run_dir);
    return TRPO_EXIT_BADINPUT;
  }
  if (!have) {
    // checkpoints copied without their config.ini: the newest one whose config reads says how
    // to build the policy (its items are checked against that config below)
    char* text = trpo_alloc(CKPT_CONFIG_MAX);
    int rc = trpo_checkpoint_read(run_dir, NULL, 0, NULL, used, sizeof used, text, CKPT_CONFIG_MAX,
                                  NULL, NULL, err, sizeof err);
    if (rc == 1) snprintf(err, sizeof err, "no config.ini and no checkpoint in '%s' (is it a run "
                                           "directory?)", run_dir);
    if (rc == 0) rc = stored_config(&cfg, text, used, err, sizeof err);
    trpo_alloc_free(text);
    if (rc) {
      if (comm->rank == 0) fprintf(stderr, "trpo: %s\n", err);
      return TRPO_EXIT_BADINPUT;
    }
    if (comm->rank == 0)
      fprintf(stderr, "trpo: no config.ini in %s: using the config stored in %s\n", run_dir, used);
  }
  // evaluation runs on rank 0; the trainer it loads into still shares the run's environments
  if (cfg.nenv < comm->nrank) {
    if (comm->rank == 0)
      fprintf(stderr, "trpo: eval: the run in %s has %d environments, fewer than the %d ranks "
              "started; evaluation runs on rank 0: start it on one rank\n", run_dir, cfg.nenv,
              comm->nrank);
    return TRPO_EXIT_BADINPUT;
  }
  trpo_train* tr = NULL;
  int rc = trpo_run_agree(comm, trpo_train_make(&tr, &cfg, comm, err, sizeof err), err);
  if (rc) {
    trpo_train_free(tr);
    return rc;
  }
  // rank 0 reads the newest good checkpoint; the state reaches every rank
  trpo_ckptitem* items;
  int nitems = trpo_train_items(tr, &items);
  long iter = 0;
  rc = 0;
  if (comm->rank == 0) {
    runctx r;
    memset(&r, 0, sizeof r);
    r.cfg = &cfg;
    r.comm = comm;
    r.tr = tr;
    char* text = trpo_alloc(CKPT_CONFIG_MAX);
    rc = trpo_checkpoint_read_checked(run_dir, items, nitems, &iter, used, sizeof used, text,
                                      CKPT_CONFIG_MAX, check_items, report_line, &r, err,
                                      sizeof err);
    if (rc == 1) snprintf(err, sizeof err, "no checkpoint in %s", run_dir);
    // the policy was built from config.ini (or the newest stored config): it must be the config
    // of the checkpoint read
    char key[128];
    int c = rc ? 0 : ckpt_config_check(&cfg, text, used, key, sizeof key, err, sizeof err);
    trpo_alloc_free(text);
    if (c == 1)
      snprintf(err, sizeof err, "%s/config.ini is not the config of %s (key '%s' differs)", run_dir,
               used, key);
    if (c) rc = TRPO_EXIT_BADINPUT;
    if (rc) {
      fprintf(stderr, "trpo: %s\n", err);
      rc = TRPO_EXIT_BADINPUT;
    }
  }
  trpo_comm_max_int(comm, &rc, 1);
  if (!rc) trpo_train_scatter(tr);
  if (!rc && comm->rank == 0) {
    double mean = 0, sd = 0, len = 0;
    rc = trpo_train_evaluate(tr, episodes, deterministic, &mean, &sd, &len, err, sizeof err);
    if (rc) fprintf(stderr, "trpo: %s\n", err);
    else
      printf("%s iteration %ld (%s): %s policy, %d episodes: return %.3f +- %.3f, length %.1f\n",
             cfg.env, iter, used, deterministic ? "deterministic" : "stochastic", episodes, mean,
             sd, len);
  }
  trpo_comm_max_int(comm, &rc, 1);
  trpo_train_free(tr);
  return rc;
}
