// gae.c: generalized advantage estimation over one environment's segment.
//
// Schulman et al. 2016 ("High-dimensional continuous control using generalized advantage
// estimation"), eq. 16: delta_t = r_t + gamma V(s_{t+1}) - V(s_t), A_t = sum_l (gamma lambda)^l
// delta_{t+l}, evaluated backwards as A_t = delta_t + gamma lambda A_{t+1}. The sum is cut at
// every end of a piece of trajectory: a termination bootstraps 0, a time-limit truncation
// bootstraps V of the final observation (vend[t]), and the segment's last step, a rollout boundary,
// bootstraps V of the next observation (vend[T-1]). A step both terminated and truncated is
// terminal. vend is read only where one of these bootstraps needs it. No normalisation here.

#include "trpo/trpo.h"

void trpo_gae_segment(double* adv, double* ret, const double* reward, const double* value,
                      const double* vend, const int* flags, int T, double gamma, double lambda) {
  double next_adv = 0;   // A_{t+1} of the same piece of trajectory
  for (int t = T - 1; t >= 0; t--) {
    // value of s_{t+1}: 0 at a termination, vend at a truncation or the segment's end,
    // value[t+1] inside an episode; the recursion is cut at both kinds of end
    double vnext;
    int cut = 1;
    if (flags[t] & TRPO_ENV_TERMINATED) {
      vnext = 0;
    } else if ((flags[t] & TRPO_ENV_TRUNCATED) || t == T - 1) {
      vnext = vend[t];
    } else {
      vnext = value[t + 1];
      cut = 0;
    }

    // delta_t and A_t = delta_t + gamma lambda A_{t+1}; ret is the lambda-return A_t + V(s_t)
    double delta = reward[t] + gamma * vnext - value[t];
    double a = cut ? delta : delta + gamma * lambda * next_adv;
    adv[t] = a;
    ret[t] = a + value[t];
    next_adv = a;
  }
}
