// meridian-sim: run, sweep, trace and shrink deterministic simulations.
//
//   meridian-sim --seed=N [--scenario=geo-3x3] [--duration=20] [--heal=20] [--trace=FILE]
//   meridian-sim --seeds=A..B            one JSON line per failing seed, then a summary line
//   meridian-sim --seed=N --shrink       smallest failing subset of the seed's fault schedule
//   meridian-sim --seed=N --faults=1,4   replay the seed with only those schedule entries
//   meridian-sim --seed=N --kinds=crash,drop   only these fault kinds (no swarm choice)
//   meridian-sim --seed=N --bug=ack-before-quorum   plant a known bug in the broker
//   meridian-sim --workload=raft --seeds=1..100 --bug=forget-to-persist-vote   one raft group
// Every workload runs behind the same runner (sim/simulation.h RunSimulation): the same seeds,
// sweeps, shrinking, traces and JSON line.
// Exit status: 0 when every run is valid, 1 when any fails (its repro line is printed), 2 for
// bad usage.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "io/assert.h"
#include "io/command_line.h"
#include "io/fatal_context.h"
#include "sim/raft_cluster.h"
#include "sim/simulation.h"
#include "sim/topology.h"
#include "sim/workloads/broker.h"

ABSL_FLAG(std::string, seed, "", "Run one seed.");
ABSL_FLAG(std::string, seeds, "", "Run a sweep of seeds A..B (inclusive).");
ABSL_FLAG(std::string, scenario, "",
          "Broker workload (empty: geo-3x3): single-region-3, geo-3x3, geo-5x1, region-loss-strong "
          "(geo-3x3, a strong topic, "
          "and one scripted region loss: measures RTO and RPO), region-loss-regional "
          "(geo-3x3, a regional topic whose home region is lost or cut off: promotion, "
          "fencing, RPO and RTO), or spike-10x (single-region-3 with bounded nodes, no faults, "
          "producers at 10x for a minute; fixed phases, --duration and --heal are ignored), "
          "zone-loss, node-churn, region-flap or node-loss (geo-3x3, scripted churn only: one "
          "zone lost, servers crashing one after another, a region dropping and returning, one "
          "server lost for good and its copies replaced by the controller).");
ABSL_FLAG(std::string, workload, "broker",
          "broker (brokers, core/client producers and a consumer, judged by the log checker) "
          "or raft (one raft group of core/replica servers under the nemesis, judged by the "
          "raft safety observer; 2 clients unless --clients says; //tests:raft_cluster_test "
          "runs it with --duration=30 --heal=30).");
ABSL_FLAG(uint32_t, replicas, 3, "Raft workload: replicas of the group (1-5).");
ABSL_FLAG(
    std::string, election_faults, "seed",
    "Targeted election schedule on top of the swarm (sim/election_faults.h): seed (the "
    "seed picks vote_restart or figure8), none, vote_restart, figure8. Raft workload: "
    "aimed at its group; broker workload: at the controller's group or partition 0's (the seed "
    "picks; swarm scenarios only: the scripted ones run none).");
ABSL_FLAG(bool, election_window_on_controller, false,
          "Broker workload: when the election schedule aims at the controller's group, give it "
          "the seed's replication window too (by default only partition 0's group gets one).");
ABSL_FLAG(std::string, election_window, "seed",
          "The replication window (raft append_entries_max and inflight_messages_max): of the "
          "group the election schedule aims at (broker workload), of every replica (raft "
          "workload). seed (the seed draws 0, 1 or 4), or a number in 0..64 (0: raft's "
          "defaults).");
ABSL_FLAG(std::string, transfers, "seed",
          "Raft workload: leadership transfers requested by an operator during the fault phase "
          "(seed: half of the seeds, on, off)");
ABSL_FLAG(std::string, slow_acks, "seed",
          "Raft workload: the leader's acknowledgements slowed, then the leader muted "
          "(sim/leader_faults.h; seed: half of the seeds, on, off)");
ABSL_FLAG(std::string, lease_rivals, "seed",
          "Raft workload: a rival's campaign replies reach a follower inside the lease it just "
          "renewed (sim/leader_faults.h; seed: half of the seeds, on, off)");
ABSL_FLAG(std::string, membership, "seed",
          "Raft workload: a spare server and an operator changing the configuration one server "
          "at a time during the fault phase (seed: half of the seeds, on, off)");
ABSL_FLAG(bool, damage_at_rest, false,
          "Raft workload: half of the seeds stop replicas in turn, flip a bit of their synced log "
          "at rest and restart them; voters crashed by vote_restart may lose their hard state. "
          "Not given: on with 3 replicas or more; --damage_at_rest=false turns it off.");
