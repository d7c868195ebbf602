#include "node/structured_log.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace meridian::node {

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == LogLevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a log level (debug, info, warn or error)", text));
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

std::string LogfmtValue(std::string_view value) {
  bool bare = !value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      bare = false;
    }
  }
  if (bare) return std::string(value);
  std::string quoted = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          quoted += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

std::string FormatLogLine(int64_t wall_clock_ms, LogLevel level, uint32_t node,
                          std::string_view event, LogFields fields) {
  const std::time_t seconds = static_cast<std::time_t>(wall_clock_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::string line = fmt::format(
      "ts={:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z level={} node={} "
      "event={}",
      utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
      wall_clock_ms % 1000, LogLevelName(level), node, LogfmtValue(event));
  for (const auto& [key, value] : fields) {
    line += fmt::format(" {}={}", key, LogfmtValue(value));
  }
  return line;
}

void Logger::Log(LogLevel level, std::string_view event, LogFields fields) const {
  if (!Enabled(level)) return;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const std::string line = FormatLogLine(now_ms, level, node_, event, fields);
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

}  // namespace meridian::node
