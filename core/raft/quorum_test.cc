// Quorum math against a dumb reference (etcd's quorum/quick_test.go idea): MajorityValue is the
// largest v such that a majority of voters acked >= v; TallyVotes wins/loses exactly when a
// majority granted/rejected or can no longer grant.
#include "core/raft/quorum.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/raft/membership.h"
#include "core/raft/progress.h"

namespace meridian::core::raft {
namespace {

uint64_t ReferenceMajorityValue(const absl::btree_set<io::NodeId>& voters,
                                const absl::btree_map<io::NodeId, uint64_t>& acked) {
  uint64_t best = 0;
  for (const auto& [candidate_id, candidate] : acked) {
    size_t at_least = 0;
    for (io::NodeId id : voters) {
      auto it = acked.find(id);
      if (it != acked.end() && it->second >= candidate) at_least++;
    }
    if (at_least > voters.size() / 2) best = std::max(best, candidate);
  }
  return best;
}

RC_GTEST_PROP(Quorum, MajorityValueMatchesTheReference, ()) {
  const auto voter_count = *rc::gen::inRange<uint32_t>(1, kVotersMax + 1);
  absl::btree_set<io::NodeId> voters;
  absl::btree_map<io::NodeId, uint64_t> acked;
  for (uint32_t i = 1; i <= voter_count; i++) {
    voters.insert(io::NodeId(i));
    if (*rc::gen::inRange(0, 4) != 0) acked[io::NodeId(i)] = *rc::gen::inRange<uint64_t>(0, 20);
  }
  // Acks from non-voters (learners) must not matter.
  acked[io::NodeId(100)] = 1000;
  RC_ASSERT(MajorityValue(voters, acked) == ReferenceMajorityValue(voters, acked));
}

RC_GTEST_PROP(Quorum, TallyMatchesCounting, ()) {
  const auto voter_count = *rc::gen::inRange<uint32_t>(1, kVotersMax + 1);
  absl::btree_set<io::NodeId> voters;
  absl::btree_map<io::NodeId, bool> votes;
  uint32_t granted = 0;
  uint32_t rejected = 0;
  for (uint32_t i = 1; i <= voter_count; i++) {
    voters.insert(io::NodeId(i));
    const int choice = *rc::gen::inRange(0, 3);
    if (choice == 1) votes[io::NodeId(i)] = true, granted++;
    if (choice == 2) votes[io::NodeId(i)] = false, rejected++;
  }
  votes[io::NodeId(100)] = true;  // A learner's vote never counts.
  const uint32_t quorum = voter_count / 2 + 1;
  const VoteResult result = TallyVotes(voters, votes);
  if (granted >= quorum) {
    RC_ASSERT(result == VoteResult::kWon);
  } else if (voter_count - rejected < quorum) {
    RC_ASSERT(result == VoteResult::kLost);
  } else {
    RC_ASSERT(result == VoteResult::kPending);
  }
}

TEST(Progress, ProbeSendsOneAtATimeAndReplicatePipelinesUpToTheLimit) {
  Progress progress(Index(1), kInflightMessagesMax);
  EXPECT_TRUE(progress.CanSend());
  progress.OnSent(Index(0));
  EXPECT_FALSE(progress.CanSend()) << "probe: one message until an answer";
  EXPECT_TRUE(progress.OnAccepted(Index(0)) == false);
  progress.OnHeartbeatResponse();
  EXPECT_TRUE(progress.CanSend());
  progress.BecomeReplicate();
  for (uint32_t i = 1; i <= kInflightMessagesMax; i++) {
    ASSERT_TRUE(progress.CanSend());
    progress.OnSent(Index(i));
  }
  EXPECT_FALSE(progress.CanSend()) << "the in-flight window is full";
  EXPECT_TRUE(progress.OnAccepted(Index(3)));
  EXPECT_EQ(progress.inflight_count(), kInflightMessagesMax - 3);
  progress.CheckInvariants();
}

TEST(Progress, ARejectionInReplicateFallsBackToProbeAtTheHint) {
  Progress progress(Index(1), kInflightMessagesMax);
  progress.BecomeReplicate();
  progress.OnSent(Index(10));
  EXPECT_TRUE(progress.OnRejected(Index(5), Index(3)));
  EXPECT_EQ(progress.state(), ProgressState::kProbe);
  EXPECT_EQ(progress.next(), Index(3));
  EXPECT_FALSE(progress.OnRejected(Index(9), Index(1))) << "a stale rejection is ignored";
}

// In replicate state a rejection of an index at or below match answers an append sent before
// the follower acknowledged that index: stale, it changes nothing (Raft routes a follower that
// really lost entries below its match to LowerMatch instead).
TEST(Progress, ARejectionAtOrBelowMatchInReplicateIsStale) {
  Progress progress(Index(1), kInflightMessagesMax);
  progress.BecomeReplicate();
  progress.OnSent(Index(10));
  ASSERT_TRUE(progress.OnAccepted(Index(6)));
  EXPECT_FALSE(progress.OnRejected(Index(6), Index(2)));
  EXPECT_FALSE(progress.OnRejected(Index(4), Index(2)));
  EXPECT_EQ(progress.state(), ProgressState::kReplicate);
  EXPECT_EQ(progress.match(), Index(6));
  EXPECT_EQ(progress.next(), Index(11));
  EXPECT_TRUE(progress.OnRejected(Index(7), Index(2))) << "one above match is news";
  EXPECT_EQ(progress.next(), Index(7)) << "probe from match + 1 at the lowest";
}

// While a snapshot is in flight every rejection answers an append sent before it: stale, it
// changes nothing and asks for no resend (the snapshot's answer moves the follower on).
TEST(Progress, ARejectionWhileASnapshotIsInFlightIsStale) {
  Progress progress(Index(1), kInflightMessagesMax);
  progress.OnSent(Index(0));
  ASSERT_TRUE(progress.OnAccepted(Index(4)));
  progress.BecomeSnapshot(Index(20));
  EXPECT_FALSE(progress.OnRejected(Index(5), Index(5)));
  EXPECT_FALSE(progress.OnRejected(Index(12), Index(2)));
  EXPECT_EQ(progress.state(), ProgressState::kSnapshot);
  EXPECT_EQ(progress.match(), Index(4));
  EXPECT_EQ(progress.next(), Index(5));
  EXPECT_FALSE(progress.CanSend());
}

// A follower that lost entries it acknowledged (damage at rest cut its log) answers the probe
// out with a rejection below its match: LowerMatch restarts probing below it, and the next
// probe may go at once (Raft sends it right away) rather than after the next heartbeat answer.
TEST(Progress, LoweringTheMatchWhileAProbeIsOutAllowsTheNextProbeAtOnce) {
  Progress progress(Index(1), kInflightMessagesMax);
  progress.OnSent(Index(0));
  ASSERT_TRUE(progress.OnAccepted(Index(8)));
  progress.OnSent(Index(8));
  ASSERT_EQ(progress.state(), ProgressState::kProbe);
  ASSERT_FALSE(progress.CanSend()) << "one probe out";
  progress.LowerMatch(Index(3), Index(4));
  EXPECT_EQ(progress.match(), Index(3));
  EXPECT_EQ(progress.next(), Index(4));
  EXPECT_TRUE(progress.CanSend()) << "the probe out asked about entries the follower lost";
  // The same from replicate state, with appends in flight.
  progress.BecomeReplicate();
  progress.OnSent(Index(12));
  progress.LowerMatch(Index(2), Index(3));
  EXPECT_EQ(progress.state(), ProgressState::kProbe);
  EXPECT_TRUE(progress.CanSend());
}

// The limits are inclusive: kVotersMax voters and kMembersMax members in all are a valid
// configuration, one more of either is refused.
TEST(Membership, LimitsAreInclusive) {
  Membership full;
  for (uint32_t id = 1; id <= kVotersMax; id++) full.voters.insert(io::NodeId(id));
  for (uint32_t id = kVotersMax + 1; id <= kMembersMax; id++) full.learners.insert(io::NodeId(id));
  EXPECT_TRUE(ValidateMembership(full).ok()) << ValidateMembership(full);
  Membership one_member_more = full;
  one_member_more.learners.insert(io::NodeId(kMembersMax + 1));
  EXPECT_FALSE(ValidateMembership(one_member_more).ok());
  Membership one_voter_more = full;
  one_voter_more.learners.erase(io::NodeId(kMembersMax));
  one_voter_more.voters.insert(io::NodeId(kMembersMax));
  EXPECT_FALSE(ValidateMembership(one_voter_more).ok());
}

}  // namespace
}  // namespace meridian::core::raft