ABSL_FLAG(uint32_t, partitions, 0,
          "Broker workload: partitions of the topic (0: the seed picks 1-4).");
ABSL_FLAG(std::string, consistency, "",
          "Broker workload: the topic's mode, strong or regional (voters in the clients' region, "
          "one observer in each other region). Empty: the scenario decides.");
ABSL_FLAG(int64_t, promotion_delay_ms, 3000,
          "Broker workload, regional topics: the controller promotes an observer after this long "
          "without a voter (at least 2000; each node's data lease is a third of it).");
ABSL_FLAG(int64_t, failback_delay_ms, 10000,
          "Broker workload, regional topics: the controller moves promoted partitions home once "
          "their home region has been back this long (0: never; otherwise at least 5000).");
ABSL_FLAG(int64_t, duration, 20, "Fault phase, in virtual seconds.");
ABSL_FLAG(int64_t, heal, 20, "Heal phase after the faults, in virtual seconds.");
ABSL_FLAG(uint32_t, clients, 0, "Client nodes (0: the seed picks 1-5).");
ABSL_FLAG(uint32_t, group_members, 0,
          "Broker workload: consumer-group members, one client node each, judged by the group "
          "checker too (0: none).");
ABSL_FLAG(std::string, change_consistency, "",
          "Broker workload: an operator moves the topic to this mode (strong, regional or "
          "spread) during the fault phase; the run fails unless the change completes with "
          "every partition placed by the new mode's rules (core/cluster/mode_change.h).");
ABSL_FLAG(bool, near_reads, false,
          "Broker workload: consumers read near the client (each fetches from a replica in its "
          "own region); the summary's fetch_bytes.cross_region shows what crossed regions.");
ABSL_FLAG(std::string, trace, "", "Write the full event trace of --seed to this file.");
ABSL_FLAG(std::string, history, "",
          "Write --seed's history (checks/ format) to this file, for meridian-check.");
ABSL_FLAG(bool, shrink, false, "Shrink the failing --seed's fault schedule.");
ABSL_FLAG(std::string, faults, "", "Keep only these schedule indices (comma-separated, or none).");
ABSL_FLAG(std::string, kinds, "", "Only these fault kinds (comma-separated names).");
ABSL_FLAG(std::string, schedule, "",
          "This exact fault schedule instead of the seed's: events in the trace's form, joined "
          "by ';', e.g. 'crash@2s(target=4,length=1500ms,rate_ppm=0);drop@0s(target=1,"
          "length=20s,rate_ppm=20000)'. Swarm scenarios and the raft workload only; it must "
          "stay inside the generator's envelope (sim/README.md).");
ABSL_FLAG(
    std::string, bug, "none",
    "Planted bug. Broker workload: ack-before-quorum, fetch-above-hwm, "
    "follower-fetch-above-hwm (with --near_reads), forget-producer-state, "
    "snapshot-without-state, strong-voters-share-a-region, memory-bound-ignored (spike-10x), "
    "promote-without-fencing, stale-tail-served, observer-in-write-quorum, rpo-under-reported, "
    "reassign-voter-early, reassign-remove-first (region-loss-regional), leaders-stay-put, "
    "mode-change-plans-old-mode (with --change_consistency), replacement-keeps-lost-copies "
    "(with --scenario=node-loss), failback-forgotten (region-loss-regional), "
    "client-key-hash, client-restamp-alone, quiesced-follower-ignores-leader-loss; with "
    "--group_members: zombie-commit-accepted, assign-one-partition-twice, group-commit-ahead, "
    "offsets-snapshot-without-groups; ack-before-fsync, skip-crc (partition logs). Raft "
    "workload: the names of core::raft::PlantedBug "
    "(forget-to-persist-vote, commit-older-term-by-counting, vote-without-log-check, ...).");
ABSL_FLAG(std::string, buggify, "seed",
          "Code fault points (BUGGIFY): seed (the seed picks), on, off.");
ABSL_FLAG(std::string, storage, "seed",
          "Broker workload: node_wide (every partition of a server writes through one WAL and one "
          "durable-mark table: meridian-node's default), per_partition (a log and a durable mark "
          "per partition: --node_wide_log=false), or seed (the seed picks one of them).");
ABSL_FLAG(std::string, plant_crash, "",
          "Test only: N:assert or N:segv makes seed N die that way as it starts (a failed "
          "MERIDIAN_CHECK or SIGSEGV), to show that a dying seed still names its replay command.");
ABSL_FLAG(bool, plant_nondeterminism, false,
          "Test only: perturb the run by a per-process hash order (must break replay).");

