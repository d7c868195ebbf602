// core::log::Log: one partition's durable, segmented log of record batches over io::Disk.
//
// What it is for: the broker appends producer batches (or raft entries) and gets offsets back;
// replication acknowledges against durable_end_offset(); consumers and followers read by offset.
//
// What stays true (checked by Invariants() after every mutation):
//   start_offset() <= durable_end_offset() <= end_offset();
//   segments are contiguous: each one's base offset is its predecessor's end offset;
//   a batch is served to a reader only after its CRC32C matched (from disk) or it came from the
//   log's own append buffer (the tail cache);
//   durable_end_offset() only covers batches whose file Sync (and directory sync, for a new
//   segment) returned OK.
//
// Group commit: Append writes into the page cache and returns at once; WaitDurable(offset) makes
// the calling fiber either the sync leader (if no sync is running: it syncs everything appended
// so far, for everybody) or a follower that waits for a sync covering its offset. So N appenders
// that wait share one fsync, and the fsync rate adapts to the disk's latency by itself.
//
// After a failed sync or an unrepairable write error the log is failed: every later mutation
// returns the same error. The state of the page cache after a failed fsync is unknowable (the
// PostgreSQL "fsyncgate" lesson), so the only way on is to reopen, which re-reads the disk.
//
// Fibers: every method must be called from fibers of the one io::Runtime given to Open. Open,
// WaitDurable, Sync, TruncateSuffix, TruncatePrefix, EnforceRetention and AcknowledgeLoss
// suspend (on fsyncs); Append and Read never do, so they are atomic with respect to the others.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/batch_ref.h"
#include "core/log/format.h"
#include "core/log/sparse_index.h"
#include "core/log/tail_cache.h"
#include "core/log/wal.h"
#include "core/metrics/histogram.h"
#include "core/strong_id.h"
#include "io/disk.h"
#include "io/runtime.h"
#include "io/sync.h"

namespace meridian::core::log {

// Planted bugs, for tests that prove the model test bites. Never set outside tests.
struct LogTestingKnobs {
  // Tell durability waiters "durable" when the sync starts instead of when it completes (the
  // waiter that starts the sync too: the sync then runs on a fiber of its own).
  bool report_durable_before_sync = false;
  // Serve batches read from disk without checking their CRC.
  bool skip_crc_check_on_read = false;
  // Recovery keeps batches whose CRC does not match (their headers must still decode).
  bool skip_crc_check_on_recovery = false;
  // Over a WAL: a direct run's first round is reported durable without waiting for its
  // kDirect record.
  bool direct_round_before_its_record = false;
  // Over a WAL: a replay takes a kDirect record for a plain base, removing the direct run's
  // batches from the segment files.
  bool replay_drops_direct_runs = false;
};

struct LogOptions {
  std::string dir = "log";                   // Directory on the io::Disk; created if missing.
  uint64_t segment_bytes_max = 64ull << 20;  // Roll to a new segment past this size,
  int64_t segment_ms_max = 0;                // or past this span of batch time (0: never).
  uint32_t index_interval_bytes = 4096;      // Sparse index density.
  uint64_t cache_bytes_max = 16ull << 20;    // Tail cache budget.
  uint64_t retention_bytes_max = 0;          // 0: no size-based retention.
  int64_t retention_ms_max = 0;              // 0: no age-based retention.
  // The node-wide write-ahead log (wal.h), or none: the log then syncs its own segment files.
  // With one, a batch is durable once its WAL record is, and `dir` names the group in the WAL.
  std::shared_ptr<Wal> wal;
  // With a WAL: once a round (what was appended since the last durable point) passes this many
  // bytes, the log goes direct: batches without WAL records, each round made durable by syncing
  // the segment files (the run's first one also writes a kDirect record and waits for it), so
  // large rounds are neither written twice nor pay a WAL sync each. A direct round under a
  // quarter of this goes back through the WAL (a base record). 0: every batch goes through it.
  uint64_t wal_direct_round_bytes = 64 << 10;
  LogTestingKnobs testing;
};

// What Open found and did. `cut` means the disk held less than a clean log: a torn final write
// (expected after a crash: those bytes were never reported durable) or damage (a corrupted
// batch, a missing or garbled segment): either way the log was cut at the first bad byte and
// [lost_from, lost_end_offset_hint) must be fetched again from a peer. A cut is recorded on disk
// before it is made, and reported by every Open until AcknowledgeLoss, so a crash during or
// after recovery cannot make a loss silent.
struct RecoveryReport {
  uint32_t segments_found = 0;
  uint64_t batches_recovered = 0;
  Offset start_offset;
  Offset end_offset;
  bool cut = false;             // Bytes were discarded (now, or by an unacknowledged recovery).
  Offset lost_from;             // First offset lost (meaningful when `cut`).
  bool looks_torn = false;      // ... and the cut looks like a torn last write, not damage.
  Offset lost_end_offset_hint;  // Best known end of what was discarded (>= end_offset).
  uint64_t bytes_discarded = 0;
  uint32_t segments_removed = 0;
  std::string lost_reason;
  std::vector<std::string> ignored_files;  // Names in the directory that are not segments.
  // With a WAL: the group's operations it held, and the batches they wrote back here.
  uint64_t wal_ops = 0;
  uint64_t wal_batches_restored = 0;
  // The segment files lost batches (a cut: unsynced files need not survive in order), but the
  // WAL held everything from before the first lost offset and wrote it back: nothing is lost,
  // `cut` is false and the loss record is gone.
  bool healed_by_wal = false;
  bool cut_by_wal_gap = false;  // The WAL continues past where the segment files end.

