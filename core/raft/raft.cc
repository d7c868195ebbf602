// Roles, elections and the public inputs/outputs of Raft. Replication lives in
// raft_replication.cc, invariants in raft_invariants.cc.
#include "core/raft/raft.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/raft/message_check.h"
#include "core/raft/quorum.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::raft {
namespace {

SnapshotMeta RestartSnapshot(const RestartState& restart) {
  return restart.snapshot.has_value() ? restart.snapshot->meta : SnapshotMeta{};
}

Index ClampCommit(const RaftOptions& options, const RestartState& restart) {
  const Index last(RestartSnapshot(restart).index.value() + restart.entries.size());
  // Under the ack-before-fsync bug the saved commit can exceed what survived on disk.
  if (options.planted_bug == PlantedBug::kCountOwnEntriesBeforeDurable) {
    return std::min(restart.hard_state.commit, last);
  }
  MERIDIAN_CHECK(restart.hard_state.commit <= last, "commit {} beyond durable log {}",
                 restart.hard_state.commit.ToString(), last.ToString());
  return restart.hard_state.commit;
}

// The log a restart leaves. The commit index is clamped against the entries before they are
// moved out: as arguments of one call the two would be evaluated in an unspecified order, and
// clang, evaluating left to right, moved the entries first and then found every commit beyond
// a log of none ("commit i17 beyond durable log i16" on a restart; found by the simulation
// fuzz target, whose clang build is the only one that evaluates them in that order).
RaftLog RestartLog(const RaftOptions& options, RestartState& restart) {
  const Index commit = ClampCommit(options, restart);
  return RaftLog(RestartSnapshot(restart), std::move(restart.entries), commit,
                 options.entry_cache_bytes_max);
}

}  // namespace

Raft::Raft(const RaftOptions& options, RestartState restart, io::Random random)
    : options_(options), random_(random), log_(RestartLog(options, restart)) {
  MERIDIAN_CHECK(options_.id != kNoNode, "node id 0 is reserved");
  MERIDIAN_CHECK(options_.heartbeat_interval_ticks >= 1);
  MERIDIAN_CHECK(options_.heartbeat_interval_ticks < options_.election_timeout_ticks,
                 "heartbeats must be more frequent than elections");
  MERIDIAN_CHECK(options_.election_timeout_ticks <= kElectionTimeoutTicksMax);
  MERIDIAN_CHECK(options_.drift_bound_percent <= kDriftBoundPercentMax);
  MERIDIAN_CHECK(
      options_.append_entries_max >= 1 && options_.append_entries_max <= kBatchEntriesMax,
      "append_entries_max {} outside 1..{}", options_.append_entries_max, kBatchEntriesMax);
  MERIDIAN_CHECK(
      options_.inflight_messages_max >= 1 && options_.inflight_messages_max <= kInflightMessagesMax,
      "inflight_messages_max {} outside 1..{}", options_.inflight_messages_max,
      kInflightMessagesMax);
  CheckMembership(options_.bootstrap);
  term_ = restart.hard_state.term;
  vote_ = restart.hard_state.vote;
  durable_before_ = restart.durable_before;
  // Only the driver's own record: it cannot name a term this node never reached.
  MERIDIAN_CHECK(durable_before_.term <= term_, "durable_before term beyond the hard state");
  if (restart.snapshot.has_value()) {
    snapshot_ = std::move(*restart.snapshot);
    CheckMembership(snapshot_.meta.membership);
    // A snapshot installed just before a crash may be newer than the stored hard state (see
    // RestartState): adopt its term, with no vote (none was cast in it, or it would be stored).
    if (snapshot_.meta.term > term_) {
      term_ = snapshot_.meta.term;
      vote_ = kNoNode;
    }
  }
  if (log_.last_index().value() > 0) MERIDIAN_CHECK(log_.last_term() <= term_);
  RefreshMembership();
  persisted_hard_state_ = HardState{term_, vote_, log_.commit()};
  BecomeFollower(term_, kNoNode);
  if (restart.hard_state_lost) {
    MERIDIAN_CHECK(vote_ == kNoNode, "a lost hard state restarts with no vote");
    MERIDIAN_CHECK(restart.hard_state.commit == Index(0), "nor a commit index");
    amnesiac_ = options_.planted_bug != PlantedBug::kVoteWithLostHardState;
    // Tells this incarnation's term queries from any earlier one's (answers may be delayed).
    amnesia_nonce_ = random_.Next();
    if (amnesiac_) EndAmnesiaIfHeardFromEveryVoter();  // A single voter has no one to ask.
  }
  // Only a copy that starts with nothing stored joins (RaftOptions::joining).
  joining_ = options_.joining && log_.last_index() == Index(0) &&
             log_.snapshot_index() == Index(0) && term_ == Term(0);
  // Drawn only for a joining copy: every other node's random stream stays what it was.
  if (joining_) join_probe_nonce_ = random_.Next();
  previous_ = PreviousState{term_, vote_, log_.commit(), log_.TermAt(log_.commit())};
  ForgetRepairedLoss();
  Invariants();
}

// ---------------------------------------------------------------- roles

