// Paper-sentence tests: each test quotes a sentence of the Raft paper (Ongaro & Ousterhout,
// "In Search of an Understandable Consensus Algorithm", extended version) or of Ongaro's
// dissertation, and checks that the state machine does what the sentence says, in the manner of
// etcd's raft_paper_test.go.
#include <gtest/gtest.h>

#include "core/raft/testing/test_net.h"

namespace meridian::core::raft::testing {
namespace {

Message Msg(MessageType type, uint32_t from, uint32_t to, uint64_t term) {
  return Message{.type = type, .from = NodeId(from), .to = NodeId(to), .term = Term(term)};
}

std::vector<Message> OfType(const std::vector<Message>& messages, MessageType type) {
  std::vector<Message> out;
  for (const Message& m : messages) {
    if (m.type == type) out.push_back(m);
  }
  return out;
}

// ---------------------------------------------------------------- §5.1 Raft basics

TEST(Paper5_1, ServersUpdateToTheLargerTermAndLeadersAndCandidatesRevertToFollower) {
  // "If one server's current term is smaller than the other's, then it updates its current term
  // to the larger value. If a candidate or leader discovers that its term is out of date, it
  // immediately reverts to follower state."
  TestNet net(3);
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  net.node(1).Step(Msg(MessageType::kAppendResponse, 2, 1, 7));
  EXPECT_EQ(net.node(1).term(), Term(7));
  EXPECT_EQ(net.node(1).role(), Role::kFollower);

  TestNet candidates(3);
  candidates.node(2).Tick();
  for (int i = 0; i < 30 && candidates.node(2).role() == Role::kFollower; i++) {
    candidates.node(2).Tick();
  }
  ASSERT_EQ(candidates.node(2).role(), Role::kCandidate);
  candidates.node(2).Step(Msg(MessageType::kHeartbeat, 3, 2, 9));
  EXPECT_EQ(candidates.node(2).term(), Term(9));
  EXPECT_EQ(candidates.node(2).role(), Role::kFollower);
  EXPECT_EQ(candidates.node(2).leader(), NodeId(3));
}

TEST(Paper5_1, ARequestWithAStaleTermIsRejected) {
  // "If a server receives a request with a stale term number, it rejects the request."
  TestNet net(3);
  net.node(2).Step(Msg(MessageType::kHeartbeat, 1, 2, 5));
  net.Flush();
  Message stale = Msg(MessageType::kAppend, 3, 2, 4);
  stale.entries = {Entry{.term = Term(4), .index = Index(1)}};
  net.node(2).Step(stale);
  EXPECT_EQ(net.node(2).log().last_index(), Index(0)) << "stale entries are not appended";
  const std::vector<Message> sent = OfType(net.Flush(), MessageType::kAppendResponse);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].term, Term(5)) << "the reply carries the newer term so the sender steps down";
}

// ---------------------------------------------------------------- §5.2 Leader election

TEST(Paper5_2, ServersStartAsFollowers) {
  // "When servers start up, they begin as followers."
  TestNet net(3);
  for (uint32_t i = 1; i <= 3; i++) EXPECT_EQ(net.node(i).role(), Role::kFollower);
}

TEST(Paper5_2, LeadersSendPeriodicHeartbeats) {
  // "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all
  // followers in order to maintain their authority."
  TestNet net(3);
  net.Campaign(1);
  net.DropQueued();
  for (uint32_t t = 0; t < net.node(1).options().heartbeat_interval_ticks; t++) net.node(1).Tick();
  const std::vector<Message> beats = OfType(net.Flush(), MessageType::kHeartbeat);
  ASSERT_EQ(beats.size(), 2u);
  for (const Message& m : beats) EXPECT_TRUE(m.entries.empty());
}

TEST(Paper5_2, AFollowerThatHearsNothingStartsAnElection) {
  // "To begin an election, a follower increments its current term and transitions to candidate
  // state. It then votes for itself and issues RequestVote RPCs in parallel to each of the other
  // servers in the cluster."
  TestNet net(3);
  Raft& raft = net.node(1);
  const uint32_t timeout = raft.randomized_election_timeout_ticks();
  for (uint32_t t = 0; t + 1 < timeout; t++) raft.Tick();
  EXPECT_EQ(raft.role(), Role::kFollower) << "not before the election timeout";
  raft.Tick();
  EXPECT_EQ(raft.role(), Role::kCandidate);
  EXPECT_EQ(raft.term(), Term(1));
  EXPECT_EQ(raft.vote(), NodeId(1));
  const std::vector<Message> votes = OfType(net.Flush(), MessageType::kVote);
  EXPECT_EQ(votes.size(), 2u);
  EXPECT_EQ(net.hard_state(1).vote, NodeId(1)) << "the self-vote is in the synced hard state";
}

