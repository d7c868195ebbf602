#include "core/cluster/reassignment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "absl/container/btree_map.h"
#include "io/assert.h"

namespace meridian::core::cluster {
namespace {

bool Contains(std::span<const uint32_t> ids, uint32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::string Name(std::string_view topic, uint32_t partition) {
  return fmt::format("{}/{}", topic, partition);
}

// The placement rules of the topic's mode (while a mode change is in progress, of the mode it
// is moving to), for voters already known to be registered.
absl::Status CheckMode(const ClusterMetadata& metadata, const TopicRecord& topic,
                       const PartitionRecord& partition, std::span<const uint32_t> voters) {
  const wire::Consistency mode =
      topic.changing_to.has_value() ? topic.changing_to->consistency : topic.consistency;
  if (mode == wire::Consistency::Strong) {
    const uint32_t cap = StrongVotersPerRegionMax(topic.replication_factor);
    absl::btree_map<std::string, uint32_t> per_region;
    for (uint32_t voter : voters) {
      const std::string& region = metadata.nodes().at(voter).region;
      if (++per_region[region] > cap) {
        return absl::FailedPreconditionError(fmt::format(
            "{}: a strong topic of replication factor {} keeps at most {} voter(s) per region "
            "(losing one region must keep a quorum); '{}' would hold {}",
            Name(topic.name, partition.partition), topic.replication_factor, cap, region,
            per_region[region]));
      }
    }
  }
  if (mode == wire::Consistency::Regional) {
    const std::string region = topic.changing_to.has_value()
                                   ? topic.changing_to->home_region
                                   : VoterRegion(metadata, topic, partition);
    for (uint32_t voter : voters) {
      if (metadata.nodes().at(voter).region != region) {
        return absl::FailedPreconditionError(fmt::format(
            "{}: a regional partition keeps every voter in region '{}'; node {} is in '{}'",
            Name(topic.name, partition.partition), region, voter,
            metadata.nodes().at(voter).region));
      }
    }
  }
  return absl::OkStatus();
}

// The placement constraints of the topic's mode (or of the one it is moving to): voters per
// region exactly as counted; observers of a partition at home no more than counted per region
// (a promoted partition's observers are its old epoch's replicas, wherever they are).
absl::Status CheckConstraints(const ClusterMetadata& metadata, const TopicRecord& topic,
                              const PartitionRecord& partition, std::span<const uint32_t> voters,
                              std::span<const uint32_t> observers) {
  const ModeTarget mode = topic.changing_to.has_value() ? *topic.changing_to : topic.mode();
  const auto count = [&](std::span<const uint32_t> ids) {
    RegionCounts per_region;
    for (uint32_t id : ids) per_region[metadata.nodes().at(id).region]++;
    return per_region;
  };
  if (!mode.voters_in.empty() && count(voters) != mode.voters_in) {
    return absl::FailedPreconditionError(
        fmt::format("{}: the topic keeps voters {} per region; these would be {}",
                    Name(topic.name, partition.partition), DescribeRegionCounts(mode.voters_in),
                    DescribeRegionCounts(count(voters))));
  }
  if (mode.observers_in.empty() || partition.epoch != partition.rehomed_epoch) {
    return absl::OkStatus();
  }
  for (const auto& [region, held] : count(observers)) {
    auto allowed = mode.observers_in.find(region);
    if (allowed == mode.observers_in.end() || held > allowed->second) {
      return absl::FailedPreconditionError(
          fmt::format("{}: the topic keeps observers {} per region; region '{}' would hold {}",
                      Name(topic.name, partition.partition),
                      DescribeRegionCounts(mode.observers_in), region, held));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string VoterRegion(const ClusterMetadata& metadata, const TopicRecord& topic,
                        const PartitionRecord& partition) {
  if (topic.consistency != wire::Consistency::Regional) return "";
  if (partition.epoch == partition.rehomed_epoch) return topic.home_region;
  auto source = metadata.nodes().find(partition.source);
  // Apply checked that the source was an observer, and nodes are never unregistered.
  MERIDIAN_CHECK(source != metadata.nodes().end(), "promoted source {} unknown", partition.source);
  return source->second.region;
}

absl::Status ValidateReassignment(const ClusterMetadata& metadata, const TopicRecord& topic,
                                  const PartitionRecord& partition,
                                  std::span<const uint32_t> voters,
                                  std::span<const uint32_t> observers) {
  PartitionRecord target = partition;
  target.replicas.assign(voters.begin(), voters.end());
  target.observers.assign(observers.begin(), observers.end());
  if (absl::Status s = ValidateReplicas(topic, target); !s.ok()) return s;
  for (std::span<const uint32_t> ids : {voters, observers}) {
    for (uint32_t id : ids) {
      if (!metadata.nodes().contains(id)) {
        return absl::FailedPreconditionError(fmt::format(
            "{}: node {} is not registered", Name(topic.name, partition.partition), id));
      }
    }
  }
  if (absl::Status s = CheckMode(metadata, topic, partition, voters); !s.ok()) return s;
  return CheckConstraints(metadata, topic, partition, voters, observers);
}

std::optional<wire::PartitionReassignT> PlanRegrowth(const ClusterMetadata& metadata,
                                                     std::string_view topic, uint32_t partition) {
  const TopicRecord* record = metadata.FindTopic(topic);
  if (record == nullptr || partition >= record->partitions.size()) return std::nullopt;
  const PartitionRecord& current = record->partitions[partition];
  // A mode change in progress regrows partitions itself, into the target's placement.
  if (record->consistency != wire::Consistency::Regional || current.epoch == 0 ||
      record->changing_to.has_value() || current.reassigning() ||
      current.replicas.size() >= record->replication_factor) {
    return std::nullopt;
  }
  const std::string region = VoterRegion(metadata, *record, current);
  absl::btree_map<std::string, uint32_t> zone_voters;  // Voters per zone of the region.
  for (uint32_t voter : current.replicas) zone_voters[metadata.nodes().at(voter).zone]++;
  // (not already an observer, voters in its zone, id): caught-up copies first, then spread.
  std::vector<std::tuple<bool, uint32_t, uint32_t>> candidates;
  for (const auto& [id, node] : metadata.nodes()) {
    if (node.region != region || Contains(current.replicas, id)) continue;
    candidates.emplace_back(!Contains(current.observers, id), zone_voters[node.zone], id);
  }
  std::sort(candidates.begin(), candidates.end());
  wire::PartitionReassignT plan;
  plan.topic = std::string(topic);
  plan.partition = partition;
  plan.group = current.group;
  plan.replicas = current.replicas;
  for (const auto& [fresh, in_zone, id] : candidates) {
    if (plan.replicas.size() >= record->replication_factor) break;
    plan.replicas.push_back(id);
  }
  if (plan.replicas.size() == current.replicas.size()) return std::nullopt;
  for (uint32_t observer : current.observers) {
    if (!Contains(plan.replicas, observer)) plan.observers.push_back(observer);
  }
  MERIDIAN_CHECK(
      ValidateReassignment(metadata, *record, current, plan.replicas, plan.observers).ok());
  return plan;
}

MetadataOutcome ClusterMetadata::ApplyPartitionReassign(const wire::PartitionReassign& reassign) {
  const std::string name = reassign.topic() != nullptr ? reassign.topic()->str() : "";
  auto topic = topics_.find(name);
  if (topic == topics_.end() || reassign.partition() >= topic->second.partitions.size()) {
    return {absl::NotFoundError(fmt::format("no partition {}", Name(name, reassign.partition())))};
  }
  PartitionRecord& current = topic->second.partitions[reassign.partition()];
  if (reassign.group() != current.group) {
    return {absl::FailedPreconditionError(
        fmt::format("{} is now group {}, not {} (promoted meanwhile): the reassignment is stale",
                    Name(name, reassign.partition()), current.group, reassign.group()))};
  }
  std::vector<uint32_t> voters;
  std::vector<uint32_t> observers;
  if (reassign.replicas() != nullptr)
    voters.assign(reassign.replicas()->begin(), reassign.replicas()->end());
  if (reassign.observers() != nullptr) {
    observers.assign(reassign.observers()->begin(), reassign.observers()->end());
  }
  if (reassign.complete()) {
    if (!current.reassigning() || voters != current.target_replicas ||
        observers != current.target_observers) {
      return {absl::FailedPreconditionError(
          fmt::format("{}: the completion does not name the reassignment in progress",
                      Name(name, reassign.partition())))};
    }
    current.replicas = std::move(current.target_replicas);
    current.observers = std::move(current.target_observers);
    current.target_replicas.clear();
    current.target_observers.clear();
    return {absl::OkStatus()};
  }
  if (current.reassigning()) {
    return {absl::FailedPreconditionError(
        fmt::format("{}: a reassignment is in progress (to voters {}); wait until it completes",
                    Name(name, reassign.partition()), fmt::join(current.target_replicas, ",")))};
  }
  if (absl::Status s = ValidateReassignment(*this, topic->second, current, voters, observers);
      !s.ok()) {
    return {s};
  }
  if (voters == current.replicas && observers == current.observers) return {absl::OkStatus()};
  current.target_replicas = std::move(voters);
  current.target_observers = std::move(observers);
  MERIDIAN_CHECK(current.reassigning());
  return {absl::OkStatus()};
}

}  // namespace meridian::core::cluster
