// core::replica::Replica: one raft group on one node — the pure raft::Raft state machine driven
// over io::Runtime, with its entries in a core::log::Log and its hard state on the same disk.
// The same code runs in the simulator and in meridian-node.
//
// Threading: one driver fiber owns the Raft object; everything else (peer messages from the
// receiver fiber, proposals from client fibers) reaches it through one bounded input channel,
// so Raft is never touched between GetReady and Advance. Every fiber holds the Replica by
// shared_ptr, so a crash may unwind them in any order.
//
// Durability order (core/raft/README.md, "driver contract"), for each Ready:
//   1. the hard state is stored and fsynced if its term or vote changed (a vote never leaves
//      before it is on disk; the commit index alone is volatile and not worth a sync);
//   2. messages are sent;
//   3. entries are written (after truncating a conflicting suffix), group-committed, and only
//      then reported with StableTo (so the leader counts itself, and followers acknowledge,
//      only durable entries);
//   4. committed entries are applied; 5. Advance.
// A disk error on this path fail-stops the replica (it stops taking input and reports why):
// after a failed fsync nothing about the disk can be assumed (core/log/log.h).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "core/log/log.h"
#include "core/raft/raft.h"
#include "core/replica/durable_mark.h"
#include "core/replica/mark_table.h"
#include "io/runtime.h"
#include "io/sync.h"

namespace meridian::core::replica {

// Hooks for checkers that watch the cluster from outside (the simulator's global observer).
// They must not influence the protocol.
class ReplicaObserver {
 public:
  virtual ~ReplicaObserver() = default;
  virtual void OnApply(io::NodeId node, const raft::Entry& entry) = 0;
  // A node became leader of `term`; `log` is its log at that moment (for leader completeness
  // and log matching checks against what the cluster has committed).
  virtual void OnLeader(io::NodeId node, raft::Term term, const raft::RaftLog& log) = 0;
  virtual void OnFailStop(io::NodeId node, const absl::Status& why) = 0;
};

// The replicated state machine: receives every committed entry exactly once per Replica
// instance, in index order, on the driver fiber (it must not suspend). A restarted replica
// restores the latest snapshot (if any) and re-applies the entries after it, so Apply must
// rebuild state deterministically from the snapshot and the entries alone.
class ReplicaStateMachine {
 public:
  virtual ~ReplicaStateMachine() = default;
  virtual void Apply(const raft::Entry& entry) = 0;
  // Replaces the whole state with a snapshot's (`data` as given to Replica::Compact, here or on
  // the leader that sent it). The next Apply is of meta.index + 1. An error (data that does not
  // decode: damage, or a peer's bug) fail-stops the replica.
  virtual absl::Status Restore(const raft::SnapshotMeta& meta, std::string_view data) = 0;
  // Whether `data` would restore, without changing anything. A leader's snapshot that would not
  // is refused before raft sees it: restoring it would fail-stop this replica, and after the
  // snapshot is stored, every restart too — one forged or buggy message must not do that.
  virtual absl::Status CheckSnapshot(const raft::SnapshotMeta& meta, std::string_view data) const {
    (void)meta;
    (void)data;
    return absl::OkStatus();
  }
};

// What metrics and readiness checks read about a replica (node/ /metrics and /readyz); never
// read by the protocol. A snapshot taken by Replica::health().
struct ReplicaHealth {
  // The highest commit index this replica heard from its current leader (a lower bound of the
  // leader's: heartbeats cap it at what this replica holds); on the leader, its own.
  raft::Index leader_commit_heard;
  // Leader only: voters other than itself not caught up to the commit index, or not heard from,
  // within one election timeout (under-replication). 0 elsewhere.
  uint32_t voters_out_of_sync = 0;
  // Leader only: the voters among those not heard from within one election timeout.
  std::vector<io::NodeId> voters_unheard;
  uint64_t leadership_won_total = 0;  // Times this replica became leader (of a new term).
  uint64_t leader_changes_total = 0;  // Times the leader it knows became another known node.
  uint64_t log_bytes = 0;             // Bytes of its log's segments.
  log::LogMetrics log;
};

// What ProposeAndWait waits for before it returns the entry's index.
enum class WaitFor : uint8_t {
  kApplied,        // Committed (durable on a quorum) and applied on this node.
  kLeaderDurable,  // Durable in this leader's own log only; may still be lost with the leader.
};

struct ReplicaOptions {
  uint64_t group = 1;
  raft::RaftOptions raft;
  io::Duration tick = std::chrono::milliseconds(10);
  std::string dir = "raft";
  uint64_t log_segment_bytes = 64ull << 20;  // Retention deletes whole segments of this size.
  // Test-only, loses data: the log reports entries durable when their fsync starts, not when it
  // ends (log::LogTestingKnobs::report_durable_before_sync). tests/jepsen shows a power cut then
  // loses acknowledged records.
  bool unsafe_ack_before_fsync_for_tests = false;
  // Test-only planted bug: the log neither checks CRCs at recovery nor on reads
  // (log::LogTestingKnobs), so damage at rest is served as data.
  bool unsafe_skip_crc_checks_for_tests = false;
  // The node-wide write-ahead log and durable-mark table (core/log/wal.h, mark_table.h), or
  // neither: the group then syncs its own log and its own durable mark, two fsyncs per round
  // per group. With them, every group of the node shares one WAL sync and one table sync.
  std::shared_ptr<log::Wal> wal;
  std::shared_ptr<DurableMarkTable> mark_table;
  uint64_t wal_direct_round_bytes = 64 << 10;  // log::LogOptions::wal_direct_round_bytes.
  // Shared so it outlives every fiber of the replica (a driver resuming after Shutdown may still
  // apply what it had in hand).
  std::shared_ptr<ReplicaStateMachine> state_machine;
  // Called once, on the driver fiber, when the replica fail-stops (a storage error such as EIO
  // on fsync, or state that does not decode): it serves nothing more until reopened. The owner
  // decides what a node does then (core/broker: BrokerOptions::on_replica_failed). May be unset.
  std::function<void(const absl::Status& why)> on_fail_stop;
};

class Replica : public std::enable_shared_from_this<Replica> {
 public:
  static constexpr size_t kInputsMax = 4096;
  static constexpr uint32_t kMissedTicksMax = 100;  // After a long pause, catch up this many.
  // How often a learner stores a grown commit index (LearnerCommitStoreDue in replica.cc).
  static constexpr io::Duration kLearnerCommitStoreInterval = std::chrono::milliseconds(200);

