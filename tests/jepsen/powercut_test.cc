// powercut_shim + RollBackJournal on a real process: powercut_writer builds a synced state,
// changes it without syncing, and is SIGKILLed; the rollback must bring back exactly the synced
// state (kDropUnsynced), or the synced state plus a prefix of the later changes (kTornPrefix).
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/jepsen/powercut_journal.h"

namespace meridian::tests::jepsen {
namespace {

std::string g_shim;
std::string g_writer;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs the writer under the shim in a fresh directory until it says "ready", then SIGKILLs it.
std::string RunWriterAndKill(const std::string& name) {
  const std::string base = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                           "/powercut_" + name + "_" + std::to_string(getpid());
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base + "/data");
  int out[2];
  EXPECT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    setenv("LD_PRELOAD", std::filesystem::absolute(g_shim).c_str(), 1);
    setenv("MERIDIAN_POWERCUT_JOURNAL", (base + "/journal").c_str(), 1);
    setenv("MERIDIAN_POWERCUT_ROOT", (base + "/data").c_str(), 1);
    execl(g_writer.c_str(), g_writer.c_str(), (base + "/data").c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  char line[16] = {};
  EXPECT_EQ(read(out[0], line, 6), 6);
  EXPECT_EQ(std::string(line), "ready\n");
  close(out[0]);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return base;
}

TEST(PowerCutTest, RollsBackToTheSyncedState) {
  const std::string base = RunWriterAndKill("drop");
  // Before the rollback the page cache has everything: the unsynced state.
  EXPECT_EQ(Slurp(base + "/data/synced").size(), 4500u);
  EXPECT_TRUE(std::filesystem::exists(base + "/data/created"));
  EXPECT_EQ(Slurp(base + "/data/current"), "new");
  absl::StatusOr<RollbackStats> stats =
      RollBackJournal(base + "/journal", PowerCutMode::kDropUnsynced, 1);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->undone, 6u) << stats->ToString();  // 3 writes, a truncate, create, rename
  EXPECT_EQ(Slurp(base + "/data/synced"), std::string(3000, 'a'));
  EXPECT_FALSE(std::filesystem::exists(base + "/data/created"));
  EXPECT_EQ(Slurp(base + "/data/current"), "old");
  EXPECT_EQ(Slurp(base + "/data/new"), "new");
  EXPECT_FALSE(std::filesystem::exists(base + "/journal"));
  std::filesystem::remove_all(base);
}

TEST(PowerCutTest, TornPrefixKeepsTheSyncedBytes) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const std::string base = RunWriterAndKill("torn");
    absl::StatusOr<RollbackStats> stats =
        RollBackJournal(base + "/journal", PowerCutMode::kTornPrefix, seed);
    ASSERT_TRUE(stats.ok()) << stats.status();
    const std::string synced = Slurp(base + "/data/synced");
    ASSERT_GE(synced.size(), 3000u) << stats->ToString();
    // Bytes 0..99 and 110..2999 were synced and never touched again.
    EXPECT_EQ(synced.substr(0, 100), std::string(100, 'a'));
    EXPECT_EQ(synced.substr(110, 2890), std::string(2890, 'a'));
    // Whatever is past 3000 is a prefix of the unsynced append.
    EXPECT_EQ(synced.substr(3000), std::string(synced.size() - 3000, 'b'));
    std::filesystem::remove_all(base);
  }
}

}  // namespace
}  // namespace meridian::tests::jepsen

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc != 3) {
    fprintf(stderr, "usage: powercut_test SHIM WRITER\n");
    return 2;
  }
  meridian::tests::jepsen::g_shim = argv[1];
  meridian::tests::jepsen::g_writer = argv[2];
  return RUN_ALL_TESTS();
}
