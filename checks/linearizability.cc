#include "checks/linearizability.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "checks/assert.h"
#include "checks/wgl_search.h"

namespace meridian::checks {
namespace {

// Splits the history into objects (P-compositionality). Failed operations did not happen, and
// indeterminate reads reveal nothing, so both are dropped.
absl::btree_map<std::string, std::vector<ObjectOperation>> SplitByObject(const History& history,
                                                                         const Model& model,
                                                                         int64_t info_window_ns) {
  absl::btree_map<std::string, std::vector<ObjectOperation>> objects;
  for (const Operation& op : history.operations) {
    if (op.failed()) continue;
    if (op.indeterminate() && model.IsReadOnly(op)) continue;
    for (const std::string& object : model.ObjectsOf(op)) {
      ObjectOperation o;
      o.op_id = op.id;
      o.op = model.Restrict(op, object);
      o.call_ns = op.invoke_ns;
      o.pending = op.indeterminate();
      o.return_ns = op.effect_deadline_ns();
      if (o.pending && info_window_ns != kTimeNsInfinite) {
        const int64_t base_ns = op.complete_ns != kTimeNsInfinite ? op.complete_ns : op.invoke_ns;
        o.return_ns =
            base_ns > kTimeNsInfinite - info_window_ns ? kTimeNsInfinite : base_ns + info_window_ns;
      }
      objects[object].push_back(std::move(o));
    }
  }
  for (auto& [object, ops] : objects) {
    CHECKS_ASSERT(static_cast<int64_t>(ops.size()) <= kObjectOperationsMax);
    std::stable_sort(ops.begin(), ops.end(),
                     [](const ObjectOperation& a, const ObjectOperation& b) {
                       return std::tie(a.call_ns, a.op_id) < std::tie(b.call_ns, b.op_id);
                     });
  }
  return objects;
}

// The counterexample from the search of the full history (see wgl_search.h for why the
// furthest blocking completion ends the shortest non-linearizable prefix).
Counterexample MakeCounterexample(const std::string& object,
                                  const std::vector<ObjectOperation>& ops, const Model& model,
                                  const SearchResult& search) {
  CHECKS_ASSERT(search.verdict == Verdict::kInvalid);
  CHECKS_ASSERT(search.culprit >= 0 && search.culprit < static_cast<int64_t>(ops.size()));
  const ObjectOperation& c = ops[search.culprit];
  CHECKS_ASSERT(!c.pending);
  Counterexample ce;
  ce.object = object;
  ce.culprit_op_id = c.op_id;
  ce.prefix_completions_count = search.prefix_completions_count;
  for (const ObjectOperation& o : ops) {
    if (o.op_id != c.op_id && o.call_ns <= c.return_ns && o.return_ns >= c.call_ns) {
      ce.concurrent_op_ids.push_back(o.op_id);
    }
  }
  std::sort(ce.concurrent_op_ids.begin(), ce.concurrent_op_ids.end());
  ce.concurrent_op_ids.erase(std::unique(ce.concurrent_op_ids.begin(), ce.concurrent_op_ids.end()),
                             ce.concurrent_op_ids.end());
  for (int64_t i : search.furthest) ce.longest_linearization.push_back(ops[i].op_id);
  ce.state_after_longest = model.Describe(search.state_after_furthest);
  return ce;
}

}  // namespace

LinearizabilityResult CheckLinearizability(const History& history,
                                           const LinearizabilityOptions& options) {
  CHECKS_ASSERT(options.info_window_ns >= 0);
  const absl::Time deadline = absl::Now() + options.time_limit;
  LinearizabilityResult result;
  std::unique_ptr<Model> splitter = MakeModel(options.model);
  for (const auto& [object, ops] : SplitByObject(history, *splitter, options.info_window_ns)) {
    std::unique_ptr<Model> model = MakeModel(options.model);
    SearchResult search = SearchLinearization(ops, model.get(), deadline);
    ObjectResult object_result;
    object_result.object = object;
    object_result.verdict = search.verdict;
    object_result.operations_count = static_cast<int64_t>(ops.size());
    object_result.cache_entries_count = search.cache_entries_count;
    result.cache_bytes_max = std::max(result.cache_bytes_max, search.cache_bytes);
    if (search.verdict == Verdict::kInvalid) {
      object_result.counterexample = MakeCounterexample(object, ops, *model, search);
      result.verdict = Verdict::kInvalid;
    } else if (search.verdict == Verdict::kUnknown && result.verdict == Verdict::kValid) {
      result.verdict = Verdict::kUnknown;
    }
    result.objects.push_back(std::move(object_result));
  }
  return result;
}

namespace {

std::string Describe(const History& history, int64_t op_id) {
  const Operation& op = history.operations[op_id];
  std::string what;
  switch (op.f) {
    case Function::kRead:
      what = absl::StrCat(
          "read ", op.ok() ? (op.value == kValueNone ? "null" : absl::StrCat(op.value)) : "?");
      break;
    case Function::kWrite:
      what = absl::StrCat("write ", op.value);
      break;
    case Function::kCas:
      what = absl::StrCat("cas ", op.expected == kValueNone ? "null" : absl::StrCat(op.expected),
                          "->", op.value);
      break;
    case Function::kSend:
      what = absl::StrCat("send [", absl::StrJoin(op.values, ","), "]");
      if (op.ok()) absl::StrAppend(&what, " at [", absl::StrJoin(op.offsets, ","), "]");
      break;
    default:
      what = FunctionName(op.f);
  }
  return absl::StrFormat("op %d (process %d, line %d, %s, %s)", op.id, op.process, op.invoke_line,
                         what, OutcomeName(op.outcome));
}

}  // namespace

CheckReport LinearizabilityReport(const History& history, const LinearizabilityOptions& options,
                                  const LinearizabilityResult& result) {
  CheckReport report;
  report.checker = absl::StrCat("linearizability/", ModelKindName(options.model));
  report.verdict = result.verdict;
  int64_t operations = 0;
  int64_t cache_entries = 0;
  for (const ObjectResult& o : result.objects) {
    operations += o.operations_count;
    cache_entries += o.cache_entries_count;
    if (o.verdict == Verdict::kUnknown) {
      report.notes.push_back(absl::StrFormat("object %s: unknown (time limit %s reached)", o.object,
                                             absl::FormatDuration(options.time_limit)));
    }
    if (o.verdict != Verdict::kInvalid) continue;
    const Counterexample& ce = o.counterexample;
    std::string detail = absl::StrFormat(
        "object \"%s\": no linearization survives the completion of %s; the shortest failing "
        "prefix ends there (%d completed operations).\n  Concurrent with it:%s",
        o.object, Describe(history, ce.culprit_op_id), ce.prefix_completions_count,
        ce.concurrent_op_ids.empty() ? " none" : "");
    constexpr size_t kConcurrentShownMax = 16;
    for (size_t i = 0; i < std::min(ce.concurrent_op_ids.size(), kConcurrentShownMax); i++) {
      absl::StrAppend(&detail, "\n    ", Describe(history, ce.concurrent_op_ids[i]));
    }
    if (ce.concurrent_op_ids.size() > kConcurrentShownMax) {
      absl::StrAppendFormat(&detail,
                            "\n    ... and %d more (info operations stay concurrent "
                            "with everything after their invocation)",
                            ce.concurrent_op_ids.size() - kConcurrentShownMax);
    }
    const size_t tail = std::min<size_t>(ce.longest_linearization.size(), 8);
    absl::StrAppendFormat(&detail, "\n  A linearization of what completed before it (%d ops%s):",
                          ce.longest_linearization.size(),
                          tail < ce.longest_linearization.size() ? ", the last 8 shown" : "");
    for (size_t i = ce.longest_linearization.size() - tail; i < ce.longest_linearization.size();
         i++) {
      absl::StrAppend(&detail, "\n    ", Describe(history, ce.longest_linearization[i]));
    }
    absl::StrAppend(&detail, "\n  leaves the state ", ce.state_after_longest,
                    "; neither from there nor from any other order can the culprit complete.");
    std::vector<int64_t> ids = ce.concurrent_op_ids;
    ids.push_back(ce.culprit_op_id);
    std::sort(ids.begin(), ids.end());
    report.findings.push_back(
        Finding{"nonlinearizable", std::move(detail), std::move(ids), ce.culprit_op_id});
  }
  report.notes.push_back(absl::StrFormat("%d objects, %d operations searched, %d memo entries",
                                         result.objects.size(), operations, cache_entries));
  return report;
}

}  // namespace meridian::checks
