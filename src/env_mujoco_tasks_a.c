// env_mujoco_tasks_a.c: MuJoCo task entries Hopper-v4, Walker2d-v4, HalfCheetah-v4, Swimmer-v4,
// InvertedPendulum-v4 and Reacher-v4 (TASKS.md sections 2.1-2.4, 2.7, 2.9).
//
// Each task is data plus small functions that read mjData; the driver (src/env_mujoco.c) does the
// stepping. bind() resolves every joint by name and checks its type, so qpos and qvel are read
// through jnt_qposadr and jnt_dofadr and a user's own MJCF with the same names works. ids[] holds
// the qpos addresses of the task's joints (ids[0..n)), then their dof addresses (ids[n..2n)),
// then any body ids. No simulation happens here and nothing allocates.

#include <math.h>
#include <stdio.h>

#include "env_mujoco.h"

#define MAXJ 12   // joints of one task

// the joints a task reads, in the order of its tables, and the joint each actuator drives
typedef struct jointset_ {
  int n;
  const char* name[MAXJ];
  int type[MAXJ];     // mjtJoint
  int nmotor;
  int motor[MAXJ];    // actuator k drives joint name[motor[k]]
} jointset;

//---------------------------------- shared helpers ------------------------------------------------

static const char* jointtype(int type) {
  static const char* const names[] = {"free", "ball", "slide", "hinge"};
  return type >= 0 && type < 4 ? names[type] : "unknown";
}

// resolve the joints of js into ids (qpos addresses, then dof addresses); check joint types and
// the joint each actuator drives; 0, or 1 with a message naming the element
static int bindjoints(int* ids, const mjModel* m, const jointset* js, char* err, size_t nerr) {
  int jid[MAXJ];
  // every joint by name, of the expected type
  for (int k = 0; k < js->n; k++) {
    int j = mj_name2id(m, mjOBJ_JOINT, js->name[k]);
    if (j < 0) {
      snprintf(err, nerr, "no joint named '%s'", js->name[k]);
      return 1;
    }
    if (m->jnt_type[j] != js->type[k]) {
      snprintf(err, nerr, "joint '%s' is a %s joint, expected a %s joint", js->name[k],
               jointtype(m->jnt_type[j]), jointtype(js->type[k]));
      return 1;
    }
    jid[k] = j;
    ids[k] = m->jnt_qposadr[j];
    ids[js->n + k] = m->jnt_dofadr[j];
  }
  // actuator k drives the joint the action order says
  for (int a = 0; a < js->nmotor && a < m->nu; a++) {
    int j = jid[js->motor[a]];
    if (m->actuator_trntype[a] != mjTRN_JOINT || m->actuator_trnid[2 * a] != j) {
      const char* name = mj_id2name(m, mjOBJ_ACTUATOR, a);
      snprintf(err, nerr, "actuator %d ('%s') must act on joint '%s'", a, name ? name : "",
               js->name[js->motor[a]]);
      return 1;
    }
  }
  return 0;
}

static int bindbody(int* id, const mjModel* m, const char* name, char* err, size_t nerr) {
  *id = mj_name2id(m, mjOBJ_BODY, name);
  if (*id < 0) {
    snprintf(err, nerr, "no body named '%s'", name);
    return 1;
  }
  return 0;
}

// qpos[j] += U(lo, hi) for every joint of the set, then qvel[j] += U(vlo, vhi)
static void uniformnoise(const int* ids, int n, mjData* d, trpo_rng* rng, double lo, double hi,
                         double vlo, double vhi) {
  for (int k = 0; k < n; k++) d->qpos[ids[k]] += trpo_rng_range(rng, lo, hi);
  for (int k = 0; k < n; k++) d->qvel[ids[n + k]] += trpo_rng_range(rng, vlo, vhi);
}

// numpy's clip: NaN passes through, so the driver sees it as a fault
static double clip(double x, double lo, double hi) { return isnan(x) ? x : fmin(fmax(x, lo), hi); }

// the observation of the planar walkers: qpos of joints [skip, n), then qvel of all n joints,
// clipped to +-vclip when vclip > 0
static void observeplanar(const int* ids, int n, int skip, double vclip, const mjData* d,
                          double* obs) {
  int o = 0;
  for (int k = skip; k < n; k++) obs[o++] = d->qpos[ids[k]];
  for (int k = 0; k < n; k++) {
    double v = d->qvel[ids[n + k]];
    obs[o++] = vclip > 0 ? clip(v, -vclip, vclip) : v;
  }
}

// the sum of squared action components
static double sumsq(const double* a, int n) {
  double s = 0;
  for (int k = 0; k < n; k++) s += a[k] * a[k];
  return s;
}

