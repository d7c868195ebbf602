// Promotion: planning picks the most caught-up observer; apply bumps the epoch, moves the
// partition to a new raft group and refuses stale, malformed or non-regional promotions;
// snapshots keep the epoch.
#include "core/cluster/promotion.h"

#include <gtest/gtest.h>

namespace meridian::core::cluster {
namespace {

std::vector<uint8_t> Encode(wire::MetadataCommandBodyUnion body) {
  wire::MetadataCommandT command;
  command.body = std::move(body);
  return EncodeCommand(command);
}

// Nodes 1-3 in "home", 4 in "b", 5 in "c"; topic "t": voters 1,2,3, observers 4,5.
ClusterMetadata RegionalCluster(wire::Consistency consistency = wire::Consistency::Regional) {
  ClusterMetadata metadata;
  const char* regions[] = {"home", "home", "home", "b", "c"};
  for (uint32_t id = 1; id <= 5; id++) {
    wire::NodeRegisterT node;
    node.node = std::make_unique<wire::NodeInfoT>();
    node.node->id = id;
    node.node->region = regions[id - 1];
    wire::MetadataCommandBodyUnion body;
    body.Set(std::move(node));
    EXPECT_TRUE(metadata.Apply(Encode(std::move(body))).status.ok());
  }
  wire::TopicCreateT create;
  create.name = "t";
  create.replication_factor = 3;
  create.consistency = consistency;
  if (consistency == wire::Consistency::Regional) {
    create.home_region = "home";
    create.observers_per_region = 1;
  }
  auto assignment = std::make_unique<wire::PartitionAssignmentT>();
  assignment->replicas = {1, 2, 3};
  if (consistency == wire::Consistency::Regional) assignment->observers = {4, 5};
  create.partitions.push_back(std::move(assignment));
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(create));
  EXPECT_TRUE(metadata.Apply(Encode(std::move(body))).status.ok());
  return metadata;
}

absl::Status ApplyPromote(ClusterMetadata& metadata, wire::PartitionPromoteT promote) {
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(promote));
  return metadata.Apply(Encode(std::move(body))).status;
}

TEST(Promotion, PlansTheMostCaughtUpObserverAndKeepsEveryoneElseAsObservers) {
  ClusterMetadata metadata = RegionalCluster();
  const std::vector<ObserverProgress> progress = {
      {4, 10, 7}, {5, 12, 9}, {1, 99, 99} /* a voter: ignored */};
  absl::StatusOr<wire::PartitionPromoteT> plan = PlanPromotion(metadata, "t", 0, progress);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->source, 5u);
  EXPECT_EQ(plan->replicas, std::vector<uint32_t>{5});
  EXPECT_EQ(plan->observers, (std::vector<uint32_t>{4, 1, 2, 3}));
  EXPECT_EQ(plan->epoch, 1u);
  EXPECT_EQ(plan->promoted_index, 12u);
  EXPECT_EQ(plan->promoted_offset, 9);
  EXPECT_FALSE(PlanPromotion(metadata, "t", 0, {}).ok());  // Nobody answered.
  EXPECT_FALSE(PlanPromotion(metadata, "t", 1, progress).ok());
  ClusterMetadata strong = RegionalCluster(wire::Consistency::Strong);
  EXPECT_EQ(PlanPromotion(strong, "t", 0, progress).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Promotion, ApplyMovesThePartitionToANewGroupAtTheNextEpoch) {
  ClusterMetadata metadata = RegionalCluster();
  const uint64_t old_group = metadata.FindTopic("t")->partitions[0].group;
  const std::vector<ObserverProgress> progress = {{4, 10, 7}};
  absl::StatusOr<wire::PartitionPromoteT> plan = PlanPromotion(metadata, "t", 0, progress);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(ApplyPromote(metadata, *plan).ok());
  const PartitionRecord& promoted = metadata.FindTopic("t")->partitions[0];
  EXPECT_EQ(promoted.epoch, 1u);
  EXPECT_EQ(promoted.previous_group, old_group);
  EXPECT_GT(promoted.group, old_group);
  EXPECT_EQ(promoted.replicas, std::vector<uint32_t>{4});
  EXPECT_EQ(promoted.promoted_offset, 7);
  // The same plan again is stale: the first promotion of an epoch wins.
  EXPECT_EQ(ApplyPromote(metadata, *plan).code(), absl::StatusCode::kFailedPrecondition);
  // And a snapshot keeps all of it.
  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(metadata.EncodeSnapshot()).ok());
  const PartitionRecord& again = restored.FindTopic("t")->partitions[0];
  EXPECT_EQ(again.epoch, 1u);
  EXPECT_EQ(again.previous_group, old_group);
  EXPECT_EQ(again.group, promoted.group);
  EXPECT_EQ(again.source, 4u);
  EXPECT_EQ(again.promoted_index, 10u);
  EXPECT_EQ(restored.next_group(), metadata.next_group());
}

// Promotions come from the controller leader, but apply trusts nothing: every malformed one is
// refused with a status, never an assertion.
TEST(Promotion, MalformedPromotionsAreRefused) {
  ClusterMetadata metadata = RegionalCluster();
  wire::PartitionPromoteT good = *PlanPromotion(metadata, "t", 0, {{{4, 10, 7}}});
  auto bad = [&](auto mutate) {
    wire::PartitionPromoteT promote = good;
    mutate(promote);
    return ApplyPromote(metadata, promote);
  };
  EXPECT_FALSE(bad([](auto& p) { p.source = 1; }).ok());               // An old voter.
  EXPECT_FALSE(bad([](auto& p) { p.replicas = {}; }).ok());            // No voter.
  EXPECT_FALSE(bad([](auto& p) { p.replicas = {4, 4}; }).ok());        // Twice.
  EXPECT_FALSE(bad([](auto& p) { p.replicas = {4, 5, 1, 2}; }).ok());  // Over RF.
  EXPECT_FALSE(bad([](auto& p) { p.observers = {4}; }).ok());          // Voter and observer.
  EXPECT_FALSE(bad([](auto& p) { p.promoted_offset = -1; }).ok());
  EXPECT_FALSE(bad([](auto& p) { p.epoch = 7; }).ok());
  EXPECT_FALSE(bad([](auto& p) { p.partition = 9; }).ok());
  EXPECT_FALSE(bad([](auto& p) { p.topic = "nope"; }).ok());
  EXPECT_EQ(metadata.FindTopic("t")->partitions[0].epoch, 0u);
  EXPECT_TRUE(ApplyPromote(metadata, good).ok());
}

}  // namespace
}  // namespace meridian::core::cluster
