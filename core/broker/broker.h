// core::broker::Broker: everything one node does for clients and for its peers — the one
// request path of DESIGN.md. The node binary (node/) and the simulator construct a Broker over
// their io::Runtime and hand it client streams; all request logic lives here.
//
// A node hosts (multi-raft):
//   - a replica of the metadata raft group (core/cluster: topics, nodes, producer ids); the
//     controller is that group's leader, and answers topic and producer-id requests;
//   - one replica of each partition whose assignment names this node, each its own raft group
//     over core/replica, with a PartitionState (core/broker/partition_state.h) as its state
//     machine. Replicas start and stop as the metadata log says (the reconciler fiber).
// One peer link per node pair carries every group's raft messages (the group id is in the
// envelope); one dispatcher fiber routes them.
//
// Fibers: Start spawns the peer dispatcher, the reconciler and the node registration loop;
// ServeConnection runs on the caller's fiber and spawns one fiber per request in flight. Every
// fiber holds the broker's shared state by shared_ptr, so Stop() and destruction are safe while
// fibers unwind.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/broker/acl.h"
#include "core/broker/partition_state.h"
#include "core/broker/quotas.h"
#include "core/broker/reassignment_step.h"
#include "core/cluster/metadata.h"
#include "core/metrics/histogram.h"
#include "core/raft/types.h"
#include "core/replica/replica.h"
#include "core/wire/client_codec.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::core::broker {

// Test-only planted bugs for the broker (each caught by a test or the simulator).
struct BrokerPlantedBugs {
  PartitionPlantedBug partition = PartitionPlantedBug::kNone;
  bool ack_before_quorum = false;  // acks=quorum answered once the leader has it on its disk.
  bool fetch_above_high_watermark = false;  // The leader serves its uncommitted tail.
  // A follower serving an allow_follower fetch serves its uncommitted tail (entries it has
  // received but does not know committed), numbered on from its high watermark.
  bool follower_fetch_above_high_watermark = false;
  // Strong topics get their second voter in the first voter's region (the placement a careless
  // "spread over zones" rule gives): losing that region loses the partition's quorum.
  bool strong_voters_share_a_region = false;
  bool ack_before_fsync = false;  // Partition logs report durable when the fsync starts.
  bool skip_crc_checks = false;   // Partition logs check no CRC at recovery or on reads.
  // Consumer groups: commits are accepted whatever their generation (a zombie's too), and
  // the assignor hands one partition to two members.
  bool zombie_commit_accepted = false;
  bool assign_one_partition_twice = false;
  // Snapshots of "__consumer_offsets" partitions carry their partition state but no groups:
  // a replica restored from one forgets every generation and committed offset.
  bool offsets_snapshot_without_groups = false;
  // The node's buffered bytes are counted but never refused (spike-10x catches it).
  bool memory_bound_ignored = false;
  // Regional failover (README "Regional failover"):
  bool promote_without_fencing = false;  // No data lease: a cut-off old epoch keeps acking.
  bool stale_tail_served = false;  // Reads (fetch, list-offsets) skip the data lease: old tails.
  bool observer_in_write_quorum = false;  // Regional groups count observers' acks toward commit.
  bool rpo_under_reported = false;        // A discarded suffix is reported one record short.
  // A topic that became regional by a mode change is promoted automatically without waiting
  // for its voters to renew a lease since (VotersKnowTheRegime skipped).
  bool promote_before_voters_know_regime = false;
  // Leader placement: leaders never hand leadership back to the preferred leader.
  bool leaders_stay_put = false;
  // Quiescence: a quiesced partition follower ignores its leader's node going down, so a group
  // that slept when its leader was lost never elects again.
  bool quiesced_follower_ignores_leader_loss = false;
  // Mode changes (core/cluster/mode_change.h): the controller plans each partition by the
  // topic's current mode instead of the target's, so nothing moves and the change never ends.
  bool mode_change_plans_old_mode = false;
  // Replacing a lost node's replicas (replacement.cc): the controller plans each partition with
  // the lost copies still in it, so the planner keeps them and nothing is ever replaced.
  bool replacement_keeps_lost_copies = false;
  // Fail-back (failback.cc): the controller never asks a promoted topic back home.
  bool failback_forgotten = false;
  // Replica reassignment (reassignment_step.h): the step order's two rules broken.
  ReassignmentPlantedBug reassignment = ReassignmentPlantedBug::kNone;
};

