// env_mujoco_tasks_b.c: MuJoCo task entries Ant-v4, Humanoid-v4, InvertedDoublePendulum-v4.
//
// (Being written: the list is empty until those entries land.)

#include "env_mujoco.h"

const trpo_mjtask* const trpo_mjtasks_b[] = {NULL};
