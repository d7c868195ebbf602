// Internals of core::broker::Broker shared by broker.cc (lifecycle, peers, reconciler,
// registration), broker_requests.cc (request handlers) and broker_session.cc (connections).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/broker/broker.h"
#include "core/broker/group_ledger.h"
#include "core/broker/partition_state.h"
#include "core/cluster/metadata.h"
#include "core/replica/replica.h"
#include "io/frame.h"
#include "io/probe.h"
#include "io/sync.h"

namespace meridian::core::broker {

// A partition's state machine as the replica sees it, plus the wait list long polls park on.
class PartitionMachine final : public replica::ReplicaStateMachine {
 public:
  PartitionMachine(io::Runtime& runtime, PartitionPlantedBug bug) : state(bug), applied(runtime) {}
  void Apply(const raft::Entry& entry) override {
    const ApplyOutcome outcome = state.Apply(entry);
    if (ledger != nullptr && outcome.result == ApplyResult::kAppended) {
      ledger->ApplyBatch(entry.index, std::span(reinterpret_cast<const uint8_t*>(entry.data.data()),
                                                entry.data.size()));
    }
    applied.NotifyAll();
  }
  absl::Status Restore(const raft::SnapshotMeta& meta, std::string_view data) override {
    if (ledger != nullptr) {
      // An offsets partition's snapshot carries its groups too (GroupLedger::EncodeSnapshot).
      absl::StatusOr<GroupLedgerSnapshotData> decoded = GroupLedger::DecodeSnapshot(data);
      if (!decoded.ok()) return decoded.status();
      if (absl::Status s = state.RestoreSnapshot(meta.index, decoded->partition_state); !s.ok()) {
        return s;
      }
      ledger->Restore(std::move(decoded->groups));
      MERIDIAN_PROBE("broker: an offsets partition restored its groups from a snapshot");
    } else if (absl::Status s = state.RestoreSnapshot(meta.index, data); !s.ok()) {
      return s;
    }
    snapshot_data.assign(data);
    applied.NotifyAll();
    return absl::OkStatus();
  }
  absl::Status CheckSnapshot(const raft::SnapshotMeta& meta, std::string_view data) const override {
    PartitionState scratch;
    if (ledger == nullptr) return scratch.RestoreSnapshot(meta.index, data);
    absl::StatusOr<GroupLedgerSnapshotData> decoded = GroupLedger::DecodeSnapshot(data);
    if (!decoded.ok()) return decoded.status();
    return scratch.RestoreSnapshot(meta.index, decoded->partition_state);
  }
  PartitionState state;
  // Partitions of "__consumer_offsets" only: the consumer groups their records decide.
  std::unique_ptr<GroupLedger> ledger;
  // The data of the replica's latest snapshot (retention rolls it forward to the next one).
  std::string snapshot_data;
  uint64_t pending_bytes = 0;  // Produce batch bytes admitted here and not yet answered.
  io::WaitList applied;
};

// The metadata group's state machine; wakes the reconciler on every change.
class MetadataMachine final : public replica::ReplicaStateMachine {
 public:
  explicit MetadataMachine(io::Runtime& runtime) : changed(runtime) {}
  void Apply(const raft::Entry& entry) override {
    applied = entry.index;
    if (entry.kind == raft::EntryKind::kNormal && !entry.data.empty()) {
      outcomes[entry.index] = metadata.Apply(
          std::span(reinterpret_cast<const uint8_t*>(entry.data.data()), entry.data.size()));
      while (outcomes.size() > kOutcomesKept) outcomes.erase(outcomes.begin());
    }
    changed.NotifyAll();
  }
  absl::Status Restore(const raft::SnapshotMeta& meta, std::string_view data) override {
    if (absl::Status s = metadata.RestoreSnapshot(data); !s.ok()) return s;
    applied = meta.index;
    changed.NotifyAll();
    return absl::OkStatus();
  }
  absl::Status CheckSnapshot(const raft::SnapshotMeta&, std::string_view data) const override {
    return cluster::ClusterMetadata().RestoreSnapshot(data);
  }
  static constexpr size_t kOutcomesKept = 4096;
  cluster::ClusterMetadata metadata;
  raft::Index applied;  // The metadata is the state after this entry.
  absl::btree_map<raft::Index, cluster::MetadataOutcome> outcomes;
  io::WaitList changed;
};

inline std::string GroupDir(uint64_t group) { return "groups/" + std::to_string(group); }

struct HostedPartition {
  std::string topic;
  uint32_t partition = 0;
  uint64_t group = 0;
  std::shared_ptr<PartitionMachine> machine;
  std::shared_ptr<replica::Replica> replica;
};

// The metadata record of the partition whose current raft group `hosted` replicates; nullptr
// if the topic is gone or a promotion replaced the group. Valid until the metadata next changes.
const cluster::PartitionRecord* CurrentRecord(const Broker::State& state,
                                              const HostedPartition& hosted);

class GroupCoordinator;

struct Broker::State {
  State(io::Runtime& rt, BrokerOptions opts) : runtime(rt), options(std::move(opts)) {}