TEST(Paper5_2, ACandidateWinsWithAMajorityAndLosesWithout) {
  // "A candidate wins an election if it receives votes from a majority of the servers in the full
  // cluster for the same term."
  TestNet net(5);
  net.Isolate(4);
  net.Isolate(5);
  net.Campaign(1);
  EXPECT_EQ(net.node(1).role(), Role::kLeader) << "3 of 5 is a majority";
  TestNet lonely(5);
  lonely.Isolate(3);
  lonely.Isolate(4);
  lonely.Isolate(5);
  lonely.Campaign(1);
  EXPECT_EQ(lonely.node(1).role(), Role::kCandidate) << "2 of 5 is not";
}

TEST(Paper5_2, AtMostOneVotePerTermFirstComeFirstServed) {
  // "Each server will vote for at most one candidate in a given term, on a first-come-first-
  // served basis."
  TestNet net(3);
  Message from2 = Msg(MessageType::kVote, 2, 1, 1);
  Message from3 = Msg(MessageType::kVote, 3, 1, 1);
  net.node(1).Step(from2);
  net.node(1).Step(from3);
  const std::vector<Message> replies = OfType(net.Flush(), MessageType::kVoteResponse);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_FALSE(replies[0].reject);
  EXPECT_TRUE(replies[1].reject);
  EXPECT_EQ(net.hard_state(1).vote, NodeId(2));
}

TEST(Paper5_2, ACandidateAcceptsALegitimateLeader) {
  // "If the leader's term (included in its RPC) is at least as large as the candidate's current
  // term, then the candidate recognizes the leader as legitimate and returns to follower state."
  TestNet net(3);
  net.Isolate(2);
  net.Isolate(3);
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kCandidate);
  net.node(1).Step(Msg(MessageType::kHeartbeat, 2, 1, net.node(1).term().value()));
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
  EXPECT_EQ(net.node(1).leader(), NodeId(2));
}

TEST(Paper5_2, ElectionTimeoutsAreRandomizedInAFixedInterval) {
  // "Raft uses randomized election timeouts ... chosen randomly from a fixed interval".
  TestNet net(5);
  absl::btree_set<uint32_t> seen;
  for (uint32_t i = 1; i <= 5; i++) {
    const uint32_t timeout = net.node(i).randomized_election_timeout_ticks();
    const uint32_t base = net.node(i).options().election_timeout_ticks;
    EXPECT_GE(timeout, base);
    EXPECT_LT(timeout, 2 * base);
    seen.insert(timeout);
  }
  EXPECT_GT(seen.size(), 1u) << "jitter comes from each node's own seeded generator";
}

TEST(Paper9_6, PreVoteKeepsAPartitionedServerFromInflatingTerms) {
  // Dissertation §9.6: "a candidate would first ask other servers whether its log was
  // up-to-date enough to get their vote. Only if the candidate believed it could get votes from
  // a majority of the cluster would it increment its term and start a normal election."
  RaftOptions options = TestNet::DefaultOptions();
  options.pre_vote = PreVote::kOn;
  TestNet net(3, options);
  net.Isolate(3);
  for (int i = 0; i < 100; i++) net.node(3).Tick();
  net.Flush();
  EXPECT_EQ(net.node(3).term(), Term(0)) << "pre-candidates never bump their term";
  EXPECT_EQ(net.node(3).role(), Role::kPreCandidate);
  net.Heal();
  net.Campaign(1);
  EXPECT_EQ(net.node(1).role(), Role::kLeader);
  EXPECT_EQ(net.node(1).term(), Term(1));
}

