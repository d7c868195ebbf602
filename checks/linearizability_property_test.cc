// Properties of the linearizability checker:
//   - on tiny random histories (valid or not) it agrees with a brute-force reference that tries
//     every order allowed by real time;
//   - histories generated from correct registers and logs pass, and planted mutations fail;
//   - P-compositionality: checking per key (register model) and whole (kv model) agree.
// gtest.h must precede rapidcheck/gtest.h, which uses it without including it.
#include "gtest/gtest.h"
// clang-format off
#include <rapidcheck/gtest.h>
// clang-format on

#include <optional>
#include <vector>

#include "checks/generators.h"
#include "checks/linearizability.h"

namespace meridian::checks {
namespace {

LinearizabilityOptions Options(ModelKind model) {
  return {.model = model, .time_limit = absl::Seconds(20)};
}

// The latest moment `op` can take effect: its completion, or for an indeterminate operation its
// info completion plus `window_ns` (never, with the default infinite window).
int64_t DeadlineNs(const Operation& op, int64_t window_ns) {
  if (!op.indeterminate()) return op.complete_ns;
  if (window_ns == kTimeNsInfinite || op.complete_ns == kTimeNsInfinite) return kTimeNsInfinite;
  return op.complete_ns + window_ns;
}

// The dumb reference: depth-first over every operation that may go next (no other remaining
// operation's deadline falls before its invocation); indeterminate operations may also be
// dropped at any point.
bool BruteForceLinearizable(const std::vector<const Operation*>& remaining,
                            std::optional<int64_t> value, int64_t window_ns = kTimeNsInfinite) {
  bool any_completed = false;
  for (const Operation* op : remaining) any_completed = any_completed || !op->indeterminate();
  if (!any_completed) return true;
  for (size_t i = 0; i < remaining.size(); i++) {
    const Operation* op = remaining[i];
    std::vector<const Operation*> rest = remaining;
    rest.erase(rest.begin() + i);
    if (op->indeterminate() && BruteForceLinearizable(rest, value, window_ns)) return true;
    bool minimal = true;
    for (const Operation* other : rest) {
      if (DeadlineNs(*other, window_ns) < op->invoke_ns) minimal = false;
    }
    if (!minimal) continue;
    std::optional<int64_t> next;
    const bool pending = op->indeterminate();
    if (op->f == Function::kRead) {
      if (pending || op->value == *value) next = value;
    } else if (op->f == Function::kWrite) {
      next = op->value;
    } else if (op->expected == *value) {
      next = op->value;
    } else if (pending) {
      next = value;
    }
    if (next.has_value() && BruteForceLinearizable(rest, next, window_ns)) return true;
  }
  return false;
}

// The operations of `h` (not failed) as they stand right after the completion of operation
// `cut_id`: later completions become indeterminate, later invocations vanish. Completions are
// ordered by (time, id), as the checker orders them.
std::vector<Operation> PrefixAt(const History& h, int64_t cut_id) {
  const Operation& cut = h.operations[cut_id];
  std::vector<Operation> prefix;
  for (const Operation& op : h.operations) {
    if (op.failed() || op.invoke_ns > cut.complete_ns) continue;
    prefix.push_back(op);
    const bool completed_by_cut =
        op.ok() && std::make_pair(op.complete_ns, op.id) <= std::make_pair(cut.complete_ns, cut.id);
    if (!completed_by_cut) prefix.back().outcome = Outcome::kInfo;
  }
  return prefix;
}

bool BruteForceLinearizable(const std::vector<Operation>& ops) {
  std::vector<const Operation*> pointers;
  for (const Operation& op : ops) pointers.push_back(&op);
  return BruteForceLinearizable(pointers, kValueNone);
}

// A tiny history of a lone register with random (often wrong) read results.
History ArbitraryTinyHistory(int info_percent = 10) {
  const int64_t ops_count = *rc::gen::inRange<int64_t>(1, 7);
  History h;
  for (int64_t i = 0; i < ops_count; i++) {
    Operation op;
    op.process = i;  // one process per operation keeps every overlap possible
    op.invoke_ns = *rc::gen::inRange<int64_t>(0, 20);
    op.complete_ns = op.invoke_ns + *rc::gen::inRange<int64_t>(0, 10);
    const int kind = *rc::gen::inRange(0, 3);
    op.f = kind == 0 ? Function::kRead : kind == 1 ? Function::kWrite : Function::kCas;
    const int outcome = *rc::gen::inRange(0, 100);
    op.outcome = outcome < info_percent        ? Outcome::kInfo
                 : outcome < info_percent + 10 ? Outcome::kFail
                                               : Outcome::kOk;
    auto value = [] {
      const int64_t v = *rc::gen::inRange<int64_t>(0, 4);
      return v == 3 ? kValueNone : v;
    };
    if (op.f == Function::kRead) {
      op.value = op.ok() ? value() : kValueNone;
    } else {
      op.value = *rc::gen::inRange<int64_t>(0, 3);
      if (op.f == Function::kCas) op.expected = value();
    }
    h.operations.push_back(op);
  }
  FinishHistory(&h);
  return h;
}

RC_GTEST_PROP(LinearizabilityProperty, AgreesWithBruteForceOnTinyHistories, ()) {
  const History h = ArbitraryTinyHistory();
  std::vector<const Operation*> ops;
  for (const Operation& op : h.operations) {
    if (!op.failed()) ops.push_back(&op);
  }
  const bool expected = BruteForceLinearizable(ops, kValueNone);
  const LinearizabilityResult result = CheckLinearizability(h, Options(ModelKind::kRegister));
  RC_CLASSIFY(expected, "linearizable");
  RC_ASSERT(result.verdict == (expected ? Verdict::kValid : Verdict::kInvalid));
  if (expected) return;
  // The counterexample is the shortest failing prefix: it fails, and cut one completion
  // earlier it passes.
  const Counterexample& ce = result.objects[0].counterexample;
  RC_ASSERT(ce.culprit_op_id >= 0);
  const Operation& culprit = h.operations[ce.culprit_op_id];
  RC_ASSERT(culprit.ok());
  RC_ASSERT(!BruteForceLinearizable(PrefixAt(h, culprit.id)));
  const Operation* previous = nullptr;  // the completion just before the culprit's
  int64_t completions_by_culprit = 0;
  for (const Operation& op : h.operations) {
    if (!op.ok()) continue;
    const auto key = std::make_pair(op.complete_ns, op.id);
    if (key > std::make_pair(culprit.complete_ns, culprit.id)) continue;
    completions_by_culprit++;
    if (key == std::make_pair(culprit.complete_ns, culprit.id)) continue;
    if (previous == nullptr || key > std::make_pair(previous->complete_ns, previous->id)) {
      previous = &op;
    }
  }
  RC_ASSERT(ce.prefix_completions_count == completions_by_culprit);
  if (previous != nullptr) RC_ASSERT(BruteForceLinearizable(PrefixAt(h, previous->id)));
}

RC_GTEST_PROP(LinearizabilityProperty, AgreesWithBruteForceWithAnInfoWindow, ()) {
  const History h = ArbitraryTinyHistory(/*info_percent=*/35);
  const int64_t window_ns = *rc::gen::inRange<int64_t>(0, 12);
  std::vector<const Operation*> ops;
  for (const Operation& op : h.operations) {
    if (!op.failed()) ops.push_back(&op);
  }
  const bool expected = BruteForceLinearizable(ops, kValueNone, window_ns);
  LinearizabilityOptions options = Options(ModelKind::kRegister);
  options.info_window_ns = window_ns;
  RC_CLASSIFY(expected, "linearizable");
  RC_ASSERT(CheckLinearizability(h, options).verdict ==
            (expected ? Verdict::kValid : Verdict::kInvalid));
}

RC_GTEST_PROP(LinearizabilityProperty, GeneratedRegisterHistoriesPass, ()) {
  RegisterWorkload workload;
  workload.processes_count = *rc::gen::inRange<int64_t>(1, 8);
  workload.operations_count = *rc::gen::inRange<int64_t>(1, 300);
  workload.values_count = *rc::gen::inRange<int64_t>(1, 6);
  const History h = GenerateRegisterHistory(workload, *rc::gen::arbitrary<uint64_t>());
  RC_ASSERT(CheckLinearizability(h, Options(ModelKind::kRegister)).verdict == Verdict::kValid);
}

RC_GTEST_PROP(LinearizabilityProperty, ReadingAValueNeverWrittenFails, ()) {
  RegisterWorkload workload;
  workload.processes_count = *rc::gen::inRange<int64_t>(1, 6);
  workload.operations_count = *rc::gen::inRange<int64_t>(1, 200);
  History h = GenerateRegisterHistory(workload, *rc::gen::arbitrary<uint64_t>());
  std::vector<size_t> reads;
  for (size_t i = 0; i < h.operations.size(); i++) {
    if (h.operations[i].f == Function::kRead && h.operations[i].ok()) reads.push_back(i);
  }
  RC_PRE(!reads.empty());
  h.operations[*rc::gen::elementOf(reads)].value = workload.values_count + 1;
  RC_ASSERT(CheckLinearizability(h, Options(ModelKind::kRegister)).verdict == Verdict::kInvalid);
}

RC_GTEST_PROP(LinearizabilityProperty, PerKeyAndWholeMapAgree, ()) {
  RegisterWorkload workload;
  workload.processes_count = *rc::gen::inRange<int64_t>(1, 5);
  workload.operations_count = *rc::gen::inRange<int64_t>(1, 40);
  workload.keys_count = *rc::gen::inRange<int64_t>(1, 4);
  History h = GenerateRegisterHistory(workload, *rc::gen::arbitrary<uint64_t>());
  if (*rc::gen::arbitrary<bool>()) {  // sometimes break it
    for (Operation& op : h.operations) {
      if (op.f == Function::kRead && op.ok()) {
        op.value = (op.value == kValueNone ? 0 : op.value + 1) % workload.values_count;
        break;
      }
    }
  }
  const Verdict per_key = CheckLinearizability(h, Options(ModelKind::kRegister)).verdict;
  const Verdict whole = CheckLinearizability(h, Options(ModelKind::kKeyValue)).verdict;
  RC_CLASSIFY(per_key == Verdict::kValid, "valid");
  RC_ASSERT(per_key == whole);
}

RC_GTEST_PROP(LinearizabilityProperty, LogHistoriesPassAndSwappedOffsetsFail, ()) {
  LogWorkload workload;
  workload.processes_count = *rc::gen::inRange<int64_t>(1, 6);
  workload.partitions_count = *rc::gen::inRange<int64_t>(1, 3);
  workload.operations_count = *rc::gen::inRange<int64_t>(2, 150);
  History h = GenerateLogHistory(workload, *rc::gen::arbitrary<uint64_t>());
  RC_ASSERT(CheckLinearizability(h, Options(ModelKind::kLog)).verdict == Verdict::kValid);
  std::vector<std::pair<size_t, size_t>> acked;
  for (size_t i = 0; i < h.operations.size(); i++) {
    const Operation& op = h.operations[i];
    if (op.f != Function::kSend || !op.ok()) continue;
    for (size_t j = 0; j < op.values.size(); j++) acked.emplace_back(i, j);
  }
  RC_PRE(acked.size() >= 2);
  const auto a = *rc::gen::elementOf(acked);
  const auto b = *rc::gen::elementOf(acked);
  Operation& op_a = h.operations[a.first];
  Operation& op_b = h.operations[b.first];
  RC_PRE(op_a.partition == op_b.partition);
  RC_PRE(op_a.offsets[a.second] != op_b.offsets[b.second]);
  std::swap(op_a.offsets[a.second], op_b.offsets[b.second]);
  RC_ASSERT(CheckLinearizability(h, Options(ModelKind::kLog)).verdict == Verdict::kInvalid);
}

}  // namespace
}  // namespace meridian::checks
