#include "sim/toy_history.h"

#include <fmt/format.h>

#include <charconv>

#include "checks/log_checker.h"
#include "io/assert.h"

namespace meridian::sim::toy {
namespace {

// Process ids: a client becomes a new process after each indeterminate operation (Jepsen's
// convention: the old process may still have that operation in flight).
constexpr int64_t kProcessesPerClient = 1'000'000;
constexpr int64_t kDrainProcessBase = int64_t{1} << 40;

int64_t ParseValue(const std::string& text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  MERIDIAN_CHECK(error == std::errc() && end == text.data() + text.size(), "value '{}'", text);
  return value;
}

int64_t PartitionOf(io::NodeId server) { return static_cast<int64_t>(server.value()) - 1; }

checks::Operation Send(const ClientOp& op, int64_t process) {
  checks::Operation send;
  send.process = process;
  send.f = checks::Function::kSend;
  send.partition = PartitionOf(op.server);
  send.values = {ParseValue(op.value)};
  send.invoke_ns = op.invoked.nanos();
  switch (op.outcome) {
    case Outcome::kOk:
      send.outcome = checks::Outcome::kOk;
      send.offsets = {op.offset};
      send.complete_ns = op.completed.nanos();
      break;
    case Outcome::kFail:
      send.outcome = checks::Outcome::kFail;
      send.complete_ns = op.completed.nanos();
      break;
    case Outcome::kInfo:
      send.outcome = checks::Outcome::kInfo;
      send.complete_ns = op.completed.nanos();
      break;
    case Outcome::kPending:
      send.outcome = checks::Outcome::kInfo;
      send.complete_ns = checks::kTimeNsInfinite;
      break;
  }
  return send;
}

}  // namespace

checks::History BuildHistory(const JournalObserver& observer,
                             const std::vector<io::NodeId>& servers,
                             const absl::btree_set<io::NodeId>& left_out, io::Instant audit_after) {
  checks::History history;
  absl::btree_map<uint32_t, int64_t> generation;  // By client.
  for (const ClientOp& op : observer.ops()) {
    int64_t& current = generation[op.client];
    MERIDIAN_CHECK(current < kProcessesPerClient);
    const int64_t process = op.client * kProcessesPerClient + current;
    if (op.outcome == Outcome::kInfo || op.outcome == Outcome::kPending) current++;
    if (!left_out.contains(op.server)) history.operations.push_back(Send(op, process));
  }
  for (io::NodeId server : servers) {
    const Recovery* audit = observer.FinalRecovery(server, audit_after);
    if (left_out.contains(server) || audit == nullptr) continue;
    const int64_t process = kDrainProcessBase + server.value();
    checks::Operation assign;
    assign.process = process;
    assign.f = checks::Function::kAssign;
    assign.outcome = checks::Outcome::kOk;
    assign.partitions = {PartitionOf(server)};
    assign.invoke_ns = audit->at.nanos();
    assign.complete_ns = audit->at.nanos();
    checks::Operation poll = assign;
    poll.f = checks::Function::kPoll;
    poll.partitions.clear();
    for (size_t offset = 0; offset < audit->values.size(); offset++) {
      poll.reads.push_back(
          {PartitionOf(server), static_cast<int64_t>(offset), ParseValue(audit->values[offset])});
    }
    history.operations.push_back(assign);
    history.operations.push_back(poll);
  }
  // Operations must be ordered by invocation time (stable: ties keep their recorded order).
  std::stable_sort(history.operations.begin(), history.operations.end(),
                   [](const checks::Operation& a, const checks::Operation& b) {
                     return a.invoke_ns < b.invoke_ns;
                   });
  checks::FinishHistory(&history);
  return history;
}

std::vector<std::string> CheckWithLogChecker(const checks::History& history) {
  absl::StatusOr<checks::CheckReport> report = checks::CheckLog(history, {});
  if (!report.ok()) return {"log checker rejected the history: " + report.status().ToString()};
  std::vector<std::string> problems;
  if (report->verdict == checks::Verdict::kUnknown) problems.push_back("log checker: unknown");
  for (const checks::Finding& finding : report->findings) {
    problems.push_back(fmt::format("log checker: {}: {}", finding.kind, finding.detail));
  }
  return problems;
}

}  // namespace meridian::sim::toy
