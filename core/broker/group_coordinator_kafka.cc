// Client-side assignment in core::broker::GroupCoordinator: Kafka's JoinGroup/SyncGroup
// protocol (group_coordinator.h, core/broker/README.md "Consumer groups").
#include <fmt/format.h>

#include <algorithm>

#include "core/broker/consumer_protocol.h"
#include "core/broker/group_coordinator.h"
#include "io/assert.h"

namespace meridian::core::broker {
namespace {

using wire::ErrorCode;
using wire::ErrorMessage;
using wire::Message;

// Why a client-side join is malformed or out of bounds; empty if it is fine.
std::string CheckClientSideJoin(const wire::JoinGroupRequestT& request,
                                const GroupCoordinatorOptions& options) {
  const io::Duration session = std::chrono::milliseconds(request.session_timeout_ms);
  const io::Duration rebalance = std::chrono::milliseconds(request.rebalance_timeout_ms);
  if (request.group.empty() || request.group.size() > wire::kNameBytesMax) {
    return fmt::format("group name must be 1 to {} bytes", wire::kNameBytesMax);
  }
  if (session < options.session_timeout_min || session > options.session_timeout_max ||
      rebalance <= io::Duration{} || rebalance > options.rebalance_timeout_max) {
    return fmt::format("session timeout must be {}..{} ms, rebalance timeout 1..{} ms",
                       options.session_timeout_min.count() / 1000000,
                       options.session_timeout_max.count() / 1000000,
                       options.rebalance_timeout_max.count() / 1000000);
  }
  if (request.protocols.empty() || request.protocols.size() > GroupCoordinator::kProtocolsMax) {
    return fmt::format("a join offers 1..{} protocols", GroupCoordinator::kProtocolsMax);
  }
  for (size_t i = 0; i < request.protocols.size(); i++) {
    const auto& protocol = request.protocols[i];
    if (protocol == nullptr || protocol->name.empty() ||
        protocol->name.size() > wire::kNameBytesMax ||
        protocol->metadata.size() > GroupCoordinator::kProtocolMetadataBytesMax) {
      return fmt::format("protocol {}: a name of 1..{} bytes and metadata of <= {} bytes", i,
                         wire::kNameBytesMax, GroupCoordinator::kProtocolMetadataBytesMax);
    }
    for (size_t j = 0; j < i; j++) {
      if (request.protocols[j]->name == protocol->name) return "a protocol offered twice";
    }
  }
  if (request.member_id.size() > wire::kNameBytesMax) return "member id too long";
  return {};
}

// The subscribed topics of every protocol the member offers (their union), or why not.
absl::StatusOr<std::vector<std::string>> SubscribedTopics(const wire::JoinGroupRequestT& request) {
  std::vector<std::string> topics;
  for (const auto& protocol : request.protocols) {
    absl::StatusOr<ConsumerSubscription> subscription =
        ParseConsumerSubscription(protocol->metadata);
    if (!subscription.ok()) {
      return absl::InvalidArgumentError(fmt::format("protocol {}: {}", protocol->name,
                                                    std::string(subscription.status().message())));
    }
    topics.insert(topics.end(), subscription->topics.begin(), subscription->topics.end());
  }
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  if (topics.size() > GroupCoordinator::kSubscribedTopicsMax) {
    return absl::InvalidArgumentError("too many subscribed topics");
  }
  return topics;
}

bool Offers(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& protocols,
            const std::string& name) {
  return std::any_of(protocols.begin(), protocols.end(),
                     [&](const auto& p) { return p.first == name; });
}

size_t LargestMetadata(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& protocols) {
  size_t largest = 0;
  for (const auto& [name, metadata] : protocols) largest = std::max(largest, metadata.size());
  return largest;
}

}  // namespace

wire::ClientMessageT GroupCoordinator::JoinClientSide(uint64_t id,
                                                      const wire::JoinGroupRequestT& request,
                                                      io::Instant deadline) {
  if (request.protocol_type != kConsumerProtocolType) {
    return ErrorMessage(id, ErrorCode::InconsistentAssignor,
                        fmt::format("protocol type '{}': only '{}' is served",
                                    request.protocol_type, kConsumerProtocolType));
  }
  if (std::string why = CheckClientSideJoin(request, options_); !why.empty()) {
    return ErrorMessage(id, ErrorCode::InvalidConfig,
                        fmt::format("join of {}: {}", request.group, why));
  }
  absl::StatusOr<std::vector<std::string>> topics = SubscribedTopics(request);
  if (!topics.ok())
    return ErrorMessage(id, ErrorCode::BadRequest, std::string(topics.status().message()));
  if (!CurrentTerm()) return ErrorMessage(id, ErrorCode::NotLeader, "not the coordinator");
  if (!groups_.contains(request.group) && groups_.size() >= GroupLedger::kGroupsMax) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, "too many live groups on this coordinator");
  }
  std::shared_ptr<Group> held = Load(request.group);
  Group& group = *held;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> protocols;
  for (const auto& p : request.protocols) protocols.emplace_back(p->name, p->metadata);
  if (std::optional<wire::ClientMessageT> refused =
          RefuseClientSideJoin(id, group, request, protocols)) {
    return *std::move(refused);
  }
  std::string member_id;
  if (std::optional<wire::ClientMessageT> answer =
          ResolveMemberId(id, group, request, &member_id)) {
    return *std::move(answer);  // An error, or Kafka v4+'s "here is your id".
  }
  group.protocol_type = request.protocol_type;
  Member& member = group.members[member_id];
  member.id = member_id;
  member.client_id = request.client_id;
  member.client_host = request.client_host.substr(0, wire::kNameBytesMax);
  member.topics = *std::move(topics);
  member.protocols = std::move(protocols);
  member.session_timeout = std::chrono::milliseconds(request.session_timeout_ms);
  member.rebalance_timeout = std::chrono::milliseconds(request.rebalance_timeout_ms);
  member.last_heard = runtime_.Now();
  // Every join starts a join phase (Kafka rebalances on a leader's rejoin too; followers of a
  // stable group rarely rejoin, so the shortcut Kafka has for them is not worth its state).
  StartRebalance(group);
  member.joined = true;  // After StartRebalance, which resets everyone not parked in a join.
  return AwaitAnnouncement(
      id, request.group, member_id,
      std::min(deadline, runtime_.Now() + member.rebalance_timeout + kJoinAnswerGrace));
}

