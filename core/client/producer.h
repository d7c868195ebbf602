// client::Producer: batches records per partition and delivers them with Produce requests,
// idempotently by default.
//
// Partitioning: a keyed record goes to PartitionForKey(key, partitions) (Kafka's murmur2); an
// unkeyed record goes to its topic's sticky partition, re-chosen whenever a batch of that
// partition is sealed.
//
// Per partition there is one open batch (accumulating), a FIFO of sealed batches, and a WINDOW
// of at most in_flight_per_partition_max() stamped batches in flight (ProducerOptions::
// max_in_flight_per_partition, default 5 = wire::kProducerBatchesRemembered, the broker's
// dedup window). The partition's sender fiber makes every decision; each attempt runs on a call
// fiber of its own. Order within a partition is the order of Send under any retry pattern because
// (a) batches are stamped with sequence numbers in sealing order and every retry sends the same
// bytes, (b) the node accepts only base_sequence == last + 1, and (c) the producer re-sends in
// window order and changes a partition's epoch only by re-stamping its whole window in order
// (producer_window.cc explains each case). A batch is sealed when it reaches batch_bytes_max, when
// `linger` has passed since its first record and the window has room, or on Flush/Close.
// Only an idempotent producer with acks=Quorum has more than one batch of a partition in flight:
// without sequence numbers a retry could land behind a later batch, and acks=Leader is answered
// before the sequence check runs, so a pipelined batch refused out of order would already be
// "acknowledged". Several partitions always have batches in flight at once.
//
// Idempotence (default): Create() asks the controller for a producer id (InitProducerId(0)).
// A batch is stamped (producer id, epoch, base_sequence) when it enters the window, and every
// retry sends the SAME bytes, so the node can drop duplicates (ProduceResponse.duplicate: resolve
// with its offsets). Retried: NotLeader, lost connections, attempt timeouts, NotEnoughReplicas,
// Failed, Unknown (Unknown only when idempotent), and OutOfOrderSequence while an earlier batch
// of the partition is unacknowledged (it goes again, in order, once that one went again or
// landed) — until delivery_timeout after the batch's first record. A batch still unresolved then
// is indeterminate: its records fail with DeadlineExceeded ("may or may not be written"), the
// producer bumps its epoch (InitProducerId(id)), and the partition's other unresolved batches
// are re-stamped in order in the new epoch, from sequence 0 (one whose own attempts may have
// landed fails as "may or may not be written" instead). The same re-stamping happens when the
// node refuses a batch out of order although every earlier batch was acknowledged (a regional
// promotion discarded the old epoch's tail), and when a batch fails definitely while later ones
// are stamped behind it. Definite errors fail the batch's records: RecordTooLarge, BadRequest,
// FencedProducerEpoch (current epoch) — unless an earlier attempt of the batch may have been
// applied (a lost answer, an Unknown answer): then the error settles nothing and the records
// fail as "may or may not be written" (absl Unknown, no wire code). UnknownTopicOrPartition is
// retried until the delivery timeout: a node whose metadata lags says it about a topic that
// exists.
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

namespace meridian::core::client {

struct RecordHeader {
  std::string key;
  std::string value;
};

// A batch's default size. With one batch in flight per partition, a partition's records/s is at
// most batch_bytes_max per replication round (fsyncs on a quorum; with N in flight, N batches per
// round at best); meridian-bench measured 64 KiB
// capping 1 KiB records at ~3 k records/s with 256 in flight on one partition, and 256 KiB at
// ~5-10 k (docs/benchmarks.md). A quarter of the wire's limit leaves the record-overhead estimate
// (kRecordOverheadBytes) plenty of room before the encoded batch could reach kBatchBytesMax.
inline constexpr size_t kBatchBytesDefault = 256 << 10;
static_assert(kBatchBytesDefault * 4 <= wire::kBatchBytesMax);

// A bug planted on purpose so the simulator can show its checkers catch it (never set outside
// tests): kKeyHashFnv routes keyed records by FNV-1a (the hash the group coordinator's partition
// uses) instead of Kafka's murmur2, so Meridian's producer and Kafka's place keys apart; the log
// checker's misrouted-key finds it (docs/checks.md). kRestampRefusedAlone, on OutOfOrderSequence
// for a batch with an earlier batch of its partition still unresolved, treats the refusal as a
// sequence gap: it bumps the epoch and re-stamps that one batch as the first of the new epoch, at
// once, instead of re-sending it in order behind the earlier one (the one-in-flight rule applied
// to a window); the earlier batch then lands after it. The log checker's producer-order finds it.
enum class ProducerPlantedBug : uint8_t { kNone, kKeyHashFnv, kRestampRefusedAlone };

struct ProducerOptions {
  wire::Acks acks = wire::Acks::Quorum;
  bool idempotent = true;
  size_t batch_bytes_max = kBatchBytesDefault;  // <= wire::kBatchBytesMax.
  io::Duration linger = std::chrono::milliseconds(5);
  io::Duration delivery_timeout = std::chrono::seconds(30);
  // ProduceRequest.timeout_ms: how long the node may wait for replication.
  io::Duration request_timeout = std::chrono::seconds(10);
  size_t buffer_bytes_max = 32 << 20;  // In [wire::kBatchBytesMax, Producer::kBufferBytesMax].
  // Batches of one partition in flight at once, in 1..Producer::kInFlightPerPartitionMax (Kafka's
  // max.in.flight.requests.per.connection with idempotence). A producer that is not idempotent,
  // or uses acks=Leader, keeps 1 whatever this says (see the header comment).
  uint32_t max_in_flight_per_partition = 5;
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
  // More in flight and a retry of the oldest could fall out of the node's dedup window.
  static constexpr uint32_t kInFlightPerPartitionMax = wire::kProducerBatchesRemembered;
  static_assert(kInFlightPerPartitionMax >= 1);

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
  // Batches of one partition this producer keeps in flight (1 unless idempotent with acks=Quorum).
  uint32_t in_flight_per_partition_max() const { return in_flight_max_; }

