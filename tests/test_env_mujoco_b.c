// test_env_mujoco_b.c: tests of the MuJoCo task entries Ant-v4, Humanoid-v4,
// InvertedDoublePendulum-v4 (and AntContactForces-v4) in src/env_mujoco_tasks_b.c, with their
// models under configs/mujoco/.
//
// The entries are driven by a small local replica of the TASKS.md 1.1 protocol (load, bind,
// reset = mj_resetData + reset() + mj_forward; step = pre(), ctrl = a, frame_skip x mj_step,
// mj_rnePostConstraint when needed, then observe/reward/terminated), not by src/env_mujoco.c,
// which has its own tests. Oracles: the TASKS.md 3 check values, the tables' masses and
// positions, rewards recomputed here from mjData by independent formulas, crafted unhealthy
// states, reset-noise bounds and statistics, and models with a renamed element.

#include "testutil.h"   // first: it defines _GNU_SOURCE for feenableexcept

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_mujoco.h"

#define MODELDIR TRPO_SOURCE_DIR "/configs/mujoco/"

//---------------------------------- local replica of the driver ------------------------------------

typedef struct sim_ {
  const trpo_mjtask* t;
  mjModel* m;
  mjData* d;
  int ids[TRPO_MJ_MAXIDS];
  double pre[TRPO_MJ_MAXPRE];
  double dt;     // env dt = timestep x frame_skip
} sim;

static const trpo_mjtask* findtask(const char* name) {
  for (int i = 0; trpo_mjtasks_b[i]; i++)
    if (strcmp(trpo_mjtasks_b[i]->name, name) == 0) return trpo_mjtasks_b[i];
  fail_msg("task %s not in trpo_mjtasks_b", name);
  return NULL;
}

static mjModel* loadmodel(const char* file) {
  char path[1024], err[1024] = "";
  snprintf(path, sizeof path, MODELDIR "%s", file);
  mjModel* m = mj_loadXML(path, NULL, err, sizeof err);
  if (!m) fail_msg("%s: %s", path, err);
  return m;
}

static void sim_make(sim* s, const char* name) {
  // task entry, its default model, bound names
  char err[256] = "";
  memset(s, 0, sizeof *s);
  s->t = findtask(name);
  s->m = loadmodel(s->t->model);
  if (s->t->bind(s->ids, s->m, err, sizeof err)) fail_msg("%s: bind: %s", name, err);
  s->d = mj_makeData(s->m);
  s->dt = s->m->opt.timestep * s->t->frame_skip;
}

static void sim_free(sim* s) {
  mj_deleteData(s->d);
  mj_deleteModel(s->m);
}

// reset with noise from rng, or to exactly qpos0, qvel 0 when rng is NULL
static void sim_reset(sim* s, trpo_rng* rng, double* obs) {
  mj_resetData(s->m, s->d);
  if (rng) s->t->reset(s->ids, s->m, s->d, rng);
  mj_forward(s->m, s->d);
  s->t->observe(s->ids, s->m, s->d, obs);
}

static double sim_step(sim* s, const double* a, double* obs, int* term) {
  // pre-step record, ctrl as written, substeps, post-constraint forces
  if (s->t->pre) s->t->pre(s->ids, s->m, s->d, s->pre);
  for (int i = 0; i < s->m->nu; i++) s->d->ctrl[i] = a[i];
  for (int k = 0; k < s->t->frame_skip; k++) mj_step(s->m, s->d);
  if (s->t->needs_rne) mj_rnePostConstraint(s->m, s->d);

  // outputs read as left by the last substep
  s->t->observe(s->ids, s->m, s->d, obs);
  *term = s->t->terminated(s->ids, s->m, s->d);
  return s->t->reward(s->ids, s->m, s->d, s->pre, a, s->dt);
}

//---------------------------------- sizes, masses, positions ---------------------------------------

