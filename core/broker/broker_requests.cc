// Request handlers of core::broker::Broker: one function per request type. Each validates its
// request (bytes from a client are untrusted), routes it (this node must host the partition and,
// for writes, lead it; controller requests need the metadata group's leader), acts, and maps
// every outcome to an error code the client can act on (core/wire/client.fbs ErrorCode).
#include <fmt/format.h>

#include <algorithm>

#include "core/broker/broker_state.h"
#include "core/cluster/mode_change.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {

std::unique_ptr<wire::TopicInfoT> TopicInfo(const Broker::State& state,
                                            const cluster::TopicRecord& topic) {
  auto info = std::make_unique<wire::TopicInfoT>();
  info->name = topic.name;
  info->replication_factor = topic.replication_factor;
  info->retention_bytes = topic.retention_bytes;
  info->retention_ms = topic.retention_ms;
  info->consistency = topic.consistency;
  info->home_region = topic.home_region;
  info->observers_per_region = topic.observers_per_region;
  if (topic.changing_to.has_value()) {
    info->changing_to = topic.changing_to->consistency;
    info->changing_home_region = topic.changing_to->home_region;
    info->changing_observers_per_region = topic.changing_to->observers_per_region;
    info->changing_voters_in = cluster::RegionCountsToWire(topic.changing_to->voters_in);
    info->changing_observers_in = cluster::RegionCountsToWire(topic.changing_to->observers_in);
  }
  info->voters_in = cluster::RegionCountsToWire(topic.voters_in);
  info->observers_in = cluster::RegionCountsToWire(topic.observers_in);
  for (const cluster::PartitionRecord& partition : topic.partitions) {
    auto p = std::make_unique<wire::PartitionInfoT>();
    p->partition = partition.partition;
    p->group = partition.group;
    p->replicas = partition.replicas;
    p->observers = partition.observers;
    p->epoch = partition.epoch;
    p->promoted_offset = partition.promoted_offset;
    p->target_replicas = partition.target_replicas;
    p->target_observers = partition.target_observers;
    if (auto hosted = state.partitions.find(partition.group); hosted != state.partitions.end()) {
      p->leader = hosted->second.replica->leader().value();
      p->leader_term = hosted->second.replica->term().value();
    }
    info->partitions.push_back(std::move(p));
  }
  return info;
}

// The controller leader's placement as the assignments of a metadata command.
std::vector<std::unique_ptr<wire::PartitionAssignmentT>> Assignments(cluster::Placement placement) {
  std::vector<std::unique_ptr<wire::PartitionAssignmentT>> assignments;
  for (cluster::PartitionPlacement& partition : placement.partitions) {
    auto assignment = std::make_unique<wire::PartitionAssignmentT>();
    assignment->replicas = std::move(partition.voters);
    assignment->observers = std::move(partition.observers);
    assignments.push_back(std::move(assignment));
  }
  return assignments;
}

void CheckFetchServesCommitted(const wire::FetchResponseT& response) {
  MERIDIAN_CHECK(response.high_watermark >= response.log_start_offset);
  int64_t previous = -1;
  for (const auto& batch : response.batches) {
    MERIDIAN_CHECK(batch != nullptr);
    MERIDIAN_CHECK(batch->base_offset > previous, "fetched batches out of order");
    MERIDIAN_CHECK(batch->base_offset < response.high_watermark,
                   "a fetch served a batch at {}, past the high watermark {} it reports: "
                   "records this replica does not know are committed",
                   batch->base_offset, response.high_watermark);
    previous = batch->base_offset;
  }
}

// Maps a proposal's failure to what the client may conclude.
wire::ClientMessageT ProposalError(uint64_t id, const absl::Status& status, uint32_t leader) {
  if (absl::IsFailedPrecondition(status)) {
    return wire::ErrorMessage(id, wire::ErrorCode::NotLeader, std::string(status.message()),
                              leader);
  }
  if (absl::IsInvalidArgument(status)) {
    return wire::ErrorMessage(id, wire::ErrorCode::RecordTooLarge, std::string(status.message()));
  }
  if (absl::IsAborted(status) || absl::IsResourceExhausted(status) || absl::IsUnavailable(status)) {
    // Certainly not applied: refused before it entered the log, or overwritten in it.
    return wire::ErrorMessage(id, wire::ErrorCode::Failed, std::string(status.message()));
  }
  // A deadline or a shutdown: the entry may still commit.
  return wire::ErrorMessage(id, wire::ErrorCode::Unknown, std::string(status.message()));
}