// the x position before the step: qpos of the task's first joint (rootx or slider1)
static void prex(const int* ids, const mjModel* m, const mjData* d, double* pre) {
  (void)m;
  pre[0] = d->qpos[ids[0]];
}

//---------------------------------- Hopper-v4 (TASKS.md 2.1) --------------------------------------

static const jointset hopperjoints = {
    .n = 6,
    .name = {"rootx", "rootz", "rooty", "thigh_joint", "leg_joint", "foot_joint"},
    .type = {mjJNT_SLIDE, mjJNT_SLIDE, mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE},
    .nmotor = 3,
    .motor = {3, 4, 5},
};

static int hopperbind(int* ids, const mjModel* m, char* err, size_t nerr) {
  return bindjoints(ids, m, &hopperjoints, err, nerr);
}

static void hopperreset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  (void)m;
  uniformnoise(ids, 6, d, rng, -0.005, 0.005, -0.005, 0.005);
}

// (x_after - x_before)/dt + healthy reward 1 (paid on every step in v4) - 0.001 sum a^2
static double forwardhealthy(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                           const double* act, double dt) {
  double forward = (d->qpos[ids[0]] - pre[0]) / dt;
  return (forward + 1.0) - 0.001 * sumsq(act, m->nu);
}

// unhealthy unless (qpos[2:6], qvel[0:6]) in (-100, 100), z > 0.7 and |angle| < 0.2, strictly
static int hopperterminated(const int* ids, const mjModel* m, const mjData* d) {
  (void)m;
  for (int k = 2; k < 6; k++)
    if (!(fabs(d->qpos[ids[k]]) < 100)) return 1;
  for (int k = 0; k < 6; k++)
    if (!(fabs(d->qvel[ids[6 + k]]) < 100)) return 1;
  double z = d->qpos[ids[1]], angle = d->qpos[ids[2]];
  return !(z > 0.7 && angle > -0.2 && angle < 0.2);
}

// qpos[1:6], then clip(qvel[0:6], -10, 10)
static void hopperobserve(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  (void)m;
  observeplanar(ids, 6, 1, 10.0, d, obs);
}

static const trpo_mjtask hopper = {
    .name = "Hopper-v4", .model = "hopper.xml", .nobs = 11, .nact = 3, .max_steps = 1000,
    .frame_skip = 4, .act_lo = -1, .act_hi = 1, .npre = 1, .needs_rne = 0,
    .bind = hopperbind, .reset = hopperreset, .pre = prex, .reward = forwardhealthy,
    .terminated = hopperterminated, .observe = hopperobserve,
};

//---------------------------------- Walker2d-v4 (TASKS.md 2.2) ------------------------------------

static const jointset walkerjoints = {
    .n = 9,
    .name = {"rootx", "rootz", "rooty", "thigh_joint", "leg_joint", "foot_joint",
             "thigh_left_joint", "leg_left_joint", "foot_left_joint"},
    .type = {mjJNT_SLIDE, mjJNT_SLIDE, mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE,
             mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE},
    .nmotor = 6,
    .motor = {3, 4, 5, 6, 7, 8},
};

static int walkerbind(int* ids, const mjModel* m, char* err, size_t nerr) {
  return bindjoints(ids, m, &walkerjoints, err, nerr);
}

static void walkerreset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  (void)m;
  uniformnoise(ids, 9, d, rng, -0.005, 0.005, -0.005, 0.005);
}

// unhealthy unless 0.8 < z < 2.0 and -1 < angle < 1, strictly; no state-range check
static int walkerterminated(const int* ids, const mjModel* m, const mjData* d) {
  (void)m;
  double z = d->qpos[ids[1]], angle = d->qpos[ids[2]];
  return !(z > 0.8 && z < 2.0 && angle > -1.0 && angle < 1.0);
}

// qpos[1:9], then clip(qvel[0:9], -10, 10)
static void walkerobserve(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  (void)m;
  observeplanar(ids, 9, 1, 10.0, d, obs);
}

static const trpo_mjtask walker2d = {
    .name = "Walker2d-v4", .model = "walker2d.xml", .nobs = 17, .nact = 6, .max_steps = 1000,
    .frame_skip = 4, .act_lo = -1, .act_hi = 1, .npre = 1, .needs_rne = 0,
    .bind = walkerbind, .reset = walkerreset, .pre = prex, .reward = forwardhealthy,
    .terminated = walkerterminated, .observe = walkerobserve,
};

//---------------------------------- HalfCheetah-v4 (TASKS.md 2.3) ---------------------------------

