// Quiescence (design.md "Quiescence"): an idle, fully replicated group stops heartbeating and
// ticking; a proposal, any message or a node-liveness change wakes it; a leader's loss wakes its
// quiesced followers through the liveness signal, and they elect a new leader.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/raft/testing/test_net.h"

namespace meridian::core::raft::testing {
namespace {

constexpr uint32_t kQuietTicks = 10;

RaftOptions QuiescingOptions(PlantedBug bug = PlantedBug::kNone) {
  RaftOptions options = TestNet::DefaultOptions();
  options.pre_vote = PreVote::kOn;
  options.check_quorum = CheckQuorum::kOn;
  options.quiesce_after_ticks = kQuietTicks;
  options.planted_bug = bug;
  return options;
}

bool AllQuiesced(TestNet& net) {
  for (uint32_t id = 1; id <= 3; id++) {
    if (!net.node(id).quiesced()) return false;
  }
  return true;
}

// A 3-node group with a leader and one committed entry, left idle until it quiesces.
class Quiescence : public ::testing::Test {
 protected:
  void Start(PlantedBug bug = PlantedBug::kNone) {
    net_ = std::make_unique<TestNet>(3, QuiescingOptions(bug));
    leader_ = net_->ElectAny();
    ASSERT_NE(leader_, 0u);
    ASSERT_TRUE(net_->node(leader_).Propose("x").ok());
    net_->DeliverAll();
    net_->OnSend([this](const Message&) { sent_++; });
    net_->TickAll(kQuietTicks + 4);
    ASSERT_TRUE(AllQuiesced(*net_)) << "idle for longer than quiesce_after_ticks";
    sent_ = 0;
  }
  uint32_t Follower(uint32_t k) const {  // The k-th (0 or 1) node that is not the leader.
    uint32_t seen = 0;
    for (uint32_t id = 1; id <= 3; id++) {
      if (id != leader_ && seen++ == k) return id;
    }
    return 0;
  }
  uint32_t LeaderOtherThan(uint32_t old) {
    for (uint32_t id = 1; id <= 3; id++) {
      if (id != old && net_->node(id).role() == Role::kLeader) return id;
    }
    return 0;
  }

