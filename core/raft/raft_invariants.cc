// Raft::Invariants(): a basic check of the current state plus a delta check against the
// snapshot taken at the previous call (LogCabin's RaftConsensusInvariants). Runs after every
// input. Every failure is a programmer error and crashes.
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "core/raft/raft.h"
#include "io/assert.h"

namespace meridian::core::raft {

// Only a leader with nothing to replicate, or a follower that knows its leader, sleeps.
void Raft::QuiescenceInvariants() const {
  if (!quiesced_) return;
  MERIDIAN_CHECK(role_ == Role::kLeader || role_ == Role::kFollower, "a candidate quiesced");
  MERIDIAN_CHECK(leader_ != kNoNode, "quiesced with no leader");
  if (role_ != Role::kLeader) return;
  MERIDIAN_CHECK(log_.commit() == log_.last_index(), "a quiesced leader has uncommitted work");
  MERIDIAN_CHECK(heartbeat_acked_ticks_.empty(), "a quiesced leader kept its lease");
  // A member reported down wakes it, and it does not quiesce with one (CanQuiesce).
  for (const auto& [id, progress] : progress_) {
    MERIDIAN_CHECK(!nodes_down_.contains(id), "asleep with member {} down", id.ToString());
  }
}

absl::Status Raft::ConfigurationFollowsLog() const {
  // Recomputed from the log this node holds, scanning down from its last entry (the index of
  // configuration entries, RaftLog::ConfigAt, is only trusted for the membership itself).
  Membership implied =
      log_.snapshot_index().value() > 0 ? snapshot_.meta.membership : options_.bootstrap;
  Index implied_index = log_.snapshot_index();
  for (uint64_t i = log_.last_index().value(); i > log_.snapshot_index().value(); i--) {
    if (log_.KindAt(Index(i)) != EntryKind::kConfig) continue;
    const Membership* membership = log_.ConfigAt(Index(i));
    if (membership == nullptr) {
      return absl::FailedPreconditionError(
          fmt::format("{} holds a configuration entry at {} without its membership",
                      options_.id.ToString(), i));
    }
    implied = *membership;
    implied_index = Index(i);
    break;
  }
  // With no config entry past the snapshot, the configuration came with the snapshot or before
  // it: any index up to the snapshot's is right (compaction does not re-date it).
  const bool dated_right = implied_index > log_.snapshot_index()
                               ? membership_index_ == implied_index
                               : membership_index_ <= log_.snapshot_index();
  if (!dated_right) {
    return absl::FailedPreconditionError(
        fmt::format("{} dates its configuration at {} but its log (last {}) dates it at {}",
                    options_.id.ToString(), membership_index_.ToString(),
                    log_.last_index().ToString(), implied_index.ToString()));
  }
  if (!(membership_ == implied)) {
    return absl::FailedPreconditionError(
        fmt::format("{} uses {} but its log (last {}) implies {}", options_.id.ToString(),
                    membership_.ToString(), log_.last_index().ToString(), implied.ToString()));
  }
  return absl::OkStatus();
}

// Dissertation §6.2: with check-quorum, a leader that hears from no quorum steps down. Its bound:
// a window of an election timeout that heard a quorum, then a whole window that heard none, so
// at most two election timeouts after the quorum's last message (or after it took office or
// woke from quiescence, when the windows start afresh, or since its voters changed: the window
// under way may have passed on the old quorum's answers). A quiesced leader sends nothing and
// expects nothing; it is exempt until woken.
bool Raft::StepDownBoundHolds() const {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  if (options_.check_quorum != CheckQuorum::kOn || quiesced_) return true;
  std::vector<uint64_t> heard;
  for (NodeId voter : membership_.voters) {
    auto it = heard_ticks_.find(voter);
    heard.push_back(voter == options_.id ? ticks_ : it == heard_ticks_.end() ? 0 : it->second);
  }
  std::sort(heard.begin(), heard.end(), std::greater<>());
  const size_t quorum = membership_.voters.size() / 2 + 1;
  MERIDIAN_CHECK(quorum <= heard.size());
  const uint64_t since = std::max(step_down_clock_start_ticks_, heard[quorum - 1]);
  return ticks_ - since <= 2 * static_cast<uint64_t>(options_.election_timeout_ticks);
}

void Raft::LeaderInvariants() {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  MERIDIAN_CHECK(vote_ == options_.id, "a leader voted for itself");
  MERIDIAN_CHECK(log_.last_term() == term_, "the leader's no-op is in its log");
  MERIDIAN_CHECK(membership_.IsVoter(options_.id));
  for (const auto& [id, progress] : progress_) {
    progress.CheckInvariants();
    MERIDIAN_CHECK(progress.match() <= log_.last_index());
    MERIDIAN_CHECK(membership_.IsMember(id));
  }
  MERIDIAN_CHECK(StepDownBoundHolds(), "{} leads {} but heard from no quorum in {} ticks",
                 options_.id.ToString(), term_.ToString(), 2 * options_.election_timeout_ticks);
  if (options_.planted_bug != PlantedBug::kConcurrentConfigChanges) {
    // Counted over what this leader appended itself: entries it inherited past its (volatile)
    // commit index were each committed before the next change was proposed, by earlier
    // leaders, and a group restarted as a whole may hold several.
    uint32_t pending = 0;
    const uint64_t own_from = std::max(log_.commit().value(), leader_inherited_end_.value());
    for (uint64_t i = own_from + 1; i <= log_.last_index().value(); i++) {
      pending += log_.KindAt(Index(i)) == EntryKind::kConfig ? 1 : 0;
    }
    MERIDIAN_CHECK(pending <= 1, "{} uncommitted configuration changes", pending);
  }
  // The window bounds what this leader appended itself (Propose refuses past it). What it
  // inherited from earlier terms may be uncommitted here without bound: the commit index is
  // volatile, so a group restarted as a whole elects a leader whose commit lags its log by
  // everything since the last stored hard state (found by tests/jepsen bitflip, which restarts
  // every replica of a group at once).
  const uint64_t own_from = std::max(log_.commit().value(), leader_inherited_end_.value());
  MERIDIAN_CHECK(log_.last_index().value() - own_from <= kUncommittedEntriesMax + 1,
                 "uncommitted window exceeded");
}

void Raft::Invariants() {
  log_.CheckInvariants();
  CheckMembership(membership_);
  // Delta checks: term and commit only grow; at most one vote per term; the committed prefix
  // never changes.
  MERIDIAN_CHECK(term_ >= previous_.term, "term went back");
  MERIDIAN_CHECK(log_.commit() >= previous_.commit, "commit went back");
  if (term_ == previous_.term && previous_.vote != kNoNode) {
    MERIDIAN_CHECK(vote_ == previous_.vote, "second vote in term {}", term_.ToString());
  }
  // (Entries compacted into a snapshot are gone from memory; they were committed and applied.)
  if (previous_.commit >= log_.snapshot_index()) {
    MERIDIAN_CHECK(log_.TermAt(previous_.commit) == previous_.commit_term,
                   "committed entry {} was overwritten", previous_.commit.ToString());
  }
  MERIDIAN_CHECK(snapshot_.meta.index == log_.snapshot_index(), "snapshot and log disagree");
  MERIDIAN_CHECK(snapshot_.meta.term == log_.snapshot_term());
  MERIDIAN_CHECK(snapshot_.data.size() <= kSnapshotDataBytesMax);
  if (log_.last_index().value() > 0) MERIDIAN_CHECK(log_.last_term() <= term_);
  // The commit index may run ahead of the local disk (a quorum of others holds the entries),
  // but what is persisted and applied here never does (an index is durable when the durability
  // cap leaves it where it is).
  const Index saved_commit = persisted_hard_state_.commit;
  MERIDIAN_CHECK(CappedAtDurable(log_, saved_commit, options_.planted_bug) == saved_commit,
                 "saved commit not durable");
  MERIDIAN_CHECK(CappedAtDurable(log_, log_.applied(), options_.planted_bug) == log_.applied(),
                 "applied an entry not durable here");
  if (leader_ == options_.id) MERIDIAN_CHECK(role_ == Role::kLeader);
  QuiescenceInvariants();
  if (role_ == Role::kCandidate) MERIDIAN_CHECK(vote_ == options_.id);
  if (amnesiac_) {
    MERIDIAN_CHECK(role_ == Role::kFollower, "an amnesiac never campaigns");
    MERIDIAN_CHECK(vote_ == kNoNode, "nor votes");
  }
  if (joining_) {
    MERIDIAN_CHECK(role_ == Role::kFollower, "a joining replica never campaigns");
    MERIDIAN_CHECK(vote_ == kNoNode || vote_ == previous_.vote, "nor grants a vote");
  }
  if (role_ != Role::kLeader) {
    MERIDIAN_CHECK(progress_.empty());
    MERIDIAN_CHECK(heartbeat_acked_ticks_.empty());
  } else {
    LeaderInvariants();
  }
  previous_ = PreviousState{term_, vote_, log_.commit(), log_.TermAt(log_.commit())};
}

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResponse";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResponse";
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResponse:
      return "AppendResponse";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResponse";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kTermQuery:
      return "TermQuery";
    case MessageType::kTermQueryResponse:
      return "TermQueryResponse";
  }
  return "?";
}

