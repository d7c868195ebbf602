// The raft workload's real-time check of lease reads (sim/raft_history.h), on histories written
// by hand: it must catch a read that misses a write acknowledged before the read began, take
// the highest index of all those writes (not the last acknowledged), and let concurrent or
// failed operations be. The whole stack reaches a stale read only on rare seeds of a planted
// lease bug (raft_cluster_test RaftClusterLeaseReads.EachCheckFires), so this is where the
// check is shown to work.
#include "sim/raft_history.h"

#include <gtest/gtest.h>

namespace meridian::sim {
namespace {

using Outcome = RaftClientOp::Outcome;

io::Instant At(int64_t ms) { return io::Instant::FromNanos(ms * 1'000'000); }

RaftClientOp Write(std::string value, int64_t invoked, int64_t completed, uint64_t index,
                   Outcome outcome = Outcome::kOk) {
  return {std::move(value), outcome, At(invoked), At(completed), index};
}

RaftClientOp Read(int64_t invoked, int64_t completed, uint64_t index,
                  Outcome outcome = Outcome::kOk) {
  return {"", outcome, At(invoked), At(completed), index};
}

TEST(StaleLeaseReadCheck, CatchesAReadBelowAWriteAcknowledgedBeforeItBegan) {
  const std::optional<std::string> stale =
      FindStaleLeaseRead({Write("x", 0, 10, 5), Read(11, 12, 4)});
  ASSERT_TRUE(stale.has_value());
  EXPECT_NE(stale->find("stale-lease-read: a read invoked at"), std::string::npos) << *stale;
  EXPECT_NE(stale->find("returned index 4, below 5 (value x)"), std::string::npos) << *stale;
}

TEST(StaleLeaseReadCheck, PassesAReadThatCoversEveryEarlierWrite) {
  EXPECT_EQ(FindStaleLeaseRead({Write("x", 0, 10, 5), Read(11, 12, 5)}), std::nullopt);
  EXPECT_EQ(FindStaleLeaseRead({Write("x", 0, 10, 5), Read(11, 12, 9)}), std::nullopt);
}

TEST(StaleLeaseReadCheck, LetsAReadConcurrentWithAWriteMissIt) {
  // Invoked before the write was acknowledged: linearizable either way.
  EXPECT_EQ(FindStaleLeaseRead({Write("x", 0, 10, 5), Read(9, 12, 4)}), std::nullopt);
  EXPECT_EQ(FindStaleLeaseRead({Write("x", 0, 10, 5), Read(10, 12, 4)}), std::nullopt);
}

TEST(StaleLeaseReadCheck, TakesTheHighestIndexAmongEarlierWritesNotTheLastAcknowledged) {
  // y (index 7) is acknowledged before x (index 6): a read after both must cover 7.
  const std::optional<std::string> stale =
      FindStaleLeaseRead({Write("y", 0, 5, 7), Write("x", 1, 8, 6), Read(9, 10, 6)});
  ASSERT_TRUE(stale.has_value());
  EXPECT_NE(stale->find("below 7 (value y)"), std::string::npos) << *stale;
}

TEST(StaleLeaseReadCheck, IgnoresWritesAndReadsThatDidNotSucceed) {
  // A failed or indeterminate write was not acknowledged; a failed read returned nothing.
  EXPECT_EQ(FindStaleLeaseRead({Write("x", 0, 10, 5, Outcome::kFail), Read(11, 12, 4)}),
            std::nullopt);
  EXPECT_EQ(FindStaleLeaseRead({Write("x", 0, 10, 5, Outcome::kInfo), Read(11, 12, 4)}),
            std::nullopt);
  EXPECT_EQ(FindStaleLeaseRead({Write("x", 0, 10, 5), Read(11, 12, 0, Outcome::kFail)}),
            std::nullopt);
}

TEST(StaleLeaseReadCheck, FindsTheStaleReadAmongManyGoodOnes) {
  std::vector<RaftClientOp> ops;
  for (uint64_t i = 1; i <= 100; i++) {
    const int64_t t = static_cast<int64_t>(i) * 10;
    ops.push_back(Write("w" + std::to_string(i), t, t + 5, i));
    ops.push_back(Read(t + 6, t + 7, i));
  }
  EXPECT_EQ(FindStaleLeaseRead(ops), std::nullopt);
  ops[121].index = 60;  // The read after w61 (index 61) served at 60.
  const std::optional<std::string> stale = FindStaleLeaseRead(ops);
  ASSERT_TRUE(stale.has_value());
  EXPECT_NE(stale->find("returned index 60, below 61 (value w61)"), std::string::npos) << *stale;
}

}  // namespace
}  // namespace meridian::sim
