// The node's operations endpoints over a minimal HTTP/1.0 server on the node's reactor:
//   GET /metrics  Prometheus text format (node/node_metrics.h, docs/operations.md);
//   GET /healthz  200 "ok" while the process serves;
//   GET /readyz   200 "ready" when node/readiness.h says so, else 503 with the reason.
// Anything else gets 404; a malformed or oversized request 400.
#pragma once

#include "absl/status/status.h"
#include "io/network.h"
#include "io/posix/posix_runtime.h"
#include "node/node_metrics.h"
#include "node/structured_log.h"

namespace meridian::node {

struct HttpResponse {
  int code = 200;
  std::string body;
};

// The response to one request (its bytes up to the blank line).
HttpResponse Route(io::posix::PosixRuntime& rt, std::string_view request, NodeMetrics& metrics);

absl::Status ServeMetrics(io::posix::PosixRuntime& rt, const io::Address& address,
                          NodeMetrics& metrics, const Logger& log);

}  // namespace meridian::node
