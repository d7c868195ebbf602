// Test support: run a sweep of seeds through sim::RunSimulation, tallying fault kinds, coverage
// probes and acknowledged operations; every failing seed is a test failure that prints the
// command replaying it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "absl/container/btree_map.h"
#include "sim/simulation.h"

namespace meridian::sim::testing {

struct SweepTally {
  int failed = 0;
  absl::btree_map<std::string, uint64_t> faults;
  absl::btree_map<std::string, uint64_t> probes;
  uint64_t ops_ok = 0;
};

inline SweepTally Sweep(SimulationOptions base, uint64_t first, uint64_t last) {
  SweepTally tally;
  for (uint64_t seed = first; seed <= last; seed++) {
    SimulationOptions options = base;
    options.seed = seed;
    const SimulationResult result = RunSimulation(options);
    for (const auto& [name, count] : result.faults) tally.faults[name] += count;
    for (const auto& [name, count] : result.probes) tally.probes[name] += count;
    tally.ops_ok += result.ops_ok;
    if (!result.ok()) {
      tally.failed++;
      ADD_FAILURE() << result.violations.front() << "\n  reproduce: " << ReproCommand(options);
    }
  }
  return tally;
}

}  // namespace meridian::sim::testing
