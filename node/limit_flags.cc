// meridian-node's flags for the overload bounds and default quotas (core/broker BrokerLimits;
// docs/operations.md "Limits and quotas"). In a file of their own so the node's main file
// stays about listeners and lifecycle.
#include "node/limit_flags.h"

#include <fmt/format.h>

#include "absl/flags/flag.h"

ABSL_FLAG(uint64_t, buffered_bytes_max, 256ull << 20,
          "Bytes the node buffers for clients (requests in flight, batches awaiting commit, "
          "responses); past it requests are shed with Throttled.");
ABSL_FLAG(uint32_t, connections_max, 4096, "Client connections open at once.");
ABSL_FLAG(uint32_t, connections_per_address_max, 1024,
          "Client connections open at once from one IP address (native and Kafka together).");
ABSL_FLAG(uint32_t, requests_in_flight_per_connection_max, 256,
          "Requests a native client connection may pipeline before the node stops reading it "
          "until one is answered (1..4096).");
ABSL_FLAG(int64_t, connection_idle_timeout_ms, 600'000,
          "A client connection (native or Kafka) with no request begun and none in flight for "
          "this long is closed.");
ABSL_FLAG(int64_t, request_read_timeout_ms, 30'000,
          "A client request that has begun must arrive whole within this long, or its "
          "connection is closed (a client trickling bytes holds no slot for ever).");
ABSL_FLAG(uint64_t, partition_pending_bytes_max, 32ull << 20,
          "Produce bytes awaiting commit per partition; past it produce is shed.");
ABSL_FLAG(uint32_t, fetches_in_flight_max, 4096, "Fetches (long polls included) node-wide.");
ABSL_FLAG(int64_t, shed_retry_after_ms, 100, "The retry_after_ms a shed request is told.");
ABSL_FLAG(uint64_t, client_quota_bytes_per_s, 0,
          "Default quota per client id: produced + fetched bytes a second (0: unlimited).");
ABSL_FLAG(uint64_t, client_quota_requests_per_s, 0,
          "Default quota per client id: produce and fetch requests a second (0: unlimited).");
ABSL_FLAG(uint64_t, topic_quota_bytes_per_s, 0,
          "Default quota per topic: produced + fetched bytes a second (0: unlimited).");
ABSL_FLAG(uint64_t, topic_quota_requests_per_s, 0,
          "Default quota per topic: produce and fetch requests a second (0: unlimited).");

namespace meridian::node {

absl::Status LimitsFromFlags(core::broker::BrokerLimits* limits) {
  limits->buffered_bytes_max = absl::GetFlag(FLAGS_buffered_bytes_max);
  limits->connections_max = absl::GetFlag(FLAGS_connections_max);
  limits->connections_per_address_max = absl::GetFlag(FLAGS_connections_per_address_max);
  limits->requests_in_flight_per_connection_max =
      absl::GetFlag(FLAGS_requests_in_flight_per_connection_max);
  limits->partition_pending_bytes_max = absl::GetFlag(FLAGS_partition_pending_bytes_max);
  limits->fetches_in_flight_max = absl::GetFlag(FLAGS_fetches_in_flight_max);
  const int64_t retry_ms = absl::GetFlag(FLAGS_shed_retry_after_ms);
  if (limits->buffered_bytes_max < (16u << 20)) {
    return absl::InvalidArgumentError("--buffered_bytes_max must be at least 16 MiB (one frame)");
  }
  if (limits->connections_max == 0 || limits->fetches_in_flight_max == 0) {
    return absl::InvalidArgumentError("--connections_max and --fetches_in_flight_max must be >= 1");
  }
  if (limits->connections_per_address_max == 0) {
    return absl::InvalidArgumentError("--connections_per_address_max must be >= 1");
  }
  if (limits->requests_in_flight_per_connection_max == 0 ||
      limits->requests_in_flight_per_connection_max > 4096) {
    return absl::InvalidArgumentError("--requests_in_flight_per_connection_max must be in 1..4096");
  }
  if (limits->partition_pending_bytes_max < (1u << 20)) {
    return absl::InvalidArgumentError("--partition_pending_bytes_max must be at least 1 MiB");
  }
  if (retry_ms < 1 || retry_ms > 30'000) {
    return absl::InvalidArgumentError("--shed_retry_after_ms must be in 1..30000");
  }
  limits->shed_retry_after = std::chrono::milliseconds(retry_ms);
  const int64_t idle_ms = absl::GetFlag(FLAGS_connection_idle_timeout_ms);
  const int64_t read_ms = absl::GetFlag(FLAGS_request_read_timeout_ms);
  if (idle_ms < 1'000 || idle_ms > 86'400'000) {
    return absl::InvalidArgumentError("--connection_idle_timeout_ms must be in 1000..86400000");
  }
  if (read_ms < 100 || read_ms > 600'000) {
    return absl::InvalidArgumentError("--request_read_timeout_ms must be in 100..600000");
  }
  limits->connection_idle_timeout = std::chrono::milliseconds(idle_ms);
  limits->request_read_timeout = std::chrono::milliseconds(read_ms);
  limits->client_quota_default = {absl::GetFlag(FLAGS_client_quota_bytes_per_s),
                                  absl::GetFlag(FLAGS_client_quota_requests_per_s)};
  limits->topic_quota_default = {absl::GetFlag(FLAGS_topic_quota_bytes_per_s),
                                 absl::GetFlag(FLAGS_topic_quota_requests_per_s)};
  for (uint64_t rate :
       {limits->client_quota_default.bytes_per_s, limits->client_quota_default.requests_per_s,
        limits->topic_quota_default.bytes_per_s, limits->topic_quota_default.requests_per_s}) {
    if (rate > core::broker::TokenBucket::kRatePerSecondMax) {
      return absl::InvalidArgumentError(fmt::format("quota flags must be at most {} a second",
                                                    core::broker::TokenBucket::kRatePerSecondMax));
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian::node
