// testing::FakeBroker: an in-memory stand-in for a two-node Meridian cluster, speaking the real
// client protocol (core/wire/client.fbs) over io::Network streams, for core/client tests.
//
// Both fake nodes live in one object: node 1 listens on options.node1, node 2 on options.node2,
// and they share one set of partition logs. Partition p of every topic is led by node
// (p % 2) + 1, with replicas [leader, other]; node 1 is the controller leader. A request for a
// partition (or the controller) sent to the wrong node gets NotLeader with the right hint.
//
// It implements: hello (with a configurable version range), metadata, create/delete topic,
// init producer id (new ids and epoch bumps, fencing older epochs), produce (idempotent dedup by
// producer id, epoch and sequence, remembering the last kRecentBatchesMax batches per producer),
// fetch (whole batches, max_bytes, long poll), list offsets and replica status.
//
// Fault knobs make the client's retry paths run: drop the connection instead of answering (after
// applying the request), delay a request (so the client times out), refuse or swallow one batch
// of a producer (by epoch and sequence), close every connection, and advertise a stale leader in
// metadata.
//
// What stays true: offsets in a partition are dense and start at 0; a batch is stored verbatim.
// Single-threaded: call from fibers of the runtime it was built with (Start may be called from
// outside a fiber).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/wire/client_codec.h"
#include "io/network.h"
#include "io/runtime.h"
#include "io/sync.h"

namespace meridian::core::client::testing {

struct FakeBrokerOptions {
  io::Address node1{"broker1", 9092};
  io::Address node2{"broker2", 9092};
  uint16_t version_min = 1;
  uint16_t version_max = 1;
  // The regions the nodes report in metadata (reads near the client).
  std::string node1_region = "local";
  std::string node2_region = "local";
};

struct StoredBatch {
  int64_t base_offset = 0;
  uint32_t records = 0;
  std::vector<uint8_t> bytes;
};

class FakeBroker {
 public:
  static constexpr uint32_t kControllerNode = 1;
  static constexpr size_t kRecentBatchesMax = wire::kProducerBatchesRemembered;

  FakeBroker(io::Runtime& runtime, FakeBrokerOptions options = {});
  ~FakeBroker();

  absl::Status Start();
  // Closes listeners and connections and cancels the broker's fibers.
  void Stop();

  void AddTopic(const std::string& name, uint32_t partitions);

  // --- Faults ---
  // The next `count` requests of body `type` are applied, then their connection is closed
  // instead of answered.
  void DropConnectionInsteadOfAnswering(wire::Body type, int count);
  // The next `count` requests of body `type` wait `delay` before being handled.
  void DelayRequests(wire::Body type, int count, io::Duration delay);
  // The next `count` requests of body `type` are answered Throttled with `retry_after_ms`
  // (any value, 0 included: a client must not take 0 as "retry at once").
  void ThrottleRequests(wire::Body type, int count, uint32_t retry_after_ms);
  void CloseAllConnections();
  // The next `count` produce requests carrying the batch of producer epoch `epoch` that starts
  // at sequence `base_sequence` are not applied: answered `code`, or with nullopt never answered
  // (the client's attempt times out; the request is forgotten).
  void RefuseBatch(uint32_t epoch, int32_t base_sequence, int count,
                   std::optional<wire::ErrorCode> code);
  // Metadata names the wrong node as this partition's leader (requests there get NotLeader).
  // Appends bytes to a partition's log as they are (e.g. a corrupt batch), as `records` records.
  void AppendRaw(const std::string& topic, uint32_t partition, std::vector<uint8_t> bytes,
                 uint32_t records);
  void AdvertiseStaleLeader(const std::string& topic, uint32_t partition);
  // What a regional promotion does to a partition that lost its old epoch's tail: it keeps its
  // records but remembers none of the producers' sequences (the next batch of a producer that
  // had written there is out of order).
  void ForgetProducerSequences(const std::string& topic, uint32_t partition);
  // The partition's follower (the node that does not lead it) serves allow_follower fetches as
  // if its high watermark were `high_watermark` (rounded down to the end of a batch): a lagging
  // replica.
  // -1: caught up again.
  void LagFollower(const std::string& topic, uint32_t partition, int64_t high_watermark);
  // The next `count` allow_follower fetches a follower receives are answered NotLeader (what a
  // node without a data lease, or no longer hosting the partition, answers).
  void RefuseFollowerFetches(int count) { follower_refusals_ = count; }

