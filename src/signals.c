// signals.c: the stop flags set by SIGUSR1, SIGTERM and SIGINT (the trpo_signal_* functions of the
// rundir section). Not the reaction to them: the trainer polls trpo_signal_pending() at iteration
// boundaries, OR-reduces it over ranks, checkpoints and exits with TRPO_EXIT_CHECKPOINTED.
//
// SIGUSR1 (Slurm's warning before the time limit) sets TRPO_SIG_USR1; SIGTERM or SIGINT sets
// TRPO_SIG_TERM, and a second SIGTERM/SIGINT while that flag is still set calls
// _exit(TRPO_EXIT_CHECKPOINTED) inside the handler: no stdio flush, no atexit, no file touched
// (the last published checkpoint is the one a requeue resumes from).
//
// Handlers are installed with SA_RESTART, so a signal does not make a blocking read, write or
// wait fail with EINTR inside MPI, HDF5 or stdio: the call resumes and the flag is seen at the
// next iteration boundary. (Calls that Linux never restarts, such as poll, epoll_wait and
// nanosleep, still return EINTR; their callers in Open MPI and libevent retry.) The handlers
// block each other while they run, so the flags are plain stores of volatile sig_atomic_t.

#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <unistd.h>

#include "trpo/trpo.h"

static volatile sig_atomic_t got_usr1;
static volatile sig_atomic_t got_term;

static void onsignal(int sig) {
  // async-signal-safe only: stores and _exit
  if (sig == SIGUSR1) {
    got_usr1 = 1;
    return;
  }
  if (got_term) _exit(TRPO_EXIT_CHECKPOINTED);
  got_term = 1;
}

void trpo_signal_install(void) {
  // one handler for the three, each blocking all three while it runs
  struct sigaction sa;
  sa.sa_handler = onsignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR1);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaddset(&sa.sa_mask, SIGINT);
  // a failure here is a bug (the signal numbers are valid)
  int sigs[3] = {SIGUSR1, SIGTERM, SIGINT};
  for (int i = 0; i < 3; i++)
    if (sigaction(sigs[i], &sa, NULL) < 0) TRPO_FATAL("sigaction(%d) failed", sigs[i]);
}

int trpo_signal_pending(void) {
  return (got_usr1 ? TRPO_SIG_USR1 : 0) | (got_term ? TRPO_SIG_TERM : 0);
}

void trpo_signal_clear(void) {
  got_usr1 = 0;
  got_term = 0;
}
