#include "core/broker/group_coordinator.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/cluster/metadata.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

using wire::ErrorCode;
using wire::ErrorMessage;
using wire::Message;

ErrorCode LedgerError(GroupResult result) {
  switch (result) {
    case GroupResult::kAccepted:
      return ErrorCode::None;
    case GroupResult::kIllegalGeneration:
      return ErrorCode::IllegalGeneration;
    case GroupResult::kUnknownMember:
      return ErrorCode::UnknownMemberId;
    case GroupResult::kGroupNotEmpty:
      return ErrorCode::GroupNotEmpty;
    case GroupResult::kGroupNotFound:
      return ErrorCode::GroupIdNotFound;
    case GroupResult::kInvalid:
      break;
  }
  return ErrorCode::BadRequest;
}

absl::Status ValidateGroupName(const std::string& group) {
  if (group.empty() || group.size() > wire::kNameBytesMax) {
    return absl::InvalidArgumentError(
        fmt::format("group name must be 1 to {} bytes", wire::kNameBytesMax));
  }
  return absl::OkStatus();
}

}  // namespace

GroupCoordinator::GroupCoordinator(io::Runtime& runtime, HostedPartition partition,
                                   GroupCoordinatorOptions options,
                                   PartitionCounts partition_counts)
    : runtime_(runtime),
      partition_(std::move(partition)),
      options_(options),
      partition_counts_(std::move(partition_counts)) {
  MERIDIAN_CHECK(partition_.machine->ledger != nullptr);
}

bool GroupCoordinator::CurrentTerm() {
  const replica::Replica& replica = *partition_.replica;
  const uint64_t term = replica.leader_ready() ? replica.term().value() : 0;
  if (term != term_) {
    // Leadership moved (or came back in a new term): the live state is someone else's now.
    term_ = term;
    epoch_++;
    for (auto& [name, group] : groups_) group->changed.NotifyAll();
    groups_.clear();
  }
  return term_ != 0;
}

std::shared_ptr<GroupCoordinator::Group> GroupCoordinator::Load(const std::string& name) {
  auto found = groups_.find(name);
  if (found != groups_.end()) return found->second;
  auto group = std::make_shared<Group>(runtime_);
  if (const LedgerGroup* decided = partition_.machine->ledger->Find(name)) {
    group->generation = decided->generation;
    group->assignor = decided->assignor;
    group->protocol_type = decided->protocol_type;
    group->protocol = decided->protocol;
    for (const LedgerMember& m : decided->members) {
      // Presumed alive for one session: the new coordinator has not heard from anyone yet.
      Member member;
      member.id = m.member_id;
      member.client_id = m.client_id;
      member.topics = m.topics;
      member.assignor = decided->assignor;
      member.session_timeout =
          std::clamp<io::Duration>(std::chrono::milliseconds(m.session_timeout_ms),
                                   options_.session_timeout_min, options_.session_timeout_max);
      member.rebalance_timeout =
          std::clamp<io::Duration>(std::chrono::milliseconds(m.rebalance_timeout_ms),
                                   std::chrono::milliseconds(1), options_.rebalance_timeout_max);
      member.last_heard = runtime_.Now();
      group->members.emplace(m.member_id, std::move(member));
      group->assignment[m.member_id] = m.assignment;
      if (!decided->protocol_type.empty())
        group->kafka_assignments[m.member_id] = m.kafka_assignment;
    }
  }
  groups_.emplace(name, group);
  return group;
}

void GroupCoordinator::StartRebalance(Group& group) {
  if (group.proposing) group.rerun = true;
  group.awaiting_sync = false;  // An announced generation not yet written is abandoned.
  if (!group.rebalancing) {
    group.rebalancing = true;
    io::Duration longest{};
    for (auto& [id, member] : group.members) {
      member.joined = member.waiting > 0;
      longest = std::max(longest, member.rebalance_timeout);
    }
    group.rebalance_deadline = runtime_.Now() + longest;
  }
  group.changed.NotifyAll();
}

wire::ClientMessageT GroupCoordinator::JoinResponse(uint64_t id, const Group& group,
                                                    const std::string& member) {
  wire::JoinGroupResponseT response;
  response.member_id = member;
  response.generation = group.generation;
  response.members = static_cast<uint32_t>(group.assignment.size());
  if (auto it = group.assignment.find(member); it != group.assignment.end()) {
    response.assignment = ToWire(it->second);
  }
  return Message(id, std::move(response));
}

