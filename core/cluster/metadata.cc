#include "core/cluster/metadata.h"

#include <fmt/format.h>

#include <algorithm>

#include "absl/container/btree_set.h"
#include "core/wire/snapshot_generated.h"
#include "io/assert.h"

namespace meridian::core::cluster {
namespace {

constexpr uint32_t kVerifierDepthMax = 16;
constexpr uint32_t kVerifierTablesMax = 1 << 20;

}  // namespace

// Voters: replication_factor distinct non-zero ids (a promoted epoch: 1 to replication_factor);
// observers: at most kObserversMax distinct non-zero ids, none of them a voter. Regional topics
// only may have observers.
absl::Status ValidateReplicas(const TopicRecord& topic, const PartitionRecord& partition) {
  absl::btree_set<uint32_t> distinct(partition.replicas.begin(), partition.replicas.end());
  const bool count_ok =
      partition.epoch == 0
          ? partition.replicas.size() == topic.replication_factor
          : !partition.replicas.empty() && partition.replicas.size() <= topic.replication_factor;
  if (!count_ok || distinct.size() != partition.replicas.size() || distinct.contains(0)) {
    return absl::InvalidArgumentError(
        fmt::format("partition {} of '{}': replicas must be {} distinct non-zero node ids",
                    partition.partition, topic.name, topic.replication_factor));
  }
  for (uint32_t observer : partition.observers) {
    if (observer == 0 || !distinct.insert(observer).second) {
      return absl::InvalidArgumentError(
          fmt::format("partition {} of '{}': observers must be distinct non-zero node ids "
                      "that are not voters",
                      partition.partition, topic.name));
    }
  }
  // While a mode change is in progress observers may be joining or leaving any topic.
  if (partition.observers.size() > kObserversMax ||
      (!partition.observers.empty() && topic.consistency != wire::Consistency::Regional &&
       !topic.changing_to.has_value())) {
    return absl::InvalidArgumentError(
        fmt::format("partition {} of '{}': {} observers (regional topics only, at most {})",
                    partition.partition, topic.name, partition.observers.size(), kObserversMax));
  }
  return absl::OkStatus();
}

namespace {

// The placement constraints a mode takes (placement.h), against the topic's replication factor.
absl::Status CheckConstraints(const TopicRecord& topic, wire::Consistency consistency,
                              std::string_view home, uint32_t observers_per_region,
                              const RegionCounts& voters_in, const RegionCounts& observers_in) {
  for (auto [counts, what] :
       {std::pair(&voters_in, "voters"), std::pair(&observers_in, "observers")}) {
    if (absl::Status s = ValidateRegionCounts(*counts, what); !s.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("topic '{}': {}", topic.name, std::string(s.message())));
    }
  }
  const bool regional = consistency == wire::Consistency::Regional;
  if ((regional && !voters_in.empty()) || (!regional && !observers_in.empty()) ||
      (!observers_in.empty() &&
       (observers_per_region != 0 || observers_in.contains(std::string(home))))) {
    return absl::InvalidArgumentError(fmt::format(
        "topic '{}': voters per region go with strong and spread topics, observers per region "
        "with regional ones (not the home region, not with a uniform observer count)",
        topic.name));
  }
  uint64_t voters = 0;
  for (const auto& [region, count] : voters_in) voters += count;
  uint64_t observers = 0;
  for (const auto& [region, count] : observers_in) observers += count;
  const uint32_t cap = consistency == wire::Consistency::Strong
                           ? StrongVotersPerRegionMax(topic.replication_factor)
                           : topic.replication_factor;
  const bool over_cap = std::any_of(voters_in.begin(), voters_in.end(),
                                    [&](const auto& entry) { return entry.second > cap; });
  if ((!voters_in.empty() && (voters != topic.replication_factor || over_cap ||
                              (!home.empty() && !voters_in.contains(std::string(home))))) ||
      observers > kObserversMax) {
    return absl::InvalidArgumentError(fmt::format(
        "topic '{}': voters per region must add up to the replication factor {} (strong: at "
        "most {} in a region, the home region among them); at most {} observers",
        topic.name, topic.replication_factor, cap, kObserversMax));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RegionCounts> RegionCountsFromWire(
    const flatbuffers::Vector<flatbuffers::Offset<wire::RegionCount>>* counts) {
  RegionCounts out;
  if (counts == nullptr) return out;
  if (counts->size() > kRegionCountsMax) {
    return absl::InvalidArgumentError(
        fmt::format("{} region counts (at most {})", counts->size(), kRegionCountsMax));
  }
  for (const wire::RegionCount* entry : *counts) {
    if (entry == nullptr || entry->region() == nullptr) {
      return absl::InvalidArgumentError("a region count without its region");
    }
    if (!out.emplace(entry->region()->str(), entry->count()).second) {
      return absl::InvalidArgumentError(
          fmt::format("region '{}' is counted twice", entry->region()->string_view()));
    }
  }
  return out;
}

absl::StatusOr<RegionCounts> RegionCountsFromWire(
    const std::vector<std::unique_ptr<wire::RegionCountT>>& counts) {
  RegionCounts out;
  if (counts.size() > kRegionCountsMax) {
    return absl::InvalidArgumentError(
        fmt::format("{} region counts (at most {})", counts.size(), kRegionCountsMax));
  }
  for (const auto& entry : counts) {
    if (entry == nullptr) return absl::InvalidArgumentError("a region count without its region");
    if (!out.emplace(entry->region, entry->count).second) {
      return absl::InvalidArgumentError(fmt::format("region '{}' is counted twice", entry->region));
    }
  }
  return out;
}

std::vector<std::unique_ptr<wire::RegionCountT>> RegionCountsToWire(const RegionCounts& counts) {
  std::vector<std::unique_ptr<wire::RegionCountT>> out;
  for (const auto& [region, count] : counts) {
    auto entry = std::make_unique<wire::RegionCountT>();
    entry->region = region;
    entry->count = count;
    out.push_back(std::move(entry));
  }
  return out;
}

absl::Status SetPlacementMode(TopicRecord& topic, wire::Consistency consistency,
                              std::string_view home, uint32_t observers_per_region,
                              const RegionCounts& voters_in, const RegionCounts& observers_in) {
  if (consistency == wire::Consistency::Unspecified) consistency = wire::Consistency::Strong;
  // A strong topic's home region is where its leaders are preferred (core/cluster/placement.h).
  if ((consistency == wire::Consistency::Strong && observers_per_region != 0) ||
      (consistency == wire::Consistency::Spread && (!home.empty() || observers_per_region != 0))) {
    return absl::InvalidArgumentError(fmt::format(
        "topic '{}': observers on a non-regional topic, or a home region on a spread one",
        topic.name));
  }
  if (home.size() > wire::kNameBytesMax) {
    return absl::InvalidArgumentError(fmt::format("topic '{}': a home region of at most {} bytes",
                                                  topic.name, wire::kNameBytesMax));
  }
  if (consistency == wire::Consistency::Regional &&
      (home.empty() || home.size() > wire::kNameBytesMax || observers_per_region > kObserversMax)) {
    return absl::InvalidArgumentError(fmt::format(
        "regional topic '{}': a home region of 1 to {} bytes and at most {} observers per region",
        topic.name, wire::kNameBytesMax, kObserversMax));
  }
  if (consistency != wire::Consistency::Strong && consistency != wire::Consistency::Regional &&
      consistency != wire::Consistency::Spread) {
    return absl::InvalidArgumentError(fmt::format("topic '{}': unknown consistency {}", topic.name,
                                                  static_cast<int>(consistency)));
  }
  if (absl::Status s =
          CheckConstraints(topic, consistency, home, observers_per_region, voters_in, observers_in);
      !s.ok()) {
    return s;
  }
  topic.consistency = consistency;
  topic.home_region = std::string(home);
  topic.observers_per_region = observers_per_region;
  topic.voters_in = voters_in;
  topic.observers_in = observers_in;
  return absl::OkStatus();
}

absl::Status ValidateTopicName(std::string_view name) {
  if (name.empty() || name.size() > wire::kNameBytesMax) {
    return absl::InvalidArgumentError(
        fmt::format("topic name must be 1 to {} characters", wire::kNameBytesMax));
  }
  if (name == "." || name == "..")
    return absl::InvalidArgumentError("topic name cannot be . or ..");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          fmt::format("topic name '{}' has a character other than [a-zA-Z0-9._-]", name));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTopicSettings(uint32_t partitions, uint32_t replication_factor,
                                   int64_t retention_bytes, int64_t retention_ms) {
  if (partitions == 0 || partitions > kPartitionsPerTopicMax) {
    return absl::InvalidArgumentError(
        fmt::format("partitions must be 1 to {}, not {}", kPartitionsPerTopicMax, partitions));
  }
  if (replication_factor == 0 || replication_factor > kReplicationFactorMax) {
    return absl::InvalidArgumentError(fmt::format("replication factor must be 1 to {}, not {}",
                                                  kReplicationFactorMax, replication_factor));
  }
  if (retention_bytes < 0 || retention_ms < 0) {
    return absl::InvalidArgumentError("retention must be >= 0 (0: unlimited)");
  }
  return absl::OkStatus();
}

std::vector<uint8_t> EncodeCommand(const wire::MetadataCommandT& command) {
  flatbuffers::FlatBufferBuilder builder(256);
  builder.Finish(wire::MetadataCommand::Pack(builder, &command));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

MetadataOutcome ClusterMetadata::Apply(std::span<const uint8_t> data) {
  version_++;
  flatbuffers::Verifier verifier(data.data(), data.size(), kVerifierDepthMax, kVerifierTablesMax);
  if (!wire::VerifyMetadataCommandBuffer(verifier)) {
    return {absl::DataLossError("metadata command failed verification")};
  }
  const wire::MetadataCommand* command = wire::GetMetadataCommand(data.data());
  if (command->body() == nullptr) return {absl::DataLossError("metadata command without a body")};
  switch (command->body_type()) {
    case wire::MetadataCommandBody::TopicCreate:
      return ApplyTopicCreate(*command->body_as_TopicCreate());
    case wire::MetadataCommandBody::TopicDelete:
      return ApplyTopicDelete(*command->body_as_TopicDelete());
    case wire::MetadataCommandBody::NodeRegister:
      return ApplyNodeRegister(*command->body_as_NodeRegister());
    case wire::MetadataCommandBody::ProducerIdAllocate:
      return ApplyProducerIdAllocate(*command->body_as_ProducerIdAllocate());
    case wire::MetadataCommandBody::TopicAddPartitions:
      return ApplyTopicAddPartitions(*command->body_as_TopicAddPartitions());
    case wire::MetadataCommandBody::QuotaSet:
      return ApplyQuotaSet(*command->body_as_QuotaSet());
    case wire::MetadataCommandBody::PartitionPromote:
      return ApplyPartitionPromote(*command->body_as_PartitionPromote());
    case wire::MetadataCommandBody::PartitionReassign:
      return ApplyPartitionReassign(*command->body_as_PartitionReassign());
    case wire::MetadataCommandBody::TopicConfigSet:
      return ApplyTopicConfigSet(*command->body_as_TopicConfigSet());
    case wire::MetadataCommandBody::TopicModeChange:
      return ApplyTopicModeChange(*command->body_as_TopicModeChange());
    case wire::MetadataCommandBody::NONE:
      break;
  }
  return {absl::DataLossError("metadata command of an unknown kind")};
}

MetadataOutcome ClusterMetadata::ApplyTopicCreate(const wire::TopicCreate& create) {
  const std::string name = create.name() ? create.name()->str() : "";
  if (absl::Status s = ValidateTopicName(name); !s.ok()) return {s};
  if (topics_.contains(name)) {
    return {absl::AlreadyExistsError(fmt::format("topic '{}' already exists", name))};
  }
  if (topics_.size() >= kTopicsMax) return {absl::ResourceExhaustedError("too many topics")};
  const uint32_t partition_count = create.partitions() ? create.partitions()->size() : 0;
  if (absl::Status s = ValidateTopicSettings(partition_count, create.replication_factor(),
                                             create.retention_bytes(), create.retention_ms());
      !s.ok()) {
    return {s};
  }
  TopicRecord topic{
      name, create.replication_factor(), create.retention_bytes(), create.retention_ms(), {}};
  absl::StatusOr<RegionCounts> voters_in = RegionCountsFromWire(create.voters_in());
  if (!voters_in.ok()) return {voters_in.status()};
  absl::StatusOr<RegionCounts> observers_in = RegionCountsFromWire(create.observers_in());
  if (!observers_in.ok()) return {observers_in.status()};
  if (absl::Status s = SetPlacementMode(
          topic, create.consistency(),
          create.home_region() != nullptr ? create.home_region()->string_view() : "",
          create.observers_per_region(), *voters_in, *observers_in);
      !s.ok()) {
    return {s};
  }
  if (absl::Status s = AddPartitions(topic, create.partitions()); !s.ok()) return {s};
  topics_[name] = std::move(topic);
  return {absl::OkStatus()};
}

absl::Status ClusterMetadata::AddPartitions(
    TopicRecord& topic,
    const flatbuffers::Vector<flatbuffers::Offset<wire::PartitionAssignment>>* assignments) {
  const uint32_t first = static_cast<uint32_t>(topic.partitions.size());
  const uint32_t count = assignments != nullptr ? assignments->size() : 0;
  if (count == 0 || first + count > kPartitionsPerTopicMax) {
    return absl::InvalidArgumentError(fmt::format("'{}' would have {} partitions (1..{})",
                                                  topic.name, first + count,
                                                  kPartitionsPerTopicMax));
  }
  std::vector<PartitionRecord> added;
  for (uint32_t i = 0; i < count; i++) {
    const wire::PartitionAssignment* assignment = assignments->Get(i);
    PartitionRecord partition{first + i, next_group_ + i, {}, {}};
    if (assignment != nullptr && assignment->replicas() != nullptr) {
      partition.replicas.assign(assignment->replicas()->begin(), assignment->replicas()->end());
    }
    if (assignment != nullptr && assignment->observers() != nullptr) {
      partition.observers.assign(assignment->observers()->begin(), assignment->observers()->end());
    }
    // A new partition starts at epoch 0 whatever the command says: epochs move by promotion.
    if (absl::Status s = ValidateReplicas(topic, partition); !s.ok()) return s;
    added.push_back(std::move(partition));
  }
  for (PartitionRecord& partition : added) topic.partitions.push_back(std::move(partition));
  next_group_ += count;
  partitions_created_ += count;
  return absl::OkStatus();
}

MetadataOutcome ClusterMetadata::ApplyTopicAddPartitions(const wire::TopicAddPartitions& add) {
  const std::string name = add.name() ? add.name()->str() : "";
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return {absl::NotFoundError(fmt::format("topic '{}' does not exist", name))};
  }
  return {AddPartitions(it->second, add.partitions())};
}

MetadataOutcome ClusterMetadata::ApplyTopicConfigSet(const wire::TopicConfigSet& set) {
  const std::string name = set.name() ? set.name()->str() : "";
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return {absl::NotFoundError(fmt::format("topic '{}' does not exist", name))};
  }
  // -1: unchanged. Checked whole before anything changes.
  if (set.retention_bytes() < -1 || set.retention_ms() < -1) {
    return {absl::InvalidArgumentError("retention must be >= 0 (0: unlimited), or -1: unchanged")};
  }
  TopicRecord& topic = it->second;
  if (set.retention_bytes() != -1) topic.retention_bytes = set.retention_bytes();
  if (set.retention_ms() != -1) topic.retention_ms = set.retention_ms();
  MERIDIAN_CHECK(topic.retention_bytes >= 0 && topic.retention_ms >= 0);
  return {absl::OkStatus()};
}

MetadataOutcome ClusterMetadata::ApplyTopicDelete(const wire::TopicDelete& remove) {
  const std::string name = remove.name() ? remove.name()->str() : "";
  if (topics_.erase(name) == 0) {
    return {absl::NotFoundError(fmt::format("topic '{}' does not exist", name))};
  }
  return {absl::OkStatus()};
}

MetadataOutcome ClusterMetadata::ApplyNodeRegister(const wire::NodeRegister& registration) {
  const wire::NodeInfo* info = registration.node();
  if (info == nullptr || info->id() == 0) return {absl::InvalidArgumentError("node id 0")};
  if (!nodes_.contains(info->id()) && nodes_.size() >= kNodesMax) {
    return {absl::ResourceExhaustedError("too many nodes")};
  }
  const auto text = [](const flatbuffers::String* s) { return s ? s->str() : std::string(); };
  nodes_[info->id()] =
      NodeRecord{info->id(),         text(info->region()), text(info->zone()),
                 text(info->host()), info->port(),         text(info->kafka_address())};
  return {absl::OkStatus()};
}

MetadataOutcome ClusterMetadata::ApplyProducerIdAllocate(const wire::ProducerIdAllocate& allocate) {
  if (allocate.producer_id() == 0) {
    const uint64_t id = next_producer_id_++;
    producer_epochs_[id] = 0;
    return {absl::OkStatus(), id, 0};
  }
  auto it = producer_epochs_.find(allocate.producer_id());
  if (it == producer_epochs_.end()) {
    return {absl::NotFoundError(fmt::format("unknown producer id {}", allocate.producer_id()))};
  }
  it->second++;
  return {absl::OkStatus(), it->first, it->second};
}

absl::StatusOr<Placement> ClusterMetadata::Place(const PlacementRequest& request) const {
  return cluster::Place(nodes_, request, partitions_created_);
}

const TopicRecord* ClusterMetadata::FindTopic(std::string_view name) const {
  auto it = topics_.find(std::string(name));
  return it == topics_.end() ? nullptr : &it->second;
}

std::unique_ptr<wire::NodeInfoT> ToNodeInfo(const NodeRecord& node) {
  auto info = std::make_unique<wire::NodeInfoT>();
  info->id = node.id;
  info->region = node.region;
  info->zone = node.zone;
  info->host = node.host;
  info->port = node.port;
  info->kafka_address = node.kafka_address;
  return info;
}

std::string ClusterMetadata::EncodeSnapshot() const {
  wire::MetadataSnapshotT snapshot;
  for (const auto& [id, node] : nodes_) snapshot.nodes.push_back(ToNodeInfo(node));
  for (const auto& [name, topic] : topics_) {
    auto out = std::make_unique<wire::TopicSnapshotT>();
    out->name = topic.name;
    out->replication_factor = topic.replication_factor;
    out->retention_bytes = topic.retention_bytes;
    out->retention_ms = topic.retention_ms;
    out->consistency = topic.consistency;
    out->home_region = topic.home_region;
    out->observers_per_region = topic.observers_per_region;
    out->voters_in = RegionCountsToWire(topic.voters_in);
    out->observers_in = RegionCountsToWire(topic.observers_in);
    out->regional_by_change = topic.regional_by_change;
    if (topic.changing_to.has_value()) {
      out->changing_to = topic.changing_to->consistency;
      out->changing_home_region = topic.changing_to->home_region;
      out->changing_observers_per_region = topic.changing_to->observers_per_region;
      out->changing_voters_in = RegionCountsToWire(topic.changing_to->voters_in);
      out->changing_observers_in = RegionCountsToWire(topic.changing_to->observers_in);
    }
    for (const PartitionRecord& partition : topic.partitions) {
      auto record = std::make_unique<wire::PartitionSnapshotRecordT>();
      record->partition = partition.partition;
      record->group = partition.group;
      record->replicas = partition.replicas;
      record->observers = partition.observers;
      record->epoch = partition.epoch;
      record->previous_group = partition.previous_group;
      record->source = partition.source;
      record->promoted_index = partition.promoted_index;
      record->promoted_offset = partition.promoted_offset;
      record->target_replicas = partition.target_replicas;
      record->target_observers = partition.target_observers;
      record->rehomed_epoch = partition.rehomed_epoch;
      out->partitions.push_back(std::move(record));
    }
    snapshot.topics.push_back(std::move(out));
  }
  for (const auto& [id, epoch] : producer_epochs_) snapshot.producers.emplace_back(id, epoch);
  snapshot.next_group = next_group_;
  snapshot.next_producer_id = next_producer_id_;
  snapshot.partitions_created = partitions_created_;
  snapshot.version = version_;
  EncodeQuotas(snapshot);
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(wire::MetadataSnapshot::Pack(builder, &snapshot));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

namespace {

// One partition of a snapshot's topic, checked as apply would, appended to `topic`.
absl::Status RestorePartition(TopicRecord& topic,
                              const std::unique_ptr<wire::PartitionSnapshotRecordT>& partition,
                              size_t p, uint64_t next_group, absl::btree_set<uint64_t>& groups) {
  if (partition == nullptr || partition->partition != p ||
      partition->group < kFirstPartitionGroup || partition->group >= next_group ||
      !groups.insert(partition->group).second ||
      (partition->epoch != 0) != (partition->previous_group != 0) ||
      partition->previous_group >= partition->group || partition->promoted_offset < 0 ||
      partition->rehomed_epoch > partition->epoch) {
    return absl::InvalidArgumentError(
        fmt::format("metadata snapshot: partition {} of '{}' is malformed", p, topic.name));
  }
  topic.partitions.push_back({partition->partition, partition->group, partition->replicas,
                              partition->observers, partition->epoch, partition->previous_group,
                              partition->source, partition->promoted_index,
                              partition->promoted_offset, partition->target_replicas,
                              partition->target_observers, partition->rehomed_epoch});
  if (absl::Status s = ValidateReplicas(topic, topic.partitions.back()); !s.ok()) return s;
  // A target is checked like the replicas it will become (placement was checked when recorded).
  if (!partition->target_replicas.empty() || !partition->target_observers.empty()) {
    PartitionRecord target = topic.partitions.back();
    target.replicas = partition->target_replicas;
    target.observers = partition->target_observers;
    return ValidateReplicas(topic, target);
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

// A snapshot's mode change in progress, checked as the mode command checked it.
absl::Status RestoreModeChange(const wire::TopicSnapshotT& topic, TopicRecord& record);

// A snapshot's topic mode (with its placement constraints) and mode change, checked as the
// commands that set them were.
absl::Status RestoreMode(const wire::TopicSnapshotT& topic, TopicRecord& record) {
  absl::StatusOr<RegionCounts> voters_in = RegionCountsFromWire(topic.voters_in);
  if (!voters_in.ok()) return voters_in.status();
  absl::StatusOr<RegionCounts> observers_in = RegionCountsFromWire(topic.observers_in);
  if (!observers_in.ok()) return observers_in.status();
  if (absl::Status s = SetPlacementMode(record, topic.consistency, topic.home_region,
                                        topic.observers_per_region, *voters_in, *observers_in);
      !s.ok()) {
    return s;
  }
  return RestoreModeChange(topic, record);
}

absl::Status RestoreModeChange(const wire::TopicSnapshotT& topic, TopicRecord& record) {
  record.regional_by_change = topic.regional_by_change;
  if (topic.changing_to == wire::Consistency::Unspecified) return absl::OkStatus();
  TopicRecord target = record;
  absl::StatusOr<RegionCounts> voters_in = RegionCountsFromWire(topic.changing_voters_in);
  if (!voters_in.ok()) return voters_in.status();
  absl::StatusOr<RegionCounts> observers_in = RegionCountsFromWire(topic.changing_observers_in);
  if (!observers_in.ok()) return observers_in.status();
  if (absl::Status s =
          SetPlacementMode(target, topic.changing_to, topic.changing_home_region,
                           topic.changing_observers_per_region, *voters_in, *observers_in);
      !s.ok()) {
    return s;
  }
  record.changing_to = target.mode();
  return absl::OkStatus();
}

// FlatBuffers 2.0's verifier checks a vector of structs for 4-byte alignment only; these structs
// hold 8-byte fields, and hostile bytes may place them at 4 mod 8.
bool ProducerListAligned(const wire::MetadataSnapshot& snapshot) {
  return snapshot.producers() == nullptr ||
         reinterpret_cast<uintptr_t>(snapshot.producers()->Data()) %
                 alignof(wire::ProducerEpochRecord) ==
             0;
}

}  // namespace

absl::Status ClusterMetadata::RestoreSnapshot(std::string_view data) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (!verifier.VerifyBuffer<wire::MetadataSnapshot>(nullptr)) {
    return absl::InvalidArgumentError("metadata snapshot fails FlatBuffers verification");
  }
  const auto* root = flatbuffers::GetRoot<wire::MetadataSnapshot>(data.data());
  if (!ProducerListAligned(*root)) {
    return absl::InvalidArgumentError("metadata snapshot with a misaligned producer list");
  }
  wire::MetadataSnapshotT snapshot;
  root->UnPackTo(&snapshot);
  ClusterMetadata restored;
  if (snapshot.nodes.size() > kNodesMax || snapshot.topics.size() > kTopicsMax) {
    return absl::InvalidArgumentError("metadata snapshot over the node or topic limits");
  }
  for (const auto& node : snapshot.nodes) {
    if (node == nullptr || node->id == 0 ||
        !restored.nodes_
             .emplace(node->id, NodeRecord{node->id, node->region, node->zone, node->host,
                                           node->port, node->kafka_address})
             .second) {
      return absl::InvalidArgumentError("metadata snapshot: a node of id 0 or listed twice");
    }
  }
  absl::btree_set<uint64_t> groups;
  for (const auto& topic : snapshot.topics) {
    if (topic == nullptr) return absl::InvalidArgumentError("metadata snapshot: absent topic");
    if (absl::Status s = ValidateTopicName(topic->name); !s.ok()) return s;
    if (absl::Status s = ValidateTopicSettings(static_cast<uint32_t>(topic->partitions.size()),
                                               topic->replication_factor, topic->retention_bytes,
                                               topic->retention_ms);
        !s.ok()) {
      return s;
    }
    TopicRecord record{
        topic->name, topic->replication_factor, topic->retention_bytes, topic->retention_ms, {}};
    if (absl::Status s = RestoreMode(*topic, record); !s.ok()) return s;
    for (size_t p = 0; p < topic->partitions.size(); p++) {
      if (absl::Status s =
              RestorePartition(record, topic->partitions[p], p, snapshot.next_group, groups);
          !s.ok()) {
        return s;
      }
    }
    if (!restored.topics_.emplace(topic->name, std::move(record)).second) {
      return absl::InvalidArgumentError("metadata snapshot: a topic listed twice");
    }
  }
  for (const wire::ProducerEpochRecord& producer : snapshot.producers) {
    if (producer.producer_id() == 0 || producer.producer_id() >= snapshot.next_producer_id ||
        !restored.producer_epochs_.emplace(producer.producer_id(), producer.epoch()).second) {
      return absl::InvalidArgumentError("metadata snapshot: a malformed producer id");
    }
  }
  if (snapshot.next_group < kFirstPartitionGroup || snapshot.next_producer_id == 0) {
    return absl::InvalidArgumentError("metadata snapshot: malformed counters");
  }
  restored.next_group_ = snapshot.next_group;
  restored.next_producer_id_ = snapshot.next_producer_id;
  restored.partitions_created_ = snapshot.partitions_created;
  restored.version_ = snapshot.version;
  if (absl::Status s = restored.RestoreQuotas(snapshot); !s.ok()) return s;
  *this = std::move(restored);
  return absl::OkStatus();
}

}  // namespace meridian::core::cluster
