// core/replica's fail-stop on the simulator: when its disk fails, a replica stops, and a
// proposer waiting for its entry to apply hears the failure at once, not at its deadline (the
// broker's request fibers hold memory and quota while they wait).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "core/replica/replica.h"
#include "sim/sim_disk.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

core::replica::ReplicaOptions SingleVoter() {
  core::replica::ReplicaOptions options;
  options.raft.id = SimNode::kNode;
  options.raft.bootstrap.voters.insert(SimNode::kNode);
  return options;
}

// A single-voter replica, once it leads (nullptr, after a test failure, if it does not).
std::shared_ptr<core::replica::Replica> OpenLeader(io::Runtime& rt) {
  absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
      core::replica::Replica::Open(rt, SingleVoter(), nullptr);
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return nullptr;
  for (int i = 0; i < 100 && (*opened)->role() != core::raft::Role::kLeader; i++) {
    (void)rt.Sleep(milliseconds(50));
  }
  EXPECT_EQ((*opened)->role(), core::raft::Role::kLeader);
  return (*opened)->role() == core::raft::Role::kLeader ? *opened : nullptr;
}

// Proposes on its own fiber while fsyncs are slow, so the entry is in the log and its proposer
// waits for it to apply; then every disk operation fails. Returns how long the proposer took to
// hear about it, or nullopt if the entry applied before the fault (try again).
std::optional<io::Duration> FailWhileWaiting(io::Runtime& rt, SimNode& node,
                                             core::replica::Replica& replica) {
  node.disk().set_rates(
      sim::DiskFaultRates{.slow_fsync_ppm = 1'000'000, .slow_fsync_max = seconds(2)});
  auto outcome = std::make_shared<std::optional<absl::StatusOr<core::raft::Index>>>();
  rt.Spawn("proposer", [&replica, &rt, outcome] {
    *outcome = replica.ProposeAndWait("during", rt.Now() + seconds(60));
  });
  (void)rt.Sleep(milliseconds(20));
  if (outcome->has_value()) return std::nullopt;
  node.disk().set_rates(sim::DiskFaultRates{.io_error_ppm = 1'000'000});
  const io::Instant failed_at = rt.Now();
  while (!outcome->has_value() && rt.Now() - failed_at < seconds(60)) {
    (void)rt.Sleep(milliseconds(10));
  }
  EXPECT_TRUE(outcome->has_value() && !(*outcome)->ok()) << "the proposal did not fail";
  EXPECT_FALSE(replica.failure().ok()) << "the disk failed but the replica did not stop";
  return rt.Now() - failed_at;
}

TEST(ReplicaFailStop, AProposerWaitingToApplyHearsADiskFailureAtOnce) {
  SimNode node(20261202);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::shared_ptr<core::replica::Replica> opened = OpenLeader(rt);
    ASSERT_NE(opened, nullptr);
    core::replica::Replica& replica = *opened;
    ASSERT_TRUE(replica.ProposeAndWait("before", rt.Now() + seconds(5)).ok());
    std::optional<io::Duration> heard;
    for (int attempt = 0; attempt < 20 && !heard.has_value(); attempt++) {
      heard = FailWhileWaiting(rt, node, replica);
    }
    ASSERT_TRUE(heard.has_value()) << "every entry applied before the fault: nothing was tested";
    EXPECT_LT(*heard, seconds(3)) << "the proposer waited "
                                  << absl::FormatDuration(absl::FromChrono(*heard))
                                  << " for a replica that had stopped";
    node.disk().set_rates({});
    replica.Shutdown();
  }));
}