static void test_sizes(void** state) {
  (void)state;
  const char* names[] = {"Ant-v4", "Humanoid-v4", "InvertedDoublePendulum-v4",
                         "AntContactForces-v4"};
  const int nobs[] = {27, 376, 11, 111}, nact[] = {8, 17, 1, 8}, nq[] = {15, 24, 3, 15};
  const double ub[] = {1, 0.4, 1, 1}, ts[] = {0.01, 0.003, 0.01, 0.01};
  int nlist = 0;
  while (trpo_mjtasks_b[nlist]) nlist++;
  assert_int_equal(nlist, 4);
  for (int k = 0; k < 4; k++) {
    sim s;
    sim_make(&s, names[k]);
    // table sizes
    assert_int_equal(s.t->nobs, nobs[k]);
    assert_int_equal(s.t->nact, nact[k]);
    assert_int_equal(s.m->nu, nact[k]);
    assert_int_equal(s.m->nq, nq[k]);
    assert_int_equal(s.m->nv, nq[k] - (k == 2 ? 0 : 1));
    assert_int_equal(s.t->frame_skip, 5);
    assert_int_equal(s.t->max_steps, 1000);
    assert_true(s.t->npre <= TRPO_MJ_MAXPRE);
    assert_true(s.m->opt.timestep == ts[k]);
    assert_int_equal(s.m->opt.integrator, mjINT_RK4);
    // action bounds are the ctrlrange of every (ctrllimited) actuator
    assert_true(s.t->act_lo == -ub[k] && s.t->act_hi == ub[k]);
    for (int i = 0; i < s.m->nu; i++) {
      assert_int_equal(s.m->actuator_ctrllimited[i], 1);
      assert_true(s.m->actuator_ctrlrange[2 * i] == -ub[k]);
      assert_true(s.m->actuator_ctrlrange[2 * i + 1] == ub[k]);
    }
    sim_free(&s);
  }
}

// body masses against a table (name NULL = unnamed body), and their total
static void checkmasses(const mjModel* m, const char* const* names, const double* mass, int n,
                        double total) {
  assert_int_equal(m->nbody, n);
  double sum = 0;
  for (int b = 0; b < n; b++) {
    const char* nm = mj_id2name(m, mjOBJ_BODY, b);
    if (names[b]) assert_string_equal(nm, names[b]);
    if (fabs(m->body_mass[b] - mass[b]) > 5e-7)
      fail_msg("body %d (%s): mass %.7f, table %.6f", b, nm ? nm : "-", m->body_mass[b], mass[b]);
    sum += m->body_mass[b];
  }
  assert_true(fabs(sum - total) < 5e-7);
}

static void test_masses(void** state) {
  (void)state;
  // Ant (TASKS.md 2.5): tree order, ankles unnamed
  const char* an[] = {"world", "torso", "front_left_leg", "aux_1", NULL, "front_right_leg",
                      "aux_2", NULL, "back_leg", "aux_3", NULL, "right_back_leg", "aux_4", NULL};
  const double leg = 0.039158, ank = 0.067592;
  const double am[] = {0, 0.327249, leg, leg, ank, leg, leg, ank, leg, leg, ank, leg, leg, ank};
  mjModel* m = loadmodel("ant.xml");
  checkmasses(m, an, am, 14, 0.910880);
  mj_deleteModel(m);

  // Humanoid (TASKS.md 2.6)
  const char* hn[] = {"world", "torso", "lwaist", "pelvis", "right_thigh", "right_shin",
                      "right_foot", "left_thigh", "left_shin", "left_foot", "right_upper_arm",
                      "right_lower_arm", "left_upper_arm", "left_lower_arm"};
  const double hm[] = {0, 8.907462, 2.261947, 6.616194, 4.751751, 2.755696, 1.767146,
                       4.751751, 2.755696, 1.767146, 1.661080, 1.229540, 1.661080, 1.229540};
  m = loadmodel("humanoid.xml");
  checkmasses(m, hn, hm, 14, 42.116030);
  mj_deleteModel(m);

  // InvertedDoublePendulum (TASKS.md 2.8)
  const char* pn[] = {"world", "cart", "pole", "pole2"};
  const double pm[] = {0, 10.471976, 4.198739, 4.198739};
  m = loadmodel("inverted_double_pendulum.xml");
  checkmasses(m, pn, pm, 4, 18.869453);
  mj_deleteModel(m);
}

