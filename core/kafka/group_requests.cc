// The consumer-group APIs, translated into Meridian's group requests (core/wire/client.fbs
// "Consumer groups") and handed to the broker: FindCoordinator goes to the controller leader
// (which creates "__consumer_offsets"), the others (DeleteGroups too) to this node's
// coordinator of the group, which answers NotLeader (Kafka's NOT_COORDINATOR) when this node is
// not it. The group semantics (members, generations, fencing) are core/broker's; only
// translation is here.
#include <fmt/format.h>

#include <algorithm>

#include "absl/container/btree_map.h"
#include "core/broker/consumer_protocol.h"
#include "core/kafka/group_messages.h"
#include "core/kafka/session_internal.h"
#include "core/kafka/translate.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::kafka {
namespace {

bool ValidGroupId(const std::string& group) {
  return !group.empty() && group.size() <= wire::kNameBytesMax;
}

// The Kafka error for a coordinator's answer (none if it is not an error). A NotLeader whose
// leader hint is this node means this node leads the group's partition but is not ready yet
// (a new leader catching up on the ledger): COORDINATOR_LOAD_IN_PROGRESS, retried in place.
int16_t GroupError(Session& session, const wire::ClientMessageT& answer) {
  const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
  if (error == nullptr) return error::kNone;
  if (error->code == wire::ErrorCode::NotLeader && error->leader == session.broker.node_id()) {
    return error::kCoordinatorLoadInProgress;
  }
  return KafkaErrorCode(error->code, RequestKind::kGroup);
}

// The client id a member is known by: the Kafka header's, bounded like a name.
std::string ClientId(const RequestFrame& frame) {
  std::string id = frame.header.client_id.value_or("");
  if (id.size() > wire::kNameBytesMax) id.resize(wire::kNameBytesMax);
  return id;
}

// A member's host as Kafka reports it ("/127.0.0.1"): the connection's peer without its port.
std::string ClientHost(const io::Stream& stream) {
  std::string peer = stream.peer();
  if (const size_t colon = peer.rfind(':'); colon != std::string::npos) peer.resize(colon);
  if (peer.size() >= 2 && peer.front() == '[' && peer.back() == ']') {
    peer = peer.substr(1, peer.size() - 2);
  }
  if (peer.size() >= wire::kNameBytesMax) peer.resize(wire::kNameBytesMax - 1);
  return "/" + peer;
}

}  // namespace

Outcome HandleFindCoordinator(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<FindCoordinatorRequest> request = DecodeFindCoordinatorRequest(frame.body, v);
  if (!request.ok()) return Close();
  FindCoordinatorResponse response;
  response.error_code = error::kCoordinatorNotAvailable;
  if (request->key_type != 0) {
    response.error_message = "only group coordinators exist (no transactions)";
    return Respond(EncodeFindCoordinatorResponse(response, v));
  }
  if (!ValidGroupId(request->key)) {
    response.error_code = error::kInvalidGroupId;
    return Respond(EncodeFindCoordinatorResponse(response, v));
  }
  wire::FindCoordinatorRequestT find;
  find.group = request->key;
  const wire::ClientMessageT answer =
      CallControllerLeader(session, wire::Message(++session.meridian_request_id, std::move(find)));
  const wire::FindCoordinatorResponseT* found = answer.body.AsFindCoordinatorResponse();
  if (found == nullptr || found->topic == nullptr) {
    const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
    response.error_message = error != nullptr ? error->message : "no coordinator";
    return Respond(EncodeFindCoordinatorResponse(response, v));
  }
  uint32_t leader = 0;
  for (const auto& partition : found->topic->partitions) {
    if (partition != nullptr && partition->partition == found->partition) {
      leader = partition->leader;
    }
  }
  const auto& nodes = session.broker.metadata().nodes();
  auto node = nodes.find(leader);
  std::optional<MetadataBroker> broker =
      node == nodes.end() ? std::nullopt
                          : KafkaBrokerAt(leader, node->second.kafka_address, node->second.region);
  if (!broker.has_value()) {
    // No leader yet (the offsets topic was just created), or it has no Kafka listener.
    response.error_message =
        fmt::format("the coordinator (node {}) is not reachable over Kafka", leader);
    return Respond(EncodeFindCoordinatorResponse(response, v));
  }
  response.error_code = error::kNone;
  response.node_id = broker->node_id;
  response.host = broker->host;
  response.port = broker->port;
  return Respond(EncodeFindCoordinatorResponse(response, v));
}

