#include "node/metrics_http.h"

#include <fmt/format.h>

#include <memory>
#include <vector>

#include "io/posix/posix_network.h"

namespace meridian::node {
namespace {

constexpr size_t kRequestBytesMax = 8 * 1024;

void Metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            double value, std::string_view labels = "") {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{} {}\n", name, help, name, type, name, labels,
                     value);
}

void ServeOne(io::posix::PosixRuntime& rt, io::Stream& stream, NodeMetrics& metrics) {
  const io::Instant deadline = rt.Now() + std::chrono::seconds(5);
  std::string request;
  std::vector<uint8_t> buffer(1024);
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kRequestBytesMax) {
    absl::StatusOr<size_t> n = stream.Read(buffer, deadline);
    if (!n.ok() || *n == 0) return;
    request.append(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(*n));
  }
  std::string status = "200 OK";
  std::string body;
  if (request.find("\r\n\r\n") == std::string::npos) {
    status = "400 Bad Request";
    body = "request too large\n";
  } else if (request.rfind("GET /metrics ", 0) == 0) {
    metrics.metrics_scrapes_total++;
    body = RenderMetrics(rt, metrics);
  } else {
    status = "404 Not Found";
    body = "only GET /metrics is served\n";
  }
  const std::string response = fmt::format(
      "HTTP/1.0 {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      status, body.size(), body);
  (void)stream.Write({reinterpret_cast<const uint8_t*>(response.data()), response.size()},
                     deadline);
}

}  // namespace

std::string RenderMetrics(io::posix::PosixRuntime& rt, const NodeMetrics& metrics) {
  std::string out;
  const std::string node = fmt::format("{{node=\"{}\"}}", rt.node().value());
  Metric(out, "meridian_uptime_seconds", "gauge", "Seconds since the node started.",
         std::chrono::duration<double>(rt.Now() - metrics.started_at).count(), node);
  Metric(out, "meridian_client_connections_total", "counter", "Client connections accepted.",
         static_cast<double>(metrics.client_connections_total), node);
  Metric(out, "meridian_client_requests_total", "counter", "Client requests served.",
         static_cast<double>(metrics.client_requests_total), node);
  Metric(out, "meridian_client_errors_total", "counter", "Client requests rejected.",
         static_cast<double>(metrics.client_errors_total), node);
  Metric(out, "meridian_fibers_live", "gauge", "Fibers alive on the reactor.",
         static_cast<double>(rt.scheduler().live_fibers()), node);
  Metric(out, "meridian_fiber_resumes_total", "counter", "Fiber context switches.",
         static_cast<double>(rt.scheduler().resumes()), node);
  Metric(out, "meridian_metrics_scrapes_total", "counter", "Scrapes of this endpoint.",
         static_cast<double>(metrics.metrics_scrapes_total), node);
  if (metrics.broker != nullptr) {
    const core::broker::BrokerMetrics& b = metrics.broker->metrics();
    Metric(out, "meridian_produce_requests_total", "counter", "Produce requests received.",
           static_cast<double>(b.produce_requests_total), node);
    Metric(out, "meridian_produce_records_total", "counter", "Records appended by produce.",
           static_cast<double>(b.produce_records_total), node);
    Metric(out, "meridian_fetch_requests_total", "counter", "Fetch requests received.",
           static_cast<double>(b.fetch_requests_total), node);
    Metric(out, "meridian_fetch_bytes_total", "counter", "Record batch bytes served by fetch.",
           static_cast<double>(b.fetch_records_bytes_total), node);
    Metric(out, "meridian_peer_messages_dropped_total", "counter",
           "Peer messages dropped (undecodable, misaddressed or for a group not hosted).",
           static_cast<double>(b.peer_messages_dropped_total), node);
    Metric(out, "meridian_partitions_hosted", "gauge", "Partition replicas on this node.",
           static_cast<double>(b.partitions_hosted), node);
    Metric(out, "meridian_raft_messages_dropped_total", "counter",
           "Raft peer messages refused as forged or nonsensical, over every replica here.",
           static_cast<double>(metrics.broker->raft_messages_dropped()), node);
  }
  return out;
}

absl::Status ServeMetrics(io::posix::PosixRuntime& rt, const io::Address& address,
                          NodeMetrics& metrics) {
  absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(address);
  if (!listener.ok()) return listener.status();
  std::shared_ptr<io::Listener> owned(std::move(*listener));
  fmt::print(stderr, "n{} metrics on http://{}/metrics\n", rt.node().value(),
             owned->address().ToString());
  rt.Spawn("metrics-accept", [&rt, owned, &metrics] {
    while (true) {
      absl::StatusOr<std::unique_ptr<io::Stream>> stream = owned->Accept(io::Instant::Infinite());
      if (!stream.ok()) return;
      std::shared_ptr<io::Stream> connection(std::move(*stream));
      rt.Spawn("metrics", [&rt, connection, &metrics] { ServeOne(rt, *connection, metrics); });
    }
  });
  return absl::OkStatus();
}

}  // namespace meridian::node