  io::Runtime& runtime;
  const BrokerOptions options;
  std::shared_ptr<MetadataMachine> controller_machine;
  std::shared_ptr<replica::Replica> controller;
  // BrokerOptions::node_wide_log: shared by every replica of the node (else null).
  std::shared_ptr<log::Wal> wal;
  std::shared_ptr<replica::DurableMarkTable> mark_table;
  absl::btree_map<uint64_t, HostedPartition> partitions;  // by raft group id
  // One per hosted partition of "__consumer_offsets", by raft group id.
  absl::btree_map<uint64_t, std::shared_ptr<GroupCoordinator>> coordinators;
  BrokerMetrics metrics;
  bool stopped = false;
  // Quotas and overload bounds (broker_admission.cc).
  MemoryBudget memory{options.limits.buffered_bytes_max, !options.planted.memory_bound_ignored};
  Quotas quotas;
  uint32_t connections_open = 0;
  // Open client connections by address (ConnectionSlot); an address with none is erased.
  absl::btree_map<std::string, uint32_t> connections_by_address;
  uint32_t fetches_in_flight = 0;
  // Fetch reads reserved after their long poll, by request fiber, until FinishRequest.
  absl::btree_map<io::FiberId, uint64_t> fetch_reads;
  // Regional failover (failover.cc). This node may serve regional partitions until lease_until.
  io::Instant lease_until;
  // Controller leader only: when each node last renewed its data lease here, and since when
  // this node has led (a new leader knows nothing of its predecessor's grants).
  absl::btree_map<uint32_t, io::Instant> lease_grants;
  absl::btree_map<uint64_t, io::Instant> groups_seen;  // When each partition group was first seen.
  // When this leader first saw each topic that came under regional rules by a mode change
  // (TopicRecord::regional_by_change): a voter's lease granted after it proves the voter knows
  // the topic needs one.
  absl::btree_map<std::string, io::Instant> regional_seen;
  absl::btree_set<uint32_t> fenced_voters;  // Voters of partitions being promoted: no lease.
  // Node liveness (node_liveness.cc): when each node's last verified peer message arrived, and
  // the nodes heard from within an election timeout as of the last check.
  absl::btree_map<uint32_t, io::Instant> node_heard_at;
  absl::btree_set<uint32_t> nodes_live;
  // This start of the node, as its liveness messages carry it, and each peer's as last heard:
  // a peer whose incarnation changed restarted, however briefly it was down.
  uint64_t incarnation = 0;
  absl::btree_map<uint32_t, uint64_t> node_incarnation;
  // Partition groups whose replica failed to start here, and how many times in a row (the
  // reconciler retries them every kStartRetryInterval).
  absl::btree_map<uint64_t, uint32_t> start_failures;
  raft::Term leading_term;
  io::Instant leading_since;
  // ACL denials are counted each time but logged at most once per kDenialLogInterval.
  std::optional<io::Instant> denial_logged_at;
  // Broker::LogClosedConnection's rate limit.
  std::optional<io::Instant> closed_connection_logged_at;
  uint64_t closed_connections_unlogged = 0;
  // Refused compactions repeat every retention check while their cause lasts (a snapshot over
  // its limit): counted each time, logged at most once per kCompactionLogInterval.
  std::optional<io::Instant> compaction_refusal_logged_at;
  uint64_t compaction_refusals_unlogged = 0;

