#include "node/readiness.h"

#include <gtest/gtest.h>

namespace meridian::node {
namespace {

using core::broker::PartitionStatus;

PartitionStatus Replica(std::string topic, uint32_t leader, uint64_t heard, uint64_t applied) {
  PartitionStatus status;
  status.topic = std::move(topic);
  status.leader = leader;
  status.health.leader_commit_heard = core::raft::Index(heard);
  status.applied_index = applied;
  return status;
}

ReadinessInput Ready() {
  ReadinessInput input;
  input.broker_started = true;
  input.registered = true;
  input.replicas = {Replica("", 1, 10, 10), Replica("orders", 2, 500, 400)};
  return input;
}

TEST(ReadinessTest, ACaughtUpRegisteredNodeIsReady) { EXPECT_TRUE(CheckReady(Ready(), 100).ok()); }

TEST(ReadinessTest, NotStartedOrNotRegisteredIsNotReady) {
  ReadinessInput input = Ready();
  input.broker_started = false;
  EXPECT_EQ(CheckReady(input, 100).message(), "the broker has not started yet");
  input = Ready();
  input.registered = false;
  EXPECT_EQ(CheckReady(input, 100).message(), "not registered with the controller yet");
}

TEST(ReadinessTest, AReplicaWithoutALeaderMakesTheNodeNotReady) {
  ReadinessInput input = Ready();
  input.replicas[1].leader = 0;
  const absl::Status status = CheckReady(input, 100);
  EXPECT_TRUE(absl::IsUnavailable(status));
  EXPECT_EQ(status.message(), "partition orders/0 has no known leader");
  input = Ready();
  input.replicas[0].leader = 0;
  EXPECT_EQ(CheckReady(input, 100).message(), "the metadata group has no known leader");
}

TEST(ReadinessTest, AReplicaLaggingPastTheBoundMakesTheNodeNotReady) {
  ReadinessInput input = Ready();
  EXPECT_EQ(ReplicationLagEntries(input.replicas[1]), 100u);
  EXPECT_TRUE(CheckReady(input, 100).ok());  // At the bound: ready.
  const absl::Status status = CheckReady(input, 99);
  EXPECT_EQ(status.message(), "partition orders/0 lags its leader by 100 entries (at most 99)");
}

TEST(ReadinessTest, AppliedPastWhatWasHeardIsNoLag) {
  EXPECT_EQ(ReplicationLagEntries(Replica("t", 1, 5, 9)), 0u);
}

}  // namespace
}  // namespace meridian::node
