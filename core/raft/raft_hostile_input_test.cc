// Hostile input: every peer message that reaches Raft::Step (it passed the codec, so it is
// well-typed, but its sender may be buggy, confused or forged) is either acted on or dropped and
// counted in Raft::drops(); it never trips an assertion (docs/architecture.md "Trust boundaries").
// Each scenario drives a 3-node cluster to a leader, feeds one class of forged message, checks that
// it was dropped and counted, and that the cluster still commits and elects afterwards. A
// rapidcheck property steps random messages into a live cluster and checks Invariants().
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "core/raft/testing/test_net.h"

namespace meridian::core::raft::testing {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

Message Msg(MessageType type, uint32_t from, uint32_t to, Term term) {
  return Message{.type = type, .from = NodeId(from), .to = NodeId(to), .term = term};
}

std::vector<Message> OfType(const std::vector<Message>& messages, MessageType type) {
  std::vector<Message> out;
  for (const Message& m : messages) {
    if (m.type == type) out.push_back(m);
  }
  return out;
}

// A 3-node cluster with node 1 leading term 1 and its no-op committed everywhere.
struct Cluster {
  Cluster() : net(3) {
    net.Campaign(1);
    MERIDIAN_CHECK(net.node(1).role() == Role::kLeader);
    net.TickAll(net.node(1).options().heartbeat_interval_ticks);
  }
  Term term() { return net.node(1).term(); }
  TestNet net;
};

// The leader commits a new proposal on every node.
void ExpectCommits(TestNet& net, uint32_t leader, const std::vector<uint32_t>& nodes) {
  ASSERT_EQ(net.node(leader).role(), Role::kLeader);
  const absl::StatusOr<Index> index = net.node(leader).Propose("after the forgery");
  ASSERT_TRUE(index.ok()) << index.status();
  net.DeliverAll();
  net.TickAll(net.node(leader).options().heartbeat_interval_ticks);
  for (uint32_t id : nodes) {
    EXPECT_GE(net.node(id).log().commit(), *index) << "n" << id << " did not commit";
  }
}

// The leader is cut off; node `next` wins an election and commits with the third node; the old
// leader rejoins and catches up.
void ExpectReelects(TestNet& net, uint32_t leader, uint32_t next) {
  net.Isolate(leader);
  net.Campaign(next);
  ASSERT_EQ(net.node(next).role(), Role::kLeader);
  net.Heal();
  ExpectCommits(net, next, {1, 2, 3});
}

void ExpectStillWorks(TestNet& net) {
  ExpectCommits(net, 1, {1, 2, 3});
  ExpectReelects(net, 1, 2);
}

// ---------------------------------------------------------------- remote crashes of the issue

TEST(HostileInput, AHeartbeatFromANonMemberInTheLeadersTermIsDropped) {
  // Was MERIDIAN_UNREACHABLE("two leaders in term"): one forged heartbeat killed the leader.
  Cluster c;
  c.net.node(1).Step(Msg(MessageType::kHeartbeat, 9, 1, c.term()));
  EXPECT_EQ(c.net.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.net.node(1).drops().not_from_leader, 1u);
  EXPECT_EQ(c.net.node(1).drops().total(), 1u);
  ExpectStillWorks(c.net);
}

TEST(HostileInput, AnAppendFromAMemberInTheLeadersTermIsDropped) {
  Cluster c;
  Message append = Msg(MessageType::kAppend, 2, 1, c.term());
  append.log_index = c.net.node(1).log().last_index();
  append.log_term = c.term();
  append.entries = {Entry{.term = c.term(), .index = append.log_index.next(), .data = "x"}};
  const Index last = c.net.node(1).log().last_index();
  c.net.node(1).Step(append);
  EXPECT_EQ(c.net.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.net.node(1).log().last_index(), last);
  EXPECT_EQ(c.net.node(1).drops().not_from_leader, 1u);
  ExpectStillWorks(c.net);
}

TEST(HostileInput, AnAckBeyondTheLeadersLogIsDropped) {
  // Was MERIDIAN_CHECK("ack beyond the leader's log").
  Cluster c;
  const Index last = c.net.node(1).log().last_index();
  const Index match = c.net.node(1).progress().at(NodeId(2)).match();
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, c.term());
  ack.log_index = Index(last.value() + 5);
  c.net.node(1).Step(ack);
  ack.log_index = Index(kU64Max);
  c.net.node(1).Step(ack);
  Message reject = ack;  // A rejection of a prevLogIndex we never sent (next() would wrap).
  reject.reject = true;
  c.net.node(1).Step(reject);
  Message beat = Msg(MessageType::kHeartbeatResponse, 2, 1, c.term());
  beat.context_ticks = c.net.node(1).ticks() + 1000;  // A heartbeat we have not sent yet.
  c.net.node(1).Step(beat);
  EXPECT_EQ(c.net.node(1).drops().ack_beyond_log, 4u);
  EXPECT_EQ(c.net.node(1).progress().at(NodeId(2)).match(), match);
  EXPECT_EQ(c.net.node(1).log().last_index(), last);
  ExpectStillWorks(c.net);
}

