// fxsum.c: exact, order-independent sums of doubles as multi-word fixed-point integers.
//
// x (|x| < 2^57) is split into TRPO_FXWORDS signed digits of 42 bits, x = sum_k w[k] 2^(16-42k),
// down to 2^-110: every double of magnitude >= 2^-57 is held exactly, smaller ones are truncated
// (the same way on every rank). Integer addition of digits is exact and associative, so the sum
// of per-environment partials has the same bits whatever the order and the rank count. Words have
// 21 bits of carry headroom; the accumulator normalises itself before they could overflow.
// Reading back normalises to canonical digits (on a copy: the accumulator is only read) and
// evaluates them in one fixed order. The three loops over a vector (add, normalise, read) run in
// vector lanes (VECTOR_CLONES): their integer steps, and double steps that are exact, give the
// same bits in any lane count; the 64-bit shifts and integer-to-double conversions are written so
// that AVX2 lanes can do them too.
//
// Not a general big-number library: the range is fixed for training quantities (gradients,
// Fisher products, losses, statistics); inputs outside it are counted as bad and read back NaN.

#include <math.h>
#include <string.h>

#include "trpo/trpo.h"
#include "vector_clones.h"

#define DIGIT_BITS 42
#define LIMIT 0x1.0p57           // |x| must be below this
#define HEADROOM (1L << 20)      // additions allowed between normalisations
_Static_assert(TRPO_FXWORDS == 4, "the digit scales below assume four words");

