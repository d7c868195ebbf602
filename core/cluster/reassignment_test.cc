// Reassignment: a target is checked against the topic's mode (strong: per-region cap;
// regional: one region, the promoted source's after a promotion), recorded without moving
// anything, refused while another is in progress, completed only as recorded, dropped by a
// promotion, kept by snapshots; PlanRegrowth brings a promoted partition back to its
// replication factor in the promoted region.
#include "core/cluster/reassignment.h"

#include <gtest/gtest.h>

#include "core/cluster/promotion.h"

namespace meridian::core::cluster {
namespace {

absl::Status ApplyBody(ClusterMetadata& metadata, wire::MetadataCommandBodyUnion body) {
  wire::MetadataCommandT command;
  command.body = std::move(body);
  return metadata.Apply(EncodeCommand(command)).status;
}

// Nodes 1-3 in "home" (zones a, b, c), 4-6 in "b" (zones a, b, c), 7 in "c".
ClusterMetadata Cluster(wire::Consistency consistency) {
  ClusterMetadata metadata;
  const char* regions[] = {"home", "home", "home", "b", "b", "b", "c"};
  const char* zones[] = {"a", "b", "c", "a", "b", "c", "a"};
  for (uint32_t id = 1; id <= 7; id++) {
    wire::NodeRegisterT node;
    node.node = std::make_unique<wire::NodeInfoT>();
    node.node->id = id;
    node.node->region = regions[id - 1];
    node.node->zone = zones[id - 1];
    wire::MetadataCommandBodyUnion body;
    body.Set(std::move(node));
    EXPECT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  }
  wire::TopicCreateT create;
  create.name = "t";
  create.replication_factor = 3;
  create.consistency = consistency;
  auto assignment = std::make_unique<wire::PartitionAssignmentT>();
  if (consistency == wire::Consistency::Regional) {
    create.home_region = "home";
    create.observers_per_region = 1;
    assignment->replicas = {1, 2, 3};
    assignment->observers = {4, 7};
  } else {
    assignment->replicas = {1, 4, 7};
  }
  create.partitions.push_back(std::move(assignment));
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(create));
  EXPECT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  return metadata;
}

absl::Status Reassign(ClusterMetadata& metadata, std::vector<uint32_t> voters,
                      std::vector<uint32_t> observers, bool complete = false) {
  wire::PartitionReassignT reassign;
  reassign.topic = "t";
  reassign.partition = 0;
  reassign.group = metadata.FindTopic("t")->partitions[0].group;
  reassign.replicas = std::move(voters);
  reassign.observers = std::move(observers);
  reassign.complete = complete;
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(reassign));
  return ApplyBody(metadata, std::move(body));
}

const PartitionRecord& Partition(const ClusterMetadata& metadata) {
  return metadata.FindTopic("t")->partitions[0];
}

TEST(Reassignment, StrongTargetsKeepOneVoterPerRegionAndRegisteredNodes) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  EXPECT_EQ(Reassign(metadata, {1, 2, 7}, {}).code(), absl::StatusCode::kFailedPrecondition)
      << "two voters in 'home' lose the quorum with that region";
  EXPECT_EQ(Reassign(metadata, {1, 4, 9}, {}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reassign(metadata, {1, 4}, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Reassign(metadata, {1, 4, 7}, {5}).code(), absl::StatusCode::kInvalidArgument)
      << "observers are for regional topics";
  EXPECT_FALSE(Partition(metadata).reassigning());
  ASSERT_TRUE(Reassign(metadata, {1, 5, 7}, {}).ok());
  EXPECT_EQ(Partition(metadata).replicas, (std::vector<uint32_t>{1, 4, 7})) << "not moved yet";
  EXPECT_EQ(Partition(metadata).target_replicas, (std::vector<uint32_t>{1, 5, 7}));
  EXPECT_EQ(Reassign(metadata, {1, 6, 7}, {}).code(), absl::StatusCode::kFailedPrecondition)
      << "one reassignment at a time";
  EXPECT_EQ(Reassign(metadata, {1, 6, 7}, {}, true).code(), absl::StatusCode::kFailedPrecondition)
      << "a completion names the target in progress";
  ASSERT_TRUE(Reassign(metadata, {1, 5, 7}, {}, true).ok());
  EXPECT_EQ(Partition(metadata).replicas, (std::vector<uint32_t>{1, 5, 7}));
  EXPECT_FALSE(Partition(metadata).reassigning());
  EXPECT_EQ(Reassign(metadata, {1, 5, 7}, {}, true).code(), absl::StatusCode::kFailedPrecondition)
      << "nothing left to complete";
}

TEST(Reassignment, RegionalVotersStayInTheHomeRegionAndTheCurrentSetIsANoOp) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Regional);
  absl::Status refused = Reassign(metadata, {1, 2, 4}, {3, 7});
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("region 'home'"), std::string::npos) << refused;
  ASSERT_TRUE(Reassign(metadata, {1, 2, 3}, {4, 7}).ok());
  EXPECT_FALSE(Partition(metadata).reassigning()) << "the current set: nothing to do";
  ASSERT_TRUE(Reassign(metadata, {2, 3, 1}, {5, 7}).ok());
  EXPECT_TRUE(Partition(metadata).reassigning());
}

