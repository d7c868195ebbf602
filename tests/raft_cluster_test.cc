// Raft groups proven in simulation (issue 6): sweeps of 3- and 5-replica groups under the
// nemesis, with the global observer's safety checks and liveness after the heal. Every failure
// prints the command that replays its seed.
#include "sim/raft_cluster.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_join.h"
#include "core/raft/seed_guard.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::sim {
namespace {

using Runner = RaftSimResult (*)(const RaftSimOptions&);

uint64_t& EventsPerSeedMax() {
  static uint64_t events = 0;
  return events;
}

// Every failure keeps its seed: a violation (a livelock included: the run's event budget) is a
// test failure with the replay command, and a seed that kills the process (an assertion inside
// a node) prints the same command on its way down (SeedGuard).
int Sweep(uint32_t replicas, uint64_t first, uint64_t last, uint64_t* leaders, uint64_t* ok_ops,
          Runner run = &RunRaftSimulation) {
  int failed = 0;
  for (uint64_t seed = first; seed <= last; seed++) {
    const RaftSimOptions options{.seed = seed, .replicas = replicas};
    const core::raft::testing::SeedGuard guard(fmt::format(
        "seed {} ({} replicas); reproduce: {}", seed, replicas, RaftReproCommand(options)));
    const RaftSimResult result = run(options);
    *leaders += result.leaders_elected;
    *ok_ops += result.ops_ok;
    EventsPerSeedMax() = std::max(EventsPerSeedMax(), result.events);
    if (!result.ok()) {
      failed++;
      ADD_FAILURE() << "seed " << seed << ": " << result.violations.front()
                    << "\n  reproduce: " << RaftReproCommand(options);
    }
  }
  return failed;
}

TEST(RaftCluster, ThreeReplicaSweep) {
  uint64_t leaders = 0, ok_ops = 0;
  EXPECT_EQ(Sweep(3, 1, 500, &leaders, &ok_ops), 0);
  std::printf("3 replicas, seeds 1..500: %lu leaders elected, %lu proposals committed\n", leaders,
              ok_ops);
  EXPECT_GT(ok_ops, 50'000u);
  std::printf("most events in one seed so far: %lu (livelock budget %lu)\n", EventsPerSeedMax(),
              kRaftSimEventsMax);
  EXPECT_LT(EventsPerSeedMax(), kRaftSimEventsMax / 4)
      << "the budget must stay far above honest runs";
}

TEST(RaftCluster, FiveReplicaSweep) {
  uint64_t leaders = 0, ok_ops = 0;
  EXPECT_EQ(Sweep(5, 1, 500, &leaders, &ok_ops), 0);
  std::printf("5 replicas, seeds 1..500: %lu leaders elected, %lu proposals committed\n", leaders,
              ok_ops);
  EXPECT_GT(ok_ops, 50'000u);
  std::printf("most events in one seed so far: %lu (livelock budget %lu)\n", EventsPerSeedMax(),
              kRaftSimEventsMax);
  EXPECT_LT(EventsPerSeedMax(), kRaftSimEventsMax / 4)
      << "the budget must stay far above honest runs";
}

// Issue 17 item 5: an abort inside a seed used to kill the sweep with no seed to replay.
RaftSimResult AbortOnSeedThree(const RaftSimOptions& options) {
  MERIDIAN_CHECK(options.seed != 3, "an assertion inside a node, on purpose");
  return RaftSimResult{};
}

// Two and four replicas over three regions put half of the voters in one region. A region lost
// for good must still leave a quorum (the runner makes such a loss temporary); before, 34 of
// seeds 1-200 of two replicas ended unavailable on correct code.
TEST(RaftCluster, TwoAndFourReplicaSweeps) {
  uint64_t leaders = 0, ok_ops = 0;
  EXPECT_EQ(Sweep(2, 1, 100, &leaders, &ok_ops), 0);
  EXPECT_EQ(Sweep(4, 1, 100, &leaders, &ok_ops), 0);
}

TEST(RaftClusterSeedsDeathTest, AnAbortInsideASeedPrintsItsReplayCommand) {
  uint64_t leaders = 0, ok_ops = 0;
  EXPECT_DEATH(Sweep(3, 1, 5, &leaders, &ok_ops, &AbortOnSeedThree),
               "on purpose.*seed 3 [(]3 replicas[)]; reproduce: bazel run "
               "//sim:meridian-sim -- --seed=3 --workload=raft ");
}

// A livelock used to hang until the test timeout; now the seed ends at its event budget.
TEST(RaftClusterSeeds, ALivelockEndsAtTheEventBudgetAsAViolation) {
  const RaftSimResult result = RunRaftSimulation({.seed = 5, .replicas = 3, .events_max = 1000});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.violations.front().find("livelock: the event budget of 1000 events"),
            std::string::npos)
      << result.violations.front();
  EXPECT_GE(result.events, 1000u);
  EXPECT_LT(result.events, 1100u) << "stopped at the budget, not at the deadline";
}

// A failing seed's repro line is a meridian-sim command (RaftReproCommand): the one runner,
// given the same options, runs exactly the run this test's sweeps ran.
TEST(RaftCluster, TheReproCommandRunsTheSameRunThroughTheOneRunner) {
  for (uint64_t seed : {1, 2}) {
    RaftSimOptions options{.seed = seed, .replicas = 3};
    options.damage_at_rest = seed == 2;
    const RaftSimResult direct = RunRaftSimulation(options);
    const SimulationResult through = RunSimulation(RaftAsSimulationOptions(options));
    EXPECT_EQ(direct.trace_hash, through.trace_hash) << RaftReproCommand(options);
    EXPECT_EQ(direct.ops_ok, through.ops_ok);
    ASSERT_TRUE(through.raft.has_value());
    EXPECT_EQ(through.raft->leaders_elected, direct.leaders_elected);
    EXPECT_NE(RaftReproCommand(options).find("--workload=raft --duration=30 --heal=30"),
              std::string::npos)
        << RaftReproCommand(options);
  }
}

}  // namespace
}  // namespace meridian::sim

