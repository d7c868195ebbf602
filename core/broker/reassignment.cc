// Replica reassignment on a node (core/broker/README.md "Reassignment"; the metadata side is
// core/cluster/reassignment.h, the step order reassignment_step.h):
//   - the admin request: the controller leader records a target (or a leader's completion);
//   - the reassigner fiber: on every partition this node leads whose metadata has a target, one
//     raft configuration change at a time until the committed configuration is the target,
//     then the completion reported to the controller leader; on the controller leader, regrowth
//     targets for promoted partitions short of their replication factor.
// Hosting follows the metadata: a node hosts a partition while its replicas or its target name
// it, so a departing replica is stopped, and its directory removed (broker.cc Reconcile), only
// once the completion — sent after the removal committed — is applied.
#include "core/cluster/reassignment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/broker/broker_state.h"
#include "core/cluster/mode_change.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

using Kind = ReassignmentStep::Kind;
using wire::ErrorCode;
using wire::ErrorMessage;

constexpr io::Duration kReassignPeriod = std::chrono::milliseconds(100);
constexpr io::Duration kChangeTimeout = std::chrono::seconds(2);
constexpr io::Duration kRegrowthRetry = std::chrono::seconds(1);

std::string Name(std::string_view topic, uint32_t partition) {
  return fmt::format("{}/{}", topic, partition);
}

