// client::Client: the cluster as a client sees it. Keeps a metadata cache (nodes, topics,
// partition leaders, the controller leader) and one Connection per node, and routes requests:
// to a partition's leader, to the controller leader, to one node or to any node, retrying what
// is safe to retry until the caller's deadline.
//
// Retry rules (CallPartitionLeader / CallController):
// - NotLeader: follow the `leader` hint, or forget the leader and refresh metadata; retry.
// - Connection failure, Unavailable, NotEnoughReplicas: close that connection, back off
//   (retry_backoff doubling up to retry_backoff_max, with jitter from the runtime), retry.
// - Throttled (a quota or an overload bound on the node): wait retry_after_ms, held within
//   [retry_backoff, throttle_wait_max] whatever the node says, then retry (never a hot loop).
// - UnknownTopicOrPartition: refresh metadata once, retry once; the second is returned.
// - Anything else (a success or a definite error) is returned as the response message.
// - When the deadline passes: DeadlineExceeded carrying the last error seen.
// A retried request is sent unchanged, so requests that are not idempotent (Produce without a
// producer id) may apply twice when a response is lost: that is the caller's business.
//
// Lifetime and threading: one runtime's fibers use it; Close() (or the destructor) closes every
// connection. Requests are copied per attempt; nothing is shared with callers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/client/connection.h"
#include "core/client/errors.h"
#include "core/wire/client_codec.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::core::client {

struct ClientOptions {
  std::vector<io::Address> bootstrap;
  std::string client_id = "meridian-client";
  // Per attempt (one Call on one connection), and the budget of admin operations.
  io::Duration request_timeout = std::chrono::seconds(10);
  io::Duration retry_backoff = std::chrono::milliseconds(50);
  io::Duration retry_backoff_max = std::chrono::seconds(1);
  // The longest a Throttled answer's retry_after_ms is honoured (>= retry_backoff).
  io::Duration throttle_wait_max = std::chrono::seconds(10);
};

class Client {
 public:
  // Nodes remembered from metadata (a bound against a hostile metadata response).
  static constexpr size_t kNodesMax = 4096;
  static constexpr size_t kTopicsCachedMax = 1 << 16;

