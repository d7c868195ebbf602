// Vocabulary types of the protocol: terms, offsets, epochs and partition ids are distinct types,
// so one can never be passed where another is expected (house style rule 5). Each is a thin
// wrapper over an unsigned integer with ordering, hashing and a readable form.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <utility>

namespace meridian::core {

template <typename Tag, typename Value = uint64_t>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(Value value) : value_(value) {}
  constexpr Value value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;
  // The successor; asserting no wrap is the caller's business (terms and offsets never wrap).
  constexpr StrongId next() const { return StrongId(value_ + 1); }
  std::string ToString() const { return std::string(Tag::kPrefix) + std::to_string(value_); }

  template <typename H>
  friend H AbslHashValue(H h, StrongId id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  Value value_ = 0;
};

struct TermTag {
  static constexpr const char* kPrefix = "t";
};
struct OffsetTag {
  static constexpr const char* kPrefix = "@";
};
struct EpochTag {
  static constexpr const char* kPrefix = "e";
};
struct PartitionTag {
  static constexpr const char* kPrefix = "p";
};

using Term = StrongId<TermTag>;      // Raft term.
using Offset = StrongId<OffsetTag>;  // Position of a record in a partition's log.
using Epoch = StrongId<EpochTag>;    // Leader/fencing epoch of a partition.
using PartitionId = StrongId<PartitionTag, uint32_t>;

}  // namespace meridian::core
