// client::Consumer: reads assigned partitions, with one background fetch always outstanding per
// partition so that Poll usually finds records already buffered.
//
// Each assigned partition has a fetcher fiber: it resolves the starting position (ListOffsets
// Earliest, or Latest with auto_offset_reset=latest, unless Seek set one), then keeps one
// FetchRequest outstanding (a long poll of fetch_max_wait) while its buffer holds less than
// buffer_bytes_max, appending the records at or after its fetch position. Poll drains buffers
// (partitions in turn) and waits up to max_wait when all are empty.
//
// What stays true:
// - Records come back in offset order per partition; every fetched batch passes
//   VerifyRecordBatch, and one that does not is an error from Poll (DataLoss), never skipped.
// - Records before the requested offset in the first batch of a fetch are skipped.
// - Seek / SeekToBeginning / SeekToEnd / Assign bump the partition's generation: a fetch or
//   ListOffsets in flight under an older generation is discarded when it returns.
// - OffsetOutOfRange applies auto_offset_reset: earliest/latest jump to the log start or the
//   high watermark the node reported; none makes Poll return the error (OutOfRange, wire code
//   OffsetOutOfRange) until the application Seeks.
// - Buffered bytes per partition stay below buffer_bytes_max + one fetch (fetch_max_bytes).
// - Other definite errors (UnknownTopicOrPartition...) are returned once by Poll, then the
//   fetcher tries again; connection trouble is retried silently with backoff.
//
// Threading: fibers of the client's runtime. Close() (or destruction inside a fiber) stops the
// fetchers.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/client/client.h"
#include "core/client/producer.h"
#include "core/strong_id.h"
#include "io/sync.h"

namespace meridian::core::client {

struct TopicPartition {
  std::string topic;
  uint32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  std::string ToString() const { return topic + "/" + std::to_string(partition); }
};

enum class OffsetReset { kEarliest, kLatest, kNone };

struct ConsumerOptions {
  OffsetReset auto_offset_reset = OffsetReset::kEarliest;
  uint32_t fetch_max_bytes = 1 << 20;                            // <= wire::kFetchBytesMax.
  io::Duration fetch_max_wait = std::chrono::milliseconds(500);  // < request_timeout.
  // Passed in Fetch/ListOffsets to whichever node is asked (the leader, without client_region).
  bool allow_follower = false;
  size_t buffer_bytes_max = 4 << 20;  // Per partition.
  // Reads near the client (issue 12): the region this consumer runs in (NodeInfo.region). Set,
  // each partition is fetched from a replica or observer in this region (near_replica.h), with
  // allow_follower; the leader serves when the region has none, and, for
  // Consumer::kNearReplicaAvoid, in place of a near replica that failed or lags behind this
  // consumer's position. Positions (ListOffsets) are always asked of the leader.
  std::string client_region;
};

struct ConsumedRecord {
  std::string topic;
  uint32_t partition = 0;
  core::Offset offset;
  int64_t timestamp_ms = 0;
  std::optional<std::string> key;
  std::string value;
  std::vector<RecordHeader> headers;
};

class Consumer {
 public:
  static constexpr size_t kPartitionsAssignedMax = 4096;
  static constexpr size_t kPollRecordsMax = 10000;
  // How long a near replica that answered with an error, failed to answer, or lagged behind
  // the fetch position is passed over (the leader or another near replica serves meanwhile).
  static constexpr io::Duration kNearReplicaAvoid = std::chrono::seconds(30);

  Consumer(Client& client, ConsumerOptions options = {});
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Replaces the assignment. Partitions kept keep their position; new ones start at earliest
  // (latest with auto_offset_reset=latest). Called from a fiber.
  absl::Status Assign(std::vector<TopicPartition> partitions);
  absl::Status Seek(const TopicPartition& partition, core::Offset offset);
  absl::Status SeekToBeginning(const TopicPartition& partition);
  absl::Status SeekToEnd(const TopicPartition& partition);
  // The offset of the next record Poll returns for `partition`; waits (until `deadline`) for the
  // starting position to be looked up.
  absl::StatusOr<core::Offset> Position(const TopicPartition& partition, io::Instant deadline);
  // Buffered records, waiting up to `max_wait` for some; an empty vector when none came.
  absl::StatusOr<std::vector<ConsumedRecord>> Poll(io::Duration max_wait);
  // Record batch bytes fetched, by the node that served them (the simulator sums the bytes
  // that crossed regions from it).
  const absl::btree_map<uint32_t, uint64_t>& fetched_bytes_by_node() const {
    return fetched_bytes_by_node_;
  }
  void Close();

 private:
  struct Fetcher {
    explicit Fetcher(io::Runtime& runtime) : wake(runtime) {}
    TopicPartition partition;
    uint64_t generation = 0;
    std::optional<wire::OffsetSpec> reset;  // Set: the position must be looked up.
    int64_t fetch_offset = 0;               // Next offset to fetch (when !reset).
    int64_t position = 0;                   // Next offset Poll returns (when !reset).
    int64_t epoch = -1;  // The partition epoch of the last fetch response (-1: none yet).
    std::deque<ConsumedRecord> buffered;
    size_t buffered_bytes = 0;
    absl::Status error;  // Reported by the next Poll.
    io::FiberId fiber;
    bool stop = false;
    io::WaitList wake;  // Buffer room, a cleared error, a seek, stop.
    // Near replicas passed over until the given time (client_region only).
    absl::btree_map<uint32_t, io::Instant> avoid_until;
  };

  Fetcher* Find(const TopicPartition& partition);
  void Restart(Fetcher& fetcher, std::optional<wire::OffsetSpec> reset, int64_t offset);
  void StartFetcher(const TopicPartition& partition);
  void StopFetcher(Fetcher& fetcher);
  void FetchLoop(Fetcher& fetcher);
  absl::Status ResolvePosition(Fetcher& fetcher);
  absl::Status FetchOnce(Fetcher& fetcher);
  // Sends a fetch to the near replica (client_region) or the partition leader; `served_by` is
  // the node whose answer is returned.
  Client::Response CallFetch(Fetcher& fetcher, const wire::FetchRequestT& request,
                             io::NodeId* served_by);
  std::optional<io::NodeId> NearReplica(Fetcher& fetcher);
  // Whether a near replica's answer may be used; when not (or when it lags), it is avoided.
  bool NearAnswerUsable(Fetcher& fetcher, io::NodeId node, int64_t offset,
                        const Client::Response& answer);
  void ApplyOffsetReset(Fetcher& fetcher, const wire::ErrorResponseT& error);
  absl::Status Append(Fetcher& fetcher, const wire::FetchResponseT& response, int64_t requested);
  void SetError(Fetcher& fetcher, absl::Status error);
  io::Instant CallDeadline() const;

  Client& client_;
  io::Runtime& runtime_;
  const ConsumerOptions options_;
  absl::btree_map<TopicPartition, std::unique_ptr<Fetcher>> fetchers_;
  size_t poll_rotation_ = 0;
  absl::btree_map<uint32_t, uint64_t> fetched_bytes_by_node_;
  io::WaitList data_;  // Poll and Position waiting for records, errors or positions.
  bool closed_ = false;
};

}  // namespace meridian::core::client
