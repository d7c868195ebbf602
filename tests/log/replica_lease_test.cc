// core/replica's lease reads on the simulator (Replica::LeaseRead): the lease is counted in raft
// ticks, and a driver stuck in a slow fsync delivers none, so the replica must count the ticks it
// owes. Otherwise a lease would last as long as the stall, not its 90% of an election timeout.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "core/replica/replica.h"
#include "sim/sim_disk.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

core::replica::ReplicaOptions SingleVoter(core::raft::PlantedBug bug) {
  core::replica::ReplicaOptions options;
  options.raft.id = SimNode::kNode;
  options.raft.bootstrap.voters.insert(SimNode::kNode);
  options.raft.planted_bug = bug;
  return options;
}

// Node 1 of the voters {1, `peer`}; `peer` exists in the world but runs nothing, so the test
// hands node 1 by hand whatever `peer` would have sent.
core::replica::ReplicaOptions VoterWithSilentPeer(SimNode& node, io::NodeId peer) {
  node.world().AddNode(peer, "host2", [](io::Runtime&) {});
  core::replica::ReplicaOptions options = SingleVoter(core::raft::PlantedBug::kNone);
  options.raft.bootstrap.voters.insert(peer);
  return options;
}

struct Stall {
  io::Duration proposal_took{};               // How long the stalled proposal waited.
  std::optional<io::Duration> first_refusal;  // After the stall began; nullopt: never refused.
  bool served_after = false;                  // A lease read served once the stall ended.
};

// A single voter's lease is renewed at each of its own ticks (its quorum is itself). Proposes
// with every fsync slow (up to 3 s), samples LeaseRead every 5 ms until the proposal returns.
Stall StallTheDriver(io::Runtime& rt, SimNode& node, core::replica::Replica& replica) {
  node.disk().set_rates(
      sim::DiskFaultRates{.slow_fsync_ppm = 1'000'000, .slow_fsync_max = seconds(3)});
  auto done = std::make_shared<bool>(false);
  rt.Spawn("proposer", [&replica, &rt, done] {
    (void)replica.ProposeAndWait("stalled", rt.Now() + seconds(60));
    *done = true;
  });
  Stall stall;
  const io::Instant began = rt.Now();
  while (!*done && rt.Now() - began < seconds(30)) {
    if (!replica.LeaseRead().ok() && !stall.first_refusal.has_value()) {
      stall.first_refusal = rt.Now() - began;
    }
    (void)rt.Sleep(milliseconds(5));
  }
  stall.proposal_took = rt.Now() - began;
  node.disk().set_rates({});
  for (int i = 0; i < 100 && !stall.served_after; i++) {
    stall.served_after = replica.LeaseRead().ok();
    (void)rt.Sleep(milliseconds(5));
  }
  return stall;
}

// Runs StallTheDriver until a stall lasts over a second (a slow fsync may be short); the first.
std::optional<Stall> LongStall(core::raft::PlantedBug bug) {
  SimNode node(20261206);
  std::optional<Stall> found;
  EXPECT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, SingleVoter(bug), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    for (int i = 0; i < 100 && replica.role() != core::raft::Role::kLeader; i++) {
      (void)rt.Sleep(milliseconds(50));
    }
    ASSERT_TRUE(replica.ProposeAndWait("before", rt.Now() + seconds(5)).ok());
    for (int i = 0; i < 100 && !replica.LeaseRead().ok(); i++) (void)rt.Sleep(milliseconds(5));
    ASSERT_TRUE(replica.LeaseRead().ok()) << "a single voter that committed holds its lease";
    for (int attempt = 0; attempt < 20 && !found.has_value(); attempt++) {
      Stall stall = StallTheDriver(rt, node, replica);
      if (stall.proposal_took > seconds(1)) found = stall;
    }
    replica.Shutdown();
  }));
  return found;
}

TEST(ReplicaLeaseRead, ALeaseEndsOnTimeWhileTheDriverIsStalled) {
  const std::optional<Stall> stall = LongStall(core::raft::PlantedBug::kNone);
  ASSERT_TRUE(stall.has_value()) << "no fsync stalled the driver for a second: nothing tested";
  // The lease is 9 ticks of 10 ms; the stall begins once the proposer's sync starts (a few ms).
  ASSERT_TRUE(stall->first_refusal.has_value())
      << "lease reads were served through a stall of " << stall->proposal_took.count() << " ns";
  // 9 ticks of 10 ms after the stall began (a few ms after `began`); a tenth tick is too many.
  EXPECT_LE(*stall->first_refusal, milliseconds(95));
  EXPECT_GE(*stall->first_refusal, milliseconds(85)) << "the lease was cut short by a tick";
  std::printf("stall of %ld ms: the first lease read refused after %ld ms\n",
              static_cast<long>(stall->proposal_took / milliseconds(1)),
              static_cast<long>(*stall->first_refusal / milliseconds(1)));
  EXPECT_TRUE(stall->served_after) << "the lease came back once the driver ran again";
}

// The planted bug (core::raft::PlantedBug::kLeaseReadIgnoresOwedTicks) is what the test above
// exists for: with it, the frozen ticks keep the lease valid for the whole stall.
TEST(ReplicaLeaseRead, PlantedOwedTicksBugServesThroughTheStall) {
  const std::optional<Stall> stall = LongStall(core::raft::PlantedBug::kLeaseReadIgnoresOwedTicks);
  ASSERT_TRUE(stall.has_value());
  EXPECT_FALSE(stall->first_refusal.has_value());
}

