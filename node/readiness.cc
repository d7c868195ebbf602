#include "node/readiness.h"

#include <fmt/format.h>

namespace meridian::node {
namespace {

std::string ReplicaName(const core::broker::PartitionStatus& status) {
  if (status.topic.empty()) return "the metadata group";
  return fmt::format("partition {}/{}", status.topic, status.partition);
}

}  // namespace

uint64_t ReplicationLagEntries(const core::broker::PartitionStatus& status) {
  const uint64_t heard = status.health.leader_commit_heard.value();
  return heard > status.applied_index ? heard - status.applied_index : 0;
}

absl::Status CheckReady(const ReadinessInput& input, uint64_t lag_entries_max) {
  if (!input.broker_started) return absl::UnavailableError("the broker has not started yet");
  if (!input.registered) {
    return absl::UnavailableError("not registered with the controller yet");
  }
  for (const core::broker::PartitionStatus& status : input.replicas) {
    if (status.leader == 0) {
      return absl::UnavailableError(fmt::format("{} has no known leader", ReplicaName(status)));
    }
    const uint64_t lag = ReplicationLagEntries(status);
    if (lag > lag_entries_max) {
      return absl::UnavailableError(fmt::format("{} lags its leader by {} entries (at most {})",
                                                ReplicaName(status), lag, lag_entries_max));
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian::node
