// Membership configuration of a raft group: voters and learners (Raft dissertation §4, §4.2.1).
//
// Meridian changes membership one server at a time (dissertation §4.1): any two adjacent
// configurations share a majority, so no joint consensus is needed. A configuration takes
// effect on every server as soon as its entry is in that server's log (not when committed),
// and reverts if the entry is truncated. Ongaro's fix for the single-server pitfall is enforced
// by the leader (raft.cc): it proposes a change only after an entry of its own term committed,
// and only while no other configuration entry is uncommitted.
//
// Pure value type; no I/O. Learners receive entries but never vote and never count in a quorum.
#pragma once

#include <absl/container/btree_set.h>
#include <absl/status/status.h>

#include <cstdint>
#include <string>

#include "io/node_id.h"

namespace meridian::core::raft {

inline constexpr uint32_t kVotersMax = 9;
inline constexpr uint32_t kMembersMax = 16;  // voters + learners
static_assert(kVotersMax <= kMembersMax);
static_assert(kVotersMax % 2 == 1, "the voter limit is odd so a full group tolerates f failures");

struct Membership {
  absl::btree_set<io::NodeId> voters;
  absl::btree_set<io::NodeId> learners;

  bool IsVoter(io::NodeId id) const { return voters.contains(id); }
  bool IsLearner(io::NodeId id) const { return learners.contains(id); }
  bool IsMember(io::NodeId id) const { return IsVoter(id) || IsLearner(id); }
  uint32_t QuorumSize() const { return static_cast<uint32_t>(voters.size()) / 2 + 1; }
  std::string ToString() const;
  bool operator==(const Membership&) const = default;
};

// kDemote: a voter becomes a learner and keeps its log (etcd's AddLearnerNode on a voter). For
// the quorum it is the removal of one voter; the copy stays, so it needs no new copy of the log
// and never catches up through configurations it no longer belongs to (design.md "Joining
// replicas").
enum class ConfChangeKind : uint8_t { kAddVoter, kAddLearner, kRemove, kDemote };

struct ConfChange {
  ConfChangeKind kind = ConfChangeKind::kAddVoter;
  io::NodeId node;
};

// Checks that `membership` is well formed: non-empty voters, disjoint sets, within limits, no
// node id 0. Crashes on violation (programmer error).
void CheckMembership(const Membership& membership);

// The same rules without crashing, for configurations that arrive from peers or disks:
// InvalidArgument with the reason.
absl::Status ValidateMembership(const Membership& membership);

// Applies one single-server change. Returns InvalidArgument for a change that is a no-op, that
// would change more than one voter, empty the voter set, or exceed a limit.
absl::Status ApplyConfChange(const Membership& current, const ConfChange& change, Membership* next);

// Number of voters whose membership differs between a and b (symmetric difference).
uint32_t VoterDistance(const Membership& a, const Membership& b);

}  // namespace meridian::core::raft
