// powercut_shim: an LD_PRELOAD library that makes a simulated power cut possible on a real
// process, in the spirit of Jepsen's LazyFS. The process writes to its files as usual (the
// kernel's page cache keeps everything, and a SIGKILL loses nothing), but before every write or
// truncate of a file under MERIDIAN_POWERCUT_ROOT the shim appends the bytes it overwrites (the
// pre-image) and the file's old size to an undo journal (MERIDIAN_POWERCUT_JOURNAL). An fsync or
// fdatasync of the file marks every earlier journal entry of that file durable; an fsync of a
// directory does the same for creates and renames in it. After the harness SIGKILLs the process,
// tests/jepsen/powercut_journal.h undoes every entry not marked durable, newest first: the files
// are back in the state a power cut would leave (only what was synced), optionally with a
// prefix of the unsynced operations kept and the last one torn.
//
// MERIDIAN_POWERCUT_SYNC_DELAY_US (optional) sleeps before each real fsync/fdatasync: a slow
// disk, so that a window between "sync started" and "sync finished" exists on tmpfs-fast disks.
//
// What stays true: a journal entry is appended (under one mutex) before the operation it
// undoes, and the operation runs under the same mutex, so a sync's "everything before me"
// snapshot never splits an entry from its operation. Without MERIDIAN_POWERCUT_JOURNAL the shim
// passes every call through untouched.
//
// Journal record (little-endian, packed): the header below, then `path`, `path2`, `data`.
// Types: 1 write (offset, length, old_size, data = pre-image of the overwritten part), 2 truncate
// (offset = new size, old_size, data = pre-image of the cut tail), 3 sync of a file (seq = the
// first sequence NOT covered), 4 create (path), 5 rename (path -> path2; offset 1 if path2
// existed and was saved as a hard link <backup dir>/<seq>, whose path is then `data`), 6 sync of a
// directory. The backup directory is "pcbak" beside the root (same file system, so hard links
// work).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "tests/jepsen/powercut_format.h"

#define PC_FDS_MAX 65536
#define PC_PATH_MAX 1024
#define PC_FILES_MAX 4096

struct pc_file {  // A tracked file or directory (by path): is any of its entries unsynced?
  char path[PC_PATH_MAX];
  uint64_t last_entry_seq;  // 0: none
  uint64_t synced_before;   // entries with seq < this are durable
};

static int (*real_open)(const char*, int, ...);
static int (*real_open64)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static int (*real_close)(int);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off_t);
static ssize_t (*real_write)(int, const void*, size_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char*, const char*);

static pthread_mutex_t pc_mutex = PTHREAD_MUTEX_INITIALIZER;
static int pc_enabled;
static int pc_journal_fd = -1;
static char pc_root[PC_PATH_MAX];
static char pc_backup_dir[PC_PATH_MAX + 8];
static size_t pc_root_len;
static long pc_sync_delay_us;
static uint64_t pc_seq = 1;
static int pc_fd_file[PC_FDS_MAX];  // fd -> index into pc_files + 1 (0: untracked)
static struct pc_file pc_files[PC_FILES_MAX];
static int pc_files_count;

static void pc_resolve(void) {
  if (real_open != NULL) return;
  real_open = dlsym(RTLD_NEXT, "open");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_close = dlsym(RTLD_NEXT, "close");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_write = dlsym(RTLD_NEXT, "write");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
  real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_rename = dlsym(RTLD_NEXT, "rename");
}