// Each pre-vote round counts only its own answers: a grant from an earlier round that timed out
// may come from a server that has since heard from a leader, and counting it would start the
// disruptive election pre-vote exists to prevent (mutation survivor of 2026-12-03: a dropped
// votes_.clear() in BecomePreCandidate).
TEST(Paper9_6, APreVoteRoundCountsNoGrantsFromAnEarlierRound) {
  RaftOptions options = TestNet::DefaultOptions();
  options.pre_vote = PreVote::kOn;
  TestNet net(5, options);
  net.Isolate(1);
  Raft& node = net.node(1);
  while (node.role() != Role::kPreCandidate) node.Tick();
  net.Flush();                                             // Round 1's requests reach nobody.
  node.Step(Msg(MessageType::kPreVoteResponse, 2, 1, 1));  // Its answers: itself and n2, 2 of 5.
  ASSERT_EQ(node.role(), Role::kPreCandidate);
  uint32_t pre_votes_sent = 0;
  net.OnSend([&](const Message& m) {
    if (m.from == NodeId(1) && m.type == MessageType::kPreVote) pre_votes_sent++;
  });
  while (pre_votes_sent == 0) {  // Until round 1 times out and round 2 asks again.
    node.Tick();
    net.Flush();
  }
  node.Step(Msg(MessageType::kPreVoteResponse, 3, 1, 1));  // Round 2: itself and n3.
  net.Flush();
  EXPECT_EQ(node.role(), Role::kPreCandidate);
  EXPECT_EQ(node.term(), Term(0)) << "n2's grant from the earlier round was counted";
}

// ---------------------------------------------------------------- §5.3 Log replication

TEST(Paper5_3, TheLeaderAppendsAndReplicatesInParallelThenCommitsOnAMajority) {
  // "The leader appends the command to its log as a new entry, then issues AppendEntries RPCs in
  // parallel to each of the other servers to replicate the entry. When the entry has been safely
  // replicated (as described below), the leader applies the entry to its state machine".
  TestNet net(3);
  net.Campaign(1);
  const absl::StatusOr<Index> index = net.node(1).Propose("x");
  ASSERT_TRUE(index.ok());
  const std::vector<Message> appends = OfType(net.Flush(), MessageType::kAppend);
  EXPECT_EQ(appends.size(), 2u);
  net.DeliverAll();
  EXPECT_EQ(net.node(1).log().commit(), *index);
  ASSERT_FALSE(net.applied(1).empty());
  EXPECT_EQ(net.applied(1).back().data, "x");
  EXPECT_EQ(net.applied(2).back().data, "x") << "followers apply once they learn the commit";
}

TEST(Paper5_3, AFollowerRefusesEntriesThatDoNotFollowAMatchingEntry) {
  // "If the follower does not find an entry in its log with the same index and term, then it
  // refuses the new entries."
  TestNet net(3);
  Message append = Msg(MessageType::kAppend, 1, 2, 2);
  append.log_index = Index(3);
  append.log_term = Term(2);
  append.entries = {Entry{.term = Term(2), .index = Index(4)}};
  net.node(2).Step(append);
  const std::vector<Message> replies = OfType(net.Flush(), MessageType::kAppendResponse);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].reject);
  EXPECT_EQ(replies[0].hint_index, Index(0)) << "the hint says: my log ends before index 1";
  EXPECT_EQ(net.node(2).log().last_index(), Index(0));
}

TEST(Paper5_3, ConflictingEntriesAreDeletedWithAllThatFollow) {
  // "If an existing entry conflicts with a new one (same index but different terms), delete the
  // existing entry and all that follow it (§5.3)".
  TestNet net(3);
  Message first = Msg(MessageType::kAppend, 1, 2, 1);
  for (uint64_t i = 1; i <= 3; i++)
    first.entries.push_back(Entry{.term = Term(1), .index = Index(i)});
  net.node(2).Step(first);
  net.Flush();
  Message second = Msg(MessageType::kAppend, 3, 2, 2);
  second.log_index = Index(1);
  second.log_term = Term(1);
  second.entries = {Entry{.term = Term(2), .index = Index(2), .data = "new"}};
  net.node(2).Step(second);
  net.Flush();
  EXPECT_EQ(net.node(2).log().last_index(), Index(2));
  EXPECT_EQ(net.node(2).log().At(Index(2)).data, "new");
}

TEST(Paper5_3, TheLeaderBringsADivergentFollowerIntoConsistency) {
  // "the leader must find the latest log entry where the two logs agree, delete any entries in
  // the follower's log after that point, and send the follower all of the leader's entries after
  // that point." With the conflict hint this takes one round trip per term, not per entry.
  TestNet net(3);
  net.Campaign(2);
  net.Isolate(1);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(net.node(2).Propose("stale").ok());
  net.Isolate(3);
  net.DeliverAll();  // Node 2 replicates to nobody: its 20 entries will be overwritten.
  net.Heal();
  net.Isolate(2);
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(net.node(1).Propose("fresh").ok());
  net.DeliverAll();
  net.Heal();
  net.TickAll(net.node(1).options().heartbeat_interval_ticks);
  net.DeliverAll();
  EXPECT_EQ(net.node(2).log().last_index(), net.node(1).log().last_index());
  EXPECT_EQ(net.node(2).log().At(net.node(2).log().last_index()).data, "fresh");
  EXPECT_EQ(net.node(2).log().commit(), net.node(1).log().commit());
}