Outcome HandleJoinGroup(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<JoinGroupRequest> request = DecodeJoinGroupRequest(frame.body, v);
  if (!request.ok()) return Close();
  JoinGroupResponse response;
  response.member_id = request->member_id;
  if (!ValidGroupId(request->group_id)) {
    response.error_code = error::kInvalidGroupId;
    return Respond(EncodeJoinGroupResponse(response, v));
  }
  if (request->session_timeout_ms <= 0 || request->rebalance_timeout_ms <= 0) {
    response.error_code = error::kInvalidSessionTimeout;
    return Respond(EncodeJoinGroupResponse(response, v));
  }
  if (request->protocols.empty()) {
    response.error_code = error::kInconsistentGroupProtocol;
    return Respond(EncodeJoinGroupResponse(response, v));
  }
  wire::JoinGroupRequestT join;
  join.group = request->group_id;
  join.member_id = request->member_id;
  join.client_id = ClientId(frame);
  join.client_host = ClientHost(*session.stream);
  join.session_timeout_ms = static_cast<uint32_t>(request->session_timeout_ms);
  join.rebalance_timeout_ms = static_cast<uint32_t>(request->rebalance_timeout_ms);
  join.protocol_type = request->protocol_type;
  join.require_known_member_id = v >= 4;  // KIP-394: v4+ clients handle MEMBER_ID_REQUIRED.
  for (GroupProtocolBytes& protocol : request->protocols) {
    auto out = std::make_unique<wire::GroupProtocolT>();
    out->name = std::move(protocol.name);
    out->metadata = std::move(protocol.bytes);
    join.protocols.push_back(std::move(out));
  }
  const wire::ClientMessageT answer = Call(session, std::move(join));
  const wire::JoinGroupResponseT* joined = answer.body.AsJoinGroupResponse();
  if (joined == nullptr) {
    response.error_code = GroupError(session, answer);
    if (response.error_code == error::kNone) response.error_code = error::kUnknownServerError;
    return Respond(EncodeJoinGroupResponse(response, v));
  }
  response.member_id = joined->member_id;
  if (joined->member_id_required) {
    response.error_code = error::kMemberIdRequired;
    return Respond(EncodeJoinGroupResponse(response, v));
  }
  response.generation_id = joined->generation;
  response.protocol_name = joined->protocol;
  response.leader = joined->leader;
  for (const auto& member : joined->member_metadata) {
    response.members.push_back({member->member_id, member->bytes});
  }
  return Respond(EncodeJoinGroupResponse(response, v));
}

Outcome HandleSyncGroup(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<SyncGroupRequest> request = DecodeSyncGroupRequest(frame.body, v);
  if (!request.ok()) return Close();
  SyncGroupResponse response;
  if (!ValidGroupId(request->group_id)) {
    response.error_code = error::kInvalidGroupId;
    return Respond(EncodeSyncGroupResponse(response, v));
  }
  wire::SyncGroupRequestT sync;
  sync.group = request->group_id;
  sync.member_id = request->member_id;
  sync.generation = request->generation_id;
  for (GroupProtocolBytes& assignment : request->assignments) {
    auto out = std::make_unique<wire::GroupMemberBytesT>();
    out->member_id = std::move(assignment.name);
    out->bytes = std::move(assignment.bytes);
    sync.assignments.push_back(std::move(out));
  }
  const wire::ClientMessageT answer = Call(session, std::move(sync));
  if (const wire::SyncGroupResponseT* synced = answer.body.AsSyncGroupResponse()) {
    response.assignment = synced->assignment;
  } else {
    response.error_code = GroupError(session, answer);
    if (response.error_code == error::kNone) response.error_code = error::kUnknownServerError;
  }
  return Respond(EncodeSyncGroupResponse(response, v));
}