__attribute__((constructor)) static void pc_init(void) {
  pc_resolve();
  const char* journal = getenv("MERIDIAN_POWERCUT_JOURNAL");
  const char* root = getenv("MERIDIAN_POWERCUT_ROOT");
  const char* delay = getenv("MERIDIAN_POWERCUT_SYNC_DELAY_US");
  if (journal == NULL || root == NULL || strlen(root) + 1 >= PC_PATH_MAX) return;
  pc_journal_fd = real_open(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (pc_journal_fd < 0) {
    fprintf(stderr, "powercut_shim: cannot open journal %s: %s\n", journal, strerror(errno));
    abort();
  }
  snprintf(pc_root, sizeof(pc_root), "%s", root);
  pc_root_len = strlen(pc_root);
  snprintf(pc_backup_dir, sizeof(pc_backup_dir), "%s", pc_root);
  char* slash = strrchr(pc_backup_dir, '/');
  if (slash != NULL) strcpy(slash + 1, "pcbak");
  mkdir(pc_backup_dir, 0755);
  pc_sync_delay_us = delay != NULL ? atol(delay) : 0;
  pc_enabled = 1;
  fprintf(stderr, "powercut_shim: journaling unsynced writes under %s to %s (sync delay %ld us)\n",
          pc_root, journal, pc_sync_delay_us);
}

static uint32_t pc_fnv(uint32_t hash, const void* bytes, size_t size) {
  const unsigned char* p = bytes;
  for (size_t i = 0; i < size; i++) hash = (hash ^ p[i]) * 16777619u;
  return hash;
}

static void pc_write_all(const void* bytes, size_t size) {
  const char* p = bytes;
  while (size > 0) {
    ssize_t n = real_write(pc_journal_fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "powercut_shim: journal write failed: %s\n", strerror(errno));
      abort();  // A journal that misses an entry would make the rollback lie.
    }
    p += n;
    size -= (size_t)n;
  }
}

// Appends one record; the caller holds pc_mutex. Returns its sequence number.
static uint64_t pc_record(uint32_t type, uint64_t seq, uint64_t offset, uint64_t length,
                          uint64_t old_size, const char* path, const char* path2, const void* data,
                          uint32_t data_len) {
  struct pc_header h;
  memset(&h, 0, sizeof(h));
  h.magic = PC_MAGIC;
  h.type = type;
  h.seq = seq != 0 ? seq : pc_seq++;
  h.offset = offset;
  h.length = length;
  h.old_size = old_size;
  h.path_len = (uint32_t)strlen(path);
  h.path2_len = path2 != NULL ? (uint32_t)strlen(path2) : 0;
  h.data_len = data_len;
  uint32_t hash = pc_fnv(2166136261u, &h, sizeof(h));
  hash = pc_fnv(hash, path, h.path_len);
  if (h.path2_len > 0) hash = pc_fnv(hash, path2, h.path2_len);
  if (data_len > 0) hash = pc_fnv(hash, data, data_len);
  h.checksum = hash;
  pc_write_all(&h, sizeof(h));
  pc_write_all(path, h.path_len);
  if (h.path2_len > 0) pc_write_all(path2, h.path2_len);
  if (data_len > 0) pc_write_all(data, data_len);
  return h.seq;
}

static int pc_file_index(const char* path) {
  for (int i = 0; i < pc_files_count; i++) {
    if (strcmp(pc_files[i].path, path) == 0) return i;
  }
  if (pc_files_count == PC_FILES_MAX) {
    fprintf(stderr, "powercut_shim: more than %d files\n", PC_FILES_MAX);
    abort();
  }
  snprintf(pc_files[pc_files_count].path, PC_PATH_MAX, "%s", path);
  pc_files[pc_files_count].last_entry_seq = 0;
  pc_files[pc_files_count].synced_before = 0;
  return pc_files_count++;
}

// Everything synced: nothing to undo, so the journal can start over (keeps it small).
static void pc_maybe_reset_journal(void) {
  for (int i = 0; i < pc_files_count; i++) {
    if (pc_files[i].last_entry_seq != 0 &&
        pc_files[i].last_entry_seq >= pc_files[i].synced_before) {
      return;
    }
  }
  if (real_ftruncate(pc_journal_fd, 0) != 0) abort();
}

static int pc_tracked_path(const char* path) {
  return pc_enabled && path != NULL && path[0] == '/' && strncmp(path, pc_root, pc_root_len) == 0 &&
         (path[pc_root_len] == '/' || path[pc_root_len] == '\0') && strlen(path) < PC_PATH_MAX;
}

static void pc_parent(const char* path, char* out) {
  snprintf(out, PC_PATH_MAX, "%s", path);
  char* slash = strrchr(out, '/');
  if (slash != NULL && slash != out) *slash = '\0';
}

