// main.c: the trpo command line. Short on purpose: parse, make, loop, free; the work is in libtrpo.
//
//   trpo train [CONFIG] [key=value ...] [--restart]   train (under mpirun/srun for many ranks)
//   trpo config [CONFIG] [key=value ...]              print the resolved config
//   trpo eval RUN_DIR [episodes=N] [stochastic=1]     evaluate a run's newest checkpoint
//   trpo tasks                                        list the tasks
//   trpo help | --help                                usage and every config key

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trpo/trpo.h"

static void usage(FILE* f) {
  fprintf(f,
          "usage: trpo train [CONFIG] [key=value ...] [--restart]\n"
          "       trpo config [CONFIG] [key=value ...]\n"
          "       trpo eval RUN_DIR [episodes=N] [stochastic=1]\n"
          "       trpo tasks\n"
          "       trpo help\n"
          "\n"
          "train  trains a policy with TRPO. CONFIG is an INI-style file of 'key = value' lines\n"
          "       (configs/ holds one per task); key=value arguments override it. Outputs go to\n"
          "       run_dir: config.ini, progress.csv, train.log and checkpoints ckpt-*.h5 (and\n"
          "       ranks.csv, every rank's times, with rank_times=1). Running the same command\n"
          "       again resumes from the newest good checkpoint; --restart discards the\n"
          "       run_dir's previous run instead. Many ranks: mpirun -np N trpo train ...\n"
          "       or srun --mpi=pmix trpo train ...\n"
          "\n"
          "eval   loads RUN_DIR's config and newest good checkpoint and runs N (default 10) fresh\n"
          "       episodes with the observation statistics frozen and the deterministic policy\n"
          "       (mean / argmax; stochastic=1 samples instead); prints the raw return.\n"
          "       Without config.ini (checkpoints copied alone) it uses the checkpoint's config.\n"
          "\n"
          "exit codes: 0 done, 1 training failed, 2 bad input (config, model, checkpoint, lock),\n"
          "            3 checkpoint write failed (the last good one stays), 75 stopped by a signal\n"
          "            after writing a checkpoint (requeue and rerun the same command)\n"
          "\n"
          "config keys:\n");
  trpo_config_help(f);
}

// trpo eval RUN_DIR [episodes=N] [stochastic=0|1]
static int eval_main(int argc, char** argv) {
  const char* dir = NULL;
  int episodes = 10, stochastic = 0;
  for (int k = 2; k < argc; k++) {
    char* end = NULL;
    if (!strncmp(argv[k], "episodes=", 9)) {
      long v = strtol(argv[k] + 9, &end, 10);
      if (*end || v < 1 || v > 1000000) {
        fprintf(stderr, "trpo: eval: 'episodes' expects an integer in [1, 1000000], got '%s'\n", argv[k] + 9);
        return TRPO_EXIT_BADINPUT;
      }
      episodes = (int)v;
    } else if (!strcmp(argv[k], "stochastic=1") || !strcmp(argv[k], "stochastic=0")) {
      stochastic = argv[k][11] == '1';
    } else if (!dir && !strchr(argv[k], '=')) {
      dir = argv[k];
    } else {
      fprintf(stderr, "trpo: eval: unexpected argument '%s' (expected RUN_DIR, episodes=N, stochastic=0|1)\n", argv[k]);
      return TRPO_EXIT_BADINPUT;
    }
  }
  if (!dir) {
    fprintf(stderr, "trpo: eval needs a run directory: trpo eval RUN_DIR [episodes=N]\n");
    return TRPO_EXIT_BADINPUT;
  }
  trpo_comm comm;
  trpo_comm_init(&comm, &argc, &argv);
  int rc = trpo_run_eval(dir, episodes, !stochastic, &comm);
  trpo_comm_finalize(&comm);
  return rc;
}

int main(int argc, char** argv) {
  // a plain srun without PMIx would start independent singletons: refuse before MPI_Init
  char err[1024] = "";
  if (trpo_comm_precheck(err, sizeof err)) {
    fprintf(stderr, "trpo: %s\n", err);
    return TRPO_EXIT_BADINPUT;
  }
  trpo_linalg_threads_default();
  const char* cmd = argc > 1 ? argv[1] : "help";
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "tasks")) {
    for (const char* const* t = trpo_envs_tasks(); *t; t++) printf("%s\n", *t);
    return 0;
  }
  if (!strcmp(cmd, "eval")) return eval_main(argc, argv);
  if (strcmp(cmd, "train") && strcmp(cmd, "config")) {
    fprintf(stderr, "trpo: unknown command '%s' (expected train, eval, config, tasks or help)\n", cmd);
    return TRPO_EXIT_BADINPUT;
  }

  // CONFIG (first argument without '=' that is not a flag), overrides, --restart
  const char* path = NULL;
  int restart = 0, nover = 0;
  char* over[argc];
  for (int k = 2; k < argc; k++) {
    if (!strcmp(argv[k], "--restart")) restart = 1;
    else if (strchr(argv[k], '=')) over[nover++] = argv[k];
    else if (!path && argv[k][0] != '-') path = argv[k];
    else {
      fprintf(stderr, "trpo: unexpected argument '%s' (expected CONFIG, key=value or --restart)\n", argv[k]);
      return TRPO_EXIT_BADINPUT;
    }
  }
  trpo_config cfg;
  trpo_config_default(&cfg);
  int bad = trpo_config_load(&cfg, path, nover, over, err, sizeof err);
  static char text[65536];
  if (!bad) trpo_config_write(&cfg, text, sizeof text);
  if (!strcmp(cmd, "config")) {
    if (bad) fprintf(stderr, "trpo: %s\n", err);
    else fputs(text, stdout);
    return bad ? TRPO_EXIT_BADINPUT : 0;
  }

  // train: a config error is said once for the job, not once per rank (or by the ranks that alone
  // refuse theirs), after MPI_Init; every rank runs rank 0's config (checked in trpo_run_train);
  // the run directory belongs to rank 0. The stop signals are caught from here on, so one that
  // arrives inside MPI_Init is not fatal.
  trpo_signal_install();
  trpo_comm comm;
  trpo_comm_init(&comm, &argc, &argv);
  int rc = trpo_run_agree(&comm, bad ? TRPO_EXIT_BADINPUT : 0, err);
  if (!rc) rc = trpo_run_train(&cfg, text, restart, &comm);
  trpo_comm_finalize(&comm);
  return rc;
}