static void test_positions(void** state) {
  (void)state;
  double obs[376];
  // Ant: foot tips (ankle capsule ends) at (+-0.8, +-0.8, 0.75); ankles at qpos0 outside range
  sim s;
  sim_make(&s, "Ant-v4");
  sim_reset(&s, NULL, obs);
  const double sx[4] = {1, -1, -1, 1}, sy[4] = {1, 1, -1, -1};
  for (int k = 0; k < 4; k++) {
    int b = 4 + 3 * k;   // ankle body of leg k
    double tip[3] = {0.4 * sx[k], 0.4 * sy[k], 0}, w[3];
    mju_rotVecMat(w, tip, s.d->xmat + 9 * b);
    for (int j = 0; j < 3; j++) w[j] += s.d->xpos[3 * b + j];
    assert_true(fabs(w[0] - 0.8 * sx[k]) < 1e-12 && fabs(w[1] - 0.8 * sy[k]) < 1e-12);
    assert_true(fabs(w[2] - 0.75) < 1e-12);
  }
  assert_true(obs[0] == 0.75 && obs[1] == 1);
  sim_free(&s);

  // Humanoid: torso at 1.4, feet spheres about 0.1 above the floor, tilted lwaist/pelvis
  sim_make(&s, "Humanoid-v4");
  sim_reset(&s, NULL, obs);
  int rf = mj_name2id(s.m, mjOBJ_GEOM, "right_foot"), lf = mj_name2id(s.m, mjOBJ_GEOM, "left_foot");
  double gap = s.d->geom_xpos[3 * rf + 2] - s.m->geom_size[3 * rf];
  assert_true(gap > 0.09 && gap < 0.12);
  assert_true(fabs(s.d->geom_xpos[3 * lf + 2] - s.d->geom_xpos[3 * rf + 2]) < 1e-12);
  assert_true(obs[0] == 1.4);
  int pel = mj_name2id(s.m, mjOBJ_BODY, "pelvis");
  double angle = 2 * asin(-s.d->xquat[4 * pel + 2]);   // about 2 x 0.004 rad about -y
  assert_true(fabs(angle - 4 * atan(0.002)) < 1e-9);
  sim_free(&s);

  // InvertedDoublePendulum: tip at world z = 1.2, the model's first site; r = 9.36 at rest
  sim_make(&s, "InvertedDoublePendulum-v4");
  sim_reset(&s, NULL, obs);
  assert_int_equal(mj_name2id(s.m, mjOBJ_SITE, "tip"), 0);
  assert_true(fabs(s.d->site_xpos[2] - 1.2) < 1e-12);
  assert_true(fabs(s.t->reward(s.ids, s.m, s.d, s.pre, (double[]){0}, s.dt) - 9.36) < 1e-12);
  assert_true(s.m->opt.gravity[0] == 1e-5);
  // the slider limit acts within its 0.01 margin of +-1, the hinges never
  const double xs[4] = {0.985, 0.995, -0.995, -0.985};
  const int active[4] = {0, 1, 1, 0};
  for (int k = 0; k < 4; k++) {
    mj_resetData(s.m, s.d);
    s.d->qpos[0] = xs[k], s.d->qpos[1] = 2.5, s.d->qpos[2] = -3;
    mj_forward(s.m, s.d);
    assert_int_equal(s.d->nefc, active[k]);
  }
  sim_free(&s);
}

//---------------------------------- TASKS.md 3 check values ----------------------------------------

// run protocol A (zero action until the end) or B (+-0.5 ub alternating, 50 steps at most)
static void rollout(const char* name, int protocol, int* steps, int* term, double* ret,
                    double* obs01) {
  sim s;
  double obs[376], a[32];
  sim_make(&s, name);
  int nmax = protocol == 'A' ? s.t->max_steps : 50;
  for (int i = 0; i < s.t->nact; i++)
    a[i] = protocol == 'A' ? 0 : (i % 2 == 0 ? 0.5 : -0.5) * s.t->act_hi;
  sim_reset(&s, NULL, obs);
  *ret = 0;
  *term = 0;
  for (*steps = 0; *steps < nmax && !*term;) {
    *ret += sim_step(&s, a, obs, term);
    ++*steps;
  }
  obs01[0] = obs[0], obs01[1] = obs[1];
  sim_free(&s);
}

// agreement with a check value to every digit the table prints: |got - want| within half a unit
// of its last decimal (1% slack); the table drops trailing zeros, so "1" is written "1.00000"
static void near(const char* what, double got, const char* table) {
  double want = strtod(table, NULL);
  const char* dot = strchr(table, '.');
  int ndec = dot ? (int)strlen(dot + 1) : 0;
  double tol = 0.505 * pow(10, -ndec);
  printf("  %-34s got %.10g  table %s  (diff %.1e, tol %.1e)\n", what, got, table,
         fabs(got - want), tol);
  if (!(fabs(got - want) <= tol)) fail_msg("%s: %.10g, table %s", what, got, table);
}

