// io::Disk: files and directories, with the durability contract protocols rely on.
//
// The contract (what the simulator models and io/posix provides with fdatasync/fsync):
// - Data written to a file is durable only after File::Sync() returns OK. A crash may lose any
//   unsynced write, wholly or in part (torn at sector granularity).
// - A file's existence, a rename and a removal are durable only after Disk::SyncDir() of the
//   directory that holds the name returns OK.
// - Errors (ENOSPC, EIO, ...) come back as statuses: ResourceExhausted for a full disk,
//   DataLoss or Internal for I/O errors, NotFound / AlreadyExists for names.
// Paths are relative to the disk's root, '/'-separated, without "..".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meridian::io {

class File {
 public:
  virtual ~File() = default;
  virtual absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) = 0;
  // Appends at the current end; returns the offset the data was written at.
  virtual absl::StatusOr<uint64_t> Append(std::span<const uint8_t> data) = 0;
  // Reads up to buffer.size() bytes at `offset`; fewer only at end of file.
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) = 0;
  // Makes every write so far durable (fdatasync). Suspends the calling fiber.
  virtual absl::Status Sync() = 0;
  virtual absl::Status Truncate(uint64_t size) = 0;
  virtual absl::StatusOr<uint64_t> Size() = 0;
  virtual const std::string& path() const = 0;
};

enum class OpenMode {
  kOpenExisting,  // NotFound if absent.
  kCreate,        // Create if absent, open if present.
  kCreateNew,     // AlreadyExists if present.
};

class Disk {
 public:
  virtual ~Disk() = default;
  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) = 0;
  virtual absl::Status CreateDir(const std::string& path) = 0;
  // Names directly inside `path`, sorted (never in hash or inode order).
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2) semantics).
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // Makes the names in directory `path` durable (fsync of the directory).
  virtual absl::Status SyncDir(const std::string& path) = 0;
  virtual absl::StatusOr<bool> Exists(const std::string& path) = 0;
};

// Returns the directory part of `path` ("" for a top-level name).
std::string ParentDir(const std::string& path);
// Rejects absolute paths, empty components and "..": InvalidArgument with the reason.
absl::Status ValidatePath(const std::string& path);

}  // namespace meridian::io
