#include "core/client/producer.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/client/errors.h"
#include "core/client/partitioner.h"
#include "core/wire/client_codec.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::client {
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

// Waits until a sealed batch is ready (sealing the open one when it is due). False when the
// partition has nothing left to send or the fiber was cancelled.
bool Producer::WaitForSealedBatch(PartitionState& state) {
  while (state.sealed.empty()) {
    if (state.open.promises.empty()) return false;
    const io::Instant due = state.open.created + options_.linger;
    absl::Status waited = state.wake.WaitUntil(
        [&] {
          return !state.sealed.empty() || state.open.bytes >= options_.batch_bytes_max ||
                 FlushWanted(state);
        },
        due, "linger");
    if (absl::IsCancelled(waited)) return false;
    if (state.sealed.empty() && !state.open.promises.empty()) Seal(state);
  }
  return true;
}

void Producer::SenderLoop(PartitionState& state) {
  while (WaitForSealedBatch(state)) {
    Batch batch = std::move(state.sealed.front());
    state.sealed.pop_front();
    SendBatch(state, batch);
    if (runtime_.scheduler().IsCancelled(runtime_.scheduler().Current())) break;
  }
  // Cancelled (Close after its deadline): nothing more will be sent.
  const absl::Status cancelled = absl::CancelledError("producer closed before delivery");
  for (Batch& batch : state.sealed) Fail(batch, cancelled);
  state.sealed.clear();
  if (!state.open.promises.empty()) Fail(state.open, cancelled);
  state.open = Batch{};
  state.sender_running = false;
  MERIDIAN_CHECK(senders_running_ > 0);
  senders_running_--;
  resolved_.NotifyAll();
}

absl::Status Producer::Stamp(PartitionState& state, Batch& batch) {
  if (options_.idempotent) {
    if (state.sequence_epoch != epoch_) {  // A new epoch restarts every partition at 0.
      state.sequence_epoch = epoch_;
      state.next_sequence = 0;
    }
    batch.content.producer_id = producer_id_;
    batch.content.producer_epoch = epoch_;
    batch.content.base_sequence = state.next_sequence;
    state.next_sequence += static_cast<int32_t>(batch.content.records.size());
  }
  batch.stamped = true;
  batch.encoded = wire::EncodeRecordBatch(batch.content);
  if (batch.encoded.size() > wire::kBatchBytesMax) {
    return WireError(wire::ErrorCode::RecordTooLarge,
                     fmt::format("batch encodes to {} bytes", batch.encoded.size()));
  }
  return absl::OkStatus();
}

void Producer::SendBatch(PartitionState& state, Batch& batch) {
  const io::Instant deadline = batch.created + options_.delivery_timeout;
  absl::Status last = absl::UnavailableError("not sent");
  for (uint32_t attempt = 0;; ++attempt) {
    if (!batch.stamped) {
      absl::Status stamped = Stamp(state, batch);
      if (!stamped.ok()) {
        if (options_.idempotent) state.next_sequence = batch.content.base_sequence;
        return Fail(batch, stamped);
      }
    }
    wire::ProduceRequestT request;
    request.topic = state.topic;
    request.partition = state.partition;
    request.acks = options_.acks;
    request.timeout_ms = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.request_timeout).count());
    request.batch = batch.encoded;
    absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> response = client_.CallPartitionLeader(
        state.topic, state.partition, wire::Message(0, std::move(request)), deadline,
        &batch.maybe_written);
    if (!response.ok()) {
      // Deadline, cancel or client closed: the batch may or may not be in the log.
      MERIDIAN_PROBE("producer: batch indeterminate");
      // Bump first, so a caller who sees the failure already has the new epoch.
      if (options_.idempotent && !absl::IsCancelled(response.status())) {
        (void)BumpEpoch(batch.content.producer_epoch);
      }
      return Fail(batch, absl::Status(response.status().code(),
                                      fmt::format("{}/{}: delivery not confirmed, the records "
                                                  "may or may not be written: {}",
                                                  state.topic, state.partition,
                                                  std::string(response.status().message()))));
    }
    switch (OnResponse(state, batch, **response)) {
      case Outcome::kDone:
        return;
      case Outcome::kRestamp:
        batch.stamped = false;
        continue;
      case Outcome::kRetry:
        break;
    }
    const io::Duration backoff =
        std::min(client_.options().retry_backoff * (int64_t{1} << std::min(attempt, 10u)),
                 client_.options().retry_backoff_max);
    (void)runtime_.SleepUntil(std::min(runtime_.Now() + backoff, deadline));
  }
}

