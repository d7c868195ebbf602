#include "core/broker/group_ledger.h"

#include <gtest/gtest.h>

#include "core/wire/client_codec.h"

namespace meridian::core::broker {
namespace {

std::unique_ptr<wire::TopicPartitionsT> Partitions(std::string topic, std::vector<uint32_t> ps) {
  auto out = std::make_unique<wire::TopicPartitionsT>();
  out->topic = std::move(topic);
  out->partitions = std::move(ps);
  return out;
}

// Generation `generation` of group "g": member "a" owns t/0, member "b" owns t/1.
std::string Generation(int32_t generation, bool with_members = true) {
  wire::GroupGenerationRecordT record;
  record.group = "g";
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

std::string Commit(std::string member, int32_t generation, uint32_t partition, int64_t offset) {
  wire::GroupOffsetCommitRecordT record;
  record.group = "g";
  record.member_id = std::move(member);
  record.generation = generation;
  auto po = std::make_unique<wire::PartitionOffsetT>();
  po->topic = "t";
  po->partition = partition;
  po->offset = offset;
  record.offsets.push_back(std::move(po));
  return GroupLedger::EncodeCommit(record, 1000);
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

TEST(GroupPartition, IsStableAndInRange) {
  EXPECT_EQ(GroupPartition("", 8), 2166136261u % 8);
  for (uint32_t n : {1u, 3u, 16u}) EXPECT_LT(GroupPartition("orders-consumers", n), n);
  EXPECT_EQ(GroupPartition("a", 1000), GroupPartition("a", 1000));
}

}  // namespace
}  // namespace meridian::core::broker
