// The model-based test of core/log (see log_model.h for the invariants), and proof that it bites:
// each planted bug (LogTestingKnobs) is caught within a handful of seeds.
#include "tests/log/log_model.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "io/probe.h"

namespace meridian::tests::log {
namespace {

rc::Gen<std::vector<Command>> GenCommands() {
  return rc::gen::map(
      rc::gen::container<std::vector<std::tuple<uint32_t, uint32_t, uint32_t>>>(rc::gen::tuple(
          rc::gen::inRange<uint32_t>(0, 100), rc::gen::inRange<uint32_t>(0, 1u << 16),
          rc::gen::inRange<uint32_t>(0, 1u << 16))),
      [](const std::vector<std::tuple<uint32_t, uint32_t, uint32_t>>& raw) {
        std::vector<Command> commands;
        for (const auto& [roll, a, b] : raw) commands.push_back(MakeCommand(roll, a, b));
        return commands;
      });
}

RC_GTEST_PROP(LogModel, NothingDurableIsLostAndNothingUnwrittenIsRead, ()) {
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1u << 30);
  const std::vector<Command> commands = *rc::gen::resize(200, GenCommands());
  const ModelRunResult result = RunModel(seed, commands);
  if (!result.failure.empty()) {
    RC_FAIL(fmt::format("seed {}: {}\ncommands: {}", seed, result.failure, Describe(commands)));
  }
  RC_TAG(commands.size() >= 100 ? ">= 100 commands" : "< 100 commands");
  RC_TAG(result.crashes > 0 ? "crashed" : "no crash");
  RC_TAG(result.corruptions_caught > 0 ? "corruption caught" : "no corruption");
  RC_TAG(result.disk_full_errors > 0 ? "disk full" : "disk never full");
  RC_TAG(result.logs_failed > 0 ? "fsync failed" : "fsyncs ok");
  RC_TAG(result.torn_tails > 0 ? "torn tail" : "no torn tail");
}

// Long random runs from io::Random seeds: the same generator the planted-bug tests use.
ModelRunResult RunSeed(uint64_t seed, core::log::LogTestingKnobs knobs, size_t commands_count) {
  io::Random random(seed);
  return RunModel(seed, RandomCommands(random, commands_count), knobs);
}

TEST(LogModel, RandomSeedsPass) {
  uint64_t steps = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    const ModelRunResult result = RunSeed(seed, {}, 300);
    ASSERT_TRUE(result.failure.empty()) << "seed " << seed << ": " << result.failure;
    steps += result.steps;
  }
  EXPECT_GT(steps, 40u * 80) << "the runs must do real work (faults end phases early)";
}

// The seed alone replays a run: what a failing seed prints is enough to debug it.
TEST(LogModel, ASeedReplaysTheSameRun) {
  for (uint64_t seed : {3, 17, 99}) {
    const ModelRunResult first = RunSeed(seed, {}, 300);
    const ModelRunResult second = RunSeed(seed, {}, 300);
    EXPECT_EQ(first.trace_hash, second.trace_hash) << "seed " << seed;
    EXPECT_EQ(first.steps, second.steps) << "seed " << seed;
    EXPECT_EQ(first.crashes, second.crashes) << "seed " << seed;
  }
}

// Finds the first seed whose run fails with `knobs`; fails the test if none of `seeds` does.
void ExpectCaught(core::log::LogTestingKnobs knobs, const char* what) {
  for (uint64_t seed = 1; seed <= 200; seed++) {
    const ModelRunResult result = RunSeed(seed, knobs, 300);
    if (!result.failure.empty()) {
      std::cout << what << " caught by seed " << seed << ": " << result.failure << "\n";
      const ModelRunResult clean = RunSeed(seed, {}, 300);
      EXPECT_TRUE(clean.failure.empty())
          << "seed " << seed << " fails without the bug too: " << clean.failure;
      return;
    }
  }
  ADD_FAILURE() << "the model test did not catch: " << what;
}

TEST(LogModel, CatchesDurabilityReportedBeforeTheSyncCompletes) {
  ExpectCaught({.report_durable_before_sync = true}, "durability reported before the sync");
}

TEST(LogModel, CatchesReadsThatSkipTheCrcCheck) {
  ExpectCaught({.skip_crc_check_on_read = true}, "reads without the CRC check");
}

