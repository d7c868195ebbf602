#include "checks/wgl_search.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "checks/assert.h"

namespace meridian::checks {
namespace {

constexpr int64_t kDeadlineCheckIterations = 4096;

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  return x ^ (x >> 33);
}

// The set of linearized operations. Operations are numbered with completed ones first (in call
// order) and pending ones last, so a linearized set is almost always "the first k completed
// operations plus a few more"; the memo table stores it in that compact form.
class LinearizedSet {
 public:
  explicit LinearizedSet(int64_t size) : words_((size + 63) / 64, 0), size_(size) {}

  void Set(int64_t i) {
    CHECKS_ASSERT(!Get(i));
    words_[i / 64] |= uint64_t{1} << (i % 64);
    hash_ ^= Mix(static_cast<uint64_t>(i) + 1);
  }
  void Clear(int64_t i) {
    CHECKS_ASSERT(Get(i));
    words_[i / 64] &= ~(uint64_t{1} << (i % 64));
    hash_ ^= Mix(static_cast<uint64_t>(i) + 1);
  }
  bool Get(int64_t i) const {
    CHECKS_ASSERT(i >= 0 && i < size_);
    return (words_[i / 64] >> (i % 64)) & 1;
  }
  uint64_t hash() const { return hash_; }

  // Appends the compact form to `out`: [k, n, i_1..i_n] where bits [0, k) are set, bit k is not,
  // and i_1 < ... < i_n are the other set bits.
  void AppendCompact(std::vector<uint32_t>* out) const {
    size_t word = 0;
    while (word < words_.size() && words_[word] == ~uint64_t{0}) word++;
    int64_t k = static_cast<int64_t>(word) * 64;
    while (k < size_ && Get(k)) k++;
    const size_t header = out->size();
    out->push_back(static_cast<uint32_t>(k));
    out->push_back(0);
    for (size_t w = k / 64; w < words_.size(); w++) {
      uint64_t bits = words_[w];
      while (bits != 0) {
        const int64_t i = static_cast<int64_t>(w) * 64 + __builtin_ctzll(bits);
        bits &= bits - 1;
        if (i > k) out->push_back(static_cast<uint32_t>(i));
      }
    }
    (*out)[header + 1] = static_cast<uint32_t>(out->size() - header - 2);
  }

 private:
  std::vector<uint64_t> words_;
  int64_t size_;
  uint64_t hash_ = 0;
};

// Memo table of (linearized set, state) pairs. Sets live compactly in one arena; the hash map
// only maps a hash to the (rarely more than one) arena positions with that hash. It is only
// probed, never iterated, so its order cannot affect the result.
class Memo {
 public:
  // Inserts the pair; false if it was already present.
  bool Insert(const LinearizedSet& set, ModelState state) {
    const uint64_t hash = set.hash() ^ Mix(static_cast<uint64_t>(state) ^ 0x5bd1e995);
    scratch_.clear();
    set.AppendCompact(&scratch_);
    std::vector<int64_t>& chain = table_[hash];
    for (int64_t entry : chain) {
      if (states_[entry] != state) continue;
      if (lengths_[entry] != static_cast<int64_t>(scratch_.size())) continue;
      if (std::equal(scratch_.begin(), scratch_.end(), arena_.begin() + starts_[entry])) {
        return false;
      }
    }
    chain.push_back(static_cast<int64_t>(states_.size()));
    states_.push_back(state);
    starts_.push_back(static_cast<int64_t>(arena_.size()));
    lengths_.push_back(static_cast<int64_t>(scratch_.size()));
    arena_.insert(arena_.end(), scratch_.begin(), scratch_.end());
    return true;
  }

  int64_t size() const { return static_cast<int64_t>(states_.size()); }
  int64_t bytes() const {
    constexpr int64_t kTableEntryBytes = 48;  // hash slot plus a one-element chain vector
    return static_cast<int64_t>(arena_.capacity() * sizeof(uint32_t) +
                                states_.capacity() * sizeof(ModelState) +
                                (starts_.capacity() + lengths_.capacity()) * sizeof(int64_t)) +
           static_cast<int64_t>(table_.size()) * kTableEntryBytes;
  }

