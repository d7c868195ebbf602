// Each property of the shared safety checker fires on the smallest history that breaks it, and
// stays quiet on the honest history next to it: a checker that cannot fail is a defect. (The
// planted-bug sweeps show the same checks catching real bugs in whole worlds:
// core/raft/planted_bugs_test.cc, //tests:raft_cluster_test.)
#include "core/raft/testing/safety_checker.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace meridian::core::raft::testing {
namespace {

struct Reported {
  std::vector<std::pair<Property, std::string>> reports;
  SafetyChecker checker{[this](Property property, std::string detail) {
    reports.emplace_back(property, std::move(detail));
  }};
  bool Fired(Property property) const {
    for (const auto& [p, detail] : reports) {
      if (p == property) return true;
    }
    return false;
  }
};

Entry Normal(uint64_t index, uint64_t term, std::string data) {
  return Entry{.term = Term(term), .index = Index(index), .data = std::move(data)};
}

// A log holding `terms[i]` at index i + 1 (data "a<index>t<term>").
RaftLog LogOf(const std::vector<uint64_t>& terms, std::string tag = "") {
  std::vector<Entry> entries;
  for (size_t i = 0; i < terms.size(); i++) {
    entries.push_back(Normal(i + 1, terms[i], tag + "i" + std::to_string(i + 1)));
  }
  return RaftLog(SnapshotMeta{}, std::move(entries), Index(0), kEntryCacheBytesMaxDefault);
}

TEST(SafetyChecker, AnHonestHistoryRaisesNothing) {
  Reported r;
  r.checker.OnLeader(NodeId(1), Term(1), LogOf({}));
  r.checker.OnApply(NodeId(1), Normal(1, 1, "i1"), Term(1));
  r.checker.OnApply(NodeId(2), Normal(1, 1, "i1"), Term(1));
  r.checker.OnLeader(NodeId(2), Term(2), LogOf({1, 2}));
  r.checker.CheckLogMatching(NodeId(1), LogOf({1}), NodeId(2), LogOf({1, 2}));
  r.checker.CheckLogMatching(NodeId(1), LogOf({1, 1}), NodeId(2), LogOf({1, 2}));
  EXPECT_TRUE(r.reports.empty()) << r.reports.front().second;
  EXPECT_EQ(r.checker.committed().size(), 1u);
  EXPECT_EQ(r.checker.newest_led_term(), Term(2));
}

TEST(SafetyChecker, ElectionSafetyFiresOnTwoLeadersInOneTerm) {
  Reported r;
  r.checker.OnLeader(NodeId(1), Term(3), LogOf({}));
  r.checker.OnLeader(NodeId(1), Term(3), LogOf({}));  // The same leadership seen twice.
  EXPECT_TRUE(r.reports.empty());
  r.checker.OnLeader(NodeId(2), Term(3), LogOf({}));
  EXPECT_TRUE(r.Fired(Property::kElectionSafety));
}

TEST(SafetyChecker, LeaderCompletenessFiresOnALeaderWithoutAnEarlierCommit) {
  Reported r;
  r.checker.OnApply(NodeId(1), Normal(1, 1, "i1"), Term(1));
  r.checker.OnLeader(NodeId(2), Term(2), LogOf({2}));
  EXPECT_TRUE(r.Fired(Property::kLeaderCompleteness));
}

TEST(SafetyChecker, LeaderCompletenessComparesWholeEntriesNotOnlyTerms) {
  Reported r;
  r.checker.OnApply(NodeId(1), Normal(1, 1, "i1"), Term(1));
  r.checker.OnLeader(NodeId(2), Term(2), LogOf({1}, "other-"));
  EXPECT_TRUE(r.Fired(Property::kLeaderCompleteness));
}

// A leader of a term no later than the one the entry may have been committed in need not hold
// it (the simulator's stale publication, meridian-sim --workload=raft --seed=236).
TEST(SafetyChecker, LeaderCompletenessJudgesOnlyLeadersOfLaterTerms) {
  Reported r;
  r.checker.OnApply(NodeId(1), Normal(1, 1, "i1"), Term(3));  // Applied by a node in term 3.
  r.checker.OnLeader(NodeId(2), Term(3), LogOf({}));
  EXPECT_TRUE(r.reports.empty());
  r.checker.OnLeader(NodeId(3), Term(4), LogOf({}));
  EXPECT_TRUE(r.Fired(Property::kLeaderCompleteness));
}

// Without the applier's term, the bound is the newest leadership seen at the first apply.
TEST(SafetyChecker, WithoutTheNodesTermTheNewestLeadershipBoundsTheCommit) {
  Reported r;
  r.checker.OnLeader(NodeId(1), Term(2), LogOf({}));
  r.checker.OnApply(NodeId(1), Normal(1, 2, "i1"));
  EXPECT_EQ(r.checker.committed().at(Index(1)).term_max, Term(2));
  r.checker.OnLeader(NodeId(2), Term(2), LogOf({}));  // Election safety, not completeness.
  EXPECT_FALSE(r.Fired(Property::kLeaderCompleteness));
  r.checker.OnLeader(NodeId(3), Term(3), LogOf({}));
  EXPECT_TRUE(r.Fired(Property::kLeaderCompleteness));
}

TEST(SafetyChecker, StateMachineSafetyFiresOnTwoEntriesAppliedAtOneIndex) {
  Reported r;
  r.checker.OnApply(NodeId(1), Normal(4, 2, "x"), Term(2));
  r.checker.OnApply(NodeId(2), Normal(4, 2, "x"), Term(2));
  EXPECT_TRUE(r.reports.empty());
  r.checker.OnApply(NodeId(3), Normal(4, 2, "y"), Term(2));
  EXPECT_TRUE(r.Fired(Property::kStateMachineSafety));
}

TEST(SafetyChecker, LogMatchingFiresOnLogsAgreeingAtAnEntryButNotBelowIt) {
  Reported r;
  r.checker.CheckLogMatching(NodeId(1), LogOf({1, 2, 3}), NodeId(2), LogOf({1, 1, 3}));
  EXPECT_TRUE(r.Fired(Property::kLogMatching));
}

TEST(SafetyChecker, LogMatchingFiresAcrossTimeOnLeadersLogs) {
  Reported r;
  r.checker.OnLeader(NodeId(1), Term(3), LogOf({1, 2, 3}));
  r.checker.OnLeader(NodeId(2), Term(4), LogOf({1, 2, 3, 4}));  // Agrees: quiet.
  EXPECT_TRUE(r.reports.empty());
  r.checker.OnLeader(NodeId(3), Term(5), LogOf({1, 1, 3}));  // i3:t3 after t1, was after t2.
  EXPECT_TRUE(r.Fired(Property::kLogMatching));
}

}  // namespace
}  // namespace meridian::core::raft::testing
