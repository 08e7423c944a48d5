// env_mujoco.c: the one generic MuJoCo driver behind every MuJoCo task (TASKS.md section 1).
//
// A make loads one mjModel (shared by its environments) and one mjData per environment; a task
// is a table entry (src/env_mujoco_tasks_*.c) whose small functions read mjData. The driver
// follows the step and reset order of TASKS.md 1.1 exactly, detects simulator faults (MuJoCo's
// bad qpos/qvel/qacc/ctrl warnings, a non-finite observation or reward) and saves and restores the
// simulator state for checkpoints. It is not the wrapper: step counters, time limits and reset
// streams live in src/env.c. Nothing here allocates after make.

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mujoco/mjxmacro.h>

#include "env_backend.h"
#include "env_mujoco.h"

#define MAXTASKS 32

// the environments of one make
typedef struct mjenvs_ {
  const trpo_mjtask* task;
  mjModel* m;              // shared by all environments
  mjData** d;              // one per environment (nenv)
  double* lastobs;         // last finite observation of each environment (nenv x nobs)
  int nenv;
  int nsim;                // doubles of getstate
  double dt;               // env dt = timestep x frame_skip
  int ids[TRPO_MJ_MAXIDS]; // names resolved by the task's bind()
} mjenvs;

//---------------------------------- task list and MuJoCo handlers ---------------------------------

static const char* tasknames[MAXTASKS + 1];

// the names of both task tables, filled before main so that trpo_env_mujoco.tasks is ready
__attribute__((constructor)) static void listtasks(void) {
  const trpo_mjtask* const* tables[2] = {trpo_mjtasks_a, trpo_mjtasks_b};
  int n = 0;
  for (int t = 0; t < 2; t++)
    for (int k = 0; tables[t][k]; k++) {
      if (n == MAXTASKS) TRPO_FATAL("more than %d MuJoCo tasks: raise MAXTASKS", MAXTASKS);
      tasknames[n++] = tables[t][k]->name;
    }
  tasknames[n] = NULL;
}

const trpo_mjtask* trpo_mjtask_find(const char* name) {
  const trpo_mjtask* const* tables[2] = {trpo_mjtasks_a, trpo_mjtasks_b};
  for (int t = 0; t < 2; t++)
    for (int k = 0; tables[t][k]; k++)
      if (!strcmp(tables[t][k]->name, name)) return tables[t][k];
  return NULL;
}

// a MuJoCo error is a broken invariant here: the whole job goes down with MuJoCo's message
static void mjerror(const char* msg) { TRPO_FATAL("MuJoCo error: %s", msg); }

// warnings are counted through d->warning and turned into faults by step; nothing is printed
// and no MUJOCO_LOG.TXT is written
static void mjwarning(const char* msg) { (void)msg; }

static void installhandlers(void) {
  mju_user_error = mjerror;
  mju_user_warning = mjwarning;
}

//---------------------------------- simulator state layout ----------------------------------------

// the arrays of getstate, in order: what mj_step reads (time, qpos, qvel, act, ctrl, warm start)
// and the derived arrays that observations and rewards read as left by the last substep
// (TASKS.md 1.2); returns the number of arrays
static int simarrays(const mjModel* m, mjData* d, mjtNum** ptr, int* len) {
  int n = 0;
  ptr[n] = &d->time, len[n++] = 1;
  ptr[n] = d->qpos, len[n++] = m->nq;
  ptr[n] = d->qvel, len[n++] = m->nv;
  ptr[n] = d->act, len[n++] = m->na;
  ptr[n] = d->ctrl, len[n++] = m->nu;
  ptr[n] = d->qacc_warmstart, len[n++] = m->nv;
  ptr[n] = d->xpos, len[n++] = 3 * m->nbody;
  ptr[n] = d->xipos, len[n++] = 3 * m->nbody;
  ptr[n] = d->site_xpos, len[n++] = 3 * m->nsite;
  ptr[n] = d->cinert, len[n++] = 10 * m->nbody;
  ptr[n] = d->cvel, len[n++] = 6 * m->nbody;
  ptr[n] = d->qfrc_actuator, len[n++] = m->nv;
  ptr[n] = d->qfrc_constraint, len[n++] = m->nv;
  ptr[n] = d->cfrc_ext, len[n++] = 6 * m->nbody;
  return n;
}

