#include "node/structured_log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace meridian::node {
namespace {

TEST(StructuredLogTest, LevelsParseAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("INFO").ok());
  EXPECT_FALSE(ParseLogLevel("verbose").ok());
  EXPECT_FALSE(ParseLogLevel("").ok());
}

TEST(StructuredLogTest, ALineIsTimestampLevelNodeEventThenFieldsInOrder) {
  // 2026-11-30T12:00:00.123Z
  const std::string line = FormatLogLine(1'796'040'000'123, LogLevel::kWarn, 3, "accept_failed",
                                         {{"error", "out of fds"}, {"retry_ms", "100"}});
  EXPECT_EQ(line,
            "ts=2026-11-30T12:00:00.123Z level=warn node=3 event=accept_failed "
            "error=\"out of fds\" retry_ms=100");
}

TEST(StructuredLogTest, ValuesThatWouldBreakTheLineAreQuotedAndEscaped) {
  EXPECT_EQ(LogfmtValue("plain"), "plain");
  EXPECT_EQ(LogfmtValue(""), "\"\"");
  EXPECT_EQ(LogfmtValue("a=b"), "\"a=b\"");
  EXPECT_EQ(LogfmtValue("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(LogfmtValue("two\nlines"), "\"two\\nlines\"");
  EXPECT_EQ(LogfmtValue("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(LogfmtValue(std::string("bell\a")), "\"bell\\x07\"");
}

TEST(StructuredLogTest, EventsBelowTheLevelAreDropped) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  Logger logger(1, LogLevel::kWarn, out);
  logger.Log(LogLevel::kInfo, "dropped");
  logger.Log(LogLevel::kError, "kept", {{"why", "test"}});
  std::rewind(out);
  char buffer[512] = {};
  const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, out);
  std::fclose(out);
  const std::string written(buffer, n);
  EXPECT_EQ(written.find("dropped"), std::string::npos);
  EXPECT_NE(written.find("level=error node=1 event=kept why=test\n"), std::string::npos);
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 1);
}

}  // namespace
}  // namespace meridian::node