wire::ClientMessageT GroupCoordinator::Join(uint64_t id, const wire::JoinGroupRequestT& request,
                                            io::Instant deadline) {
  if (!request.protocol_type.empty() || !request.protocols.empty()) {
    return JoinClientSide(id, request, deadline);
  }
  if (absl::Status s = ValidateGroupName(request.group); !s.ok()) {
    return ErrorMessage(id, ErrorCode::BadRequest, std::string(s.message()));
  }
  const io::Duration session = std::chrono::milliseconds(request.session_timeout_ms);
  const io::Duration rebalance = std::chrono::milliseconds(request.rebalance_timeout_ms);
  if (session < options_.session_timeout_min || session > options_.session_timeout_max ||
      rebalance <= io::Duration{} || rebalance > options_.rebalance_timeout_max ||
      request.assignor > wire::Assignor::MAX || request.topics.empty() ||
      request.topics.size() > kSubscribedTopicsMax) {
    return ErrorMessage(
        id, ErrorCode::InvalidConfig,
        fmt::format("join of {}: session timeout must be {}..{} ms, rebalance "
                    "timeout 1..{} ms, 1..{} topics, a known assignor",
                    request.group, options_.session_timeout_min.count() / 1000000,
                    options_.session_timeout_max.count() / 1000000,
                    options_.rebalance_timeout_max.count() / 1000000, kSubscribedTopicsMax));
  }
  for (const std::string& topic : request.topics) {
    if (absl::Status s = cluster::ValidateTopicName(topic); !s.ok()) {
      return ErrorMessage(id, ErrorCode::BadRequest, std::string(s.message()));
    }
  }
  if (!CurrentTerm()) return ErrorMessage(id, ErrorCode::NotLeader, "not the coordinator");
  if (!groups_.contains(request.group) && groups_.size() >= GroupLedger::kGroupsMax) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, "too many live groups on this coordinator");
  }
  std::shared_ptr<Group> held = Load(request.group);
  Group& group = *held;
  if (std::optional<wire::ClientMessageT> refused = RefuseServerSideJoin(id, group, request)) {
    return *std::move(refused);
  }
  std::string member_id = request.member_id;
  if (member_id.empty()) {
    if (group.members.size() >= GroupLedger::kMembersMax) {
      return ErrorMessage(id, ErrorCode::InvalidConfig, "the group has too many members");
    }
    member_id = fmt::format("{}-{}-{}", request.client_id.empty() ? "member" : request.client_id,
                            term_, ++members_made_);
    if (member_id.size() > wire::kNameBytesMax)
      member_id = fmt::format("member-{}-{}", term_, members_made_);
  } else if (!group.members.contains(member_id)) {
    return ErrorMessage(id, ErrorCode::UnknownMemberId,
                        fmt::format("{} is not a member of group {}", member_id, request.group));
  }
  auto [it, added] = group.members.try_emplace(member_id);
  Member& member = it->second;
  std::vector<std::string> topics = request.topics;
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  const bool unchanged = !added && member.topics == topics && member.assignor == request.assignor;
  member.id = member_id;
  member.client_id = request.client_id;
  member.topics = std::move(topics);
  member.assignor = request.assignor;
  member.session_timeout = session;
  member.rebalance_timeout = rebalance;
  member.last_heard = runtime_.Now();
  if (unchanged && !group.rebalancing && group.assignment.contains(member_id)) {
    return JoinResponse(id, group, member_id);  // A rejoin with nothing new: same generation.
  }
  StartRebalance(group);
  member.joined = true;  // After StartRebalance, which resets everyone not parked in a join.
  return AwaitGeneration(id, request.group, member_id, group.writes, deadline);
}

std::optional<wire::ClientMessageT> GroupCoordinator::RefuseServerSideJoin(
    uint64_t id, const Group& group, const wire::JoinGroupRequestT& request) {
  for (const auto& [other, member] : group.members) {
    if (other != request.member_id && !group.protocol_type.empty()) {
      return ErrorMessage(id, ErrorCode::InconsistentAssignor,
                          fmt::format("group {} is a Kafka group (client-side assignment, protocol "
                                      "type {})",
                                      request.group, group.protocol_type));
    }
    if (other != request.member_id && member.assignor != request.assignor) {
      return ErrorMessage(id, ErrorCode::InconsistentAssignor,
                          fmt::format("group {} uses assignor {}", request.group,
                                      wire::EnumNameAssignor(member.assignor)));
    }
  }
  return std::nullopt;
}

