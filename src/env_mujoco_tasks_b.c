// env_mujoco_tasks_b.c: MuJoCo task entries Ant-v4, Humanoid-v4, InvertedDoublePendulum-v4.
//
// Each entry is data plus small functions that read mjData, following TASKS.md 2.5, 2.6 and 2.8
// (Gymnasium v4 semantics). bind() resolves every body, joint and site by name and records ids,
// so state is read through jnt_qposadr/jnt_dofadr and a user's MJCF with the same names works.
// Derived quantities (xpos, xipos, site_xpos, cinert, cvel, qfrc_*, cfrc_ext) are read as left by
// the last substep (TASKS.md 1.2); nothing here calls mj_forward. This file is not the driver:
// stepping, frame skip, time limits and fault detection live in src/env_mujoco.c.
//
// AntContactForces-v4 is Ant-v4 with Gymnasium's use_contact_forces=True (111 observations and
// the 5e-4 contact cost), the v2/v3 layout of published results.

#include <math.h>
#include <stdio.h>

#include "env_mujoco.h"

//---------------------------------- shared helpers -------------------------------------------------

static const char* const jntname[] = {"free", "ball", "slide", "hinge"};

// id of the named body/site, or -1 with a message naming it
static int findobj(const mjModel* m, int type, const char* what, const char* name, char* err,
                   size_t nerr) {
  int id = mj_name2id(m, type, name);
  if (id < 0) snprintf(err, nerr, "%s '%s' not found", what, name);
  return id;
}

// id of the named joint of the given type, or -1 with a message naming it
static int findjnt(const mjModel* m, const char* name, int type, char* err, size_t nerr) {
  // look the joint up
  int id = findobj(m, mjOBJ_JOINT, "joint", name, err, nerr);
  if (id < 0) return -1;

  // check its type
  if (m->jnt_type[id] != type) {
    snprintf(err, nerr, "joint '%s' is a %s joint, expected %s", name, jntname[m->jnt_type[id]],
             jntname[type]);
    return -1;
  }
  return id;
}

// nonzero with a message unless actuator i is a joint transmission on joint jnt[i], i < n = nu
static int checkact(const mjModel* m, const int* jnt, int n, char* err, size_t nerr) {
  // the action size is the actuator count
  if (m->nu != n) {
    snprintf(err, nerr, "model has %d actuators, expected %d", m->nu, n);
    return 1;
  }

  // actuator i drives the i-th joint of the action order
  for (int i = 0; i < n; i++) {
    if (m->actuator_trntype[i] != mjTRN_JOINT || m->actuator_trnid[2 * i] != jnt[i]) {
      snprintf(err, nerr, "actuator %d must drive joint '%s' (actuators follow the action order)",
               i, mj_id2name(m, mjOBJ_JOINT, jnt[i]));
      return 1;
    }
  }
  return 0;
}

// the free joint 'root' on the named body: 0, or nonzero with a message
static int bindroot(const mjModel* m, int body, const char* bodyname, int* root, char* err,
                    size_t nerr) {
  *root = findjnt(m, "root", mjJNT_FREE, err, nerr);
  if (*root < 0) return 1;
  if (m->jnt_bodyid[*root] != body) {
    snprintf(err, nerr, "joint 'root' must be the free joint of body '%s'", bodyname);
    return 1;
  }
  return 0;
}

// add U(-s, s) to every qpos and s_v * N(0,1) or U(-s_v, s_v) to every qvel
static void addnoise(const mjModel* m, mjData* d, trpo_rng* rng, double s, double sv,
                     int normalvel) {
  for (int i = 0; i < m->nq; i++) d->qpos[i] += trpo_rng_range(rng, -s, s);
  for (int i = 0; i < m->nv; i++)
    d->qvel[i] += normalvel ? sv * trpo_rng_normal(rng) : trpo_rng_range(rng, -sv, sv);
}

static double sumsq(const double* a, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += a[i] * a[i];
  return s;
}

