// What meridian-node exports at GET /metrics (docs/operations.md lists every metric) and judges
// at GET /readyz. Rendering reads the broker's counters and PartitionStatuses(), the reactor, the
// peer links and the data directory's file system; it never changes any of them.
#pragma once

#include <cstdint>
#include <string>

#include "core/broker/broker.h"
#include "io/posix/posix_runtime.h"
#include "node/readiness.h"

namespace meridian::node {

struct NodeMetrics {
  io::Instant started_at;
  std::string region;
  std::string zone;
  std::string data_dir;  // Its file system's capacity and free space are exported.
  uint64_t client_connections_total = 0;
  // Client connections closed because their TLS handshake failed (--client_tls).
  uint64_t client_tls_handshake_failures_total = 0;
  uint64_t metrics_scrapes_total = 0;
  const core::broker::Broker* broker = nullptr;  // Set once the broker runs.
};

// Renders the metrics in Prometheus text format 0.0.4.
std::string RenderMetrics(io::posix::PosixRuntime& rt, const NodeMetrics& metrics);

// What /readyz judges (node/readiness.h), read from the broker.
ReadinessInput ReadinessOf(const NodeMetrics& metrics);

}  // namespace meridian::node