// ---------------------------------------------------------------- what used to be CHECKs in Step

TEST(HostileInput, MisaddressedMessagesAreDropped) {
  Cluster c;
  c.net.node(1).Step(Msg(MessageType::kAppendResponse, 2, 3, c.term()));  // Not for us.
  c.net.node(1).Step(Msg(MessageType::kAppendResponse, 1, 1, c.term()));  // From ourselves.
  c.net.node(1).Step(Msg(MessageType::kAppendResponse, 0, 1, c.term()));  // From nobody.
  c.net.node(2).Step(Msg(MessageType::kHeartbeat, 1, 0, c.term()));       // To nobody.
  EXPECT_EQ(c.net.node(1).drops().misaddressed, 3u);
  EXPECT_EQ(c.net.node(2).drops().misaddressed, 1u);
  c.net.node(2).Step(Msg(MessageType::kHeartbeat, 1, 2, Term(0)));  // Term 0.
  EXPECT_EQ(c.net.node(2).drops().malformed, 1u);
  ExpectStillWorks(c.net);
}

// ---------------------------------------------------------------- malformed contents

TEST(HostileInput, MalformedAppendsAreDroppedAndLeaveTheLogAlone) {
  Cluster c;
  const Term t = c.term();
  const Index last = c.net.node(2).log().last_index();
  const auto append = [&](std::vector<Entry> entries) {
    Message m = Msg(MessageType::kAppend, 1, 2, t);
    m.log_index = last;
    m.log_term = t;
    m.entries = std::move(entries);
    return m;
  };
  const Index next = last.next();
  std::vector<Message> forged = {
      append({Entry{.term = t, .index = next.next()}}),  // Gap after prev.
      append({Entry{.term = t, .index = next}, Entry{.term = t, .index = next}}),  // Repeat.
      append({Entry{.term = t.next(), .index = next}}),  // Term above the message.
      append({Entry{.term = Term(0), .index = next}}),   // Term below prev's.
      append({Entry{.term = t, .index = next, .kind = EntryKind::kConfig}}),  // No voters.
      append({Entry{.term = t,
                    .index = next,
                    .kind = EntryKind::kConfig,
                    .membership = Membership{.voters = {NodeId(0), NodeId(1)}}}}),
      append({Entry{.term = t,
                    .index = next,
                    .kind = EntryKind::kConfig,
                    .membership = Membership{.voters = {NodeId(1)}, .learners = {NodeId(1)}}}}),
      append({Entry{.term = t,  // A configuration carrying data (raft keeps it as membership).
                    .index = next,
                    .kind = EntryKind::kConfig,
                    .data = "x",
                    .membership = Membership{.voters = {NodeId(1)}}}}),
      append({Entry{.term = t, .index = next, .data = std::string(kEntryBytesMax + 1, 'x')}}),
      append(std::vector<Entry>(kBatchEntriesMax + 1)),  // Too many (and gaps).
  };
  Message beat = append({Entry{.term = t, .index = next}});  // Entries on a heartbeat.
  beat.type = MessageType::kHeartbeat;
  forged.push_back(beat);
  Message wraps = append({Entry{.term = t, .index = Index(kU64Max)}, Entry{.term = t}});
  wraps.log_index = Index(kU64Max - 1);  // Indexes would wrap around.
  forged.push_back(wraps);
  Message far_future = Msg(MessageType::kHeartbeat, 1, 2, Term(kTermMax.value() + 1));
  forged.push_back(far_future);  // Would push our term toward wrap-around.
  for (const Message& m : forged) c.net.node(2).Step(m);
  EXPECT_EQ(c.net.node(2).drops().malformed, forged.size());
  EXPECT_EQ(c.net.node(2).drops().total(), forged.size());
  EXPECT_EQ(c.net.node(2).log().last_index(), last);
  EXPECT_EQ(c.net.node(2).term(), t);
  ExpectStillWorks(c.net);
}

