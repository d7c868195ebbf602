// Kafka's admin and group-inspection APIs through the Kafka session on the simulator (three
// brokers, raw Kafka requests): CreatePartitions (forwarded to the controller leader,
// validate_only, every refusal and its Kafka code, an ACL denial), DescribeGroups (Kafka's
// states through a rebalance, members with their bytes, NOT_COORDINATOR from another node, Dead
// and INVALID_GROUP_ID) and ListGroups at its bound. Names up to INT16_MAX bytes are answered,
// never echoed into a message.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "core/broker/consumer_protocol.h"
#include "core/client/client.h"
#include "core/kafka/bytes.h"
#include "core/kafka/group_messages.h"
#include "core/kafka/messages.h"
#include "core/wire/client_codec.h"
#include "io/probe.h"
#include "tests/kafka/kafka_sim_calls.h"
#include "tests/kafka/kafka_sim_cluster.h"

namespace meridian {
namespace {

using core::kafka::ApiKey;
using core::kafka::DescribedGroup;
using core::kafka::Reader;
using core::kafka::Writer;
namespace error = core::kafka::error;

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
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 3), 0);
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
    EXPECT_EQ(GrowOne(rt, 2, std::string(core::wire::kOffsetsTopic), 64), error::kInvalidRequest);
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

// ---- Groups ----

// ListGroups v2 at `node`: the group ids.
std::vector<std::string> ListGroups(io::Runtime& rt, uint32_t node) {
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kListGroups, 2, {});
  Reader reader(response);
  (void)reader.Int32();
  EXPECT_EQ(reader.Int16(), 0);
  std::vector<std::string> groups(reader.ArrayCount(1000));
  for (std::string& group : groups) {
    group = reader.String();
    EXPECT_EQ(reader.String(), "consumer");
  }
  EXPECT_TRUE(reader.ok() && reader.remaining() == 0);
  return groups;
}

void ExpectStableWithOneMember(const DescribedGroup& group, const std::string& member) {
  EXPECT_EQ(group.error_code, 0);
  EXPECT_EQ(group.state, "Stable");
  EXPECT_EQ(group.protocol_type, "consumer");
  EXPECT_EQ(group.protocol, "range");
  ASSERT_EQ(group.members.size(), 1u);
  EXPECT_EQ(group.members[0].member_id, member);
  EXPECT_EQ(group.members[0].client_id, "sim-test");
  EXPECT_TRUE(group.members[0].client_host.starts_with("/")) << group.members[0].client_host;
  EXPECT_EQ(group.members[0].metadata, kSubscription) << "the member's own subscription";
  EXPECT_EQ(group.members[0].assignment, kAssignment) << "the leader's bytes for it";
}