static double clip(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

//---------------------------------- Ant-v4 (TASKS.md 2.5) ------------------------------------------

// ids[]: torso body, root joint, then the 8 hinges in qpos order
enum { ANT_TORSO, ANT_ROOT, ANT_HINGE, ANT_NIDS = ANT_HINGE + 8 };
#define ANT_NBODY 14   // contact variant: cfrc_ext rows (world included)

static const char* const ant_hinges[8] = {"hip_1", "ankle_1", "hip_2", "ankle_2",
                                          "hip_3", "ankle_3", "hip_4", "ankle_4"};
static const int ant_actorder[8] = {6, 7, 0, 1, 2, 3, 4, 5};   // hip_4, ankle_4, hip_1, ...

static int ant_bind(int* ids, const mjModel* m, char* err, size_t nerr) {
  // torso and its free joint
  ids[ANT_TORSO] = findobj(m, mjOBJ_BODY, "body", "torso", err, nerr);
  if (ids[ANT_TORSO] < 0) return 1;
  if (bindroot(m, ids[ANT_TORSO], "torso", &ids[ANT_ROOT], err, nerr)) return 1;

  // the 8 hinges
  for (int k = 0; k < 8; k++)
    if ((ids[ANT_HINGE + k] = findjnt(m, ant_hinges[k], mjJNT_HINGE, err, nerr)) < 0) return 1;

  // actuators in action order
  int act[8];
  for (int i = 0; i < 8; i++) act[i] = ids[ANT_HINGE + ant_actorder[i]];
  return checkact(m, act, 8, err, nerr);
}

static int antcontact_bind(int* ids, const mjModel* m, char* err, size_t nerr) {
  // as Ant, plus the body count that fixes the cfrc_ext block
  if (ant_bind(ids, m, err, nerr)) return 1;
  if (m->nbody != ANT_NBODY) {
    snprintf(err, nerr, "model has %d bodies (world included), expected %d", m->nbody, ANT_NBODY);
    return 1;
  }
  return 0;
}

static void ant_reset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  // qpos0 + U(-0.1, 0.1) (quaternion included), qvel = 0.1 N(0,1)
  (void)ids;
  addnoise(m, d, rng, 0.1, 0.1, 1);
}

static void ant_pre(const int* ids, const mjModel* m, const mjData* d, double* pre) {
  // torso body-frame origin x before the step
  (void)m;
  pre[0] = d->xpos[3 * ids[ANT_TORSO]];
}

static double ant_reward(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                         const double* act, double dt) {
  // forward velocity of the torso origin + healthy 1 - 0.5 sum a^2
  (void)m;
  double vx = (d->xpos[3 * ids[ANT_TORSO]] - pre[0]) / dt;
  return vx + 1.0 - 0.5 * sumsq(act, 8);
}

// clip(cfrc_ext, -1, 1), all ANT_NBODY x 6 entries
static void ant_contacts(const mjData* d, double* out) {
  for (int i = 0; i < 6 * ANT_NBODY; i++) out[i] = clip(d->cfrc_ext[i], -1, 1);
}

static double antcontact_reward(const int* ids, const mjModel* m, const mjData* d,
                                const double* pre, const double* act, double dt) {
  // Ant-v4's reward minus 5e-4 sum clip(cfrc_ext, -1, 1)^2
  double c[6 * ANT_NBODY];
  ant_contacts(d, c);
  return ant_reward(ids, m, d, pre, act, dt) - 5e-4 * sumsq(c, 6 * ANT_NBODY);
}

static int ant_terminated(const int* ids, const mjModel* m, const mjData* d) {
  // every qpos and qvel entry finite
  for (int i = 0; i < m->nq; i++)
    if (!isfinite(d->qpos[i])) return 1;
  for (int i = 0; i < m->nv; i++)
    if (!isfinite(d->qvel[i])) return 1;

  // torso z within [0.2, 1.0]
  double z = d->qpos[m->jnt_qposadr[ids[ANT_ROOT]] + 2];
  return !(z >= 0.2 && z <= 1.0);
}

