// test_mpi_precheck.c: the launch check that refuses a plain srun (N singletons) before MPI_Init.
//
// trpo_comm_precheck reads only the environment: Slurm's SLURM_STEP_NUM_TASKS, and PMIX_RANK or
// OMPI_COMM_WORLD_SIZE, which a PMIx-enabled srun or mpirun set. Each case sets the variables
// and checks the verdict and that the refusal's message says how to launch instead. MPI is never
// started here. The `trpo train` exit path is tests/mpi_precheck.sh.

#include "testutil.h"   // first: it defines _GNU_SOURCE (feenableexcept, setenv)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void clear(void) {
  unsetenv("SLURM_STEP_NUM_TASKS");
  unsetenv("PMIX_RANK");
  unsetenv("OMPI_COMM_WORLD_SIZE");
}

static int check(const char* ntask, const char* pmix, const char* ompi, char* err, size_t nerr) {
  clear();
  if (ntask) setenv("SLURM_STEP_NUM_TASKS", ntask, 1);
  if (pmix) setenv("PMIX_RANK", pmix, 1);
  if (ompi) setenv("OMPI_COMM_WORLD_SIZE", ompi, 1);
  err[0] = 0;
  int rc = trpo_comm_precheck(err, nerr);
  clear();
  return rc;
}

static void allows_mpirun_pmix_and_single_tasks(void** state) {
  (void)state;
  char err[1024];
  assert_int_equal(check(NULL, NULL, NULL, err, sizeof err), 0);      // no Slurm at all
  assert_int_equal(check("1", NULL, NULL, err, sizeof err), 0);       // srun -n 1
  assert_int_equal(check("4", "0", NULL, err, sizeof err), 0);        // srun --mpi=pmix
  assert_int_equal(check("4", NULL, "4", err, sizeof err), 0);        // mpirun inside Slurm
  assert_int_equal(check("4", "3", "4", err, sizeof err), 0);
}

static void refuses_plain_srun_with_advice(void** state) {
  (void)state;
  char err[1024];
  const char* counts[] = {"2", "16", "1024"};
  for (int k = 0; k < 3; k++) {
    assert_int_equal(check(counts[k], NULL, NULL, err, sizeof err), TRPO_EXIT_BADINPUT);
    // the message names the task count and both ways to launch
    char want[64];
    snprintf(want, sizeof want, "with %s tasks", counts[k]);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "srun --mpi=pmix"));
    assert_non_null(strstr(err, "mpirun"));
  }
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(allows_mpirun_pmix_and_single_tasks),
      cmocka_unit_test(refuses_plain_srun_with_advice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
