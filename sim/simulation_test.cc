// Simulation sweeps inside `bazel test //...`, and proof that the harness catches what it is for.
// Every failure message carries the command that replays it.
#include "sim/simulation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "sim/testing/sweep.h"

namespace meridian::sim {
namespace {

using testing::Sweep;
using testing::SweepTally;

TEST(SimulationSweep, Geo3x3TwoHundredSeedsAllValidAndEveryFaultKindFires) {
  const SweepTally tally = Sweep({.workload = "toy", .scenario = "geo-3x3"}, 1, 200);
  EXPECT_EQ(tally.failed, 0);
  for (int i = 0; i < kFaultKinds; i++) {
    const char* kind = FaultKindName(static_cast<FaultKind>(i));
    EXPECT_GT(tally.faults.count(kind) ? tally.faults.at(kind) : 0, 0u)
        << "fault kind " << kind << " never fired in 200 seeds";
  }
  // Coverage probes: the fault mix must reach the workload's rare paths.
  for (const char* probe :
       {"toy journal: corruption detected", "toy journal: append failed",
        "toy journal: sync failed, reply indeterminate", "toy journal: client lost a reply"}) {
    EXPECT_TRUE(tally.probes.contains(probe)) << "probe never hit: " << probe;
  }
  EXPECT_GT(tally.ops_ok, 100'000u) << "the workload must do real work";
}

TEST(SimulationSweep, OtherScenariosHundredSeedsEach) {
  EXPECT_EQ(Sweep({.workload = "toy", .scenario = "single-region-3"}, 1, 100).failed, 0);
  EXPECT_EQ(Sweep({.workload = "toy", .scenario = "geo-5x1"}, 1, 100).failed, 0);
}

// The seeds-to-catch of each planted bug: the first failing seed from 1 upwards.
uint64_t SeedsToCatch(toy::PlantedBug bug, uint64_t seeds_max) {
  for (uint64_t seed = 1; seed <= seeds_max; seed++) {
    if (!RunSimulation({.seed = seed, .workload = "toy", .bug = bug}).ok()) return seed;
  }
  return 0;
}

TEST(PlantedBugs, AckBeforeSyncIsCaughtQuickly) {
  const uint64_t seed = SeedsToCatch(toy::PlantedBug::kAckBeforeSync, 20);
  ASSERT_NE(seed, 0u) << "acknowledging before fsync survived 20 seeds";
  // checks/' log checker, judging the same run's history independently, catches it too.
  const SimulationResult result =
      RunSimulation({.seed = seed, .workload = "toy", .bug = toy::PlantedBug::kAckBeforeSync});
  EXPECT_TRUE(std::any_of(result.violations.begin(), result.violations.end(),
                          [](const std::string& v) { return v.rfind("log checker: ", 0) == 0; }))
      << "the log checker missed a lost acknowledged write";
  RecordProperty("seeds_to_catch", static_cast<int>(seed));
  std::printf("ack-before-sync caught at seed %lu\n", seed);
}

TEST(PlantedBugs, SkippingTheCrcCheckIsCaught) {
  const uint64_t seed = SeedsToCatch(toy::PlantedBug::kSkipCrcOnRecovery, 100);
  EXPECT_NE(seed, 0u) << "recovery without CRC checks survived 100 seeds";
  RecordProperty("seeds_to_catch", static_cast<int>(seed));
  std::printf("skip-crc caught at seed %lu\n", seed);
}

TEST(Shrinking, ReducesAFailingScheduleToTheFaultThatMatters) {
  const uint64_t seed = SeedsToCatch(toy::PlantedBug::kSkipCrcOnRecovery, 100);
  ASSERT_NE(seed, 0u);
  const SimulationOptions failing{
      .seed = seed, .workload = "toy", .bug = toy::PlantedBug::kSkipCrcOnRecovery};
  const SimulationResult original = RunSimulation(failing);
  ASSERT_FALSE(original.ok());
  int runs = 0;
  const std::vector<size_t> minimal = ShrinkSchedule(failing, &runs);
  SimulationOptions shrunk = failing;
  shrunk.keep_faults = minimal;
  const SimulationResult replay = RunSimulation(shrunk);
  EXPECT_FALSE(replay.ok()) << "the shrunk schedule must still fail";
  EXPECT_LT(minimal.size(), original.schedule.size());
  // Only damage to synced bytes can expose a recovery that skips the CRC check.
  EXPECT_TRUE(std::any_of(replay.schedule.begin(), replay.schedule.end(), [](const FaultEvent& e) {
    return e.kind == FaultKind::kBitFlip || e.kind == FaultKind::kMisdirectedWrite;
  })) << "the shrunk schedule lost the fault that matters";
  std::printf("shrunk skip-crc seed %lu from %zu to %zu faults in %d runs\n", seed,
              original.schedule.size(), minimal.size(), runs);
  EXPECT_NE(ReproCommand(shrunk).find("--faults="), std::string::npos);
}

TEST(Determinism, SameSeedSameRunDifferentSeedDifferentRun) {
  for (uint64_t seed : {1, 7, 42}) {
    const SimulationResult a = RunSimulation({.seed = seed, .workload = "toy"});
    const SimulationResult b = RunSimulation({.seed = seed, .workload = "toy"});
    EXPECT_EQ(a.trace_hash, b.trace_hash) << ReproCommand({.seed = seed, .workload = "toy"});
    EXPECT_EQ(a.events, b.events);
    EXPECT_EQ(a.faults, b.faults);
    EXPECT_EQ(a.ops_ok, b.ops_ok);
  }
  EXPECT_NE(RunSimulation({.seed = 1, .workload = "toy"}).trace_hash,
            RunSimulation({.seed = 2, .workload = "toy"}).trace_hash);
}

TEST(Report, JsonLineHasEveryPromisedField) {
  const SimulationOptions options{.seed = 5,
                                  .workload = "toy",
                                  .fault_phase = std::chrono::seconds(3),
                                  .heal_phase = std::chrono::seconds(10)};
  const std::string json = ResultJson(RunSimulation(options), 0.5, ReproCommand(options));
  for (const char* key :
       {"\"seed\":5", "\"scenario\":\"geo-3x3\"", "\"virtual_s\":", "\"wall_s\":", "\"events\":",
        "\"trace_hash\":", "\"faults\":", "\"ops\":{\"ok\":", "\"verdict\":\"ok\"",
        "\"repro\":\"bazel run //sim:meridian-sim -- --seed=5"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " missing from " << json;
  }
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(JsonEscape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
}

}  // namespace
}  // namespace meridian::sim