Outcome HandleHeartbeat(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<HeartbeatRequest> request = DecodeHeartbeatRequest(frame.body, v);
  if (!request.ok()) return Close();
  if (!ValidGroupId(request->group_id)) {
    return Respond(EncodeHeartbeatResponse(error::kInvalidGroupId, v));
  }
  wire::HeartbeatRequestT heartbeat;
  heartbeat.group = request->group_id;
  heartbeat.member_id = request->member_id;
  heartbeat.generation = request->generation_id;
  const wire::ClientMessageT answer = Call(session, std::move(heartbeat));
  return Respond(EncodeHeartbeatResponse(GroupError(session, answer), v));
}

Outcome HandleLeaveGroup(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<LeaveGroupRequest> request = DecodeLeaveGroupRequest(frame.body, v);
  if (!request.ok()) return Close();
  LeaveGroupResponse response;
  if (!ValidGroupId(request->group_id)) {
    response.error_code = error::kInvalidGroupId;
    return Respond(EncodeLeaveGroupResponse(response, v));
  }
  for (const std::string& member_id : request->member_ids) {
    wire::LeaveGroupRequestT leave;
    leave.group = request->group_id;
    leave.member_id = member_id;
    const int16_t code = GroupError(session, Call(session, std::move(leave)));
    response.members.emplace_back(member_id, code);
    // The request's own error: v0-2 have only that; v3 uses it for the coordinator's errors.
    const bool coordinator_error = code == error::kNotCoordinator ||
                                   code == error::kCoordinatorLoadInProgress ||
                                   code == error::kCoordinatorNotAvailable;
    if (v <= 2 || coordinator_error) response.error_code = code;
  }
  return Respond(EncodeLeaveGroupResponse(response, v));
}

namespace {

// Kafka's bound on commit metadata; Meridian's coordinator keeps at most as much.
constexpr size_t kCommitMetadataBytesMax = 4096;

// A partition the commit cannot carry: why, or none.
int16_t CommitPartitionError(const OffsetCommitPartition& partition) {
  if (partition.partition < 0) return error::kUnknownTopicOrPartition;
  if (partition.offset < 0) return error::kInvalidRequest;
  if (partition.metadata.value_or("").size() > kCommitMetadataBytesMax) {
    return error::kOffsetMetadataTooLarge;
  }
  return error::kNone;
}

}  // namespace

Outcome HandleOffsetCommit(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<OffsetCommitRequest> request = DecodeOffsetCommitRequest(frame.body, v);
  if (!request.ok()) return Close();
  // A member's commit (its generation) or a "simple" one (generation -1, no member id: an
  // admin commit, accepted only while the group has no members).
  wire::OffsetCommitRequestT commit;
  commit.group = request->group_id;
  commit.member_id = request->member_id;
  commit.generation = request->generation_id;
  OffsetCommitResponse response;
  for (const auto& [name, partitions] : request->topics) {
    auto& answers = response.emplace_back(name, std::vector<std::pair<int32_t, int16_t>>{}).second;
    for (const OffsetCommitPartition& partition : partitions) {
      answers.emplace_back(partition.partition, CommitPartitionError(partition));
      if (answers.back().second != error::kNone) continue;
      auto offset = std::make_unique<wire::PartitionOffsetT>();
      offset->topic = name;
      offset->partition = static_cast<uint32_t>(partition.partition);
      offset->offset = partition.offset;
      offset->metadata = partition.metadata.value_or("");
      commit.offsets.push_back(std::move(offset));
    }
  }
  int16_t code = ValidGroupId(request->group_id) ? error::kNone : error::kInvalidGroupId;
  if (code == error::kNone && !commit.offsets.empty()) {
    // One commit, decided whole by the ledger: every partition it carries gets its answer.
    code = GroupError(session, Call(session, std::move(commit)));
  }
  for (auto& [name, answers] : response) {
    for (auto& [partition, error_code] : answers) {
      if (error_code == error::kNone) error_code = code;
    }
  }
  return Respond(EncodeOffsetCommitResponse(response, v));
}

