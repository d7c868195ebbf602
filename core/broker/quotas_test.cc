#include "core/broker/quotas.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <vector>

namespace meridian::core::broker {
namespace {

io::Instant At(int64_t ns) { return io::Instant::FromNanos(ns); }

// One step of a taker: wait `gap_ns`, then try to take `amount` (or charge it as debt).
struct Step {
  int64_t gap_ns;
  uint64_t amount;
  bool charge;
};

// The property of a token bucket: over any sequence of takes, what it admitted never exceeds
// rate * elapsed + burst (plus, for charges taken as debt, what those charged).
RC_GTEST_PROP(TokenBucketProperty, NeverAdmitsMoreThanRateTimesElapsedPlusBurst, ()) {
  const uint64_t rate = *rc::gen::inRange<uint64_t>(1, 5'000'000);
  const uint64_t burst = *rc::gen::inRange<uint64_t>(1, 2'000'000);
  const auto steps = *rc::gen::container<std::vector<Step>>(rc::gen::build<Step>(
      rc::gen::set(&Step::gap_ns, rc::gen::inRange<int64_t>(0, 50'000'000)),
      rc::gen::set(&Step::amount, rc::gen::inRange<uint64_t>(0, burst + 1)),
      rc::gen::set(&Step::charge, rc::gen::weightedElement<bool>({{9, false}, {1, true}}))));
  TokenBucket bucket(rate, burst, At(0));
  int64_t now = 0;
  __int128 taken = 0;
  __int128 charged = 0;
  for (const Step& step : steps) {
    now += step.gap_ns;
    if (step.charge) {
      bucket.Charge(At(now), step.amount);
      charged += step.amount;
      continue;
    }
    const io::Duration wait = bucket.WaitFor(At(now), step.amount);
    const bool took = bucket.TryTake(At(now), step.amount);
    RC_ASSERT(took == (wait.count() == 0));
    if (took) taken += step.amount;
    // In nanotokens: taken * 1e9 <= rate * elapsed_ns + burst * 1e9 (+ charges).
    RC_ASSERT((taken + charged) * 1'000'000'000 <=
              static_cast<__int128>(rate) * now +
                  (static_cast<__int128>(burst) + charged) * 1'000'000'000);
  }
}

// Liveness: the wait a bucket names is enough (no taker waits forever or is told too little).
RC_GTEST_PROP(TokenBucketProperty, TheNamedWaitIsEnough, ()) {
  const uint64_t rate = *rc::gen::inRange<uint64_t>(1, 5'000'000);
  const uint64_t burst = *rc::gen::inRange<uint64_t>(1, 2'000'000);
  const uint64_t amount = *rc::gen::inRange<uint64_t>(1, burst + 1);
  const int64_t start = *rc::gen::inRange<int64_t>(0, 1'000'000'000);
  TokenBucket bucket(rate, burst, At(0));
  bucket.Charge(At(start), burst);  // Empty it.
  const io::Duration wait = bucket.WaitFor(At(start), amount);
  RC_ASSERT(wait.count() > 0);
  RC_ASSERT(bucket.TryTake(At(start + wait.count()), amount));
}

TEST(TokenBucket, RefusesPastTheBurstAndRefillsAtTheRate) {
  TokenBucket bucket(/*rate_per_s=*/10, /*burst=*/10, At(0));
  EXPECT_TRUE(bucket.TryTake(At(0), 10));
  EXPECT_FALSE(bucket.TryTake(At(0), 1));
  EXPECT_EQ(bucket.WaitFor(At(0), 1), std::chrono::milliseconds(100));
  EXPECT_TRUE(bucket.TryTake(At(100'000'000), 1));
  // A long idle period saves up at most the burst.
  EXPECT_TRUE(bucket.TryTake(At(1'000'000'000'000), 10));
  EXPECT_FALSE(bucket.TryTake(At(1'000'000'000'000), 1));
}

TEST(TokenBucket, DebtIsWaitedOut) {
  TokenBucket bucket(/*rate_per_s=*/1000, /*burst=*/1000, At(0));
  bucket.Charge(At(0), 3000);  // 2000 in debt.
  EXPECT_EQ(bucket.WaitFor(At(0), 1), std::chrono::nanoseconds(2'001'000'000));
}

Quotas::Charged Client(std::string_view name, QuotaLimits limits) {
  return {QuotaSubject::kClient, name, limits};
}
Quotas::Charged Topic(std::string_view name, QuotaLimits limits) {
  return {QuotaSubject::kTopic, name, limits};
}

TEST(Quotas, UnlimitedSubjectsKeepNoBucket) {
  Quotas quotas;
  EXPECT_EQ(quotas.Admit(At(0), Client("c", {}), Topic("t", {}), 100).count(), 0);
  EXPECT_EQ(quotas.buckets(), 0u);
}

TEST(Quotas, ARefusalTakesNothingFromTheOtherSubject) {
  Quotas quotas;
  const QuotaLimits two_a_second{.requests_per_s = 2};
  const QuotaLimits one_a_second{.requests_per_s = 1};
  EXPECT_EQ(quotas.Admit(At(0), Client("c", two_a_second), Topic("t", one_a_second), 0).count(), 0);
  // The topic refuses: the client's second token must still be there for another topic.
  EXPECT_GT(quotas.Admit(At(0), Client("c", two_a_second), Topic("t", one_a_second), 0).count(), 0);
  EXPECT_EQ(quotas.Admit(At(0), Client("c", two_a_second), Topic("u", {}), 0).count(), 0);
  EXPECT_GT(quotas.Admit(At(0), Client("c", two_a_second), Topic("u", {}), 0).count(), 0);
}

TEST(Quotas, NewLimitsStartAFreshBucket) {
  Quotas quotas;
  const QuotaLimits slow{.requests_per_s = 1};
  EXPECT_EQ(quotas.Admit(At(0), Client("c", slow), Topic("t", {}), 0).count(), 0);
  EXPECT_GT(quotas.Admit(At(0), Client("c", slow), Topic("t", {}), 0).count(), 0);
  const QuotaLimits fast{.requests_per_s = 100};
  EXPECT_EQ(quotas.Admit(At(0), Client("c", fast), Topic("t", {}), 0).count(), 0);
}

TEST(Quotas, BucketsAreBounded) {
  Quotas quotas;
  const QuotaLimits limits{.requests_per_s = 1};
  for (size_t i = 0; i < Quotas::kBucketsMax + 10; i++) {
    (void)quotas.Admit(At(static_cast<int64_t>(i)), Client(std::to_string(i), limits),
                       Topic("t", {}), 0);
  }
  EXPECT_EQ(quotas.buckets(), Quotas::kBucketsMax);
}

TEST(MemoryBudget, RefusesPastTheBoundAndTracksThePeak) {
  MemoryBudget budget(100, /*enforce=*/true);
  EXPECT_TRUE(budget.TryReserve(60));
  EXPECT_FALSE(budget.TryReserve(41));
  EXPECT_TRUE(budget.TryReserve(40));
  budget.Release(100);
  EXPECT_EQ(budget.used(), 0u);
  EXPECT_EQ(budget.peak(), 100u);
  EXPECT_FALSE(budget.TryReserve(101));
}

// The planted bug memory-bound-ignored: reservations pass the bound, which only the peak shows
// (the simulator's spike-10x scenario judges the peak against the bound).
TEST(MemoryBudget, UnenforcedBudgetGoesPastTheBound) {
  MemoryBudget budget(100, /*enforce=*/false);
  EXPECT_TRUE(budget.TryReserve(150));
  EXPECT_GT(budget.peak(), budget.bytes_max());
}

}  // namespace
}  // namespace meridian::core::broker
