// The Wing-Gong-Lowe search for one object, as in Porcupine's checkSingle: a doubly linked list
// of call and return entries in time order; linearizing an operation lifts its call and return
// out of the list; reaching the return of an operation not yet linearized means backtracking.
// A memo table of (linearized set, model state) pairs prunes every configuration already
// explored, which is what makes the search fast on real histories.
//
// The memo stores a 128-bit fingerprint of (completed operations linearized, model state), two
// independent Zobrist hashes, instead of the set itself: 16 bytes per configuration instead of
// n/8, and O(1) per step instead of O(n). A collision that wrongly prunes a branch has
// probability below 2^-64 even over 2^32 configurations. Indeterminate operations linearized are
// kept exactly and compared by inclusion: fewer of them can do everything more of them can
// (by equality when they have deadlines; see Memo in wgl_search.cc). An indeterminate operation
// with a finite deadline (its return_ns) that reaches it unlinearized expires: it never happened.
//
// The search also finds the shortest non-linearizable prefix for free: let F be the furthest
// (in time order) completion at which the search ever had to backtrack. The path that reached F
// had linearized every earlier completion, so the prefix ending just before F is linearizable;
// and if the prefix ending at F were, some path would have got past F and backtracked later, so
// it is not. That path is the longest linearization of the prefix and F its culprit.
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
  // For a completed operation its completion; for a pending one the deadline by which it takes
  // effect if ever (kTimeNsInfinite unless LinearizabilityOptions::info_window_ns is set).
  int64_t return_ns = kTimeNsInfinite;
  bool pending = false;  // outcome unknown: may take effect between call_ns and return_ns, or never
};

struct SearchResult {
  Verdict verdict = Verdict::kValid;
  // When kInvalid: the operation (index into the searched vector) whose completion ends the
  // shortest non-linearizable prefix, how many operations complete in that prefix (the culprit
  // included), the linearization that got furthest (indices, in order) and the state after it.
  int64_t culprit = -1;
  int64_t prefix_completions_count = 0;
  std::vector<int64_t> furthest;
  ModelState state_after_furthest = 0;
  int64_t cache_entries_count = 0;
  int64_t cache_bytes = 0;
};

// `operations` must be sorted by (call_ns, op_id). Returns kUnknown if `deadline` passes.
SearchResult SearchLinearization(const std::vector<ObjectOperation>& operations, Model* model,
                                 absl::Time deadline);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_WGL_SEARCH_H_
