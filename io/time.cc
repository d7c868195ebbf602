#include "io/time.h"

#include <fmt/format.h>

namespace meridian::io {

std::string Instant::ToString() const {
  if (is_infinite()) return "inf";
  return fmt::format("{}.{:09d}s", ns_ / 1'000'000'000, ns_ % 1'000'000'000);
}

std::string FormatDuration(Duration d) {
  const int64_t ns = d.count();
  if (ns % 1'000'000'000 == 0) return fmt::format("{}s", ns / 1'000'000'000);
  if (ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
  if (ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
  return fmt::format("{}ns", ns);
}

}  // namespace meridian::io
