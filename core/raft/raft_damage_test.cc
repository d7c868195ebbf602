// Scripted schedules of a replica damaged at rest (tests/jepsen/README.md "Findings"; design.md
// "Damaged replicas"): core/log's recovery cut its log below entries it had synced and
// acknowledged, and it restarted. Each schedule runs with the fix and with the planted bug
// that reverts it, which must show the old failure.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/raft/testing/test_net.h"

namespace meridian::core::raft::testing {
namespace {

constexpr uint64_t kEarly = 3;  // Entries every node holds.
constexpr uint64_t kLate = 5;   // Entries committed by nodes 1 and 3 only.

// Node 1 leads; x1..x3 commit everywhere; node 2 is cut off and y1..y5 commit with node 3.
// Then node 3's log is damaged at rest and cut to the no-op and x1..x3.
std::unique_ptr<TestNet> CommitWithoutNode2ThenDamageNode3(PlantedBug bug) {
  RaftOptions options = TestNet::DefaultOptions();
  options.planted_bug = bug;
  auto net = std::make_unique<TestNet>(3, options);
  net->Campaign(1);
  EXPECT_EQ(net->node(1).role(), Role::kLeader);
  for (uint64_t i = 1; i <= kEarly; i++) EXPECT_TRUE(net->node(1).Propose("x").ok());
  net->DeliverAll();
  net->Isolate(2);
  for (uint64_t i = 1; i <= kLate; i++) EXPECT_TRUE(net->node(1).Propose("y").ok());
  net->DeliverAll();
  const Index committed(1 + kEarly + kLate);
  EXPECT_EQ(net->node(1).log().commit(), committed);
  EXPECT_EQ(net->node(3).log().last_index(), committed);
  EXPECT_EQ(net->node(2).log().last_index(), Index(1 + kEarly));
  net->RestartDamaged(3, 1 + kEarly);
  return net;
}

// The jepsen finding: the damaged replica stayed at the cut while its leader went on. The
// leader's match index for it stayed at what it had acknowledged before the damage, so every
// probe went to match + 1 and was rejected, forever.
bool DamagedFollowerCatchesUp(PlantedBug bug) {
  std::unique_ptr<TestNet> net = CommitWithoutNode2ThenDamageNode3(bug);
  net->TickAll(20);  // Heartbeats, rejections, probes.
  if (bug == PlantedBug::kNone) {
    EXPECT_LE(net->node(1).progress().at(NodeId(3)).match(), net->node(3).log().last_index())
        << "a match index above the follower's log counts entries it does not hold";
  }
  return net->node(3).log().commit() == net->node(1).log().commit();
}

TEST(DamagedReplica, CatchesUpFromItsLeader) {
  EXPECT_TRUE(DamagedFollowerCatchesUp(PlantedBug::kNone));
}

TEST(DamagedReplica, StaysAtTheCutWhenTheLeaderKeepsItsMatchIndex) {
  EXPECT_FALSE(DamagedFollowerCatchesUp(PlantedBug::kMatchKeptAfterShorterLog));
}

// Whether y1..y5 (committed by nodes 1 and 3) are in node `id`'s log at their indexes.
bool HoldsCommittedEntries(TestNet& net, uint32_t id) {
  const RaftLog& log = net.node(id).log();
  for (uint64_t i = 2 + kEarly; i <= 1 + kEarly + kLate; i++) {
    if (log.last_index() < Index(i) || log.At(Index(i)).data != "y") return false;
  }
  return true;
}

// The second half of the finding: with the damaged replica voting on its short log, losing the
// one intact copy's node for a moment lets the node that never had y1..y5 win, and its log
// overwrites them everywhere (hundreds of acknowledged records in the jepsen runs).
bool CommittedEntriesSurviveALeaderLoss(PlantedBug bug) {
  std::unique_ptr<TestNet> net = CommitWithoutNode2ThenDamageNode3(bug);
  net->DropQueued();
  net->Heal();
  net->Isolate(1);  // The only intact copy of y1..y5 is unreachable for a while.
  net->Campaign(2);
  const bool short_log_won = net->node(2).role() == Role::kLeader;
  net->Heal();
  net->TickAll(60);
  EXPECT_NE(net->ElectAny(), 0u);
  if (!short_log_won) {
    // Node 3 refused to vote below what it lost; node 1 is back and leads, and repairs node 3.
    EXPECT_EQ(net->node(3).log().commit(), net->node(1).log().commit());
    EXPECT_FALSE(net->node(3).LostDurableEntries());
  }
  return HoldsCommittedEntries(*net, 1) && HoldsCommittedEntries(*net, 2) &&
         HoldsCommittedEntries(*net, 3);
}

TEST(DamagedReplica, DoesNotVoteBelowWhatItLost) {
  EXPECT_TRUE(CommittedEntriesSurviveALeaderLoss(PlantedBug::kNone));
}

TEST(DamagedReplica, CommittedEntriesAreLostWhenItVotes) {
  EXPECT_FALSE(CommittedEntriesSurviveALeaderLoss(PlantedBug::kDamagedReplicaVotes));
}

// A damaged replica must not lead: its vote for itself would count a log it no longer holds.
TEST(DamagedReplica, DoesNotCampaignUntilRepaired) {
  std::unique_ptr<TestNet> net = CommitWithoutNode2ThenDamageNode3(PlantedBug::kNone);
  EXPECT_TRUE(net->node(3).LostDurableEntries());
  net->Isolate(3);
  for (int i = 0; i < 100; i++) net->node(3).Tick();
  EXPECT_EQ(net->node(3).role(), Role::kFollower);
  net->Heal();
  net->TickAll(20);
  EXPECT_FALSE(net->node(3).LostDurableEntries()) << "repaired from the leader";
  EXPECT_TRUE(HoldsCommittedEntries(*net, 3));
}

// A group restarted as a whole relearns its commit index from a leader that has none either:
// the new leader inherits more uncommitted entries than the window it bounds its own proposals
// by. That is legitimate (its no-op commits them all); the window invariant aborted the node
// here (tests/jepsen bitflip restarts every replica of a group at once).
TEST(WholeGroupRestart, ALeaderMayInheritMoreUncommittedEntriesThanItsWindow) {
  TestNet net(3, TestNet::DefaultOptions());
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  const uint64_t total = kUncommittedEntriesMax + 500;
  for (uint64_t done = 0; done < total; done += kBatchEntriesMax) {
    for (uint64_t i = 0; i < kBatchEntriesMax; i++) ASSERT_TRUE(net.node(1).Propose("x").ok());
    net.DeliverAll();
  }
  ASSERT_GT(net.node(1).log().commit().value(), uint64_t{kUncommittedEntriesMax} + 1);
  for (uint32_t id = 1; id <= 3; id++) net.RestartForgettingCommit(id);
  net.Campaign(2);
  ASSERT_EQ(net.node(2).role(), Role::kLeader);
  net.DeliverAll();
  EXPECT_EQ(net.node(2).log().commit(), net.node(2).log().last_index());
  EXPECT_TRUE(net.node(2).Propose("y").ok());
}

// The same with membership changes (found by meridian-sim region-loss-regional seed 60 once
// promoted partitions were regrown: the audit restarts every replica of a group that had just
// taken four configuration changes). Each change was committed before the next was proposed,
// but the restarted leader's commit index is behind all of them; the one-pending-change
// invariant aborted it. Like the window, it bounds what the leader appends itself.
TEST(WholeGroupRestart, ALeaderMayInheritSeveralUncommittedConfigurationChanges) {
  TestNet net(1, TestNet::DefaultOptions());
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  for (uint32_t id : {2, 3}) {
    Membership bootstrap;
    bootstrap.voters = {NodeId(1)};
    bootstrap.learners = {NodeId(id)};
    net.Add(NodeId(id), bootstrap);
    ASSERT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kAddLearner, NodeId(id)}).ok());
    net.DeliverAll();
    ASSERT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kAddVoter, NodeId(id)}).ok());
    net.DeliverAll();
  }
  ASSERT_EQ(net.node(1).membership().voters.size(), 3u);
  ASSERT_EQ(net.node(1).log().commit(), net.node(1).log().last_index());
  for (uint32_t id = 1; id <= 3; id++) net.RestartForgettingCommit(id);
  net.Campaign(2);
  ASSERT_EQ(net.node(2).role(), Role::kLeader);
  net.DeliverAll();
  EXPECT_EQ(net.node(2).log().commit(), net.node(2).log().last_index());
  EXPECT_TRUE(net.node(2).ProposeConfChange({ConfChangeKind::kRemove, NodeId(1)}).ok());
}

