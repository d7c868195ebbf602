#include "sim/workloads/raft_safety.h"

#include <fmt/format.h>

#include "core/raft/testing/safety_checker.h"

namespace meridian::sim {

class RaftSafetyObservers::Group final : public core::replica::ReplicaObserver {
 public:
  Group(RaftSafetyObservers& owner, uint64_t group)
      : owner_(owner),
        group_(group),
        checker_([this, group](core::raft::testing::Property property, std::string detail) {
          Report(group, property, std::move(detail));
        }) {}

  void OnApply(io::NodeId node, const core::raft::Entry& entry) override {
    owner_.applies_++;
    checker_.OnApply(node, entry);
    if (owner_.on_apply_) owner_.on_apply_(group_, node, entry);
  }
  void OnLeader(io::NodeId node, core::raft::Term term, const core::raft::RaftLog& log) override {
    owner_.leaderships_++;
    checker_.OnLeader(node, term, log);
  }
  // A replica's fail-stop is the broker's to judge (it restarts the node), not a safety fault.
  void OnFailStop(io::NodeId, const absl::Status&) override {}

 private:
  void Report(uint64_t group, core::raft::testing::Property property, std::string detail) {
    if (owner_.violations_.size() >= kViolationsMax) {
      owner_.violations_left_out_++;
      return;
    }
    owner_.violations_.push_back(fmt::format("raft safety: group {}: {}: {}", group,
                                             core::raft::testing::PropertyName(property), detail));
  }

  RaftSafetyObservers& owner_;
  const uint64_t group_;
  core::raft::testing::SafetyChecker checker_;
};

RaftSafetyObservers::RaftSafetyObservers() = default;
RaftSafetyObservers::~RaftSafetyObservers() = default;

core::replica::ReplicaObserver* RaftSafetyObservers::ForGroup(uint64_t group) {
  std::unique_ptr<Group>& observer = groups_[group];
  if (observer == nullptr) observer = std::make_unique<Group>(*this, group);
  return observer.get();
}

std::vector<std::string> RaftSafetyObservers::Violations() const {
  std::vector<std::string> out = violations_;
  if (violations_left_out_ > 0) {
    out.push_back(fmt::format("raft safety: {} more violations", violations_left_out_));
  }
  return out;
}

}  // namespace meridian::sim
