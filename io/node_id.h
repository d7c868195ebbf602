// Identity of a node in a cluster. A strong type so that a node id is never confused with an
// offset, a term or a partition (house style rule 5).
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace meridian::io {

class NodeId {
 public:
  constexpr NodeId() = default;
  constexpr explicit NodeId(uint32_t value) : value_(value) {}
  constexpr uint32_t value() const { return value_; }
  constexpr auto operator<=>(const NodeId&) const = default;
  std::string ToString() const { return "n" + std::to_string(value_); }

  template <typename H>
  friend H AbslHashValue(H h, NodeId id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  uint32_t value_ = 0;
};

}  // namespace meridian::io