std::optional<wire::ClientMessageT> GroupCoordinator::ParkJoin(
    uint64_t id, Group& group, const std::string& member_id, io::Instant deadline,
    const std::function<bool()>& joined) {
  const uint64_t epoch = epoch_;
  group.members.at(member_id).waiting++;
  bool gone = false;
  const auto done = [&] {
    if (epoch_ != epoch) return true;
    if (!group.members.contains(member_id)) return gone = true;
    return joined();
  };
  absl::Status waited = group.changed.WaitUntil(done, deadline, "group join");
  if (epoch_ != epoch) return ErrorMessage(id, ErrorCode::NotLeader, "the coordinator moved");
  if (gone) {
    return ErrorMessage(id, ErrorCode::UnknownMemberId, "removed from the group while joining");
  }
  group.members.at(member_id).waiting--;
  if (!waited.ok()) {
    return ErrorMessage(id, ErrorCode::RebalanceInProgress, "the rebalance did not finish in time");
  }
  return std::nullopt;
}

wire::ClientMessageT GroupCoordinator::AwaitGeneration(uint64_t id, const std::string& name,
                                                       const std::string& member_id,
                                                       uint64_t writes_before,
                                                       io::Instant deadline) {
  const std::shared_ptr<Group> group = groups_.at(name);  // Outlives a drop of the live state.
  if (std::optional<wire::ClientMessageT> refused = ParkJoin(id, *group, member_id, deadline, [&] {
        return group->writes > writes_before && group->assignment.contains(member_id);
      })) {
    return std::move(*refused);
  }
  return JoinResponse(id, *group, member_id);
}

std::shared_ptr<GroupCoordinator::Group> GroupCoordinator::FindMember(uint64_t id,
                                                                      const std::string& name,
                                                                      const std::string& member_id,
                                                                      wire::ClientMessageT* error) {
  if (!CurrentTerm()) {
    *error = ErrorMessage(id, ErrorCode::NotLeader, "not the coordinator");
    return nullptr;
  }
  // Only groups that are live here or decided in the log: a heartbeat for a made-up group
  // must not create one.
  std::shared_ptr<Group> group =
      groups_.contains(name) || partition_.machine->ledger->Find(name) != nullptr ? Load(name)
                                                                                  : nullptr;
  if (group == nullptr || !group->members.contains(member_id)) {
    *error = ErrorMessage(id, ErrorCode::UnknownMemberId,
                          fmt::format("{} is not a member of {}", member_id, name));
    return nullptr;
  }
  return group;
}

wire::ClientMessageT GroupCoordinator::Heartbeat(uint64_t id,
                                                 const wire::HeartbeatRequestT& request) {
  wire::ClientMessageT error;
  std::shared_ptr<Group> group = FindMember(id, request.group, request.member_id, &error);
  if (group == nullptr) return error;
  group->members.at(request.member_id).last_heard = runtime_.Now();
  if (group->rebalancing) {
    return ErrorMessage(id, ErrorCode::RebalanceInProgress, "rejoin the group");
  }
  if (request.generation != group->announced()) {
    return ErrorMessage(id, ErrorCode::IllegalGeneration,
                        fmt::format("generation {} is current", group->announced()));
  }
  return Message(id, wire::HeartbeatResponseT{});
}

