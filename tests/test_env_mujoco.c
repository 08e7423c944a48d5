// test_env_mujoco.c: tests of the MuJoCo driver and the task entries of env_mujoco_tasks_a.c.
//
// The backend is driven directly through trpo_env_mujoco (make/reset/step/getstate/setstate);
// the wrapper (src/env.c: step counter, time limit, reset streams) has tests of its own. Oracles:
// the check values of TASKS.md section 3 and the masses and positions of its tables; rewards and
// observations recomputed here from raw mjData indices (not through the task's bound ids);
// hand-picked boundary states for termination; bitwise equality for seeds and state round trips.
// MuJoCo is included here only to craft states and read mjData.

#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mujoco/mjxmacro.h>

#include "env_backend.h"
#include "env_mujoco.h"

#define B (&trpo_env_mujoco)
#define MAXSIM 8192
#define MAXOBS 64

static const char* const mytasks[] = {"Hopper-v4",           "Walker2d-v4", "HalfCheetah-v4",
                                      "Swimmer-v4",          "InvertedPendulum-v4",
                                      "Reacher-v4"};
#define NTASK 6

//---------------------------------- helpers -------------------------------------------------------

static const trpo_mjtask* findtask(const char* name) {
  for (int k = 0; trpo_mjtasks_a[k]; k++)
    if (!strcmp(trpo_mjtasks_a[k]->name, name)) return trpo_mjtasks_a[k];
  fail_msg("task %s not in trpo_mjtasks_a", name);
  return NULL;
}

static void* make(const char* task, const char* path, int nenv, trpo_envinfo* info) {
  void* s = NULL;
  char err[1024] = "";
  int rc = B->make(&s, info, task, path, nenv, err, sizeof err);
  if (rc) fail_msg("make %s: %s", task, err);
  return s;
}

static mjData* data(void* s, int i, const mjModel** m) {
  mjData* d;
  trpo_env_mujoco_data(s, i, m, &d);
  return d;
}

// hand a state crafted in mjData (after mj_forward) to the driver, as a checkpoint would
static void syncstate(void* s, int i) {
  static double sim[MAXSIM];
  B->getstate(s, i, sim);
  B->setstate(s, i, sim);
}

// TASKS.md 3 start: exactly qpos0, qvel 0 (mj_resetData, mj_forward); writes the observation
static void cleanstart(void* s, int i, const trpo_mjtask* t, double* obs) {
  const mjModel* m;
  mjData* d = data(s, i, &m);
  mj_resetData(m, d);
  mj_forward(m, d);
  syncstate(s, i);
  t->observe(trpo_env_mujoco_ids(s), m, d, obs);
}

static void randomact(trpo_rng* r, const trpo_envinfo* info, double widen, double* act) {
  for (int k = 0; k < info->nact; k++)
    act[k] = trpo_rng_range(r, widen * info->act_lo, widen * info->act_hi);
}

// x within tol relative to ref, or within abs when ref is (near) zero
static void near(double x, double ref, double rel, double abs, const char* what) {
  if (!(fabs(x - ref) <= rel * fabs(ref) + abs))
    fail_msg("%s: got %.10g, expected %.10g (rel %g, abs %g)", what, x, ref, rel, abs);
}

static char tmpdir[256];

static void maketmp(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/trpo_test_env_mujoco_XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
}

static void rmtmp(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  assert_int_equal(system(cmd), 0);
}

// the text of a shipped model
static char* readmodel(const char* file) {
  char path[512];
  snprintf(path, sizeof path, "%s/configs/mujoco/%s", TRPO_SOURCE_DIR, file);
  FILE* f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* text = malloc((size_t)n + 1);
  assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
  text[n] = 0;
  fclose(f);
  return text;
}

// text with every occurrence of from replaced by to (at least one must occur), written to
// tmpdir/name; returns the path
static const char* writevariant(const char* text, const char* from, const char* to,
                                const char* name) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE* f = fopen(path, "w");
  assert_non_null(f);
  int hits = 0;
  size_t nfrom = strlen(from);
  for (const char* p = text; *p;) {
    if (nfrom && !strncmp(p, from, nfrom)) {
      fputs(to, f);
      p += nfrom;
      hits++;
    } else {
      fputc(*p++, f);
    }
  }
  fclose(f);
  if (nfrom && !hits) fail_msg("variant %s: '%s' not found", name, from);
  return path;
}

//---------------------------------- sizes, task list, models --------------------------------------

// TASKS.md 0: sizes, bounds, time limits, frame skip, timestep and integrator per task
static void test_sizes(void** st) {
  (void)st;
  static const struct {
    int nq, nv, nu, nobs, max_steps, frame_skip, integrator;
    double lo, hi, timestep;
  } want[NTASK] = {
      {6, 6, 3, 11, 1000, 4, mjINT_RK4, -1, 1, 0.002},
      {9, 9, 6, 17, 1000, 4, mjINT_RK4, -1, 1, 0.002},
      {9, 9, 6, 17, 1000, 5, mjINT_EULER, -1, 1, 0.01},
      {5, 5, 2, 8, 1000, 4, mjINT_RK4, -1, 1, 0.01},
      {2, 2, 1, 4, 1000, 2, mjINT_RK4, -3, 3, 0.02},
      {4, 4, 2, 11, 50, 2, mjINT_RK4, -1, 1, 0.01},
  };
  for (int k = 0; k < NTASK; k++) {
    // the backend lists the task
    int listed = 0;
    for (int j = 0; B->tasks[j]; j++) listed |= !strcmp(B->tasks[j], mytasks[k]);
    assert_true(listed);
    // info and model sizes
    trpo_envinfo info;
    void* s = make(mytasks[k], "", 2, &info);
    const mjModel* m;
    data(s, 1, &m);
    assert_string_equal(info.name, mytasks[k]);
    assert_int_equal(m->nq, want[k].nq);
    assert_int_equal(m->nv, want[k].nv);
    assert_int_equal(m->nu, want[k].nu);
    assert_int_equal(info.nact, want[k].nu);
    assert_int_equal(info.nobs, want[k].nobs);
    assert_int_equal(info.discrete, 0);
    assert_int_equal(info.max_steps, want[k].max_steps);
    assert_int_equal(info.substeps, want[k].frame_skip);
    assert_true(info.act_lo == want[k].lo && info.act_hi == want[k].hi);
    assert_true(m->opt.timestep == want[k].timestep);
    assert_int_equal(m->opt.integrator, want[k].integrator);
    // the state holds time, qpos, qvel, act, ctrl, warm start and the derived arrays of 1.2
    int nsim = 1 + m->nq + 4 * m->nv + m->na + m->nu + 28 * m->nbody + 3 * m->nsite;
    assert_int_equal(info.nsim, nsim);
    B->free(s);
  }
}

