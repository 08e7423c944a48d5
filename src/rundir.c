// rundir.c: the run directory: creation, the single-run lock, safe small-file writes, and the
// rewind of progress.csv on restart. Plain POSIX, no third-party library, no MPI (rank 0 calls
// these). Not the checkpoint files themselves (checkpoint.c) and not signal handling (signals.c).
//
// The lock is DIR/lock holding "host pid". It is written whole into DIR/lock.new.PID first and
// then hard-linked to DIR/lock (link fails if a lock exists, like O_EXCL), so a process killed
// while taking the lock never leaves an empty or partial lock behind (it may leave its
// lock.new.PID, which only costs a few bytes). A lock left by a dead process of this host (kill(pid, 0) fails with ESRCH, or /proc shows a zombie) is stale and taken
// over; a lock of another host cannot be checked and is never taken over. Known limits: a stale
// pid reused by an unrelated live process makes the lock look live (the message says how to clear
// it), and the lock assumes the writers of DIR share one pid namespace per host name. Everything here runs at start-up or
// shutdown, so the CSV rewind may use getline's malloc'd line buffer.

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "trpo/trpo.h"

#define PATHLEN 4096
#define HOSTLEN 256

//---------------------------------- helpers -------------------------------------------------------

// fsync the directory that holds path; 0 or -1 with errno
static int syncparent(const char* path) {
  char d[PATHLEN];
  snprintf(d, sizeof d, "%s", path);
  char* slash = strrchr(d, '/');
  if (!slash) snprintf(d, sizeof d, ".");
  else if (slash == d) d[1] = 0;
  else *slash = 0;
  int fd = open(d, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd), e = errno;
  close(fd);
  errno = e;
  return rc;
}

// write all of buf to fd, retrying short writes and EINTR; 0 or -1 with errno
static int writeall(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, buf, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    buf += k;
    n -= (size_t)k;
  }
  return 0;
}