namespace {

static_assert(wire::kBatchBytesMax <= raft::kEntryBytesMax,
              "every batch a client may produce must fit in one raft entry");

using wire::ErrorCode;
using wire::ErrorMessage;
using wire::Message;

io::Instant DeadlineFor(const Broker::State& state, uint32_t timeout_ms) {
  io::Duration timeout = timeout_ms == 0 ? state.options.request_timeout_default
                                         : io::Duration(std::chrono::milliseconds(timeout_ms));
  timeout = std::min(timeout, state.options.request_timeout_max);
  return state.runtime.Now() + timeout;
}

wire::ClientMessageT NotController(const Broker::State& state, uint64_t id) {
  return ErrorMessage(id, ErrorCode::NotLeader, "this node is not the controller leader",
                      state.controller->leader().value());
}

wire::ClientMessageT HandleMetadata(Broker::State& state, uint64_t id,
                                    const wire::MetadataRequestT& request) {
  if (request.lease_for_node != 0) return GrantLease(state, id, request.lease_for_node);
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  wire::MetadataResponseT response;
  for (const auto& [node_id, node] : metadata.nodes()) {
    response.nodes.push_back(cluster::ToNodeInfo(node));
  }
  response.controller_leader = state.controller->leader().value();
  if (request.topics.empty()) {
    for (const auto& [name, topic] : metadata.topics()) {
      response.topics.push_back(TopicInfo(state, topic));
    }
  }
  for (const std::string& name : request.topics) {
    if (const cluster::TopicRecord* topic = metadata.FindTopic(name)) {
      response.topics.push_back(TopicInfo(state, *topic));
    } else {
      response.missing_topics.push_back(name);
    }
  }
  return Message(id, std::move(response));
}

// A placement the cluster cannot satisfy (NotEnoughReplicas) or a request that contradicts itself
// (InvalidConfig); the message says which constraint failed.
wire::ClientMessageT PlacementError(uint64_t id, const absl::Status& status) {
  return ErrorMessage(
      id, absl::IsInvalidArgument(status) ? ErrorCode::InvalidConfig : ErrorCode::NotEnoughReplicas,
      std::string(status.message()));
}

// A create's or an alter's placement constraints (voters and observers per region).
template <typename Request>
absl::Status ConstraintsOf(const Request& request, cluster::RegionCounts& voters_in,
                           cluster::RegionCounts& observers_in) {
  absl::StatusOr<cluster::RegionCounts> voters = cluster::RegionCountsFromWire(request.voters_in);
  if (!voters.ok()) return voters.status();
  absl::StatusOr<cluster::RegionCounts> observers =
      cluster::RegionCountsFromWire(request.observers_in);
  if (!observers.ok()) return observers.status();
  voters_in = *std::move(voters);
  observers_in = *std::move(observers);
  return absl::OkStatus();
}

// PLANTED BUG (BrokerPlantedBugs::strong_voters_share_a_region): a strong partition's second
// voter moves to another node of its first voter's region, when there is one.
void PlantSharedRegion(const cluster::ClusterMetadata& metadata, cluster::Placement& placement) {
  if (placement.consistency != wire::Consistency::Strong) return;
  for (cluster::PartitionPlacement& partition : placement.partitions) {
    const std::string& region = metadata.nodes().at(partition.voters[0]).region;
    for (const auto& [id, node] : metadata.nodes()) {
      const bool taken =
          std::find(partition.voters.begin(), partition.voters.end(), id) != partition.voters.end();
      if (node.region == region && !taken) {
        partition.voters[1] = id;
        break;
      }
    }
  }
}

wire::ClientMessageT MetadataOutcomeError(uint64_t id, const absl::Status& status) {
  if (absl::IsAlreadyExists(status)) {
    return ErrorMessage(id, ErrorCode::TopicAlreadyExists, std::string(status.message()));
  }
  if (absl::IsNotFound(status)) {
    return ErrorMessage(id, ErrorCode::UnknownTopicOrPartition, std::string(status.message()));
  }
  if (absl::IsInvalidArgument(status)) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, std::string(status.message()));
  }
  return ErrorMessage(id, ErrorCode::Failed, std::string(status.message()));
}

// Proposes a command that creates or grows topic `name`, waits until it is applied here, and
// returns the topic as applied; or nullptr with `*error` set to the answer a client acts on
// (another command applied first, e.g. a delete, is reported as what happened).
std::unique_ptr<wire::TopicInfoT> ProposeTopicChange(Broker::State& state, uint64_t id,
                                                     const wire::MetadataCommandT& command,
                                                     const std::string& name,
                                                     wire::ClientMessageT* error) {
  absl::StatusOr<cluster::MetadataOutcome> outcome =
      state.ProposeMetadata(command, DeadlineFor(state, 0));
  if (!outcome.ok()) {
    *error = ProposalError(id, outcome.status(), state.controller->leader().value());
    return nullptr;
  }
  if (!outcome->status.ok()) {
    *error = MetadataOutcomeError(id, outcome->status);
    return nullptr;
  }
  const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(name);
  if (topic == nullptr) {
    *error = ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                          fmt::format("topic '{}' was deleted meanwhile", name));
    return nullptr;
  }
  return TopicInfo(state, *topic);
}

// Topics whose names start with "__" are the cluster's own ("__consumer_offsets"): clients
// neither create, grow, delete nor produce to them (a produced record there would be a forged
// group generation or commit).
bool IsInternalTopic(std::string_view name) { return name.starts_with("__"); }

wire::ClientMessageT InternalTopicError(uint64_t id, std::string_view name) {
  return ErrorMessage(
      id, ErrorCode::InvalidConfig,
      fmt::format("topic '{}' is internal: names starting with __ are reserved", name));
}

