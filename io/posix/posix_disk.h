// posix::PosixDisk: io::Disk on a real directory, with the durability contract of io/disk.h:
// File::Sync is fdatasync, Disk::SyncDir is fsync of the directory, both on a helper thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "io/disk.h"

namespace meridian::io::posix {

class PosixRuntime;

class PosixDisk final : public Disk {
 public:
  // Creates `root` (and parents) if missing.
  static absl::StatusOr<std::unique_ptr<PosixDisk>> Open(PosixRuntime& runtime,
                                                         const std::string& root);

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status SyncDir(const std::string& path) override;
  absl::StatusOr<bool> Exists(const std::string& path) override;

  const std::string& root() const { return root_; }

 private:
  PosixDisk(PosixRuntime& runtime, std::string root) : runtime_(runtime), root_(std::move(root)) {}
  std::string Full(const std::string& path) const;

  PosixRuntime& runtime_;
  const std::string root_;
};

}  // namespace meridian::io::posix