  std::unique_ptr<TestNet> net_;
  uint32_t leader_ = 0;
  uint64_t sent_ = 0;
};

TEST_F(Quiescence, AnIdleGroupSendsNothingAndNobodyCampaigns) {
  Start();
  const Term term = net_->node(leader_).term();
  net_->TickAll(20 * QuiescingOptions().election_timeout_ticks);
  EXPECT_EQ(sent_, 0u) << "a quiesced group sends no heartbeats";
  EXPECT_EQ(net_->node(leader_).role(), Role::kLeader);
  EXPECT_EQ(net_->node(leader_).term(), term);
  EXPECT_TRUE(AllQuiesced(*net_));
}

TEST_F(Quiescence, AProposalWakesTheGroupWhichCommitsAndQuiescesAgain) {
  Start();
  ASSERT_TRUE(net_->node(leader_).Propose("y").ok());
  EXPECT_FALSE(net_->node(leader_).quiesced());
  net_->DeliverAll();
  for (uint32_t id = 1; id <= 3; id++) {
    EXPECT_EQ(net_->node(id).log().commit(), net_->node(leader_).log().last_index());
    EXPECT_FALSE(net_->node(id).quiesced()) << "the append woke node " << id;
  }
  net_->TickAll(kQuietTicks + 4);
  EXPECT_TRUE(AllQuiesced(*net_));
}

TEST_F(Quiescence, AQuiescedLeaderHoldsNoLease) {
  Start();
  EXPECT_FALSE(net_->node(leader_).LeaseRead().ok());
}

// Answers sent before the group quiesced arrive late on geo links: they tell the leader nothing
// it did not know when it went to sleep, and must not wake it (CarriesNoNews); a rejection does.
TEST_F(Quiescence, LateAnswersFromBeforeQuiescenceDoNotWakeTheLeader) {
  Start();
  Raft& leader = net_->node(leader_);
  const NodeId follower(Follower(0));
  const Term term = leader.term();
  leader.Step(Message{.type = MessageType::kHeartbeatResponse,
                      .from = follower,
                      .to = NodeId(leader_),
                      .term = term,
                      .context_ticks = 0});
  leader.Step(Message{.type = MessageType::kAppendResponse,
                      .from = follower,
                      .to = NodeId(leader_),
                      .term = term,
                      .log_index = leader.progress().at(follower).match()});
  EXPECT_TRUE(leader.quiesced()) << "a late answer woke the leader";
  leader.Step(Message{.type = MessageType::kAppendResponse,
                      .from = follower,
                      .to = NodeId(leader_),
                      .term = term,
                      .log_index = leader.log().last_index(),
                      .reject = true,
                      .hint_index = leader.log().last_index(),
                      .hint_term = leader.log().last_term()});
  EXPECT_FALSE(leader.quiesced()) << "a rejection is news";
}

// The leader dies while its group sleeps: only the liveness signal can tell its followers.
TEST_F(Quiescence, LeaderLossWakesTheFollowersWhoElectANewLeader) {
  Start();
  net_->Isolate(leader_);
  for (uint32_t k = 0; k < 2; k++)
    net_->node(Follower(k)).NodeLivenessChanged(NodeId(leader_), false);
  net_->TickAll(3 * QuiescingOptions().election_timeout_ticks);
  const uint32_t next = LeaderOtherThan(leader_);
  ASSERT_NE(next, 0u) << "the followers elected a new leader";
  EXPECT_GT(net_->node(next).term(), net_->node(leader_).term());
}

// A leader's node restarting inside the liveness window: the driver reports it down and up at
// once (core/replica Replica::NodeRestarted). The "up" must not put the woken followers back to
// sleep: they elect, since the restarted node leads nothing (geo-5x1 seed 398 slept for good).
TEST_F(Quiescence, ALeaderRestartReportedAsDownThenUpAtOnceStillWakesTheFollowers) {
  Start();
  net_->Isolate(leader_);  // What the restarted node no longer does: lead.
  for (uint32_t k = 0; k < 2; k++) {
    net_->node(Follower(k)).NodeLivenessChanged(NodeId(leader_), false);
    net_->node(Follower(k)).NodeLivenessChanged(NodeId(leader_), true);
  }
  net_->TickAll(3 * QuiescingOptions().election_timeout_ticks);
  const uint32_t next = LeaderOtherThan(leader_);
  ASSERT_NE(next, 0u) << "the followers elected a new leader";
  EXPECT_GT(net_->node(next).term(), net_->node(leader_).term());
}

TEST_F(Quiescence, PlantedFollowersThatIgnoreLeaderLossSleepForever) {
  Start(PlantedBug::kQuiescedFollowerIgnoresLeaderLoss);
  net_->Isolate(leader_);
  for (uint32_t k = 0; k < 2; k++)
    net_->node(Follower(k)).NodeLivenessChanged(NodeId(leader_), false);
  net_->TickAll(30 * QuiescingOptions().election_timeout_ticks);
  EXPECT_EQ(LeaderOtherThan(leader_), 0u) << "nobody campaigns: the group is down for good";
}

// Without the liveness signal nothing wakes a quiesced follower: the driver contract.
TEST_F(Quiescence, WithoutTheLivenessSignalFollowersKeepSleeping) {
  Start();
  net_->Isolate(leader_);
  net_->TickAll(30 * QuiescingOptions().election_timeout_ticks);
  EXPECT_EQ(LeaderOtherThan(leader_), 0u);
  EXPECT_TRUE(net_->node(Follower(0)).quiesced());
}

// Another member's liveness changing does not wake a follower; it does wake the leader, which
// then runs check-quorum again and stays awake while that member does not answer.
TEST_F(Quiescence, AMemberLivenessChangeWakesTheLeaderOnly) {
  Start();
  const uint32_t lost = Follower(1);
  net_->node(Follower(0)).NodeLivenessChanged(NodeId(lost), false);
  EXPECT_TRUE(net_->node(Follower(0)).quiesced());
  net_->Isolate(lost);
  net_->node(leader_).NodeLivenessChanged(NodeId(lost), false);
  EXPECT_FALSE(net_->node(leader_).quiesced());
  net_->TickAll(5 * QuiescingOptions().election_timeout_ticks);
  EXPECT_EQ(net_->node(leader_).role(), Role::kLeader) << "a quorum (2 of 3) still answers";
  EXPECT_FALSE(net_->node(leader_).quiesced()) << "not with a member that does not answer";
  net_->Heal();
  net_->node(leader_).NodeLivenessChanged(NodeId(lost), true);
  net_->TickAll(kQuietTicks + 8);
  EXPECT_TRUE(AllQuiesced(*net_));
}

// A leader woken by anything but a proposal heartbeats at once: its followers (and its
// check-quorum count) hear from it now, not a heartbeat interval later.
TEST_F(Quiescence, AWokenLeaderHeartbeatsAtOnce) {
  Start();
  const NodeId lost(Follower(1));
  std::vector<Message> sent;
  net_->OnSend([&](const Message& m) { sent.push_back(m); });
  net_->node(leader_).NodeLivenessChanged(lost, false);
  ASSERT_FALSE(net_->node(leader_).quiesced());
  net_->Flush();  // No tick: only what waking sent.
  uint32_t heartbeats = 0;
  for (const Message& m : sent) {
    if (m.from == NodeId(leader_) && m.type == MessageType::kHeartbeat) heartbeats++;
  }
  EXPECT_EQ(heartbeats, 2u) << "one heartbeat to each follower, before any tick";
}

// A follower that missed the quiesce message keeps its timer; its pre-vote wakes the others,
// who refuse it (their leader is alive), and the group settles and quiesces again, same term.
TEST_F(Quiescence, AFollowerThatMissedTheQuiesceMessageDoesNotDepose) {
  net_ = std::make_unique<TestNet>(3, QuiescingOptions());
  leader_ = net_->ElectAny();
  ASSERT_NE(leader_, 0u);
  const Term term = net_->node(leader_).term();
  const uint32_t deaf = Follower(0);
  for (uint32_t t = 0; t < kQuietTicks + 4 && !net_->node(leader_).quiesced(); t++) {
    net_->TickAll(1);
  }
  ASSERT_TRUE(net_->node(leader_).quiesced());
  // Undo the quiesce for one follower as if its message was lost: restart it from its disk.
  net_->Restart(NodeId(deaf));
  net_->TickAll(6 * QuiescingOptions().election_timeout_ticks);
  EXPECT_EQ(net_->node(leader_).role(), Role::kLeader);
  EXPECT_EQ(net_->node(leader_).term(), term);
  EXPECT_TRUE(AllQuiesced(*net_));
}

}  // namespace
}  // namespace meridian::core::raft::testing
