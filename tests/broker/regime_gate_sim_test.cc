// The lease-regime gate (core/broker/failover.cc VotersKnowTheRegime): a topic that became
// regional by a mode change may have voters that have not applied the change. They serve it as
// before, without a data lease, so the controller's silence from them proves nothing: promoting
// past them could leave two epochs acknowledging writes. The controller therefore promotes such
// a partition automatically only once every voter renewed a lease since it saw the change.
//
// The schedule, on the real broker over the simulator (nine nodes; regions r1 = 1,4,5,6,7,
// r2 = 2,8, r3 = 3,9; controller voters 1,2,3): a spread topic's partition is moved to voters
// 4,5,6 (all in r1), led by 4. Nodes 5 and 6 are cut off from the controller voters, so their
// metadata stops; the topic becomes regional with home r1 (its voters stay, observers join in r2
// and r3, which leader 4 carries out with 5 and 6 as its quorum). Then 4 crashes: 5 and 6 elect a
// leader among themselves and, not knowing the topic is regional, keep acknowledging writes
// without a lease, while the controller hears from no voter.
//   - With the gate: no promotion; the old group is the only one taking writes.
//   - Planted (`promote_before_voters_know_regime`): the controller promotes an observer after
//     the promotion delay, and both epochs acknowledge writes: split brain.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/client/producer.h"
#include "sim/sim_network.h"
#include "tests/broker/sim_cluster.h"

