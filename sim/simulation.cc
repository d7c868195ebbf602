#include "sim/simulation.h"

#include <fmt/format.h>

#include <cstdio>

#include "absl/container/flat_hash_set.h"  // determinism: only for the planted nondeterminism
#include "checks/history.h"
#include "io/assert.h"
#include "sim/raft_cluster.h"
#include "sim/workloads/broker.h"
#include "sim/world.h"

namespace meridian::sim {

SimulationResult RunSimulation(const SimulationOptions& options,
                               const std::function<void(std::string_view)>& trace_sink) {
  if (options.workload == "raft") return RunRaftWorkload(options, trace_sink);
  MERIDIAN_CHECK(options.workload == "broker", "unknown workload '{}'", options.workload);
  return RunBrokerWorkload(options, trace_sink);
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
