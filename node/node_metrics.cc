#include "node/node_metrics.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <vector>

#include "absl/container/btree_map.h"
#include "io/posix/posix_network.h"
#include "node/prometheus_text.h"

namespace meridian::node {
namespace {

using core::broker::PartitionStatus;

constexpr double kNanosPerSecond = 1e9;
// A bound on the committed-offset samples of one scrape (groups x partitions can be large).
constexpr size_t kGroupOffsetSamplesMax = 20000;

void RenderProcess(PrometheusText& out, io::posix::PosixRuntime& rt, const NodeMetrics& metrics) {
  out.One("meridian_node_info", "gauge", "Always 1; labels name this node and where it is.",
          {{"node", std::to_string(rt.node().value())},
           {"region", metrics.region},
           {"zone", metrics.zone}},
          1);
  out.One("meridian_uptime_seconds", "gauge", "Seconds since the node started.", {},
          std::chrono::duration<double>(rt.Now() - metrics.started_at).count());
  out.One("meridian_client_connections_total", "counter", "Client connections accepted.", {},
          static_cast<double>(metrics.client_connections_total));
  out.One("meridian_client_tls_handshake_failures_total", "counter",
          "Client connections closed because their TLS handshake failed.", {},
          static_cast<double>(metrics.client_tls_handshake_failures_total));
  const auto& network = static_cast<io::posix::PosixNetwork&>(rt.network());
  const auto counter = [&](std::string_view name, std::string_view help, uint64_t value) {
    out.One(name, "counter", help, {}, static_cast<double>(value));
  };
  counter("meridian_peer_connections_refused_total",
          "Peer links refused: failed TLS handshake, a certificate that does not name the "
          "claimed member of this cluster, a bad hello, too many awaiting their hello.",
          network.peer_connections_refused());
  counter("meridian_peer_links_replaced_total",
          "Incoming peer links closed because the same member opened a newer one (a restarted "
          "or reconnected peer).",
          network.peer_links_replaced());
  counter("meridian_peer_links_timed_out_total",
          "Incoming peer links closed because a frame did not arrive whole within 30 s of its "
          "first byte.",
          network.peer_links_timed_out());
  counter("meridian_accept_backoffs_total",
          "Times a listener could not accept for want of file descriptors (EMFILE/ENFILE) and "
          "backed off before retrying; it keeps accepting. Rising: raise the descriptor limit "
          "or lower --connections_max.",
          network.accept_backoffs());
  out.One("meridian_fibers_live", "gauge", "Fibers alive on the reactor.", {},
          static_cast<double>(rt.scheduler().live_fibers()));
  out.One("meridian_fiber_resumes_total", "counter", "Fiber context switches.", {},
          static_cast<double>(rt.scheduler().resumes()));
  out.One("meridian_metrics_scrapes_total", "counter", "Scrapes of /metrics.", {},
          static_cast<double>(metrics.metrics_scrapes_total));
  struct statvfs fs {};
  if (!metrics.data_dir.empty() && statvfs(metrics.data_dir.c_str(), &fs) == 0) {
    out.One("meridian_data_dir_capacity_bytes", "gauge",
            "Size of the file system holding --data_dir.", {},
            static_cast<double>(fs.f_blocks) * static_cast<double>(fs.f_frsize));
    out.One("meridian_data_dir_available_bytes", "gauge",
            "Bytes of that file system available to the node.", {},
            static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize));
  }
}

// Regional failover, replica reassignment and leader placement counters.
void RenderReplicaMoves(PrometheusText& out, const core::broker::BrokerMetrics& b) {
  const auto counter = [&](std::string_view name, std::string_view help, uint64_t value) {
    out.One(name, "counter", help, {}, static_cast<double>(value));
  };
  counter("meridian_promotions_total",
          "Regional partitions this node promoted to an observer as controller leader.",
          b.promotions_total);
  counter("meridian_promotion_records_discarded_total",
          "Old-epoch records this node held after a promotion point and discarded (RPO).",
          b.promotion_records_discarded_total);
  counter("meridian_reassignments_started_total",
          "Replica reassignment targets this node recorded as controller leader (operator "
          "requests, regrowth of promoted partitions, mode changes, replacements).",
          b.reassignments_started_total);
  counter("meridian_replica_replacements_total",
          "Reassignment targets this node recorded as controller leader to move copies off "
          "nodes silent for --replica_replacement_delay_ms.",
          b.replica_replacements_total);
  counter("meridian_replica_balance_moves_total",
          "Reassignment targets this node recorded as controller leader to move a copy from the "
          "most loaded live node to one with two or more fewer (--replica_balance_delay_ms).",
          b.replica_balance_moves_total);
  counter(
      "meridian_preferred_leader_moves_total",
      "Reassignment targets this node recorded as controller leader that only reorder a "
      "partition's voters, to balance preferred leaders over nodes (--replica_balance_delay_ms).",
      b.preferred_leader_moves_total);
  counter("meridian_region_failbacks_total",
          "Regional topics this node, as controller leader, asked back to their home region "
          "once it had been live for --region_failback_delay_ms.",
          b.region_failbacks_total);
  counter("meridian_reassignment_steps_total",
          "Raft configuration changes (and leadership hand-overs) this node took as a partition "
          "leader to move a group to its reassignment target.",
          b.reassignment_steps_total);
  counter("meridian_reassignments_completed_total",
          "Reassignments this node reported complete as a partition leader.",
          b.reassignments_completed_total);
  counter("meridian_leader_transfers_total",
          "Partition leaderships this node handed back to the partition's preferred leader.",
          b.leader_transfers_total);
  counter("meridian_lease_refusals_total",
          "Requests for regional partitions refused for want of a data lease.",
          b.lease_refusals_total);
}

// Quotas, overload bounds and client connections (core/broker/README.md "Limits").
void RenderOverload(PrometheusText& out, const core::broker::BrokerMetrics& b) {
  const auto counter = [&](std::string_view name, std::string_view help, uint64_t value) {
    out.One(name, "counter", help, {}, static_cast<double>(value));
  };
  counter("meridian_throttled_requests_total",
          "Produce and fetch requests refused with Throttled: a client or topic quota ran dry.",
          b.throttled_total);
  counter("meridian_shed_requests_total",
          "Requests refused with Throttled because a node bound was reached (buffered bytes, "
          "bytes awaiting commit per partition, fetches in flight).",
          b.shed_total);
  counter("meridian_connections_refused_total", "Client connections refused at --connections_max.",
          b.connections_refused_total);
  counter("meridian_connections_refused_per_address_total",
          "Client connections refused at --connections_per_address_max (one address holding "
          "that many).",
          b.connections_refused_per_address_total);
  counter("meridian_replicas_restarted_damaged_total",
          "Replicas that found damage at rest when they opened (a cut log, a damaged snapshot, "
          "hard state or durable mark) and recovered; the node logs each finding.",
          b.replicas_restarted_damaged_total);
  counter("meridian_connections_timed_out_total",
          "Client connections closed idle (--connection_idle_timeout_ms) or with a request not "
          "whole in time (--request_read_timeout_ms).",
          b.connections_timed_out_total);
  const auto gauge = [&](std::string_view name, std::string_view help, uint64_t value) {
    out.One(name, "gauge", help, {}, static_cast<double>(value));
  };
  gauge("meridian_client_connections_open", "Client connections open now.", b.connections_open);
  gauge("meridian_buffered_bytes",
        "Bytes buffered for clients now (requests in flight, batches awaiting commit, responses).",
        b.buffered_bytes);
  gauge("meridian_buffered_bytes_peak", "The most meridian_buffered_bytes has been.",
        b.buffered_bytes_peak);
  gauge("meridian_buffered_bytes_max",
        "The bound on meridian_buffered_bytes (--buffered_bytes_max).", b.buffered_bytes_max);
}

void RenderRequests(PrometheusText& out, const core::broker::Broker& broker) {
  const core::broker::BrokerMetrics& b = broker.metrics();
  const auto counter = [&](std::string_view name, std::string_view help, uint64_t value) {
    out.One(name, "counter", help, {}, static_cast<double>(value));
  };
  counter("meridian_client_requests_total", "Client requests served.", b.requests_total);
  counter("meridian_client_errors_total", "Client requests refused or failed.",
          b.request_errors_total);
  counter("meridian_client_requests_denied_total",
          "Client requests refused by the ACLs (--acl_file): NotAuthorized.",
          b.requests_denied_total);
  counter("meridian_produce_requests_total", "Produce requests received.",
          b.produce_requests_total);
  counter("meridian_produce_records_total", "Records appended by produce.",
          b.produce_records_total);
  counter("meridian_produce_bytes_total", "Record batch bytes appended by produce.",
          b.produce_bytes_total);
  counter("meridian_fetch_requests_total", "Fetch requests received.", b.fetch_requests_total);
  counter("meridian_fetch_bytes_total", "Record batch bytes served by fetch.",
          b.fetch_records_bytes_total);
  counter("meridian_fetch_follower_bytes_total",
          "Record batch bytes served by fetch from a replica that was not the leader (reads "
          "near the client: allow_follower, Kafka's preferred read replica).",
          b.fetch_follower_bytes_total);
  counter("meridian_peer_messages_dropped_total",
          "Peer messages dropped (undecodable, misaddressed or for a group not hosted).",
          b.peer_messages_dropped_total);
  counter("meridian_raft_messages_dropped_total",
          "Raft peer messages refused as forged or nonsensical, over every replica here.",
          broker.raft_messages_dropped());
  counter("meridian_snapshots_taken_total", "Log compactions behind a snapshot.",
          b.snapshots_taken_total);
  counter("meridian_compactions_refused_total", "Compactions raft refused.",
          b.compactions_refused_total);
  RenderOverload(out, b);
  out.Family("meridian_produce_latency_seconds", "histogram",
             "Produce request handling time, replication to a quorum included.");
  out.Histogram({}, b.produce_latency_ns, kNanosPerSecond);
  out.Family("meridian_fetch_latency_seconds", "histogram",
             "Fetch request handling time, the long poll included.");
  out.Histogram({}, b.fetch_latency_ns, kNanosPerSecond);
}

Labels PartitionLabels(const PartitionStatus& status) {
  return {{"topic", status.topic}, {"partition", std::to_string(status.partition)}};
}

// Per-partition gauges: one sample per hosted partition (the metadata group is not a partition).
void RenderPartitions(PrometheusText& out, const std::vector<PartitionStatus>& statuses) {
  struct Gauge {
    std::string_view name;
    std::string_view help;
    double (*value)(const PartitionStatus&);
  };
  static constexpr Gauge kGauges[] = {
      {"meridian_partition_high_watermark", "Offset after the last committed record.",
       [](const PartitionStatus& s) { return static_cast<double>(s.high_watermark); }},
      {"meridian_partition_log_start_offset", "First offset still in the log (retention).",
       [](const PartitionStatus& s) { return static_cast<double>(s.log_start_offset); }},
      {"meridian_partition_replication_lag_entries",
       "Raft entries this replica has not applied of what its leader committed (as heard).",
       [](const PartitionStatus& s) { return static_cast<double>(ReplicationLagEntries(s)); }},
      {"meridian_partition_is_leader", "1 if this node's replica is the partition leader.",
       [](const PartitionStatus& s) { return s.role == core::raft::Role::kLeader ? 1.0 : 0.0; }},
      {"meridian_partition_leader_known", "1 if this replica knows a leader.",
       [](const PartitionStatus& s) { return s.leader != 0 ? 1.0 : 0.0; }},
      {"meridian_partition_disk_bytes", "Bytes of this replica's log segments on disk.",
       [](const PartitionStatus& s) { return static_cast<double>(s.health.log_bytes); }},
  };
  for (const Gauge& gauge : kGauges) {
    out.Family(gauge.name, "gauge", gauge.help);
    for (const PartitionStatus& status : statuses) {
      if (!status.topic.empty()) out.Sample(PartitionLabels(status), gauge.value(status));
    }
  }
}

// Node-wide replication health, summed over every replica here (the metadata group included).
void RenderReplication(PrometheusText& out, const std::vector<PartitionStatus>& statuses) {
  uint64_t under_replicated = 0, offline = 0, elections = 0, changes = 0, quiesced = 0;
  uint64_t cache_hits = 0, cache_misses = 0, disk_bytes = 0;
  core::metrics::Histogram fsync = core::metrics::LatencyHistogram();
  for (const PartitionStatus& status : statuses) {
    const bool partition = !status.topic.empty();
    const bool short_of_voters = status.voters < status.replication_factor;
    if (partition && status.role == core::raft::Role::kLeader && short_of_voters) {
      under_replicated++;  // A promoted regional partition: one voter until regrown.
    } else if (partition && status.health.voters_out_of_sync > 0) {
      under_replicated++;
    }
    if (partition && status.leader == 0) offline++;
    if (status.quiesced) quiesced++;
    elections += status.health.leadership_won_total;
    changes += status.health.leader_changes_total;
    cache_hits += status.health.log.cache_hits;
    cache_misses += status.health.log.cache_misses;
    disk_bytes += status.health.log_bytes;
    fsync.Merge(status.health.log.file_sync_latency_ns);
  }
  out.One("meridian_under_replicated_partitions", "gauge",
          "Partitions led here with fewer voters than their topic's replication factor, or a "
          "voter behind or not heard from for an election timeout.",
          {}, static_cast<double>(under_replicated));
  out.One("meridian_quiesced_partitions", "gauge",
          "Partition replicas hosted here whose group sleeps: idle and fully replicated, no "
          "heartbeats or ticks until written to or a member's node changes liveness.",
          {}, static_cast<double>(quiesced));
  out.One("meridian_offline_partitions", "gauge",
          "Partitions hosted here whose replica knows no leader.", {},
          static_cast<double>(offline));
  out.One("meridian_leader_elections_won_total", "counter",
          "Times a replica hosted here became leader (summed over the replicas hosted now).", {},
          static_cast<double>(elections));
  out.One("meridian_leadership_changes_total", "counter",
          "Times a replica hosted here saw its leader change (summed over those hosted now).", {},
          static_cast<double>(changes));
  out.One("meridian_tail_cache_hits_total", "counter", "Log reads served from the tail cache.", {},
          static_cast<double>(cache_hits));
  out.One("meridian_tail_cache_misses_total", "counter", "Log reads that went to disk.", {},
          static_cast<double>(cache_misses));
  out.One("meridian_tail_cache_hit_ratio", "gauge",
          "Tail cache hits over all log reads since start (1 before any read).", {},
          cache_hits + cache_misses == 0
              ? 1.0
              : static_cast<double>(cache_hits) / static_cast<double>(cache_hits + cache_misses));
  out.One("meridian_log_disk_bytes", "gauge", "Bytes of every replica's log segments here.", {},
          static_cast<double>(disk_bytes));
  out.Family("meridian_log_fsync_latency_seconds", "histogram",
             "Latency of each log segment file sync (fdatasync), over every replica here.");
  out.Histogram({}, fsync, kNanosPerSecond);
}

// --node_wide_log: the node's WAL and durable-mark table (absent without it).
void RenderNodeWideLog(PrometheusText& out, const core::broker::Broker& broker) {
  const std::optional<core::broker::Broker::NodeWideLogMetrics> metrics =
      broker.node_wide_log_metrics();
  if (!metrics.has_value()) return;
  const core::log::WalMetrics& wal = metrics->wal;
  out.One("meridian_wal_records_total", "counter",
          "Records written to the node-wide log (appends, truncations, bases).", {},
          static_cast<double>(wal.records));
  out.One("meridian_wal_syncs_total", "counter",
          "Group syncs of the node-wide log: one per round, whatever the partitions.", {},
          static_cast<double>(wal.group_syncs));
  out.One("meridian_wal_checkpoints_total", "counter",
          "Checkpoints: partition logs synced so that old WAL files could be removed.", {},
          static_cast<double>(wal.checkpoints));
  out.One("meridian_wal_live_files", "gauge", "Files of the node-wide log on disk.", {},
          static_cast<double>(wal.live_files));
  out.One("meridian_mark_table_writes_total", "counter",
          "Durable-mark table images written and synced (one per round for every group).", {},
          static_cast<double>(metrics->mark_table_writes));
  out.Family("meridian_wal_sync_latency_seconds", "histogram",
             "Latency of each group sync of the node-wide log (its fdatasyncs): what every "
             "acknowledgement of a round waits for first.");
  out.Histogram({}, wal.sync_latency_ns, kNanosPerSecond);
  out.Family("meridian_mark_table_write_latency_seconds", "histogram",
             "Latency of each durable-mark table image (write and fdatasync), which follows the "
             "log's sync on every acknowledgement's path.");
  out.Histogram({}, metrics->mark_table_write_latency_ns, kNanosPerSecond);
}

// Consumer groups coordinated here (this node leads their partition of "__consumer_offsets").
// Lag is not computed here: a coordinator does not host every partition a group reads, so
// node/ops/alerts.yml records meridian:group_lag_records by joining these committed offsets
// with the leaders' meridian_partition_high_watermark (docs/operations.md).
void RenderGroups(PrometheusText& out, const core::broker::Broker& broker) {
  size_t omitted = 0;
  const std::vector<core::broker::GroupStatus> groups =
      broker.GroupStatuses(kGroupOffsetSamplesMax, &omitted);
  out.One("meridian_groups", "gauge",
          "Consumer groups coordinated here: known to the log of a __consumer_offsets partition "
          "this node leads.",
          {}, static_cast<double>(groups.size()));
  out.One("meridian_groups_live", "gauge",
          "Of those and of new ones, groups with live members or a rebalance in this node's "
          "coordinators.",
          {}, static_cast<double>(broker.LiveGroups()));
  out.One("meridian_group_rebalances_total", "counter",
          "Rebalances this node ended as a group coordinator (generations written to the log).", {},
          static_cast<double>(broker.metrics().group_rebalances_total));
  out.Family("meridian_group_generation", "gauge",
             "The group's current generation: rebalances its log has decided.");
  for (const auto& group : groups) out.Sample({{"group", group.group}}, group.generation);
  out.Family("meridian_group_members", "gauge", "Members of the group's current generation.");
  for (const auto& group : groups) out.Sample({{"group", group.group}}, group.members);
  out.Family("meridian_group_committed_offset", "gauge",
             "The offset the group resumes a partition from (its last commit).");
  for (const auto& group : groups) {
    for (const auto& [partition, offset] : group.committed) {
      out.Sample({{"group", group.group},
                  {"topic", partition.first},
                  {"partition", std::to_string(partition.second)}},
                 static_cast<double>(offset));
    }
  }
  out.One("meridian_group_committed_offsets_omitted", "gauge",
          "Committed offsets left out of meridian_group_committed_offset (over its limit of "
          "samples per scrape).",
          {}, static_cast<double>(omitted));
}

// Peer traffic by the peer's region, and (on the controller leader) peers not heard from.
void RenderPeers(PrometheusText& out, io::posix::PosixRuntime& rt,
                 const core::broker::Broker& broker, const PartitionStatus& controller) {
  const auto& nodes = broker.metadata().nodes();
  const auto region_of = [&](io::NodeId id) -> std::string {
    auto it = nodes.find(id.value());
    return it == nodes.end() ? "unknown" : it->second.region;
  };
  absl::btree_map<std::string, std::pair<uint64_t, uint64_t>> by_region;  // sent, received
  const auto& network = static_cast<io::posix::PosixNetwork&>(rt.network());
  for (const auto& [peer, traffic] : network.peer_traffic()) {
    auto& [sent, received] = by_region[region_of(peer)];
    sent += traffic.bytes_sent;
    received += traffic.bytes_received;
  }
  out.Family("meridian_peer_sent_bytes_total", "counter",
             "Peer message bytes sent, by the receiving node's region.");
  for (const auto& [region, bytes] : by_region) {
    out.Sample({{"peer_region", region}}, static_cast<double>(bytes.first));
  }
  out.Family("meridian_peer_received_bytes_total", "counter",
             "Peer message bytes received, by the sending node's region.");
  for (const auto& [region, bytes] : by_region) {
    out.Sample({{"peer_region", region}}, static_cast<double>(bytes.second));
  }
  // Only the controller leader hears from every node; elsewhere the gauges have no samples.
  out.Family("meridian_peer_unreachable", "gauge",
             "Controller leader only: 1 for a node not heard from for an election timeout.");
  if (controller.role != core::raft::Role::kLeader) return;
  for (const auto& [id, node] : nodes) {
    if (id == broker.node_id()) continue;
    const auto& unheard = controller.health.voters_unheard;
    const bool lost = std::find(unheard.begin(), unheard.end(), io::NodeId(id)) != unheard.end();
    out.Sample({{"peer_node", std::to_string(id)}, {"peer_region", node.region}}, lost ? 1 : 0);
  }
}

}  // namespace

std::string RenderMetrics(io::posix::PosixRuntime& rt, const NodeMetrics& metrics) {
  PrometheusText out;
  RenderProcess(out, rt, metrics);
  if (metrics.broker != nullptr) {
    const std::vector<PartitionStatus> statuses = metrics.broker->PartitionStatuses();
    out.One("meridian_partitions_hosted", "gauge", "Partition replicas on this node.", {},
            static_cast<double>(metrics.broker->metrics().partitions_hosted));
    RenderRequests(out, *metrics.broker);
    RenderReplicaMoves(out, metrics.broker->metrics());
    RenderPartitions(out, statuses);
    RenderReplication(out, statuses);
    RenderPeers(out, rt, *metrics.broker, statuses.front());
    RenderGroups(out, *metrics.broker);
    RenderNodeWideLog(out, *metrics.broker);
  }
  return out.text();
}

ReadinessInput ReadinessOf(const NodeMetrics& metrics) {
  ReadinessInput input;
  if (metrics.broker == nullptr) return input;
  input.broker_started = true;
  input.registered = metrics.broker->metadata().nodes().contains(metrics.broker->node_id());
  input.replicas = metrics.broker->PartitionStatuses();
  return input;
}

}  // namespace meridian::node
