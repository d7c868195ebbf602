// Vocabulary of the consensus state machine (Raft paper §5): log indices, entries, the messages
// peers exchange, the hard state a node must persist, and the Ready batch the driver executes.
//
// Everything here is a plain value type. The driver encodes Message and Entry with FlatBuffers;
// core/raft never sees bytes. Node id 0 (kNoNode) means "nobody" (no vote, no known leader).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/raft/membership.h"
#include "core/strong_id.h"
#include "io/network.h"
#include "io/node_id.h"

namespace meridian::core::raft {

struct IndexTag {
  static constexpr const char* kPrefix = "i";
};
// Position of an entry in the raft log; the first entry has index 1, index 0 is "before the log".
using Index = StrongId<IndexTag>;
using core::Term;
using io::NodeId;

inline constexpr NodeId kNoNode{};

// ---- Limits (house style rule 7). ----
// Entries carried by one append message (batching).
inline constexpr uint32_t kBatchEntriesMax = 64;
// Append messages in flight to one follower in replicate state (pipelining).
inline constexpr uint32_t kInflightMessagesMax = 32;
// Entries a leader accepts beyond its commit index before refusing proposals (back-pressure).
inline constexpr uint32_t kUncommittedEntriesMax = kBatchEntriesMax * kInflightMessagesMax;
static_assert(kUncommittedEntriesMax >= kBatchEntriesMax,
              "a full batch must always fit in the uncommitted window");
static_assert(kUncommittedEntriesMax <= kBatchEntriesMax * kInflightMessagesMax,
              "the uncommitted window must be drainable by one full pipeline");
// Entry data carried by one append message: the leader stops adding entries to an append once
// the next one would exceed this (a batch always carries at least one entry). Batching by count
// alone let 64 entries of 1 MiB exceed the 16 MiB frame limit and abort the codec.
inline constexpr size_t kAppendBytesMax = size_t{4} << 20;
// Data of one entry (Propose refuses more). At most one append's budget, so "at least one entry
// per append" never exceeds kAppendBytesMax either.
inline constexpr size_t kEntryBytesMax = size_t{2} << 20;
static_assert(kEntryBytesMax <= kAppendBytesMax, "the largest entry fits in one append");
// Everything in an append besides entry data: the message fields and, per entry, its fields and
// a full membership (kMembersMax node ids). Generous on purpose.
inline constexpr size_t kAppendOverheadBytesMax = 1024 + kBatchEntriesMax * 1024;
static_assert(kAppendBytesMax + kAppendOverheadBytesMax <= io::kMessageBytesMax / 2,
              "an append fits well within one network message (frame)");
// The entry cache of one group (RaftOptions::entry_cache_bytes_max), by default. One full
// append's worth, so a follower a batch or two behind is served from memory.
inline constexpr uint64_t kEntryCacheBytesMaxDefault = kAppendBytesMax;
// Committed entries handed out for applying by one Ready (at least one): after a restart, a
// log's whole unapplied tail is read back from disk in steps of this much, never all at once.
inline constexpr size_t kReadyApplyBytesMax = kAppendBytesMax;
// A term past this cannot come from elections (one per microsecond would take 146,000 years to
// get here); a message carrying one is dropped, so no peer can push our term toward wrap-around.
inline constexpr Term kTermMax(uint64_t{1} << 62);
// Likewise for a snapshot's last index (from a peer or a disk): a log cannot honestly get there,
// and one past it must never wrap.
inline constexpr Index kSnapshotIndexMax(uint64_t{1} << 62);
inline constexpr uint32_t kElectionTimeoutTicksMax = 1000;
// Application state carried by one snapshot (it travels in one peer message, so it stays well
// within a frame; a state machine whose snapshot would be larger cannot be compacted, and says
// so, rather than sending what no follower could receive).
inline constexpr size_t kSnapshotDataBytesMax = size_t{4} << 20;
static_assert(kSnapshotDataBytesMax + kAppendOverheadBytesMax <= io::kMessageBytesMax / 2,
              "a snapshot fits well within one network message (frame)");
// Heartbeat responses a leader waits for an answer to a snapshot it sent before sending it again
// (the message may have been lost; snapshots are large, so not on every heartbeat).
inline constexpr uint32_t kSnapshotRetryHeartbeats = 8;
inline constexpr uint32_t kDriftBoundPercentMax = 50;

enum class EntryKind : uint8_t {
  kNormal,  // Application data (the leader's no-op at the start of a term has empty data).
  kConfig,  // A membership change; `membership` is the complete new configuration.
};

struct Entry {
  Term term;
  Index index;
  EntryKind kind = EntryKind::kNormal;
  std::string data;
  Membership membership;  // Meaningful only when kind == kConfig.
  // The data is not in memory (raft's entry cache let it go, RaftOptions::
  // entry_cache_bytes_max): `data` is empty. Only a kNormal entry durable on this node is ever
  // elided; the driver reads it back from its log (same index and term) before it sends or
  // applies it, and never puts an elided entry on the wire or in a state machine.
  bool elided = false;
  uint32_t elided_bytes = 0;  // When elided: the size of the data left on disk.