namespace meridian::sim {
namespace {

double WallSecondsSince(std::chrono::steady_clock::time_point start) {  // determinism: report
  const auto now = std::chrono::steady_clock::now();  // determinism: wall-time report only
  return std::chrono::duration<double>(now - start).count();
}

bool ParseU64(const std::string& text, uint64_t* value) { return absl::SimpleAtoi(text, value); }

// --plant_crash, parsed by Main: the seed that dies, and how.
struct PlantedCrash {
  enum class Kind { kNone, kAssert, kSegv };
  Kind kind = Kind::kNone;
  uint64_t seed = 0;
};
PlantedCrash planted_crash;

// Parses --plant_crash; false for a bad value.
bool ParsePlantedCrash(const std::string& text) {
  if (text.empty()) return true;
  const size_t colon = text.find(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(0, colon), &planted_crash.seed))
    return false;
  const std::string kind = text.substr(colon + 1);
  if (kind != "assert" && kind != "segv") return false;
  planted_crash.kind = kind == "assert" ? PlantedCrash::Kind::kAssert : PlantedCrash::Kind::kSegv;
  return true;
}

// Called once a seed's io::FatalContext is set, before the seed runs.
void MaybeCrashAsPlanted(uint64_t seed) {
  if (planted_crash.kind == PlantedCrash::Kind::kNone || seed != planted_crash.seed) return;
  if (planted_crash.kind == PlantedCrash::Kind::kSegv) std::raise(SIGSEGV);
  MERIDIAN_CHECK(planted_crash.kind != PlantedCrash::Kind::kAssert, "--plant_crash at seed {}",
                 seed);
}

// What a seed that dies inside a node (a failed MERIDIAN_CHECK, a fatal signal) prints on its
// way down, so that even a sweep that never reaches its summary names the seed to replay.
std::string DyingLine(uint64_t seed, const std::string& repro) {
  return fmt::format("seed {}; reproduce with: {}", seed, repro);
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    if (comma > begin) parts.push_back(text.substr(begin, comma - begin));
    begin = comma + 1;
  }
  return parts;
}

// --consistency and --change_consistency (broker workload); an error message or "".
std::string ConsistencyFromFlags(SimulationOptions* options) {
  options->consistency = absl::GetFlag(FLAGS_consistency);
  if (options->consistency != "" && options->consistency != "strong" &&
      options->consistency != "regional") {
    return "--consistency must be strong or regional";
  }
  if (options->consistency == "regional" && options->scenario == "region-loss-strong") {
    return "--scenario=region-loss-strong is for strong topics";
  }
  options->change_consistency = absl::GetFlag(FLAGS_change_consistency);
  if (!options->change_consistency.empty()) {
    if (options->change_consistency != "strong" && options->change_consistency != "regional" &&
        options->change_consistency != "spread") {
      return "--change_consistency must be strong, regional or spread";
    }
    if (options->change_consistency == options->consistency) {
      return "--change_consistency must differ from --consistency";
    }
    if (options->scenario.starts_with("region-loss") || options->scenario == "spike-10x") {
      return "--change_consistency is for the swarm scenarios (the region-loss and spike "
             "scenarios judge one mode)";
    }
  }
  return "";
}

