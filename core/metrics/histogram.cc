#include "core/metrics/histogram.h"

#include <algorithm>
#include <limits>

#include "io/assert.h"

namespace meridian::core::metrics {

Histogram::Histogram(std::span<const int64_t> upper_bounds) {
  MERIDIAN_CHECK(!upper_bounds.empty(), "a histogram needs at least one bound");
  MERIDIAN_CHECK(upper_bounds.size() <= kBucketsMax, "{} bounds", upper_bounds.size());
  for (size_t i = 1; i < upper_bounds.size(); i++) {
    MERIDIAN_CHECK(upper_bounds[i - 1] < upper_bounds[i], "bounds must strictly increase");
  }
  std::copy(upper_bounds.begin(), upper_bounds.end(), bounds_.begin());
  bounds_count_ = upper_bounds.size();
}

void Histogram::Observe(int64_t value) {
  // The first bucket whose bound is >= value; past the last bound, +Inf.
  const int64_t* begin = bounds_.data();
  const size_t bucket =
      static_cast<size_t>(std::lower_bound(begin, begin + bounds_count_, value) - begin);
  MERIDIAN_CHECK(bucket <= bounds_count_);
  if (bucket < bounds_count_) MERIDIAN_CHECK(value <= bounds_[bucket]);
  counts_[bucket]++;
  count_++;
  if (value > 0 && sum_ > std::numeric_limits<int64_t>::max() - value) {
    sum_ = std::numeric_limits<int64_t>::max();
  } else {
    sum_ += value;
  }
}

void Histogram::Merge(const Histogram& other) {
  MERIDIAN_CHECK(SameBounds(other), "merging histograms with different bounds");
  for (size_t i = 0; i <= bounds_count_; i++) counts_[i] += other.counts_[i];
  count_ += other.count_;
  if (other.sum_ > 0 && sum_ > std::numeric_limits<int64_t>::max() - other.sum_) {
    sum_ = std::numeric_limits<int64_t>::max();
  } else {
    sum_ += other.sum_;
  }
}

int64_t Histogram::upper_bound(size_t bucket) const {
  MERIDIAN_CHECK(bucket < bounds_count_, "bucket {} of {}", bucket, bounds_count_);
  return bounds_[bucket];
}

uint64_t Histogram::cumulative_count(size_t bucket) const {
  MERIDIAN_CHECK(bucket < bounds_count_, "bucket {} of {}", bucket, bounds_count_);
  uint64_t total = 0;
  for (size_t i = 0; i <= bucket; i++) total += counts_[i];
  MERIDIAN_CHECK(total <= count_);
  return total;
}

bool Histogram::SameBounds(const Histogram& other) const {
  return bounds_count_ == other.bounds_count_ &&
         std::equal(bounds_.begin(), bounds_.begin() + bounds_count_, other.bounds_.begin());
}

Histogram LatencyHistogram() { return Histogram(kLatencyBucketsNs); }

}  // namespace meridian::core::metrics
