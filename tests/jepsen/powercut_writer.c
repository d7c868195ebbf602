// A tiny program for powercut_test: run under powercut_shim, it makes files in the directory
// given as argv[1] reach a known synced state, then changes them without syncing, prints "ready"
// and waits to be SIGKILLed. The test rolls the journal back and compares with the synced state.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(int ok, const char* what) {
  if (!ok) {
    perror(what);
    exit(1);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  char path[4096];
  char block[4096];
  const int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
  check(dir >= 0, "open dir");
  // Synced: "synced" holds 3000 bytes of 'a', its name synced by the directory fsync.
  snprintf(path, sizeof(path), "%s/synced", argv[1]);
  const int fd = open(path, O_RDWR | O_CREAT, 0644);
  check(fd >= 0, "open synced");
  memset(block, 'a', sizeof(block));
  check(pwrite(fd, block, 3000, 0) == 3000, "pwrite a");
  check(fdatasync(fd) == 0 && fsync(dir) == 0, "sync");
  // Unsynced: overwrite 10 bytes at 100, append 2000 bytes of 'b', truncate 500 bytes away.
  memset(block, 'b', sizeof(block));
  check(pwrite(fd, block, 10, 100) == 10, "overwrite");
  check(pwrite(fd, block, 2000, 3000) == 2000, "append");
  check(ftruncate(fd, 4500) == 0, "truncate");
  // An unsynced rename of a synced file over another synced file, then an unsynced create.
  char from[4096], to[4096];
  snprintf(from, sizeof(from), "%s/new", argv[1]);
  snprintf(to, sizeof(to), "%s/current", argv[1]);
  const int a = open(from, O_RDWR | O_CREAT, 0644);
  const int b = open(to, O_RDWR | O_CREAT, 0644);
  check(a >= 0 && b >= 0, "open rename files");
  check(pwrite(a, "new", 3, 0) == 3 && pwrite(b, "old", 3, 0) == 3, "write rename files");
  check(fdatasync(a) == 0 && fdatasync(b) == 0 && fsync(dir) == 0, "sync rename files");
  check(rename(from, to) == 0, "rename");
  snprintf(path, sizeof(path), "%s/created", argv[1]);
  const int created = open(path, O_RDWR | O_CREAT, 0644);
  check(created >= 0 && pwrite(created, block, 100, 0) == 100, "created");
  printf("ready\n");
  fflush(stdout);
  pause();
  return 0;
}