Outcome HandleOffsetFetch(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<OffsetFetchRequest> request = DecodeOffsetFetchRequest(frame.body, v);
  if (!request.ok()) return Close();
  OffsetFetchResponse response;
  wire::OffsetFetchRequestT fetch;
  fetch.group = request->group_id;
  if (request->topics.has_value()) {
    for (const auto& [name, partitions] : *request->topics) fetch.topics.push_back(name);
  }
  // Committed offsets by (topic, partition).
  absl::btree_map<std::pair<std::string, int32_t>, const wire::PartitionOffsetT*> committed;
  wire::ClientMessageT answer;
  if (!ValidGroupId(request->group_id)) {
    response.error_code = error::kInvalidGroupId;
  } else if (request->topics.has_value() && fetch.topics.empty()) {
    // Nothing asked: nothing to look up.
  } else {
    answer = Call(session, std::move(fetch));
    if (const wire::OffsetFetchResponseT* fetched = answer.body.AsOffsetFetchResponse()) {
      for (const auto& offset : fetched->offsets) {
        if (offset == nullptr || offset->partition > INT32_MAX) continue;
        committed[{offset->topic, static_cast<int32_t>(offset->partition)}] = offset.get();
      }
    } else {
      response.error_code = GroupError(session, answer);
    }
  }
  const auto entry = [&](const std::string& topic, int32_t partition) {
    OffsetFetchPartition out;
    out.partition = partition;
    out.error_code = response.error_code;
    if (auto it = committed.find({topic, partition}); it != committed.end()) {
      out.offset = it->second->offset;
      out.metadata = it->second->metadata;
    } else {
      out.metadata = "";  // Kafka answers an empty string (not null) with offset -1.
    }
    return out;
  };
  if (request->topics.has_value()) {
    for (const auto& [name, partitions] : *request->topics) {
      auto& out = response.topics.emplace_back(name, std::vector<OffsetFetchPartition>{}).second;
      for (int32_t partition : partitions) out.push_back(entry(name, partition));
    }
  } else {
    for (const auto& [key, offset] : committed) {
      if (response.topics.empty() || response.topics.back().first != key.first) {
        response.topics.emplace_back(key.first, std::vector<OffsetFetchPartition>{});
      }
      response.topics.back().second.push_back(entry(key.first, key.second));
    }
  }
  return Respond(EncodeOffsetFetchResponse(response, v));
}

// ListGroups: the groups whose coordinator is this node (Kafka's tools ask every broker), read
// with one DescribeGroups request per partition of "__consumer_offsets" this node leads, names
// only and at most KafkaSessionLimits::listed_groups_max in all (session.h: v0-2 have no paging,
// and the coordinator builds no more than asked). Every Meridian group is a consumer group:
// protocol type "consumer".
Outcome HandleListGroups(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  if (!frame.body.empty()) return Close();  // v0-2 requests have no fields.
  ListGroupsResponse response;
  const std::string topic(wire::kOffsetsTopic);
  const cluster::TopicRecord* offsets = session.broker.metadata().FindTopic(topic);
  const uint32_t partitions =
      offsets == nullptr ? 0 : static_cast<uint32_t>(offsets->partitions.size());
  for (uint32_t partition = 0; partition < partitions; partition++) {
    if (!session.broker.LeadsPartition(topic, partition)) continue;
    const size_t room = session.limits.listed_groups_max - response.groups.size();
    if (room == 0) break;
    wire::DescribeGroupsRequestT describe;
    describe.partition = partition;
    describe.names_only = true;
    describe.groups_max = static_cast<uint32_t>(std::min<size_t>(room, UINT32_MAX));
    const wire::ClientMessageT answer = Call(session, std::move(describe));
    if (const wire::DescribeGroupsResponseT* described = answer.body.AsDescribeGroupsResponse()) {
      for (const auto& group : described->groups) {
        if (response.groups.size() >= session.limits.listed_groups_max) break;
        if (group != nullptr) response.groups.push_back({group->group, "consumer"});
      }
    } else if (response.error_code == error::kNone) {
      response.error_code = GroupError(session, answer);
    }
  }
  MERIDIAN_CHECK(response.groups.size() <= session.limits.listed_groups_max);
  if (response.groups.size() == session.limits.listed_groups_max) {
    MERIDIAN_PROBE("kafka: ListGroups answered at its bound");
  }
  return Respond(EncodeListGroupsResponse(response, v));
}

