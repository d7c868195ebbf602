// The one place in io/ (outside io/posix) that makes system calls: write(2) to stderr and the
// fatal-signal handlers, to name the run a dying process was in (fatal_context.h).
#include "io/fatal_context.h"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iterator>

#include "io/assert.h"

namespace meridian::io {
namespace {

constexpr char kPrefix[] = "\n*** the process died during: ";
constexpr int kFatalSignals[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};

char line[FatalContext::kLineBytesMax];
size_t line_bytes = 0;
volatile std::sig_atomic_t armed = 0;    // A context lives.
volatile std::sig_atomic_t written = 0;  // Its line was written already.
// What each fatal signal did before the first context: libFuzzer's handler (which saves the
// crashing input) or a sanitizer's (which reports the fault) must still run after the line.
struct sigaction previous_actions[std::size(kFatalSignals)];

void WriteAll(const char* bytes, size_t count) {
  while (count > 0) {
    const ssize_t done = ::write(STDERR_FILENO, bytes, count);
    if (done <= 0) return;  // Nothing better to do in a dying process.
    bytes += done;
    count -= static_cast<size_t>(done);
  }
}

// Writes the line, puts back the action the signal had before, and raises it again: delivered
// once this handler returns, it runs that action (the default one kills the process).
void OnFatalSignal(int signal) {
  internal::WriteFatalContext();
  for (size_t i = 0; i < std::size(kFatalSignals); i++) {
    if (kFatalSignals[i] == signal) ::sigaction(signal, &previous_actions[i], nullptr);
  }
  std::raise(signal);
}

void InstallOnce() {
  static const bool installed = [] {
    for (size_t i = 0; i < std::size(kFatalSignals); i++) {
      struct sigaction action {};
      action.sa_handler = &OnFatalSignal;
      sigemptyset(&action.sa_mask);
      ::sigaction(kFatalSignals[i], &action, &previous_actions[i]);
    }
    return true;
  }();
  MERIDIAN_CHECK(installed);
}

}  // namespace

FatalContext::FatalContext(std::string_view text) {
  MERIDIAN_CHECK(armed == 0, "one FatalContext at a time");
  MERIDIAN_CHECK(text.size() < kLineBytesMax, "fatal context line of {} bytes", text.size());
  std::memcpy(line, text.data(), text.size());
  line_bytes = text.size();
  InstallOnce();
  written = 0;
  armed = 1;
}

FatalContext::~FatalContext() {
  MERIDIAN_CHECK(armed == 1);
  armed = 0;
}

namespace internal {

void WriteFatalContext() {
  if (armed == 0 || written != 0) return;
  written = 1;
  WriteAll(kPrefix, sizeof(kPrefix) - 1);
  WriteAll(line, line_bytes);
  WriteAll("\n", 1);
}

}  // namespace internal
}  // namespace meridian::io
