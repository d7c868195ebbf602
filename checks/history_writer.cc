// Writing histories: the inverse of ParseHistory, used by generators, tests and the benchmark.
#include <algorithm>
#include <tuple>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "checks/assert.h"
#include "checks/history.h"
#include "checks/json.h"

namespace meridian::checks {
namespace {

void AppendInts(const std::vector<int64_t>& xs, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < xs.size(); i++) absl::StrAppend(out, i == 0 ? "" : ",", xs[i]);
  out->push_back(']');
}

void AppendValue(int64_t value, std::string* out) {
  if (value == kValueNone) {
    out->append("null");
  } else {
    absl::StrAppend(out, value);
  }
}

void AppendRequest(const Operation& op, std::string* out) {
  switch (op.f) {
    case Function::kSend:
      absl::StrAppend(out, ",\"partition\":", op.partition, ",\"values\":");
      AppendInts(op.values, out);
      if (op.partition_count > 0 || !op.key.empty()) {
        out->append(",\"key\":");
        json::AppendQuoted(op.key, out);
      }
      if (op.partition_count > 0) absl::StrAppend(out, ",\"partition_count\":", op.partition_count);
      if (op.producer >= 0) {
        absl::StrAppend(out, ",\"producer\":", op.producer, ",\"producer_seq\":", op.producer_seq);
      }
      break;
    case Function::kPoll:
      break;
    case Function::kCommit:
      out->append(",\"commits\":[");
      for (size_t i = 0; i < op.commits.size(); i++) {
        absl::StrAppend(out, i == 0 ? "" : ",", "[", op.commits[i].partition, ",",
                        op.commits[i].offset, "]");
      }
      out->push_back(']');
      if (op.generation >= 0) absl::StrAppend(out, ",\"generation\":", op.generation);
      break;
    case Function::kAssign:
      out->append(",\"partitions\":");
      AppendInts(op.partitions, out);
      if (op.generation >= 0) absl::StrAppend(out, ",\"generation\":", op.generation);
      break;
    case Function::kRead:
    case Function::kWrite:
    case Function::kCas:
      if (!op.key.empty()) {
        out->append(",\"key\":");
        json::AppendQuoted(op.key, out);
      }
      if (op.f == Function::kCas) {
        out->append(",\"expected\":");
        AppendValue(op.expected, out);
      }
      if (op.f != Function::kRead) absl::StrAppend(out, ",\"value\":", op.value);
      break;
  }
}

void AppendResults(const Operation& op, std::string* out) {
  if (!op.ok()) return;
  if (op.f == Function::kSend) {
    out->append(",\"offsets\":");
    AppendInts(op.offsets, out);
  } else if (op.f == Function::kPoll) {
    out->append(",\"reads\":[");
    for (size_t i = 0; i < op.reads.size(); i++) {
      const Read& r = op.reads[i];
      absl::StrAppend(out, i == 0 ? "" : ",", "[", r.partition, ",", r.offset, ",", r.value, "]");
    }
    out->push_back(']');
  } else if (op.f == Function::kAssign && !op.starts.empty()) {
    out->append(",\"starts\":[");
    for (size_t i = 0; i < op.starts.size(); i++) {
      absl::StrAppend(out, i == 0 ? "" : ",", "[", op.starts[i].partition, ",", op.starts[i].offset,
                      "]");
    }
    out->push_back(']');
  } else if (op.f == Function::kRead) {
    out->append(",\"value\":");
    AppendValue(op.value, out);
  }
}

void AppendEvent(const Operation& op, bool completion, std::string* out) {
  const char* type = completion ? OutcomeName(op.outcome) : "invoke";
  absl::StrAppend(out, "{\"process\":", op.process, ",\"type\":\"", type, "\",\"f\":\"",
                  FunctionName(op.f),
                  "\",\"time_ns\":", completion ? op.complete_ns : op.invoke_ns);
  if (completion) {
    if (op.f == Function::kRead && op.ok()) {
      if (!op.key.empty()) {
        out->append(",\"key\":");
        json::AppendQuoted(op.key, out);
      }
    }
    AppendResults(op, out);
  } else {
    AppendRequest(op, out);
  }
  out->append("}\n");
}

}  // namespace

std::string FormatHistory(const History& history) {
  // Order events by time; at equal times an operation's invocation precedes its completion, and
  // a process's completion precedes its next invocation (ids grow with invocation order).
  std::vector<std::tuple<int64_t, int64_t, const Operation*>> events;
  events.reserve(history.operations.size() * 2);
  for (const Operation& op : history.operations) {
    CHECKS_ASSERT(op.invoke_ns <= op.complete_ns);
    events.emplace_back(op.invoke_ns, 2 * op.id, &op);
    if (op.complete_ns != kTimeNsInfinite) events.emplace_back(op.complete_ns, 2 * op.id + 1, &op);
  }
  std::sort(events.begin(), events.end());
  std::string out;
  out.reserve(events.size() * 96);
  for (const auto& [time_ns, key, op] : events) AppendEvent(*op, key % 2 == 1, &out);
  return out;
}

void FinishHistory(History* history) {
  std::stable_sort(
      history->operations.begin(), history->operations.end(),
      [](const Operation& a, const Operation& b) { return a.invoke_ns < b.invoke_ns; });
  absl::btree_map<int64_t, const Operation*> last_op;  // process -> its previous operation
  history->has_log_operations = false;
  history->has_register_operations = false;
  for (size_t i = 0; i < history->operations.size(); i++) {
    Operation& op = history->operations[i];
    op.id = static_cast<int64_t>(i);
    CHECKS_ASSERT(op.invoke_ns >= 0);
    CHECKS_ASSERT(op.invoke_ns <= op.complete_ns);
    if (op.ok() && op.f == Function::kSend) CHECKS_ASSERT(op.offsets.size() == op.values.size());
    if (!op.indeterminate()) CHECKS_ASSERT(op.complete_ns != kTimeNsInfinite);
    auto [last, inserted] = last_op.try_emplace(op.process, &op);
    if (!inserted) {
      CHECKS_ASSERT_MSG(!last->second->indeterminate(), "process acts after an info completion");
      CHECKS_ASSERT_MSG(last->second->complete_ns <= op.invoke_ns, "two operations in flight");
      last->second = &op;
    }
    (IsLogFunction(op.f) ? history->has_log_operations : history->has_register_operations) = true;
  }
  history->processes_count = static_cast<int64_t>(last_op.size());
}

}  // namespace meridian::checks
