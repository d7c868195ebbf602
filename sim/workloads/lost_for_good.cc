#include "sim/workloads/lost_for_good.h"

#include <vector>

#include "io/assert.h"

namespace meridian::sim {
namespace {

size_t CountLost(const std::vector<uint32_t>& members,
                 const absl::btree_set<io::NodeId>& lost_for_good) {
  size_t lost = 0;
  for (uint32_t node : members) lost += lost_for_good.contains(io::NodeId(node)) ? 1 : 0;
  MERIDIAN_CHECK(lost <= members.size());
  return lost;
}

// Whether the servers of `voters` still up or coming back are fewer than a majority of them.
bool QuorumLost(const std::vector<uint32_t>& voters,
                const absl::btree_set<io::NodeId>& lost_for_good) {
  const size_t majority = voters.size() / 2 + 1;
  return voters.size() - CountLost(voters, lost_for_good) < majority;
}

}  // namespace

const char* PartitionLossName(PartitionLoss loss) {
  switch (loss) {
    case PartitionLoss::kNone:
      return "none";
    case PartitionLoss::kNoMemberLeft:
      return "no_member_left";
    case PartitionLoss::kSpreadQuorumLost:
      return "spread_quorum_lost";
  }
  MERIDIAN_CHECK(false, "bad PartitionLoss {}", static_cast<int>(loss));
  return "";
}

PartitionLoss PartitionLostForGood(const core::cluster::TopicRecord& topic,
                                   const core::cluster::PartitionRecord& partition,
                                   const absl::btree_set<io::NodeId>& lost_for_good) {
  MERIDIAN_CHECK(!partition.replicas.empty(), "partition {} has no voter", partition.partition);
  size_t members = 0;
  size_t lost = 0;
  for (const std::vector<uint32_t>* group :
       {&partition.replicas, &partition.observers, &partition.target_replicas,
        &partition.target_observers}) {
    members += group->size();
    lost += CountLost(*group, lost_for_good);
  }
  MERIDIAN_CHECK(lost <= members);
  if (lost == members) return PartitionLoss::kNoMemberLeft;
  if (topic.consistency != core::wire::Consistency::Spread) return PartitionLoss::kNone;
  // A reassignment moves the configuration one server at a time: either set may be the one in
  // force, so both must have lost their quorum.
  if (!QuorumLost(partition.replicas, lost_for_good)) return PartitionLoss::kNone;
  if (partition.reassigning() && !QuorumLost(partition.target_replicas, lost_for_good)) {
    return PartitionLoss::kNone;
  }
  return PartitionLoss::kSpreadQuorumLost;
}

absl::btree_set<uint32_t> PartitionsLostForGood(const core::cluster::TopicRecord& topic,
                                                const absl::btree_set<io::NodeId>& lost_for_good) {
  absl::btree_set<uint32_t> lost;
  for (const core::cluster::PartitionRecord& partition : topic.partitions) {
    if (PartitionLostForGood(topic, partition, lost_for_good) == PartitionLoss::kNone) continue;
    lost.insert(partition.partition);
  }
  MERIDIAN_CHECK(lost.size() <= topic.partitions.size());
  return lost;
}

}  // namespace meridian::sim