  // Recovers the group from disk (hard state + log) and starts its fibers.
  static absl::StatusOr<std::shared_ptr<Replica>> Open(io::Runtime& runtime, ReplicaOptions options,
                                                       ReplicaObserver* observer);

  // Hands a peer message (already decoded, for this group) to the driver. Drops it if the
  // input queue is full (peer messages are unreliable anyway).
  void Deliver(raft::Message message);
  // The node's liveness signal (core/raft/design.md "Quiescence"): `node` was heard from within
  // an election timeout, or not. Never dropped: the latest state per node is kept until the
  // driver hands it to raft, after the inputs queued before it. A group whose options quiesce
  // (raft.quiesce_after_ticks > 0) must be told of every change of every member.
  void NodeLivenessChanged(io::NodeId node, bool live);
  // `node` restarted (its incarnation changed) while it stayed live by the liveness window: to
  // raft it went down and came back, so a quiesced group it led wakes and elects. A restarted
  // leader leads nothing, and one whose log was cut at damage cannot win the election back.
  void NodeRestarted(io::NodeId node);
  // Asleep: raft quiesced the group, and the driver waits for input without ticking.
  bool quiesced() const { return quiesced_; }
  // Proposes `data` and waits until it is applied at its index (OK), known not to be (Aborted:
  // another entry took its index), refused before it entered the log (FailedPrecondition: not
  // the leader; Unavailable: a leadership transfer or a full queue; ResourceExhausted: too many
  // uncommitted entries), or its outcome cannot be known (DeadlineExceeded, or Unknown: a
  // snapshot from a new leader covered its index).
  absl::StatusOr<raft::Index> ProposeAndWait(std::string data, io::Instant deadline,
                                             WaitFor wait_for = WaitFor::kApplied);
  // Committed entries from `from` (at most through applied()), whole entries up to about
  // `bytes_max` (at least one if any is available). Read from the durable log (CRC-checked).
  absl::StatusOr<std::vector<raft::Entry>> ReadCommitted(raft::Index from, uint64_t bytes_max);
  // TEST ONLY (planted bugs that read what is not committed yet): entries from `from` to the end
  // of the local log, committed or not.
  absl::StatusOr<std::vector<raft::Entry>> ReadUncommittedForPlantedBug(raft::Index from,
                                                                        uint64_t bytes_max);
  // Entries from `from` to the end of the local log, committed or not: what a fenced replica
  // counts as its divergent suffix before it is discarded (core/broker/fencing.h).
  absl::StatusOr<std::vector<raft::Entry>> ReadLocalTail(raft::Index from, uint64_t bytes_max);
  // Log compaction (raft §7): `data` is the state machine's state after applying every entry up
  // to `index` (<= applied()). Stores the snapshot durably, then deletes the log's whole
  // segments it covers. Returns when done; InvalidArgument if raft refuses (see Raft::Compact).
  absl::Status Compact(raft::Index index, std::string data,
                       io::Instant deadline = io::Instant::Infinite());
  // Size retention (segment granularity): the last index of the oldest whole segments whose
  // removal leaves the log within `bytes_max`; snapshot_index() if none. Never suspends.
  raft::Index RetentionIndex(uint64_t bytes_max) const;
  // The latest snapshot's index (0: none): entries up to it may be gone from the log.
  raft::Index snapshot_index() const { return snapshot_index_; }
  // Leader only: proposes one single-server configuration change (raft's rules: one pending at
  // a time, after an entry of this term committed; the leader cannot remove itself). Returns
  // the index of its entry once appended; it is in force at once and committed once
  // membership_committed(). `based_on` is the membership_index() of the configuration the
  // caller chose the change from: what this object publishes can lag raft by a driver round,
  // so a change chosen from a configuration no longer in force is refused (Aborted) rather
  // than applied to the newer one (two removals where one was meant). Other errors are raft's
  // (FailedPrecondition, InvalidArgument...).
  absl::StatusOr<raft::Index> ProposeConfChange(raft::ConfChange change, raft::Index based_on,
                                                io::Instant deadline);
  // Leader only: a linearizable read index under raft's check-quorum lease (Raft::LeaseRead), now,
  // without a round trip: every entry committed anywhere is at or below it. The lease is counted
  // in ticks, and the driver delivers the ticks a pause or a busy fiber made it miss only when it
  // next runs; a lease that those owed ticks would end is refused here (Unavailable), so a leader
  // resumed after a pause longer than its lease cannot serve from it before its driver has run.
  // FailedPrecondition off the leader or after a fail-stop. Never suspends. `term`, if given,
  // receives the term the lease is of (raft's own, which may be ahead of term()).
  absl::StatusOr<raft::Index> LeaseRead(raft::Term* term = nullptr) const;
  // Leader only: hands leadership to the voter `target` (raft's TransferLeadership).
  absl::Status TransferLeadership(io::NodeId target, io::Instant deadline);
  // A leader's view of voter `voter` now: heard from, and caught up to the commit index, within
  // the last election timeout (what health() counts as in sync). False on a non-leader.
  bool VoterInSync(io::NodeId voter) const;
  // For harnesses: raft's own check that the configuration in force is the one its log implies
  // (Raft::ConfigurationFollowsLog). OK once stopped.
  absl::Status ConfigurationFollowsLog() const;
  // Stops the replica: its driver exits, waiters see Cancelled. Idempotent. Work the driver
  // began before (a snapshot being written) may still fail, its files being deleted with the
  // group: that is no failure of the data, and is not reported (on_fail_stop, the observer).
  void Shutdown();

