#include "checks/wgl_search.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "checks/assert.h"

namespace meridian::checks {
namespace {

constexpr int64_t kDeadlineCheckIterations = 4096;
constexpr int64_t kExhausted = -2;  // no configuration left to explore

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  return x ^ (x >> 33);
}

// The set of linearized operations. Completed operations are summarized by two independent
// Zobrist hashes; indeterminate (pending) ones are kept as an exact bitset, because the memo
// compares them by inclusion (see Memo).
class LinearizedSet {
 public:
  explicit LinearizedSet(int64_t pending_count) : pending_((pending_count + 63) / 64, 0) {}

  void ToggleCompleted(int64_t i) {
    const uint64_t key = static_cast<uint64_t>(i) * 2 + 1;
    hash_low_ ^= Mix(key * 0x9E3779B97F4A7C15ull);
    hash_high_ ^= Mix((key + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full);
  }
  void SetPending(int64_t i) {
    CHECKS_ASSERT(!GetPending(i));
    pending_[i / 64] |= uint64_t{1} << (i % 64);
  }
  void ClearPending(int64_t i) {
    CHECKS_ASSERT(GetPending(i));
    pending_[i / 64] &= ~(uint64_t{1} << (i % 64));
  }
  bool GetPending(int64_t i) const { return (pending_[i / 64] >> (i % 64)) & 1; }
  const std::vector<uint64_t>& pending() const { return pending_; }

  // 128-bit fingerprint of (completed operations linearized, model state).
  std::pair<uint64_t, uint64_t> Fingerprint(ModelState state) const {
    const uint64_t s = static_cast<uint64_t>(state);
    return {hash_low_ ^ Mix(s ^ 0x243F6A8885A308D3ull),
            hash_high_ ^ Mix(s ^ 0x13198A2E03707344ull)};
  }

 private:
  std::vector<uint64_t> pending_;
  uint64_t hash_low_ = 0;
  uint64_t hash_high_ = 0;
};

// Configurations already explored. A configuration (C, s, P) -- completed operations C
// linearized, state s, pending operations P linearized -- is pruned if some explored (C, s, P')
// has P' a subset of P: an indeterminate operation may be left out forever, so every way to
// finish from (C, s, P) also finishes from (C, s, P'). With no pending operations this is
// Porcupine's plain memo; with them it keeps the search from doubling at every info operation.
// That argument needs "forever": when indeterminate operations have deadlines (an info window),
// the configuration with fewer of them must still resolve the others before their deadlines,
// which leads right back to the pruned configuration. Then only equal sets are pruned.
class Memo {
 public:
  enum class Compare { kInclusion, kEquality };

  Memo(int64_t pending_count, Compare compare)
      : words_((pending_count + 63) / 64), compare_(compare) {}

  // Records the configuration; false if it (or one dominating it) was explored already.
  bool Insert(const LinearizedSet& set, ModelState state) {
    auto [it, inserted] = heads_.try_emplace(set.Fingerprint(state), -1);
    const std::vector<uint64_t>& pending = set.pending();
    for (int64_t e = it->second; e != -1; e = next_[e]) {
      const uint64_t* stored = arena_.data() + e * words_;  // words_ may be 0
      bool covered = true;
      for (int64_t w = 0; w < words_ && covered; w++) {
        covered = compare_ == Compare::kInclusion ? (stored[w] & ~pending[w]) == 0
                                                  : stored[w] == pending[w];
      }
      if (covered) return false;
    }
    next_.push_back(it->second);
    it->second = static_cast<int64_t>(next_.size()) - 1;
    arena_.insert(arena_.end(), pending.begin(), pending.end());
    return true;
  }

  int64_t size() const { return static_cast<int64_t>(next_.size()); }
  int64_t bytes() const {
    constexpr int64_t kSlotBytes = 16 + 8 + 1;  // fingerprint, chain head, control byte
    return static_cast<int64_t>(heads_.capacity()) * kSlotBytes +
           static_cast<int64_t>(next_.capacity() * sizeof(int64_t) +
                                arena_.capacity() * sizeof(uint64_t));
  }

