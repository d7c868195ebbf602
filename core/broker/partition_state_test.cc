#include "core/broker/partition_state.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/wire/client_codec.h"
#include "core/wire/snapshot_generated.h"

namespace meridian::core::broker {
namespace {

// A partition's raft log, as prose: Batch(...) appends a batch entry, Noop() the leader's no-op.
class LogBuilder {
 public:
  ApplyOutcome Batch(uint64_t producer_id, uint32_t epoch, int32_t base_sequence, int records,
                     int64_t timestamp_ms = 0) {
    wire::RecordBatchT batch;
    batch.producer_id = producer_id;
    batch.producer_epoch = epoch;
    batch.base_sequence = base_sequence;
    for (int i = 0; i < records; i++) {
      auto record = std::make_unique<wire::RecordT>();
      record->timestamp_ms = timestamp_ms + i;
      record->value = {static_cast<uint8_t>(i)};
      batch.records.push_back(std::move(record));
    }
    const std::vector<uint8_t> bytes = wire::EncodeRecordBatch(batch);
    return Append(raft::EntryKind::kNormal, std::string(bytes.begin(), bytes.end()));
  }
  ApplyOutcome Noop() { return Append(raft::EntryKind::kNormal, ""); }
  ApplyOutcome Config() { return Append(raft::EntryKind::kConfig, ""); }
  ApplyOutcome Garbage() { return Append(raft::EntryKind::kNormal, "not a record batch"); }

  PartitionState state;