TEST(Paper5_3, ReplicationIsPipelinedAndBatchedWithinTheInflightLimit) {
  TestNet net(2);
  net.Campaign(1);
  net.HoldSync(2);  // The follower never acknowledges: the window fills and stops.
  for (uint32_t i = 0; i < kBatchEntriesMax * 3; i++) ASSERT_TRUE(net.node(1).Propose("p").ok());
  const std::vector<Message> appends = OfType(net.Flush(), MessageType::kAppend);
  ASSERT_GE(appends.size(), 3u) << "several batches in flight at once";
  for (const Message& m : appends) EXPECT_LE(m.entries.size(), kBatchEntriesMax);
  const Progress& progress = net.node(1).progress().at(NodeId(2));
  EXPECT_LE(progress.inflight_count(), kInflightMessagesMax);
}

// ---------------------------------------------------------------- durability order

TEST(Durability, AFollowerAcknowledgesOnlyDurableEntries) {
  TestNet net(3);
  net.Campaign(1);
  net.HoldSync(2);
  net.HoldSync(3);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  const Index index = net.node(1).log().last_index();
  EXPECT_LT(net.node(1).log().commit(), index) << "no follower has it on disk yet";
  net.ReleaseSync(2);
  net.DeliverAll();
  EXPECT_EQ(net.node(1).log().commit(), index);
}

TEST(Durability, ALeaderCountsItselfOnlyOnceItsCopyIsDurable) {
  TestNet net(3);
  net.Campaign(1);
  net.HoldSync(1);
  net.HoldSync(3);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  const Index index = net.node(1).log().last_index();
  EXPECT_LT(net.node(1).log().commit(), index) << "only node 2 holds it durably";
  net.ReleaseSync(1);
  net.DeliverAll();
  EXPECT_EQ(net.node(1).log().commit(), index);
}

TEST(Durability, TheVoteIsInTheHardStateOfTheReadyThatCarriesTheVoteResponse) {
  // Figure 2: votedFor is persistent state, "updated on stable storage before responding to
  // RPCs". The Ready contract: its hard state is synced before its messages are sent.
  TestNet net(3);
  net.node(1).Step(Msg(MessageType::kVote, 2, 1, 3));
  ASSERT_TRUE(net.node(1).HasReady());
  Ready ready = net.node(1).GetReady();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(ready.hard_state->term, Term(3));
  EXPECT_EQ(ready.hard_state->vote, NodeId(2));
  ASSERT_EQ(OfType(ready.messages, MessageType::kVoteResponse).size(), 1u);
  net.node(1).Advance(ready);
}

TEST(Durability, ARestartRecoversTermVoteAndDurableLog) {
  TestNet net(3);
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  const Term term = net.node(2).term();
  net.Restart(NodeId(2));
  EXPECT_EQ(net.node(2).term(), term);
  EXPECT_EQ(net.node(2).vote(), NodeId(1));
  EXPECT_EQ(net.node(2).log().last_index(), net.node(1).log().last_index());
}

// ---------------------------------------------------------------- §5.4 Safety

TEST(Paper5_4_1, AVoterDeniesACandidateWhoseLogIsLessUpToDate) {
  // "the voter denies its vote if its own log is more up-to-date than that of the candidate."
  TestNet net(3);
  Message append = Msg(MessageType::kAppend, 2, 1, 2);
  append.entries = {Entry{.term = Term(2), .index = Index(1)}};
  net.node(1).Step(append);
  net.Flush();
  Message vote = Msg(MessageType::kVote, 3, 1, 3);
  vote.log_index = Index(5);
  vote.log_term = Term(1);  // Longer, but an older last term: less up to date.
  net.node(1).Step(vote);
  const std::vector<Message> replies = OfType(net.Flush(), MessageType::kVoteResponse);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].reject);
}

