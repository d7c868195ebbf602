// Each node's Kafka address travels with its registration (core/wire NodeInfo.kafka_address, the
// field appended for the Kafka listener): applied, kept across a metadata snapshot, reported by
// ToNodeInfo (what Metadata responses list), and absent (empty) for a node registered without it.
#include <gtest/gtest.h>

#include "core/cluster/metadata.h"

namespace meridian::core::cluster {
namespace {

std::vector<uint8_t> Register(uint32_t id, std::string kafka_address) {
  wire::MetadataCommandT command;
  wire::NodeRegisterT registration;
  registration.node = std::make_unique<wire::NodeInfoT>();
  registration.node->id = id;
  registration.node->region = "r" + std::to_string(id);
  registration.node->zone = "z";
  registration.node->host = "127.0.0.1";
  registration.node->port = static_cast<uint16_t>(9100 + id);
  registration.node->kafka_address = std::move(kafka_address);
  command.body.Set(std::move(registration));
  return EncodeCommand(command);
}

TEST(NodeKafkaAddress, SurvivesApplySnapshotAndToNodeInfo) {
  ClusterMetadata metadata;
  ASSERT_TRUE(metadata.Apply(Register(1, "127.0.0.1:9191")).status.ok());
  ASSERT_TRUE(metadata.Apply(Register(2, "")).status.ok());
  EXPECT_EQ(metadata.nodes().at(1).kafka_address, "127.0.0.1:9191");
  EXPECT_EQ(metadata.nodes().at(2).kafka_address, "");
  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(metadata.EncodeSnapshot()).ok());
  EXPECT_EQ(restored.nodes().at(1), metadata.nodes().at(1));
  EXPECT_EQ(ToNodeInfo(restored.nodes().at(1))->kafka_address, "127.0.0.1:9191");
  EXPECT_EQ(ToNodeInfo(restored.nodes().at(2))->kafka_address, "");
  // A re-registration that adds the address changes the record (the node re-registers).
  ASSERT_TRUE(metadata.Apply(Register(2, "127.0.0.1:9192")).status.ok());
  EXPECT_EQ(metadata.nodes().at(2).kafka_address, "127.0.0.1:9192");
}

}  // namespace
}  // namespace meridian::core::cluster
