#include "sim/workloads/mode_change.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "core/client/errors.h"
#include "core/cluster/mode_change.h"
#include "core/cluster/reassignment.h"
#include "io/assert.h"

namespace meridian::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string ModeName(core::wire::Consistency consistency) {
  return std::string(core::cluster::ModeName(consistency));
}

// The metadata of the most up-to-date live broker (nullopt: no broker is live).
std::optional<core::cluster::ClusterMetadata> LatestMetadata(const BrokerRegistry& registry) {
  std::optional<core::cluster::ClusterMetadata> latest;
  for (const std::weak_ptr<core::broker::Broker>& weak : registry.brokers()) {
    const std::shared_ptr<core::broker::Broker> broker = weak.lock();
    if (broker == nullptr) continue;
    if (!latest.has_value() || broker->metadata().version() > latest->version()) {
      latest = broker->metadata();
    }
  }
  return latest;
}

// Asks until the controller takes the change (through the audit too: a region lost for good
// until then refuses a placement there); true once it has.
bool RequestChange(io::Runtime& rt, Run& run, core::client::Client& client) {
  while (true) {
    core::wire::AlterTopicConfigRequestT request;
    request.topic = kTopic;
    request.consistency = run.plan.change_to;
    request.home_region = run.plan.change_home_region;
    absl::StatusOr<core::wire::TopicInfoT> altered = client.AlterTopicConfig(std::move(request));
    // "already": an earlier try was applied though its answer was lost.
    if (altered.ok() ||
        (core::client::WireErrorCode(altered.status()) == core::wire::ErrorCode::InvalidConfig &&
         altered.status().message().find("is already") != std::string::npos)) {
      run.mode_change_accepted = run.world.Now();
      return true;
    }
    run.mode_change_error = altered.status().ToString();
    if (!rt.Sleep(milliseconds(500)).ok()) return false;
  }
}

}  // namespace

void RunModeChangeOperator(io::Runtime& rt, Run& run) {
  if (run.plan.change_to == core::wire::Consistency::Unspecified) return;
  core::client::Client client(rt, ClientOptionsFor(run.plan, "mode-change-operator"));
  if (run.world.Now() < run.mode_change_at &&
      !rt.Sleep(run.mode_change_at - run.world.Now()).ok()) {
    return;
  }
  if (run.mode_change_accepted.is_infinite() && !RequestChange(rt, run, client)) return;
  while (run.mode_change_seen.is_infinite()) {
    absl::StatusOr<core::wire::MetadataResponseT> metadata = client.RefreshMetadata({kTopic});
    if (metadata.ok() && metadata->topics.size() == 1 &&
        metadata->topics[0]->consistency == run.plan.change_to &&
        metadata->topics[0]->changing_to == core::wire::Consistency::Unspecified) {
      run.mode_change_seen = run.world.Now();
      return;
    }
    if (!rt.Sleep(milliseconds(200)).ok()) return;
  }
}

void JudgeModeChange(World& world, const BrokerRegistry& registry, const Run& run,
                     SimulationResult& result) {
  const core::wire::Consistency target = run.plan.change_to;
  if (target == core::wire::Consistency::Unspecified || !run.topic_ready) return;
  result.mode_change = fmt::format("{}->{}", ModeName(run.consistency), ModeName(target));
  const auto complete = [&] {
    std::optional<core::cluster::ClusterMetadata> metadata = LatestMetadata(registry);
    const core::cluster::TopicRecord* topic =
        metadata.has_value() ? metadata->FindTopic(kTopic) : nullptr;
    return !run.mode_change_accepted.is_infinite() && topic != nullptr &&
           topic->consistency == target && !topic->changing_to.has_value() &&
           std::none_of(topic->partitions.begin(), topic->partitions.end(),
                        [](const core::cluster::PartitionRecord& p) { return p.reassigning(); });
  };
  constexpr io::Duration kCompleteLimit = seconds(60);
  world.RunUntil(complete, world.Now() + kCompleteLimit);
  if (run.mode_change_accepted.is_infinite()) {
    result.violations.push_back(fmt::format(
        "mode-change-not-accepted: the controller never took the change to {} (last answer: "
        "{})",
        ModeName(target), run.mode_change_error));
    return;
  }
  std::optional<core::cluster::ClusterMetadata> metadata = LatestMetadata(registry);
  const core::cluster::TopicRecord* topic =
      metadata.has_value() ? metadata->FindTopic(kTopic) : nullptr;
  if (topic == nullptr || !complete()) {
    result.violations.push_back(fmt::format(
        "mode-change-not-completed: the topic is not {} {} s after the audit (it is {}{})",
        ModeName(target), std::chrono::duration_cast<seconds>(kCompleteLimit).count(),
        topic == nullptr ? "unknown" : ModeName(topic->consistency),
        topic != nullptr && topic->changing_to.has_value()
            ? ", changing to " + ModeName(topic->changing_to->consistency)
            : ""));
    return;
  }
  // The operator saw it during the run, or (completed in the audit) while the judge waited; its
  // next metadata poll (every 200 ms) at the latest.
  world.RunUntil([&] { return !run.mode_change_seen.is_infinite(); }, world.Now() + seconds(2));
  if (!run.mode_change_seen.is_infinite()) {
    result.mode_change_s =
        static_cast<double>((run.mode_change_seen - run.mode_change_accepted).count()) / 1e9;
  }
  for (const core::cluster::PartitionRecord& partition : topic->partitions) {
    const absl::Status placed = core::cluster::ValidateReassignment(
        *metadata, *topic, partition, partition.replicas, partition.observers);
    if (!placed.ok() || partition.reassigning()) {
      result.violations.push_back(fmt::format(
          "mode-change-misplaced: partition {} of the {} topic: {}", partition.partition,
          ModeName(target),
          placed.ok() ? std::string("still being reassigned") : std::string(placed.message())));
    }
  }
}

}  // namespace meridian::sim