// Overload bounds and default quotas (core/broker/README.md "Limits"; docs/operations.md has
// the node flags). Past a bound the node sheds the request with Throttled + retry_after_ms.
struct BrokerLimits {
  // Bytes the node buffers for clients: requests in flight, batches awaiting commit, fetch and
  // other responses being built and written (core/broker/quotas.h MemoryBudget).
  uint64_t buffered_bytes_max = 256ull << 20;
  uint32_t connections_max = 4096;  // Client connections open at once.
  // Client connections open at once from one address (the host part of io::Stream::peer()),
  // so one host cannot take every slot (Kafka's max.connections.per.ip).
  uint32_t connections_per_address_max = 1024;
  // Requests a native connection may have in flight (pipelined) before the node stops reading
  // it until one is answered. (A Kafka connection: kafka::kRequestsInFlightMax.)
  uint32_t requests_in_flight_per_connection_max = 256;
  // A client connection on which no request has begun for this long, with none in flight, is
  // closed (Kafka's connections.max.idle.ms is 10 minutes too); a request that has begun must
  // arrive whole within `request_read_timeout`, or a client trickling bytes (slowloris) would
  // hold a connection slot for ever. Both listeners, native and Kafka.
  io::Duration connection_idle_timeout = std::chrono::minutes(10);
  io::Duration request_read_timeout = std::chrono::seconds(30);
  uint64_t partition_pending_bytes_max = 32ull << 20;  // Produce bytes awaiting commit, each.
  uint32_t fetches_in_flight_max = 4096;               // Fetches (long polls included) node-wide.
  io::Duration shed_retry_after = std::chrono::milliseconds(100);  // What a shed reply says.
  // Per client id and per topic unless the controller records an override (`meridian quota`).
  QuotaLimits client_quota_default;
  QuotaLimits topic_quota_default;
};

// What a regional failover did, as this node saw it (BrokerOptions::on_promotion).
struct PromotionEvent {
  enum class Kind : uint8_t {
    kProposed,   // This node, the controller leader, is about to propose the promotion.
    kAbandoned,  // ... and its proposal certainly did not take effect (not leader, refused).
    kDiscarded,  // This node discarded its old-epoch replica and the records after the offset.
  };
  Kind kind = Kind::kProposed;
  std::string topic;
  uint32_t partition = 0;
  uint32_t epoch = 0;           // The new epoch.
  int64_t promoted_offset = 0;  // Old-epoch records at or after it are discarded.
  uint64_t records = 0;         // kDiscarded: how many this node held after the offset.
};

// One configuration change of a replica reassignment, taken by the partition's leader
// (BrokerOptions::on_reassignment; the simulator's reassignment checker reads these).
struct ReassignmentEvent {
  ReassignmentStep::Kind kind = ReassignmentStep::Kind::kWait;
  std::string topic;
  uint32_t partition = 0;
  uint64_t group = 0;
  uint32_t node = 0;    // The member the change is about (the transferee for kTransfer).
  uint64_t match = 0;   // kAddVoter: the new voter's match index when it was proposed.
  uint64_t commit = 0;  // The leader's commit index then.
  uint32_t voters_before = 0;
  uint32_t voters_after = 0;  // In the configuration the change proposes.
  uint32_t target_voters = 0;
};

