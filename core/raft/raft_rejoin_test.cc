// A node removed from a group, its copy deleted, and added back later (core/broker's
// reassignments do this) catches up from a log that may hold configurations from before it was
// removed, in which it was a voter. Two such copies, cut off from the group part-way through
// their catch-up, make a quorum of an old configuration and elect a leader whose log lacks what
// the group committed since. RaftOptions::joining keeps such a copy from voting or campaigning
// until its configuration is as recent as its leader's (design.md "Joining replicas").
// Found by meridian-sim seed 78 of --scenario=geo-3x3 --change_consistency=regional
// --kinds=partition,region_loss: strong -> regional removed two voters and added them back as
// observers, their home region was lost while they caught up, and the two elected one of them.
#include <gtest/gtest.h>

#include <vector>

#include "core/raft/raft.h"
#include "core/raft/testing/test_net.h"

namespace meridian::core::raft {
namespace {

using testing::TestNet;

// The index of the configuration entry that added node 4 as a learner (after the first
// leader's no-op): voters {1,2,3}, of which 2 and 3 are a majority.
constexpr Index kOldConfiguration(2);

// Delivers queued messages, cutting every append to a rejoining node (2 or 3) after
// kOldConfiguration: they catch up no further than that old configuration.
void DeliverWithRejoinersStuck(TestNet& net) {
  net.Flush();
  for (int i = 0; i < 5000 && !net.queue().empty(); i++) {
    Message m = net.queue().front();
    net.queue().pop_front();
    const bool rejoiner = m.to == NodeId(2) || m.to == NodeId(3);
    if (rejoiner && m.type == MessageType::kSnapshot) continue;
    if (rejoiner && m.type == MessageType::kAppend) {
      std::erase_if(m.entries, [](const Entry& e) { return e.index > kOldConfiguration; });
    }
    net.node(m.to.value()).Step(m);
    net.Flush();
  }
  net.DropQueued();
}

struct RejoinOutcome {
  Index committed;                    // What the group {1,4,5} had committed when cut off.
  std::vector<uint32_t> old_leaders;  // Nodes 2 or 3 that led once the others were gone.
  Index old_leader_last;              // The last index of such a leader's log.
};

// Voters {1,2,3}; 4 and 5 join; 2 and 3 leave and the group commits more; then 2 and 3 come
// back with empty copies as learners (`joining` as core/broker sets it for them), catch up only
// to kOldConfiguration, and nodes 1, 4 and 5 are lost.
RaftOptions RejoinOptions() {
  RaftOptions options = TestNet::DefaultOptions();
  options.append_entries_max = 1;  // So the catch-up can be cut entry by entry.
  return options;
}

RejoinOutcome RemovedVotersComeBackAndTheGroupIsLost(TestNet& net, bool joining) {
  const RaftOptions options = RejoinOptions();
  net.Campaign(1);
  EXPECT_EQ(net.node(1).role(), Role::kLeader);
  for (uint32_t id : {4u, 5u}) {
    Membership bootstrap;
    bootstrap.voters = {NodeId(1), NodeId(2), NodeId(3)};
    bootstrap.learners = {NodeId(id)};
    net.Add(NodeId(id), bootstrap);
    EXPECT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kAddLearner, NodeId(id)}).ok());
    net.DeliverAll();
    EXPECT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kAddVoter, NodeId(id)}).ok());
    net.DeliverAll();
  }
  EXPECT_EQ(net.node(2).log().TermAt(kOldConfiguration), Term(1));
  for (uint32_t id : {2u, 3u}) {
    EXPECT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kRemove, NodeId(id)}).ok());
    net.DeliverAll();
  }
  for (const char* data : {"b", "c"}) EXPECT_TRUE(net.node(1).Propose(data).ok());
  net.DeliverAll();
  RejoinOutcome outcome;
  outcome.committed = net.node(1).log().commit();
  EXPECT_EQ(outcome.committed, net.node(1).log().last_index());
  for (uint32_t id : {2u, 3u}) {
    RaftOptions rejoiner = options;
    rejoiner.bootstrap.voters = {NodeId(1), NodeId(4), NodeId(5)};
    rejoiner.bootstrap.learners = {NodeId(2), NodeId(3)};
    rejoiner.joining = joining;
    net.Wipe(NodeId(id), rejoiner);
    EXPECT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kAddLearner, NodeId(id)}).ok());
    DeliverWithRejoinersStuck(net);
    for (uint32_t t = 0; t < 4; t++) {
      net.node(1).Tick();
      DeliverWithRejoinersStuck(net);
    }
    EXPECT_EQ(net.node(id).log().last_index(), kOldConfiguration) << "node " << id;
    EXPECT_EQ(net.node(id).membership().voters,
              (absl::btree_set<NodeId>{NodeId(1), NodeId(2), NodeId(3)}))
        << "node " << id << " holds the old configuration in which 2 and 3 are a majority";
  }
  for (uint32_t id : {1u, 4u, 5u}) net.Isolate(id);
  for (uint32_t tick = 0; tick < 300; tick++) {
    net.TickAll(1);
    for (uint32_t id : {2u, 3u}) {
      if (net.node(id).role() != Role::kLeader) continue;
      if (outcome.old_leaders.empty()) outcome.old_leader_last = net.node(id).log().last_index();
      if (std::find(outcome.old_leaders.begin(), outcome.old_leaders.end(), id) ==
          outcome.old_leaders.end()) {
        outcome.old_leaders.push_back(id);
      }
    }
  }
  return outcome;
}