void Raft::ResetElectionTimer() {
  election_elapsed_ticks_ = 0;
  heartbeat_elapsed_ticks_ = 0;
  // §5.2: "election timeouts are chosen randomly from a fixed interval" [T, 2T).
  randomized_timeout_ticks_ = options_.election_timeout_ticks +
                              static_cast<uint32_t>(random_.Below(options_.election_timeout_ticks));
  if (options_.planted_bug == PlantedBug::kElectionTimeoutNotRandomized) {
    randomized_timeout_ticks_ = options_.election_timeout_ticks;
  }
  MERIDIAN_CHECK(randomized_timeout_ticks_ >= options_.election_timeout_ticks);
}

void Raft::BecomeFollower(Term term, NodeId leader) {
  MERIDIAN_CHECK(term >= term_, "terms never go back");
  if (term > term_) {
    term_ = term;
    vote_ = kNoNode;  // §5.2: at most one vote per term; a new term starts with none.
  }
  role_ = Role::kFollower;
  step_ = &Raft::StepFollower;
  tick_ = &Raft::TickElection;
  leader_ = leader;
  progress_.clear();
  heartbeat_acked_ticks_.clear();
  votes_.clear();
  transferee_ = kNoNode;
  verified_ = Index(0);
  leader_commit_ = Index(0);
  acked_ = Index(0);
  broadcast_pending_ = false;
  ResetElectionTimer();
}

void Raft::BecomePreCandidate() {
  MERIDIAN_CHECK(role_ != Role::kLeader);
  MERIDIAN_CHECK(Promotable());
  // §9.6: a pre-candidate keeps its term and vote; it only asks whether it could win.
  role_ = Role::kPreCandidate;
  step_ = &Raft::StepCandidate;
  tick_ = &Raft::TickElection;
  leader_ = kNoNode;
  votes_.clear();
  ResetElectionTimer();
}

void Raft::BecomeCandidate() {
  MERIDIAN_CHECK(role_ != Role::kLeader);
  MERIDIAN_CHECK(Promotable());
  // §5.2: "a follower increments its current term and transitions to candidate state. It then
  // votes for itself".
  BecomeFollower(term_.next(), kNoNode);
  role_ = Role::kCandidate;
  step_ = &Raft::StepCandidate;
  vote_ = options_.id;
}

void Raft::BecomeLeader() {
  MERIDIAN_CHECK(role_ == Role::kCandidate, "only a candidate wins an election");
  MERIDIAN_CHECK(vote_ == options_.id);
  role_ = Role::kLeader;
  step_ = &Raft::StepLeader;
  tick_ = &Raft::TickHeartbeat;
  leader_ = options_.id;
  ResetElectionTimer();  // The check-quorum window starts now, not when the campaign began.
  heard_ticks_.clear();
  step_down_clock_start_ticks_ = ticks_;
  lease_revoked_ = false;
  transferee_ = kNoNode;
  progress_.clear();
  heartbeat_acked_ticks_.clear();
  SyncProgressToMembership();
  leader_inherited_end_ = log_.last_index();
  // §8: "each leader commit a blank no-op entry into the log at the start of its term", so that
  // entries of earlier terms commit (§5.4.2) and lease reads know the commit index is current.
  AppendOwn(EntryKind::kNormal, std::string(), Membership{});
  BroadcastAppend();
  BroadcastHeartbeat();
}

// ---------------------------------------------------------------- amnesia (lost hard state)
//
// A node that lost its hard state may have voted, before the loss, in any term up to the highest
// it ever reached, and that term is what it lost. Every such vote went to a candidate that had
// stored the term before asking (a vote for itself died with its memory: that candidacy cannot
// win any more). So once every other voter has answered a query sent after the restart, the
// highest term in the answers is at least every term this node could have voted in for another
// node, provided the others kept their hard states (a second node losing its own is beyond the
// fault model, as two voters losing a log entry is). The node then moves to that term and counts
// its vote there as cast; in every later term it has never voted. Until then it neither votes
// nor acknowledges (an acknowledgement to a leader of a term it had left behind could count
// toward a commit that conflicts with one it had helped make), nor campaigns. The liveness cost:
// it waits for every voter, so a voter that is down keeps it out until that voter returns.

template <typename Answered>
void Raft::QueryOtherVoters(uint64_t nonce, const Answered& answered) {
  for (NodeId voter : membership_.voters) {
    if (voter == options_.id || answered(voter)) continue;
    Send(Message{.type = MessageType::kTermQuery,
                 .to = voter,
                 .term = std::max(term_, Term(1)),
                 .context_ticks = nonce});
  }
}

void Raft::TickAmnesiac() {
  MERIDIAN_CHECK(amnesiac_);
  if (++heartbeat_elapsed_ticks_ < options_.heartbeat_interval_ticks) return;
  heartbeat_elapsed_ticks_ = 0;
  QueryOtherVoters(amnesia_nonce_,
                   [this](NodeId voter) { return amnesia_terms_heard_.contains(voter); });
}

void Raft::LearnTermWhileAmnesiac(const Message& m) {
  MERIDIAN_CHECK(amnesiac_);
  if (m.type != MessageType::kTermQueryResponse || m.context_ticks != amnesia_nonce_) return;
  if (!membership_.IsVoter(m.from)) return;
  Term& heard = amnesia_terms_heard_[m.from];
  heard = std::max(heard, m.term);
  EndAmnesiaIfHeardFromEveryVoter();
}

