#include "checks/models.h"

#include <map>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checks/assert.h"

namespace meridian::checks {

const char* ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kRegister:
      return "register";
    case ModelKind::kKeyValue:
      return "kv";
    case ModelKind::kLog:
      return "log";
  }
  CHECKS_ASSERT_MSG(false, "unknown model kind");
  return "";
}

absl::StatusOr<ModelKind> ParseModelKind(std::string_view name) {
  for (ModelKind kind : {ModelKind::kRegister, ModelKind::kKeyValue, ModelKind::kLog}) {
    if (name == ModelKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model \"", std::string(name), "\"; expected register, kv or log"));
}

namespace {

std::string ValueText(int64_t value) { return value == kValueNone ? "null" : absl::StrCat(value); }

bool IsRegisterOp(const Operation& op) {
  return op.f == Function::kRead || op.f == Function::kWrite || op.f == Function::kCas;
}

// The value after a register operation, or nullopt if an ok read saw something else or an ok
// cas found a different value. A pending cas happened only if it could have.
std::optional<int64_t> StepRegister(int64_t value, const Operation& op, bool pending) {
  switch (op.f) {
    case Function::kRead:
      if (pending || op.value == value) return value;
      return std::nullopt;
    case Function::kWrite:
      return op.value;
    case Function::kCas:
      if (op.expected == value) return op.value;
      if (pending) return value;
      return std::nullopt;
    default:
      CHECKS_ASSERT_MSG(false, "not a register operation");
  }
  return std::nullopt;
}

// One register per key: the state is the value itself.
class RegisterModel : public Model {
 public:
  std::vector<std::string> ObjectsOf(const Operation& op) const override {
    if (!IsRegisterOp(op)) return {};
    return {op.key};
  }
  bool IsReadOnly(const Operation& op) const override { return op.f == Function::kRead; }
  ModelState Init() override { return kValueNone; }
  std::optional<ModelState> Step(ModelState state, const Operation& op, bool pending) override {
    return StepRegister(state, op, pending);
  }
  std::string Describe(ModelState state) const override { return ValueText(state); }
};

// A map of registers, one object: states are interned maps. Partitioning by key turns this into
// RegisterModel's problem; kept whole it checks multi-key histories without that assumption.
class KeyValueModel : public Model {
 public:
  KeyValueModel() { Intern({}); }
  std::vector<std::string> ObjectsOf(const Operation& op) const override {
    if (!IsRegisterOp(op)) return {};
    return {"map"};
  }
  bool IsReadOnly(const Operation& op) const override { return op.f == Function::kRead; }
  ModelState Init() override { return 0; }
  std::optional<ModelState> Step(ModelState state, const Operation& op, bool pending) override {
    CHECKS_ASSERT(state >= 0 && state < static_cast<int64_t>(maps_.size()));
    const std::map<std::string, int64_t>& map = maps_[state];
    auto it = map.find(op.key);
    const int64_t value = it == map.end() ? kValueNone : it->second;
    std::optional<int64_t> next = StepRegister(value, op, pending);
    if (!next) return std::nullopt;
    if (*next == value) return state;
    std::map<std::string, int64_t> changed = map;
    changed[op.key] = *next;
    return Intern(std::move(changed));
  }
  std::string Describe(ModelState state) const override {
    std::string out = "{";
    for (const auto& [key, value] : maps_[state]) {
      absl::StrAppend(&out, out.size() > 1 ? ", " : "", key, ": ", ValueText(value));
    }
    return out + "}";
  }

 private:
  ModelState Intern(std::map<std::string, int64_t> map) {
    auto [it, inserted] = ids_.try_emplace(map, static_cast<ModelState>(maps_.size()));
    if (inserted) maps_.push_back(std::move(map));
    return it->second;
  }
  std::vector<std::map<std::string, int64_t>> maps_;
  std::map<std::map<std::string, int64_t>, ModelState> ids_;
};

// Append-only partitions with dense offsets (the n-th record of a partition is at offset n).
// A state is an interned node of a persistent list (a trie of logs sharing prefixes), so equal
// logs have equal handles and appending is O(1). Jump pointers (Myers' skew-binary random
// access lists) find the record at any offset in O(log n).
class LogModel : public Model {
 public:
  LogModel() { nodes_.push_back(Node{0, 0, 0, 0}); }  // the empty log is its own parent

