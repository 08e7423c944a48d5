// checkpoint.c: checkpoints as self-describing HDF5 files; the only module that includes <hdf5.h>.
//
// A checkpoint is a list of named arrays ("items"), string attributes and the config text, written
// by one process (rank 0). Integrity has two layers: Fletcher32 on every (chunked) dataset covers
// the data, and libver bounds V110..LATEST give checksums on all the metadata: version-2 object
// headers (attributes included) and the 1.10 chunk indexes (single chunk, fixed and extensible
// arrays). The lower bound V18 would index chunks with version-1 B-trees, which carry no checksum:
// there 87 of a small file's 19,711 one-bit changes loaded other data without a word (a chunk's
// offset changed, so HDF5 read its fill value, zeros); test_checkpoint changes every byte. The
// file is built in memory (core driver, no backing store) and its image written with plain
// write(2), then published: .tmp, fsync, rename, fsync(DIR). So every disk error (ENOSPC, EIO,
// EFBIG) comes from our own system call with its errno, and HDF5 never sees one (1.10.8 leaves a
// dangling file id after a failed H5Fclose, which crashes at exit). DIR holds only complete
// checkpoints; a killed writer leaves at most a stale .tmp, removed by the next write. Reading uses
// the default sec2 driver, walks the files newest first and falls back over every one that fails.
// This module knows nothing of what the arrays mean (the trainer builds the item list) and does no
// MPI: the caller broadcasts what rank 0 read. No trpo_alloc: the image buffer is malloc'd and
// freed within the write (HDF5 mallocs internally anyway), so a checkpoint inside the iteration
// loop leaves the allocation count alone. The dataset name "config" is reserved for the config
// text.

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trpo/trpo.h"

#if !H5_VERSION_GE(1, 10, 2)
#error "trpo's checkpoints need HDF5 1.10.2 or later (H5F_LIBVER_V110: checksummed chunk indexes)"
#endif

#define PATHLEN 4096
#define CHUNKBYTES ((size_t)1 << 20)   // largest chunk; one chunk covers most datasets whole
static size_t chunkbytes = CHUNKBYTES;   // the largest chunk in use (tests may lower it)
#define WHYLEN 512

size_t trpo_ckpt_item_bytes(const trpo_ckptitem* it) {
  return it->dims[0] * (it->ndim == 2 ? it->dims[1] : 1) * 8;
}

//---------------------------------- file names and the directory ----------------------------------

// iteration of a file named exactly "ckpt-%09ld.h5" (tmp: with ".tmp" appended), else -1
static long ckptnum(const char* name, int tmp) {
  // the number after the prefix
  if (strncmp(name, "ckpt-", 5)) return -1;
  char* end = NULL;
  errno = 0;
  long v = strtol(name + 5, &end, 10);
  if (errno || v < 0 || end == name + 5 || name[5] < '0' || name[5] > '9') return -1;
  // the name must be the canonical spelling of that number
  char canon[64];
  snprintf(canon, sizeof canon, "ckpt-%09ld.h5%s", v, tmp ? ".tmp" : "");
  return strcmp(name, canon) ? -1 : v;
}

int trpo_checkpoint_file(const char* name) {
  if (ckptnum(name, 0) >= 0 || ckptnum(name, 1) >= 0) return 1;
  // ckpt-N.h5.bad: a file set aside (trpo_checkpoint_set_aside)
  size_t n = strlen(name);
  char base[64];
  if (n < 4 || n - 4 >= sizeof base || strcmp(name + n - 4, ".bad")) return 0;
  memcpy(base, name, n - 4);
  base[n - 4] = 0;
  return ckptnum(base, 0) >= 0;
}

// over DIR's checkpoint files: count them, the largest number below `below` (-1 if none) and
// the smallest number other than `skip` (-1 if none); -1 with errno set when DIR is unreadable
static int scan(const char* dir, long below, long skip, long* largest, long* smallest,
                int* count) {
  DIR* d = opendir(dir);
  if (!d) return -1;
  long lo = -1, hi = -1;
  int n = 0;
  // one pass over the entries
  for (struct dirent* e; (e = readdir(d));) {
    long v = ckptnum(e->d_name, 0);
    if (v < 0) continue;
    n++;
    if (v < below && v > hi) hi = v;
    if (v != skip && (lo < 0 || v < lo)) lo = v;
  }
  closedir(d);
  if (largest) *largest = hi;
  if (smallest) *smallest = lo;
  if (count) *count = n;
  return 0;
}