static void checkrun(const char* name, int protocol, int wsteps, int wterm, const char* wret,
                     const char* w0, const char* w1) {
  int steps, term;
  double ret, o[2];
  char what[96];
  rollout(name, protocol, &steps, &term, &ret, o);
  printf("%s protocol %c: %d steps, terminated %d\n", name, protocol, steps, term);
  assert_int_equal(steps, wsteps);
  assert_int_equal(term, wterm);
  snprintf(what, sizeof what, "%s %c return", name, protocol);
  near(what, ret, wret);
  snprintf(what, sizeof what, "%s %c obs0", name, protocol);
  near(what, o[0], w0);
  snprintf(what, sizeof what, "%s %c obs1", name, protocol);
  near(what, o[1], w1);
}

static void test_check_ant(void** state) {
  (void)state;
  checkrun("Ant-v4", 'A', 1000, 0, "1000.000", "0.372481", "1.00000");
  checkrun("Ant-v4", 'B', 50, 0, "0.7864559", "0.512036", "0.984179");
}

static void test_check_humanoid(void** state) {
  (void)state;
  checkrun("Humanoid-v4", 'A', 40, 1, "206.1433", "0.996185", "0.993019");
  checkrun("Humanoid-v4", 'B', 18, 1, "86.21885", "0.994691", "0.927917");
}

static void test_check_idp(void** state) {
  (void)state;
  // protocol A is chaotic (TASKS.md 3): it must fall, at about step 53, only through the 1e-5
  int steps, term;
  double ret, o[2];
  rollout("InvertedDoublePendulum-v4", 'A', &steps, &term, &ret, o);
  printf("InvertedDoublePendulum-v4 protocol A: %d steps (table ~53), return %.6g (~494.8)\n",
         steps, ret);
  assert_true(term && steps >= 48 && steps <= 60);
  assert_true(ret > 9.0 * steps && ret < 9.36 * steps + 1e-9);
  checkrun("InvertedDoublePendulum-v4", 'B', 5, 1, "44.97256", "0.608966", "-0.915009");
}

static void test_idp_needs_tilt(void** state) {
  (void)state;
  // without the 1e-5 gravity x component protocol A balances for the whole episode
  sim s;
  double obs[11], a[1] = {0};
  int term = 0, n = 0;
  sim_make(&s, "InvertedDoublePendulum-v4");
  s.m->opt.gravity[0] = 0;
  sim_reset(&s, NULL, obs);
  for (; n < 200 && !term; n++) sim_step(&s, a, obs, &term);
  assert_false(term);
  sim_free(&s);
}

//---------------------------------- rewards recomputed from mjData ---------------------------------

// a deterministic action sequence that sometimes leaves the Box (the env must not clip)
static void action(trpo_rng* r, double ub, double* a, int n) {
  for (int i = 0; i < n; i++) a[i] = trpo_rng_range(r, -1.5 * ub, 1.5 * ub);
}

static void test_reward_ant(void** state) {
  (void)state;
  sim s, c;
  trpo_rng r, r2;
  double obs[27], obsc[111], a[8];
  int term, termc, torso;
  sim_make(&s, "Ant-v4");
  sim_make(&c, "AntContactForces-v4");
  torso = mj_name2id(s.m, mjOBJ_BODY, "torso");
  trpo_rng_seed(&r, 7, 0, TRPO_RNG_RESET);
  r2 = r;
  sim_reset(&s, &r, obs);
  sim_reset(&c, &r2, obsc);
  double maxcontact = 0;
  for (int t = 0; t < 60; t++) {
    // before: torso origin x; after: the same, and the torso's free-joint x from qpos
    double x0 = s.d->xpos[3 * torso], q0 = s.d->qpos[0];
    action(&r, 1, a, 8);
    double rew = sim_step(&s, a, obs, &term);
    double rewc = sim_step(&c, a, obsc, &termc);
    double x1 = s.d->xpos[3 * torso], q1 = s.d->qpos[0], ctrl = 0;
    for (int i = 0; i < 8; i++) ctrl += 0.5 * a[i] * a[i];
    // reward = forward velocity + 1 - 0.5 sum a^2, with the unclipped action
    assert_true(fabs(rew - ((x1 - x0) / 0.05 + 1 - ctrl)) < 1e-12);
    // the lag of TASKS.md 1.2: xpos is the last RK4 stage, near the final qpos
    // the lag of TASKS.md 1.2: xpos is the last RK4 stage, near (here within ~2e-3) the final qpos
    assert_true(fabs((x1 - x0) - (q1 - q0)) < 5e-3);
    // the contact variant: same trajectory, minus 5e-4 sum clip(cfrc_ext)^2 (all 14 bodies)
    double cc = 0;
    for (int i = 0; i < 14 * 6; i++) {
      double f = fmin(1, fmax(-1, c.d->cfrc_ext[i]));
      cc += f * f;
      assert_true(obsc[27 + i] == f);
    }
    assert_true(memcmp(obs, obsc, sizeof obs) == 0 && term == termc);
    assert_true(fabs(rewc - (rew - 5e-4 * cc)) < 1e-12);
    maxcontact = fmax(maxcontact, cc);
    // qpos[2:15], qvel[0:14]
    for (int i = 0; i < 13; i++) assert_true(obs[i] == s.d->qpos[2 + i]);
    for (int i = 0; i < 14; i++) assert_true(obs[13 + i] == s.d->qvel[i]);
  }
  assert_true(maxcontact > 0.1);   // the feet did touch the floor
  sim_free(&s);
  sim_free(&c);
}