namespace meridian::sim {
namespace {

// The first failing seed (from 1) with `bug` planted in every replica, or 0 if none fails. With
// damage at rest (the default from 3 replicas on), a seed counts only if something other than
// unavailability fired (or a node aborted).
uint64_t SeedsToCatch(core::raft::PlantedBug bug, uint32_t replicas, uint64_t seeds_max,
                      std::optional<bool> damage_at_rest = std::nullopt) {
  for (uint64_t seed = 1; seed <= seeds_max; seed++) {
    const RaftSimOptions options{
        .seed = seed, .replicas = replicas, .bug = bug, .damage_at_rest = damage_at_rest};
    const RaftSimResult result = RunRaftSimulation(options);
    if (!result.ok() &&
        !(RaftDamageAtRestOn(damage_at_rest, replicas) && OnlyUnavailable(result.violations))) {
      std::printf("%s caught at seed %lu (%u replicas): %s\n", core::raft::PlantedBugName(bug),
                  seed, replicas, result.violations.front().c_str());
      return seed;
    }
  }
  return 0;
}

// Planted bugs prove the harness: the whole simulated stack (driver, log, wire, observer)
// catches what the pure-raft property tests catch. A bug may surface as a violation the
// observer reports or as an invariant assertion inside a node (an abort): both count, so each
// search runs in a child process.
void ExpectCaught(core::raft::PlantedBug bug, uint32_t replicas, uint64_t seeds_max,
                  std::optional<bool> damage_at_rest = std::nullopt) {
  EXPECT_EXIT(
      {
        const uint64_t seed = SeedsToCatch(bug, replicas, seeds_max, damage_at_rest);
        std::fflush(stdout);
        std::exit(seed != 0 ? 3 : 0);
      },
      [](int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }, "")
      << core::raft::PlantedBugName(bug) << " survived " << seeds_max << " seeds";
}

TEST(RaftClusterPlantedBugs, AckBeforeFsync) {
  // Caught at seed 543 (leader completeness). It took fewer seeds while the replica stored the
  // commit index on every change: a restart then refused a commit past its durable log. Since
  // commit is stored only with term or vote changes (it is volatile), the bug must show its
  // real consequence; making that fast is the harness-power issue's work.
  ExpectCaught(core::raft::PlantedBug::kCountOwnEntriesBeforeDurable, 3, 3000);
}
TEST(RaftClusterPlantedBugs, VoteWithoutLogCheck) {
  ExpectCaught(core::raft::PlantedBug::kVoteWithoutLogCheck, 3, 300);
}
// The global observer's leader-completeness check is what catches vote-without-log-check. The
// seed that shows it moves whenever raft's message schedule changes, so search for it (seed 10
// until the leader started re-probing lagging followers on heartbeat responses).
TEST(RaftClusterPlantedBugs, LeaderCompletenessCheckFiresOnVoteWithoutLogCheck) {
  constexpr uint64_t kSeedsMax = 100;
  for (uint64_t seed = 1; seed <= kSeedsMax; seed++) {
    const RaftSimResult result = RunRaftSimulation(
        {.seed = seed, .replicas = 3, .bug = core::raft::PlantedBug::kVoteWithoutLogCheck});
    for (const std::string& violation : result.violations) {
      if (violation.find("leader-completeness") != std::string::npos) {
        RecordProperty("seeds_to_catch", static_cast<int>(seed));
        return;
      }
    }
  }
  FAIL() << "no seed in 1.." << kSeedsMax << " made the leader-completeness check fire";
}

// The election bound (issue 17 item 6): with every election timeout exactly T (§5.2's
// randomization dropped), the audit's restart of every server at one instant starts every
// election timer together, and votes split round after round. Honest elections end within 4.3 s
// of a heal or restart (seeds 1-3000 of 3 replicas, 1-1000 of 5: none past the 8 s bound); this
// bug ran 8-12.5 s in 4 of seeds 1-100 (first at 7) of 3 replicas, `meridian-sim --workload=raft
// --seeds=1..100 --bug=election-timeout-not-randomized`. The liveness window (20 s to commit
// anything after the heal) caught none of them.
TEST(RaftClusterPlantedBugs, ElectionBoundFiresOnTimeoutsNotRandomized) {
  constexpr uint64_t kSeedsMax = 100;
  for (uint64_t seed = 1; seed <= kSeedsMax; seed++) {
    const RaftSimOptions options{.seed = seed,
                                 .bug = core::raft::PlantedBug::kElectionTimeoutNotRandomized};
    const RaftSimResult result = RunRaftSimulation(options);
    if (result.ok()) continue;
    ASSERT_EQ(result.violations.size(), 1u) << RaftReproCommand(options);
    EXPECT_EQ(result.violations.front(), "election not over within 8s after the audit restart")
        << RaftReproCommand(options);
    EXPECT_FALSE(result.elected_after_audit.has_value());
    RecordProperty("seeds_to_catch", static_cast<int>(seed));
    return;
  }
  FAIL() << "no seed in 1.." << kSeedsMax << " made the election bound fire";
}
// The same runs without the bug report how long their elections took, inside the bound.
TEST(RaftCluster, ElectionsEndWithinTheBound) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const RaftSimOptions options{.seed = seed};
    const RaftSimResult result = RunRaftSimulation(options);
    ASSERT_TRUE(result.ok()) << RaftReproCommand(options) << ": " << result.violations.front();
    ASSERT_TRUE(result.elected_after_heal.has_value() && result.elected_after_audit.has_value());
    EXPECT_LE(*result.elected_after_heal, std::chrono::seconds(8));
    // Every server restarted: no leader before the first election timeout (500 ms).
    EXPECT_GE(*result.elected_after_audit, std::chrono::milliseconds(500));
    EXPECT_LE(*result.elected_after_audit, std::chrono::seconds(8));
  }
}

