#include "sim/workloads/reassignment_checker.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/broker/reassignment_step.h"

namespace meridian::sim {
namespace {

using Kind = core::broker::ReassignmentStep::Kind;

std::string Where(const core::broker::ReassignmentEvent& event, int64_t at_ns) {
  return fmt::format("{}/{} (group {}) at {:.3f} s", event.topic, event.partition, event.group,
                     static_cast<double>(at_ns) / 1e9);
}

}  // namespace

std::vector<std::string> JudgeReassignments(const ReassignmentLog& log) {
  std::vector<std::string> violations;
  size_t broken = 0;
  const auto report = [&](std::string text) {
    if (++broken <= kReassignmentViolationsMax) violations.push_back(std::move(text));
  };
  for (const auto& [at_ns, event] : log.events) {
    // match 0: it never acknowledged an entry (a dead node), however short the log.
    if (event.kind == Kind::kAddVoter &&
        (event.match == 0 || event.match + core::broker::kCatchUpEntriesSlack < event.commit)) {
      report(fmt::format(
          "reassignment voter-not-caught-up: {}: node {} became a voter at match {} while its "
          "leader had committed {}",
          Where(event, at_ns), event.node, event.match, event.commit));
    }
    if ((event.kind == Kind::kRemove || event.kind == Kind::kDemote) &&
        event.voters_after < event.voters_before &&
        event.voters_before <= std::min(event.voters_before, event.target_voters)) {
      report(fmt::format(
          "reassignment voters-below-target: {}: voter {} removed with {} voters for a target "
          "of {}",
          Where(event, at_ns), event.node, event.voters_before, event.target_voters));
    }
  }
  if (broken > kReassignmentViolationsMax) {
    violations.push_back(
        fmt::format("reassignment: {} more broken steps", broken - kReassignmentViolationsMax));
  }
  return violations;
}

std::vector<bool> ReplicationRestored(const core::cluster::TopicRecord& topic) {
  std::vector<bool> restored;
  for (const core::cluster::PartitionRecord& partition : topic.partitions) {
    restored.push_back(partition.replicas.size() == topic.replication_factor &&
                       !partition.reassigning());
  }
  return restored;
}

std::vector<bool> PartitionsHome(const core::cluster::TopicRecord& topic,
                                 const std::function<std::string(uint32_t node)>& region_of) {
  std::vector<bool> home;
  const bool regional = topic.consistency == core::wire::Consistency::Regional;
  for (const core::cluster::PartitionRecord& partition : topic.partitions) {
    home.push_back(!regional ||
                   (partition.epoch == partition.rehomed_epoch && !partition.reassigning() &&
                    std::all_of(partition.replicas.begin(), partition.replicas.end(),
                                [&](uint32_t id) { return region_of(id) == topic.home_region; })));
  }
  return home;
}

}  // namespace meridian::sim