  // Proposes a metadata command and waits until it is applied here; the outcome, or the
  // proposal's error (FailedPrecondition: not the controller leader).
  absl::StatusOr<cluster::MetadataOutcome> ProposeMetadata(const wire::MetadataCommandT& command,
                                                           io::Instant deadline);
  const HostedPartition* FindHosted(std::string_view topic, uint32_t partition) const;
  raft::RaftOptions GroupRaftOptions(const std::vector<uint32_t>& voters,
                                     const std::vector<uint32_t>& learners = {}) const;
  void Log(std::string_view text) const;
};

inline constexpr io::Duration kStartRetryInterval = std::chrono::seconds(1);

// Node liveness for quiescent partition groups (node_liveness.cc). The raft group id of the
// node-to-node liveness message: no raft group has it.
inline constexpr uint64_t kLivenessGroup = 0;
void NoteNodeHeard(Broker::State& state, uint32_t node);
// A liveness message from `node` carrying its incarnation: a changed one is a restart, handed to
// every hosted replica the node is a member of (Replica::NodeRestarted).
void NoteLivenessMessage(Broker::State& state, uint32_t node, uint64_t incarnation);
void RunNodeLiveness(std::shared_ptr<Broker::State> state);
// Tells a replica just started which of its members' nodes are not live now (later changes
// reach it from RunNodeLiveness).
void TellDownMembers(const Broker::State& state, replica::Replica& replica);
// Controller leader: the registered nodes (other than this one) not heard from within the
// liveness window, which placement leaves out. A leader in its first window may not have heard
// from every live node yet: callers wait for AwaitNodeLivenessKnown first.
absl::btree_set<uint32_t> NodesNotLive(const Broker::State& state);
// On the controller leader, waits out the rest of its first liveness window (at most one
// election timeout after its election); returns at once elsewhere. Callers re-check leadership.
void AwaitNodeLivenessKnown(Broker::State& state);
// Controller leader: starts this term's bookkeeping (leading_since, lease grants) once.
void NoteControllerLeadership(Broker::State& state);

// Where a broker's operational line goes: BrokerOptions::log if set, else stderr prefixed with
// the node id. Broker::State::Log, and the fail-stop hook (which must not hold the state).
void WriteBrokerLine(const std::function<void(std::string_view)>& log, uint32_t node_id,
                     std::string_view text);

// The invariant of every fetch answer, on the leader and on followers alike: batches in offset
// order, each starting below the high watermark the answer reports (committed data only, as
// far as this replica knows). Crashes otherwise (broker_requests.cc).
void CheckFetchServesCommitted(const wire::FetchResponseT& response);
// A topic as clients see it (broker_requests.cc).
std::unique_ptr<wire::TopicInfoT> TopicInfo(const Broker::State& state,
                                            const cluster::TopicRecord& topic);
// The controller leader's placement as the assignments of a metadata command.
std::vector<std::unique_ptr<wire::PartitionAssignmentT>> Assignments(cluster::Placement placement);
// What admitting a request reserved, released by FinishRequest (broker_admission.cc).
struct Admission {
  std::optional<wire::ClientMessageT> refusal;  // Set: answer this instead of handling it.
  uint64_t reserved_bytes = 0;                  // In State::memory.
  std::shared_ptr<PartitionMachine> partition;  // Produce: pending_bytes charged to it.
  uint64_t partition_bytes = 0;
  bool fetch_slot = false;  // Counted in State::fetches_in_flight.
  std::string topic;        // Fetch: its response bytes are charged to the quotas.
};

// Checks the node's bounds and the client's and topic's quotas before a request runs, and
// reserves the memory it may use (request, batch awaiting commit, response). `frame_bytes`:
// the request's size on the wire.
Admission AdmitRequest(Broker::State& state, std::string_view client_id,
                       const wire::ClientMessageT& request, uint64_t frame_bytes);
// After the response is built: charges a fetch's bytes to its quotas and releases what the
// request held but the reply bytes (ReleaseReply does that once the reply is written).
void FinishRequest(Broker::State& state, std::string_view client_id, Admission& admission,
                   const wire::ClientMessageT& response);
void ReleaseReply(Broker::State& state, Admission& admission);
// Called by a fetch after its long poll, before it reads: reserves twice what it may return and
// says how much that is (at most `bytes_max`, less when the node is short; 0: shed it).
uint64_t ReserveFetchRead(Broker::State& state, uint64_t bytes_max);
// A Throttled answer telling the client to come back after `wait` (at least 1 ms).
wire::ClientMessageT ThrottledMessage(uint64_t id, io::Duration wait, std::string text);

// The quota admin requests (broker_quota_requests.cc); nullopt for any other request.
std::optional<wire::ClientMessageT> HandleQuotaRequest(Broker::State& state,
                                                       const wire::ClientMessageT& request);

// Request handlers (broker_requests.cc).
// A failed ProposeAndWait as the client must read it: NotLeader (with `leader` as the hint) and
// Failed when it certainly did not apply, Unknown when it may still.
wire::ClientMessageT ProposalError(uint64_t id, const absl::Status& status, uint32_t leader);
wire::ClientMessageT HandleRequest(Broker::State& state, const wire::ClientMessageT& request);
// Consumer-group requests (broker_groups.cc); nullopt for a body that is not one.
std::optional<wire::ClientMessageT> HandleGroupRequest(Broker::State& state,
                                                       const wire::ClientMessageT& request);
// The group fiber: ticks every hosted coordinator (broker_groups.cc).
void RunGroupCoordinators(std::shared_ptr<Broker::State> state);

// A client connection from this node to another's client port, kept open between calls (a
// lease renewal every fraction of a second must not pay a connect and a hello each time).
struct NodeConnection {
  // Sends `request` (after connecting and a hello, if not connected to `to` yet) and returns
  // the response; on any error the connection is closed and the next call reconnects. `to` is
  // a copy: a record in the metadata may move or go while the call waits on the network.
  absl::StatusOr<wire::ClientMessageT> Call(Broker::State& state, cluster::NodeRecord to,
                                            wire::ClientMessageT request, io::Instant deadline);
  void Close();