static void ant_observe(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  // torso z and quaternion
  int qa = m->jnt_qposadr[ids[ANT_ROOT]], da = m->jnt_dofadr[ids[ANT_ROOT]];
  for (int i = 0; i < 5; i++) obs[i] = d->qpos[qa + 2 + i];

  // hinge angles in qpos order
  for (int k = 0; k < 8; k++) obs[5 + k] = d->qpos[m->jnt_qposadr[ids[ANT_HINGE + k]]];

  // root velocity (linear world, angular local), then hinge velocities
  for (int i = 0; i < 6; i++) obs[13 + i] = d->qvel[da + i];
  for (int k = 0; k < 8; k++) obs[19 + k] = d->qvel[m->jnt_dofadr[ids[ANT_HINGE + k]]];
}

static void antcontact_observe(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  // Ant's 27, then clipped cfrc_ext of all bodies (world first)
  ant_observe(ids, m, d, obs);
  ant_contacts(d, obs + 27);
}

static const trpo_mjtask ant = {
    .name = "Ant-v4", .model = "ant.xml", .nobs = 27, .nact = 8, .max_steps = 1000,
    .frame_skip = 5, .act_lo = -1, .act_hi = 1, .npre = 1, .needs_rne = 0,
    .bind = ant_bind, .reset = ant_reset, .pre = ant_pre, .reward = ant_reward,
    .terminated = ant_terminated, .observe = ant_observe};

static const trpo_mjtask antcontact = {
    .name = "AntContactForces-v4", .model = "ant.xml", .nobs = 27 + 6 * ANT_NBODY, .nact = 8,
    .max_steps = 1000, .frame_skip = 5, .act_lo = -1, .act_hi = 1, .npre = 1, .needs_rne = 1,
    .bind = antcontact_bind, .reset = ant_reset, .pre = ant_pre, .reward = antcontact_reward,
    .terminated = ant_terminated, .observe = antcontact_observe};

//---------------------------------- Humanoid-v4 (TASKS.md 2.6) -------------------------------------

// ids[]: 14 bodies in table order (world first), root joint, then the 17 hinges in qpos order
#define HUM_NB 14
#define HUM_NH 17
enum { HUM_BODY, HUM_ROOT = HUM_BODY + HUM_NB, HUM_HINGE, HUM_NIDS = HUM_HINGE + HUM_NH };

static const char* const hum_bodies[HUM_NB] = {
    "world", "torso", "lwaist", "pelvis", "right_thigh", "right_shin", "right_foot",
    "left_thigh", "left_shin", "left_foot", "right_upper_arm", "right_lower_arm",
    "left_upper_arm", "left_lower_arm"};
static const char* const hum_hinges[HUM_NH] = {
    "abdomen_z", "abdomen_y", "abdomen_x", "right_hip_x", "right_hip_z", "right_hip_y",
    "right_knee", "left_hip_x", "left_hip_z", "left_hip_y", "left_knee", "right_shoulder1",
    "right_shoulder2", "right_elbow", "left_shoulder1", "left_shoulder2", "left_elbow"};
// action order: abdomen_y, abdomen_z, then qpos order
static const int hum_actorder[HUM_NH] = {1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static int hum_bind(int* ids, const mjModel* m, char* err, size_t nerr) {
  // bodies, in table order, which fixes the rows of cinert, cvel and cfrc_ext
  for (int b = 0; b < HUM_NB; b++)
    if ((ids[HUM_BODY + b] = findobj(m, mjOBJ_BODY, "body", hum_bodies[b], err, nerr)) < 0)
      return 1;

  // torso's free joint and the 17 hinges
  if (bindroot(m, ids[HUM_BODY + 1], "torso", &ids[HUM_ROOT], err, nerr)) return 1;
  for (int k = 0; k < HUM_NH; k++)
    if ((ids[HUM_HINGE + k] = findjnt(m, hum_hinges[k], mjJNT_HINGE, err, nerr)) < 0) return 1;

  // actuators in action order
  int act[HUM_NH];
  for (int i = 0; i < HUM_NH; i++) act[i] = ids[HUM_HINGE + hum_actorder[i]];
  return checkact(m, act, HUM_NH, err, nerr);
}

static void hum_reset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  // qpos0 + U(-0.01, 0.01), qvel = U(-0.01, 0.01)
  (void)ids;
  addnoise(m, d, rng, 0.01, 0.01, 0);
}

