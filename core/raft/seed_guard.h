// Test-only: a failing seed is never lost (issue 17 item 5). While a SeedGuard lives, a fatal
// signal (SIGABRT from a failed MERIDIAN_CHECK inside a node, SIGSEGV, SIGBUS, SIGFPE, SIGILL)
// first prints the guard's line, which names the seed and the command that replays it, then
// kills the process as it would have died anyway. Sweeps construct one per seed; hangs are the
// other half and are handled by a per-seed step or event budget in the runner itself.
//
// One guard at a time (guards are per seed, and sweeps run one seed at a time); nesting is a
// programmer error. The line is copied into static storage so the handler reads no heap.
#pragma once

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "io/assert.h"

namespace meridian::core::raft::testing {

class SeedGuard {
 public:
  static constexpr size_t kLineBytesMax = 1024;

  explicit SeedGuard(std::string_view line) {
    MERIDIAN_CHECK(!Armed(), "one SeedGuard at a time");
    MERIDIAN_CHECK(line.size() < kLineBytesMax, "seed line of {} bytes", line.size());
    std::memcpy(Line(), line.data(), line.size());
    Line()[line.size()] = '\0';
    InstallOnce();
    Armed() = true;
  }
  ~SeedGuard() {
    MERIDIAN_CHECK(Armed());
    Armed() = false;
  }
  SeedGuard(const SeedGuard&) = delete;
  SeedGuard& operator=(const SeedGuard&) = delete;

 private:
  static char* Line() {
    static char line[kLineBytesMax];
    return line;
  }
  static volatile std::sig_atomic_t& Armed() {
    static volatile std::sig_atomic_t armed = 0;
    return armed;
  }
  static void OnFatalSignal(int signal) {
    if (Armed()) {
      // stderr is unbuffered; the process is dying, and MERIDIAN_CHECK's own report has already
      // been written by the time it aborts.
      std::fputs("\n*** the run died on a signal; ", stderr);
      std::fputs(Line(), stderr);
      std::fputs("\n", stderr);
    }
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
  static void InstallOnce() {
    static const bool installed = [] {
      for (int signal : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
        std::signal(signal, &SeedGuard::OnFatalSignal);
      }
      return true;
    }();
    MERIDIAN_CHECK(installed);
  }
};

}  // namespace meridian::core::raft::testing
