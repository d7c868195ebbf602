// check_bench: how fast the checkers are on histories of the sizes the issue asks for.
//
//   bazel run -c opt //checks:check_bench
//
// Generates (deterministically) a 100,000-operation log history and a 10,000-operation register
// history of 10 concurrent clients, valid and with planted anomalies, and reports wall time and
// peak resident memory for formatting, parsing and checking each. It exits 1 if a verdict is
// wrong or a time goal is missed (goals: log history < 1 s, register history < 10 s). Failing
// register histories are also timed: found fast without indeterminate operations, "unknown"
// within the 10 s limit with 2% of them (each may or may not have happened: the search space of
// a failing history grows with every one).
#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "checks/generators.h"
#include "checks/linearizability.h"
#include "checks/log_checker.h"

namespace meridian::checks {
namespace {

int64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

class Stopwatch {
 public:
  Stopwatch() : start_(absl::Now()) {}
  double ElapsedS() const { return absl::ToDoubleSeconds(absl::Now() - start_); }

 private:
  absl::Time start_;
};

bool failed = false;

void Report(const char* what, double elapsed_s, const char* verdict, const char* expected) {
  const bool right = std::string(verdict) == expected;
  failed = failed || !right;
  std::printf("  %-44s %8.3f s   peak RSS %6.1f MiB   verdict %s%s\n", what, elapsed_s,
              PeakRssBytes() / 1048576.0, verdict, right ? "" : "  <-- WRONG");
}

void Goal(const char* what, double elapsed_s, double goal_s) {
  const bool met = elapsed_s < goal_s;
  failed = failed || !met;
  std::printf("  goal: %s in < %.0f s: %.3f s, %s\n", what, goal_s, elapsed_s,
              met ? "met" : "MISSED");
}

void LogBenchmark() {
  std::printf("log history: 100,000 operations, 10 processes, 4 partitions\n");
  Stopwatch generate;
  History history = GenerateLogHistory({.processes_count = 10,
                                        .partitions_count = 4,
                                        .operations_count = 100'000,
                                        .percent_indeterminate = 1,
                                        .percent_fail = 1},
                                       42);
  std::printf("  generated %zu operations (with the final drain) in %.3f s\n",
              history.operations.size(), generate.ElapsedS());
  Stopwatch format;
  const std::string text = FormatHistory(history);
  std::printf("  formatted %.1f MiB of JSON lines in %.3f s\n", text.size() / 1048576.0,
              format.ElapsedS());
  Stopwatch total;
  Stopwatch parse;
  absl::StatusOr<History> parsed = ParseHistory(text);
  Report("parse", parse.ElapsedS(), parsed.ok() ? "ok" : "error", "ok");
  if (!parsed.ok()) return;
  Stopwatch check;
  absl::StatusOr<CheckReport> report = CheckLog(*parsed, {});
  Report("log checker, valid history", check.ElapsedS(),
         report.ok() ? VerdictName(report->verdict) : "error", "valid");
  Goal("parse + check the 100,000-op log history", total.ElapsedS(), 1.0);
  // Plant a lost write: the first acknowledged value is never read.
  for (Operation& op : parsed->operations) {
    if (op.f == Function::kPoll && op.ok()) {
      std::erase_if(op.reads, [](const Read& r) { return r.partition == 0 && r.offset == 0; });
    }
  }
  Stopwatch planted;
  report = CheckLog(*parsed, {});
  Report("log checker, offset 0 of partition 0 lost", planted.ElapsedS(),
         report.ok() ? VerdictName(report->verdict) : "error", "invalid");
  // The log model's linearizability, on a smaller history: with indeterminate sends the search
  // space explodes (each may or may not have landed at any offset), so this runs without them.
  History small = GenerateLogHistory({.processes_count = 10,
                                      .partitions_count = 4,
                                      .operations_count = 10'000,
                                      .percent_indeterminate = 0,
                                      .percent_fail = 1},
                                     42);
  Stopwatch lin;
  LinearizabilityResult result = CheckLinearizability(small, {.model = ModelKind::kLog});
  Report("linearizability/log, 10,000 ops, no info ops", lin.ElapsedS(),
         VerdictName(result.verdict), "valid");
  // With info sends the search needs a bound on when they can land (see info_window_ns); the
  // generator's land before their info completion, so 0 is true of the 100,000-op history.
  Stopwatch windowed;
  result = CheckLinearizability(
      history, {.model = ModelKind::kLog, .time_limit = absl::Seconds(10), .info_window_ns = 0});
  Report("linearizability/log, 100,000 ops, info window 0", windowed.ElapsedS(),
         VerdictName(result.verdict), "valid");
}

// Plants a read of a value never written two thirds of the way in, and checks with a 10 s limit.
void PlantedRead(History history, const char* what, const char* expected,
                 int64_t info_window_ns = kTimeNsInfinite) {
  for (size_t i = history.operations.size() * 2 / 3; i < history.operations.size(); i++) {
    Operation& op = history.operations[i];
    if (op.f == Function::kRead && op.ok()) {
      op.value = 99;
      break;
    }
  }
  Stopwatch planted;
  LinearizabilityResult result = CheckLinearizability(history, {.model = ModelKind::kRegister,
                                                                .time_limit = absl::Seconds(10),
                                                                .info_window_ns = info_window_ns});
  Report(what, planted.ElapsedS(), VerdictName(result.verdict), expected);
  if (result.verdict == Verdict::kInvalid) {
    std::printf("  counterexample: culprit op %lld, %lld completions in the shortest bad prefix\n",
                static_cast<long long>(result.objects[0].counterexample.culprit_op_id),
                static_cast<long long>(result.objects[0].counterexample.prefix_completions_count));
  }
}

void RegisterBenchmark() {
  std::printf("register history: 10,000 operations, 10 concurrent clients, one register\n");
  History history = GenerateRegisterHistory(
      {.processes_count = 10, .operations_count = 10'000, .values_count = 5}, 42);
  const std::string text = FormatHistory(history);
  Stopwatch total;
  absl::StatusOr<History> parsed = ParseHistory(text);
  if (!parsed.ok()) {
    std::printf("  parse error: %s\n", std::string(parsed.status().message()).c_str());
    failed = true;
    return;
  }
  Stopwatch check;
  LinearizabilityResult result = CheckLinearizability(*parsed, {.model = ModelKind::kRegister});
  Report("linearizability/register, valid history", check.ElapsedS(), VerdictName(result.verdict),
         "valid");
  std::printf("  memo: %lld entries, %.1f MiB\n",
              static_cast<long long>(result.objects[0].cache_entries_count),
              result.cache_bytes_max / 1048576.0);
  Goal("parse + check the 10,000-op register history", total.ElapsedS(), 10.0);
  // Known limit: with ~200 info ops the failing search space explodes; the time limit says so.
  PlantedRead(*parsed, "same, planted read (2% info ops)", "unknown");
  // The generator's info operations take effect before their info completion, if at all, so a
  // zero info window is true of this history; it bounds how long each stays available.
  PlantedRead(*parsed, "same, planted read, info window 0 ns", "invalid", 0);
  History no_info = GenerateRegisterHistory({.processes_count = 10,
                                             .operations_count = 10'000,
                                             .values_count = 5,
                                             .percent_indeterminate = 0},
                                            42);
  PlantedRead(no_info, "same, without info ops, planted read", "invalid");
  Stopwatch windowed;
  result = CheckLinearizability(history, {.model = ModelKind::kRegister, .info_window_ns = 0});
  Report("valid history again, info window 0 ns", windowed.ElapsedS(), VerdictName(result.verdict),
         "valid");
}

}  // namespace
}  // namespace meridian::checks

int main() {
  meridian::checks::LogBenchmark();
  meridian::checks::RegisterBenchmark();
  std::printf("%s\n", meridian::checks::failed ? "FAILED" : "all verdicts right, all goals met");
  return meridian::checks::failed ? 1 : 0;
}