  bool operator==(const Entry&) const = default;
};

enum class MessageType : uint8_t {
  kPreVote,  // §9.6 pre-vote: "would you vote for me at term+1?" (term not bumped)
  kPreVoteResponse,
  kVote,  // §5.2 RequestVote
  kVoteResponse,
  kAppend,  // §5.3 AppendEntries carrying entries (possibly none: a probe)
  kAppendResponse,
  kHeartbeat,  // §5.2 empty AppendEntries that only asserts leadership (and leases)
  kHeartbeatResponse,
  kTimeoutNow,  // §3.10 (dissertation) leadership transfer: "start an election now"
  kSnapshot,    // §7 InstallSnapshot: the leader's log starts past the follower's end;
                // answered with kAppendResponse acknowledging the snapshot's index.
  // Not in the paper: a node whose hard state was lost asks every voter for its current term
  // (design.md "Damaged replicas"). The response carries the responder's term; neither changes
  // anybody's term or vote.
  kTermQuery,
  kTermQueryResponse,
};

const char* MessageTypeName(MessageType type);

enum class Campaign : uint8_t { kNormal, kTransfer };

// §7 log compaction. A snapshot stands for every entry up to and including `index`: the state
// machine's state after applying them (`data`, opaque to raft), and what raft itself needs to
// continue the log after them: the last included entry's term and the configuration in force
// at that entry.
struct SnapshotMeta {
  Index index;
  Term term;
  Membership membership;
  bool operator==(const SnapshotMeta&) const = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;
  bool operator==(const Snapshot&) const = default;
};

// One peer message. Fields not listed for a type are left at their defaults.
struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from;
  NodeId to;
  Term term;
  // kVote/kPreVote: the candidate's last log index and term (§5.4.1 up-to-date check).
  // kAppend: the index and term of the entry preceding `entries` (prevLogIndex/prevLogTerm).
  // kAppendResponse: accepted -> the highest index known durable and matching the leader;
  //                  rejected -> the rejected prevLogIndex.
  Index log_index;
  Term log_term;
  std::vector<Entry> entries;
  Index commit;  // kAppend/kHeartbeat: the leader's commit index (capped for heartbeats).
  bool reject = false;
  // kAppendResponse reject: conflict hint (§5.3 optimisation): the follower has no entry
  // matching the leader after hint_index, and its entry at hint_index has term hint_term.
  Index hint_index;
  Term hint_term;
  // kHeartbeat/kHeartbeatResponse: the leader's tick count when the heartbeat was sent (leases).
  uint64_t context_ticks = 0;
  Campaign campaign = Campaign::kNormal;  // kVote: a transfer election ignores leases.
  Snapshot snapshot;  // kSnapshot only: the leader's latest snapshot (log_index/log_term unused).
  // kHeartbeat only: the leader quiesces the group (design.md "Quiescence"); a follower holding
  // everything through `commit` stops its election timer and does not answer.
  bool quiesce = false;
  // kAppend/kHeartbeat/kSnapshot: the index of the leader's configuration entry in force (0: the
  // bootstrap one). A joining replica waits until its own configuration is this recent
  // (RaftOptions::joining).
  Index config_index;
};

// What must be durable before any message of the same Ready leaves the node (§5, Figure 2
// "persistent state on all servers": currentTerm, votedFor; plus the commit index).
// A log entry's place: its term and index. Compared as raft compares logs (§5.4.1): the later
// term wins, then the longer log.
struct LogPosition {
  Term term;
  Index index;
  bool IsAtLeast(const LogPosition& other) const {
    if (term != other.term) return term > other.term;
    return index >= other.index;
  }
};

struct HardState {
  Term term;
  NodeId vote;
  Index commit;
  bool operator==(const HardState&) const = default;
};

// The driver's work list. Order: (0) if `snapshot` is set (a follower installing its leader's
// snapshot): store it durably, discard the whole durable log and continue it after
// snapshot.meta.index, and restore the state machine from snapshot.data; (1) sync hard_state;
// (2) send messages; (3) write `entries` (truncating the durable log first if
// entries.front().index <= its last index), sync, and call StableTo(last index, last term);
// (4) apply committed_entries; (5) Advance(). Steps 2 and 3 may overlap: no message in a Ready
// depends on the Ready's own entries being durable; messages may depend on step 0 (the
// follower acknowledges the snapshot's index in the same Ready).
// A restart after a crash between steps 0 and 1 finds a snapshot newer than the hard state; see
// RestartState.
struct Ready {
  std::optional<Snapshot> snapshot;
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Entry> committed_entries;
};

