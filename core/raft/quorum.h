// Majority quorum math (Raft paper §5.2 elections, §5.3/§5.4 commitment), pure and tiny so a
// property test can check it against a dumb reference (quorum_test.cc). Mirrors etcd's
// quorum/majority.go.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include <cstdint>

#include "io/node_id.h"

namespace meridian::core::raft {

enum class VoteResult : uint8_t { kPending, kWon, kLost };

// The largest value v such that a majority of `voters` have a value >= v in `acked`
// (voters missing from `acked` count as 0). With match indices this is the quorum commit index;
// with heartbeat send ticks it is the lease start.
uint64_t MajorityValue(const absl::btree_set<io::NodeId>& voters,
                       const absl::btree_map<io::NodeId, uint64_t>& acked);

// Tally of an election: `votes` maps voter -> granted; non-voters in `votes` are ignored.
VoteResult TallyVotes(const absl::btree_set<io::NodeId>& voters,
                      const absl::btree_map<io::NodeId, bool>& votes);

}  // namespace meridian::core::raft
