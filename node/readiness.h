// /readyz: is this node ready to serve its partitions? A pure function of what the broker
// reports, so it is unit-tested without a cluster (readiness_test.cc) and used as is by the node.
//
// Ready means: the broker runs; this node is registered in the controller's metadata; and every
// replica hosted here (the metadata group and each partition) knows a leader and lags it by at
// most `lag_entries_max` raft entries (ReplicationLagEntries). Otherwise the first reason found.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/broker/broker.h"

namespace meridian::node {

inline constexpr uint64_t kReadyLagEntriesMax = 1000;

// Raft entries this replica has yet to apply of what its leader committed, as far as it has
// heard (on the leader: its commit index minus its applied index).
uint64_t ReplicationLagEntries(const core::broker::PartitionStatus& status);

struct ReadinessInput {
  bool broker_started = false;
  bool registered = false;  // This node's record is in the metadata.
  std::vector<core::broker::PartitionStatus> replicas;
};

// OK when ready; Unavailable with a one-line reason otherwise.
absl::Status CheckReady(const ReadinessInput& input, uint64_t lag_entries_max);

}  // namespace meridian::node
