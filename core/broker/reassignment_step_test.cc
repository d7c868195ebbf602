// NextReassignmentStep walked to completion against a model group: learners first, voters only
// once caught up, departing voters last (the leader hands over first), one change per commit;
// the planted bugs take the steps the order forbids.
#include "core/broker/reassignment_step.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vector>

namespace meridian::core::broker {
namespace {

using Kind = ReassignmentStep::Kind;

struct Group {
  io::NodeId leader;
  raft::Membership config;
  bool committed = true;
  raft::Index commit{100};
  absl::btree_map<io::NodeId, raft::Index> match;

  ReassignmentStep Next(const std::vector<uint32_t>& voters, const std::vector<uint32_t>& observers,
                        ReassignmentPlantedBug bug = ReassignmentPlantedBug::kNone) {
    return NextReassignmentStep({leader, &config, committed, commit, &match, voters, observers},
                                bug);
  }
  // Carries a step out and commits it; a joining learner starts empty.
  void Take(const ReassignmentStep& step) {
    raft::Membership next = config;
    if (step.kind == Kind::kTransfer) {
      leader = step.node;
      return;
    }
    const raft::ConfChangeKind kind = ConfChangeKindOf(step.kind);
    ASSERT_TRUE(raft::ApplyConfChange(config, {kind, step.node}, &next).ok());
    config = next;
    if (step.kind == Kind::kAddLearner) match[step.node] = raft::Index(0);
  }
};

raft::Membership Voters(std::initializer_list<uint32_t> ids) {
  raft::Membership membership;
  for (uint32_t id : ids) membership.voters.insert(io::NodeId(id));
  return membership;
}

std::vector<std::string> Walk(Group& group, const std::vector<uint32_t>& voters,
                              const std::vector<uint32_t>& observers,
                              ReassignmentPlantedBug bug = ReassignmentPlantedBug::kNone) {
  std::vector<std::string> steps;
  for (int i = 0; i < 20; i++) {
    ReassignmentStep step = group.Next(voters, observers, bug);
    if (step.kind == Kind::kWait) {
      steps.push_back("wait");
      for (auto& [node, match] : group.match) match = group.commit;  // Catching up.
      continue;
    }
    steps.push_back(fmt::format("{} {}", StepName(step.kind), step.node.value()));
    if (step.kind == Kind::kComplete) break;
    group.Take(step);
  }
  return steps;
}

// A young log (commit 5, inside the slack) and a learner on a dead node (it never answered):
// promoting it would make a group of three voters with one down a group of four with two down,
// which has no quorum. Seen in the simulator: a mode change planned onto a region whose loss
// was not yet noticed stopped every write of the topic (meridian-sim --seed=85
// --change_consistency=regional).
TEST(ReassignmentStep, ALearnerThatNeverAnsweredIsNotPromotedHoweverShortTheLog) {
  Group group{io::NodeId(1), Voters({1, 2, 3}), true, raft::Index(5), {}};
  group.match[io::NodeId(2)] = raft::Index(5);
  group.match[io::NodeId(3)] = raft::Index(5);
  group.Take(group.Next({1, 2, 4}, {}));  // add-learner 4, empty
  const ReassignmentStep waiting = group.Next({1, 2, 4}, {});
  EXPECT_EQ(waiting.kind, Kind::kWait) << StepName(waiting.kind) << " " << waiting.node.value();
  // With its configuration's entry at index 4: answering the entries before it only is not
  // enough.
  const std::vector<uint32_t> target = {1, 2, 4};
  const auto next_kind = [&] {
    return NextReassignmentStep({group.leader,
                                 &group.config,
                                 true,
                                 group.commit,
                                 &group.match,
                                 target,
                                 {},
                                 raft::Index(4)})
        .kind;
  };
  group.match[io::NodeId(4)] = raft::Index(3);
  EXPECT_EQ(next_kind(), Kind::kWait);
  group.match[io::NodeId(4)] = raft::Index(4);
  EXPECT_EQ(next_kind(), Kind::kAddVoter);
}

TEST(ReassignmentStep, APromotedSingleVoterGrowsBackOneCaughtUpVoterAtATime) {
  Group group{io::NodeId(4), Voters({4})};
  group.config.learners = {io::NodeId(7), io::NodeId(1)};
  for (uint32_t id : {7, 1}) group.match[io::NodeId(id)] = raft::Index(100);
  EXPECT_EQ(Walk(group, {4, 5, 6}, {7, 1}),
            (std::vector<std::string>{"add-learner 5", "add-learner 6", "wait", "add-voter 5",
                                      "add-voter 6", "complete 0"}));
}

TEST(ReassignmentStep, ADepartingLeaderHandsOverBeforeItIsRemoved) {
  Group group{io::NodeId(3), Voters({1, 2, 3})};
  for (uint32_t id : {1, 2}) group.match[io::NodeId(id)] = raft::Index(100);
  EXPECT_EQ(Walk(group, {1, 2, 4}, {}),
            (std::vector<std::string>{"add-learner 4", "wait", "add-voter 4",
                                      "transfer-leadership 1", "remove 3", "complete 0"}));
}

// strong -> regional in geo-3x3: voters 8, 5, 2 (one per region) become voters 2, 1, 3 in
// us-east with 8 and 5 kept as observers. They are demoted in place, never removed and added
// back (an empty copy would catch up through the old configurations in which it voted; raft
// design.md "Joining replicas"); the leader, 8, hands over before its own demotion.
TEST(ReassignmentStep, AVoterKeptAsAnObserverIsDemotedInPlace) {
  Group group{io::NodeId(8), Voters({8, 5, 2})};
  for (uint32_t id : {5, 2}) group.match[io::NodeId(id)] = raft::Index(100);
  EXPECT_EQ(Walk(group, {2, 1, 3}, {8, 5}),
            (std::vector<std::string>{"add-learner 1", "add-learner 3", "wait", "add-voter 1",
                                      "add-voter 3", "demote 5", "transfer-leadership 2",
                                      "demote 8", "complete 0"}));
  EXPECT_EQ(group.config.learners, (absl::btree_set<io::NodeId>{io::NodeId(5), io::NodeId(8)}));
}

TEST(ReassignmentStep, NothingMovesWhileAChangeIsUncommitted) {
  Group group{io::NodeId(1), Voters({1, 2, 3})};
  group.committed = false;
  EXPECT_EQ(group.Next({1, 2, 4}, {}).kind, Kind::kWait);
  group.committed = true;
  EXPECT_EQ(group.Next({1, 2, 3}, {}).kind, Kind::kComplete);
  group.config.learners = {io::NodeId(9)};
  EXPECT_EQ(group.Next({1, 2, 3}, {}).kind, Kind::kRemove) << "a learner not in the target";
}

TEST(ReassignmentStep, PlantedBugsTakeTheForbiddenSteps) {
  Group early{io::NodeId(4), Voters({4})};
  EXPECT_EQ(Walk(early, {4, 5}, {}, ReassignmentPlantedBug::kVoterBeforeCaughtUp),
            (std::vector<std::string>{"add-voter 5", "complete 0"}));
  Group first{io::NodeId(1), Voters({1, 2, 3})};
  EXPECT_EQ(Walk(first, {1, 2, 4}, {}, ReassignmentPlantedBug::kRemoveBeforeAdd).front(),
            "remove 3");
}

}  // namespace
}  // namespace meridian::core::broker