// x of the whole-body center of mass: sum_b mass_b xipos_b / sum_b mass_b over all bodies
static double hum_comx(const mjModel* m, const mjData* d) {
  double mx = 0, ms = 0;
  for (int b = 0; b < m->nbody; b++) {
    mx += m->body_mass[b] * d->xipos[3 * b];
    ms += m->body_mass[b];
  }
  return mx / ms;
}

static void hum_pre(const int* ids, const mjModel* m, const mjData* d, double* pre) {
  // center-of-mass x before the step
  (void)ids;
  pre[0] = hum_comx(m, d);
}

static double hum_reward(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                         const double* act, double dt) {
  // 1.25 center-of-mass x velocity + healthy 5 - 0.1 sum ctrl^2 (ctrl = the written action)
  (void)ids;
  double vx = (hum_comx(m, d) - pre[0]) / dt;
  return 1.25 * vx + 5.0 - 0.1 * sumsq(act, HUM_NH);
}

static int hum_terminated(const int* ids, const mjModel* m, const mjData* d) {
  // healthy iff 1 < torso z < 2 (strict; a NaN is unhealthy)
  double z = d->qpos[m->jnt_qposadr[ids[HUM_ROOT]] + 2];
  return !(isfinite(z) && z > 1.0 && z < 2.0);
}

static void hum_observe(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  // qpos[2:24]: torso z, quaternion, hinge angles
  int qa = m->jnt_qposadr[ids[HUM_ROOT]], da = m->jnt_dofadr[ids[HUM_ROOT]];
  double* o = obs;
  for (int i = 0; i < 5; i++) *o++ = d->qpos[qa + 2 + i];
  for (int k = 0; k < HUM_NH; k++) *o++ = d->qpos[m->jnt_qposadr[ids[HUM_HINGE + k]]];

  // qvel[0:23]
  for (int i = 0; i < 6; i++) *o++ = d->qvel[da + i];
  for (int k = 0; k < HUM_NH; k++) *o++ = d->qvel[m->jnt_dofadr[ids[HUM_HINGE + k]]];

  // cinert (14 x 10) and cvel (14 x 6), world row first
  for (int b = 0; b < HUM_NB; b++)
    for (int j = 0; j < 10; j++) *o++ = d->cinert[10 * ids[HUM_BODY + b] + j];
  for (int b = 0; b < HUM_NB; b++)
    for (int j = 0; j < 6; j++) *o++ = d->cvel[6 * ids[HUM_BODY + b] + j];

  // qfrc_actuator (23): root dofs, then hinge dofs
  for (int i = 0; i < 6; i++) *o++ = d->qfrc_actuator[da + i];
  for (int k = 0; k < HUM_NH; k++) *o++ = d->qfrc_actuator[m->jnt_dofadr[ids[HUM_HINGE + k]]];

  // cfrc_ext (14 x 6), needs mj_rnePostConstraint
  for (int b = 0; b < HUM_NB; b++)
    for (int j = 0; j < 6; j++) *o++ = d->cfrc_ext[6 * ids[HUM_BODY + b] + j];
}

static const trpo_mjtask humanoid = {
    .name = "Humanoid-v4", .model = "humanoid.xml", .nobs = 376, .nact = HUM_NH,
    .max_steps = 1000, .frame_skip = 5, .act_lo = -0.4, .act_hi = 0.4, .npre = 1,
    .needs_rne = 1, .bind = hum_bind, .reset = hum_reset, .pre = hum_pre,
    .reward = hum_reward, .terminated = hum_terminated, .observe = hum_observe};

//---------------------------------- InvertedDoublePendulum-v4 (TASKS.md 2.8) -----------------------