  raft::Role role() const { return role_; }
  raft::Term term() const { return term_; }
  io::NodeId leader() const { return leader_; }
  raft::Index applied() const { return applied_; }
  raft::Index commit() const { return commit_; }
  // The configuration in force (the latest in the log, committed or not) and whether it is
  // committed (known here: a follower may learn of the commit later than its leader).
  const raft::Membership& membership() const { return membership_; }
  bool membership_committed() const { return membership_index_ <= commit_; }
  // The index of the configuration entry in force (0: the bootstrap configuration), published
  // with membership(): what ProposeConfChange's `based_on` names.
  raft::Index membership_index() const { return membership_index_; }
  // Joining its group (raft::RaftOptions::joining): its configuration may be one the group
  // replaced before this copy joined, so it neither votes nor campaigns yet.
  bool joining() const { return joining_; }
  // Leader only (empty elsewhere): every other member's match index, as of the last Ready.
  const absl::btree_map<io::NodeId, raft::Index>& match() const { return match_; }
  // A leader that has applied an entry of its own term: everything any earlier leader committed
  // is applied here, so its state (a partition's high watermark) is at least what any client
  // was ever shown. Before that, a new leader may look behind.
  bool leader_ready() const { return role_ == raft::Role::kLeader && applied_term_ == term_; }
  const absl::Status& failure() const { return failure_; }
  // What Open found damaged or lost at rest and how it recovered, one line each (empty after a
  // clean restart): a log cut by recovery (a torn tail or damage before it), a damaged snapshot,
  // durable mark or copy of the hard state, a lost or stale hard state. The broker logs them, so
  // an operator learns of damage a replica survived, not only of the one it could not.
  const std::vector<std::string>& restart_findings() const { return restart_findings_; }
  const ReplicaOptions& options() const { return options_; }
  // Peer messages refused as nonsensical or forged (core/raft design.md "Hostile input"): by
  // raft (Step's drops), and leader snapshots that would not restore (CheckSnapshot).
  uint64_t raft_messages_dropped() const {
    return (raft_ != nullptr ? raft_->drops().total() : 0) + snapshots_refused_;
  }
  ReplicaHealth health() const;
  // When a message of the current leader (in its term) last arrived here, and the highest commit
  // index such messages carried: a node whose applied index has reached that commit knew, at
  // that time, everything the leader had committed. Bookkeeping only (core/broker/fencing.h).
  std::optional<io::Instant> leader_heard_at() const { return leader_heard_at_; }
  raft::Index leader_commit_heard() const { return leader_commit_heard_; }
  // When a message from `member` (voter or learner) last arrived; nullopt: never (bounded by
  // the members ever heard from). The controller's evidence that a node is alive.
  std::optional<io::Instant> LastHeardFrom(io::NodeId member) const;

