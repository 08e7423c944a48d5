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

// a temporary file holding n bytes of text (NUL bytes too); removed at the end of the program
static const char* file_with_bytes(const char* text, size_t n) {
  assert_true(npath < 128);
  char* p = paths[npath++];
  snprintf(p, 256, "%s/test_config_XXXXXX", TRPO_BINARY_DIR);
  int fd = mkstemp(p);
  assert_true(fd >= 0);
  assert_true(write(fd, text, n) == (ssize_t)n);
  close(fd);
  return p;
}

static const char* file_with(const char* text) { return file_with_bytes(text, strlen(text)); }

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
      "run_dir = /tmp/a;b\n");
  trpo_config c;
  trpo_config_default(&c);
  char* ov[] = {"nenv=16", " max_kl = 0.02 ", "cg_iters=30", "model="};
  char err[512] = "";
  int rc = trpo_config_load(&c, path, 4, ov, err, sizeof err);
  if (rc) printf("%s\n", err);
  assert_int_equal(rc, 0);
  assert_string_equal(c.env, "Hopper-v4");
  assert_true(c.max_kl == 0.02);              // override over the file
  assert_int_equal(c.nenv, 16);               // override over the file
  assert_int_equal(c.cg_iters, 30);
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

// one failing load of n bytes of file text (none: no file): code, message parts, only printable
// ASCII in the message, and the config untouched
static void expect_error_bytes(const char* text, size_t n, int nov, char** ov,
                               const char* const* parts) {
  trpo_config c, before;
  trpo_config_default(&c);
  c.max_kl = 0.03;   // not the default: a failed load must keep it
  memcpy(&before, &c, sizeof c);
  char err[1024] = "";
  const char* path = text ? file_with_bytes(text, n) : NULL;
  int rc = trpo_config_load(&c, path, nov, ov, err, sizeof err);
  printf("  %s\n", err);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  for (const char* p = err; *p; p++) assert_true(*p >= 0x20 && *p < 0x7f);
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

static void expect_error(const char* text, int nov, char** ov, const char* const* parts) {
  expect_error_bytes(text, text ? strlen(text) : 0, nov, ov, parts);
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
               PARTS("command line", "'run_dir'", "'a\\x09b\\x0ac'"));
  expect_error(NULL, 1, (char*[]){"a\nb=1"}, PARTS("command line: unknown key 'a\\x0ab'"));

  // set() directly names its caller's place
  trpo_config_default(&c);
  rc = trpo_config_set(&c, "cg_iters", "0", "resume.ini:7", err, sizeof err);
  assert_int_equal(rc, TRPO_EXIT_BADINPUT);
  assert_string_equal(err,
                      "resume.ini:7: key 'cg_iters': expected an integer in [1, 1000], got '0'");
  assert_int_equal(trpo_config_set(&c, "cg_iters", "1000", "x", err, sizeof err), 0);
  assert_int_equal(c.cg_iters, 1000);
}

// a key given twice is refused, in a file and on the command line: the earlier value would be
// lost unseen (which one was meant?); a command-line value still overrides the file's
static void test_config_duplicates(void** state) {
  (void)state;
  expect_error("nenv = 2\nnenv = 4\n", 0, NULL,
               PARTS("2: key 'nenv' given twice (first on line 1)", "each key once"));
  expect_error("env = a\n# c\n  hidden = 8\nmax_kl = 0.1\nhidden=8\n", 0, NULL,
               PARTS("5:", "'hidden'", "twice", "line 3"));
  expect_error("max_kl = 0.1\nmax_kl = 0.1\n", 0, NULL, PARTS("2:", "'max_kl'", "line 1"));
  expect_error(NULL, 3, (char*[]){"cg_iters=20", "gamma=0.5", " cg_iters = 30"},
               PARTS("command line: key 'cg_iters' given twice ('cg_iters=20', then "
                     "' cg_iters = 30')",
                     "each key once"));
  expect_error("nenv = 2\n", 2, (char*[]){"nenv=3", "nenv=4"},
               PARTS("command line", "'nenv'", "twice"));

  // the file, then the command line: an override, not a duplicate
  trpo_config c;
  trpo_config_default(&c);
  char err[512] = "";
  assert_int_equal(trpo_config_load(&c, file_with("nenv = 2\n"), 1, (char*[]){"nenv=4"}, err,
                                    sizeof err), 0);
  assert_int_equal(c.nenv, 4);

  // from memory too (a checkpoint's stored config)
  trpo_config d;
  trpo_config_default(&c);
  memcpy(&d, &c, sizeof c);
  assert_int_equal(trpo_config_parse(&c, "seed = 7\n\nseed = 8\n", "k.h5 (dataset config)", err,
                                     sizeof err), TRPO_EXIT_BADINPUT);
  printf("  %s\n", err);
  assert_non_null(strstr(err, "k.h5 (dataset config):3: key 'seed' given twice (first on line 1)"));
  assert_config_equal(&c, &d);
}

