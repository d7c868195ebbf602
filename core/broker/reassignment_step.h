// The next raft configuration change that moves a partition's group toward its target replica
// set (core/cluster/reassignment.h), as its leader sees the group. Pure: the leader's executor
// (reassignment.cc) asks after every change has committed and acts on the answer, so the
// decision is stateless and a new leader simply continues where its predecessor stopped.
//
// Order, one single-server change at a time (raft refuses a second pending one anyway):
//   1. every target member not in the configuration joins as a learner (no quorum change);
//   2. a target voter that is a learner becomes a voter once caught up (its match index within
//      kCatchUpEntriesSlack of the leader's commit index: the leader sends it a snapshot when
//      the log no longer reaches it), so the new quorum never waits for an empty replica;
//   3. departing voters leave only then, so the group never has fewer voters than the smaller
//      of its old and new sets; one that stays as an observer is demoted in place (it keeps its
//      copy and log: removing it and adding it back would copy the whole log again, through
//      configurations it no longer belongs to); the leader, if it is departing, transfers
//      leadership first (to a caught-up target voter) and its successor removes or demotes it;
//   4. departing learners leave; then the configuration is the target: kComplete, once that
//      configuration is committed.
// Never two steps while a configuration entry is uncommitted (kWait).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/container/btree_map.h"
#include "core/raft/membership.h"
#include "core/raft/types.h"

namespace meridian::core::broker {

// How close to the leader's commit index a learner must be to become a voter.
inline constexpr uint64_t kCatchUpEntriesSlack = 16;

// Test-only: planted reassignment bugs (the simulator's reassignment checker catches each).
enum class ReassignmentPlantedBug : uint8_t {
  kNone,
  kVoterBeforeCaughtUp,  // New target voters join straight as voters, with empty logs.
  kRemoveBeforeAdd,      // Departing voters leave before the new ones are voters.
};

// The group as its leader sees it.
struct ReassignmentView {
  io::NodeId self;                 // The leader.
  const raft::Membership* config;  // In force (the latest in the log).
  bool config_committed = false;
  raft::Index commit;
  const absl::btree_map<io::NodeId, raft::Index>* match;  // Other members' match indexes.
  std::span<const uint32_t> target_voters;
  std::span<const uint32_t> target_observers;
  raft::Index config_index{0};  // The index of `config`'s entry (0: the initial one).
};

struct ReassignmentStep {
  enum class Kind : uint8_t {
    kWait,
    kAddLearner,
    kAddVoter,
    kRemove,
    kTransfer,
    kComplete,
    kDemote,  // A voter the target keeps as an observer becomes a learner in place.
  };
  Kind kind = Kind::kWait;
  io::NodeId node;  // The member the change is about (the transferee for kTransfer).
  std::string why;  // kWait: what it waits for.
};

std::string_view StepName(ReassignmentStep::Kind kind);

// The raft change a step takes (kAddLearner, kAddVoter, kRemove or kDemote only).
raft::ConfChangeKind ConfChangeKindOf(ReassignmentStep::Kind kind);

// Whether `node` is within kCatchUpEntriesSlack of the leader's commit index and has
// acknowledged the configuration in force (its entry, and at least one entry at all). The second
// half matters for young logs, whose commit index is within the slack of 0: a learner on a dead
// node (match 0) must not become a voter, which would cost the group its quorum.
bool CaughtUp(const ReassignmentView& view, io::NodeId node);

ReassignmentStep NextReassignmentStep(const ReassignmentView& view,
                                      ReassignmentPlantedBug bug = ReassignmentPlantedBug::kNone);

}  // namespace meridian::core::broker
