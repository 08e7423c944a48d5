// test_mpi_fatal.c: a fatal error on one rank ends the whole job at once, with a non-zero code.
//
// Two modes. Without arguments (the serial CTest case) it forks a child that starts MPI as a
// singleton and calls TRPO_FATAL; the parent requires the child to end within seconds with a
// non-zero status and the one-line report naming rank 0. With "collective TIMING" it is the job
// that tests/mpi_fatal.sh launches through mpiexec at 1, 2 and 4 ranks: after a barrier, rank 1
// (rank 0 when alone) sleeps a second and calls TRPO_FATAL, stamping the wall-clock time in its
// message, while every other rank waits in an exact-sum allreduce (with TIMING 1 first in the
// timing barrier). Should the collective ever return, the rank says so and the job exits 0,
// which the script counts as a failure; the script also measures the time from the stamp to the
// job's end. Not here: fatal errors inside training (the same trpo_fatal path).

#include "testutil.h"   // first: it defines _GNU_SOURCE (feenableexcept, POSIX)

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// seconds since the epoch (comparable with `date +%s.%N` in the script)
static double realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

// the job launched by tests/mpi_fatal.sh
static int collective(int timing, int* argc, char*** argv) {
  trpo_comm comm;
  trpo_comm_init(&comm, argc, argv);
  comm.timing = timing;
  trpo_comm_barrier(&comm);
  int victim = comm.nrank > 1 ? 1 : 0;
  if (comm.rank == victim) {
    // give the others time to be inside the collective
    sleep_s(1.0);
    TRPO_FATAL("deliberate fatal error while the other ranks wait in a collective; at %.6f",
               realtime());
  }
  trpo_fxsum s;
  trpo_fxsum_make(&s, 1000);
  double x[1000];
  for (int k = 0; k < 1000; k++) x[k] = comm.rank + 0.25 * k;
  trpo_fxsum_add(&s, x);
  fprintf(stderr, "test_mpi_fatal: rank %d waits in an allreduce (timing barrier %s)\n", comm.rank,
          timing ? "on" : "off");
  trpo_comm_sum_fx(&comm, &s);
  // not reached when the job is taken down
  fprintf(stderr, "test_mpi_fatal: rank %d: the collective returned although rank %d is dead\n",
          comm.rank, victim);
  trpo_fxsum_free(&s);
  trpo_comm_finalize(&comm);
  return 0;
}

// the serial case: a singleton's fatal error ends it, non-zero, within seconds
static int singleton(void) {
  int fd[2];
  if (pipe(fd)) return perror("pipe"), 1;
  double t0 = realtime();
  pid_t pid = fork();
  if (pid < 0) return perror("fork"), 1;
  if (pid == 0) {
    // child: MPI as a singleton, then the fatal path
    dup2(fd[1], 2);
    close(fd[0]);
    int argc = 1;
    char* args[] = {"test_mpi_fatal", NULL};
    char** argv = args;
    trpo_comm comm;
    trpo_comm_init(&comm, &argc, &argv);
    TRPO_FATAL("deliberate fatal error of a singleton");
  }
  close(fd[1]);
  // wait at most 30 s; a child still alive then is killed and the test fails
  int status = 0, done = 0;
  while (!done && realtime() - t0 < 30) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) done = 1;
    else sleep_s(0.01);
  }
  double dt = realtime() - t0;
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fprintf(stderr, "test_mpi_fatal: the singleton still ran %.1f s after its fatal error\n", dt);
    return 1;
  }
  // its report (helpers MPI started may hold the pipe open: read what is there)
  char buf[8192] = "";
  fcntl(fd[0], F_SETFL, O_NONBLOCK);
  ssize_t n = read(fd[0], buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  close(fd[0]);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("singleton: ended with code %d after %.2f s; its report:\n%s", code, dt, buf);
  int ok = code != 0 && dt < 10 && strstr(buf, "trpo: fatal [rank 0]") &&
           strstr(buf, "deliberate fatal error of a singleton");
  printf("%s\n", ok ? "ok" : "FAILED: expected a non-zero code within 10 s and the report line");
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  trpo_test_traps();
  if (argc == 3 && !strcmp(argv[1], "collective")) return collective(atoi(argv[2]), &argc, &argv);
  if (argc == 1) return singleton();
  fprintf(stderr, "usage: test_mpi_fatal [collective TIMING]\n");
  return 2;
}
