// Time as the protocol sees it: a monotonic instant and a duration, in nanoseconds.
//
// Both backends express time through these types: io/posix reads CLOCK_MONOTONIC, sim/ runs a
// virtual clock. `Instant` deliberately has no `now()`: the only way to learn the time is
// `io::Runtime::Now()`, which keeps core/ deterministic under simulation.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace meridian::io {

using Duration = std::chrono::nanoseconds;

// A point on a runtime's monotonic clock. Comparable only with instants of the same runtime.
class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant FromNanos(int64_t ns) { return Instant(ns); }
  static constexpr Instant Infinite() { return Instant(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t nanos() const { return ns_; }
  constexpr bool is_infinite() const { return ns_ == std::numeric_limits<int64_t>::max(); }

  // Saturates at Infinite() rather than overflowing, so `Now() + timeout` is always safe.
  constexpr Instant operator+(Duration d) const {
    if (is_infinite()) return *this;
    if (d.count() > 0 && ns_ > std::numeric_limits<int64_t>::max() - d.count()) {
      return Infinite();
    }
    return Instant(ns_ + d.count());
  }
  constexpr Duration operator-(Instant other) const { return Duration(ns_ - other.ns_); }
  constexpr auto operator<=>(const Instant&) const = default;

  std::string ToString() const;

 private:
  constexpr explicit Instant(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

std::string FormatDuration(Duration d);

}  // namespace meridian::io
