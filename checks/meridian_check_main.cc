// meridian-check: checks a history file (docs/history-format.md) and exits
//   0 valid, 1 anomalies found (listed), 2 unknown (a checker ran out of time), 3 bad input or
//   bad usage (an unknown flag, a value that does not parse); --help exits 0.
//
//   bazel run //checks:meridian-check -- [--checker=auto|all|log|linearizability]
//       [--model=register|kv|log] [--time_limit_s=60] [--info_window_ns=-1]
//       [--unseen_is_anomaly=false]
//       [--html=report.html] HISTORY
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "checks/cli.h"
#include "io/command_line.h"

ABSL_FLAG(std::string, checker, "auto", "auto, all, log or linearizability");
ABSL_FLAG(std::string, model, "", "linearizability model: register, kv or log");
ABSL_FLAG(int64_t, time_limit_s, 60, "time budget of the linearizability search, seconds");
ABSL_FLAG(int64_t, info_window_ns, -1,
          "how long after an info completion its operation may still take effect; -1: forever");
ABSL_FLAG(bool, unseen_is_anomaly, true,
          "report acknowledged values nobody read by the end (turn off for truncated runs)");
ABSL_FLAG(std::string, html, "", "write an HTML report here unless the history is valid");
ABSL_FLAG(bool, html_always, false, "write the HTML report even for a valid history");

namespace {

// `bazel run` starts programs in their runfiles; relative paths mean the caller's directory.
std::string Resolve(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || cwd == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("meridian-check [flags] HISTORY  (see docs/checks.md)");
  // A bad flag is bad usage (3), not absl's exit 1, which here would read "anomalies found".
  std::vector<char*> args =
      meridian::io::ParseCommandLineOrExit(argc, argv, meridian::checks::kExitBadInput);
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: meridian-check [flags] HISTORY (--help for flags)\n");
    return meridian::checks::kExitBadInput;
  }
  meridian::checks::CliOptions options;
  options.history_path = Resolve(args[1]);
  options.checker = absl::GetFlag(FLAGS_checker);
  options.model = absl::GetFlag(FLAGS_model);
  options.time_limit = absl::Seconds(absl::GetFlag(FLAGS_time_limit_s));
  options.unseen_is_anomaly = absl::GetFlag(FLAGS_unseen_is_anomaly);
  options.info_window_ns = absl::GetFlag(FLAGS_info_window_ns);
  options.html_path = absl::GetFlag(FLAGS_html).empty() ? "" : Resolve(absl::GetFlag(FLAGS_html));
  options.html_always = absl::GetFlag(FLAGS_html_always);
  std::string out;
  const meridian::checks::ExitCode code = meridian::checks::RunCli(options, &out);
  std::fputs(out.c_str(), stdout);
  return code;
}