typedef struct bodycheck_ {
  const char* name;
  double mass;
  double x, y, z;   // world origin at qpos0
} bodycheck;

static void checkbodies(const char* task, const bodycheck* b, int n, double total,
                        const double* qpos0) {
  trpo_envinfo info;
  void* s = make(task, "", 1, &info);
  const mjModel* m;
  mjData* d = data(s, 0, &m);
  mj_resetData(m, d);
  mj_forward(m, d);
  // qpos0 (the slide refs)
  for (int k = 0; k < m->nq; k++) near(m->qpos0[k], qpos0[k], 0, 1e-12, "qpos0");
  // each body's mass and world position, then the total
  double sum = 0;
  for (int k = 0; k < n; k++) {
    int id = mj_name2id(m, mjOBJ_BODY, b[k].name);
    if (id < 0) fail_msg("%s: no body %s", task, b[k].name);
    near(m->body_mass[id], b[k].mass, 0, 6e-7, b[k].name);
    near(d->xpos[3 * id + 0], b[k].x, 0, 1e-12, b[k].name);
    near(d->xpos[3 * id + 1], b[k].y, 0, 1e-12, b[k].name);
    near(d->xpos[3 * id + 2], b[k].z, 0, 1e-12, b[k].name);
  }
  for (int k = 1; k < m->nbody; k++) sum += m->body_mass[k];
  near(sum, total, 0, 1.5e-6, "total mass");   // a sum of rounded masses
  B->free(s);
}

// TASKS.md 2: the check masses and world positions of the body tables
static void test_masses(void** st) {
  (void)st;
  static const bodycheck hopper[] = {{"torso", 3.665191, 0, 0, 1.25},
                                     {"thigh", 4.057891, 0, 0, 1.05},
                                     {"leg", 2.781357, 0, 0, 0.35},
                                     {"foot", 5.315575, 0.13, 0, 0}};
  static const double hq[] = {0, 1.25, 0, 0, 0, 0};
  checkbodies("Hopper-v4", hopper, 4, 15.820013, hq);
  static const bodycheck walker[] = {
      {"torso", 3.665191, 0, 0, 1.25},     {"thigh", 4.057891, 0, 0, 1.05},
      {"leg", 2.781357, 0, 0, 0.35},       {"foot", 3.166725, 0.2, 0, 0},
      {"thigh_left", 4.057891, 0, 0, 1.05}, {"leg_left", 2.781357, 0, 0, 0.35},
      {"foot_left", 3.166725, 0.2, 0, 0}};
  static const double wq[] = {0, 1.25, 0, 0, 0, 0, 0, 0, 0};
  checkbodies("Walker2d-v4", walker, 7, 23.677137, wq);
  static const bodycheck cheetah[] = {
      {"torso", 6.250209, 0, 0, 0.7},        {"bthigh", 1.543515, -0.5, 0, 0.7},
      {"bshin", 1.587448, -0.34, 0, 0.45},   {"bfoot", 1.095397, -0.62, 0, 0.31},
      {"fthigh", 1.438075, 0.5, 0, 0.7},     {"fshin", 1.200837, 0.36, 0, 0.46},
      {"ffoot", 0.884519, 0.49, 0, 0.28}};
  static const double zero[9] = {0};
  checkbodies("HalfCheetah-v4", cheetah, 7, 14.0, zero);
  static const bodycheck swimmer[] = {{"torso", 35.604717, 0, 0, 0},
                                      {"mid", 35.604717, 0.5, 0, 0},
                                      {"back", 35.604717, -0.5, 0, 0}};
  checkbodies("Swimmer-v4", swimmer, 3, 106.814150, zero);
  static const bodycheck pendulum[] = {{"cart", 10.471976, 0, 0, 0}, {"pole", 5.018592, 0, 0, 0}};
  checkbodies("InvertedPendulum-v4", pendulum, 2, 10.471976 + 5.018592, zero);
  static const bodycheck reacher[] = {{"body0", 0.035605, 0, 0, 0.01},
                                      {"body1", 0.035605, 0.1, 0, 0.01},
                                      {"fingertip", 0.004189, 0.21, 0, 0.01},
                                      {"target", 0.003054, 0.1, -0.1, 0.01}};
  static const double rq[] = {0, 0, 0.1, -0.1};
  checkbodies("Reacher-v4", reacher, 4, 0.035605 * 2 + 0.004189 + 0.003054, rq);
}

//---------------------------------- check values of TASKS.md 3 ------------------------------------

typedef struct rollout_ {
  int steps, term;
  double ret, obs0, obs1;
} rollout;

// protocol A (b = 0): action 0 until termination or the time limit; protocol B (b = 1): a_i =
// +-0.5 ub (even +, odd -) for at most 50 steps; from the clean start
static rollout protocol(const char* task, int b) {
  trpo_envinfo info;
  void* s = make(task, "", 1, &info);
  const trpo_mjtask* t = findtask(task);
  double obs[MAXOBS], act[16];
  cleanstart(s, 0, t, obs);
  for (int k = 0; k < info.nact; k++) act[k] = b ? (k % 2 ? -0.5 : 0.5) * info.act_hi : 0.0;
  rollout r = {0};
  int max = b ? 50 : info.max_steps;
  while (r.steps < max) {
    double rew;
    int flags = B->step(s, 0, act, obs, &rew);
    assert_false(flags & TRPO_ENV_SIMFAULT);
    r.steps++;
    r.ret += rew;
    if (flags & TRPO_ENV_TERMINATED) {
      r.term = 1;
      break;
    }
  }
  r.obs0 = obs[0];
  r.obs1 = obs[1];
  B->free(s);
  return r;
}

