// test_config.c: config defaults, file, text and override parsing, every error path, write/load.
//
// Config files are written to temporary files; each error case checks the exit code, that the
// message names the file and line (or "command line"), the key and what was expected, and that a
// failed load changed nothing.

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char paths[128][256];
static int npath;

// a temporary file holding text; removed at the end of the program
static const char* file_with(const char* text) {
  assert_true(npath < 128);
  char* p = paths[npath++];
  snprintf(p, 256, "%s/test_config_XXXXXX", TRPO_BINARY_DIR);
  int fd = mkstemp(p);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_true(write(fd, text, n) == (ssize_t)n);
  close(fd);
  return p;
}

static void cleanup(void) {
  for (int i = 0; i < npath; i++) unlink(paths[i]);
}

// fields compared one by one through the key list, plus the parsed layer lists
static void assert_config_equal(const trpo_config* a, const trpo_config* b) {
#define CMP_INT(n) assert_true(a->n == b->n);
#define CMP_LONG(n) assert_true(a->n == b->n);
#define CMP_DOUBLE(n) assert_memory_equal(&a->n, &b->n, sizeof(double));
#define CMP_STR(n) assert_string_equal(a->n, b->n);
#define CMP(type, n, d, l, h, hp) CMP_##type(n)
  TRPO_CONFIG_FIELDS(CMP)
#undef CMP
  assert_int_equal(a->nhidden, b->nhidden);
  assert_int_equal(a->nvf_hidden, b->nvf_hidden);
  assert_memory_equal(a->hidden_sizes, b->hidden_sizes, sizeof a->hidden_sizes);
  assert_memory_equal(a->vf_hidden_sizes, b->vf_hidden_sizes, sizeof a->vf_hidden_sizes);
  assert_memory_equal(a, b, sizeof *a);
}

static void test_config_defaults(void** state) {
  (void)state;
  trpo_config c;
  trpo_config_default(&c);
  assert_string_equal(c.env, "Pendulum-v1");
  assert_string_equal(c.model, "");
  assert_true(c.seed == 1 && c.total_steps == 200000 && c.nenv == 2 && c.nsteps == 1024);
  assert_true(c.max_kl == 0.01 && c.cg_tol == 1e-10 && c.gamma == 0.99 && c.lam == 0.95);
  assert_int_equal(c.nhidden, 2);
  assert_true(c.hidden_sizes[0] == 64 && c.hidden_sizes[1] == 64 && c.hidden_sizes[2] == 0);
  assert_int_equal(c.nvf_hidden, 2);
  assert_true(c.quiet == 0 && c.obs_norm == 1 && c.keep_checkpoints == 3);
}

// a file with comments, blanks, indentation, inline comments and CRLF ends; overrides win
static void test_config_file_and_overrides(void** state) {
  (void)state;
  const char* path = file_with(
      "\xEF\xBB\xBF# a comment after a byte-order mark\n"
      "; another\n"
      "\n"
      "env = Hopper-v4\n"
      "   max_kl = 0.05\n"
      "\tnenv=8 ; inline comment\n"
      "hidden = 128, 32 ,16\n"
      "vf_hidden =\n"
      "seed = 4294967295\r\n"
      "gamma = 1\n"
      "run_dir = /tmp/a;b\n"
      "max_kl = 0.04\n");
  trpo_config c;
  trpo_config_default(&c);
  char* ov[] = {"nenv=16", " max_kl = 0.02 ", "cg_iters=20", "cg_iters=30", "model="};
  char err[512] = "";
  int rc = trpo_config_load(&c, path, 5, ov, err, sizeof err);
  if (rc) printf("%s\n", err);
  assert_int_equal(rc, 0);
  assert_string_equal(c.env, "Hopper-v4");
  assert_true(c.max_kl == 0.02);              // override over the file's two lines
  assert_int_equal(c.nenv, 16);               // override over the file
  assert_int_equal(c.cg_iters, 30);           // later override over earlier
  assert_true(c.seed == 4294967295L && c.gamma == 1);
  assert_string_equal(c.run_dir, "/tmp/a;b"); // ';' without a blank before it is text
  assert_string_equal(c.hidden, "128, 32 ,16");
  assert_int_equal(c.nhidden, 3);
  assert_true(c.hidden_sizes[0] == 128 && c.hidden_sizes[1] == 32 && c.hidden_sizes[2] == 16);
  assert_int_equal(c.nvf_hidden, 0);
  assert_string_equal(c.model, "");

  // no file: overrides only
  trpo_config d;
  trpo_config_default(&d);
  char* ov2[] = {"gamma=0.5"};
  assert_int_equal(trpo_config_load(&d, NULL, 1, ov2, err, sizeof err), 0);
  assert_true(d.gamma == 0.5);
}