// remove the temporary files of interrupted writes (errors ignored: they only cost space)
static void rmtmp(const char* dir) {
  DIR* d = opendir(dir);
  if (!d) return;
  char p[PATHLEN];
  for (struct dirent* e; (e = readdir(d));) {
    if (ckptnum(e->d_name, 1) < 0) continue;
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
  }
  closedir(d);
}

// fsync a directory by name; 0 or -1 with errno
static int syncdir(const char* path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  if (close(fd) < 0 && rc == 0) return -1;
  errno = e;
  return rc;
}

//---------------------------------- HDF5 errors ---------------------------------------------------

// what the error stack says: the deepest message, the first that mentions a checksum, and the
// system error that a sec2 message carries as "errno = N"
typedef struct h5why_ {
  char deepest[WHYLEN];
  char checksum[WHYLEN];
  int errnum;
} h5why;

// bounded string copy
static void copystr(char* d, size_t n, const char* s) {
  if (!n) return;
  size_t k = strlen(s);
  if (k >= n) k = n - 1;
  memcpy(d, s, k);
  d[k] = 0;
}

static herr_t walkcb(unsigned n, const H5E_error2_t* e, void* ctx) {
  h5why* w = ctx;
  const char* desc = e->desc ? e->desc : "";
  // upward walk: entry 0 is the most specific
  if (n == 0) copystr(w->deepest, sizeof w->deepest, desc);
  if (!w->checksum[0] && strstr(desc, "checksum")) copystr(w->checksum, sizeof w->checksum, desc);
  const char* en = strstr(desc, "errno = ");
  if (!w->errnum && en) w->errnum = atoi(en + 8);
  return 0;
}

// "<what>: <reason>" into out, what from fmt, the reason from HDF5's error stack (call right
// after the failing call: the next API call clears the stack)
__attribute__((format(printf, 3, 4)))
static void h5fail(char* out, size_t nout, const char* fmt, ...) {
  char what[WHYLEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  h5why w;
  memset(&w, 0, sizeof w);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walkcb, &w);
  // a system error beats HDF5's wording; a checksum failure beats the generic read failure
  const char* reason = w.errnum ? strerror(w.errnum)
                       : w.checksum[0] ? w.checksum
                       : w.deepest[0] ? w.deepest : "HDF5 error";
  copystr(out, nout, what);
  size_t at = strlen(out);
  copystr(out + at, nout - at, ": ");
  at = strlen(out);
  copystr(out + at, nout - at, reason);
}

//---------------------------------- write ---------------------------------------------------------

// a scalar fixed-length string attribute (NUL-terminated) on obj (named `on` in messages);
// 0 or -1 with a reason
static int putstr(hid_t obj, const char* on, const char* key, const char* value, char* out,
                  size_t nout) {
  hid_t type = -1, space = -1, attr = -1;
  int rc = -1;
  // type and space
  type = H5Tcopy(H5T_C_S1);
  if (type < 0 || H5Tset_size(type, strlen(value) + 1) < 0 ||
      H5Tset_strpad(type, H5T_STR_NULLTERM) < 0) goto fail;
  space = H5Screate(H5S_SCALAR);
  if (space < 0) goto fail;
  // create and write
  attr = H5Acreate2(obj, key, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0 || H5Awrite(attr, type, value) < 0) goto fail;
  rc = 0;
  goto done;
fail:
  h5fail(out, nout, "attribute %s%s", key, on);
done:
  if (attr >= 0) H5Aclose(attr);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return rc;
}

// the integer file attribute format_version
static int putversion(hid_t file, char* out, size_t nout) {
  hid_t space = H5Screate(H5S_SCALAR), attr = -1;
  int v = TRPO_CKPT_FORMAT, rc = -1;
  if (space < 0) goto fail;
  attr = H5Acreate2(file, "format_version", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0 || H5Awrite(attr, H5T_NATIVE_INT, &v) < 0) goto fail;
  rc = 0;
  goto done;
fail:
  h5fail(out, nout, "attribute format_version");
done:
  if (attr >= 0) H5Aclose(attr);
  if (space >= 0) H5Sclose(space);
  return rc;
}