static void test_reward_humanoid(void** state) {
  (void)state;
  sim s;
  trpo_rng r;
  double obs[376], a[17];
  int term = 0;
  sim_make(&s, "Humanoid-v4");
  trpo_rng_seed(&r, 8, 0, TRPO_RNG_RESET);
  sim_reset(&s, &r, obs);
  double maxext = 0;
  for (int t = 0; t < 30 && !term; t++) {
    // center of mass x: MuJoCo's subtree_com of the world body, before and after
    double x0 = s.d->subtree_com[0];
    action(&r, 0.4, a, 17);
    double rew = sim_step(&s, a, obs, &term);
    double x1 = s.d->subtree_com[0], ctrl = 0;
    for (int i = 0; i < 17; i++) ctrl += 0.1 * s.d->ctrl[i] * s.d->ctrl[i];
    // reward = 1.25 com velocity + 5 - 0.1 sum ctrl^2 (ctrl as written)
    assert_true(fabs(rew - (1.25 * (x1 - x0) / 0.015 + 5 - ctrl)) < 1e-9);
    // the observation blocks, in MuJoCo's own layout for the table's body order
    const mjData* d = s.d;
    for (int i = 0; i < 22; i++) assert_true(obs[i] == d->qpos[2 + i]);
    for (int i = 0; i < 23; i++) assert_true(obs[22 + i] == d->qvel[i]);
    assert_true(memcmp(obs + 45, d->cinert, 140 * sizeof(double)) == 0);
    assert_true(memcmp(obs + 185, d->cvel, 84 * sizeof(double)) == 0);
    assert_true(memcmp(obs + 269, d->qfrc_actuator, 23 * sizeof(double)) == 0);
    assert_true(memcmp(obs + 292, d->cfrc_ext, 84 * sizeof(double)) == 0);
    assert_true(trpo_test_maxabs(obs + 45, 10) == 0 && trpo_test_maxabs(obs + 269, 6) == 0);
    maxext = fmax(maxext, trpo_test_maxabs(obs + 292, 84));
    // qfrc_actuator of a hinge = gear x clamped ctrl
    assert_true(fabs(obs[269 + 6 + 5] - 300 * fmin(0.4, fmax(-0.4, a[5]))) < 1e-9);
  }
  assert_true(maxext > 1);   // the feet reached the floor: contact forces, through the rne call
  sim_free(&s);
}

