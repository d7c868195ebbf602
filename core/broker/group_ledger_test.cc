#include "core/broker/group_ledger.h"

#include <gtest/gtest.h>

#include <functional>

#include "core/wire/client_codec.h"

namespace meridian::core::broker {

// gtest prints an outcome by its name.
void PrintTo(GroupResult result, std::ostream* out) { *out << GroupResultName(result); }

namespace {

std::unique_ptr<wire::TopicPartitionsT> Partitions(std::string topic, std::vector<uint32_t> ps) {
  auto out = std::make_unique<wire::TopicPartitionsT>();
  out->topic = std::move(topic);
  out->partitions = std::move(ps);
  return out;
}

// Generation `generation` of group "g": member "a" owns t/0, member "b" owns t/1.
std::string Generation(int32_t generation, bool with_members = true, std::string group = "g") {
  wire::GroupGenerationRecordT record;
  record.group = std::move(group);
  record.generation = generation;
  record.assignor = wire::Assignor::Range;
  if (with_members) {
    for (auto [id, p] : {std::pair{"a", 0u}, std::pair{"b", 1u}}) {
      auto member = std::make_unique<wire::GroupMemberRecordT>();
      member->member_id = id;
      member->topics = {"t"};
      member->assignment.push_back(Partitions("t", {p}));
      record.members.push_back(std::move(member));
    }
  }
  return GroupLedger::EncodeGeneration(record, 1000);
}

std::string Commit(std::string member, int32_t generation, uint32_t partition, int64_t offset,
                   std::string group = "g") {
  wire::GroupOffsetCommitRecordT record;
  record.group = std::move(group);
  record.member_id = std::move(member);
  record.generation = generation;
  auto po = std::make_unique<wire::PartitionOffsetT>();
  po->topic = "t";
  po->partition = partition;
  po->offset = offset;
  record.offsets.push_back(std::move(po));
  return GroupLedger::EncodeCommit(record, 1000);
}

// A delete of `group` by a coordinator that saw it empty in generation `generation`.
std::string Delete(int32_t generation, std::string group = "g") {
  wire::GroupDeleteRecordT record;
  record.group = std::move(group);
  record.generation = generation;
  return GroupLedger::EncodeDelete(record, 1000);
}

struct Applier {
  GroupLedger ledger;
  uint64_t next = 1;
  GroupResult Apply(const std::string& bytes) {
    const raft::Index index(next++);
    ledger.ApplyBatch(index,
                      std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    return ledger.OutcomeAt(index)->result;
  }
};

TEST(GroupLedger, EachGenerationIsDecidedOnceInLogOrder) {
  Applier log;
  EXPECT_EQ(log.Apply(Generation(2)), GroupResult::kIllegalGeneration) << "must start at 1";
  EXPECT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  // A second coordinator that also believed the group was at 0 proposes 1 again: refused.
  EXPECT_EQ(log.Apply(Generation(1)), GroupResult::kIllegalGeneration);
  EXPECT_EQ(log.Apply(Generation(2)), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("g")->generation, 2);
  EXPECT_EQ(log.ledger.Find("g")->members.size(), 2u);
}

TEST(GroupLedger, OnlyTheOwnerInTheCurrentGenerationCommits) {
  Applier log;
  ASSERT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Commit("a", 1, 0, 5)), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Commit("a", 1, 1, 5)), GroupResult::kIllegalGeneration) << "b owns t/1";
  EXPECT_EQ(log.Apply(Commit("c", 1, 0, 5)), GroupResult::kUnknownMember);
  ASSERT_EQ(log.Apply(Generation(2)), GroupResult::kAccepted);
  // The zombie of generation 1 commits after generation 2 is in the log: fenced.
  EXPECT_EQ(log.Apply(Commit("a", 1, 0, 9)), GroupResult::kIllegalGeneration);
  EXPECT_EQ(log.ledger.Find("g")->offsets.at({"t", 0}).offset, 5);
  EXPECT_EQ(log.Apply(Commit("a", 2, 0, 7)), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("g")->offsets.at({"t", 0}).offset, 7);
  EXPECT_EQ(log.Apply(Commit("a", 2, 0, -1)), GroupResult::kInvalid);
}