namespace {

// Kafka's name for a group's state (GroupState in Kafka's coordinator).
std::string KafkaGroupState(const wire::GroupInfoT& group) {
  if (group.state == "empty") return "Empty";
  if (group.state == "stable") return "Stable";
  return group.awaiting_assignment ? "CompletingRebalance" : "PreparingRebalance";
}

// A server-side (native) group's assignor as a Kafka protocol name.
std::string AssignorProtocol(wire::Assignor assignor) {
  switch (assignor) {
    case wire::Assignor::RoundRobin:
      return "roundrobin";
    case wire::Assignor::Sticky:
      return "sticky";
    default:
      return "range";
  }
}

// A member as Kafka describes it. In a Stable group, its ConsumerProtocol subscription and
// assignment: the bytes the member itself sent and was given (Kafka members), or encoded from
// the ledger (native members, and a Kafka member whose join another coordinator took).
DescribedMember KafkaMember(const wire::GroupMemberInfoT& member, bool with_bytes) {
  DescribedMember out{.member_id = member.member_id,
                      .client_id = member.client_id,
                      .client_host = member.client_host};
  if (!with_bytes) return out;
  out.metadata = member.protocol_metadata.empty()
                     ? broker::EncodeConsumerSubscription(member.topics)
                     : member.protocol_metadata;
  if (!member.kafka_assignment.empty()) {
    out.assignment = member.kafka_assignment;
    return out;
  }
  std::vector<broker::TopicPartitionKey> partitions;
  for (const auto& topic : member.assignment) {
    if (topic == nullptr) continue;
    for (uint32_t p : topic->partitions) partitions.emplace_back(topic->topic, p);
  }
  out.assignment = broker::EncodeConsumerAssignment(partitions);
  return out;
}

void FillDescribedGroup(const wire::GroupInfoT& info, DescribedGroup& out) {
  out.state = KafkaGroupState(info);
  out.protocol_type = info.protocol_type.empty() ? "consumer" : info.protocol_type;
  // As Kafka: the protocol, and the members' bytes, only once the group is Stable.
  const bool stable = out.state == "Stable";
  if (stable)
    out.protocol = info.protocol.empty() ? AssignorProtocol(info.assignor) : info.protocol;
  for (const auto& member : info.members) {
    if (member != nullptr) out.members.push_back(KafkaMember(*member, stable));
  }
}

// One group, asked of its coordinator (this node, or NOT_COORDINATOR). A group the coordinator
// has never heard of is Dead, as in Kafka.
DescribedGroup DescribeGroup(Session& session, const std::string& group) {
  DescribedGroup out{.group_id = group};
  if (!ValidGroupId(group)) {
    out.error_code = error::kInvalidGroupId;  // Not echoed anywhere but the group_id field.
    return out;
  }
  const cluster::TopicRecord* offsets =
      session.broker.metadata().FindTopic(std::string(wire::kOffsetsTopic));
  if (offsets == nullptr || offsets->partitions.empty()) {
    out.error_code = error::kCoordinatorNotAvailable;
    return out;
  }
  wire::DescribeGroupsRequestT describe;
  describe.group = group;
  describe.partition =
      wire::GroupPartition(group, static_cast<uint32_t>(offsets->partitions.size()));
  const wire::ClientMessageT answer = Call(session, std::move(describe));
  const wire::DescribeGroupsResponseT* described = answer.body.AsDescribeGroupsResponse();
  if (described == nullptr) {
    out.error_code = GroupError(session, answer);
    if (out.error_code == error::kNone) out.error_code = error::kUnknownServerError;
    return out;
  }
  if (described->groups.empty() || described->groups.front() == nullptr) {
    out.state = "Dead";
    return out;
  }
  FillDescribedGroup(*described->groups.front(), out);
  return out;
}

// What one described group adds to a response, in bytes (its fields' lengths and sizes).
size_t DescribedBytes(const DescribedGroup& group) {
  size_t bytes = 24 + group.group_id.size() + group.state.size() + group.protocol_type.size() +
                 group.protocol.size();
  for (const DescribedMember& member : group.members) {
    bytes += 24 + member.member_id.size() + member.client_id.size() + member.client_host.size() +
             member.metadata.size() + member.assignment.size();
  }
  return bytes;
}

}  // namespace