wire::ClientMessageT HandleCreateTopic(Broker::State& state, uint64_t id,
                                       const wire::CreateTopicRequestT& request) {
  if (absl::Status s = cluster::ValidateTopicName(request.name); !s.ok()) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, std::string(s.message()));
  }
  if (IsInternalTopic(request.name)) return InternalTopicError(id, request.name);
  if (absl::Status s =
          cluster::ValidateTopicSettings(request.partitions, request.replication_factor,
                                         request.retention_bytes, request.retention_ms);
      !s.ok()) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, std::string(s.message()));
  }
  AwaitNodeLivenessKnown(state);  // Placement below leaves out nodes not heard from.
  if (state.controller->role() != raft::Role::kLeader) return NotController(state, id);
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  if (metadata.FindTopic(request.name) != nullptr) {
    return ErrorMessage(id, ErrorCode::TopicAlreadyExists,
                        fmt::format("topic '{}' already exists", request.name));
  }
  cluster::RegionCounts voters_in;
  cluster::RegionCounts observers_in;
  if (absl::Status s = ConstraintsOf(request, voters_in, observers_in); !s.ok()) {
    return PlacementError(id, s);
  }
  absl::StatusOr<cluster::Placement> placement =
      metadata.Place({.partitions = request.partitions,
                      .replication_factor = request.replication_factor,
                      .consistency = request.consistency,
                      .home_region = request.home_region,
                      .observers_per_region = request.observers_per_region,
                      .voters_in = std::move(voters_in),
                      .observers_in = std::move(observers_in),
                      .not_live = NodesNotLive(state)});
  if (!placement.ok()) return PlacementError(id, placement.status());
  if (state.options.planted.strong_voters_share_a_region) PlantSharedRegion(metadata, *placement);
  wire::TopicCreateT create;
  create.name = request.name;
  create.replication_factor = request.replication_factor;
  create.retention_bytes = request.retention_bytes;
  create.retention_ms = request.retention_ms;
  create.consistency = placement->consistency;
  create.home_region = placement->home_region;
  create.observers_per_region = placement->observers_per_region;
  create.voters_in = cluster::RegionCountsToWire(placement->voters_in);
  create.observers_in = cluster::RegionCountsToWire(placement->observers_in);
  create.partitions = Assignments(*std::move(placement));
  wire::MetadataCommandT command;
  command.body.Set(std::move(create));
  wire::ClientMessageT error;
  wire::CreateTopicResponseT response;
  response.topic = ProposeTopicChange(state, id, command, request.name, &error);
  if (response.topic == nullptr) return error;
  return Message(id, std::move(response));
}

wire::ClientMessageT HandleCreatePartitions(Broker::State& state, uint64_t id,
                                            const wire::CreatePartitionsRequestT& request) {
  if (IsInternalTopic(request.topic)) return InternalTopicError(id, request.topic);
  AwaitNodeLivenessKnown(state);  // Placement below leaves out nodes not heard from.
  if (state.controller->role() != raft::Role::kLeader) return NotController(state, id);
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  const cluster::TopicRecord* existing = metadata.FindTopic(request.topic);
  if (existing == nullptr) {
    return ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                        fmt::format("topic '{}' does not exist", request.topic));
  }
  const uint32_t current = static_cast<uint32_t>(existing->partitions.size());
  if (request.total <= current || request.total > cluster::kPartitionsPerTopicMax) {
    return ErrorMessage(
        id, ErrorCode::InvalidConfig,
        fmt::format("topic '{}' has {} partitions; the new total must be in {}..{}", request.topic,
                    current, current + 1, cluster::kPartitionsPerTopicMax));
  }
  // During a mode change new partitions are born in the mode the topic is moving to.
  const cluster::ModeTarget mode = existing->changing_to.value_or(existing->mode());
  absl::StatusOr<cluster::Placement> placement =
      metadata.Place({.partitions = request.total - current,
                      .replication_factor = existing->replication_factor,
                      .consistency = mode.consistency,
                      .home_region = mode.home_region,
                      .observers_per_region = mode.observers_per_region,
                      .voters_in = mode.voters_in,
                      .observers_in = mode.observers_in,
                      .not_live = NodesNotLive(state)});
  if (!placement.ok()) return PlacementError(id, placement.status());
  wire::CreatePartitionsResponseT response;
  if (request.validate_only) {  // Every check passed; nothing is proposed.
    response.topic = TopicInfo(state, *existing);
    return Message(id, std::move(response));
  }
  wire::TopicAddPartitionsT add;
  add.name = request.topic;
  add.partitions = Assignments(*std::move(placement));
  wire::MetadataCommandT command;
  command.body.Set(std::move(add));
  wire::ClientMessageT error;
  response.topic = ProposeTopicChange(state, id, command, request.topic, &error);
  if (response.topic == nullptr) return error;
  return Message(id, std::move(response));
}

// A topic's settings changed after its creation (`meridian topic alter`; Kafka's AlterConfigs and
// IncrementalAlterConfigs): a TopicConfigSet command for retention and a TopicModeChange for a
// consistency mode (core/cluster/mode_change.h), each checked here and again when applied (a
// delete of the topic may be decided first). validate_only runs every check and proposes nothing.
wire::ClientMessageT HandleAlterTopicConfig(Broker::State& state, uint64_t id,
                                            const wire::AlterTopicConfigRequestT& request) {
  if (IsInternalTopic(request.topic)) return InternalTopicError(id, request.topic);
  if (request.retention_bytes < -1 || request.retention_ms < -1) {
    return ErrorMessage(id, ErrorCode::InvalidConfig,
                        "retention must be >= 0 (0: unlimited), or -1 to leave it as it is");
  }
  const bool mode_change = request.consistency != wire::Consistency::Unspecified;
  if (!mode_change && (!request.home_region.empty() || request.observers_per_region != -1 ||
                       !request.voters_in.empty() || !request.observers_in.empty())) {
    return ErrorMessage(
        id, ErrorCode::InvalidConfig,
        "a home region, an observer count or per-region counts go with a consistency mode: name "
        "the mode (the topic's own, to move only its home or its observers)");
  }
  if (mode_change) AwaitNodeLivenessKnown(state);  // The check below leaves out silent nodes.
  if (state.controller->role() != raft::Role::kLeader) return NotController(state, id);
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  const cluster::TopicRecord* existing = metadata.FindTopic(request.topic);
  if (existing == nullptr) {
    return ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                        fmt::format("topic '{}' does not exist", request.topic));
  }
  std::optional<cluster::ModeTarget> target;
  if (mode_change) {
    cluster::RegionCounts voters_in;
    cluster::RegionCounts observers_in;
    if (absl::Status s = ConstraintsOf(request, voters_in, observers_in); !s.ok()) {
      return PlacementError(id, s);
    }
    absl::StatusOr<cluster::ModeTarget> resolved = cluster::ResolveModeChange(
        metadata, *existing, request.consistency, request.home_region, request.observers_per_region,
        NodesNotLive(state), voters_in, observers_in);
    if (!resolved.ok()) return PlacementError(id, resolved.status());
    target = *std::move(resolved);
  }
  wire::AlterTopicConfigResponseT response;
  if (request.validate_only) {  // Every check passed; nothing is proposed.
    response.topic = TopicInfo(state, *existing);
    return Message(id, std::move(response));
  }
  wire::ClientMessageT error;
  if (!mode_change || request.retention_bytes != -1 || request.retention_ms != -1) {
    wire::TopicConfigSetT set;
    set.name = request.topic;
    set.retention_bytes = request.retention_bytes;
    set.retention_ms = request.retention_ms;
    wire::MetadataCommandT command;
    command.body.Set(std::move(set));
    response.topic = ProposeTopicChange(state, id, command, request.topic, &error);
    if (response.topic == nullptr) return error;
  }
  if (target.has_value()) {
    wire::MetadataCommandT command;
    command.body.Set(cluster::ModeChangeCommand(request.topic, *target, false));
    response.topic = ProposeTopicChange(state, id, command, request.topic, &error);
    if (response.topic == nullptr) return error;
    state.Log(
        fmt::format("topic '{}': moving to {} placement (home region '{}', {} observer(s) "
                    "per other region)",
                    request.topic, cluster::ModeName(target->consistency), target->home_region,
                    target->observers_per_region));
  }
  return Message(id, std::move(response));
}

