// Test-only: a failing seed is never lost (issue 17 item 5). While a SeedGuard lives, a failed
// MERIDIAN_CHECK inside a node or a fatal signal (SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL)
// first prints the guard's line, which names the seed and the command that replays it, then
// the process dies as it would have anyway (io::FatalContext, which meridian-sim uses too).
// Sweeps construct one per seed; hangs are the other half and are handled by a per-seed step or
// event budget in the runner itself. One guard at a time; nesting is a programmer error.
#pragma once

#include <string_view>

#include "io/fatal_context.h"

namespace meridian::core::raft::testing {

class SeedGuard {
 public:
  static constexpr size_t kLineBytesMax = io::FatalContext::kLineBytesMax;

  explicit SeedGuard(std::string_view line) : context_(line) {}
  SeedGuard(const SeedGuard&) = delete;
  SeedGuard& operator=(const SeedGuard&) = delete;

 private:
  io::FatalContext context_;
};

}  // namespace meridian::core::raft::testing
