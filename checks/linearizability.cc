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
                                                                         const Model& model) {
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

// The prefix of `ops` cut right after the `k`-th completion (1-based, in (return_ns, index)
// order): operations called by then stay, those still open become pending (pending reads are
// dropped), later ones go. Sets *culprit to the index of the k-th completed operation.
std::vector<ObjectOperation> Prefix(const std::vector<ObjectOperation>& ops,
                                    const std::vector<int64_t>& completion_order, int64_t k,
                                    const Model& model, int64_t* culprit) {
  CHECKS_ASSERT(k >= 1 && k <= static_cast<int64_t>(completion_order.size()));
  const int64_t cut = completion_order[k - 1];
  const int64_t cut_ns = ops[cut].return_ns;
  *culprit = cut;
  std::vector<ObjectOperation> prefix;
  for (int64_t i = 0; i < static_cast<int64_t>(ops.size()); i++) {
    if (ops[i].call_ns > cut_ns) break;  // ops are sorted by call time
    const bool completed_by_cut =
        !ops[i].pending && std::make_pair(ops[i].return_ns, i) <= std::make_pair(cut_ns, cut);
    if (completed_by_cut) {
      prefix.push_back(ops[i]);
      continue;
    }
    if (model.IsReadOnly(ops[i].op)) continue;
    prefix.push_back(ops[i]);
    prefix.back().pending = true;
    prefix.back().return_ns = kTimeNsInfinite;
  }
  return prefix;
}

// Binary search for the shortest non-linearizable prefix; non-linearizability is monotone in the
// prefix length (a linearization of a longer prefix, cut, is one of the shorter). Stops early,
// keeping the best found so far, if a search runs out of time.
Counterexample FindCounterexample(const std::string& object,
                                  const std::vector<ObjectOperation>& ops, ModelKind kind,
                                  const SearchResult& full, absl::Time deadline,
                                  bool find_shortest_prefix) {
  std::vector<int64_t> completion_order;
  for (int64_t i = 0; i < static_cast<int64_t>(ops.size()); i++) {
    if (!ops[i].pending) completion_order.push_back(i);
  }
  std::sort(completion_order.begin(), completion_order.end(), [&](int64_t a, int64_t b) {
    return std::make_pair(ops[a].return_ns, a) < std::make_pair(ops[b].return_ns, b);
  });
  const int64_t m = static_cast<int64_t>(completion_order.size());
  CHECKS_ASSERT(m > 0);  // a history of pending operations only is always linearizable
  int64_t lo = 1;
  int64_t hi = m;  // the full history is known to be non-linearizable
  std::unique_ptr<Model> model = MakeModel(kind);
  while (find_shortest_prefix && lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    int64_t culprit = 0;
    std::unique_ptr<Model> probe = MakeModel(kind);
    SearchResult r = SearchLinearization(Prefix(ops, completion_order, mid, *probe, &culprit),
                                         probe.get(), deadline);
    if (r.verdict == Verdict::kUnknown) break;
    (r.verdict == Verdict::kInvalid ? hi : lo) = r.verdict == Verdict::kInvalid ? mid : mid + 1;
  }
  int64_t culprit = 0;
  std::vector<ObjectOperation> prefix = Prefix(ops, completion_order, hi, *model, &culprit);
  SearchResult r = SearchLinearization(prefix, model.get(), deadline);
  if (r.verdict != Verdict::kInvalid) {  // out of time: fall back to the full history's search
    CHECKS_ASSERT(r.verdict == Verdict::kUnknown);
    hi = m;
    prefix = Prefix(ops, completion_order, m, *model, &culprit);
    r = full;
  }
  Counterexample ce;
  ce.object = object;
  ce.culprit_op_id = ops[culprit].op_id;
  ce.prefix_completions_count = hi;
  const ObjectOperation& c = ops[culprit];
  for (const ObjectOperation& o : prefix) {
    if (o.op_id != c.op_id && o.call_ns <= c.return_ns && o.return_ns >= c.call_ns) {
      ce.concurrent_op_ids.push_back(o.op_id);
    }
  }
  std::sort(ce.concurrent_op_ids.begin(), ce.concurrent_op_ids.end());
  for (int64_t i : r.longest) ce.longest_linearization.push_back(prefix[i].op_id);
  ce.state_after_longest = model->Describe(r.state_after_longest);
  return ce;
}

}  // namespace

LinearizabilityResult CheckLinearizability(const History& history,
                                           const LinearizabilityOptions& options) {
  const absl::Time deadline = absl::Now() + options.time_limit;
  LinearizabilityResult result;
  std::unique_ptr<Model> splitter = MakeModel(options.model);
  for (const auto& [object, ops] : SplitByObject(history, *splitter)) {
    std::unique_ptr<Model> model = MakeModel(options.model);
    SearchResult search = SearchLinearization(ops, model.get(), deadline);
    ObjectResult object_result;
    object_result.object = object;
    object_result.verdict = search.verdict;
    object_result.operations_count = static_cast<int64_t>(ops.size());
    object_result.cache_entries_count = search.cache_entries_count;
    result.cache_bytes_max = std::max(result.cache_bytes_max, search.cache_bytes);
    if (search.verdict == Verdict::kInvalid) {
      object_result.counterexample = FindCounterexample(object, ops, options.model, search,
                                                        deadline, options.find_shortest_prefix);
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
        "object %s is not linearizable. Shortest failing prefix: up to the completion of %s "
        "(%d completed operations). Concurrent with it:",
        o.object, Describe(history, ce.culprit_op_id), ce.prefix_completions_count);
    for (int64_t id : ce.concurrent_op_ids)
      absl::StrAppend(&detail, "\n    ", Describe(history, id));
    absl::StrAppendFormat(&detail, "\n  Longest linearization of that prefix (%d ops), ending:",
                          ce.longest_linearization.size());
    const size_t tail = std::min<size_t>(ce.longest_linearization.size(), 8);
    for (size_t i = ce.longest_linearization.size() - tail; i < ce.longest_linearization.size();
         i++) {
      absl::StrAppend(&detail, "\n    ", Describe(history, ce.longest_linearization[i]));
    }
    absl::StrAppend(&detail, "\n  leaving state ", ce.state_after_longest,
                    "; no order of the remaining operations reaches the culprit's completion.");
    std::vector<int64_t> ids = ce.concurrent_op_ids;
    ids.push_back(ce.culprit_op_id);
    std::sort(ids.begin(), ids.end());
    report.findings.push_back(Finding{"nonlinearizable", std::move(detail), std::move(ids)});
  }
  report.notes.push_back(absl::StrFormat("%d objects, %d operations searched, %d memo entries",
                                         result.objects.size(), operations, cache_entries));
  return report;
}

}  // namespace meridian::checks