// Figure 8 as a script: an entry of term 2 sits on a majority while the term-4 leader's own
// no-op is not yet durable; the entry must not count as committed.
void FigureEight(PlantedBug bug, Index* commit_out) {
  RaftOptions options = TestNet::DefaultOptions();
  options.planted_bug = bug;
  TestNet net(5, options);
  net.Campaign(1);  // Term 1, no-op at index 1 everywhere.
  net.DeliverAll();
  net.Isolate(3);
  net.Isolate(4);
  net.Isolate(5);
  ASSERT_TRUE(net.node(1).Propose("x").ok());  // Index 2 (term 1) reaches node 2 only.
  net.DeliverAll();
  net.Heal();
  net.Isolate(1);
  net.Isolate(2);
  net.HoldSync(3);
  net.HoldSync(4);
  net.Campaign(5);  // Term 2 with votes from 3 and 4; its no-op at index 2 ...
  ASSERT_EQ(net.node(5).role(), Role::kLeader);
  net.Restart(NodeId(3));  // ... is lost by 3 and 4, which crash before syncing it.
  net.Restart(NodeId(4));
  net.ReleaseSync(3);
  net.ReleaseSync(4);
  net.Heal();
  net.Isolate(5);
  net.Isolate(4);
  net.Restart(NodeId(1));  // Node 1 crashed in term 1 (x was durable) and comes back ...
  net.HoldSync(1);         // ... to win term 3 with votes from 2 and 3; its no-op is not durable.
  for (int i = 0; i < 100 && net.node(1).role() != Role::kLeader; i++) {
    net.node(1).Tick();
    net.DeliverAll();
  }
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  net.DeliverAll();
  *commit_out = net.node(1).log().commit();
}

TEST(Paper5_4_2, EntriesFromPreviousTermsAreNotCommittedByCountingReplicas) {
  // "Raft never commits log entries from previous terms by counting replicas. Only log entries
  // from the leader's current term are committed by counting replicas".
  Index commit;
  FigureEight(PlantedBug::kNone, &commit);
  EXPECT_EQ(commit, Index(1)) << "index 2 (term 1) is durable on 3 of 5 but must wait";
  FigureEight(PlantedBug::kCommitOlderTermByCounting, &commit);
  EXPECT_EQ(commit, Index(2)) << "the planted bug commits it by counting replicas";
}

// The same rule, from the messages' side: an acknowledgement that brings only an older term's
// entry to a quorum commits nothing, so it tells the other followers nothing either; the leader
// goes on replicating to its sender alone. (A MaybeCommit that reported a commit it did not make
// broadcast empty appends to every caught-up follower on each such acknowledgement: mutation
// sample 12.)
TEST(Paper5_4_2, AnAcknowledgementCountingOnlyAnOlderTermsEntrySendsOnlyToItsSender) {
  TestNet net(5);
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  for (uint32_t id = 2; id <= 5; id++) net.Isolate(id);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  const Index older = net.node(1).log().last_index();  // Of the first term, on node 1 alone.
  net.Heal();
  net.DropQueued();
  net.Restart(NodeId(1));
  for (uint32_t i = 0; i < 3 * net.node(1).options().election_timeout_ticks; i++) {
    if (net.node(1).role() != Role::kFollower) break;
    net.node(1).Tick();
  }
  // Node 1's appends reach nodes 2 and 3 cut after `older`, nodes 4 and 5 not at all.
  net.Flush();
  bool checked = false;
  for (int i = 0; i < 1000 && !net.queue().empty() && !checked; i++) {
    Message m = net.queue().front();
    net.queue().pop_front();
    if (m.type == MessageType::kAppend && m.from == NodeId(1)) {
      if (m.to == NodeId(4) || m.to == NodeId(5)) continue;
      std::erase_if(m.entries, [&](const Entry& e) { return e.index > older; });
    }
    checked = m.type == MessageType::kAppendResponse && m.from == NodeId(3) && !m.reject &&
              m.log_index == older;
    net.node(m.to.value()).Step(m);
    const std::vector<Message> sent = net.Flush();
    if (!checked) continue;
    ASSERT_EQ(net.node(1).role(), Role::kLeader);
    EXPECT_GT(net.node(1).log().last_index(), older) << "the new term's no-op follows it";
    EXPECT_EQ(net.node(1).log().commit(), Index(1)) << "3 of 5 hold it: not committed";
    for (const Message& out : sent) {
      EXPECT_EQ(out.to, NodeId(3)) << MessageTypeName(out.type) << " to " << out.to.ToString();
    }
  }
  EXPECT_TRUE(checked) << "node 3 never acknowledged exactly the older entry";
}

// ---------------------------------------------------------------- §6 membership, learners

