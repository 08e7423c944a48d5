// test_checkpoint.c: HDF5 checkpoints: bitwise round trip, h5dump-readable files, pruning, and
// every way a file can be unusable (a flipped data bit, a flipped metadata bit, truncated,
// empty, another format version, another shape), write failures (file size limit, a path through
// a regular file, a rename onto a directory), kill -9 during writes, and one bit changed in every
// byte of a file in turn (no change may load other data, crash or hang).
//
// The test does not include <hdf5.h>: files are damaged at the byte level. The format-version
// case patches the attribute value and recomputes the object header's Jenkins lookup3 checksum,
// after checking that the same code reproduces the stored checksum.

#define _POSIX_C_SOURCE 200809L

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// LeakSanitizer (TRPO_SANITIZE builds): HDF5 1.10.8 itself leaks a few hundred bytes when a
// metadata checksum fails on read (seen in a one-file reproduction); that is not our leak
const char* __lsan_default_suppressions(void);
const char* __lsan_default_suppressions(void) { return "leak:libhdf5\n"; }

#define NITEM 8
#define NBIG 20000

//---------------------------------- fixtures -------------------------------------------------------

// one value of every kind the trainer stores
typedef struct fix_ {
  size_t nbig;
  double* big;        // policy/theta (nbig), pattern from the seed
  double b[3 * 4];    // vf/net/b (3 x 4)
  int64_t c[4];       // counters/c (4): extremes
  uint64_t d[2 * 3];  // rng/state (2 x 3)
  double s[6];        // scalars (6): -0, inf, NaN with payload, denormal, max, seed
  double z[1];        // data pointer of the zero-size items (never read or written)
} fix;

static void fixmake(fix* f, size_t nbig) {
  memset(f, 0, sizeof *f);
  f->nbig = nbig;
  f->big = trpo_alloc(nbig * sizeof(double) + 8);
}

static void fixfree(fix* f) { trpo_alloc_free(f->big); }

