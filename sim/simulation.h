// sim::RunSimulation: one whole simulated run — scenario topology, swarm-chosen faults, the
// workload, heal, final durability audit, verdict — as a pure function of its options and seed.
// Used by the meridian-sim CLI and by the sweep tests.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "checks/history.h"
#include "core/broker/broker.h"
#include "core/client/group_consumer.h"
#include "core/raft/types.h"
#include "sim/election_faults.h"
#include "sim/nemesis.h"
#include "sim/world.h"

namespace meridian::sim {

struct SimulationOptions {
  uint64_t seed = 1;
  // "broker" (the product: sim/workloads/broker.h) or "raft" (one raft group of core/replica
  // servers judged by the raft safety observer: sim/raft_cluster.h).
  std::string workload = "broker";
  std::string scenario = "geo-3x3";  // Broker workload; the raft workload has its own layout.
  io::Duration fault_phase = std::chrono::seconds(20);
  io::Duration heal_phase = std::chrono::seconds(20);
  // 0: the seed picks 1-5 clients (part of the swarm's workload mix); the raft workload's
  // default is 2.
  uint32_t clients = 0;
  // Empty: the seed picks the fault kinds (swarm). Otherwise exactly these.
  absl::btree_set<FaultKind> only_kinds;
  // When set, this exact fault schedule instead of one the seed generates (written by hand with
  // meridian-sim --schedule, or chosen by the simulation fuzz target). It must pass
  // ExplicitScheduleError (nemesis.h) and the scenario must be a swarm one (single-region-3,
  // geo-3x3, geo-5x1) or the raft workload; only_kinds is then ignored.
  std::optional<std::vector<FaultEvent>> schedule;
  // When set, keep only these indices of the schedule (replaying a shrunk run).
  std::optional<std::vector<size_t>> keep_faults;
  core::broker::BrokerPlantedBugs broker_bugs;  // Broker workload only.
  // Raft workload: replicas of the group (1-5, spread round-robin over three regions), its
  // planted bug (the broker workload runs it in every group), the targeted election schedule
  // on top of the swarm (unset: the seed picks; the broker workload aims it at the controller's
  // group, in swarm scenarios), and damage at rest (RaftSimOptions::damage_at_rest).
  uint32_t raft_replicas = 3;
  core::raft::PlantedBug raft_bug = core::raft::PlantedBug::kNone;
  std::optional<ElectionSchedule> election_schedule;
  // Broker workload: the replication window the seed draws for the aimed group applies to the
  // metadata group too when the schedule aims there (else only to partition 0's).
  bool election_window_on_controller = false;
  // That window (0: raft's defaults, 1..64): the aimed group's (broker workload), every
  // replica's (raft workload, RaftSimOptions::replication_window). Unset: the seed draws it.
  std::optional<uint32_t> election_window;
  std::optional<bool> raft_damage_at_rest;  // RaftSimOptions::damage_at_rest (unset: 3+ replicas).
  std::optional<bool> raft_transfers;       // RaftSimOptions::transfers (unset: the seed decides).
  std::optional<bool> raft_slow_acks;       // RaftSimOptions::slow_acks (unset: the seed decides).
  std::optional<bool> raft_lease_rivals;    // RaftSimOptions::lease_rivals (unset: the seed).
  std::optional<bool> raft_membership;      // RaftSimOptions::membership (unset: the seed decides).
  // Broker workload: members of one consumer group, each on its own client node (0: none).
  uint32_t group_members = 0;
  core::client::GroupConsumerPlantedBug group_consumer_bug =
      core::client::GroupConsumerPlantedBug::kNone;
  core::client::ProducerPlantedBug producer_bug =
      core::client::ProducerPlantedBug::kNone;  // Broker workload.
  // Broker workload: partitions of the topic (0: the seed picks 1-4).
  uint32_t partitions = 0;
  // Broker workload: the topic's consistency mode. "" lets the scenario decide (the controller's
  // default, or strong for region-loss-strong); "regional" homes the voters in the clients'
  // region with one observer in each other region.
  std::string consistency;
  // Broker workload: "" or a mode ("strong", "regional", "spread") an operator moves the topic
  // to during the fault phase (`meridian topic alter --consistency`; core/cluster/
  // mode_change.h). Regional's home region is the clients'. The run fails unless the change
  // completes by the end of the audit with every partition placed by the new mode's rules.
  std::string change_consistency;
  // Broker workload, regional topics: how long the controller waits without a voter before it
  // promotes an observer (each node's data lease is a third of it). Shorter: less downtime
  // (RTO), and less time for a returning home region to make it unnecessary.
  io::Duration promotion_delay = std::chrono::seconds(3);
  // Broker workload, regional topics: how long the home region must be back before the
  // controller moves promoted partitions home (BrokerOptions::region_failback_delay; 0: never).
  // region-loss-regional fails a run whose promoted partitions are not home by its end.
  io::Duration failback_delay = std::chrono::seconds(10);
  // Whether code fault points (BUGGIFY, io::Runtime::ShouldInjectFault) may fire.
  enum class Buggify { kSeedChooses, kOn, kOff };
  Buggify buggify = Buggify::kSeedChooses;
  // Broker workload: how each server keeps its partitions durable (BrokerOptions::
  // node_wide_log): one log and one durable mark per partition, or the node-wide WAL and mark
  // table, or the seed picks (its own random stream, so other choices do not move).
  enum class Storage { kPerPartition, kNodeWide, kSeedChooses };
  Storage storage = Storage::kSeedChooses;
  // PLANTED NONDETERMINISM, for the test that proves cross-process replay checks catch it: the
  // run's seed is perturbed by the iteration order of a per-process-seeded hash set.
  bool plant_nondeterminism = false;
  // Broker workload: consumers read near the client (issue 12): each sets
  // ConsumerOptions::client_region to its node's region and fetches from a replica there.
  bool near_reads = false;
  // When non-empty, the run's history (checks/ format) is written to this file.
  std::string history_path;
};

// spike-10x (sim/workloads/spike.h): what the overload cost and what the nodes held.
struct SpikeReport {
  uint64_t produce_requests = 0;  // At the nodes, admitted or not.
  uint64_t shed = 0;              // Answered Throttled (a bound or a quota).
  double shed_fraction = 0;
  double admitted_p50_ms = 0;  // Admitted produce requests at the nodes (histogram bucket bound).
  double admitted_p99_ms = 0;
  double drain_s = 0;                // Spike end until every send invoked before it had its answer.
  uint64_t buffered_bytes_peak = 0;  // The most one node buffered, and its bound.
  uint64_t buffered_bytes_max = 0;
};

// The raft workload's own figures (sim/raft_cluster.h).
struct RaftReport {
  uint32_t replicas = 0;
  std::string bug;              // core::raft::PlantedBugName.
  std::string election_faults;  // The schedule that ran (ElectionScheduleName).
  uint32_t election_episodes = 0;
  uint64_t leaders_elected = 0;
  // RaftSimResult::elected_after_heal and elected_after_audit, in milliseconds.
  std::optional<double> elected_after_heal_ms;
  std::optional<double> elected_after_audit_ms;
  uint32_t replication_window = 0;  // RaftSimResult::replication_window (0: the defaults).
  // Transfers leaders accepted; unset when the run had no transfer operator.
  std::optional<uint64_t> transfers;
  // Configuration changes a leader appended; nullopt when the seed ran no membership operator.
  std::optional<uint64_t> membership_changes;
};

struct SimulationResult {
  uint64_t seed = 0;
  std::string scenario;
  std::string workload;
  uint32_t clients = 0;  // As chosen.
  uint32_t topics = 0;
  uint32_t partitions = 0;  // Over all topics.
  bool buggify = false;     // As chosen.
  std::string storage;      // Broker workload, as chosen: "per_partition" or "node_wide".
  double virtual_s = 0;
  uint64_t events = 0;
  uint64_t trace_hash = 0;
  absl::btree_map<std::string, uint64_t> faults;  // Fault kind -> times it fired.
  uint64_t ops_ok = 0;
  uint64_t ops_fail = 0;
  uint64_t ops_info = 0;
  std::vector<std::string> violations;  // Empty: verdict "ok".
  std::vector<FaultEvent> schedule;     // After keep_faults filtering.
  size_t schedule_generated = 0;        // Before filtering.
  absl::btree_map<std::string, uint64_t> probes;
  // Broker workload: acknowledged produce latency (invoke to ack), virtual milliseconds.
  double produce_p50_ms = 0;
  double produce_p99_ms = 0;
  std::string consistency;  // The topic's mode as placed ("strong" or "regional").
  // Region-loss scenarios: virtual seconds from the loss to the first acknowledged produce in
  // every partition (the max over partitions), and acknowledged records lost (RPO).
  std::optional<double> rto_s;
  std::optional<uint64_t> rpo_records;
  // --change_consistency: "old->new", and virtual seconds from the controller taking the
  // change to a client first seeing the topic in its new mode (absent: not seen by then).
  std::string mode_change;
  std::optional<double> mode_change_s;
  std::optional<SpikeReport> spike;  // spike-10x only.
  // region-loss-regional: promotions proposed, and the acknowledged records the log checker
  // was told the promotions discarded (the run fails if rpo_records, what the old replicas
  // reported discarding, is smaller).
  uint64_t promotions = 0;
  std::optional<uint64_t> rpo_acked_lost;
  // region-loss-regional: partitions whose live leader, at the end of the heal phase, had fewer
  // voters than the topic's replication factor (what meridian_under_replicated_partitions
  // counts): a promoted partition until its regrowth completes.
  uint64_t under_replicated = 0;
  // Broker workload: partitions whose live leader, at the end of the heal phase, was not the
  // partition's preferred leader although that one was in sync (core/broker leader_balance.cc
  // hands leadership back once it has been in sync for BrokerOptions::leader_balance_delay).
  // A violation when the heal phase is at least 10 s.
  uint64_t leaders_off_preferred = 0;
  // Broker workload: partitions that can never take a write again at the end of the heal
  // phase (no member left, or a spread topic's quorum lost for good; lost_for_good.h): not
  // asked to take writes after the heal.
  std::vector<uint32_t> partitions_lost_for_good;
  // region-loss-regional: per partition, whether the run ended (after the audit) with the
  // partition back at its replication factor and no reassignment in progress; and how many
  // reassignment steps partition leaders took in the whole run.
  std::vector<bool> replication_restored;
  // region-loss-regional: per partition, whether it ended in its topic's home region (never
  // promoted, or failed back; awaited only with automatic fail-back on).
  std::vector<bool> partitions_home;
  uint64_t reassignment_steps = 0;
  // Broker workload: what the raft safety observer (workloads/raft_safety.h) saw: leaderships
  // and applied entries, over every group.
  uint64_t raft_leaderships_seen = 0;
  uint64_t raft_applies_seen = 0;
  // Broker workload: the targeted election schedule (ElectionScheduleName; "none" in scripted
  // scenarios), the group it was aimed at ("controller" or "partition-0"; empty for none) and
  // the episodes it started.
  std::string election_faults;
  std::string election_target;
  uint32_t election_episodes = 0;
  uint32_t election_window = 0;  // The aimed group's replication window (0: raft's defaults).
  // Broker workload: record batch bytes the consumers fetched (the admin consumer, the late
  // readers and the final drain; not the group members), and of those the bytes served by a
  // node in another region than the consumer's; whether they read near the client.
  uint64_t fetch_bytes = 0;
  uint64_t fetch_bytes_cross_region = 0;
  bool near_reads = false;
  std::optional<RaftReport> raft;  // Raft workload only.
  bool ok() const { return violations.empty(); }
};

SimulationResult RunSimulation(const SimulationOptions& options,
                               const std::function<void(std::string_view)>& trace_sink = nullptr);

// The command line that reruns `options` exactly.
std::string ReproCommand(const SimulationOptions& options);
// One line of JSON (the CLI's output format; see sim/README.md).
std::string ResultJson(const SimulationResult& result, double wall_s, const std::string& repro);
std::string JsonEscape(std::string_view text);

// Delta debugging (ddmin) over the schedule of a failing run: returns the indices of a
// 1-minimal subset of its schedule that still fails. `runs` counts simulations executed.
std::vector<size_t> ShrinkSchedule(const SimulationOptions& failing, int* runs);

// ---- Pieces every workload's runner shares (simulation.cc). ----
// The schedule entries `keep` names (all of them when unset): replaying a shrunk run.
std::vector<FaultEvent> KeepScheduleEntries(const std::vector<FaultEvent>& schedule,
                                            const std::optional<std::vector<size_t>>& keep);
// Run-wide faults that configure the world itself (clock skew: offsets and drift).
void ApplyRunWideFaults(const std::vector<FaultEvent>& schedule, WorldOptions* world);
// PLANTED NONDETERMINISM (SimulationOptions::plant_nondeterminism): perturbs the world seed by
// the iteration order of a per-process-seeded hash set of `servers`.
void MaybePlantNondeterminism(const SimulationOptions& options,
                              const std::vector<io::NodeId>& servers, WorldOptions* world);
// Writes a history file (checks/ format) or crashes with the path: a tool's own output.
void WriteHistoryFile(const std::string& path, const checks::History& history);

bool ParseFaultKind(std::string_view name, FaultKind* kind);
// Raft planted bugs by core::raft::PlantedBugName (none, forget-to-persist-vote, ...).
bool ParseRaftPlantedBug(std::string_view name, core::raft::PlantedBug* bug);
// Broker planted bugs by name: ack-before-quorum, fetch-above-hwm, follower-fetch-above-hwm,
// forget-producer-state, snapshot-without-state, strong-voters-share-a-region,
// promote-without-fencing, stale-tail-served, observer-in-write-quorum, rpo-under-reported,
// reassign-voter-early, reassign-remove-first, leaders-stay-put.
bool ParseBrokerPlantedBug(std::string_view name, core::broker::BrokerPlantedBugs* bugs);
// "group-commit-ahead": the simulated group members commit one past their position.
bool ParseGroupConsumerPlantedBug(std::string_view name,
                                  core::client::GroupConsumerPlantedBug* bug);
bool ParseProducerPlantedBug(std::string_view name, core::client::ProducerPlantedBug* bug);

}  // namespace meridian::sim