void Raft::EndAmnesiaIfHeardFromEveryVoter() {
  MERIDIAN_CHECK(amnesiac_);
  MERIDIAN_CHECK(amnesia_terms_heard_.size() <= kVotersMax);
  Term bound = term_;
  for (NodeId voter : membership_.voters) {
    if (voter == options_.id) continue;
    auto it = amnesia_terms_heard_.find(voter);
    if (it == amnesia_terms_heard_.end()) return;
    bound = std::max(bound, it->second);
  }
  MERIDIAN_PROBE("raft: a node that lost its hard state learned every voter's term");
  amnesiac_ = false;
  amnesia_terms_heard_.clear();
  if (bound > term_) BecomeFollower(bound, kNoNode);
  // It may have voted in `bound` before the loss: that vote counts as cast (for itself), so it
  // grants none in this term. Stored with the Ready's hard state before any message leaves.
  vote_ = options_.id;
  MERIDIAN_CHECK(term_ == bound);
}

bool Raft::Promotable() const {
  // A node that lost durable entries must not lead: a leader's log is the group's truth, and
  // its own vote would count a log it no longer holds (design.md "Damaged replicas").
  const bool damaged =
      LostDurableEntries() && options_.planted_bug != PlantedBug::kDamagedReplicaVotes;
  return membership_.IsVoter(options_.id) && !damaged && !amnesiac_ && !joining_;
}

bool Raft::LostDurableEntries() const {
  const LogPosition last{log_.last_term(), log_.last_index()};
  return !last.IsAtLeast(durable_before_);
}

// Once the log is at least as up-to-date as durable_before_ (at a restart that lost nothing, or
// after a damaged node re-fetched what it lost from a leader), the node holds again whatever it
// may have acknowledged, and the ordinary up-to-date rule is at least as strict: it forgets the
// position. Kept, it would take a later, legitimate truncation (a new leader overwriting an
// uncommitted suffix with entries of an older term) for damage at rest, and the node would
// neither campaign nor vote for peers as short as itself (design.md "Damaged replicas").
void Raft::ForgetRepairedLoss() {
  if (durable_before_.term == Term(0) && durable_before_.index == Index(0)) return;
  if (LostDurableEntries()) return;
  durable_before_ = LogPosition{};
}

void Raft::StartElection(MessageType type, Campaign campaign) {
  MERIDIAN_CHECK(type == MessageType::kPreVote || type == MessageType::kVote);
  if (type == MessageType::kPreVote) {
    BecomePreCandidate();
  } else {
    BecomeCandidate();
  }
  const Term request_term = type == MessageType::kPreVote ? term_.next() : term_;
  votes_[options_.id] = true;
  if (TallyVotes(membership_.voters, votes_) == VoteResult::kWon) {
    // A group with a single voter wins at once.
    if (type == MessageType::kPreVote) return StartElection(MessageType::kVote, campaign);
    return BecomeLeader();
  }
  for (NodeId voter : membership_.voters) {
    if (voter == options_.id) continue;
    Send(Message{.type = type,
                 .to = voter,
                 .term = request_term,
                 .log_index = log_.last_index(),
                 .log_term = log_.last_term(),
                 .campaign = campaign});
  }
}

// ---------------------------------------------------------------- ticks

void Raft::Tick() {
  ticks_++;
  if (amnesiac_) {
    TickAmnesiac();
  } else if (!quiesced_) {
    (this->*tick_)();
  }
  if (ProbingForAnUnstartedGroup()) TickJoinProbe();
  Invariants();
}

void Raft::TickElection() {
  MERIDIAN_CHECK(role_ != Role::kLeader);
  election_elapsed_ticks_++;
  // §5.2: "If a follower receives no communication over a period of time called the election
  // timeout, then it assumes there is no viable leader and begins an election".
  if (!Promotable()) return;
  if (election_elapsed_ticks_ < randomized_timeout_ticks_) return;
  StartElection(options_.pre_vote == PreVote::kOn ? MessageType::kPreVote : MessageType::kVote,
                Campaign::kNormal);
}

void Raft::TickHeartbeat() {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  election_elapsed_ticks_++;
  heartbeat_elapsed_ticks_++;
  if (transferee_ != kNoNode && ++transfer_elapsed_ticks_ >= options_.election_timeout_ticks) {
    transferee_ = kNoNode;  // A transfer that did not finish within a timeout is abandoned.
  }
  if (election_elapsed_ticks_ >= options_.election_timeout_ticks) {
    election_elapsed_ticks_ = 0;
    if (options_.check_quorum == CheckQuorum::kOn) {
      // Check-quorum (§6.2): a leader that heard from no quorum for an election timeout steps
      // down, so a partitioned leader stops accepting writes it cannot commit.
      absl::btree_map<NodeId, bool> active;
      for (NodeId voter : membership_.voters) {
        auto it = progress_.find(voter);
        active[voter] =
            voter == options_.id || (it != progress_.end() && it->second.recent_active());
      }
      if (TallyVotes(membership_.voters, active) != VoteResult::kWon) {
        return BecomeFollower(term_, kNoNode);
      }
      for (auto& [id, progress] : progress_) progress.set_recent_active(false);
    }
  }
  quiet_ticks_ = CanQuiesce() ? quiet_ticks_ + 1 : 0;
  if (heartbeat_elapsed_ticks_ >= options_.heartbeat_interval_ticks) {
    heartbeat_elapsed_ticks_ = 0;
    if (options_.quiesce_after_ticks > 0 && quiet_ticks_ >= options_.quiesce_after_ticks) {
      return Quiesce();
    }
    BroadcastHeartbeat();
  }
}

