#include "core/metrics/histogram.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <limits>
#include <vector>

namespace meridian::core::metrics {
namespace {

constexpr std::array<int64_t, 3> kBounds = {10, 20, 30};

TEST(HistogramTest, AValueOnABoundCountsInThatBucket) {
  Histogram h(kBounds);
  h.Observe(10);
  h.Observe(11);
  h.Observe(30);
  h.Observe(31);  // +Inf only.
  EXPECT_EQ(h.cumulative_count(0), 1u);
  EXPECT_EQ(h.cumulative_count(1), 2u);
  EXPECT_EQ(h.cumulative_count(2), 3u);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.sum(), 10 + 11 + 30 + 31);
}

TEST(HistogramTest, NegativeAndZeroValuesGoToTheFirstBucket) {
  Histogram h(kBounds);
  h.Observe(-5);
  h.Observe(0);
  EXPECT_EQ(h.cumulative_count(0), 2u);
  EXPECT_EQ(h.sum(), -5);
}

TEST(HistogramTest, MergeAddsBucketsCountsAndSums) {
  Histogram a(kBounds);
  Histogram b(kBounds);
  a.Observe(5);
  b.Observe(25);
  b.Observe(100);
  a.Merge(b);
  EXPECT_EQ(a.cumulative_count(0), 1u);
  EXPECT_EQ(a.cumulative_count(1), 1u);
  EXPECT_EQ(a.cumulative_count(2), 2u);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.sum(), 130);
}

TEST(HistogramTest, SumSaturatesInsteadOfWrapping) {
  Histogram h(kBounds);
  h.Observe(std::numeric_limits<int64_t>::max());
  h.Observe(1);
  EXPECT_EQ(h.sum(), std::numeric_limits<int64_t>::max());
  Histogram other(kBounds);
  other.Observe(std::numeric_limits<int64_t>::max());
  h.Merge(other);
  EXPECT_EQ(h.sum(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(h.count(), 3u);
}

TEST(HistogramTest, LatencyBucketsAreSecondsScaleAndIncreasing) {
  const Histogram h = LatencyHistogram();
  ASSERT_EQ(h.bucket_count(), kLatencyBucketsNs.size());
  EXPECT_EQ(h.upper_bound(0), 50'000);                             // 50 us
  EXPECT_EQ(h.upper_bound(h.bucket_count() - 1), 10'000'000'000);  // 10 s
}

TEST(HistogramDeathTest, BoundsMustStrictlyIncrease) {
  const std::array<int64_t, 3> unordered = {10, 10, 20};
  EXPECT_DEATH(Histogram h(unordered), "strictly increase");
}

TEST(HistogramDeathTest, MergingDifferentBoundsIsAProgrammerError) {
  const std::array<int64_t, 2> other_bounds = {1, 2};
  Histogram a(kBounds);
  Histogram b(other_bounds);
  EXPECT_DEATH(a.Merge(b), "different bounds");
}

// Against a dumb reference: bucket `le` counts are the number of observations <= the bound.
RC_GTEST_PROP(HistogramProperty, CumulativeCountsMatchAReferenceCount,
              (const std::vector<int64_t>& values)) {
  Histogram h = LatencyHistogram();
  Histogram merged = LatencyHistogram();
  Histogram half = LatencyHistogram();
  int64_t sum = 0;
  for (size_t i = 0; i < values.size(); i++) {
    const int64_t v = values[i] % 20'000'000'000;  // Keep the reference sum from overflowing.
    h.Observe(v);
    (i % 2 == 0 ? merged : half).Observe(v);
    sum += v;
  }
  merged.Merge(half);
  RC_ASSERT(h == merged);
  RC_ASSERT(h.count() == values.size());
  RC_ASSERT(h.sum() == sum);
  for (size_t b = 0; b < h.bucket_count(); b++) {
    uint64_t expected = 0;
    for (int64_t value : values) expected += (value % 20'000'000'000) <= h.upper_bound(b);
    RC_ASSERT(h.cumulative_count(b) == expected);
  }
}

}  // namespace
}  // namespace meridian::core::metrics