// ---------------------------------------------------------------- membership

TEST(HostileInput, ResponsesAndTimeoutNowFromNonMembersAreDropped) {
  Cluster c;
  const Index match = c.net.node(1).progress().at(NodeId(2)).match();
  Message ack = Msg(MessageType::kAppendResponse, 9, 1, c.term());
  ack.log_index = c.net.node(1).log().last_index();
  c.net.node(1).Step(ack);
  c.net.node(1).Step(Msg(MessageType::kHeartbeatResponse, 9, 1, c.term()));
  // A higher-term response from a non-member does not depose the leader either.
  Message newer = Msg(MessageType::kAppendResponse, 9, 1, c.term().next());
  c.net.node(1).Step(newer);
  EXPECT_EQ(c.net.node(1).role(), Role::kLeader);
  // TimeoutNow from a non-member would start an election that disrupts the leader.
  c.net.node(2).Step(Msg(MessageType::kTimeoutNow, 9, 2, c.term()));
  EXPECT_EQ(c.net.node(2).role(), Role::kFollower);
  EXPECT_EQ(c.net.node(1).drops().non_member, 3u);
  EXPECT_EQ(c.net.node(2).drops().non_member, 1u);
  EXPECT_EQ(c.net.node(1).progress().at(NodeId(2)).match(), match);
  ExpectStillWorks(c.net);
}

TEST(HostileInput, VoteResponsesFromNonMembersDoNotCount) {
  TestNet net(3);
  net.Isolate(2);
  net.Isolate(3);
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kCandidate);
  const Term term = net.node(1).term();
  for (uint32_t from : {7u, 8u, 9u}) {
    net.node(1).Step(Msg(MessageType::kVoteResponse, from, 1, term));
  }
  EXPECT_EQ(net.node(1).role(), Role::kCandidate) << "votes of strangers elected a leader";
  EXPECT_EQ(net.node(1).drops().non_member, 3u);
  net.Heal();
  ASSERT_NE(net.ElectAny(), 0u);
}

TEST(HostileInput, TimeoutNowFromAFollowerIsDropped) {
  Cluster c;
  c.net.node(2).Step(Msg(MessageType::kTimeoutNow, 3, 2, c.term()));
  EXPECT_EQ(c.net.node(2).role(), Role::kFollower);
  EXPECT_EQ(c.net.node(2).leader(), NodeId(1));
  EXPECT_EQ(c.net.node(2).drops().not_from_leader, 1u);
  ExpectStillWorks(c.net);
}

TEST(HostileInput, VoteRequestsFromNonMembersAreAnswered) {
  // Dissertation §4.1: "servers process incoming RPC requests without consulting their current
  // configurations": a voter added by an entry we have not received yet may need our vote. So
  // a vote request is not dropped for coming from a stranger (design.md "Hostile input").
  Cluster c;
  Message vote = Msg(MessageType::kVote, 9, 3, c.term().next());
  vote.log_index = c.net.node(3).log().last_index();
  vote.log_term = c.net.node(3).log().last_term();
  c.net.node(3).Step(vote);
  const std::vector<Message> replies = OfType(c.net.Flush(), MessageType::kVoteResponse);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].to, NodeId(9));
  EXPECT_FALSE(replies[0].reject);
  EXPECT_EQ(c.net.node(3).drops().total(), 0u);
  // Node 9 never shows up; the members elect a leader of a later term and carry on.
  c.net.TickAll(4 * c.net.node(1).options().election_timeout_ticks);
  uint32_t leader = 0;
  for (uint32_t id = 1; id <= 3; id++) {
    if (c.net.node(id).role() != Role::kLeader) continue;
    if (leader == 0 || c.net.node(id).term() > c.net.node(leader).term()) leader = id;
  }
  ASSERT_NE(leader, 0u);
  EXPECT_GT(c.net.node(leader).term(), Term(1));
  ExpectCommits(c.net, leader, {1, 2, 3});
}

