// The Wing-Gong-Lowe search for one object, as in Porcupine's checkSingle: a doubly linked list
// of call and return entries in time order; linearizing an operation lifts its call and return
// out of the list; reaching the return of an operation not yet linearized means backtracking.
// A memo table of (linearized set, model state) pairs prunes every configuration already
// explored, which is what makes the search fast on real histories.
#ifndef MERIDIAN_CHECKS_WGL_SEARCH_H_
#define MERIDIAN_CHECKS_WGL_SEARCH_H_

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "checks/history.h"
#include "checks/models.h"
#include "checks/verdict.h"

namespace meridian::checks {

// One operation of one object, as the search sees it.
struct ObjectOperation {
  int64_t op_id = 0;  // in History::operations
  Operation op;       // restricted to the object
  int64_t call_ns = 0;
  int64_t return_ns = kTimeNsInfinite;
  bool pending = false;  // outcome unknown: may take effect any time after call_ns, or never
};

struct SearchResult {
  Verdict verdict = Verdict::kValid;
  // The longest sequence of operations linearized at once (indices into the searched vector),
  // and the model state after it. When kValid, it is a full linearization of completed ops.
  std::vector<int64_t> longest;
  ModelState state_after_longest = 0;
  int64_t cache_entries_count = 0;
  int64_t cache_bytes = 0;
};

// `operations` must be sorted by (call_ns, op_id). Returns kUnknown if `deadline` passes.
SearchResult SearchLinearization(const std::vector<ObjectOperation>& operations, Model* model,
                                 absl::Time deadline);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_WGL_SEARCH_H_
