// env_mujoco.c: placeholder until the MuJoCo driver lands (being written in parallel).
#include "env_backend.h"
#include "env_mujoco.h"
static const char* const notasks[] = {NULL};
const trpo_envbackend trpo_env_mujoco = {.tasks = notasks};
