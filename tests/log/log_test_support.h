// Support for the log's simulator tests: one simulated node whose body can be crashed and
// restarted, a disk wrapper that injects the faults the simulator does not model yet (full disk,
// failed fsync, partial writes), and deterministic payloads a test can recompute to check reads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "core/raft/types.h"
#include "io/disk.h"
#include "io/runtime.h"
#include "sim/sim_disk.h"
#include "sim/world.h"

namespace meridian::tests::log {

using NodeBody = std::function<void(io::Runtime&)>;

// One node in its own World. Each Run starts a fresh incarnation (crashing the previous one
// first), so a test reads like "write; crash; recover and check".
class SimNode {
 public:
  static constexpr io::NodeId kNode{1};

  explicit SimNode(uint64_t seed);
  uint64_t seed() const { return seed_; }
  sim::World& world() { return world_; }
  sim::SimDisk& disk() { return world_.disk(kNode); }

  // Starts `body` on a fresh incarnation and runs until it returns. False if it did not finish
  // within 600 virtual seconds.
  bool Run(NodeBody body);
  // Starts `body` and runs for `duration` only, then power-cuts the node wherever it is.
  void RunThenCrash(NodeBody body, io::Duration duration);
  // The pieces of RunThenCrash, for tests that act on the world between them.
  void Start(NodeBody body) { Boot(std::move(body)); }
  void Crash() { world_.Crash(kNode); }
  bool done() const { return done_; }

 private:
  void Boot(NodeBody body);

  const uint64_t seed_;
  sim::World world_;
  NodeBody body_;
  bool done_ = false;
};

// A leader's first append to SimNode::kNode, written by hand for a replica test: term 1, one
// entry at index 1, and a commit index covering it.
core::raft::Message FirstCommittedAppend(io::NodeId leader, const std::string& data);

// Faults a FaultyDisk injects. Shared by the test and the disk, so a test can change them live.
struct DiskFaults {
  uint64_t write_bytes_left = UINT64_MAX;  // Then ENOSPC; the failing write lands partially.
  bool fail_syncs = false;                 // File::Sync returns DataLoss (EIO).
  bool fail_truncates = false;             // File::Truncate returns DataLoss (EIO).
  uint64_t writes_failed = 0;
  uint64_t syncs_failed = 0;
};

class FaultyDisk final : public io::Disk {
 public:
  FaultyDisk(io::Disk& inner, DiskFaults& faults) : inner_(inner), faults_(faults) {}
  absl::StatusOr<std::unique_ptr<io::File>> Open(const std::string& path,
                                                 io::OpenMode mode) override;
  absl::Status CreateDir(const std::string& path) override { return inner_.CreateDir(path); }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    return inner_.ListDir(path);
  }
  absl::Status Remove(const std::string& path) override { return inner_.Remove(path); }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    return inner_.Rename(from, to);
  }
  absl::Status SyncDir(const std::string& path) override { return inner_.SyncDir(path); }
  absl::StatusOr<bool> Exists(const std::string& path) override { return inner_.Exists(path); }

 private:
  io::Disk& inner_;
  DiskFaults& faults_;
};

// The payload of the batch appended with `tag`: bytes a reader can recompute and compare.
std::vector<uint8_t> PayloadFor(uint64_t tag, size_t bytes);
core::log::BatchMeta MetaFor(uint64_t tag, uint32_t records);

// Reads [from, end) of `log` batch by batch; fails the test on any error. Returns the batches.
std::vector<core::log::BatchRef> ReadAll(core::log::Log& log, core::Offset from,
                                         uint64_t bytes_max = 64 * 1024);

// Flips one byte of a file on the node's disk and syncs it (a bit rot the disk kept).
absl::Status FlipByte(io::Disk& disk, const std::string& path, uint64_t position);

}  // namespace meridian::tests::log
