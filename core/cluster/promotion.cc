#include "core/cluster/promotion.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::cluster {
namespace {

const PartitionRecord* FindPartition(const ClusterMetadata& metadata, std::string_view topic,
                                     uint32_t partition) {
  const TopicRecord* record = metadata.FindTopic(topic);
  if (record == nullptr || partition >= record->partitions.size()) return nullptr;
  return &record->partitions[partition];
}

bool Contains(const std::vector<uint32_t>& ids, uint32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

absl::StatusOr<wire::PartitionPromoteT> PlanPromotion(const ClusterMetadata& metadata,
                                                      std::string_view topic, uint32_t partition,
                                                      std::span<const ObserverProgress> progress) {
  const TopicRecord* record = metadata.FindTopic(topic);
  const PartitionRecord* current = FindPartition(metadata, topic, partition);
  if (record == nullptr || current == nullptr) {
    return absl::NotFoundError(fmt::format("no partition {}/{}", topic, partition));
  }
  if (!record->UnderRegionalRules()) {
    return absl::FailedPreconditionError(fmt::format(
        "topic '{}' is not regional: its voters span regions, nothing to promote", topic));
  }
  const ObserverProgress* best = nullptr;
  for (const ObserverProgress& candidate : progress) {
    // An observer behind the current epoch's start (its group never started there) has
    // nothing to continue from: promoting it would move offsets back.
    if (!Contains(current->observers, candidate.node) ||
        candidate.high_watermark < current->promoted_offset ||
        candidate.applied_index < current->promoted_index) {
      continue;
    }
    if (best == nullptr ||
        std::tie(candidate.high_watermark, candidate.applied_index) >
            std::tie(best->high_watermark, best->applied_index) ||
        (candidate.high_watermark == best->high_watermark &&
         candidate.applied_index == best->applied_index && candidate.node < best->node)) {
      best = &candidate;
    }
  }
  if (best == nullptr) {
    return absl::FailedPreconditionError(fmt::format(
        "no observer of {}/{} reported its progress: nothing to promote", topic, partition));
  }
  wire::PartitionPromoteT promote;
  promote.topic = std::string(topic);
  promote.partition = partition;
  promote.epoch = current->epoch + 1;
  promote.replicas = {best->node};
  promote.source = best->node;
  promote.promoted_index = best->applied_index;
  promote.promoted_offset = best->high_watermark;
  // Everyone else of the old epoch keeps (or gets) a copy: the other observers, and the old
  // voters, which rejoin as observers of the new epoch when their region comes back.
  for (uint32_t node : current->observers) {
    if (node != best->node) promote.observers.push_back(node);
  }
  for (uint32_t node : current->replicas) promote.observers.push_back(node);
  MERIDIAN_CHECK(!Contains(promote.observers, promote.source));
  return promote;
}

MetadataOutcome ClusterMetadata::ApplyPartitionPromote(const wire::PartitionPromote& promote) {
  const std::string name = promote.topic() != nullptr ? promote.topic()->str() : "";
  auto topic = topics_.find(name);
  if (topic == topics_.end() || promote.partition() >= topic->second.partitions.size()) {
    return {absl::NotFoundError(fmt::format("no partition {}/{}", name, promote.partition()))};
  }
  TopicRecord& record = topic->second;
  const PartitionRecord& current = record.partitions[promote.partition()];
  if (!record.UnderRegionalRules()) {
    return {absl::FailedPreconditionError(fmt::format("topic '{}' is not regional", name))};
  }
  // Two controllers' plans for the same epoch: the first applied wins, the other is refused.
  if (promote.epoch() != current.epoch + 1) {
    return {absl::FailedPreconditionError(
        fmt::format("partition {}/{} is at epoch {}; a promotion to {} is stale", name,
                    promote.partition(), current.epoch, promote.epoch()))};
  }
  PartitionRecord next{current.partition,
                       next_group_,
                       {},
                       {},
                       promote.epoch(),
                       current.group,
                       promote.source(),
                       promote.promoted_index(),
                       promote.promoted_offset()};
  next.rehomed_epoch = current.rehomed_epoch;  // Later epochs live where their source is.
  if (promote.replicas() != nullptr) {
    next.replicas.assign(promote.replicas()->begin(), promote.replicas()->end());
  }
  if (promote.observers() != nullptr) {
    next.observers.assign(promote.observers()->begin(), promote.observers()->end());
  }
  if (absl::Status s = ValidateReplicas(record, next); !s.ok()) return {s};
  if (!Contains(next.replicas, next.source) || !Contains(current.observers, next.source) ||
      next.promoted_offset < 0) {
    return {absl::InvalidArgumentError(
        fmt::format("promotion of {}/{}: the source must be an old observer and a new voter, "
                    "and the promoted offset >= 0",
                    name, promote.partition()))};
  }
  record.partitions[promote.partition()] = std::move(next);
  next_group_++;
  return {absl::OkStatus()};
}

}  // namespace meridian::core::cluster
