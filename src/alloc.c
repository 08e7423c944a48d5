// alloc.c: the project's one allocator, with a counter.
//
// Every buffer of the project comes from trpo_alloc, sized once by a *_make function. The
// counter lets a test prove that the iteration loop allocates nothing. Out of memory is fatal.

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "trpo/trpo.h"

static atomic_long nalloc;

void* trpo_alloc(size_t nbytes) {
  // round up to the alignment, as aligned_alloc requires
  size_t n = (nbytes + 63) / 64 * 64;
  if (n == 0) n = 64;
  void* p = aligned_alloc(64, n);
  if (!p) TRPO_FATAL("out of memory allocating %zu bytes", nbytes);
  memset(p, 0, n);
  atomic_fetch_add(&nalloc, 1);
  return p;
}

void trpo_alloc_free(void* p) { free(p); }

long trpo_alloc_count(void) { return atomic_load(&nalloc); }