TEST(Paper6, ConfigurationsTakeEffectWhenAppendedAndChangesGoOneAtATime) {
  // Dissertation §4.1: "a server always uses the latest configuration in its log, regardless of
  // whether the entry is committed", and Ongaro's fix: one uncommitted change at a time, and a
  // leader changes membership only after committing an entry of its own term.
  TestNet net(3);
  net.Add(NodeId(4), net.node(1).options().bootstrap);
  net.node(1).Tick();  // Ensure no election has happened: changes need a leader.
  EXPECT_FALSE(net.node(1).ProposeConfChange({ConfChangeKind::kAddVoter, NodeId(4)}).ok());
  net.HoldSync(2);
  net.HoldSync(3);
  net.Campaign(1);
  EXPECT_FALSE(net.node(1).ProposeConfChange({ConfChangeKind::kAddVoter, NodeId(4)}).ok())
      << "the term-1 no-op is not committed yet";
  net.ReleaseSync(2);
  net.DeliverAll();
  ASSERT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kAddVoter, NodeId(4)}).ok());
  EXPECT_TRUE(net.node(1).membership().IsVoter(NodeId(4))) << "in force once appended";
  EXPECT_FALSE(net.node(1).ProposeConfChange({ConfChangeKind::kAddLearner, NodeId(5)}).ok())
      << "a second change waits for the first to commit";
  net.ReleaseSync(3);
  net.DeliverAll();
  EXPECT_TRUE(net.node(1).ProposeConfChange({ConfChangeKind::kAddLearner, NodeId(5)}).ok());
}

TEST(Paper6, LearnersReceiveEntriesButNeverCountOrCampaign) {
  Membership membership;
  membership.voters = {NodeId(1), NodeId(2), NodeId(3)};
  membership.learners = {NodeId(4)};
  RaftOptions options = TestNet::DefaultOptions();
  options.bootstrap = membership;
  TestNet net(3, options);
  net.Add(NodeId(4), membership);
  net.Campaign(1);
  net.Isolate(2);
  net.Isolate(3);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  EXPECT_EQ(net.node(4).log().last_index(), net.node(1).log().last_index()) << "receives";
  EXPECT_LT(net.node(1).log().commit(), net.node(1).log().last_index()) << "is not counted";
  for (int i = 0; i < 100; i++) net.node(4).Tick();
  EXPECT_EQ(net.node(4).role(), Role::kFollower) << "never campaigns";
}

// ---------------------------------------------------------------- leadership, leases

TEST(Dissertation3_10, LeadershipTransferSendsTimeoutNowAndTheTargetWins) {
  TestNet net(3);
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).TransferLeadership(NodeId(3)).ok());
  // Refused as a non-leader would refuse it, so a client looks for the new leader and retries
  // (Unavailable read as a final failure broke a CLI command during a balancing transfer).
  const absl::StatusOr<Index> paused = net.node(1).Propose("x");
  EXPECT_TRUE(absl::IsFailedPrecondition(paused.status())) << "proposals pause during a transfer";
  net.DeliverAll();
  EXPECT_EQ(net.node(3).role(), Role::kLeader);
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
}

RaftOptions LeaseOptions() {
  RaftOptions options = TestNet::DefaultOptions();
  options.check_quorum = CheckQuorum::kOn;
  options.pre_vote = PreVote::kOn;
  return options;
}

// Elects a leader and lets every follower hear it, so each sits inside its lease; 0 if none won.
uint32_t ElectWithFollowersInLease(TestNet& net) {
  const uint32_t leader = net.ElectAny();
  if (leader == 0) return 0;
  net.TickAll(net.node(leader).options().heartbeat_interval_ticks);
  net.DeliverAll();
  return leader;
}

// With check-quorum the followers sit inside their leader's lease; a transfer's vote requests
// must still move them to the new term (the old leader revoked its lease when it sent
// TimeoutNow). Five voters need two followers' votes besides the old leader's.
TEST(Dissertation3_10, ATransferWinsOverFollowersInsideALease) {
  TestNet net(5, LeaseOptions());
  const uint32_t leader = ElectWithFollowersInLease(net);
  ASSERT_NE(leader, 0u);
  const uint32_t target = leader % 5 + 1;
  ASSERT_TRUE(net.node(leader).TransferLeadership(NodeId(target)).ok());
  net.DeliverAll();
  EXPECT_EQ(net.node(target).role(), Role::kLeader);
  EXPECT_EQ(net.node(leader).role(), Role::kFollower);
}