// fsync and close fd, rename tmp over path, fsync the directory; on failure tmp is removed and
// the message names what failed
static int publish(int fd, const char* tmp, const char* path, char* err, size_t nerr) {
  // the data durable
  if (fsync(fd) < 0) {
    snprintf(err, nerr, "cannot write %s: fsync: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return TRPO_EXIT_IOERROR;
  }
  if (close(fd) < 0) {
    snprintf(err, nerr, "cannot write %s: close: %s", tmp, strerror(errno));
    unlink(tmp);
    return TRPO_EXIT_IOERROR;
  }
  // the new name atomic, then durable
  if (rename(tmp, path) < 0) {
    snprintf(err, nerr, "cannot replace %s: rename from %s: %s", path, tmp, strerror(errno));
    unlink(tmp);
    return TRPO_EXIT_IOERROR;
  }
  if (syncparent(path) < 0) {
    snprintf(err, nerr, "cannot write %s: fsync of its directory: %s", path, strerror(errno));
    return TRPO_EXIT_IOERROR;
  }
  return 0;
}

// this host's name
static void hostname(char* h, size_t n) {
  if (gethostname(h, n) < 0) snprintf(h, n, "unknown");
  h[n - 1] = 0;
}

// A lock holds "host pid", and under Slurm " JOBID RESTART" after them: the job's id and its
// SLURM_RESTART_COUNT, so that a requeued job (same id, a higher count: Slurm starts it again only
// once the earlier run has ended) may take over the lock its earlier run left on another node.
typedef struct {
  char host[HOSTLEN];
  long pid;
  char job[64];    // "" outside Slurm
  long restart;
} lockline;

// the length of the Slurm job id at the start of s (digits, and '_' of an array task)
static size_t jobid_len(const char* s) { return strspn(s, "0123456789_"); }

// the exit code of a file that could not be made or written: a full or failing disk is exit 3
// (free space, rerun); a path that cannot be written here (a file in the way, no permission, a
// read-only file system) is input
static int write_failure(int e) {
  return e == ENOSPC || e == EIO || e == EDQUOT ? TRPO_EXIT_IOERROR : TRPO_EXIT_BADINPUT;
}

// this process's lock line
static void mylock(lockline* l) {
  hostname(l->host, sizeof l->host);
  l->pid = (long)getpid();
  const char* job = getenv("SLURM_JOB_ID");
  const char* rs = getenv("SLURM_RESTART_COUNT");
  snprintf(l->job, sizeof l->job, "%s", job && jobid_len(job) == strlen(job) ? job : "");
  l->restart = rs ? atol(rs) : 0;
}

// a lock file's fields: 0, or -1 if it cannot be read or parsed
static int readlock(const char* path, lockline* l) {
  char buf[HOSTLEN + 160];
  long n = trpo_rundir_read_file(path, buf, sizeof buf);
  if (n <= 0 || memchr(buf, 0, (size_t)n)) return -1;
  char* sp = strchr(buf, ' ');
  if (!sp || (size_t)(sp - buf) >= sizeof l->host) return -1;
  memcpy(l->host, buf, (size_t)(sp - buf));
  l->host[sp - buf] = 0;
  char* end = NULL;
  l->pid = strtol(sp + 1, &end, 10);
  if (end == sp + 1 || l->pid <= 0) return -1;
  l->job[0] = 0;
  l->restart = 0;
  if (*end == ' ') {
    // " JOBID RESTART"
    char* job = end + 1;
    size_t nj = jobid_len(job);
    if (nj == 0 || nj >= sizeof l->job || job[nj] != ' ') return -1;
    memcpy(l->job, job, nj);
    l->job[nj] = 0;
    char* rs = job + nj + 1;
    l->restart = strtol(rs, &end, 10);
    if (end == rs || l->restart < 0) return -1;
  }
  return *end && *end != '\n' ? -1 : 0;
}

// whether process pid of this host can hold a lock. kill(pid, 0) also succeeds for a zombie, which
// holds nothing: a rank killed with mpirun stays one until the init process reaps it (mpirun may
// exit first, and a container's pid 1 may reap late), so on Linux the state in /proc decides.
// A process we may not signal (EPERM) is alive; without /proc, kill's answer stands.
static int alive(long pid) {
  if (kill((pid_t)pid, 0) < 0) return errno != ESRCH;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (trpo_rundir_read_file(path, buf, sizeof buf) <= 0) return !(kill((pid_t)pid, 0) < 0 && errno == ESRCH);
  // "pid (comm) S ...": the state follows the last ')'
  const char* rp = strrchr(buf, ')');
  if (!rp || rp[1] != ' ') return 1;
  return rp[2] != 'Z' && rp[2] != 'X';
}

//---------------------------------- exported ------------------------------------------------------

int trpo_rundir_make(const char* dir, char* err, size_t nerr) {
  char p[PATHLEN];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p || !p[0]) {
    snprintf(err, nerr, "key 'run_dir': cannot create run directory '%s': empty or too long", dir);
    return TRPO_EXIT_BADINPUT;
  }
  // each prefix ending before a '/', then the whole path
  for (char* s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    struct stat st;
    if (mkdir(p, 0777) < 0 && !(errno == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))) {
      if (errno == EEXIST) errno = ENOTDIR;
      int e = errno;
      snprintf(err, nerr, "key 'run_dir': cannot create run directory %s (at %s): %s", dir, p,
               strerror(e));
      return write_failure(e);
    }
    *s = c;
    if (!c) break;
  }
  return 0;
}

// whether the holder of lock l is gone, as far as this process can tell: a process of this host
// that is not running (or is this process: a pid of an earlier container, now ours), or an earlier
// run of this Slurm job (requeued, so that run has ended, on whichever node it ran)
static int holder_gone(const lockline* l, const lockline* me) {
  if (!strcmp(l->host, me->host) && (l->pid == me->pid || !alive(l->pid))) return 1;
  return l->job[0] && !strcmp(l->job, me->job) && l->restart < me->restart;
}