static hsize_t clampdim(size_t n, size_t hi) { return n < 1 ? 1 : n > hi ? hi : n; }

// one chunked, Fletcher32-protected dataset with its description; 0 or -1 with a reason
static int putset(hid_t file, hid_t lcpl, const char* path, const char* desc, hid_t ftype,
                  hid_t mtype, size_t esize, int ndim, const size_t* dims, const void* data,
                  char* out, size_t nout) {
  hid_t space = -1, dcpl = -1, dset = -1;
  int rc = -1;
  // shape; a zero-size dimension gets an unlimited maximum, since a chunk (>= 1) may not
  // exceed a fixed maximum of 0
  hsize_t d[2], maxd[2], chunk[2];
  size_t nel = 1;
  for (int i = 0; i < ndim; i++) {
    d[i] = dims[i];
    maxd[i] = dims[i] ? (hsize_t)dims[i] : H5S_UNLIMITED;
    nel *= dims[i];
  }
  // chunks of at most chunkbytes: whole rows of up to chunkbytes each, as many as fit
  size_t per = chunkbytes / esize;
  chunk[ndim - 1] = clampdim(dims[ndim - 1], per);
  if (ndim == 2) chunk[0] = clampdim(dims[0], per / chunk[1]);
  // dataset creation: chunked, Fletcher32
  space = H5Screate_simple(ndim, d, maxd);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, ndim, chunk) < 0 ||
      H5Pset_fletcher32(dcpl) < 0) goto fail;
  dset = H5Dcreate2(file, path, ftype, space, lcpl, dcpl, H5P_DEFAULT);
  if (dset < 0) goto fail;
  // the data (nothing to write for a zero-size dataset)
  if (nel > 0 && H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) goto fail;
  // its description
  char on[WHYLEN];
  snprintf(on, sizeof on, " of dataset %s", path);
  if (putstr(dset, on, "description", desc ? desc : "", out, nout) < 0) goto done;
  rc = 0;
  goto done;
fail:
  h5fail(out, nout, "dataset %s", path);
done:
  if (dset >= 0) H5Dclose(dset);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  return rc;
}

// file and memory types of a trpo_ckpttype
static void ckpttypes(int type, hid_t* ftype, hid_t* mtype) {
  switch (type) {
    case TRPO_CKPT_F64: *ftype = H5T_IEEE_F64LE; *mtype = H5T_NATIVE_DOUBLE; return;
    case TRPO_CKPT_I64: *ftype = H5T_STD_I64LE; *mtype = H5T_NATIVE_INT64; return;
    case TRPO_CKPT_U64: *ftype = H5T_STD_U64LE; *mtype = H5T_NATIVE_UINT64; return;
    default: TRPO_FATAL("checkpoint item type %d is not a trpo_ckpttype", type);
  }
}