  std::vector<std::string> ObjectsOf(const Operation& op) const override {
    if (op.f == Function::kSend) return {absl::StrCat(op.partition)};
    if (op.f != Function::kPoll) return {};
    std::vector<std::string> objects;
    absl::btree_map<int64_t, bool> seen;
    for (const Read& r : op.reads) {
      if (seen.try_emplace(r.partition, true).second) objects.push_back(absl::StrCat(r.partition));
    }
    return objects;
  }
  bool IsReadOnly(const Operation& op) const override { return op.f == Function::kPoll; }
  ModelState Init() override { return 0; }

  Operation Restrict(const Operation& op, const std::string& object) const override {
    if (op.f != Function::kPoll) return op;
    Operation restricted = op;
    std::erase_if(restricted.reads,
                  [&](const Read& r) { return absl::StrCat(r.partition) != object; });
    CHECKS_ASSERT(!restricted.reads.empty());
    return restricted;
  }

  std::optional<ModelState> Step(ModelState state, const Operation& op, bool pending) override {
    if (op.f == Function::kSend) {
      for (size_t i = 0; i < op.values.size(); i++) {
        if (!pending && op.offsets[i] != nodes_[state].length) return std::nullopt;
        state = Append(state, op.values[i]);
      }
      return state;
    }
    CHECKS_ASSERT(op.f == Function::kPoll);
    CHECKS_ASSERT(!pending);
    for (const Read& r : op.reads) {
      CHECKS_ASSERT(r.partition == op.reads.front().partition);
      if (r.offset >= nodes_[state].length) return std::nullopt;
      if (nodes_[AncestorAt(state, r.offset + 1)].value != r.value) return std::nullopt;
    }
    return state;
  }

  std::string Describe(ModelState state) const override {
    const int64_t length = nodes_[state].length;
    std::string out = absl::StrFormat("log of %d records", length);
    if (length == 0) return out;
    absl::StrAppend(&out, ", last:");
    int64_t node = state;
    for (int i = 0; i < 5 && nodes_[node].length > 0; i++, node = nodes_[node].parent) {
      absl::StrAppend(&out, " [", nodes_[node].length - 1, "]=", nodes_[node].value);
    }
    return out;
  }

 private:
  struct Node {
    int64_t parent;
    int64_t jump;
    int64_t length;  // records in the log ending here; the node's record is at offset length-1
    int64_t value;
  };

  ModelState Append(ModelState parent, int64_t value) {
    auto [it, inserted] = children_.try_emplace({parent, value}, nodes_.size());
    if (!inserted) return it->second;
    const Node& p = nodes_[parent];
    const Node& pj = nodes_[p.jump];
    const bool equal_spans = p.length - pj.length == pj.length - nodes_[pj.jump].length;
    nodes_.push_back(Node{parent, equal_spans ? pj.jump : parent, p.length + 1, value});
    return it->second;
  }

  int64_t AncestorAt(int64_t node, int64_t length) const {
    CHECKS_ASSERT(length >= 1);
    CHECKS_ASSERT(length <= nodes_[node].length);
    while (nodes_[node].length != length) {
      const Node& n = nodes_[node];
      node = nodes_[n.jump].length >= length ? n.jump : n.parent;
    }
    return node;
  }

  std::vector<Node> nodes_;
  absl::flat_hash_map<std::pair<int64_t, int64_t>, int64_t> children_;  // determinism: lookup-only
};

}  // namespace

std::unique_ptr<Model> MakeModel(ModelKind kind) {
  switch (kind) {
    case ModelKind::kRegister:
      return std::make_unique<RegisterModel>();
    case ModelKind::kKeyValue:
      return std::make_unique<KeyValueModel>();
    case ModelKind::kLog:
      return std::make_unique<LogModel>();
  }
  CHECKS_ASSERT_MSG(false, "unknown model kind");
  return nullptr;
}

}  // namespace meridian::checks