// ---------------------------------------------------------------- quiescence

// Nothing left to replicate or decide: every member holds, durably, every entry of the log, all
// of it committed in this term, no change or transfer is under way, and every member answered
// within this check-quorum window.
bool Raft::CanQuiesce() const {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  if (options_.quiesce_after_ticks == 0 || transferee_ != kNoNode || lease_revoked_) return false;
  const Index last = log_.last_index();
  if (log_.commit() != last || OwnMatch() != last || !CommittedInCurrentTerm() ||
      HasPendingConfChange()) {
    return false;
  }
  // Not with a member the driver reports down: while it is gone the leader stays awake, so
  // check-quorum keeps deciding whether it still leads.
  return std::all_of(progress_.begin(), progress_.end(), [this, last](const auto& member) {
    const auto& [id, progress] = member;
    return progress.match() == last && progress.state() == ProgressState::kReplicate &&
           !nodes_down_.contains(id);
  });
}

void Raft::Quiesce() {
  MERIDIAN_CHECK(role_ == Role::kLeader && CanQuiesce());
  MERIDIAN_PROBE("raft: leader quiesced its group");
  quiesced_ = true;
  quiet_ticks_ = 0;
  quiesced_at_ticks_ = ticks_;
  // A quiesced leader holds no lease: its ticks may stop (the driver sleeps), so it could not
  // tell when one ended, and its followers answer nothing while quiesced.
  heartbeat_acked_ticks_.clear();
  for (const auto& [id, progress] : progress_) {
    MERIDIAN_CHECK(progress.match() == log_.commit());  // So the cap below is the commit index.
    Send(Message{.type = MessageType::kHeartbeat,
                 .to = id,
                 .commit = log_.commit(),
                 .context_ticks = ticks_,
                 .quiesce = true});
  }
}

// A quiesced leader's followers held everything when it quiesced: answers still in flight from
// before (geo round trips outlast a heartbeat interval) tell it nothing, and must not wake it.
// A rejection, a newer term, a request, or an answer to the quiesce heartbeat itself (from a
// follower that could not quiesce) does.
bool Raft::CarriesNoNews(const Message& m) const {
  if (role_ != Role::kLeader || m.term != term_ || m.reject) return false;
  if (m.type == MessageType::kHeartbeatResponse) return m.context_ticks < quiesced_at_ticks_;
  if (m.type != MessageType::kAppendResponse) return false;
  auto it = progress_.find(m.from);
  return it != progress_.end() && m.log_index <= it->second.match();
}

void Raft::Unquiesce() {
  MERIDIAN_CHECK(quiesced_);
  quiesced_ = false;
  quiet_ticks_ = 0;
  if (role_ != Role::kLeader) return;  // A follower's election timer resumes where it stopped.
  MERIDIAN_PROBE("raft: quiesced leader woke");
  // Check-quorum counts afresh: answers from before the quiescence say nothing about now.
  election_elapsed_ticks_ = 0;
  step_down_clock_start_ticks_ = ticks_;
  heartbeat_elapsed_ticks_ = 0;
  for (auto& [id, progress] : progress_) progress.set_recent_active(false);
  BroadcastHeartbeat();
}

void Raft::NodeLivenessChanged(NodeId node, bool live) {
  if (live) {
    nodes_down_.erase(node);
  } else if (node != options_.id && nodes_down_.size() < kMembersMax) {
    nodes_down_.insert(node);  // Bounded: the driver reports members only.
  }
  if (quiesced_ && node != options_.id) {
    if (role_ == Role::kLeader) {
      if (membership_.IsMember(node)) Unquiesce();
    } else if (node == leader_ && !live &&
               options_.planted_bug != PlantedBug::kQuiescedFollowerIgnoresLeaderLoss) {
      MERIDIAN_PROBE("raft: quiesced follower woke: its leader's node is not live");
      Unquiesce();
      // Our promise not to vote is no longer needed: the leader dropped its lease when it
      // quiesced, before the message that quiesced us. So campaign as soon as the jitter allows.
      election_elapsed_ticks_ = std::max(election_elapsed_ticks_, options_.election_timeout_ticks);
    }
  }
  Invariants();
}

// ---------------------------------------------------------------- steps

void Raft::Step(const Message& message) {
  const bool admitted = Admit(message);
  if (admitted && message.type == MessageType::kTermQuery) {
    // Changes nothing here, whatever our role or lease, so it wakes no quiesced group. An
    // amnesiac does not answer: its own term is only a lower bound. The answer carries our
    // last index (a joining voter's probe) and our term, as 1 while we are at 0: a message's
    // term is never 0, and a higher bound is still a bound to an amnesiac.
    if (!amnesiac_) {
      Send(Message{.type = MessageType::kTermQueryResponse,
                   .to = message.from,
                   .term = std::max(term_, Term(1)),
                   .log_index = log_.last_index(),
                   .context_ticks = message.context_ticks});
    }
    return Invariants();
  }
  if (admitted && message.type == MessageType::kTermQueryResponse && !amnesiac_ && joining_) {
    // Its term may be the 1 sent for 0: a probe's answer never moves ours.
    NoteJoinProbeAnswer(message);
    return Invariants();
  }
  if (admitted && amnesiac_) {
    LearnTermWhileAmnesiac(message);
    if (amnesiac_) return Invariants();  // Everything else waits until it has rejoined.
  }
  if (admitted && quiesced_) {
    if (CarriesNoNews(message)) {
      MERIDIAN_PROBE("raft: quiesced leader ignored a late answer");
      return Invariants();
    }
    Unquiesce();  // Any other message of the group wakes it.
  }
  if (admitted && StepTerm(message)) {
    if (role_ == Role::kLeader && message.term == term_ && membership_.IsMember(message.from)) {
      heard_ticks_[message.from] = ticks_;  // For the step-down bound (Invariants) only.
    }
    if (message.type == MessageType::kVote || message.type == MessageType::kPreVote) {
      HandleVoteRequest(message);
    } else {
      (this->*step_)(message);
    }
  }
  ForgetRepairedLoss();  // Only a leader's append or snapshot grows a follower's log.
  Invariants();
}

