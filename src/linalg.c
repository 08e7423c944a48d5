// linalg.c: the BLAS module, the only file that includes <cblas.h>.
//
// Row-major gemm through OpenBLAS, a plain-loop reference gemm with a fixed summation order, and
// the two level-1 loops the trainer needs (dot, axpy), also in a fixed order. Every result
// depends only on the shapes and the input values, never on addresses or timing: the reference
// sums each C element in increasing k from zero, and OpenBLAS packs its operands into its own
// buffers, so neither sees where the caller's arrays lie. Which rows share one gemm call does
// matter to OpenBLAS (its kernel choice follows m, n, k), which is why the callers fix the shapes.
// For benchmarks the module can tally its calls by shape (and the mlp's tanh evaluations), so a
// benchmark can price an iteration from its own counts; the tallies never touch a result.
//
// Not a tensor library: no batching, no single precision. Threads: one per rank (ranks are the
// parallelism). OpenBLAS otherwise starts one per CPU in every rank and splits products of 256
// rows or more among them: on the 2-core development machine a 512x64x64 dgemm took 2.3x as long
// on 2 threads as on one, and one rank of Pendulum (1024 rows per environment) trained at 31,700
// instead of 36,700 steps/s; 16 ranks would run 256 threads on 16 cores. The launch scripts set
// OPENBLAS_NUM_THREADS=1; trpo_linalg_threads_default does the same for a launch that does not,
// and leaves an explicit setting alone.

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "trpo/trpo.h"
#include "vector_clones.h"

static int use_ref;   // 1: every gemm takes the reference path (tests only)

void trpo_linalg_use_ref(int on) { use_ref = on != 0; }

void trpo_linalg_threads_default(void) {
  const char* const keys[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"};
  int set = 0;
  for (int k = 0; k < 3; k++) set |= getenv(keys[k]) && *getenv(keys[k]);
  if (!set) openblas_set_num_threads(1);
}

int trpo_linalg_threads(void) { return openblas_get_num_threads(); }

//---------------------------------- counting -------------------------------------------------------
// Shapes live in an open-addressing table of twice the reported size (index = slot of each
// shape), looked up by a hash of the key; the report lists them in order of first appearance.

#define NSLOT (2 * TRPO_LINALG_NSHAPE)
static int counting;                  // 1: tally calls
static trpo_linalgcount tally;        // the report
static short slot[NSLOT];             // index into tally.shape + 1, 0: empty

void trpo_linalg_count(int on) {
  // starting clears every tally; stopping keeps them for reading
  if (on) {
    memset(&tally, 0, sizeof tally);
    memset(slot, 0, sizeof slot);
  }
  counting = on != 0;
}

void trpo_linalg_count_read(trpo_linalgcount* c) { *c = tally; }

void trpo_linalg_count_tanh(long n) {
  if (counting) tally.ntanh += n;
}

static void count_gemm(int ref, int transa, int transb, int m, int n, int k, double beta) {
  trpo_gemmshape key = {ref, transa != 0, transb != 0, m, n, k, beta == 0.0, 0};
  // probe from the key's hash until the shape or an empty slot turns up
  unsigned h = (unsigned)key.ref + 2u * (unsigned)key.transa + 4u * (unsigned)key.transb +
               8u * (unsigned)key.beta0;
  h = h * 2654435761u + (unsigned)m;
  h = h * 2654435761u + (unsigned)n;
  h = h * 2654435761u + (unsigned)k;
  for (unsigned p = 0; p < NSLOT; p++) {
    unsigned s = (h + p) % NSLOT;
    if (slot[s] == 0) {
      // a new shape, while the report has room
      if (tally.nshape == TRPO_LINALG_NSHAPE) break;
      tally.shape[tally.nshape] = key;
      slot[s] = (short)(++tally.nshape);
    }
    trpo_gemmshape* e = &tally.shape[slot[s] - 1];
    if (e->ref == key.ref && e->transa == key.transa && e->transb == key.transb && e->m == m &&
        e->n == n && e->k == k && e->beta0 == key.beta0) {
      e->calls++;
      return;
    }
  }
  tally.lost++;
}

void trpo_linalg_gemm(int transa, int transb, int m, int n, int k, double alpha,
                      const double* a, int lda, const double* b, int ldb, double beta,
                      double* c, int ldc) {
  // the reference path when tests ask for it (counted there)
  if (use_ref) {
    trpo_linalg_gemm_ref(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (counting) count_gemm(0, transa, transb, m, n, k, beta);
  // empty products leave C alone, as the reference does
  if (m <= 0 || n <= 0) return;
  cblas_dgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
              transb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// columns of C per pass of the reference (four groups of eight): their partial sums stay in
// vector registers
#define REF_COLS 32

VECTOR_CLONES void trpo_linalg_gemm_ref(int transa, int transb, int m, int n, int k, double alpha,
                                        const double* a, int lda, const double* b, int ldb,
                                        double beta, double* c, int ldc) {
  // C[i][j] = alpha * s + beta * C[i][j] (C not read when beta == 0), where
  // s = ((0 + a_i0 b_0j) + a_i1 b_1j) + ... in increasing k; the i-k-j loop below keeps that
  // order for every element while the j loop of a full pass runs in vector lanes
  if (counting) count_gemm(1, transa, transb, m, n, k, beta);
  for (int i = 0; i < m; i++) {
    double* crow = c + (size_t)i * ldc;
    for (int j0 = 0; j0 < n; j0 += REF_COLS) {
      int nj = n - j0 < REF_COLS ? n - j0 : REF_COLS;
      double s[REF_COLS] = {0};
      // partial sums over k of this row's columns [j0, j0 + nj): a full pass of untransposed B
      // in four fixed-width groups (four independent vector accumulators that stay in
      // registers), anything else element by element
      if (nj == REF_COLS && !transb) {
        double s0[8] = {0}, s1[8] = {0}, s2[8] = {0}, s3[8] = {0};
        for (int p = 0; p < k; p++) {
          double aip = transa ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
          const double* brow = b + (size_t)p * ldb + j0;
          for (int j = 0; j < 8; j++) s0[j] += aip * brow[j];
          for (int j = 0; j < 8; j++) s1[j] += aip * brow[8 + j];
          for (int j = 0; j < 8; j++) s2[j] += aip * brow[16 + j];
          for (int j = 0; j < 8; j++) s3[j] += aip * brow[24 + j];
        }
        memcpy(s, s0, sizeof s0);
        memcpy(s + 8, s1, sizeof s1);
        memcpy(s + 16, s2, sizeof s2);
        memcpy(s + 24, s3, sizeof s3);
      } else {
        for (int p = 0; p < k; p++) {
          double aip = transa ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
          for (int j = 0; j < nj; j++)
            s[j] += aip * (transb ? b[(size_t)(j0 + j) * ldb + p] : b[(size_t)p * ldb + j0 + j]);
        }
      }
      // scale and combine with C
      if (beta == 0.0) {
        for (int j = 0; j < nj; j++) crow[j0 + j] = alpha * s[j];
      } else {
        for (int j = 0; j < nj; j++) crow[j0 + j] = alpha * s[j] + beta * crow[j0 + j];
      }
    }
  }
}

double trpo_linalg_dot(const double* x, const double* y, int n) {
  // one accumulator, increasing index
  double s = 0.0;
  for (int i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

void trpo_linalg_axpy(double* y, double a, const double* x, int n) {
  // elementwise, so the order cannot matter
  for (int i = 0; i < n; i++) y[i] += a * x[i];
}