// The regional failover's flags (after --scenario and --consistency); an error message or "".
std::string RegionalOptionsFromFlags(SimulationOptions* options) {
  if (options->consistency == "strong" && options->scenario == "region-loss-regional") {
    return "--scenario=region-loss-regional is for regional topics";
  }
  if (absl::GetFlag(FLAGS_promotion_delay_ms) < 2000 ||
      absl::GetFlag(FLAGS_promotion_delay_ms) > 600'000) {
    return "--promotion_delay_ms must be 2000 to 600000";
  }
  options->promotion_delay = std::chrono::milliseconds(absl::GetFlag(FLAGS_promotion_delay_ms));
  const int64_t failback_ms = absl::GetFlag(FLAGS_failback_delay_ms);
  if (failback_ms != 0 && (failback_ms < 5000 || failback_ms > 600'000)) {
    return "--failback_delay_ms must be 0 (never) or 5000 to 600000";
  }
  options->failback_delay = std::chrono::milliseconds(failback_ms);
  return "";
}

// --bug (and --group_members, which the group bugs need) into options; an error message.
std::string BugFromFlags(SimulationOptions* options) {
  const std::string bug = absl::GetFlag(FLAGS_bug);
  if (options->workload == "raft") {
    if (!ParseRaftPlantedBug(bug, &options->raft_bug)) {
      return "unknown --bug " + bug + " for the raft workload (core::raft::PlantedBug names)";
    }
    return "";
  }
  if (bug != "none" && !ParseBrokerPlantedBug(bug, &options->broker_bugs) &&
      !ParseGroupConsumerPlantedBug(bug, &options->group_consumer_bug) &&
      !ParseProducerPlantedBug(bug, &options->producer_bug) &&
      !ParseRaftPlantedBug(bug, &options->raft_bug)) {
    return "unknown --bug " + bug +
           " for the broker workload (ack-before-quorum, ack-before-fsync, skip-crc, "
           "fetch-above-hwm, follower-fetch-above-hwm, "
           "forget-producer-state, snapshot-without-state, strong-voters-share-a-region, "
           "zombie-commit-accepted, assign-one-partition-twice, group-commit-ahead, "
           "offsets-snapshot-without-groups, "
           "memory-bound-ignored, promote-without-fencing, stale-tail-served, "
           "observer-in-write-quorum, rpo-under-reported, reassign-voter-early, "
           "reassign-remove-first, leaders-stay-put, mode-change-plans-old-mode, "
           "replacement-keeps-lost-copies, failback-forgotten, client-key-hash, "
           "client-restamp-alone, "
           "quiesced-follower-ignores-leader-loss, or a core::raft::PlantedBug name)";
  }
  options->group_members = absl::GetFlag(FLAGS_group_members);
  options->near_reads = absl::GetFlag(FLAGS_near_reads);
  return "";
}

// "seed" (unset: the seed decides), "on" or "off"; false for anything else.
bool ParseSeedOnOff(const std::string& text, std::optional<bool>* value) {
  if (text == "seed") {
    value->reset();
  } else if (text == "on" || text == "off") {
    *value = text == "on";
  } else {
    return false;
  }
  return true;
}

// The raft workload's flags, and the broker-only flags it refuses; an error message or "".
std::string RaftOptionsFromFlags(SimulationOptions* options) {
  if (!absl::GetFlag(FLAGS_scenario).empty()) {
    return "--scenario is for the broker workload (the raft workload places --replicas "
           "round-robin over us-east, eu-west and ap-south)";
  }
  if (options->partitions != 0 || !options->consistency.empty() ||
      absl::GetFlag(FLAGS_group_members) != 0 || absl::GetFlag(FLAGS_near_reads) ||
      !absl::GetFlag(FLAGS_change_consistency).empty() ||
      options->buggify != SimulationOptions::Buggify::kSeedChooses ||
      options->plant_nondeterminism || !absl::GetFlag(FLAGS_history).empty()) {
    return "--partitions, --consistency, --change_consistency, --group_members, --near_reads, "
           "--buggify, "
           "--plant_nondeterminism and --history are for the broker workload";
  }
  options->raft_replicas = absl::GetFlag(FLAGS_replicas);
  if (options->raft_replicas < 1 || options->raft_replicas > 5) return "--replicas must be 1 to 5";
  if (io::FlagGivenOnCommandLine("damage_at_rest"))
    options->raft_damage_at_rest = absl::GetFlag(FLAGS_damage_at_rest);
  if (options->raft_damage_at_rest.value_or(false) &&
      options->raft_replicas < kDamageAtRestReplicasMin) {
    return fmt::format(
        "--damage_at_rest needs --replicas of {} or more: a damaged replica "
        "repairs from its peers",
        kDamageAtRestReplicasMin);
  }
  if (!ParseSeedOnOff(absl::GetFlag(FLAGS_transfers), &options->raft_transfers)) {
    return "--transfers must be seed, on or off";
  }
  if (!ParseSeedOnOff(absl::GetFlag(FLAGS_slow_acks), &options->raft_slow_acks)) {
    return "--slow_acks must be seed, on or off";
  }
  if (!ParseSeedOnOff(absl::GetFlag(FLAGS_lease_rivals), &options->raft_lease_rivals)) {
    return "--lease_rivals must be seed, on or off";
  }
  if (!ParseSeedOnOff(absl::GetFlag(FLAGS_membership), &options->raft_membership)) {
    return "--membership must be seed, on or off";
  }
  return "";
}

// --election_faults (both workloads) into options; an error message or "".
std::string ElectionFaultsFromFlags(SimulationOptions* options) {
  const std::string election = absl::GetFlag(FLAGS_election_faults);
  ElectionSchedule schedule;
  if (election == "seed") {
    options->election_schedule.reset();
  } else if (ParseElectionSchedule(election, &schedule)) {
    options->election_schedule = schedule;
  } else {
    return "--election_faults must be seed, none, vote_restart or figure8";
  }
  options->election_window_on_controller = absl::GetFlag(FLAGS_election_window_on_controller);
  if (options->election_window_on_controller && options->workload == "raft") {
    return "--election_window_on_controller is for the broker workload (the raft workload has "
           "one group: --election_window sets its window)";
  }
  const std::string window = absl::GetFlag(FLAGS_election_window);
  uint32_t entries = 0;
  if (window == "seed") {
    options->election_window.reset();
  } else if (absl::SimpleAtoi(window, &entries) && entries <= 64) {
    options->election_window = entries;
  } else {
    return "--election_window must be seed or a number in 0..64";
  }
  if (options->workload != "raft" && options->election_window.has_value() &&
      options->election_schedule == ElectionSchedule::kNone) {
    return "--election_window sets the window of the group the election schedule aims at: "
           "--election_faults=none aims at none";
  }
  return "";
}

// --schedule into options (after --scenario, --workload, --replicas and --duration); an error
// message or "".
std::string ScheduleFromFlags(SimulationOptions* options) {
  const std::string text = absl::GetFlag(FLAGS_schedule);
  if (text.empty()) return "";
  std::vector<FaultEvent> schedule;
  if (!ParseSchedule(text, &schedule)) {
    return "--schedule: events are kind@AT(target=N,length=L,rate_ppm=R) joined by ';'";
  }
  size_t regions = std::min<size_t>(options->raft_replicas, 3);  // The raft workload's voters.
  if (options->workload == "broker") {
    Topology probe;
    int servers = 0;
    if (!MakeScenarioTopology(options->scenario, 0, &probe, &servers) ||
        (options->scenario != "single-region-3" && options->scenario != "geo-3x3" &&
         options->scenario != "geo-5x1")) {
      return "--schedule is for the swarm scenarios (single-region-3, geo-3x3, geo-5x1) and "
             "the raft workload";
    }
    absl::btree_set<std::string> names;
    for (int i = 1; i <= servers; i++) names.insert(probe.location(io::NodeId(i)).region);
    regions = names.size();
  }
  const ScheduleEnvelope envelope{
      .kinds = options->workload == "raft" ? &RaftSimFaultKinds() : &BrokerFaultKinds(),
      .fault_phase = options->fault_phase,
      .regions = regions,
      .slow_fsync_ppm_max =
          kDiskRatePpmMax * (options->workload == "raft" ? kRaftSlowFsyncScale : 1)};
  if (std::string error = ExplicitScheduleError(schedule, envelope); !error.empty()) {
    return "--schedule: " + error;
  }
  options->schedule = std::move(schedule);
  return "";
}

// Reads every flag but --seed/--seeds into options; an error message for bad values.
// --storage: how the broker workload's servers keep partitions durable.
std::string StorageFromFlags(SimulationOptions* options) {
  const std::string storage = absl::GetFlag(FLAGS_storage);
  if (storage == "per_partition") {
    options->storage = SimulationOptions::Storage::kPerPartition;
  } else if (storage == "node_wide") {
    options->storage = SimulationOptions::Storage::kNodeWide;
  } else if (storage == "seed") {
    options->storage = SimulationOptions::Storage::kSeedChooses;
  } else {
    return "--storage must be per_partition, node_wide or seed";
  }
  if (options->workload == "raft" && storage == "node_wide") {
    return "--storage is for the broker workload";
  }
  return "";
}

std::string OptionsFromFlags(SimulationOptions* options) {
  if (!absl::GetFlag(FLAGS_scenario).empty()) options->scenario = absl::GetFlag(FLAGS_scenario);
  if (absl::GetFlag(FLAGS_duration) <= 0 || absl::GetFlag(FLAGS_heal) <= 0) {
    return "--duration and --heal must be positive";
  }
  options->fault_phase = std::chrono::seconds(absl::GetFlag(FLAGS_duration));
  options->heal_phase = std::chrono::seconds(absl::GetFlag(FLAGS_heal));
  options->clients = absl::GetFlag(FLAGS_clients);
  options->workload = absl::GetFlag(FLAGS_workload);
  if (options->workload != "broker" && options->workload != "raft") {
    return "--workload must be broker or raft";
  }
  options->partitions = absl::GetFlag(FLAGS_partitions);
  if (options->partitions > 64) return "--partitions must be at most 64";
  if (std::string error = ConsistencyFromFlags(options); !error.empty()) return error;
  if (std::string error = RegionalOptionsFromFlags(options); !error.empty()) return error;
  if (options->clients > 16) return "--clients must be at most 16";
  const std::string buggify = absl::GetFlag(FLAGS_buggify);
  if (buggify == "seed") {
    options->buggify = SimulationOptions::Buggify::kSeedChooses;
  } else if (buggify == "on" || buggify == "off") {
    options->buggify =
        buggify == "on" ? SimulationOptions::Buggify::kOn : SimulationOptions::Buggify::kOff;
  } else {
    return "--buggify must be seed, on or off";
  }
  options->plant_nondeterminism = absl::GetFlag(FLAGS_plant_nondeterminism);
  if (std::string error = StorageFromFlags(options); !error.empty()) return error;
  if (options->workload == "raft") {
    if (std::string error = RaftOptionsFromFlags(options); !error.empty()) return error;
  } else if (absl::GetFlag(FLAGS_replicas) != 3 || io::FlagGivenOnCommandLine("damage_at_rest") ||
             absl::GetFlag(FLAGS_transfers) != "seed" || absl::GetFlag(FLAGS_slow_acks) != "seed" ||
             absl::GetFlag(FLAGS_lease_rivals) != "seed" ||
             absl::GetFlag(FLAGS_membership) != "seed") {
    return "--replicas, --damage_at_rest, --transfers, --slow_acks, --lease_rivals and "
           "--membership are for the raft workload";
  }
  if (std::string error = ElectionFaultsFromFlags(options); !error.empty()) return error;
  if (std::string error = BugFromFlags(options); !error.empty()) return error;
  for (const std::string& name : SplitCommas(absl::GetFlag(FLAGS_kinds))) {
    FaultKind kind;
    if (!ParseFaultKind(name, &kind)) return "unknown fault kind in --kinds: " + name;
    options->only_kinds.insert(kind);
  }
  if (std::string error = ScheduleFromFlags(options); !error.empty()) return error;
  const std::string faults = absl::GetFlag(FLAGS_faults);
  if (!faults.empty()) {
    options->keep_faults.emplace();
    for (const std::string& part :
         faults == "none" ? std::vector<std::string>{} : SplitCommas(faults)) {
      uint64_t index = 0;
      if (!ParseU64(part, &index)) return "bad index in --faults: " + part;
      options->keep_faults->push_back(index);
    }
  }
  Topology probe;
  int servers = 0;
  if (!MakeScenarioTopology(options->scenario, 0, &probe, &servers)) {
    return "unknown --scenario " + options->scenario +
           " (single-region-3, geo-3x3, geo-5x1, region-loss-strong, region-loss-regional, "
           "spike-10x, zone-loss, node-churn, region-flap, node-loss)";
  }
  return "";
}

int RunOne(SimulationOptions options) {
  const auto start = std::chrono::steady_clock::now();  // determinism: wall-time report only
  std::ofstream trace_file;
  std::function<void(std::string_view)> sink;
  if (!absl::GetFlag(FLAGS_trace).empty()) {
    trace_file.open(absl::GetFlag(FLAGS_trace));
    if (!trace_file) {
      fmt::print(stderr, "meridian-sim: cannot write {}\n", absl::GetFlag(FLAGS_trace));
      return 2;
    }
    sink = [&trace_file](std::string_view line) { trace_file << line << '\n'; };
  }
  options.history_path = absl::GetFlag(FLAGS_history);
  const io::FatalContext context(DyingLine(options.seed, ReproCommand(options)));
  MaybeCrashAsPlanted(options.seed);
  const SimulationResult result = RunSimulation(options, sink);
  if (trace_file.is_open()) {
    for (size_t i = 0; i < result.schedule.size(); i++) {
      trace_file << "schedule[" << i << "] " << result.schedule[i].ToString() << '\n';
    }
  }
  fmt::print("{}\n", ResultJson(result, WallSecondsSince(start), ReproCommand(options)));
  if (!result.ok()) fmt::print(stderr, "FAILED: reproduce with: {}\n", ReproCommand(options));
  return result.ok() ? 0 : 1;
}

int Shrink(SimulationOptions options) {
  int runs = 0;
  const io::FatalContext context(DyingLine(options.seed, ReproCommand(options)));
  MaybeCrashAsPlanted(options.seed);
  const std::vector<size_t> minimal = ShrinkSchedule(options, &runs);
  options.keep_faults = minimal;
  const SimulationResult result = RunSimulation(options);
  fmt::print("shrunk seed {} to {} of {} scheduled faults in {} runs:\n", options.seed,
             minimal.size(), result.schedule_generated, runs);
  for (const FaultEvent& event : result.schedule) fmt::print("  {}\n", event.ToString());
  fmt::print("verdict: {}\nreplay: {}\n", result.ok() ? "ok" : result.violations.front(),
             ReproCommand(options));
  return result.ok() ? 0 : 1;
}

// Distributions over a sweep's runs of what the broker workload measures (SimulationResult):
// produce latency per run, and RTO/RPO for region-loss scenarios.
struct GeoSummary {
  std::vector<double> p50_ms, p99_ms, rto_s, rpo;
  uint64_t rpo_total = 0, rpo_max = 0, rpo_runs = 0;
  std::vector<double> shed_fraction, admitted_p50_ms, admitted_p99_ms, drain_s;
  uint64_t peak_bytes_max = 0, bound_bytes = 0;
  uint64_t promotions = 0, promoted_runs = 0, acked_lost_total = 0;
  uint64_t fetch_bytes = 0, fetch_bytes_cross_region = 0;  // Summed over the runs.

  void Add(const SimulationResult& result) {
    if (result.consistency.empty()) return;
    p50_ms.push_back(result.produce_p50_ms);
    p99_ms.push_back(result.produce_p99_ms);
    if (result.rto_s.has_value()) rto_s.push_back(*result.rto_s);
    if (const std::optional<SpikeReport>& spike = result.spike; spike.has_value()) {
      shed_fraction.push_back(spike->shed_fraction);
      admitted_p50_ms.push_back(spike->admitted_p50_ms);
      admitted_p99_ms.push_back(spike->admitted_p99_ms);
      drain_s.push_back(spike->drain_s);
      peak_bytes_max = std::max(peak_bytes_max, spike->buffered_bytes_peak);
      bound_bytes = std::max(bound_bytes, spike->buffered_bytes_max);
    }
    if (result.rpo_records.has_value()) {
      rpo_runs++;
      rpo_total += *result.rpo_records;
      rpo_max = std::max(rpo_max, *result.rpo_records);
      rpo.push_back(static_cast<double>(*result.rpo_records));
    }
    promotions += result.promotions;
    promoted_runs += result.promotions > 0;
    if (result.rpo_acked_lost.has_value()) acked_lost_total += *result.rpo_acked_lost;
    fetch_bytes += result.fetch_bytes;
    fetch_bytes_cross_region += result.fetch_bytes_cross_region;
  }
  static double Quantile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(q * values.size()))];
  }
  // JSON members with a trailing comma; empty when nothing was measured.
  std::string Json() const {
    if (p50_ms.empty()) return "";
    std::string out = fmt::format(
        "\"produce_ms\":{{\"p50_median\":{:.1f},\"p99_median\":{:.1f},\"p99_max\":{:.1f}}},",
        Quantile(p50_ms, 0.5), Quantile(p99_ms, 0.5), Quantile(p99_ms, 1.0));
    if (!rto_s.empty()) {
      out += fmt::format("\"rto_s\":{{\"runs\":{},\"p50\":{:.3f},\"p99\":{:.3f},\"max\":{:.3f}}},",
                         rto_s.size(), Quantile(rto_s, 0.5), Quantile(rto_s, 0.99),
                         Quantile(rto_s, 1.0));
    }
    if (!drain_s.empty()) {
      out += fmt::format(
          "\"spike\":{{\"runs\":{},\"shed_fraction\":{{\"median\":{:.4f},\"max\":{:.4f}}},"
          "\"admitted_p50_ms\":{{\"median\":{:.1f}}},"
          "\"admitted_p99_ms\":{{\"median\":{:.1f},\"max\":{:.1f}}},"
          "\"drain_s\":{{\"median\":{:.3f},\"max\":{:.3f}}},"
          "\"buffered_bytes_peak_max\":{},\"buffered_bytes_bound\":{}}},",
          drain_s.size(), Quantile(shed_fraction, 0.5), Quantile(shed_fraction, 1.0),
          Quantile(admitted_p50_ms, 0.5), Quantile(admitted_p99_ms, 0.5),
          Quantile(admitted_p99_ms, 1.0), Quantile(drain_s, 0.5), Quantile(drain_s, 1.0),
          peak_bytes_max, bound_bytes);
    }
    if (rpo_runs > 0) {
      out += fmt::format(
          "\"rpo_records\":{{\"runs\":{},\"total\":{},\"p50\":{:.0f},\"p99\":{:.0f},"
          "\"max\":{}}},",
          rpo_runs, rpo_total, Quantile(rpo, 0.5), Quantile(rpo, 0.99), rpo_max);
    }
    if (promoted_runs > 0) {
      out += fmt::format("\"promotions\":{{\"runs\":{},\"total\":{},\"acked_lost\":{}}},",
                         promoted_runs, promotions, acked_lost_total);
    }
    out += fmt::format("\"fetch_bytes\":{{\"total\":{},\"cross_region\":{}}},", fetch_bytes,
                       fetch_bytes_cross_region);
    return out;
  }
};

