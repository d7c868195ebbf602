#include "io/posix/posix_disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "io/assert.h"
#include "io/posix/posix_runtime.h"

namespace meridian::io::posix {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(PosixRuntime& runtime, int fd, std::string path)
      : runtime_(runtime),
        // The descriptor closes when the last owner lets go: an fdatasync in flight on the helper
        // thread keeps it open even if this File is destroyed meanwhile.
        fd_(new int(fd),
            [](int* owned) {
              close(*owned);
              delete owned;
            }),
        path_(std::move(path)) {}

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          pwrite(*fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "pwrite " + path_);
      MERIDIAN_CHECK(n > 0, "pwrite returned 0 for {}", path_);
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Append(std::span<const uint8_t> data) override {
    absl::StatusOr<uint64_t> end = Size();
    if (!end.ok()) return end;
    if (absl::Status s = WriteAt(*end, data); !s.ok()) return s;
    return *end;
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) override {
    size_t done = 0;
    while (done < buffer.size()) {
      const ssize_t n = pread(*fd_, buffer.data() + done, buffer.size() - done,
                              static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "pread " + path_);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  absl::Status Sync() override {
    // The helper thread keeps the fd alive through the shared_ptr even if this File goes away.
    return runtime_.RunBlocking([fd = fd_, path = path_] {
      if (fdatasync(*fd) != 0) return ErrnoStatus(errno, "fdatasync " + path);
      return absl::OkStatus();
    });
  }

  absl::Status Truncate(uint64_t size) override {
    if (ftruncate(*fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoStatus(errno, "ftruncate " + path_);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Size() override {
    struct stat st {};
    if (fstat(*fd_, &st) != 0) return ErrnoStatus(errno, "fstat " + path_);
    return static_cast<uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  PosixRuntime& runtime_;
  std::shared_ptr<int> fd_;
  const std::string path_;
};

absl::Status MakeDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir " + prefix);
    }
    if (slash == std::string::npos) return absl::OkStatus();
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PosixDisk>> PosixDisk::Open(PosixRuntime& runtime,
                                                           const std::string& root) {
  if (root.empty()) return absl::InvalidArgumentError("empty data directory");
  if (absl::Status s = MakeDirs(root); !s.ok()) return s;
  return std::unique_ptr<PosixDisk>(new PosixDisk(runtime, root));
}

std::string PosixDisk::Full(const std::string& path) const {
  return path.empty() ? root_ : root_ + "/" + path;
}

absl::StatusOr<std::unique_ptr<File>> PosixDisk::Open(const std::string& path, OpenMode mode) {
  if (absl::Status s = ValidatePath(path); !s.ok()) return s;
  int flags = O_RDWR | O_CLOEXEC;
  if (mode == OpenMode::kCreate) flags |= O_CREAT;
  if (mode == OpenMode::kCreateNew) flags |= O_CREAT | O_EXCL;
  const int fd = open(Full(path).c_str(), flags, 0644);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  return std::make_unique<PosixFile>(runtime_, fd, path);
}

absl::Status PosixDisk::CreateDir(const std::string& path) {
  if (absl::Status s = ValidatePath(path); !s.ok()) return s;
  if (mkdir(Full(path).c_str(), 0755) != 0) return ErrnoStatus(errno, "mkdir " + path);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PosixDisk::ListDir(const std::string& path) {
  DIR* dir = opendir(Full(path).c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "opendir " + path);
  std::vector<std::string> names;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());  // Never expose inode or hash order.
  return names;
}

absl::Status PosixDisk::Remove(const std::string& path) {
  if (absl::Status s = ValidatePath(path); !s.ok()) return s;
  const std::string full = Full(path);
  if (unlink(full.c_str()) == 0) return absl::OkStatus();
  if (errno == EISDIR && rmdir(full.c_str()) == 0) return absl::OkStatus();
  if (errno == ENOTEMPTY) return absl::FailedPreconditionError(path + " is not empty");
  return ErrnoStatus(errno, "remove " + path);
}

absl::Status PosixDisk::Rename(const std::string& from, const std::string& to) {
  if (absl::Status s = ValidatePath(from); !s.ok()) return s;
  if (absl::Status s = ValidatePath(to); !s.ok()) return s;
  if (rename(Full(from).c_str(), Full(to).c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("rename {} to {}", from, to));
  }
  return absl::OkStatus();
}

absl::Status PosixDisk::SyncDir(const std::string& path) {
  const std::string full = Full(path);
  return runtime_.RunBlocking([full] {
    const int fd = open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open directory " + full);
    const int result = fsync(fd);
    const int error = errno;
    close(fd);
    if (result != 0) return ErrnoStatus(error, "fsync directory " + full);
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> PosixDisk::Exists(const std::string& path) {
  struct stat st {};
  if (stat(Full(path).c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoStatus(errno, "stat " + path);
}

}  // namespace meridian::io::posix