struct BrokerOptions {
  uint32_t node_id = 0;
  std::string region = "local";
  std::string zone = "local";
  io::Address advertised;  // The client address other nodes and clients reach this node at.
  // "ip:port" of this node's Kafka listener (core/kafka), registered in the metadata; "": none.
  std::string kafka_advertised;
  // Voters of the metadata group (the controller quorum) and its learners (every other node,
  // so that every node has the metadata). Every node must be given the same two lists.
  std::vector<uint32_t> controller_voters;
  std::vector<uint32_t> controller_learners;
  raft::RaftOptions raft;  // Timing template for every group (id and bootstrap are set per group).
  // Quiescence (core/broker/README.md "Quiet partitions"): a partition group fully replicated
  // and idle for an election timeout stops heartbeating and ticking, and the nodes exchange one
  // liveness message per pair per heartbeat interval instead. The metadata group never does.
  bool quiesce_idle_partitions = true;
  io::Duration tick = std::chrono::milliseconds(50);
  io::Duration request_timeout_default = std::chrono::seconds(10);
  io::Duration request_timeout_max = std::chrono::seconds(60);
  io::Duration fetch_wait_max = std::chrono::seconds(30);
  io::Duration registration_retry = std::chrono::milliseconds(300);
  // Retention and compaction (core/broker/README.md "Retention and snapshots"): how often each
  // hosted partition's retention is evaluated, the partition logs' segment size (retention
  // deletes whole segments), and how many metadata entries accumulate before the metadata
  // group is compacted behind a snapshot of the metadata.
  io::Duration retention_check_interval = std::chrono::seconds(5);
  uint64_t segment_bytes = 64ull << 20;
  // Storage layout (docs/design-notes.md "The node-wide log"): every group of the node writes
  // through one write-ahead log ("wal/") and keeps its durable mark in one table ("marks/"),
  // so a round of appends costs two fsyncs per node instead of two per partition. Off: a log
  // and a durable mark per partition, each synced on its own (refused once "wal/" exists).
  bool node_wide_log = true;
  // With it: rounds of a partition past this many bytes skip the WAL (their segment files are
  // synced instead), so large rounds are not written twice (log::LogOptions).
  uint64_t wal_direct_round_bytes = 64 << 10;
  uint64_t metadata_snapshot_entries = 4096;
  // Consumer groups: "__consumer_offsets" is created on the first FindCoordinator with this
  // many partitions (a group's coordinator is the leader of one) and replication factor
  // min(offsets_topic_replication_factor, registered nodes).
  uint32_t offsets_topic_partitions = 8;
  uint32_t offsets_topic_replication_factor = 3;
  // Entries of a "__consumer_offsets" partition between compactions behind a snapshot of its
  // groups (it has no retention: without these its log would grow with every commit).
  uint64_t offsets_snapshot_entries = 4096;
  BrokerLimits limits;
  // Regional failover (core/broker/README.md "Regional failover"). A node hosting a replica of
  // a regional topic serves its produce and fetch only under a data lease: `regional_lease`
  // from a confirmation by the controller leader that it has applied the latest metadata. The
  // controller leader promotes a regional partition's most caught-up observer once no voter of
  // it renewed a lease for `promotion_delay` (0: only by operator command), which Start checks
  // exceeds the lease (with the raft clock drift bound) plus a controller election.
  io::Duration regional_lease = std::chrono::seconds(10);
  io::Duration promotion_delay = std::chrono::seconds(30);
  std::function<void(const PromotionEvent&)> on_promotion;  // Tests and the simulator.
  // Leader placement (leader_balance.cc): a partition's leader hands leadership to the
  // partition's preferred leader (its first voter) once that voter has been in sync this long;
  // zero: never.
  io::Duration leader_balance_delay = std::chrono::seconds(10);
  // Replica reassignment (core/broker/README.md "Reassignment"): whether the controller leader
  // records a regrowth target for a promoted partition short of its replication factor.
  bool regrow_promoted_partitions = true;
  // Replacing a lost node's replicas (replacement.cc): the controller leader moves the copies
  // of a registered node it has not heard from for this long onto live nodes its topics' modes
  // allow; zero: never (an operator moves them with `meridian topic reassign`).
  io::Duration replica_replacement_delay = std::chrono::minutes(15);
  // Balancing (replacement.cc): a node live this long, two copies or more lighter than the most
  // loaded live node, takes one copy from it, one partition moving at a time cluster-wide;
  // zero: never.
  io::Duration replica_balance_delay = std::chrono::minutes(5);
  // Automatic fail-back (failback.cc): a regional topic with partitions a failover promoted away
  // from its home region is moved home once every node the move needs there has been live this
  // long (a flapping region does not pull partitions back and forth); zero: never (an operator
  // moves them with `meridian topic alter --consistency=regional`).
  io::Duration region_failback_delay = std::chrono::minutes(10);
  std::function<void(const ReassignmentEvent&)> on_reassignment;  // Tests and the simulator.
  // The simulator's raft safety observer of a group's replicas (the controller's and every
  // partition's), or nullptr; unset: none. Each replica this broker opens reports to it.
  std::function<replica::ReplicaObserver*(uint64_t group)> replica_observer;
  // The simulator's per-group raft settings (its narrowed replication windows), or unset:
  // called with each replica's raft options before the replica opens, with the partition's
  // topic and index (the metadata group: "" and 0).
  std::function<void(uint64_t group, std::string_view topic, uint32_t partition,
                     raft::RaftOptions& raft)>
      adjust_group_raft;
  BrokerPlantedBugs planted;
  // Where the broker's operational messages go (one line of text each, no newline). Unset:
  // stderr, prefixed with the node id.
  std::function<void(std::string_view text)> log;
  // A replica hosted here (a partition's or the metadata's) fail-stopped: its disk returned an
  // error it cannot trust (EIO: after a failed fsync the page cache may hold data that never
  // reaches the disk) or its state did not decode. `group` is its raft group. The replica
  // serves nothing more until reopened from disk; the broker has logged why. meridian-node
  // exits (a supervisor restarts it and recovery re-reads only what is durable, as Kafka does
  // when its only log directory fails); the simulator crashes and restarts the node. Unset:
  // the replica stays down until the node restarts.
  std::function<void(uint64_t group, const absl::Status& why)> on_replica_failed;
  // Per-principal ACLs on topics (acl.h), checked for every request on the one request path;
  // null: no checks (every principal may do everything).
  std::shared_ptr<const AccessControl> acl;
};

