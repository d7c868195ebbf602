// ExcusePromotedLoss, the broker workload's excuse for acknowledged records a regional
// promotion discarded. Each case is one rule of the excuse; loosen any rule (the topic filter,
// the offset bound, the time bound, the per-epoch max) and a case here fails.
#include "sim/workloads/promotion_loss.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace meridian::sim {
namespace {

using core::broker::PromotionEvent;
using Events = std::vector<std::pair<int64_t, PromotionEvent>>;

constexpr int64_t kProposedNs = 1'000;

PromotionEvent Proposed(const char* topic, uint32_t partition, uint32_t epoch, int64_t offset) {
  return PromotionEvent{.kind = PromotionEvent::Kind::kProposed,
                        .topic = topic,
                        .partition = partition,
                        .epoch = epoch,
                        .promoted_offset = offset};
}

PromotionEvent Discarded(uint32_t partition, uint32_t epoch, uint64_t records) {
  return PromotionEvent{.kind = PromotionEvent::Kind::kDiscarded,
                        .topic = "events",
                        .partition = partition,
                        .epoch = epoch,
                        .records = records};
}

checks::Operation AckedSend(int64_t partition, int64_t offset, int64_t complete_ns) {
  checks::Operation op;
  op.f = checks::Function::kSend;
  op.outcome = checks::Outcome::kOk;
  op.partition = partition;
  op.values = {offset + 100};
  op.offsets = {offset};
  op.complete_ns = complete_ns;
  return op;
}

// events/0 promoted at offset 10 (epoch 2), proposed at kProposedNs.
const Events kEventsPartition0 = {{kProposedNs, Proposed("events", 0, 2, 10)}};

TEST(PromotionLoss, ASendAcknowledgedBeforeTheProposalPastThePromotedOffsetIsExcused) {
  checks::History history;
  history.operations = {AckedSend(0, 10, kProposedNs - 1), AckedSend(0, 12, kProposedNs - 1)};
  const PromotionLoss loss = ExcusePromotedLoss("events", kEventsPartition0, history);
  for (const checks::Operation& op : history.operations) {
    EXPECT_EQ(op.outcome, checks::Outcome::kInfo);
    EXPECT_TRUE(op.offsets.empty());
  }
  EXPECT_EQ(loss.acked_lost.at(0), 2u);
  EXPECT_EQ(loss.promotions, 1u);
}

// A proposal the controller abandoned (it certainly did not take effect) excuses nothing; a
// later proposal of the same epoch at another offset still does.
TEST(PromotionLoss, AnAbandonedProposalExcusesNothing) {
  PromotionEvent abandoned = Proposed("events", 0, 2, 10);
  abandoned.kind = PromotionEvent::Kind::kAbandoned;
  checks::History history;
  history.operations = {AckedSend(0, 12, kProposedNs - 1), AckedSend(0, 20, kProposedNs + 5)};
  const Events events = {{kProposedNs, Proposed("events", 0, 2, 10)},
                         {kProposedNs + 1, abandoned},
                         {kProposedNs + 10, Proposed("events", 0, 2, 18)}};
  const PromotionLoss loss = ExcusePromotedLoss("events", events, history);
  EXPECT_EQ(history.operations[0].outcome, checks::Outcome::kOk) << "offset 12 < 18";
  EXPECT_EQ(history.operations[1].outcome, checks::Outcome::kInfo) << "20 >= 18, acked before";
  EXPECT_EQ(loss.acked_lost.at(0), 1u);
}

TEST(PromotionLoss, NothingBelowThePromotedOffsetIsExcused) {
  checks::History history;
  history.operations = {AckedSend(0, 9, kProposedNs - 1)};
  const PromotionLoss loss = ExcusePromotedLoss("events", kEventsPartition0, history);
  EXPECT_EQ(history.operations[0].outcome, checks::Outcome::kOk);
  EXPECT_TRUE(loss.acked_lost.empty());
}

// Fencing must stop the old epoch once the promotion is proposed: what it acknowledged after
// (or at) the proposal stays acknowledged, for the checker to judge.
TEST(PromotionLoss, NothingAcknowledgedAtOrAfterTheProposalIsExcused) {
  checks::History history;
  history.operations = {AckedSend(0, 11, kProposedNs), AckedSend(0, 12, kProposedNs + 5)};
  const PromotionLoss loss = ExcusePromotedLoss("events", kEventsPartition0, history);
  for (const checks::Operation& op : history.operations) {
    EXPECT_EQ(op.outcome, checks::Outcome::kOk);
  }
  EXPECT_TRUE(loss.acked_lost.empty());
}

// Seed 40's bug: another topic's partition 0 promoted says nothing about events/0.
TEST(PromotionLoss, AnotherTopicsPromotionOfTheSamePartitionNumberExcusesNothing) {
  checks::History history;
  history.operations = {AckedSend(0, 12, kProposedNs - 1)};
  const Events offsets_topic = {{kProposedNs, Proposed("__consumer_offsets", 0, 2, 0)}};
  const PromotionLoss loss = ExcusePromotedLoss("events", offsets_topic, history);
  EXPECT_EQ(history.operations[0].outcome, checks::Outcome::kOk);
  EXPECT_TRUE(loss.acked_lost.empty());
  EXPECT_EQ(loss.promotions, 0u);
}

TEST(PromotionLoss, OtherPartitionsAreUntouched) {
  checks::History history;
  history.operations = {AckedSend(1, 12, kProposedNs - 1)};
  ExcusePromotedLoss("events", kEventsPartition0, history);
  EXPECT_EQ(history.operations[0].outcome, checks::Outcome::kOk);
}

TEST(PromotionLoss, ReadsOfDiscardedOffsetsBeforeTheProposalAreForgottenAndOnlyThose) {
  checks::History history;
  checks::Operation poll;
  poll.f = checks::Function::kPoll;
  poll.outcome = checks::Outcome::kOk;
  poll.complete_ns = kProposedNs - 1;
  poll.reads = {{.partition = 0, .offset = 9, .value = 109},
                {.partition = 0, .offset = 10, .value = 110},
                {.partition = 1, .offset = 10, .value = 210}};
  checks::Operation late = poll;
  late.complete_ns = kProposedNs + 1;
  history.operations = {poll, late};
  ExcusePromotedLoss("events", kEventsPartition0, history);
  EXPECT_EQ(history.operations[0].reads,
            (std::vector<checks::Read>{{.partition = 0, .offset = 9, .value = 109},
                                       {.partition = 1, .offset = 10, .value = 210}}));
  EXPECT_EQ(history.operations[1].reads.size(), 3u) << "a read after the proposal is judged";
}

// What the old replicas reported: the most any node of one (partition, epoch) discarded (they
// all discard the same suffix, some hold less of it), summed over epochs.
TEST(PromotionLoss, ReportedIsTheMaxPerEpochSummedOverEpochs) {
  const Events events = {{kProposedNs, Proposed("events", 0, 2, 10)},
                         {kProposedNs + 1, Discarded(0, 2, 5)},
                         {kProposedNs + 2, Discarded(0, 2, 7)},
                         {kProposedNs + 9, Proposed("events", 0, 3, 20)},
                         {kProposedNs + 10, Discarded(0, 3, 4)}};
  checks::History history;
  const PromotionLoss loss = ExcusePromotedLoss("events", events, history);
  EXPECT_EQ(loss.reported.at(0), 7u + 4u);
  EXPECT_EQ(loss.promotions, 2u);
}

}  // namespace
}  // namespace meridian::sim