// The checks that need no role: whom the message is for, its shape, and whether its sender may
// talk to us at all. Returns false (counting why) if the message must be dropped untouched.
bool Raft::Admit(const Message& m) {
  if (m.to != options_.id || m.from == options_.id || m.from == kNoNode) {
    drops_.misaddressed++;
    return false;
  }
  const bool oversized = std::any_of(m.entries.begin(), m.entries.end(), [](const Entry& e) {
    return e.data.size() > kEntryBytesMax;  // We could never send it on (see SendAppend).
  });
  if (m.term > kTermMax || oversized || !ValidateMessage(m).ok()) {
    drops_.malformed++;
    return false;
  }
  // Requests that may legitimately come from a node our (possibly stale) configuration does not
  // list: votes (dissertation §4.1, a voter added by an entry we lack may need our vote) and a
  // leader's appends and heartbeats (a new node learns the configuration from them). Responses
  // answer requests we sent to members only, and TimeoutNow comes from our leader, a member.
  const bool from_anyone = m.type == MessageType::kVote || m.type == MessageType::kPreVote ||
                           m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                           m.type == MessageType::kSnapshot || m.type == MessageType::kTermQuery;
  if (!from_anyone && !membership_.IsMember(m.from)) {
    drops_.non_member++;
    return false;
  }
  return true;
}

bool Raft::InLease() const {
  if (options_.check_quorum != CheckQuorum::kOn) return false;
  if (election_elapsed_ticks_ >= options_.election_timeout_ticks) return false;
  // A freshly restarted node may have heard from a leader just before it crashed; it waits a
  // full election timeout before voting so a leader's lease survives its followers' restarts.
  return leader_ != kNoNode || ticks_ < options_.election_timeout_ticks;
}

// Applies the term rules common to every role (§5.1). Returns false if the message is done.
bool Raft::StepTerm(const Message& m) {
  const bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
  if (m.term > term_) {
    // §4.2.3: a server that heard from a leader within the minimum election timeout ignores
    // requests to vote, so removed or partitioned servers cannot disrupt it, and leases hold.
    if (vote_request && m.campaign != Campaign::kTransfer && InLease()) return false;
    if (m.type == MessageType::kPreVote) return true;  // Pre-vote never changes our term.
    if (m.type == MessageType::kPreVoteResponse && !m.reject) return true;
    const bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                             m.type == MessageType::kSnapshot || m.type == MessageType::kTimeoutNow;
    // A transfer's vote request speaks for our leader, who asked for it with TimeoutNow and
    // revoked its lease when it did (SendTimeoutNow): following it breaks no promise. Ignoring it
    // left a handover without the old leader's vote (5 voters, or the old leader unreachable)
    // to fail; raft_paper_test Dissertation3_10.
    const bool transfer_vote = vote_request && m.campaign == Campaign::kTransfer;
    if (!from_leader && !transfer_vote && role_ == Role::kFollower &&
        options_.planted_bug != PlantedBug::kLeaseEndsOnAnyHigherTerm && InLease()) {
      // A follower inside a lease promised its leader not to vote for an election timeout.
      // Moving to a higher term with no leader would end that promise early (InLease needs a
      // leader), so only a leader of the higher term may move us there: its election proves
      // every lease of an older term is over. A response carrying a newer term (a pre-vote
      // rejection crossing our own campaign) proves nothing; see design.md "Leases".
      MERIDIAN_PROBE("raft: higher-term message from a non-leader ignored inside a lease");
      return false;
    }
    BecomeFollower(m.term, from_leader ? m.from : kNoNode);
    return true;
  }
  if (m.term < term_) {
    if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
        m.type == MessageType::kSnapshot) {
      // Tell a stale leader about the newer term, so it steps down (with pre-vote and
      // check-quorum a partitioned leader would otherwise never learn of it).
      Send(Message{.type = MessageType::kAppendResponse, .to = m.from});
    } else if (m.type == MessageType::kPreVote) {
      Send(Message{.type = MessageType::kPreVoteResponse, .to = m.from, .reject = true});
    }
    return false;
  }
  return true;
}