std::optional<wire::ClientMessageT> GroupCoordinator::RefuseClientSideJoin(
    uint64_t id, const Group& group, const wire::JoinGroupRequestT& request,
    const Protocols& protocols) const {
  size_t metadata_bytes = LargestMetadata(protocols);
  for (const auto& [other, member] : group.members) {
    if (other == request.member_id) continue;
    if (group.protocol_type.empty()) {
      return ErrorMessage(
          id, ErrorCode::InconsistentAssignor,
          fmt::format("group {} has native members (server-side assignment)", request.group));
    }
    // Kafka's rule: a joiner must share a protocol with every member.
    // `&member = member`: clang before 16 cannot capture a structured binding.
    const bool shared = std::any_of(
        protocols.begin(), protocols.end(),
        [&member = member](const auto& p) { return Offers(member.protocols, p.first); });
    if (!shared && !member.protocols.empty()) {
      return ErrorMessage(id, ErrorCode::InconsistentAssignor,
                          fmt::format("no protocol in common with member {}", other));
    }
    metadata_bytes += LargestMetadata(member.protocols);
  }
  if (metadata_bytes > kGroupMetadataBytesMax) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, "the group's protocol metadata is too large");
  }
  return std::nullopt;
}

std::optional<wire::ClientMessageT> GroupCoordinator::ResolveMemberId(
    uint64_t id, Group& group, const wire::JoinGroupRequestT& request, std::string* member_id) {
  std::vector<Group::PendingMemberId>& pending_ids = group.pending_member_ids;
  *member_id = request.member_id;
  const auto pending =
      std::find_if(pending_ids.begin(), pending_ids.end(),
                   [member_id](const Group::PendingMemberId& p) { return p.id == *member_id; });
  if (!member_id->empty()) {
    if (pending != pending_ids.end()) {
      pending_ids.erase(pending);  // The id a v4+ join was given: a new member now.
    } else if (!group.members.contains(*member_id)) {
      return ErrorMessage(id, ErrorCode::UnknownMemberId,
                          fmt::format("{} is not a member of group {}", *member_id, request.group));
    }
    return std::nullopt;
  }
  if (group.members.size() >= GroupLedger::kMembersMax) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, "the group has too many members");
  }
  *member_id = fmt::format("{}-{}-{}", request.client_id.empty() ? "member" : request.client_id,
                           term_, ++members_made_);
  if (member_id->size() > wire::kNameBytesMax) {
    *member_id = fmt::format("member-{}-{}", term_, members_made_);
  }
  if (!request.require_known_member_id) return std::nullopt;
  // Kafka v4+ (KIP-394): the member learns its id first and joins again with it.
  if (pending_ids.size() >= kPendingMemberIdsMax) pending_ids.erase(pending_ids.begin());
  pending_ids.push_back(
      {*member_id, runtime_.Now() + std::chrono::milliseconds(request.session_timeout_ms)});
  wire::JoinGroupResponseT response;
  response.member_id = *member_id;
  response.generation = -1;
  response.member_id_required = true;
  return Message(id, std::move(response));
}

