// Properties of the log checker: histories generated from a correct sequential log must pass,
// and each planted mutation (drop an acknowledged write, swap two offsets, reorder two reads)
// must be caught.
// gtest.h must precede rapidcheck/gtest.h, which uses it without including it.
#include "gtest/gtest.h"
// clang-format off
#include <rapidcheck/gtest.h>
// clang-format on

#include <utility>
#include <vector>

#include "checks/generators.h"
#include "checks/log_checker.h"

namespace meridian::checks {
namespace {

History ArbitraryValidHistory() {
  LogWorkload workload;
  workload.processes_count = *rc::gen::inRange<int64_t>(1, 7);
  workload.partitions_count = *rc::gen::inRange<int64_t>(1, 4);
  workload.operations_count = *rc::gen::inRange<int64_t>(5, 250);
  workload.batch_values_max = *rc::gen::inRange<int64_t>(1, 4);
  workload.percent_indeterminate = *rc::gen::inRange(0, 10);
  workload.percent_fail = *rc::gen::inRange(0, 10);
  return GenerateLogHistory(workload, *rc::gen::arbitrary<uint64_t>());
}

Verdict VerdictOf(const History& history) {
  absl::StatusOr<CheckReport> report = CheckLog(history, {});
  RC_ASSERT(report.ok());
  return report->verdict;
}

// Indices of operations satisfying `predicate`.
template <typename Predicate>
std::vector<size_t> Select(const History& history, Predicate predicate) {
  std::vector<size_t> out;
  for (size_t i = 0; i < history.operations.size(); i++) {
    if (predicate(history.operations[i])) out.push_back(i);
  }
  return out;
}

RC_GTEST_PROP(LogCheckerProperty, GeneratedHistoriesPass, ()) {
  const History history = ArbitraryValidHistory();
  absl::StatusOr<CheckReport> report = CheckLog(history, {});
  RC_ASSERT(report.ok());
  RC_ASSERT(report->verdict == Verdict::kValid);
  RC_ASSERT(report->findings.empty());
}

RC_GTEST_PROP(LogCheckerProperty, DroppingAnAcknowledgedWriteFails, ()) {
  History history = ArbitraryValidHistory();
  const std::vector<size_t> sends =
      Select(history, [](const Operation& op) { return op.f == Function::kSend && op.ok(); });
  RC_PRE(!sends.empty());
  const Operation& send = history.operations[*rc::gen::elementOf(sends)];
  const int64_t value = send.values[*rc::gen::inRange<size_t>(0, send.values.size())];
  const int64_t partition = send.partition;
  // The write is lost: no poll ever returns it.
  for (Operation& op : history.operations) {
    std::erase_if(op.reads,
                  [&](const Read& r) { return r.partition == partition && r.value == value; });
  }
  RC_ASSERT(VerdictOf(history) == Verdict::kInvalid);
}

RC_GTEST_PROP(LogCheckerProperty, SwappingTwoOffsetsFails, ()) {
  History history = ArbitraryValidHistory();
  // Two acknowledged values of one partition, at different offsets.
  std::vector<std::pair<size_t, size_t>> acked;  // (operation index, value index)
  for (size_t i :
       Select(history, [](const Operation& op) { return op.f == Function::kSend && op.ok(); })) {
    for (size_t j = 0; j < history.operations[i].values.size(); j++) acked.emplace_back(i, j);
  }
  RC_PRE(acked.size() >= 2);
  const auto a = *rc::gen::elementOf(acked);
  const auto b = *rc::gen::elementOf(acked);
  Operation& op_a = history.operations[a.first];
  Operation& op_b = history.operations[b.first];
  RC_PRE(op_a.partition == op_b.partition);
  RC_PRE(op_a.offsets[a.second] != op_b.offsets[b.second]);
  std::swap(op_a.offsets[a.second], op_b.offsets[b.second]);
  RC_ASSERT(VerdictOf(history) == Verdict::kInvalid);
}

RC_GTEST_PROP(LogCheckerProperty, ReorderingTwoReadsFails, ()) {
  History history = ArbitraryValidHistory();
  // A poll with two reads of one partition: swap them.
  std::vector<std::pair<size_t, std::pair<size_t, size_t>>> candidates;
  for (size_t i : Select(history, [](const Operation& op) {
         return op.f == Function::kPoll && op.ok() && op.reads.size() >= 2;
       })) {
    const std::vector<Read>& reads = history.operations[i].reads;
    for (size_t j = 0; j + 1 < reads.size(); j++) {
      if (reads[j].partition == reads[j + 1].partition) candidates.push_back({i, {j, j + 1}});
    }
  }
  RC_PRE(!candidates.empty());
  const auto [op_index, pair] = *rc::gen::elementOf(candidates);
  std::vector<Read>& reads = history.operations[op_index].reads;
  std::swap(reads[pair.first], reads[pair.second]);
  RC_ASSERT(VerdictOf(history) == Verdict::kInvalid);
}

}  // namespace
}  // namespace meridian::checks