  std::string ToString() const;
};

struct LogMetrics {
  uint64_t appends = 0;
  uint64_t append_bytes = 0;
  uint64_t group_syncs = 0;  // Leader syncs (each = one fsync per dirty segment).
  uint64_t file_syncs = 0;
  uint64_t dir_syncs = 0;
  uint64_t batches_per_sync_max = 0;
  uint64_t reads = 0;
  uint64_t read_bytes = 0;
  uint64_t cache_hits = 0;    // Reads served from the tail cache.
  uint64_t cache_misses = 0;  // Reads that went to disk.
  uint64_t cache_evictions = 0;
  uint64_t cache_bytes = 0;
  uint64_t corruptions_detected = 0;  // Bad batches met by reads (never served).
  uint64_t segments_rolled = 0;
  uint64_t segments_removed = 0;
  uint64_t suffix_truncations = 0;
  // Latency of each segment file sync (fsync/fdatasync) that succeeded, in nanoseconds of the
  // runtime's clock (virtual time in the simulator).
  metrics::Histogram file_sync_latency_ns = metrics::LatencyHistogram();
};

// Creates `dir` and every missing parent, each creation made durable (SyncDir of its parent).
absl::Status EnsureDir(io::Disk& disk, const std::string& dir);

struct FoundSegment;  // Recovery internals (log_recovery.cc).
struct RecoveryCut;

class Log {
 public:
  static constexpr size_t kDurabilityWaitersMax = 4096;
  static constexpr size_t kSegmentsMax = 1 << 16;
  static constexpr size_t kTruncationHistoryMax = 64;
  static constexpr uint64_t kSegmentBytesMin = 4096;
  static constexpr uint64_t kSegmentBytesMax = kSegmentBytesLimit - kBatchBytesMax;
  // The WAL sequence of a batch appended without a WAL record (wal_direct_round_bytes).
  static constexpr uint64_t kDirectAppend = 0;
  static_assert(kSegmentBytesMin > kSegmentHeaderBytes + kBatchHeaderBytes);

