// core::broker::PartitionState: the state machine of one partition replica — what the committed
// raft entries of the partition's group mean as a messaging log.
//
// A partition's record log IS its raft log. Each committed raft entry is one of:
//   - the leader's no-op (empty data) or a configuration entry: no records, no offsets;
//   - a record batch (core/wire/records.fbs) that is accepted: its records get the next
//     record offsets, densely (record offset = high watermark before it, + i);
//   - a record batch that is refused at apply time (an idempotent duplicate, a sequence gap, a
//     fenced producer epoch, bytes that do not verify): no offsets.
// So record offsets have no holes, and the map from offsets to raft indices lives here (rebuilt
// on every restart from the latest snapshot and the entries after it).
//
// Retention and snapshots: retention deletes the oldest entries, and with them their batches.
// Before it does, the replica stores a raft snapshot whose data is EncodeSnapshot() of the
// state *at the last deleted entry* (the next offset and the idempotence state, no records);
// TrimThrough then forgets the deleted batches, and log_start_offset() moves to the first
// remaining record. A follower too far behind installs that snapshot (RestoreSnapshot) and then
// receives the entries after it, so it assigns the same offsets as everyone else. Every replica
// applies the same entries in the same order, so every replica assigns the same offsets and makes
// the same idempotence decisions — the dedup state survives leader changes because it is derived
// from the committed log itself, not from a leader's memory.
//
// Idempotence (per producer id; Kafka's rules): a batch with producer_id 0 is always accepted.
// Otherwise, with E the producer's current epoch and S its last accepted sequence:
//   epoch < E                            -> kFencedEpoch
//   epoch > E (or a new producer id)     -> accepted only if base_sequence == 0 (a new session)
//   epoch == E, (first, last) equals one of the last kRecentBatchesMax accepted batches
//                                        -> kDuplicate, reporting that batch's base offset
//   epoch == E, base_sequence == S + 1   -> accepted
//   otherwise                            -> kOutOfOrderSequence
// Sequences do not wrap: a batch whose last sequence would exceed INT32_MAX is refused
// (kInvalid); the producer must start a new epoch before that.
//
// Pure: no I/O, no clock. Who may call: the partition's replica driver fiber (Apply) and, between
// applies, request fibers (the read-only queries).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "core/raft/types.h"
#include "core/strong_id.h"
#include "core/wire/client_codec.h"

namespace meridian::core::broker {

enum class ApplyResult : uint8_t {
  kAppended,
  kDuplicate,
  kOutOfOrderSequence,
  kFencedEpoch,
  kInvalid,
  kNoRecords,  // A no-op or configuration entry.
};
const char* ApplyResultName(ApplyResult result);

struct ApplyOutcome {
  ApplyResult result = ApplyResult::kNoRecords;
  Offset base_offset;  // kAppended / kDuplicate: the batch's first record offset.
  uint32_t record_count = 0;
  std::string reason;  // For refusals.
};

// An accepted batch in the log.
struct BatchLocation {
  raft::Index index;
  Offset base_offset;
  uint32_t record_count = 0;
  int64_t timestamp_ms_max = 0;
};

// Test-only planted bugs (tests prove the checks catch them). Production: kNone.
enum class PartitionPlantedBug : uint8_t {
  kNone,
  kForgetProducerStateOnApply,  // No dedup window: an idempotent retry is appended twice.
  kSnapshotWithoutState,        // Retention snapshots carry an empty state (offsets from 0).
};

class PartitionState {
 public:
  // The dedup window every producer relies on (a producer keeps at most this many batches of one
  // partition in flight): the protocol's number, not this class's choice.
  static constexpr size_t kRecentBatchesMax = wire::kProducerBatchesRemembered;
  static constexpr size_t kOutcomesKept = 1 << 14;  // Recent outcomes, for waiting producers.
  static constexpr size_t kProducersMax = 1 << 20;
  // Offsets a restored snapshot may start from (the next batch's offsets must never wrap).
  static constexpr uint64_t kOffsetMax = uint64_t{1} << 62;

  explicit PartitionState(PartitionPlantedBug bug = PartitionPlantedBug::kNone) : bug_(bug) {}

  // Applies the next committed entry. `entry.index` must follow the previous one.
  ApplyOutcome Apply(const raft::Entry& entry);

  // The state after the last applied entry, as snapshot data (core/wire/snapshot.fbs).
  std::string EncodeSnapshot() const;
  // Replaces the whole state with a snapshot's, taken after entry `index`. InvalidArgument (and
  // no change) for data that does not verify or breaks a rule of this class.
  absl::Status RestoreSnapshot(raft::Index index, std::string_view data);
  // Forgets the batches of entries up to `index` (deleted by retention): log_start_offset()
  // becomes the first record after them.
  void TrimThrough(raft::Index index);
  // The largest applied index such that every batch up to it has all its records' timestamps
  // below `cutoff_ms` (age retention, at batch granularity); applied() if every batch does.
  raft::Index LastIndexOlderThan(int64_t cutoff_ms) const;

  // One past the last committed record (Kafka's high watermark).
  Offset high_watermark() const { return high_watermark_; }
  Offset log_start_offset() const { return log_start_offset_; }
  raft::Index applied() const { return applied_; }
  // The outcome of applying the entry at `index`, if it is recent enough to be remembered.
  std::optional<ApplyOutcome> OutcomeAt(raft::Index index) const;
  // The accepted batch holding `offset`; nullopt if offset is outside [start, high watermark).
  std::optional<BatchLocation> BatchHolding(Offset offset) const;
  // The accepted batch at raft index `index`, if that entry holds one.
  std::optional<BatchLocation> BatchAt(raft::Index index) const;
  // The first offset whose batch has a record with timestamp >= `timestamp_ms` (batch
  // granularity, like Kafka's time index); the high watermark if none.
  Offset OffsetForTimestamp(int64_t timestamp_ms) const;
  size_t producer_count() const { return producers_.size(); }
  uint64_t batches_refused() const { return batches_refused_; }

 private:
  struct SequenceRange {
    int32_t first = 0;
    int32_t last = 0;
    Offset base_offset;
  };
  struct ProducerState {
    uint32_t epoch = 0;
    int32_t last_sequence = -1;
    std::deque<SequenceRange> recent;  // Newest last, at most kRecentBatchesMax.
  };

  ApplyOutcome ApplyBatch(const raft::Entry& entry);
  ApplyOutcome CheckSequence(uint64_t producer_id, uint32_t epoch, int32_t first, int32_t last);
  void Remember(raft::Index index, const ApplyOutcome& outcome);

  const PartitionPlantedBug bug_;
  raft::Index applied_;
  Offset high_watermark_;
  Offset log_start_offset_;
  absl::btree_map<Offset, BatchLocation> batches_by_offset_;    // base offset -> batch
  absl::btree_map<raft::Index, Offset> batch_offset_by_index_;  // raft index -> base offset
  absl::btree_map<uint64_t, ProducerState> producers_;
  absl::btree_map<raft::Index, ApplyOutcome> outcomes_;
  uint64_t batches_refused_ = 0;
};

}  // namespace meridian::core::broker