int trpo_rundir_lock(const char* dir, int* stale, char* err, size_t nerr) {
  char lock[PATHLEN], aside[PATHLEN], fresh[PATHLEN], line[HOSTLEN + 160];
  if (stale) *stale = 0;
  snprintf(lock, sizeof lock, "%s/lock", dir);
  snprintf(aside, sizeof aside, "%s/lock.stale.%ld", dir, (long)getpid());
  snprintf(fresh, sizeof fresh, "%s/lock.new.%ld", dir, (long)getpid());
  lockline me;
  mylock(&me);
  int nline = me.job[0] ? snprintf(line, sizeof line, "%s %ld %s %ld\n", me.host, me.pid, me.job, me.restart)
                        : snprintf(line, sizeof line, "%s %ld\n", me.host, me.pid);
  // our lock, whole and durable, under a private name
  int fd = open(fresh, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    int e = errno;
    snprintf(err, nerr, "cannot create lock %s: %s", fresh, strerror(e));
    return write_failure(e);
  }
  int bad = writeall(fd, line, (size_t)nline) < 0 || fsync(fd) < 0;
  int e = errno;
  if (close(fd) < 0 || bad) {
    e = bad ? e : errno;
    snprintf(err, nerr, "cannot write lock %s: %s", fresh, strerror(e));
    unlink(fresh);
    return write_failure(e);
  }
  int rc = TRPO_EXIT_BADINPUT, round = 0;
  // a few rounds: each either takes the lock, refuses, or clears one stale lock
  for (; round < 8; round++) {
    // try to publish it
    if (link(fresh, lock) == 0) {
      rc = 0;
      break;
    }
    if (errno != EEXIST) {
      snprintf(err, nerr, "cannot create lock %s: %s", lock, strerror(errno));
      break;
    }
    // who holds it
    lockline held;
    if (readlock(lock, &held) < 0) {
      if (access(lock, F_OK) < 0) continue;   // released meanwhile
      snprintf(err, nerr, "run directory %s is locked, but lock %s is unreadable or not "
               "\"host pid\"; if no run uses %s, remove %s", dir, lock, dir, lock);
      break;
    }
    // a live holder, or one we cannot check, keeps it
    if (!holder_gone(&held, &me)) {
      snprintf(err, nerr, "run directory %s is in use by pid %ld on host %s (lock %s); if that "
               "run is gone, remove %s", dir, held.pid, held.host, lock, lock);
      break;
    }
    // stale: move it aside, and make sure what we moved is the lock we judged dead
    if (rename(lock, aside) < 0) continue;
    lockline moved;
    if (readlock(aside, &moved) < 0 || moved.pid != held.pid || strcmp(moved.host, held.host) ||
        strcmp(moved.job, held.job) || moved.restart != held.restart) {
      // a racer's fresh lock: put it back unless another lock appeared meanwhile
      if (link(aside, lock) < 0 && errno != EEXIST) {
        snprintf(err, nerr, "cannot restore lock %s from %s: %s", lock, aside, strerror(errno));
        break;
      }
      unlink(aside);
      continue;
    }
    unlink(aside);
    if (stale) *stale = 1;
  }
  // the private name goes either way (published, the lock is its other link)
  if (round == 8) snprintf(err, nerr, "cannot take lock %s: it keeps changing hands", lock);
  unlink(fresh);
  return rc;
}

void trpo_rundir_unlock(const char* dir) {
  // only a lock holding our own host and pid
  char lock[PATHLEN];
  lockline held, me;
  snprintf(lock, sizeof lock, "%s/lock", dir);
  mylock(&me);
  if (readlock(lock, &held) == 0 && held.pid == me.pid && !strcmp(held.host, me.host))
    unlink(lock);
}

