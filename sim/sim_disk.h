// sim::SimDisk: an in-memory disk with the durability contract of io/disk.h, and the faults real
// disks have (and nothing worse).
//
// Each file (inode) keeps two copies of its bytes: `data`, what reads see now, and `durable`,
// what survives a crash (updated by File::Sync). The namespace is kept twice in the same way:
// names and directories become durable only through SyncDir of their parent. Crash() rolls both
// back to their durable state, which is exactly what a power cut does to an fsync-honest disk.
//
// Faults, all off by default: I/O errors (EIO as DataLoss) per operation, slow fsyncs, writes
// torn per 512-byte sector at a crash (each unsynced sector independently survives or not),
// corrupted bytes at rest (a bit flip in synced data), misdirected writes (data lands some
// sectors away from where it was aimed), and a full disk (ResourceExhausted past a capacity).
// At-rest corruption and misdirected writes are charged to the FaultAtlas first.
//
// The disk outlives node incarnations; the runtime of the current incarnation is attached so
// Sync can take simulated time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "io/disk.h"
#include "io/node_id.h"
#include "io/random.h"
#include "io/time.h"

namespace meridian::sim {

class SimRuntime;
class World;
class FaultAtlas;

struct DiskFaultRates {
  uint32_t io_error_ppm = 0;    // Per read, write or sync.
  uint32_t slow_fsync_ppm = 0;  // Per sync: takes up to slow_fsync_max instead.
  io::Duration slow_fsync_max = std::chrono::seconds(1);
  bool torn_writes_on_crash = false;
};

class SimDisk final : public io::Disk {
 public:
  // A bound on the whole disk, so a runaway writer fails loudly rather than eating the host.
  static constexpr uint64_t kBytesMax = uint64_t{4} << 30;

  SimDisk(World& world, io::NodeId node) : world_(world), node_(node) {}

  void set_rates(const DiskFaultRates& rates) { rates_ = rates; }
  const DiskFaultRates& rates() const { return rates_; }
  // Writes that would grow the disk past `bytes` fail with ResourceExhausted.
  void set_capacity(uint64_t bytes) { capacity_bytes_ = bytes; }
  uint64_t capacity() const { return capacity_bytes_; }
  // Flips one bit of synced data in a random file, if the atlas allows. Returns whether it did.
  // `random` chooses where: a fault's own stream, so its choices do not shift when other faults
  // are added or removed (which keeps shrunk schedules failing the same way).
  // `path_contains`, if not empty, limits the choice to files whose path contains it (the raft
  // scenario damages log segments only: a damaged hard state is refused, by design).
  bool CorruptAtRest(FaultAtlas& atlas, io::Random& random, std::string_view path_contains = {});
  // Flips one bit at the start of every 512-byte sector of the synced file `path`, if the atlas
  // allows every one of them (else nothing). Returns whether it did. The raft runner loses a
  // replica's whole hard state this way (every copy: core/replica storage.h).
  bool CorruptEverySector(FaultAtlas& atlas, const std::string& path);
  // The next write lands some sectors away from its offset, if the atlas allows.
  void MisdirectNextWrite(FaultAtlas* atlas, uint64_t fault_seed = 0) {
    misdirect_atlas_ = atlas;
    misdirect_seed_ = fault_seed;
  }

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
  // Whether any file has bytes a crash would lose or tear (the nemesis aims crashes there).
  bool has_unsynced_data() const;
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
  absl::Status Write(InodeId id, const std::string& path, uint64_t offset,
                     std::span<const uint8_t> data);
  // True (and counted) when an injected I/O error should fail this operation.
  bool InjectIoError(std::string_view operation);
  void TearUnsyncedWrites(Inode& node);
  void CollectUnreachableInodes();

  World& world_;
  const io::NodeId node_;
  DiskFaultRates rates_;
  uint64_t capacity_bytes_ = kBytesMax;
  FaultAtlas* misdirect_atlas_ = nullptr;
  uint64_t misdirect_seed_ = 0;
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