// Jenkins' lookup3 hashlittle (initval 0), HDF5's metadata checksum
static uint32_t rot32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
static uint32_t le32(const unsigned char* k) {
  return (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
}
static uint32_t lookup3(const unsigned char* k, size_t len) {
  uint32_t a, b, c;
  a = b = c = 0xdeadbeefu + (uint32_t)len;
  // 12-byte blocks but the last, mixed
  while (len > 12) {
    a += le32(k), b += le32(k + 4), c += le32(k + 8);
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
  a += le32(t), b += le32(t + 4), c += le32(t + 8);
  c ^= b, c -= rot32(b, 14);
  a ^= c, a -= rot32(c, 11);
  b ^= a, b -= rot32(a, 25);
  c ^= b, c -= rot32(b, 16);
  a ^= c, a -= rot32(c, 4);
  b ^= a, b -= rot32(a, 14);
  c ^= b, c -= rot32(b, 24);
  return c;
}

// H5Fget_file_image (1.10.8) clears the superblock's status flags in the image but leaves the
// checksum that was computed with them set, so the image would fail to open. Recompute it:
// superblock version 2 or 3 at offset 0 with 8-byte addresses is 44 bytes then the checksum.
// Correct whether or not the library has the bug; -1 if the layout is not the expected one.
static int fixsuper(unsigned char* b, size_t n) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (n < 48 || memcmp(b, sig, 8) || (b[8] != 2 && b[8] != 3) || b[9] != 8) return -1;
  uint32_t c = lookup3(b, 44);
  for (int i = 0; i < 4; i++) b[44 + i] = (unsigned char)(c >> (8 * i));
  return 0;
}

// the whole HDF5 file as an image in memory (the core driver, no backing store), in *image
// (malloc'd, the caller frees); 0 or -1 with a reason. Building the file in memory keeps every
// disk error out of HDF5: in 1.10.8 a failed H5Fclose (ENOSPC while flushing) leaves a dangling
// file id that crashes the library's atexit cleanup, so the exit code of the run would be lost.
static int h5image(const trpo_ckptitem* items, int nitems, const trpo_ckptattr* attrs,
                   int nattrs, const char* config, void** image, size_t* nimage, char* out,
                   size_t nout) {
  hid_t fapl = -1, lcpl = -1, file = -1;
  int rc = -1;
  *image = NULL;
  // access: in memory, 1.10 formats (checksums on all metadata, chunk indexes included), closing
  // closes everything in it
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_core(fapl, CHUNKBYTES, 0) < 0 ||
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST) < 0 ||
      H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
    h5fail(out, nout, "file access properties");
    goto done;
  }
  file = H5Fcreate("checkpoint-image", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (file < 0) {
    h5fail(out, nout, "creating the file");
    goto done;
  }
  // file attributes
  if (putversion(file, out, nout) < 0) goto done;
  for (int i = 0; i < nattrs; i++)
    if (putstr(file, "", attrs[i].key, attrs[i].value ? attrs[i].value : "", out, nout) < 0)
      goto done;
  // link creation makes the groups named in the item paths
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  if (lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
    h5fail(out, nout, "link creation properties");
    goto done;
  }
  // the items
  for (int i = 0; i < nitems; i++) {
    const trpo_ckptitem* it = &items[i];
    TRPO_CHECK(it->path && (it->ndim == 1 || it->ndim == 2));
    TRPO_CHECK(it->data || trpo_ckpt_item_bytes(it) == 0);
    hid_t ft, mt;
    ckpttypes(it->type, &ft, &mt);
    if (putset(file, lcpl, it->path, it->description, ft, mt, 8, it->ndim, it->dims, it->data,
               out, nout) < 0)
      goto done;
  }
  // the config text as bytes
  size_t nc = config ? strlen(config) : 0;
  if (putset(file, lcpl, "config", "the resolved configuration, INI text (uint8)", H5T_STD_U8LE,
             H5T_NATIVE_UCHAR, 1, 1, &nc, config, out, nout) < 0)
    goto done;
  // flush everything into the image and copy it out
  ssize_t n = H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(file, NULL, 0);
  if (n <= 0) {
    h5fail(out, nout, "building the file image");
    goto done;
  }
  *image = malloc((size_t)n);
  if (!*image) TRPO_FATAL("out of memory for a checkpoint image of %zd bytes", n);
  if (H5Fget_file_image(file, *image, (size_t)n) != n) {
    h5fail(out, nout, "copying the file image");
    goto done;
  }
  if (fixsuper(*image, (size_t)n) < 0) {
    snprintf(out, nout, "building the file image: unexpected superblock (version %d)",
             ((unsigned char*)*image)[8]);
    goto done;
  }
  *nimage = (size_t)n;
  rc = 0;
done:
  if (file >= 0 && H5Fclose(file) < 0 && rc == 0) {
    h5fail(out, nout, "closing the in-memory file");
    rc = -1;
  }
  if (rc < 0) {
    free(*image);
    *image = NULL;
  }
  if (lcpl >= 0) H5Pclose(lcpl);
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

// tests: milliseconds to pause in the middle of every checkpoint file write (0: none)
static double stall_ms;
void trpo_checkpoint_set_stall(double ms) { stall_ms = ms > 0 ? ms : 0; }

void trpo_checkpoint_set_chunk(size_t bytes) {
  chunkbytes = bytes >= 8 && bytes < CHUNKBYTES ? bytes : CHUNKBYTES;
}

// the first n bytes of p to fd, retrying short writes; the bytes left unwritten (0 on success,
// errno set otherwise)
static size_t putbytes(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) break;
    p += k;
    n -= (size_t)k;
  }
  return n;
}

