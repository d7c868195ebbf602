// sim_bench: how fast the simulator runs a steady workload: the broker workload on geo-3x3 (the
// product: brokers, producers, consumers, checkers) by default, or one raft group of three
// replicas (--workload=raft).
//
// Reports simulated seconds per wall second (the speed-up over real time) and events per wall
// second, next to the bare event loop's rate measured in the same run (empty events through
// the same World queue): the ratio says how much of the engine's ceiling the workload uses.
// Build optimised: bazel run -c opt //sim:sim_bench -- --seeds=20
#include <fmt/format.h>

#include <chrono>

#include "absl/flags/flag.h"
#include "io/command_line.h"
#include "sim/simulation.h"
#include "sim/world.h"

ABSL_FLAG(int, seeds, 20, "Seeds of geo-3x3 to run.");
ABSL_FLAG(int64_t, duration, 60, "Fault phase per seed, virtual seconds (heal is 20 s more).");
ABSL_FLAG(std::string, workload, "broker", "broker (the product, geo-3x3) or raft (one group).");
ABSL_FLAG(std::string, kinds, "none",
          "Fault kinds: 'none' for a steady workload, 'swarm' for the seed's choice.");

namespace meridian::sim {
namespace {

using Clock = std::chrono::steady_clock;  // determinism: wall-time report only

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The engine's ceiling: empty events through one World's queue and step loop.
double BareEventsPerSecond() {
  World world(WorldOptions{.seed = 1});
  constexpr int kEvents = 2'000'000;
  int remaining = kEvents;
  std::function<void()> tick = [&] {
    if (--remaining > 0)
      world.Schedule(world.Now() + io::Duration(1000), io::NodeId(0), "tick", tick);
  };
  world.Schedule(world.Now(), io::NodeId(0), "tick", tick);
  const auto start = Clock::now();  // determinism: wall-time report only
  while (world.Step()) {
  }
  return kEvents / Seconds(Clock::now() - start);  // determinism: wall-time report only
}

int Main() {
  SimulationOptions base{.scenario = "geo-3x3",
                         .fault_phase = std::chrono::seconds(absl::GetFlag(FLAGS_duration)),
                         .clients = 3,
                         .buggify = SimulationOptions::Buggify::kOff};
  const std::string kinds = absl::GetFlag(FLAGS_kinds);
  const std::string workload = absl::GetFlag(FLAGS_workload);
  if (workload != "broker" && workload != "raft") {
    fmt::print(stderr, "sim_bench: --workload must be broker or raft\n");
    return 2;
  }
  if (kinds == "none") {
    base.keep_faults = std::vector<size_t>{};  // A steady workload: no faults at all.
  } else if (kinds != "swarm") {
    fmt::print(stderr, "sim_bench: --kinds must be none or swarm\n");
    return 2;
  }
  double virtual_s = 0;
  uint64_t events = 0;
  uint64_t ops = 0;
  const auto start = Clock::now();  // determinism: wall-time report only
  for (int seed = 1; seed <= absl::GetFlag(FLAGS_seeds); seed++) {
    SimulationOptions options = base;
    options.seed = static_cast<uint64_t>(seed);
    options.workload = workload;
    const SimulationResult result = RunSimulation(options);
    if (!result.ok()) {
      fmt::print(stderr, "sim_bench: seed {} failed: {}\n", seed, result.violations.front());
      return 1;
    }
    virtual_s += result.virtual_s;
    events += result.events;
    ops += result.ops_ok;
  }
  const double wall_s = Seconds(Clock::now() - start);  // determinism: wall-time report only
  const double bare = BareEventsPerSecond();
  fmt::print(
      "{{\"bench\":\"sim_bench\",\"workload\":\"{}\",\"scenario\":\"{}\","
      "\"faults\":\"{}\",\"seeds\":{},"
      "\"virtual_s\":{:.1f},\"wall_s\":{:.3f},\"speedup_vs_real_time\":{:.0f},"
      "\"events_per_wall_s\":{:.0f},\"ok_ops\":{},\"bare_event_loop_events_per_wall_s\":{:.0f},"
      "\"fraction_of_bare_event_rate\":{:.3f}}}\n",
      workload, workload == "raft" ? "raft-3" : "geo-3x3", kinds, absl::GetFlag(FLAGS_seeds),
      virtual_s, wall_s, virtual_s / wall_s, events / wall_s, ops, bare, events / wall_s / bare);
  return 0;
}

}  // namespace
}  // namespace meridian::sim

int main(int argc, char** argv) {
  meridian::io::ParseCommandLineOrExit(argc, argv);
  return meridian::sim::Main();
}
