#include "core/client/producer.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/client/errors.h"
#include "core/client/partitioner.h"
#include "core/wire/client_codec.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::client {
namespace {

absl::Status WireError(wire::ErrorCode code, std::string message) {
  wire::ErrorResponseT error;
  error.code = code;
  error.message = std::move(message);
  return StatusFromError(error);
}

std::vector<uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

}  // namespace

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(Client& client,
                                                           ProducerOptions options) {
  if (options.batch_bytes_max == 0 || options.batch_bytes_max > wire::kBatchBytesMax) {
    return absl::InvalidArgumentError(
        fmt::format("batch_bytes_max must be in 1..{}", wire::kBatchBytesMax));
  }
  if (options.buffer_bytes_max < wire::kBatchBytesMax ||
      options.buffer_bytes_max > kBufferBytesMax) {
    return absl::InvalidArgumentError(
        fmt::format("buffer_bytes_max must be in {}..{}", wire::kBatchBytesMax, kBufferBytesMax));
  }
  if (options.delivery_timeout.count() <= 0 || options.linger.count() < 0) {
    return absl::InvalidArgumentError("delivery_timeout must be > 0 and linger >= 0");
  }
  if (options.max_in_flight_per_partition == 0 ||
      options.max_in_flight_per_partition > kInFlightPerPartitionMax) {
    return absl::InvalidArgumentError(fmt::format(
        "max_in_flight_per_partition must be in 1..{} (the batches a partition remembers for "
        "deduplication), not {}",
        kInFlightPerPartitionMax, options.max_in_flight_per_partition));
  }
  std::unique_ptr<Producer> producer(new Producer(client, options));
  if (options.idempotent) {
    absl::StatusOr<wire::InitProducerIdResponseT> id = client.InitProducerId(0);
    if (!id.ok()) return id.status();
    if (id->producer_id == 0) return absl::InternalError("InitProducerId returned producer id 0");
    producer->producer_id_ = id->producer_id;
    producer->epoch_ = id->producer_epoch;
  }
  return producer;
}

Producer::Producer(Client& client, ProducerOptions options)
    : client_(client),
      runtime_(client.runtime()),
      options_(std::move(options)),
      // Without sequence numbers a retry could land behind a later batch; with acks=Leader the
      // node answers before the sequence check, so a refusal would come after an "ack".
      in_flight_max_(options_.idempotent && options_.acks == wire::Acks::Quorum
                         ? options_.max_in_flight_per_partition
                         : 1),
      bumped_(runtime_),
      room_(runtime_),
      resolved_(runtime_) {}

Producer::~Producer() {
  if (senders_running_ > 0 && runtime_.scheduler().InFiber() &&
      !runtime_.scheduler().shutting_down()) {
    (void)Close(runtime_.Now());
  }
  MERIDIAN_CHECK(senders_running_ == 0 || runtime_.scheduler().shutting_down(),
                 "Producer destroyed with {} sender fibers running: Close() it first",
                 senders_running_);
}

Producer::PartitionState& Producer::State(const std::string& topic, uint32_t partition) {
  auto& slot = partitions_[{topic, partition}];
  if (slot == nullptr) {
    slot = std::make_unique<PartitionState>(runtime_);
    slot->topic = topic;
    slot->partition = partition;
  }
  return *slot;
}

uint32_t Producer::KeyPartition(std::string_view key, uint32_t partitions) const {
  if (options_.planted == ProducerPlantedBug::kKeyHashFnv) {
    return wire::GroupPartition(key, partitions);  // PLANTED: not Kafka's partitioner.
  }
  return PartitionForKey(key, partitions);
}

