// core::log::Wal: a node-wide write-ahead log shared by every partition log of a node, so that a
// round of appends to hundreds of partitions costs one fsync, not one per partition (issue 9;
// the measurements and the design are in docs/design-notes.md, "The node-wide log").
//
// Division of labour. A Log opened with LogOptions::wal still writes every batch into its own
// segment files (reads, the sparse index, the tail cache, retention and snapshots work as
// before), but leaves them unsynced: a batch is durable once its WAL record is. The WAL syncs
// with group commit (the first waiter syncs everything written so far, for everybody). Suffix
// truncations and resets are recorded in the WAL and synced there *before* the partition files
// are cut (still synced too), so a replay never brings back what a truncation removed.
//
// Checkpoints. WAL files roll at WalOptions::file_bytes_max. When more than live_files_max are
// live, a checkpoint syncs the partition files of every group with records in the older files,
// then removes those files, oldest first, each removal synced before the next: the files left
// are always a contiguous suffix of the WAL's history.
//
// Recovery. Open reads the WAL files in order, record by record, and stops at the first record
// that fails its checks (a torn tail, or damage): that file is cut there and later files are
// removed, so what remains is a prefix of what was written, and everything ever reported
// durable is in it unless the disk damaged it. A group's records are handed to its Log when it
// opens (Replay); the Log redoes them over what its segment files recovered (Log::
// ReplayWal: the suffix of a group's history held in the WAL, redone in full, rebuilds exactly
// the state the group reached), syncs its files, and from then on needs none of them.
//
// What is not the WAL's job: detecting that an acknowledged entry was lost to damage at rest.
// The per-group durable marks (core/replica) live outside the WAL, so a damaged WAL record makes
// the groups it held come back shorter than their marks, which they detect and repair.
//
// Fibers: every method must be called from fibers of the one io::Runtime given to Open. Only
// WaitDurable suspends (and the checkpoint, on a fiber of its own).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/metrics/histogram.h"
#include "core/strong_id.h"
#include "io/disk.h"
#include "io/runtime.h"
#include "io/sync.h"

namespace meridian::core::log {

struct WalOptions {
  std::string dir = "wal";                // Directory on the io::Disk; created if missing.
  uint64_t file_bytes_max = 16ull << 20;  // Roll to a new WAL file past this size.
  uint32_t live_files_max = 4;            // Checkpoint when more files than this are live.
  // Planted bug, for tests: a truncation's WAL record is written but not waited for before the
  // partition files are cut (so a crash can replay the truncated batches back).
  bool testing_truncate_before_wal_sync = false;
};

// One operation of a group's history, as the WAL holds it.
struct WalOp {
  // kBase: the group's segment files are synced through `offset` (its end then): nothing the
  // WAL held of it before matters any more. kDirect: a base after which the group appends
  // without WAL records and syncs its own segment files (a run of large rounds, LogOptions::
  // wal_direct_round_bytes): a replay keeps what its segment files recovered past `offset`.
  // Only a kBase or kReset may follow it (a truncation writes a base first).
  enum class Kind : uint8_t { kAppend = 1, kTruncate = 2, kReset = 3, kBase = 4, kDirect = 5 };
  static constexpr uint8_t kKindMax = 5;
  Kind kind = Kind::kAppend;
  Offset offset;               // kAppend: the batch's base offset; else the end / new start.
  std::vector<uint8_t> batch;  // kAppend: the encoded batch, exactly as the segment holds it.
  uint64_t file = 0;           // The WAL file it was read from (recovery only).
};

inline constexpr uint32_t kWalRecordHeaderBytes = 12;  // Magic, body length, CRC32C.
inline constexpr size_t kWalGroupBytesMax = 1024;

// The bytes of one WAL record; DecodeWalRecord reads one back from the front of `bytes`.
std::vector<uint8_t> EncodeWalRecord(const std::string& group, WalOp::Kind kind, Offset offset,
                                     std::span<const uint8_t> batch);
struct DecodedWalRecord {
  std::string group;
  WalOp op;
  uint64_t bytes = 0;  // The record's whole length.
};
// nullopt for anything that is not a whole, valid record (a torn tail, damage, zeros); never
// crashes, whatever the bytes.
std::optional<DecodedWalRecord> DecodeWalRecord(std::span<const uint8_t> bytes);

struct WalRecoveryReport {
  uint32_t files_found = 0;
  uint64_t records = 0;
  uint32_t groups = 0;
  bool cut = false;  // Bytes after the first bad record were discarded.
  std::string cut_file;
  uint64_t cut_position = 0;
  uint64_t bytes_discarded = 0;
  uint32_t files_removed = 0;
  uint32_t groups_dropped = 0;  // Records of groups whose directory no longer exists.
  std::string ToString() const;
};

struct WalMetrics {
  uint64_t records = 0;
  uint64_t record_bytes = 0;
  uint64_t group_syncs = 0;  // Leader syncs (each one fsync per dirty WAL file).
  uint64_t file_syncs = 0;
  uint64_t records_per_sync_max = 0;
  uint64_t checkpoints = 0;
  uint64_t checkpoint_group_syncs = 0;  // Partition logs synced by checkpoints.
  uint64_t files_removed = 0;
  uint64_t live_files = 0;
  // Each group sync, its file syncs and directory sync together: the fsync every acknowledgement
  // of a node-wide-log node waits for.
  metrics::Histogram sync_latency_ns = metrics::LatencyHistogram();
};

// What a checkpoint runs to make one group's partition files durable (Log::CheckpointSync).
using WalGroupSync = std::function<absl::Status()>;

class Wal : public std::enable_shared_from_this<Wal> {
 public:
  static constexpr uint64_t kFileBytesMin = 4096;  // A soft limit: a larger record fits alone.
  static constexpr size_t kWaitersMax = 1 << 16;

