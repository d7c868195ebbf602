// sim::SimDisk: an in-memory disk with the durability contract of io/disk.h, and nothing more.
//
// Each file (inode) keeps two copies of its bytes: `data`, what reads see now, and `durable`,
// what survives a crash (updated by File::Sync). The namespace is kept twice in the same way:
// names and directories become durable only through SyncDir of their parent. Crash() rolls both
// back to their durable state, which is exactly what a power cut does to an fsync-honest disk.
// (Torn and corrupted writes, full disks and I/O errors are the fault model's, issue 3.)
//
// The disk outlives node incarnations; the runtime of the current incarnation is attached so
// Sync can take simulated time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "io/disk.h"

namespace meridian::sim {

class SimRuntime;

class SimDisk final : public io::Disk {
 public:
  // A bound on the whole disk, so a runaway writer fails loudly rather than eating the host.
  static constexpr uint64_t kBytesMax = uint64_t{4} << 30;

  SimDisk() = default;

  absl::StatusOr<std::unique_ptr<io::File>> Open(const std::string& path,
                                                 io::OpenMode mode) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status SyncDir(const std::string& path) override;
  absl::StatusOr<bool> Exists(const std::string& path) override;

  // Power cut: every unsynced byte and unsynced name change is gone.
  void Crash();
  void Attach(SimRuntime* runtime);
  void Detach(SimRuntime* runtime);

  uint64_t bytes_used() const { return bytes_used_; }
  uint64_t syncs() const { return syncs_; }

 private:
  friend class SimFile;
  struct Inode {
    std::vector<uint8_t> data;
    std::vector<uint8_t> durable;
  };
  using InodeId = uint64_t;

  bool DirExists(const std::string& dir) const;
  Inode* inode(InodeId id);
  absl::Status SyncInode(InodeId id);
  absl::Status Resize(Inode& inode, uint64_t size);
  void CollectUnreachableInodes();

  SimRuntime* runtime_ = nullptr;
  InodeId next_inode_ = 1;
  absl::btree_map<InodeId, Inode> inodes_;
  absl::btree_map<std::string, InodeId> names_;
  absl::btree_map<std::string, InodeId> durable_names_;
  absl::btree_set<std::string> dirs_;
  absl::btree_set<std::string> durable_dirs_;
  uint64_t bytes_used_ = 0;
  uint64_t syncs_ = 0;
};

}  // namespace meridian::sim