wire::ClientMessageT GroupCoordinator::AwaitAnnouncement(uint64_t id, const std::string& name,
                                                         const std::string& member_id,
                                                         io::Instant deadline) {
  const std::shared_ptr<Group> group = groups_.at(name);  // Outlives a drop of the live state.
  const uint64_t round = group->join_rounds;
  if (std::optional<wire::ClientMessageT> refused = ParkJoin(id, *group, member_id, deadline, [&] {
        return group->join_rounds > round && !group->rebalancing;
      })) {
    return std::move(*refused);
  }
  return KafkaJoinResponse(id, *group, member_id);
}

wire::ClientMessageT GroupCoordinator::KafkaJoinResponse(uint64_t id, const Group& group,
                                                         const std::string& member_id) {
  MERIDIAN_CHECK(group.members.contains(member_id));
  MERIDIAN_CHECK(group.members.contains(group.leader));
  wire::JoinGroupResponseT response;
  response.member_id = member_id;
  response.generation = group.announced();
  response.members = static_cast<uint32_t>(group.members.size());
  response.protocol = group.protocol;
  response.leader = group.leader;
  if (member_id == group.leader) {
    for (const auto& [other, member] : group.members) {
      auto out = std::make_unique<wire::GroupMemberBytesT>();
      out->member_id = other;
      for (const auto& [name, metadata] : member.protocols) {
        if (name == group.protocol) out->bytes = metadata;
      }
      response.member_metadata.push_back(std::move(out));
    }
  }
  return Message(id, std::move(response));
}

void GroupCoordinator::AnnounceJoin(Group& group) {
  MERIDIAN_CHECK(!group.members.empty());
  MERIDIAN_CHECK(!group.proposing);
  // Kafka's choice: among the protocols every member offers, the one most members prefer
  // (each votes for the first of its own list that all offer); ties go to the first name.
  absl::btree_map<std::string, size_t> votes;
  for (const auto& [id, member] : group.members) {
    for (const auto& [name, metadata] : member.protocols) {
      const bool everyone =
          std::all_of(group.members.begin(), group.members.end(),
                      [&name = name](const auto& m) { return Offers(m.second.protocols, name); });
      if (everyone) {
        votes[name]++;
        break;
      }
    }
  }
  // Joins were refused unless they shared a protocol with every member, so there is a choice.
  MERIDIAN_CHECK(!votes.empty());
  group.protocol = std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
                     return a.second < b.second;
                   })->first;
  if (!group.members.contains(group.leader)) group.leader = group.members.begin()->first;
  for (auto& [id, member] : group.members) {
    member.joined = false;
    member.last_heard = runtime_.Now();  // Each has a session to send its SyncGroup in.
  }
  group.rebalancing = false;
  group.awaiting_sync = true;
  group.join_rounds++;
  group.changed.NotifyAll();
}