#define NSIMARRAYS 14

static int simsize(const mjModel* m, mjData* d) {
  mjtNum* ptr[NSIMARRAYS];
  int len[NSIMARRAYS];
  int n = simarrays(m, d, ptr, len), total = 0;
  for (int k = 0; k < n; k++) total += len[k];
  return total;
}

//---------------------------------- make and free -------------------------------------------------

// MuJoCo's messages span lines; the project's messages are one line, without trailing blanks
static void oneline(char* s) {
  char* end = s;
  for (; *s; s++) {
    if (*s == '\n' || *s == '\r') *s = ' ';
    if (*s != ' ') end = s + 1;
  }
  *end = 0;
}

static int fileexists(const char* path) {
  FILE* f = fopen(path, "r");
  if (f) fclose(f);
  return f != NULL;
}

// model_path, else configs/mujoco/<file> under the working directory, else under the source tree
static void modelpath(char* path, size_t npath, const trpo_mjtask* t, const char* model_path) {
  if (model_path && model_path[0]) {
    snprintf(path, npath, "%s", model_path);
    return;
  }
  snprintf(path, npath, "configs/mujoco/%s", t->model);
  if (fileexists(path)) return;
  snprintf(path, npath, "%s/configs/mujoco/%s", TRPO_SOURCE_DIR, t->model);
}

static void envsfree(void* state) {
  mjenvs* s = state;
  if (!s) return;
  for (int i = 0; i < s->nenv; i++)
    if (s->d && s->d[i]) mj_deleteData(s->d[i]);
  if (s->m) mj_deleteModel(s->m);
  trpo_alloc_free(s->d);
  trpo_alloc_free(s->lastobs);
  trpo_alloc_free(s);
}

static int envsmake(void** state, trpo_envinfo* info, const char* task, const char* model_path,
                    int nenv, char* err, size_t nerr) {
  // the task entry
  *state = NULL;
  const trpo_mjtask* t = trpo_mjtask_find(task);
  if (!t) {
    snprintf(err, nerr, "unknown MuJoCo task '%s'", task);
    return TRPO_EXIT_BADINPUT;
  }
  if (t->npre > TRPO_MJ_MAXPRE) TRPO_FATAL("%s: npre %d > TRPO_MJ_MAXPRE", t->name, t->npre);
  if (nenv < 1) TRPO_FATAL("%s: nenv %d < 1", t->name, nenv);

  // MuJoCo's handlers, once per process
  static int installed;
  if (!installed) {
    installhandlers();
    installed = 1;
  }

  // load and compile the MJCF
  char path[1024], mjerr[1024] = "";
  modelpath(path, sizeof path, t, model_path);
  mjModel* m = mj_loadXML(path, NULL, mjerr, sizeof mjerr);
  if (!m) {
    oneline(mjerr);
    snprintf(err, nerr, "%s: cannot load MJCF model '%s': %s", t->name, path, mjerr);
    return TRPO_EXIT_BADINPUT;
  }

  // the model must fit the task: action size, then names and joint types
  int ids[TRPO_MJ_MAXIDS];
  memset(ids, 0, sizeof ids);
  if (m->nu != t->nact) {
    snprintf(err, nerr, "%s: model '%s' has %d actuators, the task needs %d", t->name, path,
             m->nu, t->nact);
    mj_deleteModel(m);
    return TRPO_EXIT_BADINPUT;
  }
  for (int a = 0; a < m->nu; a++) {
    // the Box bounds reported to the trainer are the bounds MuJoCo clamps to
    const mjtNum* r = m->actuator_ctrlrange + 2 * a;
    if (!m->actuator_ctrllimited[a] || r[0] != t->act_lo || r[1] != t->act_hi) {
      const char* name = mj_id2name(m, mjOBJ_ACTUATOR, a);
      snprintf(err, nerr, "%s: model '%s': actuator %d ('%s') must be ctrllimited with "
               "ctrlrange [%g, %g]", t->name, path, a, name ? name : "", t->act_lo, t->act_hi);
      mj_deleteModel(m);
      return TRPO_EXIT_BADINPUT;
    }
  }
  if (t->bind(ids, m, mjerr, sizeof mjerr)) {
    snprintf(err, nerr, "%s: model '%s': %s", t->name, path, mjerr);
    mj_deleteModel(m);
    return TRPO_EXIT_BADINPUT;
  }
  // rewards divide by dt = timestep x frame_skip: a zero or negative step (MuJoCo accepts both)
  // would fault every step or train on time running backwards
  if (!(m->opt.timestep > 0) || !isfinite(m->opt.timestep)) {
    snprintf(err, nerr, "%s: model '%s': <option timestep=\"%g\">: expected a positive time step",
             t->name, path, m->opt.timestep);
    mj_deleteModel(m);
    return TRPO_EXIT_BADINPUT;
  }

  // one mjData per environment
  mjenvs* s = trpo_alloc(sizeof *s);
  s->task = t;
  s->m = m;
  s->nenv = nenv;
  s->dt = m->opt.timestep * t->frame_skip;
  memcpy(s->ids, ids, sizeof ids);
  s->d = trpo_alloc((size_t)nenv * sizeof *s->d);
  s->lastobs = trpo_alloc((size_t)nenv * (size_t)t->nobs * sizeof(double));
  for (int i = 0; i < nenv; i++) {
    s->d[i] = mj_makeData(m);
    if (!s->d[i]) TRPO_FATAL("%s: mj_makeData failed (out of memory?)", t->name);
  }
  s->nsim = simsize(m, s->d[0]);

  // what the wrapper needs to know
  memset(info, 0, sizeof *info);
  snprintf(info->name, sizeof info->name, "%s", t->name);
  info->nobs = t->nobs;
  info->nact = t->nact;
  info->discrete = 0;
  info->act_lo = t->act_lo;
  info->act_hi = t->act_hi;
  info->max_steps = t->max_steps;
  info->nsim = s->nsim;
  info->substeps = t->frame_skip;
  *state = s;
  return 0;
}

