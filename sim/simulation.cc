#include "sim/simulation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "absl/container/flat_hash_set.h"  // determinism: only for the planted nondeterminism
#include "checks/history.h"
#include "io/assert.h"
#include "io/probe.h"
#include "sim/fault_atlas.h"
#include "sim/sim_disk.h"
#include "sim/topology.h"
#include "sim/toy_history.h"
#include "sim/workloads/broker.h"
#include "sim/world.h"

namespace meridian::sim {
namespace {

constexpr uint16_t kJournalPort = 7000;
constexpr io::Duration kLivenessWindow = std::chrono::seconds(15);
constexpr io::Duration kAuditLimit = std::chrono::seconds(120);

struct Cluster {
  std::vector<io::NodeId> servers;
  std::vector<io::NodeId> clients;
  NemesisTargets targets;
};

Cluster Plan(const SimulationOptions& options, uint32_t clients, Topology* topology) {
  Cluster cluster;
  int servers = 0;
  MERIDIAN_CHECK(
      MakeScenarioTopology(options.scenario, static_cast<int>(clients), topology, &servers),
      "unknown scenario '{}'", options.scenario);
  for (int i = 1; i <= servers; i++)
    cluster.servers.push_back(io::NodeId(static_cast<uint32_t>(i)));
  for (uint32_t i = 0; i < clients; i++) {
    cluster.clients.push_back(io::NodeId(static_cast<uint32_t>(servers) + 1 + i));
  }
  cluster.targets.servers = cluster.servers;
  for (const std::string& region : topology->Regions()) {
    std::vector<io::NodeId> in_region;
    for (io::NodeId node : topology->NodesInRegion(region)) {
      if (std::find(cluster.servers.begin(), cluster.servers.end(), node) !=
          cluster.servers.end()) {
        in_region.push_back(node);
      }
    }
    if (!in_region.empty()) cluster.targets.regions.push_back(in_region);
  }
  return cluster;
}

void AddNodes(World& world, const Cluster& cluster, const SimulationOptions& options,
              toy::JournalObserver& observer) {
  std::vector<io::Address> addresses;
  for (io::NodeId server : cluster.servers) {
    addresses.push_back({fmt::format("server{}", server.value()), kJournalPort});
  }
  auto world_now = [&world] { return world.Now(); };
  for (io::NodeId server : cluster.servers) {
    toy::ServerOptions server_options{addresses[server.value() - 1], {}, options.bug};
    for (io::NodeId peer : cluster.servers) {
      if (peer != server) server_options.peers.push_back(peer);
    }
    world.AddNode(server, server_options.listen.host,
                  [&world, &observer, server_options, world_now](io::Runtime& rt) {
                    toy::RunServer(rt, observer, server_options, world.incarnation(rt.node()),
                                   world_now);
                  });
  }
  for (size_t i = 0; i < cluster.clients.size(); i++) {
    world.AddNode(cluster.clients[i], fmt::format("client{}", i),
                  [&observer, addresses, servers = cluster.servers, i, world_now](io::Runtime& rt) {
                    toy::RunClient(rt, observer, static_cast<uint32_t>(i), addresses, servers,
                                   world_now);
                  });
  }
}

}  // namespace

SimulationResult RunSimulation(const SimulationOptions& options,
                               const std::function<void(std::string_view)>& trace_sink) {
  if (options.workload == "broker") return RunBrokerWorkload(options, trace_sink);
  MERIDIAN_CHECK(options.workload == "toy", "unknown workload '{}'", options.workload);
  io::probe::Reset();
  const io::Random root(options.seed);
  io::Random swarm_random = root.Fork("swarm");
  io::Random schedule_random = root.Fork("schedule");
  SwarmConfig swarm = ChooseSwarm(swarm_random, options.only_kinds);
  swarm.fault_phase = options.fault_phase;
  swarm.heal_phase = options.heal_phase;
  // The workload mix is part of the swarm too.
  const uint32_t clients =
      options.clients != 0 ? options.clients : static_cast<uint32_t>(swarm_random.Between(1, 5));
  const bool buggify = options.buggify == SimulationOptions::Buggify::kSeedChooses
                           ? swarm_random.Chance(1, 2)
                           : options.buggify == SimulationOptions::Buggify::kOn;

  WorldOptions world_options{.seed = options.seed, .buggify = buggify};
  const Cluster cluster = Plan(options, clients, &world_options.topology);
  MaybePlantNondeterminism(options, cluster.servers, &world_options);
  const std::vector<FaultEvent> generated =
      GenerateSchedule(schedule_random, swarm, cluster.targets);
  SimulationResult result;
  result.schedule = KeepScheduleEntries(generated, options.keep_faults);
  result.schedule_generated = generated.size();
  ApplyRunWideFaults(result.schedule, &world_options);

  World world(world_options);
  if (trace_sink) world.SetTraceSink(trace_sink);
  toy::JournalObserver observer;
  FaultAtlas atlas(/*copies_damaged_max=*/1);
  AddNodes(world, cluster, options, observer);
  Nemesis nemesis(world, cluster.targets, atlas);
  nemesis.Install(result.schedule, options.fault_phase);
  for (io::NodeId node : world.nodes()) world.Start(node);
  const io::Instant healed_at = world.Now() + options.fault_phase;
  world.RunUntil(healed_at + options.heal_phase);

  // Final audit: every server (even one lost for good: its disk is still readable) restarts and
  // recovers its journal; the checker compares what it recovered with what was acknowledged.
  const io::Instant audit_after = world.Now();
  for (io::NodeId server : cluster.servers) world.Restart(server);
  world.RunUntil([&] { return observer.AuditComplete(cluster.servers, audit_after); },
                 audit_after + kAuditLimit);

  absl::btree_set<io::NodeId> damaged;
  for (io::NodeId server : cluster.servers) {
    if (atlas.damaged_on(server)) damaged.insert(server);
  }
  result.violations =
      observer.Check(cluster.servers, audit_after, healed_at, kLivenessWindow, clients, damaged);
  if (!world.livelock().empty())
    result.violations.insert(result.violations.begin(), world.livelock());
  // The same run, judged independently by checks/' log checker.
  const checks::History history =
      toy::BuildHistory(observer, cluster.servers, damaged, audit_after);
  for (std::string& problem : toy::CheckWithLogChecker(history)) {
    result.violations.push_back(std::move(problem));
  }
  if (!options.history_path.empty()) WriteHistoryFile(options.history_path, history);
  result.seed = options.seed;
  result.scenario = options.scenario;
  result.workload = "toy";
  result.clients = clients;
  result.buggify = buggify;
  result.virtual_s = static_cast<double>(world.Now().nanos()) / 1e9;
  result.events = world.events_executed();
  result.trace_hash = world.trace_hash();
  result.faults = world.faults_injected();
  result.ops_ok = observer.count(toy::Outcome::kOk);
  result.ops_fail = observer.count(toy::Outcome::kFail);
  result.ops_info = observer.count(toy::Outcome::kInfo) + observer.count(toy::Outcome::kPending);
  result.probes = io::probe::Snapshot();
  return result;
}

std::vector<FaultEvent> KeepScheduleEntries(const std::vector<FaultEvent>& schedule,
                                            const std::optional<std::vector<size_t>>& keep) {
  if (!keep.has_value()) return schedule;
  std::vector<FaultEvent> kept;
  for (size_t index : *keep) {
    if (index < schedule.size()) kept.push_back(schedule[index]);
  }
  return kept;
}

void ApplyRunWideFaults(const std::vector<FaultEvent>& schedule, WorldOptions* world) {
  for (const FaultEvent& event : schedule) {
    if (event.kind == FaultKind::kClockSkew) {
      world->clock_offset_max = std::chrono::seconds(10);
      world->clock_drift_ppm_max = 200;  // Far inside raft's 10% drift bound.
    }
  }
}

void MaybePlantNondeterminism(const SimulationOptions& options,
                              const std::vector<io::NodeId>& servers, WorldOptions* world) {
  if (!options.plant_nondeterminism) return;
  absl::flat_hash_set<uint32_t> ids;  // determinism: planted on purpose, see SimulationOptions
  for (io::NodeId server : servers) ids.insert(server.value());
  world->seed ^= *ids.begin();  // determinism: planted on purpose, see SimulationOptions
}

void WriteHistoryFile(const std::string& path, const checks::History& history) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  MERIDIAN_CHECK(file != nullptr, "cannot write {}", path);
  const std::string text = checks::FormatHistory(history);
  MERIDIAN_CHECK(std::fwrite(text.data(), 1, text.size(), file) == text.size());
  std::fclose(file);
}

}  // namespace meridian::sim
