// Kafka's AlterConfigs and IncrementalAlterConfigs through the Kafka session on the simulator
// (three brokers, raw Kafka requests): a topic's retention changed through the controller
// leader (forwarded from any node; every node's metadata follows; DescribeConfigs reads it back
// as alterable), AlterConfigs resetting what it does not name, IncrementalAlterConfigs changing
// only what it names, validate_only changing nothing, every refusal with Kafka's code (unknown
// and read-only configs, bad values, a broker resource, the internal topic, an unknown topic, a
// name given twice, an ACL denial) and the per-request bound. Names are answered, never echoed
// into a message.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/broker/acl.h"
#include "core/kafka/bytes.h"
#include "core/kafka/messages.h"
#include "core/wire/client_codec.h"
#include "io/probe.h"
#include "tests/kafka/kafka_sim_calls.h"
#include "tests/kafka/kafka_sim_cluster.h"

namespace meridian {
namespace {

using core::kafka::AlterConfigsResource;
using core::kafka::AlterConfigsResult;
using core::kafka::ApiKey;
using core::kafka::kResourceBroker;
using core::kafka::kResourceTopic;
using core::kafka::Reader;
using core::kafka::Writer;
namespace error = core::kafka::error;

AlterConfigsResource Topic(
    std::string name,
    std::vector<std::tuple<std::string, int8_t, std::optional<std::string>>> configs) {
  AlterConfigsResource resource{.type = kResourceTopic, .name = std::move(name)};
  for (auto& [config, operation, value] : configs) {
    resource.configs.push_back(
        {.name = std::move(config), .operation = operation, .value = std::move(value)});
  }
  return resource;
}

constexpr int8_t kSet = core::kafka::kConfigOpSet;
constexpr int8_t kDelete = core::kafka::kConfigOpDelete;
constexpr int8_t kAppend = core::kafka::kConfigOpAppend;

// AlterConfigs v1 (or IncrementalAlterConfigs v0 with `incremental`) at `node`: each resource's
// answer, empty when the node did not answer.
std::vector<AlterConfigsResult> Alter(io::Runtime& rt, uint32_t node,
                                      const std::vector<AlterConfigsResource>& resources,
                                      bool incremental = false, bool validate_only = false) {
  Writer body;
  body.ArrayCount(resources.size());
  for (const AlterConfigsResource& resource : resources) {
    body.Int8(resource.type);
    body.String(resource.name);
    body.ArrayCount(resource.configs.size());
    for (const core::kafka::AlterableConfig& config : resource.configs) {
      body.String(config.name);
      if (incremental) body.Int8(config.operation);
      body.NullableString(config.value);
    }
  }
  body.Bool(validate_only);
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, incremental ? ApiKey::kIncrementalAlterConfigs : ApiKey::kAlterConfigs,
                incremental ? 0 : 1, body.Take());
  if (response.empty()) return {};
  Reader reader(response);
  (void)reader.Int32();  // throttle_time_ms.
  std::vector<AlterConfigsResult> results(reader.ArrayCount(1000));
  for (AlterConfigsResult& result : results) {
    result.error_code = reader.Int16();
    result.error_message = reader.NullableString();
    result.type = reader.Int8();
    result.name = reader.String();
  }
  EXPECT_TRUE(reader.ok() && reader.remaining() == 0) << reader.status();
  return results;
}

int16_t AlterOne(io::Runtime& rt, uint32_t node, const AlterConfigsResource& resource,
                 bool incremental = false, bool validate_only = false) {
  const std::vector<AlterConfigsResult> results =
      Alter(rt, node, {resource}, incremental, validate_only);
  if (results.size() != 1) return -100;
  EXPECT_LT(results[0].error_message.value_or("").size(), 200u) << "a name echoed";
  return results[0].error_code;
}

// (retention.bytes, retention.ms) of a topic.
using Retention = std::pair<int64_t, int64_t>;

// `topic`'s retention in node `node`'s copy of the metadata, once it is `want` (or after 5 s).
Retention RetentionAt(KafkaCluster& cluster, io::Runtime& rt, uint32_t node,
                      const std::string& topic, Retention want) {
  Retention seen{-1, -1};
  for (int i = 0; i < 50; i++) {
    const core::cluster::TopicRecord* record = cluster.broker(node)->metadata().FindTopic(topic);
    if (record != nullptr) seen = {record->retention_bytes, record->retention_ms};
    if (seen == want) break;
    (void)rt.Sleep(milliseconds(100));
  }
  return seen;
}

TEST(KafkaConfigSim, AlterConfigsChangesATopicsRetentionThroughTheController) {
  KafkaCluster cluster(51);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 2), 0);
    const auto hour = Topic("orders", {{"retention.ms", kSet, "3600000"}});
    EXPECT_EQ(Retrying(rt, [&](int i) { return AlterOne(rt, 1 + i % 3, hour, false, true); }), 0)
        << "validate_only";
    (void)rt.Sleep(seconds(1));
    EXPECT_EQ(RetentionAt(cluster, rt, 2, "orders", {0, 0}), Retention(0, 0));
    // Any node takes it (non-controllers forward to the controller leader); every node's
    // metadata follows.
    EXPECT_EQ(Retrying(rt, [&](int i) { return AlterOne(rt, 1 + i % 3, hour); }), 0);
    for (uint32_t node = 1; node <= 3; node++) {
      EXPECT_EQ(RetentionAt(cluster, rt, node, "orders", {0, 3600000}), Retention(0, 3600000));
    }
    std::map<std::string, bool> read_only;
    const auto [code, configs] = DescribeConfigs(rt, 2, kResourceTopic, "orders", &read_only);
    EXPECT_EQ(code, 0);
    EXPECT_EQ(configs.at("retention.ms"), "3600000");
    EXPECT_FALSE(read_only.at("retention.ms"));
    EXPECT_FALSE(read_only.at("retention.bytes"));
    EXPECT_TRUE(read_only.at("cleanup.policy"));
    EXPECT_TRUE(read_only.at("meridian.replication.factor"));
    // IncrementalAlterConfigs changes only what it names.
    EXPECT_EQ(AlterOne(rt, 3, Topic("orders", {{"retention.bytes", kSet, "1048576"}}), true), 0);
    EXPECT_EQ(RetentionAt(cluster, rt, 1, "orders", {1048576, 3600000}),
              Retention(1048576, 3600000));
    EXPECT_EQ(AlterOne(rt, 1, Topic("orders", {{"retention.ms", kDelete, std::nullopt}}), true), 0);
    EXPECT_EQ(RetentionAt(cluster, rt, 1, "orders", {1048576, 0}), Retention(1048576, 0))
        << "DELETE: back to the default, unlimited";
    // AlterConfigs sets the whole set: what it does not name goes back to the default.
    EXPECT_EQ(AlterOne(rt, 2, Topic("orders", {{"retention.ms", kSet, "60000"}})), 0);
    EXPECT_EQ(RetentionAt(cluster, rt, 3, "orders", {0, 60000}), Retention(0, 60000));
    EXPECT_EQ(AlterOne(rt, 2, Topic("orders", {{"retention.bytes", kSet, "-1"}}), true), 0)
        << "-1: unlimited, as Kafka writes it";
  });
}

