#include "core/cluster/metadata.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "absl/container/btree_set.h"

namespace meridian::core::cluster {
namespace {

std::vector<uint8_t> Register(uint32_t id, std::string region, std::string zone) {
  wire::MetadataCommandT command;
  wire::NodeRegisterT registration;
  registration.node = std::make_unique<wire::NodeInfoT>();
  registration.node->id = id;
  registration.node->region = std::move(region);
  registration.node->zone = std::move(zone);
  registration.node->host = "127.0.0.1";
  registration.node->port = static_cast<uint16_t>(9000 + id);
  command.body.Set(std::move(registration));
  return EncodeCommand(command);
}

std::vector<uint8_t> Create(const std::string& name, std::vector<std::vector<uint32_t>> placement,
                            uint32_t replication_factor) {
  wire::MetadataCommandT command;
  wire::TopicCreateT create;
  create.name = name;
  create.replication_factor = replication_factor;
  for (auto& replicas : placement) {
    auto assignment = std::make_unique<wire::PartitionAssignmentT>();
    assignment->replicas = replicas;
    create.partitions.push_back(std::move(assignment));
  }
  command.body.Set(std::move(create));
  return EncodeCommand(command);
}

TEST(ClusterMetadata, PlacementSpreadsReplicasOverRegionsAndBalancesLeaders) {
  ClusterMetadata metadata;
  const std::vector<std::string> regions = {"eu", "us", "ap"};
  for (uint32_t id = 1; id <= 9; id++) {
    ASSERT_TRUE(metadata.Apply(Register(id, regions[(id - 1) / 3], fmt::format("z{}", id % 3)))
                    .status.ok());
  }
  auto placement = metadata.Place({.partitions = 9, .replication_factor = 3});
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->consistency, wire::Consistency::Strong) << "three regions allow it";
  absl::btree_map<uint32_t, int> leaders;
  for (const PartitionPlacement& partition : placement->partitions) {
    absl::btree_set<std::string> seen_regions;
    for (uint32_t node : partition.voters) seen_regions.insert(metadata.nodes().at(node).region);
    EXPECT_EQ(seen_regions.size(), 3u) << "a partition's replicas share a region";
    EXPECT_TRUE(partition.observers.empty());
    leaders[partition.voters.front()]++;
  }
  EXPECT_EQ(leaders.size(), 9u) << "each node should lead one of nine partitions";
}

TEST(ClusterMetadata, TooFewNodesForTheReplicationFactorIsAClearError) {
  ClusterMetadata metadata;
  metadata.Apply(Register(1, "r", "z"));
  auto placement = metadata.Place({.partitions = 1, .replication_factor = 3});
  ASSERT_FALSE(placement.ok());
  EXPECT_NE(placement.status().message().find("needs 3 nodes"), std::string::npos);
}

TEST(ClusterMetadata, TopicsGetConsecutiveGroupsAndDuplicatesAreRefused) {
  ClusterMetadata metadata;
  ASSERT_TRUE(metadata.Apply(Create("a", {{1}, {1}}, 1)).status.ok());
  ASSERT_TRUE(metadata.Apply(Create("b", {{1}}, 1)).status.ok());
  EXPECT_EQ(metadata.FindTopic("a")->partitions[1].group, kFirstPartitionGroup + 1);
  EXPECT_EQ(metadata.FindTopic("b")->partitions[0].group, kFirstPartitionGroup + 2);
  EXPECT_TRUE(absl::IsAlreadyExists(metadata.Apply(Create("a", {{1}}, 1)).status));
  // A replica list with a repeated node is refused at apply time, changing nothing.
  EXPECT_FALSE(metadata.Apply(Create("c", {{1, 1}}, 2)).status.ok());
  EXPECT_EQ(metadata.FindTopic("c"), nullptr);
}

std::vector<uint8_t> AddPartitions(const std::string& name,
                                   std::vector<std::vector<uint32_t>> placement) {
  wire::MetadataCommandT command;
  wire::TopicAddPartitionsT add;
  add.name = name;
  for (auto& replicas : placement) {
    auto assignment = std::make_unique<wire::PartitionAssignmentT>();
    assignment->replicas = replicas;
    add.partitions.push_back(std::move(assignment));
  }
  command.body.Set(std::move(add));
  return EncodeCommand(command);
}

TEST(ClusterMetadata, AddedPartitionsContinueTheNumberingAndTakeNewGroups) {
  ClusterMetadata metadata;
  ASSERT_TRUE(metadata.Apply(Create("a", {{1, 2}}, 2)).status.ok());
  ASSERT_TRUE(metadata.Apply(Create("b", {{1, 2}}, 2)).status.ok());
  ASSERT_TRUE(metadata.Apply(AddPartitions("a", {{2, 3}, {3, 1}})).status.ok());
  const TopicRecord& a = *metadata.FindTopic("a");
  ASSERT_EQ(a.partitions.size(), 3u);
  EXPECT_EQ(a.partitions[0].group, kFirstPartitionGroup);
  EXPECT_EQ(a.partitions[1].partition, 1u);
  EXPECT_EQ(a.partitions[1].group, kFirstPartitionGroup + 2) << "after b's group: never reused";
  EXPECT_EQ(a.partitions[2].replicas, (std::vector<uint32_t>{3, 1}));
  // Refused, changing nothing: an unknown topic, a wrong replica count, a repeated node, none.
  EXPECT_TRUE(absl::IsNotFound(metadata.Apply(AddPartitions("zzz", {{1, 2}})).status));
  EXPECT_FALSE(metadata.Apply(AddPartitions("a", {{1}})).status.ok());
  EXPECT_FALSE(metadata.Apply(AddPartitions("a", {{1, 1}})).status.ok());
  EXPECT_FALSE(metadata.Apply(AddPartitions("a", {})).status.ok());
  EXPECT_EQ(metadata.FindTopic("a")->partitions.size(), 3u);
  EXPECT_EQ(metadata.next_group(), kFirstPartitionGroup + 4);
  // And the snapshot carries it.
  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(metadata.EncodeSnapshot()).ok());
  EXPECT_EQ(restored.FindTopic("a")->partitions.size(), 3u);
  EXPECT_EQ(restored.next_group(), metadata.next_group());
  EXPECT_EQ(restored.EncodeSnapshot(), metadata.EncodeSnapshot());
}

