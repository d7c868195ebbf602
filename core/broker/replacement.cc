// Replacing the replicas of a node lost for good (core/broker/README.md "Replacing a lost
// node's replicas"): the controller leader treats a registered node it has not heard from for
// BrokerOptions::replica_replacement_delay as lost, and moves each partition's copies off it
// onto live nodes its topic's mode allows (core/cluster PlanReplacement), by the ordinary
// reassignment executor: the new copy catches up as a learner before it votes, the lost voter
// leaves last, one configuration change at a time. So a partition that lost a replica regains
// its replication factor without an operator, and a second failure finds it whole.
//
// A controller leader counts silence only from when it became leader (as a follower it does not
// hear every node), so a controller election restarts the clock rather than shortening it. At
// most kReplacementMovesInFlight partitions move at once, cluster-wide (the catch-up traffic a
// returning region or a mass loss adds). A partition that cannot be placed without the lost
// node (too few live nodes in the regions its mode needs) keeps its copy there, and the
// controller says so in the log once a minute.
//
// Balancing (the same fiber, when nothing is being replaced or moved anywhere): a node that has
// been live for BrokerOptions::replica_balance_delay and holds at least two copies fewer than
// the most loaded live node takes one copy from it, planned as a replacement of that copy (so
// by the topic's mode rules), one partition at a time cluster-wide. A node that returns empty
// after its copies were replaced, or a new node, so fills up; the delay keeps a flapping node
// from pulling data back and forth.
//
// Then preferred leaders (first voters): a settled node that is the preferred leader of at least
// two partitions fewer than another takes one of them over, by a reassignment that only reorders
// that partition's voters (no copy moves); each partition's leader balancer then hands it
// leadership (leader_balance.cc). So leaders stay balanced after replacements and balancing
// moves, which choose copies, not leaders.
//
// Fail-back (the same fiber, failback.cc): regional topics promoted away from home go back once
// the home region has been live for BrokerOptions::region_failback_delay.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/broker/broker_state.h"
#include "core/cluster/mode_change.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

constexpr io::Duration kReplacementPeriod = std::chrono::seconds(1);
constexpr io::Duration kReplacementRetry = std::chrono::seconds(5);
constexpr io::Duration kStuckLogPeriod = std::chrono::minutes(1);
constexpr io::Duration kProposeTimeout = std::chrono::seconds(2);
constexpr io::Duration kBalancePeriod = std::chrono::seconds(5);

// What the controller leader remembers between passes.
struct ReplacementPasses {
  uint64_t leader_term = 0;  // The controller term this node leads (0: not leading).
  io::Instant leader_since;
  absl::btree_map<std::pair<std::string, uint32_t>, io::Instant> retry_at;
  absl::btree_map<std::pair<std::string, uint32_t>, io::Instant> logged_at;
  // Live nodes (this one included) and since when this leader has seen each live without a gap.
  absl::btree_map<uint32_t, io::Instant> live_since;
  io::Instant balanced_at;                                      // The last balancing pass.
  absl::btree_map<std::string, io::Instant> failback_retry_at;  // Per topic.
};

// Registered nodes silent for the delay, counted from when this node became controller leader.
absl::btree_set<uint32_t> LostNodes(const Broker::State& state, const ReplacementPasses& passes) {
  absl::btree_set<uint32_t> lost;
  const io::Instant now = state.runtime.Now();
  for (const auto& [id, record] : state.controller_machine->metadata.nodes()) {
    if (id == state.options.node_id) continue;
    auto heard = state.node_heard_at.find(id);
    const io::Instant since = heard == state.node_heard_at.end()
                                  ? passes.leader_since
                                  : std::max(heard->second, passes.leader_since);
    if (now - since >= state.options.replica_replacement_delay) lost.insert(id);
  }
  return lost;
}

bool PromotedAwayFromHome(const cluster::TopicRecord& topic,
                          const cluster::PartitionRecord& partition) {
  return topic.consistency == wire::Consistency::Regional &&
         partition.epoch != partition.rehomed_epoch;
}