TEST(GroupLedger, PlantedZombieCommitBugAcceptsTheStaleCommit) {
  GroupLedger ledger(GroupLedgerPlantedBug::kZombieCommitAccepted);
  const std::string gen1 = Generation(1), gen2 = Generation(2), zombie = Commit("a", 1, 0, 9);
  for (uint64_t i = 0; const std::string* bytes : {&gen1, &gen2, &zombie}) {
    ledger.ApplyBatch(raft::Index(++i),
                      std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()));
  }
  EXPECT_EQ(ledger.OutcomeAt(raft::Index(3))->result, GroupResult::kAccepted);
}

TEST(GroupLedger, AdminCommitsOnlyIntoAnEmptyGroup) {
  Applier log;
  EXPECT_EQ(log.Apply(Commit("", -1, 0, 3)), GroupResult::kAccepted) << "a group never seen";
  ASSERT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Commit("", -1, 0, 4)), GroupResult::kGroupNotEmpty);
  ASSERT_EQ(log.Apply(Generation(2, /*with_members=*/false)), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Commit("", -1, 0, 0)), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("g")->offsets.at({"t", 0}).offset, 0);
}

// A partition of the offsets topic holds at most kGroupsMax groups: at the limit a new group's
// first generation, and an admin commit into a group never seen, are refused; the groups it
// holds go on (a next generation, an admin commit into an empty one).
TEST(GroupLedger, TheGroupLimitRefusesOnlyNewGroups) {
  Applier log;
  for (size_t i = 0; i < GroupLedger::kGroupsMax; i++) {
    ASSERT_EQ(log.Apply(Generation(1, /*with_members=*/false, "g" + std::to_string(i))),
              GroupResult::kAccepted)
        << i;
  }
  EXPECT_EQ(log.Apply(Generation(1, /*with_members=*/false, "one-more")), GroupResult::kInvalid);
  EXPECT_EQ(log.Apply(Commit("", -1, 0, 3, "one-more")), GroupResult::kInvalid);
  EXPECT_EQ(log.Apply(Generation(2, /*with_members=*/false, "g7")), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Commit("", -1, 0, 3, "g8")), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("one-more"), nullptr);
}

// The record limits are inclusive: a generation of kMembersMax members and a commit of
// kOffsetsPerCommitMax offsets are taken, one more of either is refused.
TEST(GroupLedger, MemberAndOffsetLimitsAreInclusive) {
  const auto generation_of = [](int32_t generation, size_t members) {
    wire::GroupGenerationRecordT record;
    record.group = "g";
    record.generation = generation;
    record.assignor = wire::Assignor::Range;
    for (size_t i = 0; i < members; i++) {
      auto member = std::make_unique<wire::GroupMemberRecordT>();
      member->member_id = "m" + std::to_string(i);
      member->topics = {"t"};
      record.members.push_back(std::move(member));
    }
    return GroupLedger::EncodeGeneration(record, 1000);
  };
  const auto admin_commit_of = [](size_t offsets) {
    wire::GroupOffsetCommitRecordT record;
    record.group = "h";
    record.generation = -1;
    for (size_t i = 0; i < offsets; i++) {
      auto po = std::make_unique<wire::PartitionOffsetT>();
      po->topic = "t";
      po->partition = static_cast<uint32_t>(i);
      po->offset = 1;
      record.offsets.push_back(std::move(po));
    }
    return GroupLedger::EncodeCommit(record, 1000);
  };
  Applier log;
  EXPECT_EQ(log.Apply(generation_of(1, GroupLedger::kMembersMax + 1)), GroupResult::kInvalid);
  EXPECT_EQ(log.Apply(generation_of(1, GroupLedger::kMembersMax)), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("g")->members.size(), GroupLedger::kMembersMax);
  EXPECT_EQ(log.Apply(admin_commit_of(GroupLedger::kOffsetsPerCommitMax + 1)),
            GroupResult::kInvalid);
  EXPECT_EQ(log.Apply(admin_commit_of(GroupLedger::kOffsetsPerCommitMax)), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("h")->offsets.size(), GroupLedger::kOffsetsPerCommitMax);
}

