// ChooseNearReplica (near_replica.h): which replica a consumer stating its region reads from.
#include "core/client/near_replica.h"

#include <gtest/gtest.h>

namespace meridian::core::client {
namespace {

// Nodes 1-3 in "eu", 4-6 in "us", 7 in "ap".
std::string Region(uint32_t node) { return node <= 3 ? "eu" : node <= 6 ? "us" : "ap"; }

wire::PartitionInfoT Partition(uint32_t partition, std::vector<uint32_t> replicas,
                               std::vector<uint32_t> observers, uint32_t leader) {
  wire::PartitionInfoT info;
  info.partition = partition;
  info.replicas = std::move(replicas);
  info.observers = std::move(observers);
  info.leader = leader;
  return info;
}

std::optional<io::NodeId> Choose(const wire::PartitionInfoT& partition, std::string_view region,
                                 absl::btree_set<uint32_t> avoid = {}) {
  return ChooseNearReplica(partition, "orders", region, Region, avoid);
}

TEST(NearReplica, NoReplicaInTheRegionMeansTheLeader) {
  EXPECT_EQ(Choose(Partition(0, {1, 4}, {}, 1), "ap"), std::nullopt);
}

TEST(NearReplica, TheLeaderWhenItIsInTheRegion) {
  EXPECT_EQ(Choose(Partition(0, {2, 1, 4}, {}, 2), "eu"), io::NodeId(2));
}

TEST(NearReplica, AnObserverServesItsRegion) {
  // A regional topic: voters in "eu", an observer in "us" and one in "ap".
  EXPECT_EQ(Choose(Partition(0, {1, 2, 3}, {5, 7}, 1), "us"), io::NodeId(5));
  EXPECT_EQ(Choose(Partition(0, {1, 2, 3}, {5, 7}, 1), "ap"), io::NodeId(7));
}

// Stable: the same partition gets the same replica whatever the order of the lists; and the
// partitions of a topic spread over the region's replicas.
TEST(NearReplica, StablePerPartitionAndSpreadOverTheRegion) {
  absl::btree_set<uint32_t> chosen;
  for (uint32_t p = 0; p < 16; p++) {
    const auto one = Choose(Partition(p, {1, 4, 5}, {6}, 1), "us");
    const auto same = Choose(Partition(p, {5, 1, 4}, {6}, 0), "us");
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one, same) << "partition " << p;
    EXPECT_GE(one->value(), 4u);
    chosen.insert(one->value());
  }
  EXPECT_EQ(chosen.size(), 3u) << "16 partitions all on a subset of the 3 replicas in us";
}

// An avoided replica (lagging or failing) is passed over for the next; all avoided: the leader.
TEST(NearReplica, AvoidedReplicasArePassedOver) {
  const wire::PartitionInfoT partition = Partition(3, {1, 4, 5}, {}, 1);
  const auto first = Choose(partition, "us");
  ASSERT_TRUE(first.has_value());
  const auto second = Choose(partition, "us", {first->value()});
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(*first, *second);
  EXPECT_EQ(Choose(partition, "us", {4, 5}), std::nullopt);
}

}  // namespace
}  // namespace meridian::core::client