struct BrokerMetrics {
  uint64_t connections_total = 0;
  uint64_t requests_total = 0;
  uint64_t request_errors_total = 0;
  uint64_t requests_denied_total = 0;  // Refused by the ACLs (NotAuthorized).
  uint64_t produce_requests_total = 0;
  uint64_t produce_records_total = 0;
  uint64_t fetch_requests_total = 0;
  uint64_t fetch_records_bytes_total = 0;
  // Of those, bytes served by a replica that was not the partition's leader (allow_follower
  // fetches: reads near the client, Kafka's preferred read replica).
  uint64_t fetch_follower_bytes_total = 0;
  uint64_t peer_messages_dropped_total = 0;
  uint64_t partitions_hosted = 0;
  uint64_t snapshots_taken_total = 0;      // Compactions (partition retention + metadata).
  uint64_t compactions_refused_total = 0;  // Raft refused (e.g. a snapshot over its limit).
  uint64_t produce_bytes_total = 0;        // Record batch bytes of appended produce requests.
  // Regional failover: promotions this node proposed as controller leader; old-epoch records
  // this node discarded (its divergent suffix: the RPO it saw); requests refused for want of a
  // data lease.
  uint64_t promotions_total = 0;
  uint64_t promotion_records_discarded_total = 0;
  uint64_t lease_refusals_total = 0;
  uint64_t leader_transfers_total = 0;  // Leaderships handed to a preferred leader.
  // Replica reassignment: targets this node recorded as controller leader, configuration
  // changes it took as a partition leader, and reassignments it reported complete.
  uint64_t reassignments_started_total = 0;
  // Of those, the controller's moves off lost nodes (replacement.cc).
  uint64_t replica_replacements_total = 0;
  // Of those, the controller's moves to balance replicas over nodes (replacement.cc).
  uint64_t replica_balance_moves_total = 0;
  // Of those, reorders of a partition's voters to balance preferred leaders (replacement.cc).
  uint64_t preferred_leader_moves_total = 0;
  // Fail-backs this node started as controller leader: topics asked back to their home region
  // (failback.cc). Each then moves its promoted partitions by reassignments counted above.
  uint64_t region_failbacks_total = 0;
  uint64_t reassignment_steps_total = 0;
  uint64_t reassignments_completed_total = 0;
  // Consumer groups: generations this node wrote to the log as a group coordinator (each one
  // ends a rebalance).
  uint64_t group_rebalances_total = 0;
  // Time from a produce or fetch request's decoding to its response (a fetch's long poll
  // included), on the runtime's clock.
  metrics::Histogram produce_latency_ns = metrics::LatencyHistogram();
  metrics::Histogram fetch_latency_ns = metrics::LatencyHistogram();
  // Quotas and overload (core/broker/quotas.h): requests refused with Throttled because a
  // quota ran dry, requests shed because a bound was reached, connections refused, and the
  // node's buffered bytes now, at their peak, and their bound.
  uint64_t throttled_total = 0;
  uint64_t shed_total = 0;
  uint64_t connections_refused_total = 0;              // At connections_max.
  uint64_t connections_refused_per_address_total = 0;  // At connections_per_address_max.
  // Replicas (and the controller's) that found damage at rest when they opened and recovered
  // from it (each finding is logged: Replica::restart_findings).
  uint64_t replicas_restarted_damaged_total = 0;
  uint64_t connections_timed_out_total = 0;  // Closed idle, or a request not whole in time.
  uint64_t connections_open = 0;
  uint64_t buffered_bytes = 0;
  uint64_t buffered_bytes_peak = 0;
  uint64_t buffered_bytes_max = 0;
};

