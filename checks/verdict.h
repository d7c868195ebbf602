// What every checker hands to the reports and the CLI: a verdict and the findings behind it.
// Checkers differ in what they look for; reports and the CLI only need this common shape.
#ifndef MERIDIAN_CHECKS_VERDICT_H_
#define MERIDIAN_CHECKS_VERDICT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace meridian::checks {

// kUnknown means the checker ran out of its time budget: it is never a guess either way.
enum class Verdict { kValid, kInvalid, kUnknown };

inline const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kValid:
      return "valid";
    case Verdict::kInvalid:
      return "invalid";
    case Verdict::kUnknown:
      return "unknown";
  }
  return "?";
}

// One anomaly: its taxonomy name (as in docs/checks.md), a sentence a human can act on, and the
// operations (ids into History::operations, sorted) that show it.
struct Finding {
  std::string kind;
  std::string detail;
  std::vector<int64_t> operation_ids;
  // The operation a reader should look at first (a counterexample's culprit); -1: the first id.
  int64_t focus_op_id = -1;
};

struct CheckReport {
  std::string checker = "";  // "log" or "linearizability/<model>"
  Verdict verdict = Verdict::kValid;
  std::vector<Finding> findings = {};   // empty if and only if the verdict is not kInvalid
  std::vector<std::string> notes = {};  // statistics and caveats, one line each
};

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_VERDICT_H_