// the image into a new file at path, fsync'd and closed; 0, or -1 with the failing step in
// *step and errno set
static int putfile(const char* path, const void* image, size_t n, const char** step) {
  // create (truncating a leftover of ours)
  *step = "creating the file";
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  // all bytes; with a test stall, half of them, the pause (a kill then leaves a partial file
  // whatever the disk's speed), then the rest
  *step = "writing";
  const char* p = image;
  size_t half = stall_ms > 0 ? n / 2 : 0;
  size_t left = putbytes(fd, p, half);
  if (left == 0 && half > 0) {
    long long ns = (long long)(stall_ms * 1e6);
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
  }
  if (left == 0) left = putbytes(fd, p + half, n - half);
  n = left;
  // durable, and closed without error (NFS reports late write errors at close)
  if (n == 0) *step = "fsync";
  int bad = n > 0 || fsync(fd) < 0;
  int e = errno;
  if (close(fd) < 0 && !bad) {
    *step = "close";
    return -1;
  }
  errno = e;
  return bad ? -1 : 0;
}

// the names of iteration's checkpoint and of its temporary file; 0, or -1 with err said
static int names(const char* dir, long iteration, char* final, char* tmp, char* err, size_t nerr) {
  if (snprintf(final, PATHLEN, "%s/ckpt-%09ld.h5", dir, iteration) >= PATHLEN ||
      snprintf(tmp, PATHLEN, "%s.tmp", final) >= PATHLEN) {
    snprintf(err, nerr, "cannot write checkpoint in %s: path too long", dir);
    return -1;
  }
  return 0;
}

int trpo_checkpoint_image(const char* dir, long iteration, const trpo_ckptitem* items, int nitems,
                          const trpo_ckptattr* attrs, int nattrs, const char* config_text,
                          trpo_ckptimage* out, char* err, size_t nerr) {
  char final[PATHLEN], tmp[PATHLEN], reason[WHYLEN];
  TRPO_CHECK(iteration >= 0);
  out->data = NULL;
  out->size = 0;
  out->iteration = iteration;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (names(dir, iteration, final, tmp, err, nerr) < 0) return TRPO_EXIT_IOERROR;
  if (h5image(items, nitems, attrs, nattrs, config_text, &out->data, &out->size, reason,
              sizeof reason) < 0) {
    snprintf(err, nerr, "cannot write checkpoint %s: %s", tmp, reason);
    return TRPO_EXIT_IOERROR;
  }
  return 0;
}

void trpo_checkpoint_image_free(trpo_ckptimage* im) {
  free(im->data);
  im->data = NULL;
  im->size = 0;
}

int trpo_checkpoint_write(const char* dir, long iteration, const trpo_ckptitem* items, int nitems,
                          const trpo_ckptattr* attrs, int nattrs, const char* config_text,
                          int keep, char* err, size_t nerr) {
  trpo_ckptimage im;
  int rc = trpo_checkpoint_image(dir, iteration, items, nitems, attrs, nattrs, config_text, &im,
                                 err, nerr);
  if (rc == 0) rc = trpo_checkpoint_put(dir, &im, keep, err, nerr);
  trpo_checkpoint_image_free(&im);
  return rc;
}