// one failing load: code, message parts, and the config untouched
static void expect_error(const char* text, int nov, char** ov, const char* const* parts) {
  trpo_config c, before;
  trpo_config_default(&c);
  c.max_kl = 0.03;   // not the default: a failed load must keep it
  memcpy(&before, &c, sizeof c);
  char err[1024] = "";
  const char* path = text ? file_with(text) : NULL;
  int rc = trpo_config_load(&c, path, nov, ov, err, sizeof err);
  printf("  %s\n", err);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  assert_null(strchr(err, '\n'));
  for (int i = 0; parts[i]; i++) {
    if (!strstr(err, parts[i])) printf("  missing: %s\n", parts[i]);
    assert_non_null(strstr(err, parts[i]));
  }
  if (path) {
    // "path:line" of the file (line given as the first part)
    char where[300];
    snprintf(where, sizeof where, "%s:%s", path, parts[0]);
    if (parts[0][0] >= '0' && parts[0][0] <= '9') assert_non_null(strstr(err, where));
  }
  assert_memory_equal(&c, &before, sizeof c);
}

#define PARTS(...) ((const char* const[]){__VA_ARGS__, NULL})

static void test_config_file_errors(void** state) {
  (void)state;
  // bad numbers: not a number, out of range, not finite, trailing text
  expect_error("env = x\n\nmax_kl = abc\n", 0, NULL,
               PARTS("3: key 'max_kl': expected a number in [1e-08, 10], got 'abc'"));
  expect_error("max_kl = 11\n", 0, NULL, PARTS("1:", "'max_kl'", "[1e-08, 10]", "'11'"));
  expect_error("max_kl = 0\n", 0, NULL, PARTS("1:", "'max_kl'", "[1e-08, 10]"));
  expect_error("gamma = nan\n", 0, NULL, PARTS("1:", "'gamma'", "number", "'nan'"));
  expect_error("gamma = inf\n", 0, NULL, PARTS("1:", "'gamma'", "'inf'"));
  // (strtod overflows here: no trap for this one)
  trpo_test_notraps();
  expect_error("damping = 1e999\n", 0, NULL, PARTS("1:", "'damping'", "'1e999'"));
  feclearexcept(FE_ALL_EXCEPT);
  trpo_test_traps();
  expect_error("gamma = 0.5x\n", 0, NULL, PARTS("1:", "'gamma'", "'0.5x'"));
  expect_error("gamma =\n", 0, NULL, PARTS("1:", "'gamma'", "got ''"));

  // bad integers: fraction, exponent, range, overflow, trailing text
  expect_error("nenv = 2.5\n", 0, NULL,
               PARTS("1: key 'nenv': expected an integer in [1, 1000000], got '2.5'"));
  expect_error("nenv = 1e3\n", 0, NULL, PARTS("1:", "'nenv'", "integer"));
  expect_error("# c\nnenv = 0\n", 0, NULL, PARTS("2:", "'nenv'", "[1, 1000000]"));
  expect_error("seed = -1\n", 0, NULL, PARTS("1:", "'seed'", "[0, 4294967295]"));
  expect_error("seed = 4294967296\n", 0, NULL, PARTS("1:", "'seed'", "[0, 4294967295]"));
  expect_error("seed = 99999999999999999999999\n", 0, NULL, PARTS("1:", "'seed'"));
  expect_error("quiet = 1 2\n", 0, NULL, PARTS("1:", "'quiet'", "'1 2'"));
  expect_error("total_steps = 1000000000000001\n", 0, NULL, PARTS("1:", "'total_steps'"));

  // unknown key, section header, line without '=', "key: value"
  expect_error("env = a\nmaxkl = 0.1\n", 0, NULL, PARTS("2:", "unknown key 'maxkl'"));
  expect_error("env = a\n[trpo]\nmax_kl = 0.1\n", 0, NULL, PARTS("2:", "section", "[trpo]"));
  expect_error("env = a\n  [trpo]\n", 0, NULL, PARTS("2:", "section"));
  expect_error("env = a\nmax_kl 0.1\n", 0, NULL,
               PARTS("2:", "expected 'key = value'", "max_kl 0.1"));
  expect_error("max_kl: 0.1\n", 0, NULL, PARTS("1:", "expected 'key = value'"));

  // layer lists
  const char* bad_layers[] = {"64,,64", "0", "100001", "1,2,3,4,5,6,7,8", "a", "64,", ",64",
                              "64;64", "-5", "64 64"};
  for (size_t i = 0; i < sizeof bad_layers / sizeof bad_layers[0]; i++) {
    char text[64];
    snprintf(text, sizeof text, "vf_hidden = %s\n", bad_layers[i]);
    expect_error(text, 0, NULL, PARTS("1:", "'vf_hidden'", "layer sizes"));
  }

  // strings: too long, inline-comment hazard handled by inih, control characters
  static char text[1200];
  strcpy(text, "run_dir = ");
  for (int i = 0; i < 600; i++) strcat(text, "d");
  strcat(text, "\n");
  expect_error(text, 0, NULL, PARTS("1:", "'run_dir'", "at most 511 characters"));

  // a line too long for any value
  static char huge[6000];
  strcpy(huge, "env = a\nmodel = ");
  for (int i = 0; i < 5000; i++) strcat(huge, "m");
  strcat(huge, "\n");
  expect_error(huge, 0, NULL, PARTS("2:", "line longer than"));
}