// The replacement moves to propose now, within the in-flight bound.
std::vector<wire::PartitionReassignT> PlanReplacements(Broker::State& state,
                                                       ReplacementPasses& passes,
                                                       const absl::btree_set<uint32_t>& lost) {
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  const io::Instant now = state.runtime.Now();
  // Times that passed are forgotten, so entries of deleted topics do not pile up.
  absl::erase_if(passes.retry_at, [&](const auto& entry) { return entry.second <= now; });
  absl::erase_if(passes.logged_at, [&](const auto& entry) { return entry.second <= now; });
  uint32_t moving = 0;
  for (const auto& [name, topic] : metadata.topics()) {
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      if (partition.reassigning()) moving++;
    }
  }
  const absl::btree_set<uint32_t> not_live = NodesNotLive(state);
  const absl::btree_map<uint32_t, uint32_t> load = cluster::ReplicaLoad(metadata);
  std::vector<wire::PartitionReassignT> plans;
  for (const auto& [name, topic] : metadata.topics()) {
    if (topic.changing_to.has_value()) continue;  // The mode change places its partitions.
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      if (moving >= kReplacementMovesInFlight) return plans;
      if (partition.reassigning() || PromotedAwayFromHome(topic, partition)) continue;
      const std::pair<std::string, uint32_t> key(name, partition.partition);
      if (passes.retry_at.contains(key)) continue;  // Proposed less than kReplacementRetry ago.
      absl::StatusOr<std::optional<wire::PartitionReassignT>> plan =
          state.options.planted.replacement_keeps_lost_copies
              ? cluster::PlanModeChange(metadata, topic, partition, topic.mode(), not_live,
                                        load)  // PLANTED BUG.
              : cluster::PlanReplacement(metadata, topic, partition, lost, not_live, load);
      if (plan.ok() && !plan->has_value()) continue;
      if (!plan.ok()) {
        if (!passes.logged_at.contains(key)) {
          passes.logged_at[key] = now + kStuckLogPeriod;
          state.Log(fmt::format("{}/{}: a replica on a lost node cannot be replaced: {}", name,
                                partition.partition, std::string(plan.status().message())));
        }
        continue;
      }
      passes.retry_at[key] = now + kReplacementRetry;
      plans.push_back(**std::move(plan));
      moving++;
    }
  }
  return plans;
}

// Proposes one reassignment target; false if the metadata did not take it.
bool ProposeTarget(Broker::State& state, wire::PartitionReassignT plan) {
  wire::MetadataCommandT command;
  command.body.Set(std::move(plan));
  absl::StatusOr<cluster::MetadataOutcome> outcome =
      state.ProposeMetadata(command, state.runtime.Now() + kProposeTimeout);
  return outcome.ok() && outcome->status.ok();
}

std::string TargetText(const wire::PartitionReassignT& plan) {
  return fmt::format("voters {} observers {}", fmt::join(plan.replicas, ","),
                     fmt::join(plan.observers, ","));
}

bool AnyMoving(const cluster::ClusterMetadata& metadata) {
  for (const auto& [name, topic] : metadata.topics()) {
    if (topic.changing_to.has_value()) return true;
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      if (partition.reassigning()) return true;
    }
  }
  return false;
}

bool Holds(const cluster::PartitionRecord& partition, uint32_t id) {
  return std::count(partition.replicas.begin(), partition.replicas.end(), id) +
             std::count(partition.observers.begin(), partition.observers.end(), id) >
         0;
}

// Nodes that may not receive a copy now: not live, or not live for the whole `delay`.
absl::btree_set<uint32_t> Unsettled(const Broker::State& state, const ReplacementPasses& passes,
                                    io::Duration delay) {
  absl::btree_set<uint32_t> unsettled;
  const io::Instant now = state.runtime.Now();
  for (const auto& [id, record] : state.controller_machine->metadata.nodes()) {
    auto live = passes.live_since.find(id);
    if (live == passes.live_since.end() || now - live->second < delay) {
      unsettled.insert(id);
    }
  }
  return unsettled;
}