// A lost hard state (design.md "Damaged replicas", the amnesia rule). Node 1 wins term 1 with
// node 2's vote; node 2's copy of the no-op is not synced yet. Node 2 then loses every copy of
// its hard state and restarts with an empty log, so it knows no term at all. Node 1 is cut off
// (still leading term 1) and node 3, which missed the election, campaigns; node 1 is back 100
// ticks later. Returns the terms in which two nodes led, and whether a leader was elected after
// term 1.
struct AmnesiaOutcome {
  std::vector<Term> terms_with_two_leaders;
  bool led_after_term_one = false;
};

AmnesiaOutcome VoterLosesItsHardStateAfterAnElection(PlantedBug bug) {
  RaftOptions options = TestNet::DefaultOptions();
  options.planted_bug = bug;
  TestNet net(3, options);
  net.Isolate(3);
  net.HoldSync(2);
  net.Campaign(1);
  EXPECT_EQ(net.node(1).role(), Role::kLeader);
  EXPECT_EQ(net.hard_state(2).vote, NodeId(1)) << "node 2 decided term 1";
  net.RestartLosingHardState(2);
  net.ReleaseSync(2);
  EXPECT_EQ(net.node(2).amnesiac(), bug == PlantedBug::kNone);
  net.Heal();
  net.Isolate(1);
  AmnesiaOutcome outcome;
  absl::btree_map<Term, absl::btree_set<uint32_t>> leaders{{Term(1), {1}}};
  for (uint32_t tick = 0; tick < 200; tick++) {
    // Node 2 waits for every voter's term: only once node 1 is back can it vote again.
    if (tick == 100) net.Heal();
    net.TickAll(1);
    for (uint32_t id : {1u, 2u, 3u}) {
      if (net.node(id).role() != Role::kLeader) continue;
      leaders[net.node(id).term()].insert(id);
      outcome.led_after_term_one |= net.node(id).term() > Term(1);
    }
  }
  for (const auto& [term, ids] : leaders) {
    if (ids.size() > 1) outcome.terms_with_two_leaders.push_back(term);
  }
  return outcome;
}

