// env_mujoco.h: the task table entry of a MuJoCo task, private to the MuJoCo env module.
//
// src/env_mujoco.c is the one generic driver (one mjModel per make, shared by its environments,
// one mjData per environment, frame skip, fault detection). A task is a table entry: sizes plus
// small functions that read mjData. Names are resolved once by bind() into ids[], so a user's own
// MJCF with the same body, joint, site and actuator names works. Task entries live in
// src/env_mujoco_tasks*.c; these files and the driver form the MuJoCo env module, the only code
// that sees <mujoco/mujoco.h>. The driver checks nu == nact and that every actuator is
// ctrllimited with ctrlrange [act_lo, act_hi]; bind() checks the rest.
//
// pre/reward/terminated/observe may read time, qpos, qvel, act, ctrl and the derived arrays the
// driver's checkpoint state holds (xpos, xipos, site_xpos, cinert, cvel, qfrc_actuator,
// qfrc_constraint, cfrc_ext): a task reading another mjData array must add it to simarrays() in
// env_mujoco.c, or a restored state would not continue bitwise.

#ifndef TRPO_ENV_MUJOCO_H
#define TRPO_ENV_MUJOCO_H

#include <mujoco/mujoco.h>

#include "trpo/trpo.h"

#define TRPO_MJ_MAXIDS 64
#define TRPO_MJ_MAXPRE 8

typedef struct trpo_mjtask_ {
  const char* name;     // "Hopper-v4"
  const char* model;    // default MJCF file name, looked up under configs/mujoco/
  int nobs;             // observation size
  int nact;             // must equal the model's nu
  int max_steps;        // time limit (env steps)
  int frame_skip;       // mj_step calls per env step
  double act_lo, act_hi;   // Box bounds of the action (= actuator ctrlrange)
  int npre;             // doubles recorded by pre() before the step
  int needs_rne;        // 1: call mj_rnePostConstraint after the substeps (cfrc_ext is read)
  // resolve names and check joint types in m; fill ids[]; 0, or nonzero with a message naming
  // the missing or mistyped element (the driver adds the task and file)
  int (*bind)(int* ids, const mjModel* m, char* err, size_t nerr);
  // after mj_resetData, before mj_forward: add the reset noise to qpos/qvel (and set goals)
  void (*reset)(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng);
  // record what the reward needs from the state before the step (may be NULL)
  void (*pre)(const int* ids, const mjModel* m, const mjData* d, double* pre);
  double (*reward)(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                   const double* act, double dt);
  int (*terminated)(const int* ids, const mjModel* m, const mjData* d);
  void (*observe)(const int* ids, const mjModel* m, const mjData* d, double* obs);
} trpo_mjtask;

// NULL-terminated lists of task entries, one per task source file
extern const trpo_mjtask* const trpo_mjtasks_a[];   // src/env_mujoco_tasks_a.c
extern const trpo_mjtask* const trpo_mjtasks_b[];   // src/env_mujoco_tasks_b.c
// the entry of a task name over both lists, or NULL
const trpo_mjtask* trpo_mjtask_find(const char* name);

// what mj_resetData(m, d) leaves, byte for byte, without clearing the rows of the constraint arrays
// that MuJoCo has not written since (src/env_mujoco.c says how); the driver's reset uses it
void trpo_env_mujoco_resetdata(const mjModel* m, mjData* d);

// for tests and benchmarks: the model and the mjData of env i of a make, and the bound ids
void trpo_env_mujoco_data(void* state, int i, const mjModel** m, mjData** d);
const int* trpo_env_mujoco_ids(const void* state);

#endif  // TRPO_ENV_MUJOCO_H