void trpo_fxsum_make(trpo_fxsum* s, int n) {
  s->n = n;
  s->nadd = 0;
  s->shared = NULL;
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
  // |x| < 2^57 compared as integers: the bits of |x| order like its value, NaN and infinity
  // above every finite one; no floating-point compare, which in vector lanes may be a signalling
  // one that raises FE_INVALID on a NaN
  uint64_t xbits, limit_bits;
  double limit = LIMIT;
  memcpy(&xbits, &x, sizeof xbits);
  memcpy(&limit_bits, &limit, sizeof limit_bits);
  int64_t ok = (xbits & ~(UINT64_C(1) << 63)) < limit_bits;
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

// the digits of n values added in vector lanes (the bits do not depend on the lane count)
VECTOR_CLONES static int64_t add_digits(int64_t* restrict w, int n, const double* restrict x) {
  int64_t bad = 0;
  for (int i = 0; i < n; i++) bad += addone(w + (size_t)i * TRPO_FXWORDS, x[i]);
  return bad;
}

void trpo_fxsum_add_range(trpo_fxsum* s, int i0, int n, const double* x) {
  if (s->nadd >= HEADROOM) trpo_fxsum_normalize(s);
  s->w[(size_t)s->n * TRPO_FXWORDS] += add_digits(s->w + (size_t)i0 * TRPO_FXWORDS, n, x);
  s->nadd++;
}

void trpo_fxsum_add(trpo_fxsum* s, const double* x) { trpo_fxsum_add_range(s, 0, s->n, x); }

void trpo_fxsum_add1(trpo_fxsum* s, int i, double x) {
  if (s->nadd >= HEADROOM) trpo_fxsum_normalize(s);
  s->w[(size_t)s->n * TRPO_FXWORDS] += addone(s->w + (size_t)i * TRPO_FXWORDS, x);
  s->nadd++;
}

// floor(x / 2^42) for any int64 x: x + 2^63 as unsigned (the sign bit flipped) shifted right,
// less 2^63 / 2^42. A logical shift, so it runs in AVX2 lanes too (AVX2 has no arithmetic 64-bit
// shift); the same value as x >> 42
static inline int64_t floor_digit(int64_t x) {
  return (int64_t)(((uint64_t)x ^ (UINT64_C(1) << 63)) >> DIGIT_BITS) - ((int64_t)1 << (63 - DIGIT_BITS));
}

// carry from the lowest digit up: digits 1.. end in [0, 2^42), digit 0 keeps the sign
static inline void carry_digits(int64_t* w) {
  for (int k = TRPO_FXWORDS - 1; k > 0; k--) {
    int64_t carry = floor_digit(w[k]);
    w[k] -= (int64_t)((uint64_t)carry << DIGIT_BITS);
    w[k - 1] += carry;
  }
}

// the branch-free reading below pays off in AVX2 lanes (x86-64 built with the clones); elsewhere
// a scalar loop with a branch for the sign and one-instruction conversions is faster. Both give
// the same bits
static int use_lanes(void) {
#ifdef TRPO_HAVE_CLONES
  static int lanes = -1;
  if (lanes < 0) lanes = __builtin_cpu_supports("avx2") ? 1 : 0;
  return lanes;
#else
  return 0;
#endif
}

// u (0 <= u < 2^52) as a double, exactly: u in the mantissa of 2^52, less 2^52. Integer OR and a
// subtraction, so it runs in AVX2 lanes (a 64-bit integer conversion needs AVX-512DQ)
static inline double small_to_double(int64_t u) {
  uint64_t bits = (uint64_t)u | UINT64_C(0x4330000000000000);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d - 0x1.0p52;
}

VECTOR_CLONES static void normalize_digits(int64_t* restrict w, int n) {
  for (int i = 0; i < n; i++) carry_digits(w + (size_t)i * TRPO_FXWORDS);
}

void trpo_fxsum_normalize(trpo_fxsum* s) {
  normalize_digits(s->w, s->n);
  s->nadd = 0;
}

// digits to doubles, branch-free so that the loop runs in vector lanes; w is only read (the
// carries are done on a copy, one pass over memory)
VECTOR_CLONES static void read_lanes(const int64_t* restrict w, int n, double* restrict out) {
  for (int i = 0; i < n; i++) {
    const int64_t* d = w + (size_t)i * TRPO_FXWORDS;
    int64_t m[TRPO_FXWORDS];
    for (int k = 0; k < TRPO_FXWORDS; k++) m[k] = d[k];
    carry_digits(m);
    // canonical digits are non-negative below the top one; a negative sum is negated first (all
    // digits, then carried again) so that every digit adds with one sign and nothing cancels in
    // floating point. neg is 0 or -1: (x ^ neg) - neg is x or -x; a non-negative sum's digits are
    // canonical already and the carries leave them as they are
    int64_t neg = m[0] >> 63;
    for (int k = 0; k < TRPO_FXWORDS; k++) m[k] = (m[k] ^ neg) - neg;
    carry_digits(m);
    // lowest digit first, so the small ones are not lost before the large one is added. Digits
    // 1..3 are in [0, 2^42); the top one, m[0] >= 0 here, may exceed 2^53 in principle: its two
    // exact 32-bit halves add with one rounding, which is the rounding of (double)m[0]
    double r = small_to_double(m[3]) * 0x1.0p-110;
    r += small_to_double(m[2]) * 0x1.0p-68;
    r += small_to_double(m[1]) * 0x1.0p-26;
    double top = small_to_double((int64_t)((uint64_t)m[0] >> 32)) * 0x1.0p32 +
                 small_to_double(m[0] & 0xffffffff);
    r += top * 0x1.0p16;
    out[i] = neg ? -r : r;
  }
}

// the same reading in scalar steps: a branch for the sign, 64-bit conversions
static void read_scalar(const int64_t* w, int n, double* out) {
  static const double scale[TRPO_FXWORDS] = {0x1.0p16, 0x1.0p-26, 0x1.0p-68, 0x1.0p-110};
  for (int i = 0; i < n; i++) {
    const int64_t* d = w + (size_t)i * TRPO_FXWORDS;
    int64_t m[TRPO_FXWORDS];
    for (int k = 0; k < TRPO_FXWORDS; k++) m[k] = d[k];
    carry_digits(m);
    double sign = 1;
    if (m[0] < 0) {
      sign = -1;
      for (int k = 0; k < TRPO_FXWORDS; k++) m[k] = -m[k];
      carry_digits(m);
    }
    double r = 0;
    for (int k = TRPO_FXWORDS - 1; k >= 0; k--) r += (double)m[k] * scale[k];
    out[i] = sign * r;
  }
}

void trpo_fxsum_get(const trpo_fxsum* s, double* out) {
  trpo_fxsum_get_range(s, 0, s->n, out);
  if (s->w[(size_t)s->n * TRPO_FXWORDS] != 0)
    for (int i = 0; i < s->n; i++) out[i] = NAN;
}

// each value reads from its own digits alone, so a range reads as the same bits as in the whole
void trpo_fxsum_get_range(const trpo_fxsum* s, int i0, int n, double* out) {
  const int64_t* w = s->w + (size_t)i0 * TRPO_FXWORDS;
  if (use_lanes()) read_lanes(w, n, out);
  else read_scalar(w, n, out);
}