int trpo_checkpoint_put(const char* dir, const trpo_ckptimage* im, int keep, char* err,
                        size_t nerr) {
  char final[PATHLEN], tmp[PATHLEN];
  const long iteration = im->iteration;
  TRPO_CHECK(im->data && im->size > 0);
  if (names(dir, iteration, final, tmp, err, nerr) < 0) return TRPO_EXIT_IOERROR;
  // leftovers of interrupted writes go first, freeing their space
  rmtmp(dir);
  // on disk and durable before it is published
  const char* step = "";
  int bad = putfile(tmp, im->data, im->size, &step);
  int e = errno;
  if (bad) {
    snprintf(err, nerr, "cannot write checkpoint %s: %s: %s", tmp, step, strerror(e));
    unlink(tmp);
    return TRPO_EXIT_IOERROR;
  }
  // publish atomically
  if (rename(tmp, final) < 0) {
    snprintf(err, nerr, "cannot publish checkpoint %s: rename from %s: %s", final, tmp,
             strerror(errno));
    unlink(tmp);
    return TRPO_EXIT_IOERROR;
  }
  // the rename itself durable
  if (syncdir(dir) < 0) {
    snprintf(err, nerr, "cannot publish checkpoint %s: fsync of directory %s: %s", final, dir,
             strerror(errno));
    return TRPO_EXIT_IOERROR;
  }
  // prune: remove the oldest others while more than keep remain (never the one just written);
  // a file that cannot be removed only costs space, so it is noted in err and the write succeeds
  if (nerr) err[0] = 0;
  for (;;) {
    long oldest;
    int count;
    if (scan(dir, LONG_MAX, iteration, NULL, &oldest, &count) < 0 || count <= keep || oldest < 0)
      break;
    char p[PATHLEN];
    snprintf(p, sizeof p, "%s/ckpt-%09ld.h5", dir, oldest);
    if (unlink(p) < 0 && errno != ENOENT) {
      snprintf(err, nerr, "checkpoint %s written, but old checkpoint %s not removed: %s", final,
               p, strerror(errno));
      break;
    }
  }
  return 0;
}

//---------------------------------- read ----------------------------------------------------------

static const char* ckptname(int type) {
  return type == TRPO_CKPT_F64 ? "float64" : type == TRPO_CKPT_I64 ? "int64" : "uint64";
}

// "float64", "int32", "uint8", "string" ... of a stored type
static void typestr(hid_t t, char* s, size_t n) {
  H5T_class_t c = H5Tget_class(t);
  size_t bits = 8 * H5Tget_size(t);
  if (c == H5T_FLOAT) snprintf(s, n, "float%zu", bits);
  else if (c == H5T_INTEGER)
    snprintf(s, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits);
  else snprintf(s, n, "a non-numeric type (class %d)", (int)c);
}

// whether stored type t is exactly the item type
static int typematch(hid_t t, int type) {
  H5T_class_t c = H5Tget_class(t);
  if (H5Tget_size(t) != 8) return 0;
  if (type == TRPO_CKPT_F64) return c == H5T_FLOAT;
  if (c != H5T_INTEGER) return 0;
  return (H5Tget_sign(t) == H5T_SGN_NONE) == (type == TRPO_CKPT_U64);
}

// "3x4" of n dims
static void shapestr(const hsize_t* d, int n, char* s, size_t ns) {
  size_t at = 0;
  s[0] = 0;
  if (n == 0) snprintf(s, ns, "scalar");
  for (int i = 0; i < n && at < ns; i++)
    at += (size_t)snprintf(s + at, ns - at, "%s%llu", i ? "x" : "", (unsigned long long)d[i]);
}

