// stats.c: the per-iteration statistics as CSV (progress.csv), from one field list.
//
// TRPO_STATS_FIELDS drives the header, the rows and the parser, so a new metric is one line in
// trpo.h. Rows print every field with %.17g, which reads back to the same double (NaN and
// infinities print as nan/inf and read back as such). Lines carry no newline; the caller adds it.
// Not a general CSV reader: no quoting, every field is a number.

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trpo/trpo.h"

#define NAME(name) #name,
static const char* const names[] = {TRPO_STATS_FIELDS(NAME)};
#undef NAME
#define NFIELD ((int)(sizeof names / sizeof names[0]))
_Static_assert(sizeof(trpo_stats) == sizeof(double) * NFIELD, "trpo_stats is not NFIELD doubles");

// append to buf (never past nbuf, always terminated)
static void put(char* buf, size_t nbuf, size_t* len, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char* buf, size_t nbuf, size_t* len, const char* fmt, ...) {
  if (*len >= nbuf) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, nbuf - *len, fmt, ap);
  va_end(ap);
  if (n > 0) *len += (size_t)n;
}

void trpo_stats_header(char* buf, size_t nbuf) {
  size_t len = 0;
  if (nbuf) buf[0] = 0;
  for (int i = 0; i < NFIELD; i++) put(buf, nbuf, &len, "%s%s", i ? "," : "", names[i]);
}

void trpo_stats_row(const trpo_stats* s, char* buf, size_t nbuf) {
  // the struct is NFIELD doubles in list order
  const double* v = (const double*)s;
  size_t len = 0;
  if (nbuf) buf[0] = 0;
  for (int i = 0; i < NFIELD; i++) put(buf, nbuf, &len, "%s%.17g", i ? "," : "", v[i]);
}

int trpo_stats_parse(trpo_stats* s, const char* line) {
  // exactly NFIELD numbers separated by commas, an optional line end after the last
  double v[NFIELD];
  const char* p = line;
  for (int i = 0; i < NFIELD; i++) {
    char* end;
    v[i] = strtod(p, &end);
    if (end == p) return TRPO_EXIT_BADINPUT;
    p = end;
    if (i < NFIELD - 1 && *p++ != ',') return TRPO_EXIT_BADINPUT;
  }
  if (strcmp(p, "") && strcmp(p, "\n") && strcmp(p, "\r\n")) return TRPO_EXIT_BADINPUT;

  // store only a complete row
  memcpy(s, v, sizeof v);
  return 0;
}