void Raft::HandleVoteRequest(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  const MessageType response = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  // A learner never campaigns and candidates never count a learner's vote, but a node answers
  // vote requests whatever its own configuration says (dissertation §4.1: "servers process
  // incoming RPC requests without consulting their current configurations"): a learner just
  // promoted by an entry it has not received yet may be needed to elect a leader.
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  // §5.4.1: "the voter denies its vote if its own log is more up-to-date than that of the
  // candidate".
  const bool up_to_date = options_.planted_bug == PlantedBug::kVoteWithoutLogCheck ||
                          log_.IsUpToDate(m.log_term, m.log_index);
  // A node damaged at rest votes as if its log still held what it had made durable (it may have
  // acknowledged those entries, so a commit may rest on them): Protocol-Aware Recovery's rule
  // that a faulty log must not decide an election (Alagappan et al., FAST'18).
  const bool covers_lost = options_.planted_bug == PlantedBug::kDamagedReplicaVotes ||
                           LogPosition{m.log_term, m.log_index}.IsAtLeast(durable_before_);
  if (!covers_lost) MERIDIAN_PROBE("raft: damaged replica refused a vote below what it lost");
  // A joining replica's configuration may be one the group replaced long ago (RaftOptions::
  // joining): a vote counted under it could elect a leader lacking committed entries.
  if (joining_) MERIDIAN_PROBE("raft: a joining replica refused a vote");
  if (!can_vote || !up_to_date || !covers_lost || joining_) {
    Send(Message{.type = response, .to = m.from, .reject = true});
    return;
  }
  if (!pre) {
    MERIDIAN_CHECK(m.term == term_, "StepTerm moved us to the candidate's term");
    vote_ = m.from;  // Persisted (Ready hard state) before the response leaves the node.
    election_elapsed_ticks_ = 0;
  }
  Send(Message{.type = response, .to = m.from, .term = pre ? m.term : term_});
}

void Raft::StepFollower(const Message& m) {
  MERIDIAN_CHECK(role_ == Role::kFollower);
  const bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                           m.type == MessageType::kSnapshot || m.type == MessageType::kTimeoutNow;
  if (from_leader && leader_ != kNoNode && m.from != leader_) {
    // §5.2 election safety: one leader per term. An honest peer never sends this.
    drops_.not_from_leader++;
    return;
  }
  switch (m.type) {
    case MessageType::kAppend:
      leader_ = m.from;
      election_elapsed_ticks_ = 0;
      HandleAppend(m);
      return NoteLeaderConfiguration(m.config_index);
    case MessageType::kHeartbeat:
      leader_ = m.from;
      election_elapsed_ticks_ = 0;
      HandleHeartbeat(m);
      return NoteLeaderConfiguration(m.config_index);
    case MessageType::kSnapshot:
      leader_ = m.from;
      election_elapsed_ticks_ = 0;
      HandleSnapshot(m);
      return NoteLeaderConfiguration(m.config_index);
    case MessageType::kTimeoutNow:
      // §3.10: the leader asks us to start an election at once, bypassing pre-vote and leases.
      if (Promotable()) StartElection(MessageType::kVote, Campaign::kTransfer);
      return;
    default:
      return;  // Stale responses from an earlier role.
  }
}

// A joining copy of a voter waits for a leader's configuration index; but a group none of whose
// voters has ever appended anything has no leader to send one, and when every voter's copy
// starts joining (a reassignment chosen before the group's first election: the metadata names
// the leaving voters, and their copies start with nothing stored) none ever votes. So a joining
// voter that knows no leader asks the other voters of its configuration for their last index.
// Every one answering 0 proves the group never started: any leader appends its no-op to its own
// log first, a log that ever held an entry never becomes empty again (entries are replaced
// only by a leader's, which it holds), and every configuration change is an entry; so the
// configuration is still the bootstrap one, in which this copy is a voter like the others, and
// it stops joining. One answer with entries ends the probe: the group started, and its leader
// brings this copy the configuration in force (NoteLeaderConfiguration).
bool Raft::ProbingForAnUnstartedGroup() const {
  return joining_ && !amnesiac_ && !join_probe_found_entries_ && leader_ == kNoNode &&
         membership_.IsVoter(options_.id) && log_.last_index() == Index(0);
}

void Raft::TickJoinProbe() {
  MERIDIAN_CHECK(ProbingForAnUnstartedGroup());
  // Every election timeout: the probe is for a stall, not a race.
  if (ticks_ % options_.election_timeout_ticks != 0) return;
  QueryOtherVoters(join_probe_nonce_,
                   [this](NodeId voter) { return join_probe_empty_.contains(voter); });
}

void Raft::NoteJoinProbeAnswer(const Message& answer) {
  if (!ProbingForAnUnstartedGroup() || answer.context_ticks != join_probe_nonce_) return;
  if (!membership_.IsVoter(answer.from)) return;
  if (answer.log_index != Index(0)) {
    join_probe_found_entries_ = true;
    return;
  }
  join_probe_empty_.insert(answer.from);
  for (NodeId voter : membership_.voters) {
    if (voter != options_.id && !join_probe_empty_.contains(voter)) return;
  }
  MERIDIAN_PROBE("raft: a joining voter found its group never started");
  joining_ = false;
  join_probe_empty_.clear();
}

