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
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/broker/partition_state.h"
#include "core/cluster/metadata.h"
#include "core/raft/types.h"
#include "core/wire/client_codec.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::core::broker {

// Test-only planted bugs for the broker (each caught by a test or the simulator).
struct BrokerPlantedBugs {
  PartitionPlantedBug partition = PartitionPlantedBug::kNone;
  bool ack_before_quorum = false;  // acks=quorum answered once the leader has it on its disk.
  bool fetch_above_high_watermark = false;  // The leader serves its uncommitted tail.
  bool ack_before_fsync = false;            // Partition logs report durable when the fsync starts.
};

struct BrokerOptions {
  uint32_t node_id = 0;
  std::string region = "local";
  std::string zone = "local";
  io::Address advertised;  // The client address other nodes and clients reach this node at.
  // Voters of the metadata group (the controller quorum) and its learners (every other node,
  // so that every node has the metadata). Every node must be given the same two lists.
  std::vector<uint32_t> controller_voters;
  std::vector<uint32_t> controller_learners;
  raft::RaftOptions raft;  // Timing template for every group (id and bootstrap are set per group).
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
  uint64_t metadata_snapshot_entries = 4096;
  BrokerPlantedBugs planted;
};

struct BrokerMetrics {
  uint64_t connections_total = 0;
  uint64_t requests_total = 0;
  uint64_t request_errors_total = 0;
  uint64_t produce_requests_total = 0;
  uint64_t produce_records_total = 0;
  uint64_t fetch_requests_total = 0;
  uint64_t fetch_records_bytes_total = 0;
  uint64_t peer_messages_dropped_total = 0;
  uint64_t partitions_hosted = 0;
  uint64_t snapshots_taken_total = 0;      // Compactions (partition retention + metadata).
  uint64_t compactions_refused_total = 0;  // Raft refused (e.g. a snapshot over its limit).
};

class Broker {
 public:
  static constexpr size_t kRequestsInFlightPerConnectionMax = 256;
  static constexpr size_t kPartitionsHostedMax = 1 << 14;

  // Opens the metadata replica (recovering it from disk) and starts the broker's fibers.
  // Must be called from a fiber of `runtime`.
  static absl::StatusOr<std::unique_ptr<Broker>> Start(io::Runtime& runtime, BrokerOptions options);
  ~Broker();

  // Serves one client connection until it closes: a HelloRequest first, then pipelined
  // requests. Returns when the stream ends, fails, or sends bytes that do not decode.
  void ServeConnection(std::shared_ptr<io::Stream> stream);
  // Handles one decoded request and returns its response (same request_id). May suspend.
  wire::ClientMessageT Handle(const wire::ClientMessageT& request);
  // Stops every replica and fiber of this broker. Idempotent.
  void Stop();

  const cluster::ClusterMetadata& metadata() const;
  const BrokerMetrics& metrics() const;
  // Raft peer messages every replica on this node refused (forged or nonsensical), summed.
  uint64_t raft_messages_dropped() const;
  uint32_t node_id() const;

  struct State;  // Shared with the broker's fibers (broker.cc).

 private:
  explicit Broker(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace meridian::core::broker