TEST(Reassignment, StaleGroupAndMalformedCommandsAreRefused) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  wire::PartitionReassignT reassign;
  reassign.topic = "t";
  reassign.group = Partition(metadata).group + 1;
  reassign.replicas = {1, 5, 7};
  wire::MetadataCommandBodyUnion body;
  body.Set(reassign);
  EXPECT_EQ(ApplyBody(metadata, std::move(body)).code(), absl::StatusCode::kFailedPrecondition);
  reassign.topic = "missing";
  body.Set(reassign);
  EXPECT_EQ(ApplyBody(metadata, std::move(body)).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(Partition(metadata).reassigning());
}

// The promoted partition of Cluster(Regional): voter 4 (region "b", zone a), observers 7, 1-3.
ClusterMetadata Promoted() {
  ClusterMetadata metadata = Cluster(wire::Consistency::Regional);
  const std::vector<ObserverProgress> progress = {{4, 10, 7}};
  absl::StatusOr<wire::PartitionPromoteT> plan = PlanPromotion(metadata, "t", 0, progress);
  EXPECT_TRUE(plan.ok());
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(*plan));
  EXPECT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  return metadata;
}

TEST(Reassignment, RegrowthAfterAPromotionAddsVotersInThePromotedRegion) {
  ClusterMetadata metadata = Promoted();
  EXPECT_EQ(VoterRegion(metadata, *metadata.FindTopic("t"), Partition(metadata)), "b");
  std::optional<wire::PartitionReassignT> plan = PlanRegrowth(metadata, "t", 0);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->replicas, (std::vector<uint32_t>{4, 5, 6})) << "zones b and c of region b";
  EXPECT_EQ(plan->observers, Partition(metadata).observers);
  wire::MetadataCommandBodyUnion body;
  body.Set(*plan);
  ASSERT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  EXPECT_FALSE(PlanRegrowth(metadata, "t", 0).has_value()) << "already in progress";
  ASSERT_TRUE(Reassign(metadata, {4, 5, 6}, plan->observers, true).ok());
  EXPECT_FALSE(PlanRegrowth(metadata, "t", 0).has_value()) << "back at its replication factor";
  EXPECT_FALSE(PlanRegrowth(Cluster(wire::Consistency::Regional), "t", 0).has_value());
}

TEST(Reassignment, APromotionDropsTheTargetAndSnapshotsKeepIt) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Regional);
  ASSERT_TRUE(Reassign(metadata, {2, 3, 1}, {5, 7}).ok());
  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(metadata.EncodeSnapshot()).ok());
  EXPECT_EQ(Partition(restored).target_replicas, (std::vector<uint32_t>{2, 3, 1}));
  EXPECT_EQ(Partition(restored).target_observers, (std::vector<uint32_t>{5, 7}));
  const std::vector<ObserverProgress> progress = {{4, 10, 7}};
  absl::StatusOr<wire::PartitionPromoteT> plan = PlanPromotion(metadata, "t", 0, progress);
  ASSERT_TRUE(plan.ok());
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(*plan));
  ASSERT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  EXPECT_FALSE(Partition(metadata).reassigning()) << "the new group starts with no target";
}

}  // namespace
}  // namespace meridian::core::cluster
