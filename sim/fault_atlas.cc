#include "sim/fault_atlas.h"

#include "io/assert.h"

namespace meridian::sim {

bool FaultAtlas::TryCharge(const std::string& path, uint64_t offset, uint64_t bytes,
                           io::NodeId node) {
  MERIDIAN_CHECK(bytes > 0);
  const uint64_t first = offset / kSectorBytes;
  const uint64_t last = (offset + bytes - 1) / kSectorBytes;
  // A server lost for good already counts as a damaged copy of every place: more damage there
  // costs nothing.
  const bool lost_node = lost_for_good_.contains(node);
  for (uint64_t sector = first; sector <= last && !lost_node; sector++) {
    auto it = damaged_.find({path, sector});
    if (it != damaged_.end() && it->second.contains(node)) continue;  // Already this copy.
    size_t copies = lost_for_good_.size();
    if (it != damaged_.end()) {
      for (io::NodeId damaged : it->second) copies += !lost_for_good_.contains(damaged);
    }
    if (copies >= copies_damaged_max_) return false;
  }
  for (uint64_t sector = first; sector <= last; sector++) damaged_[{path, sector}].insert(node);
  damaged_nodes_.insert(node);
  return true;
}

void FaultAtlas::ChargeLossForGood(io::NodeId node) {
  MERIDIAN_CHECK(node.value() != 0, "node 0 is the nemesis, not a server");
  lost_for_good_.insert(node);
  MERIDIAN_CHECK(lost_for_good_.contains(node));
}

}  // namespace meridian::sim
