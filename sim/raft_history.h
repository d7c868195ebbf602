// The raft workload's client history and its real-time check of lease reads, apart from the
// runner (sim/raft_cluster.cc) so that the check can be shown to catch what it exists for on a
// history written by hand (tests/raft_history_test.cc), not only on the rare seeds whose
// schedule makes a planted lease bug serve a stale read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/time.h"

namespace meridian::sim {

// One operation of the raft workload: a proposal (`value` set) or a lease read (`value` empty).
// `index` is, for an acknowledged proposal, the log index it was committed at; for a served
// read, the applied index the read was served at.
struct RaftClientOp {
  std::string value;
  enum class Outcome { kPending, kOk, kFail, kInfo } outcome = Outcome::kPending;
  io::Instant invoked;
  io::Instant completed;
  uint64_t index = 0;
};

// A served read must cover every proposal acknowledged before the read was invoked (real time):
// its index at least the highest index among them. The first read that does not, described
// ("stale-lease-read: ..."); nullopt if none. Reads concurrent with a write may see it or not.
std::optional<std::string> FindStaleLeaseRead(const std::vector<RaftClientOp>& ops);

}  // namespace meridian::sim