// split a line (no quoting) in place at its commas; the newline is cut off the last field.
// Stores up to max field pointers; returns the number of fields
static int split(char* line, char** f, int max) {
  int n = 0;
  for (char* p = line;; p++) {
    if (n < max) f[n] = p;
    n++;
    p += strcspn(p, ",\n");
    if (*p != ',') {
      *p = 0;
      return n;
    }
    *p = 0;
  }
}

// the commas among the first n bytes of s
static long commas(const char* s, size_t n) {
  long k = 0;
  for (size_t i = 0; i < n; i++) k += s[i] == ',';
  return k;
}

// whether line (n bytes, newline-terminated, k commas) can be the header of path: column names,
// `iteration` first, no NUL byte (a crash can leave blocks of them; C strings would stop there
// while the commas go on). 0, or TRPO_EXIT_BADINPUT + message
static int checkhead(const char* path, const char* line, size_t n, long k, char* err, size_t nerr) {
  const char* nul = memchr(line, 0, n);
  const char* why = "does not have 'iteration' as its first column";
  char at[64];
  if (nul) {
    snprintf(at, sizeof at, "holds a NUL byte at byte %ld", (long)(nul - line) + 1);
    why = at;
  } else if (k >= INT_MAX) {
    why = "has too many columns";
  } else if (!strncmp(line, "iteration", 9) && (line[9] == ',' || line[9] == '\n')) {
    return 0;
  }
  snprintf(err, nerr, "cannot rewind %s: line 1, its header, %s; the file is left as it was: "
           "repair that line or move the file aside", path, why);
  return TRPO_EXIT_BADINPUT;
}

// the file's header line head (nold names, checked; split in place into name) against ours
// (ncol names): map[j] = the file's column named as our column j, or -1
static void mapcols(char* head, char** name, int nold, const char* header, int* map, int ncol,
                    const char* path) {
  char* ours = strdup(header);
  char** mine = malloc(sizeof(char*) * (size_t)ncol);
  if (!ours || !mine) TRPO_FATAL("out of memory rewriting %s", path);
  // every name set: nold and ncol are the comma counts plus one, and neither line holds a NUL
  int nhead = split(head, name, nold), nours = split(ours, mine, ncol);
  TRPO_CHECK(nhead == nold && nours == ncol);
  for (int j = 0; j < ncol; j++) {
    map[j] = -1;
    for (int i = 0; i < nold && map[j] < 0; i++)
      if (!strcmp(mine[j], name[i])) map[j] = i;
  }
  free(mine);
  free(ours);
}

// a row in the columns of the current header: the field of the same name, "nan" for a column
// the file did not have; written to fd, 0 or -1 with errno
static int write_mapped(int fd, char** field, const int* map, int ncol) {
  for (int j = 0; j < ncol; j++) {
    const char* v = map[j] < 0 ? "nan" : field[map[j]];
    if ((j && writeall(fd, ",", 1) < 0) || writeall(fd, v, strlen(v)) < 0) return -1;
  }
  return writeall(fd, "\n", 1);
}