// The same with the old leader unreachable once it sent TimeoutNow (meridian-sim --workload=raft
// --transfers=on: every handover whose old leader stopped hearing its peers failed): the target
// must win with the other follower's vote alone.
TEST(Dissertation3_10, ATransferWinsWithoutTheOldLeadersVote) {
  TestNet net(3, LeaseOptions());
  const uint32_t leader = ElectWithFollowersInLease(net);
  ASSERT_NE(leader, 0u);
  ASSERT_TRUE(net.node(leader).LeaseRead().ok());
  const uint32_t target = leader % 3 + 1;
  const uint32_t other = target % 3 + 1;
  ASSERT_TRUE(net.node(leader).TransferLeadership(NodeId(target)).ok());
  const std::vector<Message> timeout_now = OfType(net.Flush(), MessageType::kTimeoutNow);
  ASSERT_EQ(timeout_now.size(), 1u);
  net.DropQueued();
  net.node(target).Step(timeout_now[0]);
  std::vector<Message> votes = OfType(net.Flush(), MessageType::kVote);
  net.DropQueued();
  std::erase_if(votes, [&](const Message& m) { return m.to != NodeId(other); });
  ASSERT_EQ(votes.size(), 1u);
  net.node(other).Step(votes[0]);
  const std::vector<Message> granted = OfType(net.Flush(), MessageType::kVoteResponse);
  net.DropQueued();
  ASSERT_EQ(granted.size(), 1u) << "a follower in a lease answers a transfer's vote request";
  EXPECT_FALSE(granted[0].reject);
  net.node(target).Step(granted[0]);
  EXPECT_EQ(net.node(target).role(), Role::kLeader);
  EXPECT_EQ(net.node(leader).role(), Role::kLeader) << "the old leader has heard nothing yet";
  EXPECT_FALSE(net.node(leader).LeaseRead().ok()) << "but it revoked its lease with TimeoutNow";
}

TEST(Dissertation6_2, CheckQuorumMakesAnIsolatedLeaderStepDown) {
  RaftOptions options = TestNet::DefaultOptions();
  options.check_quorum = CheckQuorum::kOn;
  TestNet net(3, options);
  const uint32_t leader = net.ElectAny();
  ASSERT_NE(leader, 0u);
  net.Isolate(leader);
  for (uint32_t i = 0; i < 2 * options.election_timeout_ticks; i++) net.node(leader).Tick();
  EXPECT_EQ(net.node(leader).role(), Role::kFollower);
}

// A transfer restarts the transfer's own timeout, not the check-quorum window: a cut-off leader
// asked again and again to hand over (an operator, the broker's leader balancing) must still
// step down within two election timeouts of its last quorum.
void AskACutOffLeaderToHandOverAgainAndAgain(PlantedBug bug) {
  RaftOptions options = TestNet::DefaultOptions();
  options.check_quorum = CheckQuorum::kOn;
  options.planted_bug = bug;
  TestNet net(3, options);
  const uint32_t leader = net.ElectAny();
  ASSERT_NE(leader, 0u);
  net.TickAll(options.heartbeat_interval_ticks);  // A quorum heard from in this window.
  net.Isolate(leader);
  const uint32_t other = leader % 3 + 1;
  uint32_t led_for = 0;  // Ticks it stayed leader, cut off.
  for (uint32_t i = 0; i < 3 * options.election_timeout_ticks; i++) {
    if (net.node(leader).role() != Role::kLeader) break;
    if (i % 3 == 0) {
      EXPECT_TRUE(net.node(leader).TransferLeadership(NodeId(other)).ok());
    }
    net.node(leader).Tick();
    led_for++;
  }
  EXPECT_LE(led_for, 2 * options.election_timeout_ticks);
  EXPECT_NE(net.node(leader).role(), Role::kLeader);
}

TEST(Dissertation6_2, TransferRequestsDoNotKeepACutOffLeaderInPlace) {
  AskACutOffLeaderToHandOverAgainAndAgain(PlantedBug::kNone);
}

// The step-down bound (Raft::StepDownBoundHolds, checked after every input) catches the bug the
// test above was written for, as soon as the leader outlives it.
TEST(Dissertation6_2, TheStepDownBoundCatchesATransferThatRestartsCheckQuorum) {
  EXPECT_DEATH(AskACutOffLeaderToHandOverAgainAndAgain(PlantedBug::kTransferRestartsCheckQuorum),
               "heard from no quorum");
}

