// meridian-check, as a function so tests can run it without a process: reads a history file,
// picks and runs the checkers, writes the text summary (and optionally the HTML page), and
// returns the exit code.
#ifndef MERIDIAN_CHECKS_CLI_H_
#define MERIDIAN_CHECKS_CLI_H_

#include <string>

#include "absl/time/time.h"

namespace meridian::checks {

enum ExitCode : int {
  kExitValid = 0,
  kExitInvalid = 1,  // anomalies found, listed in the summary
  kExitUnknown = 2,  // a checker ran out of time; nothing invalid found
  kExitBadInput = 3  // unreadable history or bad usage: nothing was checked
};

struct CliOptions {
  std::string history_path = "";
  // "auto": the log checker for send/poll histories, linearizability (register model, one object
  // per key) for read/write/cas ones, both for mixed ones. Or "log", "linearizability", "all"
  // (auto plus linearizability of the log model for send/poll histories).
  std::string checker = "auto";
  std::string model = "";  // for "linearizability": register, kv or log; default by history
  absl::Duration time_limit = absl::Seconds(60);
  // See LinearizabilityOptions::info_window_ns; negative means infinite (the default).
  int64_t info_window_ns = -1;
  bool unseen_is_anomaly = true;
  std::string html_path = "";  // write the HTML report here when the verdict is not valid
  bool html_always = false;
};

ExitCode RunCli(const CliOptions& options, std::string* out);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_CLI_H_
