// PartitionLostForGood, the broker workload's excuse for a partition that takes no write after
// the heal. Each case is a placement the simulator has produced (or that a planted bug
// produces); remove either excuse, or widen it, and a case here fails.
#include "sim/workloads/lost_for_good.h"

#include <gtest/gtest.h>

#include <vector>

namespace meridian::sim {
namespace {

using core::cluster::PartitionRecord;
using core::cluster::TopicRecord;
using core::wire::Consistency;

// geo-3x3: n1-n3 us-east, n4-n6 eu-west, n7-n9 ap-south.
const absl::btree_set<io::NodeId> kEuWestLost = {io::NodeId(4), io::NodeId(5), io::NodeId(6)};
const absl::btree_set<io::NodeId> kUsEastLost = {io::NodeId(1), io::NodeId(2), io::NodeId(3)};

TopicRecord Topic(Consistency consistency, std::vector<PartitionRecord> partitions) {
  TopicRecord topic{.name = "events", .replication_factor = 3};
  topic.consistency = consistency;
  topic.partitions = std::move(partitions);
  return topic;
}

PartitionRecord Partition(uint32_t number, std::vector<uint32_t> replicas,
                          std::vector<uint32_t> observers = {}) {
  return PartitionRecord{.partition = number,
                         .group = 2 + number,
                         .replicas = std::move(replicas),
                         .observers = std::move(observers)};
}

// Seed 179 of geo-3x3 with every broker fault kind (before the repair work moved its run): a
// regional topic placed when only us-east had registered, with no observer, then us-east lost.
TEST(PartitionLostForGood, ARegionalPartitionWithNoMemberLeft) {
  const TopicRecord topic = Topic(Consistency::Regional, {Partition(0, {1, 2, 3})});
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kUsEastLost),
            PartitionLoss::kNoMemberLeft);
  EXPECT_EQ(PartitionsLostForGood(topic, kUsEastLost), absl::btree_set<uint32_t>{0});
  EXPECT_TRUE(PartitionsLostForGood(topic, kEuWestLost).empty());
}

// A regional topic whose home region is lost but which has an observer elsewhere is promoted,
// so it must take writes again: not excused.
TEST(PartitionLostForGood, ARegionalPartitionWithAnObserverLeftIsNotExcused) {
  const TopicRecord topic = Topic(Consistency::Regional, {Partition(0, {1, 2, 3}, {4, 7})});
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kUsEastLost), PartitionLoss::kNone);
  // Nor a reassignment target that survives.
  TopicRecord moving = Topic(Consistency::Regional, {Partition(0, {1, 2, 3})});
  moving.partitions[0].target_replicas = {1, 2, 7};
  EXPECT_EQ(PartitionLostForGood(moving, moving.partitions[0], kUsEastLost), PartitionLoss::kNone);
}

// All-kinds seed 1279 of geo-3x3: the controller leader heard only n1, n4 and n6 when the topic
// was created, so the strongest mode the live nodes allowed was spread, every partition on
// {4, 1, 6}; eu-west was then lost for good and took two of three voters.
TEST(PartitionLostForGood, ASpreadPartitionThatLostAMajorityOfItsVoters) {
  const TopicRecord topic =
      Topic(Consistency::Spread,
            {Partition(0, {4, 1, 6}), Partition(1, {1, 6, 4}), Partition(2, {6, 1, 4})});
  for (const PartitionRecord& partition : topic.partitions) {
    EXPECT_EQ(PartitionLostForGood(topic, partition, kEuWestLost),
              PartitionLoss::kSpreadQuorumLost);
  }
  EXPECT_EQ(PartitionsLostForGood(topic, kEuWestLost), (absl::btree_set<uint32_t>{0, 1, 2}));
  // One voter of three lost leaves a quorum: asked to take writes.
  EXPECT_TRUE(PartitionsLostForGood(topic, kUsEastLost).empty());
}

// A reassignment's target set may be the configuration in force: both must have lost a
// majority.
TEST(PartitionLostForGood, ASpreadPartitionMidReassignmentNeedsBothSetsLost) {
  TopicRecord topic = Topic(Consistency::Spread, {Partition(0, {4, 1, 6})});
  topic.partitions[0].target_replicas = {4, 1, 7};
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kEuWestLost), PartitionLoss::kNone);
  topic.partitions[0].target_replicas = {4, 5, 1};
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kEuWestLost),
            PartitionLoss::kSpreadQuorumLost);
}