// a NUL byte would cut its line short unseen ("nenv = 4\0garbage" read as nenv = 4): refused
static void test_config_nul(void** state) {
  (void)state;
  static const char a[] = "nenv = 4\0garbage\n";
  expect_error_bytes(a, sizeof a - 1, 0, NULL, PARTS("1: NUL byte at column 9"));
  static const char b[] = "env = a\nnenv = 4\0";   // the last line, no newline after it
  expect_error_bytes(b, sizeof b - 1, 0, NULL, PARTS("2:", "NUL byte"));
  static const char c[] = "env = a\n# note\0\nnenv = 4\n";   // in a comment too
  expect_error_bytes(c, sizeof c - 1, 0, NULL, PARTS("2:", "NUL byte"));
  static const char d[] = "\0";
  expect_error_bytes(d, 1, 0, NULL, PARTS("1:", "NUL byte at column 1"));
}

// bytes other than printable ASCII are shown as \xNN in messages, never raw (an escape sequence
// in a key would drive the terminal; a stray byte would be invisible)
static void test_config_escapes(void** state) {
  (void)state;
  expect_error("\xff\xfe = 1\n", 0, NULL, PARTS("1:", "unknown key '\\xff\\xfe'"));
  expect_error("env = a\nma\x1b[2Jx = 1\n", 0, NULL, PARTS("2:", "unknown key 'ma\\x1b[2Jx'"));
  expect_error("n\x7f\x80v = 1\n", 0, NULL, PARTS("1:", "unknown key 'n\\x7f\\x80v'"));
  expect_error(NULL, 1, (char*[]){"r\xc3\xa9=1"}, PARTS("command line: unknown key 'r\\xc3\\xa9'"));
  // a section inih still finds (behind a second byte-order mark): its name and key escaped too
  expect_error("\xEF\xBB\xBF\xEF\xBB\xBF[s\xff]=x\nn\x01=2\n", 0, NULL,
               PARTS("2:", "key 'n\\x01' is in section [s\\xff]"));
  expect_error("run_dir = d\xe9j\xe0\x01\n", 0, NULL,
               PARTS("1:", "'run_dir'", "'d\\xe9j\\xe0\\x01'"));

  // a long one is cut whole escapes at a time, with "..."
  static char text[400];
  memset(text, 1, 300);
  strcpy(text + 300, " = 1\n");
  expect_error(text, 0, NULL, PARTS("1:", "unknown key '\\x01\\x01", "\\x01...'"));
  // a printable key of 127 characters is shown whole
  memset(text, 'k', 127);
  strcpy(text + 127, " = 1\n");
  char want[160];
  snprintf(want, sizeof want, "unknown key '%.127s'", text);
  expect_error(text, 0, NULL, PARTS("1:", want));
}

// one row in the whole batch (nenv * nsteps == 1) with norm_adv: the one advantage normalises to
// 0, so every policy gradient is 0; refused at load, naming where each of the three keys came from
static void test_config_cross_keys(void** state) {
  (void)state;
  expect_error(NULL, 2, (char*[]){"nenv=1", "nsteps=1"},
               PARTS("command line", "nenv = 1 (command line)", "nsteps = 1 (command line)",
                     "norm_adv = 1 (default)", "nenv * nsteps >= 2 or norm_adv = 0"));
  expect_error("# c\nnenv = 1\nnsteps = 1\n", 0, NULL,
               PARTS("nenv = 1 (line 2)", "nsteps = 1 (line 3)", "norm_adv = 1 (default)"));
  expect_error("nsteps = 1\nnorm_adv = 1\n", 1, (char*[]){"nenv=1"},
               PARTS("nenv = 1 (command line)", "nsteps = 1 (line 1)", "norm_adv = 1 (line 2)"));

  // without norm_adv, or with two rows, it loads
  const char* ok[][3] = {{"nenv=1", "nsteps=1", "norm_adv=0"}, {"nenv=1", "nsteps=2", "norm_adv=1"},
                         {"nenv=2", "nsteps=1", "norm_adv=1"}};
  for (int i = 0; i < 3; i++) {
    trpo_config c;
    trpo_config_default(&c);
    char err[512] = "";
    int rc = trpo_config_load(&c, NULL, 3, (char**)ok[i], err, sizeof err);
    if (rc) printf("%s\n", err);
    assert_int_equal(rc, 0);
  }
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
  assert_non_null(strstr(buf, "to +-obs_clip (0: no clipping)"));
  free(buf);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_defaults),     cmocka_unit_test(test_config_file_and_overrides),
      cmocka_unit_test(test_config_file_errors),  cmocka_unit_test(test_config_other_errors),
      cmocka_unit_test(test_config_duplicates),   cmocka_unit_test(test_config_nul),
      cmocka_unit_test(test_config_escapes),      cmocka_unit_test(test_config_cross_keys),
      cmocka_unit_test(test_config_round_trip),   cmocka_unit_test(test_config_help),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  cleanup();
  return rc;
}
