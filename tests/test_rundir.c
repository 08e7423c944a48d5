// test_rundir.c: run directory creation, the lock (refusal naming the holder, stale takeover,
// unlock of our own lock only), safe small-file writes and the rewind of progress.csv.

#define _POSIX_C_SOURCE 200809L

#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void newdir(char* dir) {
  snprintf(dir, 64, "/tmp/trpo_rundir_XXXXXX");
  assert_non_null(mkdtemp(dir));
}

static void rmtree(const char* dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static int isdir(const char* p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char* p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void put(const char* p, const char* text) {
  FILE* f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

// write n bytes (NUL bytes included)
static void putn(const char* p, const char* text, size_t n) {
  FILE* f = fopen(p, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void test_make(void** state) {
  (void)state;
  char dir[64], p[256], err[512] = "";
  newdir(dir);
  // parents created, existing directories fine, trailing slash fine
  snprintf(p, sizeof p, "%s/a/b/c", dir);
  assert_int_equal(trpo_rundir_make(p, err, sizeof err), 0);
  assert_true(isdir(p));
  assert_int_equal(trpo_rundir_make(p, err, sizeof err), 0);
  snprintf(p, sizeof p, "%s/a/d/", dir);
  assert_int_equal(trpo_rundir_make(p, err, sizeof err), 0);
  snprintf(p, sizeof p, "%s/a/d", dir);
  assert_true(isdir(p));
  // a regular file in the way
  snprintf(p, sizeof p, "%s/file", dir);
  put(p, "x");
  snprintf(p, sizeof p, "%s/file/sub", dir);
  assert_int_equal(trpo_rundir_make(p, err, sizeof err), TRPO_EXIT_BADINPUT);
  print_message("  err: %s\n", err);
  assert_non_null(strstr(err, p));
  assert_non_null(strstr(err, strerror(ENOTDIR)));
  snprintf(p, sizeof p, "%s/file", dir);
  assert_int_equal(trpo_rundir_make(p, err, sizeof err), TRPO_EXIT_BADINPUT);
  // an empty path: bad input naming the key
  assert_int_equal(trpo_rundir_make("", err, sizeof err), TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, "key 'run_dir'"));
  rmtree(dir);
}

static void test_lock(void** state) {
  (void)state;
  char dir[64], lock[128], err[1024] = "", host[256], want[300];
  newdir(dir);
  snprintf(lock, sizeof lock, "%s/lock", dir);
  gethostname(host, sizeof host);
  // taken: the file holds "host pid"
  int stale = -1;
  assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), 0);
  assert_int_equal(stale, 0);
  char buf[512];
  assert_true(trpo_rundir_read_file(lock, buf, sizeof buf) > 0);
  snprintf(want, sizeof want, "%s %ld\n", host, (long)getpid());
  assert_string_equal(buf, want);
  // a lock holding our own pid and host is not a live holder but an earlier run whose pid we
  // now have (a container's pid namespace starts again at the same numbers): taken over
  assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), 0);
  assert_int_equal(stale, 1);
  // unlock removes our lock
  trpo_rundir_unlock(dir);
  assert_false(exists(lock));
  // another host's lock is never taken over, and unlock leaves it alone
  put(lock, "some-other-host.example 1\n");
  assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, "pid 1 on host some-other-host.example"));
  trpo_rundir_unlock(dir);
  assert_true(exists(lock));
  // a live process of this host other than us (pid 1) keeps it; the refusal names pid, host and
  // the lock file
  snprintf(buf, sizeof buf, "%s 1\n", host);
  put(lock, buf);
  assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), TRPO_EXIT_BADINPUT);
  print_message("  err: %s\n", err);
  snprintf(want, sizeof want, "pid 1 on host %s", host);
  assert_non_null(strstr(err, want));
  assert_non_null(strstr(err, lock));
  assert_non_null(strstr(err, "remove"));
  trpo_rundir_unlock(dir);
  assert_true(exists(lock));
  // Slurm: another host's lock of an earlier run of this job (requeued: SLURM_RESTART_COUNT
  // higher now) is taken over; of this run of the job, or of another job, it is kept
  setenv("SLURM_JOB_ID", "4242", 1);
  setenv("SLURM_RESTART_COUNT", "1", 1);
  const char* kept[] = {"node7 99 4242 1\n", "node7 99 4243 0\n", "node7 99\n"};
  for (int k = 0; k < 3; k++) {
    put(lock, kept[k]);
    assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), TRPO_EXIT_BADINPUT);
    assert_non_null(strstr(err, "pid 99 on host node7"));
  }
  put(lock, "node7 99 4242 0\n");
  assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), 0);
  assert_int_equal(stale, 1);
  assert_true(trpo_rundir_read_file(lock, buf, sizeof buf) > 0);
  snprintf(want, sizeof want, "%s %ld 4242 1\n", host, (long)getpid());
  assert_string_equal(buf, want);
  trpo_rundir_unlock(dir);
  assert_false(exists(lock));
  unsetenv("SLURM_JOB_ID");
  unsetenv("SLURM_RESTART_COUNT");
  // an unreadable lock is refused with advice
  put(lock, "garbage");
  assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, lock));
  rmtree(dir);
}

