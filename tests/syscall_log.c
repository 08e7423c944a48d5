// syscall_log.c: an LD_PRELOAD shim for tests/durability.sh. Every successful fsync and rename of
// the process is appended to the file named by TRPO_SYSCALL_LOG as one line, "fsync PATH" or
// "rename FROM TO", in the order they returned (one write(2) per line on an O_APPEND descriptor,
// so the lines of concurrent threads do not mix).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void logline(const char* what, const char* a, const char* b) {
  const char* path = getenv("TRPO_SYSCALL_LOG");
  if (!path) return;
  char line[8400];
  int n = snprintf(line, sizeof line, b ? "%s %s %s\n" : "%s %s\n", what, a, b);
  if (n <= 0 || n >= (int)sizeof line) return;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t w = write(fd, line, (size_t)n);
  (void)w;
  close(fd);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  int rc = real(fd);
  if (rc == 0) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n > 0) {
      path[n] = 0;
      logline("fsync", path, NULL);
    }
  }
  return rc;
}

int rename(const char* from, const char* to) {
  static int (*real)(const char*, const char*);
  if (!real) real = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  int rc = real(from, to);
  if (rc == 0) logline("rename", from, to);
  return rc;
}
