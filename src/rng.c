// rng.c: explicit random generator state, xoshiro256** (Blackman and Vigna 2018).
//
// Each stream is seeded by running splitmix64 over (seed, stream, purpose), so the stream of
// environment e for purpose p is the same whichever rank holds e. Not cryptographic. No global
// state and no rand(): every draw names the state it advances.

#include <math.h>

#include "trpo/trpo.h"

static uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void trpo_rng_seed(trpo_rng* r, uint64_t seed, uint64_t stream, uint64_t purpose) {
  // mix the three words one after another so that nearby triples give unrelated states
  uint64_t x = seed;
  uint64_t h = splitmix64(&x);
  x = h ^ (stream * UINT64_C(0xD1B54A32D192ED03));
  h = splitmix64(&x);
  x = h ^ (purpose * UINT64_C(0x8CB92BA72F3D8DD7));
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  // the all-zero state is the one fixed point of xoshiro
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

uint64_t trpo_rng_next(trpo_rng* r) {
  uint64_t* s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double trpo_rng_uniform(trpo_rng* r) { return (double)(trpo_rng_next(r) >> 11) * 0x1.0p-53; }

double trpo_rng_range(trpo_rng* r, double lo, double hi) {
  return lo + (hi - lo) * trpo_rng_uniform(r);
}

double trpo_rng_normal(trpo_rng* r) {
  // Box-Muller from two uniforms; 1 - u lies in (0, 1], so the log is finite
  double u = 1.0 - trpo_rng_uniform(r);
  double v = trpo_rng_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

uint64_t trpo_rng_below(trpo_rng* r, uint64_t n) {
  // rejection of the final partial block keeps every value equally likely
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = trpo_rng_next(r);
  while (x >= limit);
  return x % n;
}
