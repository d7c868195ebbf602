#include "core/broker/group_ledger.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/wire/client_codec.h"
#include "io/assert.h"

namespace meridian::core::broker {
namespace {

constexpr uint32_t kVerifierDepthMax = 16;

GroupOutcome Refused(GroupResult result, std::string reason) {
  return GroupOutcome{result, std::move(reason)};
}

std::string Str(const flatbuffers::String* string) {
  return string == nullptr ? std::string() : string->str();
}

// One record (key: the group) holding `record`, in a batch of its own.
template <typename T>
std::string EncodeRecord(const std::string& group, wire::GroupRecordBody type, const T& record,
                         int64_t timestamp_ms) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto body = T::TableType::Pack(builder, &record);
  builder.Finish(wire::CreateGroupRecord(builder, type, body.Union()));
  auto entry = std::make_unique<wire::RecordT>();
  entry->timestamp_ms = timestamp_ms;
  entry->key.assign(group.begin(), group.end());
  entry->value.assign(builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize());
  wire::RecordBatchT batch;
  batch.records.push_back(std::move(entry));
  const std::vector<uint8_t> bytes = wire::EncodeRecordBatch(batch);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::vector<std::unique_ptr<wire::TopicPartitionsT>> ToWire(
    const std::vector<TopicPartitionKey>& partitions) {
  std::vector<std::unique_ptr<wire::TopicPartitionsT>> out;
  for (const TopicPartitionKey& tp : partitions) {
    if (out.empty() || out.back()->topic != tp.first) {
      out.push_back(std::make_unique<wire::TopicPartitionsT>());
      out.back()->topic = tp.first;
    }
    out.back()->partitions.push_back(tp.second);
  }
  return out;
}

const char* GroupResultName(GroupResult result) {
  switch (result) {
    case GroupResult::kAccepted:
      return "accepted";
    case GroupResult::kIllegalGeneration:
      return "illegal-generation";
    case GroupResult::kUnknownMember:
      return "unknown-member";
    case GroupResult::kGroupNotEmpty:
      return "group-not-empty";
    case GroupResult::kInvalid:
      return "invalid";
    case GroupResult::kGroupNotFound:
      return "group-not-found";
  }
  return "?";
}

const LedgerMember* LedgerGroup::FindMember(std::string_view member_id) const {
  for (const LedgerMember& member : members) {
    if (member.member_id == member_id) return &member;
  }
  return nullptr;
}

void GroupLedger::ApplyBatch(raft::Index index, std::span<const uint8_t> bytes) {
  absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(bytes);
  if (!batch.ok()) {
    Remember(index, Refused(GroupResult::kInvalid, std::string(batch.status().message())));
    return;
  }
  const wire::Record* record = (*batch)->records()->Get(0);
  const flatbuffers::Vector<uint8_t>* value = record == nullptr ? nullptr : record->value();
  if (value == nullptr) {
    Remember(index, Refused(GroupResult::kInvalid, "a group record without a value"));
    return;
  }
  flatbuffers::Verifier verifier(value->data(), value->size(), kVerifierDepthMax);
  if (!wire::VerifyGroupRecordBuffer(verifier)) {
    Remember(index, Refused(GroupResult::kInvalid, "a group record that does not verify"));
    return;
  }
  Remember(index, ApplyRecord(*wire::GetGroupRecord(value->data())));
}

GroupOutcome GroupLedger::ApplyRecord(const wire::GroupRecord& record) {
  if (const auto* generation = record.body_as_GroupGenerationRecord()) {
    return ApplyGeneration(*generation);
  }
  if (const auto* commit = record.body_as_GroupOffsetCommitRecord()) return ApplyCommit(*commit);
  if (const auto* remove = record.body_as_GroupDeleteRecord()) return ApplyDelete(*remove);
  return Refused(GroupResult::kInvalid, "a group record of unknown type");
}

absl::StatusOr<LedgerGroup> GroupLedger::ParseGeneration(
    const wire::GroupGenerationRecord& record) {
  if (record.assignor() > wire::Assignor::MAX) {
    return absl::InvalidArgumentError("a generation with an unknown assignor");
  }
  const size_t members = record.members() == nullptr ? 0 : record.members()->size();
  if (members > kMembersMax) return absl::InvalidArgumentError("too many members");
  LedgerGroup group;
  group.generation = record.generation();
  group.assignor = record.assignor();
  group.protocol_type = Str(record.protocol_type());
  group.protocol = Str(record.protocol());
  for (uint32_t i = 0; i < members; i++) {
    const wire::GroupMemberRecord* m = record.members()->Get(i);
    LedgerMember member{Str(m->member_id()),     Str(m->client_id()),      {}, {},
                        m->session_timeout_ms(), m->rebalance_timeout_ms()};
    if (m->topics() != nullptr) {
      for (const auto* topic : *m->topics()) member.topics.push_back(Str(topic));
    }
    if (m->assignment() != nullptr) {
      for (const auto* topic : *m->assignment()) {
        if (topic->partitions() == nullptr) continue;
        for (uint32_t p : *topic->partitions())
          member.assignment.emplace_back(Str(topic->topic()), p);
      }
    }
    std::sort(member.assignment.begin(), member.assignment.end());
    if (m->kafka_assignment() != nullptr) {
      member.kafka_assignment.assign(m->kafka_assignment()->begin(), m->kafka_assignment()->end());
    }
    group.members.push_back(std::move(member));
  }
  std::vector<LedgerMember>& parsed = group.members;
  std::sort(parsed.begin(), parsed.end(),
            [](const LedgerMember& a, const LedgerMember& b) { return a.member_id < b.member_id; });
  for (size_t i = 0; i < parsed.size(); i++) {
    if (parsed[i].member_id.empty() || (i > 0 && parsed[i].member_id == parsed[i - 1].member_id)) {
      return absl::InvalidArgumentError("member ids must be distinct and not empty");
    }
  }
  return group;
}

GroupOutcome GroupLedger::ApplyGeneration(const wire::GroupGenerationRecord& record) {
  const std::string name = Str(record.group());
  if (name.empty() || name.size() > wire::kNameBytesMax) {
    return Refused(GroupResult::kInvalid, "a generation without a valid group name");
  }
  absl::StatusOr<LedgerGroup> parsed = ParseGeneration(record);
  if (!parsed.ok()) return Refused(GroupResult::kInvalid, std::string(parsed.status().message()));
  auto found = groups_.find(name);
  const int32_t current = found == groups_.end() ? 0 : found->second.generation;
  if (record.generation() != current + 1) {
    return Refused(GroupResult::kIllegalGeneration,
                   fmt::format("generation {} of group {} after generation {}", record.generation(),
                               name, current));
  }
  if (found == groups_.end() && groups_.size() >= kGroupsMax) {
    return Refused(GroupResult::kInvalid, "too many groups in one offsets partition");
  }
  LedgerGroup& group = groups_[name];
  parsed->offsets = std::move(group.offsets);
  group = std::move(*parsed);
  return GroupOutcome{GroupResult::kAccepted, ""};
}

GroupOutcome GroupLedger::ApplyCommit(const wire::GroupOffsetCommitRecord& record) {
  const std::string name = Str(record.group());
  if (name.empty() || name.size() > wire::kNameBytesMax) {
    return Refused(GroupResult::kInvalid, "a commit without a valid group name");
  }
  const size_t count = record.offsets() == nullptr ? 0 : record.offsets()->size();
  if (count > kOffsetsPerCommitMax) return Refused(GroupResult::kInvalid, "too many offsets");
  auto found = groups_.find(name);
  if (found == groups_.end() && groups_.size() >= kGroupsMax) {
    return Refused(GroupResult::kInvalid, "too many groups in one offsets partition");
  }
  const LedgerGroup empty;
  const LedgerGroup& group = found == groups_.end() ? empty : found->second;
  const std::string member_id = Str(record.member_id());
  const bool admin = member_id.empty() && record.generation() == -1;
  const LedgerMember* member = group.FindMember(member_id);
  if (admin) {
    if (!group.members.empty()) {
      return Refused(GroupResult::kGroupNotEmpty,
                     fmt::format("group {} has {} members in generation {}", name,
                                 group.members.size(), group.generation));
    }
  } else if (bug_ == GroupLedgerPlantedBug::kZombieCommitAccepted) {
    // PLANTED BUG: no generation or ownership check.
  } else if (record.generation() != group.generation) {
    return Refused(GroupResult::kIllegalGeneration,
                   fmt::format("commit in generation {}; group {} is in generation {}",
                               record.generation(), name, group.generation));
  } else if (member == nullptr) {
    return Refused(GroupResult::kUnknownMember,
                   fmt::format("{} is not a member of generation {} of group {}", member_id,
                               group.generation, name));
  }
  std::vector<std::pair<TopicPartitionKey, CommittedOffset>> parsed;
  for (uint32_t i = 0; i < count; i++) {
    const wire::PartitionOffset* offset = record.offsets()->Get(i);
    TopicPartitionKey key(Str(offset->topic()), offset->partition());
    if (offset->offset() < 0) return Refused(GroupResult::kInvalid, "a negative offset");
    const bool owned = member != nullptr && std::binary_search(member->assignment.begin(),
                                                               member->assignment.end(), key);
    if (!admin && !owned && bug_ == GroupLedgerPlantedBug::kNone) {
      return Refused(GroupResult::kIllegalGeneration,
                     fmt::format("{}/{} is not assigned to {} in generation {}", key.first,
                                 key.second, member_id, group.generation));
    }
    parsed.emplace_back(std::move(key), CommittedOffset{offset->offset(), Str(offset->metadata()),
                                                        record.generation()});
  }
  LedgerGroup& target = groups_[name];
  for (auto& [key, committed] : parsed) target.offsets[key] = std::move(committed);
  return GroupOutcome{GroupResult::kAccepted, ""};
}

GroupOutcome GroupLedger::ApplyDelete(const wire::GroupDeleteRecord& record) {
  const std::string name = Str(record.group());
  if (name.empty() || name.size() > wire::kNameBytesMax) {
    return Refused(GroupResult::kInvalid, "a delete without a valid group name");
  }
  auto found = groups_.find(name);
  if (found == groups_.end()) {
    return Refused(GroupResult::kGroupNotFound, fmt::format("group {} does not exist", name));
  }
  const LedgerGroup& group = found->second;
  if (bug_ == GroupLedgerPlantedBug::kDeleteWithoutFence) {
    // PLANTED BUG: no generation or membership check.
  } else if (!group.members.empty()) {
    return Refused(GroupResult::kGroupNotEmpty,
                   fmt::format("group {} has {} members in generation {}", name,
                               group.members.size(), group.generation));
  } else if (record.generation() != group.generation) {
    // A generation decided after the coordinator saw the group empty: whatever it holds now
    // is not what the delete was asked for.
    return Refused(GroupResult::kIllegalGeneration,
                   fmt::format("delete of group {} in generation {}; it is in generation {}", name,
                               record.generation(), group.generation));
  }
  groups_.erase(found);  // Generation state and offsets together: no half group stays.
  MERIDIAN_CHECK(Find(name) == nullptr);
  return GroupOutcome{GroupResult::kAccepted, ""};
}

void GroupLedger::Remember(raft::Index index, GroupOutcome outcome) {
  if (outcome.result != GroupResult::kAccepted) records_refused_++;
  outcomes_[index] = std::move(outcome);
  while (outcomes_.size() > kOutcomesKept) outcomes_.erase(outcomes_.begin());
}

std::optional<GroupOutcome> GroupLedger::OutcomeAt(raft::Index index) const {
  auto it = outcomes_.find(index);
  if (it == outcomes_.end()) return std::nullopt;
  return it->second;
}

const LedgerGroup* GroupLedger::Find(std::string_view group) const {
  auto it = groups_.find(std::string(group));
  return it == groups_.end() ? nullptr : &it->second;
}

std::string GroupLedger::EncodeSnapshot(std::string_view partition_state) const {
  wire::GroupLedgerSnapshotT snapshot;
  snapshot.partition_state.assign(partition_state.begin(), partition_state.end());
  for (const auto& [name, group] : groups_) {
    auto out = std::make_unique<wire::GroupSnapshotT>();
    out->state = std::make_unique<wire::GroupGenerationRecordT>();
    wire::GroupGenerationRecordT& state = *out->state;
    state.group = name;
    state.generation = group.generation;
    state.assignor = group.assignor;
    state.protocol_type = group.protocol_type;
    state.protocol = group.protocol;
    for (const LedgerMember& member : group.members) {
      auto m = std::make_unique<wire::GroupMemberRecordT>();
      m->member_id = member.member_id;
      m->client_id = member.client_id;
      m->topics = member.topics;
      m->assignment = ToWire(member.assignment);
      m->session_timeout_ms = member.session_timeout_ms;
      m->rebalance_timeout_ms = member.rebalance_timeout_ms;
      m->kafka_assignment = member.kafka_assignment;
      state.members.push_back(std::move(m));
    }
    for (const auto& [partition, committed] : group.offsets) {
      auto o = std::make_unique<wire::GroupCommittedOffsetT>();
      o->topic = partition.first;
      o->partition = partition.second;
      o->offset = committed.offset;
      o->metadata = committed.metadata;
      o->generation = committed.generation;
      out->offsets.push_back(std::move(o));
    }
    snapshot.groups.push_back(std::move(out));
  }
  flatbuffers::FlatBufferBuilder builder(1024);
  builder.Finish(wire::GroupLedgerSnapshot::Pack(builder, &snapshot));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

absl::StatusOr<GroupLedgerSnapshotData> GroupLedger::DecodeSnapshot(std::string_view data) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                 kVerifierDepthMax);
  if (!verifier.VerifyBuffer<wire::GroupLedgerSnapshot>(nullptr)) {
    return absl::InvalidArgumentError("offsets snapshot: does not verify");
  }
  const auto* snapshot = flatbuffers::GetRoot<wire::GroupLedgerSnapshot>(data.data());
  GroupLedgerSnapshotData decoded;
  if (const auto* state = snapshot->partition_state(); state != nullptr) {
    decoded.partition_state.assign(reinterpret_cast<const char*>(state->data()), state->size());
  }
  if (snapshot->groups() == nullptr) return decoded;
  if (snapshot->groups()->size() > kGroupsMax) {
    return absl::InvalidArgumentError("offsets snapshot: too many groups");
  }
  for (const wire::GroupSnapshot* group : *snapshot->groups()) {
    if (group->state() == nullptr) {
      return absl::InvalidArgumentError("offsets snapshot: a group without its state");
    }
    const std::string name = Str(group->state()->group());
    if (name.empty() || name.size() > wire::kNameBytesMax || decoded.groups.contains(name)) {
      return absl::InvalidArgumentError("offsets snapshot: a group name empty, too long or twice");
    }
    absl::StatusOr<LedgerGroup> parsed = ParseGeneration(*group->state());
    if (!parsed.ok())
      return absl::InvalidArgumentError("offsets snapshot: " + parsed.status().ToString());
    if (parsed->generation < 0 || (parsed->generation == 0 && !parsed->members.empty())) {
      return absl::InvalidArgumentError("offsets snapshot: a group with a bad generation");
    }
    if (group->offsets() != nullptr) {
      for (const wire::GroupCommittedOffset* o : *group->offsets()) {
        TopicPartitionKey key(Str(o->topic()), o->partition());
        if (o->offset() < 0 || o->generation() < -1 || parsed->offsets.contains(key)) {
          return absl::InvalidArgumentError("offsets snapshot: a bad committed offset");
        }
        parsed->offsets[key] = CommittedOffset{o->offset(), Str(o->metadata()), o->generation()};
      }
    }
    decoded.groups.emplace(name, std::move(*parsed));
  }
  return decoded;
}

void GroupLedger::Restore(absl::btree_map<std::string, LedgerGroup> groups) {
  groups_ = std::move(groups);
  outcomes_.clear();
}

std::string GroupLedger::EncodeGeneration(const wire::GroupGenerationRecordT& record,
                                          int64_t timestamp_ms) {
  return EncodeRecord(record.group, wire::GroupRecordBody::GroupGenerationRecord, record,
                      timestamp_ms);
}

std::string GroupLedger::EncodeCommit(const wire::GroupOffsetCommitRecordT& record,
                                      int64_t timestamp_ms) {
  return EncodeRecord(record.group, wire::GroupRecordBody::GroupOffsetCommitRecord, record,
                      timestamp_ms);
}

std::string GroupLedger::EncodeDelete(const wire::GroupDeleteRecordT& record,
                                      int64_t timestamp_ms) {
  return EncodeRecord(record.group, wire::GroupRecordBody::GroupDeleteRecord, record, timestamp_ms);
}

}  // namespace meridian::core::broker
