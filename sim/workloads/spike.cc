#include "sim/workloads/spike.h"

#include <fmt/format.h>

#include <algorithm>

namespace meridian::sim {

core::broker::BrokerLimits SpikeLimits() {
  core::broker::BrokerLimits limits;
  // Every produce reserves ~4.2 KiB (its copy, its batch, 4 KiB for the answer) and a fetch
  // ~12 KiB (kSpikeFetchBytesMax twice, plus the answer): the steady phase's handful of produces
  // and fetches per leader fit; the spike's twenty producers' batches do not.
  limits.buffered_bytes_max = 48 << 10;
  limits.partition_pending_bytes_max = 16 << 10;
  limits.connections_max = 256;
  limits.fetches_in_flight_max = 64;
  limits.shed_retry_after = std::chrono::milliseconds(100);
  return limits;
}

void BrokerRegistry::Sample() {
  sampled_.resize(brokers_.size(), false);
  for (size_t i = 0; i < brokers_.size(); i++) {
    std::shared_ptr<core::broker::Broker> broker = brokers_[i].lock();
    if (broker == nullptr || sampled_[i]) continue;
    const core::broker::BrokerMetrics& m = broker->metrics();
    totals_.buffered_bytes_peak = std::max(totals_.buffered_bytes_peak, m.buffered_bytes_peak);
    totals_.buffered_bytes_max = std::max(totals_.buffered_bytes_max, m.buffered_bytes_max);
    if (m.buffered_bytes_peak > m.buffered_bytes_max && totals_.node_over_bound == 0) {
      totals_.node_over_bound = broker->node_id();
    }
    totals_.produce_requests += m.produce_requests_total + m.shed_total + m.throttled_total;
    totals_.shed += m.shed_total;
    totals_.throttled += m.throttled_total;
    totals_.produce_latency_ns.Merge(m.produce_latency_ns);
    sampled_[i] = true;  // Counted once: the next sample sees only later incarnations.
  }
}

namespace {

// The upper bound (ms) of the histogram bucket holding quantile q.
double QuantileMs(const core::metrics::Histogram& histogram, double q) {
  if (histogram.count() == 0) return 0;
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(histogram.count()));
  for (size_t b = 0; b < histogram.bucket_count(); b++) {
    if (histogram.cumulative_count(b) > rank) {
      return static_cast<double>(histogram.upper_bound(b)) / 1e6;
    }
  }
  return static_cast<double>(histogram.upper_bound(histogram.bucket_count() - 1)) / 1e6;
}

}  // namespace

void MeasureSpike(const BrokerRegistry& registry, const checks::History& history,
                  SimulationResult& result) {
  const BrokerRegistry::Totals& totals = registry.totals();
  SpikeReport report;
  report.buffered_bytes_peak = totals.buffered_bytes_peak;
  report.buffered_bytes_max = totals.buffered_bytes_max;
  report.produce_requests = totals.produce_requests;
  report.shed = totals.shed + totals.throttled;
  report.shed_fraction =
      totals.produce_requests == 0
          ? 0
          : static_cast<double>(report.shed) / static_cast<double>(totals.produce_requests);
  report.admitted_p50_ms = QuantileMs(totals.produce_latency_ns, 0.5);
  report.admitted_p99_ms = QuantileMs(totals.produce_latency_ns, 0.99);
  // Drain: from the spike's end until every send invoked before it has its answer.
  const int64_t spike_end = (kSpikeStart + kSpikeLength).count();
  int64_t last = spike_end;
  for (const checks::Operation& op : history.operations) {
    if (op.f != checks::Function::kSend || op.invoke_ns > spike_end) continue;
    if (op.outcome == checks::Outcome::kOk || op.outcome == checks::Outcome::kFail) {
      last = std::max(last, op.complete_ns);
    }
  }
  report.drain_s = static_cast<double>(last - spike_end) / 1e9;
  if (totals.node_over_bound != 0) {
    result.violations.push_back(
        fmt::format("memory bound: node {} buffered {} bytes, over its bound of {}",
                    totals.node_over_bound, totals.buffered_bytes_peak, totals.buffered_bytes_max));
  }
  if (totals.produce_requests == 0) result.violations.push_back("spike-10x: no produce request");
  result.spike = report;
}

}  // namespace meridian::sim