TEST(LostHardState, TheVoterLearnsEveryVotersTermBeforeItVotesAgain) {
  const AmnesiaOutcome outcome = VoterLosesItsHardStateAfterAnElection(PlantedBug::kNone);
  EXPECT_TRUE(outcome.terms_with_two_leaders.empty());
  EXPECT_TRUE(outcome.led_after_term_one) << "the group elects again once node 2 rejoins";
}

TEST(LostHardState, VotingAsIfItNeverVotedElectsTwoLeadersInOneTerm) {
  const AmnesiaOutcome outcome =
      VoterLosesItsHardStateAfterAnElection(PlantedBug::kVoteWithLostHardState);
  ASSERT_EQ(outcome.terms_with_two_leaders.size(), 1u);
  EXPECT_EQ(outcome.terms_with_two_leaders.front(), Term(1));
}

// An amnesiac answers no term query (its own term is only a lower bound) and waits for every
// voter: with node 3 cut off, node 2 stays out however long it waits.
TEST(LostHardState, WaitsForEveryVoter) {
  TestNet net(3);
  net.Campaign(1);
  net.RestartLosingHardState(2);
  net.Isolate(3);
  net.TickAll(100);
  EXPECT_TRUE(net.node(2).amnesiac());
  EXPECT_EQ(net.hard_state(2).vote, kNoNode) << "nothing stored while amnesiac";
  net.Heal();
  net.TickAll(10);
  EXPECT_FALSE(net.node(2).amnesiac());
  EXPECT_EQ(net.node(2).term(), net.node(1).term());
}