int Sweep(const SimulationOptions& base, uint64_t first, uint64_t last) {
  const auto start = std::chrono::steady_clock::now();  // determinism: wall-time report only
  uint64_t failed = 0;
  uint64_t first_failed = 0;  // The seeds-to-catch of a planted bug.
  absl::btree_map<std::string, uint64_t> faults;
  absl::btree_map<std::string, uint64_t> probes;
  // Raft workload: seeds and failures per targeted election schedule.
  absl::btree_map<std::string, std::pair<uint64_t, uint64_t>> by_election;
  GeoSummary geo;
  for (uint64_t seed = first; seed <= last; seed++) {
    SimulationOptions options = base;
    options.seed = seed;
    const io::FatalContext context(DyingLine(seed, ReproCommand(options)));
    MaybeCrashAsPlanted(seed);
    const SimulationResult result = RunSimulation(options);
    geo.Add(result);
    for (const auto& [name, count] : result.faults) faults[name] += count;
    for (const auto& [name, count] : result.probes) probes[name] += count;
    const std::string& election =
        result.raft.has_value() ? result.raft->election_faults : result.election_faults;
    if (!election.empty()) {
      auto& [runs, failures] = by_election[election];
      runs++;
      failures += !result.ok();
    }
    if (!result.ok()) {
      failed++;
      if (first_failed == 0) first_failed = seed;
      fmt::print("{}\n", ResultJson(result, 0, ReproCommand(options)));
    }
  }
  std::string election_json;
  for (const auto& [name, counts] : by_election) {
    election_json +=
        fmt::format("{}\"{}\":{{\"seeds\":{},\"failed\":{}}}", election_json.empty() ? "" : ",",
                    name, counts.first, counts.second);
  }
  if (!by_election.empty()) election_json = "\"election_faults\":{" + election_json + "},";
  std::string fault_json = "{";
  for (const auto& [name, count] : faults)
    fault_json += fmt::format("{}\"{}\":{}", fault_json.size() > 1 ? "," : "", name, count);
  std::string probe_json = "{";
  for (const auto& [name, count] : probes)
    probe_json +=
        fmt::format("{}\"{}\":{}", probe_json.size() > 1 ? "," : "", JsonEscape(name), count);
  const std::string scenario =
      base.workload == "raft" ? fmt::format("raft-{}", base.raft_replicas) : base.scenario;
  fmt::print(
      "{{\"seeds\":{},\"failed\":{},\"first_failed_seed\":{},\"wall_s\":{:.3f},"
      "\"workload\":\"{}\",\"scenario\":\"{}\",{}{}\"faults\":{}}},\"probes\":{}}}}}\n",
      last - first + 1, failed, first_failed, WallSecondsSince(start), base.workload, scenario,
      geo.Json(), election_json, fault_json, probe_json);
  return failed == 0 ? 0 : 1;
}