TEST(KafkaAdminSim, DescribeGroupsFollowsAGroupThroughKafkasStates) {
  KafkaCluster cluster(31);
  cluster.OnClient([&](io::Runtime& rt) {
    WaitUntilListening(rt, 1);
    EXPECT_EQ(DescribeOne(rt, 1, "g").error_code, error::kCoordinatorNotAvailable)
        << "no __consumer_offsets yet";
    const uint32_t coordinator = Coordinator(rt, "g");
    const uint32_t other = coordinator % 3 + 1;
    EXPECT_EQ(Retrying(rt, [&](int) { return DescribeOne(rt, coordinator, "g").error_code; }), 0);
    EXPECT_EQ(DescribeOne(rt, coordinator, "g").state, "Dead") << "never heard of";
    // The first member falls silent after this (no heartbeats): it expires 2 s on.
    const std::string first = JoinAndSync(rt, coordinator, "g", 2000);
    // A group never heard of, coordinated where "g" is (same offsets partition): which node
    // leads which partition depends on the run's elections, so "g"'s coordinator may not be
    // another name's.
    const uint32_t partitions =
        static_cast<uint32_t>(cluster.broker(coordinator)
                                  ->metadata()
                                  .FindTopic(std::string(core::wire::kOffsetsTopic))
                                  ->partitions.size());
    std::string unknown = "nope";
    for (int i = 0; core::wire::GroupPartition(unknown, partitions) !=
                    core::wire::GroupPartition("g", partitions);
         i++) {
      unknown = fmt::format("nope{}", i);
    }
    const std::vector<DescribedGroup> described =
        Describe(rt, coordinator, {"g", unknown, "", kLongestName});
    ASSERT_EQ(described.size(), 4u);
    ExpectStableWithOneMember(described[0], first);
    EXPECT_EQ(described[1].state, "Dead") << "error " << described[1].error_code;
    EXPECT_EQ(described[2].error_code, error::kInvalidGroupId);
    EXPECT_EQ(described[3].error_code, error::kInvalidGroupId);
    EXPECT_EQ(described[3].group_id, kLongestName);
    const std::vector<DescribedGroup> v0 = Describe(rt, coordinator, {"g"}, 0);
    ASSERT_EQ(v0.size(), 1u);
    ExpectStableWithOneMember(v0[0], first);
    EXPECT_EQ(DescribeOne(rt, other, "g").error_code, error::kNotCoordinator);
    EXPECT_EQ(ListGroups(rt, coordinator), std::vector<std::string>{"g"});
    EXPECT_EQ(ListGroups(rt, other), std::vector<std::string>{});
    // A second member's join parks until the first rejoins or its session expires.
    std::tuple<int16_t, int32_t, std::string> second;
    bool joined = false;
    rt.Spawn("second-member", [&] {
      second = Join(rt, coordinator, "g");
      joined = true;
    });
    (void)rt.Sleep(milliseconds(500));
    DescribedGroup rebalancing = DescribeOne(rt, coordinator, "g");
    EXPECT_EQ(rebalancing.state, "PreparingRebalance");
    EXPECT_EQ(rebalancing.protocol, "") << "as Kafka: no protocol until Stable";
    ASSERT_EQ(rebalancing.members.size(), 1u);
    EXPECT_TRUE(rebalancing.members[0].metadata.empty()) << "no bytes until Stable";
    for (int i = 0; i < 100 && !joined; i++) (void)rt.Sleep(milliseconds(100));
    ASSERT_TRUE(joined);
    ASSERT_EQ(std::get<0>(second), 0);
    EXPECT_EQ(DescribeOne(rt, coordinator, "g").state, "CompletingRebalance")
        << "announced, the leader's assignment not written";
    EXPECT_EQ(Sync(rt, coordinator, "g", std::get<1>(second), std::get<2>(second)), 0);
    ExpectStableWithOneMember(DescribeOne(rt, coordinator, "g"), std::get<2>(second));
  });
}

// A join phase ended by its timeout (a member that never rejoins) answers the joiner whose
// rebalance timeout set that deadline, instead of letting its wait run out at the same instant
// (it used to get REBALANCE_IN_PROGRESS, 27).
TEST(KafkaAdminSim, AJoinPhaseEndedByItsTimeoutAnswersTheJoinerThatSetIt) {
  KafkaCluster cluster(37);
  cluster.OnClient([&](io::Runtime& rt) {
    const uint32_t coordinator = Coordinator(rt, "g");
    EXPECT_EQ(Retrying(rt, [&](int) { return DescribeOne(rt, coordinator, "g").error_code; }), 0);
    // Silent from here on but alive for a minute: it never rejoins the next phase.
    (void)JoinAndSync(rt, coordinator, "g", 60000);
    const io::Instant asked = rt.Now();
    const auto [code, generation, member] = Join(rt, coordinator, "g");
    EXPECT_EQ(code, 0);
    EXPECT_GE(rt.Now() - asked, std::chrono::seconds(10)) << "the phase waited for the first";
    EXPECT_EQ(Sync(rt, coordinator, "g", generation, member), 0);
    ExpectStableWithOneMember(DescribeOne(rt, coordinator, "g"), member);
  });
}