// Damage at rest on more than one replica (RaftSimOptions::damage_at_rest): a replica that
// votes with a log cut below what it had acknowledged elects a leader without committed
// entries. Measured 2026-12-01 with the seed's election schedules: caught at seed 21 (leader
// completeness; seed 13 without them), at seed 1 since vote_restart episodes also lose hard
// states; the correct code is safe on seeds 1-100 with damage on (DamageAtRestSweep).
TEST(RaftClusterPlantedBugs, DamagedReplicaVotes) {
  ExpectCaught(core::raft::PlantedBug::kDamagedReplicaVotes, 3, 100, /*damage_at_rest=*/true);
}
// A leader that keeps the match index of a follower whose log damage at rest cut short probes
// it above its log for as long as it leads: the follower never catches up, though the others
// commit without it. Only the replication-restored check sees that (no member that is up may
// be behind and stalled through the last 10 s of the heal phase), and only when the leader that
// recorded the old match leads on through the heal: the damage schedule's last event hits a
// follower of the leader of the moment in the last 8% of the fault phase. Measured 2026-12-05
// (meridian-sim --workload=raft --damage_at_rest --seeds=1..300
// --bug=match-kept-after-shorter-log): 3 replicas 5 of 300, the first at seed 10; 5 replicas
// 17 of 300, the first at seed 10. The correct code passes seed 10 (and seeds 1-300 of both
// sizes with damage, 20 s and 30 s phases).
TEST(RaftClusterPlantedBugs, MatchKeptAfterShorterLogLeavesAFollowerStalled) {
  RaftSimOptions options{.seed = 10,
                         .replicas = 3,
                         .fault_phase = std::chrono::seconds(20),
                         .heal_phase = std::chrono::seconds(20),
                         .bug = core::raft::PlantedBug::kMatchKeptAfterShorterLog,
                         .damage_at_rest = true};
  const RaftSimResult planted = RunRaftSimulation(options);
  ASSERT_FALSE(planted.ok()) << RaftReproCommand(options);
  EXPECT_TRUE(planted.violations.front().starts_with("replication not restored: "))
      << planted.violations.front();
  options.bug = core::raft::PlantedBug::kNone;
  const RaftSimResult correct = RunRaftSimulation(options);
  EXPECT_TRUE(correct.ok()) << absl::StrJoin(correct.violations, "; ") << "\n"
                            << RaftReproCommand(options);
}