// Test-only switch for the planted-bug suite. Production always uses kNone.
enum class PlantedBug : uint8_t {
  kNone,
  kCommitOlderTermByCounting,     // §5.4.2 violated: count replicas for entries of older terms.
  kVoteWithoutLogCheck,           // §5.4.1 violated: grant votes without the up-to-date check.
  kCountOwnEntriesBeforeDurable,  // Leader counts itself and followers ack before fsync.
  kForgetToPersistVote,           // The vote never reaches the Ready hard state.
  kConcurrentConfigChanges,       // No "committed in this term" / "one pending change" rule.
  kLeaseReadAfterExpiry,          // Serve lease reads without checking lease expiry.
  kLeaseEndsOnAnyHigherTerm,      // A follower in lease adopts a non-leader's higher term.
  kLeaseFromAckReceipt,           // Lease measured from the heartbeat ack's receipt, not its send.
  kLeaseReadDuringTransfer,       // Lease reads still served after TimeoutNow was sent.
  kConfigKeptAfterTruncation,     // A truncated config entry's configuration stays in force.
  // Past kPlantedBugLast: caught by the broker workload (//sim:broker_workload_test), not by the
  // raft suite, whose groups have no learners.
  kLearnersCountTowardCommit,  // A voter majority's worth of acks from voters or learners.
  // Past kPlantedBugLast too: caught by the raft workload's default sweep, which damages
  // replicas at rest (//tests:raft_cluster_test), and by raft_damage_test's scripts (the pure
  // harness has no disk to damage).
  kDamagedReplicaVotes,       // A replica that lost acknowledged entries votes and campaigns.
  kMatchKeptAfterShorterLog,  // The leader keeps a match index the follower no longer holds.
  // Past kPlantedBugLast: caught by //sim:broker_workload_test (region loss under quiescence).
  kQuiescedFollowerIgnoresLeaderLoss,  // A quiesced follower sleeps on when its leader's node dies.
  // Past kPlantedBugLast: caught by //tests:raft_cluster_test with hard states lost at rest.
  kVoteWithLostHardState,  // A replica that lost its hard state votes as if it never voted.
  // Past kPlantedBugLast: core/replica's, caught by //tests:raft_cluster_test's lease reads.
  kLeaseReadIgnoresOwedTicks,  // Replica::LeaseRead trusts raft's ticks while its driver owes some.
  // Past kPlantedBugLast: found in the code (2026-12-03); the step-down bound (Raft::Invariants)
  // catches it in raft_paper_test's script and through the whole stack (raft_cluster_test).
  kTransferRestartsCheckQuorum,  // A transfer request restarts the leader's check-quorum window.
  // Past kPlantedBugLast: a liveness bug, caught by the raft workload's election bound after the
  // audit restarts every server at once (raft_cluster_test).
  kElectionTimeoutNotRandomized,  // Every election timeout is exactly T (§5.2's [T, 2T) ignored).
};
inline constexpr PlantedBug kPlantedBugLast = PlantedBug::kConfigKeptAfterTruncation;
// The enum's last value: what a parser of every bug's name iterates to (a new bug goes before it
// or moves it).
inline constexpr PlantedBug kPlantedBugFinal = PlantedBug::kElectionTimeoutNotRandomized;
const char* PlantedBugName(PlantedBug bug);

enum class PreVote : uint8_t { kOff, kOn };
enum class CheckQuorum : uint8_t { kOff, kOn };