static int pc_do_open(int dirfd, const char* path, int flags, mode_t mode, int at) {
  if (!pc_tracked_path(path)) {
    return at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
  }
  pthread_mutex_lock(&pc_mutex);
  const int existed = access(path, F_OK) == 0;
  const int fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
  if (fd >= 0 && fd < PC_FDS_MAX) {
    const int index = pc_file_index(path);
    pc_fd_file[fd] = index + 1;
    if (!existed && (flags & O_CREAT)) {
      char parent[PC_PATH_MAX];
      pc_parent(path, parent);
      const int dir = pc_file_index(parent);
      pc_files[dir].last_entry_seq = pc_record(4, 0, 0, 0, 0, path, NULL, NULL, 0);
    }
  }
  pthread_mutex_unlock(&pc_mutex);
  return fd;
}

// open's third argument exists only with O_CREAT or O_TMPFILE.
#define PC_MODE_FROM_VARARGS(flags, mode) \
  mode_t mode = 0;                        \
  if ((flags) & (O_CREAT | O_TMPFILE)) {  \
    va_list args;                         \
    va_start(args, flags);                \
    mode = va_arg(args, mode_t);          \
    va_end(args);                         \
  }

int open(const char* path, int flags, ...) {
  pc_resolve();
  PC_MODE_FROM_VARARGS(flags, mode);
  return pc_do_open(AT_FDCWD, path, flags, mode, 0);
}

int open64(const char* path, int flags, ...) {
  pc_resolve();
  PC_MODE_FROM_VARARGS(flags, mode);
  return pc_do_open(AT_FDCWD, path, flags, mode, 0);
}

int openat(int dirfd, const char* path, int flags, ...) {
  pc_resolve();
  PC_MODE_FROM_VARARGS(flags, mode);
  return pc_do_open(dirfd, path, flags, mode, 1);
}

int close(int fd) {
  pc_resolve();
  if (pc_enabled && fd >= 0 && fd < PC_FDS_MAX && pc_fd_file[fd] != 0) {
    pthread_mutex_lock(&pc_mutex);
    pc_fd_file[fd] = 0;
    pthread_mutex_unlock(&pc_mutex);
  }
  return real_close(fd);
}

static int pc_tracked_fd(int fd) {
  return pc_enabled && fd >= 0 && fd < PC_FDS_MAX && pc_fd_file[fd];
}

static off_t pc_size(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_size : -1;
}

// Reads the pre-image of [offset, offset + length) that exists (below the current size).
static void pc_journal_write(int fd, off_t offset, size_t length) {
  struct pc_file* file = &pc_files[pc_fd_file[fd] - 1];
  const off_t size = pc_size(fd);
  if (size < 0) abort();
  size_t kept = 0;
  if (offset < size) kept = (size_t)(size - offset) < length ? (size_t)(size - offset) : length;
  void* pre = kept > 0 ? malloc(kept) : NULL;
  if (kept > 0) {
    const int reader = real_open(file->path, O_RDONLY | O_CLOEXEC);
    if (reader < 0 || pread(reader, pre, kept, offset) != (ssize_t)kept) abort();
    real_close(reader);
  }
  file->last_entry_seq = pc_record(1, 0, (uint64_t)offset, length, (uint64_t)size, file->path, NULL,
                                   pre, (uint32_t)kept);
  free(pre);
}

static ssize_t pc_pwrite(int fd, const void* data, size_t size, off_t offset, int is64) {
  pc_resolve();
  ssize_t (*real)(int, const void*, size_t, off_t) = is64 ? real_pwrite64 : real_pwrite;
  if (!pc_tracked_fd(fd) || size == 0) return real(fd, data, size, offset);
  pthread_mutex_lock(&pc_mutex);
  pc_journal_write(fd, offset, size);
  const ssize_t n = real(fd, data, size, offset);
  pthread_mutex_unlock(&pc_mutex);
  return n;
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  return pc_pwrite(fd, data, size, offset, 0);
}

ssize_t pwrite64(int fd, const void* data, size_t size, off_t offset) {
  return pc_pwrite(fd, data, size, offset, 1);
}

ssize_t write(int fd, const void* data, size_t size) {
  pc_resolve();
  if (!pc_tracked_fd(fd) || size == 0) return real_write(fd, data, size);
  pthread_mutex_lock(&pc_mutex);
  const int flags = fcntl(fd, F_GETFL);
  const off_t offset = (flags & O_APPEND) ? pc_size(fd) : lseek(fd, 0, SEEK_CUR);
  pc_journal_write(fd, offset, size);
  const ssize_t n = real_write(fd, data, size);
  pthread_mutex_unlock(&pc_mutex);
  return n;
}

