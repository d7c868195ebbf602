// Planted bugs prove the harness: for each known Raft bug (RaftOptions::planted_bug) a sweep of
// deterministic random schedules must find a violation of a safety property within a stated
// number of seeds. The test prints seeds-to-catch and the property that fired, and the
// property-coverage test checks that every checker of the harness fires on some bug, because a
// checker that cannot fail is a defect.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/raft/cluster_harness.h"

namespace meridian::core::raft::testing {
namespace {

struct Catch {
  uint64_t seeds = 0;  // Schedules run until the first violation (0 = never caught).
  Property property = Property::kNone;
};

// Schedules of this many steps; seed s builds its schedule from io::Random(s).
inline constexpr uint32_t kScheduleSteps = 600;

Catch SeedsToCatch(PlantedBug bug, uint32_t voters, uint32_t spares, uint64_t seeds_max,
                   uint32_t disabled_checks = 0, bool compaction = true) {
  for (uint64_t seed = 1; seed <= seeds_max; seed++) {
    io::Random random(seed);
    const std::vector<Op> ops = RandomSchedule(random, kScheduleSteps, compaction);
    std::string trace;
    const std::optional<Violation> violation =
        RunSchedule(ClusterOptions{.voters = voters,
                                   .spares = spares,
                                   .seed = seed,
                                   .planted_bug = bug,
                                   .disabled_checks = disabled_checks,
                                   .compaction = compaction},
                    ops, &trace);
    if (violation) {
      std::printf("planted bug %-30s caught after %3lu seeds by %-20s (%s)\n", PlantedBugName(bug),
                  static_cast<unsigned long>(seed), PropertyName(violation->property),
                  violation->detail.c_str());
      return Catch{seed, violation->property};
    }
  }
  std::printf("planted bug %-30s NOT caught in %lu seeds\n", PlantedBugName(bug),
              static_cast<unsigned long>(seeds_max));
  return Catch{};
}

TEST(PlantedBugs, CorrectRaftPassesTheSameSweep) {
  for (uint32_t voters : {3u, 5u}) {
    const Catch c = SeedsToCatch(PlantedBug::kNone, voters, 2, 100);
    EXPECT_EQ(c.seeds, 0u) << PropertyName(c.property);
  }
}

TEST(PlantedBugs, CommitOlderTermByCountingIsCaught) {
  // The rarest catch of the suite (Figure 8 needs a precise interleaving): 4383 seeds without
  // compaction; with kCompact steps compacting, not within 8000 (a node that compacted the
  // wrongly committed entry keeps it only in its snapshot). Making this < 100 seeds is the
  // harness-power issue's work.
  const Catch c = SeedsToCatch(PlantedBug::kCommitOlderTermByCounting, 3, 0, 5000, 0,
                               /*compaction=*/false);
  EXPECT_GT(c.seeds, 0u);
}

TEST(PlantedBugs, VoteWithoutLogCheckIsCaught) {
  const Catch c = SeedsToCatch(PlantedBug::kVoteWithoutLogCheck, 3, 0, 400);
  EXPECT_GT(c.seeds, 0u);
}

TEST(PlantedBugs, AckBeforeFsyncIsCaught) {
  const Catch c = SeedsToCatch(PlantedBug::kCountOwnEntriesBeforeDurable, 3, 0, 400);
  EXPECT_GT(c.seeds, 0u);
}

TEST(PlantedBugs, ForgetToPersistVoteIsCaught) {
  const Catch c = SeedsToCatch(PlantedBug::kForgetToPersistVote, 3, 0, 400);
  EXPECT_GT(c.seeds, 0u);
}

TEST(PlantedBugs, ConcurrentConfigChangesAreCaught) {
  const Catch c = SeedsToCatch(PlantedBug::kConcurrentConfigChanges, 3, 2, 400);
  EXPECT_GT(c.seeds, 0u);
}

TEST(PlantedBugs, LeaseReadAfterExpiryIsCaught) {
  const Catch c = SeedsToCatch(PlantedBug::kLeaseReadAfterExpiry, 3, 0, 1000);
  EXPECT_GT(c.seeds, 0u);
}

// A checker that cannot fail is a defect. The sweeps above show election safety, leader
// completeness, committed durability, state machine safety and stale lease reads firing; these
// show the remaining two.
TEST(CheckersFire, LogMatchingCatchesTwoLeadersInATermWhenTheOtherChecksAreOff) {
  const Catch c = SeedsToCatch(
      PlantedBug::kForgetToPersistVote, 3, 0, 2000,
      CheckBit(Property::kElectionSafety) | CheckBit(Property::kLeaderCompleteness) |
          CheckBit(Property::kStateMachineSafety) | CheckBit(Property::kCommittedEntryLost));
  EXPECT_GT(c.seeds, 0u);
  EXPECT_EQ(c.property, Property::kLogMatching);
}

TEST(CheckersFire, LivenessFiresWhenNoLeaderCanCommitInTime) {
  Cluster cluster(ClusterOptions{.voters = 3, .seed = 1});
  EXPECT_FALSE(cluster.Stabilize(2).has_value()) << "no election finishes within 2 ticks";
  ASSERT_TRUE(cluster.violation().has_value());
  EXPECT_EQ(cluster.violation()->property, Property::kLiveness);
}

}  // namespace
}  // namespace meridian::core::raft::testing
