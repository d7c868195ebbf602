// Consumer-group requests of core::broker::Broker: FindCoordinator (served by the controller
// leader, which creates "__consumer_offsets" on first use) and the requests a group's
// coordinator serves (the leader of the group's partition of that topic; core/broker/README.md
// "Consumer groups").
#include <fmt/format.h>

#include <algorithm>

#include "core/broker/broker_state.h"
#include "core/broker/group_coordinator.h"
#include "core/cluster/placement.h"
#include "io/assert.h"

namespace meridian::core::broker {
namespace {

using wire::ErrorCode;
using wire::ErrorMessage;
using wire::Message;

io::Instant GroupDeadline(const Broker::State& state, io::Duration wait) {
  return state.runtime.Now() +
         std::min(wait + state.options.request_timeout_default, state.options.request_timeout_max);
}

// The command that creates the offsets topic, placed by this controller leader; or the error.
absl::StatusOr<wire::MetadataCommandT> OffsetsTopicCommand(const Broker::State& state) {
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  const uint32_t replication =
      std::min<uint32_t>(state.options.offsets_topic_replication_factor,
                         static_cast<uint32_t>(std::max<size_t>(metadata.nodes().size(), 1)));
  absl::StatusOr<cluster::Placement> placement =
      metadata.Place({.partitions = state.options.offsets_topic_partitions,
                      .replication_factor = replication,
                      .not_live = NodesNotLive(state)});
  if (!placement.ok()) return placement.status();
  wire::TopicCreateT create;
  create.name = std::string(kOffsetsTopic);
  create.replication_factor = replication;
  create.consistency = placement->consistency;
  create.home_region = placement->home_region;
  create.observers_per_region = placement->observers_per_region;
  create.partitions = Assignments(*std::move(placement));
  wire::MetadataCommandT command;
  command.body.Set(std::move(create));
  return command;
}

wire::ClientMessageT HandleFindCoordinator(Broker::State& state, uint64_t id,
                                           const wire::FindCoordinatorRequestT& request) {
  if (request.group.empty() || request.group.size() > wire::kNameBytesMax) {
    return ErrorMessage(id, ErrorCode::BadRequest,
                        fmt::format("group name must be 1 to {} bytes", wire::kNameBytesMax));
  }
  if (state.controller_machine->metadata.FindTopic(kOffsetsTopic) == nullptr) {
    AwaitNodeLivenessKnown(state);  // Placing the offsets topic leaves out nodes not heard from.
  }
  if (state.controller->role() != raft::Role::kLeader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "not the controller leader",
                        state.controller->leader().value());
  }
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  if (metadata.FindTopic(kOffsetsTopic) == nullptr) {
    absl::StatusOr<wire::MetadataCommandT> command = OffsetsTopicCommand(state);
    if (!command.ok()) {
      return ErrorMessage(id, ErrorCode::NotEnoughReplicas,
                          fmt::format("cannot place {}: {}", kOffsetsTopic,
                                      std::string(command.status().message())));
    }
    absl::StatusOr<cluster::MetadataOutcome> outcome =
        state.ProposeMetadata(*command, GroupDeadline(state, {}));
    if (!outcome.ok()) {
      return ErrorMessage(id, ErrorCode::NotLeader, std::string(outcome.status().message()),
                          state.controller->leader().value());
    }
    // AlreadyExists (another FindCoordinator created it first) is what we wanted.
  }
  const cluster::TopicRecord* topic = metadata.FindTopic(kOffsetsTopic);
  if (topic == nullptr) return ErrorMessage(id, ErrorCode::Unknown, "offsets topic not created");
  wire::FindCoordinatorResponseT response;
  response.partition =
      GroupPartition(request.group, static_cast<uint32_t>(topic->partitions.size()));
  response.topic = TopicInfo(state, *topic);
  return Message(id, std::move(response));
}

// The coordinator of `group` if this node is it (a ready leader of the group's partition).
std::shared_ptr<GroupCoordinator> FindCoordinator(Broker::State& state, uint64_t id,
                                                  const std::string& group,
                                                  std::optional<uint32_t> partition_asked,
                                                  wire::ClientMessageT* error) {
  const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(kOffsetsTopic);
  if (topic == nullptr || topic->partitions.empty()) {
    *error = ErrorMessage(
        id, ErrorCode::UnknownTopicOrPartition,
        fmt::format("{} does not exist yet (FindCoordinator creates it)", kOffsetsTopic));
    return nullptr;
  }
  const uint32_t count = static_cast<uint32_t>(topic->partitions.size());
  if (partition_asked.has_value() && *partition_asked >= count) {
    *error = ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                          fmt::format("{} has {} partitions", kOffsetsTopic, count));
    return nullptr;
  }
  const uint32_t partition = partition_asked.value_or(GroupPartition(group, count));
  const HostedPartition* hosted = state.FindHosted(kOffsetsTopic, partition);
  if (hosted == nullptr || !hosted->replica->leader_ready()) {
    *error = ErrorMessage(id, ErrorCode::NotLeader,
                          fmt::format("not the coordinator ({}/{})", kOffsetsTopic, partition),
                          hosted == nullptr ? 0 : hosted->replica->leader().value());
    return nullptr;
  }
  auto coordinator = state.coordinators.find(hosted->group);
  MERIDIAN_CHECK(coordinator != state.coordinators.end());
  return coordinator->second;
}

}  // namespace