// Shutdown wakes a proposer waiting for its entry at once, as a fail-stop does (the broker stops
// the replicas it no longer hosts while request fibers may wait on them); it does not wait for
// the driver's slow fsync and the apply after it.
TEST(ReplicaFailStop, AProposerWaitingToApplyHearsAShutdownAtOnce) {
  SimNode node(20261205);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::shared_ptr<core::replica::Replica> opened = OpenLeader(rt);
    ASSERT_NE(opened, nullptr);
    core::replica::Replica& replica = *opened;
    node.disk().set_rates(
        sim::DiskFaultRates{.slow_fsync_ppm = 1'000'000, .slow_fsync_max = seconds(2)});
    auto outcome = std::make_shared<std::optional<absl::StatusOr<core::raft::Index>>>();
    for (int attempt = 0; attempt < 20; attempt++) {
      outcome->reset();
      rt.Spawn("proposer", [&replica, &rt, outcome] {
        *outcome = replica.ProposeAndWait("during", rt.Now() + seconds(60));
      });
      (void)rt.Sleep(milliseconds(20));
      if (!outcome->has_value()) break;  // Waiting behind a slow fsync: shut down now.
    }
    ASSERT_FALSE(outcome->has_value()) << "every entry applied within 20 ms: nothing was tested";
    replica.Shutdown();
    const io::Instant stopped_at = rt.Now();
    while (!outcome->has_value() && rt.Now() - stopped_at < seconds(60)) {
      (void)rt.Sleep(milliseconds(1));
    }
    ASSERT_TRUE(outcome->has_value());
    EXPECT_TRUE(absl::IsCancelled((*outcome)->status())) << (*outcome)->status();
    EXPECT_LT(rt.Now() - stopped_at, milliseconds(10))
        << "the proposer waited for a replica that had shut down";
    node.disk().set_rates({});
  }));
}

// A configuration change is compare-and-set on the configuration it was chosen from: once
// another configuration is in force, a change chosen from the old one is refused, not applied
// to the new one (two removals where one was meant; core/replica/README.md).
TEST(ReplicaConfChange, AChangeChosenFromAConfigurationNoLongerInForceIsRefused) {
  SimNode node(20261206);
  // Node 2 exists (the learner's appends have somewhere to go) but never starts.
  node.world().AddNode(io::NodeId(2), "host2", [](io::Runtime&) {});
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::shared_ptr<core::replica::Replica> opened = OpenLeader(rt);
    ASSERT_NE(opened, nullptr);
    core::replica::Replica& replica = *opened;
    const core::raft::Index bootstrap = replica.membership_index();
    const core::raft::ConfChange add{core::raft::ConfChangeKind::kAddLearner, io::NodeId(2)};
    ASSERT_TRUE(replica.ProposeConfChange(add, bootstrap, rt.Now() + seconds(1)).ok());
    for (int i = 0;
         i < 100 && !(replica.membership_index() > bootstrap && replica.membership_committed());
         i++) {
      (void)rt.Sleep(milliseconds(10));
    }
    ASSERT_TRUE(replica.membership_committed());
    // Chosen from the bootstrap configuration: valid against the one in force too (node 2 is a
    // learner there), so only the compare-and-set refuses it.
    const core::raft::ConfChange promote{core::raft::ConfChangeKind::kAddVoter, io::NodeId(2)};
    absl::StatusOr<core::raft::Index> stale =
        replica.ProposeConfChange(promote, bootstrap, rt.Now() + seconds(1));
    EXPECT_TRUE(absl::IsAborted(stale.status())) << stale.status();
    EXPECT_FALSE(replica.membership().IsVoter(io::NodeId(2)));
    replica.Shutdown();
  }));
}

// acks=leader's wait (WaitFor::kLeaderDurable): the index comes back once the entry is durable in
// the leader's own log, before or after it commits; in order, one after the other.
TEST(ReplicaLeaderDurable, AProposalReturnsItsIndexOnceDurableOnTheLeader) {
  SimNode node(20261204);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::shared_ptr<core::replica::Replica> opened = OpenLeader(rt);
    ASSERT_NE(opened, nullptr);
    core::replica::Replica& replica = *opened;
    core::raft::Index previous;
    for (int i = 0; i < 3; i++) {
      absl::StatusOr<core::raft::Index> index = replica.ProposeAndWait(
          "leader-durable", rt.Now() + seconds(5), core::replica::WaitFor::kLeaderDurable);
      ASSERT_TRUE(index.ok()) << index.status();
      EXPECT_GT(*index, previous);
      previous = *index;
    }
    replica.Shutdown();
  }));
}

}  // namespace
}  // namespace meridian::tests::log