static void test_check_values(void** st) {
  (void)st;
  // task, protocol, steps, terminated, return, obs0, obs1 (TASKS.md 3)
  static const struct {
    const char* task;
    int b, steps, term;
    double ret, obs0, obs1, obs1rel;
  } want[] = {
      // Hopper A's torso angle at the fall moves by 1e-4 under a 1e-9 change of qpos0
      // (measured), so its obs1 is held to 5e-4 relative; everything else to 4 digits or better
      {"Hopper-v4", 0, 141, 1, 133.89, 1.19498, -0.20458, 5e-4},
      {"Hopper-v4", 1, 13, 1, 9.361301, 1.19099, -0.207017, 1e-4},
      {"Walker2d-v4", 0, 131, 1, 121.943, 1.10439, -1.03215, 1e-4},
      {"Walker2d-v4", 1, 15, 1, -5.519173, 1.10246, -1.02895, 1e-4},
      {"HalfCheetah-v4", 0, 1000, 0, -0.2463727, -0.132445, 0.0521247, 1e-4},
      {"HalfCheetah-v4", 1, 50, 0, -6.815706, -0.152394, 0.0891602, 1e-4},
      {"Swimmer-v4", 0, 1000, 0, 0, 0, 0, 1e-4},
      {"Swimmer-v4", 1, 50, 0, -8.249996, -0.428643, 1.74603, 1e-4},
      {"InvertedPendulum-v4", 0, 30, 1, 30, -0.0215261, 0.226521, 1e-4},
      {"InvertedPendulum-v4", 1, 3, 1, 3, 0.088946, -0.201512, 1e-4},
      {"Reacher-v4", 0, 50, 0, -7.433034, 1, 1, 1e-4},
      {"Reacher-v4", 1, 50, 0, -32.52396, 0.607082, -0.990272, 1e-4},
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    rollout r = protocol(want[k].task, want[k].b);
    char what[128];
    snprintf(what, sizeof what, "%s protocol %c", want[k].task, 'A' + want[k].b);
    if (r.steps != want[k].steps || r.term != want[k].term)
      fail_msg("%s: %d steps, terminated %d; expected %d, %d", what, r.steps, r.term,
               want[k].steps, want[k].term);
    near(r.ret, want[k].ret, 1e-4, 1e-9, what);
    near(r.obs0, want[k].obs0, 1e-4, 1e-9, what);
    near(r.obs1, want[k].obs1, want[k].obs1rel, 1e-9, what);
  }
}

//---------------------------------- rewards and observations from raw indices ---------------------

static double clip10(double x) { return x < -10 ? -10 : x > 10 ? 10 : x; }

// the observation by the index definitions of TASKS.md (the shipped models keep the order)
static void rawobs(int task, const mjData* d, double* o) {
  const double *q = d->qpos, *v = d->qvel;
  int n = 0;
  switch (task) {
    case 0:  // Hopper
      for (int k = 1; k < 6; k++) o[n++] = q[k];
      for (int k = 0; k < 6; k++) o[n++] = clip10(v[k]);
      break;
    case 1:  // Walker2d
      for (int k = 1; k < 9; k++) o[n++] = q[k];
      for (int k = 0; k < 9; k++) o[n++] = clip10(v[k]);
      break;
    case 2:  // HalfCheetah
      for (int k = 1; k < 9; k++) o[n++] = q[k];
      for (int k = 0; k < 9; k++) o[n++] = v[k];
      break;
    case 3:  // Swimmer
      for (int k = 2; k < 5; k++) o[n++] = q[k];
      for (int k = 0; k < 5; k++) o[n++] = v[k];
      break;
    case 4:  // InvertedPendulum
      o[0] = q[0], o[1] = q[1], o[2] = v[0], o[3] = v[1];
      break;
    case 5:  // Reacher: bodies 3 (fingertip) and 4 (target)
      o[0] = cos(q[0]), o[1] = cos(q[1]), o[2] = sin(q[0]), o[3] = sin(q[1]);
      o[4] = q[2], o[5] = q[3], o[6] = v[0], o[7] = v[1];
      for (int k = 0; k < 3; k++) o[8 + k] = d->xpos[9 + k] - d->xpos[12 + k];
      break;
  }
}

static double reacherdist(const mjData* d) {
  double s = 0;
  for (int k = 0; k < 3; k++) {
    double e = d->xpos[9 + k] - d->xpos[12 + k];
    s += e * e;
  }
  return sqrt(s);
}

// the reward from its terms: before = qpos[0] (or the Reacher distance) before the step
static double rawreward(int task, const mjData* d, double before, const double* a, int nu) {
  static const double dt[NTASK] = {0.002 * 4, 0.002 * 4, 0.01 * 5, 0.01 * 4, 0.02 * 2, 0.01 * 2};
  double a2 = 0;
  for (int k = 0; k < nu; k++) a2 += a[k] * a[k];
  double vx = (d->qpos[0] - before) / dt[task];
  switch (task) {
    case 0:
    case 1: return vx + 1 - 0.001 * a2;
    case 2: return vx - 0.1 * a2;
    case 3: return vx - 0.0001 * a2;
    case 4: return 1;
    default: return -before - a2;
  }
}

// every step of random episodes (actions up to 1.5x the Box, so the cost sees unclipped values):
// reward = its terms recomputed from mjData before and after, observation = index definition,
// ctrl = the action as given
static void test_reward_obs(void** st) {
  (void)st;
  for (int k = 0; k < NTASK; k++) {
    trpo_envinfo info;
    void* s = make(mytasks[k], "", 1, &info);
    const mjModel* m;
    mjData* d = data(s, 0, &m);
    trpo_rng rr, ra;
    trpo_rng_seed(&rr, 11, (uint64_t)k, TRPO_RNG_RESET);
    trpo_rng_seed(&ra, 11, (uint64_t)k, TRPO_RNG_ACTION);
    double obs[MAXOBS], want[MAXOBS], act[16];
    B->reset(s, 0, &rr, obs);
    rawobs(k, d, want);
    assert_true(trpo_test_maxdiff(obs, want, info.nobs) == 0);
    int nterm = 0;
    for (int t = 0, len = 0; t < 400; t++) {
      randomact(&ra, &info, 1.5, act);
      double before = k == 5 ? reacherdist(d) : d->qpos[0], r;
      int flags = B->step(s, 0, act, obs, &r);
      assert_false(flags & TRPO_ENV_SIMFAULT);
      near(r, rawreward(k, d, before, act, m->nu), 1e-12, 1e-12, mytasks[k]);
      rawobs(k, d, want);
      assert_true(trpo_test_maxdiff(obs, want, info.nobs) == 0);
      for (int j = 0; j < m->nu; j++) assert_true(d->ctrl[j] == act[j]);
      // a new episode at termination or the time limit
      if (flags & TRPO_ENV_TERMINATED || ++len == info.max_steps) {
        nterm += !!(flags & TRPO_ENV_TERMINATED);
        B->reset(s, 0, &rr, obs);
        len = 0;
      }
    }
    // random actions topple the walkers and the pendulum; the others never terminate
    if (k == 0 || k == 1 || k == 4) assert_true(nterm > 0);
    else assert_int_equal(nterm, 0);
    B->free(s);
  }
}