static void test_reward_idp(void** state) {
  (void)state;
  sim s;
  trpo_rng r;
  double obs[11], a[1];
  int term = 0;
  sim_make(&s, "InvertedDoublePendulum-v4");
  trpo_rng_seed(&r, 9, 0, TRPO_RNG_RESET);
  sim_reset(&s, &r, obs);
  s.d->qpos[0] = 0.9, s.d->qvel[0] = 1;   // start near the +1 limit, moving toward it
  mj_forward(s.m, s.d);
  int sawlimit = 0;
  for (int t = 0; t < 40 && !term; t++) {
    action(&r, 1, a, 1);
    a[0] = 0.3 * a[0] + 0.2;   // drive the cart toward the +1 limit
    double rew = sim_step(&s, a, obs, &term);
    // the tip as left by the last substep, near the pole geometry's tip at the final qpos
    const double* q = s.d->qpos;
    double x = s.d->site_xpos[0], z = s.d->site_xpos[2];
    assert_true(fabs(x - (q[0] + 0.6 * sin(q[1]) + 0.6 * sin(q[1] + q[2]))) < 1e-3);
    assert_true(fabs(z - (0.6 * cos(q[1]) + 0.6 * cos(q[1] + q[2]))) < 1e-3);
    double v1 = s.d->qvel[1], v2 = s.d->qvel[2];
    double want = 10 - (0.01 * x * x + (z - 2) * (z - 2)) - (1e-3 * v1 * v1 + 5e-3 * v2 * v2);
    assert_true(fabs(rew - want) < 1e-12);   // site_xpos lags qpos by the last RK4 stage
    if (fabs(z - 1) > 1e-6) assert_int_equal(term, z < 1);
    // observation: x, sin, cos, clipped qvel and qfrc_constraint
    assert_true(obs[0] == q[0] && obs[1] == sin(q[1]) && obs[2] == sin(q[2]));
    assert_true(obs[3] == cos(q[1]) && obs[4] == cos(q[2]));
    for (int i = 0; i < 3; i++) {
      assert_true(obs[5 + i] == fmin(10, fmax(-10, s.d->qvel[i])));
      assert_true(obs[8 + i] == fmin(10, fmax(-10, s.d->qfrc_constraint[i])));
    }
    assert_true(obs[9] == 0 && obs[10] == 0);   // hinges have no constraint
    sawlimit |= obs[8] != 0;
  }
  assert_true(sawlimit);   // the slider limit (margin 0.01) did act

  // a crafted state after mj_forward (no lag): the tip from the two 0.6 links, exactly
  const double qs[3] = {0.5, 0.3, -0.7}, vs[3] = {0.1, 2, -3};
  mj_resetData(s.m, s.d);
  memcpy(s.d->qpos, qs, sizeof qs);
  memcpy(s.d->qvel, vs, sizeof vs);
  mj_forward(s.m, s.d);
  double x = 0.5 + 0.6 * sin(0.3) + 0.6 * sin(-0.4), z = 0.6 * cos(0.3) + 0.6 * cos(-0.4);
  double want = 10 - (0.01 * x * x + (z - 2) * (z - 2)) - (1e-3 * 4 + 5e-3 * 9);
  assert_true(fabs(s.t->reward(s.ids, s.m, s.d, s.pre, a, s.dt) - want) < 1e-12);
  sim_free(&s);
}

//---------------------------------- termination from crafted states --------------------------------

static int termat(sim* s, int adr, double z) {
  mj_resetData(s->m, s->d);
  s->d->qpos[adr] = z;
  mj_forward(s->m, s->d);
  return s->t->terminated(s->ids, s->m, s->d);
}

static void test_terminated(void** state) {
  (void)state;
  sim s;
  // Ant: healthy iff 0.2 <= z <= 1.0 (inclusive) and everything finite
  sim_make(&s, "Ant-v4");
  assert_true(termat(&s, 2, 0.19) && !termat(&s, 2, 0.2) && !termat(&s, 2, 0.75));
  assert_true(!termat(&s, 2, 1.0) && termat(&s, 2, 1.0001));
  mj_resetData(s.m, s.d);
  s.d->qvel[9] = INFINITY;
  assert_true(s.t->terminated(s.ids, s.m, s.d));
  s.d->qvel[9] = 0;
  s.d->qpos[12] = NAN;
  assert_true(s.t->terminated(s.ids, s.m, s.d));
  sim_free(&s);

  // Humanoid: healthy iff 1 < z < 2 (strict)
  sim_make(&s, "Humanoid-v4");
  assert_true(termat(&s, 2, 1.0) && !termat(&s, 2, 1.0001) && !termat(&s, 2, 1.4));
  assert_true(!termat(&s, 2, 1.9999) && termat(&s, 2, 2.0) && termat(&s, 2, 0.5));
  s.d->qpos[2] = NAN;   // a NaN height is unhealthy (checked without an FP trap)
  assert_true(s.t->terminated(s.ids, s.m, s.d));
  sim_free(&s);

  // InvertedDoublePendulum: tip z <= 1; q2 = 0 puts the tip at 1.2 cos(q1)
  sim_make(&s, "InvertedDoublePendulum-v4");
  double q1 = acos(1 / 1.2);
  assert_true(!termat(&s, 1, q1 - 1e-6) && termat(&s, 1, q1 + 1e-6));
  assert_true(termat(&s, 1, 3.0) && !termat(&s, 1, 0.0));
  mj_resetData(s.m, s.d);
  s.d->qpos[1] = 0.5, s.d->qpos[2] = -1.0;   // z = 0.6 (cos 0.5 + cos 0.5) = 1.053
  mj_forward(s.m, s.d);
  assert_false(s.t->terminated(s.ids, s.m, s.d));
  s.d->qpos[2] = -1.3;   // z = 0.6 (cos 0.5 + cos 0.8) = 0.9446
  mj_forward(s.m, s.d);
  assert_true(s.t->terminated(s.ids, s.m, s.d));
  sim_free(&s);
}