  // --- Inspection ---
  const std::vector<StoredBatch>& Log(const std::string& topic, uint32_t partition) const;
  int64_t HighWatermark(const std::string& topic, uint32_t partition) const;
  uint64_t requests(wire::Body type) const;
  uint64_t duplicates() const { return duplicates_; }
  uint64_t not_leader_answers() const { return not_leader_answers_; }
  uint64_t out_of_order_answers() const { return out_of_order_answers_; }
  // The most produce requests for one partition the fake held at once (read, not yet answered):
  // how many batches of that partition a producer really had in flight.
  size_t produces_held_max(const std::string& topic, uint32_t partition) const {
    auto it = produces_held_max_.find({topic, partition});
    return it == produces_held_max_.end() ? 0 : it->second;
  }
  // Fetches answered with records or a long poll's empty answer, by the node that served them;
  // and of those, the ones a follower served.
  uint64_t fetches_served(uint32_t node) const {
    auto it = fetches_served_.find(node);
    return it == fetches_served_.end() ? 0 : it->second;
  }
  size_t open_connections() const { return sessions_.size(); }
  io::NodeId LeaderOf(uint32_t partition) const { return io::NodeId(partition % 2 + 1); }

 private:
  struct Session;
  struct ProducerState {
    uint32_t epoch = 0;
    int32_t next_sequence = 0;
    struct Recent {
      int32_t base_sequence;
      uint32_t records;
      int64_t base_offset;
    };
    std::deque<Recent> recent;
  };
  struct Partition {
    std::vector<StoredBatch> batches;
    int64_t high_watermark = 0;
    absl::btree_map<uint64_t, ProducerState> producers;
    bool stale_leader = false;
    int64_t follower_high_watermark = -1;  // LagFollower; -1: none.
  };
  struct BatchFault {
    uint32_t epoch = 0;
    int32_t base_sequence = 0;
    int count = 0;
    std::optional<wire::ErrorCode> code;
  };
  struct Fault {
    int drop_count = 0;
    int delay_count = 0;
    io::Duration delay{0};
    int throttle_count = 0;
    uint32_t retry_after_ms = 0;
  };

  void AcceptLoop(io::Listener& listener, uint32_t node);
  void SessionLoop(std::shared_ptr<Session> session);
  void Serve(std::shared_ptr<Session> session, wire::ClientMessageT& request);
  void ServeRequest(std::shared_ptr<Session> session, wire::ClientMessageT& request);
  // The RefuseBatch fault this produce request matches (its count taken), if any.
  std::optional<BatchFault> TakeBatchFault(const wire::ClientMessageT& request);
  bool HandleHello(Session& session, const wire::ClientMessageT& request);
  void Respond(Session& session, const wire::ClientMessageT& response);
  wire::ClientMessageT Handle(uint32_t node, wire::ClientMessageT& request);
  wire::ClientMessageT Metadata(uint64_t id, const wire::MetadataRequestT& request);
  wire::ClientMessageT Produce(uint32_t node, uint64_t id, const wire::ProduceRequestT& request);
  wire::ClientMessageT Fetch(uint32_t node, uint64_t id, const wire::FetchRequestT& request);
  // What node `node` may serve of the partition: its high watermark (a follower may lag).
  int64_t ServableHighWatermark(uint32_t node, uint32_t partition_index,
                                const Partition& partition) const;
  wire::ClientMessageT ListOffsets(uint32_t node, uint64_t id,
                                   const wire::ListOffsetsRequestT& request);
  wire::ClientMessageT InitProducerId(uint64_t id, const wire::InitProducerIdRequestT& request);
  wire::ClientMessageT ReplicaStatus(uint32_t node, uint64_t id);
  std::unique_ptr<wire::TopicInfoT> Describe(const std::string& name) const;
  Partition* FindPartition(const std::string& topic, uint32_t partition);
  void Spawn(std::string name, std::function<void()> body);

  io::Runtime& runtime_;
  FakeBrokerOptions options_;
  std::unique_ptr<io::Listener> listeners_[2];
  absl::btree_map<std::string, std::vector<Partition>> topics_;
  absl::btree_map<uint64_t, uint32_t> producer_epochs_;
  uint64_t next_producer_id_ = 1000;
  absl::btree_map<wire::Body, Fault> faults_;
  std::vector<BatchFault> batch_faults_;
  absl::btree_map<std::pair<std::string, uint32_t>, size_t> produces_held_;
  absl::btree_map<std::pair<std::string, uint32_t>, size_t> produces_held_max_;
  uint64_t out_of_order_answers_ = 0;
  absl::btree_map<wire::Body, uint64_t> requests_;
  std::vector<std::shared_ptr<Session>> sessions_;
  absl::btree_set<io::FiberId> fibers_;
  io::WaitList appended_;
  uint64_t duplicates_ = 0;
  uint64_t not_leader_answers_ = 0;
  int follower_refusals_ = 0;
  absl::btree_map<uint32_t, uint64_t> fetches_served_;
  bool stopped_ = false;
};

}  // namespace meridian::core::client::testing