//---------------------------------- termination ---------------------------------------------------

typedef struct crafted_ {
  int qpos;          // index set in qpos (-1: none)
  double qposval;
  int qvel;          // index set in qvel (-1: none)
  double qvelval;
  int terminated;
} crafted;

// crafted states (qpos0 and qvel 0, then one entry changed, then mj_forward) against the task's
// termination rule at its strict boundaries
static void checkterm(const char* task, const crafted* c, int n) {
  trpo_envinfo info;
  void* s = make(task, "", 1, &info);
  const trpo_mjtask* t = findtask(task);
  const mjModel* m;
  mjData* d = data(s, 0, &m);
  for (int k = 0; k < n; k++) {
    mj_resetData(m, d);
    if (c[k].qpos >= 0) d->qpos[c[k].qpos] = c[k].qposval;
    if (c[k].qvel >= 0) d->qvel[c[k].qvel] = c[k].qvelval;
    mj_forward(m, d);
    int got = t->terminated(trpo_env_mujoco_ids(s), m, d);
    if (got != c[k].terminated)
      fail_msg("%s case %d: terminated %d, expected %d", task, k, got, c[k].terminated);
  }
  B->free(s);
}

static void test_termination(void** st) {
  (void)st;
  static const crafted hopper[] = {
      {-1, 0, -1, 0, 0},          {1, 0.7, -1, 0, 1},          {1, 0.7 + 1e-9, -1, 0, 0},
      {2, 0.2, -1, 0, 1},         {2, -0.2, -1, 0, 1},         {2, 0.2 - 1e-9, -1, 0, 0},
      {2, -0.2 + 1e-9, -1, 0, 0}, {3, 100, -1, 0, 1},          {5, -100, -1, 0, 1},
      {4, -99.99, -1, 0, 0},      {-1, 0, 0, 100, 1},          {-1, 0, 5, -100, 1},
      {-1, 0, 2, 99.99, 0},       {0, 1e6, -1, 0, 0},          {1, 1e6, -1, 0, 0},
  };
  checkterm("Hopper-v4", hopper, sizeof hopper / sizeof hopper[0]);
  static const crafted walker[] = {
      {-1, 0, -1, 0, 0},      {1, 0.8, -1, 0, 1},       {1, 0.8 + 1e-9, -1, 0, 0},
      {1, 2.0, -1, 0, 1},     {1, 2.0 - 1e-9, -1, 0, 0}, {2, 1.0, -1, 0, 1},
      {2, -1.0, -1, 0, 1},    {2, 1 - 1e-9, -1, 0, 0},  {2, -1 + 1e-9, -1, 0, 0},
      {-1, 0, 0, 1e3, 0},     {5, 1e3, -1, 0, 0},
  };
  checkterm("Walker2d-v4", walker, sizeof walker / sizeof walker[0]);
  static const crafted pendulum[] = {
      {-1, 0, -1, 0, 0}, {1, 0.2, -1, 0, 0},         {1, -0.2, -1, 0, 0},
      {1, 0.2 + 1e-9, -1, 0, 1}, {1, -0.2 - 1e-9, -1, 0, 1}, {0, 0.9, 1, 50, 0},
  };
  checkterm("InvertedPendulum-v4", pendulum, sizeof pendulum / sizeof pendulum[0]);
  static const crafted never[] = {{1, -5, 2, 1e3, 0}, {2, 3, 0, -1e3, 0}};
  checkterm("HalfCheetah-v4", never, 2);
  checkterm("Swimmer-v4", never, 2);
  checkterm("Reacher-v4", never, 2);
}

//---------------------------------- reset noise ---------------------------------------------------

// many resets: every entry within its bounds, the bounds nearly reached, moments as specified
static void test_reset_noise(void** st) {
  (void)st;
  // qpos half-width, qvel half-width (0: normal with std 0.1) per task
  static const double qw[NTASK] = {0.005, 0.005, 0.1, 0.1, 0.01, 0.1};
  static const double vw[NTASK] = {0.005, 0.005, 0, 0.1, 0.01, 0.005};
  const int nreset = 3000;
  for (int k = 0; k < NTASK; k++) {
    trpo_envinfo info;
    void* s = make(mytasks[k], "", 1, &info);
    const mjModel* m;
    mjData* d = data(s, 0, &m);
    trpo_rng rng;
    trpo_rng_seed(&rng, 5, (uint64_t)k, TRPO_RNG_RESET);
    double obs[MAXOBS], qmax = 0, vmax = 0, vsum = 0, vsum2 = 0, gmax = 0;
    long nv = 0;
    for (int r = 0; r < nreset; r++) {
      B->reset(s, 0, &rng, obs);
      int nq = k == 5 ? 2 : m->nq, nvv = k == 5 ? 2 : m->nv;
      for (int j = 0; j < nq; j++) {
        double e = fabs(d->qpos[j] - m->qpos0[j]);
        assert_true(e <= qw[k]);
        qmax = fmax(qmax, e);
      }
      for (int j = 0; j < nvv; j++) {
        double v = d->qvel[j];
        if (vw[k] > 0) assert_true(fabs(v) <= vw[k]);
        vmax = fmax(vmax, fabs(v)), vsum += v, vsum2 += v * v, nv++;
      }
      if (k == 5) {
        // Reacher: the goal in the open disc of radius 0.2, the target at rest
        double g = sqrt(d->qpos[2] * d->qpos[2] + d->qpos[3] * d->qpos[3]);
        assert_true(g < 0.2);
        gmax = fmax(gmax, g);
        assert_true(d->qvel[2] == 0 && d->qvel[3] == 0);
        assert_true(obs[4] == d->qpos[2] && obs[5] == d->qpos[3]);
      }
      // the observation is that of the state after mj_forward
      double want[MAXOBS];
      rawobs(k, d, want);
      assert_true(trpo_test_maxdiff(obs, want, info.nobs) == 0);
    }
    assert_true(qmax > 0.99 * qw[k]);
    double mean = vsum / nv, sd = sqrt(vsum2 / nv - mean * mean);
    if (vw[k] > 0) {
      // uniform: reaches the bound, std = width / sqrt(3)
      assert_true(vmax > 0.99 * vw[k]);
      near(sd, vw[k] / sqrt(3.0), 0.05, 0, "uniform qvel std");
    } else {
      // HalfCheetah: 0.1 N(0, 1)
      near(sd, 0.1, 0.03, 0, "normal qvel std");
      assert_true(fabs(mean) < 0.005);
    }
    if (k == 5) assert_true(gmax > 0.195);
    B->free(s);
  }
}

