#include "checks/group_checker.h"

#include <gtest/gtest.h>

#include "checks/history_builder.h"

namespace meridian::checks {
namespace {

// Members 1 and 2 share partitions 0 and 1; sends by process 0.
HistoryBuilder Base() {
  return HistoryBuilder()
      .Send(0, 0, {10}, {0})
      .Send(0, 0, {11}, {1})
      .Send(0, 1, {20}, {0})
      .GroupAssign(1, 1, {0, 1});
}

std::vector<std::string> Kinds(const History& history) {
  absl::StatusOr<CheckReport> report = CheckGroup(history, {{1, 1}, {2, 2}, {3, 1}});
  EXPECT_TRUE(report.ok());
  std::vector<std::string> kinds;
  for (const Finding& f : report->findings) kinds.push_back(f.kind);
  return kinds;
}

TEST(GroupChecker, AnHonestRebalanceIsValid) {
  const History h = Base()
                        .Poll(1, {{0, 0, 10}, {1, 0, 20}})
                        .GroupCommit(1, 1, {{0, 1}, {1, 1}})
                        .GroupAssign(1, 2, {0})
                        .GroupAssign(2, 2, {1})
                        .Poll(1, {{0, 1, 11}})
                        .GroupCommit(1, 2, {{0, 2}})
                        .Build();
  EXPECT_TRUE(Kinds(h).empty());
}

TEST(GroupChecker, OneMemberUnderTwoProcessesIsOneOwner) {
  // Process 3 is member 1 again (a new process after an info outcome).
  const History h = Base().GroupAssign(3, 1, {0, 1}).GroupCommit(3, 1, {{0, 0}}).Build();
  EXPECT_TRUE(Kinds(h).empty());
}

TEST(GroupChecker, CatchesAPartitionAssignedTwiceInOneGeneration) {
  const History h = Base().GroupAssign(2, 1, {1}).Build();
  EXPECT_EQ(Kinds(h), std::vector<std::string>{"double-assignment"});
}

TEST(GroupChecker, CatchesAZombieCommitAfterTheNextGenerationWasHandedOut) {
  const History h = Base()
                        .Poll(1, {{0, 0, 10}})
                        .GroupAssign(2, 2, {0, 1})
                        .GroupCommit(1, 1, {{0, 1}})  // Generation 1, after generation 2.
                        .Build();
  EXPECT_EQ(Kinds(h), std::vector<std::string>{"zombie-commit"});
}

TEST(GroupChecker, CatchesACommitOfAPartitionNotOwned) {
  const History h = Base().GroupAssign(2, 1, {}).GroupCommit(2, 1, {{0, 0}}).Build();
  EXPECT_EQ(Kinds(h), std::vector<std::string>{"unowned-commit"});
}

TEST(GroupChecker, CatchesACommitAheadOfWhatWasPolledAndTheSkipItCauses) {
  const History h = Base().Poll(1, {{0, 0, 10}}).GroupCommit(1, 1, {{0, 2}}).Build();
  EXPECT_EQ(Kinds(h), (std::vector<std::string>{"commit-ahead", "group-skip"}));
}

TEST(GroupChecker, ACommitOfTheLogStartBeforeAnyReadIsNotAhead) {
  // Retention deleted offsets 0 and 1 of partition 0 before member 1 read any: it starts at 2
  // and may commit 2 at once, but not 3, which it was never given.
  const History at_start =
      Base().GroupAssign(1, 1, {0, 1}, {{0, 2}}).GroupCommit(1, 1, {{0, 2}}).Build();
  EXPECT_TRUE(Kinds(at_start).empty());
  const History past_start =
      Base().GroupAssign(1, 1, {0, 1}, {{0, 2}}).GroupCommit(1, 1, {{0, 3}}).Build();
  EXPECT_EQ(Kinds(past_start), std::vector<std::string>{"commit-ahead"});
  const History without_start = Base().GroupCommit(1, 1, {{0, 2}}).Build();
  EXPECT_EQ(Kinds(without_start),
            (std::vector<std::string>{"commit-ahead", "group-skip", "group-skip"}))
      << "without a recorded start, a commit of 2 skips offsets 0 and 1";
}

TEST(GroupChecker, GenerationsRoundTripThroughTheHistoryFormat) {
  const History h = Base().GroupCommit(1, 1, {{0, 0}}).Build();
  absl::StatusOr<History> parsed = ParseHistory(FormatHistory(h));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->operations[3].generation, 1);
  EXPECT_EQ(parsed->operations[4].generation, 1);
  EXPECT_EQ(parsed->operations[0].generation, -1);
  EXPECT_FALSE(
      ParseHistory(R"({"process":1,"type":"invoke","f":"poll","time_ns":1,"generation":1})").ok())
      << "a poll has no generation";
}

}  // namespace
}  // namespace meridian::checks