static void test_lock_stale(void** state) {
  (void)state;
  char dir[64], lock[128], err[1024] = "", host[256], buf[512], want[300];
  newdir(dir);
  snprintf(lock, sizeof lock, "%s/lock", dir);
  gethostname(host, sizeof host);
  // the pid of a reaped child is dead
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(0);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  snprintf(buf, sizeof buf, "%s %ld\n", host, (long)pid);
  put(lock, buf);
  // taken over, and now ours
  int stale = 0;
  assert_int_equal(trpo_rundir_lock(dir, &stale, err, sizeof err), 0);
  assert_int_equal(stale, 1);
  assert_true(trpo_rundir_read_file(lock, buf, sizeof buf) > 0);
  snprintf(want, sizeof want, "%s %ld\n", host, (long)getpid());
  assert_string_equal(buf, want);
  // nothing left aside
  char cmd[256];
  snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", dir);
  assert_int_equal(system(cmd), 0);
  trpo_rundir_unlock(dir);
  assert_false(exists(lock));
  rmtree(dir);
}

static void test_truncate_csv(void** state) {
  (void)state;
  char dir[64], p[128], err[512] = "", buf[1024];
  newdir(dir);
  snprintf(p, sizeof p, "%s/progress.csv", dir);
  // rows 1..5 (one written as 4.0), a row with a missing column, and a torn last row (no
  // newline) that would otherwise pass
  put(p, "iteration,return_mean,kl\n1,-10.5,0.01\n2,-9,0.02\n3,-8,0.01\n4.0,-7,0.0\n"
         "2,-1\n5,-6,0.01\n1,-4,0.0");
  assert_int_equal(trpo_rundir_truncate_csv(p, 3, NULL, NULL, err, sizeof err), 0);
  assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
  assert_string_equal(buf, "iteration,return_mean,kl\n1,-10.5,0.01\n2,-9,0.02\n3,-8,0.01\n");
  // idempotent; last 0 keeps the header only
  assert_int_equal(trpo_rundir_truncate_csv(p, 3, NULL, NULL, err, sizeof err), 0);
  assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
  assert_string_equal(buf, "iteration,return_mean,kl\n1,-10.5,0.01\n2,-9,0.02\n3,-8,0.01\n");
  assert_int_equal(trpo_rundir_truncate_csv(p, 0, NULL, NULL, err, sizeof err), 0);
  assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
  assert_string_equal(buf, "iteration,return_mean,kl\n");
  // no temporary left; a missing file is nothing to rewind
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", p);
  assert_false(exists(tmp));
  snprintf(p, sizeof p, "%s/none.csv", dir);
  assert_int_equal(trpo_rundir_truncate_csv(p, 3, NULL, NULL, err, sizeof err), 0);
  assert_false(exists(p));
  rmtree(dir);
}