  // Opens (recovering) or creates the log in options.dir. Errors: FailedPrecondition for a
  // segment of a newer format version, InvalidArgument for bad options, and the disk's status
  // for I/O errors; in all of these nothing on disk was changed.
  static absl::StatusOr<std::unique_ptr<Log>> Open(io::Runtime& runtime, io::Disk& disk,
                                                   LogOptions options,
                                                   RecoveryReport* report = nullptr);
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends one batch and returns its base offset. Not durable until WaitDurable says so.
  // ResourceExhausted when the disk is full or the offsets are (end_offset() past
  // kBaseOffsetMax; nothing was appended); InvalidArgument for a batch over the limits;
  // Unavailable while a truncation waits for the WAL (LogOptions::wal). Never suspends.
  absl::StatusOr<Offset> Append(const BatchMeta& meta, std::span<const uint8_t> payload);
  // The same batch, its payload given in parts (concatenated in order): no copy to join them.
  absl::StatusOr<Offset> Append(const BatchMeta& meta,
                                std::span<const std::span<const uint8_t>> payload_parts);
  // Waits until the batch holding `offset` is durable (group commit). Aborted if a suffix
  // truncation removed it meanwhile; OK at once below start_offset() (a prefix truncation
  // removes only durable batches). Over a WAL, ResourceExhausted if a large round's base record
  // found the disk full (nothing changed; wait again once there is space).
  absl::Status WaitDurable(Offset offset, io::Instant deadline = io::Instant::Infinite());
  // Makes everything appended so far durable.
  absl::Status Sync();

  // Whole verified batches from the one holding `from`, up to `bytes_max` bytes (at least one
  // batch, so a reader always progresses). Empty at end_offset(); OutOfRange outside
  // [start_offset, end_offset]; DataLoss if a batch failed its check (it is never served; the
  // range is then to be repaired from a peer: truncate the suffix there and fetch again).
  absl::StatusOr<ReadResult> Read(Offset from, uint64_t bytes_max);

  // Removes every batch at or after `new_end`, durably (raft: a follower's conflicting suffix).
  // `new_end` must be a batch boundary in [start_offset, end_offset].
  absl::Status TruncateSuffix(Offset new_end);
  // Removes, durably and oldest first, every whole segment that ends at or before `up_to`; never
  // the active one. Returns the new start offset (<= up_to).
  absl::StatusOr<Offset> TruncatePrefix(Offset up_to);
  // Discards every batch, durably, and continues the log, empty, at `new_start` (raft: a
  // follower installing a snapshot that its log does not reach). Waiters on any offset of the
  // old log see Aborted. A crash part-way leaves a log that recovery reads as the old log, or
  // part of it (possibly with a loss reported for the new empty segment): the caller, which
  // stored what made the reset necessary first, resets again.
  absl::Status Reset(Offset new_start);
  // Where retention by this policy would move the start (segment granularity): the end offset
  // of the last old segment it removes, or start_offset() if none. 0 turns a limit off.
  Offset RetentionPoint(int64_t now_ms, uint64_t retention_bytes_max,
                        int64_t retention_ms_max) const;
  // Retention: removes the oldest segments while the log is over retention_bytes_max or their
  // newest batch is older than retention_ms_max before `now_ms`. Returns the new start offset.
  absl::StatusOr<Offset> EnforceRetention(int64_t now_ms);
  // The owner has repaired (or accepted) the loss a recovery reported: forget the loss record,
  // durably, so later Opens stop reporting it.
  absl::Status AcknowledgeLoss();

  Offset start_offset() const { return start_offset_; }
  Offset end_offset() const { return end_offset_; }
  Offset durable_end_offset() const { return durable_end_; }
  bool uses_wal() const { return options_.wal != nullptr; }
  uint64_t size_bytes() const;
  size_t segment_count() const { return segments_.size(); }
  const absl::Status& failure() const { return failed_; }
  LogMetrics metrics() const;

 private:
  struct Segment;
  using SegmentPtr = std::shared_ptr<Segment>;