//---------------------------------- reset noise ----------------------------------------------------

// n resets: qpos - qpos0 within +-sq (the quaternion is unit after mj_forward), qvel within
// +-sv (uniform) or with mean 0 and std sv (normal), and the draws fill their intervals
static void checkreset(const char* name, double sq, double sv, int normal) {
  sim s;
  trpo_rng r;
  double obs[376];
  int n = 400;
  sim_make(&s, name);
  trpo_rng_seed(&r, 3, 1, TRPO_RNG_RESET);
  int nq = s.m->nq, nv = s.m->nv, hasfree = s.m->jnt_type[0] == mjJNT_FREE;
  double maxq = 0, maxv = 0, sv1 = 0, sv2 = 0;
  for (int k = 0; k < n; k++) {
    sim_reset(&s, &r, obs);
    const double* q = s.d->qpos;
    for (int i = 0; i < nq; i++) {
      double dq = q[i] - s.m->qpos0[i];
      if (hasfree && i >= 3 && i < 7) continue;
      assert_true(fabs(dq) <= sq);
      maxq = fmax(maxq, fabs(dq));
    }
    if (hasfree) {
      // unit quaternion, each component of the unnormalised one within qpos0 +- sq
      double nrm = sqrt(q[3] * q[3] + q[4] * q[4] + q[5] * q[5] + q[6] * q[6]);
      assert_true(fabs(nrm - 1) < 1e-12);
      assert_true(q[3] >= (1 - sq) / sqrt((1 - sq) * (1 - sq) + 3 * sq * sq) - 1e-12);
      for (int i = 4; i < 7; i++) assert_true(fabs(q[i]) <= sq / (1 - sq) + 1e-12);
      assert_true(obs[1] == q[3]);
    }
    for (int i = 0; i < nv; i++) {
      if (!normal) assert_true(fabs(s.d->qvel[i]) <= sv);
      maxv = fmax(maxv, fabs(s.d->qvel[i]));
      sv1 += s.d->qvel[i], sv2 += s.d->qvel[i] * s.d->qvel[i];
    }
    assert_true(s.d->time == 0);
  }
  // the spread fills the interval (uniform) or has the right moments (normal)
  double cnt = (double)n * nv, mean = sv1 / cnt, sd = sqrt(sv2 / cnt - mean * mean);
  assert_true(maxq > 0.97 * sq);
  if (normal) {
    assert_true(fabs(mean) < 5 * sv / sqrt(cnt) && fabs(sd - sv) < 0.05 * sv);
  } else {
    assert_true(maxv > 0.97 * sv && fabs(sd - sv / sqrt(3)) < 0.05 * sv);
  }
  sim_free(&s);
}

static void test_reset_noise(void** state) {
  (void)state;
  checkreset("Ant-v4", 0.1, 0.1, 1);
  checkreset("Humanoid-v4", 0.01, 0.01, 0);
  checkreset("InvertedDoublePendulum-v4", 0.1, 0.1, 1);
}

//---------------------------------- bind failures --------------------------------------------------