// Damage at rest also takes every copy of the hard state of half of the voters a vote_restart
// episode crashes (one node a run: the atlas). A replica that then votes as if it had never
// voted (no term bound learned from its peers first) grants a second vote in the term it had
// just decided, and two leaders are elected in one term. Measured 2026-12-01: caught at seed 50
// by election safety ("n2 and n1 both led t9").
TEST(RaftClusterPlantedBugs, VoteWithLostHardState) {
  ExpectCaught(core::raft::PlantedBug::kVoteWithLostHardState, 3, 100, /*damage_at_rest=*/true);
}
// Not yet asserted on every seed: when damage cuts the logs of several replicas of the group,
// the replicas behind their durable mark do not campaign, and a group whose every replica is
// behind stays unavailable until repaired by hand (fastbuild, with the election schedules:
// seed 83 of 1-100; without them seeds 17, 31 and 50; sim/README.md, issue 15). For such a seed the
// audit, which re-applies through a leader, cannot judge either, so its findings are printed with
// the replay command instead of failing; every other seed must pass every check (safety, audit and
// liveness).
// 200 seeds of 20 s phases: "heartbeat credits us with entries we no longer hold" is rare. Seeds
// 1-100 stopped reaching it when the transfers and slow acks came in; since a transfer no longer
// restarts the check-quorum window, 200 seeds of 30 s phases reach it never and 1-400 six times,
// 20 s phases reach it 8 times in 1-200 (meridian-sim --workload=raft --seeds=1..200
// --duration=20 --heal=20 --damage_at_rest; the probe counts are in the summary's "probes").
TEST(RaftCluster, DamageAtRestSweep) {
  int unavailable = 0;
  io::probe::Reset();
  for (uint64_t seed = 1; seed <= 200; seed++) {
    // With the seed's election schedule, as in the other sweeps. They were off while seed 26
    // failed as "n1 could not reopen its replica: RESOURCE_EXHAUSTED: ENOSPC": Replica::Open
    // did not wait a full disk out, unlike a running replica (meridian-sim --workload=raft
    // --seed=26 --duration=30 --heal=30 --damage_at_rest; tests/log:replica_disk_full_test).
    const RaftSimOptions options{.seed = seed,
                                 .replicas = 3,
                                 .fault_phase = std::chrono::seconds(20),
                                 .heal_phase = std::chrono::seconds(20),
                                 .damage_at_rest = true};
    const RaftSimResult result = RunRaftSimulation(options);
    const bool stuck = std::any_of(
        result.violations.begin(), result.violations.end(),
        [](const std::string& v) { return v.starts_with("no proposal committed within"); });
    if (stuck && OnlyUnavailable(result.violations)) {
      unavailable++;
      std::printf("NOT JUDGED (unavailable after the heal, known gap): seed %llu: %s; replay: %s\n",
                  static_cast<unsigned long long>(seed),
                  absl::StrJoin(result.violations, "; ").c_str(),
                  RaftReproCommand(options).c_str());
      continue;
    }
    EXPECT_TRUE(result.ok()) << "seed " << seed
                             << " (damage at rest): " << absl::StrJoin(result.violations, "; ");
  }
  std::printf("damage at rest: %d of 200 seeds unavailable after the heal (not judged)\n",
              unavailable);
  // core/raft's damage probes, which the pure-raft harness cannot reach (it has no disk).
  const auto probes = io::probe::Snapshot();
  for (const auto& [name, count] : probes) std::printf("probe %s: %lu\n", name.c_str(), count);
  for (const char* probe : {"raft: damaged replica refused a vote below what it lost",
                            "raft: heartbeat credits us with entries we no longer hold",
                            "replica: every copy of the hard state is damaged",
                            "raft: a node that lost its hard state learned every voter's term"}) {
    EXPECT_TRUE(probes.contains(probe)) << "probe never hit: " << probe;
  }
}