// a file with another build's columns is rewritten in ours, matched by name; the same header
// leaves the rows as they are
static void test_truncate_csv_columns(void** state) {
  (void)state;
  char dir[64], p[128], err[512] = "", buf[1024];
  const char* ours = "iteration,return_mean,kl,t_new";
  newdir(dir);
  snprintf(p, sizeof p, "%s/progress.csv", dir);
  put(p, "iteration,kl,t_old,return_mean\n1,0.01,5,-10.5\n2,0.02,6,-9\n2,-1\n3,0.03,7,-8\n"
         "1,0,0,0");
  int converted = -1;
  assert_int_equal(trpo_rundir_truncate_csv(p, 2, ours, &converted, err, sizeof err), 0);
  assert_int_equal(converted, 1);
  assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
  assert_string_equal(buf, "iteration,return_mean,kl,t_new\n1,-10.5,0.01,nan\n2,-9,0.02,nan\n");
  // now in our columns: kept byte for byte, not converted again
  assert_int_equal(trpo_rundir_truncate_csv(p, 2, ours, &converted, err, sizeof err), 0);
  assert_int_equal(converted, 0);
  assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
  assert_string_equal(buf, "iteration,return_mean,kl,t_new\n1,-10.5,0.01,nan\n2,-9,0.02,nan\n");
  // a header that is a prefix of ours, or ours a prefix of it, is another header
  put(p, "iteration,return_mean,kl\n1,-1,0.5\n");
  assert_int_equal(trpo_rundir_truncate_csv(p, 9, ours, &converted, err, sizeof err), 0);
  assert_int_equal(converted, 1);
  assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
  assert_string_equal(buf, "iteration,return_mean,kl,t_new\n1,-1,0.5,nan\n");
  put(p, "iteration,return_mean,kl,t_new,t_x\n1,-1,0.5,2,3\n");
  assert_int_equal(trpo_rundir_truncate_csv(p, 9, ours, &converted, err, sizeof err), 0);
  assert_int_equal(converted, 1);
  assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
  assert_string_equal(buf, "iteration,return_mean,kl,t_new\n1,-1,0.5,2\n");
  rmtree(dir);
}