 private:
  const int64_t words_;
  const Compare compare_;
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, int64_t> heads_;  // determinism: lookup-only
  std::vector<int64_t> next_;    // chains of configurations sharing a fingerprint
  std::vector<uint64_t> arena_;  // their pending sets, words_ each
};

// The entry list: entry 0 is the head sentinel; entry 1 + 2i is the call of operation i and
// 2 + 2i its return, linked in time order (calls before returns at equal times, since an
// operation returning at t and one called at t are concurrent).
class EntryList {
 public:
  explicit EntryList(const std::vector<ObjectOperation>& ops)
      : next_(2 * ops.size() + 1, -1),
        prev_(2 * ops.size() + 1, -1),
        position_(2 * ops.size() + 1, 0) {
    std::vector<std::tuple<int64_t, int, int64_t>> order;  // (time, is_return, op)
    for (size_t i = 0; i < ops.size(); i++) {
      order.emplace_back(ops[i].call_ns, 0, i);
      order.emplace_back(ops[i].return_ns, 1, i);
    }
    std::sort(order.begin(), order.end());
    int64_t last = 0;
    for (const auto& [time_ns, is_return, op] : order) {
      const int64_t entry = 1 + 2 * op + is_return;
      next_[last] = entry;
      prev_[entry] = last;
      position_[entry] = position_[last] + 1;
      last = entry;
    }
  }

  int64_t first() const { return next_[0]; }
  int64_t next(int64_t entry) const { return next_[entry]; }
  // 1-based place of the entry in time order; fixed, unaffected by lifting.
  int64_t position(int64_t entry) const { return position_[entry]; }
  static bool IsCall(int64_t entry) { return entry % 2 == 1; }
  static int64_t OpOf(int64_t entry) { return (entry - 1) / 2; }

  void Lift(int64_t call) {
    CHECKS_ASSERT(IsCall(call));
    Unlink(call);
    Unlink(call + 1);
  }
  void Unlift(int64_t call) {
    CHECKS_ASSERT(IsCall(call));
    Relink(call + 1);
    Relink(call);
  }

 private:
  void Unlink(int64_t e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != -1) prev_[next_[e]] = prev_[e];
  }
  void Relink(int64_t e) {
    next_[prev_[e]] = e;
    if (next_[e] != -1) prev_[next_[e]] = e;
  }

  std::vector<int64_t> next_;
  std::vector<int64_t> prev_;
  std::vector<int64_t> position_;
};

}  // namespace

namespace {

// The search proper, as a class so that each step is a short method.
class Search {
 public:
  Search(const std::vector<ObjectOperation>& operations, Model* model)
      : ops_(operations),
        model_(model),
        list_(operations),
        bit_of_(operations.size()),
        linearized_(PendingCount(operations)),
        memo_(PendingCount(operations), AllPendingForever(operations) ? Memo::Compare::kInclusion
                                                                      : Memo::Compare::kEquality) {
    int64_t pending = 0;
    for (size_t i = 0; i < ops_.size(); i++) {
      CHECKS_ASSERT(i == 0 || ops_[i - 1].call_ns <= ops_[i].call_ns);
      if (!ops_[i].pending) CHECKS_ASSERT(ops_[i].return_ns != kTimeNsInfinite);
      CHECKS_ASSERT(ops_[i].call_ns <= ops_[i].return_ns);
      bit_of_[i] = ops_[i].pending ? pending++ : completed_total_++;
    }
    pending_total_ = pending;
    ClassifyPending();
  }