uint32_t Producer::StickyPartition(const std::string& topic, uint32_t partitions) {
  auto [it, inserted] = sticky_.try_emplace(topic, 0);
  if (inserted || it->second >= partitions) {
    it->second = static_cast<uint32_t>(runtime_.random().Below(partitions));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<DeliveryPromise>> Producer::Send(
    const std::string& topic, std::optional<std::string> key, std::string value,
    std::vector<RecordHeader> headers, int64_t timestamp_ms, io::Instant deadline) {
  if (closing_ || closed_) return absl::FailedPreconditionError("producer closed");
  size_t bytes = kRecordOverheadBytes + value.size() + (key ? key->size() : 0);
  for (const RecordHeader& header : headers) {
    bytes += header.key.size() + header.value.size() + kRecordOverheadBytes;
  }
  if (bytes + kBatchOverheadBytes > wire::kBatchBytesMax) {
    return WireError(wire::ErrorCode::RecordTooLarge,
                     fmt::format("a record of ~{} bytes cannot fit a batch of {} bytes", bytes,
                                 wire::kBatchBytesMax));
  }
  absl::StatusOr<uint32_t> partitions = client_.PartitionCount(topic, deadline);
  if (!partitions.ok()) return partitions.status();
  const uint32_t partition =
      key ? KeyPartition(*key, *partitions) : StickyPartition(topic, *partitions);
  MERIDIAN_CHECK(partition < *partitions);
  if (!partitions_.contains({topic, partition}) && partitions_.size() >= kPartitionsMax) {
    return absl::ResourceExhaustedError("producer writes to too many partitions");
  }
  absl::Status room = room_.WaitUntil(
      [&] { return closing_ || buffered_bytes_ + bytes <= options_.buffer_bytes_max; }, deadline,
      "producer buffer room");
  if (!room.ok()) return room;
  if (closing_) return absl::FailedPreconditionError("producer closed");

  PartitionState& state = State(topic, partition);
  if (!state.open.promises.empty() && state.open.bytes + bytes > options_.batch_bytes_max) {
    Seal(state);
  }
  auto record = std::make_unique<wire::RecordT>();
  record->timestamp_ms = timestamp_ms;
  if (key) record->key = Bytes(*key);
  record->value = Bytes(value);
  for (RecordHeader& header : headers) {
    auto wire_header = std::make_unique<wire::HeaderT>();
    wire_header->key = std::move(header.key);
    wire_header->value = Bytes(header.value);
    record->headers.push_back(std::move(wire_header));
  }
  auto promise = std::make_shared<DeliveryPromise>(runtime_, partition);
  Batch& open = state.open;
  if (open.promises.empty()) open.created = runtime_.Now();
  open.content.records.push_back(std::move(record));
  open.promises.push_back(promise);
  open.indices.push_back(next_index_);
  open.record_bytes.push_back(bytes);
  open.bytes += bytes;
  unresolved_.insert(next_index_++);
  buffered_bytes_ += bytes;
  if (!state.sender_running) {
    state.sender_running = true;
    senders_running_++;
    state.sender = runtime_.Spawn(fmt::format("producer-{}-{}", topic, partition),
                                  [this, &state] { SenderLoop(state); });
  } else {
    state.wake.NotifyAll();
  }
  return promise;
}

void Producer::Seal(PartitionState& state) {
  MERIDIAN_CHECK(!state.open.promises.empty());
  MERIDIAN_CHECK(state.open.promises.size() == state.open.content.records.size());
  state.sealed.push_back(std::move(state.open));
  state.open = Batch{};
  auto sticky = sticky_.find(state.topic);
  if (sticky != sticky_.end() && sticky->second == state.partition) {
    sticky_.erase(sticky);  // The next unkeyed record picks a new sticky partition.
  }
  state.wake.NotifyAll();
}

bool Producer::FlushWanted(const PartitionState& state) const {
  return closing_ || (!state.open.indices.empty() && state.open.indices.front() <= flush_up_to_);
}

// Stamps a batch as it enters its partition's window (and again when a Rewind re-stamps it).
absl::Status Producer::Stamp(PartitionState& state, Batch& batch) {
  if (options_.idempotent) {
    if (state.sequence_epoch != epoch_) {  // A new epoch restarts the partition at 0.
      MERIDIAN_CHECK(state.window.empty(), "an epoch change with {} batches in the window",
                     state.window.size());
      state.sequence_epoch = epoch_;
      state.next_sequence = 0;
    }
    batch.content.producer_id = producer_id_;
    batch.content.producer_epoch = state.sequence_epoch;
    batch.content.base_sequence = state.next_sequence;
    state.next_sequence += static_cast<int32_t>(batch.content.records.size());
  }
  batch.encoded = wire::EncodeRecordBatch(batch.content);
  if (batch.encoded.size() > wire::kBatchBytesMax) {
    return WireError(wire::ErrorCode::RecordTooLarge,
                     fmt::format("batch encodes to {} bytes", batch.encoded.size()));
  }
  return absl::OkStatus();
}

void Producer::Resolve(PartitionState& state, Batch& batch, int64_t base_offset) {
  MERIDIAN_CHECK(batch.phase == Phase::kReady);
  for (size_t i = 0; i < batch.promises.size(); ++i) {
    Delivery delivery{.topic = state.topic, .partition = state.partition};
    if (base_offset >= 0) delivery.offset = core::Offset(static_cast<uint64_t>(base_offset) + i);
    batch.promises[i]->Fulfil(std::move(delivery));
  }
  Fail(batch, absl::OkStatus());
  batch.phase = Phase::kAcked;
}

// Fulfils the batch's promises with `status` (unless OK: Resolve did) and releases its room.
void Producer::Fail(Batch& batch, const absl::Status& status) {
  MERIDIAN_CHECK(batch.promises.size() == batch.indices.size());
  for (size_t i = 0; i < batch.promises.size(); ++i) {
    if (!status.ok()) batch.promises[i]->Fulfil(status);
    MERIDIAN_CHECK(batch.promises[i]->ready());
    MERIDIAN_CHECK(unresolved_.erase(batch.indices[i]) == 1);
    MERIDIAN_CHECK(buffered_bytes_ >= batch.record_bytes[i]);
    buffered_bytes_ -= batch.record_bytes[i];
  }
  batch.promises.clear();
  batch.indices.clear();
  batch.record_bytes.clear();
  room_.NotifyAll();
  resolved_.NotifyAll();
}

absl::Status Producer::BumpEpoch(uint32_t observed_epoch) {
  absl::Status turn =
      bumped_.WaitUntil([this] { return !bumping_; },
                        runtime_.Now() + client_.options().request_timeout, "epoch bump");
  if (!turn.ok()) return turn;
  if (epoch_ != observed_epoch) return absl::OkStatus();  // Another partition bumped it.
  bumping_ = true;
  absl::StatusOr<wire::InitProducerIdResponseT> bumped = client_.InitProducerId(producer_id_);
  bumping_ = false;
  bumped_.NotifyAll();
  if (!bumped.ok()) return bumped.status();
  if (bumped->producer_id != producer_id_ || bumped->producer_epoch <= epoch_) {
    return absl::InternalError("InitProducerId did not bump the epoch");
  }
  MERIDIAN_PROBE("producer: epoch bumped after an indeterminate batch");
  epoch_ = bumped->producer_epoch;
  return absl::OkStatus();
}

absl::Status Producer::Flush(io::Instant deadline) {
  const uint64_t target = next_index_ - 1;
  flush_up_to_ = std::max(flush_up_to_, target);
  for (auto& [key, state] : partitions_) state->wake.NotifyAll();
  return resolved_.WaitUntil([&] { return unresolved_.empty() || *unresolved_.begin() > target; },
                             deadline, "producer flush");
}

absl::Status Producer::Close(io::Instant deadline) {
  if (closed_) return absl::OkStatus();
  absl::Status flushed = Flush(deadline);
  closing_ = true;
  room_.NotifyAll();
  for (auto& [key, state] : partitions_) {
    if (!state->sender_running) continue;
    runtime_.scheduler().Cancel(state->sender);
    runtime_.scheduler().Join(state->sender);
  }
  MERIDIAN_CHECK(senders_running_ == 0);
  MERIDIAN_CHECK(unresolved_.empty());
  closed_ = true;
  return flushed;
}

}  // namespace meridian::core::client
