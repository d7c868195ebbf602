// Planted bugs prove the harness: for each known Raft bug (RaftOptions::planted_bug) a sweep of
// deterministic random schedules must find a violation of a safety property within a stated
// number of seeds. The test prints seeds-to-catch and the property that fired, and the
// property-coverage test checks that every checker of the harness fires on some bug, because a
// checker that cannot fail is a defect.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/raft/seed_guard.h"
#include "core/raft/testing/cluster_harness.h"
#include "io/assert.h"

namespace meridian::core::raft::testing {
namespace {

struct Catch {
  uint64_t seeds = 0;  // Schedules run until the first violation (0 = never caught).
  Property property = Property::kNone;
};

// Schedules of this many steps; seed s builds its schedule from io::Random(s).
inline constexpr uint32_t kScheduleSteps = 600;

std::vector<Op> Schedule(uint64_t seed, uint32_t steps, Mix mix, bool compaction) {
  io::Random random(seed);
  return mix == Mix::kSwarm ? RandomSchedule(random, steps, compaction)
                            : RandomSchedule(random, steps, mix);
}

Catch SeedsToCatch(PlantedBug bug, uint32_t voters, uint32_t spares, uint64_t seeds_max,
                   uint32_t disabled_checks = 0, bool compaction = true, Mix mix = Mix::kSwarm) {
  for (uint64_t seed = 1; seed <= seeds_max; seed++) {
    const ClusterOptions options{.voters = voters,
                                 .spares = spares,
                                 .seed = seed,
                                 .planted_bug = bug,
                                 .disabled_checks = disabled_checks,
                                 .compaction = compaction};
    // An assertion inside a node (a planted bug can trip one) must not lose the seed.
    const SeedGuard guard(
        fmt::format("seed {}; replay: {}", seed, ReplayCommand(options, kScheduleSteps, mix)));
    std::string trace;
    const std::optional<Violation> violation =
        RunSchedule(options, Schedule(seed, kScheduleSteps, mix, compaction), &trace);
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
    const Catch lease =
        SeedsToCatch(PlantedBug::kNone, voters, 0, 300, 0, false, Mix::kLeaseAttack);
    EXPECT_EQ(lease.seeds, 0u) << PropertyName(lease.property);
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

// Issue 17's stale lease read, the fix in Raft::StepTerm reverted. The random harness needs
// the lease-attack mix (slow links) and many seeds: measured 1311 (raft_lease_test scripts it
// exactly). Caught by the standing lease invariant, when the follower's promise breaks.
TEST(PlantedBugs, LeaseEndsOnAnyHigherTermIsCaught) {
  const Catch c =
      SeedsToCatch(PlantedBug::kLeaseEndsOnAnyHigherTerm, 3, 0, 2000, 0, false, Mix::kLeaseAttack);
  EXPECT_GT(c.seeds, 0u);
  EXPECT_EQ(c.property, Property::kLeaseOutlivesPromise);
}

// Measured 43 seeds (lease-attack mix): acks delayed on a slow link stretch the lease past
// the followers' promises. Not within 500 seeds of the swarm mix alone.
TEST(PlantedBugs, LeaseFromAckReceiptIsCaught) {
  const Catch c =
      SeedsToCatch(PlantedBug::kLeaseFromAckReceipt, 3, 0, 100, 0, false, Mix::kLeaseAttack);
  EXPECT_GT(c.seeds, 0u);
}

// Measured 59 seeds (swarm mix).
TEST(PlantedBugs, LeaseReadDuringTransferIsCaught) {
  const Catch c = SeedsToCatch(PlantedBug::kLeaseReadDuringTransfer, 3, 0, 100);
  EXPECT_GT(c.seeds, 0u);
}

// Measured 2 seeds (swarm mix, 3 voters + 2 spares), by the configuration-follows-log check.
TEST(PlantedBugs, ConfigKeptAfterTruncationIsCaught) {
  const Catch c = SeedsToCatch(PlantedBug::kConfigKeptAfterTruncation, 3, 2, 100);
  EXPECT_GT(c.seeds, 0u);
  EXPECT_EQ(c.property, Property::kConfigurationNotFromLog);
}

// The two lease checkers of Cluster::CheckLeases each fire with the other off: the broken
// promise (measured 3 seeds, was 718 when only served reads were checked) and the stale read.
TEST(CheckersFire, LeaseOutlivesPromiseCatchesReadsAfterExpiry) {
  const Catch c = SeedsToCatch(PlantedBug::kLeaseReadAfterExpiry, 3, 0, 1000,
                               CheckBit(Property::kStaleLeaseRead));
  EXPECT_GT(c.seeds, 0u);
  EXPECT_EQ(c.property, Property::kLeaseOutlivesPromise);
}

TEST(CheckersFire, StaleLeaseReadCatchesReadsAfterExpiry) {
  const Catch c = SeedsToCatch(PlantedBug::kLeaseReadAfterExpiry, 3, 0, 1000,
                               CheckBit(Property::kLeaseOutlivesPromise));
  EXPECT_GT(c.seeds, 0u);
  EXPECT_EQ(c.property, Property::kStaleLeaseRead);
}

// A checker that cannot fail is a defect. The sweeps above show election safety, leader
// completeness, committed durability, configurations that follow the log and both lease checks
// firing; these show the remaining three. (safety_checker_test shows each property of the
// shared checker firing on its smallest bad history.)
TEST(CheckersFire, LogMatchingCatchesTwoLeadersInATermWhenTheOtherChecksAreOff) {
  const Catch c = SeedsToCatch(
      PlantedBug::kForgetToPersistVote, 3, 0, 2000,
      CheckBit(Property::kElectionSafety) | CheckBit(Property::kLeaderCompleteness) |
          CheckBit(Property::kStateMachineSafety) | CheckBit(Property::kCommittedEntryLost));
  EXPECT_GT(c.seeds, 0u);
  EXPECT_EQ(c.property, Property::kLogMatching);
}

// Measured 273 seeds, the same seed the log-matching check needs with those checks off: the
// two leaders of one term end up applying different entries at one index.
TEST(CheckersFire, StateMachineSafetyCatchesTwoLeadersInATermWhenTheOtherChecksAreOff) {
  const Catch c =
      SeedsToCatch(PlantedBug::kForgetToPersistVote, 3, 0, 2000,
                   CheckBit(Property::kElectionSafety) | CheckBit(Property::kLeaderCompleteness) |
                       CheckBit(Property::kLogMatching) | CheckBit(Property::kCommittedEntryLost));
  EXPECT_GT(c.seeds, 0u);
  EXPECT_EQ(c.property, Property::kStateMachineSafety);
}

TEST(CheckersFire, LivenessFiresWhenNoLeaderCanCommitInTime) {
  Cluster cluster(ClusterOptions{.voters = 3, .seed = 1});
  EXPECT_FALSE(cluster.Stabilize(2).has_value()) << "no election finishes within 2 ticks";
  ASSERT_TRUE(cluster.violation().has_value());
  EXPECT_EQ(cluster.violation()->property, Property::kLiveness);
}

// Replays one sweep seed with its trace: the command a failing or dying seed prints.
uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);  // determinism: test-only replay selector
  return value != nullptr ? std::strtoull(value, nullptr, 10) : fallback;
}

TEST(PlantedBugs, ReplayOneSeed) {
  const char* bug_name = std::getenv("RAFT_HARNESS_BUG");  // determinism: test-only replay selector
  const char* mix_name = std::getenv("RAFT_HARNESS_MIX");  // determinism: test-only replay selector
  const uint64_t seed = EnvNumber("RAFT_HARNESS_SEED", 0);
  if (seed == 0) GTEST_SKIP() << "set RAFT_HARNESS_SEED (and the others a failure prints)";
  ClusterOptions options{.voters = static_cast<uint32_t>(EnvNumber("RAFT_HARNESS_VOTERS", 3)),
                         .spares = static_cast<uint32_t>(EnvNumber("RAFT_HARNESS_SPARES", 0)),
                         .seed = seed,
                         .compaction = EnvNumber("RAFT_HARNESS_COMPACTION", 1) != 0,
                         .entry_cache_bytes_max = EnvNumber("RAFT_HARNESS_ENTRY_CACHE_BYTES",
                                                            kEntryCacheBytesMaxDefault)};
  for (int i = 0; i <= static_cast<int>(kPlantedBugLast); i++) {
    const auto bug = static_cast<PlantedBug>(i);
    if (bug_name != nullptr && std::string(PlantedBugName(bug)) == bug_name) {
      options.planted_bug = bug;
    }
  }
  const Mix mix = mix_name != nullptr && std::string(mix_name) == MixName(Mix::kLeaseAttack)
                      ? Mix::kLeaseAttack
                      : Mix::kSwarm;
  const uint32_t steps = static_cast<uint32_t>(EnvNumber("RAFT_HARNESS_STEPS", kScheduleSteps));
  std::printf("replaying: %s\n", ReplayCommand(options, steps, mix).c_str());
  std::string trace;
  const std::optional<Violation> violation =
      RunSchedule(options, Schedule(seed, steps, mix, options.compaction), &trace);
  std::printf("last events:\n%s", trace.c_str());
  EXPECT_FALSE(violation.has_value())
      << PropertyName(violation->property) << ": " << violation->detail;
}

// The replay line survives an abort inside a seed (a planted bug tripping an assertion): the
// guard SeedsToCatch holds around every seed, with the command it builds.
TEST(PlantedBugsDeathTest, AnAbortInsideASeedPrintsItsReplayCommand) {
  const ClusterOptions options{.seed = 7, .planted_bug = PlantedBug::kForgetToPersistVote};
  EXPECT_DEATH(
      {
        const SeedGuard guard(
            fmt::format("seed 7; replay: {}", ReplayCommand(options, kScheduleSteps, Mix::kSwarm)));
        MERIDIAN_CHECK(false, "an assertion inside a node, on purpose");
      },
      "on purpose.*seed 7; replay: bazel test //core/raft:planted_bugs_test "
      "--test_env=RAFT_HARNESS_SEED=7 --test_env=RAFT_HARNESS_BUG=forget-to-persist-vote ");
}

}  // namespace
}  // namespace meridian::core::raft::testing