TEST(KafkaConfigSim, AlterConfigsRefusesWhatKafkaRefuses) {
  KafkaCluster cluster(53);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 1), 0);
    const auto ok = Topic("orders", {{"retention.ms", kSet, "1000"}});
    ASSERT_EQ(Retrying(rt, [&](int i) { return AlterOne(rt, 1 + i % 3, ok); }), 0);
    const std::vector<std::pair<AlterConfigsResource, int16_t>> refused = {
        {Topic("orders", {{"segment.bytes", kSet, "1000"}}), error::kInvalidConfig},
        {Topic("orders", {{std::string(20000, 'x'), kSet, "1"}}), error::kInvalidConfig},
        {Topic("orders", {{"cleanup.policy", kSet, "compact"}}), error::kInvalidRequest},
        {Topic("orders", {{"meridian.replication.factor", kSet, "5"}}), error::kInvalidRequest},
        {Topic("orders", {{"retention.ms", kSet, "soon"}}), error::kInvalidConfig},
        {Topic("orders", {{"retention.ms", kSet, "0"}}), error::kInvalidConfig},
        {Topic("orders", {{"retention.bytes", kSet, "-2"}}), error::kInvalidConfig},
        {Topic("orders", {{"retention.ms", kSet, std::nullopt}}), error::kInvalidRequest},
        {Topic("orders", {{"retention.ms", kSet, "5"}, {"retention.ms", kSet, "6"}}),
         error::kInvalidRequest},
        {Topic("nope", {{"retention.ms", kSet, "5"}}), error::kUnknownTopicOrPartition},
        {Topic(kLongestName, {{"retention.ms", kSet, "5"}}), error::kUnknownTopicOrPartition},
        {Topic(std::string(core::wire::kOffsetsTopic), {{"retention.ms", kSet, "5"}}),
         error::kInvalidRequest},
        {AlterConfigsResource{.type = kResourceBroker, .name = "1"}, error::kInvalidRequest},
        {AlterConfigsResource{.type = 99, .name = "x"}, error::kInvalidRequest},
    };
    for (const auto& [resource, code] : refused) {
      EXPECT_EQ(AlterOne(rt, 1, resource), code) << resource.name.substr(0, 30);
    }
    EXPECT_EQ(AlterOne(rt, 1, Topic("orders", {{"retention.ms", kAppend, "5"}}), true),
              error::kInvalidConfig)
        << "not a list config";
    EXPECT_EQ(AlterOne(rt, 1, Topic("orders", {{"retention.ms", 9, "5"}}), true),
              error::kInvalidRequest)
        << "an unknown operation";
    const std::vector<AlterConfigsResult> twice = Alter(rt, 2, {ok, ok});
    ASSERT_EQ(twice.size(), 2u);
    EXPECT_EQ(twice[0].error_code, error::kInvalidRequest) << "a resource named twice";
    EXPECT_EQ(twice[1].error_code, error::kInvalidRequest);
    EXPECT_EQ(RetentionAt(cluster, rt, 1, "orders", {0, 1000}), Retention(0, 1000))
        << "nothing refused may have changed it";
  });
}

