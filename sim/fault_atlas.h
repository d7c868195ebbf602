// sim::FaultAtlas: the simulator's promise never to corrupt more than a correct protocol could
// survive. Every at-rest corruption and misdirected write is charged to a (file path, sector)
// "place" and the node whose copy it damaged; a place may be damaged on at most
// `copies_damaged_max` nodes. Replicas of one partition use the same relative paths on every
// node, so this keeps at least one intact copy of every record when the budget is
// replication_factor - quorum (for 3 replicas: 1). A checker failure is then a real bug, never a
// false alarm caused by destroying every copy.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "io/node_id.h"

namespace meridian::sim {

class FaultAtlas {
 public:
  static constexpr uint64_t kSectorBytes = 512;

  explicit FaultAtlas(uint32_t copies_damaged_max = 1) : copies_damaged_max_(copies_damaged_max) {}

  // Whether damaging bytes [offset, offset + bytes) of `path` on `node` stays within budget; if
  // so, the damage is recorded and true returned.
  bool TryCharge(const std::string& path, uint64_t offset, uint64_t bytes, io::NodeId node);
  uint64_t places_damaged() const { return damaged_.size(); }
  // Whether any place was damaged on `node`.
  bool damaged_on(io::NodeId node) const { return damaged_nodes_.contains(node); }
  uint32_t copies_damaged_max() const { return copies_damaged_max_; }

 private:
  using Place = std::pair<std::string, uint64_t>;  // (path, sector)
  uint32_t copies_damaged_max_;
  absl::btree_map<Place, absl::btree_set<io::NodeId>> damaged_;
  absl::btree_set<io::NodeId> damaged_nodes_;
};

}  // namespace meridian::sim