  SearchResult Run(absl::Time deadline) && {
    state_ = model_->Init();
    int64_t entry = list_.first();
    bool pending_pass = false;
    for (int64_t iteration = 0; completed_linearized_ < completed_total_; iteration++) {
      if (iteration % kDeadlineCheckIterations == 0 && absl::Now() > deadline) {
        result_.verdict = Verdict::kUnknown;
        break;
      }
      CHECKS_ASSERT(entry != -1);  // returns of unlinearized completed ops are still listed
      if (EntryList::IsCall(entry)) {
        if (ops_[EntryList::OpOf(entry)].pending != pending_pass) {
          entry = list_.next(entry);
        } else {
          entry = TryLinearize(entry, &pending_pass);
        }
      } else if (!pending_pass && pending_total_ > 0) {
        // Completed operations first; indeterminate ones only when those are stuck, so that
        // configurations with fewer of them come first and dominate (see Memo).
        pending_pass = true;
        entry = list_.first();
      } else if (ops_[EntryList::OpOf(entry)].pending) {
        // An indeterminate operation's deadline (see LinearizabilityOptions::info_window_ns)
        // and nothing let us linearize it before: it never took effect.
        entry = Expire(entry, &pending_pass);
        if (entry == kExhausted) {
          result_.verdict = Verdict::kInvalid;
          break;
        }
      } else if (calls_.empty()) {
        NoteBlocked(entry);
        result_.verdict = Verdict::kInvalid;
        break;
      } else {
        NoteBlocked(entry);
        entry = Backtrack(&pending_pass);
      }
    }
    CHECKS_ASSERT((result_.verdict == Verdict::kValid) ==
                  (completed_linearized_ == completed_total_));
    if (result_.verdict == Verdict::kInvalid) {
      CHECKS_ASSERT(result_.culprit >= 0);
      const ObjectOperation& c = ops_[result_.culprit];
      for (int64_t i = 0; i < static_cast<int64_t>(ops_.size()); i++) {
        const bool completes_by_culprit =
            !ops_[i].pending &&
            std::tie(ops_[i].return_ns, i) <= std::tie(c.return_ns, result_.culprit);
        if (completes_by_culprit) result_.prefix_completions_count++;
      }
    }
    result_.cache_entries_count = memo_.size();
    result_.cache_bytes = memo_.bytes();
    return std::move(result_);
  }

 private:
  struct Frame {
    int64_t call;
    ModelState state_before;
  };

  // Indeterminate operations with the same request (function, key, partition, values, value,
  // expected) and the same deadline have the same effect, so they are interchangeable: any
  // linearization can use the earlier-called one first. The search only ever linearizes the
  // first unused operation of each such class, which removes the factorial blow-up of equal
  // info writes (and keeps the Memo's inclusion argument intact: a shorter prefix of a class
  // is a subset of a longer one).
  void ClassifyPending() {
    using Request =
        std::tuple<int, std::string, int64_t, std::vector<int64_t>, int64_t, int64_t, int64_t>;
    std::map<Request, int64_t> class_ids;  // ordered: no hash order can leak into the search
    class_of_.assign(ops_.size(), -1);
    rank_in_class_.assign(ops_.size(), -1);
    for (size_t i = 0; i < ops_.size(); i++) {
      if (!ops_[i].pending) continue;
      const Operation& op = ops_[i].op;
      const Request request{
          static_cast<int>(op.f), op.key, op.partition, op.values, op.value, op.expected,
          ops_[i].return_ns};
      auto [it, inserted] = class_ids.try_emplace(request, class_used_.size());
      if (inserted) class_size_.push_back(0), class_used_.push_back(0);
      class_of_[i] = it->second;
      rank_in_class_[i] = class_size_[it->second]++;
    }
  }

  static bool AllPendingForever(const std::vector<ObjectOperation>& ops) {
    return std::all_of(ops.begin(), ops.end(), [](const ObjectOperation& o) {
      return !o.pending || o.return_ns == kTimeNsInfinite;
    });
  }

  static int64_t PendingCount(const std::vector<ObjectOperation>& ops) {
    return std::count_if(ops.begin(), ops.end(),
                         [](const ObjectOperation& o) { return o.pending; });
  }

  void Toggle(int64_t op, bool set) {
    if (!ops_[op].pending) {
      linearized_.ToggleCompleted(bit_of_[op]);
    } else if (set) {
      linearized_.SetPending(bit_of_[op]);
    } else {
      linearized_.ClearPending(bit_of_[op]);
    }
  }