//---------------------------------- determinism and state round trips -----------------------------

// two makes, the same streams: bitwise the same trajectories (resets included); another
// stream differs
static void test_same_seed(void** st) {
  (void)st;
  for (int k = 0; k < NTASK; k++) {
    trpo_envinfo info;
    void* s1 = make(mytasks[k], "", 2, &info);
    void* s2 = make(mytasks[k], "", 2, &info);
    enum { N = 150 };
    static double o1[N * MAXOBS], o2[N * MAXOBS], o3[N * MAXOBS];
    double r1[N], r2[N], r3[N], act[16];
    // env 1 of make 1 and env 0 of make 2 from the same streams; env 0 of make 1 from another
    void* who[3] = {s1, s2, s1};
    int idx[3] = {1, 0, 0};
    uint64_t stream[3] = {7, 7, 8};
    double* os[3] = {o1, o2, o3};
    double* rs[3] = {r1, r2, r3};
    for (int w = 0; w < 3; w++) {
      trpo_rng rr, ra;
      trpo_rng_seed(&rr, 3, stream[w], TRPO_RNG_RESET);
      trpo_rng_seed(&ra, 3, stream[w], TRPO_RNG_ACTION);
      double obs[MAXOBS];
      B->reset(who[w], idx[w], &rr, obs);
      for (int t = 0; t < N; t++) {
        randomact(&ra, &info, 1.0, act);
        int flags = B->step(who[w], idx[w], act, os[w] + t * info.nobs, &rs[w][t]);
        if (flags) B->reset(who[w], idx[w], &rr, obs);
      }
    }
    assert_memory_equal(o1, o2, sizeof(double) * N * (size_t)info.nobs);
    assert_memory_equal(r1, r2, sizeof r1);
    assert_true(trpo_test_maxdiff(o1, o3, N * info.nobs) > 0);
    B->free(s1);
    B->free(s2);
  }
}