const char* PlantedBugName(PlantedBug bug) {
  switch (bug) {
    case PlantedBug::kNone:
      return "none";
    case PlantedBug::kCommitOlderTermByCounting:
      return "commit-older-term-by-counting";
    case PlantedBug::kVoteWithoutLogCheck:
      return "vote-without-log-check";
    case PlantedBug::kCountOwnEntriesBeforeDurable:
      return "ack-before-fsync";
    case PlantedBug::kForgetToPersistVote:
      return "forget-to-persist-vote";
    case PlantedBug::kConcurrentConfigChanges:
      return "concurrent-config-changes";
    case PlantedBug::kLeaseReadAfterExpiry:
      return "lease-read-after-expiry";
    case PlantedBug::kLeaseEndsOnAnyHigherTerm:
      return "lease-ends-on-any-higher-term";
    case PlantedBug::kLeaseFromAckReceipt:
      return "lease-from-ack-receipt";
    case PlantedBug::kLeaseReadDuringTransfer:
      return "lease-read-during-transfer";
    case PlantedBug::kConfigKeptAfterTruncation:
      return "config-kept-after-truncation";
    case PlantedBug::kLearnersCountTowardCommit:
      return "learners-count-toward-commit";
    case PlantedBug::kDamagedReplicaVotes:
      return "damaged-replica-votes";
    case PlantedBug::kMatchKeptAfterShorterLog:
      return "match-kept-after-shorter-log";
    case PlantedBug::kQuiescedFollowerIgnoresLeaderLoss:
      return "quiesced-follower-ignores-leader-loss";
    case PlantedBug::kVoteWithLostHardState:
      return "vote-with-lost-hard-state";
    case PlantedBug::kLeaseReadIgnoresOwedTicks:
      return "lease-read-ignores-owed-ticks";
    case PlantedBug::kTransferRestartsCheckQuorum:
      return "transfer-restarts-check-quorum";
    case PlantedBug::kElectionTimeoutNotRandomized:
      return "election-timeout-not-randomized";
  }
  return "?";
}

}  // namespace meridian::core::raft