TEST(HostileInput, ANewNodeFollowsALeaderItsBootstrapConfigDoesNotName) {
  // A node added later may start from a configuration older than the leader (or without it);
  // the leader's appends must not be dropped as coming from a non-member, or it never learns.
  Cluster c;
  c.net.Add(NodeId(4), Membership{.voters = {NodeId(2), NodeId(3)}});
  ASSERT_TRUE(c.net.node(1).ProposeConfChange({ConfChangeKind::kAddLearner, NodeId(4)}).ok());
  c.net.DeliverAll();
  c.net.TickAll(c.net.node(1).options().heartbeat_interval_ticks);
  EXPECT_EQ(c.net.node(4).log().last_index(), c.net.node(1).log().last_index());
  EXPECT_TRUE(c.net.node(4).membership().IsLearner(NodeId(4)));
  EXPECT_EQ(c.net.node(4).leader(), NodeId(1));
  EXPECT_EQ(c.net.node(4).drops().total(), 0u);
  EXPECT_EQ(c.net.node(1).drops().total(), 0u);
  ExpectCommits(c.net, 1, {1, 2, 3, 4});
}

// ---------------------------------------------------------------- a leader contradicting itself

TEST(HostileInput, AnAppendThatRewritesVerifiedEntriesIsDropped) {
  // Node 2 leads term 2 with node 1 cut off and its own disk held, so its no-op (index 2) and a
  // proposal (index 3) are verified on node 3 but not committed. A forged append "from node 2"
  // that replaces index 2 with an entry of term 1 contradicts what node 3 already verified: a
  // leader's log only grows within its term, so this cannot come from the real leader. Obeyed,
  // it truncated the log below the verified index and, with commit 3, tripped FollowerCommit's
  // assertion (commit beyond the log).
  TestNet net(3);
  net.Campaign(1);
  net.TickAll(net.node(1).options().heartbeat_interval_ticks);
  net.Isolate(1);
  net.HoldSync(2);
  net.Campaign(2);
  ASSERT_EQ(net.node(2).role(), Role::kLeader);
  net.TickAll(net.node(2).options().heartbeat_interval_ticks);
  ASSERT_TRUE(net.node(2).Propose("y").ok());
  net.DeliverAll();
  const Term term = net.node(2).term();
  ASSERT_EQ(net.node(3).log().last_index(), Index(3));
  ASSERT_EQ(net.node(3).log().commit(), Index(1));
  Message forged = Msg(MessageType::kAppend, 2, 3, term);
  forged.log_index = Index(1);
  forged.log_term = Term(1);
  forged.entries = {Entry{.term = Term(1), .index = Index(2), .data = "rewritten"}};
  forged.commit = Index(3);
  net.node(3).Step(forged);
  EXPECT_EQ(net.node(3).drops().contradicting_append, 1u);
  EXPECT_EQ(net.node(3).log().At(Index(2)).term, term);
  EXPECT_EQ(net.node(3).log().last_index(), Index(3));
  net.Heal();
  net.ReleaseSync(2);
  ExpectCommits(net, 2, {1, 2, 3});
}

// ---------------------------------------------------------------- random forgeries

rc::Gen<uint64_t> Near(uint64_t value, uint64_t huge) {
  value = std::min(value, kU64Max - 4);
  return rc::gen::weightedOneOf<uint64_t>(
      {{8, rc::gen::inRange<uint64_t>(value > 2 ? value - 2 : 0, value + 4)},
       {1, rc::gen::just(uint64_t{0})},
       {1, rc::gen::just(huge)},
       {1, rc::gen::arbitrary<uint64_t>()}});
}

rc::Gen<NodeId> GenNode(uint32_t likely) {
  return rc::gen::map(rc::gen::weightedOneOf<uint32_t>({{6, rc::gen::just(likely)},
                                                        {6, rc::gen::inRange<uint32_t>(1, 4)},
                                                        {1, rc::gen::just(0u)},
                                                        {2, rc::gen::inRange<uint32_t>(4, 10)}}),
                      [](uint32_t id) { return NodeId(id); });
}

rc::Gen<Membership> GenMembership() {
  return rc::gen::exec([] {
    Membership membership;
    for (uint32_t id = 0; id <= 5; id++) {
      const int pick = *rc::gen::inRange(0, 4);
      if (pick == 0) membership.voters.insert(NodeId(id));
      if (pick == 1) membership.learners.insert(NodeId(id));
    }
    return membership;
  });
}