 private:
  absl::flat_hash_map<uint64_t, std::vector<int64_t>> table_;
  std::vector<ModelState> states_;
  std::vector<int64_t> starts_;
  std::vector<int64_t> lengths_;
  std::vector<uint32_t> arena_;
  std::vector<uint32_t> scratch_;
};

// The entry list: entry 0 is the head sentinel; entry 1 + 2i is the call of operation i and
// 2 + 2i its return, linked in time order (calls before returns at equal times, since an
// operation returning at t and one called at t are concurrent).
class EntryList {
 public:
  explicit EntryList(const std::vector<ObjectOperation>& ops)
      : next_(2 * ops.size() + 1, -1), prev_(2 * ops.size() + 1, -1) {
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
      last = entry;
    }
  }

  int64_t first() const { return next_[0]; }
  int64_t next(int64_t entry) const { return next_[entry]; }
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
};

}  // namespace

SearchResult SearchLinearization(const std::vector<ObjectOperation>& operations, Model* model,
                                 absl::Time deadline) {
  CHECKS_ASSERT(model != nullptr);
  const int64_t n = static_cast<int64_t>(operations.size());
  // Number completed operations first so linearized sets compress well (see LinearizedSet).
  std::vector<int64_t> bit_of(n);
  int64_t completed_total = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!operations[i].pending) bit_of[i] = completed_total++;
    CHECKS_ASSERT(i == 0 || operations[i - 1].call_ns <= operations[i].call_ns);
    CHECKS_ASSERT(operations[i].pending == (operations[i].return_ns == kTimeNsInfinite));
  }
  for (int64_t i = 0, pending = 0; i < n; i++) {
    if (operations[i].pending) bit_of[i] = completed_total + pending++;
  }
  EntryList list(operations);
  LinearizedSet linearized(n);
  Memo memo;
  SearchResult result;
  struct Frame {
    int64_t call;
    ModelState state_before;
  };
  std::vector<Frame> calls;
  size_t low_water = 0;  // calls[0, low_water) == result.longest[0, low_water)
  ModelState state = model->Init();
  int64_t completed_linearized = 0;
  int64_t entry = list.first();
  for (int64_t iteration = 0; completed_linearized < completed_total; iteration++) {
    if (iteration % kDeadlineCheckIterations == 0 && absl::Now() > deadline) {
      result.verdict = Verdict::kUnknown;
      break;
    }
    CHECKS_ASSERT(entry != -1);       // the returns of unlinearized completed ops are still listed
    if (!EntryList::IsCall(entry)) {  // a completed operation we failed to linearize: backtrack
      if (calls.empty()) {
        result.verdict = Verdict::kInvalid;
        break;
      }
      const Frame frame = calls.back();
      calls.pop_back();
      low_water = std::min(low_water, calls.size());
      const int64_t op = EntryList::OpOf(frame.call);
      state = frame.state_before;
      linearized.Clear(bit_of[op]);
      if (!operations[op].pending) completed_linearized--;
      list.Unlift(frame.call);
      entry = list.next(frame.call);
      continue;
    }
    const int64_t op = EntryList::OpOf(entry);
    const ObjectOperation& o = operations[op];
    std::optional<ModelState> next = model->Step(state, o.op, o.pending);
    if (next.has_value()) {
      linearized.Set(bit_of[op]);
      if (memo.Insert(linearized, *next)) {
        calls.push_back(Frame{entry, state});
        state = *next;
        if (!o.pending) completed_linearized++;
        list.Lift(entry);
        if (calls.size() > result.longest.size()) {
          result.longest.resize(low_water);
          for (size_t i = low_water; i < calls.size(); i++) {
            result.longest.push_back(EntryList::OpOf(calls[i].call));
          }
          low_water = calls.size();
          result.state_after_longest = state;
        }
        entry = list.first();
        continue;
      }
      linearized.Clear(bit_of[op]);
    }
    entry = list.next(entry);
  }
  if (completed_linearized == completed_total) CHECKS_ASSERT(result.verdict == Verdict::kValid);
  result.cache_entries_count = memo.size();
  result.cache_bytes = memo.bytes();
  return result;
}

}  // namespace meridian::checks