wire::ClientMessageT GroupCoordinator::Leave(uint64_t id, const wire::LeaveGroupRequestT& request) {
  wire::ClientMessageT error;
  std::shared_ptr<Group> group = FindMember(id, request.group, request.member_id, &error);
  if (group == nullptr) return error;
  Member leaving = std::move(group->members.at(request.member_id));
  group->members.erase(request.member_id);
  StartRebalance(*group);
  // The last member's leave is answered only once the empty generation is in the log. Written
  // on a later tick instead, a coordinator that handed over in between would forget the leave
  // it acknowledged: its successor rebuilds the group from the ledger and presumes the member
  // alive for a session timeout, so the group stayed "rebalancing" (refusing resets and
  // deletes) for that long. A leave the coordinator could not write is refused as NotLeader,
  // and the member asks again (the new coordinator, or this one).
  if (group->members.empty() && !group->proposing) {
    const uint64_t epoch = epoch_;
    const uint64_t writes = group->writes;
    FinishRebalance(request.group, group);
    if (epoch_ != epoch || !CurrentTerm()) {
      return ErrorMessage(id, ErrorCode::NotLeader,
                          "the coordinator changed before the leave was written; ask the new one");
    }
    const bool written = group->writes != writes || (!group->rebalancing && !group->proposing);
    if (!written) {
      // Still the leader, but the log refused the write: a leadership transfer is under way
      // (raft takes no proposals meanwhile, and this term's live state stays until it ends),
      // or the proposal timed out. Answered OK, the leave would die with a transfer that then
      // completes. The member stays (not rejoined: the rebalance drops it at its deadline if
      // it never asks again), so its retry, here or at the successor, finds it.
      MERIDIAN_PROBE("group: the last member's leave was not written; the member asks again");
      if (!group->members.contains(request.member_id)) {
        group->members.emplace(request.member_id, std::move(leaving));
      }
      return ErrorMessage(id, ErrorCode::NotLeader,
                          "the leave could not be written yet (a leadership transfer?); ask again");
    }
  }
  return Message(id, wire::LeaveGroupResponseT{});
}

void GroupCoordinator::ExpireSessions(Group& group) {
  const io::Instant now = runtime_.Now();
  std::vector<std::string> expired;
  for (const auto& [id, member] : group.members) {
    if (member.waiting == 0 && member.syncing == 0 &&
        now - member.last_heard > member.session_timeout) {
      expired.push_back(id);
    }
  }
  for (const std::string& id : expired) group.members.erase(id);
  if (!expired.empty()) StartRebalance(group);
  std::erase_if(group.pending_member_ids,
                [now](const Group::PendingMemberId& pending) { return now >= pending.lapses; });
}

void GroupCoordinator::Tick() {
  if (!CurrentTerm()) return;
  std::vector<std::string> names;
  for (const auto& [name, group] : groups_) names.push_back(name);
  // Groups of the ledger with live members that nobody has touched since this leader took
  // over: load them, so members that died with the old coordinator expire.
  for (const auto& [name, decided] : partition_.machine->ledger->groups()) {
    if (!decided.members.empty() && !groups_.contains(name)) names.push_back(name);
  }
  for (const std::string& name : names) {
    if (!CurrentTerm()) return;
    std::shared_ptr<Group> group = Load(name);
    ExpireSessions(*group);
    if (group->rebalancing && !group->proposing) FinishRebalance(name, group);
    if (CurrentTerm() && group->members.empty() && group->pending_member_ids.empty() &&
        !group->rebalancing && !group->proposing) {
      groups_.erase(name);  // Nothing live: the ledger has the rest (Load rebuilds it).
    }
  }
}