std::vector<Entry> GenEntries(const Message& m) {
  std::vector<Entry> entries;
  const uint64_t count = *rc::gen::inRange<uint64_t>(0, 5);
  const bool contiguous = *rc::gen::weightedElement<bool>({{9, true}, {1, false}});
  Term term = m.log_term;
  for (uint64_t i = 0; i < count; i++) {
    Entry entry;
    entry.index = contiguous ? Index(m.log_index.value() + i + 1) : Index(*Near(i, kU64Max));
    if (m.term > term && *rc::gen::inRange(0, 3) == 0) {
      const uint64_t gap = std::min<uint64_t>(m.term.value() - term.value(), 10);
      term = Term(term.value() + *rc::gen::inRange<uint64_t>(0, gap + 1));
    }
    entry.term = *rc::gen::weightedElement<bool>({{19, true}, {1, false}}) ? term : m.term.next();
    if (*rc::gen::inRange(0, 6) == 0) {
      entry.kind = EntryKind::kConfig;
      entry.membership = *GenMembership();
    } else {
      entry.data = *rc::gen::element<std::string>("", "a", "bb");
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

// Any message type with fields near the receiver's state (where the interesting edges are),
// sometimes zero, huge or arbitrary.
Message GenForged(const Raft& raft) {
  Message m;
  m.type = static_cast<MessageType>(*rc::gen::inRange(0, 9));
  m.to = *rc::gen::weightedOneOf<NodeId>(
      {{8, rc::gen::just(raft.id())}, {1, GenNode(raft.id().value())}});
  m.from = *GenNode(raft.leader() == kNoNode ? 1 : raft.leader().value());
  m.term = Term(*Near(raft.term().value(), kTermMax.value() + 1));
  m.log_index = Index(*Near(raft.log().last_index().value(), kU64Max));
  m.log_term = Term(*rc::gen::inRange<uint64_t>(0, m.term.value() < 8 ? m.term.value() + 1 : 8));
  if (m.type == MessageType::kAppend) m.entries = GenEntries(m);
  m.commit = Index(*Near(raft.log().last_index().value(), kU64Max));
  m.reject = *rc::gen::arbitrary<bool>();
  m.hint_index = Index(*Near(raft.log().last_index().value(), kU64Max));
  m.hint_term = Term(*Near(raft.term().value(), kU64Max));
  m.context_ticks = *Near(raft.ticks(), kU64Max);
  m.campaign = *rc::gen::element(Campaign::kNormal, Campaign::kTransfer);
  return m;
}

void CheckForgeriesNeverAbort(RaftOptions options) {
  TestNet net(3, options);
  RC_ASSERT(net.ElectAny() != 0u);
  const int steps = *rc::gen::inRange(20, 150);
  uint32_t acted_on = 0;  // Forged messages that were not dropped: they reached the handlers.
  for (int i = 0; i < steps; i++) {
    const int action = *rc::gen::inRange(0, 10);
    if (action < 5) {
      Raft& target = net.node(*rc::gen::inRange<uint32_t>(1, 4));
      const uint64_t dropped = target.drops().total();
      target.Step(GenForged(target));  // Step runs Invariants() itself.
      acted_on += target.drops().total() == dropped ? 1 : 0;
    } else if (action < 7) {
      net.TickAll(1);
    } else if (action < 9) {
      for (uint32_t id = 1; id <= 3; id++) {
        if (net.node(id).role() == Role::kLeader) (void)net.node(id).Propose("p");
      }
    } else {
      net.DeliverAll();
    }
    for (uint32_t id = 1; id <= 3; id++) net.node(id).Invariants();
  }
  uint64_t drops = 0;
  for (uint32_t id = 1; id <= 3; id++) drops += net.node(id).drops().total();
  RC_TAG(drops > 0 ? "dropped some" : "dropped none");
  RC_TAG(acted_on >= 10 ? "acted on 10+ forgeries" : "acted on fewer than 10 forgeries");
}

RC_GTEST_PROP(HostileInput, RandomMessagesNeverAbortAPlainCluster, ()) {
  CheckForgeriesNeverAbort(TestNet::DefaultOptions());
}

RC_GTEST_PROP(HostileInput, RandomMessagesNeverAbortAClusterWithPreVoteAndCheckQuorum, ()) {
  RaftOptions options = TestNet::DefaultOptions();
  options.pre_vote = PreVote::kOn;
  options.check_quorum = CheckQuorum::kOn;
  CheckForgeriesNeverAbort(options);
}

}  // namespace
}  // namespace meridian::core::raft::testing