// Issue 17 item 4: the targeted election schedules (sim/election_faults.h), which the seed mixes
// into the swarm, make the whole stack catch forget-to-persist-vote: a voter crashed and
// restarted right after the election it decided votes again in the same term. Without them
// (--election_faults=none) seeds 1-300 all pass with the bug, on 3 and on 5 replicas. Measured
// with them: first caught at seed 1 (3 replicas) and 7 (5, since the lease readers), by election
// safety; since the transfers and slow acks, at seed 2 (3 replicas) and 1 (5).
TEST(RaftClusterPlantedBugs, ForgetToPersistVote) {
  ExpectCaught(core::raft::PlantedBug::kForgetToPersistVote, 3, 100);
}
TEST(RaftClusterPlantedBugs, ElectionSafetyCheckFiresOnForgetToPersistVote) {
  constexpr uint64_t kSeedsMax = 100;
  for (uint64_t seed = 1; seed <= kSeedsMax; seed++) {
    const RaftSimOptions options{
        .seed = seed, .replicas = 5, .bug = core::raft::PlantedBug::kForgetToPersistVote};
    const RaftSimResult result = RunRaftSimulation(options);
    for (const std::string& violation : result.violations) {
      if (violation.find("election-safety") != std::string::npos) {
        std::printf("election safety fired at seed %lu (5 replicas, %s): %s\n  replay: %s\n", seed,
                    ElectionScheduleName(result.election_schedule), violation.c_str(),
                    RaftReproCommand(options).c_str());
        return;
      }
    }
  }
  FAIL() << "no seed in 1.." << kSeedsMax << " made the election-safety check fire";
}

