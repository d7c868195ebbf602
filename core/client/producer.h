// client::Producer: batches records per partition and delivers them with Produce requests,
// idempotently by default.
//
// Partitioning: a keyed record goes to PartitionForKey(key, partitions) (Kafka's murmur2); an
// unkeyed record goes to its topic's sticky partition, re-chosen whenever a batch of that
// partition is sealed.
//
// Per partition there is one open batch (accumulating) and a FIFO of sealed batches, of which at
// most ONE is in flight: its sender fiber sends the front batch and waits for the outcome before
// the next. That keeps per-partition order trivially right under retries and idempotence; several
// partitions (on one connection or several) still have several batches in flight at once.
// A batch is sealed when it reaches batch_bytes_max, when `linger` has passed since its first
// record, or on Flush/Close.
//
// Idempotence (default): Create() asks the controller for a producer id (InitProducerId(0)).
// A batch is stamped (producer id, epoch, base_sequence) when it first goes on the wire (with
// one batch in flight per partition this is the sealing order), and every retry sends the SAME
// bytes, so the node can drop duplicates (ProduceResponse.duplicate: resolve with its offsets).
// Retried: NotLeader, lost connections, attempt timeouts, NotEnoughReplicas, Failed, Unknown
// (Unknown only when idempotent), until delivery_timeout after the batch's first record. A batch
// still unresolved then is indeterminate: its records fail with DeadlineExceeded ("may or may not
// be written"), the producer bumps its epoch (InitProducerId(id)) and every partition restarts
// its sequence at 0 in the new epoch, so late retries of the old epoch get FencedProducerEpoch.
// A batch fenced because its epoch is older than the current one was not applied: it is
// re-stamped in the current epoch and retried. Definite errors fail the batch's records:
// RecordTooLarge, BadRequest, OutOfOrderSequence, FencedProducerEpoch (current epoch), and the
// sequence is rolled back — but only if no earlier attempt of the batch may have been applied
// (an attempt whose answer was lost, or an Unknown answer): then the error settles nothing, the
// records fail as "may or may not be written" (absl Unknown, no wire code) and the epoch is
// bumped. UnknownTopicOrPartition is retried until the delivery timeout: a node whose metadata
// lags says it about a topic that exists.
//
// Offsets: a record resolves with base_offset + i. With acks=Leader the node acknowledges
// before commit and returns base_offset -1: the Delivery then has `offset == std::nullopt`
// ("offset unknown"), which is a success.
//
// Memory: buffered (unresolved) record bytes are bounded by buffer_bytes_max; Send waits for
// room until its deadline.
//
// Threading: fibers of the client's runtime. Close() before destroying it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "core/client/client.h"
#include "core/strong_id.h"
#include "io/sync.h"

namespace meridian::client {

struct RecordHeader {
  std::string key;
  std::string value;
};

// A batch's default size. With one batch in flight per partition, a partition's records/s is at
// most batch_bytes_max per replication round (fsyncs on a quorum); meridian-bench measured 64 KiB
// capping 1 KiB records at ~3 k records/s with 256 in flight on one partition, and 256 KiB at
// ~5-10 k (docs/benchmarks.md). A quarter of the wire's limit leaves the record-overhead estimate
// (kRecordOverheadBytes) plenty of room before the encoded batch could reach kBatchBytesMax.
inline constexpr size_t kBatchBytesDefault = 256 << 10;
static_assert(kBatchBytesDefault * 4 <= wire::kBatchBytesMax);

// A bug planted on purpose so the simulator can show its checkers catch it (never set outside
// tests): kKeyHashFnv routes keyed records by FNV-1a (the hash the group coordinator's partition
// uses) instead of Kafka's murmur2, so Meridian's producer and Kafka's place keys apart; the log
// checker's misrouted-key finds it (docs/checks.md).
enum class ProducerPlantedBug : uint8_t { kNone, kKeyHashFnv };

struct ProducerOptions {
  wire::Acks acks = wire::Acks::Quorum;
  bool idempotent = true;
  size_t batch_bytes_max = kBatchBytesDefault;  // <= wire::kBatchBytesMax.
  io::Duration linger = std::chrono::milliseconds(5);
  io::Duration delivery_timeout = std::chrono::seconds(30);
  // ProduceRequest.timeout_ms: how long the node may wait for replication.
  io::Duration request_timeout = std::chrono::seconds(10);
  size_t buffer_bytes_max = 32 << 20;  // In [wire::kBatchBytesMax, Producer::kBufferBytesMax].
  ProducerPlantedBug planted = ProducerPlantedBug::kNone;  // Tests only.
};

// Where a record landed. `offset` is nullopt when it is unknown (acks=Leader).
struct Delivery {
  std::string topic;
  uint32_t partition = 0;
  std::optional<core::Offset> offset;
};
// A record's outcome, and the partition Send chose for it (known at once, before delivery).
class DeliveryPromise : public io::Promise<absl::StatusOr<Delivery>> {
 public:
  DeliveryPromise(io::Runtime& runtime, uint32_t partition)
      : Promise(runtime), partition_(partition) {}
  uint32_t partition() const { return partition_; }

