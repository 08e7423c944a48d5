// vector_clones.h: VECTOR_CLONES, for the loops of linalg.c and mlp.c that the compiler runs in
// vector lanes.
//
// GCC on x86-64 Linux builds such a function for AVX-512 and AVX2 beside the baseline and picks
// one when the program loads. The bits do not depend on the choice: every element gets the same
// sequence of operations in any lane, and contraction to FMA is off in ISO C mode; only the lane
// count differs. TRPO_NO_CLONES (or another compiler or platform) builds the baseline alone.
// TRPO_HAVE_CLONES says that the clones are built (for code that picks a loop by the CPU).

#ifndef TRPO_VECTOR_CLONES_H
#define TRPO_VECTOR_CLONES_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(TRPO_NO_CLONES)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define TRPO_HAVE_CLONES 1
#else
#define VECTOR_CLONES
#endif

#endif  // TRPO_VECTOR_CLONES_H