// A strong topic promises to survive a region loss: its placement never puts two voters of
// three in one region. When they are (the planted strong-voters-share-a-region), the run must
// fail, so the same loss is not excused for a strong topic.
TEST(PartitionLostForGood, AStrongPartitionIsNeverExcusedForALostQuorum) {
  const TopicRecord topic = Topic(Consistency::Strong, {Partition(0, {4, 1, 6})});
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kEuWestLost), PartitionLoss::kNone);
  EXPECT_TRUE(PartitionsLostForGood(topic, kEuWestLost).empty());
  // With no member left at all, even a strong partition is excused: no server, no write.
  const TopicRecord gone = Topic(Consistency::Strong, {Partition(0, {4, 5, 6})});
  EXPECT_EQ(PartitionLostForGood(gone, gone.partitions[0], kEuWestLost),
            PartitionLoss::kNoMemberLeft);
}

// meridian-sim --seed=91 --change_consistency=regional: a strong partition {7, 4, 1} moving to
// us-east had taken voters 2 and 3 (the configuration in force: 7, 4, 1, 2, 3) when us-east was
// lost for good. The metadata's voters (7, 4, 1) still hold a majority; the raft configuration
// does not, and no promotion can help (voters 7 and 4 live). Excused on the configuration in
// force only, never on the metadata, and not when a promotion can restore a quorum.
TEST(PartitionLostForGood, APartitionMovingForAModeChangeJudgedOnItsConfigurationInForce) {
  TopicRecord topic = Topic(Consistency::Strong, {Partition(0, {7, 4, 1})});
  topic.changing_to = core::cluster::ModeTarget{Consistency::Regional, "us-east", 1};
  topic.partitions[0].target_replicas = {1, 2, 3};
  topic.partitions[0].target_observers = {7, 4};
  const std::vector<uint32_t> in_force = {7, 4, 1, 2, 3};
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kUsEastLost, &in_force),
            PartitionLoss::kModeChangeQuorumLost);
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kUsEastLost), PartitionLoss::kNone)
      << "without the configuration in force, no excuse";
  const std::vector<uint32_t> early = {7, 4, 1};
  EXPECT_EQ(PartitionLostForGood(topic, topic.partitions[0], kUsEastLost, &early),
            PartitionLoss::kNone)
      << "before any home voter joined, the partition keeps its quorum";
  // A regional topic (since creation) moving to strong, every voter lost with us-east and an
  // observer left: a promotion must restore a quorum, no excuse.
  TopicRecord leaving = Topic(Consistency::Regional, {Partition(0, {1, 2, 3}, {7, 4})});
  leaving.home_region = "us-east";
  leaving.changing_to = core::cluster::ModeTarget{Consistency::Strong, "", 0};
  const std::vector<uint32_t> home = {1, 2, 3};
  EXPECT_EQ(PartitionLostForGood(leaving, leaving.partitions[0], kUsEastLost, &home),
            PartitionLoss::kNone);
  // Moved into us-east by a change to regional: its voters may predate the change, so the
  // promotion waits for them to renew, and the loss is excused.
  TopicRecord moved = Topic(Consistency::Strong, {Partition(0, {1, 2, 3}, {7, 4})});
  moved.changing_to = topic.changing_to;
  moved.regional_by_change = true;
  EXPECT_EQ(PartitionLostForGood(moved, moved.partitions[0], kUsEastLost, &home),
            PartitionLoss::kModeChangeQuorumLost);
  // Seed 78 of geo-3x3 --change_consistency=regional --kinds=partition,region_loss: the change
  // done, us-east (every voter) lost for good, and the only survivors the two observers still
  // joining (their configurations, from before they were removed and added back, are not in
  // force): judged on the metadata's voters.
  moved.changing_to.reset();
  EXPECT_EQ(PartitionLostForGood(moved, moved.partitions[0], kUsEastLost),
            PartitionLoss::kModeChangeQuorumLost);
  // No change in progress: the configuration in force excuses nothing.
  TopicRecord settled = Topic(Consistency::Strong, {Partition(0, {7, 4, 1})});
  EXPECT_EQ(PartitionLostForGood(settled, settled.partitions[0], kUsEastLost, &in_force),
            PartitionLoss::kNone);
}

TEST(PartitionLostForGood, NamesEveryLoss) {
  EXPECT_STREQ(PartitionLossName(PartitionLoss::kNone), "none");
  EXPECT_STREQ(PartitionLossName(PartitionLoss::kNoMemberLeft), "no_member_left");
  EXPECT_STREQ(PartitionLossName(PartitionLoss::kSpreadQuorumLost), "spread_quorum_lost");
  EXPECT_STREQ(PartitionLossName(PartitionLoss::kModeChangeQuorumLost), "mode_change_quorum_lost");
}

}  // namespace
}  // namespace meridian::sim