wire::ClientMessageT HandleDeleteTopic(Broker::State& state, uint64_t id,
                                       const wire::DeleteTopicRequestT& request) {
  if (IsInternalTopic(request.name)) return InternalTopicError(id, request.name);
  if (state.controller->role() != raft::Role::kLeader) return NotController(state, id);
  if (state.controller_machine->metadata.FindTopic(request.name) == nullptr) {
    return ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                        fmt::format("topic '{}' does not exist", request.name));
  }
  wire::MetadataCommandT command;
  wire::TopicDeleteT remove;
  remove.name = request.name;
  command.body.Set(std::move(remove));
  absl::StatusOr<cluster::MetadataOutcome> outcome =
      state.ProposeMetadata(command, DeadlineFor(state, 0));
  if (!outcome.ok()) return ProposalError(id, outcome.status(), state.controller->leader().value());
  if (!outcome->status.ok()) return MetadataOutcomeError(id, outcome->status);
  return Message(id, wire::DeleteTopicResponseT{});
}

wire::ClientMessageT HandleInitProducerId(Broker::State& state, uint64_t id,
                                          const wire::InitProducerIdRequestT& request) {
  if (state.controller->role() != raft::Role::kLeader) return NotController(state, id);
  wire::MetadataCommandT command;
  wire::ProducerIdAllocateT allocate;
  allocate.producer_id = request.producer_id;
  command.body.Set(std::move(allocate));
  absl::StatusOr<cluster::MetadataOutcome> outcome =
      state.ProposeMetadata(command, DeadlineFor(state, 0));
  if (!outcome.ok()) return ProposalError(id, outcome.status(), state.controller->leader().value());
  if (!outcome->status.ok()) return MetadataOutcomeError(id, outcome->status);
  wire::InitProducerIdResponseT response;
  response.producer_id = outcome->producer_id;
  response.producer_epoch = outcome->producer_epoch;
  return Message(id, std::move(response));
}

wire::ClientMessageT HandleRegisterNode(Broker::State& state, uint64_t id,
                                        const wire::RegisterNodeRequestT& request) {
  if (request.node == nullptr || request.node->id == 0) {
    return ErrorMessage(id, ErrorCode::BadRequest, "registration without a node id");
  }
  if (state.controller->role() != raft::Role::kLeader) return NotController(state, id);
  wire::MetadataCommandT command;
  wire::NodeRegisterT registration;
  registration.node = std::make_unique<wire::NodeInfoT>(*request.node);
  command.body.Set(std::move(registration));
  absl::StatusOr<cluster::MetadataOutcome> outcome =
      state.ProposeMetadata(command, DeadlineFor(state, 0));
  if (!outcome.ok()) return ProposalError(id, outcome.status(), state.controller->leader().value());
  if (!outcome->status.ok()) return MetadataOutcomeError(id, outcome->status);
  return Message(id, wire::RegisterNodeResponseT{});
}

enum class Access : uint8_t { kWrite, kRead };

// The partition a request names, hosted here and servable (a regional replica needs the data
// lease: failover.cc); or the error to answer with.
const HostedPartition* Route(Broker::State& state, uint64_t id, const std::string& topic,
                             uint32_t partition, wire::ClientMessageT* error,
                             Access access = Access::kWrite) {
  const cluster::TopicRecord* record = state.controller_machine->metadata.FindTopic(topic);
  if (record == nullptr || partition >= record->partitions.size()) {
    *error = ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                          fmt::format("no partition {}/{}", topic, partition));
    return nullptr;
  }
  const HostedPartition* hosted = state.FindHosted(topic, partition);
  if (hosted == nullptr) {
    // Assigned elsewhere, or assigned here but not started yet: the client asks the replicas.
    *error =
        ErrorMessage(id, ErrorCode::NotLeader,
                     fmt::format("partition {}/{} is not hosted on this node", topic, partition));
    return nullptr;
  }
  const bool lease_skipped = access == Access::kRead && state.options.planted.stale_tail_served;
  if (!lease_skipped && !DataLeaseHeld(state, *record)) {
    *error = ErrorMessage(id, ErrorCode::NotLeader,
                          fmt::format("{}/{}: this node has no data lease from the controller "
                                      "(its epoch may be superseded)",
                                      topic, partition));
    return nullptr;
  }
  return hosted;
}