// The hazard itself, with the guard off: the two stale copies elect a leader whose log ends
// below what the group committed. Were they not cut off from the others for good, that leader
// would overwrite committed entries on every node it reached.
TEST(RejoiningReplicas, WithoutTheGuardTwoStaleCopiesElectALeaderLackingCommittedEntries) {
  TestNet net(3, RejoinOptions());
  const RejoinOutcome outcome = RemovedVotersComeBackAndTheGroupIsLost(net, /*joining=*/false);
  ASSERT_FALSE(outcome.old_leaders.empty()) << "the stale quorum elected no leader";
  EXPECT_LT(outcome.old_leader_last, outcome.committed);
}

TEST(RejoiningReplicas, AJoiningCopyNeitherCampaignsNorVotesOnAnOldConfiguration) {
  TestNet net(3, RejoinOptions());
  const RejoinOutcome outcome = RemovedVotersComeBackAndTheGroupIsLost(net, /*joining=*/true);
  EXPECT_TRUE(outcome.old_leaders.empty()) << "node " << outcome.old_leaders.front() << " led";
  for (uint32_t id : {2u, 3u}) {
    EXPECT_TRUE(net.node(id).joining()) << "node " << id;
    EXPECT_EQ(net.node(id).role(), Role::kFollower) << "node " << id;
  }
  // Asked directly, node 2 refuses its vote however up to date the candidate is.
  Raft& two = net.node(2);
  net.DropQueued();
  two.Step(Message{.type = MessageType::kVote,
                   .from = NodeId(3),
                   .to = NodeId(2),
                   .term = two.term().next(),
                   .log_index = two.log().last_index(),
                   .log_term = two.log().last_term()});
  bool refused = false;
  for (const Message& m : net.Flush()) {
    if (m.type == MessageType::kVoteResponse && m.to == NodeId(3)) refused = m.reject;
  }
  EXPECT_TRUE(refused);
  // Once the group is back, they catch up past the leader's configuration and stop joining.
  net.Heal();
  net.TickAll(40);
  for (uint32_t id : {2u, 3u}) {
    EXPECT_FALSE(net.node(id).joining()) << "node " << id;
    EXPECT_EQ(net.node(id).log().last_index(), net.node(1).log().last_index()) << "node " << id;
  }
}

// A replica joining a group whose leader never changed configuration (index 0: the bootstrap
// one) stops joining at the leader's first message.
TEST(RejoiningReplicas, UnderTheBootstrapConfigurationJoiningEndsAtOnce) {
  RaftOptions options = TestNet::DefaultOptions();
  TestNet net(2, options);
  net.Campaign(1);
  RaftOptions joiner = options;
  joiner.bootstrap.voters = {NodeId(1), NodeId(2)};
  joiner.joining = true;
  net.Wipe(NodeId(2), joiner);
  ASSERT_TRUE(net.node(2).joining());
  net.TickAll(4);
  EXPECT_FALSE(net.node(2).joining());
}

// A reassignment chosen before its group's first election: the metadata names voters 2 and 3 as
// leaving, so their copies (nothing stored yet) start joining, and voter 1 can win no vote.
// Without the unstarted-group probe nobody ever led (`meridian-sim --scenario=geo-3x3 --seed=14
// --consistency=regional --change_consistency=strong`, 2026-12-04: the partition took no write
// for the whole run). Every other voter answering with an empty log ends the joining; one
// answering with entries keeps it (RejoiningReplicas.AJoiningCopyNeitherCampaigns...).
void AGroupWhoseOtherVotersStartJoiningElects(PreVote pre_vote) {
  RaftOptions options = TestNet::DefaultOptions();
  options.pre_vote = pre_vote;
  TestNet net(3, options);
  RaftOptions joiner = options;
  joiner.bootstrap.voters = {NodeId(1), NodeId(2), NodeId(3)};
  joiner.joining = true;
  net.Wipe(NodeId(2), joiner);
  net.Wipe(NodeId(3), joiner);
  ASSERT_TRUE(net.node(2).joining());
  ASSERT_TRUE(net.node(3).joining());
  const uint32_t leader = net.ElectAny(300);
  ASSERT_NE(leader, 0u) << "no leader in 300 ticks";
  EXPECT_FALSE(net.node(2).joining());
  EXPECT_FALSE(net.node(3).joining());
  absl::StatusOr<Index> index = net.node(leader).Propose("x");
  ASSERT_TRUE(index.ok()) << index.status();
  net.TickAll(3);
  for (uint32_t id : {1u, 2u, 3u}) {
    EXPECT_GE(net.node(id).log().commit(), *index) << "node " << id;
  }
}

