// core::cluster::ClusterMetadata: the controller's state machine — nodes, topics, partition
// assignments and producer ids — built by applying the metadata raft group's committed entries
// (core/wire/metadata.fbs MetadataCommand) in order. Every node hosts a replica of the metadata
// group (voters: the controller quorum; the rest would be learners), so every node has a copy
// and answers metadata requests from it.
//
// Decisions that need a choice (where replicas go) are made by the controller leader before it
// proposes (Place), and recorded in the command; apply only validates and records, so it is
// deterministic. A command that is invalid at apply time (a topic that already exists, an
// unknown topic) changes nothing and reports why in its outcome.
//
// Raft group ids: the metadata group is kControllerGroup; partition groups get consecutive ids
// from next_group() as topics are created (never reused, so a deleted topic's messages cannot
// reach a new topic's group).
//
// Pure: no I/O. Who may call: the metadata replica's driver fiber (Apply), and other fibers of
// the node between applies (the queries).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/cluster/placement.h"
#include "core/wire/client_codec.h"
#include "core/wire/metadata_generated.h"

namespace meridian::core::wire {
struct MetadataSnapshotT;  // core/wire/snapshot.fbs
}  // namespace meridian::core::wire

namespace meridian::core::cluster {

inline constexpr uint64_t kControllerGroup = 1;
inline constexpr uint64_t kFirstPartitionGroup = 2;
inline constexpr uint32_t kPartitionsPerTopicMax = 1024;
inline constexpr uint32_t kTopicsMax = 10000;
inline constexpr uint32_t kReplicationFactorMax = 7;
inline constexpr uint32_t kNodesMax = 1024;

struct NodeRecord {
  uint32_t id = 0;
  std::string region;
  std::string zone;
  std::string host;
  uint16_t port = 0;
  std::string kafka_address;  // The Kafka listener's "ip:port"; empty: none.
  bool operator==(const NodeRecord&) const = default;
};

struct PartitionRecord {
  uint32_t partition = 0;
  uint64_t group = 0;
  std::vector<uint32_t> replicas;   // The voters; the preferred leader first.
  std::vector<uint32_t> observers;  // Raft learners (regional topics); none in `replicas`.
  // Promotion (core/cluster/promotion.h): the epoch, and for epoch > 0 where its group came
  // from: `source` seeded it from `previous_group` through `promoted_index`, whose high
  // watermark was `promoted_offset`. Old-epoch records at or after it were discarded.
  uint32_t epoch = 0;
  uint64_t previous_group = 0;
  uint32_t source = 0;
  uint64_t promoted_index = 0;
  int64_t promoted_offset = 0;
  // A reassignment in progress (core/cluster/reassignment.h): the replica set the partition's
  // leader is moving the group's raft configuration to; both empty when none is.
  std::vector<uint32_t> target_replicas;
  std::vector<uint32_t> target_observers;
  // The epoch at which the topic last became regional (mode_change.h): a later epoch's voters
  // live in its promoted source's region, this one's in the topic's home region.
  uint32_t rehomed_epoch = 0;
  bool reassigning() const { return !target_replicas.empty(); }
};

// A consistency mode with its settings: what a topic is moving to (core/cluster/mode_change.h).
struct ModeTarget {
  wire::Consistency consistency = wire::Consistency::Strong;
  std::string home_region;
  uint32_t observers_per_region = 0;
  RegionCounts voters_in;  // Placement constraints (placement.h); empty: none.
  RegionCounts observers_in;
  bool operator==(const ModeTarget&) const = default;
};

struct TopicRecord {
  std::string name;
  uint32_t replication_factor = 0;
  int64_t retention_bytes = 0;
  int64_t retention_ms = 0;
  std::vector<PartitionRecord> partitions;
  // As placed (core/cluster/placement.h). Commands written before modes existed carry
  // Unspecified and are read as Strong: their placement spread voters over regions first.
  wire::Consistency consistency = wire::Consistency::Strong;
  std::string home_region;            // Regional.
  uint32_t observers_per_region = 0;  // Regional; new partitions get as many.
  RegionCounts voters_in;             // Placement constraints (placement.h); empty: none.
  RegionCounts observers_in;
  // A mode change in progress (core/cluster/mode_change.h): the partitions are being moved into
  // this mode's placement; the fields above stay the old mode's until every one is placed.
  std::optional<ModeTarget> changing_to;
  // Regional failover governs the topic because of a mode change (to regional, or regional
  // now after one), not since its creation: voters from before the change may not know it
  // needs a data lease, so promotions wait until they show they do (core/broker failover.cc).
  bool regional_by_change = false;
  ModeTarget mode() const {
    return {consistency, home_region, observers_per_region, voters_in, observers_in};
  }
  // Whether regional failover governs the topic: its data lease and promotions. A regional
  // topic, and one changing to or from regional (mode_change.h): while partitions move, one
  // whose voters all sit in the lost region can still be promoted.
  bool UnderRegionalRules() const {
    return consistency == wire::Consistency::Regional ||
           (changing_to.has_value() && changing_to->consistency == wire::Consistency::Regional);
  }
};

// A quota override the controller recorded (`meridian quota set`): 0 is unlimited.
struct QuotaRecord {
  uint64_t bytes_per_s = 0;
  uint64_t requests_per_s = 0;
  bool operator==(const QuotaRecord&) const = default;
};
using QuotaKey = std::pair<wire::QuotaSubject, std::string>;
inline constexpr size_t kQuotasMax = 10000;
inline constexpr uint64_t kQuotaPerSecondMax = uint64_t{1} << 40;

struct MetadataOutcome {
  absl::Status status;
  uint64_t producer_id = 0;
  uint32_t producer_epoch = 0;
};

// Topic names: 1..kNameBytesMax characters of [a-zA-Z0-9._-], not "." or "..".
absl::Status ValidateTopicName(std::string_view name);
// A partition's voters and observers against its topic (distinct non-zero ids, observers on
// regional topics only; replication_factor voters, or 1..replication_factor after a promotion).
absl::Status ValidateReplicas(const TopicRecord& topic, const PartitionRecord& partition);
// Sets `topic`'s mode fields after checking them (a home region of at most kNameBytesMax bytes,
// required for regional; observers for regional only, at most kObserversMax per region).
// Unspecified is read as Strong (commands written before modes existed carry it).
// With placement constraints: voters per region for strong and spread topics (adding up to the
// replication factor; strong: at most StrongVotersPerRegionMax in any; the home region, if
// any, among them), observers per region for regional ones (not the home region, not with
// observers_per_region), each shaped as ValidateRegionCounts requires.
absl::Status SetPlacementMode(TopicRecord& topic, wire::Consistency consistency,
                              std::string_view home, uint32_t observers_per_region,
                              const RegionCounts& voters_in = {},
                              const RegionCounts& observers_in = {});
// A wire list of region counts (client.fbs RegionCount) as a map: InvalidArgument for an
// absent entry or a region named twice (shape checks are ValidateRegionCounts').
absl::StatusOr<RegionCounts> RegionCountsFromWire(
    const flatbuffers::Vector<flatbuffers::Offset<wire::RegionCount>>* counts);
absl::StatusOr<RegionCounts> RegionCountsFromWire(
    const std::vector<std::unique_ptr<wire::RegionCountT>>& counts);
std::vector<std::unique_ptr<wire::RegionCountT>> RegionCountsToWire(const RegionCounts& counts);
// Checks a create request's numbers (partitions, replication factor, retention).
absl::Status ValidateTopicSettings(uint32_t partitions, uint32_t replication_factor,
                                   int64_t retention_bytes, int64_t retention_ms);

// A quota's subject (client or topic), its name (a client id of 1 to kNameBytesMax printable
// characters, or a valid topic name) and its rates (at most kQuotaPerSecondMax).
absl::Status ValidateQuota(wire::QuotaSubject subject, std::string_view name, uint64_t bytes_per_s,
                           uint64_t requests_per_s);

std::vector<uint8_t> EncodeCommand(const wire::MetadataCommandT& command);
// A node as metadata responses and snapshots carry it.
std::unique_ptr<wire::NodeInfoT> ToNodeInfo(const NodeRecord& node);

class ClusterMetadata {
 public:
  // Applies one committed entry's data. Bytes that do not verify are refused (the outcome says
  // why) identically on every replica.
  MetadataOutcome Apply(std::span<const uint8_t> data);