void Raft::NoteLeaderConfiguration(Index leader_config_index) {
  if (!joining_ || role_ != Role::kFollower || leader_ == kNoNode) return;
  // The floor is this term's leader's: a value from an earlier term (a peer's bug, or a forged
  // message past the link's checks) cannot hold the copy back after the next election.
  if (join_floor_term_ != term_) join_floor_.reset();
  join_floor_term_ = term_;
  join_floor_ = std::max(join_floor_.value_or(Index(0)), leader_config_index);
  // Our log matches this term's leader through verified_: a configuration in force at or past
  // the leader's, within it, is the group's current one, not one it replaced before we joined.
  if (membership_index_ < *join_floor_ || verified_ < *join_floor_) return;
  MERIDIAN_PROBE("raft: a joining replica caught up to its leader's configuration");
  joining_ = false;
  join_floor_.reset();
}

void Raft::StepCandidate(const Message& m) {
  MERIDIAN_CHECK(role_ == Role::kPreCandidate || role_ == Role::kCandidate);
  const bool pre = role_ == Role::kPreCandidate;
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      // §5.2: "If the AppendEntries RPC is from another server claiming to be leader and the
      // leader's term is at least as large as the candidate's current term, then the candidate
      // recognizes the leader as legitimate and returns to follower state."
      BecomeFollower(term_, m.from);
      return StepFollower(m);
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse: {
      if (pre != (m.type == MessageType::kPreVoteResponse)) return;
      if (pre && m.term != term_.next() && !m.reject) return;
      votes_[m.from] = !m.reject;
      const VoteResult result = TallyVotes(membership_.voters, votes_);
      if (result == VoteResult::kWon) {
        if (pre) return StartElection(MessageType::kVote, Campaign::kNormal);
        return BecomeLeader();
      }
      if (result == VoteResult::kLost) BecomeFollower(term_, kNoNode);
      return;
    }
    default:
      return;
  }
}

void Raft::StepLeader(const Message& m) {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  switch (m.type) {
    case MessageType::kAppendResponse:
      return HandleAppendResponse(m);
    case MessageType::kHeartbeatResponse:
      return HandleHeartbeatResponse(m);
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      drops_.not_from_leader++;  // A second leader in our term: impossible from honest peers.
      return;
    default:
      return;
  }
}

void Raft::Send(Message message) {
  MERIDIAN_CHECK(message.to != options_.id, "no messages to self");
  MERIDIAN_CHECK(message.to != kNoNode);
  message.from = options_.id;
  if (message.term.value() == 0) message.term = term_;
  if (message.type == MessageType::kAppend || message.type == MessageType::kHeartbeat ||
      message.type == MessageType::kSnapshot) {
    MERIDIAN_CHECK(role_ == Role::kLeader, "only a leader appends, heartbeats or snapshots");
    message.config_index = membership_index_;  // What a joining replica waits for.
  }
  messages_.push_back(std::move(message));
}

// ---------------------------------------------------------------- proposals and reads

absl::StatusOr<Index> Raft::Propose(std::string data) {
  if (data.size() > kEntryBytesMax) {
    return absl::InvalidArgumentError(fmt::format(
        "entry of {} bytes exceeds the limit of {} bytes per entry", data.size(), kEntryBytesMax));
  }
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(fmt::format("not leader (leader {})", leader_.ToString()));
  }
  if (quiesced_) Unquiesce();  // New work for the followers: heartbeats and check-quorum resume.
  if (transferee_ != kNoNode) {
    // Abdicating: as good as not leader, so clients look for the transferee.
    return absl::FailedPreconditionError(
        fmt::format("leadership transfer to node {} in progress", transferee_.ToString()));
  }
  if (log_.last_index().value() - log_.commit().value() >= kUncommittedEntriesMax) {
    return absl::ResourceExhaustedError("too many uncommitted entries");
  }
  AppendOwn(EntryKind::kNormal, std::move(data), Membership{});
  broadcast_pending_ = true;  // Batched: appends go out with the next Ready.
  Invariants();
  return log_.last_index();
}

absl::StatusOr<Index> Raft::ProposeConfChange(const ConfChange& change) {
  if (role_ != Role::kLeader) return absl::FailedPreconditionError("not leader");
  if (quiesced_) Unquiesce();
  if (transferee_ != kNoNode) {
    // Abdicating: as good as not leader, so clients look for the transferee.
    return absl::FailedPreconditionError(
        fmt::format("leadership transfer to node {} in progress", transferee_.ToString()));
  }
  if (options_.planted_bug != PlantedBug::kConcurrentConfigChanges) {
    // Ongaro's fix to single-server changes (raft-dev, 2015): a new leader must commit an entry
    // of its own term before changing the configuration, and changes go one at a time.
    if (!CommittedInCurrentTerm()) {
      return absl::FailedPreconditionError("no entry of this term committed yet");
    }
    if (HasPendingConfChange()) {
      return absl::FailedPreconditionError("a configuration change is still uncommitted");
    }
  }
  if ((change.kind == ConfChangeKind::kRemove || change.kind == ConfChangeKind::kDemote) &&
      change.node == options_.id) {
    return absl::InvalidArgumentError("the leader cannot remove or demote itself; transfer first");
  }
  Membership next;
  const absl::Status status = ApplyConfChange(membership_, change, &next);
  if (!status.ok()) return status;
  AppendOwn(EntryKind::kConfig, std::string(), std::move(next));
  broadcast_pending_ = true;
  Invariants();
  return log_.last_index();
}

