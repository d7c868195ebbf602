// meridian-check end to end on the files in testdata/: exit codes, which checker ran, and the
// HTML page written for failing histories.
#include "checks/cli.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "checks/generators.h"
#include "gtest/gtest.h"

namespace meridian::checks {
namespace {

std::string TestData(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/meridian/checks/testdata/" + name;
}

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

TEST(CliTest, ValidLogHistoryExitsZeroAndNamesTheChecker) {
  std::string out;
  EXPECT_EQ(RunCli({.history_path = TestData("log_valid.jsonl")}, &out), kExitValid) << out;
  EXPECT_NE(out.find("checker log: valid"), std::string::npos) << out;
  EXPECT_NE(out.find("verdict: valid"), std::string::npos) << out;
}

TEST(CliTest, AnomaliesExitOneAndAreListed) {
  std::string out;
  const std::string html = TempPath("lost.html");
  EXPECT_EQ(RunCli({.history_path = TestData("log_lost_write.jsonl"), .html_path = html}, &out),
            kExitInvalid);
  EXPECT_NE(out.find("checker log: invalid (1 lost-write)"), std::string::npos) << out;
  EXPECT_NE(out.find("lost-write: value 1 acknowledged at offset 0"), std::string::npos) << out;
  const std::string page = ReadAll(html);
  EXPECT_NE(page.find("<rect id=\"op-0\" class=\"op ok f-send bad\""), std::string::npos);
  EXPECT_NE(page.find("<rect id=\"op-1\" class=\"op ok f-send\""), std::string::npos);
}

TEST(CliTest, RegisterHistoriesGetTheLinearizabilityChecker) {
  std::string out;
  EXPECT_EQ(RunCli({.history_path = TestData("register_stale_read.jsonl")}, &out), kExitInvalid);
  EXPECT_NE(out.find("checker linearizability/register: invalid (1 nonlinearizable)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("object \"x\": no linearization survives the completion of op 3"),
            std::string::npos)
      << out;
  out.clear();
  EXPECT_EQ(RunCli({.history_path = TestData("register_stale_read.jsonl"),
                    .checker = "linearizability",
                    .model = "kv"},
                   &out),
            kExitInvalid);
  EXPECT_NE(out.find("checker linearizability/kv: invalid"), std::string::npos) << out;
}

TEST(CliTest, OutOfTimeExitsTwo) {
  const std::string path = TempPath("big_register.jsonl");
  std::ofstream(path) << FormatHistory(
      GenerateRegisterHistory({.processes_count = 8, .operations_count = 3000}, 3));
  std::string out;
  EXPECT_EQ(RunCli({.history_path = path, .time_limit = absl::ZeroDuration()}, &out), kExitUnknown);
  EXPECT_NE(out.find("checker linearizability/register: unknown"), std::string::npos) << out;
  EXPECT_NE(out.find("time limit"), std::string::npos) << out;
}

TEST(CliTest, BadInputExitsThreeWithTheLine) {
  const std::string path = TempPath("bad.jsonl");
  std::ofstream(path)
      << "{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1}\n"
         "{\"process\":0,\"type\":\"ok\",\"f\":\"poll\",\"time_ns\":2,\"reads\":7}\n";
  std::string out;
  EXPECT_EQ(RunCli({.history_path = path}, &out), kExitBadInput);
  EXPECT_NE(out.find("line 2: field \"reads\": expected an array"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunCli({.history_path = TempPath("missing.jsonl")}, &out), kExitBadInput);
  out.clear();
  EXPECT_EQ(RunCli({.history_path = TestData("log_valid.jsonl"), .checker = "nope"}, &out),
            kExitBadInput);
  EXPECT_NE(out.find("unknown checker \"nope\""), std::string::npos) << out;
}

// A golden transcript: the full summary of the documented example, byte for byte. When the
// output changes on purpose, regenerate it with
//   bazel-bin/checks/meridian-check checks/testdata/log_example.jsonl
//     > checks/testdata/log_example.expected.txt   (one command line)
TEST(CliTest, ExampleSummaryMatchesTheGoldenTranscript) {
  std::string out;
  EXPECT_EQ(RunCli({.history_path = TestData("log_example.jsonl")}, &out), kExitInvalid);
  const std::string prefix = TestData("");
  for (size_t at = out.find(prefix); at != std::string::npos; at = out.find(prefix)) {
    out.replace(at, prefix.size(), "checks/testdata/");
  }
  EXPECT_EQ(out, ReadAll(TestData("log_example.expected.txt")));
}

TEST(CliTest, AllAddsTheLogModel) {
  std::string out;
  EXPECT_EQ(RunCli({.history_path = TestData("log_valid.jsonl"), .checker = "all"}, &out),
            kExitValid);
  EXPECT_NE(out.find("checker log: valid"), std::string::npos) << out;
  EXPECT_NE(out.find("checker linearizability/log: valid"), std::string::npos) << out;
}

}  // namespace
}  // namespace meridian::checks