namespace meridian {
namespace {

constexpr uint32_t kServers = 9;
const std::vector<uint32_t> kVoters = {4, 5, 6};
const std::vector<uint32_t> kUninformed = {5, 6};      // Cut off from the controller.
const std::vector<uint32_t> kControllers = {1, 2, 3};  // The metadata group's voters.

std::string RegionOf(uint32_t node) {
  switch (node) {
    case 2:
    case 8:
      return "r2";
    case 3:
    case 9:
      return "r3";
    default:
      return "r1";
  }
}

void Tune(core::broker::BrokerOptions& options, bool planted) {
  options.region = RegionOf(options.node_id);
  options.promotion_delay = seconds(3);
  options.regional_lease = seconds(1);
  options.leader_balance_delay = seconds(1);
  options.region_failback_delay = {};
  options.planted.promote_before_voters_know_regime = planted;
}

core::client::ClientOptions Bootstrap(std::vector<uint32_t> nodes, std::string id) {
  core::client::ClientOptions options;
  for (uint32_t node : nodes) options.bootstrap.push_back(AddressOf(node));
  options.client_id = std::move(id);
  options.request_timeout = seconds(3);
  return options;
}

// Retries `call` (a Status or StatusOr) until it succeeds or 30 s pass; whether it did.
template <typename Call>
bool Eventually(io::Runtime& rt, Call call) {
  const io::Instant until = rt.Now() + seconds(30);
  while (rt.Now() < until) {
    if (call().ok()) return true;
    (void)rt.Sleep(milliseconds(250));
  }
  return false;
}

// Partition 0 of "t" as the controller has it, once `done` says so (30 s at most).
template <typename Done>
bool AwaitPartition(io::Runtime& rt, core::client::Client& client, Done done) {
  return Eventually(rt, [&]() -> absl::Status {
    absl::StatusOr<core::wire::TopicInfoT> topic = client.DescribeTopic("t");
    if (!topic.ok()) return topic.status();
    if (topic->partitions.empty() || !done(*topic, *topic->partitions.front())) {
      return absl::UnavailableError("not yet");
    }
    return absl::OkStatus();
  });
}

// One record sent through a fresh producer of `client`, acknowledged within 5 s.
absl::Status SendOne(io::Runtime& rt, core::client::Client& client, const std::string& value) {
  absl::StatusOr<std::unique_ptr<core::client::Producer>> producer =
      core::client::Producer::Create(client);
  if (!producer.ok()) return producer.status();
  absl::Status sent = (*producer)->Send("t", "k", value, {}, 0, rt.Now() + seconds(5)).status();
  if (sent.ok()) sent = (*producer)->Flush(rt.Now() + seconds(5));
  (void)(*producer)->Close(rt.Now() + seconds(1));
  return sent;
}

// Runs the schedule; returns the promotions the controller made, the partition's epoch after
// the crash of node 4 and four promotion delays, and whether each side then acknowledged a
// write: the old group through nodes 5 and 6 (their stale metadata), and whatever the
// controller's metadata names through nodes 1-3.
struct Outcome {
  uint64_t promotions = 0;
  uint32_t epoch = 0;  // Partition 0's, in the controller's metadata before the two writes.
  bool old_group_acked = false;
  bool controller_side_acked = false;
};

Outcome RunSchedule(bool planted) {
  BrokerCluster cluster(
      31, [planted](core::broker::BrokerOptions& options) { Tune(options, planted); }, nullptr,
      kServers);
  Outcome outcome;
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client admin(rt, Bootstrap(kControllers, "admin"));
    core::wire::CreateTopicRequestT create;
    create.name = "t";
    create.partitions = 1;
    create.replication_factor = 3;
    create.consistency = core::wire::Consistency::Spread;
    ASSERT_TRUE(Eventually(rt, [&] { return admin.CreateTopic(create); }));
    ASSERT_TRUE(Eventually(rt, [&] { return admin.ReassignPartition("t", 0, kVoters, {}); }));
    ASSERT_TRUE(AwaitPartition(rt, admin, [](const auto&, const auto& p) {
      return p.replicas == kVoters && p.target_replicas.empty();
    })) << "the partition never settled on voters 4,5,6";
    (void)rt.Sleep(seconds(3));  // Led by 4, its preferred leader (the balancer's delay is 1 s).
    absl::StatusOr<core::wire::ReplicaStatusResponseT> status = admin.ReplicaStatus(io::NodeId(4));
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_EQ(status->replicas.size(), 1u);
    ASSERT_EQ(status->replicas.front()->leader, 4u) << "node 4 must lead before the cut";
    ASSERT_TRUE(SendOne(rt, admin, "before").ok());
    for (uint32_t cut : kUninformed) {
      for (uint32_t controller : kControllers) {
        cluster.world().network().Block(io::NodeId(cut), io::NodeId(controller));
        cluster.world().network().Block(io::NodeId(controller), io::NodeId(cut));
      }
    }
    core::wire::AlterTopicConfigRequestT alter;
    alter.topic = "t";
    alter.retention_bytes = -1;
    alter.retention_ms = -1;
    alter.consistency = core::wire::Consistency::Regional;
    alter.home_region = "r1";
    alter.observers_per_region = 1;
    ASSERT_TRUE(Eventually(rt, [&] { return admin.AlterTopicConfig(alter); }));
    ASSERT_TRUE(AwaitPartition(rt, admin, [](const auto& topic, const auto& p) {
      return topic.consistency == core::wire::Consistency::Regional &&
             topic.changing_to == core::wire::Consistency::Unspecified && p.replicas == kVoters &&
             !p.observers.empty();
    })) << "the mode change did not complete with voters 4,5,6";
    cluster.world().Crash(io::NodeId(4));
    (void)rt.Sleep(seconds(12));  // Four promotion delays.
    absl::StatusOr<core::wire::TopicInfoT> topic = admin.DescribeTopic("t");
    ASSERT_TRUE(topic.ok()) << topic.status();
    outcome.epoch = topic->partitions.front()->epoch;
    core::client::Client old_side(rt, Bootstrap(kUninformed, "old-side"));
    outcome.old_group_acked = SendOne(rt, old_side, "old").ok();
    core::client::Client controller_side(rt, Bootstrap(kControllers, "controller-side"));
    outcome.controller_side_acked = SendOne(rt, controller_side, "new").ok();
  });
  for (uint32_t id : kControllers) {
    if (auto broker = cluster.broker(id)) outcome.promotions += broker->metrics().promotions_total;
  }
  return outcome;
}

TEST(RegimeGateSim, VotersThatMayNotKnowTheTopicIsRegionalAreNotPromotedPast) {
  const Outcome outcome = RunSchedule(/*planted=*/false);
  EXPECT_EQ(outcome.promotions, 0u);
  EXPECT_EQ(outcome.epoch, 0u) << "no second epoch";
  // One group takes every write: clients that ask the controller's side find the old voters.
  EXPECT_TRUE(outcome.old_group_acked);
  EXPECT_TRUE(outcome.controller_side_acked);
}

TEST(RegimeGateSim, WithoutTheGateTwoEpochsAcknowledgeWrites) {
  const Outcome outcome = RunSchedule(/*planted=*/true);
  EXPECT_EQ(outcome.promotions, 1u);
  EXPECT_EQ(outcome.epoch, 1u);
  // After the promotion: the uninformed old voters, without a lease, and the promoted
  // observer's epoch both acknowledge a write.
  EXPECT_TRUE(outcome.old_group_acked);
  EXPECT_TRUE(outcome.controller_side_acked);
}

}  // namespace
}  // namespace meridian