// The ACL check of the native request: a principal without admin on the topic is refused.
TEST(KafkaConfigSim, AlterConfigsWithoutAdminOnTheTopicIsNotAuthorized) {
  absl::StatusOr<core::broker::AccessControl> acl =
      core::broker::AccessControl::Parse("alice orders produce,consume\n");
  ASSERT_TRUE(acl.ok()) << acl.status();
  KafkaCluster cluster(
      55, KafkaClusterOptions{
              .acl = std::make_shared<const core::broker::AccessControl>(*std::move(acl)),
              .principal = {.name = "alice"}});
  cluster.OnClient([&](io::Runtime& rt) {
    const auto hour = Topic("orders", {{"retention.ms", kSet, "3600000"}});
    EXPECT_EQ(Retrying(rt, [&](int i) { return AlterOne(rt, 1 + i % 3, hour); }),
              error::kTopicAuthorizationFailed);
  });
}

// Past KafkaSessionLimits::altered_resources_max the resources of a request are refused
// without reaching the controller.
TEST(KafkaConfigSim, AlterConfigsStopsAtItsBound) {
  io::probe::Reset();
  KafkaCluster cluster(57, KafkaClusterOptions{.session_limits = {.altered_resources_max = 1}});
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "a", 1), 0);
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "b", 1), 0);
    std::vector<AlterConfigsResult> results;
    EXPECT_EQ(Retrying(rt,
                       [&](int i) {
                         results = Alter(rt, 1 + i % 3,
                                         {Topic("a", {{"retention.ms", kSet, "7000"}}),
                                          Topic("b", {{"retention.ms", kSet, "7000"}})});
                         return results.size() == 2 ? results[0].error_code : int16_t{-100};
                       }),
              0);
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[1].error_code, error::kInvalidRequest);
    EXPECT_EQ(RetentionAt(cluster, rt, 1, "a", {0, 7000}), Retention(0, 7000));
    EXPECT_EQ(RetentionAt(cluster, rt, 1, "b", {0, 0}), Retention(0, 0));
  });
  EXPECT_TRUE(io::probe::Snapshot().contains("kafka: AlterConfigs answered past its bound"));
}

}  // namespace
}  // namespace meridian