 private:
  ApplyOutcome Append(raft::EntryKind kind, std::string data) {
    raft::Entry entry;
    entry.term = Term(1);
    entry.index = raft::Index(++last_index_);
    entry.kind = kind;
    entry.data = std::move(data);
    return state.Apply(entry);
  }
  uint64_t last_index_ = 0;
};

TEST(PartitionState, OffsetsAreDenseAcrossNoopsConfigEntriesAndRefusedBatches) {
  LogBuilder log;
  log.Noop();
  EXPECT_EQ(log.Batch(0, 0, 0, 3).base_offset, Offset(0));
  log.Config();
  EXPECT_EQ(log.Garbage().result, ApplyResult::kInvalid);
  EXPECT_EQ(log.Batch(0, 0, 0, 2).base_offset, Offset(3));
  EXPECT_EQ(log.state.high_watermark(), Offset(5));
  // Every offset below the high watermark is in exactly one batch, at the right raft index.
  EXPECT_EQ(log.state.BatchHolding(Offset(2))->index, raft::Index(2));
  EXPECT_EQ(log.state.BatchHolding(Offset(3))->index, raft::Index(5));
  EXPECT_FALSE(log.state.BatchHolding(Offset(5)).has_value());
  EXPECT_FALSE(log.state.BatchAt(raft::Index(4)).has_value());
}

TEST(PartitionState, ASnapshotRestoresOffsetsAndDedupAndTrimMovesTheLogStart) {
  LogBuilder log;
  log.Batch(7, 0, 0, 2);  // index 1, offsets 0-1
  log.Batch(0, 0, 0, 3);  // index 2, offsets 2-4
  log.Batch(7, 0, 2, 1);  // index 3, offset 5
  const std::string snapshot = log.state.EncodeSnapshot();
  // A replica restoring it continues with the same offsets and the same dedup decisions.
  PartitionState restored;
  ASSERT_TRUE(restored.RestoreSnapshot(raft::Index(3), snapshot).ok());
  EXPECT_EQ(restored.high_watermark(), Offset(6));
  EXPECT_EQ(restored.log_start_offset(), Offset(6));
  EXPECT_EQ(restored.applied(), raft::Index(3));
  EXPECT_EQ(restored.EncodeSnapshot(), snapshot);
  raft::Entry retry;  // A retry of the last batch, as entry 4.
  retry.term = Term(1);
  retry.index = raft::Index(4);
  {
    wire::RecordBatchT batch;
    batch.producer_id = 7;
    batch.base_sequence = 2;
    batch.records.push_back(std::make_unique<wire::RecordT>());
    const std::vector<uint8_t> bytes = wire::EncodeRecordBatch(batch);
    retry.data.assign(bytes.begin(), bytes.end());
  }
  const ApplyOutcome outcome = restored.Apply(retry);
  EXPECT_EQ(outcome.result, ApplyResult::kDuplicate) << "the dedup window survived the snapshot";
  EXPECT_EQ(outcome.base_offset, Offset(5));
  // Trimming through index 2 forgets the first two batches: the start moves to offset 5.
  log.state.TrimThrough(raft::Index(2));
  EXPECT_EQ(log.state.log_start_offset(), Offset(5));
  EXPECT_FALSE(log.state.BatchHolding(Offset(4)).has_value());
  EXPECT_EQ(log.state.BatchHolding(Offset(5))->index, raft::Index(3));
  // Garbage, and a high watermark whose next batch could wrap, are refused and change nothing.
  EXPECT_FALSE(restored.RestoreSnapshot(raft::Index(9), "garbage").ok());
  {
    wire::PartitionSnapshotT far;
    far.high_watermark = PartitionState::kOffsetMax + 1;
    flatbuffers::FlatBufferBuilder builder;
    builder.Finish(wire::PartitionSnapshot::Pack(builder, &far));
    EXPECT_FALSE(restored
                     .RestoreSnapshot(
                         raft::Index(9),
                         std::string_view(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                                          builder.GetSize()))
                     .ok());
  }
  EXPECT_EQ(restored.applied(), raft::Index(4));
}

TEST(PartitionState, AnIdempotentRetryIsADuplicateWithTheOriginalOffsets) {
  LogBuilder log;
  EXPECT_EQ(log.Batch(7, 0, 0, 2).result, ApplyResult::kAppended);
  EXPECT_EQ(log.Batch(7, 0, 2, 3).result, ApplyResult::kAppended);
  const ApplyOutcome retry = log.Batch(7, 0, 0, 2);
  EXPECT_EQ(retry.result, ApplyResult::kDuplicate);
  EXPECT_EQ(retry.base_offset, Offset(0));
  EXPECT_EQ(log.Batch(7, 0, 2, 3).base_offset, Offset(2));
  EXPECT_EQ(log.state.high_watermark(), Offset(5));
}

TEST(PartitionState, SequenceGapsAndStaleEpochsAreRefused) {
  LogBuilder log;
  EXPECT_EQ(log.Batch(7, 0, 1, 1).result, ApplyResult::kOutOfOrderSequence);  // new: must be 0
  EXPECT_EQ(log.Batch(7, 0, 0, 1).result, ApplyResult::kAppended);
  EXPECT_EQ(log.Batch(7, 0, 5, 1).result, ApplyResult::kOutOfOrderSequence);
  EXPECT_EQ(log.Batch(7, 1, 0, 1).result, ApplyResult::kAppended);  // a new epoch
  EXPECT_EQ(log.Batch(7, 0, 1, 1).result, ApplyResult::kFencedEpoch);
  EXPECT_EQ(log.Batch(7, 2, 3, 1).result, ApplyResult::kOutOfOrderSequence);
  EXPECT_EQ(log.state.high_watermark(), Offset(2));
  EXPECT_EQ(log.state.batches_refused(), 4u);
}

TEST(PartitionState, SequencesDoNotWrap) {
  LogBuilder log;
  EXPECT_EQ(log.Batch(9, 0, 0, 1).result, ApplyResult::kAppended);
  EXPECT_EQ(log.Batch(9, 1, 0, 1).result, ApplyResult::kAppended);
  EXPECT_EQ(log.Batch(9, 2, std::numeric_limits<int32_t>::max(), 2).result, ApplyResult::kInvalid);
}

TEST(PartitionState, TimestampLookupFindsTheFirstBatchAtOrAfter) {
  LogBuilder log;
  log.Batch(0, 0, 0, 2, 100);  // 100, 101
  log.Batch(0, 0, 0, 2, 200);  // 200, 201
  EXPECT_EQ(log.state.OffsetForTimestamp(50), Offset(0));
  EXPECT_EQ(log.state.OffsetForTimestamp(150), Offset(2));
  EXPECT_EQ(log.state.OffsetForTimestamp(999), Offset(4));
}

TEST(PartitionState, ThePlantedForgetfulStateAppendsRetriesTwice) {
  // The bug the broker's idempotence tests must catch: dedup state not kept.
  LogBuilder log;
  log.state.~PartitionState();
  new (&log.state) PartitionState(PartitionPlantedBug::kForgetProducerStateOnApply);
  EXPECT_EQ(log.Batch(7, 0, 0, 2).result, ApplyResult::kAppended);
  EXPECT_EQ(log.Batch(7, 0, 0, 2).result, ApplyResult::kAppended);  // the retry lands again
  EXPECT_EQ(log.Batch(7, 0, 2, 1).result, ApplyResult::kAppended);
  EXPECT_EQ(log.state.high_watermark(), Offset(5));
}

// Against a dumb model: a producer that retries every batch a random number of times, in order,
// ends with each batch in the log exactly once, at consecutive offsets.
RC_GTEST_PROP(PartitionState, RetriesNeverDuplicateOrReorder, ()) {
  const auto batches = *rc::gen::container<std::vector<int>>(rc::gen::inRange(1, 5));
  LogBuilder log;
  int32_t sequence = 0;
  uint64_t expected_offset = 0;
  for (int records : batches) {
    const int attempts = *rc::gen::inRange(1, 4);
    for (int attempt = 0; attempt < attempts; attempt++) {
      const ApplyOutcome outcome = log.Batch(3, 0, sequence, records);
      RC_ASSERT(outcome.result ==
                (attempt == 0 ? ApplyResult::kAppended : ApplyResult::kDuplicate));
      RC_ASSERT(outcome.base_offset == Offset(expected_offset));
    }
    sequence += records;
    expected_offset += records;
  }
  RC_ASSERT(log.state.high_watermark() == Offset(expected_offset));
}

}  // namespace
}  // namespace meridian::core::broker
