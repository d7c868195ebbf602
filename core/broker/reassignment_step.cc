#include "core/broker/reassignment_step.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::broker {
namespace {

using Kind = ReassignmentStep::Kind;

bool Listed(std::span<const uint32_t> ids, io::NodeId node) {
  return std::find(ids.begin(), ids.end(), node.value()) != ids.end();
}

ReassignmentStep Step(Kind kind, io::NodeId node) { return {kind, node, ""}; }

ReassignmentStep Wait(std::string why) { return {Kind::kWait, raft::kNoNode, std::move(why)}; }

// Step 3: a departing voter leaves, or becomes a learner if the target keeps it as an observer;
// the leader hands over first.
ReassignmentStep RemoveVoter(const ReassignmentView& view, io::NodeId departing) {
  if (departing != view.self) {
    return Step(Listed(view.target_observers, departing) ? Kind::kDemote : Kind::kRemove,
                departing);
  }
  for (uint32_t id : view.target_voters) {
    const io::NodeId successor(id);
    if (view.config->IsVoter(successor) && CaughtUp(view, successor)) {
      return Step(Kind::kTransfer, successor);
    }
  }
  return Wait("a caught-up target voter to hand leadership to");
}

// The first departing voter other than the leader (kRemoveBeforeAdd), if any.
std::optional<io::NodeId> DepartingFollower(const ReassignmentView& view) {
  for (io::NodeId voter : view.config->voters) {
    if (voter != view.self && !Listed(view.target_voters, voter)) return voter;
  }
  return std::nullopt;
}

}  // namespace

std::string_view StepName(Kind kind) {
  switch (kind) {
    case Kind::kWait:
      return "wait";
    case Kind::kAddLearner:
      return "add-learner";
    case Kind::kAddVoter:
      return "add-voter";
    case Kind::kRemove:
      return "remove";
    case Kind::kTransfer:
      return "transfer-leadership";
    case Kind::kComplete:
      return "complete";
    case Kind::kDemote:
      return "demote";
  }
  return "unknown";
}

raft::ConfChangeKind ConfChangeKindOf(Kind kind) {
  switch (kind) {
    case Kind::kAddLearner:
      return raft::ConfChangeKind::kAddLearner;
    case Kind::kAddVoter:
      return raft::ConfChangeKind::kAddVoter;
    case Kind::kRemove:
      return raft::ConfChangeKind::kRemove;
    case Kind::kDemote:
      return raft::ConfChangeKind::kDemote;
    default:
      break;
  }
  MERIDIAN_CHECK(false, "step {} takes no configuration change", StepName(kind));
  return raft::ConfChangeKind::kRemove;
}

bool CaughtUp(const ReassignmentView& view, io::NodeId node) {
  if (node == view.self) return true;
  auto match = view.match->find(node);
  return match != view.match->end() &&
         match->second.value() >= std::max<uint64_t>(view.config_index.value(), 1) &&
         match->second.value() + kCatchUpEntriesSlack >= view.commit.value();
}

ReassignmentStep NextReassignmentStep(const ReassignmentView& view, ReassignmentPlantedBug bug) {
  MERIDIAN_CHECK(view.config != nullptr && view.match != nullptr);
  MERIDIAN_CHECK(view.config->IsVoter(view.self), "only the leader, a voter, reassigns");
  MERIDIAN_CHECK(!view.target_voters.empty());
  if (!view.config_committed) return Wait("the last configuration change to commit");
  if (bug == ReassignmentPlantedBug::kRemoveBeforeAdd) {
    if (std::optional<io::NodeId> departing = DepartingFollower(view)) {
      if (view.config->voters.size() > 1) return Step(Kind::kRemove, *departing);  // PLANTED BUG.
    }
  }
  for (std::span<const uint32_t> ids : {view.target_voters, view.target_observers}) {
    for (uint32_t id : ids) {
      if (view.config->IsMember(io::NodeId(id))) continue;
      if (bug == ReassignmentPlantedBug::kVoterBeforeCaughtUp &&
          ids.data() == view.target_voters.data()) {
        return Step(Kind::kAddVoter, io::NodeId(id));  // PLANTED BUG: straight in, empty.
      }
      return Step(Kind::kAddLearner, io::NodeId(id));
    }
  }
  for (uint32_t id : view.target_voters) {
    const io::NodeId node(id);
    if (view.config->IsVoter(node)) continue;
    MERIDIAN_CHECK(view.config->IsLearner(node));
    if (CaughtUp(view, node)) return Step(Kind::kAddVoter, node);
    return Wait(fmt::format("learner {} to catch up", node.value()));
  }
  for (io::NodeId voter : view.config->voters) {
    if (!Listed(view.target_voters, voter)) return RemoveVoter(view, voter);
  }
  for (io::NodeId learner : view.config->learners) {
    if (!Listed(view.target_observers, learner)) return Step(Kind::kRemove, learner);
  }
  MERIDIAN_CHECK(view.config->voters.size() == view.target_voters.size());
  return Step(Kind::kComplete, raft::kNoNode);
}

}  // namespace meridian::core::broker
