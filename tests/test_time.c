// test_time.c: what the operating system gives this process. The cgroup CPU quota read from
// made-up cgroup file systems (v2 nested, v1 cpu and cpu,cpuacct, a container without a cgroup
// namespace, no quota, bad files); the thread's CPU time against sleeping and spinning; a nap.

#define _POSIX_C_SOURCE 200809L

#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char root[64];

static void put(const char* rel, const char* text) {
  // write ROOT/REL, making its directories
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  for (char* s = strchr(p + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    mkdir(p, 0755);
    *s = '/';
  }
  FILE* f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static double quota(const char* proc_cgroup_text) {
  put("proc_cgroup", proc_cgroup_text);
  char p[512];
  snprintf(p, sizeof p, "%s/proc_cgroup", root);
  return trpo_time_cpu_quota_at(root, p);
}

static int setup(void** state) {
  (void)state;
  snprintf(root, sizeof root, "/tmp/trpo_time_XXXXXX");
  return mkdtemp(root) ? 0 : -1;
}

static int teardown(void** state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_quota_v2(void** state) {
  (void)state;
  // the job's own cgroup has none, its parent 2.5 CPUs
  put("cpu.max", "max 100000\n");
  put("kube/pod/cpu.max", "250000 100000\n");
  put("kube/pod/job/cpu.max", "max 100000\n");
  assert_float_equal(quota("0::/kube/pod/job\n"), 2.5, 1e-12);
  // the least of the chain: 1.5 below 2.5
  put("kube/pod/job/cpu.max", "150000 100000\n");
  assert_float_equal(quota("0::/kube/pod/job\n"), 1.5, 1e-12);
  // another period
  put("kube/pod/job/cpu.max", "1260000 100000\n");
  put("kube/pod/cpu.max", "max 100000\n");
  assert_float_equal(quota("0::/kube/pod/job\n"), 12.6, 1e-12);
  // a cgroup namespace: the process sees itself at the root
  assert_float_equal(quota("0::/\n"), 0, 0);
  put("cpu.max", "300000 50000\n");
  assert_float_equal(quota("0::/\n"), 6, 1e-12);
}

static void test_quota_v1(void** state) {
  (void)state;
  // cpu,cpuacct hierarchy (systemd's name), quota on the job
  put("cpu,cpuacct/job/cpu.cfs_quota_us", "1260000\n");
  put("cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
  put("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  put("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  assert_float_equal(quota("12:pids:/job\n4:cpu,cpuacct:/job\n0::/job\n"), 12.6, 1e-12);
  // no quota: -1 all the way up
  put("cpu,cpuacct/job/cpu.cfs_quota_us", "-1\n");
  assert_float_equal(quota("4:cpu,cpuacct:/job\n"), 0, 0);
}

static void test_quota_v1_host_path(void** state) {
  (void)state;
  // a container without a cgroup namespace sees the host's path; its mount is its own cgroup
  put("cpu/cpu.cfs_quota_us", "200000\n");
  put("cpu/cpu.cfs_period_us", "100000\n");
  assert_float_equal(quota("3:cpu:/docker/abc123\n"), 2, 1e-12);
}

static void test_quota_bad(void** state) {
  (void)state;
  char p[512];
  snprintf(p, sizeof p, "%s/no_such_file", root);
  assert_float_equal(trpo_time_cpu_quota_at(root, p), 0, 0);
  put("bad/cpu.max", "lots 100000\n");
  assert_float_equal(quota("0::/bad\n"), 0, 0);
  put("bad/cpu.max", "100000 0\n");
  assert_float_equal(quota("0::/bad\n"), 0, 0);
  put("bad/cpu.max", "");
  assert_float_equal(quota("0::/bad\n"), 0, 0);
  assert_float_equal(quota("no colons here\n\n"), 0, 0);
  // this machine's own answer is a number >= 0
  assert_true(trpo_time_cpu_quota() >= 0);
}

static void test_thread_cpu(void** state) {
  (void)state;
  // sleeping 50 ms costs next to no CPU time (a wall clock in its place fails); spinning 50 ms
  // costs at most 50 ms, and on a machine busy with other tests at least a tenth of it
  double c0 = trpo_time_thread_cpu();
  struct timespec ts = {0, 50000000L};
  nanosleep(&ts, NULL);
  double c1 = trpo_time_thread_cpu();
  trpo_time_spin(0.05);
  double c2 = trpo_time_thread_cpu();
  print_message("  sleep 50 ms: %.4f s CPU; spin 50 ms: %.4f s CPU\n", c1 - c0, c2 - c1);
  assert_true(c1 - c0 >= 0 && c1 - c0 < 0.01);
  assert_true(c2 - c1 > 0.005 && c2 - c1 < 0.055);
  // a nap of 50 us lasts at least that long
  double t0 = trpo_time_now();
  trpo_time_nap(50000);
  double dt = trpo_time_now() - t0;
  print_message("  nap 50 us: %.1f us\n", 1e6 * dt);
  assert_true(dt >= 50e-6);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_quota_v2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quota_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quota_v1_host_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quota_bad, setup, teardown),
      cmocka_unit_test(test_thread_cpu),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
