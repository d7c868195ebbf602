// Fuzz target: whole simulated runs whose topology, workload and exact fault schedule the bytes
// choose (fuzz/simulation_input.h has the layout), judged by the simulator's own invariants and
// checkers: the broker workload's log checker, durability audit and liveness checks, or the raft
// workload's safety observer and linearizability checker. The swarm draws a schedule from a seed;
// here coverage guides the schedule itself (which faults, where, when, how long), so it reaches
// orderings a seed would rarely draw.
//
// Oracle: a run whose verdict is not "ok" aborts after printing its violations and the
// meridian-sim command that replays it (--schedule included); an assertion inside the run prints
// the same command first (io::FatalContext). Every input decodes to a run inside the envelope
// GenerateSchedule draws from, so a failure is the system's fault, not the input's. One
// exception, as tests/raft_cluster_test.cc makes it: a raft group with damage at rest that ends
// unavailable with no safety check firing (the documented liveness gap of damaged replicas).
//
// MERIDIAN_FUZZ_PLANTED_BUG=<meridian-sim --bug name> plants a broker bug in every run: how
// fuzz/simulation_oracle_test.sh shows that the oracle fails when the code under test is wrong.
// Seeds: fuzz/corpus/simulation (make_corpus.cc).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "fuzz/simulation_input.h"
#include "io/assert.h"
#include "io/fatal_context.h"
#include "sim/simulation.h"

namespace meridian::fuzz {
namespace {

void PlantBugFromEnvironment(sim::SimulationOptions* options) {
  const char* name = std::getenv("MERIDIAN_FUZZ_PLANTED_BUG");
  if (name == nullptr || *name == '\0') return;
  if (!sim::ParseBrokerPlantedBug(name, &options->broker_bugs) &&
      !sim::ParseGroupConsumerPlantedBug(name, &options->group_consumer_bug) &&
      !sim::ParseProducerPlantedBug(name, &options->producer_bug)) {
    MERIDIAN_CHECK(false, "MERIDIAN_FUZZ_PLANTED_BUG={} is not a broker workload bug", name);
  }
}

// With damage at rest, a raft group that ends unavailable with no safety check firing is the
// known liveness gap of damaged replicas (sim::OnlyUnavailable), not a new finding.
bool KnownDamageLivenessGap(const sim::SimulationOptions& options,
                            const sim::SimulationResult& result) {
  return options.workload == "raft" &&
         sim::RaftDamageAtRestOn(options.raft_damage_at_rest, options.raft_replicas) &&
         sim::OnlyUnavailable(result.violations);
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meridian;
  sim::SimulationOptions options = fuzz::DecodeSimulationInput(std::span(data, size));
  if (options.workload == "broker") fuzz::PlantBugFromEnvironment(&options);
  const std::string repro = sim::ReproCommand(options);
  const io::FatalContext context("reproduce with: " + repro);
  const sim::SimulationResult result = sim::RunSimulation(options);
  if (!result.ok() && !fuzz::KnownDamageLivenessGap(options, result)) {
    for (const std::string& violation : result.violations) {
      std::fprintf(stderr, "violation: %s\n", violation.c_str());
    }
    std::fprintf(stderr, "simulation fuzz: the run failed; reproduce with: %s\n", repro.c_str());
    std::abort();
  }
  return 0;
}