  // Linearizes the operation of call `entry` next if the model allows it and the resulting
  // configuration is new; returns the entry to look at next.
  int64_t TryLinearize(int64_t entry, bool* pending_pass) {
    const int64_t op = EntryList::OpOf(entry);
    const ObjectOperation& o = ops_[op];
    if (o.pending && rank_in_class_[op] != class_used_[class_of_[op]]) {
      return list_.next(entry);  // an identical, earlier indeterminate operation goes first
    }
    std::optional<ModelState> next = model_->Step(state_, o.op, o.pending);
    if (!next.has_value()) return list_.next(entry);
    Toggle(op, true);
    if (!memo_.Insert(linearized_, *next)) {
      Toggle(op, false);
      return list_.next(entry);
    }
    calls_.push_back(Frame{entry, state_});
    state_ = *next;
    if (!o.pending) completed_linearized_++;
    if (o.pending) class_used_[class_of_[op]]++;
    list_.Lift(entry);
    *pending_pass = false;
    return list_.first();
  }

  // Records that the indeterminate operation whose deadline is `entry` never took effect: a step
  // that leaves the state alone. Returns the entry to look at next, or kExhausted.
  int64_t Expire(int64_t entry, bool* pending_pass) {
    CHECKS_ASSERT(!EntryList::IsCall(entry));
    const int64_t op = EntryList::OpOf(entry);
    CHECKS_ASSERT(ops_[op].pending);
    CHECKS_ASSERT(rank_in_class_[op] == class_used_[class_of_[op]]);
    Toggle(op, true);
    if (!memo_.Insert(linearized_, state_)) {
      Toggle(op, false);
      return calls_.empty() ? kExhausted : Backtrack(pending_pass);
    }
    const int64_t call = entry - 1;
    calls_.push_back(Frame{call, state_});
    class_used_[class_of_[op]]++;
    list_.Lift(call);
    *pending_pass = false;
    return list_.first();
  }

  // Undoes the last linearization; returns the entry after its call, to be scanned in the pass
  // (completed or indeterminate operations) that operation belonged to.
  int64_t Backtrack(bool* pending_pass) {
    const Frame frame = calls_.back();
    calls_.pop_back();
    low_water_ = std::min(low_water_, calls_.size());
    const int64_t op = EntryList::OpOf(frame.call);
    state_ = frame.state_before;
    Toggle(op, false);
    if (!ops_[op].pending) completed_linearized_--;
    if (ops_[op].pending) {
      class_used_[class_of_[op]]--;
      CHECKS_ASSERT(class_used_[class_of_[op]] == rank_in_class_[op]);
    }
    list_.Unlift(frame.call);
    *pending_pass = ops_[op].pending;
    return list_.next(frame.call);
  }

  // The search must backtrack at return `entry`: remember the furthest such place and the path
  // that reached it (copying only what changed since the last copy).
  void NoteBlocked(int64_t entry) {
    CHECKS_ASSERT(!EntryList::IsCall(entry));
    if (list_.position(entry) <= furthest_position_) return;
    furthest_position_ = list_.position(entry);
    result_.culprit = EntryList::OpOf(entry);
    result_.furthest.resize(std::min(low_water_, result_.furthest.size()));
    for (size_t i = result_.furthest.size(); i < calls_.size(); i++) {
      result_.furthest.push_back(EntryList::OpOf(calls_[i].call));
    }
    low_water_ = calls_.size();
    result_.state_after_furthest = state_;
  }

  const std::vector<ObjectOperation>& ops_;
  Model* model_;
  EntryList list_;
  std::vector<int64_t> bit_of_;  // operation -> its bit among completed or pending operations
  LinearizedSet linearized_;
  Memo memo_;
  std::vector<Frame> calls_;
  size_t low_water_ = 0;  // calls_[0, low_water_) == result_.furthest[0, low_water_)
  int64_t furthest_position_ = 0;
  ModelState state_ = 0;
  std::vector<int64_t> class_of_;       // indeterminate operation -> its class of equals
  std::vector<int64_t> rank_in_class_;  // its place in the class, in call order
  std::vector<int64_t> class_size_;
  std::vector<int64_t> class_used_;  // class -> how many of it are linearized (a prefix)
  int64_t completed_total_ = 0;
  int64_t pending_total_ = 0;
  int64_t completed_linearized_ = 0;
  SearchResult result_;
};

}  // namespace

SearchResult SearchLinearization(const std::vector<ObjectOperation>& operations, Model* model,
                                 absl::Time deadline) {
  CHECKS_ASSERT(model != nullptr);
  return Search(operations, model).Run(deadline);
}

}  // namespace meridian::checks
