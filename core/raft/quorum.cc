#include "core/raft/quorum.h"

#include <algorithm>
#include <vector>

#include "core/raft/membership.h"
#include "io/assert.h"

namespace meridian::core::raft {

uint64_t MajorityValue(const absl::btree_set<io::NodeId>& voters,
                       const absl::btree_map<io::NodeId, uint64_t>& acked) {
  MERIDIAN_CHECK(!voters.empty(), "a quorum of nobody is meaningless");
  MERIDIAN_CHECK(voters.size() <= kVotersMax);
  std::vector<uint64_t> values;
  values.reserve(voters.size());
  for (io::NodeId id : voters) {
    auto it = acked.find(id);
    values.push_back(it == acked.end() ? 0 : it->second);
  }
  // Sort descending: the (quorum-1)-th value is held by at least a quorum.
  std::sort(values.begin(), values.end(), std::greater<uint64_t>());
  const size_t quorum = voters.size() / 2 + 1;
  MERIDIAN_CHECK(quorum <= values.size());
  return values[quorum - 1];
}

VoteResult TallyVotes(const absl::btree_set<io::NodeId>& voters,
                      const absl::btree_map<io::NodeId, bool>& votes) {
  MERIDIAN_CHECK(!voters.empty());
  uint32_t granted = 0;
  uint32_t rejected = 0;
  for (io::NodeId id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const uint32_t quorum = static_cast<uint32_t>(voters.size()) / 2 + 1;
  MERIDIAN_CHECK(granted + rejected <= voters.size());
  if (granted >= quorum) return VoteResult::kWon;
  if (rejected >= quorum) return VoteResult::kLost;
  // Impossible to win: the rest cannot reach a quorum even if all grant.
  if (voters.size() - rejected < quorum) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace meridian::core::raft