  // The whole state as raft snapshot data (core/wire/snapshot.fbs MetadataSnapshot): the
  // metadata group's log is compacted behind it.
  std::string EncodeSnapshot() const;
  // Replaces the whole state with a snapshot's. InvalidArgument (and no change) for data that
  // does not verify or breaks a rule that Apply enforces.
  absl::Status RestoreSnapshot(std::string_view data);

  // The controller leader's placement of new partitions over the registered nodes
  // (core/cluster/placement.h: consistency modes, regions, zones, rotating preferred leaders).
  // FailedPrecondition when the cluster cannot satisfy the request, saying what it lacks.
  absl::StatusOr<Placement> Place(const PlacementRequest& request) const;

  const absl::btree_map<uint32_t, NodeRecord>& nodes() const { return nodes_; }
  const absl::btree_map<std::string, TopicRecord>& topics() const { return topics_; }
  const TopicRecord* FindTopic(std::string_view name) const;
  uint64_t next_group() const { return next_group_; }
  uint64_t version() const { return version_; }  // Commands applied (changed or not).
  const absl::btree_map<QuotaKey, QuotaRecord>& quotas() const { return quotas_; }
  const QuotaRecord* FindQuota(wire::QuotaSubject subject, std::string_view name) const;

 private:
  MetadataOutcome ApplyTopicCreate(const wire::TopicCreate& create);
  MetadataOutcome ApplyTopicDelete(const wire::TopicDelete& remove);
  MetadataOutcome ApplyNodeRegister(const wire::NodeRegister& node);
  MetadataOutcome ApplyProducerIdAllocate(const wire::ProducerIdAllocate& allocate);
  MetadataOutcome ApplyTopicAddPartitions(const wire::TopicAddPartitions& add);
  MetadataOutcome ApplyTopicConfigSet(const wire::TopicConfigSet& set);
  MetadataOutcome ApplyQuotaSet(const wire::QuotaSet& set);  // metadata_quotas.cc
  void EncodeQuotas(wire::MetadataSnapshotT& snapshot) const;
  absl::Status RestoreQuotas(const wire::MetadataSnapshotT& snapshot);
  MetadataOutcome ApplyPartitionPromote(const wire::PartitionPromote& promote);     // promotion.cc
  MetadataOutcome ApplyPartitionReassign(const wire::PartitionReassign& reassign);  // reassignment
  MetadataOutcome ApplyTopicModeChange(const wire::TopicModeChange& change);  // mode_change.cc
  // Appends partitions with these replica lists to `topic` (validated first; nothing changes on
  // an error): the create and add-partitions commands share it.
  absl::Status AddPartitions(
      TopicRecord& topic,
      const flatbuffers::Vector<flatbuffers::Offset<wire::PartitionAssignment>>* assignments);

  absl::btree_map<uint32_t, NodeRecord> nodes_;
  absl::btree_map<std::string, TopicRecord> topics_;
  absl::btree_map<uint64_t, uint32_t> producer_epochs_;  // producer id -> current epoch
  uint64_t next_group_ = kFirstPartitionGroup;
  uint64_t next_producer_id_ = 1;
  uint64_t partitions_created_ = 0;  // Rotates preferred leaders across topics.
  uint64_t version_ = 0;
  absl::btree_map<QuotaKey, QuotaRecord> quotas_;
};

}  // namespace meridian::core::cluster