static double frombits(uint64_t u) {
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

// values determined by seed
static void fill(fix* f, uint64_t seed) {
  trpo_rng r;
  trpo_rng_seed(&r, seed, TRPO_RNG_GLOBAL, TRPO_RNG_INIT);
  for (size_t i = 0; i < f->nbig; i++) f->big[i] = trpo_rng_range(&r, -1, 1);
  for (int i = 0; i < 12; i++) f->b[i] = trpo_rng_range(&r, -1e6, 1e6);
  f->c[0] = INT64_MIN;
  f->c[1] = INT64_MAX;
  f->c[2] = -1;
  f->c[3] = (int64_t)seed;
  f->d[0] = UINT64_MAX;
  f->d[1] = 0;
  for (int i = 2; i < 6; i++) f->d[i] = trpo_rng_next(&r);
  f->s[0] = frombits(UINT64_C(0x8000000000000000));   // -0
  f->s[1] = frombits(UINT64_C(0x7FF0000000000000));   // inf
  f->s[2] = frombits(UINT64_C(0x7FF8000000ABCDEF));   // quiet NaN with a payload
  f->s[3] = frombits(UINT64_C(0x0000000000000001));   // smallest denormal
  f->s[4] = frombits(UINT64_C(0x7FEFFFFFFFFFFFFF));   // largest finite
  f->s[5] = (double)seed;
}

// bitwise equality of everything stored
static int fixequal(const fix* a, const fix* b) {
  return a->nbig == b->nbig && !memcmp(a->big, b->big, a->nbig * sizeof(double)) &&
         !memcmp(a->b, b->b, sizeof a->b) && !memcmp(a->c, b->c, sizeof a->c) &&
         !memcmp(a->d, b->d, sizeof a->d) && !memcmp(a->s, b->s, sizeof a->s);
}

#define V_TRANSPOSE 1   // vf/net/b stored as 4 x 3
#define V_UNSIGNED 2    // counters/c stored as uint64

// the item list over f; variants change one shape or type
static void mkitems(trpo_ckptitem* it, fix* f, int variant) {
  trpo_ckptitem l[NITEM] = {
      {"policy/theta", "policy parameters theta", TRPO_CKPT_F64, 1, {f->nbig, 0}, f->big},
      {"vf/net/b", "value net weights", TRPO_CKPT_F64, 2, {3, 4}, f->b},
      {"counters/c", "integer counters", TRPO_CKPT_I64, 1, {4, 0}, f->c},
      {"rng/state", "generator words", TRPO_CKPT_U64, 2, {2, 3}, f->d},
      {"scalars", "special values", TRPO_CKPT_F64, 1, {6, 0}, f->s},
      {"empty/z1", "zero-size 1-D", TRPO_CKPT_F64, 1, {0, 0}, f->z},
      {"empty/z2", "zero-size 0 x 3", TRPO_CKPT_F64, 2, {0, 3}, f->z},
      {"empty/z3", "zero-size 2 x 0", TRPO_CKPT_I64, 2, {2, 0}, f->z},
  };
  if (variant & V_TRANSPOSE) l[1].dims[0] = 4, l[1].dims[1] = 3;
  if (variant & V_UNSIGNED) l[2].type = TRPO_CKPT_U64;
  memcpy(it, l, sizeof l);
}

static const char* CONFIG = "env = Pendulum-v1\nseed = 3\nhidden = 64,64\n";

// write checkpoint `iteration` of a fixture filled from seed `iteration`
static int writeseed(const char* dir, long iteration, size_t nbig, int variant, int keep,
                     char* err, size_t nerr) {
  fix f;
  fixmake(&f, nbig);
  fill(&f, (uint64_t)iteration);
  trpo_ckptitem it[NITEM];
  mkitems(it, &f, variant);
  trpo_ckptattr at[2] = {{"trpo_version", "0.1.0"}, {"git_commit", "abc1234def"}};
  int rc = trpo_checkpoint_write(dir, iteration, it, NITEM, at, 2, CONFIG, keep, err, nerr);
  fixfree(&f);
  return rc;
}

// report lines collected from trpo_checkpoint_read
typedef struct lines_ {
  int n;
  char s[8][1024];
} lines;

static void collect(void* ctx, const char* line) {
  lines* l = ctx;
  if (l->n < 8) snprintf(l->s[l->n], sizeof l->s[0], "%s", line);
  l->n++;
}

// read dir expecting the standard shapes with nbig; loads into g, the stored config into cfg (256)
static int readcfg(const char* dir, fix* g, long* iteration, lines* l, char* cfg, char* err,
                   size_t nerr) {
  trpo_ckptitem it[NITEM];
  mkitems(it, g, 0);
  char path[4096];
  memset(l, 0, sizeof *l);
  return trpo_checkpoint_read(dir, it, NITEM, iteration, path, sizeof path, cfg, 256, collect, l,
                              err, nerr);
}

static int readinto(const char* dir, fix* g, long* iteration, lines* l, char* err, size_t nerr) {
  char cfg[256];
  return readcfg(dir, g, iteration, l, cfg, err, nerr);
}

// the read (theta of nbig) loads checkpoint `want` (seed want) after exactly `nreport` reports
static void expectload(const char* dir, size_t nbig, long want, int nreport, lines* l) {
  fix g, ref;
  fixmake(&g, nbig);
  fixmake(&ref, nbig);
  fill(&ref, (uint64_t)want);
  long iteration = -1;
  char err[1024] = "";
  int rc = readinto(dir, &g, &iteration, l, err, sizeof err);
  for (int i = 0; i < l->n && i < 8; i++) print_message("  report: %s\n", l->s[i]);
  assert_int_equal(rc, 0);
  assert_int_equal(iteration, want);
  assert_int_equal(l->n, nreport);
  assert_true(fixequal(&g, &ref));
  fixfree(&g);
  fixfree(&ref);
}

//---------------------------------- files ----------------------------------------------------------

static void newdir(char* dir) {
  snprintf(dir, 64, "/tmp/trpo_ckpt_XXXXXX");
  assert_non_null(mkdtemp(dir));
}

static void rmtree(const char* dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void ckptpath(char* p, size_t n, const char* dir, long iteration) {
  snprintf(p, n, "%s/ckpt-%09ld.h5", dir, iteration);
}

static int exists(const char* p) {
  struct stat st;
  return stat(p, &st) == 0;
}

// whole file into a trpo_alloc buffer
static unsigned char* slurp(const char* p, size_t* n) {
  FILE* f = fopen(p, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* b = trpo_alloc((size_t)len + 1);
  assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void spit(const char* p, const unsigned char* b, size_t n) {
  FILE* f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

// offset of the only occurrence of needle in hay (fails if absent or repeated)
static size_t findonce(const unsigned char* hay, size_t n, const void* needle, size_t k) {
  size_t at = (size_t)-1;
  int hits = 0;
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp(hay + i, needle, k)) at = i, hits++;
  assert_int_equal(hits, 1);
  return at;
}

// number of "*.tmp" entries in dir
static int ntmp(const char* dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp$'", dir);
  FILE* p = popen(cmd, "r");
  int n = -1;
  assert_int_equal(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

//---------------------------------- round trip and format -----------------------------------------

static void test_roundtrip(void** state) {
  (void)state;
  char dir[64], err[1024] = "";
  newdir(dir);
  assert_int_equal(writeseed(dir, 7, NBIG, 0, 3, err, sizeof err), 0);
  // everything back bitwise, with iteration, path and config
  fix g, ref;
  fixmake(&g, NBIG);
  fixmake(&ref, NBIG);
  fill(&ref, 7);
  trpo_ckptitem it[NITEM];
  mkitems(it, &g, 0);
  long iteration = -1;
  char path[4096], want[4096], cfg[256];
  lines l = {0};
  int rc = trpo_checkpoint_read(dir, it, NITEM, &iteration, path, sizeof path, cfg, sizeof cfg,
                                collect, &l, err, sizeof err);
  assert_int_equal(rc, 0);
  assert_int_equal(iteration, 7);
  ckptpath(want, sizeof want, dir, 7);
  assert_string_equal(path, want);
  assert_string_equal(cfg, CONFIG);
  assert_int_equal(l.n, 0);
  assert_true(fixequal(&g, &ref));
  // the oracle can fail: one changed bit is seen
  g.s[2] = frombits(UINT64_C(0x7FF8000000ABCDEE));
  assert_false(fixequal(&g, &ref));
  // a short config buffer gets a NUL-terminated prefix; no buffer at all is fine
  char small[5];
  rc = trpo_checkpoint_read(dir, it, NITEM, &iteration, NULL, 0, small, sizeof small, NULL, NULL,
                            err, sizeof err);
  assert_int_equal(rc, 0);
  assert_string_equal(small, "env ");
  rc = trpo_checkpoint_read(dir, it, NITEM, NULL, NULL, 0, NULL, 0, NULL, NULL, err, sizeof err);
  assert_int_equal(rc, 0);
  // the library version string
  assert_int_equal(strncmp(trpo_checkpoint_libversion(), "hdf5 1.", 7), 0);
  fixfree(&g);
  fixfree(&ref);
  rmtree(dir);
}

// the two steps apart, as rank 0's writer thread uses them: the image touches no file; the
// items may change after it is built (the file has the state at build time); put publishes it,
// and a put that fails names the file and the system error
static void test_image_put(void** state) {
  (void)state;
  char dir[64], err[1024] = "", p[4096];
  newdir(dir);
  fix f, g, ref;
  fixmake(&f, NBIG);
  fixmake(&g, NBIG);
  fixmake(&ref, NBIG);
  fill(&f, 9);
  fill(&ref, 9);
  trpo_ckptitem it[NITEM];
  mkitems(it, &f, 0);
  trpo_ckptattr at[1] = {{"trpo_version", "0.1.0"}};
  trpo_ckptimage im;
  assert_int_equal(trpo_checkpoint_image(dir, 9, it, NITEM, at, 1, CONFIG, &im, err, sizeof err), 0);
  assert_non_null(im.data);
  assert_true(im.size > NBIG * sizeof(double));
  assert_int_equal(im.iteration, 9);
  DIR* d = opendir(dir);
  int files = 0;
  for (struct dirent* e; (e = readdir(d));) files += e->d_name[0] != '.';
  closedir(d);
  assert_int_equal(files, 0);
  fill(&f, 10);   // the next iteration's state, after the hand-over
  assert_int_equal(trpo_checkpoint_put(dir, &im, 3, err, sizeof err), 0);
  trpo_checkpoint_image_free(&im);
  assert_null(im.data);
  ckptpath(p, sizeof p, dir, 9);
  assert_int_equal(access(p, F_OK), 0);
  mkitems(it, &g, 0);
  long iteration = -1;
  assert_int_equal(trpo_checkpoint_read(dir, it, NITEM, &iteration, NULL, 0, NULL, 0, NULL, NULL,
                                        err, sizeof err), 0);
  assert_int_equal(iteration, 9);
  assert_true(fixequal(&g, &ref));
  // put into a path that cannot hold it: the error names the file and the system error
  mkitems(it, &f, 0);
  assert_int_equal(trpo_checkpoint_image(dir, 11, it, NITEM, at, 1, CONFIG, &im, err, sizeof err), 0);
  snprintf(p, sizeof p, "%s/missing/sub", dir);
  assert_int_equal(trpo_checkpoint_put(p, &im, 3, err, sizeof err), TRPO_EXIT_IOERROR);
  print_message("  err: %s\n", err);
  assert_non_null(strstr(err, "missing/sub/ckpt-000000011.h5.tmp"));
  assert_non_null(strstr(err, strerror(ENOENT)));
  trpo_checkpoint_image_free(&im);
  fixfree(&f);
  fixfree(&g);
  fixfree(&ref);
  rmtree(dir);
}

static void test_h5dump(void** state) {
  (void)state;
  char dir[64], err[1024] = "", p[4096], out[4200], cmd[9000];
  newdir(dir);
  assert_int_equal(writeseed(dir, 3, 100, 0, 3, err, sizeof err), 0);
  // h5dump reads the whole file (data, attributes, filters) and exits 0
  ckptpath(p, sizeof p, dir, 3);
  snprintf(out, sizeof out, "%s/dump.txt", dir);
  snprintf(cmd, sizeof cmd, "h5dump -p '%s' > '%s' 2>&1", p, out);
  int rc = system(cmd);
  assert_true(WIFEXITED(rc));
  assert_int_equal(WEXITSTATUS(rc), 0);
  // and shows what we wrote
  size_t n;
  char* text = (char*)slurp(out, &n);
  text[n] = 0;
  const char* want[] = {"GROUP \"policy\"", "DATASET \"theta\"", "policy parameters theta",
                        "ATTRIBUTE \"format_version\"", "ATTRIBUTE \"git_commit\"",
                        "abc1234def", "FLETCHER32", "DATASET \"config\"", "zero-size 0 x 3"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (!strstr(text, want[i])) print_message("h5dump output lacks %s\n", want[i]);
    assert_non_null(strstr(text, want[i]));
  }
  trpo_alloc_free(text);
  rmtree(dir);
}

static void test_prune(void** state) {
  (void)state;
  char dir[64], err[1024] = "", p[4096];
  newdir(dir);
  // keep 3 of 1..6
  for (long i = 1; i <= 6; i++) assert_int_equal(writeseed(dir, i, 10, 0, 3, err, sizeof err), 0);
  for (long i = 1; i <= 6; i++) {
    ckptpath(p, sizeof p, dir, i);
    assert_int_equal(exists(p), i >= 4);
  }
  // a stale .tmp goes; files that are not checkpoints stay
  const char* other[] = {"ckpt-000000099.h5.tmp", "notes.txt", "ckpt-5.h5"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, other[i]);
    spit(p, (const unsigned char*)"x", 1);
  }
  assert_int_equal(writeseed(dir, 7, 10, 0, 3, err, sizeof err), 0);
  assert_int_equal(ntmp(dir), 0);
  for (int i = 1; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, other[i]);
    assert_true(exists(p));
  }
  ckptpath(p, sizeof p, dir, 4);
  assert_false(exists(p));
  // writing an older iteration never removes that one
  assert_int_equal(writeseed(dir, 2, 10, 0, 1, err, sizeof err), 0);
  ckptpath(p, sizeof p, dir, 2);
  assert_true(exists(p));
  for (long i = 3; i <= 7; i++) {
    ckptpath(p, sizeof p, dir, i);
    assert_false(exists(p));
  }
  rmtree(dir);
}

//---------------------------------- unusable files -------------------------------------------------

// damage ckpt-<iteration> by flipping one bit at the only place the marker occurs (+ skip)
static void flip(const char* dir, long iteration, const void* marker, size_t k, size_t skip) {
  char p[4096];
  ckptpath(p, sizeof p, dir, iteration);
  size_t n;
  unsigned char* b = slurp(p, &n);
  size_t at = findonce(b, n, marker, k) + skip;
  b[at] ^= 0x10;
  spit(p, b, n);
  trpo_alloc_free(b);
}

static void test_flip_data(void** state) {
  (void)state;
  char dir[64], err[1024] = "", want[4200];
  newdir(dir);
  assert_int_equal(writeseed(dir, 1, NBIG, 0, 3, err, sizeof err), 0);
  assert_int_equal(writeseed(dir, 2, NBIG, 0, 3, err, sizeof err), 0);
  // one bit in the middle of theta of checkpoint 2
  fix f;
  fixmake(&f, NBIG);
  fill(&f, 2);
  flip(dir, 2, f.big + 5000, 32, 13);
  fixfree(&f);
  // rejected with a checksum message in the documented form; checkpoint 1 loaded
  lines l;
  expectload(dir, NBIG, 1, 1, &l);
  snprintf(want, sizeof want, "checkpoint %s/ckpt-000000002.h5 unusable: dataset policy/theta",
           dir);
  assert_int_equal(strncmp(l.s[0], want, strlen(want)), 0);
  assert_non_null(strstr(l.s[0], "checksum"));
  const char* tail = "; trying ckpt-000000001.h5";
  assert_string_equal(l.s[0] + strlen(l.s[0]) - strlen(tail), tail);
  rmtree(dir);
}

static void test_flip_metadata(void** state) {
  (void)state;
  char dir[64], err[1024] = "";
  newdir(dir);
  for (long i = 1; i <= 3; i++) assert_int_equal(writeseed(dir, i, 100, 0, 3, err, sizeof err), 0);
  // a dataset's description (its object header) and a file attribute (the root group's header)
  flip(dir, 3, "policy parameters theta", 23, 3);
  flip(dir, 2, "abc1234def", 10, 4);
  lines l;
  expectload(dir, 100, 1, 2, &l);
  assert_non_null(strstr(l.s[0], "ckpt-000000003.h5 unusable"));
  assert_non_null(strstr(l.s[1], "ckpt-000000002.h5 unusable"));
  for (int i = 0; i < 2; i++) assert_non_null(strstr(l.s[i], "checksum"));
  rmtree(dir);
}

static void test_truncated_empty(void** state) {
  (void)state;
  char dir[64], err[1024] = "", p[4096];
  newdir(dir);
  for (long i = 1; i <= 3; i++) assert_int_equal(writeseed(dir, i, NBIG, 0, 3, err, sizeof err), 0);
  // 3 cut in half, 2 emptied
  struct stat st;
  ckptpath(p, sizeof p, dir, 3);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(truncate(p, st.st_size / 2), 0);
  ckptpath(p, sizeof p, dir, 2);
  assert_int_equal(truncate(p, 0), 0);
  lines l;
  expectload(dir, NBIG, 1, 2, &l);
  assert_non_null(strstr(l.s[0], "ckpt-000000003.h5 unusable: cannot open"));
  assert_non_null(strstr(l.s[0], "trying ckpt-000000002.h5"));
  assert_non_null(strstr(l.s[1], "ckpt-000000002.h5 unusable: cannot open"));
  rmtree(dir);
}

// Jenkins lookup3 hashlittle, initval 0: HDF5's metadata checksum
static uint32_t rot32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
static uint32_t word(const unsigned char* k) {
  return (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
}
static uint32_t lookup3(const unsigned char* k, size_t len) {
  uint32_t a, b, c;
  a = b = c = 0xdeadbeefu + (uint32_t)len;
  // 12-byte blocks but the last, mixed
  while (len > 12) {
    a += word(k), b += word(k + 4), c += word(k + 8);
    a -= c, a ^= rot32(c, 4), c += b;
    b -= a, b ^= rot32(a, 6), a += c;
    c -= b, c ^= rot32(b, 8), b += a;
    a -= c, a ^= rot32(c, 16), c += b;
    b -= a, b ^= rot32(a, 19), a += c;
    c -= b, c ^= rot32(b, 4), b += a;
    len -= 12, k += 12;
  }
  if (len == 0) return c;
  // the last block, zero-padded, and the final mix
  unsigned char t[12] = {0};
  memcpy(t, k, len);
  a += word(t), b += word(t + 4), c += word(t + 8);
  c ^= b, c -= rot32(b, 14);
  a ^= c, a -= rot32(c, 11);
  b ^= a, b -= rot32(a, 25);
  c ^= b, c -= rot32(b, 16);
  a ^= c, a -= rot32(c, 4);
  b ^= a, b -= rot32(a, 14);
  c ^= b, c -= rot32(b, 24);
  return c;
}

// change format_version of ckpt-<iteration> from `from` to `to`, keeping the root object header's checksum valid
static void setversion(const char* dir, long iteration, int from, int to) {
  char p[4096];
  ckptpath(p, sizeof p, dir, iteration);
  size_t n;
  unsigned char* b = slurp(p, &n);
  // the attribute message (version 3): 9 bytes of header, then name, datatype, dataspace, data
  size_t name = findonce(b, n, "format_version", 15);
  const unsigned char* m = b + name - 9;
  assert_int_equal(m[0], 3);
  assert_int_equal(m[2] | m[3] << 8, 15);
  size_t data = name + 15 + (size_t)(m[4] | m[5] << 8) + (size_t)(m[6] | m[7] << 8);
  assert_int_equal(word(b + data), from);
  // the object header (v2) that holds it: "OHDR", version, flags, optional fields, chunk size
  size_t h = name;
  while (h > 0 && memcmp(b + h, "OHDR", 4)) h--;
  assert_memory_equal(b + h, "OHDR", 4);
  unsigned flags = b[h + 5];
  size_t at = h + 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
  size_t width = (size_t)1 << (flags & 3), size = 0;
  for (size_t i = 0; i < width; i++) size |= (size_t)b[at + i] << (8 * i);
  size_t end = at + width + size;
  assert_true(data + 4 <= end && end + 4 <= n);
  // our checksum reproduces the stored one, so the patched file is valid but for the version
  assert_int_equal(lookup3(b + h, end - h), word(b + end));
  b[data] = (unsigned char)to;
  uint32_t c = lookup3(b + h, end - h);
  for (int i = 0; i < 4; i++) b[end + i] = (unsigned char)(c >> (8 * i));
  spit(p, b, n);
  trpo_alloc_free(b);
}

static void test_format_version(void** state) {
  (void)state;
  char dir[64], err[1024] = "";
  newdir(dir);
  for (long i = 1; i <= 2; i++) assert_int_equal(writeseed(dir, i, 100, 0, 3, err, sizeof err), 0);
  setversion(dir, 2, 1, 2);
  lines l;
  fix g;
  fixmake(&g, 100);
  long iteration = -1;
  assert_int_equal(readinto(dir, &g, &iteration, &l, err, sizeof err), 0);
  assert_int_equal(iteration, 1);
  assert_int_equal(l.n, 1);
  print_message("  report: %s\n", l.s[0]);
  assert_non_null(strstr(l.s[0], "ckpt-000000002.h5 unusable: format version 2, expected 1"));
  // the same patch back to 1 gives a usable file again (the checksum fix is right)
  setversion(dir, 2, 2, 1);
  assert_int_equal(readinto(dir, &g, &iteration, &l, err, sizeof err), 0);
  assert_int_equal(iteration, 2);
  assert_int_equal(l.n, 0);
  fixfree(&g);
  rmtree(dir);
}

static void test_shape(void** state) {
  (void)state;
  char dir[64], err[1024] = "";
  newdir(dir);
  // 1 right; 2 a longer theta; 3 a transposed matrix; 4 an unsigned counter
  assert_int_equal(writeseed(dir, 1, NBIG, 0, 5, err, sizeof err), 0);
  assert_int_equal(writeseed(dir, 2, NBIG + 200, 0, 5, err, sizeof err), 0);
  assert_int_equal(writeseed(dir, 3, NBIG, V_TRANSPOSE, 5, err, sizeof err), 0);
  assert_int_equal(writeseed(dir, 4, NBIG, V_UNSIGNED, 5, err, sizeof err), 0);
  lines l;
  expectload(dir, NBIG, 1, 3, &l);
  assert_non_null(strstr(l.s[0], "ckpt-000000004.h5 unusable: dataset counters/c holds uint64, "
                                 "expected int64"));
  assert_non_null(strstr(l.s[1], "ckpt-000000003.h5 unusable: dataset vf/net/b has shape 4x3, "
                                 "expected 3x4 (a checkpoint of another network shape)"));
  assert_non_null(strstr(l.s[2], "ckpt-000000002.h5 unusable: dataset policy/theta has shape "
                                 "20200, expected 20000 (a checkpoint of another network shape)"));
  rmtree(dir);
}

static void test_none_usable(void** state) {
  (void)state;
  char dir[64], err[1024] = "";
  newdir(dir);
  for (long i = 1; i <= 2; i++)
    assert_int_equal(writeseed(dir, i, NBIG + 1, 0, 3, err, sizeof err), 0);
  fix g;
  fixmake(&g, NBIG);
  lines l;
  long iteration = -1;
  assert_int_equal(readinto(dir, &g, &iteration, &l, err, sizeof err), TRPO_EXIT_BADINPUT);
  print_message("  err: %s\n", err);
  assert_int_equal(l.n, 2);
  assert_non_null(strstr(l.s[1], "ckpt-000000001.h5 unusable"));
  assert_non_null(strstr(l.s[1], "; no older checkpoint"));
  assert_non_null(strstr(err, "no usable checkpoint in"));
  assert_non_null(strstr(err, dir));
  fixfree(&g);
  rmtree(dir);
}

static void test_no_files(void** state) {
  (void)state;
  char dir[64], err[1024] = "", p[4096];
  newdir(dir);
  fix g;
  fixmake(&g, 10);
  lines l;
  long iteration = -1;
  // empty, then only non-checkpoints, then missing
  assert_int_equal(readinto(dir, &g, &iteration, &l, err, sizeof err), 1);
  snprintf(p, sizeof p, "%s/ckpt-000000004.h5.tmp", dir);
  spit(p, (const unsigned char*)"x", 1);
  snprintf(p, sizeof p, "%s/progress.csv", dir);
  spit(p, (const unsigned char*)"x", 1);
  assert_int_equal(readinto(dir, &g, &iteration, &l, err, sizeof err), 1);
  assert_int_equal(l.n, 0);
  snprintf(p, sizeof p, "%s/nothing/here", dir);
  assert_int_equal(readinto(p, &g, &iteration, &l, err, sizeof err), 1);
  fixfree(&g);
  rmtree(dir);
}

//---------------------------------- write failures -------------------------------------------------

// checkpoint 1 and its bytes, to prove a failed write left it alone
static unsigned char* firstckpt(const char* dir, size_t* n) {
  char err[1024] = "", p[4096];
  assert_int_equal(writeseed(dir, 1, NBIG, 0, 3, err, sizeof err), 0);
  ckptpath(p, sizeof p, dir, 1);
  return slurp(p, n);
}

static void unchanged(const char* dir, const unsigned char* before, size_t n) {
  char p[4096];
  size_t m;
  ckptpath(p, sizeof p, dir, 1);
  unsigned char* now = slurp(p, &m);
  assert_int_equal(m, n);
  assert_memory_equal(now, before, n);
  trpo_alloc_free(now);
  assert_int_equal(ntmp(dir), 0);
}

static void test_write_notdir(void** state) {
  (void)state;
  char dir[64], err[1024] = "", p[4096];
  newdir(dir);
  // a path through a regular file cannot hold a checkpoint, root or not
  snprintf(p, sizeof p, "%s/afile", dir);
  spit(p, (const unsigned char*)"x", 1);
  snprintf(p, sizeof p, "%s/afile/sub", dir);
  assert_int_equal(writeseed(p, 1, 10, 0, 3, err, sizeof err), TRPO_EXIT_IOERROR);
  print_message("  err: %s\n", err);
  assert_non_null(strstr(err, "afile/sub/ckpt-000000001.h5"));
  assert_non_null(strstr(err, strerror(ENOTDIR)));
  rmtree(dir);
}

static void test_write_rename_fails(void** state) {
  (void)state;
  char dir[64], err[1024] = "", p[4096];
  newdir(dir);
  size_t n;
  unsigned char* before = firstckpt(dir, &n);
  // a directory where checkpoint 2 would go: the rename fails
  ckptpath(p, sizeof p, dir, 2);
  assert_int_equal(mkdir(p, 0755), 0);
  assert_int_equal(writeseed(dir, 2, NBIG, 0, 3, err, sizeof err), TRPO_EXIT_IOERROR);
  print_message("  err: %s\n", err);
  assert_non_null(strstr(err, p));
  assert_non_null(strstr(err, strerror(EISDIR)));
  unchanged(dir, before, n);
  // the directory itself is reported unusable and checkpoint 1 loads
  lines l;
  expectload(dir, NBIG, 1, 1, &l);
  trpo_alloc_free(before);
  rmtree(dir);
}

static void test_write_disk_full(void** state) {
  (void)state;
  char dir[64];
  newdir(dir);
  size_t n;
  unsigned char* before = firstckpt(dir, &n);
  // file size limits that stop the writer at several points: creation, data, final metadata
  size_t limits[] = {0, 600, n / 2, n - 700, n - 8};
  for (int k = 0; k < 5; k++) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      // the child: limited file size, SIGXFSZ ignored so write() fails with EFBIG
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit rl = {limits[k], limits[k]};
      setrlimit(RLIMIT_FSIZE, &rl);
      char err[1024] = "";
      int rc = writeseed(dir, 2, NBIG, 0, 3, err, sizeof err);
      dprintf(fd[1], "%d %s", rc, err);
      close(fd[1]);
      exit(0);   // through HDF5's atexit cleanup, which must cope with the failed file
    }
    close(fd[1]);
    char msg[1200] = "";
    ssize_t got = read(fd[0], msg, sizeof msg - 1);
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(got > 0);
    msg[got] = 0;
    print_message("  limit %zu of %zu: %s\n", limits[k], n, msg);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(atoi(msg), TRPO_EXIT_IOERROR);
    assert_non_null(strstr(msg, "ckpt-000000002.h5"));
    assert_non_null(strstr(msg, strerror(EFBIG)));
    unchanged(dir, before, n);
    char p[4096];
    ckptpath(p, sizeof p, dir, 2);
    assert_false(exists(p));
  }
  lines l;
  expectload(dir, NBIG, 1, 0, &l);
  trpo_alloc_free(before);
  rmtree(dir);
}

//---------------------------------- kill -9 --------------------------------------------------------

// every published file loads without a report, with the content of its iteration
static int verifyall(const char* dir) {
  int nfile = 0;
  fix g, ref;
  fixmake(&g, NBIG);
  fixmake(&ref, NBIG);
  for (;;) {
    trpo_ckptitem it[NITEM];
    mkitems(it, &g, 0);
    char path[4096], err[1024] = "";
    long iteration = -1;
    lines l = {0};
    int rc = trpo_checkpoint_read(dir, it, NITEM, &iteration, path, sizeof path, NULL, 0, collect,
                                  &l, err, sizeof err);
    if (rc == 1) break;
    if (l.n) print_message("  report: %s\n", l.s[0]);
    assert_int_equal(rc, 0);
    assert_int_equal(l.n, 0);
    fill(&ref, (uint64_t)iteration);
    assert_true(fixequal(&g, &ref));
    assert_int_equal(unlink(path), 0);
    nfile++;
  }
  fixfree(&g);
  fixfree(&ref);
  return nfile;
}

static void test_kill9(void** state) {
  (void)state;
  trpo_rng r;
  trpo_rng_seed(&r, 20240611, TRPO_RNG_GLOBAL, TRPO_RNG_SHUFFLE);
  int nkill = 100, midwrite = 0, nfiles = 0;
  for (int k = 0; k < nkill; k++) {
    char dir[64];
    newdir(dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      // the child writes checkpoints until it is killed
      char err[1024];
      for (long i = 1;; i++)
        if (writeseed(dir, i, NBIG, 0, 2, err, sizeof err)) _exit(1);
    }
    // kill it after a random delay of up to 30 ms
    struct timespec ts = {0, (long)trpo_rng_below(&r, 30000000)};
    nanosleep(&ts, NULL);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    // a .tmp shows the kill hit a write in progress
    midwrite += ntmp(dir) > 0;
    nfiles += verifyall(dir);
    rmtree(dir);
  }
  print_message("  %d kill points, %d during a write (.tmp left), %d published files verified\n",
                nkill, midwrite, nfiles);
  // where fsync is cheap a write may be too short for random kills to hit (so midwrite is only
  // reported): with the test pause halfway through each write (trpo_checkpoint_set_stall), a
  // kill as soon as the second file's .tmp appears lands inside that write for certain, and
  // leaves exactly half of its bytes
  for (int k = 0; k < 3; k++) {
    char dir[64], tmp[128], pub[128];
    newdir(dir);
    snprintf(tmp, sizeof tmp, "%s/ckpt-%09d.h5.tmp", dir, 2);
    ckptpath(pub, sizeof pub, dir, 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      char err[1024];
      if (writeseed(dir, 1, NBIG, 0, 2, err, sizeof err)) _exit(1);
      trpo_checkpoint_set_stall(60000);
      writeseed(dir, 2, NBIG, 0, 2, err, sizeof err);
      _exit(1);
    }
    struct stat st, sp;
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 60000 && stat(tmp, &st) < 0; i++) nanosleep(&ts, NULL);
    // the file is created empty and then written: wait for its first half
    assert_int_equal(stat(pub, &sp), 0);
    for (int i = 0; i < 60000 && stat(tmp, &st) == 0 && st.st_size < sp.st_size / 2; i++)
      nanosleep(&ts, NULL);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(stat(tmp, &st), 0);
    assert_int_equal(st.st_size, sp.st_size / 2);
    assert_int_equal(ntmp(dir), 1);
    // only the first checkpoint is published, whole
    assert_int_equal(verifyall(dir), 1);
    rmtree(dir);
  }
  // a paused write that is let finish is an ordinary checkpoint
  char dir[64], err[1024] = "";
  newdir(dir);
  trpo_checkpoint_set_stall(1);
  int rc = writeseed(dir, 4, NBIG, 0, 2, err, sizeof err);
  trpo_checkpoint_set_stall(0);
  assert_int_equal(rc, 0);
  lines l;
  expectload(dir, NBIG, 4, 0, &l);
  assert_int_equal(ntmp(dir), 0);
  rmtree(dir);
}

//---------------------------------- every byte ----------------------------------------------------

// outcome of reading a directory whose newest checkpoint (2) has one byte changed
enum { FLIP_SAME, FLIP_FELLBACK, FLIP_SILENT, FLIP_OTHER };

// g: where to read (nbig of flipall); want1, want2: checkpoints 1 and 2 as written
static int flipoutcome(const char* dir, fix* g, const fix* want1, const fix* want2) {
  long iteration = -1;
  lines l;
  char err[1024] = "", cfg[256] = "";
  int rc = readcfg(dir, g, &iteration, &l, cfg, err, sizeof err);
  if (rc == 0 && iteration == 2 && l.n == 0)
    return fixequal(g, want2) && !strcmp(cfg, CONFIG) ? FLIP_SAME : FLIP_SILENT;
  if (rc == 0 && iteration == 1 && l.n == 1 && fixequal(g, want1) && !strcmp(cfg, CONFIG))
    return FLIP_FELLBACK;
  return FLIP_OTHER;
}

// Change one bit of every byte of checkpoint 2 in turn (a different bit at each offset) and read
// the directory: every change must load checkpoint 2 whole and bit-identical (a byte that
// nothing reads) or be rejected with checkpoint 1 loaded; never other data. A crash ends the
// test, and a hang meets CTest's timeout.
// With chunks of `chunk` bytes (0: the default), theta (nbig doubles) may span several chunks.
static void flipall(size_t nbig, size_t chunk) {
  char dir[64], err[1024] = "", p[4096];
  newdir(dir);
  trpo_checkpoint_set_chunk(chunk);
  assert_int_equal(writeseed(dir, 1, nbig, 0, 3, err, sizeof err), 0);
  assert_int_equal(writeseed(dir, 2, nbig, 0, 3, err, sizeof err), 0);
  trpo_checkpoint_set_chunk(0);
  ckptpath(p, sizeof p, dir, 2);
  size_t n;
  unsigned char* good = slurp(p, &n);
  fix g, want1, want2;
  fixmake(&g, nbig);
  fixmake(&want1, nbig);
  fixmake(&want2, nbig);
  fill(&want1, 1);
  fill(&want2, 2);
  int count[4] = {0};
  int fd = open(p, O_WRONLY);
  assert_true(fd >= 0);
  for (size_t at = 0; at < n; at++) {
    unsigned char bad = good[at] ^ (unsigned char)(1u << (at % 8));
    assert_int_equal(pwrite(fd, &bad, 1, (off_t)at), 1);
    int o = flipoutcome(dir, &g, &want1, &want2);
    assert_int_equal(pwrite(fd, good + at, 1, (off_t)at), 1);
    if (o == FLIP_SILENT || o == FLIP_OTHER) print_message("  byte %zu: outcome %d\n", at, o);
    count[o]++;
  }
  print_message("  %zu-byte file, every byte changed: the same data %d, rejected %d, "
                "other data %d, other outcome %d\n",
                n, count[FLIP_SAME], count[FLIP_FELLBACK], count[FLIP_SILENT], count[FLIP_OTHER]);
  assert_int_equal(count[FLIP_SILENT], 0);
  assert_int_equal(count[FLIP_OTHER], 0);
  // the file restored byte by byte reads as checkpoint 2
  assert_int_equal(close(fd), 0);
  assert_int_equal(flipoutcome(dir, &g, &want1, &want2), FLIP_SAME);
  fixfree(&g);
  fixfree(&want1);
  fixfree(&want2);
  trpo_alloc_free(good);
  rmtree(dir);
}

// every dataset in one chunk; then theta in three chunks of 1 KiB (a chunk index of 3 entries)
static void test_flip_every_byte(void** state) {
  (void)state;
  flipall(100, 0);
  flipall(300, 1024);
}

int main(void) {
  trpo_test_traps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_image_put),
      cmocka_unit_test(test_h5dump),
      cmocka_unit_test(test_prune),            cmocka_unit_test(test_flip_data),
      cmocka_unit_test(test_flip_metadata),    cmocka_unit_test(test_truncated_empty),
      cmocka_unit_test(test_format_version),   cmocka_unit_test(test_shape),
      cmocka_unit_test(test_none_usable),      cmocka_unit_test(test_no_files),
      cmocka_unit_test(test_write_notdir),     cmocka_unit_test(test_write_rename_fails),
      cmocka_unit_test(test_write_disk_full),  cmocka_unit_test(test_kill9),
      cmocka_unit_test(test_flip_every_byte),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