static const jointset cheetahjoints = {
    .n = 9,
    .name = {"rootx", "rootz", "rooty", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"},
    .type = {mjJNT_SLIDE, mjJNT_SLIDE, mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE,
             mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE},
    .nmotor = 6,
    .motor = {3, 4, 5, 6, 7, 8},
};

static int cheetahbind(int* ids, const mjModel* m, char* err, size_t nerr) {
  return bindjoints(ids, m, &cheetahjoints, err, nerr);
}

// qpos = qpos0 + U(-0.1, 0.1)^9, qvel = 0.1 N(0, 1)^9
static void cheetahreset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  (void)m;
  for (int k = 0; k < 9; k++) d->qpos[ids[k]] += trpo_rng_range(rng, -0.1, 0.1);
  for (int k = 0; k < 9; k++) d->qvel[ids[9 + k]] += 0.1 * trpo_rng_normal(rng);
}

// (x_after - x_before)/dt - 0.1 sum a^2
static double cheetahreward(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                            const double* act, double dt) {
  double forward = (d->qpos[ids[0]] - pre[0]) / dt;
  return forward - 0.1 * sumsq(act, m->nu);
}

static int never(const int* ids, const mjModel* m, const mjData* d) {
  (void)ids, (void)m, (void)d;
  return 0;
}

// qpos[1:9], then qvel[0:9], no clipping
static void cheetahobserve(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  (void)m;
  observeplanar(ids, 9, 1, 0.0, d, obs);
}

static const trpo_mjtask halfcheetah = {
    .name = "HalfCheetah-v4", .model = "half_cheetah.xml", .nobs = 17, .nact = 6,
    .max_steps = 1000, .frame_skip = 5, .act_lo = -1, .act_hi = 1, .npre = 1, .needs_rne = 0,
    .bind = cheetahbind, .reset = cheetahreset, .pre = prex, .reward = cheetahreward,
    .terminated = never, .observe = cheetahobserve,
};

//---------------------------------- Swimmer-v4 (TASKS.md 2.4) -------------------------------------

static const jointset swimmerjoints = {
    .n = 5,
    .name = {"slider1", "slider2", "free_body_rot", "motor1_rot", "motor2_rot"},
    .type = {mjJNT_SLIDE, mjJNT_SLIDE, mjJNT_HINGE, mjJNT_HINGE, mjJNT_HINGE},
    .nmotor = 2,
    .motor = {3, 4},
};

static int swimmerbind(int* ids, const mjModel* m, char* err, size_t nerr) {
  return bindjoints(ids, m, &swimmerjoints, err, nerr);
}

static void swimmerreset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  (void)m;
  uniformnoise(ids, 5, d, rng, -0.1, 0.1, -0.1, 0.1);
}

// (x_after - x_before)/dt - 0.0001 sum a^2
static double swimmerreward(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                            const double* act, double dt) {
  double forward = (d->qpos[ids[0]] - pre[0]) / dt;
  return forward - 0.0001 * sumsq(act, m->nu);
}

// qpos[2:5], then qvel[0:5]
static void swimmerobserve(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  (void)m;
  observeplanar(ids, 5, 2, 0.0, d, obs);
}

static const trpo_mjtask swimmer = {
    .name = "Swimmer-v4", .model = "swimmer.xml", .nobs = 8, .nact = 2, .max_steps = 1000,
    .frame_skip = 4, .act_lo = -1, .act_hi = 1, .npre = 1, .needs_rne = 0,
    .bind = swimmerbind, .reset = swimmerreset, .pre = prex, .reward = swimmerreward,
    .terminated = never, .observe = swimmerobserve,
};

//---------------------------------- InvertedPendulum-v4 (TASKS.md 2.7) ----------------------------

static const jointset pendulumjoints = {
    .n = 2,
    .name = {"slider", "hinge"},
    .type = {mjJNT_SLIDE, mjJNT_HINGE},
    .nmotor = 1,
    .motor = {0},
};

static int pendulumbind(int* ids, const mjModel* m, char* err, size_t nerr) {
  return bindjoints(ids, m, &pendulumjoints, err, nerr);
}

static void pendulumreset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  (void)m;
  uniformnoise(ids, 2, d, rng, -0.01, 0.01, -0.01, 0.01);
}

// +1 on every step, the terminating one included
static double pendulumreward(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                             const double* act, double dt) {
  (void)ids, (void)m, (void)d, (void)pre, (void)act, (void)dt;
  return 1.0;
}

// an observation entry is non-finite, or |pole angle| > 0.2
static int pendulumterminated(const int* ids, const mjModel* m, const mjData* d) {
  (void)m;
  for (int k = 0; k < 2; k++)
    if (!isfinite(d->qpos[ids[k]]) || !isfinite(d->qvel[ids[2 + k]])) return 1;
  return fabs(d->qpos[ids[1]]) > 0.2;
}