TEST(GroupLedger, DeleteTakesOnlyTheEmptyGenerationItSaw) {
  Applier log;
  EXPECT_EQ(log.Apply(Delete(0)), GroupResult::kGroupNotFound);
  ASSERT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Commit("a", 1, 0, 5)), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Delete(1)), GroupResult::kGroupNotEmpty) << "a and b are members";
  ASSERT_EQ(log.Apply(Generation(2, /*with_members=*/false)), GroupResult::kAccepted);
  // The coordinator saw generation 2 empty and proposed its delete; a join was decided first
  // (generation 3, members again): the delete is refused, the group keeps everything.
  ASSERT_EQ(log.Apply(Generation(3)), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Delete(2)), GroupResult::kGroupNotEmpty);
  // Everyone left again (generation 4, empty): a delete that saw generation 2 is still stale.
  ASSERT_EQ(log.Apply(Generation(4, /*with_members=*/false)), GroupResult::kAccepted);
  EXPECT_EQ(log.Apply(Delete(2)), GroupResult::kIllegalGeneration);
  ASSERT_NE(log.ledger.Find("g"), nullptr);
  EXPECT_EQ(log.ledger.Find("g")->offsets.at({"t", 0}).offset, 5);
  EXPECT_EQ(log.Apply(Delete(4)), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("g"), nullptr) << "generation state and offsets go together";
  EXPECT_EQ(log.Apply(Delete(4)), GroupResult::kGroupNotFound);
}

TEST(GroupLedger, NothingProposedBeforeADeleteResurrectsTheGroup) {
  Applier log;
  ASSERT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Commit("a", 1, 0, 5)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Generation(2, /*with_members=*/false)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Delete(2)), GroupResult::kAccepted);
  // A join phase proposed generation 3 from the state before the delete; a member of
  // generation 1 commits late: neither brings back any of the old group.
  EXPECT_EQ(log.Apply(Generation(3)), GroupResult::kIllegalGeneration);
  EXPECT_EQ(log.Apply(Commit("a", 1, 0, 9)), GroupResult::kIllegalGeneration);
  EXPECT_EQ(log.Apply(Commit("a", 2, 0, 9)), GroupResult::kIllegalGeneration);
  EXPECT_EQ(log.ledger.Find("g"), nullptr);
  // A new group of that name starts from generation 0, as Kafka's does, with no offsets.
  ASSERT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  EXPECT_TRUE(log.ledger.Find("g")->offsets.empty());
  EXPECT_EQ(log.Apply(Commit("a", 1, 0, 2)), GroupResult::kAccepted);
  EXPECT_EQ(log.ledger.Find("g")->offsets.at({"t", 0}).offset, 2);
}

TEST(GroupLedger, PlantedDeleteWithoutFenceBugTakesALiveGroup) {
  GroupLedger ledger(GroupLedgerPlantedBug::kDeleteWithoutFence);
  const std::string empty = Generation(1, false), joined = Generation(2), stale = Delete(1);
  for (uint64_t i = 0; const std::string* bytes : {&empty, &joined, &stale}) {
    ledger.ApplyBatch(raft::Index(++i),
                      std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()));
  }
  EXPECT_EQ(ledger.OutcomeAt(raft::Index(3))->result, GroupResult::kAccepted);
  EXPECT_EQ(ledger.Find("g"), nullptr);
}

TEST(GroupLedger, GarbageIsRefusedNotFatal) {
  Applier log;
  EXPECT_EQ(log.Apply("not a batch"), GroupResult::kInvalid);
  wire::RecordBatchT batch;
  auto record = std::make_unique<wire::RecordT>();
  record->value = {1, 2, 3, 4, 5, 6, 7, 8};
  batch.records.push_back(std::move(record));
  const std::vector<uint8_t> bytes = wire::EncodeRecordBatch(batch);
  EXPECT_EQ(log.Apply(std::string(bytes.begin(), bytes.end())), GroupResult::kInvalid);
  EXPECT_EQ(log.ledger.records_refused(), 2u);
}