// The per-topic limits are inclusive: a topic may have exactly kPartitionsPerTopicMax partitions
// and kReplicationFactorMax replicas, whether created so or grown to it, and not one more.
TEST(ClusterMetadata, TopicLimitsAreInclusive) {
  EXPECT_TRUE(ValidateTopicSettings(kPartitionsPerTopicMax, kReplicationFactorMax, 0, 0).ok());
  EXPECT_FALSE(ValidateTopicSettings(kPartitionsPerTopicMax + 1, 1, 0, 0).ok());
  EXPECT_FALSE(ValidateTopicSettings(0, 1, 0, 0).ok());
  EXPECT_FALSE(ValidateTopicSettings(1, kReplicationFactorMax + 1, 0, 0).ok());
  EXPECT_FALSE(ValidateTopicSettings(1, 0, 0, 0).ok());
  ClusterMetadata metadata;
  ASSERT_TRUE(metadata.Apply(Create("a", {{1}}, 1)).status.ok());
  std::vector<std::vector<uint32_t>> rest(kPartitionsPerTopicMax - 2, std::vector<uint32_t>{1});
  ASSERT_TRUE(metadata.Apply(AddPartitions("a", rest)).status.ok());
  ASSERT_TRUE(metadata.Apply(AddPartitions("a", {{1}})).status.ok()) << "to exactly the limit";
  EXPECT_EQ(metadata.FindTopic("a")->partitions.size(), kPartitionsPerTopicMax);
  EXPECT_FALSE(metadata.Apply(AddPartitions("a", {{1}})).status.ok()) << "one past it";
  std::vector<std::vector<uint32_t>> all(kPartitionsPerTopicMax, std::vector<uint32_t>{1});
  EXPECT_TRUE(metadata.Apply(Create("b", all, 1)).status.ok());
  all.push_back({1});
  EXPECT_FALSE(metadata.Apply(Create("c", all, 1)).status.ok());
}

std::vector<uint8_t> ConfigSet(const std::string& name, int64_t retention_bytes,
                               int64_t retention_ms) {
  wire::MetadataCommandT command;
  wire::TopicConfigSetT set;
  set.name = name;
  set.retention_bytes = retention_bytes;
  set.retention_ms = retention_ms;
  command.body.Set(std::move(set));
  return EncodeCommand(command);
}