// One copy from a live node that holds at least two more than a settled node, planned as a
// replacement of that copy (the topic's mode rules choose where it goes: the least loaded node
// that fits), taken only if the receiving node ends lighter than the source; nullopt if none.
// Sources are tried from the most loaded down, their partitions in metadata order.
std::optional<wire::PartitionReassignT> PlanBalanceMove(const Broker::State& state,
                                                        const ReplacementPasses& passes) {
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  absl::btree_map<uint32_t, uint32_t> load = cluster::ReplicaLoad(metadata);
  const absl::btree_set<uint32_t> unsettled =
      Unsettled(state, passes, state.options.replica_balance_delay);
  uint32_t lightest = UINT32_MAX;
  for (const auto& [id, record] : metadata.nodes()) {
    if (!unsettled.contains(id)) lightest = std::min(lightest, load[id]);
  }
  std::vector<std::pair<uint32_t, uint32_t>> sources;  // (load, id), heaviest first.
  for (const auto& [id, since] : passes.live_since) sources.emplace_back(load[id], id);
  std::sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (const auto& [source_load, source] : sources) {
    if (lightest == UINT32_MAX || source_load < lightest + 2) break;
    for (const auto& [name, topic] : metadata.topics()) {
      for (const cluster::PartitionRecord& partition : topic.partitions) {
        if (!Holds(partition, source) || PromotedAwayFromHome(topic, partition)) continue;
        absl::StatusOr<std::optional<wire::PartitionReassignT>> plan =
            cluster::PlanReplacement(metadata, topic, partition, {source}, unsettled, load);
        if (!plan.ok() || !plan->has_value()) continue;
        for (const std::vector<uint32_t>* ids : {&(*plan)->replicas, &(*plan)->observers}) {
          for (uint32_t id : *ids) {
            if (!Holds(partition, id) && load[id] + 2 <= source_load) return **std::move(plan);
          }
        }
      }
    }
  }
  return std::nullopt;
}

// Preferred leaders (first voters) per node over every partition, and the partitions each
// node is the preferred leader of.
struct PreferredLeaders {
  absl::btree_map<uint32_t, uint32_t> count;
  absl::btree_map<uint32_t, std::vector<std::pair<std::string, uint32_t>>> partitions;
};

// One partition whose preferred leader is the settled node with the most preferred leaderships
// handed to one of its voters with at least two fewer (a settled node, in the topic's leader
// region when it has one: a strong topic's home, a regional one's), by a reassignment that only
// reorders its voters; nullopt if none. Leadership then follows (leader_balance.cc).
std::optional<wire::PartitionReassignT> PlanPreferredLeaderMove(const Broker::State& state,
                                                                const ReplacementPasses& passes) {
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  const absl::btree_set<uint32_t> unsettled =
      Unsettled(state, passes, state.options.replica_balance_delay);
  PreferredLeaders leaders;
  for (const auto& [id, record] : metadata.nodes()) {
    if (!unsettled.contains(id)) leaders.count[id] = 0;
  }
  for (const auto& [name, topic] : metadata.topics()) {
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      if (partition.replicas.empty()) continue;
      leaders.count[partition.replicas.front()]++;
      leaders.partitions[partition.replicas.front()].emplace_back(name, partition.partition);
    }
  }
  std::vector<std::pair<uint32_t, uint32_t>> sources;  // (count, id), most first.
  for (const auto& [id, count] : leaders.count) {
    if (!unsettled.contains(id)) sources.emplace_back(count, id);
  }
  std::sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (const auto& [source_count, source] : sources) {
    for (const auto& [name, index] : leaders.partitions[source]) {
      const cluster::TopicRecord& topic = *metadata.FindTopic(name);
      const cluster::PartitionRecord& partition = topic.partitions[index];
      if (partition.reassigning() || topic.changing_to.has_value() ||
          PromotedAwayFromHome(topic, partition)) {
        continue;
      }
      const std::string leader_region =
          topic.consistency == wire::Consistency::Spread ? "" : topic.home_region;
      std::optional<std::pair<uint32_t, uint32_t>> lightest;  // (count, id)
      for (uint32_t voter : partition.replicas) {
        auto count = leaders.count.find(voter);
        if (voter == source || unsettled.contains(voter) || count == leaders.count.end() ||
            count->second + 2 > source_count ||
            (!leader_region.empty() && metadata.nodes().at(voter).region != leader_region)) {
          continue;
        }
        lightest = std::min(lightest.value_or(std::pair(count->second, voter)),
                            std::pair(count->second, voter));
      }
      if (!lightest.has_value()) continue;
      const uint32_t next_leader = lightest->second;
      wire::PartitionReassignT plan;
      plan.topic = name;
      plan.partition = partition.partition;
      plan.group = partition.group;
      plan.replicas = partition.replicas;
      auto at = std::find(plan.replicas.begin(), plan.replicas.end(), next_leader);
      std::rotate(plan.replicas.begin(), at, at + 1);
      plan.observers = partition.observers;
      return plan;
    }
  }
  return std::nullopt;
}