void GroupCoordinator::FinishRebalance(const std::string& name, std::shared_ptr<Group> held) {
  Group& group = *held;
  const bool all_joined = std::all_of(group.members.begin(), group.members.end(),
                                      [](const auto& m) { return m.second.joined; });
  if (!all_joined && runtime_.Now() < group.rebalance_deadline) return;
  absl::erase_if(group.members, [](const auto& m) { return !m.second.joined; });
  if (group.members.empty()) group.protocol_type.clear();  // Either kind may join it next.
  if (!group.members.empty() && !group.protocol_type.empty()) return AnnounceJoin(group);
  const LedgerGroup* decided = partition_.machine->ledger->Find(name);
  if (group.members.empty() && (decided == nullptr || decided->members.empty())) {
    group.rebalancing = false;  // Already empty in the log: nothing to write.
    group.assignment.clear();
    group.changed.NotifyAll();
    return;
  }
  std::vector<AssignorMember> assignor_members;
  for (const auto& [id, member] : group.members) {
    assignor_members.push_back({id, member.topics});
    group.assignor = member.assignor;
  }
  const GroupAssignment assignment =
      AssignPartitions(group.assignor, assignor_members, partition_counts_(), group.assignment,
                       options_.assignor_bug);
  wire::GroupGenerationRecordT record;
  record.group = name;
  record.generation = group.generation + 1;
  record.assignor = group.assignor;
  for (const auto& [id, member] : group.members) {
    auto out = std::make_unique<wire::GroupMemberRecordT>();
    out->member_id = id;
    out->client_id = member.client_id;
    out->topics = member.topics;
    out->assignment = ToWire(assignment.at(id));
    out->session_timeout_ms = static_cast<uint32_t>(member.session_timeout.count() / 1000000);
    out->rebalance_timeout_ms = static_cast<uint32_t>(member.rebalance_timeout.count() / 1000000);
    record.members.push_back(std::move(out));
  }
  const uint64_t epoch = epoch_;
  group.proposing = true;
  GroupOutcome outcome;
  wire::ClientMessageT error =
      ProposeRecord(0, GroupLedger::EncodeGeneration(record, runtime_.WallClockMillis()),
                    runtime_.Now() + std::chrono::seconds(10), &outcome);
  if (epoch_ != epoch) return;  // The live state was dropped meanwhile; `group` is gone.
  group.proposing = false;
  if (outcome.result != GroupResult::kAccepted) {
    // Not written (leadership lost, a timeout) or refused (a delete decided first: the next
    // generation is 1 again): try again on a later tick.
    Resync(name, group);
    group.changed.NotifyAll();
    return;
  }
  if (options_.on_generation_written) options_.on_generation_written();
  group.generation = record.generation;
  group.writes++;
  group.assignment = assignment;
  group.rebalancing = false;
  bool rerun = std::exchange(group.rerun, false);
  for (auto& [id, member] : group.members) {
    member.last_heard = runtime_.Now();
    member.joined = false;
    rerun |= !assignment.contains(id);  // Joined while the generation was being written.
  }
  for (const auto& [id, partitions] : assignment) rerun |= !group.members.contains(id);
  if (rerun) StartRebalance(group);
  group.changed.NotifyAll();
}

wire::ClientMessageT GroupCoordinator::ProposeRecord(uint64_t id, std::string batch,
                                                     io::Instant deadline, GroupOutcome* outcome) {
  std::shared_ptr<replica::Replica> replica = partition_.replica;
  std::shared_ptr<PartitionMachine> machine = partition_.machine;
  absl::StatusOr<raft::Index> index = replica->ProposeAndWait(std::move(batch), deadline);
  if (!index.ok()) {
    outcome->result = GroupResult::kInvalid;
    return ProposalError(id, index.status(), replica->leader().value());
  }
  std::optional<GroupOutcome> decided = machine->ledger->OutcomeAt(*index);
  if (!decided.has_value()) {
    outcome->result = GroupResult::kInvalid;
    return ErrorMessage(id, ErrorCode::Unknown, "committed, but its outcome is no longer known");
  }
  *outcome = *decided;
  if (decided->result != GroupResult::kAccepted) {
    return ErrorMessage(id, LedgerError(decided->result), decided->reason);
  }
  return {};
}

wire::ClientMessageT GroupCoordinator::Commit(uint64_t id,
                                              const wire::OffsetCommitRequestT& request,
                                              io::Instant deadline) {
  if (absl::Status s = ValidateGroupName(request.group); !s.ok()) {
    return ErrorMessage(id, ErrorCode::BadRequest, std::string(s.message()));
  }
  if (request.offsets.empty() || request.offsets.size() > GroupLedger::kOffsetsPerCommitMax) {
    return ErrorMessage(
        id, ErrorCode::BadRequest,
        fmt::format("a commit names 1..{} partitions", GroupLedger::kOffsetsPerCommitMax));
  }
  for (const auto& offset : request.offsets) {
    if (offset == nullptr || offset->offset < 0 || offset->metadata.size() > 4096 ||
        !cluster::ValidateTopicName(offset->topic).ok()) {
      return ErrorMessage(id, ErrorCode::BadRequest,
                          "each offset needs a topic, an offset >= 0 and metadata of <= 4 KiB");
    }
  }
  if (!CurrentTerm()) return ErrorMessage(id, ErrorCode::NotLeader, "not the coordinator");
  wire::GroupOffsetCommitRecordT record;
  record.group = request.group;
  record.member_id = request.member_id;
  record.generation = request.generation;
  for (const auto& offset : request.offsets) {
    record.offsets.push_back(std::make_unique<wire::PartitionOffsetT>(*offset));
  }
  if (auto group = groups_.find(request.group); group != groups_.end()) {
    if (auto member = group->second->members.find(request.member_id);
        member != group->second->members.end()) {
      member->second.last_heard = runtime_.Now();  // A commit is a sign of life too.
    }
  }
  GroupOutcome outcome;
  wire::ClientMessageT error = ProposeRecord(
      id, GroupLedger::EncodeCommit(record, runtime_.WallClockMillis()), deadline, &outcome);
  if (outcome.result != GroupResult::kAccepted) return error;
  return Message(id, wire::OffsetCommitResponseT{});
}