// one item: type, exact shape, data; 0 or -1 with a reason
static int getset(hid_t file, trpo_ckptitem* it, char* out, size_t nout) {
  hid_t dset = -1, type = -1, space = -1;
  int rc = -1;
  // open
  dset = H5Dopen2(file, it->path, H5P_DEFAULT);
  if (dset < 0) goto fail;
  // element type
  type = H5Dget_type(dset);
  if (type < 0) goto fail;
  if (!typematch(type, it->type)) {
    char ts[64];
    typestr(type, ts, sizeof ts);
    snprintf(out, nout, "dataset %s holds %s, expected %s", it->path, ts, ckptname(it->type));
    goto done;
  }
  // shape: exactly the expected one
  space = H5Dget_space(dset);
  int nd = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  hsize_t d[H5S_MAX_RANK];
  if (nd < 0 || H5Sget_simple_extent_dims(space, d, NULL) < 0) goto fail;
  int same = nd == it->ndim;
  for (int i = 0; same && i < nd; i++) same = d[i] == it->dims[i];
  if (!same) {
    hsize_t want[2] = {it->dims[0], it->dims[1]};
    char found[128], expect[64];
    shapestr(d, nd, found, sizeof found);
    shapestr(want, it->ndim, expect, sizeof expect);
    snprintf(out, nout, "dataset %s has shape %s, expected %s (a checkpoint of another network "
             "shape)", it->path, found, expect);
    goto done;
  }
  // data (Fletcher32 is verified here)
  hid_t ft, mt;
  ckpttypes(it->type, &ft, &mt);
  if (trpo_ckpt_item_bytes(it) > 0 && H5Dread(dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, it->data) < 0)
    goto fail;
  rc = 0;
  goto done;
fail:
  h5fail(out, nout, "dataset %s", it->path);
done:
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

// the config bytes, read (and so checksummed) in pieces, the first nconfig-1 kept in text
static int getconfig(hid_t file, char* text, size_t nconfig, char* out, size_t nout) {
  hid_t dset = -1, type = -1, fspace = -1, mspace = -1;
  int rc = -1;
  // open and check: 1-D bytes
  dset = H5Dopen2(file, "config", H5P_DEFAULT);
  if (dset < 0) goto fail;
  type = H5Dget_type(dset);
  fspace = H5Dget_space(dset);
  hsize_t n = 0;
  if (type < 0 || fspace < 0) goto fail;
  if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 1 ||
      H5Sget_simple_extent_ndims(fspace) != 1) {
    snprintf(out, nout, "dataset config is not a 1-D byte array");
    goto done;
  }
  if (H5Sget_simple_extent_dims(fspace, &n, NULL) < 0) goto fail;
  // pieces of a stack buffer
  unsigned char buf[4096];
  size_t kept = 0;
  for (hsize_t off = 0; off < n;) {
    hsize_t cnt = n - off < sizeof buf ? n - off : sizeof buf;
    mspace = H5Screate_simple(1, &cnt, NULL);
    if (mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &off, NULL, &cnt, NULL) < 0 ||
        H5Dread(dset, H5T_NATIVE_UCHAR, mspace, fspace, H5P_DEFAULT, buf) < 0)
      goto fail;
    H5Sclose(mspace);
    mspace = -1;
    for (hsize_t i = 0; i < cnt && text && kept + 1 < nconfig; i++) text[kept++] = (char)buf[i];
    off += cnt;
  }
  if (text && nconfig) text[kept] = 0;
  rc = 0;
  goto done;
fail:
  h5fail(out, nout, "dataset config");
done:
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (type >= 0) H5Tclose(type);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

// the format_version attribute equals TRPO_CKPT_FORMAT
static int getversion(hid_t file, char* out, size_t nout) {
  hid_t attr = -1, type = -1, space = -1;
  int rc = -1, v = 0;
  attr = H5Aopen(file, "format_version", H5P_DEFAULT);
  if (attr < 0) goto fail;
  type = H5Aget_type(attr);
  space = H5Aget_space(attr);
  if (type < 0 || space < 0) goto fail;
  if (H5Tget_class(type) != H5T_INTEGER || H5Sget_simple_extent_npoints(space) != 1) {
    snprintf(out, nout, "attribute format_version is not one integer");
    goto done;
  }
  if (H5Aread(attr, H5T_NATIVE_INT, &v) < 0) goto fail;
  if (v != TRPO_CKPT_FORMAT) {
    snprintf(out, nout, "format version %d, expected %d", v, TRPO_CKPT_FORMAT);
    goto done;
  }
  rc = 0;
  goto done;
fail:
  h5fail(out, nout, "attribute format_version");
done:
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  if (attr >= 0) H5Aclose(attr);
  return rc;
}

// everything of one file into items and config; 0 or -1 with a reason
static int h5read(const char* path, trpo_ckptitem* items, int nitems, char* config,
                  size_t nconfig, char* out, size_t nout) {
  hid_t fapl = -1, file = -1;
  int rc = -1;
  // open (a truncated or empty file fails here, as does a bad superblock or root header)
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_sec2(fapl) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
    h5fail(out, nout, "file access properties");
    goto done;
  }
  file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (file < 0) {
    h5fail(out, nout, "cannot open");
    goto done;
  }
  // version, items, config
  if (getversion(file, out, nout) < 0) goto done;
  for (int i = 0; i < nitems; i++) {
    TRPO_CHECK(items[i].path && (items[i].ndim == 1 || items[i].ndim == 2));
    if (getset(file, &items[i], out, nout) < 0) goto done;
  }
  if (getconfig(file, config, nconfig, out, nout) < 0) goto done;
  rc = 0;