bool Listed(const std::vector<uint32_t>& ids, uint32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Proposes one change (or hands leadership over) and reports it.
// `config_index`: the index of view.config's entry, so that a step chosen from a configuration
// the replica had not yet published as replaced is refused (Replica::ProposeConfChange).
absl::Status TakeStep(Broker::State& state, const HostedPartition& hosted,
                      const ReassignmentView& view, raft::Index config_index,
                      const ReassignmentStep& step) {
  const io::Instant deadline = state.runtime.Now() + kChangeTimeout;
  raft::Membership next = *view.config;
  if (step.kind == Kind::kTransfer) {
    if (absl::Status s = hosted.replica->TransferLeadership(step.node, deadline); !s.ok()) return s;
  } else {
    const raft::ConfChangeKind kind = ConfChangeKindOf(step.kind);
    if (absl::Status s = raft::ApplyConfChange(*view.config, {kind, step.node}, &next); !s.ok()) {
      return s;
    }
    absl::StatusOr<raft::Index> index =
        hosted.replica->ProposeConfChange({kind, step.node}, config_index, deadline);
    if (!index.ok()) return index.status();
  }
  MERIDIAN_PROBE("broker: a partition leader takes a reassignment step");
  state.metrics.reassignment_steps_total++;
  const auto match = view.match->find(step.node);
  const ReassignmentEvent event{step.kind,
                                hosted.topic,
                                hosted.partition,
                                hosted.group,
                                step.node.value(),
                                match == view.match->end() ? 0 : match->second.value(),
                                view.commit.value(),
                                static_cast<uint32_t>(view.config->voters.size()),
                                static_cast<uint32_t>(next.voters.size()),
                                static_cast<uint32_t>(view.target_voters.size())};
  state.Log(fmt::format("{} (group {}): {} {} (match {}, commit {}; voters {} -> {})",
                        Name(hosted.topic, hosted.partition), hosted.group, StepName(step.kind),
                        event.node, event.match, event.commit, event.voters_before,
                        event.voters_after));
  if (state.options.on_reassignment) state.options.on_reassignment(event);
  return absl::OkStatus();
}

// Tells the controller leader that the group's committed configuration is the target: proposed
// here when this node leads the controller, else sent to the leader as an admin request.
absl::Status ReportCompletion(Broker::State& state, NodeConnection& connection,
                              const std::string& topic, const cluster::PartitionRecord& record) {
  wire::ReassignPartitionRequestT request;
  request.topic = topic;
  request.partition = record.partition;
  request.group = record.group;
  request.replicas = record.target_replicas;
  request.observers = record.target_observers;
  request.complete = true;
  absl::StatusOr<wire::ClientMessageT> response;
  if (state.controller->role() == raft::Role::kLeader) {
    response = HandleReassignPartition(state, 0, request);
  } else {
    const auto& nodes = state.controller_machine->metadata.nodes();
    auto leader = nodes.find(state.controller->leader().value());
    if (leader == nodes.end()) return absl::UnavailableError("no controller leader known");
    const cluster::NodeRecord to = leader->second;  // The metadata may change meanwhile.
    response = connection.Call(state, to, wire::Message(0, std::move(request)),
                               state.runtime.Now() + kChangeTimeout);
  }
  if (!response.ok()) return response.status();
  if (const wire::ErrorResponseT* error = response->body.AsErrorResponse()) {
    return absl::UnavailableError(error->message);
  }
  return absl::OkStatus();
}

// One look at one partition this node may lead: the next step toward its target, if any.
void Reassign(Broker::State& state, NodeConnection& connection, const HostedPartition& hosted) {
  const replica::Replica& replica = *hosted.replica;
  if (!replica.leader_ready()) return;
  const cluster::PartitionRecord* current = CurrentRecord(state, hosted);
  if (current == nullptr || !current->reassigning()) return;
  const cluster::PartitionRecord record = *current;  // Taking a step suspends.
  const raft::Membership config = replica.membership();
  const raft::Index config_index = replica.membership_index();
  const absl::btree_map<io::NodeId, raft::Index> match = replica.match();
  const ReassignmentView view{io::NodeId(state.options.node_id),
                              &config,
                              replica.membership_committed(),
                              replica.commit(),
                              &match,
                              record.target_replicas,
                              record.target_observers,
                              config_index};
  const ReassignmentStep step = NextReassignmentStep(view, state.options.planted.reassignment);
  if (step.kind == Kind::kWait) return;
  if (step.kind != Kind::kComplete) {
    if (absl::Status s = TakeStep(state, hosted, view, config_index, step); !s.ok()) {
      state.Log(fmt::format("{}: {} {} did not happen: {}", Name(hosted.topic, hosted.partition),
                            StepName(step.kind), step.node.value(), s.ToString()));
    }
    return;
  }
  if (absl::Status s = ReportCompletion(state, connection, hosted.topic, record); !s.ok()) return;
  MERIDIAN_PROBE("broker: a partition leader completes a reassignment");
  state.metrics.reassignments_completed_total++;
  state.Log(fmt::format("{} (group {}): reassigned to voters {} observers {}",
                        Name(hosted.topic, hosted.partition), hosted.group,
                        fmt::join(record.target_replicas, ","),
                        fmt::join(record.target_observers, ",")));
  if (state.options.on_reassignment) {
    state.options.on_reassignment({Kind::kComplete, hosted.topic, hosted.partition, hosted.group, 0,
                                   0, replica.commit().value(),
                                   static_cast<uint32_t>(config.voters.size()),
                                   static_cast<uint32_t>(config.voters.size()),
                                   static_cast<uint32_t>(record.target_replicas.size())});
  }
}

// Records `reassign` (a target, or a completion) through the metadata log.
absl::StatusOr<cluster::MetadataOutcome> ProposeReassign(Broker::State& state,
                                                         wire::PartitionReassignT reassign) {
  wire::MetadataCommandT command;
  command.body.Set(std::move(reassign));
  return state.ProposeMetadata(command, state.runtime.Now() + kChangeTimeout);
}

// The controller leader: a regrowth target for each promoted partition short of voters.
void ProposeRegrowths(Broker::State& state,
                      absl::btree_map<std::pair<std::string, uint32_t>, io::Instant>& retry_at) {
  if (!state.options.regrow_promoted_partitions) return;
  if (state.controller->role() != raft::Role::kLeader) return;
  std::vector<wire::PartitionReassignT> plans;
  for (const auto& [name, topic] : state.controller_machine->metadata.topics()) {
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      auto retry = retry_at.find({name, partition.partition});
      if (retry != retry_at.end() && state.runtime.Now() < retry->second) continue;
      std::optional<wire::PartitionReassignT> plan =
          cluster::PlanRegrowth(state.controller_machine->metadata, name, partition.partition);
      if (plan.has_value()) plans.push_back(std::move(*plan));
    }
  }
  for (wire::PartitionReassignT& plan : plans) {
    retry_at[{plan.topic, plan.partition}] = state.runtime.Now() + kRegrowthRetry;
    const std::string name = Name(plan.topic, plan.partition);
    const std::string voters = fmt::format("{}", fmt::join(plan.replicas, ","));
    absl::StatusOr<cluster::MetadataOutcome> outcome = ProposeReassign(state, std::move(plan));
    if (!outcome.ok() || !outcome->status.ok()) continue;  // Retried after kRegrowthRetry.
    MERIDIAN_PROBE("broker: the controller regrows a promoted partition");
    state.metrics.reassignments_started_total++;
    state.Log(fmt::format("{}: regrowing the promoted partition to voters {}", name, voters));
  }
}