wire::ClientMessageT GroupCoordinator::FetchOffsets(uint64_t id,
                                                    const wire::OffsetFetchRequestT& request) {
  if (!CurrentTerm()) return ErrorMessage(id, ErrorCode::NotLeader, "not the coordinator");
  wire::OffsetFetchResponseT response;
  const LedgerGroup* decided = partition_.machine->ledger->Find(request.group);
  if (decided == nullptr) return Message(id, std::move(response));
  for (const auto& [key, committed] : decided->offsets) {
    const bool wanted =
        request.topics.empty() ||
        std::find(request.topics.begin(), request.topics.end(), key.first) != request.topics.end();
    if (!wanted) continue;
    auto out = std::make_unique<wire::PartitionOffsetT>();
    out->topic = key.first;
    out->partition = key.second;
    out->offset = committed.offset;
    out->metadata = committed.metadata;
    response.offsets.push_back(std::move(out));
  }
  return Message(id, std::move(response));
}

std::unique_ptr<wire::GroupInfoT> GroupCoordinator::DescribeOne(uint64_t id,
                                                                const std::string& name,
                                                                const LedgerGroup& decided,
                                                                bool names_only) {
  auto info = std::make_unique<wire::GroupInfoT>();
  info->group = name;
  info->generation = decided.generation;
  info->assignor = decided.assignor;
  info->protocol_type = decided.protocol_type;
  info->protocol = decided.protocol;
  auto live = groups_.find(name);
  const Group* group = live == groups_.end() ? nullptr : live->second.get();
  const bool rebalancing = group != nullptr && (group->rebalancing || group->awaiting_sync);
  info->state = rebalancing ? "rebalancing" : decided.members.empty() ? "empty" : "stable";
  info->awaiting_assignment = group != nullptr && group->awaiting_sync;
  if (names_only) return info;
  for (const LedgerMember& m : decided.members) {
    auto member = std::make_unique<wire::GroupMemberInfoT>();
    member->member_id = m.member_id;
    member->client_id = m.client_id;
    member->topics = m.topics;
    member->assignment = ToWire(m.assignment);
    member->kafka_assignment = m.kafka_assignment;
    if (group != nullptr) {
      if (auto heard = group->members.find(m.member_id); heard != group->members.end()) {
        member->client_host = heard->second.client_host;
        for (const auto& [protocol, metadata] : heard->second.protocols) {
          if (protocol == decided.protocol) member->protocol_metadata = metadata;
        }
      }
    }
    info->members.push_back(std::move(member));
  }
  wire::OffsetFetchRequestT all;
  all.group = name;
  wire::ClientMessageT offsets = FetchOffsets(id, all);
  info->offsets = std::move(offsets.body.AsOffsetFetchResponse()->offsets);
  return info;
}

wire::ClientMessageT GroupCoordinator::Describe(uint64_t id,
                                                const wire::DescribeGroupsRequestT& request) {
  if (!CurrentTerm()) return ErrorMessage(id, ErrorCode::NotLeader, "not the coordinator");
  wire::DescribeGroupsResponseT response;
  if (!request.group.empty()) {
    // One group: decided, or only live (its first join phase, nothing in the log yet).
    const LedgerGroup* decided = partition_.machine->ledger->Find(request.group);
    if (decided != nullptr || groups_.contains(request.group)) {
      const LedgerGroup none;
      response.groups.push_back(
          DescribeOne(id, request.group, decided != nullptr ? *decided : none, request.names_only));
    }
    return Message(id, std::move(response));
  }
  for (const auto& [name, decided] : partition_.machine->ledger->groups()) {
    if (request.groups_max != 0 && response.groups.size() >= request.groups_max) break;
    response.groups.push_back(DescribeOne(id, name, decided, request.names_only));
  }
  return Message(id, std::move(response));
}

}  // namespace meridian::core::broker