// the driver's reset clears only the constraint rows MuJoCo wrote (trpo_env_mujoco_resetdata):
// after long random rollouts, with actions up to twice the Box (falls, contacts, limits), each
// reset leaves mjData byte for byte as a fresh mj_makeData (which is mj_resetData's result): the
// whole buffer, every size, counter and statistic. And the episodes that follow are those of
// resets through mj_resetData: env 1 is cleared by mj_resetData before each of its resets, env 0
// is not, both run on the same streams. Returns the most constraint rows any episode made; *dirty
// is set once efc_AR held a non-zero (a reset that left it alone would have failed), *sparse to
// whether the model's constraint Jacobian is sparse
static int resetbytes(const char* task, const char* path, int* dirty, int* sparse) {
  trpo_envinfo info;
  void* s = make(task, path, 2, &info);
  const mjModel* m;
  mjData* d[2] = {data(s, 0, &m), data(s, 1, &m)};
  mjData* fresh = mj_makeData(m);
  *sparse = mj_isSparse(m);
  trpo_rng rr[2], ra;
  for (int e = 0; e < 2; e++) trpo_rng_seed(&rr[e], 5, 1, TRPO_RNG_RESET);
  trpo_rng_seed(&ra, 5, 1, TRPO_RNG_ACTION);
  double obs[2][MAXOBS * 8], rew[2], act[32];
  assert_true(info.nobs <= MAXOBS * 8 && info.nact <= 32);
  for (int e = 0; e < 2; e++) B->reset(s, e, &rr[e], obs[e]);
  int most = 0, resets = 0;
  for (int t = 0; t < 3000; t++) {
    randomact(&ra, &info, 2.0, act);
    int f[2];
    for (int e = 0; e < 2; e++) f[e] = B->step(s, e, act, obs[e], &rew[e]);
    assert_int_equal(f[0], f[1]);
    assert_memory_equal(obs[0], obs[1], sizeof(double) * (size_t)info.nobs);
    assert_memory_equal(&rew[0], &rew[1], sizeof(double));
    if (!f[0] && (t + 1) % 200) continue;
    for (int q = 0; q < d[0]->maxuse_efc * m->njmax && !*dirty; q++) *dirty = d[0]->efc_AR[q] != 0;
    if (d[0]->maxuse_efc > most) most = d[0]->maxuse_efc;
    trpo_env_mujoco_resetdata(m, d[0]);
    resets++;
    if (memcmp(d[0]->buffer, fresh->buffer, (size_t)fresh->nbuffer))
      fail_msg("%s (%s): the buffer after the reset differs from mj_resetData's (step %d)", task,
               path[0] ? path : "default model", t);
#define X(type, name)                                                                            \
  if (memcmp(&d[0]->name, &fresh->name, sizeof(type)))                                           \
    fail_msg("%s: %s after the reset differs from mj_resetData's", task, #name);
    MJDATA_SCALAR
#undef X
#define X(type, name, n1, n2)                                                                    \
  if (memcmp(d[0]->name, fresh->name, sizeof(type) * (n1) * (n2)))                               \
    fail_msg("%s: %s after the reset differs from mj_resetData's", task, #name);
    MJDATA_VECTOR
#undef X
    mj_resetData(m, d[1]);
    for (int e = 0; e < 2; e++) B->reset(s, e, &rr[e], obs[e]);
    assert_memory_equal(obs[0], obs[1], sizeof(double) * (size_t)info.nobs);
  }
  assert_true(resets >= 15);
  mj_deleteData(fresh);
  B->free(s);
  return most;
}

// every task's own model, and a user's models that pick other constraint layouts: the sparse
// Jacobian (what MuJoCo picks by itself from 60 degrees of freedom) with PGS (Humanoid), with
// elliptic cones under Newton and under PGS (Ant), and PGS on a dense Jacobian (Hopper). PGS
// writes efc_AR; Newton does not
static void test_reset_bytes(void** st) {
  (void)st;
  int tasks = 0, dirty = 0, sparse;
  for (int k = 0; B->tasks[k]; k++, tasks++) {
    int most = resetbytes(B->tasks[k], "", &dirty, &sparse);
    assert_false(sparse);
    // the tasks with contacts or joint limits made constraints
    if (strstr(B->tasks[k], "Hopper") || strstr(B->tasks[k], "Ant") ||
        strstr(B->tasks[k], "Humanoid") || strstr(B->tasks[k], "Walker"))
      assert_true(most >= 4);
  }
  assert_int_equal(tasks, 10);
  assert_true(dirty);
  maketmp();
  const struct {
    const char *task, *file, *from, *to;
    int pgs;
  } v[] = {
      {"Humanoid-v4", "humanoid.xml", "solver=\"PGS\"", "solver=\"PGS\" jacobian=\"sparse\"", 1},
      {"Ant-v4", "ant.xml", "integrator=\"RK4\"",
       "integrator=\"RK4\" jacobian=\"sparse\" cone=\"elliptic\"", 0},
      {"Ant-v4", "ant.xml", "integrator=\"RK4\"",
       "integrator=\"RK4\" jacobian=\"sparse\" cone=\"elliptic\" solver=\"PGS\"", 1},
      {"Hopper-v4", "hopper.xml", "integrator=\"RK4\"", "integrator=\"RK4\" solver=\"PGS\"", 1},
  };
  for (int k = 0; k < 4; k++) {
    char* text = readmodel(v[k].file);
    dirty = 0;
    const char* path = writevariant(text, v[k].from, v[k].to, v[k].file);
    int most = resetbytes(v[k].task, path, &dirty, &sparse);
    assert_true(most >= 4);
    assert_int_equal(sparse, k < 3);
    assert_int_equal(dirty, v[k].pgs);
    free(text);
  }
  rmtmp();
}

// getstate mid-episode, continue; setstate into an env with another history and into a fresh
// make: the continuation is bitwise identical, and so is the state after it
static void test_state_roundtrip(void** st) {
  (void)st;
  for (int k = 0; k < NTASK; k++) {
    trpo_envinfo info;
    void* s = make(mytasks[k], "", 2, &info);
    void* fresh = make(mytasks[k], "", 1, &info);
    static double sim[MAXSIM], simend[3][MAXSIM];
    enum { N = 40 };
    static double obs[3][N][MAXOBS];
    double acts[N][16], rew[3][N], act[16], o[MAXOBS], r;
    int flags[3][N];
    memset(obs, 0, sizeof obs);
    trpo_rng rr, ra;
    trpo_rng_seed(&rr, 9, (uint64_t)k, TRPO_RNG_RESET);
    trpo_rng_seed(&ra, 9, (uint64_t)k, TRPO_RNG_ACTION);
    // env 0: reset, some steps (fewer for the short Reacher episodes), save the state
    B->reset(s, 0, &rr, o);
    for (int t = 0; t < 7; t++) {
      randomact(&ra, &info, 1.0, act);
      B->step(s, 0, act, o, &r);
    }
    B->getstate(s, 0, sim);
    for (int t = 0; t < N; t++) randomact(&ra, &info, 1.0, acts[t]);
    // env 1: another history
    B->reset(s, 1, &rr, o);
    for (int t = 0; t < 5; t++) {
      randomact(&ra, &info, 1.0, act);
      B->step(s, 1, act, o, &r);
    }
    // three continuations: env 0 itself, env 1 after setstate, the fresh env after setstate
    B->setstate(s, 1, sim);
    B->setstate(fresh, 0, sim);
    void* who[3] = {s, s, fresh};
    int idx[3] = {0, 1, 0};
    for (int w = 0; w < 3; w++) {
      for (int t = 0; t < N; t++)
        flags[w][t] = B->step(who[w], idx[w], acts[t], obs[w][t], &rew[w][t]);
      B->getstate(who[w], idx[w], simend[w]);
    }
    for (int w = 1; w < 3; w++) {
      assert_memory_equal(obs[0], obs[w], sizeof obs[0]);
      assert_memory_equal(rew[0], rew[w], sizeof rew[0]);
      assert_memory_equal(flags[0], flags[w], sizeof flags[0]);
      assert_memory_equal(simend[0], simend[w], sizeof(double) * (size_t)info.nsim);
    }
    B->free(s);
    B->free(fresh);
  }
}

//---------------------------------- faults --------------------------------------------------------

// a huge velocity (MuJoCo's bad qvel/qacc check), NaN in qvel, qpos and the action: the step
// reports a fault, returns the observation before the step and reward 0, and the env resets;
// MuJoCo's warnings leave no MUJOCO_LOG.TXT in the working directory
static void test_simfault(void** st) {
  (void)st;
  char cwd[1024];
  assert_non_null(getcwd(cwd, sizeof cwd));
  maketmp();
  assert_int_equal(chdir(tmpdir), 0);
  for (int k = 0; k < NTASK; k++) {
    trpo_envinfo info;
    void* s = make(mytasks[k], "", 1, &info);
    const trpo_mjtask* t = findtask(mytasks[k]);
    const mjModel* m;
    mjData* d = data(s, 0, &m);
    trpo_rng rr;
    trpo_rng_seed(&rr, 4, (uint64_t)k, TRPO_RNG_RESET);
    double obs[MAXOBS], before[MAXOBS], act[16] = {0}, r = 1;
    for (int c = 0; c < 4; c++) {
      // a normal step first, so there is a last finite observation
      B->reset(s, 0, &rr, obs);
      int flags = B->step(s, 0, act, before, &r);
      assert_false(flags & TRPO_ENV_SIMFAULT);
      if (c > 0) trpo_test_notraps();   // MuJoCo's checks compare NaN (FE_INVALID)
      if (c == 0) {
        // a crafted huge (finite) velocity, handed over like a checkpoint
        d->qvel[m->nv - 1] = 1e11;
        mj_forward(m, d);
        syncstate(s, 0);
        t->observe(trpo_env_mujoco_ids(s), m, d, before);
      }
      if (c == 1) d->qvel[0] = NAN;
      if (c == 2) d->qpos[m->nq - 1] = NAN;
      if (c == 3) act[0] = NAN;
      flags = B->step(s, 0, act, obs, &r);
      act[0] = 0;
      trpo_test_traps();
      if (flags != TRPO_ENV_SIMFAULT) fail_msg("%s case %d: flags %d", mytasks[k], c, flags);
      assert_true(r == 0);
      assert_memory_equal(obs, before, sizeof(double) * (size_t)info.nobs);
      for (int j = 0; j < info.nobs; j++) assert_true(isfinite(obs[j]));
    }
    // after a reset the env steps normally again
    B->reset(s, 0, &rr, obs);
    for (int n = 0; n < 5; n++) assert_false(B->step(s, 0, act, obs, &r) & TRPO_ENV_SIMFAULT);
    B->free(s);
  }
  assert_int_equal(access("MUJOCO_LOG.TXT", F_OK), -1);
  assert_int_equal(chdir(cwd), 0);
  rmtmp();
}

//---------------------------------- models from users and bad models ------------------------------

static void expect_bad(const char* task, const char* path, const char* const* words, int nword) {
  void* s = (void*)1;
  trpo_envinfo info;
  char err[1024] = "";
  int rc = B->make(&s, &info, task, path, 2, err, sizeof err);
  if (rc != TRPO_EXIT_BADINPUT) fail_msg("%s with %s: rc %d, expected BADINPUT", task, path, rc);
  assert_null(s);
  assert_non_null(strstr(err, task));
  for (int k = 0; k < nword; k++)
    if (!strstr(err, words[k])) fail_msg("message '%s' lacks '%s'", err, words[k]);
  assert_null(strchr(err, '\n'));
}

static void test_bad_models(void** st) {
  (void)st;
  maketmp();
  char* hopper = readmodel("hopper.xml");
  char* reacher = readmodel("reacher.xml");
  // a renamed joint (the actuator follows, so the model compiles)
  const char* p = writevariant(hopper, "\"leg_joint\"", "\"knee\"", "renamed.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "joint", "leg_joint"}, 3);
  // a joint of another type
  p = writevariant(hopper, "name=\"rootz\" type=\"slide\"", "name=\"rootz\" type=\"hinge\"",
                   "mistyped.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "rootz", "slide", "hinge"}, 4);
  // a missing actuator
  p = writevariant(hopper, "<motor name=\"foot_joint\" joint=\"foot_joint\"/>", "", "nu.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "2 actuators", "3"}, 3);
  // actuators in another order
  p = writevariant(hopper, "<motor name=\"thigh_joint\" joint=\"thigh_joint\"/>",
                   "<motor name=\"thigh_joint\" joint=\"leg_joint\"/>", "order.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "actuator 0", "thigh_joint"}, 3);
  // another control range
  p = writevariant(hopper, "ctrlrange=\"-1 1\"", "ctrlrange=\"-2 2\"", "range.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "ctrlrange"}, 2);
  // a time step that is not positive (MuJoCo compiles it; rewards divide by it)
  p = writevariant(hopper, "timestep=\"0.002\"", "timestep=\"0\"", "dt0.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "timestep=\"0\"", "positive"}, 3);
  p = writevariant(hopper, "timestep=\"0.002\"", "timestep=\"-0.002\"", "dtneg.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "timestep=\"-0.002\"", "positive"}, 3);
  // a renamed body
  p = writevariant(reacher, "body name=\"fingertip\"", "body name=\"tip\"", "body.xml");
  expect_bad("Reacher-v4", p, (const char* const[]){p, "body", "fingertip"}, 3);
  // MJCF that MuJoCo cannot load: broken XML, a compile error, no file
  p = writevariant("<mujoco><worldbody><body>", "", "", "broken.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "cannot load", "XML"}, 3);
  p = writevariant(hopper, "limited=\"true\"/>", "/>", "limits.xml");
  expect_bad("Hopper-v4", p, (const char* const[]){p, "cannot load", "limited"}, 3);
  expect_bad("Hopper-v4", "/nonexistent/dir/hopper.xml",
             (const char* const[]){"/nonexistent/dir/hopper.xml", "cannot load"}, 2);
  // an unknown task
  void* s;
  trpo_envinfo info;
  char err[256];
  assert_int_equal(B->make(&s, &info, "Hoper-v4", "", 1, err, sizeof err), TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, "Hoper-v4"));
  free(hopper);
  free(reacher);
  rmtmp();
}

// a user's hopper with longer legs, its root joints declared in another order: binding by name
// still reads z and the torso angle, and it steps
static const char* const longhopper =
    "<mujoco model='long hopper'>\n"
    " <compiler angle='degree' inertiafromgeom='true'/>\n"
    " <option timestep='0.002' integrator='RK4'/>\n"
    " <default><joint armature='1' damping='1' limited='true'/>\n"
    "  <geom type='capsule' condim='1' friction='0.9 0.005 0.0001' density='1000'/>\n"
    "  <motor ctrllimited='true' ctrlrange='-1 1' gear='200'/></default>\n"
    " <worldbody><geom name='floor' type='plane' size='20 20 1' condim='3'/>\n"
    "  <body name='torso' pos='0 0 1.55'>\n"
    "   <joint name='rooty' type='hinge' axis='0 1 0' limited='false' armature='0' damping='0'/>\n"
    "   <joint name='rootx' type='slide' axis='1 0 0' limited='false' armature='0' damping='0'/>\n"
    "   <joint name='rootz' type='slide' axis='0 0 1' ref='1.55' limited='false' armature='0'\n"
    "          damping='0'/>\n"
    "   <geom fromto='0 0 0.2 0 0 -0.2' size='0.05'/>\n"
    "   <body name='thigh' pos='0 0 -0.2'>\n"
    "    <joint name='thigh_joint' axis='0 -1 0' range='-150 0'/>\n"
    "    <geom fromto='0 0 0 0 0 -0.6' size='0.05'/>\n"
    "    <body name='leg' pos='0 0 -0.9'>\n"
    "     <joint name='leg_joint' pos='0 0 0.3' axis='0 -1 0' range='-150 0'/>\n"
    "     <geom fromto='0 0 0.3 0 0 -0.35' size='0.04'/>\n"
    "     <body name='foot' pos='0.13 0 -0.45'>\n"
    "      <joint name='foot_joint' pos='-0.13 0 0.1' axis='0 -1 0' range='-45 45'/>\n"
    "      <geom fromto='-0.26 0 0.1 0.13 0 0.1' size='0.06' friction='2 0.005 0.0001'/>\n"
    "     </body></body></body></body></worldbody>\n"
    " <actuator><motor joint='thigh_joint'/><motor joint='leg_joint'/><motor joint='foot_joint'/>"
    "</actuator>\n"
    "</mujoco>\n";

static void test_user_model(void** st) {
  (void)st;
  maketmp();
  const char* p = writevariant(longhopper, "", "", "long_hopper.xml");
  trpo_envinfo info;
  void* s = make("Hopper-v4", p, 1, &info);
  const mjModel* m;
  mjData* d = data(s, 0, &m);
  // the legs are longer (heavier) and the joint order differs from the shipped model
  assert_true(m->body_mass[2] > 4.5);
  assert_int_equal(m->jnt_qposadr[mj_name2id(m, mjOBJ_JOINT, "rootz")], 2);
  // obs[0] is z and obs[1] the torso angle, whatever the qpos order
  trpo_rng rr, ra;
  trpo_rng_seed(&rr, 1, 0, TRPO_RNG_RESET);
  trpo_rng_seed(&ra, 1, 0, TRPO_RNG_ACTION);
  double obs[MAXOBS], act[3], r;
  B->reset(s, 0, &rr, obs);
  assert_true(fabs(obs[0] - 1.55) <= 0.005 && fabs(obs[1]) <= 0.005);
  assert_true(obs[0] == d->qpos[2] && obs[1] == d->qpos[0]);
  // it steps: finite, the reward is its forward velocity from rootx (qpos[1] here)
  for (int t = 0; t < 100; t++) {
    double x0 = d->qpos[1];
    randomact(&ra, &info, 1.0, act);
    int flags = B->step(s, 0, act, obs, &r);
    assert_false(flags & TRPO_ENV_SIMFAULT);
    near(r, (d->qpos[1] - x0) / 0.008 + 1 - 0.001 * (act[0] * act[0] + act[1] * act[1] +
                                                      act[2] * act[2]), 1e-12, 1e-12, "reward");
    if (flags) B->reset(s, 0, &rr, obs);
  }
  B->free(s);
  rmtmp();
}

// no model path: configs/mujoco/ under the working directory wins over the source tree
static void test_model_lookup(void** st) {
  (void)st;
  maketmp();
  char cwd[1024], dir[600];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(tmpdir), 0);
  // not here: the source tree's model
  trpo_envinfo info;
  void* s = make("Swimmer-v4", "", 1, &info);
  const mjModel* m;
  data(s, 0, &m);
  near(m->body_mass[1], 35.604717, 0, 1e-6, "source model");
  B->free(s);
  // here: a variant with a thicker torso
  snprintf(dir, sizeof dir, "%s/configs", tmpdir);
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(dir, sizeof dir, "%s/configs/mujoco", tmpdir);
  assert_int_equal(mkdir(dir, 0700), 0);
  char* text = readmodel("swimmer.xml");
  writevariant(text, "<geom name=\"frontbody\" fromto=\"1.5 0 0 0.5 0 0\"/>",
               "<geom name=\"frontbody\" fromto=\"1.5 0 0 0.5 0 0\" size=\"0.2\"/>",
               "configs/mujoco/swimmer.xml");
  free(text);
  s = make("Swimmer-v4", "", 1, &info);
  data(s, 0, &m);
  assert_true(m->body_mass[1] > 100);
  B->free(s);
  assert_int_equal(chdir(cwd), 0);
  rmtmp();
}

//---------------------------------- allocation ----------------------------------------------------

// steps and resets allocate nothing
static void test_no_alloc(void** st) {
  (void)st;
  for (int k = 0; k < NTASK; k++) {
    trpo_envinfo info;
    void* s = make(mytasks[k], "", 2, &info);
    trpo_rng rr, ra;
    trpo_rng_seed(&rr, 2, 0, TRPO_RNG_RESET);
    trpo_rng_seed(&ra, 2, 0, TRPO_RNG_ACTION);
    double obs[MAXOBS], act[16], r;
    static double sim[MAXSIM];
    long before = trpo_alloc_count();
    for (int i = 0; i < 2; i++) B->reset(s, i, &rr, obs);
    for (int t = 0; t < 100; t++) {
      randomact(&ra, &info, 1.0, act);
      if (B->step(s, t % 2, act, obs, &r)) B->reset(s, t % 2, &rr, obs);
    }
    B->getstate(s, 0, sim);
    B->setstate(s, 1, sim);
    assert_int_equal(trpo_alloc_count(), before);
    B->free(s);
  }
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),          cmocka_unit_test(test_masses),
      cmocka_unit_test(test_check_values),   cmocka_unit_test(test_reward_obs),
      cmocka_unit_test(test_termination),    cmocka_unit_test(test_reset_noise),
      cmocka_unit_test(test_same_seed),      cmocka_unit_test(test_reset_bytes),
      cmocka_unit_test(test_state_roundtrip),
      cmocka_unit_test(test_simfault),       cmocka_unit_test(test_bad_models),
      cmocka_unit_test(test_user_model),     cmocka_unit_test(test_model_lookup),
      cmocka_unit_test(test_no_alloc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