// Once an amnesiac has learned every voter's term it may have voted in that term before the
// loss: the vote counts as cast (for itself), durably, so no candidate of the term gets a
// second one from it. No election runs meanwhile here: node 1 leads the term throughout.
TEST(LostHardState, TheVoteInTheLearnedTermCountsAsCast) {
  TestNet net(3);
  net.Campaign(1);
  const Term term = net.node(1).term();
  net.RestartLosingHardState(2);
  net.TickAll(10);
  ASSERT_FALSE(net.node(2).amnesiac());
  ASSERT_EQ(net.node(2).term(), term) << "an election ran meanwhile";
  EXPECT_EQ(net.hard_state(2).vote, NodeId(2));
  EXPECT_EQ(net.hard_state(2).term, term);
}

// The moment the damaged follower's rejection arrives, the leader counts for it only what it
// holds (its hint: the last entry of its cut log), not everything below the rejected index: one
// message at a time, the leader's match index for node 3 never passes node 3's log. (After the
// catch-up, CatchesUpFromItsLeader cannot tell: the probe repairs a too-high match index.)
TEST(DamagedReplica, TheLeaderCountsOnlyWhatTheDamagedFollowerHolds) {
  std::unique_ptr<TestNet> net = CommitWithoutNode2ThenDamageNode3(PlantedBug::kNone);
  bool lowered = false;
  for (uint32_t tick = 0; tick < 20; tick++) {
    net->node(1).Tick();
    net->node(3).Tick();
    net->Flush();
    while (!net->queue().empty()) {
      const Message m = net->queue().front();
      net->queue().pop_front();
      net->node(m.to.value()).Step(m);
      net->Flush();
      if (m.to != NodeId(1) || m.from != NodeId(3) || !m.reject) continue;
      // Before its rejection the leader cannot know; after it, the hint is what node 3 holds.
      const Index match = net->node(1).progress().at(NodeId(3)).match();
      ASSERT_LE(match, net->node(3).log().last_index())
          << "after a " << MessageTypeName(m.type) << " from node " << m.from.value();
      lowered |= match < Index(1 + kEarly + kLate);
    }
  }
  EXPECT_TRUE(lowered) << "the rejection never reached the leader";
  EXPECT_EQ(net->node(3).log().commit(), net->node(1).log().commit());
}