struct RaftOptions {
  NodeId id;
  // The configuration the group was bootstrapped with; later ones come from config entries.
  Membership bootstrap;
  uint32_t election_timeout_ticks = 10;
  uint32_t heartbeat_interval_ticks = 2;
  // Max relative rate difference between any two nodes' tick clocks, in percent. A lease lasts
  // election_timeout_ticks * (100 - drift_bound_percent) / 100 ticks after the heartbeat send.
  uint32_t drift_bound_percent = 10;
  PreVote pre_vote = PreVote::kOn;
  CheckQuorum check_quorum = CheckQuorum::kOn;
  // Quiescence (design.md "Quiescence"): a leader whose group has been fully replicated and
  // idle for this many ticks tells its followers to stop ticking, and stops heartbeating. The
  // driver must then report node liveness (Raft::NodeLivenessChanged). 0: never quiesce.
  uint32_t quiesce_after_ticks = 0;
  // The entry cache (raft_log.h): entries applied and durable here stay in memory only while
  // the cache holds at most this many bytes; older ones are handed out elided (Entry::elided)
  // and the driver reads them from its log. Bounds a group's memory whatever its retention.
  uint64_t entry_cache_bytes_max = kEntryCacheBytesMaxDefault;
  // The replication window, per follower (etcd's MaxInflightMsgs, and a per-append entry cap):
  // at most inflight_messages_max appends unacknowledged, each of at most append_entries_max
  // entries. Smaller windows cost throughput. The simulator narrows them on some seeds: one
  // entry per append, one in flight, is what lets a quorum's acknowledgements stop at an
  // older-term entry below a new leader's no-op (sim/README.md, commit-older-term-by-counting).
  uint32_t append_entries_max = kBatchEntriesMax;         // 1..kBatchEntriesMax.
  uint32_t inflight_messages_max = kInflightMessagesMax;  // 1..kInflightMessagesMax.
  PlantedBug planted_bug = PlantedBug::kNone;
  // This replica joins a group whose log may hold configurations from before it joined, in
  // which this node was a voter (a reassignment removed the node, deleted its copy, and added
  // it back later): catching up from that log, it passes through them and would take itself for
  // a voter of a configuration long replaced, and two such copies make a quorum of it whose
  // log lacks what the group committed since (design.md "Joining replicas"). So until its own
  // configuration in force is at least as recent as one a leader sent it (Message::
  // config_index), it neither campaigns nor grants votes. Only for a copy that starts with
  // nothing stored (no log, snapshot or term): a copy restarting with stored state does not join
  // again, even if it crashed before it caught up (design.md "Joining replicas": a restart mid
  // catch-up is the gap left; joining again at every restart cost a group its quorum when a
  // voter just promoted restarted before the metadata named it a voter).
  bool joining = false;
};

// What a (re)starting node recovers from its disk: the last synced hard state, the last stored
// snapshot (if any; its data is the driver's, raft keeps it to send to followers), and the
// durable log after it (entries snapshot.index+1..N, contiguous; from 1 without a snapshot).
// A snapshot newer than the hard state (a crash between Ready steps 0 and 1) is sound: its
// index was committed, and its term was the leader's, at most the term we had adopted but not
// stored yet, in which we had cast no vote (a vote is stored before it is sent).
//
// `durable_before` is the last entry the driver knows this node had made durable before it
// stopped (a record it persists beside the log; zero: nothing known). If the recovered log ends
// before it (lexicographically by term, then index), damage at rest took entries this node may
// have acknowledged: until its log is at least as up-to-date again, it votes as if it still held
// them and does not campaign (design.md "Damaged replicas").
//
// `hard_state_lost`: the driver found no valid copy of the hard state (or only a stale one), so
// the term and vote this node had are unknown; `hard_state` then holds the highest term its log,
// snapshot and durable record show, no vote, commit 0. The node votes for nobody, campaigns,
// acknowledges and answers nothing until it has heard, since the restart, from every other voter
// of its configuration (kTermQuery): it then moves to the highest term heard and counts its vote
// in that term as cast (design.md "Damaged replicas", the safety argument).
struct RestartState {
  HardState hard_state;
  std::vector<Entry> entries;
  std::optional<Snapshot> snapshot;
  LogPosition durable_before;
  bool hard_state_lost = false;
};

// Peer messages Raft::Step refused to act on, by reason (DESIGN.md "Trust boundaries": input is
// validated, dropped and counted, never asserted on). See design.md "Hostile input" for the
// rules. Only `non_member` occurs between honest peers (late responses from a removed node).
struct RaftDropCounters {
  uint64_t misaddressed = 0;     // `to` is not this node, or `from` is this node or node 0.
  uint64_t malformed = 0;        // Fails ValidateMessage (term 0, entries out of order, a bad
                                 // configuration, oversized entry...) or has a term > kTermMax.
  uint64_t non_member = 0;       // A response or TimeoutNow from a node outside our configuration.
  uint64_t not_from_leader = 0;  // Append/Heartbeat/TimeoutNow of our term from a node other
                                 // than the leader we know (a second leader in one term).
  uint64_t ack_beyond_log = 0;   // AppendResponse for an index past the leader's log, or a
                                 // HeartbeatResponse echoing a tick the leader has not reached.
  uint64_t contradicting_append = 0;  // Append that would overwrite entries already verified
                                      // against this term's leader (its log only grows).
  uint64_t total() const {
    return misaddressed + malformed + non_member + not_from_leader + ack_beyond_log +
           contradicting_append;
  }
  bool operator==(const RaftDropCounters&) const = default;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role role);

}  // namespace meridian::core::raft