// DescribeGroups: each group from its coordinator's DescribeGroupsRequest (the same answer
// `meridian group describe` gets), translated into Kafka's states and ConsumerProtocol bytes.
// Past KafkaSessionLimits::described_groups_bytes_max the rest are answered retriably, not
// described (session.h).
Outcome HandleDescribeGroups(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<DescribeGroupsRequest> request = DecodeDescribeGroupsRequest(frame.body, v);
  if (!request.ok()) return Close();
  std::vector<DescribedGroup> groups;
  size_t bytes = 0;
  for (const std::string& group : request->groups) {
    if (bytes >= session.limits.described_groups_bytes_max) {
      MERIDIAN_PROBE("kafka: DescribeGroups answered past its byte bound");
      groups.push_back({.error_code = error::kCoordinatorLoadInProgress, .group_id = group});
      continue;
    }
    groups.push_back(DescribeGroup(session, group));
    bytes += DescribedBytes(groups.back());
  }
  return Respond(EncodeDescribeGroupsResponse(groups, v));
}

namespace {

// One group deleted by its coordinator (this node, or NOT_COORDINATOR): the request `meridian
// group delete` sends. Kafka's codes: NON_EMPTY_GROUP while it has live members (or changed
// while being deleted), GROUP_ID_NOT_FOUND for a group the coordinator does not hold.
int16_t DeleteGroup(Session& session, const std::string& group) {
  if (!ValidGroupId(group)) return error::kInvalidGroupId;
  wire::DeleteGroupRequestT remove;
  remove.group = group;
  const wire::ClientMessageT answer = Call(session, std::move(remove));
  if (answer.body.AsDeleteGroupResponse() != nullptr) return error::kNone;
  const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
  if (error == nullptr) return error::kUnknownServerError;
  // GroupNotEmpty means UNKNOWN_MEMBER_ID to a commit (GroupError); to a delete, what it says.
  if (error->code == wire::ErrorCode::GroupNotEmpty) return error::kNonEmptyGroup;
  return GroupError(session, answer);
}

}  // namespace

// DeleteGroups: each group deleted by its coordinator's DeleteGroupRequest (a record of the
// group's ledger, core/broker GroupCoordinator::Delete). At most
// KafkaSessionLimits::deleted_groups_max groups of one request reach a coordinator; the rest
// are answered retriably without being looked up (session.h).
Outcome HandleDeleteGroups(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<DeleteGroupsRequest> request = DecodeDeleteGroupsRequest(frame.body, v);
  if (!request.ok()) return Close();
  DeleteGroupsResponse results;
  results.reserve(request->groups.size());
  size_t asked = 0;
  for (const std::string& group : request->groups) {
    if (ValidGroupId(group) && asked == session.limits.deleted_groups_max) {
      MERIDIAN_PROBE("kafka: DeleteGroups answered past its bound");
      results.emplace_back(group, error::kCoordinatorLoadInProgress);
      continue;
    }
    asked += ValidGroupId(group) ? 1 : 0;
    results.emplace_back(group, DeleteGroup(session, group));
  }
  MERIDIAN_CHECK(asked <= session.limits.deleted_groups_max);
  MERIDIAN_CHECK(results.size() == request->groups.size());
  return Respond(EncodeDeleteGroupsResponse(results, v));
}

}  // namespace meridian::core::kafka