// Every group, member, assignment and committed offset of `ledger`, as text (for comparing two).
std::string Describe(const GroupLedger& ledger) {
  std::string out;
  for (const auto& [name, group] : ledger.groups()) {
    out += name + " gen " + std::to_string(group.generation) + " " + group.protocol_type + "/" +
           group.protocol + ":";
    for (const LedgerMember& m : group.members) {
      out += " " + m.member_id + "(" + m.client_id + ")";
      for (const auto& [topic, p] : m.assignment) out += " " + topic + "/" + std::to_string(p);
      out += " bytes " + std::to_string(m.kafka_assignment.size());
    }
    for (const auto& [key, committed] : group.offsets) {
      out += " @" + key.first + "/" + std::to_string(key.second) + "=" +
             std::to_string(committed.offset) + "[" + committed.metadata + "]g" +
             std::to_string(committed.generation);
    }
    out += "\n";
  }
  return out;
}

GroupLedger Restored(const std::string& data, std::string* partition_state = nullptr) {
  absl::StatusOr<GroupLedgerSnapshotData> decoded = GroupLedger::DecodeSnapshot(data);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  GroupLedger ledger;
  if (!decoded.ok()) return ledger;
  if (partition_state != nullptr) *partition_state = decoded->partition_state;
  ledger.Restore(std::move(decoded->groups));
  return ledger;
}

TEST(GroupLedgerSnapshot, RestoresEveryGroupAndKeepsTheFences) {
  Applier log;
  ASSERT_EQ(log.Apply(Commit("", -1, 0, 3)), GroupResult::kAccepted);  // Admin commit, gen 0.
  ASSERT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Commit("a", 1, 0, 5)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Generation(2)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Commit("b", 2, 1, 8)), GroupResult::kAccepted);
  std::string state;
  Applier copy{Restored(log.ledger.EncodeSnapshot("partition-state-bytes"), &state), log.next};
  EXPECT_EQ(state, "partition-state-bytes");
  EXPECT_EQ(Describe(copy.ledger), Describe(log.ledger));
  EXPECT_NE(Describe(copy.ledger).find("@t/0=5[]g1"), std::string::npos) << Describe(copy.ledger);
  // The restored ledger decides the next records as the original does: the zombie of
  // generation 1 stays fenced, generation 2 is not accepted twice, the owner commits.
  for (const std::string& next : {Commit("a", 1, 0, 9), Generation(2), Commit("a", 2, 0, 6),
                                  Commit("", -1, 0, 0), Generation(3, false)}) {
    EXPECT_EQ(copy.Apply(next), log.Apply(next));
  }
  EXPECT_EQ(Describe(copy.ledger), Describe(log.ledger));
}

// A deleted group is absent from the snapshot taken after its delete: restored from it (a
// restart, or a follower far behind) the group does not reappear, and the next records are
// decided as by the ledger that applied the whole log.
TEST(GroupLedgerSnapshot, ADeletedGroupStaysDeleted) {
  Applier log;
  for (const std::string& record :
       {Generation(1), Commit("a", 1, 0, 5), Generation(2, false), Commit("", -1, 1, 7),
        Generation(1, true, "h"), Commit("b", 1, 1, 3, "h"), Delete(2)}) {
    ASSERT_EQ(log.Apply(record), GroupResult::kAccepted);
  }
  Applier copy{Restored(log.ledger.EncodeSnapshot("")), log.next};
  EXPECT_EQ(copy.ledger.Find("g"), nullptr);
  ASSERT_NE(copy.ledger.Find("h"), nullptr);
  EXPECT_EQ(Describe(copy.ledger), Describe(log.ledger));
  for (const std::string& next : {Delete(2), Generation(3), Commit("", -1, 0, 1), Generation(1),
                                  Delete(1, "h"), Commit("b", 1, 1, 4, "h")}) {
    EXPECT_EQ(copy.Apply(next), log.Apply(next));
  }
  EXPECT_EQ(Describe(copy.ledger), Describe(log.ledger));
  EXPECT_EQ(copy.ledger.Find("g")->offsets.size(), 1u) << "only the commit after the delete";
}

TEST(GroupLedgerSnapshot, EmptyLedgerRoundTrips) {
  GroupLedger empty;
  EXPECT_EQ(Describe(Restored(empty.EncodeSnapshot(""))), "");
}

