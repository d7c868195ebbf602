#include "checks/cli.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checks/history.h"
#include "checks/linearizability.h"
#include "checks/log_checker.h"
#include "checks/report.h"

namespace meridian::checks {
namespace {

struct Plan {
  bool log = false;
  std::vector<ModelKind> models;
};

absl::StatusOr<Plan> MakePlan(const CliOptions& options, const History& history) {
  Plan plan;
  const bool is_log = history.has_log_operations;
  const bool is_register = history.has_register_operations;
  if (options.checker == "auto" || options.checker == "all") {
    plan.log = is_log;
    if (is_register) plan.models.push_back(ModelKind::kRegister);
    if (options.checker == "all" && is_log) plan.models.push_back(ModelKind::kLog);
  } else if (options.checker == "log") {
    plan.log = true;
  } else if (options.checker == "linearizability") {
    if (!options.model.empty()) {
      absl::StatusOr<ModelKind> model = ParseModelKind(options.model);
      if (!model.ok()) return model.status();
      plan.models.push_back(*model);
    } else {
      plan.models.push_back(is_register || !is_log ? ModelKind::kRegister : ModelKind::kLog);
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown checker \"", options.checker, "\"; expected auto, all, log or linearizability"));
  }
  if (!plan.log && plan.models.empty()) {
    return absl::InvalidArgumentError("the history has no operations any checker understands");
  }
  return plan;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

ExitCode RunCli(const CliOptions& options, std::string* out) {
  absl::StatusOr<History> history = ReadHistoryFile(options.history_path);
  if (!history.ok()) {
    absl::StrAppend(out, "meridian-check: bad input: ", history.status().message(), "\n");
    return kExitBadInput;
  }
  absl::StatusOr<Plan> plan = MakePlan(options, *history);
  if (!plan.ok()) {
    absl::StrAppend(out, "meridian-check: ", plan.status().message(), "\n");
    return kExitBadInput;
  }
  std::vector<CheckReport> reports;
  if (plan->log) {
    absl::StatusOr<CheckReport> report =
        CheckLog(*history, {.unseen_is_anomaly = options.unseen_is_anomaly});
    if (!report.ok()) {
      absl::StrAppend(
          out, "meridian-check: bad input for the log checker: ", report.status().message(), "\n");
      return kExitBadInput;
    }
    reports.push_back(*std::move(report));
  }
  for (ModelKind model : plan->models) {
    const LinearizabilityOptions lin{
        .model = model,
        .time_limit = options.time_limit,
        .info_window_ns = options.info_window_ns < 0 ? kTimeNsInfinite : options.info_window_ns};
    reports.push_back(LinearizabilityReport(*history, lin, CheckLinearizability(*history, lin)));
  }
  absl::StrAppend(out, TextSummary(options.history_path, *history, reports));
  const Verdict verdict = CombinedVerdict(reports);
  if (!options.html_path.empty() && (verdict != Verdict::kValid || options.html_always)) {
    absl::Status written =
        WriteFile(options.html_path, HtmlReport(options.history_path, *history, reports));
    if (!written.ok()) {
      absl::StrAppend(out, "meridian-check: ", written.message(), "\n");
      return kExitBadInput;
    }
    absl::StrAppend(out, "HTML report: ", options.html_path, "\n");
  }
  switch (verdict) {
    case Verdict::kValid:
      return kExitValid;
    case Verdict::kInvalid:
      return kExitInvalid;
    case Verdict::kUnknown:
      return kExitUnknown;
  }
  return kExitUnknown;
}

}  // namespace meridian::checks
