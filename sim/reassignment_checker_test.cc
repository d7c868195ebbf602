// The reassignment checker on planted step logs: each rule fires on the step it forbids (taken
// by NextReassignmentStep with the matching planted bug) and not on the correct order's steps.
#include "sim/workloads/reassignment_checker.h"

#include <gtest/gtest.h>

#include "core/broker/reassignment_step.h"

namespace meridian::sim {
namespace {

using core::broker::ReassignmentPlantedBug;
using Kind = core::broker::ReassignmentStep::Kind;

// Walks a group from voters {1, 2, 3} led by 1 to {1, 2, 4}, logging every step as the
// broker's executor does; a joining learner's match stays 0 until the executor waits.
ReassignmentLog WalkSwap(ReassignmentPlantedBug bug) {
  core::raft::Membership config;
  for (uint32_t id : {1, 2, 3}) config.voters.insert(io::NodeId(id));
  absl::btree_map<io::NodeId, core::raft::Index> match = {{io::NodeId(2), core::raft::Index(500)},
                                                          {io::NodeId(3), core::raft::Index(500)}};
  const std::vector<uint32_t> target = {1, 2, 4};
  ReassignmentLog log;
  for (int i = 0; i < 12; i++) {
    const core::broker::ReassignmentView view{io::NodeId(1), &config, true, core::raft::Index(500),
                                              &match,        target,  {}};
    const core::broker::ReassignmentStep step = core::broker::NextReassignmentStep(view, bug);
    if (step.kind == Kind::kComplete) break;
    if (step.kind == Kind::kWait) {
      match[io::NodeId(4)] = core::raft::Index(500);
      continue;
    }
    core::raft::Membership next;
    const core::raft::ConfChangeKind kind = core::broker::ConfChangeKindOf(step.kind);
    EXPECT_TRUE(core::raft::ApplyConfChange(config, {kind, step.node}, &next).ok());
    const auto m = match.find(step.node);  // A node joining straight as a voter has none.
    log.events.push_back(
        {i,
         {step.kind, "t", 0, 7, step.node.value(), m == match.end() ? 0 : m->second.value(), 500,
          static_cast<uint32_t>(config.voters.size()), static_cast<uint32_t>(next.voters.size()),
          3}});
    config = next;
    if (step.kind == Kind::kAddLearner) match[step.node] = core::raft::Index(0);
  }
  return log;
}

TEST(ReassignmentChecker, TheCorrectOrderPasses) {
  const ReassignmentLog log = WalkSwap(ReassignmentPlantedBug::kNone);
  EXPECT_EQ(log.events.size(), 3u);  // add-learner 4, add-voter 4, remove 3.
  EXPECT_TRUE(JudgeReassignments(log).empty());
}

TEST(ReassignmentChecker, AVoterBeforeItCaughtUpIsCaught) {
  const std::vector<std::string> violations =
      JudgeReassignments(WalkSwap(ReassignmentPlantedBug::kVoterBeforeCaughtUp));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_NE(violations[0].find("voter-not-caught-up"), std::string::npos) << violations[0];
}

// A young group (commit 5, inside the slack): a learner that never answered (match 0) is as
// unfit a voter as a far-behind one, though the slack alone would pass it.
TEST(ReassignmentChecker, AVoterThatNeverAnsweredIsCaughtInAShortLog) {
  ReassignmentLog log;
  log.events.emplace_back(
      0, core::broker::ReassignmentEvent{Kind::kAddVoter, "t", 0, 7, 4, 0, 5, 3, 4, 3});
  const std::vector<std::string> violations = JudgeReassignments(log);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_NE(violations[0].find("voter-not-caught-up"), std::string::npos) << violations[0];
  log.events[0].second.match = 1;
  EXPECT_TRUE(JudgeReassignments(log).empty());
}

TEST(ReassignmentChecker, ARemovalBeforeTheReplacementVotesIsCaught) {
  const std::vector<std::string> violations =
      JudgeReassignments(WalkSwap(ReassignmentPlantedBug::kRemoveBeforeAdd));
  ASSERT_FALSE(violations.empty());
  EXPECT_NE(violations[0].find("voters-below-target"), std::string::npos) << violations[0];
}

TEST(ReassignmentChecker, RestoredMeansReplicationFactorVotersAndNoTarget) {
  core::cluster::TopicRecord topic;
  topic.replication_factor = 3;
  topic.partitions.resize(3);
  topic.partitions[0].replicas = {1, 2, 3};
  topic.partitions[1].replicas = {4};
  topic.partitions[2].replicas = {4, 5, 6};
  topic.partitions[2].target_replicas = {4, 5, 7};
  EXPECT_EQ(ReplicationRestored(topic), (std::vector<bool>{true, false, false}));
}

// Home: the epoch restarted at home since the last promotion, every voter in the home region,
// nothing moving. Nodes 1-3 are in "home", 4-6 in "away".
TEST(ReassignmentChecker, HomeMeansRehomedWithEveryVoterInTheHomeRegionAndNoTarget) {
  core::cluster::TopicRecord topic;
  topic.consistency = core::wire::Consistency::Regional;
  topic.home_region = "home";
  topic.replication_factor = 3;
  topic.partitions.resize(5);
  topic.partitions[0].replicas = {1, 2, 3};  // Never promoted.
  topic.partitions[1].replicas = {4, 5, 6};  // Promoted away.
  topic.partitions[1].epoch = 1;
  topic.partitions[2].replicas = {1, 2, 3};  // Failed back: its epoch restarted at home.
  topic.partitions[2].epoch = 2;
  topic.partitions[2].rehomed_epoch = 2;
  topic.partitions[3].replicas = {1, 2, 4};  // A voter away.
  topic.partitions[4].replicas = {1, 2, 3};  // Moving.
  topic.partitions[4].target_replicas = {1, 2, 5};
  const auto region_of = [](uint32_t id) { return std::string(id <= 3 ? "home" : "away"); };
  EXPECT_EQ(PartitionsHome(topic, region_of), (std::vector<bool>{true, false, true, false, false}));
  topic.consistency = core::wire::Consistency::Strong;  // No home to be in.
  EXPECT_EQ(PartitionsHome(topic, region_of), std::vector<bool>(5, true));
}

}  // namespace
}  // namespace meridian::sim
