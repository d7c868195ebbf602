#include "core/broker/partition_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/wire/client_codec.h"
#include "core/wire/snapshot_generated.h"
#include "io/assert.h"

namespace meridian::core::broker {

const char* ApplyResultName(ApplyResult result) {
  switch (result) {
    case ApplyResult::kAppended:
      return "appended";
    case ApplyResult::kDuplicate:
      return "duplicate";
    case ApplyResult::kOutOfOrderSequence:
      return "out-of-order-sequence";
    case ApplyResult::kFencedEpoch:
      return "fenced-epoch";
    case ApplyResult::kInvalid:
      return "invalid";
    case ApplyResult::kNoRecords:
      return "no-records";
  }
  return "?";
}

ApplyOutcome PartitionState::Apply(const raft::Entry& entry) {
  MERIDIAN_CHECK(entry.index == applied_.next(), "apply {} after {}", entry.index.ToString(),
                 applied_.ToString());
  const Offset high_watermark_before = high_watermark_;
  applied_ = entry.index;
  ApplyOutcome outcome;
  if (entry.kind == raft::EntryKind::kNormal && !entry.data.empty()) outcome = ApplyBatch(entry);
  Remember(entry.index, outcome);
  // Paired checks: offsets only move on an accepted batch, and by exactly its record count.
  if (outcome.result == ApplyResult::kAppended) {
    MERIDIAN_CHECK(outcome.base_offset == high_watermark_before);
    MERIDIAN_CHECK(high_watermark_.value() == high_watermark_before.value() + outcome.record_count);
  } else {
    MERIDIAN_CHECK(high_watermark_ == high_watermark_before);
  }
  return outcome;
}

ApplyOutcome PartitionState::ApplyBatch(const raft::Entry& entry) {
  const auto bytes =
      std::span(reinterpret_cast<const uint8_t*>(entry.data.data()), entry.data.size());
  absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(bytes);
  if (!batch.ok()) {
    // The leader verified it before proposing; bytes that fail here were damaged or forged.
    // Every replica refuses them the same way, so offsets stay identical everywhere.
    batches_refused_++;
    return {ApplyResult::kInvalid, Offset(), 0, std::string(batch.status().message())};
  }
  const uint32_t count = (*batch)->records()->size();
  const uint64_t producer_id = (*batch)->producer_id();
  if (producer_id != 0) {
    const int64_t last = int64_t{(*batch)->base_sequence()} + count - 1;
    if (last > std::numeric_limits<int32_t>::max()) {
      batches_refused_++;
      return {ApplyResult::kInvalid, Offset(), 0, "sequence number would wrap"};
    }
    ApplyOutcome checked = CheckSequence(producer_id, (*batch)->producer_epoch(),
                                         (*batch)->base_sequence(), static_cast<int32_t>(last));
    if (checked.result != ApplyResult::kAppended) {
      if (checked.result != ApplyResult::kDuplicate) batches_refused_++;
      return checked;
    }
  }
  int64_t timestamp_ms_max = std::numeric_limits<int64_t>::min();
  for (const wire::Record* record : *(*batch)->records()) {
    timestamp_ms_max = std::max(timestamp_ms_max, record->timestamp_ms());
  }
  const Offset base = high_watermark_;
  batches_by_offset_[base] = BatchLocation{entry.index, base, count, timestamp_ms_max};
  batch_offset_by_index_[entry.index] = base;
  high_watermark_ = Offset(base.value() + count);
  if (producer_id != 0) {
    ProducerState& producer = producers_[producer_id];
    producer.recent.back().base_offset = base;
  }
  return {ApplyResult::kAppended, base, count, ""};
}

ApplyOutcome PartitionState::CheckSequence(uint64_t producer_id, uint32_t epoch, int32_t first,
                                           int32_t last) {
  auto it = producers_.find(producer_id);
  const bool known = it != producers_.end();
  if (known && epoch < it->second.epoch) {
    return {ApplyResult::kFencedEpoch, Offset(), 0,
            fmt::format("producer {} epoch {} is fenced by epoch {}", producer_id, epoch,
                        it->second.epoch)};
  }
  if (!known || epoch > it->second.epoch) {
    if (first != 0) {
      return {ApplyResult::kOutOfOrderSequence, Offset(), 0,
              fmt::format("producer {} epoch {} must start at sequence 0, not {}", producer_id,
                          epoch, first)};
    }
    if (!known && producers_.size() >= kProducersMax) {
      return {ApplyResult::kInvalid, Offset(), 0, "too many producers on this partition"};
    }
    ProducerState& state = producers_[producer_id];
    state = ProducerState{epoch, last, {}};
    state.recent.push_back({first, last, Offset()});
    return {ApplyResult::kAppended, Offset(), 0, ""};
  }
  ProducerState& state = it->second;
  if (bug_ == PartitionPlantedBug::kForgetProducerStateOnApply) {
    // PLANTED BUG: no dedup window — every batch of a known session is taken as new.
    state.last_sequence = std::max(state.last_sequence, last);
    state.recent.push_back({first, last, Offset()});
    while (state.recent.size() > kRecentBatchesMax) state.recent.pop_front();
    return {ApplyResult::kAppended, Offset(), 0, ""};
  }
  for (const SequenceRange& range : state.recent) {
    if (range.first == first && range.last == last) {
      return {ApplyResult::kDuplicate, range.base_offset, static_cast<uint32_t>(last - first + 1),
              ""};
    }
  }
  if (first != state.last_sequence + 1) {
    return {ApplyResult::kOutOfOrderSequence, Offset(), 0,
            fmt::format("producer {} epoch {}: expected sequence {}, got {}", producer_id, epoch,
                        state.last_sequence + 1, first)};
  }
  state.last_sequence = last;
  state.recent.push_back({first, last, Offset()});
  while (state.recent.size() > kRecentBatchesMax) state.recent.pop_front();
  return {ApplyResult::kAppended, Offset(), 0, ""};
}

void PartitionState::Remember(raft::Index index, const ApplyOutcome& outcome) {
  outcomes_[index] = outcome;
  while (outcomes_.size() > kOutcomesKept) outcomes_.erase(outcomes_.begin());
}

std::optional<ApplyOutcome> PartitionState::OutcomeAt(raft::Index index) const {
  auto it = outcomes_.find(index);
  if (it == outcomes_.end()) return std::nullopt;
  return it->second;
}

std::optional<BatchLocation> PartitionState::BatchHolding(Offset offset) const {
  if (offset < log_start_offset_ || offset >= high_watermark_) return std::nullopt;
  auto it = batches_by_offset_.upper_bound(offset);
  MERIDIAN_CHECK(it != batches_by_offset_.begin(), "no batch at or before {}", offset.ToString());
  --it;
  MERIDIAN_CHECK(offset.value() < it->first.value() + it->second.record_count,
                 "offset {} falls in a hole after {}", offset.ToString(), it->first.ToString());
  return it->second;
}

std::optional<BatchLocation> PartitionState::BatchAt(raft::Index index) const {
  auto it = batch_offset_by_index_.find(index);
  if (it == batch_offset_by_index_.end()) return std::nullopt;
  auto batch = batches_by_offset_.find(it->second);
  MERIDIAN_CHECK(batch != batches_by_offset_.end());
  MERIDIAN_CHECK(batch->second.index == index);
  return batch->second;
}

Offset PartitionState::OffsetForTimestamp(int64_t timestamp_ms) const {
  // Linear in batches; a time index comes with retention (segments carry their max timestamp).
  for (const auto& [base, batch] : batches_by_offset_) {
    if (batch.timestamp_ms_max >= timestamp_ms) return base;
  }
  return high_watermark_;
}

std::string PartitionState::EncodeSnapshot() const {
  wire::PartitionSnapshotT snapshot;
  if (bug_ == PartitionPlantedBug::kSnapshotWithoutState) {
    // PLANTED BUG: the snapshot carries nothing; a follower restoring it counts offsets from 0.
  } else {
    snapshot.high_watermark = high_watermark_.value();
    for (const auto& [id, producer] : producers_) {
      auto out = std::make_unique<wire::ProducerSequencesT>();
      out->producer_id = id;
      out->epoch = producer.epoch;
      out->last_sequence = producer.last_sequence;
      for (const SequenceRange& range : producer.recent) {
        out->recent.emplace_back(range.first, range.last, range.base_offset.value());
      }
      snapshot.producers.push_back(std::move(out));
    }
  }
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(wire::PartitionSnapshot::Pack(builder, &snapshot));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

absl::Status PartitionState::RestoreSnapshot(raft::Index index, std::string_view data) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (!verifier.VerifyBuffer<wire::PartitionSnapshot>(nullptr)) {
    return absl::InvalidArgumentError("partition snapshot fails FlatBuffers verification");
  }
  const auto* snapshot = flatbuffers::GetRoot<wire::PartitionSnapshot>(data.data());
  if (snapshot->high_watermark() > kOffsetMax) {
    return absl::InvalidArgumentError(fmt::format("partition snapshot high watermark {} beyond {}",
                                                  snapshot->high_watermark(), kOffsetMax));
  }
  absl::btree_map<uint64_t, ProducerState> producers;
  if (const auto* list = snapshot->producers(); list != nullptr) {
    if (list->size() > kProducersMax) {
      return absl::InvalidArgumentError(fmt::format("{} producers", list->size()));
    }
    for (const wire::ProducerSequences* producer : *list) {
      const auto* recent = producer->recent();
      // FlatBuffers 2.0's verifier checks a vector of structs for 4-byte alignment only; these
      // structs hold 8-byte fields, and hostile bytes may place them at 4 mod 8.
      const bool misaligned =
          recent != nullptr &&
          reinterpret_cast<uintptr_t>(recent->Data()) % alignof(wire::SequenceRangeRecord) != 0;
      if (producer->producer_id() == 0 || producer->last_sequence() < 0 || misaligned ||
          (recent != nullptr && recent->size() > kRecentBatchesMax)) {
        return absl::InvalidArgumentError("malformed producer in a partition snapshot");
      }
      ProducerState state{producer->epoch(), producer->last_sequence(), {}};
      if (recent != nullptr) {
        for (const wire::SequenceRangeRecord* range : *recent) {
          if (range->first() > range->last() || range->last() > producer->last_sequence() ||
              range->base_offset() > snapshot->high_watermark()) {
            return absl::InvalidArgumentError("malformed sequence range in a partition snapshot");
          }
          state.recent.push_back({range->first(), range->last(), Offset(range->base_offset())});
        }
      }
      if (!producers.emplace(producer->producer_id(), std::move(state)).second) {
        return absl::InvalidArgumentError("a producer listed twice in a partition snapshot");
      }
    }
  }
  applied_ = index;
  high_watermark_ = Offset(snapshot->high_watermark());
  log_start_offset_ = high_watermark_;
  batches_by_offset_.clear();
  batch_offset_by_index_.clear();
  outcomes_.clear();
  producers_ = std::move(producers);
  return absl::OkStatus();
}

void PartitionState::TrimThrough(raft::Index index) {
  MERIDIAN_CHECK(index <= applied_, "trimming unapplied entries");
  while (!batch_offset_by_index_.empty() && batch_offset_by_index_.begin()->first <= index) {
    batches_by_offset_.erase(batch_offset_by_index_.begin()->second);
    batch_offset_by_index_.erase(batch_offset_by_index_.begin());
  }
  MERIDIAN_CHECK(batches_by_offset_.size() == batch_offset_by_index_.size());
  const Offset start =
      batches_by_offset_.empty() ? high_watermark_ : batches_by_offset_.begin()->first;
  log_start_offset_ = std::max(log_start_offset_, start);
  MERIDIAN_CHECK(log_start_offset_ <= high_watermark_);
}

raft::Index PartitionState::LastIndexOlderThan(int64_t cutoff_ms) const {
  for (const auto& [base, batch] : batches_by_offset_) {
    if (batch.timestamp_ms_max >= cutoff_ms) return raft::Index(batch.index.value() - 1);
  }
  return applied_;
}

}  // namespace meridian::core::broker