// core/replica hands raft its durable mark at every restart, damaged or not. A restart that lost
// nothing, then a legitimate truncation: a leader of a later term overwrites this node's
// uncommitted no-op with an entry of an older term (one entry per append), and is lost before
// sending the rest. Taking the truncation for damage at rest, the node would neither campaign
// nor vote for the other survivor, whose log is as short: no leader ever again (whole-stack
// seed `meridian-sim --workload=raft --seed=740 --membership=on --duration=30 --heal=30`).
TEST(DamagedReplica, ALegitimateTruncationAfterARestartIsNotDamage) {
  RaftOptions options = TestNet::DefaultOptions();
  options.append_entries_max = 1;
  options.inflight_messages_max = 1;
  TestNet net(3, options);
  // Node `id` (restarted first if it led before, so that it campaigns as a follower would)
  // leads the next term with node 2's vote, node `other` cut off; node 2 crashes before syncing
  // anything of that term, so the new no-op is durable on node `id` only.
  const auto lead_alone = [&net](uint32_t id, uint32_t other) {
    if (net.node(id).role() == Role::kLeader) net.Restart(NodeId(id));
    net.Heal();
    net.Isolate(other);
    net.HoldSync(2);
    for (int i = 0; i < 100 && net.node(id).role() != Role::kLeader; i++) {
      net.node(id).Tick();  // Campaigns until it wins (past a vote node 2 already cast).
      net.DeliverAll();
    }
    net.Restart(NodeId(2));
    net.ReleaseSync(2);
    return net.node(id).role() == Role::kLeader;
  };
  net.Campaign(1);                // Term 1, no-op at index 1 everywhere.
  ASSERT_TRUE(lead_alone(3, 1));  // (t2, i2) on node 3 only.
  ASSERT_TRUE(lead_alone(1, 3));  // (t3, i2) on node 1 only.
  // Node 1 restarts with nothing lost: its durable mark is its last synced entry, (t3, i2).
  net.RestartDamaged(1, 2);
  EXPECT_FALSE(net.node(1).LostDurableEntries());
  ASSERT_TRUE(lead_alone(3, 1));  // Term 4, no-op (t4, i3) on node 3 only ...
  // ... and overwrites node 1's (t3, i2) with its (t2, i2), one entry per append, but is lost
  // for good before it sends index 3 to anyone (node 2 hears nothing of it meanwhile).
  net.OnSend([&net](const Message& m) {
    if (m.from == NodeId(3) && m.to == NodeId(1) && m.type == MessageType::kAppend &&
        !m.entries.empty() && m.entries.back().index >= Index(3) &&
        net.node(1).log().last_term() == Term(2)) {
      net.Isolate(3);
    }
  });
  net.Heal();
  net.Isolate(2);
  for (int i = 0; i < 20 && net.node(1).log().last_term() != Term(2); i++) net.TickAll(1);
  ASSERT_EQ(net.node(1).log().last_term(), Term(2)) << "node 1's no-op was never overwritten";
  ASSERT_EQ(net.node(1).log().last_index(), Index(2));
  net.Heal();
  net.Isolate(3);
  EXPECT_FALSE(net.node(1).LostDurableEntries()) << "a leader's overwrite is not damage";
  const auto survivor_leads = [&net] {
    return net.node(1).role() == Role::kLeader || net.node(2).role() == Role::kLeader;
  };
  for (int i = 0; i < 200 && !survivor_leads(); i++) net.TickAll(1);
  EXPECT_TRUE(survivor_leads()) << "nodes 1 and 2 never elected a leader";
}

// What recovery brings back need not be a prefix of the log a node acknowledged: a node-wide
// log replays history, so damage past a truncation's record cuts it back to the log as it was
// before the truncation, with the entries a later leader replaced. Node 3 led term 1 cut off and
// appended `stale` entries nobody else has; node 1 led term 2 and committed its no-op and "x";
// node 3 took them (its stale entries overwritten) and acknowledged them; then its log came back
// as it was in term 1. The leader's heartbeats cap their commit at node 3's match index, which
// describes the log node 3 lost: taken as verified, node 3 applied its stale entries where the
// group had committed others (`meridian-sim --scenario=geo-3x3 --seed=30
// --election_faults=figure8`, 2026-12-04: "state-machine-safety: n7 applied i13:t5 but i13:t6
// was applied at that index before"). With `stale` past the committed log's end no heartbeat
// credits node 3 with more than it holds, and only its rejection makes an idle leader probe.
void ARecoveredPastLogIsRepairedNotApplied(uint64_t stale) {
  TestNet net(3);
  net.Campaign(3);  // Term 1: the no-op (t1, i1) everywhere.
  ASSERT_EQ(net.node(3).role(), Role::kLeader);
  net.Isolate(3);
  for (uint64_t i = 0; i < stale; i++) ASSERT_TRUE(net.node(3).Propose("stale").ok());
  net.DeliverAll();
  std::vector<Entry> past;
  for (Index i(1); i <= net.node(3).log().last_index(); i = i.next()) {
    past.push_back(net.node(3).log().At(i));
  }
  net.Campaign(1);  // Term 2, with node 2's vote.
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Heal();
  net.TickAll(10);
  const Index committed = net.node(1).log().commit();
  ASSERT_EQ(committed, Index(3));
  ASSERT_EQ(net.node(3).log().commit(), committed) << "node 3 never took term 2's entries";
  net.RestartWithRecoveredLog(3, past);
  ASSERT_TRUE(net.node(3).LostDurableEntries());
  net.TickAll(20);  // Idle: heartbeats, and whatever they cause.
  for (const Entry& applied : net.applied(3)) {
    EXPECT_EQ(applied.term, net.node(1).log().TermAt(applied.index))
        << "node 3 applied " << applied.data << " at i" << applied.index.value();
  }
  EXPECT_EQ(net.node(3).log().commit(), committed);
  EXPECT_FALSE(net.node(3).LostDurableEntries()) << "never repaired from the leader";
}