// A native group (server-side assignment, `meridian consume --group`) described to a Kafka tool:
// its assignor as the protocol, and ConsumerProtocol bytes encoded from the ledger, so Kafka's
// tools can read its members' topics and partitions.
TEST(KafkaAdminSim, DescribeGroupsShowsANativeGroupAsAConsumerGroup) {
  KafkaCluster cluster(33);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 2), 0);
    const uint32_t coordinator = Coordinator(rt, "native");
    core::client::ClientOptions options;
    options.bootstrap = {AddressOf(1), AddressOf(2), AddressOf(3)};
    options.client_id = "native-client";
    core::client::Client client(rt, options);
    core::wire::JoinGroupRequestT join;
    join.group = "native";
    join.client_id = "native-client";
    join.topics = {"orders"};
    join.assignor = core::wire::Assignor::RoundRobin;
    join.session_timeout_ms = 10000;
    join.rebalance_timeout_ms = 3000;
    const core::client::Client::Response joined =
        client.CallCoordinator("native", core::wire::Message(0, join), rt.Now() + seconds(10));
    ASSERT_TRUE(joined.ok()) << joined.status();
    ASSERT_NE((*joined)->body.AsJoinGroupResponse(), nullptr);
    const DescribedGroup group = DescribeOne(rt, coordinator, "native");
    EXPECT_EQ(group.state, "Stable");
    EXPECT_EQ(group.protocol_type, "consumer");
    EXPECT_EQ(group.protocol, "roundrobin");
    ASSERT_EQ(group.members.size(), 1u);
    EXPECT_EQ(group.members[0].client_id, "native-client");
    EXPECT_EQ(group.members[0].metadata, core::broker::EncodeConsumerSubscription({"orders"}));
    EXPECT_EQ(group.members[0].assignment,
              core::broker::EncodeConsumerAssignment({{"orders", 0}, {"orders", 1}}));
  });
}

// Three groups of one coordinator partition, a node that lists at most two: ListGroups answers
// two (the coordinator is asked for no more), in name order. A DescribeGroups past its byte
// bound answers the rest retriably, undescribed.
TEST(KafkaAdminSim, ListGroupsAndDescribeGroupsStopAtTheirBounds) {
  io::probe::Reset();
  KafkaCluster cluster(
      37, KafkaClusterOptions{
              .session_limits = {.listed_groups_max = 2, .described_groups_bytes_max = 100}});
  cluster.OnClient([&](io::Runtime& rt) {
    const uint32_t coordinator = Coordinator(rt, "a0");
    const uint32_t partitions =
        static_cast<uint32_t>(cluster.broker(coordinator)
                                  ->metadata()
                                  .FindTopic(std::string(core::wire::kOffsetsTopic))
                                  ->partitions.size());
    std::vector<std::string> names;
    for (int i = 0; names.size() < 3; i++) {
      const std::string name = fmt::format("a{}", i);
      if (core::wire::GroupPartition(name, partitions) ==
          core::wire::GroupPartition("a0", partitions)) {
        names.push_back(name);
      }
    }
    for (const std::string& name : names) (void)JoinAndSync(rt, coordinator, name);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(ListGroups(rt, coordinator), (std::vector<std::string>{names[0], names[1]}));
    const std::vector<DescribedGroup> described = Describe(rt, coordinator, names);
    ASSERT_EQ(described.size(), 3u);
    EXPECT_EQ(described[0].state, "Stable") << "the first group is always described";
    EXPECT_EQ(described[1].error_code, error::kCoordinatorLoadInProgress);
    EXPECT_EQ(described[2].error_code, error::kCoordinatorLoadInProgress);
  });
  EXPECT_TRUE(io::probe::Snapshot().contains("kafka: ListGroups answered at its bound"));
  EXPECT_TRUE(io::probe::Snapshot().contains("kafka: DescribeGroups answered past its byte bound"));
}

}  // namespace
}  // namespace meridian