 private:
  const uint32_t partition_;
};

class Producer {
 public:
  static constexpr size_t kBufferBytesMax = size_t{1} << 30;
  static constexpr size_t kPartitionsMax = 1 << 16;  // Partitions this producer writes to.
  // Bytes a record costs beyond key, value and headers (estimate of FlatBuffers framing).
  static constexpr size_t kRecordOverheadBytes = 64;
  static constexpr size_t kBatchOverheadBytes = 256;
  static_assert(wire::kBatchBytesMax <= kBufferBytesMax);

  // InvalidArgument for options out of range; otherwise the InitProducerId outcome.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(Client& client,
                                                          ProducerOptions options = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one record; the promise resolves once it is delivered or definitely failed.
  // Errors now: FailedPrecondition (closed), InvalidArgument (too large), the topic's metadata
  // lookup failure (NotFound with UnknownTopicOrPartition), DeadlineExceeded (no buffer room).
  absl::StatusOr<std::shared_ptr<DeliveryPromise>> Send(const std::string& topic,
                                                        std::optional<std::string> key,
                                                        std::string value,
                                                        std::vector<RecordHeader> headers,
                                                        int64_t timestamp_ms, io::Instant deadline);
  // Seals open batches now and waits until every record sent before the call is resolved.
  absl::Status Flush(io::Instant deadline);
  // Flush, then stops the sender fibers; records still unresolved fail with Cancelled.
  absl::Status Close(io::Instant deadline);

  uint64_t producer_id() const { return producer_id_; }
  uint32_t producer_epoch() const { return epoch_; }
  size_t buffered_bytes() const { return buffered_bytes_; }

 private:
  struct Batch {
    wire::RecordBatchT content;  // Records, and the stamp once stamped.
    std::vector<std::shared_ptr<DeliveryPromise>> promises;
    std::vector<uint64_t> indices;  // Send order, for Flush.
    std::vector<size_t> record_bytes;
    size_t bytes = 0;
    io::Instant created;  // First record's Send: delivery_timeout counts from here.
    bool stamped = false;
    // Some attempt may have been applied without us hearing so (a lost response, an Unknown
    // answer): a later definite error no longer proves the records were not written.
    bool maybe_written = false;
    std::vector<uint8_t> encoded;  // What goes on the wire, identical across retries.
  };
  struct PartitionState {
    explicit PartitionState(io::Runtime& runtime) : wake(runtime) {}
    std::string topic;
    uint32_t partition = 0;
    Batch open;
    std::deque<Batch> sealed;
    bool sender_running = false;
    io::FiberId sender;
    io::WaitList wake;
    uint32_t sequence_epoch = 0;
    int32_t next_sequence = 0;
  };
  enum class Outcome { kDone, kRetry, kRestamp };

  Producer(Client& client, ProducerOptions options);
  PartitionState& State(const std::string& topic, uint32_t partition);
  uint32_t KeyPartition(std::string_view key, uint32_t partitions) const;
  uint32_t StickyPartition(const std::string& topic, uint32_t partitions);
  void Seal(PartitionState& state);
  void SenderLoop(PartitionState& state);
  bool WaitForSealedBatch(PartitionState& state);
  void SendBatch(PartitionState& state, Batch& batch);
  absl::Status Stamp(PartitionState& state, Batch& batch);
  Outcome OnResponse(PartitionState& state, Batch& batch, const wire::ClientMessageT& response);
  void Resolve(PartitionState& state, Batch& batch, int64_t base_offset);
  void Fail(Batch& batch, const absl::Status& status);
  absl::Status BumpEpoch(uint32_t observed_epoch);
  bool FlushWanted(const PartitionState& state) const;

  Client& client_;
  io::Runtime& runtime_;
  const ProducerOptions options_;
  uint64_t producer_id_ = 0;
  uint32_t epoch_ = 0;
  bool bumping_ = false;
  io::WaitList bumped_;
  absl::btree_map<std::pair<std::string, uint32_t>, std::unique_ptr<PartitionState>> partitions_;
  absl::btree_map<std::string, uint32_t> sticky_;
  uint64_t next_index_ = 1;
  absl::btree_set<uint64_t> unresolved_;
  uint64_t flush_up_to_ = 0;
  size_t buffered_bytes_ = 0;
  size_t senders_running_ = 0;
  io::WaitList room_;      // Send waiting for buffer room.
  io::WaitList resolved_;  // Flush waiting for records to resolve.
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace meridian::client