TEST(DamagedReplica, ARecoveredPastLogShorterThanTheCommittedOneIsRepairedNotApplied) {
  ARecoveredPastLogIsRepairedNotApplied(1);
}

TEST(DamagedReplica, ARecoveredPastLogLongerThanTheCommittedOneIsRepairedNotApplied) {
  ARecoveredPastLogIsRepairedNotApplied(3);
}

// A snapshot installed in the term the hard state was stored in (its last entry from the leader
// this node voted for) leaves the vote alone: only a snapshot of a later term, which the stored
// hard state never saw, restarts with no vote (RestartState). Forgetting the vote would let a
// second candidate of the same term collect it.
TEST(Restart, ASnapshotOfTheStoredTermKeepsTheVote) {
  RaftOptions options = TestNet::DefaultOptions();
  options.id = NodeId(1);
  options.bootstrap.voters = {NodeId(1), NodeId(2), NodeId(3)};
  RestartState restart;
  restart.hard_state = HardState{Term(5), NodeId(2), Index(10)};
  restart.snapshot = Snapshot{.meta = {Index(10), Term(5), options.bootstrap}, .data = "state"};
  Raft raft(options, std::move(restart), io::Random(7));
  EXPECT_EQ(raft.term(), Term(5));
  EXPECT_EQ(raft.vote(), NodeId(2));
  raft.Step(Message{.type = MessageType::kVote,
                    .from = NodeId(3),
                    .to = NodeId(1),
                    .term = Term(5),
                    .log_index = Index(10),
                    .log_term = Term(5)});
  const Ready ready = raft.GetReady();
  ASSERT_EQ(ready.messages.size(), 1u);
  EXPECT_EQ(ready.messages.front().type, MessageType::kVoteResponse);
  EXPECT_TRUE(ready.messages.front().reject) << "a second vote in term 5";
}

// A follower restarted in its leader's term knows no leader until it hears one. The first
// Append names it: without that, the follower waited for a heartbeat to record its leader, and
// meanwhile acknowledged nothing it synced (a follower acknowledges only to a known leader) and
// pointed clients nowhere.
TEST(Restart, AFollowerRestartedInItsLeadersTermLearnsTheLeaderFromTheFirstAppend) {
  TestNet net(3, TestNet::DefaultOptions());
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  const Term term = net.node(1).term();
  net.Restart(NodeId(3));
  ASSERT_EQ(net.node(3).term(), term);
  ASSERT_EQ(net.node(3).leader(), kNoNode);
  ASSERT_TRUE(net.node(1).Propose("y").ok());
  net.DeliverAll();  // Appends and their answers only: no tick, so no heartbeat.
  EXPECT_EQ(net.node(3).leader(), NodeId(1));
  EXPECT_EQ(net.node(3).log().last_index(), net.node(1).log().last_index());
}

