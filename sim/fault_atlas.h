// sim::FaultAtlas: the simulator's promise never to corrupt more than a correct protocol could
// survive. Every at-rest corruption and misdirected write is charged to a (file path, sector)
// "place" and the node whose copy it damaged; a place may be damaged on at most
// `copies_damaged_max` nodes. Replicas of one partition use the same relative paths on every
// node, so this keeps at least one intact copy of every record when the budget is
// replication_factor - quorum (for 3 replicas: 1). A checker failure is then a real bug, never a
// false alarm caused by destroying every copy.
//
// A server lost for good (its region lost for good) has lost every copy it held: that is a
// failure of the same group as a damaged copy, and the two together must stay within the
// budget. The atlas does not know which groups a server hosts, so a server lost for good counts
// as one damaged copy of every place; the nemesis declares such servers before the run starts
// (Nemesis::Install), so a damage charged before the loss counts too. With the default budget
// of 1, a run that loses servers for good damages only those servers.
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
  // `node` will be, or is, lost for good: from now on it counts as a damaged copy of every place.
  void ChargeLossForGood(io::NodeId node);
  bool lost_for_good(io::NodeId node) const { return lost_for_good_.contains(node); }
  uint64_t places_damaged() const { return damaged_.size(); }
  // Whether any place was damaged on `node`.
  bool damaged_on(io::NodeId node) const { return damaged_nodes_.contains(node); }
  uint32_t copies_damaged_max() const { return copies_damaged_max_; }

 private:
  using Place = std::pair<std::string, uint64_t>;  // (path, sector)
  uint32_t copies_damaged_max_;
  absl::btree_map<Place, absl::btree_set<io::NodeId>> damaged_;
  absl::btree_set<io::NodeId> damaged_nodes_;
  absl::btree_set<io::NodeId> lost_for_good_;
};

}  // namespace meridian::sim