static int pc_ftruncate(int fd, off_t length, int is64) {
  pc_resolve();
  int (*real)(int, off_t) = is64 ? real_ftruncate64 : real_ftruncate;
  if (!pc_tracked_fd(fd)) return real(fd, length);
  pthread_mutex_lock(&pc_mutex);
  struct pc_file* file = &pc_files[pc_fd_file[fd] - 1];
  const off_t size = pc_size(fd);
  if (size < 0) abort();
  size_t cut = size > length ? (size_t)(size - length) : 0;
  void* pre = cut > 0 ? malloc(cut) : NULL;
  if (cut > 0) {
    const int reader = real_open(file->path, O_RDONLY | O_CLOEXEC);
    if (reader < 0 || pread(reader, pre, cut, length) != (ssize_t)cut) abort();
    real_close(reader);
  }
  file->last_entry_seq =
      pc_record(2, 0, (uint64_t)length, 0, (uint64_t)size, file->path, NULL, pre, (uint32_t)cut);
  free(pre);
  const int result = real(fd, length);
  pthread_mutex_unlock(&pc_mutex);
  return result;
}

int ftruncate(int fd, off_t length) { return pc_ftruncate(fd, length, 0); }
int ftruncate64(int fd, off_t length) { return pc_ftruncate(fd, length, 1); }

// A sync covers what was written before it started: note the sequence first, sync, then record.
static int pc_sync(int fd, int data_only) {
  pc_resolve();
  int (*real)(int) = data_only ? real_fdatasync : real_fsync;
  if (!pc_tracked_fd(fd)) return real(fd);
  pthread_mutex_lock(&pc_mutex);
  const uint64_t before = pc_seq++;
  const int index = pc_fd_file[fd] - 1;
  pthread_mutex_unlock(&pc_mutex);
  if (pc_sync_delay_us > 0) usleep((useconds_t)pc_sync_delay_us);
  const int result = real(fd);
  if (result != 0) return result;
  pthread_mutex_lock(&pc_mutex);
  struct pc_file* file = &pc_files[index];
  struct stat st;
  const int is_dir = stat(file->path, &st) == 0 && S_ISDIR(st.st_mode);
  pc_record(is_dir ? 6 : 3, before, 0, 0, 0, file->path, NULL, NULL, 0);
  if (before > file->synced_before) file->synced_before = before;
  pc_maybe_reset_journal();
  pthread_mutex_unlock(&pc_mutex);
  return 0;
}

int fsync(int fd) { return pc_sync(fd, 0); }
int fdatasync(int fd) { return pc_sync(fd, 1); }

int rename(const char* from, const char* to) {
  pc_resolve();
  if (!pc_tracked_path(from) || !pc_tracked_path(to)) return real_rename(from, to);
  pthread_mutex_lock(&pc_mutex);
  const uint64_t seq = pc_seq++;
  char backup[PC_PATH_MAX + 64];
  snprintf(backup, sizeof(backup), "%s/%llu", pc_backup_dir, (unsigned long long)seq);
  const int saved = link(to, backup) == 0;
  const int result = real_rename(from, to);
  if (result == 0) {
    char parent[PC_PATH_MAX];
    pc_parent(to, parent);
    pc_files[pc_file_index(parent)].last_entry_seq =
        pc_record(5, seq, saved ? 1 : 0, 0, 0, from, to, saved ? backup : NULL,
                  saved ? (uint32_t)strlen(backup) : 0);
    // Open descriptors of `from` now write `to`, and `to`'s pending state moves with it.
    const int from_index = pc_file_index(from);
    const int to_index = pc_file_index(to);
    pc_files[to_index].last_entry_seq = pc_files[from_index].last_entry_seq;
    pc_files[to_index].synced_before = pc_files[from_index].synced_before;
    pc_files[from_index].last_entry_seq = 0;
    for (int fd = 0; fd < PC_FDS_MAX; fd++) {
      if (pc_fd_file[fd] == from_index + 1) pc_fd_file[fd] = to_index + 1;
    }
  } else if (saved) {
    unlink(backup);
  }
  pthread_mutex_unlock(&pc_mutex);
  return result;
}