// A term query (design.md "Damaged replicas") changes nothing where it lands, and its answer is
// a bound on the responder's term that is never 0 (no message carries term 0): a voter that has
// never seen a term answers 1, one at term 5 answers 5. The answer echoes the query's context
// and carries the responder's last index (a joining voter's probe reads it).
TEST(TermQuery, TheAnswerIsTheTermAtLeastOneAndNothingChanges) {
  for (const uint64_t stored_term : {uint64_t{0}, uint64_t{5}}) {
    SCOPED_TRACE(stored_term);
    RaftOptions options = TestNet::DefaultOptions();
    options.id = NodeId(1);
    options.bootstrap.voters = {NodeId(1), NodeId(2), NodeId(3)};
    RestartState restart;
    restart.hard_state = HardState{Term(stored_term), kNoNode, Index(0)};
    Raft raft(options, std::move(restart), io::Random(7));
    raft.Advance(raft.GetReady());
    ASSERT_EQ(raft.term(), Term(stored_term));
    raft.Step(Message{.type = MessageType::kTermQuery,
                      .from = NodeId(2),
                      .to = NodeId(1),
                      .term = Term(9),
                      .context_ticks = 42});
    EXPECT_EQ(raft.term(), Term(stored_term)) << "a term query moved the responder's term";
    EXPECT_EQ(raft.vote(), kNoNode);
    const Ready ready = raft.GetReady();
    EXPECT_FALSE(ready.hard_state.has_value());
    ASSERT_EQ(ready.messages.size(), 1u);
    const Message& answer = ready.messages.front();
    EXPECT_EQ(answer.type, MessageType::kTermQueryResponse);
    EXPECT_EQ(answer.to, NodeId(2));
    EXPECT_EQ(answer.term, Term(std::max<uint64_t>(stored_term, 1)));
    EXPECT_EQ(answer.log_index, raft.log().last_index());
    EXPECT_EQ(answer.context_ticks, 42u);
  }
}

// A follower acknowledges what it made durable to its current leader; what it acknowledged to
// an earlier one says nothing to the new one. Follower F acknowledges y and z, which only it and
// the first leader hold; the other three elect a leader without them, whose first append
// replaces them on F. F's disk holds that append back, then syncs it: the acknowledgement must
// go out then, though its index is below what F acknowledged before (mutation sample 15: with
// the old leader's high-water mark kept, F stayed silent until a heartbeat round, and the new
// leader counted it behind).
TEST(Acknowledgement, ANewLeaderGetsTheDeferredAckEvenBelowAnOlderLeadersHighWaterMark) {
  RaftOptions options = TestNet::DefaultOptions();
  options.pre_vote = PreVote::kOn;  // F, cut off meanwhile, keeps its term.
  options.check_quorum = CheckQuorum::kOn;
  TestNet net(5, options);
  const uint32_t first = net.ElectAny();
  ASSERT_NE(first, 0u);
  const uint32_t f = first == 5 ? 4 : 5;
  std::vector<uint32_t> others;
  for (uint32_t id = 1; id <= 5; id++) {
    if (id != first && id != f) others.push_back(id);
  }
  ASSERT_TRUE(net.node(first).Propose("x").ok());
  net.DeliverAll();
  const Index base = net.node(first).log().last_index();
  for (uint32_t id : others) net.Isolate(id);
  ASSERT_TRUE(net.node(first).Propose("y").ok());
  ASSERT_TRUE(net.node(first).Propose("z").ok());
  net.DeliverAll();
  ASSERT_EQ(net.node(f).log().last_index(), Index(base.value() + 2));
  ASSERT_EQ(net.node(first).log().commit(), base) << "y and z are on two of five: not committed";
  net.Heal();
  net.Isolate(first);
  net.Isolate(f);
  net.TickAll(3 * options.election_timeout_ticks);
  uint32_t leader = 0;
  for (uint32_t id : others) {
    if (net.node(id).role() == Role::kLeader) leader = id;
  }
  ASSERT_NE(leader, 0u) << "the other three elected no leader";
  const Index replaced = net.node(leader).log().last_index();  // Its no-op, where y was.
  ASSERT_EQ(replaced, Index(base.value() + 1));
  net.HoldSync(f);
  net.Heal();
  net.TickAll(options.heartbeat_interval_ticks);  // A heartbeat finds F; the probes follow.
  ASSERT_EQ(net.node(f).term(), net.node(leader).term());
  ASSERT_EQ(net.node(f).log().last_index(), replaced) << "y and z replaced by the no-op";
  EXPECT_LT(net.node(leader).progress().at(NodeId(f)).match(), replaced)
      << "acknowledged before its sync";
  net.ReleaseSync(f);
  net.DeliverAll();
  EXPECT_EQ(net.node(leader).progress().at(NodeId(f)).match(), replaced)
      << "F synced the new leader's append but never acknowledged it";
}

}  // namespace
}  // namespace meridian::core::raft::testing
