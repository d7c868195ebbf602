// A linearizability checker: the Wing-Gong-Lowe search with Lowe's memoization of
// (linearized set, model state) pairs, as Porcupine does it, over a pluggable sequential model.
//
// The history is split into independent objects by the model (P-compositionality: a history is
// linearizable if and only if each object's sub-history is), and each object is searched on its
// own. Failed operations are dropped (they did not happen). Indeterminate operations may take
// effect at any time after their invocation (until the info window closes, if one is given), or
// never: their return is at infinity (or the window's end) and the search may leave them out. The
// whole check shares one time budget; running out gives the verdict "unknown", never a guess.
//
// For an object that is not linearizable the checker also gives a counterexample: the shortest
// prefix of the object's history (cut right after some operation's completion; operations still
// open at the cut may or may not have taken effect) that cannot be linearized, the operation
// whose completion makes it so (the culprit), the operations concurrent with it, and the
// linearization of everything completed before the culprit that the search found.
#ifndef MERIDIAN_CHECKS_LINEARIZABILITY_H_
#define MERIDIAN_CHECKS_LINEARIZABILITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "checks/history.h"
#include "checks/models.h"
#include "checks/verdict.h"

namespace meridian::checks {

// Every operation of the largest readable history may concern one object.
inline constexpr int64_t kObjectOperationsMax = kLinesMax / 2 + 1;
static_assert(kObjectOperationsMax * 2 < (int64_t{1} << 40), "entry indices fit easily in int64");

struct LinearizabilityOptions {
  ModelKind model = ModelKind::kRegister;
  absl::Duration time_limit = absl::Seconds(30);
  // How long after its info completion (after its invocation, if it has none) an indeterminate
  // operation can still take effect. Infinite by default: Jepsen's assumption, safe for any
  // system, and the reason failing searches blow up with many info operations. A harness that
  // knows a bound (request timeout plus the longest a request can be queued or delayed) may set
  // it; a bound that is too small turns late effects into false anomalies.
  int64_t info_window_ns = kTimeNsInfinite;
};

struct Counterexample {
  std::string object;
  int64_t culprit_op_id = -1;                  // its completion makes the prefix non-linearizable
  int64_t prefix_completions_count = 0;        // completed operations in the prefix
  std::vector<int64_t> concurrent_op_ids;      // in the prefix and overlapping the culprit
  std::vector<int64_t> longest_linearization;  // op ids, in linearization order
  std::string state_after_longest;             // the model state after it, described
};

struct ObjectResult {
  std::string object;
  Verdict verdict = Verdict::kValid;
  int64_t operations_count = 0;
  int64_t cache_entries_count = 0;  // memoized (linearized set, state) pairs
  Counterexample counterexample;    // only when kInvalid
};

struct LinearizabilityResult {
  Verdict verdict = Verdict::kValid;
  std::vector<ObjectResult> objects;  // sorted by object name
  int64_t cache_bytes_max = 0;        // the largest one object's memo table reached
};

LinearizabilityResult CheckLinearizability(const History& history,
                                           const LinearizabilityOptions& options);

// The same, shaped for reports and the CLI ("linearizability/<model>").
CheckReport LinearizabilityReport(const History& history, const LinearizabilityOptions& options,
                                  const LinearizabilityResult& result);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_LINEARIZABILITY_H_
