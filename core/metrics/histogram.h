// core::metrics::Histogram: a fixed-bucket histogram of integer observations (durations in
// nanoseconds, sizes in bytes), for Prometheus-style metrics from core/ code.
//
// What it is for: latency distributions (request handling, fsync) that the node exports as
// Prometheus histograms and that PromQL turns into quantiles. Deterministic: integer counts and
// sums only, bounds fixed at construction, no allocation, so it can live inside core/ metric
// structs that the simulator copies, and two histograms over the same inputs are equal.
//
// What stays true: the bounds are strictly increasing and at most kBucketsMax; bucket i counts
// the observations v with bound[i-1] < v <= bound[i] (Prometheus' `le`), and one more bucket
// counts those above the last bound (`+Inf`); count() is the sum of every bucket; sum()
// saturates at INT64_MAX instead of wrapping. Single-fiber use, like every core/ metric struct.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace meridian::core::metrics {

class Histogram {
 public:
  static constexpr size_t kBucketsMax = 32;

  // `upper_bounds` must be strictly increasing and hold 1..kBucketsMax values (checked).
  explicit Histogram(std::span<const int64_t> upper_bounds);

  void Observe(int64_t value);
  // Adds `other`'s observations; it must have the same bounds (checked).
  void Merge(const Histogram& other);

  size_t bucket_count() const { return bounds_count_; }  // Not counting +Inf.
  int64_t upper_bound(size_t bucket) const;
  // Observations <= upper_bound(bucket) (Prometheus' cumulative `le` bucket).
  uint64_t cumulative_count(size_t bucket) const;
  uint64_t count() const { return count_; }
  int64_t sum() const { return sum_; }
  bool SameBounds(const Histogram& other) const;

  friend bool operator==(const Histogram&, const Histogram&) = default;

 private:
  std::array<int64_t, kBucketsMax> bounds_{};
  size_t bounds_count_ = 0;
  std::array<uint64_t, kBucketsMax + 1> counts_{};  // Per bucket, not cumulative; last: +Inf.
  uint64_t count_ = 0;
  int64_t sum_ = 0;
};

// Latency buckets in nanoseconds, 50 us to 10 s, for request and fsync latencies (exported in
// seconds). Fixed, so every node's histograms aggregate.
inline constexpr std::array<int64_t, 16> kLatencyBucketsNs = {
    50'000,      100'000,      250'000,       500'000,       1'000'000,   2'500'000,
    5'000'000,   10'000'000,   25'000'000,    50'000'000,    100'000'000, 250'000'000,
    500'000'000, 1000'000'000, 2'500'000'000, 10'000'000'000};
static_assert(kLatencyBucketsNs.size() <= Histogram::kBucketsMax);

// A histogram over kLatencyBucketsNs.
Histogram LatencyHistogram();

}  // namespace meridian::core::metrics
