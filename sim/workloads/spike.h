// The spike-10x scenario of the broker workload (issue 13 item 3): geo-3x3 (a strong topic, so a
// produce takes a cross-region round trip, ~100 ms: a node's capacity is reached with few
// requests, which keeps a minute of overload affordable to simulate), two producer nodes, no
// faults; after a steady phase the producers are joined by nine times as many again (each
// its own client, connection and client id) for a minute — ten times the steady offered rate —
// and then drop back. The servers run with small, honest bounds (SpikeLimits) so the spike
// must be shed, not buffered. Judged like every broker run (the log checker: nothing
// acknowledged lost) plus the memory invariant: no node's buffered bytes ever passed its bound.
// Reported: the fraction of produce requests shed, admitted produce p50/p99 at the nodes, and
// the drain time (spike end until every send invoked before it has its answer).
#pragma once

#include <memory>
#include <vector>

#include "checks/history.h"
#include "core/broker/broker.h"
#include "sim/simulation.h"

namespace meridian::sim {

inline constexpr char kSpikeScenario[] = "spike-10x";
inline constexpr int kSpikeFactor = 10;
// Virtual time: the steady phase (topic creation included), the spike, the steady tail.
inline constexpr io::Duration kSpikeStart = std::chrono::seconds(20);
inline constexpr io::Duration kSpikeLength = std::chrono::seconds(60);
inline constexpr io::Duration kSpikeTail = std::chrono::seconds(20);
// The consumers' fetch size in this scenario: a fetch reserves twice this at the node.
inline constexpr uint32_t kSpikeFetchBytesMax = 4 << 10;

inline bool IsSpikeScenario(const std::string& scenario) { return scenario == kSpikeScenario; }

// The node bounds the scenario runs with: small enough that the spike reaches them.
core::broker::BrokerLimits SpikeLimits();

// Every Broker the run started (each incarnation), so their metrics can be read at the end.
class BrokerRegistry {
 public:
  void Add(std::shared_ptr<core::broker::Broker> broker) { brokers_.push_back(broker); }
  const std::vector<std::weak_ptr<core::broker::Broker>>& brokers() const { return brokers_; }
  // Reads every live broker's metrics into the running totals (call before a restart too).
  void Sample();

  struct Totals {
    uint64_t buffered_bytes_peak = 0;  // The most any one node buffered.
    uint64_t buffered_bytes_max = 0;
    uint32_t node_over_bound = 0;  // A node whose peak passed its bound (0: none).
    uint64_t produce_requests = 0;
    uint64_t shed = 0;
    uint64_t throttled = 0;
    core::metrics::Histogram produce_latency_ns = core::metrics::LatencyHistogram();
  };
  const Totals& totals() const { return totals_; }

 private:
  std::vector<std::weak_ptr<core::broker::Broker>> brokers_;
  std::vector<bool> sampled_;
  Totals totals_;
};

// Fills result.spike and adds the memory violation, if any.
void MeasureSpike(const BrokerRegistry& registry, const checks::History& history,
                  SimulationResult& result);

}  // namespace meridian::sim
