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

bool FaultAtlas::IsNodeWideStore(const std::string& store) {
  return store == "wal" || store == "marks";
}

// Nodes that count as a damaged copy of every store: lost for good, or their node-wide log or
// durable-mark table damaged.
absl::btree_set<io::NodeId> FaultAtlas::EveryStoreDamaged() const {
  absl::btree_set<io::NodeId> nodes = lost_for_good_;
  nodes.insert(node_wide_damaged_.begin(), node_wide_damaged_.end());
  return nodes;
}

bool FaultAtlas::TryCharge(const std::string& path, uint64_t offset, uint64_t bytes,
                           io::NodeId node) {
  MERIDIAN_CHECK(bytes > 0);
  MERIDIAN_CHECK(offset <= UINT64_MAX - bytes, "damage past the end of any file");
  const std::string store = StoreOf(path);
  const absl::btree_set<io::NodeId> everywhere = EveryStoreDamaged();
  // Damage anywhere in a store costs the copy everything after it (core/log's recovery cuts at
  // the first bad byte), so where in the store does not matter; a node already counted as a
  // damaged copy of every store pays nothing more.
  auto it = damaged_.find(store);
  const bool already_this_copy = it != damaged_.end() && it->second.contains(node);
  if (!everywhere.contains(node) && !already_this_copy) {
    // The most copies of any one store this damage would leave damaged: its own store, or,
    // for the node-wide log or mark table (every group of the node writes there), every store.
    size_t worst = 0;
    for (const auto& [name, nodes] : damaged_) {
      if (name != store && !IsNodeWideStore(store)) continue;
      if (IsNodeWideStore(name)) continue;  // Counted in `everywhere`.
      size_t copies = 0;
      for (io::NodeId damaged : nodes) {
        copies += damaged != node && !everywhere.contains(damaged) ? 1 : 0;
      }
      worst = std::max(worst, copies);
    }
    if (everywhere.size() + worst + 1 > copies_damaged_max_) return false;
  }
  damaged_[store].insert(node);
  damaged_nodes_.insert(node);
  if (IsNodeWideStore(store)) node_wide_damaged_.insert(node);
  MERIDIAN_CHECK(damaged_.at(store).contains(node));
  return true;
}

void FaultAtlas::ChargeLossForGood(io::NodeId node) {
  MERIDIAN_CHECK(node.value() != 0, "node 0 is the nemesis, not a server");
  lost_for_good_.insert(node);
  MERIDIAN_CHECK(lost_for_good_.contains(node));
}

}  // namespace meridian::sim
