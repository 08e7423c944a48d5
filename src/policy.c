// policy.c: the policy heads (diagonal Gaussian, categorical) and their analytic derivatives.
//
// theta = [net | logstd]: the net maps observations to the mean (Gaussian, with a state-independent
// log-std, nact more parameters) or to the logits (categorical). A dist row holds what the ratio
// and the KL need: [mean | logstd] or [logits]. Everything here is closed form: log-likelihood,
// entropy, KL(old||new), their gradients through one backward pass, and the Fisher-vector product
// F v = sum_rows J^T M J v (one jvp and one backward pass, M the Fisher of the output
// distribution), which never forms F and never differences anything (Schulman et al. 2015, app. C).
//
// Conventions: every gradient function adds to grad (grad += ...); w->dh is scratch for all of
// them; the fvp reads the activations the last forward left in w (trpo_policy_dist at theta_old
// over the same rows), so a surrogate evaluated at another theta in between must be followed by
// a fresh trpo_policy_dist. The fvp runs in blocks of FVP_BLOCK rows: its bits are a function of
// (n, inputs) only. Not an optimiser: the trust-region step, CG and line search live elsewhere.

#include <math.h>
#include <string.h>

#include "trpo/trpo.h"

#define HALF_LOG_2PI 0.91893853320467274178   // log(2 pi) / 2
#define FVP_BLOCK 128                          // rows per jvp + backward block of the fvp

//---------------------------------- one distribution row -------------------------------------------
// Gaussian rows take the mean and the log-std as separate pointers, so the surrogate can pass the
// network output and theta's log-std without assembling a dist row.

static double gauss_logp(int na, const double* mean, const double* logstd, const double* x) {
  // sum_a -z^2/2 - log s - log(2 pi)/2, z = (x - m)/s
  double lp = 0;
  for (int a = 0; a < na; a++) {
    double z = (x[a] - mean[a]) * exp(-logstd[a]);
    lp += -0.5 * z * z - logstd[a] - HALF_LOG_2PI;
  }
  return lp;
}

static double gauss_kl(int na, const double* mo, const double* lo, const double* mn,
                       const double* ln) {
  // sum_a log s_n - log s_o + (s_o^2 + (m_o - m_n)^2) / (2 s_n^2) - 1/2
  double kl = 0;
  for (int a = 0; a < na; a++) {
    double dm = mo[a] - mn[a];
    kl += ln[a] - lo[a] + (exp(2.0 * (lo[a] - ln[a])) + dm * dm * exp(-2.0 * ln[a])) * 0.5 - 0.5;
  }
  return kl;
}

static double logsumexp(int n, const double* l) {
  // max + log sum exp(l - max): no overflow, at least one term is 1
  double mx = l[0];
  for (int i = 1; i < n; i++) mx = l[i] > mx ? l[i] : mx;
  double s = 0;
  for (int i = 0; i < n; i++) s += exp(l[i] - mx);
  return mx + log(s);
}

static int cat_index(int n, const double* act) {
  // the action double holds an integer index
  int k = (int)act[0];
  if (!(act[0] >= 0 && act[0] < n) || (double)k != act[0])
    TRPO_FATAL("categorical action %g is not an index in [0, %d)", act[0], n);
  return k;
}

static double cat_entropy(int n, const double* l) {
  // H = -sum p_i log p_i with the stable log-softmax log p_i = l_i - lse
  double lse = logsumexp(n, l), h = 0;
  for (int i = 0; i < n; i++) h -= exp(l[i] - lse) * (l[i] - lse);
  return h;
}

static double cat_kl(int n, const double* lo, const double* ln) {
  // sum_i p_o,i (log p_o,i - log p_n,i)
  double so = logsumexp(n, lo), sn = logsumexp(n, ln), kl = 0;
  for (int i = 0; i < n; i++) kl += exp(lo[i] - so) * ((lo[i] - so) - (ln[i] - sn));
  return kl;
}

//---------------------------------- single-row API -------------------------------------------------