// What the controller leader remembers between passes over topics changing mode: when each
// partition may be proposed again, and when each topic's stall was last logged.
struct ModeChangePasses {
  absl::btree_map<std::pair<std::string, uint32_t>, io::Instant> retry_at;
  absl::btree_map<std::string, io::Instant> logged_at;
};

// One topic changing mode: the partition moves to propose now (at most
// kModeChangeMovesInFlight moving at once), and whether every partition is placed already.
bool PlanTopicModeChange(Broker::State& state, const cluster::TopicRecord& topic,
                         const absl::btree_set<uint32_t>& not_live,
                         const absl::btree_map<uint32_t, uint32_t>& load, ModeChangePasses& passes,
                         std::vector<wire::PartitionReassignT>& plans) {
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  uint32_t moving = 0;
  for (const cluster::PartitionRecord& partition : topic.partitions) {
    if (partition.reassigning()) moving++;
  }
  bool placed = moving == 0;
  for (const cluster::PartitionRecord& partition : topic.partitions) {
    if (partition.reassigning()) continue;
    const cluster::ModeTarget& target = state.options.planted.mode_change_plans_old_mode
                                            ? topic.mode()  // PLANTED BUG.
                                            : *topic.changing_to;
    absl::StatusOr<std::optional<wire::PartitionReassignT>> plan =
        cluster::PlanModeChange(metadata, topic, partition, target, not_live, load);
    if (plan.ok() && !plan->has_value()) continue;
    placed = false;
    if (!plan.ok()) {
      auto logged = passes.logged_at.find(topic.name);
      if (logged == passes.logged_at.end() || state.runtime.Now() >= logged->second) {
        passes.logged_at[topic.name] = state.runtime.Now() + std::chrono::seconds(10);
        state.Log(fmt::format("topic '{}': the mode change waits: {}", topic.name,
                              std::string(plan.status().message())));
      }
      continue;
    }
    auto retry = passes.retry_at.find({topic.name, partition.partition});
    if (moving >= cluster::kModeChangeMovesInFlight ||
        (retry != passes.retry_at.end() && state.runtime.Now() < retry->second)) {
      continue;
    }
    plans.push_back(**std::move(plan));
    moving++;
  }
  return placed;
}

// The controller leader: moves the partitions of topics changing mode into the target's
// placement (core/cluster/mode_change.h), and completes each change once all are placed.
void ProposeModeChanges(Broker::State& state, ModeChangePasses& passes) {
  if (state.controller->role() != raft::Role::kLeader) return;
  // Retry times that passed are forgotten, so partitions of deleted topics do not pile up.
  for (auto it = passes.retry_at.begin(); it != passes.retry_at.end();) {
    it = it->second <= state.runtime.Now() ? passes.retry_at.erase(it) : std::next(it);
  }
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  std::vector<wire::PartitionReassignT> plans;
  std::vector<wire::TopicModeChangeT> completions;
  std::optional<absl::btree_set<uint32_t>> not_live;
  std::optional<absl::btree_map<uint32_t, uint32_t>> load;
  for (const auto& [name, topic] : metadata.topics()) {
    if (!topic.changing_to.has_value()) continue;
    if (!not_live.has_value()) not_live = NodesNotLive(state);
    if (!load.has_value()) load = cluster::ReplicaLoad(metadata);
    if (PlanTopicModeChange(state, topic, *not_live, *load, passes, plans)) {
      completions.push_back(cluster::ModeChangeCommand(name, *topic.changing_to, true));
    }
  }
  // Proposals suspend this fiber: only the copies above are used from here on.
  for (wire::PartitionReassignT& plan : plans) {
    passes.retry_at[{plan.topic, plan.partition}] = state.runtime.Now() + kRegrowthRetry;
    const std::string name = Name(plan.topic, plan.partition);
    const std::string target = fmt::format("voters {} observers {}", fmt::join(plan.replicas, ","),
                                           fmt::join(plan.observers, ","));
    absl::StatusOr<cluster::MetadataOutcome> outcome = ProposeReassign(state, std::move(plan));
    if (!outcome.ok() || !outcome->status.ok()) continue;  // Planned again after kRegrowthRetry.
    MERIDIAN_PROBE("broker: the controller moves a partition for a mode change");
    state.metrics.reassignments_started_total++;
    state.Log(fmt::format("{}: moving to {} for its topic's mode change", name, target));
  }
  for (wire::TopicModeChangeT& complete : completions) {
    const std::string name = complete.name;
    const std::string mode(cluster::ModeName(complete.consistency));
    wire::MetadataCommandT command;
    command.body.Set(std::move(complete));
    absl::StatusOr<cluster::MetadataOutcome> outcome =
        state.ProposeMetadata(command, state.runtime.Now() + kChangeTimeout);
    if (!outcome.ok() || !outcome->status.ok()) continue;  // Checked again on the next pass.
    MERIDIAN_PROBE("broker: the controller completes a topic's mode change");
    state.Log(fmt::format("topic '{}' is now {}: every partition is placed", name, mode));
  }
}

}  // namespace

