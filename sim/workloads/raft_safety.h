// Raft's safety properties for every raft group of the broker workload (the controller's and
// each partition's): the checker the pure raft harness and the simulator's raft workload use
// (core/raft/testing/safety_checker.h: election safety, leader completeness, log matching,
// state machine safety), one per group, fed by each replica the brokers open
// (core/broker BrokerOptions::replica_observer). Before it, the broker workload judged only what
// clients saw (the log checker); a raft-level fault that no client happened to observe, such as
// a stale quorum electing a leader that lacks committed entries (core/raft design.md "Joining
// replicas"), passed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/replica/replica.h"

namespace meridian::sim {

class RaftSafetyObservers {
 public:
  // At most this many violations are kept (the rest are counted).
  static constexpr size_t kViolationsMax = 8;

  RaftSafetyObservers();
  ~RaftSafetyObservers();
  RaftSafetyObservers(const RaftSafetyObservers&) = delete;
  RaftSafetyObservers& operator=(const RaftSafetyObservers&) = delete;

  // The observer of `group`'s replicas; lives as long as this object.
  core::replica::ReplicaObserver* ForGroup(uint64_t group);
  // Each violation as "raft safety: group G: property: detail", then a count of those left out.
  std::vector<std::string> Violations() const;
  // Also told of every entry any replica applies, after the checker (a targeted fault schedule
  // that strikes on an apply: sim/election_faults.h).
  using ApplyHook = std::function<void(uint64_t group, io::NodeId node, const core::raft::Entry&)>;
  void set_on_apply(ApplyHook hook) { on_apply_ = std::move(hook); }
  uint64_t leaderships() const { return leaderships_; }
  uint64_t applies() const { return applies_; }

 private:
  class Group;
  absl::btree_map<uint64_t, std::unique_ptr<Group>> groups_;
  ApplyHook on_apply_;
  std::vector<std::string> violations_;
  uint64_t violations_left_out_ = 0;
  uint64_t leaderships_ = 0;
  uint64_t applies_ = 0;
};

}  // namespace meridian::sim
