// test_stats.c: the progress.csv header, rows and their parse back.

#include "testutil.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define NAME(n) #n,
static const char* const names[] = {TRPO_STATS_FIELDS(NAME)};
#undef NAME
#define NF ((int)(sizeof names / sizeof names[0]))

// the header lists the fields in struct order, comma separated, no newline
static void test_stats_header(void** state) {
  (void)state;
  char buf[2048];
  trpo_stats_header(buf, sizeof buf);
  assert_true(!strncmp(buf, "iteration,env_steps,wall_s,", 27));
  assert_null(strchr(buf, '\n'));
  char want[2048] = "";
  for (int i = 0; i < NF; i++) {
    if (i) strcat(want, ",");
    strcat(want, names[i]);
  }
  assert_string_equal(buf, want);
  assert_int_equal(NF, 30);
  assert_int_equal(offsetof(trpo_stats, t_iter), (NF - 1) * sizeof(double));

  // a short buffer is cut and terminated
  char small[12];
  trpo_stats_header(small, sizeof small);
  assert_string_equal(small, "iteration,e");
}

// row -> parse gives the same bits, for awkward values too
static void test_stats_round_trip(void** state) {
  (void)state;
  trpo_rng rng;
  trpo_rng_seed(&rng, 11, TRPO_RNG_GLOBAL, 5);
  for (int trial = 0; trial < 200; trial++) {
    trpo_stats s, back;
    double* v = (double*)&s;
    for (int i = 0; i < NF; i++)
      v[i] = ldexp(trpo_rng_normal(&rng), (int)trpo_rng_below(&rng, 400) - 200);
    if (trial == 0) {
      // integers, zero of both signs, extremes, subnormal, infinities
      v[0] = 12;
      v[1] = 123456789012345.0;
      v[2] = -0.0;
      v[3] = 0.0;
      v[4] = 1.7976931348623157e308;
      v[5] = 4.9406564584124654e-324;
      v[6] = INFINITY;
      v[7] = -INFINITY;
      v[8] = 0.1;
    }
    char buf[2048];
    trpo_stats_row(&s, buf, sizeof buf);
    if (trial == 0) {
      printf("%s\n", buf);
      assert_true(!strncmp(buf, "12,123456789012345,-0,0,", 24));
    }
    assert_null(strchr(buf, '\n'));
    assert_int_equal(trpo_stats_parse(&back, buf), 0);
    assert_memory_equal(&s, &back, sizeof s);
    // with a line end, as read from a file
    strcat(buf, "\n");
    assert_int_equal(trpo_stats_parse(&back, buf), 0);
    assert_memory_equal(&s, &back, sizeof s);
  }

  // NaN reads back as NaN
  trpo_stats s = {0}, back;
  s.return_mean = NAN;
  char buf[2048];
  trpo_stats_row(&s, buf, sizeof buf);
  assert_int_equal(trpo_stats_parse(&back, buf), 0);
  assert_true(isnan(back.return_mean) && back.iteration == 0);
}

// malformed rows are refused and leave the struct alone
static void test_stats_parse_errors(void** state) {
  (void)state;
  trpo_stats s = {0}, good;
  s.iteration = 3;
  char row[2048];
  trpo_stats_row(&s, row, sizeof row);
  char header[2048];
  trpo_stats_header(header, sizeof header);

  // too few fields, too many, a non-number, an empty field, trailing text, the header, empty
  char bad[6][2200];
  strcpy(bad[0], row);
  *strrchr(bad[0], ',') = 0;
  snprintf(bad[1], sizeof bad[1], "%s,1", row);
  strcpy(bad[2], row);
  bad[2][0] = 'x';
  strcpy(bad[3], row);
  memmove(bad[3] + 2, bad[3] + 3, strlen(bad[3] + 3) + 1);   // "3,,0,..." : one field empty
  snprintf(bad[4], sizeof bad[4], "%s x", row);
  strcpy(bad[5], "");
  const char* all[] = {bad[0], bad[1], bad[2], bad[3], bad[4], bad[5], header};
  for (int i = 0; i < 7; i++) {
    memcpy(&good, &s, sizeof s);
    assert_int_not_equal(trpo_stats_parse(&good, all[i]), 0);
    assert_memory_equal(&good, &s, sizeof s);
  }
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stats_header),
      cmocka_unit_test(test_stats_round_trip),
      cmocka_unit_test(test_stats_parse_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