  Log(io::Runtime& runtime, io::Disk& disk, LogOptions options);
  static absl::Status ValidateOptions(const LogOptions& options);
  absl::Status Recover(RecoveryReport& report);
  absl::Status WriteLossRecord(const LossRecord& record);
  absl::StatusOr<size_t> CutAtFirstBadByte(std::vector<FoundSegment>& found, const RecoveryCut& cut,
                                           std::optional<LossRecord>& loss, RecoveryReport& report);
  absl::StatusOr<std::optional<LossRecord>> ReadLossRecord(RecoveryReport& report);
  absl::Status CreateSegment(Offset base_offset);
  absl::Status Roll();
  bool NeedsRoll(const Segment& active, uint32_t batch_bytes, int64_t max_timestamp_ms) const;
  absl::Status GroupSync();
  // With a WAL (wal.h): durability waits, the replay at Open and the checkpoint's sync.
  absl::Status OpenOverWal(RecoveryReport& report);
  absl::Status WaitDurableInWal(Offset offset, io::Instant deadline);
  void AdvanceDurableFromWal();
  absl::Status WriteWalRecordFirst(WalOp::Kind kind, Offset offset);
  void RecordTruncation(Offset new_end);
  absl::Status WaitDurableDirect(Offset offset, io::Instant deadline);
  absl::Status SyncDirectRoundLocked(bool leave);
  absl::Status PlantedDirectDurability();
  absl::Status WriteDirectRecordLocked(WalOp::Kind kind, Offset synced_end);
  // Returns whether the WAL's history covered the log from at or before the first cut offset
  // (so nothing the segment files lost is missing after the redo).
  absl::StatusOr<bool> ReplayWal(const std::vector<WalOp>& ops, RecoveryReport& report);
  absl::Status ApplyReplayedTail(const std::vector<const WalOp*>& tail, Offset model_end,
                                 bool direct, RecoveryReport& report);
  absl::StatusOr<bool> HoldsBatch(const WalOp& op);
  absl::Status ReportWalGap(Offset model_end, RecoveryReport& report);
  WalGroupSync CollectCheckpointSync();
  absl::StatusOr<Offset> AppendEncoded(std::shared_ptr<const std::vector<uint8_t>> encoded,
                                       int64_t max_timestamp_ms);
  absl::Status AcquireIo(io::Instant deadline);
  void ReleaseIo();
  absl::Status Fail(absl::Status status);
  absl::Status CheckNotTruncated(Offset offset, uint64_t generation) const;
  size_t SegmentIndexFor(Offset offset) const;
  absl::StatusOr<uint64_t> PositionOf(const Segment& segment, Offset offset);
  absl::StatusOr<ReadResult> ReadFromDisk(const Segment& segment, Offset from, uint64_t bytes_max);
  absl::Status ReportCorruption(const Segment& segment, uint64_t position, std::string what);
  std::string SegmentPath(Offset base_offset) const;
  void Invariants() const;

  io::Runtime& runtime_;
  io::Disk& disk_;
  const LogOptions options_;
  std::vector<SegmentPtr> segments_;  // Oldest first; the last one is active.
  Offset start_offset_;
  Offset end_offset_;
  Offset durable_end_;
  bool dir_dirty_ = false;  // A segment name not yet made durable by SyncDir.
  bool io_busy_ = false;    // A sync or truncation owns the files.
  size_t durability_waiters_ = 0;
  io::WaitList io_waiters_;
  uint64_t truncation_generation_ = 0;
  std::deque<std::pair<uint64_t, Offset>> truncations_;  // (generation, new end), newest last.
  absl::Status failed_;
  // With a WAL: (end offset after the append, WAL sequence) of appends not yet known durable.
  std::deque<std::pair<Offset, uint64_t>> wal_pending_;
  bool wal_registered_ = false;
  bool replaying_ = false;               // Redoing the WAL's records at Open: not written again.
  bool wal_truncation_pending_ = false;  // A truncation waits for its WAL record's sync.
  // A direct run (LogOptions::wal_direct_round_bytes): appends go without WAL records, until a
  // base record (SyncDirectRoundLocked) or a reset ends it. Its first round's sync writes a
  // kDirect record, durable before that round is reported durable.
  bool direct_ = false;
  bool direct_marker_written_ = false;
  uint64_t round_bytes_ = 0;  // Appended since the log was last durable to its end.
  // With a WAL: the segment files are known synced below this (at Open, and by direct rounds).
  // A direct round syncs every segment from here on: the batches before the kDirect record,
  // held only by WAL records until then, are in the segment files durably too.
  Offset segments_synced_end_;
  TailCache cache_;
  LogMetrics metrics_;
};

}  // namespace meridian::core::log