  Client(io::Runtime& runtime, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Asks any reachable node (known nodes first, then bootstrap addresses) for metadata of
  // `topics` (all when empty) and caches it.
  absl::StatusOr<wire::MetadataResponseT> RefreshMetadata(std::vector<std::string> topics = {});

  using Response = absl::StatusOr<std::unique_ptr<wire::ClientMessageT>>;
  // `maybe_delivered`, when given, is set to true if some attempt may have reached a node
  // without an answer coming back (the request was written, then the connection failed or the
  // attempt timed out): a later definite error then does not prove the request never applied.
  // `answered_by`, when given, is set to the node whose answer is returned.
  Response CallPartitionLeader(const std::string& topic, uint32_t partition,
                               wire::ClientMessageT request, io::Instant deadline,
                               bool* maybe_delivered = nullptr, io::NodeId* answered_by = nullptr);
  Response CallController(wire::ClientMessageT request, io::Instant deadline);
  // One node; retries only connection failures until the deadline.
  Response CallNode(io::NodeId node, wire::ClientMessageT request, io::Instant deadline);
  // The first node that answers (connection failures move on to the next).
  Response CallAnyNode(wire::ClientMessageT request, io::Instant deadline);

  // --- Admin. Each has request_timeout as its budget; errors carry the wire code. ---
  absl::StatusOr<wire::TopicInfoT> CreateTopic(const std::string& name, uint32_t partitions,
                                               uint32_t replication_factor,
                                               int64_t retention_bytes = 0,
                                               int64_t retention_ms = 0);
  // The full request: consistency mode, home region, observers (core/cluster/placement.h).
  absl::StatusOr<wire::TopicInfoT> CreateTopic(wire::CreateTopicRequestT request);
  // Grows `name` to `total` partitions (more than it has). Keyed records may map to other
  // partitions afterwards (Kafka's partitioner is modulo the partition count).
  absl::StatusOr<wire::TopicInfoT> AddPartitions(const std::string& name, uint32_t total);
  // Changes a topic's settings after its creation (AlterTopicConfigRequest): -1 leaves one as
  // it is, 0 is unlimited. With `validate_only` the controller checks and changes nothing.
  // Returns the topic as the controller has it afterwards.
  absl::StatusOr<wire::TopicInfoT> AlterTopicConfig(wire::AlterTopicConfigRequestT request);
  // Fails a regional partition over to its most caught-up observer (operator promotion,
  // core/cluster/promotion.h). Refused while a voter still holds a data lease.
  absl::StatusOr<wire::PromotePartitionResponseT> PromotePartition(const std::string& topic,
                                                                   uint32_t partition);
  // Records a target replica set for partition `partition` of `topic` (voters, the preferred
  // leader first, and observers); the partition's leader then moves there one raft
  // configuration change at a time (core/cluster/reassignment.h). Returns the target recorded
  // (empty: the target was the current set). Refused with the placement rule it breaks.
  absl::StatusOr<wire::ReassignPartitionResponseT> ReassignPartition(
      const std::string& topic, uint32_t partition, std::vector<uint32_t> replicas,
      std::vector<uint32_t> observers);
  absl::Status DeleteTopic(const std::string& name);
  absl::StatusOr<wire::MetadataResponseT> ListTopics();
  absl::StatusOr<wire::TopicInfoT> DescribeTopic(const std::string& name);
  absl::StatusOr<wire::InitProducerIdResponseT> InitProducerId(uint64_t producer_id);
  absl::StatusOr<wire::ReplicaStatusResponseT> ReplicaStatus(io::NodeId node);
  // Quotas (core/broker/quotas.h): records an override for a client id or a topic at the
  // controller (or removes it), and lists the overrides with the answering node's defaults.
  absl::Status SetQuota(wire::QuotaEntryT quota, bool remove = false);
  absl::StatusOr<wire::DescribeQuotasResponseT> DescribeQuotas();

  // --- Consumer groups (core/broker/README.md "Consumer groups"). ---
  // A group request sent to the group's coordinator (the leader of its partition of
  // "__consumer_offsets"), with CallPartitionLeader's retries. The first call for a cluster
  // without that topic asks the controller to create it (FindCoordinator).
  Response CallCoordinator(const std::string& group, wire::ClientMessageT request,
                           io::Instant deadline);
  // The group's committed offsets (of `topics`; all when empty).
  absl::StatusOr<std::vector<std::unique_ptr<wire::PartitionOffsetT>>> CommittedOffsets(
      const std::string& group, std::vector<std::string> topics);
  // Commits `offsets` as member `member_id` of generation `generation`; member "" with
  // generation -1 is an admin commit (accepted only while the group has no members).
  absl::Status CommitOffsets(const std::string& group, const std::string& member_id,
                             int32_t generation,
                             std::vector<std::unique_ptr<wire::PartitionOffsetT>> offsets,
                             io::Instant deadline);
  // Deletes a group without live members: its generation state and committed offsets.
  // GroupNotEmpty (the group has members or is rebalancing) and GroupIdNotFound come back as
  // the status's wire code (WireErrorCode).
  absl::Status DeleteGroup(const std::string& group);
  // One group, or every group of the cluster when `group` is empty.
  absl::StatusOr<std::vector<std::unique_ptr<wire::GroupInfoT>>> DescribeGroups(
      const std::string& group);

  // The topic's partition count from the cache, refreshing metadata when the topic is unknown.
  absl::StatusOr<uint32_t> PartitionCount(const std::string& topic, io::Instant deadline);
  // The cached description of a topic (nullptr if unknown). Valid until the next refresh.
  const wire::TopicInfoT* CachedTopic(const std::string& topic) const;
  // The region node `node` registered with, as the metadata cache has it ("" if unknown).
  std::string NodeRegion(uint32_t node) const;
  io::NodeId controller_leader() const { return io::NodeId(controller_leader_); }

  void Close();
  io::Runtime& runtime() { return runtime_; }
  const ClientOptions& options() const { return options_; }
  // Throttled answers received (each was waited out before the retry).
  uint64_t throttled_total() const { return throttled_total_; }

 private:
  struct Route;
  struct NodeAddress {
    io::Address address;
    std::string region;  // NodeInfo.region: reads near the client (consumer.h client_region).
  };

  Response CallWithRetry(const Route& route, const wire::ClientMessageT& request,
                         io::Instant deadline, bool* maybe_delivered = nullptr,
                         io::NodeId* answered_by = nullptr);
  Response AttemptOn(io::NodeId node, const wire::ClientMessageT& request, io::Instant deadline,
                     bool* connected);
  absl::StatusOr<io::NodeId> PickNode(const Route& route, uint32_t attempt, io::Instant deadline);
  void ForgetLeader(const Route& route);
  void LearnLeader(const Route& route, uint32_t leader);
  absl::StatusOr<std::shared_ptr<Connection>> ConnectionTo(io::NodeId node, io::Instant deadline);
  absl::StatusOr<std::shared_ptr<Connection>> Connect(io::Address address, io::Instant deadline);
  void Remember(std::shared_ptr<Connection> connection);
  absl::Status Backoff(uint32_t attempt, io::Instant deadline);
  // The partition count of "__consumer_offsets", creating the topic if it does not exist.
  absl::StatusOr<uint32_t> OffsetsPartitions(const std::string& group, io::Instant deadline);
  // Sleeps what a Throttled answer asks, held within [retry_backoff, throttle_wait_max].
  absl::Status WaitOutThrottle(const wire::ErrorResponseT& error, io::Instant deadline);
  void CacheMetadata(const wire::MetadataResponseT& metadata, bool all_topics);
  std::vector<io::Address> AnyNodeCandidates() const;
  io::Instant AttemptDeadline(io::Instant deadline) const;

  io::Runtime& runtime_;
  const ClientOptions options_;
  absl::btree_map<uint32_t, NodeAddress> nodes_;
  absl::btree_map<std::string, std::unique_ptr<wire::TopicInfoT>> topics_;
  absl::btree_map<std::pair<std::string, uint32_t>, uint32_t> leaders_;
  uint32_t controller_leader_ = 0;
  absl::btree_map<uint32_t, std::shared_ptr<Connection>> connections_;
  // Connections opened to bootstrap addresses before their node id was known are filed under
  // their node id once the hello tells it; opening is serialised per address.
  absl::btree_map<io::Address, bool> opening_;
  io::WaitList opened_;
  bool closed_ = false;
  uint64_t throttled_total_ = 0;
};

}  // namespace meridian::core::client
