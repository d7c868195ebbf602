// Sequential specifications for the linearizability checker. A model says which operations it
// understands, how they split into independent objects (P-compositionality: a history is
// linearizable if and only if each object's sub-history is), and how each operation moves the
// object from one state to the next.
//
// States are opaque int64 handles so the checker can memoize (linearized set, state) pairs
// cheaply: a register's state is its value; richer states (a map, a log) are interned by the
// model, so equal states get equal handles. A model instance serves one object's search; it is
// not thread-safe.
#ifndef MERIDIAN_CHECKS_MODELS_H_
#define MERIDIAN_CHECKS_MODELS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checks/history.h"

namespace meridian::checks {

using ModelState = int64_t;

enum class ModelKind {
  kRegister,  // read/write/cas on one register; with several keys, one register per key
  kKeyValue,  // read/write/cas on a map of registers, checked as one object unless partitioned
  kLog,       // send/poll on append-only partitions with dense offsets from 0
};

const char* ModelKindName(ModelKind kind);
absl::StatusOr<ModelKind> ParseModelKind(std::string_view name);

class Model {
 public:
  virtual ~Model() = default;

  // The objects `op` touches (a poll may read several partitions); empty if the model ignores
  // `op`. Only operations that can change or reveal state are offered: the checker drops failed
  // operations (they did not happen) and pending ones that reveal nothing (unknown reads).
  virtual std::vector<std::string> ObjectsOf(const Operation& op) const = 0;
  // True if an indeterminate `op` cannot change the state (a read), so it may be dropped.
  virtual bool IsReadOnly(const Operation& op) const = 0;

  // The part of `op` that concerns `object` (one of ObjectsOf(op)), e.g. a poll's reads of one
  // partition. The default is `op` itself.
  virtual Operation Restrict(const Operation& op, const std::string& object) const { return op; }

  virtual ModelState Init() = 0;
  // The state after `op` (already restricted to one object), or nullopt if `op`'s observed
  // results are impossible in `state`. When `pending`, the results are unknown and the step
  // succeeds.
  virtual std::optional<ModelState> Step(ModelState state, const Operation& op, bool pending) = 0;
  virtual std::string Describe(ModelState state) const = 0;
};

// A fresh model for one object's search.
std::unique_ptr<Model> MakeModel(ModelKind kind);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_MODELS_H_