// PLANTED BUGS ONLY: the partition as this leader would see it if every entry of its log up to
// `through` committed — what a broker that acknowledges or serves before the quorum believes.
std::optional<PartitionState> PredictForPlantedBug(const HostedPartition& hosted,
                                                   raft::Index through) {
  PartitionState predicted = hosted.machine->state;
  raft::Index next = predicted.applied().next();
  while (next <= through) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        hosted.replica->ReadUncommittedForPlantedBug(next, wire::kFetchBytesMax);
    if (!entries.ok()) return std::nullopt;
    if (entries->empty()) break;  // The end of this leader's log.
    for (const raft::Entry& entry : *entries) {
      if (entry.index > through) break;
      predicted.Apply(entry);
      next = entry.index.next();
    }
  }
  return predicted;
}

// PLANTED BUGS ONLY: the batches of this leader's log past its high watermark, numbered on from
// it as if they had all committed (and with no dedup) — what a broker that reads its log to the
// end, instead of to the high watermark, would serve.
struct UncommittedTail {
  struct Batch {
    Offset base;
    uint32_t records = 0;
    std::string data;
  };
  std::vector<Batch> batches;
  Offset end;  // One past the last record of the tail.
};

UncommittedTail UncommittedTailForPlantedBug(const HostedPartition& hosted) {
  UncommittedTail tail;
  tail.end = hosted.machine->state.high_watermark();
  raft::Index next = hosted.machine->state.applied().next();
  while (true) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        hosted.replica->ReadUncommittedForPlantedBug(next, wire::kFetchBytesMax);
    if (!entries.ok() || entries->empty()) break;
    for (raft::Entry& entry : *entries) {
      next = entry.index.next();
      if (entry.kind != raft::EntryKind::kNormal || entry.data.empty()) continue;
      const auto bytes =
          std::span(reinterpret_cast<const uint8_t*>(entry.data.data()), entry.data.size());
      absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(bytes);
      if (!batch.ok()) continue;
      const uint32_t records = (*batch)->records()->size();
      tail.batches.push_back({tail.end, records, std::move(entry.data)});
      tail.end = Offset(tail.end.value() + records);
    }
  }
  return tail;
}

void ServeUncommittedTailForPlantedBug(const HostedPartition& hosted, Offset offset,
                                       uint64_t bytes_max, wire::FetchResponseT& response) {
  UncommittedTail tail = UncommittedTailForPlantedBug(hosted);
  if (tail.batches.empty()) return;
  MERIDIAN_PROBE("broker: PLANTED fetch-above-hwm served an uncommitted tail");
  uint64_t bytes = 0;
  for (const auto& batch : response.batches) bytes += batch->batch.size();
  for (UncommittedTail::Batch& batch : tail.batches) {
    if (batch.base.value() + batch.records <= offset.value()) continue;
    if (!response.batches.empty() && bytes + batch.data.size() > bytes_max) break;
    bytes += batch.data.size();
    auto fetched = std::make_unique<wire::FetchedBatchT>();
    fetched->base_offset = static_cast<int64_t>(batch.base.value());
    fetched->batch.assign(batch.data.begin(), batch.data.end());
    response.batches.push_back(std::move(fetched));
  }
  response.high_watermark = static_cast<int64_t>(tail.end.value());
}

wire::ClientMessageT ProduceOutcome(uint64_t id, const ApplyOutcome& outcome) {
  wire::ProduceResponseT response;
  switch (outcome.result) {
    case ApplyResult::kAppended:
    case ApplyResult::kDuplicate:
      response.base_offset = static_cast<int64_t>(outcome.base_offset.value());
      response.duplicate = outcome.result == ApplyResult::kDuplicate;
      return Message(id, std::move(response));
    case ApplyResult::kOutOfOrderSequence:
      return ErrorMessage(id, ErrorCode::OutOfOrderSequence, outcome.reason);
    case ApplyResult::kFencedEpoch:
      return ErrorMessage(id, ErrorCode::FencedProducerEpoch, outcome.reason);
    case ApplyResult::kInvalid:
    case ApplyResult::kNoRecords:
      break;
  }
  return ErrorMessage(id, ErrorCode::BadRequest, outcome.reason);
}