bool HostedHere(const Broker::State& state, const cluster::PartitionRecord& partition) {
  const uint32_t me = state.options.node_id;
  return Listed(partition.replicas, me) || Listed(partition.observers, me) ||
         Listed(partition.target_replicas, me) || Listed(partition.target_observers, me);
}

void RunReassigner(std::shared_ptr<Broker::State> state) {
  io::Runtime& rt = state->runtime;
  NodeConnection connection;
  absl::btree_map<std::pair<std::string, uint32_t>, io::Instant> retry_at;
  ModeChangePasses mode_changes;
  while (!state->stopped) {
    if (!rt.Sleep(kReassignPeriod).ok()) break;
    ProposeRegrowths(*state, retry_at);
    ProposeModeChanges(*state, mode_changes);
    std::vector<uint64_t> led;
    for (const auto& [group, hosted] : state->partitions) {
      if (hosted.replica->role() == raft::Role::kLeader) led.push_back(group);
    }
    for (uint64_t group : led) {
      if (state->stopped) break;
      auto it = state->partitions.find(group);
      if (it == state->partitions.end()) continue;  // Stopped while we looked at another.
      const HostedPartition hosted = it->second;    // Shared pointers: outlives a stop.
      Reassign(*state, connection, hosted);
    }
  }
  connection.Close();
}

wire::ClientMessageT HandleReassignPartition(Broker::State& state, uint64_t id,
                                             const wire::ReassignPartitionRequestT& request) {
  if (state.controller->role() != raft::Role::kLeader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "this node is not the controller leader",
                        state.controller->leader().value());
  }
  const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(request.topic);
  if (topic == nullptr || request.partition >= topic->partitions.size()) {
    return ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                        fmt::format("no partition {}", Name(request.topic, request.partition)));
  }
  wire::PartitionReassignT reassign;
  reassign.topic = request.topic;
  reassign.partition = request.partition;
  reassign.group = request.group != 0 ? request.group : topic->partitions[request.partition].group;
  reassign.replicas = request.replicas;
  reassign.observers = request.observers;
  reassign.complete = request.complete;
  absl::StatusOr<cluster::MetadataOutcome> outcome = ProposeReassign(state, std::move(reassign));
  if (!outcome.ok()) return ErrorMessage(id, ErrorCode::Unknown, outcome.status().ToString());
  if (!outcome->status.ok()) {
    const ErrorCode code = absl::IsInvalidArgument(outcome->status) ? ErrorCode::BadRequest
                                                                    : ErrorCode::NotEnoughReplicas;
    return ErrorMessage(id, code, std::string(outcome->status.message()));
  }
  if (!request.complete) state.metrics.reassignments_started_total++;
  // The record as applied here (the proposal waited for it).
  topic = state.controller_machine->metadata.FindTopic(request.topic);
  wire::ReassignPartitionResponseT response;
  if (topic != nullptr && request.partition < topic->partitions.size()) {
    const cluster::PartitionRecord& record = topic->partitions[request.partition];
    response.group = record.group;
    response.target_replicas = record.target_replicas;
    response.target_observers = record.target_observers;
  }
  return wire::Message(id, std::move(response));
}

}  // namespace meridian::core::broker
