#include "core/raft/membership.h"

#include <fmt/format.h>

#include "io/assert.h"

namespace meridian::core::raft {

std::string Membership::ToString() const {
  std::string out = "{voters:";
  for (io::NodeId id : voters) out += " " + id.ToString();
  out += " learners:";
  for (io::NodeId id : learners) out += " " + id.ToString();
  return out + "}";
}

absl::Status ValidateMembership(const Membership& membership) {
  if (membership.voters.empty()) return absl::InvalidArgumentError("no voters");
  if (membership.voters.size() > kVotersMax) {
    return absl::InvalidArgumentError(
        fmt::format("{} voters (limit {})", membership.voters.size(), kVotersMax));
  }
  if (membership.voters.size() + membership.learners.size() > kMembersMax) {
    return absl::InvalidArgumentError(
        fmt::format("{} members (limit {})", membership.voters.size() + membership.learners.size(),
                    kMembersMax));
  }
  for (io::NodeId id : membership.voters) {
    if (id == io::NodeId()) return absl::InvalidArgumentError("node id 0 among the voters");
    if (membership.learners.contains(id)) {
      return absl::InvalidArgumentError(fmt::format("{} is voter and learner", id.ToString()));
    }
  }
  if (membership.learners.contains(io::NodeId())) {
    return absl::InvalidArgumentError("node id 0 among the learners");
  }
  return absl::OkStatus();
}

void CheckMembership(const Membership& membership) {
  MERIDIAN_CHECK(!membership.voters.empty(), "a configuration needs a voter");
  MERIDIAN_CHECK(membership.voters.size() <= kVotersMax);
  MERIDIAN_CHECK(membership.voters.size() + membership.learners.size() <= kMembersMax);
  for (io::NodeId id : membership.voters) {
    MERIDIAN_CHECK(id != io::NodeId(), "node id 0 is reserved");
    MERIDIAN_CHECK(!membership.learners.contains(id), "{} is voter and learner", id.ToString());
  }
  for (io::NodeId id : membership.learners) MERIDIAN_CHECK(id != io::NodeId());
}

absl::Status ApplyConfChange(const Membership& current, const ConfChange& change,
                             Membership* next) {
  MERIDIAN_CHECK(next != nullptr);
  CheckMembership(current);
  if (change.node == io::NodeId()) return absl::InvalidArgumentError("node id 0 is reserved");
  *next = current;
  switch (change.kind) {
    case ConfChangeKind::kAddVoter:
      if (current.IsVoter(change.node)) return absl::InvalidArgumentError("already a voter");
      if (current.voters.size() >= kVotersMax) return absl::InvalidArgumentError("too many");
      next->learners.erase(change.node);
      next->voters.insert(change.node);
      break;
    case ConfChangeKind::kAddLearner:
      if (current.IsMember(change.node)) return absl::InvalidArgumentError("already a member");
      next->learners.insert(change.node);
      break;
    case ConfChangeKind::kRemove:
      if (!current.IsMember(change.node)) return absl::InvalidArgumentError("not a member");
      if (current.voters.size() == 1 && current.IsVoter(change.node)) {
        return absl::InvalidArgumentError("cannot remove the last voter");
      }
      next->voters.erase(change.node);
      next->learners.erase(change.node);
      break;
    case ConfChangeKind::kDemote:
      if (!current.IsVoter(change.node)) return absl::InvalidArgumentError("not a voter");
      if (current.voters.size() == 1) {
        return absl::InvalidArgumentError("cannot demote the last voter");
      }
      next->voters.erase(change.node);
      next->learners.insert(change.node);
      break;
  }
  if (next->voters.size() + next->learners.size() > kMembersMax) {
    return absl::InvalidArgumentError("too many members");
  }
  MERIDIAN_CHECK(VoterDistance(current, *next) <= 1, "single-server change only");
  CheckMembership(*next);
  return absl::OkStatus();
}

uint32_t VoterDistance(const Membership& a, const Membership& b) {
  uint32_t distance = 0;
  for (io::NodeId id : a.voters) distance += b.IsVoter(id) ? 0 : 1;
  for (io::NodeId id : b.voters) distance += a.IsVoter(id) ? 0 : 1;
  return distance;
}

}  // namespace meridian::core::raft
