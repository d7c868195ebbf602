// Raft: the consensus state machine of one partition replica (Raft paper §5, Ongaro's
// dissertation §3.10 transfer, §4 membership, §6.4 leases, §9.6 pre-vote), in the style of
// etcd-io/raft's RawNode: pure, synchronous, single-threaded, no clock, no I/O, no global RNG.
//
// Inputs: Step(message), Tick(), Propose(data), ProposeConfChange(change),
// TransferLeadership(target), LeaseRead(), StableTo(index, term).
// Output: GetReady() -> Ready (hard state to sync, messages, entries to persist, committed
// entries to apply); the driver executes it in the documented order and calls Advance().
//
// Role dispatch is data: `step_` and `tick_` point at the current role's handlers.
// Step never asserts on a message's contents: a message that makes no sense against our state
// (misaddressed, malformed, from a non-member, from a second leader, acknowledging entries we
// do not have...) is dropped and counted in drops(); see design.md "Hostile input".
// Invariants() runs after every input and compares against the previous snapshot (term and
// commit never decrease, one vote per term, committed prefix never changes).
//
// Who may call: exactly one fiber (the replica driver) owns a Raft object.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/raft/membership.h"
#include "core/raft/progress.h"
#include "core/raft/raft_log.h"
#include "core/raft/types.h"
#include "io/random.h"

namespace meridian::core::raft {

class Raft {
 public:
  // `random` seeds the election jitter only; pass a per-node fork of the runtime's generator.
  Raft(const RaftOptions& options, RestartState restart, io::Random random);

  // ---- Inputs. ----
  void Step(const Message& message);
  void Tick();
  // Leader only. Errors: InvalidArgument (data over kEntryBytesMax), FailedPrecondition (not
  // leader, or handing leadership over), ResourceExhausted (too many uncommitted entries).
  absl::StatusOr<Index> Propose(std::string data);
  // Leader only; one-at-a-time change with Ongaro's rule. Additional errors: FailedPrecondition
  // while a change is pending or before an entry of this term committed; InvalidArgument.
  absl::StatusOr<Index> ProposeConfChange(const ConfChange& change);
  absl::Status TransferLeadership(NodeId target);
  // A linearizable read without a round trip (§6.4.1): if this node is leader and its lease is
  // valid, returns the index the driver must have applied before serving the read.
  absl::StatusOr<Index> LeaseRead() const;
  // The driver synced entries up to `index` (whose term is `term`) to its disk.
  void StableTo(Index index, Term term);
  // The driver's node-liveness signal (design.md "Quiescence"): `node`'s process was heard from
  // within an election timeout (`live`) or was not. Acts only on a quiesced node: a quiesced
  // leader wakes when any member's liveness changes; a quiesced follower wakes, ready to
  // campaign, when its leader's node is no longer live.
  void NodeLivenessChanged(NodeId node, bool live);
  // §7 log compaction: `data` is the state machine's state after applying every entry up to
  // `index` (which must be applied here and durable). Raft forgets those entries, keeps the
  // snapshot to send to followers its log no longer reaches, and returns the snapshot's
  // metadata for the driver to store beside `data` (after which it may delete the entries from
  // its disk). Call between Readys (not while one is outstanding). Errors: InvalidArgument for
  // an index not past the current snapshot or not yet applied, or data over
  // kSnapshotDataBytesMax.
  absl::StatusOr<SnapshotMeta> Compact(Index index, std::string data);

  // ---- Outputs. ----
  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& ready);

