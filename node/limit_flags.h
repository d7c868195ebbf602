// meridian-node's overload-bound and default-quota flags (limit_flags.cc).
#pragma once

#include "absl/status/status.h"
#include "core/broker/broker.h"

namespace meridian::node {

// Reads --buffered_bytes_max, --connections_max, --connections_per_address_max,
// --requests_in_flight_per_connection_max, --partition_pending_bytes_max,
// --fetches_in_flight_max, --shed_retry_after_ms and the four --*_quota_* flags into `limits`;
// InvalidArgument for a value out of range.
absl::Status LimitsFromFlags(core::broker::BrokerLimits* limits);

}  // namespace meridian::node
