// Replacing a lost node's replicas (core/broker/replacement.cc) with the real broker on the
// simulator: four nodes (r1 holds nodes 1 and 4), a strong topic of rf 3 (one voter per
// region), node 4 crashed for good. After --replica_replacement_delay the controller moves each
// partition's copy off node 4 onto node 1 (the only other r1 node), by the reassignment
// executor; every acknowledged record is still there. Before the delay nothing moves, and with
// the delay zero nothing ever does. And balancing: a node that comes back empty takes copies
// until balanced, once it has been live for the balance delay.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/client/consumer.h"
#include "core/client/producer.h"
#include "tests/broker/sim_cluster.h"

namespace meridian {
namespace {

constexpr uint32_t kPartitions = 4;
constexpr int kRecords = 60;
constexpr uint32_t kLost = 4;

core::client::ClientOptions Options() {
  core::client::ClientOptions options;
  options.bootstrap = {AddressOf(1), AddressOf(2), AddressOf(3)};
  options.client_id = "replacement-test";
  options.request_timeout = seconds(3);
  return options;
}

// Partitions of "t" that list node `node` as a voter or observer (fresh metadata).
std::vector<uint32_t> PartitionsOn(core::client::Client& client, uint32_t node) {
  std::vector<uint32_t> on;
  if (!client.RefreshMetadata({"t"}).ok()) return {99};  // Unknown: not "none".
  const core::wire::TopicInfoT* topic = client.CachedTopic("t");
  if (topic == nullptr) return {99};
  for (const auto& partition : topic->partitions) {
    const auto& replicas = partition->replicas;
    const auto& observers = partition->observers;
    if (std::count(replicas.begin(), replicas.end(), node) ||
        std::count(observers.begin(), observers.end(), node)) {
      on.push_back(partition->partition);
    }
    EXPECT_EQ(replicas.size(), 3u) << "partition " << partition->partition;
  }
  return on;
}

void CreateAndFill(io::Runtime& rt, core::client::Client& client) {
  CreateTopicAndFill(rt, client, "t", kPartitions, kRecords);
}

// Every value "v0".."v59" read back from the beginning of every partition.
std::set<std::string> ReadAll(io::Runtime& rt, core::client::Client& client) {
  return ReadValues(rt, client, "t", kPartitions, kRecords, seconds(30));
}

TEST(ReplacementSim, ALostNodesCopiesMoveAfterTheDelayAndNoRecordIsLost) {
  BrokerCluster cluster(
      7,
      [](core::broker::BrokerOptions& options) { options.replica_replacement_delay = seconds(8); },
      nullptr, /*servers=*/4);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateAndFill(rt, client);
    const std::vector<uint32_t> on_lost = PartitionsOn(client, kLost);
    ASSERT_FALSE(on_lost.empty()) << "placement gave node 4 no partition";
    cluster.world().Crash(io::NodeId(kLost));
    const io::Instant crashed = rt.Now();
    (void)rt.Sleep(seconds(5));
    EXPECT_EQ(PartitionsOn(client, kLost), on_lost) << "moved before the delay";
    std::vector<uint32_t> left = on_lost;
    while (!left.empty() && rt.Now() < crashed + seconds(60)) {
      (void)rt.Sleep(seconds(1));
      left = PartitionsOn(client, kLost);
    }
    EXPECT_TRUE(left.empty()) << "still on the lost node: " << fmt::format("{}", left.size());
    EXPECT_GE(rt.Now() - crashed, seconds(8));
    const std::set<std::string> values = ReadAll(rt, client);
    EXPECT_EQ(values.size(), static_cast<size_t>(kRecords)) << "records lost in the moves";
  });
  uint64_t replacements = 0;
  for (uint32_t id = 1; id <= 3; id++) {
    if (auto broker = cluster.broker(id))
      replacements += broker->metrics().replica_replacements_total;
  }
  EXPECT_GE(replacements, 1u);
}

TEST(ReplacementSim, WithTheDelayZeroALostNodeKeepsItsCopies) {
  BrokerCluster cluster(
      7, [](core::broker::BrokerOptions& options) { options.replica_replacement_delay = {}; },
      nullptr, /*servers=*/4);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateAndFill(rt, client);
    const std::vector<uint32_t> on_lost = PartitionsOn(client, kLost);
    ASSERT_FALSE(on_lost.empty());
    cluster.world().Crash(io::NodeId(kLost));
    (void)rt.Sleep(seconds(30));
    EXPECT_EQ(PartitionsOn(client, kLost), on_lost);
  });
}

