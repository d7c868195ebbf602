#include "sim/fault_atlas.h"

#include "io/assert.h"

namespace meridian::sim {

std::string FaultAtlas::StoreOf(const std::string& path) {
  MERIDIAN_CHECK(!path.empty());
  const size_t log = path.find("/log/");
  if (log != std::string::npos && log > 0) return path.substr(0, log);
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return path;
  MERIDIAN_CHECK(slash + 1 < path.size(), "'{}' names a directory", path);
  return path.substr(0, slash);
}

bool FaultAtlas::TryCharge(const std::string& path, uint64_t offset, uint64_t bytes,
                           io::NodeId node) {
  MERIDIAN_CHECK(bytes > 0);
  MERIDIAN_CHECK(offset <= UINT64_MAX - bytes, "damage past the end of any file");
  const std::string store = StoreOf(path);
  // A server lost for good already counts as a damaged copy of every store: more damage there
  // costs nothing. Damage anywhere in a store costs the copy everything after it (core/log's
  // recovery cuts at the first bad byte), so where in the store does not matter.
  auto it = damaged_.find(store);
  const bool already_this_copy = it != damaged_.end() && it->second.contains(node);
  if (!lost_for_good_.contains(node) && !already_this_copy) {
    size_t copies = lost_for_good_.size();
    if (it != damaged_.end()) {
      for (io::NodeId damaged : it->second) copies += lost_for_good_.contains(damaged) ? 0 : 1;
    }
    if (copies >= copies_damaged_max_) return false;
  }
  damaged_[store].insert(node);
  damaged_nodes_.insert(node);
  MERIDIAN_CHECK(damaged_.at(store).contains(node));
  return true;
}

void FaultAtlas::ChargeLossForGood(io::NodeId node) {
  MERIDIAN_CHECK(node.value() != 0, "node 0 is the nemesis, not a server");
  lost_for_good_.insert(node);
  MERIDIAN_CHECK(lost_for_good_.contains(node));
}

}  // namespace meridian::sim