  // ---- Read-only state (tests, metrics, the driver). ----
  NodeId id() const { return options_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  const RaftLog& log() const { return log_; }
  // The latest snapshot (index 0 and no data if there is none).
  const Snapshot& snapshot() const { return snapshot_; }
  const Membership& membership() const { return membership_; }
  // The index of the configuration entry in force (0: bootstrap); committed once commit reaches
  // it. A driver moving a group to new members waits for that between changes.
  Index membership_index() const { return membership_index_; }
  const RaftOptions& options() const { return options_; }
  const absl::btree_map<NodeId, Progress>& progress() const { return progress_; }
  uint64_t ticks() const { return ticks_; }
  // Peer messages dropped by Step, by reason (for the driver's metrics).
  const RaftDropCounters& drops() const { return drops_; }
  uint64_t lease_end_ticks() const;
  // Whether this node ignores (non-transfer) vote requests now: it promised a leader not to vote
  // (heard from it within an election timeout), restarted less than one ago, or leads. The
  // harness checks that every valid lease rests on enough of these promises.
  bool RefusesVotes() const { return InLease(); }
  // §4.1 as a check, for harnesses (not run by Raft itself): the configuration in force is the
  // latest one in the log, committed or not, dated at its entry; with no configuration entry
  // past the snapshot, the snapshot's (or the bootstrap one). FailedPrecondition with the
  // difference when it is not (a truncated configuration kept in force, say).
  absl::Status ConfigurationFollowsLog() const;
  // Whether damage at rest took entries this node had made durable (RestartState::
  // durable_before) and its log has not caught up past them yet: it votes only for candidates
  // whose log covers what it lost, and does not campaign.
  bool LostDurableEntries() const;
  // Whether this node restarted without its hard state (RestartState::hard_state_lost) and has
  // not yet heard from every other voter: it votes, campaigns, acknowledges and answers nothing.
  bool amnesiac() const { return amnesiac_; }
  // Whether this replica joins its group (RaftOptions::joining) and has not yet caught up to a
  // configuration as recent as a leader's: it neither votes nor campaigns.
  bool joining() const { return joining_; }
  uint32_t election_elapsed_ticks() const { return election_elapsed_ticks_; }
  // Quiesced (design.md "Quiescence"): ticks do nothing; a leader sends no heartbeats and a
  // follower runs no election timer until a message, a proposal or a liveness change wakes it.
  bool quiesced() const { return quiesced_; }
  uint32_t randomized_election_timeout_ticks() const { return randomized_timeout_ticks_; }
  // Checks every invariant, including deltas since the previous call. Public so tests can run it.
  void Invariants();

 private:
  // A leader heard from a quorum within two election timeouts (§6.2; checked by Invariants).
  bool StepDownBoundHolds() const;
  void LeaderInvariants();  // Invariants of a leader (Invariants calls it).
  using StepFn = void (Raft::*)(const Message&);
  using TickFn = void (Raft::*)();

  // Roles (raft.cc).
  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void StartElection(MessageType type, Campaign campaign);
  void TickElection();
  void TickHeartbeat();
  void StepFollower(const Message& message);
  void StepCandidate(const Message& message);
  void StepLeader(const Message& message);
  bool Admit(const Message& message);
  // A lost hard state (raft.cc, "amnesia"): learn every voter's term, then rejoin.
  void LearnTermWhileAmnesiac(const Message& message);
  void EndAmnesiaIfHeardFromEveryVoter();
  void TickAmnesiac();
  // Sends kTermQuery (with `nonce`) to every other voter of the configuration that
  // `answered(voter)` says has not answered yet. Defined and used in raft.cc only.
  template <typename Answered>
  void QueryOtherVoters(uint64_t nonce, const Answered& answered);
  bool StepTerm(const Message& message);
  void HandleVoteRequest(const Message& message);
  bool InLease() const;
  bool Promotable() const;
  bool CanQuiesce() const;
  void Quiesce();
  void Unquiesce();
  bool CarriesNoNews(const Message& message) const;
  void QuiescenceInvariants() const;
  void ForgetRepairedLoss();
  void ResetElectionTimer();
  void Send(Message message);

  // Replication (raft_replication.cc).
  void HandleAppend(const Message& message);
  void HandleHeartbeat(const Message& message);
  void HandleSnapshot(const Message& message);
  void MaybeAcknowledge();
  void FollowerCommit();
  Index AckIndex() const;
  void HandleAppendResponse(const Message& message);
  void HandleHeartbeatResponse(const Message& message);
  bool SendAppend(NodeId to);
  void SendTimeoutNow(NodeId target);
  void SendSnapshot(NodeId to);
  void BroadcastAppend();
  void BroadcastHeartbeat();
  bool MaybeCommit();
  Index OwnMatch() const;
  void AppendOwn(EntryKind kind, std::string data, Membership membership);
  void RefreshMembership();
  // A joining replica heard a leader's configuration index; it stops joining once its own
  // configuration in force is at least that recent.
  void NoteLeaderConfiguration(Index leader_config_index);
  // A joining voter with no leader asks the other voters whether their logs are empty
  // (kTermQuery); every one empty means the group never started (design.md "Joining replicas").
  bool ProbingForAnUnstartedGroup() const;
  void TickJoinProbe();
  void NoteJoinProbeAnswer(const Message& answer);
  // The configuration in force at `index` (snapshot_index() <= index <= last_index()).
  Membership MembershipAt(Index index) const;
  void SyncProgressToMembership();
  bool HasPendingConfChange() const;
  bool CommittedInCurrentTerm() const;
  Index ApplyLimit() const;
  HardState CurrentHardState() const;

  RaftOptions options_;
  io::Random random_;
  RaftLog log_;
  Role role_ = Role::kFollower;
  Term term_;
  NodeId vote_;
  NodeId leader_;
  Membership membership_;
  Index membership_index_;  // Index of the config entry in force (0 = bootstrap).
  StepFn step_ = &Raft::StepFollower;
  TickFn tick_ = &Raft::TickElection;

  uint64_t ticks_ = 0;  // Local monotonic tick count since this object was created.
  // Follower: ticks since the leader was last heard (the election timer); leader: ticks into the
  // current check-quorum window.
  uint32_t election_elapsed_ticks_ = 0;
  // Leader: ticks since the transfer under way started or sent TimeoutNow (its own timer: a
  // transfer must not restart the check-quorum window, or requests to hand over would keep a
  // cut-off leader in place).
  uint32_t transfer_elapsed_ticks_ = 0;
  uint32_t heartbeat_elapsed_ticks_ = 0;
  // Leader, for the step-down bound (StepDownBoundHolds), kept apart from check-quorum's own
  // bookkeeping so that it checks it: the tick each member was last heard from in this term, and
  // the tick the bound counts from (leadership won, woken from quiescence, voters changed).
  absl::btree_map<NodeId, uint64_t> heard_ticks_;
  uint64_t step_down_clock_start_ticks_ = 0;
  uint32_t randomized_timeout_ticks_ = 0;
  bool quiesced_ = false;
  uint32_t quiet_ticks_ = 0;            // Leader: consecutive ticks CanQuiesce() held.
  uint64_t quiesced_at_ticks_ = 0;      // Leader: ticks_ when it last quiesced.
  absl::btree_set<NodeId> nodes_down_;  // Members the driver last reported not live.
  // Lost hard state: until every other voter has been heard from since the restart, the highest
  // term each one answered a query of this incarnation with.
  bool amnesiac_ = false;
  absl::btree_map<NodeId, Term> amnesia_terms_heard_;  // Voters only: at most kVotersMax.
  uint64_t amnesia_nonce_ = 0;  // Carried by its queries (context_ticks), echoed by answers.
  // RaftOptions::joining, until membership_index_ reaches the highest configuration index the
  // leader of the current term sent (join_floor_; none heard yet: unknown).
  bool joining_ = false;
  std::optional<Index> join_floor_;
  Term join_floor_term_;  // The term whose leader sent join_floor_.
  // The unstarted-group probe: its nonce (echoed by answers), the voters that answered with an
  // empty log, and whether one answered with entries (then the group started: probing ends).
  uint64_t join_probe_nonce_ = 0;
  absl::btree_set<NodeId> join_probe_empty_;
  bool join_probe_found_entries_ = false;

  // Candidate state.
  absl::btree_map<NodeId, bool> votes_;
  // Leader state.
  absl::btree_map<NodeId, Progress> progress_;
  absl::btree_map<NodeId, uint64_t> heartbeat_acked_ticks_;  // lease bookkeeping
  NodeId transferee_;
  bool lease_revoked_ = false;  // Set once this leader sent TimeoutNow.
  bool broadcast_pending_ = false;
  // Follower state: entries up to `verified_` are known to match the current leader's log.
  Index verified_;
  Index leader_commit_;
  Index acked_;  // Highest index acknowledged to the current leader.
  // Leader: the end of the log it inherited when elected (the uncommitted window, which
  // Propose bounds, counts only what it appended after).
  Index leader_inherited_end_;
  // The last entry this node had made durable before the restart (RestartState); fixed for the
  // life of this object.
  LogPosition durable_before_;

  Snapshot snapshot_;               // The latest snapshot, sent to followers the log no longer
                                    // reaches. meta.index == log_.snapshot_index().
  bool snapshot_unhanded_ = false;  // Installed from the leader, not yet in a Ready.
  RaftDropCounters drops_;
  std::vector<Message> messages_;
  HardState persisted_hard_state_;  // The last hard state handed out in a Ready.
  bool ready_outstanding_ = false;
  Index ready_applied_to_;

  struct PreviousState {
    Term term;
    NodeId vote;
    Index commit;
    Term commit_term;
  };
  PreviousState previous_;
};

}  // namespace meridian::core::raft