std::optional<wire::ClientMessageT> HandleGroupRequest(Broker::State& state,
                                                       const wire::ClientMessageT& request) {
  const uint64_t id = request.request_id;
  const wire::BodyUnion& body = request.body;
  if (const auto* find = body.AsFindCoordinatorRequest()) {
    return HandleFindCoordinator(state, id, *find);
  }
  std::string group;
  std::optional<uint32_t> partition;
  if (const auto* r = body.AsJoinGroupRequest())
    group = r->group;
  else if (const auto* r = body.AsHeartbeatRequest())
    group = r->group;
  else if (const auto* r = body.AsLeaveGroupRequest())
    group = r->group;
  else if (const auto* r = body.AsOffsetCommitRequest())
    group = r->group;
  else if (const auto* r = body.AsOffsetFetchRequest())
    group = r->group;
  else if (const auto* r = body.AsSyncGroupRequest())
    group = r->group;
  else if (const auto* r = body.AsDeleteGroupRequest())
    group = r->group;
  else if (const auto* r = body.AsDescribeGroupsRequest())
    partition = r->partition;
  else
    return std::nullopt;
  wire::ClientMessageT error;
  std::shared_ptr<GroupCoordinator> coordinator =
      FindCoordinator(state, id, group, partition, &error);
  if (coordinator == nullptr) return error;
  if (const auto* r = body.AsJoinGroupRequest()) {
    const io::Duration wait = std::chrono::milliseconds(r->rebalance_timeout_ms);
    return coordinator->Join(id, *r, GroupDeadline(state, wait));
  }
  if (const auto* r = body.AsSyncGroupRequest()) {
    return coordinator->Sync(id, *r, GroupDeadline(state, state.options.request_timeout_max));
  }
  if (const auto* r = body.AsHeartbeatRequest()) return coordinator->Heartbeat(id, *r);
  if (const auto* r = body.AsLeaveGroupRequest()) return coordinator->Leave(id, *r);
  if (const auto* r = body.AsOffsetCommitRequest()) {
    return coordinator->Commit(id, *r, GroupDeadline(state, {}));
  }
  if (const auto* r = body.AsOffsetFetchRequest()) return coordinator->FetchOffsets(id, *r);
  if (const auto* r = body.AsDeleteGroupRequest()) {
    return coordinator->Delete(id, *r, GroupDeadline(state, {}));
  }
  return coordinator->Describe(id, *body.AsDescribeGroupsRequest());
}

void RunGroupCoordinators(std::shared_ptr<Broker::State> state) {
  while (!state->stopped) {
    if (!state->runtime.Sleep(state->options.tick).ok()) return;
    std::vector<std::shared_ptr<GroupCoordinator>> coordinators;
    for (const auto& [group, coordinator] : state->coordinators)
      coordinators.push_back(coordinator);
    for (const auto& coordinator : coordinators) {
      if (state->stopped) return;
      coordinator->Tick();
    }
  }
}

}  // namespace meridian::core::broker