 private:
  struct Proposal {
    std::string data;
    std::shared_ptr<io::Promise<absl::StatusOr<std::pair<raft::Index, raft::Term>>>> result;
  };
  struct Compaction {
    raft::Index index;
    std::string data;
    std::shared_ptr<io::Promise<absl::Status>> result;
  };
  struct MembershipChange {
    std::optional<raft::ConfChange> change;  // nullopt: a leadership transfer to `target`.
    raft::Index based_on;                    // ProposeConfChange's.
    io::NodeId target;
    std::shared_ptr<io::Promise<absl::StatusOr<raft::Index>>> result;
  };
  struct LivenessWake {};  // Wakes the driver to read pending_liveness_.
  using Input = std::variant<raft::Message, Proposal, Compaction, MembershipChange, LivenessWake>;

  Replica(io::Runtime& runtime, ReplicaOptions options, ReplicaObserver* observer,
          std::unique_ptr<log::Log> log);
  void RunDriver();
  void TickUpTo(io::Instant now);
  void ApplyLivenessChanges();
  bool Heard(io::NodeId voter) const;
  bool CaughtUp(io::NodeId voter) const;
  void Handle(Input input);
  absl::Status HandleReady();
  bool LearnerCommitStoreDue(raft::Index commit) const;
  absl::Status StoreDeferredLearnerCommit();
  absl::Status MarkBeforeSleep();
  absl::Status StoreHardStateCoveredByMark(const raft::HardState& state);
  absl::Status PersistEntries(const std::vector<raft::Entry>& entries);
  absl::Status InstallSnapshot(const raft::Snapshot& snapshot);
  absl::Status HandleCompaction(const Compaction& compaction);
  absl::Status ReadElided(std::vector<raft::Entry>& entries);
  bool CompactedSinceMade(const raft::Message& message) const;
  absl::StatusOr<std::vector<raft::Entry>> ReadEntries(raft::Index from, uint64_t bytes_max,
                                                       raft::Index last);
  void Apply(const std::vector<raft::Entry>& committed);
  void FailStop(absl::Status why);
  void PublishState();
  void HandleMembershipChange(MembershipChange& change);
  absl::StatusOr<raft::Index> SendMembershipChange(MembershipChange change, io::Instant deadline);
  void NoteHeard(const raft::Message& message);
  absl::Status MarkCoversAcknowledgement(const raft::Message& message);
  void NoteVotersCaughtUp(io::Instant now);
  // Whether `seen` has `id` within the last election timeout.
  bool Recent(const absl::btree_map<io::NodeId, io::Instant>& seen, io::NodeId id) const;