void trpo_policy_init(trpo_policy* p, int nobs, int nact, int discrete, const int* hidden,
                      int nhidden) {
  TRPO_CHECK(nobs >= 1 && nact >= 1);
  memset(p, 0, sizeof *p);
  trpo_mlp_init(&p->net, nobs, hidden, nhidden, nact);
  p->nobs = nobs;
  p->nact = nact;
  p->discrete = discrete != 0;
  p->nparam = p->net.nparam + (p->discrete ? 0 : nact);
  p->ndist = p->discrete ? nact : 2 * nact;
}

void trpo_policy_randomize(const trpo_policy* p, double* theta, trpo_rng* rng, double init_logstd) {
  // small output layer so the initial policy is near its mean / uniform (0.01, as in baselines)
  trpo_mlp_randomize(&p->net, theta, rng, 0.01);
  if (!p->discrete)
    for (int a = 0; a < p->nact; a++) theta[p->net.nparam + a] = init_logstd;
}

void trpo_policy_dist(const trpo_policy* p, const double* theta, trpo_mlpwork* w, double* dist,
                      const double* obs, int n) {
  // the net gives the mean or the logits; the log-std is copied from theta
  const double* y = trpo_mlp_forward(&p->net, theta, w, obs, n);
  int na = p->nact, nd = p->ndist;
  for (int i = 0; i < n; i++) {
    memcpy(dist + (size_t)i * nd, y + (size_t)i * na, (size_t)na * sizeof(double));
    if (!p->discrete)
      memcpy(dist + (size_t)i * nd + na, theta + p->net.nparam, (size_t)na * sizeof(double));
  }
}

void trpo_policy_sample(const trpo_policy* p, const double* dist, trpo_rng* rng, double* act) {
  int na = p->nact;
  // Gaussian: m + s N(0, 1), one draw per dimension in order
  if (!p->discrete) {
    for (int a = 0; a < na; a++) act[a] = dist[a] + exp(dist[na + a]) * trpo_rng_normal(rng);
    return;
  }
  // categorical: inverse CDF of one uniform against the unnormalised cumulative exp(l - max)
  double mx = dist[0];
  for (int i = 1; i < na; i++) mx = dist[i] > mx ? dist[i] : mx;
  double tot = 0;
  for (int i = 0; i < na; i++) tot += exp(dist[i] - mx);
  double u = trpo_rng_uniform(rng) * tot, cum = 0;
  int k = na - 1;   // rounding can leave u just above the last partial sum
  for (int i = 0; i < na; i++) {
    cum += exp(dist[i] - mx);
    if (u < cum) {
      k = i;
      break;
    }
  }
  act[0] = (double)k;
}

double trpo_policy_mode(const trpo_policy* p, const double* dist, double* act) {
  int na = p->nact;
  // Gaussian: the mean
  if (!p->discrete) {
    memcpy(act, dist, (size_t)na * sizeof(double));
  } else {
    // categorical: the first largest logit
    int k = 0;
    for (int i = 1; i < na; i++) k = dist[i] > dist[k] ? i : k;
    act[0] = (double)k;
  }
  return trpo_policy_logp(p, dist, act);
}

double trpo_policy_logp(const trpo_policy* p, const double* dist, const double* act) {
  int na = p->nact;
  if (!p->discrete) return gauss_logp(na, dist, dist + na, act);
  return dist[cat_index(na, act)] - logsumexp(na, dist);
}

double trpo_policy_entropy(const trpo_policy* p, const double* dist) {
  int na = p->nact;
  if (p->discrete) return cat_entropy(na, dist);
  // sum_a log s + (1 + log 2 pi) / 2
  double h = 0;
  for (int a = 0; a < na; a++) h += dist[na + a] + 0.5 + HALF_LOG_2PI;
  return h;
}

double trpo_policy_kl(const trpo_policy* p, const double* dold, const double* dnew) {
  int na = p->nact;
  if (p->discrete) return cat_kl(na, dold, dnew);
  return gauss_kl(na, dold, dold + na, dnew, dnew + na);
}

//---------------------------------- batched values and gradients ----------------------------------
// The gradient functions write d(.)/dy into w->dh[nlayer] (the backward pass reads it from there
// before it writes any other layer), add the log-std part straight into grad, then run backward.