wire::ClientMessageT GroupCoordinator::Sync(uint64_t id, const wire::SyncGroupRequestT& request,
                                            io::Instant deadline) {
  wire::ClientMessageT error;
  std::shared_ptr<Group> group = FindMember(id, request.group, request.member_id, &error);
  if (group == nullptr) return error;
  Member& member = group->members.at(request.member_id);
  member.last_heard = runtime_.Now();
  if (group->protocol_type.empty()) {
    return ErrorMessage(id, ErrorCode::InconsistentAssignor,
                        "a server-side group: its assignment comes with the join");
  }
  if (group->rebalancing) return ErrorMessage(id, ErrorCode::RebalanceInProgress, "rejoin");
  if (request.generation != group->announced()) {
    return ErrorMessage(id, ErrorCode::IllegalGeneration,
                        fmt::format("generation {} is current", group->announced()));
  }
  if (group->awaiting_sync && request.member_id == group->leader && !group->proposing) {
    return WriteLeaderAssignment(id, request.group, group, request, deadline);
  }
  return AwaitSync(id, group, request,
                   std::min(deadline, runtime_.Now() + member.rebalance_timeout));
}

wire::ClientMessageT GroupCoordinator::AwaitSync(uint64_t id, std::shared_ptr<Group> group,
                                                 const wire::SyncGroupRequestT& request,
                                                 io::Instant deadline) {
  const uint64_t epoch = epoch_;
  group->members.at(request.member_id).syncing++;
  bool gone = false;
  const auto written = [&] { return group->generation >= request.generation; };
  const auto done = [&] {
    if (epoch_ != epoch || written()) return true;
    if (!group->members.contains(request.member_id)) return gone = true;
    return group->rebalancing && !group->proposing;
  };
  absl::Status waited = group->changed.WaitUntil(done, deadline, "group sync");
  if (epoch_ != epoch) return ErrorMessage(id, ErrorCode::NotLeader, "the coordinator moved");
  if (gone) return ErrorMessage(id, ErrorCode::UnknownMemberId, "removed from the group");
  group->members.at(request.member_id).syncing--;
  if (!waited.ok() || !written() || group->generation != request.generation) {
    return ErrorMessage(id, ErrorCode::RebalanceInProgress, "the group is rebalancing: rejoin");
  }
  wire::SyncGroupResponseT response;
  response.protocol = group->protocol;
  if (auto it = group->kafka_assignments.find(request.member_id);
      it != group->kafka_assignments.end()) {
    response.assignment = it->second;
  }
  return Message(id, std::move(response));
}