// One replica hosted on this node, as /metrics and /readyz see it (Broker::PartitionStatuses).
struct PartitionStatus {
  std::string topic;  // Empty for the metadata (controller) group.
  uint32_t partition = 0;
  uint64_t group = 0;
  raft::Role role = raft::Role::kFollower;
  uint32_t leader = 0;  // 0: no leader known.
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  int64_t high_watermark = 0;  // Partitions only.
  int64_t log_start_offset = 0;
  // Partitions only, from this node's metadata: the group's voters, and the topic's replication
  // factor. Fewer voters than that (a promoted regional partition runs its new epoch on one
  // voter; growing it back is not built) is under-replicated however caught up they are.
  uint32_t voters = 0;
  uint32_t replication_factor = 0;
  uint32_t preferred_leader = 0;          // Partitions only: the first voter in the metadata.
  bool preferred_leader_in_sync = false;  // Leader only: Replica::VoterInSync(preferred_leader).
  // A reassignment in progress (core/cluster/reassignment.h): its target voter count; 0: none.
  uint32_t target_voters = 0;
  bool quiesced = false;  // The group sleeps (core/raft/design.md "Quiescence").
  replica::ReplicaHealth health;
  // The raft configuration latest in this replica's log (in force for it): its voters and the
  // index of its entry. During a reassignment it may differ from both the metadata's voters and
  // the target.
  std::vector<uint32_t> config_voters;
  uint64_t config_index = 0;
  // This copy joins its group and has not yet caught up to its leader's configuration
  // (raft::RaftOptions::joining): config_voters may be a configuration the group replaced.
  bool joining = false;
};

// A consumer group whose coordinator runs here (this node leads the group's partition of
// "__consumer_offsets"), as that partition's log decided it (Broker::GroupStatuses).
struct GroupStatus {
  std::string group;
  int32_t generation = 0;  // Rebalances the log has decided for the group (0: none yet).
  uint32_t members = 0;    // Members of that generation.
  // Committed offsets (the next offset to consume), by topic and partition.
  std::vector<std::pair<std::pair<std::string, uint32_t>, int64_t>> committed;
};

struct Admission;  // broker_state.h
class AdmittedRequest;
class ConnectionSlot;

class Broker {
 public:
  static constexpr size_t kPartitionsHostedMax = 1 << 14;

  // Opens the metadata replica (recovering it from disk) and starts the broker's fibers.
  // Must be called from a fiber of `runtime`.
  static absl::StatusOr<std::unique_ptr<Broker>> Start(io::Runtime& runtime, BrokerOptions options);
  ~Broker();

  // Serves one client connection until it closes: a HelloRequest first, then pipelined
  // requests. Returns when the stream ends, fails, or sends bytes that do not decode.
  // Every request is checked against the ACLs for `principal` (who the connection speaks for;
  // the node that accepted it decides).
  void ServeConnection(std::shared_ptr<io::Stream> stream, Principal principal = {});
  // A request from a connection this broker does not read itself (core/kafka), in two steps so
  // that connection can keep its requests in order while one waits out a bound or a quota.
  // Admit checks the node's bounds and `client_id`'s and the topic's quotas, as for a native
  // request, and reserves what the request may use (`frame_bytes`: its size as received). It
  // never suspends. Run answers the refusal (Throttled, with retry_after_ms) if there was one,
  // otherwise handles the request for `principal` (ACLs) and returns its response (same
  // request_id); a produce is proposed before Run first suspends. The reservation is released
  // when the response is built, or when an AdmittedRequest is dropped without running.
  AdmittedRequest Admit(const wire::ClientMessageT& request, std::string_view client_id,
                        uint64_t frame_bytes);
  // A connection this broker does not read itself (core/kafka) counts against
  // BrokerLimits::connections_max and connections_per_address_max like a native one, for as
  // long as the slot lives: nullopt when that many are open, node-wide or from `peer`'s address
  // (io::Stream::peer(); the caller closes it; counted in connections_refused_total or
  // connections_refused_per_address_total).
  std::optional<ConnectionSlot> TakeConnectionSlot(std::string_view peer);
  // Logs why a connection this broker does not read itself was closed for what its client sent
  // (a Kafka API the listener does not serve, bytes that do not decode): at most one line a
  // second, saying how many went unlogged, so a hostile client cannot flood the log.
  void LogClosedConnection(std::string_view why);
  wire::ClientMessageT Run(AdmittedRequest admitted, const wire::ClientMessageT& request,
                           const Principal& principal = {});
  // Stops every replica and fiber of this broker. Idempotent.
  void Stop();