// ids[]: slider, hinge, hinge2 joints, tip site
enum { IDP_SLIDER, IDP_HINGE, IDP_HINGE2, IDP_TIP, IDP_NIDS };

static int idp_bind(int* ids, const mjModel* m, char* err, size_t nerr) {
  // the three joints and the tip site
  if ((ids[IDP_SLIDER] = findjnt(m, "slider", mjJNT_SLIDE, err, nerr)) < 0) return 1;
  if ((ids[IDP_HINGE] = findjnt(m, "hinge", mjJNT_HINGE, err, nerr)) < 0) return 1;
  if ((ids[IDP_HINGE2] = findjnt(m, "hinge2", mjJNT_HINGE, err, nerr)) < 0) return 1;
  if ((ids[IDP_TIP] = findobj(m, mjOBJ_SITE, "site", "tip", err, nerr)) < 0) return 1;

  // one motor on the slider
  return checkact(m, &ids[IDP_SLIDER], 1, err, nerr);
}

static void idp_reset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  // qpos0 + U(-0.1, 0.1), qvel = 0.1 N(0,1)
  (void)ids;
  addnoise(m, d, rng, 0.1, 0.1, 1);
}

static double idp_reward(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                         const double* act, double dt) {
  // 10 - (0.01 x^2 + (z - 2)^2) - (0.001 v1^2 + 0.005 v2^2), (x, z) the tip after the step
  (void)pre, (void)act, (void)dt;
  const double* tip = d->site_xpos + 3 * ids[IDP_TIP];
  double v1 = d->qvel[m->jnt_dofadr[ids[IDP_HINGE]]];
  double v2 = d->qvel[m->jnt_dofadr[ids[IDP_HINGE2]]];
  double dist = 0.01 * tip[0] * tip[0] + (tip[2] - 2) * (tip[2] - 2);
  double vel = 1e-3 * v1 * v1 + 5e-3 * v2 * v2;
  return 10.0 - dist - vel;
}

static int idp_terminated(const int* ids, const mjModel* m, const mjData* d) {
  // the tip at or below z = 1 (a NaN counts as fallen)
  (void)m;
  double z = d->site_xpos[3 * ids[IDP_TIP] + 2];
  return !(z > 1.0);
}

static void idp_observe(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  // cart x, sin and cos of the two hinge angles
  double q1 = d->qpos[m->jnt_qposadr[ids[IDP_HINGE]]];
  double q2 = d->qpos[m->jnt_qposadr[ids[IDP_HINGE2]]];
  obs[0] = d->qpos[m->jnt_qposadr[ids[IDP_SLIDER]]];
  obs[1] = sin(q1), obs[2] = sin(q2);
  obs[3] = cos(q1), obs[4] = cos(q2);

  // clipped velocities and constraint forces of the three dofs
  for (int k = 0; k < 3; k++) {
    int da = m->jnt_dofadr[ids[IDP_SLIDER + k]];
    obs[5 + k] = clip(d->qvel[da], -10, 10);
    obs[8 + k] = clip(d->qfrc_constraint[da], -10, 10);
  }
}

static const trpo_mjtask idp = {
    .name = "InvertedDoublePendulum-v4", .model = "inverted_double_pendulum.xml", .nobs = 11,
    .nact = 1, .max_steps = 1000, .frame_skip = 5, .act_lo = -1, .act_hi = 1, .npre = 0,
    .needs_rne = 0, .bind = idp_bind, .reset = idp_reset, .pre = NULL, .reward = idp_reward,
    .terminated = idp_terminated, .observe = idp_observe};

//---------------------------------- the list -------------------------------------------------------

_Static_assert(ANT_NIDS <= TRPO_MJ_MAXIDS && HUM_NIDS <= TRPO_MJ_MAXIDS &&
               IDP_NIDS <= TRPO_MJ_MAXIDS, "ids[] too small");

const trpo_mjtask* const trpo_mjtasks_b[] = {&ant, &humanoid, &idp, &antcontact, NULL};
