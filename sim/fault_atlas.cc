#include "sim/fault_atlas.h"

#include "io/assert.h"

namespace meridian::sim {

bool FaultAtlas::TryCharge(const std::string& path, uint64_t offset, uint64_t bytes,
                           io::NodeId node) {
  MERIDIAN_CHECK(bytes > 0);
  const uint64_t first = offset / kSectorBytes;
  const uint64_t last = (offset + bytes - 1) / kSectorBytes;
  for (uint64_t sector = first; sector <= last; sector++) {
    auto it = damaged_.find({path, sector});
    const size_t copies = it == damaged_.end() ? 0 : it->second.size();
    const bool already_this_node = it != damaged_.end() && it->second.contains(node);
    if (!already_this_node && copies >= copies_damaged_max_) return false;
  }
  for (uint64_t sector = first; sector <= last; sector++) damaged_[{path, sector}].insert(node);
  damaged_nodes_.insert(node);
  return true;
}

}  // namespace meridian::sim