// Balancing: node 4 is down while the topic is created (every partition's r1 voter goes to node
// 1) and comes back empty; once it has been live for the balance delay, copies move from node 1
// to it one partition at a time until neither holds two more than the other; every record stays.
TEST(ReplacementSim, AnEmptyNodeTakesCopiesUntilBalanced) {
  BrokerCluster cluster(
      11, [](core::broker::BrokerOptions& options) { options.replica_balance_delay = seconds(10); },
      nullptr, /*servers=*/4);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    cluster.world().Crash(io::NodeId(kLost));
    (void)rt.Sleep(seconds(2));  // Gone from the controller's view.
    CreateAndFill(rt, client);
    ASSERT_TRUE(PartitionsOn(client, kLost).empty()) << "placed on a node that was down";
    ASSERT_EQ(PartitionsOn(client, 1).size(), kPartitions);
    cluster.world().Restart(io::NodeId(kLost));
    const io::Instant back = rt.Now();
    (void)rt.Sleep(seconds(8));
    EXPECT_TRUE(PartitionsOn(client, kLost).empty()) << "moved before the delay";
    while (PartitionsOn(client, kLost).size() < kPartitions / 2 && rt.Now() < back + seconds(80)) {
      (void)rt.Sleep(seconds(1));
    }
    (void)rt.Sleep(seconds(15));  // No further move once balanced.
    EXPECT_EQ(PartitionsOn(client, kLost).size(), kPartitions / 2);
    EXPECT_EQ(PartitionsOn(client, 1).size(), kPartitions / 2);
    EXPECT_EQ(ReadAll(rt, client).size(), static_cast<size_t>(kRecords)) << "records lost";
  });
  uint64_t moves = 0;
  for (uint32_t id = 1; id <= 3; id++) {
    if (auto broker = cluster.broker(id)) moves += broker->metrics().replica_balance_moves_total;
  }
  EXPECT_EQ(moves, kPartitions / 2);
}

// Preferred leaders: an operator made node 1 the preferred leader of every partition (voters
// reordered 1,2,3). Once nodes are settled, the controller reorders partitions' voters, one
// partition at a time and no copy moving, until no node is the preferred leader of two more
// partitions than another; every record stays.
TEST(ReplacementSim, PreferredLeadersAreBalancedByReorderingVoters) {
  BrokerCluster cluster(
      13, [](core::broker::BrokerOptions& options) { options.replica_balance_delay = seconds(5); });
  constexpr uint32_t kLedPartitions = 6;
  const auto preferred = [&](core::client::Client& client) {
    std::map<uint32_t, uint32_t> count;
    if (!client.RefreshMetadata({"t"}).ok() || client.CachedTopic("t") == nullptr) return count;
    for (const auto& partition : client.CachedTopic("t")->partitions) {
      EXPECT_EQ(partition->replicas.size(), 3u) << "a copy moved";
      if (!partition->replicas.empty()) count[partition->replicas.front()]++;
    }
    return count;
  };
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateTopicAndFill(rt, client, "t", kLedPartitions, kRecords);
    for (uint32_t p = 0; p < kLedPartitions; p++) {
      ASSERT_TRUE(client.ReassignPartition("t", p, {1, 2, 3}, {}).ok());
    }
    const io::Instant asked = rt.Now();
    while (preferred(client) != std::map<uint32_t, uint32_t>{{1, kLedPartitions}} &&
           rt.Now() < asked + seconds(10)) {
      (void)rt.Sleep(milliseconds(200));
    }
    ASSERT_EQ(preferred(client), (std::map<uint32_t, uint32_t>{{1, kLedPartitions}}));
    const std::map<uint32_t, uint32_t> balanced = {{1, 2}, {2, 2}, {3, 2}};
    while (preferred(client) != balanced && rt.Now() < asked + seconds(80)) {
      (void)rt.Sleep(seconds(1));
    }
    EXPECT_EQ(preferred(client), balanced);
    (void)rt.Sleep(seconds(12));  // No further move once balanced.
    EXPECT_EQ(preferred(client), balanced);
    EXPECT_EQ(ReadValues(rt, client, "t", kLedPartitions, kRecords, seconds(20)).size(),
              static_cast<size_t>(kRecords));
  });
  uint64_t leader_moves = 0;
  uint64_t copy_moves = 0;
  for (uint32_t id = 1; id <= 3; id++) {
    if (auto broker = cluster.broker(id)) {
      leader_moves += broker->metrics().preferred_leader_moves_total;
      copy_moves += broker->metrics().replica_balance_moves_total;
    }
  }
  EXPECT_EQ(leader_moves, 4u) << "6/0/0 to 2/2/2 takes four reorders";
  EXPECT_EQ(copy_moves, 0u);
}

}  // namespace
}  // namespace meridian