int Main() {
  if (!ParsePlantedCrash(absl::GetFlag(FLAGS_plant_crash))) {
    fmt::print(stderr, "meridian-sim: --plant_crash must be N:assert or N:segv\n");
    return 2;
  }
  SimulationOptions options;
  if (const std::string error = OptionsFromFlags(&options); !error.empty()) {
    fmt::print(stderr, "meridian-sim: {}\n", error);
    return 2;
  }
  const std::string seeds = absl::GetFlag(FLAGS_seeds);
  if (!seeds.empty()) {
    const size_t dots = seeds.find("..");
    uint64_t first = 0;
    uint64_t last = 0;
    if (dots == std::string::npos || !ParseU64(seeds.substr(0, dots), &first) ||
        !ParseU64(seeds.substr(dots + 2), &last) || first > last) {
      fmt::print(stderr, "meridian-sim: --seeds must be A..B with A <= B\n");
      return 2;
    }
    return Sweep(options, first, last);
  }
  if (!ParseU64(absl::GetFlag(FLAGS_seed), &options.seed)) {
    fmt::print(stderr, "meridian-sim: give --seed=N or --seeds=A..B\n");
    return 2;
  }
  return absl::GetFlag(FLAGS_shrink) ? Shrink(options) : RunOne(options);
}

}  // namespace
}  // namespace meridian::sim

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("meridian-sim --seed=N | --seeds=A..B [--scenario=geo-3x3] ...");
  meridian::io::ParseCommandLineOrExit(argc, argv);
  return meridian::sim::Main();
}
