// Regional failover in `bazel test //...` (issue 12: region-loss-regional): a regional topic's
// home region is lost or cut off (for good or for a while); the controller promotes an observer
// after the promotion delay. Every run must be valid once the records the promotions reported
// discarding are allowed for, and the report must cover every acknowledged record the checker
// finds gone; every promoted partition is regrown to its replication factor by the end (one
// raft configuration change at a time, checked by the reassignment checker) and back in its
// home region (automatic fail-back once the region is back); each planted
// failover and reassignment bug is caught within 200 seeds. Every failure prints the command
// that replays it.
#include <gtest/gtest.h>

#include <algorithm>

#include "sim/simulation.h"

namespace meridian::sim {
namespace {

void ExpectValidSeeds(uint64_t first, uint64_t last) {
  std::vector<double> rto;
  uint64_t promoted_runs = 0;
  uint64_t regrown_runs = 0;  // Runs whose promoted partitions took reassignment steps.
  for (uint64_t seed = first; seed <= last; seed++) {
    const SimulationOptions options{.seed = seed, .scenario = "region-loss-regional"};
    const SimulationResult result = RunSimulation(options);
    EXPECT_TRUE(result.ok()) << result.violations.front()
                             << "\n  reproduce: " << ReproCommand(options);
    EXPECT_EQ(result.consistency, "regional") << ReproCommand(options);
    ASSERT_TRUE(result.rpo_records.has_value() && result.rpo_acked_lost.has_value() &&
                result.rto_s.has_value())
        << ReproCommand(options);
    EXPECT_GE(*result.rpo_records, *result.rpo_acked_lost) << ReproCommand(options);
    promoted_runs += result.promotions > 0;
    // A promoted partition runs on one voter until the controller regrows it; nothing else is
    // ever short of voters. Every run ends with every partition back at its replication
    // factor (the run itself fails otherwise: replication-not-restored).
    if (result.promotions == 0) {
      EXPECT_EQ(result.under_replicated, 0u) << ReproCommand(options);
    }
    EXPECT_LE(result.under_replicated, result.partitions) << ReproCommand(options);
    EXPECT_EQ(result.replication_restored, std::vector<bool>(result.partitions, true))
        << ReproCommand(options);
    // And every promoted partition back home (automatic fail-back; failback-not-done).
    EXPECT_EQ(result.partitions_home, std::vector<bool>(result.partitions, true))
        << ReproCommand(options);
    regrown_runs += result.promotions > 0 && result.reassignment_steps > 0;
    rto.push_back(*result.rto_s);
  }
  EXPECT_GT(regrown_runs, promoted_runs / 2) << "promoted partitions were not regrown";
  std::sort(rto.begin(), rto.end());
  // The promotion delay (3 s) plus seeding, a leader election and the clients' retries.
  EXPECT_LT(rto.back(), 25.0) << "max RTO over seeds " << first << ".." << last;
  EXPECT_GT(promoted_runs, (last - first + 1) / 2) << "most runs must promote";
}

TEST(RegionLossRegional, ValidWithReportedRpoSeeds1To50) { ExpectValidSeeds(1, 50); }
TEST(RegionLossRegional, ValidWithReportedRpoSeeds51To100) { ExpectValidSeeds(51, 100); }

// Seed 199: a new leader's outbox held an append whose entries a compaction then deleted from
// the log; reading them back fail-stopped the preferred leader's replica ("offset 6520 is not in
// the log [6601, 6665]"), and the run failed on leader placement. core/replica now drops such an
// append (Replica::CompactedSinceMade).
TEST(RegionLossRegional, AnAppendMadeBeforeACompactionIsDroppedNotRead) {
  const SimulationOptions options{.seed = 199, .scenario = "region-loss-regional"};
  const SimulationResult result = RunSimulation(options);
  EXPECT_TRUE(result.ok()) << result.violations.front()
                           << "\n  reproduce: " << ReproCommand(options);
  EXPECT_GT(result.probes.count("replica: an append made before a compaction dropped"), 0u)
      << "the seed no longer reaches the path it guards: find another";
}

// Seeds-to-catch of a planted failover bug: the first failing seed of region-loss-regional,
// or 0.
uint64_t SeedsToCatch(core::broker::BrokerPlantedBugs bugs, uint64_t seeds_max) {
  for (uint64_t seed = 1; seed <= seeds_max; seed++) {
    const SimulationOptions options{
        .seed = seed, .scenario = "region-loss-regional", .broker_bugs = bugs};
    if (!RunSimulation(options).ok()) return seed;
  }
  return 0;
}

// No data lease: a home region cut off from the controller keeps acknowledging the writes its
// clients still send, after the promotion that discards them (split brain).
TEST(RegionalFailoverPlantedBugs, PromotionWithoutFencingIsCaughtWithin100Seeds) {
  const uint64_t seed = SeedsToCatch({.promote_without_fencing = true}, 100);
  EXPECT_NE(seed, 0u) << "promotion without fencing survived 100 seeds";
  RecordProperty("seeds_to_catch", static_cast<int>(seed));
}

// Fetches skip the data lease: a cut-off or returning old leader serves its stale tail as
// current. The long-lived consumer read that tail before the promotion (excused); the late
// readers, fresh clients that start at the beginning after it and ask a home node first, read
// it after the promotion, at offsets the new epoch wrote differently.
TEST(RegionalFailoverPlantedBugs, StaleTailServedIsCaughtWithin200Seeds) {
  const uint64_t seed = SeedsToCatch({.stale_tail_served = true}, 200);
  EXPECT_NE(seed, 0u) << "serving the old epoch's tail survived 200 seeds";
  RecordProperty("seeds_to_catch", static_cast<int>(seed));
}

// Observers' acks count toward the voters' quorum: an acknowledged record can live on the
// leader and an observer only, and go with the leader. A region loss alone never shows it (the
// home followers always ack first); the zone split that precedes the region fault in half of
// the runs cuts a home leader off from its followers while it still reaches an observer.
TEST(RegionalFailoverPlantedBugs, ObserverInTheWriteQuorumIsCaughtWithin200Seeds) {
  const uint64_t seed = SeedsToCatch({.observer_in_write_quorum = true}, 200);
  EXPECT_NE(seed, 0u) << "an observer counted in the write quorum survived 200 seeds";
  RecordProperty("seeds_to_catch", static_cast<int>(seed));
}

// A discarded suffix reported one record short: the checker finds more acknowledged records
// gone than the promotion owned up to.
TEST(RegionalFailoverPlantedBugs, RpoUnderReportedIsCaughtWithin100Seeds) {
  const uint64_t seed = SeedsToCatch({.rpo_under_reported = true}, 100);
  EXPECT_NE(seed, 0u) << "an under-reported RPO survived 100 seeds";
  RecordProperty("seeds_to_catch", static_cast<int>(seed));
}

// Reassignment: a promoted partition's new voters are made voters before they caught up (the
// reassignment checker's voter-not-caught-up). Every regrowth adds empty replicas, so the
// first seed that promotes shows it.
TEST(ReassignmentPlantedBugs, VoterBeforeCaughtUpIsCaughtWithin20Seeds) {
  const uint64_t seed = SeedsToCatch(
      {.reassignment = core::broker::ReassignmentPlantedBug::kVoterBeforeCaughtUp}, 20);
  EXPECT_NE(seed, 0u) << "a voter promoted before catching up survived 20 seeds";
  RecordProperty("seeds_to_catch", static_cast<int>(seed));
}

// Fail-back (core/broker/failback.cc): the audit restarts every node, so every promoted
// partition's home region is back; a controller that never asks a promoted topic home leaves
// the run's first promotion standing (failback-not-done).
TEST(FailbackPlantedBugs, AForgottenFailbackIsCaughtWithin20Seeds) {
  uint64_t caught = 0;
  for (uint64_t seed = 1; seed <= 20 && caught == 0; seed++) {
    const SimulationResult result = RunSimulation({.seed = seed,
                                                   .scenario = "region-loss-regional",
                                                   .broker_bugs = {.failback_forgotten = true}});
    if (result.ok()) continue;
    caught = seed;
    EXPECT_NE(result.violations.front().find("failback-not-done"), std::string::npos)
        << result.violations.front();
  }
  EXPECT_NE(caught, 0u) << "a controller that never fails back survived 20 seeds";
  RecordProperty("seeds_to_catch", static_cast<int>(caught));
}

}  // namespace
}  // namespace meridian::sim