//---------------------------------- reset and step ------------------------------------------------

static int allfinite(const double* x, int n) {
  for (int k = 0; k < n; k++)
    if (!isfinite(x[k])) return 0;
  return 1;
}

// mj_resetData's result, byte for byte, at a small part of its cost. mj_resetData clears the whole
// mjData buffer: 3.2 MB for Hopper, 110 us, two env steps, paid at every episode's end. 3 MB of it
// are efc_AR and efc_AR_colind, njmax x njmax (500 x 500), of which MuJoCo writes only the rows of
// the constraints it made, never more than d->maxuse_efc (the most since the buffer was last
// cleared; 14 to 33 for Hopper and Humanoid). So: those two arrays are cleared up to that row,
// every other array whole; then mj_resetData itself, told its buffer is empty, does the rest
// (counters, warnings, sizes, time, qpos = qpos0, mocap). tests/test_env_mujoco.c (reset_bytes)
// compares the whole mjData against mj_resetData's after long random rollouts of every task.
void trpo_env_mujoco_resetdata(const mjModel* m, mjData* d) {
  const size_t used = (size_t)(d->maxuse_efc < m->njmax ? d->maxuse_efc : m->njmax);
  const void* big[2] = {d->efc_AR, d->efc_AR_colind};
#pragma push_macro("MJ_M")
#undef MJ_M
#define MJ_M(n) m->n
#define X(type, name, nr, nc)                                                                     \
  memset(d->name, 0,                                                                             \
         sizeof(type) * (size_t)(nc) *                                                           \
             ((const void*)d->name == big[0] || (const void*)d->name == big[1] ? used            \
                                                                                : (size_t)(m->nr)));
  MJDATA_POINTERS
#undef X
#pragma pop_macro("MJ_M")
  const int nbuffer = d->nbuffer;
  d->nbuffer = 0;
  mj_resetData(m, d);
  d->nbuffer = nbuffer;
}

static void envsreset(void* state, int i, trpo_rng* rng, double* obs) {
  mjenvs* s = state;
  const trpo_mjtask* t = s->task;
  mjData* d = s->d[i];
  // TASKS.md 1.1: reset data (as mj_resetData, see above), task noise, forward, observe
  trpo_env_mujoco_resetdata(s->m, d);
  t->reset(s->ids, s->m, d, rng);
  mj_forward(s->m, d);
  t->observe(s->ids, s->m, d, obs);
  memcpy(s->lastobs + (size_t)i * t->nobs, obs, (size_t)t->nobs * sizeof(double));
}