  io::Runtime& runtime_;
  const ReplicaOptions options_;
  ReplicaObserver* const observer_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<raft::Raft> raft_;
  io::Channel<Input> inputs_;
  io::WaitList applied_waiters_;
  io::Instant next_tick_;
  bool quiesced_ = false;  // Mirror of raft_->quiesced() as of the last PublishState.
  absl::btree_map<io::NodeId, bool> pending_liveness_;  // Not yet handed to raft.
  absl::btree_set<io::NodeId> pending_restarts_;        // Not yet handed to raft.
  absl::btree_set<io::NodeId> nodes_down_;              // Not live, as last told.
  bool liveness_wake_queued_ = false;
  // Mirrors of the Raft state for readers on other fibers.
  raft::Role role_ = raft::Role::kFollower;
  raft::Term term_;
  io::NodeId leader_;
  raft::Index commit_;
  raft::Index applied_;
  raft::Term applied_term_;  // Term of the entry at applied_.
  raft::Index snapshot_index_;
  raft::Membership membership_;
  raft::Index membership_index_;
  bool joining_ = false;
  absl::btree_map<io::NodeId, raft::Index> match_;
  raft::HardState stored_hard_state_;  // What <dir>/hard_state holds.
  std::vector<std::string> restart_findings_;
  uint64_t hard_state_sequence_ = 0;                          // Its sequence (0: none stored).
  io::Instant commit_stored_at_ = io::Instant::FromNanos(0);  // When it was last stored.
  // The last entry of the log known synced, and the durable record of it (durable_mark.h).
  raft::LogPosition synced_;
  std::unique_ptr<DurableMark> durable_mark_;
  absl::btree_map<raft::Index, raft::Term> applied_terms_;  // Recent applied entries' terms.
  absl::Status failure_;
  bool shut_down_ = false;  // By Shutdown (failure_ then says so); a later FailStop is not one.
  // Health bookkeeping (health()). Keyed by voters of the membership only, so bounded by it.
  absl::btree_map<io::NodeId, io::Instant> voter_heard_;  // Last message from each voter.
  // Leader: the last moment each voter held everything committed (NoteVotersCaughtUp).
  absl::btree_map<io::NodeId, io::Instant> voter_caught_up_;
  // Leader: when the commit index reached each of its recent values (ascending in both), back
  // to one election timeout ago.
  std::deque<std::pair<io::Instant, raft::Index>> commit_history_;
  raft::Index leader_commit_heard_;
  std::optional<io::Instant> leader_heard_at_;  // nullopt: never since this replica opened.
  absl::btree_map<io::NodeId, io::Instant> member_heard_;  // Every member ever heard from.
  io::NodeId last_known_leader_;
  uint64_t leadership_won_total_ = 0;
  uint64_t snapshots_refused_ = 0;  // Leader snapshots CheckSnapshot refused.
  uint64_t leader_changes_total_ = 0;
};

}  // namespace meridian::core::replica
