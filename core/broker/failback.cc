// Automatic fail-back (docs/design.md "Regional failover"): a regional topic some of whose
// partitions a failover promoted to another region is asked back to its home region once the
// home region has been live for BrokerOptions::region_failback_delay. The controller leader
// proposes the topic's own mode, exactly what `meridian topic alter --consistency=regional`
// does by hand (core/cluster/mode_change.h: that request is the fail-back), and the mode
// change executor moves each promoted partition home by ordinary reassignments: the home copies
// catch up as learners before they vote, one configuration change at a time, so nothing
// acknowledged is lost, and the partition's epoch restarts there.
//
// "Live for the delay" is the controller leader's view (heard from within the liveness window
// without a gap since this leader saw it so; replacement.cc keeps that), and every partition of
// the topic must be placeable on such nodes (ResolveModeChange): a home region that is half
// back, or flapping, keeps the partitions where they are. Partitions that were never promoted
// do not move.
#include <fmt/format.h>

#include "core/broker/broker_state.h"
#include "core/cluster/mode_change.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

// Between two proposals for one topic (the first may have been lost with a controller leader).
constexpr io::Duration kFailbackRetry = std::chrono::seconds(10);
constexpr io::Duration kProposeTimeout = std::chrono::seconds(2);

}  // namespace

void ProposeFailbacks(Broker::State& state, const absl::btree_set<uint32_t>& unsettled,
                      absl::btree_map<std::string, io::Instant>& retry_at) {
  if (state.options.region_failback_delay == io::Duration::zero()) return;
  if (state.options.planted.failback_forgotten) return;  // PLANTED BUG.
  const io::Instant now = state.runtime.Now();
  absl::erase_if(retry_at, [&](const auto& entry) { return entry.second <= now; });
  std::vector<wire::TopicModeChangeT> changes;
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  for (const auto& [name, topic] : metadata.topics()) {
    if (topic.changing_to.has_value() || !cluster::PromotedAway(topic) || retry_at.contains(name)) {
      continue;
    }
    absl::StatusOr<cluster::ModeTarget> target =
        cluster::ResolveModeChange(metadata, topic, wire::Consistency::Regional, topic.home_region,
                                   static_cast<int32_t>(topic.observers_per_region), unsettled,
                                   topic.voters_in, topic.observers_in);
    if (!target.ok()) continue;  // The home region is not back, or not for long enough.
    MERIDIAN_CHECK(*target == topic.mode(), "a fail-back of '{}' must keep its mode", name);
    changes.push_back(cluster::ModeChangeCommand(name, *target, false));
  }
  // Proposals suspend this fiber: only the changes' own copies are used from here on.
  for (wire::TopicModeChangeT& change : changes) {
    const std::string name = change.name;
    const std::string home = change.home_region;
    retry_at[name] = now + kFailbackRetry;
    wire::MetadataCommandT command;
    command.body.Set(std::move(change));
    absl::StatusOr<cluster::MetadataOutcome> outcome =
        state.ProposeMetadata(command, state.runtime.Now() + kProposeTimeout);
    if (!outcome.ok() || !outcome->status.ok()) continue;  // Tried again after the retry.
    MERIDIAN_PROBE("broker: the controller moves a promoted topic back to its home region");
    state.metrics.region_failbacks_total++;
    state.Log(fmt::format(
        "topic '{}': its home region '{}' has been live for {} s: moving its "
        "promoted partitions home (fail-back)",
        name, home,
        std::chrono::duration_cast<std::chrono::seconds>(state.options.region_failback_delay)
            .count()));
  }
}

}  // namespace meridian::core::broker