// Lease reads through the whole stack (issue 17 item 2): each client also reads through
// Replica::LeaseRead every 5-20 ms, and the observer judges each read as it is served (no later
// term has had a leader; the index covers everything applied anywhere) and, at the end, against
// the writes acknowledged before it; and whenever a leader is published, no other replica that
// is up may hold a lease it could serve from (the standing lease invariant). Measured at the
// commit that added them (seeds 1-1000, 30 s phases, opt): read-after-expiry first at seed 10
// (18 of 1000; 5 replicas: 32, 31 of 1000); the replica's own owed-ticks bug at 6 (122; 5
// replicas: 27, 160); lease-from-ack-receipt at 437 (3; 5 replicas: 32, 3; now SlowAcks, below).
// lease-ends-on-any-higher-term needs LeaseRivals (below, and sim/README.md "Lease rivals").
TEST(RaftClusterPlantedBugs, LeaseReadAfterExpiry) {
  ExpectCaught(core::raft::PlantedBug::kLeaseReadAfterExpiry, 3, 100);
}
// Half of the seeds hand leadership around under faults (RaftSimOptions::transfers), half of
// those handovers with the old leader deaf to its peers: with the bug it serves reads of its old
// term after the target won. Measured (seeds 1-300, 30 s phases): first at seed 1 on 3 and on 5
// replicas (64 and 111 of 300).
TEST(RaftClusterPlantedBugs, LeaseReadDuringTransfer) {
  ExpectCaught(core::raft::PlantedBug::kLeaseReadDuringTransfer, 3, 100);
}
// Half of the seeds slow the leader's acknowledgements and then mute it (sim/leader_faults.h
// SlowAcks): a lease dated from an acknowledgement's arrival outlasts the promise its sender
// made. Measured (seeds 1-300, 30 s phases): first at seed 54 on 3 replicas (12 of 300), 3 on 5
// (38 of 300); 0 of 300 on either before SlowAcks.
TEST(RaftClusterPlantedBugs, LeaseFromAckReceipt) {
  ExpectCaught(core::raft::PlantedBug::kLeaseFromAckReceipt, 3, 100);
}
// Found by these reads on the unmodified code: a leader whose driver owed ticks (a full disk's
// back-off, a pause) served from a lease its missed ticks had ended (before the fix: seed 109
// of `meridian-sim --workload=raft`, 20 s phases).
TEST(RaftClusterPlantedBugs, LeaseReadIgnoresOwedTicks) {
  ExpectCaught(core::raft::PlantedBug::kLeaseReadIgnoresOwedTicks, 3, 100);
}
// The lease-read checks at serving time and the standing check at each election fire on their
// own lines, and honest seeds do serve lease reads. Seed 1512 with 20 s phases and owed ticks
// ignored shows all three (`meridian-sim --seed=1512 --workload=raft --duration=20 --heal=20
// --bug=lease-read-ignores-owed-ticks --lease_rivals=off --damage_at_rest=false`; seeds 1512
// and 1671 of 1-2000, measured before damage at rest was on by default). The
// history check (a read below a write acknowledged before it) rarely gets a stale read past these
// two; it is shown to catch one on hand-written histories (//tests:raft_history_test).
TEST(RaftClusterLeaseReads, EachCheckFires) {
  const RaftSimResult result =
      RunRaftSimulation({.seed = 1512,
                         .replicas = 3,
                         .fault_phase = std::chrono::seconds(20),
                         .heal_phase = std::chrono::seconds(20),
                         .bug = core::raft::PlantedBug::kLeaseReadIgnoresOwedTicks,
                         .damage_at_rest = false,
                         .lease_rivals = false});
  const auto fired = [&](std::string_view what) {
    return std::any_of(result.violations.begin(), result.violations.end(),
                       [&](const std::string& v) { return v.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(fired(" is elected for ")) << "the standing check at each election";
  EXPECT_TRUE(fired("served a lease read in")) << "the served-at-once term check";
  EXPECT_TRUE(fired("is applied (so committed)")) << "the served-at-once index check";
  uint64_t reads = 0;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    const RaftSimResult honest = RunRaftSimulation({.seed = seed, .replicas = 3});
    EXPECT_TRUE(honest.ok()) << "seed " << seed << ": " << honest.violations.front();
    reads += honest.lease_reads;
  }
  EXPECT_GT(reads, 1000u) << "lease reads hardly served";
}

// Correct raft under each schedule forced on every seed (the 500-seed sweeps above already mix
// them, one seed in two each). The schedules must not be able to fail honest code.
void ExpectScheduleSweepPasses(ElectionSchedule schedule, uint32_t replicas, uint64_t seeds) {
  uint32_t episodes = 0;
  for (uint64_t seed = 1; seed <= seeds; seed++) {
    const RaftSimOptions options{.seed = seed, .replicas = replicas, .election_schedule = schedule};
    const core::raft::testing::SeedGuard guard(
        fmt::format("seed {}; reproduce: {}", seed, RaftReproCommand(options)));
    const RaftSimResult result = RunRaftSimulation(options);
    episodes += result.election_episodes;
    EXPECT_TRUE(result.ok()) << "seed " << seed << ": " << result.violations.front()
                             << "\n  reproduce: " << RaftReproCommand(options);
  }
  std::printf("%s, %u replicas, seeds 1..%lu: %u episodes\n", ElectionScheduleName(schedule),
              replicas, seeds, episodes);
  EXPECT_GT(episodes, seeds) << "the schedule hardly ran";
}
TEST(RaftClusterElectionFaults, VoteRestartPassesOnCorrectCode) {
  ExpectScheduleSweepPasses(ElectionSchedule::kVoteRestart, 3, 150);
}
TEST(RaftClusterElectionFaults, Figure8PassesOnCorrectCode) {
  ExpectScheduleSweepPasses(ElectionSchedule::kFigure8, 3, 150);
}

// One seed of correct raft: every violation fails the test with its replay command (also
// printed if the seed kills the process).
RaftSimResult RunHonestSeed(const RaftSimOptions& options) {
  const core::raft::testing::SeedGuard guard(
      fmt::format("seed {}; reproduce: {}", options.seed, RaftReproCommand(options)));
  RaftSimResult result = RunRaftSimulation(options);
  EXPECT_TRUE(result.ok()) << "seed " << options.seed << ": " << result.violations.front()
                           << "\n  reproduce: " << RaftReproCommand(options);
  return result;
}

// Transfers on every seed (the sweeps above have them on half): correct raft stays safe, and
// the handovers do happen, also with the old leader deaf (before raft let a transfer's vote
// request through a follower's lease, a deaf old leader's handover never completed).
TEST(RaftClusterTransfers, PassOnCorrectCodeAndHandOver) {
  uint64_t transfers = 0, won = 0, deaf = 0, won_deaf = 0;
  for (uint64_t seed = 1; seed <= 150; seed++) {
    const RaftSimResult result =
        RunHonestSeed({.seed = seed,
                       .replicas = seed % 2 == 0 ? 3u : 5u,
                       .transfers = true,
                       .lease_rivals = false});  // Its episodes pause the operator.
    transfers += result.transfers;
    won += result.transfers_won;
    deaf += result.transfer_episodes;
    won_deaf += result.transfers_won_deaf;
  }
  std::printf("seeds 1..150: %lu transfers, %lu won; %lu with the old leader deaf, %lu won\n",
              transfers, won, deaf, won_deaf);
  EXPECT_GT(deaf, 150u) << "the deaf-leader handovers hardly ran";
  // Under the swarm's faults (and slow acks on half of the seeds) many handovers fail for good
  // reasons: a target down or cut off. Measured: 484 of 1241 handovers won (39%), 181 of the 242
  // with the old leader deaf (75%); with a transfer's vote request ignored inside a lease (the
  // bug this found; before slow acks), 360 of 1277 (28%) and 66 of 281 (23%).
  EXPECT_GT(won * 4, transfers) << "fewer than a quarter of the handovers completed";
  EXPECT_GT(won_deaf * 2, deaf) << "fewer than half of the deaf-leader handovers completed";
}

// SlowAcks on every seed: correct raft dates its lease from when the acknowledged heartbeat left,
// so no delay of the acknowledgements can stretch it.
TEST(RaftClusterSlowAcks, PassOnCorrectCode) {
  uint64_t episodes = 0;
  for (uint64_t seed = 1; seed <= 150; seed++) {
    const RaftSimResult result =
        RunHonestSeed({.seed = seed, .replicas = seed % 2 == 0 ? 3u : 5u, .slow_acks = true});
    auto it = result.faults.find("slow_acks");
    episodes += it == result.faults.end() ? 0 : it->second;
  }
  std::printf("seeds 1..150: %lu slow-acks episodes\n", episodes);
  EXPECT_GT(episodes, 3 * 150u) << "the episodes hardly ran";
}

// LeaseRivals on every seed (sim/leader_faults.h): a rival's newer term reaches a follower on a
// message that is not from a leader, right after that follower renewed its leader's lease.
// Correct raft ignores it inside the lease (the probe counts it), so the rival is not elected
// while the old leader still serves reads.
TEST(RaftClusterLeaseRivals, PassOnCorrectCodeAndStrike) {
  io::probe::Reset();
  uint64_t episodes = 0, strikes = 0;
  for (uint64_t seed = 1; seed <= 150; seed++) {
    const RaftSimResult result =
        RunHonestSeed({.seed = seed, .replicas = seed % 2 == 0 ? 3u : 5u, .lease_rivals = true});
    auto it = result.faults.find("lease_rivals");
    episodes += it == result.faults.end() ? 0 : it->second;
    it = result.faults.find("lease_rivals_strike");
    strikes += it == result.faults.end() ? 0 : it->second;
  }
  const auto probes = io::probe::Snapshot();
  const auto ignored =
      probes.find("raft: higher-term message from a non-leader ignored inside a lease");
  const uint64_t ignored_count = ignored == probes.end() ? 0 : ignored->second;
  std::printf("seeds 1..150: %lu lease-rivals episodes, %lu strikes, %lu newer terms ignored\n",
              episodes, strikes, ignored_count);
  EXPECT_GT(episodes, 2 * 150u) << "the episodes hardly ran";
  EXPECT_GT(strikes, 10u) << "the held replies hardly reached a follower inside its lease";
  EXPECT_GE(ignored_count, strikes) << "a strike's newer term was not seen inside a lease";
}

// The same schedule catches issue 17's stale read with the fix reverted (any higher term ends a
// follower's lease): alone with the swarm's duplicates, without the other targeted schedules.
// Measured (`meridian-sim --workload=raft --seeds=1..300 --lease_rivals=on --membership=off
// --transfers=off --slow_acks=off --election_faults=none --kinds=duplicate
// --bug=lease-ends-on-any-higher-term`): first at seed 1, 270 of 300. In the default mix the
// swarm and the other schedules break most episodes: first at 34, 6 of 300 (sim/README.md).
TEST(RaftClusterPlantedBugs, LeaseEndsOnAnyHigherTermUnderLeaseRivals) {
  uint64_t caught = 0;
  for (uint64_t seed = 1; seed <= 10 && caught == 0; seed++) {
    const RaftSimResult result =
        RunRaftSimulation({.seed = seed,
                           .bug = core::raft::PlantedBug::kLeaseEndsOnAnyHigherTerm,
                           .election_schedule = ElectionSchedule::kNone,
                           .transfers = false,
                           .slow_acks = false,
                           .lease_rivals = true,
                           .membership = false,
                           .only_kinds = {FaultKind::kDuplicate}});
    if (result.ok()) continue;
    caught = seed;
    std::printf("caught at seed %lu: %s\n", seed, result.violations.front().c_str());
    EXPECT_NE(result.violations.front().find("lease-outlives-promise"), std::string::npos)
        << result.violations.front();
  }
  EXPECT_NE(caught, 0u) << "lease-ends-on-any-higher-term survived 10 seeds of lease rivals";
}

// Membership changes on every seed (the sweeps above have them on half): a spare server, an
// operator changing the configuration one server at a time, a third of the changes with their
// leader muted first so that configuration entries get overwritten. Correct raft stays safe and
// every replica's configuration stays the one its log implies; the changes do happen.
TEST(RaftClusterMembership, PassOnCorrectCodeAndChange) {
  uint64_t changes = 0, mutes = 0;
  for (uint64_t seed = 1; seed <= 150; seed++) {
    const RaftSimResult result =
        RunHonestSeed({.seed = seed,
                       .replicas = seed % 2 == 0 ? 3u : 5u,
                       .lease_rivals = false,  // Its episodes pause the operator.
                       .membership = true});
    changes += result.membership_changes;
    auto it = result.faults.find("conf_change_mute");
    mutes += it == result.faults.end() ? 0 : it->second;
  }
  std::printf("seeds 1..150: %lu configuration changes, %lu leaders muted at a change\n", changes,
              mutes);
  EXPECT_GT(changes, 4 * 150u) << "the operator hardly changed anything";
  EXPECT_GT(mutes, 2 * 150u) << "the mutes hardly ran";
}

// A replica that keeps a truncated configuration entry's configuration (the §4.1 rule reverted):
// caught by the observer's configuration-follows-log check. Measured (seeds 1-300, 30 s phases,
// the seed deciding membership): first at seed 1 on 3 and on 5 replicas (130 and 138 of 300).
TEST(RaftClusterPlantedBugs, ConfigKeptAfterTruncation) {
  ExpectCaught(core::raft::PlantedBug::kConfigKeptAfterTruncation, 3, 100);
}
TEST(RaftClusterPlantedBugs, ConfigurationCheckFiresOnConfigKeptAfterTruncation) {
  // Seed 1 as measured before damage at rest was on by default.
  const RaftSimOptions options{.seed = 1,
                               .bug = core::raft::PlantedBug::kConfigKeptAfterTruncation,
                               .damage_at_rest = false,
                               .membership = true};
  const RaftSimResult result = RunRaftSimulation(options);
  ASSERT_FALSE(result.ok()) << RaftReproCommand(options);
  EXPECT_NE(result.violations.front().find("configuration-follows-log: "), std::string::npos)
      << result.violations.front();
}
// Changes proposed without Ongaro's rules (one pending at a time, after an entry of the term
// committed): the operator follows a change at once a third of the time, and two overlapping
// single-server changes allow disjoint majorities. Measured (seeds 1-300): first at seed 65 on 3
// replicas (10 of 300), 182 on 5 (1 of 300); election safety or leader completeness fires.
TEST(RaftClusterPlantedBugs, ConcurrentConfigChanges) {
  ExpectCaught(core::raft::PlantedBug::kConcurrentConfigChanges, 3, 100);
}
// A quarter of the seeds send one entry per append with one append in flight (the replication
// window), so a quorum's acknowledgements can stop at an older-term entry below a new leader's
// no-op. The figure8 election schedule (sim/election_faults.h) sets that up on purpose.
// Measured (seeds 1-300, 30 s phases): first at seed 71 on 3 replicas (8 of 300), 96 on 5 (1 of
// 300); the pure-raft harness catches it more often (core/raft/planted_bugs_test). sim/README.md.
TEST(RaftClusterPlantedBugs, CommitOlderTermByCounting) {
  ExpectCaught(core::raft::PlantedBug::kCommitOlderTermByCounting, 3, 100);
}
// Found in the code (2026-12-03): a transfer request restarted the leader's check-quorum window,
// so a cut-off leader asked to hand over again and again never stepped down. Kept as a planted
// bug for the step-down bound (Raft::StepDownBoundHolds), which aborts the leader's node:
// measured with 30 s phases, first at seed 3 (3 replicas) and 2 (5), `meridian-sim
// --workload=raft --seeds=1..300 --duration=30 --heal=30 --bug=transfer-restarts-check-quorum`.
TEST(RaftClusterPlantedBugs, TransferRestartsCheckQuorum) {
  ExpectCaught(core::raft::PlantedBug::kTransferRestartsCheckQuorum, 3, 100);
}
}  // namespace
}  // namespace meridian::sim