// qpos[0:2], then qvel[0:2]
static void pendulumobserve(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  (void)m;
  observeplanar(ids, 2, 0, 0.0, d, obs);
}

static const trpo_mjtask invertedpendulum = {
    .name = "InvertedPendulum-v4", .model = "inverted_pendulum.xml", .nobs = 4, .nact = 1,
    .max_steps = 1000, .frame_skip = 2, .act_lo = -3, .act_hi = 3, .npre = 0, .needs_rne = 0,
    .bind = pendulumbind, .reset = pendulumreset, .pre = NULL, .reward = pendulumreward,
    .terminated = pendulumterminated, .observe = pendulumobserve,
};

//---------------------------------- Reacher-v4 (TASKS.md 2.9) -------------------------------------

// ids: qpos addresses [0, 4), dof addresses [4, 8), body fingertip 8, body target 9
static const jointset reacherjoints = {
    .n = 4,
    .name = {"joint0", "joint1", "target_x", "target_y"},
    .type = {mjJNT_HINGE, mjJNT_HINGE, mjJNT_SLIDE, mjJNT_SLIDE},
    .nmotor = 2,
    .motor = {0, 1},
};

static int reacherbind(int* ids, const mjModel* m, char* err, size_t nerr) {
  return bindjoints(ids, m, &reacherjoints, err, nerr) ||
         bindbody(&ids[8], m, "fingertip", err, nerr) || bindbody(&ids[9], m, "target", err, nerr);
}

// qpos = qpos0 + U(-0.1, 0.1)^4; a goal drawn uniformly in the disc of radius 0.2 (rejection)
// replaces the target's qpos; qvel = U(-0.005, 0.005)^4 with the target's velocity zeroed
static void reacherreset(const int* ids, const mjModel* m, mjData* d, trpo_rng* rng) {
  (void)m;
  for (int k = 0; k < 4; k++) d->qpos[ids[k]] += trpo_rng_range(rng, -0.1, 0.1);
  double gx, gy;
  do {
    gx = trpo_rng_range(rng, -0.2, 0.2);
    gy = trpo_rng_range(rng, -0.2, 0.2);
  } while (!(sqrt(gx * gx + gy * gy) < 0.2));
  d->qpos[ids[2]] = gx;
  d->qpos[ids[3]] = gy;
  for (int k = 0; k < 4; k++) d->qvel[ids[4 + k]] += trpo_rng_range(rng, -0.005, 0.005);
  d->qvel[ids[6]] = 0;
  d->qvel[ids[7]] = 0;
}

// ||xpos[fingertip] - xpos[target]|| as it stands, before the step
static void reacherpre(const int* ids, const mjModel* m, const mjData* d, double* pre) {
  (void)m;
  const double *f = d->xpos + 3 * ids[8], *g = d->xpos + 3 * ids[9];
  double dx = f[0] - g[0], dy = f[1] - g[1], dz = f[2] - g[2];
  pre[0] = sqrt(dx * dx + dy * dy + dz * dz);
}

// -distance before the step - sum a^2
static double reacherreward(const int* ids, const mjModel* m, const mjData* d, const double* pre,
                            const double* act, double dt) {
  (void)ids, (void)d, (void)dt;
  return -pre[0] + -sumsq(act, m->nu);
}

// cos(qpos[0:2]), sin(qpos[0:2]), target (x, y), qvel[0:2], xpos[fingertip] - xpos[target]
static void reacherobserve(const int* ids, const mjModel* m, const mjData* d, double* obs) {
  (void)m;
  const double *f = d->xpos + 3 * ids[8], *g = d->xpos + 3 * ids[9];
  obs[0] = cos(d->qpos[ids[0]]);
  obs[1] = cos(d->qpos[ids[1]]);
  obs[2] = sin(d->qpos[ids[0]]);
  obs[3] = sin(d->qpos[ids[1]]);
  obs[4] = d->qpos[ids[2]];
  obs[5] = d->qpos[ids[3]];
  obs[6] = d->qvel[ids[4]];
  obs[7] = d->qvel[ids[5]];
  for (int k = 0; k < 3; k++) obs[8 + k] = f[k] - g[k];
}

static const trpo_mjtask reacher = {
    .name = "Reacher-v4", .model = "reacher.xml", .nobs = 11, .nact = 2, .max_steps = 50,
    .frame_skip = 2, .act_lo = -1, .act_hi = 1, .npre = 1, .needs_rne = 0,
    .bind = reacherbind, .reset = reacherreset, .pre = reacherpre, .reward = reacherreward,
    .terminated = never, .observe = reacherobserve,
};

const trpo_mjtask* const trpo_mjtasks_a[] = {
    &hopper, &walker2d, &halfcheetah, &swimmer, &invertedpendulum, &reacher, NULL,
};