absl::Status Raft::TransferLeadership(NodeId target) {
  if (role_ != Role::kLeader) return absl::FailedPreconditionError("not leader");
  if (target == options_.id) return absl::OkStatus();
  if (!membership_.IsVoter(target)) return absl::InvalidArgumentError("target is not a voter");
  if (quiesced_) Unquiesce();
  transferee_ = target;
  transfer_elapsed_ticks_ = 0;  // The transfer must finish within one election timeout.
  if (options_.planted_bug == PlantedBug::kTransferRestartsCheckQuorum) {
    election_elapsed_ticks_ = 0;
  }
  const Progress& progress = progress_.at(target);
  if (progress.match() == log_.last_index()) {
    SendTimeoutNow(target);
  } else {
    SendAppend(target);
  }
  Invariants();
  return absl::OkStatus();
}

// §3.10: the target holds our whole log; it campaigns at once. The transfer's timeout restarts
// here: catching a far target up took round trips, and if proposals resumed before its vote
// request arrived our log would be longer than its and it could not win (meridian-sim geo-5x1:
// every handover of a partition to a replica two regions away failed that way).
void Raft::SendTimeoutNow(NodeId target) {
  MERIDIAN_CHECK(role_ == Role::kLeader && target == transferee_);
  MERIDIAN_CHECK(progress_.at(target).match() == log_.last_index());
  lease_revoked_ = true;  // The target will win without consulting leases: stop serving.
  transfer_elapsed_ticks_ = 0;
  Send(Message{.type = MessageType::kTimeoutNow, .to = target});
}

uint64_t Raft::lease_end_ticks() const {
  if (role_ != Role::kLeader) return 0;
  absl::btree_map<NodeId, uint64_t> acked = heartbeat_acked_ticks_;
  acked[options_.id] = ticks_;
  const uint64_t start = MajorityValue(membership_.voters, acked);
  if (start == 0) return 0;  // No quorum has acknowledged a heartbeat of this term yet.
  const uint64_t lease_ticks =
      options_.election_timeout_ticks * (100 - options_.drift_bound_percent) / 100;
  MERIDIAN_CHECK(lease_ticks < options_.election_timeout_ticks ||
                 options_.drift_bound_percent == 0);
  return start + lease_ticks;
}

absl::StatusOr<Index> Raft::LeaseRead() const {
  if (role_ != Role::kLeader) return absl::FailedPreconditionError("not leader");
  // Leases rest on followers ignoring votes while they hear from a leader, which is part of
  // check-quorum; without it a lease promises nothing.
  if (options_.check_quorum != CheckQuorum::kOn) {
    return absl::FailedPreconditionError("lease reads need check-quorum");
  }
  const bool transferring = transferee_ != kNoNode || lease_revoked_;
  if (transferring && options_.planted_bug != PlantedBug::kLeaseReadDuringTransfer) {
    return absl::UnavailableError("transferring");
  }
  if (!CommittedInCurrentTerm()) return absl::UnavailableError("no commit in this term yet");
  if (options_.planted_bug != PlantedBug::kLeaseReadAfterExpiry && ticks_ >= lease_end_ticks()) {
    return absl::UnavailableError("lease expired");
  }
  return log_.commit();
}

// ---------------------------------------------------------------- Ready

bool Raft::HasReady() const {
  if (ready_outstanding_) return false;
  const HardState hs = CurrentHardState();
  return snapshot_unhanded_ || !messages_.empty() || broadcast_pending_ ||
         hs != persisted_hard_state_ || log_.handed() < log_.last_index() ||
         ApplyLimit() > log_.applied();
}

Ready Raft::GetReady() {
  MERIDIAN_CHECK(!ready_outstanding_, "Advance() the previous Ready first");
  if (broadcast_pending_) BroadcastAppend();
  broadcast_pending_ = false;
  Ready ready;
  if (snapshot_unhanded_) {
    ready.snapshot = snapshot_;
    snapshot_unhanded_ = false;
  }
  const HardState hs = CurrentHardState();
  if (hs != persisted_hard_state_) {
    ready.hard_state = hs;
    persisted_hard_state_ = hs;
  }
  ready.entries = log_.TakeUnhanded();
  ready.messages = std::move(messages_);
  messages_.clear();
  ready_applied_to_ = ApplyLimit();
  ready.committed_entries = log_.CommittedUnapplied(ready_applied_to_, kReadyApplyBytesMax);
  // A long unapplied tail (after a restart) is handed out in steps; HasReady stays true.
  if (!ready.committed_entries.empty()) ready_applied_to_ = ready.committed_entries.back().index;
  ready_outstanding_ = true;
  Invariants();
  return ready;
}

void Raft::Advance(const Ready& ready) {
  MERIDIAN_CHECK(ready_outstanding_, "Advance() without GetReady()");
  if (!ready.committed_entries.empty()) {
    MERIDIAN_CHECK(ready.committed_entries.back().index == ready_applied_to_);
  }
  log_.AppliedTo(ready_applied_to_);
  ready_outstanding_ = false;
  Invariants();
}

Index Raft::ApplyLimit() const {
  // Apply (and save as the commit index) only entries durable here: after a restart the saved
  // commit index must not point past the recovered log.
  return CappedAtDurable(log_, log_.commit(), options_.planted_bug);
}

HardState Raft::CurrentHardState() const {
  HardState hs{term_, vote_, ApplyLimit()};
  if (options_.planted_bug == PlantedBug::kForgetToPersistVote) hs.vote = kNoNode;
  return hs;
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

}  // namespace meridian::core::raft