static void test_config_other_errors(void** state) {
  (void)state;
  // a file that does not exist
  trpo_config c;
  trpo_config_default(&c);
  char err[512];
  int rc = trpo_config_load(&c, "/nonexistent/x.ini", 0, NULL, err, sizeof err);
  printf("  %s\n", err);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  assert_string_equal(err,
                      "cannot open config file '/nonexistent/x.ini': No such file or directory");

  // overrides: no '=', unknown key, bad value, bad value after a good file
  expect_error(NULL, 1, (char*[]){"max_kl"}, PARTS("command line", "key=value", "'max_kl'"));
  expect_error(NULL, 2, (char*[]){"gamma=0.5", "maxkl=1"},
               PARTS("command line: unknown key 'maxkl'"));
  expect_error(NULL, 1, (char*[]){"nsteps=-4"},
               PARTS("command line: key 'nsteps': expected an integer in [1, 10000000], got '-4'"));
  expect_error("gamma = 0.5\n", 1, (char*[]){"hidden=64,x"},
               PARTS("command line", "'hidden'", "'64,x'"));
  expect_error(NULL, 1, (char*[]){"=5"}, PARTS("command line", "unknown key ''"));

  // strings that would not survive a write and reload
  expect_error(NULL, 1, (char*[]){"run_dir=a ;b"}, PARTS("command line", "'run_dir'", "';'"));
  expect_error(NULL, 1, (char*[]){"run_dir=a\tb\nc"},
               PARTS("command line", "'run_dir'", "'a?b?c'"));
  expect_error(NULL, 1, (char*[]){"a\nb=1"}, PARTS("command line: unknown key 'a?b'"));

  // set() directly names its caller's place
  trpo_config_default(&c);
  rc = trpo_config_set(&c, "cg_iters", "0", "resume.ini:7", err, sizeof err);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  assert_string_equal(err,
                      "resume.ini:7: key 'cg_iters': expected an integer in [1, 1000], got '0'");
  assert_int_equal(trpo_config_set(&c, "cg_iters", "1000", "x", err, sizeof err), 0);
  assert_int_equal(c.cg_iters, 1000);
}