// Snapshots come from a disk or a peer: every truncation and bit flip is refused or decodes to
// a ledger that keeps the rules (never a crash; run under the sanitizers by the fuzz build too).
TEST(GroupLedgerSnapshot, DamagedBytesAreRefusedOrValid) {
  Applier log;
  ASSERT_EQ(log.Apply(Generation(1)), GroupResult::kAccepted);
  ASSERT_EQ(log.Apply(Commit("a", 1, 0, 5)), GroupResult::kAccepted);
  const std::string data = log.ledger.EncodeSnapshot("xyz");
  // A cut that only drops trailing padding may still verify; it must then mean the same.
  for (size_t cut = 0; cut < data.size(); cut++) {
    absl::StatusOr<GroupLedgerSnapshotData> decoded =
        GroupLedger::DecodeSnapshot(data.substr(0, cut));
    if (!decoded.ok()) continue;
    GroupLedger restored;
    restored.Restore(std::move(decoded->groups));
    EXPECT_EQ(Describe(restored), Describe(log.ledger))
        << "cut at " << cut << " of " << data.size();
    EXPECT_GE(cut, data.size() - 8) << "a cut before the padding was accepted";
  }
  for (size_t bit = 0; bit < data.size() * 8; bit++) {
    std::string flipped = data;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    absl::StatusOr<GroupLedgerSnapshotData> decoded = GroupLedger::DecodeSnapshot(flipped);
    if (!decoded.ok()) continue;
    for (const auto& [name, group] : decoded->groups) {
      EXPECT_FALSE(name.empty());
      EXPECT_GE(group.generation, 0);
      for (const auto& [key, committed] : group.offsets) EXPECT_GE(committed.offset, 0);
    }
  }
}

TEST(GroupLedgerSnapshot, BrokenRulesAreRefused) {
  const auto snapshot_with = [](auto&& edit) {
    wire::GroupLedgerSnapshotT snapshot;
    auto group = std::make_unique<wire::GroupSnapshotT>();
    group->state = std::make_unique<wire::GroupGenerationRecordT>();
    group->state->group = "g";
    group->state->generation = 1;
    auto offset = std::make_unique<wire::GroupCommittedOffsetT>();
    offset->topic = "t";
    offset->offset = 4;
    group->offsets.push_back(std::move(offset));
    snapshot.groups.push_back(std::move(group));
    edit(snapshot);
    flatbuffers::FlatBufferBuilder builder;
    builder.Finish(wire::GroupLedgerSnapshot::Pack(builder, &snapshot));
    return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                       builder.GetSize());
  };
  EXPECT_TRUE(GroupLedger::DecodeSnapshot(snapshot_with([](auto&) {})).ok());
  const std::vector<std::pair<std::string, std::function<void(wire::GroupLedgerSnapshotT&)>>>
      broken = {
          {"no name", [](auto& s) { s.groups[0]->state->group.clear(); }},
          {"negative generation", [](auto& s) { s.groups[0]->state->generation = -1; }},
          {"negative offset", [](auto& s) { s.groups[0]->offsets[0]->offset = -1; }},
          {"bad assignor",
           [](auto& s) { s.groups[0]->state->assignor = static_cast<wire::Assignor>(99); }},
          {"no state", [](auto& s) { s.groups[0]->state.reset(); }},
          {"group twice",
           [](auto& s) {
             auto twin = std::make_unique<wire::GroupSnapshotT>();
             twin->state = std::make_unique<wire::GroupGenerationRecordT>(*s.groups[0]->state);
             s.groups.push_back(std::move(twin));
           }},
          {"member twice",
           [](auto& s) {
             for (int i = 0; i < 2; i++) {
               auto m = std::make_unique<wire::GroupMemberRecordT>();
               m->member_id = "m";
               s.groups[0]->state->members.push_back(std::move(m));
             }
           }},
      };
  for (const auto& [what, edit] : broken) {
    EXPECT_FALSE(GroupLedger::DecodeSnapshot(snapshot_with(edit)).ok()) << what;
  }
}

TEST(GroupPartition, IsStableAndInRange) {
  EXPECT_EQ(GroupPartition("", 8), 2166136261u % 8);
  for (uint32_t n : {1u, 3u, 16u}) EXPECT_LT(GroupPartition("orders-consumers", n), n);
  EXPECT_EQ(GroupPartition("a", 1000), GroupPartition("a", 1000));
}

}  // namespace
}  // namespace meridian::core::broker