int trpo_rundir_truncate_csv(const char* path, long last, const char* header, int* converted,
                             char* err, size_t nerr) {
  if (converted) *converted = 0;
  char tmp[PATHLEN];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    snprintf(err, nerr, "cannot rewrite %s: path too long", path);
    return TRPO_EXIT_IOERROR;
  }
  // nothing to rewind without a file
  FILE* in = fopen(path, "r");
  if (!in) {
    if (errno == ENOENT) return 0;
    snprintf(err, nerr, "cannot read %s: %s", path, strerror(errno));
    return TRPO_EXIT_IOERROR;
  }
  // the file's header, refused (the file untouched) unless it is one; as ours, or the map from
  // our columns to its columns. A torn first line (a killed first write) leaves no header to keep
  char* buf = NULL;
  size_t cap = 0;
  int rc = 0, bad = 0, ncol = 0, nold = 0, *map = NULL;
  char** field = NULL;
  long ncomma = -1;
  ssize_t n = getline(&buf, &cap, in);
  if (n > 0 && buf[n - 1] == '\n') {
    ncomma = commas(buf, (size_t)n);
    rc = checkhead(path, buf, (size_t)n, ncomma, err, nerr);
    // no NUL in buf, so header[n - 1] is at most header's terminator
    if (!rc && header && (strncmp(buf, header, (size_t)n - 1) || header[n - 1])) {
      nold = (int)ncomma + 1;
      ncol = (int)commas(header, strlen(header)) + 1;
      map = malloc(sizeof(int) * (size_t)ncol);
      field = malloc(sizeof(char*) * (size_t)nold);   // the file's names, then each row's fields
      if (!map || !field) TRPO_FATAL("out of memory rewriting %s", path);
      mapcols(buf, field, nold, header, map, ncol, path);
      if (converted) *converted = 1;
    }
  }
  // the rewound file beside the original, starting with the header
  int fd = -1;
  if (!rc && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
    snprintf(err, nerr, "cannot write %s: %s", tmp, strerror(errno));
    rc = TRPO_EXIT_IOERROR;
  }
  if (!rc && ncomma >= 0)
    bad = map ? writeall(fd, header, strlen(header)) < 0 || writeall(fd, "\n", 1) < 0
              : writeall(fd, buf, (size_t)n) < 0;
  // the complete rows (newline-terminated, no NUL byte, as many columns as the header) whose
  // iteration is <= last; any other row, such as the torn last row of a killed run, is dropped.
  // A file written by a build with other columns is rewritten in the current header's columns
  while (!rc && !bad && (n = getline(&buf, &cap, in)) > 0) {
    char* end = NULL;
    if (buf[n - 1] != '\n' || commas(buf, (size_t)n) != ncomma || memchr(buf, 0, (size_t)n))
      continue;
    double it = strtod(buf, &end);
    if (end == buf || (*end != ',' && *end != '\n') || it > (double)last) continue;
    if (map) bad = split(buf, field, nold) == nold && write_mapped(fd, field, map, ncol) < 0;
    else bad = writeall(fd, buf, (size_t)n) < 0;
  }
  // the loop ends at the end of the file, or else on an error (a read error, a line too long for
  // memory, a write error), which must not pass for the end
  int rerr = !rc && !bad && !feof(in);
  int e = errno;
  free(buf);
  free(map);
  free(field);
  fclose(in);
  if (!rc && (bad || rerr)) {
    snprintf(err, nerr, "cannot rewrite %s: %s %s: %s", path, bad ? "writing" : "reading",
             bad ? tmp : path, strerror(e));
    rc = TRPO_EXIT_IOERROR;
  }
  if (rc && fd >= 0) {
    close(fd);
    unlink(tmp);
  }
  if (rc) return rc;
  // replace the original
  return publish(fd, tmp, path, err, nerr);
}

int trpo_rundir_write_file(const char* path, const char* text, size_t n, char* err, size_t nerr) {
  char tmp[PATHLEN];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    snprintf(err, nerr, "cannot write %s: path too long", path);
    return TRPO_EXIT_IOERROR;
  }
  // the new content beside the old
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    snprintf(err, nerr, "cannot write %s: %s", tmp, strerror(errno));
    return TRPO_EXIT_IOERROR;
  }
  if (writeall(fd, text, n) < 0) {
    snprintf(err, nerr, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return TRPO_EXIT_IOERROR;
  }
  // durable, then in place
  return publish(fd, tmp, path, err, nerr);
}

long trpo_rundir_read_file(const char* path, char* buf, size_t nbuf) {
  if (nbuf == 0) return -1;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  // up to nbuf-1 bytes (a longer file is cut there), NUL-terminated
  size_t got = 0;
  while (got + 1 < nbuf) {
    ssize_t k = read(fd, buf + got, nbuf - 1 - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      close(fd);
      return -1;
    }
    if (k == 0) break;
    got += (size_t)k;
  }
  close(fd);
  buf[got] = 0;
  return (long)got;
}