TEST(RejoiningReplicas, AGroupWhoseOtherVotersStartJoiningElects) {
  AGroupWhoseOtherVotersStartJoiningElects(PreVote::kOff);
}

TEST(RejoiningReplicas, AGroupWhoseOtherVotersStartJoiningElectsWithPreVote) {
  AGroupWhoseOtherVotersStartJoiningElects(PreVote::kOn);
}

// The probe's other half: a joining voter whose group has started (here: every other voter holds
// entries, and none leads yet: both restarted) keeps joining after the answers, and waits for a
// leader's configuration as before.
TEST(RejoiningReplicas, AJoiningVoterWhoseGroupStartedKeepsJoiningAfterItsProbe) {
  RaftOptions options = TestNet::DefaultOptions();
  TestNet net(3, options);
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  RaftOptions joiner = options;
  joiner.bootstrap.voters = {NodeId(1), NodeId(2), NodeId(3)};
  joiner.joining = true;
  net.Wipe(NodeId(2), joiner);
  net.Restart(NodeId(1));
  net.Restart(NodeId(3));
  // Only node 2 ticks: it probes once an election timeout has passed; nodes 1 and 3 answer.
  for (uint32_t t = 0; t < 2 * options.election_timeout_ticks; t++) {
    net.node(2).Tick();
    net.DeliverAll();
  }
  EXPECT_TRUE(net.node(2).joining()) << "a probe answered with entries ended the joining";
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
  EXPECT_EQ(net.node(3).role(), Role::kFollower);
}

// Joining applies to a copy that starts with nothing stored; one restarting with stored state
// (here, stuck at the old configuration) does not join again: the gap design.md "Joining
// replicas" names. Joining at every restart cost groups their quorum in the simulator.
TEST(RejoiningReplicas, OnlyACopyWithNothingStoredJoins) {
  TestNet net(3, RejoinOptions());
  RemovedVotersComeBackAndTheGroupIsLost(net, /*joining=*/true);
  ASSERT_TRUE(net.node(2).joining());
  net.Restart(NodeId(2));
  EXPECT_FALSE(net.node(2).joining());
  EXPECT_TRUE(net.node(2).options().joining);
}

// The way core/broker now turns a voter into an observer: in place, log kept. The demoted node
// stops counting toward commits and votes, still receives every entry, and the leader cannot
// demote itself (it transfers first, as for a removal).
TEST(Demote, AVoterBecomesALearnerKeepingItsLog) {
  TestNet net(3, TestNet::DefaultOptions());
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).Propose("a").ok());
  net.DeliverAll();
  EXPECT_FALSE(net.node(1).ProposeConfChange({ConfChangeKind::kDemote, NodeId(1)}).ok());
  ASSERT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kDemote, NodeId(3)}).ok());
  net.DeliverAll();
  const Membership expected{.voters = {NodeId(1), NodeId(2)}, .learners = {NodeId(3)}};
  for (uint32_t id : {1u, 2u, 3u}) EXPECT_EQ(net.node(id).membership(), expected) << id;
  EXPECT_EQ(net.node(3).log().last_index(), net.node(1).log().last_index());
  // Commits without it; it still receives them.
  net.Isolate(2);
  ASSERT_TRUE(net.node(1).Propose("b").ok());
  net.DeliverAll();
  EXPECT_LT(net.node(1).log().commit(), net.node(1).log().last_index()) << "3 does not count";
  net.Heal();
  net.TickAll(4);
  EXPECT_EQ(net.node(1).log().commit(), net.node(1).log().last_index());
  EXPECT_EQ(net.node(3).log().last_index(), net.node(1).log().last_index());
  Membership alone{.voters = {NodeId(1)}};
  Membership next;
  EXPECT_FALSE(ApplyConfChange(alone, {ConfChangeKind::kDemote, NodeId(1)}, &next).ok());
  EXPECT_FALSE(ApplyConfChange(expected, {ConfChangeKind::kDemote, NodeId(3)}, &next).ok())
      << "a learner is not demoted again";
}

}  // namespace
}  // namespace meridian::core::raft