  const cluster::ClusterMetadata& metadata() const;
  const BrokerMetrics& metrics() const;
  const BrokerLimits& limits() const;
  // A client connection closed for BrokerLimits::connection_idle_timeout or
  // request_read_timeout (`why`): counted in connections_timed_out_total and logged as
  // LogClosedConnection does. Both listeners call it.
  void NoteConnectionTimedOut(std::string_view why);
  // BrokerOptions::node_wide_log: the WAL's counters and the durable-mark table's image writes
  // (nullopt without it).
  struct NodeWideLogMetrics {
    log::WalMetrics wal;
    uint64_t mark_table_writes = 0;
    metrics::Histogram mark_table_write_latency_ns = metrics::LatencyHistogram();
  };
  std::optional<NodeWideLogMetrics> node_wide_log_metrics() const;
  // Raft peer messages every replica on this node refused (forged or nonsensical), summed.
  uint64_t raft_messages_dropped() const;
  uint32_t node_id() const;
  // Whether this node hosts the partition's current group and leads it (core/kafka asks, to
  // name a preferred read replica only when it is the leader, as Kafka does).
  bool LeadsPartition(std::string_view topic, uint32_t partition) const;
  // Every replica hosted here, the metadata group first, then partitions by group. Read-only.
  std::vector<PartitionStatus> PartitionStatuses() const;
  // Every group coordinated here, by partition of "__consumer_offsets" then by name. Read-only.
  // At most `committed_max` committed offsets are copied over all groups (a scrape must not
  // copy 2^16 groups' offsets); `*committed_omitted` counts the rest.
  std::vector<GroupStatus> GroupStatuses(size_t committed_max, size_t* committed_omitted) const;
  // Groups with live state (members, a rebalance) in the coordinators here; bounded by
  // GroupLedger::kGroupsMax per coordinator.
  uint64_t LiveGroups() const;

  struct State;  // Shared with the broker's fibers (broker.cc).

 private:
  explicit Broker(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// One client connection counted in connections_open, and against its address, while it lives.
// Move-only.
class ConnectionSlot {
 public:
  ConnectionSlot(ConnectionSlot&& other) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot();
  // Connections open now from this slot's address, this one included.
  uint32_t open_from_address() const;
  const std::string& address() const { return address_; }

 private:
  friend class Broker;
  ConnectionSlot(std::shared_ptr<Broker::State> state, std::string address);

  std::shared_ptr<Broker::State> state_;  // Null once moved from.
  std::string address_;
};

// What Broker::Admit decided for one request. Move-only.
class AdmittedRequest {
 public:
  AdmittedRequest(AdmittedRequest&& other) noexcept;
  AdmittedRequest& operator=(AdmittedRequest&& other) noexcept;
  ~AdmittedRequest();
  // The Throttled answer when the node refused the request (it must not run yet), else null.
  const wire::ClientMessageT* refusal() const;

 private:
  friend class Broker;
  AdmittedRequest(std::shared_ptr<Broker::State> state, std::string client_id,
                  std::unique_ptr<Admission> admission);
  void Release(const wire::ClientMessageT& response);

  std::shared_ptr<Broker::State> state_;
  std::string client_id_;
  std::unique_ptr<Admission> admission_;  // Null once released.
};

}  // namespace meridian::core::broker
