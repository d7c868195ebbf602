// Automatic fail-back (core/broker/failback.cc) with the real broker on the simulator: nine
// nodes, three per region (r1 holds 1, 4, 7); a regional topic homed in r1 with one observer in
// r2 and one in r3. Region r1 is lost: the controller promotes each partition's most caught-up
// observer, writes go on in the new epoch. Region r1 returns: nothing moves home before it has
// been live for --region_failback_delay; after it, every partition's voters are r1's again,
// with no reassignment left in progress, and every record acknowledged in either epoch is read
// back. With the delay zero the partitions stay where the failover put them.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/client/consumer.h"
#include "core/client/producer.h"
#include "tests/broker/sim_cluster.h"

namespace meridian {
namespace {

constexpr uint32_t kServers = 9;
constexpr uint32_t kPartitions = 2;
constexpr uint32_t kHome[] = {1, 4, 7};  // Region r1.
constexpr io::Duration kFailbackDelay = seconds(10);

core::client::ClientOptions Options() {
  core::client::ClientOptions options;
  options.bootstrap = {AddressOf(2), AddressOf(3), AddressOf(5), AddressOf(6)};
  options.client_id = "failback-test";
  options.request_timeout = seconds(3);
  return options;
}

void Tune(core::broker::BrokerOptions& options, io::Duration failback_delay) {
  options.promotion_delay = seconds(3);
  options.regional_lease = seconds(1);
  options.region_failback_delay = failback_delay;
}

bool InHome(uint32_t node) { return std::count(std::begin(kHome), std::end(kHome), node) > 0; }

// Partitions of "t" whose voters are all in the home region with no move in progress (fresh
// metadata; -1 when the metadata cannot be had), and whether each was promoted once (epoch > 0).
int PartitionsHome(core::client::Client& client, bool* all_promoted = nullptr) {
  if (!client.RefreshMetadata({"t"}).ok()) return -1;
  const core::wire::TopicInfoT* topic = client.CachedTopic("t");
  if (topic == nullptr) return -1;
  int home = 0;
  if (all_promoted != nullptr) *all_promoted = true;
  for (const auto& partition : topic->partitions) {
    if (all_promoted != nullptr && partition->epoch == 0) *all_promoted = false;
    if (partition->target_replicas.empty() && partition->target_observers.empty() &&
        std::all_of(partition->replicas.begin(), partition->replicas.end(), InHome)) {
      home++;
    }
  }
  return home;
}

// Sends "v<from>".."v<to - 1>" through an idempotent producer, each acknowledged.
void Produce(io::Runtime& rt, core::client::Client& client, int from, int to) {
  absl::StatusOr<std::unique_ptr<core::client::Producer>> producer =
      core::client::Producer::Create(client);
  ASSERT_TRUE(producer.ok()) << producer.status();
  for (int i = from; i < to; i++) {
    ASSERT_TRUE(
        (*producer)
            ->Send("t", fmt::format("k{}", i), fmt::format("v{}", i), {}, 0, rt.Now() + seconds(20))
            .ok());
  }
  ASSERT_TRUE((*producer)->Flush(rt.Now() + seconds(30)).ok());
  ASSERT_TRUE((*producer)->Close(rt.Now() + seconds(5)).ok());
}

std::set<std::string> ReadAll(io::Runtime& rt, core::client::Client& client, size_t expected) {
  return ReadValues(rt, client, "t", kPartitions, expected, seconds(20));
}

// Creates the regional topic, writes 40 records, loses r1 and waits for every partition to be
// promoted, then writes 40 more in the new epoch.
void CreateThenFailOver(BrokerCluster& cluster, io::Runtime& rt, core::client::Client& client) {
  core::wire::CreateTopicRequestT request;
  request.name = "t";
  request.partitions = kPartitions;
  request.replication_factor = 3;
  request.consistency = core::wire::Consistency::Regional;
  request.home_region = "r1";
  request.observers_per_region = 1;
  bool created = false;
  for (int attempt = 0; attempt < 100 && !created; attempt++) {
    created = client.CreateTopic(request).ok();
    if (!created) (void)rt.Sleep(milliseconds(200));
  }
  ASSERT_TRUE(created);
  Produce(rt, client, 0, 40);
  (void)rt.Sleep(seconds(2));  // The observers catch up: the promotion loses nothing.
  ASSERT_EQ(PartitionsHome(client), static_cast<int>(kPartitions));
  for (uint32_t node : kHome) cluster.world().Crash(io::NodeId(node));
  bool promoted = false;
  const io::Instant lost = rt.Now();
  while (!promoted && rt.Now() < lost + seconds(30)) {
    (void)rt.Sleep(seconds(1));
    (void)PartitionsHome(client, &promoted);
  }
  ASSERT_TRUE(promoted) << "no promotion 30 s after the home region was lost";
  Produce(rt, client, 40, 80);
}

uint64_t Failbacks(BrokerCluster& cluster) {
  uint64_t failbacks = 0;
  for (uint32_t id = 1; id <= kServers; id++) {
    if (auto broker = cluster.broker(id)) failbacks += broker->metrics().region_failbacks_total;
  }
  return failbacks;
}

TEST(FailbackSim, PromotedPartitionsGoHomeOnceTheRegionHasBeenBackForTheDelay) {
  BrokerCluster cluster(
      5, [](core::broker::BrokerOptions& options) { Tune(options, kFailbackDelay); }, nullptr,
      kServers);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateThenFailOver(cluster, rt, client);
    if (HasFatalFailure()) return;
    EXPECT_EQ(PartitionsHome(client), 0);
    for (uint32_t node : kHome) cluster.world().Restart(io::NodeId(node));
    const io::Instant back = rt.Now();
    (void)rt.Sleep(kFailbackDelay - seconds(2));
    EXPECT_EQ(PartitionsHome(client), 0) << "moved home before the delay";
    while (PartitionsHome(client) != static_cast<int>(kPartitions) &&
           rt.Now() < back + seconds(60)) {
      (void)rt.Sleep(seconds(1));
    }
    EXPECT_EQ(PartitionsHome(client), static_cast<int>(kPartitions))
        << "not home 60 s after the region returned";
    Produce(rt, client, 80, 100);
    EXPECT_EQ(ReadAll(rt, client, 100).size(), 100u) << "acknowledged records lost";
  });
  EXPECT_GE(Failbacks(cluster), 1u);
}

TEST(FailbackSim, WithTheDelayZeroPromotedPartitionsStayAway) {
  BrokerCluster cluster(
      5, [](core::broker::BrokerOptions& options) { Tune(options, io::Duration::zero()); }, nullptr,
      kServers);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateThenFailOver(cluster, rt, client);
    if (HasFatalFailure()) return;
    for (uint32_t node : kHome) cluster.world().Restart(io::NodeId(node));
    (void)rt.Sleep(seconds(30));
    EXPECT_EQ(PartitionsHome(client), 0);
    EXPECT_EQ(ReadAll(rt, client, 80).size(), 80u) << "acknowledged records lost";
  });
  EXPECT_EQ(Failbacks(cluster), 0u);
}

}  // namespace
}  // namespace meridian
