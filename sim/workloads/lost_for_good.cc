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
    case PartitionLoss::kModeChangeQuorumLost:
      return "mode_change_quorum_lost";
  }
  MERIDIAN_CHECK(false, "bad PartitionLoss {}", static_cast<int>(loss));
  return "";
}

PartitionLoss PartitionLostForGood(const core::cluster::TopicRecord& topic,
                                   const core::cluster::PartitionRecord& partition,
                                   const absl::btree_set<io::NodeId>& lost_for_good,
                                   const std::vector<uint32_t>* voters_in_force) {
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
  // Unknown when no copy that could vote survived (the survivors are all joining copies, whose
  // configuration may be one the group replaced: raft::RaftOptions::joining): then the
  // metadata's voters are the best account of the configuration in force.
  const std::vector<uint32_t>& in_force = voters_in_force != nullptr && !voters_in_force->empty()
                                              ? *voters_in_force
                                              : partition.replicas;
  if ((topic.changing_to.has_value() || topic.regional_by_change) &&
      QuorumLost(in_force, lost_for_good)) {
    // A topic regional by a mode change is promoted only once every voter renewed its lease
    // since (core/broker failover.cc VotersKnowTheRegime), which a run may not reach.
    const bool promotable =
        topic.UnderRegionalRules() && !topic.regional_by_change &&
        CountLost(partition.replicas, lost_for_good) == partition.replicas.size() &&
        CountLost(partition.observers, lost_for_good) < partition.observers.size();
    if (!promotable) return PartitionLoss::kModeChangeQuorumLost;
  }
  if (topic.consistency != core::wire::Consistency::Spread) return PartitionLoss::kNone;
  // A reassignment moves the configuration one server at a time: either set may be the one in
  // force, so both must have lost their quorum.
  if (!QuorumLost(partition.replicas, lost_for_good)) return PartitionLoss::kNone;
  if (partition.reassigning() && !QuorumLost(partition.target_replicas, lost_for_good)) {
    return PartitionLoss::kNone;
  }
  return PartitionLoss::kSpreadQuorumLost;
}

absl::btree_set<uint32_t> PartitionsLostForGood(
    const core::cluster::TopicRecord& topic, const absl::btree_set<io::NodeId>& lost_for_good,
    const absl::btree_map<uint32_t, std::vector<uint32_t>>& voters_in_force) {
  absl::btree_set<uint32_t> lost;
  for (const core::cluster::PartitionRecord& partition : topic.partitions) {
    auto in_force = voters_in_force.find(partition.partition);
    if (PartitionLostForGood(topic, partition, lost_for_good,
                             in_force == voters_in_force.end() ? nullptr : &in_force->second) ==
        PartitionLoss::kNone) {
      continue;
    }
    lost.insert(partition.partition);
  }
  MERIDIAN_CHECK(lost.size() <= topic.partitions.size());
  return lost;
}

}  // namespace meridian::sim
