#include "core/client/near_replica.h"

#include <vector>

#include "io/assert.h"

namespace meridian::core::client {
namespace {

// FNV-1a over the topic name, then the partition: the same in every process (no std::hash).
uint64_t PartitionHash(std::string_view topic, uint32_t partition) {
  uint64_t hash = 14695981039346656037ull;
  for (const char c : topic) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  for (int shift = 0; shift < 32; shift += 8) {
    hash ^= (partition >> shift) & 0xff;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

std::optional<io::NodeId> ChooseNearReplica(const wire::PartitionInfoT& partition,
                                            std::string_view topic, std::string_view region,
                                            const RegionOf& region_of,
                                            const absl::btree_set<uint32_t>& avoid) {
  MERIDIAN_CHECK(!region.empty(), "no region: the leader serves");
  absl::btree_set<uint32_t> in_region;  // Ordered: the choice must not depend on list order.
  for (const std::vector<uint32_t>* nodes : {&partition.replicas, &partition.observers}) {
    for (uint32_t node : *nodes) {
      if (node != 0 && region_of(node) == region) in_region.insert(node);
    }
  }
  if (in_region.empty()) return std::nullopt;
  if (in_region.contains(partition.leader)) return io::NodeId(partition.leader);
  const std::vector<uint32_t> candidates(in_region.begin(), in_region.end());
  const size_t start = PartitionHash(topic, partition.partition) % candidates.size();
  for (size_t i = 0; i < candidates.size(); i++) {
    const uint32_t node = candidates[(start + i) % candidates.size()];
    if (!avoid.contains(node)) return io::NodeId(node);
  }
  return std::nullopt;
}

}  // namespace meridian::core::client