TEST(ClusterMetadata, TopicConfigSetChangesOnlyWhatItNames) {
  ClusterMetadata metadata;
  ASSERT_TRUE(metadata.Apply(Create("a", {{1}}, 1)).status.ok());
  ASSERT_TRUE(metadata.Apply(ConfigSet("a", 1000, -1)).status.ok());
  EXPECT_EQ(metadata.FindTopic("a")->retention_bytes, 1000);
  EXPECT_EQ(metadata.FindTopic("a")->retention_ms, 0) << "-1 leaves it unlimited";
  ASSERT_TRUE(metadata.Apply(ConfigSet("a", -1, 60000)).status.ok());
  EXPECT_EQ(metadata.FindTopic("a")->retention_bytes, 1000) << "-1 leaves it as it was";
  EXPECT_EQ(metadata.FindTopic("a")->retention_ms, 60000);
  // Refused, changing nothing: an unknown topic, a value below -1 (even beside a valid one).
  EXPECT_TRUE(absl::IsNotFound(metadata.Apply(ConfigSet("zzz", 1, 1)).status));
  EXPECT_FALSE(metadata.Apply(ConfigSet("a", 5, -2)).status.ok());
  EXPECT_EQ(metadata.FindTopic("a")->retention_bytes, 1000);
  ASSERT_TRUE(metadata.Apply(ConfigSet("a", 0, -1)).status.ok());
  EXPECT_EQ(metadata.FindTopic("a")->retention_bytes, 0) << "0: unlimited again";
  // The snapshot carries the changed settings.
  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(metadata.EncodeSnapshot()).ok());
  EXPECT_EQ(restored.FindTopic("a")->retention_ms, 60000);
}

TEST(ClusterMetadata, SnapshotsRoundTripAndGarbageIsRefused) {
  ClusterMetadata metadata;
  for (uint32_t id = 1; id <= 3; id++)
    ASSERT_TRUE(metadata.Apply(Register(id, "r", "z")).status.ok());
  ASSERT_TRUE(metadata.Apply(Create("a", {{1, 2, 3}}, 3)).status.ok());
  const std::string snapshot = metadata.EncodeSnapshot();
  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(snapshot).ok());
  EXPECT_EQ(restored.nodes().size(), 3u);
  EXPECT_EQ(restored.version(), metadata.version());
  EXPECT_FALSE(restored.RestoreSnapshot("not a snapshot").ok());
  EXPECT_EQ(restored.nodes().size(), 3u) << "a refused snapshot changes nothing";
  for (size_t size = 0; size < snapshot.size(); size += 7) {
    ClusterMetadata fresh;
    (void)fresh.RestoreSnapshot(snapshot.substr(0, size));  // Must not crash.
  }
}

TEST(ClusterMetadata, ProducerIdsAreUniqueAndEpochsBump) {
  ClusterMetadata metadata;
  wire::MetadataCommandT command;
  command.body.Set(wire::ProducerIdAllocateT{});
  const MetadataOutcome first = metadata.Apply(EncodeCommand(command));
  const MetadataOutcome second = metadata.Apply(EncodeCommand(command));
  EXPECT_NE(first.producer_id, second.producer_id);
  wire::ProducerIdAllocateT bump;
  bump.producer_id = first.producer_id;
  command.body.Set(bump);
  const MetadataOutcome bumped = metadata.Apply(EncodeCommand(command));
  EXPECT_EQ(bumped.producer_id, first.producer_id);
  EXPECT_EQ(bumped.producer_epoch, 1u);
}

TEST(ClusterMetadata, GarbageCommandsAreRefusedNotFatal) {
  ClusterMetadata metadata;
  const std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_FALSE(metadata.Apply(garbage).status.ok());
  EXPECT_TRUE(metadata.topics().empty());
}

TEST(ClusterMetadata, TopicNamesAreValidated) {
  EXPECT_TRUE(ValidateTopicName("orders.v2_eu-1").ok());
  EXPECT_FALSE(ValidateTopicName("").ok());
  EXPECT_FALSE(ValidateTopicName("..").ok());
  EXPECT_FALSE(ValidateTopicName("a/b").ok());
  EXPECT_FALSE(ValidateTopicName(std::string(300, 'a')).ok());
}

}  // namespace
}  // namespace meridian::core::cluster