double trpo_policy_surrogate(const trpo_policy* p, const double* theta, trpo_mlpwork* w,
                             double* grad, double scale, double* kl, const double* obs,
                             const double* act, const double* adv, const double* logp_old,
                             const double* dist_old, int n) {
  int na = p->nact, nd = p->ndist, L = p->net.nlayer;
  const double* y = trpo_mlp_forward(&p->net, theta, w, obs, n);
  const double* ls = theta + p->net.nparam;   // log-std (Gaussian)
  double* dy = w->dh[L];                      // d(scale * ratio * adv)/dy   (n x nact)
  double* gls = grad ? grad + p->net.nparam : NULL;
  double surr = 0, klsum = 0;

  for (int i = 0; i < n; i++) {
    const double* yi = y + (size_t)i * na;
    const double* ai = act + (size_t)i * (p->discrete ? 1 : na);   // one index or nact values
    const double* doi = dist_old + (size_t)i * nd;
    // ratio = pi_new / pi_old, and the surrogate term ratio * adv
    double lp = p->discrete ? yi[cat_index(na, ai)] - logsumexp(na, yi) : gauss_logp(na, yi, ls, ai);
    double r = exp(lp - logp_old[i]);
    surr += r * adv[i];
    // KL(old || new) of this row
    if (kl)
      klsum += p->discrete ? cat_kl(na, doi, yi) : gauss_kl(na, doi, doi + na, yi, ls);
    if (!grad) continue;
    // d(ratio * adv) = ratio * adv * dlogp: dlogp/dm = (x - m)/s^2, dlogp/dlogs = z^2 - 1,
    // dlogp/dl = onehot - softmax
    double c = scale * r * adv[i];
    double* dyi = dy + (size_t)i * na;
    if (p->discrete) {
      double lse = logsumexp(na, yi);
      int k = cat_index(na, ai);
      for (int j = 0; j < na; j++) dyi[j] = c * ((j == k) - exp(yi[j] - lse));
    } else {
      for (int a = 0; a < na; a++) {
        double is = exp(-ls[a]), z = (ai[a] - yi[a]) * is;
        dyi[a] = c * z * is;
        gls[a] += c * (z * z - 1.0);
      }
    }
  }
  // the net's share through one backward pass
  if (grad) trpo_mlp_backward(&p->net, theta, w, grad, dy, n);
  if (kl) *kl = klsum;
  return surr;
}

void trpo_policy_grad_logp(const trpo_policy* p, const double* theta, trpo_mlpwork* w,
                           double* grad, const double* obs, const double* act, int n) {
  int na = p->nact, L = p->net.nlayer;
  const double* y = trpo_mlp_forward(&p->net, theta, w, obs, n);
  const double* ls = theta + p->net.nparam;
  double* dy = w->dh[L];
  // per row: onehot - softmax, or (x - m)/s^2 and z^2 - 1
  for (int i = 0; i < n; i++) {
    const double* yi = y + (size_t)i * na;
    double* dyi = dy + (size_t)i * na;
    if (p->discrete) {
      double lse = logsumexp(na, yi);
      int k = cat_index(na, act + i);
      for (int j = 0; j < na; j++) dyi[j] = (j == k) - exp(yi[j] - lse);
    } else {
      const double* ai = act + (size_t)i * na;
      for (int a = 0; a < na; a++) {
        double is = exp(-ls[a]), z = (ai[a] - yi[a]) * is;
        dyi[a] = z * is;
        grad[p->net.nparam + a] += z * z - 1.0;
      }
    }
  }
  trpo_mlp_backward(&p->net, theta, w, grad, dy, n);
}

void trpo_policy_grad_entropy(const trpo_policy* p, const double* theta, trpo_mlpwork* w,
                              double* grad, const double* obs, int n) {
  int na = p->nact, L = p->net.nlayer;
  // Gaussian: the entropy depends on the log-std only, d/dlogs = 1 per row
  if (!p->discrete) {
    for (int a = 0; a < na; a++) grad[p->net.nparam + a] += (double)n;
    return;
  }
  // categorical: dH/dl_j = -p_j (log p_j + H)
  const double* y = trpo_mlp_forward(&p->net, theta, w, obs, n);
  double* dy = w->dh[L];
  for (int i = 0; i < n; i++) {
    const double* yi = y + (size_t)i * na;
    double* dyi = dy + (size_t)i * na;
    double lse = logsumexp(na, yi), h = cat_entropy(na, yi);
    for (int j = 0; j < na; j++) dyi[j] = -exp(yi[j] - lse) * ((yi[j] - lse) + h);
  }
  trpo_mlp_backward(&p->net, theta, w, grad, dy, n);
}

