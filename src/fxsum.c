// fxsum.c: exact, order-independent sums of doubles as multi-word fixed-point integers.
//
// x (|x| < 2^57) is split into TRPO_FXWORDS signed digits of 42 bits, x = sum_k w[k] 2^(16-42k),
// down to 2^-110: every double of magnitude >= 2^-57 is held exactly, smaller ones are truncated
// (the same way on every rank). Integer addition of digits is exact and associative, so the sum
// of per-environment partials has the same bits whatever the order and the rank count. Words have
// 21 bits of carry headroom; the accumulator normalises itself before they could overflow.
// Reading back normalises to canonical digits and evaluates them in one fixed order.
//
// Not a general big-number library: the range is fixed for training quantities (gradients,
// Fisher products, losses, statistics); inputs outside it are counted as bad and read back NaN.

#include <math.h>
#include <string.h>

#include "trpo/trpo.h"

#define DIGIT_BITS 42
#define LIMIT 0x1.0p57           // |x| must be below this
#define HEADROOM (1L << 20)      // additions allowed between normalisations
_Static_assert(TRPO_FXWORDS == 4, "the digit scales below assume four words");

void trpo_fxsum_make(trpo_fxsum* s, int n) {
  s->n = n;
  s->nadd = 0;
  s->w = trpo_alloc(trpo_fxsum_nwords(s) * sizeof(int64_t));
}

void trpo_fxsum_free(trpo_fxsum* s) {
  trpo_alloc_free(s->w);
  s->w = NULL;
}

size_t trpo_fxsum_nwords(const trpo_fxsum* s) { return (size_t)s->n * TRPO_FXWORDS + 1; }

void trpo_fxsum_zero(trpo_fxsum* s) {
  memset(s->w, 0, trpo_fxsum_nwords(s) * sizeof(int64_t));
  s->nadd = 0;
}

// split x into digits and add them. Each step rounds t (|t| < 2^51) to the nearest integer by
// adding 1.5*2^52, which leaves the integer in the low mantissa bits: the digit is read from the
// bits and the rounded value is recovered by subtracting the constant again; t - rounded and the
// scaling by 2^42 are exact. Digits are signed (|d| <= 2^41); normalisation makes them canonical.
// A bad input (NaN, infinity, |x| >= 2^57) is counted and adds nothing. Branch-free, so the loop
// over a vector vectorises.
static inline int64_t addone(int64_t* w, double x) {
  const double magic = 0x1.8p52;
  const int64_t magic_bits = INT64_C(0x4338000000000000);
  int64_t ok = isless(fabs(x), LIMIT);   // quiet compare: no FE_INVALID on NaN
  double t = (ok ? x : 0.0) * 0x1.0p-16;
  for (int k = 0; k < TRPO_FXWORDS; k++) {
    double r = t + magic;
    int64_t bits;
    memcpy(&bits, &r, sizeof bits);
    w[k] += bits - magic_bits;
    t = (t - (r - magic)) * 0x1.0p42;
  }
  return 1 - ok;
}

int trpo_fxsum_fits(double x) { return isless(fabs(x), LIMIT); }

void trpo_fxsum_add_range(trpo_fxsum* s, int i0, int n, const double* x) {
  if (s->nadd >= HEADROOM) trpo_fxsum_normalize(s);
  int64_t bad = 0;
  int64_t* restrict w = s->w + (size_t)i0 * TRPO_FXWORDS;
  for (int i = 0; i < n; i++) bad += addone(w + (size_t)i * TRPO_FXWORDS, x[i]);
  s->w[(size_t)s->n * TRPO_FXWORDS] += bad;
  s->nadd++;
}

void trpo_fxsum_add(trpo_fxsum* s, const double* x) { trpo_fxsum_add_range(s, 0, s->n, x); }

void trpo_fxsum_add1(trpo_fxsum* s, int i, double x) {
  if (s->nadd >= HEADROOM) trpo_fxsum_normalize(s);
  s->w[(size_t)s->n * TRPO_FXWORDS] += addone(s->w + (size_t)i * TRPO_FXWORDS, x);
  s->nadd++;
}

void trpo_fxsum_normalize(trpo_fxsum* s) {
  // carry from the lowest digit up: digits 1.. end in [0, 2^42), digit 0 keeps the sign
  const int64_t base = (int64_t)1 << DIGIT_BITS;
  for (int i = 0; i < s->n; i++) {
    int64_t* w = s->w + (size_t)i * TRPO_FXWORDS;
    for (int k = TRPO_FXWORDS - 1; k > 0; k--) {
      int64_t carry = w[k] >> DIGIT_BITS;   // arithmetic shift: floor division
      w[k] -= carry * base;
      w[k - 1] += carry;
    }
  }
  s->nadd = 0;
}

void trpo_fxsum_get(trpo_fxsum* s, double* out) {
  trpo_fxsum_normalize(s);
  const int64_t base = (int64_t)1 << DIGIT_BITS;
  int bad = s->w[(size_t)s->n * TRPO_FXWORDS] != 0;
  for (int i = 0; i < s->n; i++) {
    const int64_t* w = s->w + (size_t)i * TRPO_FXWORDS;
    // canonical digits are non-negative below the top one; a negative sum is negated first so
    // that every digit adds with one sign and nothing cancels in floating point
    int64_t m[TRPO_FXWORDS];
    double sign = 1;
    for (int k = 0; k < TRPO_FXWORDS; k++) m[k] = w[k];
    if (w[0] < 0) {
      sign = -1;
      for (int k = 0; k < TRPO_FXWORDS; k++) m[k] = -m[k];
      for (int k = TRPO_FXWORDS - 1; k > 0; k--) {
        int64_t carry = m[k] >> DIGIT_BITS;
        m[k] -= carry * base;
        m[k - 1] += carry;
      }
    }
    // lowest digit first, so the small ones are not lost before the large one is added
    static const double scale[TRPO_FXWORDS] = {0x1.0p16, 0x1.0p-26, 0x1.0p-68, 0x1.0p-110};
    double r = 0;
    for (int k = TRPO_FXWORDS - 1; k >= 0; k--) r += (double)m[k] * scale[k];
    out[i] = bad ? NAN : sign * r;
  }
}
