// Properties of reading and writing histories: generated histories survive a round trip through
// the file format unchanged, and no input, however mangled, crashes the reader (bad input is an
// error with a line number, never an assertion).
// gtest.h must precede rapidcheck/gtest.h, which uses it without including it.
#include "gtest/gtest.h"
// clang-format off
#include <rapidcheck/gtest.h>
// clang-format on

#include <string>

#include "checks/generators.h"
#include "checks/history.h"

namespace meridian::checks {
namespace {

void ExpectSameOperations(const History& a, const History& b) {
  RC_ASSERT(a.operations.size() == b.operations.size());
  for (size_t i = 0; i < a.operations.size(); i++) {
    const Operation& x = a.operations[i];
    const Operation& y = b.operations[i];
    RC_ASSERT(x.process == y.process);
    RC_ASSERT(x.f == y.f);
    RC_ASSERT(x.outcome == y.outcome);
    RC_ASSERT(x.invoke_ns == y.invoke_ns);
    RC_ASSERT(x.complete_ns == y.complete_ns);
    RC_ASSERT(x.values == y.values);
    RC_ASSERT(x.offsets == y.offsets);
    RC_ASSERT(x.reads == y.reads);
    RC_ASSERT(x.commits == y.commits);
    RC_ASSERT(x.key == y.key);
    RC_ASSERT(x.value == y.value);
    RC_ASSERT(x.expected == y.expected);
  }
}

RC_GTEST_PROP(HistoryProperty, GeneratedHistoriesRoundTrip, ()) {
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const History log = GenerateLogHistory({.processes_count = *rc::gen::inRange<int64_t>(1, 6),
                                          .operations_count = *rc::gen::inRange<int64_t>(0, 150),
                                          .percent_indeterminate = 10},
                                         seed);
  absl::StatusOr<History> parsed = ParseHistory(FormatHistory(log));
  RC_ASSERT(parsed.ok());
  ExpectSameOperations(log, *parsed);
  const History reg = GenerateRegisterHistory(
      {.operations_count = *rc::gen::inRange<int64_t>(0, 150), .keys_count = 3}, seed);
  parsed = ParseHistory(FormatHistory(reg));
  RC_ASSERT(parsed.ok());
  ExpectSameOperations(reg, *parsed);
}

RC_GTEST_PROP(HistoryProperty, MangledInputIsAnErrorNotACrash, ()) {
  const History h = GenerateLogHistory({.operations_count = 20}, *rc::gen::arbitrary<uint64_t>());
  std::string text = FormatHistory(h);
  // Overwrite, delete or insert a few bytes anywhere.
  const int edits = *rc::gen::inRange(1, 6);
  for (int i = 0; i < edits && !text.empty(); i++) {
    const size_t at = *rc::gen::inRange<size_t>(0, text.size());
    const char c = *rc::gen::elementOf(std::string("{}[]\":,0123456789-.enul \n\\x"));
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        text[at] = c;
        break;
      case 1:
        text.erase(at, 1);
        break;
      default:
        text.insert(at, 1, c);
    }
  }
  absl::StatusOr<History> parsed = ParseHistory(text);
  if (!parsed.ok()) {
    RC_ASSERT(std::string(parsed.status().message()).rfind("line ", 0) == 0);
  }
}

RC_GTEST_PROP(HistoryProperty, ArbitraryBytesAreAnErrorNotACrash, (const std::string& bytes)) {
  absl::StatusOr<History> parsed = ParseHistory(bytes);
  if (!parsed.ok()) RC_ASSERT(!parsed.status().message().empty());
}

}  // namespace
}  // namespace meridian::checks