Producer::Outcome Producer::OnResponse(PartitionState& state, Batch& batch,
                                       const wire::ClientMessageT& response) {
  if (const wire::ProduceResponseT* produced = response.body.AsProduceResponse()) {
    if (produced->duplicate) MERIDIAN_PROBE("producer: duplicate batch acknowledged");
    Resolve(state, batch, produced->base_offset);
    return Outcome::kDone;
  }
  const wire::ErrorResponseT* error = response.body.AsErrorResponse();
  if (error == nullptr) {
    Fail(batch, UnexpectedResponse(response, "ProduceResponse"));
    return Outcome::kDone;
  }
  switch (error->code) {
    case wire::ErrorCode::FencedProducerEpoch:
      if (batch.content.producer_epoch < epoch_) {
        MERIDIAN_PROBE("producer: batch of an older epoch re-stamped");
        return Outcome::kRestamp;  // Not applied; our own epoch bump fenced it.
      }
      break;
    case wire::ErrorCode::Unknown:
      // Maybe applied: only a retry of the same idempotent bytes is safe.
      batch.maybe_written = true;
      if (options_.idempotent) return Outcome::kRetry;
      break;
    case wire::ErrorCode::Failed:
    case wire::ErrorCode::NotEnoughReplicas:
    case wire::ErrorCode::NotLeader:
      return Outcome::kRetry;  // Certainly not applied.
    case wire::ErrorCode::UnknownTopicOrPartition:
      // A node whose copy of the metadata lags (just restarted, or cut off when the topic was
      // created) does not know the topic yet: retriable until the delivery timeout, as in
      // Kafka. A topic that was really deleted fails by that timeout.
      MERIDIAN_PROBE("producer: unknown topic retried");
      return Outcome::kRetry;
    default:
      break;
  }
  if (batch.maybe_written) {
    // An earlier attempt may still be (or become) part of the log: this error settles nothing.
    MERIDIAN_PROBE("producer: definite error after an ambiguous attempt");
    if (options_.idempotent) (void)BumpEpoch(batch.content.producer_epoch);
    Fail(batch, absl::UnknownError(fmt::format(
                    "{}/{}: delivery not confirmed, the records may or may not be written "
                    "(an earlier attempt got no answer; the last one: {})",
                    state.topic, state.partition, StatusFromError(*error).ToString())));
    return Outcome::kDone;
  }
  // A definite error: not applied, so its sequence numbers are free again.
  if (options_.idempotent && state.sequence_epoch == batch.content.producer_epoch) {
    state.next_sequence = batch.content.base_sequence;
  }
  if (options_.idempotent && error->code == wire::ErrorCode::OutOfOrderSequence) {
    // The partition remembers fewer of our batches than were acknowledged: a regional
    // promotion discarded the old epoch's tail (its RPO). Every later batch would hit the same
    // gap; a new producer epoch starts the sequences over. This batch was refused, so not
    // applied: it goes again as the first of the new epoch rather than failing (failing it
    // would turn every record in flight across a promotion into an error for the caller).
    MERIDIAN_PROBE("producer: epoch bumped after a sequence gap");
    if (BumpEpoch(batch.content.producer_epoch).ok() && batch.content.producer_epoch < epoch_) {
      return Outcome::kRestamp;
    }
  }
  Fail(batch, StatusFromError(*error));
  return Outcome::kDone;
}

void Producer::Resolve(PartitionState& state, Batch& batch, int64_t base_offset) {
  for (size_t i = 0; i < batch.promises.size(); ++i) {
    Delivery delivery{.topic = state.topic, .partition = state.partition};
    if (base_offset >= 0) delivery.offset = core::Offset(static_cast<uint64_t>(base_offset) + i);
    batch.promises[i]->Fulfil(std::move(delivery));
  }
  Fail(batch, absl::OkStatus());
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

}  // namespace meridian::client