done:
  if (file >= 0 && H5Fclose(file) < 0 && rc == 0) {
    h5fail(out, nout, "closing the file");
    rc = -1;
  }
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

int trpo_checkpoint_read(const char* dir, trpo_ckptitem* items, int nitems, long* iteration,
                         char* path, size_t npath, char* config_text, size_t nconfig,
                         void (*report)(void* ctx, const char* line), void* ctx, char* err,
                         size_t nerr) {
  return trpo_checkpoint_read_checked(dir, items, nitems, iteration, path, npath, config_text,
                                      nconfig, NULL, report, ctx, err, nerr);
}

int trpo_checkpoint_read_checked(const char* dir, trpo_ckptitem* items, int nitems,
                                 long* iteration, char* path, size_t npath, char* config_text,
                                 size_t nconfig,
                                 int (*check)(void* ctx, long iteration, char* why, size_t nwhy),
                                 void (*report)(void* ctx, const char* line), void* ctx, char* err,
                                 size_t nerr) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  // the newest file; a missing directory holds no checkpoint
  long cur = -1;
  int count = 0;
  if (scan(dir, LONG_MAX, -1, &cur, NULL, &count) < 0) {
    if (errno == ENOENT) return 1;
    snprintf(err, nerr, "cannot list checkpoints in %s: %s", dir, strerror(errno));
    return TRPO_EXIT_BADINPUT;
  }
  if (count == 0) return 1;
  // newest first, falling back over every unusable file
  char fp[PATHLEN], reason[WHYLEN], first[WHYLEN + 64] = "";
  int ntried = 0;
  while (cur >= 0) {
    snprintf(fp, sizeof fp, "%s/ckpt-%09ld.h5", dir, cur);
    // readable, and (with check) holding what a checkpoint of that number holds
    if (h5read(fp, items, nitems, config_text, nconfig, reason, sizeof reason) == 0 &&
        (!check || check(ctx, cur, reason, sizeof reason) == 0)) {
      if (iteration) *iteration = cur;
      if (path && npath) snprintf(path, npath, "%s", fp);
      return 0;
    }
    // report it, naming the next candidate
    long next = -1;
    if (scan(dir, cur, -1, &next, NULL, NULL) < 0) next = -1;
    char line[PATHLEN + 2 * WHYLEN];
    if (next >= 0)
      snprintf(line, sizeof line, "checkpoint %s unusable: %s; trying ckpt-%09ld.h5", fp, reason,
               next);
    else
      snprintf(line, sizeof line, "checkpoint %s unusable: %s; no older checkpoint", fp, reason);
    if (report) report(ctx, line);
    if (!ntried++) snprintf(first, sizeof first, "ckpt-%09ld.h5: %s", cur, reason);
    cur = next;
  }
  snprintf(err, nerr, "no usable checkpoint in %s: all %d failed (newest %s)", dir, ntried, first);
  return TRPO_EXIT_BADINPUT;
}

int trpo_checkpoint_set_aside(const char* dir, long after,
                              void (*report)(void* ctx, const char* line), void* ctx) {
  int moved = 0;
  // one name at a time, the directory listed afresh after each rename
  for (;;) {
    long newest = -1;
    if (scan(dir, LONG_MAX, -1, &newest, NULL, NULL) < 0 || newest <= after) break;
    char from[PATHLEN], to[PATHLEN + 8], line[2 * PATHLEN + 160];
    snprintf(from, sizeof from, "%s/ckpt-%09ld.h5", dir, newest);
    snprintf(to, sizeof to, "%s.bad", from);
    if (rename(from, to) < 0) {
      snprintf(line, sizeof line, "cannot move unusable checkpoint %s aside to %s: %s", from, to,
               strerror(errno));
      if (report) report(ctx, line);
      break;
    }
    moved++;
    snprintf(line, sizeof line, "moved unusable checkpoint %s aside to %s (never read again)",
             from, to);
    if (report) report(ctx, line);
  }
  if (moved) syncdir(dir);
  return moved;
}

const char* trpo_checkpoint_libversion(void) {
  static char s[48];
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  snprintf(s, sizeof s, "hdf5 %u.%u.%u", maj, min, rel);
  return s;
}