namespace {

// The leader's assignment checked: each known member's bytes parsed, no partition owned twice.
// Assignments for members the group no longer has are dropped (one may have left since the
// join phase ended); members without one get nothing.
struct CheckedAssignment {
  absl::btree_map<std::string, std::vector<TopicPartitionKey>> partitions;
  absl::btree_map<std::string, std::vector<uint8_t>> bytes;
};

absl::StatusOr<CheckedAssignment> CheckLeaderAssignment(
    const wire::SyncGroupRequestT& request,
    const std::function<bool(const std::string&)>& is_member) {
  if (request.assignments.size() > GroupLedger::kMembersMax) {
    return absl::InvalidArgumentError("more assignments than a group has members");
  }
  CheckedAssignment out;
  absl::btree_map<TopicPartitionKey, std::string> owner;
  size_t total_bytes = 0;
  for (const auto& assignment : request.assignments) {
    if (assignment == nullptr) return absl::InvalidArgumentError("an empty assignment entry");
    const std::string& member = assignment->member_id;
    total_bytes += assignment->bytes.size();
    if (assignment->bytes.size() > GroupCoordinator::kAssignmentBytesMax ||
        total_bytes > GroupCoordinator::kGenerationAssignmentBytesMax) {
      return absl::InvalidArgumentError("the assignment is too large");
    }
    if (out.bytes.contains(member)) {
      return absl::InvalidArgumentError(fmt::format("two assignments for member {}", member));
    }
    if (!is_member(member)) continue;
    absl::StatusOr<ConsumerAssignment> parsed = ParseConsumerAssignment(assignment->bytes);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("the assignment of {}: {}", member, std::string(parsed.status().message())));
    }
    for (const TopicPartitionKey& tp : parsed->partitions) {
      auto [it, added] = owner.emplace(tp, member);
      if (!added) {
        // The ledger's fence needs one owner per partition: refuse rather than record two.
        return absl::InvalidArgumentError(fmt::format("{}/{} is assigned to both {} and {}",
                                                      tp.first, tp.second, it->second, member));
      }
    }
    out.partitions[member] = std::move(parsed->partitions);
    out.bytes[member] = assignment->bytes;
  }
  return out;
}

}  // namespace

wire::ClientMessageT GroupCoordinator::WriteLeaderAssignment(uint64_t id, const std::string& name,
                                                             std::shared_ptr<Group> held,
                                                             const wire::SyncGroupRequestT& request,
                                                             io::Instant deadline) {
  Group& group = *held;
  absl::StatusOr<CheckedAssignment> checked = CheckLeaderAssignment(
      request, [&](const std::string& member) { return group.members.contains(member); });
  if (!checked.ok()) {
    StartRebalance(group);  // The followers waiting for it rejoin rather than time out.
    return ErrorMessage(id, ErrorCode::BadRequest, std::string(checked.status().message()));
  }
  wire::GroupGenerationRecordT record;
  record.group = name;
  record.generation = group.generation + 1;
  record.protocol_type = group.protocol_type;
  record.protocol = group.protocol;
  for (const auto& [member_id, member] : group.members) {
    auto out = std::make_unique<wire::GroupMemberRecordT>();
    out->member_id = member_id;
    out->client_id = member.client_id;
    out->topics = member.topics;
    out->assignment = ToWire(checked->partitions[member_id]);
    out->kafka_assignment = checked->bytes[member_id];
    out->session_timeout_ms = static_cast<uint32_t>(member.session_timeout.count() / 1000000);
    out->rebalance_timeout_ms = static_cast<uint32_t>(member.rebalance_timeout.count() / 1000000);
    record.members.push_back(std::move(out));
  }
  const uint64_t epoch = epoch_;
  group.proposing = true;
  GroupOutcome outcome;
  wire::ClientMessageT error = ProposeRecord(
      id, GroupLedger::EncodeGeneration(record, runtime_.WallClockMillis()), deadline, &outcome);
  if (epoch_ != epoch) return ErrorMessage(id, ErrorCode::NotLeader, "the coordinator moved");
  group.proposing = false;
  group.rerun = false;  // A rebalance started meanwhile stays started (StartRebalance ran).
  if (outcome.result != GroupResult::kAccepted) {
    Resync(name, group);  // A delete decided first: the group starts again from generation 0.
    StartRebalance(group);
    return error;
  }
  if (options_.on_generation_written) options_.on_generation_written();
  group.generation = record.generation;
  group.writes++;
  group.assignment = std::move(checked->partitions);
  group.kafka_assignments = std::move(checked->bytes);
  group.awaiting_sync = false;
  group.changed.NotifyAll();
  wire::SyncGroupResponseT response;
  response.protocol = group.protocol;
  response.assignment = group.kafka_assignments[request.member_id];
  return Message(id, std::move(response));
}

}  // namespace meridian::core::broker