// load file with the first occurrence of `from` replaced by `to` (through a VFS); bind with
// task; return bind's result and message
static int bindedited(const char* task, const char* from, const char* to, char* err, size_t nerr) {
  // read the model text
  const trpo_mjtask* t = findtask(task);
  char path[1024], lerr[512] = "";
  snprintf(path, sizeof path, MODELDIR "%s", t->model);
  FILE* f = fopen(path, "rb");
  assert_non_null(f);
  static char text[1 << 16], edited[(1 << 16) + 256];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;

  // apply the edit
  char* at = strstr(text, from);
  if (!at) fail_msg("'%s' not in %s", from, path);
  size_t head = (size_t)(at - text);
  memcpy(edited, text, head);
  snprintf(edited + head, sizeof edited - head, "%s%s", to, at + strlen(from));

  // load from memory and bind
  mjVFS* vfs = trpo_alloc(sizeof(mjVFS));
  mj_defaultVFS(vfs);
  int len = (int)strlen(edited);
  assert_int_equal(mj_makeEmptyFileVFS(vfs, "edited.xml", len), 0);
  memcpy(vfs->filedata[mj_findFileVFS(vfs, "edited.xml")], edited, (size_t)len);
  mjModel* m = mj_loadXML("edited.xml", vfs, lerr, sizeof lerr);
  if (!m) fail_msg("edited %s does not load: %s", path, lerr);
  int ids[TRPO_MJ_MAXIDS];
  err[0] = 0;
  int rc = t->bind(ids, m, err, nerr);
  mj_deleteModel(m);
  mj_deleteVFS(vfs);
  trpo_alloc_free(vfs);
  return rc;
}

static void expectfail(const char* task, const char* from, const char* to, const char* msg) {
  char err[256];
  int rc = bindedited(task, from, to, err, sizeof err);
  printf("  %s, '%s' -> '%s': %s\n", task, from, to, err);
  assert_int_not_equal(rc, 0);
  if (!strstr(err, msg)) fail_msg("message '%s' does not contain '%s'", err, msg);
}

static void test_bind_fails(void** state) {
  (void)state;
  char err[256];
  // an identical copy binds
  assert_int_equal(bindedited("Ant-v4", "<mujoco", "<mujoco", err, sizeof err), 0);
  // renamed bodies, joints and sites are named in the message
  expectfail("Ant-v4", "name=\"torso\"", "name=\"body0\"", "body 'torso' not found");
  expectfail("Humanoid-v4", "body name=\"pelvis\"", "body name=\"hips\"",
             "body 'pelvis' not found");
  expectfail("Humanoid-v4", "body name=\"right_foot\"", "body name=\"rfoot\"",
             "body 'right_foot' not found");
  expectfail("InvertedDoublePendulum-v4", "name=\"hinge2\"", "name=\"elbow\"",
             "joint 'hinge2' not found");
  expectfail("InvertedDoublePendulum-v4", "site name=\"tip\"", "site name=\"end\"",
             "site 'tip' not found");
  // the contact variant's cfrc_ext block needs the table's 14 bodies
  expectfail("AntContactForces-v4", "<body name=\"torso\"",
             "<body name=\"extra\" pos=\"5 5 1\"><geom size=\"0.1\"/></body><body name=\"torso\"",
             "model has 15 bodies (world included), expected 14");
  // mistyped joints
  expectfail("InvertedDoublePendulum-v4", "name=\"slider\" type=\"slide\"",
             "name=\"slider\" type=\"hinge\"", "joint 'slider' is a hinge joint, expected slide");
  expectfail("Ant-v4", "name=\"ankle_2\" type=\"hinge\"", "name=\"ankle_2\" type=\"slide\"",
             "joint 'ankle_2' is a slide joint, expected hinge");
  // actuators out of action order
  expectfail("Ant-v4", "name=\"hip_4\" joint=\"hip_4\"", "name=\"hip_4\" joint=\"hip_1\"",
             "actuator 0 must drive joint 'hip_4'");
  expectfail("Humanoid-v4", "<motor name=\"abdomen_y\" joint=\"abdomen_y\" gear=\"100\"/>", "",
             "model has 16 actuators, expected 17");
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),           cmocka_unit_test(test_masses),
      cmocka_unit_test(test_positions),       cmocka_unit_test(test_check_ant),
      cmocka_unit_test(test_check_humanoid),  cmocka_unit_test(test_check_idp),
      cmocka_unit_test(test_idp_needs_tilt),  cmocka_unit_test(test_reward_ant),
      cmocka_unit_test(test_reward_humanoid), cmocka_unit_test(test_reward_idp),
      cmocka_unit_test(test_terminated),      cmocka_unit_test(test_reset_noise),
      cmocka_unit_test(test_bind_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