// MuJoCo found a bad number (NaN or beyond 1e10) during the last mj_step: in qpos, qvel or qacc
// (then it has reset d), or in ctrl (then it has applied no actuator force)
static int badstate(const mjData* d) {
  return d->warning[mjWARN_BADQPOS].number | d->warning[mjWARN_BADQVEL].number |
         d->warning[mjWARN_BADQACC].number | d->warning[mjWARN_BADCTRL].number;
}

static int envsstep(void* state, int i, const double* act, double* obs, double* reward) {
  mjenvs* s = state;
  const trpo_mjtask* t = s->task;
  const mjModel* m = s->m;
  mjData* d = s->d[i];
  double* last = s->lastobs + (size_t)i * t->nobs;
  double pre[TRPO_MJ_MAXPRE];

  // 1. what the reward needs from the state before the step, as it stands
  if (t->pre) t->pre(s->ids, m, d, pre);

  // 2. the action as given: MuJoCo clamps to ctrlrange inside the actuator computation
  for (int k = 0; k < t->nact; k++) d->ctrl[k] = act[k];

  // 3. frame_skip physics steps; MuJoCo resets d when it meets a bad number, and a reset
  //    counter of 1 would not show as an increment, so the counters start at 0 for each step
  d->warning[mjWARN_BADQPOS].number = 0;
  d->warning[mjWARN_BADQVEL].number = 0;
  d->warning[mjWARN_BADQACC].number = 0;
  d->warning[mjWARN_BADCTRL].number = 0;
  for (int k = 0; k < t->frame_skip; k++) {
    mj_step(m, d);
    if (badstate(d)) goto fault;
  }

  // 4. contact forces for the tasks that read cfrc_ext
  if (t->needs_rne) mj_rnePostConstraint(m, d);

  // 5. observation, reward, termination from mjData as it stands; non-finite values are faults
  t->observe(s->ids, m, d, obs);
  if (!allfinite(obs, t->nobs)) goto fault;
  double r = t->reward(s->ids, m, d, pre, act, s->dt);
  if (!isfinite(r)) goto fault;
  int flags = t->terminated(s->ids, m, d) ? TRPO_ENV_TERMINATED : 0;
  memcpy(last, obs, (size_t)t->nobs * sizeof(double));
  *reward = r;
  return flags;

fault:
  // the last finite observation and no reward; the caller resets this environment
  memcpy(obs, last, (size_t)t->nobs * sizeof(double));
  *reward = 0;
  return TRPO_ENV_SIMFAULT;
}

//---------------------------------- checkpoint state ----------------------------------------------

static void envsgetstate(const void* state, int i, double* sim) {
  const mjenvs* s = state;
  mjtNum* ptr[NSIMARRAYS];
  int len[NSIMARRAYS];
  int n = simarrays(s->m, s->d[i], ptr, len);
  for (int k = 0; k < n; k++) {
    if (len[k]) memcpy(sim, ptr[k], (size_t)len[k] * sizeof(double));
    sim += len[k];
  }
}

static void envssetstate(void* state, int i, const double* sim) {
  mjenvs* s = state;
  mjtNum* ptr[NSIMARRAYS];
  int len[NSIMARRAYS];
  int n = simarrays(s->m, s->d[i], ptr, len);
  // copy the arrays back
  for (int k = 0; k < n; k++) {
    if (len[k]) memcpy(ptr[k], sim, (size_t)len[k] * sizeof(double));
    sim += len[k];
  }
  // the last finite observation is a function of the restored arrays
  s->task->observe(s->ids, s->m, s->d[i], s->lastobs + (size_t)i * s->task->nobs);
}

//---------------------------------- introspection for tests ---------------------------------------

void trpo_env_mujoco_data(void* state, int i, const mjModel** m, mjData** d) {
  mjenvs* s = state;
  if (i < 0 || i >= s->nenv) TRPO_FATAL("env %d outside [0, %d)", i, s->nenv);
  *m = s->m;
  *d = s->d[i];
}

const int* trpo_env_mujoco_ids(const void* state) { return ((const mjenvs*)state)->ids; }

const trpo_envbackend trpo_env_mujoco = {
    .tasks = tasknames,
    .make = envsmake,
    .free = envsfree,
    .reset = envsreset,
    .step = envsstep,
    .getstate = envsgetstate,
    .setstate = envssetstate,
};
