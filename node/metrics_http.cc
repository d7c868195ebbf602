#include "node/metrics_http.h"

#include <fmt/format.h>

#include <memory>
#include <vector>

namespace meridian::node {
namespace {

constexpr size_t kRequestBytesMax = 8 * 1024;

std::string_view Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 503:
      return "Service Unavailable";
  }
  return "Error";
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
  HttpResponse response{400, "request too large\n"};
  if (request.find("\r\n\r\n") != std::string::npos) response = Route(rt, request, metrics);
  const std::string bytes = fmt::format(
      "HTTP/1.0 {} {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      response.code, Reason(response.code), response.body.size(), response.body);
  (void)stream.Write({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, deadline);
}

}  // namespace

HttpResponse Route(io::posix::PosixRuntime& rt, std::string_view request, NodeMetrics& metrics) {
  const auto is = [&](std::string_view path) {
    return request.starts_with(fmt::format("GET {} ", path)) ||
           request.starts_with(fmt::format("GET {}?", path));
  };
  if (is("/metrics")) {
    metrics.metrics_scrapes_total++;
    return {200, RenderMetrics(rt, metrics)};
  }
  if (is("/healthz")) return {200, "ok\n"};
  if (is("/readyz")) {
    const absl::Status ready = CheckReady(ReadinessOf(metrics), kReadyLagEntriesMax);
    if (ready.ok()) return {200, "ready\n"};
    return {503, fmt::format("not ready: {}\n", std::string(ready.message()))};
  }
  return {404, "served: GET /metrics, /healthz, /readyz\n"};
}

absl::Status ServeMetrics(io::posix::PosixRuntime& rt, const io::Address& address,
                          NodeMetrics& metrics, const Logger& log) {
  absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(address);
  if (!listener.ok()) return listener.status();
  std::shared_ptr<io::Listener> owned(std::move(*listener));
  log.Log(LogLevel::kInfo, "metrics_listening",
          {{"url", fmt::format("http://{}/metrics", owned->address().ToString())}});
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
