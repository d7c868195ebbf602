// Internals of the broker workload shared by its files (broker.cc: servers, producers, the
// admin consumer, the verdict; group_members.cc: consumer-group members). Not an interface.
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/broker/broker.h"
#include "core/client/client.h"
#include "core/client/group_consumer.h"
#include "sim/nemesis.h"
#include "sim/workloads/history_recorder.h"
#include "sim/workloads/raft_safety.h"
#include "sim/workloads/reassignment_checker.h"
#include "sim/world.h"

namespace meridian::sim {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr uint16_t kClientPort = 9092;
inline constexpr char kTopic[] = "events";

// What the brokers told of regional failovers (BrokerOptions::on_promotion), on the world's
// clock: when each promotion was proposed and at which offset, and what old replicas discarded.
struct PromotionLog {
  World* world = nullptr;
  std::vector<std::pair<int64_t, core::broker::PromotionEvent>> events;  // (time ns, event)
};

struct Plan {
  std::string scenario;
  // Set once the nemesis exists (before any node starts): servers hand it their fail-stops.
  Nemesis* nemesis = nullptr;
  std::vector<io::NodeId> servers;
  io::NodeId admin_consumer;  // Creates the topic, then consumes.
  std::vector<io::NodeId> producers;
  NemesisTargets targets;
  uint32_t partitions = 1;
  uint32_t replication_factor = 3;
  std::vector<io::Address> addresses;  // Servers' client addresses.
  std::vector<uint32_t> controller_voters;
  core::wire::Consistency consistency =
      core::wire::Consistency::Unspecified;     // What the topic asks for.
  std::string home_region;                      // Regional.
  io::Duration delivery_timeout = seconds(30);  // The producers'.
  // Consumer-group members (one client node each; sim/workloads/group_members.cc).
  std::vector<io::NodeId> group_members;
  core::wire::Assignor assignor = core::wire::Assignor::Range;
  core::client::GroupConsumerPlantedBug group_bug = core::client::GroupConsumerPlantedBug::kNone;
  core::client::ProducerPlantedBug producer_bug = core::client::ProducerPlantedBug::kNone;
  core::raft::PlantedBug raft_bug = core::raft::PlantedBug::kNone;  // Every group's raft.
  bool spike = false;  // spike-10x (sim/workloads/spike.h): bounds, a spike, no faults.
  io::Duration promotion_delay = seconds(3);
  io::Duration failback_delay = seconds(10);  // BrokerOptions::region_failback_delay.
  // BrokerOptions::replica_replacement_delay: node-loss's 5 s; zero (off) in every other run,
  // as is balancing (a node's defaults, minutes, are longer than any run).
  io::Duration replica_replacement_delay = seconds(0);
  size_t home_region_index = 0;  // In targets.regions (regional topics).
  PromotionLog* promotions = nullptr;
  ReassignmentLog* reassignments = nullptr;    // Every reassignment step the leaders took.
  RaftSafetyObservers* raft_safety = nullptr;  // Every raft group's safety (raft_safety.h).
  bool near_reads = false;  // Consumers fetch from a replica in their own region.
  // --change_consistency: the mode an operator moves the topic to (Unspecified: none), its home
  // region (regional: the clients'), and when it asks (from the start of the run).
  core::wire::Consistency change_to = core::wire::Consistency::Unspecified;
  std::string change_home_region;
  io::Duration change_after = seconds(0);
  // The replication window (raft append_entries_max = inflight_messages_max) of the group an
  // election schedule aims at (0: raft's defaults): one entry per append with one append in
  // flight is what exposes commit rules that batching hides (sim/raft_cluster.cc draws the same
  // for its groups). Only that group: the others keep the timing the witnesses rely on.
  uint32_t targeted_window = 0;
  bool targeted_window_on_controller = false;  // Else on the topic's partition 0.
  bool node_wide_log = false;                  // BrokerOptions::node_wide_log on every server.
  uint64_t wal_direct_round_bytes = 64 << 10;  // BrokerOptions::wal_direct_round_bytes.
};

inline core::client::ClientOptions ClientOptionsFor(const Plan& plan, std::string id) {
  core::client::ClientOptions options;
  options.bootstrap = plan.addresses;
  options.client_id = std::move(id);
  options.request_timeout = seconds(3);
  return options;
}

// The workload's shared state: the recorder, and when the clients must stop.
struct Run {
  World& world;
  HistoryRecorder recorder;
  const Plan& plan;
  io::Instant stop_producing;
  bool topic_ready = false;
  std::string create_topic_error;  // The admin's last failed CreateTopic, for the verdict.
  io::Instant drain_started = io::Instant::Infinite();
  bool drain_done = false;
  uint64_t send_ok_after_heal = 0;
  // Partition -> sends to it acknowledged after the heal: every partition must take writes
  // again, not just some (a partition whose group never elects again shows only here).
  absl::btree_map<uint32_t, uint64_t> sends_ok_after_heal;
  // Partition -> sends to it begun in the heal phase (after the heal, before producing stops).
  absl::btree_map<uint32_t, uint64_t> sends_begun_after_heal;
  // Partitions that can never take a write again at the end of the heal phase, because of
  // servers the nemesis lost for good (PartitionsLostForGood, lost_for_good.h).
  absl::btree_set<uint32_t> partitions_lost_for_good;
  int producer_processes_running = 0;  // The drain starts once none is left.
  int64_t producers_created = 0;       // History ids of producers (producer-order).
  io::Instant healed_at;
  io::Instant spike_start = io::Instant::Infinite();  // spike-10x: the 10x window.
  io::Instant spike_end = io::Instant::Infinite();
  // Windows of the fault phase in which no producer sends, long enough for the partition
  // groups to quiesce, so the nemesis also meets sleeping groups (QuietWindows).
  std::vector<std::pair<io::Instant, io::Instant>> quiet_windows;
  core::wire::Consistency consistency =
      core::wire::Consistency::Unspecified;  // As the controller placed it.
  // --change_consistency: when the controller took the change, when a client first saw the
  // topic in its new mode, and the operator's last refusal (for the verdict).
  io::Instant mode_change_at = io::Instant::Infinite();
  io::Instant mode_change_accepted = io::Instant::Infinite();
  io::Instant mode_change_seen = io::Instant::Infinite();
  std::string mode_change_error;
  // History processes of group members -> the member (one per GroupConsumer life).
  absl::btree_map<int64_t, int64_t> group_processes;
  int64_t group_members_started = 0;
  // Record batch bytes the consumers fetched, and those served from another region.
  uint64_t fetch_bytes = 0;
  uint64_t fetch_bytes_cross_region = 0;
};

// Client outcomes worth reading when replaying a seed go into the trace (--trace).
inline void TraceOp(Run& run, io::Runtime& rt, const std::string& text) {
  if (run.world.tracing()) run.world.Trace(rt.node(), text);
}

// Adds what `consumer` fetched to the run's totals, and what crossed regions to get to it
// (`region`: the consumer's).
void CountFetchedBytes(Run& run, const core::client::Consumer& consumer, const std::string& region);

// A group member's node: joins the workload's group, polls, commits now and then, sometimes
// leaves and joins again as a new member; every assign, poll and commit goes in the history.
void RunGroupMemberNode(io::Runtime& rt, Run& run);

// The group checker's findings (and the group's own liveness), as violations.
std::vector<std::string> JudgeGroup(const Run& run, const checks::History& history);

}  // namespace meridian::sim
