// Kafka's admin APIs through the Kafka session on the simulator (three brokers, raw Kafka
// requests): CreatePartitions (forwarded to the controller leader, validate_only, every refusal
// and its Kafka code, an ACL denial). Names up to INT16_MAX bytes are answered, never echoed
// into a message.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "core/kafka/bytes.h"
#include "core/kafka/messages.h"
#include "core/wire/client_codec.h"
#include "tests/kafka/kafka_sim_cluster.h"

namespace meridian {
namespace {

using core::kafka::ApiKey;
using core::kafka::Reader;
using core::kafka::Writer;
namespace error = core::kafka::error;

// The longest name a Kafka string carries (less a little): a 32 KiB name.
const std::string kLongestName(INT16_MAX - 8, 'n');

// Runs `call` until it answers something other than a retriable code (or 100 tries).
template <typename Call>
int16_t Retrying(io::Runtime& rt, Call call) {
  int16_t code = -100;
  for (int attempt = 0; attempt < 100; attempt++) {
    code = call(attempt);
    const bool retriable = code == -100 || code == error::kNotController ||
                           code == error::kRequestTimedOut || code == error::kNotCoordinator ||
                           code == error::kCoordinatorNotAvailable ||
                           code == error::kCoordinatorLoadInProgress;
    if (!retriable) return code;
    (void)rt.Sleep(milliseconds(200));
  }
  return code;
}

// CreateTopics v4 of one topic (3 replicas) at `node`: its error code.
int16_t CreateTopic(io::Runtime& rt, uint32_t node, const std::string& name, int32_t partitions) {
  Writer body;
  body.ArrayCount(1);
  body.String(name);
  body.Int32(partitions);
  body.Int16(3);
  body.ArrayCount(0);
  body.ArrayCount(0);
  body.Int32(10000);
  body.Bool(false);
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kCreateTopics, 4, body.Take());
  Reader reader(response);
  (void)reader.Int32();
  if (reader.ArrayCount(1) != 1) return -100;
  (void)reader.String();
  return reader.Int16();
}

struct GrowAsk {
  std::string name;
  int32_t count = 0;
  bool manual = false;  // One new partition placed on nodes 1 and 2 by hand.
};
using Grown = std::tuple<std::string, int16_t, std::optional<std::string>>;

// CreatePartitions v`version` at `node`: each topic's (name, error code, message).
std::vector<Grown> CreatePartitions(io::Runtime& rt, uint32_t node,
                                    const std::vector<GrowAsk>& asks, bool validate_only,
                                    int16_t version = 1) {
  Writer body;
  body.ArrayCount(asks.size());
  for (const GrowAsk& ask : asks) {
    body.String(ask.name);
    body.Int32(ask.count);
    if (!ask.manual) {
      body.Int32(-1);
      continue;
    }
    body.ArrayCount(1);
    body.ArrayCount(2);
    body.Int32(1);
    body.Int32(2);
  }
  body.Int32(10000);
  body.Bool(validate_only);
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, ApiKey::kCreatePartitions, version, body.Take());
  if (response.empty()) return {};  // Not listening yet.
  Reader reader(response);
  (void)reader.Int32();
  std::vector<Grown> results(reader.ArrayCount(100));
  for (auto& [name, code, message] : results) {
    name = reader.String();
    code = reader.Int16();
    message = reader.NullableString();
  }
  EXPECT_TRUE(reader.ok() && reader.remaining() == 0) << reader.status();
  return results;
}

int16_t GrowOne(io::Runtime& rt, uint32_t node, const std::string& name, int32_t count,
                bool validate_only = false) {
  const std::vector<Grown> results = CreatePartitions(rt, node, {{name, count}}, validate_only);
  return results.size() == 1 ? std::get<1>(results[0]) : -100;
}

// How many partitions node `node`'s copy of the metadata gives `topic`.
size_t PartitionsAt(KafkaCluster& cluster, uint32_t node, const std::string& topic) {
  const core::cluster::TopicRecord* record = cluster.broker(node)->metadata().FindTopic(topic);
  return record == nullptr ? 0 : record->partitions.size();
}

