// Structured logs for meridian-node: one event per line on stderr, in logfmt
// (`ts=2026-11-30T12:00:00.123Z level=info node=1 event=up clients=127.0.0.1:9101`). Values with
// spaces, quotes, `=` or control characters are double-quoted with `\"`, `\\`, `\n` escapes, so a
// line always parses back into the same keys and values. Events below the configured level are
// dropped. docs/operations.md lists the events.
//
// Single-threaded: used from the reactor thread only (the node's fibers), like everything in node/.
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace meridian::node {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn" or "error"; InvalidArgument otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text);
std::string_view LogLevelName(LogLevel level);

using LogFields = std::initializer_list<std::pair<std::string_view, std::string>>;

// `value` as a logfmt value: bare if it needs no quoting, else quoted and escaped.
std::string LogfmtValue(std::string_view value);

// One log line (without the newline): ts, level, node, event, then `fields` in order.
std::string FormatLogLine(int64_t wall_clock_ms, LogLevel level, uint32_t node,
                          std::string_view event, LogFields fields);

class Logger {
 public:
  Logger(uint32_t node, LogLevel level, std::FILE* out = stderr)
      : node_(node), level_(level), out_(out) {}
  bool Enabled(LogLevel level) const { return level >= level_; }
  // Writes one line if `level` is enabled; `event` is a stable snake_case name.
  void Log(LogLevel level, std::string_view event, LogFields fields = {}) const;

 private:
  uint32_t node_;
  LogLevel level_;
  std::FILE* out_;
};

}  // namespace meridian::node