void trpo_policy_grad_kl(const trpo_policy* p, const double* theta, trpo_mlpwork* w, double* grad,
                         const double* obs, const double* dist_old, int n) {
  int na = p->nact, nd = p->ndist, L = p->net.nlayer;
  const double* y = trpo_mlp_forward(&p->net, theta, w, obs, n);
  const double* ls = theta + p->net.nparam;
  double* dy = w->dh[L];
  // per row: p_new - p_old, or (m_n - m_o)/s_n^2 and 1 - (s_o^2 + (m_o - m_n)^2)/s_n^2
  for (int i = 0; i < n; i++) {
    const double* yi = y + (size_t)i * na;
    const double* doi = dist_old + (size_t)i * nd;
    double* dyi = dy + (size_t)i * na;
    if (p->discrete) {
      double sn = logsumexp(na, yi), so = logsumexp(na, doi);
      for (int j = 0; j < na; j++) dyi[j] = exp(yi[j] - sn) - exp(doi[j] - so);
    } else {
      for (int a = 0; a < na; a++) {
        double iv = exp(-2.0 * ls[a]), dm = yi[a] - doi[a];
        dyi[a] = dm * iv;
        grad[p->net.nparam + a] += 1.0 - (exp(2.0 * doi[na + a]) + dm * dm) * iv;
      }
    }
  }
  trpo_mlp_backward(&p->net, theta, w, grad, dy, n);
}

//---------------------------------- Fisher-vector product ------------------------------------------

void trpo_policy_fvp(const trpo_policy* p, const double* theta, trpo_mlpwork* w, double* out,
                     double scale, const double* dist, const double* v, int n) {
  const trpo_mlp* net = &p->net;
  int na = p->nact, nd = p->ndist, L = net->nlayer;
  TRPO_CHECK(n >= 0 && n <= w->maxrows);

  // blocks of rows small enough that tangents and deltas stay in cache between the jvp and the
  // backward pass: a block is a view of w whose activations are rows [r0, r0 + nb) of the last
  // forward and whose tangents reuse the first rows of dh for every block (scratch, kept hot)
  for (int r0 = 0; r0 < n; r0 += FVP_BLOCK) {
    int nb = n - r0 < FVP_BLOCK ? n - r0 : FVP_BLOCK;
    trpo_mlpwork blk = *w;
    blk.maxrows = nb;
    for (int l = 0; l <= L; l++) blk.h[l] = w->h[l] + (size_t)r0 * net->size[l];
    // t = J_net v (the network's part of J v)
    trpo_mlp_jvp(net, theta, &blk, v, nb);
    double* t = blk.dh[L];
    // u = scale * M t in place: M = 1/s^2 on the mean, diag(p) - p p^T on the logits
    const double* db = dist + (size_t)r0 * nd;
    if (!p->discrete) {
      // column by column, so one exp serves every row with the same (state-independent) log-std
      for (int a = 0; a < na; a++) {
        double lsprev = NAN, iv = 0;
        for (int i = 0; i < nb; i++) {
          double ls = db[(size_t)i * nd + na + a];
          if (!(ls == lsprev)) iv = scale * exp(-2.0 * ls);
          lsprev = ls;
          t[(size_t)i * na + a] *= iv;
        }
      }
    } else {
      for (int i = 0; i < nb; i++) {
        const double* li = db + (size_t)i * nd;
        double* ti = t + (size_t)i * na;
        double lse = logsumexp(na, li), pt = 0;
        for (int j = 0; j < na; j++) pt += exp(li[j] - lse) * ti[j];
        for (int j = 0; j < na; j++) ti[j] = scale * exp(li[j] - lse) * (ti[j] - pt);
      }
    }
    // out += J_net^T u
    trpo_mlp_backward(net, theta, &blk, out, t, nb);
  }
  // log-std block: J is the identity on every row and M = 2, so the sum is 2 n v_logstd
  if (!p->discrete)
    for (int a = 0; a < na; a++) out[net->nparam + a] += scale * 2.0 * n * v[net->nparam + a];
}