TEST(KafkaAdminSim, CreatePartitionsGrowsThroughTheControllerAndRefusesWhatKafkaRefuses) {
  KafkaCluster cluster(21);
  cluster.OnClient([&](io::Runtime& rt) {
    // Until every node registered (INVALID_REPLICATION_FACTOR before).
    int16_t created = -100;
    for (int i = 0; i < 100 && created != 0; i++) {
      created = CreateTopic(rt, 1 + i % 3, "orders", 3);
      if (created != 0) (void)rt.Sleep(milliseconds(200));
    }
    ASSERT_EQ(created, 0);
    // validate_only: checked by the controller, nothing proposed.
    EXPECT_EQ(Retrying(rt, [&](int i) { return GrowOne(rt, 1 + i % 3, "orders", 5, true); }), 0);
    (void)rt.Sleep(seconds(1));
    for (uint32_t node = 1; node <= 3; node++) EXPECT_EQ(PartitionsAt(cluster, node, "orders"), 3u);
    EXPECT_EQ(GrowOne(rt, 2, "orders", 3, true), error::kInvalidPartitions)
        << "validate_only still validates";
    // Every node takes it (non-controllers forward to the controller leader).
    EXPECT_EQ(Retrying(rt, [&](int) { return GrowOne(rt, 3, "orders", 5); }), 0);
    for (int attempt = 0; attempt < 50 && PartitionsAt(cluster, 1, "orders") != 5; attempt++) {
      (void)rt.Sleep(milliseconds(100));
    }
    EXPECT_EQ(PartitionsAt(cluster, 1, "orders"), 5u);
    for (int32_t count : {5, 4, 0, -1, 100'000}) {
      EXPECT_EQ(GrowOne(rt, 1 + static_cast<uint32_t>(count & 1), "orders", count),
                error::kInvalidPartitions)
          << count << " partitions";
    }
    EXPECT_EQ(GrowOne(rt, 2, "nope", 4), error::kUnknownTopicOrPartition);
    // The internal topic is refused as natively, whatever the count.
    EXPECT_EQ(GrowOne(rt, 2, std::string(wire::kOffsetsTopic), 64), error::kInvalidRequest);
    const std::vector<Grown> refused = CreatePartitions(
        rt, 1, {{"orders", 6, true}, {"twice", 2}, {"twice", 3}, {kLongestName, 2}}, false, 0);
    ASSERT_EQ(refused.size(), 4u);
    EXPECT_EQ(std::get<1>(refused[0]), error::kInvalidRequest) << "manual assignment";
    EXPECT_EQ(std::get<1>(refused[1]), error::kInvalidRequest) << "named twice";
    EXPECT_EQ(std::get<1>(refused[2]), error::kInvalidRequest) << "named twice";
    EXPECT_EQ(std::get<0>(refused[3]), kLongestName);
    EXPECT_EQ(std::get<1>(refused[3]), error::kUnknownTopicOrPartition);
    for (const auto& [name, code, message] : refused) {
      EXPECT_LT(message.value_or("").size(), 200u) << "a name echoed into the message";
    }
    EXPECT_EQ(PartitionsAt(cluster, 1, "orders"), 5u) << "nothing refused may have grown it";
    EXPECT_EQ(GrowOne(rt, 3, kLongestName, 2), error::kUnknownTopicOrPartition)
        << "the node still answers";
  });
}

// The ACL check of the native request: a principal without admin on the topic is refused.
TEST(KafkaAdminSim, CreatePartitionsWithoutAdminOnTheTopicIsNotAuthorized) {
  absl::StatusOr<core::broker::AccessControl> acl =
      core::broker::AccessControl::Parse("alice orders produce,consume\n");
  ASSERT_TRUE(acl.ok()) << acl.status();
  KafkaCluster cluster(
      23, KafkaClusterOptions{
              .acl = std::make_shared<const core::broker::AccessControl>(*std::move(acl)),
              .principal = {.name = "alice"}});
  cluster.OnClient([&](io::Runtime& rt) {
    EXPECT_EQ(Retrying(rt, [&](int i) { return GrowOne(rt, 1 + i % 3, "orders", 4); }),
              error::kTopicAuthorizationFailed);
  });
}

}  // namespace
}  // namespace meridian