// The same model over the node-wide WAL (core/log/wal.h): small WAL files, so checkpoints and
// file removals run within a phase, and crashes land between them.
ModelRunResult RunWalSeed(uint64_t seed, ModelConfig config, size_t commands_count) {
  io::Random random(seed);
  config.wal = true;
  return RunModel(seed, RandomCommands(random, commands_count), config);
}

TEST(LogModelOverWal, RandomSeedsPass) {
  io::probe::Reset();
  uint64_t steps = 0;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    const ModelRunResult result = RunWalSeed(seed, {}, 300);
    ASSERT_TRUE(result.failure.empty()) << "seed " << seed << ": " << result.failure
                                        << "\nreplay: RunWalSeed(" << seed << ", {}, 300)";
    steps += result.steps;
  }
  EXPECT_GT(steps, 60u * 80) << "the runs must do real work (faults end phases early)";
  // The direct runs' paths (LogOptions::wal_direct_round_bytes) are reached, a replay over one
  // included.
  const absl::btree_map<std::string, uint64_t> probes = io::probe::Snapshot();
  for (const char* probe : {"log: a large round's batches skip the wal",
                            "log: a direct run ends; rounds go through the wal again",
                            "log: wal replay keeps a direct run's batches"}) {
    EXPECT_GT(probes.contains(probe) ? probes.at(probe) : 0, 0u) << probe;
  }
}

RC_GTEST_PROP(LogModelOverWal, NothingDurableIsLostAndNothingUnwrittenIsRead, ()) {
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1u << 30);
  const std::vector<Command> commands = *rc::gen::resize(200, GenCommands());
  const ModelRunResult result = RunModel(seed, commands, ModelConfig{.wal = true});
  if (!result.failure.empty()) {
    RC_FAIL(fmt::format("seed {}: {}\ncommands: {}", seed, result.failure, Describe(commands)));
  }
}

void ExpectWalBugCaught(ModelConfig config, const char* what) {
  for (uint64_t seed = 1; seed <= 300; seed++) {
    const ModelRunResult result = RunWalSeed(seed, config, 300);
    if (!result.failure.empty()) {
      std::cout << what << " caught by seed " << seed << ": " << result.failure << "\n";
      EXPECT_TRUE(RunWalSeed(seed, {}, 300).failure.empty()) << "seed " << seed;
      return;
    }
  }
  ADD_FAILURE() << "the model test over the WAL did not catch: " << what;
}

TEST(LogModelOverWal, CatchesDurabilityReportedBeforeTheWalSync) {
  ExpectWalBugCaught({.knobs = {.report_durable_before_sync = true}},
                     "durability reported before the WAL sync");
}

TEST(LogModelOverWal, CatchesATruncationCutBeforeItsWalRecordIsSynced) {
  ExpectWalBugCaught({.wal_truncate_before_sync = true},
                     "a truncation cut before its WAL record was synced");
}

TEST(LogModelOverWal, CatchesADirectRoundReportedBeforeItsRecord) {
  ExpectWalBugCaught({.knobs = {.direct_round_before_its_record = true}, .wal = true},
                     "a direct run's first round reported durable before its kDirect record");
}

TEST(LogModelOverWal, CatchesAReplayDroppingADirectRun) {
  ExpectWalBugCaught({.knobs = {.replay_drops_direct_runs = true}, .wal = true},
                     "a replay removing a direct run's batches");
}

// The long sweep: bazel test //tests/log:log_model_sweep_test (manual).
TEST(LogModelSweep, ThousandsOfSeeds) {
  for (uint64_t seed = 1000; seed < 4000; seed++) {
    const ModelRunResult result = RunSeed(seed, {}, 500);
    ASSERT_TRUE(result.failure.empty()) << "seed " << seed << ": " << result.failure;
  }
}

TEST(LogModelSweep, ThousandsOfSeedsOverTheWal) {
  for (uint64_t seed = 1000; seed < 4000; seed++) {
    const ModelRunResult result = RunWalSeed(seed, {}, 500);
    ASSERT_TRUE(result.failure.empty()) << "seed " << seed << ": " << result.failure;
  }
}

}  // namespace
}  // namespace meridian::tests::log
