// Always-on assertions (house style rule 3). A failed assertion is a programmer error: it prints
// the condition, the location and an optional formatted message, then aborts. Under the simulator
// an abort becomes a failing seed with its repro line, so assert densely.
#pragma once

#include <fmt/format.h>

#include <string>

namespace meridian::io::internal {
[[noreturn]] void AssertFailed(const char* condition, const char* file, int line,
                               const std::string& message);
}  // namespace meridian::io::internal

#define MERIDIAN_CHECK(condition, ...)                                       \
  do {                                                                       \
    if (!(condition)) [[unlikely]] {                                         \
      ::meridian::io::internal::AssertFailed(#condition, __FILE__, __LINE__, \
                                             ::fmt::format("" __VA_ARGS__)); \
    }                                                                        \
  } while (false)

// Marks a branch that must never be reached.
#define MERIDIAN_UNREACHABLE(...)                                           \
  ::meridian::io::internal::AssertFailed("unreachable", __FILE__, __LINE__, \
                                         ::fmt::format("" __VA_ARGS__))