wire::ClientMessageT HandleProduce(Broker::State& state, uint64_t id,
                                   const wire::ProduceRequestT& request) {
  state.metrics.produce_requests_total++;
  if (IsInternalTopic(request.topic)) return InternalTopicError(id, request.topic);
  wire::ClientMessageT error;
  const HostedPartition* hosted = Route(state, id, request.topic, request.partition, &error);
  if (hosted == nullptr) return error;
  if (hosted->replica->role() != raft::Role::kLeader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "not the partition leader",
                        hosted->replica->leader().value());
  }
  if (request.batch.size() > wire::kBatchBytesMax) {
    return ErrorMessage(id, ErrorCode::RecordTooLarge,
                        fmt::format("batch of {} bytes; the limit is {}", request.batch.size(),
                                    wire::kBatchBytesMax));
  }
  absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(request.batch);
  if (!batch.ok())
    return ErrorMessage(id, ErrorCode::BadRequest, std::string(batch.status().message()));
  const uint32_t records = (*batch)->records()->size();
  const bool leader_only =
      request.acks == wire::Acks::Leader || state.options.planted.ack_before_quorum;
  // Keep the replica alive across the wait even if the topic is deleted meanwhile.
  std::shared_ptr<replica::Replica> replica = hosted->replica;
  std::shared_ptr<PartitionMachine> machine = hosted->machine;
  absl::StatusOr<raft::Index> index = replica->ProposeAndWait(
      std::string(request.batch.begin(), request.batch.end()),
      DeadlineFor(state, request.timeout_ms),
      leader_only ? replica::WaitFor::kLeaderDurable : replica::WaitFor::kApplied);
  if (!index.ok()) return ProposalError(id, index.status(), replica->leader().value());
  if (state.options.planted.ack_before_quorum && request.acks == wire::Acks::Quorum) {
    // PLANTED BUG: answer as if the leader's own fsync were the quorum's.
    std::optional<PartitionState> predicted =
        PredictForPlantedBug(HostedPartition{"", 0, 0, machine, replica}, *index);
    std::optional<ApplyOutcome> outcome =
        predicted.has_value() ? predicted->OutcomeAt(*index) : std::nullopt;
    if (outcome.has_value()) return ProduceOutcome(id, *outcome);
  }
  if (leader_only) {
    // The offset is decided when the entry is applied; with acks=leader it may not be yet.
    std::optional<ApplyOutcome> applied = machine->state.OutcomeAt(*index);
    if (applied.has_value()) return ProduceOutcome(id, *applied);
    wire::ProduceResponseT response;
    response.base_offset = -1;
    return Message(id, std::move(response));
  }
  std::optional<ApplyOutcome> outcome = machine->state.OutcomeAt(*index);
  if (!outcome.has_value()) {
    // More than PartitionState::kOutcomesKept entries were applied before this fiber resumed.
    MERIDIAN_PROBE("broker: produce outcome aged out before the producer was answered");
    return ErrorMessage(id, ErrorCode::Unknown, "committed, but its outcome is no longer known");
  }
  if (const cluster::TopicRecord* topic =
          state.controller_machine->metadata.FindTopic(request.topic);
      topic == nullptr || !DataLeaseHeld(state, *topic)) {
    // Committed in an epoch a promotion may have superseded meanwhile: not an acknowledgement.
    return ErrorMessage(id, ErrorCode::Unknown, "committed, but the data lease lapsed meanwhile");
  }
  if (outcome->result == ApplyResult::kAppended) {
    MERIDIAN_CHECK(outcome->record_count == records);
    state.metrics.produce_records_total += records;
    state.metrics.produce_bytes_total += request.batch.size();
  }
  return ProduceOutcome(id, *outcome);
}

wire::ClientMessageT OutOfRange(uint64_t id, const PartitionState& partition, int64_t offset) {
  wire::ClientMessageT message = ErrorMessage(
      id, ErrorCode::OffsetOutOfRange,
      fmt::format("offset {} is outside [{}, {}]", offset, partition.log_start_offset().value(),
                  partition.high_watermark().value()));
  message.body.AsErrorResponse()->earliest_offset =
      static_cast<int64_t>(partition.log_start_offset().value());
  message.body.AsErrorResponse()->latest_offset =
      static_cast<int64_t>(partition.high_watermark().value());
  return message;
}

// Appends whole accepted batches from `offset` until the byte budget is spent (at least one),
// each starting below `high_watermark` (the one the response reports: an entry applied while
// the log was being read waits for the next fetch).
absl::Status ReadBatches(const HostedPartition& hosted, Offset offset, Offset high_watermark,
                         uint64_t bytes_max, wire::FetchResponseT& response) {
  const PartitionState& partition = hosted.machine->state;
  std::optional<BatchLocation> first = partition.BatchHolding(offset);
  if (!first.has_value()) {
    // Retention (or a snapshot from the leader) moved the log start past `offset` while the
    // fetch waited: what the client asked for is gone now.
    MERIDIAN_PROBE("broker: fetch offset deleted by retention during the long poll");
    return absl::OutOfRangeError(fmt::format("offset {} is below the log start {}",
                                             offset.ToString(),
                                             partition.log_start_offset().ToString()));
  }
  uint64_t bytes = 0;
  raft::Index next = first->index;
  while (bytes < bytes_max && next <= partition.applied()) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        hosted.replica->ReadCommitted(next, bytes_max - bytes);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) break;
    for (raft::Entry& entry : *entries) {
      next = entry.index.next();
      std::optional<BatchLocation> batch = partition.BatchAt(entry.index);
      if (!batch.has_value()) continue;  // A no-op, a config entry or a refused batch.
      if (batch->base_offset >= high_watermark) return absl::OkStatus();
      if (!response.batches.empty() && bytes + entry.data.size() > bytes_max)
        return absl::OkStatus();
      bytes += entry.data.size();
      auto fetched = std::make_unique<wire::FetchedBatchT>();
      fetched->base_offset = static_cast<int64_t>(batch->base_offset.value());
      fetched->batch.assign(entry.data.begin(), entry.data.end());
      response.batches.push_back(std::move(fetched));
    }
  }
  return absl::OkStatus();
}

// After a long poll: whether this node may still serve `topic` (a regional topic's data lease
// may have lapsed meanwhile; PLANTED BUG stale-tail-served skips the check).
bool LeaseStillHeld(Broker::State& state, const std::string& topic_name) {
  if (state.options.planted.stale_tail_served) return true;
  const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(topic_name);
  return topic != nullptr && DataLeaseHeld(state, *topic);
}

// After a long poll: whether `hosted` is still the partition's current raft group. A promotion
// meanwhile (core/cluster/promotion.h) started a new epoch in a new group; the old group's
// replica may hold records past the new epoch's promoted_offset, which were discarded, and
// must not be served as current (the client refreshes its metadata and asks again).
bool StillCurrentEpoch(Broker::State& state, const HostedPartition& hosted, uint32_t epoch) {
  const cluster::PartitionRecord* current = CurrentRecord(state, hosted);
  return current != nullptr && current->epoch == epoch;
}