// Which voters are in sync (heard from and caught up within an election timeout: the broker's
// preferred_leader_in_sync, what leader balancing hands leadership on) is a leader's view, like
// its lease: a follower knows neither its peers' progress nor, for the leader, its own standing.
// Node 1, a follower of voter 2 (whose append this test delivers by hand), answers false for
// both; a single voter that leads answers true for itself.
TEST(ReplicaLeaderViews, AFollowerCountsNoVoterInSyncAndServesNoLeaseRead) {
  SimNode node(20261218);
  const io::NodeId leader(SimNode::kNode.value() + 1);
  core::replica::ReplicaOptions options = VoterWithSilentPeer(node, leader);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    replica.Deliver(FirstCommittedAppend(leader, "e"));
    (void)rt.Sleep(milliseconds(100));
    ASSERT_EQ(replica.role(), core::raft::Role::kFollower);
    ASSERT_EQ(replica.commit(), core::raft::Index(1)) << "the append was not taken";
    EXPECT_FALSE(replica.VoterInSync(SimNode::kNode));
    EXPECT_FALSE(replica.VoterInSync(leader));
    EXPECT_FALSE(replica.LeaseRead().ok());
    replica.Shutdown();
  }));
  SimNode alone(20261219);
  ASSERT_TRUE(alone.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, SingleVoter(core::raft::PlantedBug::kNone), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    for (int i = 0; i < 100 && (*opened)->role() != core::raft::Role::kLeader; i++) {
      (void)rt.Sleep(milliseconds(50));
    }
    ASSERT_EQ((*opened)->role(), core::raft::Role::kLeader);
    EXPECT_TRUE((*opened)->VoterInSync(SimNode::kNode));
    (*opened)->Shutdown();
  }));
}

// Replica::match() (what a reassignment's catch-up step reads) is a leader's view too: node 1
// of voters {1, 2} wins an election with voter 2's answers delivered by hand, holds a match
// index for 2, and drops every one when voter 2's heartbeat of a later term deposes it (a
// deposed leader kept its old view, mutation sample 13).
TEST(ReplicaLeaderViews, ADeposedLeaderKeepsNoMatchIndexes) {
  using core::raft::Message;
  using core::raft::MessageType;
  using core::raft::Role;
  SimNode node(20261205);
  const io::NodeId peer(SimNode::kNode.value() + 1);
  core::replica::ReplicaOptions options = VoterWithSilentPeer(node, peer);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    const auto wait_for = [&](Role role) {
      for (int i = 0; i < 200 && replica.role() != role; i++) (void)rt.Sleep(milliseconds(5));
      return replica.role() == role;
    };
    ASSERT_TRUE(wait_for(Role::kPreCandidate));
    replica.Deliver(Message{.type = MessageType::kPreVoteResponse,
                            .from = peer,
                            .to = SimNode::kNode,
                            .term = replica.term().next()});
    ASSERT_TRUE(wait_for(Role::kCandidate));
    replica.Deliver(Message{.type = MessageType::kVoteResponse,
                            .from = peer,
                            .to = SimNode::kNode,
                            .term = replica.term()});
    ASSERT_TRUE(wait_for(Role::kLeader));
    EXPECT_EQ(replica.match().count(peer), 1u) << "a leader knows its follower's match index";
    replica.Deliver(Message{.type = MessageType::kHeartbeat,
                            .from = peer,
                            .to = SimNode::kNode,
                            .term = replica.term().next()});
    ASSERT_TRUE(wait_for(Role::kFollower));
    EXPECT_TRUE(replica.match().empty()) << "a deposed leader still reports match indexes";
    replica.Shutdown();
  }));
}

// Quiescence through the replica (core/raft/design.md "Quiescence"): a follower that sleeps with
// its group hears no heartbeats and times nothing out, so only the node's liveness signal
// (Replica::NodeLivenessChanged) can tell it that its leader's node died. Node 1, a follower of
// voter 2 (whose messages this test delivers by hand), sleeps on voter 2's quiesce heartbeat,
// stays asleep through 2 s of silence, and wakes to campaign when voter 2's node is reported
// down (mutation sample 14: with the signal kept from raft, it slept on).
TEST(ReplicaQuiescence, AFollowerAsleepWakesAndCampaignsWhenItsLeadersNodeIsDown) {
  using core::raft::Role;
  SimNode node(20261207);
  const io::NodeId leader(SimNode::kNode.value() + 1);
  core::replica::ReplicaOptions options = VoterWithSilentPeer(node, leader);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    options.raft.quiesce_after_ticks = options.raft.election_timeout_ticks;
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    replica.Deliver(FirstCommittedAppend(leader, "e"));
    (void)rt.Sleep(milliseconds(100));
    ASSERT_EQ(replica.commit(), core::raft::Index(1));
    replica.Deliver(core::raft::Message{.type = core::raft::MessageType::kHeartbeat,
                                        .from = leader,
                                        .to = SimNode::kNode,
                                        .term = core::raft::Term(1),
                                        .commit = core::raft::Index(1),
                                        .quiesce = true});
    (void)rt.Sleep(milliseconds(50));
    ASSERT_TRUE(replica.quiesced()) << "the quiesce heartbeat put the follower to sleep";
    (void)rt.Sleep(seconds(2));  // Twenty election timeouts of 100 ms.
    ASSERT_TRUE(replica.quiesced());
    ASSERT_EQ(replica.role(), Role::kFollower) << "an asleep follower timed out";
    replica.NodeLivenessChanged(leader, false);
    (void)rt.Sleep(milliseconds(300));
    EXPECT_FALSE(replica.quiesced()) << "the follower slept on after its leader's node died";
    EXPECT_NE(replica.role(), Role::kFollower) << "and did not campaign";
    replica.Shutdown();
  }));
}

}  // namespace
}  // namespace meridian::tests::log