void ProposeBalanceMove(Broker::State& state, ReplacementPasses& passes) {
  if (state.options.replica_balance_delay == io::Duration::zero()) return;
  const io::Instant now = state.runtime.Now();
  if (now - passes.balanced_at < kBalancePeriod) return;
  passes.balanced_at = now;
  if (AnyMoving(state.controller_machine->metadata)) return;  // One move at a time.
  std::optional<wire::PartitionReassignT> plan = PlanBalanceMove(state, passes);
  const bool copies = plan.has_value();
  if (!copies) plan = PlanPreferredLeaderMove(state, passes);
  if (!plan.has_value()) return;
  const std::string name = fmt::format("{}/{}", plan->topic, plan->partition);
  const std::string target = TargetText(*plan);
  if (!ProposeTarget(state, *std::move(plan))) return;
  state.metrics.reassignments_started_total++;
  if (copies) {
    MERIDIAN_PROBE("broker: the controller moves a copy to balance replicas over nodes");
    state.metrics.replica_balance_moves_total++;
    state.Log(fmt::format("{}: moving to {} to balance replicas over nodes", name, target));
  } else {
    MERIDIAN_PROBE("broker: the controller moves a preferred leader to balance leaders");
    state.metrics.preferred_leader_moves_total++;
    state.Log(
        fmt::format("{}: reordering to {} to balance preferred leaders over nodes", name, target));
  }
}

// Keeps `live_since`: the nodes live now (the controller leader itself, and the nodes heard from
// within the liveness window), each since when this leader has seen it live without a gap.
void NoteLiveNodes(const Broker::State& state, ReplacementPasses& passes) {
  const absl::btree_set<uint32_t> not_live = NodesNotLive(state);
  const io::Instant now = state.runtime.Now();
  for (const auto& [id, record] : state.controller_machine->metadata.nodes()) {
    if (not_live.contains(id)) {
      passes.live_since.erase(id);
    } else {
      passes.live_since.try_emplace(id, now);
    }
  }
}

void ProposeReplacements(Broker::State& state, ReplacementPasses& passes) {
  const bool leading = state.controller->role() == raft::Role::kLeader;
  const uint64_t term = leading ? state.controller->term().value() : 0;
  if (term != passes.leader_term) {
    passes = ReplacementPasses{.leader_term = term, .leader_since = state.runtime.Now()};
  }
  if (!leading) return;
  NoteLiveNodes(state, passes);
  ProposeFailbacks(state, Unsettled(state, passes, state.options.region_failback_delay),
                   passes.failback_retry_at);
  if (state.controller->role() != raft::Role::kLeader) return;  // Lost while proposing.
  const absl::btree_set<uint32_t> lost = state.options.replica_replacement_delay.count() == 0
                                             ? absl::btree_set<uint32_t>()
                                             : LostNodes(state, passes);
  if (lost.empty()) return ProposeBalanceMove(state, passes);
  // Proposals suspend this fiber: only the plans' own copies are used from here on.
  for (wire::PartitionReassignT& plan : PlanReplacements(state, passes, lost)) {
    const std::string name = fmt::format("{}/{}", plan.topic, plan.partition);
    const std::string target = TargetText(plan);
    if (!ProposeTarget(state, std::move(plan))) continue;  // Planned again after the retry.
    MERIDIAN_PROBE("broker: the controller replaces the replicas of a lost node");
    state.metrics.reassignments_started_total++;
    state.metrics.replica_replacements_total++;
    state.Log(fmt::format("{}: replacing its copies on lost node(s) {}: moving to {}", name,
                          fmt::join(lost, ","), target));
  }
}

}  // namespace

void RunReplicaReplacer(std::shared_ptr<Broker::State> state) {
  if (state->options.replica_replacement_delay == io::Duration::zero() &&
      state->options.replica_balance_delay == io::Duration::zero() &&
      state->options.region_failback_delay == io::Duration::zero()) {
    return;
  }
  ReplacementPasses passes;
  while (!state->stopped) {
    if (!state->runtime.Sleep(kReplacementPeriod).ok()) return;
    ProposeReplacements(*state, passes);
  }
}

}  // namespace meridian::core::broker