// Whether this replica may serve the fetch at all (an error to answer with when not): the
// epoch the consumer read in, leadership (or allow_follower), a leader that has caught up.
std::optional<wire::ClientMessageT> RefuseFetch(const HostedPartition& hosted, uint64_t id,
                                                const wire::FetchRequestT& request,
                                                const cluster::PartitionRecord& current) {
  if (request.epoch >= 0 && request.epoch < current.epoch &&
      request.offset > current.promoted_offset) {
    // The consumer read past where this epoch began, in an epoch a promotion superseded.
    MERIDIAN_PROBE("broker: a fetch from before a promotion is sent back to the new epoch");
    return OutOfRange(id, hosted.machine->state, request.offset);
  }
  const bool leader = hosted.replica->role() == raft::Role::kLeader;
  if (!request.allow_follower && !leader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "not the partition leader",
                        hosted.replica->leader().value());
  }
  if (leader && !hosted.replica->leader_ready()) {
    // A new leader's high watermark may still be behind what its predecessor served; answering
    // now could call a valid offset out of range. Retriable.
    return ErrorMessage(id, ErrorCode::NotLeader, "the new leader has not caught up yet",
                        hosted.replica->leader().value());
  }
  const PartitionState& partition = hosted.machine->state;
  // A follower (serving a follower fetch) may lag the leader: an offset past its high
  // watermark is waited for, not refused.
  if (request.offset < static_cast<int64_t>(partition.log_start_offset().value()) ||
      (leader && request.offset > static_cast<int64_t>(partition.high_watermark().value()))) {
    return OutOfRange(id, partition, request.offset);
  }
  return std::nullopt;
}

// Whether this fetch runs one of the planted bugs that serve an uncommitted tail: the leader's
// (fetch-above-hwm) or a follower's (follower-fetch-above-hwm).
bool ServesTailForPlantedBug(const Broker::State& state, bool leader) {
  return leader ? state.options.planted.fetch_above_high_watermark
                : state.options.planted.follower_fetch_above_high_watermark;
}

// Reads the batches at `offset` into a response stamped with `epoch`, or the error to answer.
wire::ClientMessageT ServeFetch(Broker::State& state, uint64_t id, const HostedPartition& hosted,
                                const wire::FetchRequestT& request, uint32_t epoch, bool planted) {
  const PartitionState& partition = hosted.machine->state;
  const Offset offset(static_cast<uint64_t>(request.offset));
  wire::FetchResponseT response;
  response.epoch = epoch;
  const Offset high_watermark = partition.high_watermark();
  response.high_watermark = static_cast<int64_t>(high_watermark.value());
  response.log_start_offset = static_cast<int64_t>(partition.log_start_offset().value());
  const uint64_t bytes_max =
      ReserveFetchRead(state, std::clamp<uint64_t>(request.max_bytes, 1, wire::kFetchBytesMax));
  if (bytes_max == 0) {
    return ThrottledMessage(id, state.options.limits.shed_retry_after,
                            "the node's buffers have no room for this fetch's answer");
  }
  if (high_watermark > offset) {
    if (absl::Status s = ReadBatches(hosted, offset, high_watermark, bytes_max, response);
        !s.ok()) {
      if (absl::IsOutOfRange(s)) return OutOfRange(id, partition, request.offset);
      return ErrorMessage(id, ErrorCode::Failed, fmt::format("read failed: {}", s.ToString()));
    }
  }
  CheckFetchServesCommitted(response);
  if (planted) ServeUncommittedTailForPlantedBug(hosted, offset, bytes_max, response);
  uint64_t bytes = 0;
  for (const auto& batch : response.batches) bytes += batch->batch.size();
  state.metrics.fetch_records_bytes_total += bytes;
  if (hosted.replica->role() != raft::Role::kLeader) {
    state.metrics.fetch_follower_bytes_total += bytes;
  }
  return Message(id, std::move(response));
}

wire::ClientMessageT HandleFetch(Broker::State& state, uint64_t id,
                                 const wire::FetchRequestT& request) {
  state.metrics.fetch_requests_total++;
  wire::ClientMessageT error;
  const HostedPartition* found =
      Route(state, id, request.topic, request.partition, &error, Access::kRead);
  if (found == nullptr) return error;
  const HostedPartition hosted = *found;  // Shared pointers: safe across the long poll.
  const cluster::PartitionRecord& current =
      state.controller_machine->metadata.FindTopic(request.topic)->partitions[request.partition];
  MERIDIAN_CHECK(current.group == hosted.group, "Route found a replica of another group");
  const uint32_t epoch = current.epoch;
  if (std::optional<wire::ClientMessageT> refused = RefuseFetch(hosted, id, request, current)) {
    return *std::move(refused);
  }
  const PartitionState& partition = hosted.machine->state;
  const Offset offset(static_cast<uint64_t>(request.offset));
  const io::Duration wait = std::min<io::Duration>(std::chrono::milliseconds(request.max_wait_ms),
                                                   state.options.fetch_wait_max);
  // PLANTED BUGS (fetch-above-hwm, follower-fetch-above-hwm): the uncommitted tail is served.
  const bool planted =
      ServesTailForPlantedBug(state, hosted.replica->role() == raft::Role::kLeader);
  if (!planted || UncommittedTailForPlantedBug(hosted).end <= offset) {
    (void)hosted.machine->applied.WaitUntil(
        [&] { return partition.high_watermark() > offset || state.stopped; },
        state.runtime.Now() + wait, "fetch long poll");
  }
  if (!LeaseStillHeld(state, request.topic)) {
    return ErrorMessage(id, ErrorCode::NotLeader, "the data lease lapsed during the long poll");
  }
  if (!StillCurrentEpoch(state, hosted, epoch)) {
    MERIDIAN_PROBE("broker: a promotion during a fetch's long poll; the old epoch is not served");
    return ErrorMessage(id, ErrorCode::NotLeader, "the partition moved to a new epoch");
  }
  return ServeFetch(state, id, hosted, request, epoch, planted);
}

