// env_mujoco_tasks_a.c: placeholder until the task entries land (being written in parallel).
#include "env_mujoco.h"
const trpo_mjtask* const trpo_mjtasks_a[] = {NULL};