// a NUL byte (a crash can leave blocks of them), a row of another width: a data row holding one
// is dropped like a torn row, in either mode; a header that is not `iteration,...` (a NUL, no
// columns, other first column) is refused with TRPO_EXIT_BADINPUT naming the file and line 1,
// the file untouched and no temporary left
static void test_truncate_csv_nul(void** state) {
  (void)state;
  char dir[64], p[128], tmp[160], err[512] = "", buf[1024];
  const char* ours = "iteration,return_mean,kl";
  newdir(dir);
  snprintf(p, sizeof p, "%s/progress.csv", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", p);
  // data rows: a NUL in a field, rows of more and fewer fields, a NUL-filled line and tail
  static const char rows[] = "iteration,return_mean,kl\n1,-10.5,0.01\n2,-9\0x,0.02\n2,-9,0.02\n"
                             "2,-9,0.02,7\n2,-9\n\0\0\0\n3,-8,0.01\n\0\0\0\0";
  for (int mode = 0; mode < 2; mode++) {
    const char* head = mode ? "iteration,kl,return_mean" : ours;
    putn(p, rows, sizeof rows - 1);
    int converted = -1;
    assert_int_equal(trpo_rundir_truncate_csv(p, 3, head, &converted, err, sizeof err), 0);
    assert_int_equal(converted, mode);
    assert_true(trpo_rundir_read_file(p, buf, sizeof buf) > 0);
    assert_string_equal(buf, mode
        ? "iteration,kl,return_mean\n1,0.01,-10.5\n2,0.02,-9\n3,0.01,-8\n"
        : "iteration,return_mean,kl\n1,-10.5,0.01\n2,-9,0.02\n3,-8,0.01\n");
    assert_false(exists(tmp));
  }
  // headers: a NUL inside a name, after our header's length (one that matched up to it), as the
  // whole line; no columns; another first column
#define BAD(text, why) {text, sizeof text - 1, why}
  static const struct { const char* text; size_t n; const char* why; } bad[] = {
      BAD("iter\0ation,return_mean,kl\n1,2,3\n", "NUL byte at byte 5"),
      BAD("iteration,return_mean,kl\0,x\n1,2,3,4\n", "NUL byte at byte 25"),
      BAD("\0\0\0\n1,2,3\n", "NUL byte at byte 1"),
      BAD("\n1,2,3\n", "first column"),
      BAD("return_mean,iteration,kl\n1,2,3\n", "first column"),
  };
#undef BAD
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    for (int mode = 0; mode < 2; mode++) {
      putn(p, bad[i].text, bad[i].n);
      snprintf(err, sizeof err, "(none)");
      assert_int_equal(trpo_rundir_truncate_csv(p, 9, mode ? ours : NULL, NULL, err, sizeof err),
                       TRPO_EXIT_BADINPUT);
      print_message("  err: %s\n", err);
      assert_non_null(strstr(err, p));
      assert_non_null(strstr(err, "line 1"));
      assert_non_null(strstr(err, bad[i].why));
      assert_int_equal(trpo_rundir_read_file(p, buf, sizeof buf), (long)bad[i].n);
      assert_memory_equal(buf, bad[i].text, bad[i].n);
      assert_false(exists(tmp));
    }
  rmtree(dir);
}

static void test_write_read_file(void** state) {
  (void)state;
  char dir[64], p[128], err[512] = "", buf[64];
  newdir(dir);
  snprintf(p, sizeof p, "%s/config.ini", dir);
  // write, replace, read back; embedded NUL bytes count
  assert_int_equal(trpo_rundir_write_file(p, "old", 3, err, sizeof err), 0);
  assert_int_equal(trpo_rundir_write_file(p, "a = 1\nb\0c", 9, err, sizeof err), 0);
  assert_int_equal(trpo_rundir_read_file(p, buf, sizeof buf), 9);
  assert_memory_equal(buf, "a = 1\nb\0c", 10);
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", p);
  assert_false(exists(tmp));
  // a small buffer gets a NUL-terminated prefix; missing file and empty buffer give -1
  assert_int_equal(trpo_rundir_read_file(p, buf, 4), 3);
  assert_string_equal(buf, "a =");
  assert_int_equal(trpo_rundir_read_file(p, buf, 0), -1);
  snprintf(tmp, sizeof tmp, "%s/missing", dir);
  assert_int_equal(trpo_rundir_read_file(tmp, buf, sizeof buf), -1);
  // a path through a regular file fails with the path and the system error
  snprintf(tmp, sizeof tmp, "%s/sub/x", p);
  assert_int_equal(trpo_rundir_write_file(tmp, "x", 1, err, sizeof err), TRPO_EXIT_IOERROR);
  print_message("  err: %s\n", err);
  assert_non_null(strstr(err, tmp));
  assert_non_null(strstr(err, strerror(ENOTDIR)));
  // the original is untouched by the failure
  assert_int_equal(trpo_rundir_read_file(p, buf, sizeof buf), 9);
  rmtree(dir);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_make),         cmocka_unit_test(test_lock),
      cmocka_unit_test(test_lock_stale),   cmocka_unit_test(test_truncate_csv),
      cmocka_unit_test(test_truncate_csv_columns), cmocka_unit_test(test_truncate_csv_nul),
      cmocka_unit_test(test_write_read_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