wire::ClientMessageT HandleListOffsets(Broker::State& state, uint64_t id,
                                       const wire::ListOffsetsRequestT& request) {
  wire::ClientMessageT error;
  const HostedPartition* hosted =
      Route(state, id, request.topic, request.partition, &error, Access::kRead);
  if (hosted == nullptr) return error;
  if (!request.allow_follower && hosted->replica->role() != raft::Role::kLeader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "not the partition leader",
                        hosted->replica->leader().value());
  }
  if (hosted->replica->role() == raft::Role::kLeader && !hosted->replica->leader_ready()) {
    return ErrorMessage(id, ErrorCode::NotLeader, "the new leader has not caught up yet",
                        hosted->replica->leader().value());
  }
  const PartitionState& partition = hosted->machine->state;
  wire::ListOffsetsResponseT response;
  switch (request.spec) {
    case wire::OffsetSpec::Earliest:
      response.offset = static_cast<int64_t>(partition.log_start_offset().value());
      break;
    case wire::OffsetSpec::Latest:
      response.offset = static_cast<int64_t>(partition.high_watermark().value());
      break;
    case wire::OffsetSpec::Timestamp:
      response.offset =
          static_cast<int64_t>(partition.OffsetForTimestamp(request.timestamp_ms).value());
      break;
    default:
      return ErrorMessage(id, ErrorCode::BadRequest, "unknown offset spec");
  }
  return Message(id, std::move(response));
}

wire::ClientMessageT HandleReplicaStatus(Broker::State& state, uint64_t id) {
  wire::ReplicaStatusResponseT response;
  response.node_id = state.options.node_id;
  for (const auto& [group, hosted] : state.partitions) {
    auto status = std::make_unique<wire::ReplicaStatusT>();
    status->topic = hosted.topic;
    status->partition = hosted.partition;
    status->group = group;
    status->role = raft::RoleName(hosted.replica->role());
    status->term = hosted.replica->term().value();
    status->leader = hosted.replica->leader().value();
    status->commit_index = hosted.replica->commit().value();
    status->applied_index = hosted.machine->state.applied().value();
    status->high_watermark = static_cast<int64_t>(hosted.machine->state.high_watermark().value());
    status->log_start_offset =
        static_cast<int64_t>(hosted.machine->state.log_start_offset().value());
    response.replicas.push_back(std::move(status));
  }
  return Message(id, std::move(response));
}

// Runs `handle` and records how long it took in `latency_ns` (metrics only).
template <typename Handler>
wire::ClientMessageT Timed(Broker::State& state, metrics::Histogram& latency_ns, Handler handle) {
  const io::Instant start = state.runtime.Now();
  wire::ClientMessageT response = handle();
  latency_ns.Observe((state.runtime.Now() - start).count());
  return response;
}

}  // namespace

wire::ClientMessageT HandleRequest(Broker::State& state, const wire::ClientMessageT& request) {
  state.metrics.requests_total++;
  const uint64_t id = request.request_id;
  const wire::BodyUnion& body = request.body;
  if (state.stopped) return ErrorMessage(id, ErrorCode::Unknown, "node is stopping");
  switch (body.type) {
    case wire::Body::MetadataRequest:
      return HandleMetadata(state, id, *body.AsMetadataRequest());
    case wire::Body::CreateTopicRequest:
      return HandleCreateTopic(state, id, *body.AsCreateTopicRequest());
    case wire::Body::DeleteTopicRequest:
      return HandleDeleteTopic(state, id, *body.AsDeleteTopicRequest());
    case wire::Body::CreatePartitionsRequest:
      return HandleCreatePartitions(state, id, *body.AsCreatePartitionsRequest());
    case wire::Body::AlterTopicConfigRequest:
      return HandleAlterTopicConfig(state, id, *body.AsAlterTopicConfigRequest());
    case wire::Body::InitProducerIdRequest:
      return HandleInitProducerId(state, id, *body.AsInitProducerIdRequest());
    case wire::Body::ProduceRequest:
      return Timed(state, state.metrics.produce_latency_ns,
                   [&] { return HandleProduce(state, id, *body.AsProduceRequest()); });
    case wire::Body::FetchRequest:
      return Timed(state, state.metrics.fetch_latency_ns,
                   [&] { return HandleFetch(state, id, *body.AsFetchRequest()); });
    case wire::Body::ListOffsetsRequest:
      return HandleListOffsets(state, id, *body.AsListOffsetsRequest());
    case wire::Body::RegisterNodeRequest:
      return HandleRegisterNode(state, id, *body.AsRegisterNodeRequest());
    case wire::Body::ReplicaStatusRequest:
      return HandleReplicaStatus(state, id);
    case wire::Body::PromotePartitionRequest:
      return HandlePromotePartition(state, id, *body.AsPromotePartitionRequest());
    case wire::Body::ReassignPartitionRequest:
      return HandleReassignPartition(state, id, *body.AsReassignPartitionRequest());
    default:
      if (std::optional<wire::ClientMessageT> response = HandleGroupRequest(state, request)) {
        return *std::move(response);
      }
      if (std::optional<wire::ClientMessageT> quota = HandleQuotaRequest(state, request)) {
        return *std::move(quota);
      }
      break;
  }
  state.metrics.request_errors_total++;
  return ErrorMessage(
      id, ErrorCode::Unsupported,
      fmt::format("not a request a node serves: {}", wire::EnumNameBody(body.type)));
}

}  // namespace meridian::core::broker