TEST(Dissertation6_4, LeaseReadsAreServedOnlyWhileTheLeaseHolds) {
  // §6.4.1: the leader "would use the normal heartbeat mechanism to maintain a lease"; a read is
  // served without a round trip until lease_end = quorum-acked heartbeat send tick +
  // election_timeout * (1 - drift bound).
  RaftOptions options = TestNet::DefaultOptions();
  options.check_quorum = CheckQuorum::kOn;
  TestNet net(3, options);
  const uint32_t l = net.ElectAny();
  ASSERT_NE(l, 0u);
  net.TickAll(options.heartbeat_interval_ticks);
  const absl::StatusOr<Index> read = net.node(l).LeaseRead();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, net.node(l).log().commit());
  net.Isolate(l);
  const uint64_t end = net.node(l).lease_end_ticks();
  EXPECT_EQ(end - net.node(l).ticks(), options.election_timeout_ticks * 9 / 10)
      << "a heartbeat acked this tick: lease = 10 ticks * (1 - 10% drift)";
  while (net.node(l).ticks() + 1 < end) net.node(l).Tick();
  EXPECT_TRUE(net.node(l).LeaseRead().ok()) << "still inside the lease";
  net.node(l).Tick();
  EXPECT_FALSE(net.node(l).LeaseRead().ok()) << "expired";
  EXPECT_FALSE(net.node(l % 3 + 1).LeaseRead().ok()) << "followers never serve lease reads";
}

TEST(Dissertation4_2_3, ServersInsideALeaseIgnoreDisruptiveVoteRequests) {
  RaftOptions options = TestNet::DefaultOptions();
  options.check_quorum = CheckQuorum::kOn;
  TestNet net(3, options);
  const uint32_t l = net.ElectAny();
  ASSERT_NE(l, 0u);
  net.TickAll(1);
  const uint32_t follower = l % 3 + 1;
  const uint32_t other = follower % 3 + 1;
  Message vote = Msg(MessageType::kVote, other, follower, net.node(l).term().value() + 1);
  vote.log_index = Index(100);
  vote.log_term = Term(100);
  net.node(follower).Step(vote);
  EXPECT_EQ(net.node(follower).term(), net.node(l).term()) << "ignored: it heard from its leader";
  EXPECT_TRUE(OfType(net.Flush(), MessageType::kVoteResponse).empty());
}

TEST(Errors, ProposalsToNonLeadersAreExpectedErrorsNotCrashes) {
  TestNet net(3);
  const absl::StatusOr<Index> result = net.node(2).Propose("x");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(net.node(2).TransferLeadership(NodeId(1)).code(),
            absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------- node-local assertions fire

TEST(Paper5_2, ASecondLeaderInTheSameTermIsDroppedNotObeyed) {
  // "at most one candidate can win the election for a particular term". A message claiming
  // otherwise comes from a buggy or forged peer: it used to crash the leader (a remote crash);
  // now it is dropped and counted (raft_hostile_input_test.cc has the other forgeries).
  TestNet net(3);
  net.Campaign(1);
  Message append = Msg(MessageType::kAppend, 2, 1, net.node(1).term().value());
  net.node(1).Step(append);
  EXPECT_EQ(net.node(1).role(), Role::kLeader);
  EXPECT_EQ(net.node(1).drops().not_from_leader, 1u);
}

TEST(InvariantsDeathTest, ARestartWithACommitIndexBeyondTheDurableLogCrashes) {
  RaftOptions options = TestNet::DefaultOptions();
  options.id = NodeId(1);
  options.bootstrap.voters = {NodeId(1)};
  RestartState restart{HardState{Term(2), NodeId(1), Index(3)}, {}};
  EXPECT_DEATH(Raft(options, restart, io::Random(1)), "beyond durable log");
}

TEST(Paper5_4, AnAppendThatWouldRewriteCommittedEntriesIsAnsweredNotApplied) {
  TestNet net(3);
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.DeliverAll();
  net.TickAll(2);
  ASSERT_EQ(net.node(2).log().commit(), net.node(1).log().last_index());
  Message rewrite = Msg(MessageType::kAppend, 3, 2, net.node(2).term().value() + 1);
  rewrite.log_index = Index(1);
  rewrite.log_term = net.node(2).log().TermAt(Index(1));
  rewrite.entries = {Entry{.term = rewrite.term, .index = Index(2), .data = "other"}};
  net.node(2).Step(rewrite);
  EXPECT_EQ(net.node(2).log().At(Index(2)).data, "x") << "committed entries are never replaced";
}

TEST(InvariantsDeathTest, AdvanceWithoutReadyCrashes) {
  TestNet net(1);
  EXPECT_DEATH(net.node(1).Advance(Ready{}), "without GetReady");
}

}  // namespace
}  // namespace meridian::core::raft::testing
