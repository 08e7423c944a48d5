// test_signals.c: the stop flags (SIGUSR1, SIGTERM, SIGINT), the immediate exit with
// TRPO_EXIT_CHECKPOINTED on a second SIGTERM/SIGINT, and SA_RESTART (a blocking read survives a
// signal). Cases that may exit run in forked children.

#define _POSIX_C_SOURCE 200809L

#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

// exit status of child pid (-1 if it did not exit normally)
static int reap(pid_t pid) {
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_usr1(void** state) {
  (void)state;
  trpo_signal_install();
  trpo_signal_clear();
  assert_int_equal(trpo_signal_pending(), 0);
  // the flag is set and stays set; repeats change nothing
  raise(SIGUSR1);
  assert_int_equal(trpo_signal_pending(), TRPO_SIG_USR1);
  raise(SIGUSR1);
  assert_int_equal(trpo_signal_pending(), TRPO_SIG_USR1);
  trpo_signal_clear();
  assert_int_equal(trpo_signal_pending(), 0);
}

static void test_term_once(void** state) {
  (void)state;
  // one SIGTERM or SIGINT only sets the flag (we are still here to check it)
  trpo_signal_install();
  trpo_signal_clear();
  raise(SIGTERM);
  assert_int_equal(trpo_signal_pending(), TRPO_SIG_TERM);
  raise(SIGUSR1);
  assert_int_equal(trpo_signal_pending(), TRPO_SIG_TERM | TRPO_SIG_USR1);
  trpo_signal_clear();
  raise(SIGINT);
  assert_int_equal(trpo_signal_pending(), TRPO_SIG_TERM);
  trpo_signal_clear();
}

// a child that installs the handlers, raises a then b, and exits 0 if it survives
static int raise_two(int a, int b) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    trpo_signal_install();
    raise(a);
    if (trpo_signal_pending() != TRPO_SIG_TERM) _exit(1);
    raise(b);
    _exit(0);
  }
  return reap(pid);
}

static void test_term_twice(void** state) {
  (void)state;
  assert_int_equal(raise_two(SIGTERM, SIGTERM), TRPO_EXIT_CHECKPOINTED);
  assert_int_equal(raise_two(SIGINT, SIGTERM), TRPO_EXIT_CHECKPOINTED);
  assert_int_equal(raise_two(SIGTERM, SIGINT), TRPO_EXIT_CHECKPOINTED);
  // after a clear, the next SIGTERM is a first one again
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    trpo_signal_install();
    raise(SIGTERM);
    trpo_signal_clear();
    raise(SIGTERM);
    _exit(trpo_signal_pending() == TRPO_SIG_TERM ? 0 : 1);
  }
  assert_int_equal(reap(pid), 0);
}

static void test_term_from_outside(void** state) {
  (void)state;
  // two SIGTERMs sent by another process, the second after the first was seen
  int up[2];
  assert_int_equal(pipe(up), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    trpo_signal_install();
    if (write(up[1], "r", 1) != 1) _exit(1);
    while (!trpo_signal_pending()) nap(1);
    if (write(up[1], "t", 1) != 1) _exit(1);
    for (int i = 0; i < 5000; i++) nap(1);
    _exit(0);
  }
  char c;
  assert_int_equal(read(up[0], &c, 1), 1);
  assert_int_equal(kill(pid, SIGTERM), 0);
  assert_int_equal(read(up[0], &c, 1), 1);
  assert_int_equal(c, 't');
  assert_int_equal(kill(pid, SIGTERM), 0);
  assert_int_equal(reap(pid), TRPO_EXIT_CHECKPOINTED);
  close(up[0]);
  close(up[1]);
}

static void test_restart(void** state) {
  (void)state;
  // a child blocked in read() gets SIGUSR1: with SA_RESTART the read resumes, no EINTR
  int up[2], data[2];
  assert_int_equal(pipe(up), 0);
  assert_int_equal(pipe(data), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    trpo_signal_install();
    if (write(up[1], "r", 1) != 1) _exit(3);
    char c;
    ssize_t n = read(data[0], &c, 1);
    _exit(n == 1 && c == 'd' && trpo_signal_pending() == TRPO_SIG_USR1 ? 0 : n < 0 ? 2 : 1);
  }
  char c;
  assert_int_equal(read(up[0], &c, 1), 1);
  nap(50);   // let the child reach read()
  assert_int_equal(kill(pid, SIGUSR1), 0);
  nap(50);
  assert_int_equal(write(data[1], "d", 1), 1);
  assert_int_equal(reap(pid), 0);
  close(up[0]);
  close(up[1]);
  close(data[0]);
  close(data[1]);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usr1),        cmocka_unit_test(test_term_once),
      cmocka_unit_test(test_term_twice),  cmocka_unit_test(test_term_from_outside),
      cmocka_unit_test(test_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