// write -> load gives an identical struct, for defaults and for awkward values
static void test_config_round_trip(void** state) {
  (void)state;
  trpo_config a, b;
  trpo_config_default(&a);
  static char longdir[520];
  memset(longdir, 'r', 500);
  longdir[0] = '/';
  longdir[500] = 0;
  char* ov[] = {"env=Humanoid-v4",       "model=/x/my model.xml", "seed=4294967295",
                "total_steps=123456789012", "hidden=7",          "vf_hidden=",
                "init_logstd=-0.0",       "max_kl=0.30000000000000004", "damping=1e-300",
                "cg_tol=0",               "gamma=0.98999999999999999", "lam=1",
                "vf_lr=3.0000000000000001e-4", "obs_clip=1e9", "quiet=1",
                "checkpoint_minutes=4.9e-324"};
  char err[512] = "";
  int nov = (int)(sizeof ov / sizeof ov[0]);
  assert_int_equal(trpo_config_load(&a, NULL, nov, ov, err, sizeof err), 0);
  assert_int_equal(trpo_config_set(&a, "run_dir", longdir, NULL, err, sizeof err), 0);
  assert_true(signbit(a.init_logstd));

  // defaults, then the awkward config
  for (int pass = 0; pass < 2; pass++) {
    trpo_config src;
    if (pass == 0) trpo_config_default(&src);
    else memcpy(&src, &a, sizeof a);
    static char text[8192];
    size_t n = trpo_config_write(&src, text, sizeof text);
    assert_true(n == strlen(text) && n < sizeof text);
    if (pass == 1) printf("%s", text);

    // every key once, as "key = value"
    assert_non_null(strstr(text, "max_kl = "));
    assert_non_null(strstr(text, "\nquiet = "));
    trpo_config_default(&b);
    const char* path = file_with(text);
    int rc = trpo_config_load(&b, path, 0, NULL, err, sizeof err);
    if (rc) printf("%s\n", err);
    assert_int_equal(rc, 0);
    assert_config_equal(&src, &b);
    // the same text from memory (a checkpoint's stored config)
    trpo_config_default(&b);
    rc = trpo_config_parse(&b, text, "ckpt.h5 (dataset config)", err, sizeof err);
    if (rc) printf("%s\n", err);
    assert_int_equal(rc, 0);
    assert_config_equal(&src, &b);
  }

  // from memory, errors name the text's source and line, and change nothing
  trpo_config c, c0;
  trpo_config_default(&c);
  memcpy(&c0, &c, sizeof c);
  const char* name = "d/ckpt-000000003.h5 (dataset config)";
  assert_int_equal(trpo_config_parse(&c, "seed = 7\nbogus = 2\n", name, err, sizeof err),
                   TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, "d/ckpt-000000003.h5 (dataset config):2"));
  assert_non_null(strstr(err, "bogus"));
  assert_config_equal(&c, &c0);
  assert_int_equal(trpo_config_parse(&c, "", "e.h5 (dataset config)", err, sizeof err),
                   TRPO_EXIT_BADINPUT);
  assert_non_null(strstr(err, "e.h5 (dataset config): the config is empty"));
  assert_config_equal(&c, &c0);

  // a short buffer: truncated and terminated, the full length returned
  char small[40];
  size_t full = trpo_config_write(&a, NULL, 0);
  size_t n = trpo_config_write(&a, small, sizeof small);
  assert_true(n == full && n > sizeof small);
  assert_int_equal(strlen(small), sizeof small - 1);
}

// the help table lists every key with its default and range
static void test_config_help(void** state) {
  (void)state;
  char* buf = NULL;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  assert_non_null(f);
  trpo_config_help(f);
  fclose(f);
#define HAS(type, n, d, l, h, hp) assert_non_null(strstr(buf, #n " "));
  TRPO_CONFIG_FIELDS(HAS)
#undef HAS
  assert_non_null(strstr(buf, "[1e-08, 10]"));
  assert_non_null(strstr(buf, "Pendulum-v1"));
  assert_non_null(strstr(buf, "[0, 4294967295]"));
  assert_non_null(strstr(buf, "trust region radius"));
  free(buf);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_defaults),     cmocka_unit_test(test_config_file_and_overrides),
      cmocka_unit_test(test_config_file_errors),  cmocka_unit_test(test_config_other_errors),
      cmocka_unit_test(test_config_round_trip),   cmocka_unit_test(test_config_help),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  cleanup();
  return rc;
}
