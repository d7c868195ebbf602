// What a dying process was doing (issue 17, "Harness power"): while a FatalContext lives, a
// failed MERIDIAN_CHECK and a fatal signal (SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL) write its
// line to stderr before the process dies as it would have anyway. A seed sweep (meridian-sim,
// the raft sweeps' SeedGuard) holds one per seed naming the command that replays it, so a seed
// that dies inside a node is never lost.
//
// The line is copied into static storage and written with write(2): the signal handler reads
// no heap and calls only async-signal-safe functions. One context at a time (contexts are per
// seed and a sweep runs one seed at a time); nesting is a programmer error. The line only
// describes the run: nothing reads it back, so it cannot change what the run does.
#pragma once

#include <cstddef>
#include <string_view>

namespace meridian::io {

class FatalContext {
 public:
  // Room for a meridian-sim command with an explicit schedule of kExplicitScheduleMaxEvents.
  static constexpr size_t kLineBytesMax = 16 * 1024;

  explicit FatalContext(std::string_view line);
  ~FatalContext();
  FatalContext(const FatalContext&) = delete;
  FatalContext& operator=(const FatalContext&) = delete;
};

namespace internal {
// Writes the live context's line to stderr, once per context (AssertFailed calls it before it
// aborts; the SIGABRT that follows then writes nothing more). Async-signal-safe.
void WriteFatalContext();
}  // namespace internal

}  // namespace meridian::io
