// test_adam.c: the first two Adam steps against values worked out by hand, and the bias
// correction's invariant under a constant gradient.

#include "testutil.h"

#include <stdio.h>

// two steps from theta = (1, 1), lr 0.1, gradients (1, -2) then (0.5, 4)
static void test_adam_two_steps(void** state) {
  (void)state;
  trpo_adam a;
  trpo_adam_make(&a, 2, 0.1);
  assert_true(a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8 && a.t == 0);
  double theta[2] = {1, 1};

  // step 1: m = 0.1 g, v = 0.001 g^2; corrected mhat = g, vhat = g^2:
  // theta -= 0.1 g / (|g| + 1e-8)
  trpo_adam_step(&a, theta, (const double[]){1, -2});
  double t0 = 1 - 0.1 * 1 / (1 + 1e-8), t1 = 1 + 0.1 * 2 / (2 + 1e-8);
  assert_true(fabs(theta[0] - t0) <= 1e-15 && fabs(theta[1] - t1) <= 1e-15);
  assert_true(fabs(theta[0] - 0.900000001) <= 1e-15 && fabs(theta[1] - 1.0999999995) <= 1e-15);
  assert_true(a.t == 1);

  // step 2: m = 0.9 m + 0.1 g = (0.14, 0.22), v = 0.999 v + 0.001 g^2 = (0.001249, 0.019996);
  // 1 - 0.9^2 = 0.19, 1 - 0.999^2 = 0.001999, so mhat = (14/19, 22/19) and
  // vhat = (1249/1999, 19996/1999)
  trpo_adam_step(&a, theta, (const double[]){0.5, 4});
  assert_true(fabs(a.m[0] - 0.14) <= 1e-16 && fabs(a.m[1] - 0.22) <= 1e-16);
  assert_true(fabs(a.v[0] - 0.001249) <= 1e-17 && fabs(a.v[1] - 0.019996) <= 1e-16);
  t0 -= 0.1 * (14.0 / 19) / (sqrt(1249.0 / 1999) + 1e-8);
  t1 -= 0.1 * (22.0 / 19) / (sqrt(19996.0 / 1999) + 1e-8);
  printf("theta after two steps: %.17g %.17g\n", theta[0], theta[1]);
  assert_true(fabs(theta[0] - t0) <= 1e-14 && fabs(theta[1] - t1) <= 1e-14);
  // decimal: 0.806782038298..., 1.063389646912...
  assert_true(fabs(theta[0] - 0.8067820382981611) <= 1e-13);
  assert_true(fabs(theta[1] - 1.0633896469121704) <= 1e-13);
  trpo_adam_free(&a);
}

// a constant gradient moves every parameter by lr |g| / (|g| + eps) per step, whatever t
static void test_adam_constant_gradient(void** state) {
  (void)state;
  trpo_adam a;
  trpo_adam_make(&a, 3, 0.01);
  double theta[3] = {0, 0, 0}, g[3] = {3, -0.25, 1e-3};
  for (int t = 1; t <= 200; t++) {
    double before[3] = {theta[0], theta[1], theta[2]};
    trpo_adam_step(&a, theta, g);
    for (int i = 0; i < 3; i++) {
      double want = -0.01 * g[i] / (fabs(g[i]) + 1e-8);
      assert_true(fabs((theta[i] - before[i]) - want) <= 1e-12);
    }
  }
  assert_true(a.t == 200);
  trpo_adam_free(&a);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_adam_two_steps),
      cmocka_unit_test(test_adam_constant_gradient),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