  uint32_t node = 0;
  std::unique_ptr<io::Stream> stream;
  std::unique_ptr<io::FrameReader> reader;
  uint64_t next_request_id = 1;

 private:
  absl::StatusOr<wire::ClientMessageT> Exchange(wire::ClientMessageT& request,
                                                io::Instant deadline);
};

// Sends `request` to `node`'s client port (after a hello) and returns its response.
absl::StatusOr<wire::ClientMessageT> CallNode(Broker::State& state, cluster::NodeRecord node,
                                              wire::ClientMessageT request, io::Instant deadline);

// Regional failover (failover.cc; core/cluster/promotion.h for the design).
// Whether this node may serve `topic`'s replicas now: always for non-regional topics; for
// regional ones while the data lease holds. Counts a refusal when it does not.
bool DataLeaseHeld(Broker::State& state, const cluster::TopicRecord& topic);
// The controller leader's answer to a lease renewal (MetadataRequest.lease_for_node).
wire::ClientMessageT GrantLease(Broker::State& state, uint64_t id, uint32_t node);
wire::ClientMessageT HandlePromotePartition(Broker::State& state, uint64_t id,
                                            const wire::PromotePartitionRequestT& request);
// On the source of a promoted partition: writes the new group's directory from the old
// group's replica (hosted here) before the new group starts. OK if there is nothing to seed.
absl::Status SeedPromotedGroup(Broker::State& state, const cluster::PartitionRecord& partition);
// An old-epoch replica about to be discarded: counts and reports the records it holds after
// the promotion point (its divergent suffix).
void ReportDiscardedSuffix(Broker::State& state, const HostedPartition& old,
                           const cluster::PartitionRecord& current);
// The same for an old-epoch replica this node does not run (it restarted knowing of the
// promotion, so it never reopened that replica): counted from its directory at rest.
void ReportDiscardedAtRest(Broker::State& state, const std::string& topic,
                           const cluster::PartitionRecord& current);
void RunLeaseRenewal(std::shared_ptr<Broker::State> state);
// Replica reassignment (reassignment.cc): the controller leader's admin request, and the fiber
// that moves every partition this node leads toward its target, one change at a time (and, on
// the controller leader, records regrowth targets for promoted partitions).
wire::ClientMessageT HandleReassignPartition(Broker::State& state, uint64_t id,
                                             const wire::ReassignPartitionRequestT& request);
void RunReassigner(std::shared_ptr<Broker::State> state);
// Whether this node hosts `partition`: the replicas or the reassignment target name it.
bool HostedHere(const Broker::State& state, const cluster::PartitionRecord& partition);
void RunPromoter(std::shared_ptr<Broker::State> state);
// Partitions moving at once to replace copies on lost nodes, cluster-wide (replacement.cc).
inline constexpr uint32_t kReplacementMovesInFlight = 4;
// On the controller leader: moves the copies of nodes silent past
// BrokerOptions::replica_replacement_delay onto live nodes (replacement.cc).
void RunReplicaReplacer(std::shared_ptr<Broker::State> state);
// On the controller leader: asks each regional topic promoted away from its home region back
// home once every node the move needs has been live for BrokerOptions::region_failback_delay
// (`unsettled`: the nodes that have not); `retry_at` paces each topic's proposals (failback.cc).
void ProposeFailbacks(Broker::State& state, const absl::btree_set<uint32_t>& unsettled,
                      absl::btree_map<std::string, io::Instant>& retry_at);
// Hands each partition this node leads back to its preferred leader (leader_balance.cc).
void RunLeaderBalancer(std::shared_ptr<Broker::State> state);
// HandleRequest for `principal` if the ACLs allow it, else NotAuthorized (broker_acl.cc).
wire::ClientMessageT HandleAuthorized(Broker::State& state, const Principal& principal,
                                      const wire::ClientMessageT& request);

}  // namespace meridian::core::broker
