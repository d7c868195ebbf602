// Prometheus text exposition over a minimal HTTP/1.0 server on the node's reactor.
// Only `GET /metrics` is served; anything else gets 404, a malformed or oversized request 400.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/broker/broker.h"
#include "io/network.h"
#include "io/posix/posix_runtime.h"

namespace meridian::node {

struct NodeMetrics {
  io::Instant started_at;
  uint64_t client_connections_total = 0;
  uint64_t client_requests_total = 0;
  uint64_t client_errors_total = 0;
  uint64_t metrics_scrapes_total = 0;
  const core::broker::Broker* broker = nullptr;  // Set once the broker runs.
};

// Renders the metrics in Prometheus text format 0.0.4.
std::string RenderMetrics(io::posix::PosixRuntime& rt, const NodeMetrics& metrics);

absl::Status ServeMetrics(io::posix::PosixRuntime& rt, const io::Address& address,
                          NodeMetrics& metrics);

}  // namespace meridian::node