  static absl::StatusOr<std::shared_ptr<Wal>> Open(io::Runtime& runtime, io::Disk& disk,
                                                   WalOptions options,
                                                   WalRecoveryReport* report = nullptr);
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // The group's history found at Open (empty for a group it had none of), until the group
  // registers: a Log whose Open fails part-way finds it again at its next Open.
  std::vector<WalOp> Replay(const std::string& group) const;
  // The Log of `group` is open and will write through the WAL; `sync` makes its partition files
  // durable for a checkpoint. FailedPrecondition if the group is registered already.
  absl::Status Register(const std::string& group, std::function<WalGroupSync()> collect);
  // The Log closes: `pending` (its last checkpoint sync, holding its files) runs at the next
  // checkpoint if it had records the WAL still needs.
  void Unregister(const std::string& group, WalGroupSync pending);
  // The group's data was removed from the node: nothing of it needs replaying or syncing.
  void Forget(const std::string& group);

  // Writes one record (page cache only) and returns its sequence number. Never suspends.
  // ResourceExhausted for a full disk; the WAL's failure once failed.
  absl::StatusOr<uint64_t> Append(const std::string& group, WalOp::Kind kind, Offset offset,
                                  std::span<const uint8_t> batch = {});
  // Waits until record `sequence` is durable (group commit).
  absl::Status WaitDurable(uint64_t sequence, io::Instant deadline = io::Instant::Infinite());
  uint64_t durable_sequence() const { return durable_sequence_; }
  bool testing_truncate_before_wal_sync() const {
    return options_.testing_truncate_before_wal_sync;
  }
  const absl::Status& failure() const { return failed_; }
  WalMetrics metrics() const;

 private:
  struct WalFile;
  // What the WAL knows of one group. `first_needed_file`: the oldest WAL file holding a record
  // of the group that its segment files may not hold durably yet (kNoFile: none).
  static constexpr uint64_t kNoFile = UINT64_MAX;
  struct Group {
    std::function<WalGroupSync()> collect;  // Set while the group's Log is open.
    WalGroupSync orphan_sync;               // A closed Log's last sync, until a checkpoint runs it.
    uint64_t first_needed_file = kNoFile;
    uint64_t last_sequence = 0;
  };

  Wal(io::Runtime& runtime, io::Disk& disk, WalOptions options);
  absl::Status Recover(WalRecoveryReport& report);
  absl::Status ReadFile(WalFile& file, WalRecoveryReport& report, bool* stop);
  absl::Status DropFilesAfter(size_t last_kept, WalRecoveryReport& report);
  absl::Status CreateFile(uint64_t number);
  absl::Status GroupSync();
  void MaybeCheckpoint();
  absl::Status Checkpoint();
  absl::Status RemoveRetiredFiles(uint64_t retire_below);
  absl::Status Fail(absl::Status status);
  std::string FilePath(uint64_t number) const;

  io::Runtime& runtime_;
  io::Disk& disk_;
  const WalOptions options_;
  std::deque<std::unique_ptr<WalFile>> files_;  // Oldest first; the last one is written.
  absl::btree_map<std::string, Group> groups_;
  absl::btree_map<std::string, std::vector<WalOp>> replay_;  // Found at Open, not yet taken.
  uint64_t next_sequence_ = 1;
  uint64_t durable_sequence_ = 0;
  bool dir_dirty_ = false;
  bool sync_busy_ = false;
  bool checkpoint_running_ = false;
  size_t waiters_ = 0;
  io::WaitList sync_waiters_;
  absl::Status failed_;
  WalMetrics metrics_;
};

}  // namespace meridian::core::log