 private:
  // Where a batch of the window stands. Only the partition's sender fiber moves a batch, except
  // kInCall -> kAnswered, which its call fiber does when the call returns.
  enum class Phase : uint8_t {
    kReady,     // To be sent (again) once `retry_at` has passed and the batches before it allow.
    kInCall,    // An attempt is out (`call` is its fiber).
    kAnswered,  // The attempt returned; `answer` waits for the sender fiber.
    kAcked,     // Resolved with offsets; stays in the window until every earlier batch is.
  };
  struct Batch {
    wire::RecordBatchT content;  // Records, and the stamp once stamped.
    std::vector<std::shared_ptr<DeliveryPromise>> promises;
    std::vector<uint64_t> indices;  // Send order, for Flush.
    std::vector<size_t> record_bytes;
    size_t bytes = 0;
    io::Instant created;  // First record's Send: delivery_timeout counts from here.
    // Some attempt may have been applied without us hearing so (a lost response, an Unknown
    // answer): a later definite error no longer proves the records were not written, and the
    // batch may never be re-stamped.
    bool maybe_written = false;
    std::vector<uint8_t> encoded;  // What goes on the wire, identical across retries.
    // --- In the window. ---
    Phase phase = Phase::kReady;
    uint32_t answers = 0;          // Answers handled: the backoff's exponent.
    io::Instant retry_at;          // kReady: not before.
    uint64_t sent_ticket = 0;      // PartitionState::sends when it last went out (0: never).
    uint64_t answered_ticket = 0;  // PartitionState::sends when its last answer was handled.
    bool behind_unacked = false;   // An earlier batch was unacknowledged when it last went out.
    io::FiberId call;
    std::optional<Client::Response> answer;
  };
  struct PartitionState {
    explicit PartitionState(io::Runtime& runtime) : wake(runtime) {}
    std::string topic;
    uint32_t partition = 0;
    Batch open;
    std::deque<Batch> sealed;
    // Stamped batches in sequence order (front: the oldest not yet acknowledged), at most
    // in_flight_max_. A failed batch leaves at once; an acknowledged one when it is the front.
    std::deque<std::unique_ptr<Batch>> window;
    uint64_t sends = 0;  // Attempts sent, the tickets that order re-sends.
    bool sender_running = false;
    io::FiberId sender;
    io::WaitList wake;  // The sender fiber: records, answers, room.
    uint32_t sequence_epoch = 0;
    int32_t next_sequence = 0;
  };
  // What the sender fiber does with a batch after an answer.
  enum class Outcome : uint8_t {
    kDone,      // Acknowledged or failed.
    kRetry,     // The same bytes again, after a backoff, in window order.
    kResend,    // Refused behind an unacknowledged batch: again once the earlier ones went again.
    kNewEpoch,  // The partition's sequence restarts in a new epoch (Rewind).
  };

  Producer(Client& client, ProducerOptions options);
  PartitionState& State(const std::string& topic, uint32_t partition);
  uint32_t KeyPartition(std::string_view key, uint32_t partitions) const;
  uint32_t StickyPartition(const std::string& topic, uint32_t partitions);
  void Seal(PartitionState& state);
  bool FlushWanted(const PartitionState& state) const;
  absl::Status BumpEpoch(uint32_t observed_epoch);
  void Fail(Batch& batch, const absl::Status& status);
  void Resolve(PartitionState& state, Batch& batch, int64_t base_offset);

  // The sender fiber and its window (producer_window.cc).
  void SenderLoop(PartitionState& state);
  bool CanLaunch(const PartitionState& state) const;
  bool MaySend(const PartitionState& state, size_t i) const;
  bool HasWork(const PartitionState& state) const;
  io::Instant NextTimer(const PartitionState& state) const;
  void Dispatch(PartitionState& state);
  bool OpenDue(const PartitionState& state) const;
  void Launch(PartitionState& state);
  absl::Status Stamp(PartitionState& state, Batch& batch);
  void SendAttempt(PartitionState& state, Batch& batch);
  bool HandleAnswers(PartitionState& state);
  bool HandleAnswer(PartitionState& state, Batch& batch);
  bool OnCallFailed(PartitionState& state, Batch& batch, const absl::Status& status);
  Outcome OnResponse(PartitionState& state, Batch& batch, const wire::ClientMessageT& response,
                     absl::Status* fail_with);
  Outcome OnDefiniteError(PartitionState& state, Batch& batch, const absl::Status& error,
                          absl::Status* fail_with);
  Outcome RestampAloneForPlantedBug(PartitionState& state, Batch& batch);
  absl::Status Indeterminate(const PartitionState& state, const absl::Status& status) const;
  io::Duration Backoff(uint32_t answers) const;
  bool Rewind(PartitionState& state, Batch* failing, const absl::Status& failure);
  bool DrainCalls(PartitionState& state);
  void RecordDuringRewind(PartitionState& state, Batch& batch);
  void Restamp(PartitionState& state);
  void FailAndErase(PartitionState& state, Batch& batch, const absl::Status& status);
  void PopAcked(PartitionState& state);
  void StopPartition(PartitionState& state);
  void CheckWindow(const PartitionState& state) const;

  Client& client_;
  io::Runtime& runtime_;
  const ProducerOptions options_;
  const uint32_t in_flight_max_;  // max_in_flight_per_partition, or 1 (see the header comment).
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

}  // namespace meridian::core::client
